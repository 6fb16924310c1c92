//! The admin API client behind the CLI's subcommands.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ErrorBody;

/// Why a CLI call failed; the message is printed as is.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach the hub at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("{message} (HTTP {status})")]
    Api { status: StatusCode, message: String },
    #[error("unexpected response from the hub: {0}")]
    Protocol(String),
    /// The hub answered, and what it said is a failure (exit 1): a broken audit chain.
    #[error("{0}")]
    Failed(String),
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Client {
    pub fn new(
        url: &str,
        key: Option<String>,
        ca_cert: Option<&PathBuf>,
    ) -> Result<Self, ClientError> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "--url: \"{url}\" must start with http:// or https://"
            )));
        }
        let mut builder = crate::outbound::client_builder()
            .user_agent(concat!("agenthub-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30));
        // Without --ca-cert, the platform's trust store verifies the hub, as for any HTTPS site.
        if let Some(path) = ca_cert {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    ClientError::Usage(format!("--ca-cert: cannot read {}: {e}", path.display()))
                })?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| ClientError::Usage(format!("--ca-cert: {e}")))?;
            }
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Usage(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            builder = builder.tls_backend_preconfigured(tls);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot build the HTTP client: {e}")))?;
        // Without a key, the session `agenthub login` stored for this hub, if any.
        let key = key.or_else(|| super::login::stored_token(&base));
        Ok(Self { http, base, key })
    }

    /// The hub's base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Like [`Client::call`], for a path outside the admin API (e.g. `/auth/providers`).
    pub async fn call_path<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let text = self.send_path(method, path, body).await?;
        serde_json::from_str(&text).map_err(|e| ClientError::Protocol(format!("{e}: {text}")))
    }

    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let text = self.send(method, path, body).await?;
        serde_json::from_str(&text).map_err(|e| ClientError::Protocol(format!("{e}: {text}")))
    }

    /// Sends a request and returns the response body (empty for 204).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<String, ClientError> {
        self.send_path(method, &format!("/api/v1{path}"), body)
            .await
    }

    /// Like [`Client::send`], for a path outside the admin API.
    pub async fn send_path(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            cause: root_cause(&e),
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if status.is_success() {
            return Ok(text);
        }
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| text.clone());
        let message = if status == StatusCode::UNAUTHORIZED && self.key.is_none() {
            format!("{message}: pass --key or set AGENTHUB_KEY (or run agenthub login)")
        } else {
            message
        };
        Err(ClientError::Api { status, message })
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
