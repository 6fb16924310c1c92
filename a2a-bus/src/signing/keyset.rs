//! A signer's published keys (its JWKS) and how verification finds a key.
//!
//! Rotation: a signer publishes its current key and the public halves of the keys it used
//! before, for as long as messages signed with them may still arrive (at least the allowed
//! clock skew, 300 s by default, longer when cards are signed). Signatures name their key by
//! `kid`, so a receiver holding the JWKS with both keys verifies either.

use serde_json::{Value, json};

use super::error::KeyError;
use super::keys::{SigningKey, VerifyingKey};

/// One signer's public keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// The keys to publish: the current key first, then earlier ones still in use. A previous
    /// key with the current key's `kid` is left out.
    pub fn new(current: &SigningKey, previous: impl IntoIterator<Item = VerifyingKey>) -> Self {
        let mut keys = vec![current.verifying_key().clone()];
        for key in previous {
            if keys.iter().all(|known| known.kid() != key.kid()) {
                keys.push(key);
            }
        }
        Self { keys }
    }

    /// A key set from keys alone (a peer's keys, known without their private halves).
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    /// Reads a JWKS document, `{"keys":[…]}`. Keys of other types, curves, algorithms or uses
    /// (an RSA key, an encryption key) are skipped, as RFC 7517 §5 allows, so that a peer may
    /// publish keys for other purposes next to its signing keys; a key of a supported type that
    /// is damaged is an error.
    pub fn from_jwks(jwks: &Value) -> Result<Self, KeyError> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| KeyError::Invalid("a JWKS is an object with a \"keys\" array".into()))?;
        let mut set = Self::default();
        for jwk in keys {
            match VerifyingKey::from_jwk(jwk) {
                Ok(key) => set.keys.push(key),
                Err(KeyError::Unsupported(_)) => {}
                Err(invalid) => return Err(invalid),
            }
        }
        Ok(set)
    }

    /// The JWKS document to serve (at `/.well-known/jwks.json` for the hub).
    pub fn to_jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(VerifyingKey::to_jwk).collect::<Vec<_>>() })
    }

    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|key| key.kid() == kid)
    }

    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }
}

/// Where message verification finds the signer's key.
///
/// Keys are looked up by the signer (`iss`) and the `kid`, so that one signer's key can never
/// vouch for a message that claims another signer. A closure
/// `Fn(issuer, kid) -> Option<VerifyingKey>` is one; so is a `KeySet`, which holds a single
/// signer's keys and so ignores the issuer: pass a `KeySet` alone only when that signer is
/// the only one accepted (such as the hub's own keys).
pub trait KeyLookup {
    fn find_key(&self, issuer: &str, kid: &str) -> Option<VerifyingKey>;
}

impl KeyLookup for KeySet {
    fn find_key(&self, _issuer: &str, kid: &str) -> Option<VerifyingKey> {
        self.get(kid).cloned()
    }
}

impl<F> KeyLookup for F
where
    F: Fn(&str, &str) -> Option<VerifyingKey>,
{
    fn find_key(&self, issuer: &str, kid: &str) -> Option<VerifyingKey> {
        self(issuer, kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::keys::SigningAlgorithm;

    #[test]
    fn the_jwks_lists_the_current_key_first_then_previous_ones_once() {
        let old = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let current = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let set = KeySet::new(
            &current,
            [old.verifying_key().clone(), current.verifying_key().clone()],
        );
        let jwks = set.to_jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [current.kid(), old.kid()]);
        assert_eq!(KeySet::from_jwks(&jwks).unwrap(), set);
        assert_eq!(set.get(old.kid()), Some(old.verifying_key()));
        assert_eq!(set.get("nope"), None);
    }

    #[test]
    fn keys_for_other_purposes_are_skipped_and_damaged_ones_refused() {
        let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let jwks = json!({"keys": [
            {"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "rsa"},
            {"kty": "OKP", "crv": "X25519", "x": "AAAA", "kid": "ecdh"},
            dict_with(key.public_jwk(), "use", "enc"),
            key.public_jwk(),
        ]});
        let set = KeySet::from_jwks(&jwks).unwrap();
        assert_eq!(set.keys(), [key.verifying_key().clone()]);

        let damaged = json!({"keys": [dict_with(key.public_jwk(), "x", "AAAA")]});
        assert!(matches!(
            KeySet::from_jwks(&damaged),
            Err(KeyError::Invalid(_))
        ));
        assert!(KeySet::from_jwks(&json!([key.public_jwk()])).is_err());
    }

    #[test]
    fn a_closure_looks_keys_up_by_issuer() {
        let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let planner = KeySet::new(&key, []);
        let lookup = |issuer: &str, kid: &str| {
            (issuer == "agent:planner")
                .then(|| planner.get(kid).cloned())
                .flatten()
        };
        assert!(lookup.find_key("agent:planner", key.kid()).is_some());
        assert!(lookup.find_key("agent:other", key.kid()).is_none());
    }

    fn dict_with(mut jwk: Value, name: &str, value: &str) -> Value {
        jwk[name] = value.into();
        jwk
    }
}
