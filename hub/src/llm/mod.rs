//! The LLM plane's HTTP face: `/v1/chat/completions`, `/v1/messages`, `/v1/embeddings` and
//! `/v1/models`, over the `agenthub-llm-router` crate. This module does what is the hub's: the
//! caller's identity, authorization (`model:<name>`), rate limits and budgets, guardrails on
//! the way in and out, the `x-agenthub-*` headers, and errors in the client's own format. The
//! router crate does the rest: translation, routing, retries, fallbacks, cost.

mod guard;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use agenthub_llm_router::engine::{Engine, Secrets};

use crate::directory::Accounts;

pub use routes::router;

/// What the plane keeps between requests: the engine (HTTP clients, targets' health).
pub struct LlmPlane {
    engine: Engine,
    secrets: AccountSecrets,
}

impl LlmPlane {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        let engine = Engine::new(Box::new(|connect: Duration| {
            crate::outbound::client_builder()
                .connect_timeout(connect)
                .pool_idle_timeout(Duration::from_secs(90))
                .build()
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot build the provider HTTP client with the hub's settings");
                    reqwest::Client::new()
                })
        }));
        Self {
            engine,
            secrets: AccountSecrets(accounts),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn secrets(&self) -> &dyn Secrets {
        &self.secrets
    }
}

/// Provider credentials from the directory's secret store, decrypted per call so that a
/// rotated secret applies at once.
struct AccountSecrets(Arc<Accounts>);

impl Secrets for AccountSecrets {
    fn reveal(&self, name: &str) -> Option<String> {
        match self.0.reveal_secret(name) {
            Ok(value) => value,
            Err(e) => {
                tracing::error!(secret = name, error = %e, "cannot read a provider credential");
                None
            }
        }
    }
}
