//! The three ways signing can fail: a signature that does not hold up (`SignatureError`, the
//! receiver's problem to report), key material that cannot be used (`KeyError`), and something
//! that cannot be signed (`SignError`).

/// Why a signature was not accepted. Each variant is a different situation for the receiver:
/// a missing signature may be allowed by policy, a stale or replayed one points at clocks or an
/// attacker, an unknown key at a rotation the receiver has not seen yet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// There is no signature where one belongs.
    #[error("the message carries no signature (metadata[\"agenthub/signature\"] is absent)")]
    Missing,
    /// A signature is there but is not in the agenthub format.
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    /// The signer has no key with this id (it may have been rotated out, or not published yet).
    #[error("the signature names key {0:?}, which the signer has not published")]
    UnknownKey(String),
    /// The signature does not match the content: it was changed after signing, or signed with
    /// another key.
    #[error(
        "the signature does not match: the content was changed after signing, or signed with another key"
    )]
    BadSignature,
    /// The message is signed for another receiver.
    #[error("the message is signed for {found:?}, not for {expected:?}")]
    WrongAudience { expected: String, found: String },
    /// The signing time is too far from the receiver's clock.
    #[error(
        "the signature is from {iat} (unix seconds), more than {max_skew_secs} s away from now ({now}); \
         it is old, or a clock is wrong"
    )]
    Stale {
        iat: u64,
        now: u64,
        max_skew_secs: u64,
    },
    /// The same signed message (by its nonce) was already received.
    #[error("the message was already received (its nonce was seen before): a replay")]
    Replayed,
    /// The algorithm is not one agenthub accepts.
    #[error("the signature algorithm {0:?} is not accepted (only EdDSA and ES256 are)")]
    UnsupportedAlgorithm(String),
}

impl SignatureError {
    /// A stable short name for the kind of failure, for metrics, logs and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::UnknownKey(_) => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::WrongAudience { .. } => "wrong_audience",
            Self::Stale { .. } => "stale",
            Self::Replayed => "replayed",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
        }
    }
}

/// Key material that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A key type, curve, algorithm or use agenthub does not sign or verify with.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// A key that is damaged or incomplete.
    #[error("invalid key: {0}")]
    Invalid(String),
}

/// Why something could not be signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The document is not something this format signs (not an object, or claims that would
    /// not verify).
    #[error("cannot sign: {0}")]
    Invalid(String),
    /// The system's random number generator failed (ES256 signatures and nonces need it).
    #[error("cannot sign: the system random number generator failed")]
    Random,
}
