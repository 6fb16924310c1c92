//! Delegation grants: the hub's word, inside the signature on a message it forwards to an
//! agent, that the message came on behalf of `sub` along `chain`. The agent hands the
//! signature object back (`agenthub/parent`) when it delegates; the hub reads the grant to
//! extend the chain, without keeping any state of its own.
//!
//! A grant is a compact JWS (payload included, unlike a message signature) over the JCS form of
//! its claims, MACed with HS256. Only the hub ever reads a grant back — receivers see it inside
//! the message's signature, which already vouches for it — so a key the hub shares with itself
//! serves, and an HMAC costs a microsecond where a second Ed25519 signature cost about 35 µs on
//! every relayed message. The MAC key is derived (HKDF-SHA256) from one of the hub's signing
//! keys and named by that key's `kid`: every replica, which reads the same signing keys from the
//! store, derives the same MAC keys, and rotating the signing key rotates the grant key with it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{hkdf, hmac};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{SignError, SignatureError};
use super::jcs::canonicalize;
use super::keys::SigningKey;

/// The JWS `alg` of grants.
const GRANT_ALGORITHM: &str = "HS256";
/// Domain separation of the grant key from every other use of the signing key.
const GRANT_KEY_SALT: &[u8] = b"agenthub/a2a/grant-key/v1";

/// The MAC key of the hub's grants, derived from one of its signing keys.
pub struct GrantKey {
    /// The `kid` of the signing key it was derived from.
    kid: String,
    /// The base64url protected header of the grants it makes.
    protected: String,
    key: hmac::Key,
}

impl GrantKey {
    /// The grant key of `signing_key`: HKDF-SHA256 of its PKCS#8 form, with its `kid` as info.
    pub fn derive(signing_key: &SigningKey) -> Self {
        let kid = signing_key.kid().to_owned();
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, GRANT_KEY_SALT).extract(signing_key.to_pkcs8());
        let info = [kid.as_bytes()];
        let key = prk
            .expand(&info, hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .expect("HMAC-SHA256's key length is a valid HKDF output length");
        let protected = URL_SAFE_NO_PAD.encode(canonicalize(&serde_json::json!({
            "alg": GRANT_ALGORITHM,
            "kid": kid,
            "typ": "JOSE",
        })));
        Self {
            kid,
            protected,
            key,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl std::fmt::Debug for GrantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantKey").field("kid", &self.kid).finish()
    }
}

/// The hub's grant keys: the current one makes grants, any of them checks one.
#[derive(Debug)]
pub struct GrantKeys {
    current: GrantKey,
    previous: Vec<GrantKey>,
}

impl GrantKeys {
    pub fn new(current: GrantKey, previous: impl IntoIterator<Item = GrantKey>) -> Self {
        Self {
            current,
            previous: previous.into_iter().collect(),
        }
    }

    pub fn current(&self) -> &GrantKey {
        &self.current
    }

    fn find(&self, kid: &str) -> Option<&GrantKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.kid == kid)
    }
}

/// What a grant says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    /// The hub that made it: `hub:<id>`.
    pub iss: String,
    /// The agent the message was for, the only one that may extend the chain.
    pub aud: String,
    /// The original principal.
    pub sub: String,
    /// The chain the message came along (principal first, its sender last).
    pub chain: Vec<String>,
    /// When it was made, unix seconds.
    pub iat: u64,
    /// The trace the message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// Makes the grant of `claims`: a compact JWS, MACed with `key`.
pub fn sign_grant(claims: &GrantClaims, key: &GrantKey) -> Result<String, SignError> {
    let payload =
        canonicalize(&serde_json::to_value(claims).map_err(|e| SignError::Invalid(e.to_string()))?);
    let mut token = String::with_capacity(key.protected.len() + 2 + payload.len() * 4 / 3 + 46);
    token.push_str(&key.protected);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload.as_bytes(), &mut token);
    let tag = hmac::sign(&key.key, token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut token);
    Ok(token)
}

