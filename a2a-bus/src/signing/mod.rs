//! A2A signatures: agenthub's signed messages and signed agent cards (A2A v1.0).
//!
//! The hub signs every message it forwards to an agent, and agents that registered a key sign
//! what they send through it, so that a receiver can tell who sent a message, for whom, on
//! whose behalf, and that nothing changed on the way. docs/a2a-signatures.md is the format for
//! users and other implementations; tests/data/signature-vectors.json holds test vectors.
//!
//! - `jcs`: RFC 8785 canonical JSON, the bytes every signature covers.
//! - `prune`: the empty values removed first, so protobuf round trips keep signatures valid.
//! - `keys`, `keyset`: Ed25519 and P-256 keys (PKCS#8 to store, JWK to publish, RFC 7638
//!   thumbprints as `kid`), JWKS documents and key lookup for rotation.
//! - `message`: `metadata["agenthub/signature"]` and its verification.
//! - `nonce`: replay protection for verified messages.
//! - `card`: signatures of agent cards, interoperable with the official a2a-sdk.
//!
//! Pure code: no I/O and no clock. Callers pass the time (unix seconds) and the keys.

mod card;
mod error;
mod grant;
pub mod jcs;
mod jws;
mod keys;
mod keyset;
mod message;
mod nonce;
pub mod prune;

pub use card::{
    add_card_signature, card_signing_payload, sign_card, sign_card_in_place, verify_card,
};
pub use error::{KeyError, SignError, SignatureError};
pub use grant::{GrantClaims, GrantKey, GrantKeys, sign_grant, verify_grant};
pub use keys::{SigningAlgorithm, SigningKey, VerifyingKey};
pub use keyset::{KeyLookup, KeySet};
pub use message::{
    MessageClaims, SIGNATURE_FORMAT_VERSION, SIGNATURE_METADATA_KEY, new_nonce, sign_message,
    signing_payload, verify_message,
};
pub use nonce::NonceCache;

/// The default allowed difference between a signature's `iat` and the receiver's clock.
pub const DEFAULT_MAX_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// Where the hub serves its signing keys.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The current time in unix seconds, for the `now` and `iat` arguments.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
