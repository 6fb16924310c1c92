//! The protocol version a client asks for, and the headers that name versions and extensions.
//!
//! A2A v1.0 clients send `A2A-Version: 1.0` as a header or as the `A2A-Version` query
//! parameter; no value (or an empty one) means 0.3 (spec "Discovery and versioning").
//! a2a-sdk 1.3.0 reads only the header (`utils/version_validator.py`) and is strict: every
//! handler requires its own version, so a v1.0 method name without the header gets
//! `VersionNotSupported` (-32009), and a v0.3 method name with `A2A-Version: 1.0` gets it too
//! (as -32603, v0.3 having no -32009).
//!
//! The hub is lenient instead: the method name (JSON-RPC) or the path (REST) says which
//! version the client speaks, since the two name sets never overlap; the header only breaks
//! the one tie there is (a v1.0 tenant called `v1`, see `rest`) and is refused when it names a
//! version the hub does not speak.

use crate::card::ProtocolVersion;

use super::errors::A2aError;

/// The version header (and query parameter) name.
pub const VERSION_HEADER: &str = "A2A-Version";
/// The extensions header of v1.0: a comma-separated list of extension URIs.
pub const EXTENSIONS_HEADER: &str = "A2A-Extensions";
/// v0.3's name for it. a2a-sdk's v0.3 transports send both and its v0.3 server reads both
/// (`compat/v0_3/extension_headers.py`), so requests to v0.3 agents should carry both.
pub const LEGACY_EXTENSIONS_HEADER: &str = "X-A2A-Extensions";

/// What the client said about its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// No header, no query parameter, or an empty value: the spec's "0.3".
    Unspecified,
    Version(ProtocolVersion),
    /// A value naming a version the hub does not speak (kept for the error message).
    Unsupported(String),
}

impl Requested {
    /// From the header value, else the `A2A-Version` query parameter of `query` (the raw query
    /// string, without `?`).
    pub fn detect(header: Option<&str>, query: Option<&str>) -> Self {
        let from_query = || {
            query.and_then(|query| {
                super::rest::query::pairs(query)
                    .find(|(key, _)| key.eq_ignore_ascii_case(VERSION_HEADER))
                    .map(|(_, value)| value)
            })
        };
        match header.map(str::trim).filter(|value| !value.is_empty()) {
            Some(value) => Self::from_value(value),
            None => match from_query() {
                Some(value) => Self::from_value(value.trim()),
                None => Self::Unspecified,
            },
        }
    }

    fn from_value(value: &str) -> Self {
        if value.is_empty() {
            return Self::Unspecified;
        }
        match ProtocolVersion::parse(value) {
            Some(version) => Self::Version(version),
            None => Self::Unsupported(value.to_owned()),
        }
    }

    /// The version a request is served in, given the version its method name or path implies:
    /// that one, unless the client named a version the hub does not speak.
    pub fn resolve(&self, implied: ProtocolVersion) -> Result<ProtocolVersion, A2aError> {
        match self {
            Self::Unsupported(value) => Err(A2aError::version_not_supported().with_message(
                format!("A2A version '{value}' is not supported; this hub speaks 1.0 and 0.3"),
            )),
            _ => Ok(implied),
        }
    }

    /// Whether the client explicitly asked for `version`.
    pub fn is(&self, version: ProtocolVersion) -> bool {
        *self == Self::Version(version)
    }
}

/// The `A2A-Version` value to send to an agent of `version`. a2a-sdk's v1.0 server refuses
/// requests without `1.0`; its v0.3 client transports send `0.3`, which v0.3 servers ignore.
pub fn header_value(version: ProtocolVersion) -> &'static str {
    version.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_then_query_then_unspecified() {
        assert_eq!(
            Requested::detect(Some("1.0"), Some("A2A-Version=0.3")),
            Requested::Version(ProtocolVersion::V1_0)
        );
        assert_eq!(
            Requested::detect(None, Some("x=1&A2A-Version=1.0")),
            Requested::Version(ProtocolVersion::V1_0)
        );
        assert_eq!(
            Requested::detect(Some(" "), Some("a2a-version=0.3")),
            Requested::Version(ProtocolVersion::V0_3)
        );
        assert_eq!(Requested::detect(None, None), Requested::Unspecified);
        assert_eq!(
            Requested::detect(None, Some("A2A-Version=")),
            Requested::Unspecified
        );
        assert_eq!(
            Requested::detect(Some("2.0"), None),
            Requested::Unsupported("2.0".into())
        );
        assert_eq!(
            Requested::detect(Some("0.2.5"), None),
            Requested::Unsupported("0.2.5".into())
        );
    }

    #[test]
    fn the_implied_version_wins_unless_unsupported() {
        let v1 = Requested::Version(ProtocolVersion::V1_0);
        assert_eq!(v1.resolve(ProtocolVersion::V0_3), Ok(ProtocolVersion::V0_3));
        assert_eq!(
            Requested::Unspecified.resolve(ProtocolVersion::V1_0),
            Ok(ProtocolVersion::V1_0)
        );
        let error = Requested::Unsupported("9".into())
            .resolve(ProtocolVersion::V1_0)
            .unwrap_err();
        assert_eq!(error.kind.code(), -32009);
    }
}
