//! Outbound HTTP: every client the hub builds (identity providers, webhooks, the CLI) starts
//! here, so that all of them use the one TLS provider, identify themselves, and never follow
//! redirects (a redirect would let an answer point the hub at any address).

use std::time::Duration;

/// A client builder with the hub's defaults; callers add their own timeout.
pub fn client_builder() -> reqwest::ClientBuilder {
    // The binary installs ring first thing; a hub embedded as a library may not have.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("agenthub/", env!("CARGO_PKG_VERSION")))
}
