//! The crate's one error type, classified once with [`ErrorKind`].
//!
//! Provider errors are classified by [`classify`], the one table from a provider's status (and
//! error code) to a kind and retryability. What the caller may read is
//! [`Error::public_message`]: the provider's own words only where they help the caller fix the
//! request; an upstream credential or billing failure is described, never quoted (OpenAI echoes
//! part of the API key in its 401 message).

use agenthub_policy::ErrorKind;

use crate::model::StreamError;
use crate::params::Provider;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client's request is malformed or invalid.
    #[error("{}", with_param(.param.as_deref(), .message))]
    InvalidRequest {
        /// The request field at fault, as the client named it (`messages[2].content`).
        param: Option<String>,
        message: String,
    },
    /// The target model cannot honour a parameter, and its policy is to reject.
    #[error("{param}: {message}")]
    Unsupported { param: String, message: String },
    /// The provider answered with an error status, or an error event in a stream.
    #[error(
        "{} answered {}{}: {}",
        .0.provider,
        .0.status,
        .0.code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
        .0.message
    )]
    Provider(Box<ProviderError>),
    /// The provider's answer could not be understood (malformed body, broken stream).
    #[error("malformed answer from the provider: {message}")]
    Protocol {
        message: String,
        #[source]
        source: Option<serde_json::Error>,
    },
    /// The operation does not exist for this provider (embeddings on Anthropic).
    #[error("{0}")]
    NotSupported(String),
    /// The provider could not be reached, or did not answer in time.
    #[error("{message}")]
    Transport { timeout: bool, message: String },
    /// The hub cannot call the provider as configured (a missing credential secret).
    #[error("{0}")]
    Setup(String),
    /// Every target of a route failed or was unavailable; `kind` says how the last one failed.
    #[error("{summary}")]
    Exhausted { kind: ErrorKind, summary: String },
}

fn with_param(param: Option<&str>, message: &str) -> String {
    match param {
        Some(param) => format!("{param}: {message}"),
        None => message.to_owned(),
    }
}

/// What a provider said when it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub provider: Provider,
    /// The HTTP status; for an error event inside a stream, the status the error type stands
    /// for (Anthropic's `overloaded_error` → 529).
    pub status: u16,
    pub kind: ErrorKind,
    pub retryable: bool,
    /// The provider's error type or code (`rate_limit_error`, `insufficient_quota`).
    pub code: Option<String>,
    /// The provider's message. Logged; shown to the caller only for client-side kinds.
    pub message: String,
    pub param: Option<String>,
}

impl Error {
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            param: Some(param.into()),
            message: message.into(),
        }
    }

    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            param: None,
            message: message.into(),
        }
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Self::Protocol {
            message: message.into(),
            source: None,
        }
    }

    /// A provider's error answer, classified by [`classify`].
    pub fn provider(
        provider: Provider,
        status: u16,
        code: Option<String>,
        message: impl Into<String>,
        param: Option<String>,
    ) -> Self {
        let (kind, retryable) = classify(status, code.as_deref());
        Self::Provider(Box::new(ProviderError {
            provider,
            status,
            kind,
            retryable,
            code,
            message: message.into(),
            param,
        }))
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidRequest { .. } | Self::Unsupported { .. } | Self::NotSupported(_) => {
                ErrorKind::InvalidRequest
            }
            Self::Provider(e) => e.kind,
            Self::Protocol { .. } | Self::Setup(_) => ErrorKind::UpstreamFailed,
            Self::Transport { timeout: true, .. } => ErrorKind::UpstreamTimeout,
            Self::Transport { timeout: false, .. } => ErrorKind::UpstreamFailed,
            Self::Exhausted { kind, .. } => *kind,
        }
    }

    /// Whether the same request may succeed if sent again. Differs from the kind's default for
    /// provider failures that will not go away by themselves (a rejected key, an exhausted
    /// quota): those are worth a fallback to another deployment, not a retry of this one.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Provider(e) => e.retryable,
            other => other.kind().is_retryable(),
        }
    }

    /// The request field at fault.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { param, .. } => param.as_deref(),
            Self::Unsupported { param, .. } => Some(param),
            Self::Provider(e) if e.kind.source() == agenthub_policy::ErrorSource::Client => {
                e.param.as_deref()
            }
            _ => None,
        }
    }

    /// The provider's failure, when the provider answered one.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        match self {
            Self::Provider(e) => Some(e),
            _ => None,
        }
    }

    /// A message safe to show the caller.
    pub fn public_message(&self) -> String {
        match self {
            Self::InvalidRequest { .. } | Self::Unsupported { .. } | Self::NotSupported(_) => {
                self.to_string()
            }
            Self::Protocol { .. } => {
                "the model provider sent an answer that could not be read".to_owned()
            }
            Self::Transport { timeout: true, .. } => "the model provider timed out".to_owned(),
            Self::Transport { timeout: false, .. } => {
                "the model provider could not be reached".to_owned()
            }
            Self::Setup(_) => "the hub is not set up to call this model provider".to_owned(),
            Self::Exhausted { summary, .. } => summary.clone(),
            Self::Provider(e) => match (e.kind, e.status) {
                (ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge, _) => {
                    format!("the model provider rejected the request: {}", e.message)
                }
                (ErrorKind::RateLimited, _) => {
                    "the model provider is rate limiting requests; retry later".to_owned()
                }
                (ErrorKind::UpstreamTimeout, _) => "the model provider timed out".to_owned(),
                (_, 401 | 403) => format!(
                    "the model provider refused the hub's credentials ({})",
                    e.status
                ),
                (_, 402) => "the model provider refused the hub's account (billing)".to_owned(),
                (_, 429) => "the hub's quota at the model provider is exhausted".to_owned(),
                (_, 404) => {
                    "the model provider does not know the configured model (404)".to_owned()
                }
                _ => match &e.code {
                    Some(code) => format!("the model provider failed ({} {code})", e.status),
                    None => format!("the model provider failed ({})", e.status),
                },
            },
        }
    }

    /// This error as a stream event, for a failure after the stream began.
    pub fn to_stream_error(&self) -> StreamError {
        StreamError {
            kind: self.kind(),
            message: self.public_message(),
        }
    }
}