/// Verifies a grant made by `issuer` with one of `keys`, at most `max_age_secs` old at `now`,
/// for `audience`.
pub fn verify_grant(
    token: &str,
    keys: &GrantKeys,
    issuer: &str,
    audience: &str,
    now: u64,
    max_age_secs: u64,
) -> Result<GrantClaims, SignatureError> {
    let malformed = |why: &str| SignatureError::Malformed(format!("grant: {why}"));
    let mut parts = token.split('.');
    let (Some(protected), Some(payload), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not a compact JWS"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(protected)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or_else(|| malformed("the protected header is not base64url JSON"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if alg != GRANT_ALGORITHM {
        return Err(SignatureError::UnsupportedAlgorithm(alg.to_owned()));
    }
    if header.get("crit").is_some() {
        return Err(malformed("it has critical extensions (crit)"));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the protected header has no kid"))?;
    let key = keys
        .find(kid)
        .ok_or_else(|| SignatureError::UnknownKey(kid.to_owned()))?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| malformed("the MAC is not base64url"))?;
    let signed = &token[..protected.len() + 1 + payload.len()];
    hmac::verify(&key.key, signed.as_bytes(), &tag).map_err(|_| SignatureError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("the payload is not base64url"))?;
    let claims: GrantClaims =
        serde_json::from_slice(&payload).map_err(|e| malformed(&format!("the claims: {e}")))?;
    if claims.iss != issuer {
        return Err(SignatureError::UnknownKey(kid.to_owned()));
    }
    if claims.aud != audience {
        return Err(SignatureError::WrongAudience {
            expected: audience.to_owned(),
            found: claims.aud,
        });
    }
    if now.saturating_sub(claims.iat) > max_age_secs || claims.iat > now.saturating_add(300) {
        return Err(SignatureError::Stale {
            iat: claims.iat,
            now,
            max_skew_secs: max_age_secs,
        });
    }
    if claims.chain.first() != Some(&claims.sub) {
        return Err(malformed("the chain does not start with sub"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> GrantClaims {
        GrantClaims {
            iss: "hub:h1".into(),
            aud: "agent:a".into(),
            sub: "user:alice".into(),
            chain: vec!["user:alice".into()],
            iat: 1000,
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        }
    }

    fn keys(seed: u8) -> GrantKeys {
        GrantKeys::new(
            GrantKey::derive(&SigningKey::ed25519_from_seed(&[seed; 32])),
            [],
        )
    }

    #[test]
    fn a_grant_verifies_for_its_audience_within_its_age() {
        let keys = keys(3);
        let token = sign_grant(&claims(), keys.current()).unwrap();
        assert_eq!(
            verify_grant(&token, &keys, "hub:h1", "agent:a", 1100, 3600),
            Ok(claims())
        );
        assert!(matches!(
            verify_grant(&token, &keys, "hub:h1", "agent:b", 1100, 3600),
            Err(SignatureError::WrongAudience { .. })
        ));
        assert!(matches!(
            verify_grant(&token, &keys, "hub:h1", "agent:a", 5000, 3600),
            Err(SignatureError::Stale { .. })
        ));
        assert!(matches!(
            verify_grant(&token, &keys, "hub:h2", "agent:a", 1100, 3600),
            Err(SignatureError::UnknownKey(_))
        ));
        // Another hub's key (another signing key) does not know it.
        assert!(matches!(
            verify_grant(&token, &self::keys(4), "hub:h1", "agent:a", 1100, 3600),
            Err(SignatureError::UnknownKey(_))
        ));
        // A changed payload under the same MAC fails.
        let mut forged = claims();
        forged.sub = "user:root".into();
        forged.chain = vec!["user:root".into()];
        let forged_payload =
            URL_SAFE_NO_PAD.encode(canonicalize(&serde_json::to_value(&forged).unwrap()));
        let parts: Vec<&str> = token.split('.').collect();
        let forged_token = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(
            verify_grant(&forged_token, &keys, "hub:h1", "agent:a", 1100, 3600),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn a_grant_made_before_a_rotation_still_verifies_and_a_signature_algorithm_is_refused() {
        let old = SigningKey::ed25519_from_seed(&[5; 32]);
        let token = sign_grant(&claims(), &GrantKey::derive(&old)).unwrap();
        let new = SigningKey::generate(crate::signing::SigningAlgorithm::Es256).unwrap();
        let rotated = GrantKeys::new(GrantKey::derive(&new), [GrantKey::derive(&old)]);
        assert_eq!(
            verify_grant(&token, &rotated, "hub:h1", "agent:a", 1100, 3600),
            Ok(claims())
        );
        // The key is derived, not the signing key itself, and the same on every replica.
        assert_eq!(
            sign_grant(&claims(), &GrantKey::derive(&old)).unwrap(),
            token
        );
        // A grant that claims an asymmetric algorithm (or none) is not one of the hub's.
        for alg in ["EdDSA", "none"] {
            let header =
                URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, old.kid()));
            let parts: Vec<&str> = token.split('.').collect();
            let other = format!("{header}.{}.{}", parts[1], parts[2]);
            assert_eq!(
                verify_grant(&other, &rotated, "hub:h1", "agent:a", 1100, 3600),
                Err(SignatureError::UnsupportedAlgorithm(alg.into()))
            );
        }
        assert!(matches!(
            verify_grant("a.b", &rotated, "hub:h1", "agent:a", 1100, 3600),
            Err(SignatureError::Malformed(_))
        ));
    }
}
