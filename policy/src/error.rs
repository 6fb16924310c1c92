use std::fmt;

/// Who is to blame for a failure. Decides whether details may be shown to the caller and how an
/// operator should read the error rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorSource {
    /// The request was wrong: fixing it is the caller's job.
    Client,
    /// A provider, MCP server or agent behind the hub failed.
    Upstream,
    /// The hub itself failed (store, bug, resource exhaustion).
    Internal,
}

/// The one classification of every error in agenthub. Each crate's error type maps onto it once;
/// the hub turns it into an HTTP status, an OpenAI-style body, a JSON-RPC or an A2A error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed or semantically invalid input.
    InvalidRequest,
    /// Missing, invalid, expired or revoked credentials.
    Unauthenticated,
    /// Authenticated, but not allowed to do this.
    Forbidden,
    NotFound,
    /// The resource exists but does not answer this method.
    MethodNotAllowed,
    /// The request conflicts with existing state (duplicate name, stale update).
    Conflict,
    PayloadTooLarge,
    RateLimited,
    /// A dependency the hub needs (its store) is unreachable; retry later.
    Unavailable,
    /// The upstream answered with a failure.
    UpstreamFailed,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    Internal,
}

impl ErrorKind {
    pub fn source(self) -> ErrorSource {
        match self {
            Self::InvalidRequest
            | Self::Unauthenticated
            | Self::Forbidden
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::Conflict
            | Self::PayloadTooLarge
            | Self::RateLimited => ErrorSource::Client,
            Self::UpstreamFailed | Self::UpstreamTimeout => ErrorSource::Upstream,
            Self::Unavailable | Self::Internal => ErrorSource::Internal,
        }
    }

    /// Whether the same request may succeed if sent again unchanged.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Unavailable | Self::UpstreamFailed | Self::UpstreamTimeout
        )
    }

    /// The stable machine-readable name used in error bodies and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::UpstreamFailed => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Internal => "internal_error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let cases = [
            (ErrorKind::InvalidRequest, ErrorSource::Client, false),
            (ErrorKind::Unauthenticated, ErrorSource::Client, false),
            (ErrorKind::RateLimited, ErrorSource::Client, true),
            (ErrorKind::Unavailable, ErrorSource::Internal, true),
            (ErrorKind::UpstreamFailed, ErrorSource::Upstream, true),
            (ErrorKind::UpstreamTimeout, ErrorSource::Upstream, true),
            (ErrorKind::Internal, ErrorSource::Internal, false),
        ];
        for (kind, source, retryable) in cases {
            assert_eq!(kind.source(), source, "{kind}");
            assert_eq!(kind.is_retryable(), retryable, "{kind}");
        }
    }
}