/// The kind and retryability of a provider's error answer. The one such table.
///
/// | status | kind | retryable |
/// |---|---|---|
/// | 400, 422, other 4xx | `InvalidRequest` | no |
/// | 400 `ServiceQuotaExceededException` (Bedrock: the account's quota) | `UpstreamFailed` | no: the hub's account, not the caller, is at fault |
/// | 401, 403 (credentials), 402 (billing), 404 (model) | `UpstreamFailed` | no: the hub's configuration, not the caller, is at fault |
/// | 408, 504 | `UpstreamTimeout` | yes |
/// | 413 | `PayloadTooLarge` | no |
/// | 424 (Bedrock `ModelErrorException`: the model failed) | `UpstreamFailed` | yes |
/// | 429 | `RateLimited` | yes — but an exhausted quota (`insufficient_quota`) is `UpstreamFailed`, not retryable |
/// | 499 (Cohere: the request was cancelled upstream) | `UpstreamFailed` | yes |
/// | 409, 5xx, 529 (overloaded) | `UpstreamFailed` | yes |
///
/// A status retryable here is retried on the same target only when `llm.retry.on_status`
/// lists it; otherwise the call falls back to the next target.
pub fn classify(status: u16, code: Option<&str>) -> (ErrorKind, bool) {
    match status {
        400 if code.is_some_and(|c| c.eq_ignore_ascii_case("ServiceQuotaExceededException")) => {
            (ErrorKind::UpstreamFailed, false)
        }
        401..=404 => (ErrorKind::UpstreamFailed, false),
        408 | 504 => (ErrorKind::UpstreamTimeout, true),
        409 | 424 | 499 => (ErrorKind::UpstreamFailed, true),
        413 => (ErrorKind::PayloadTooLarge, false),
        429 if matches!(code, Some("insufficient_quota" | "billing_error")) => {
            (ErrorKind::UpstreamFailed, false)
        }
        429 => (ErrorKind::RateLimited, true),
        400..=499 => (ErrorKind::InvalidRequest, false),
        _ => (ErrorKind::UpstreamFailed, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let cases = [
            (400, None, ErrorKind::InvalidRequest, false),
            (422, None, ErrorKind::InvalidRequest, false),
            (401, None, ErrorKind::UpstreamFailed, false),
            (403, None, ErrorKind::UpstreamFailed, false),
            (402, None, ErrorKind::UpstreamFailed, false),
            (404, None, ErrorKind::UpstreamFailed, false),
            (408, None, ErrorKind::UpstreamTimeout, true),
            (413, None, ErrorKind::PayloadTooLarge, false),
            (
                400,
                Some("ServiceQuotaExceededException"),
                ErrorKind::UpstreamFailed,
                false,
            ),
            (
                400,
                Some("ValidationException"),
                ErrorKind::InvalidRequest,
                false,
            ),
            (424, None, ErrorKind::UpstreamFailed, true),
            (
                424,
                Some("ModelErrorException"),
                ErrorKind::UpstreamFailed,
                true,
            ),
            (499, None, ErrorKind::UpstreamFailed, true),
            (409, None, ErrorKind::UpstreamFailed, true),
            (418, None, ErrorKind::InvalidRequest, false),
            (429, None, ErrorKind::RateLimited, true),
            (
                429,
                Some("insufficient_quota"),
                ErrorKind::UpstreamFailed,
                false,
            ),
            (500, None, ErrorKind::UpstreamFailed, true),
            (503, None, ErrorKind::UpstreamFailed, true),
            (504, None, ErrorKind::UpstreamTimeout, true),
            (529, None, ErrorKind::UpstreamFailed, true),
        ];
        for (status, code, kind, retryable) in cases {
            assert_eq!(
                classify(status, code),
                (kind, retryable),
                "{status} {code:?}"
            );
        }
    }

    #[test]
    fn upstream_credential_failures_are_not_quoted() {
        let error = Error::provider(
            Provider::OpenAi,
            401,
            Some("invalid_api_key".into()),
            "Incorrect API key provided: sk-abc***xyz.",
            None,
        );
        assert_eq!(error.kind(), ErrorKind::UpstreamFailed);
        assert!(!error.is_retryable());
        assert!(!error.public_message().contains("sk-abc"));
        // The log line keeps the provider's words.
        assert!(error.to_string().contains("sk-abc"));
    }

    #[test]
    fn provider_rejections_keep_the_message_and_param() {
        let error = Error::provider(
            Provider::Anthropic,
            400,
            Some("invalid_request_error".into()),
            "max_tokens: 100000 > 64000",
            Some("max_tokens".into()),
        );
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert_eq!(error.param(), Some("max_tokens"));
        assert!(error.public_message().contains("100000 > 64000"));
    }
}
