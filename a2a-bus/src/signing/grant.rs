//! Delegation grants: the hub's word, inside the signature on a message it forwards to an
//! agent, that the message came on behalf of `sub` along `chain`. The agent hands the
//! signature object back (`agenthub/parent`) when it delegates; the hub reads the grant to
//! extend the chain, without keeping any state of its own. A grant is a compact JWS (payload
//! included, unlike a message signature) over the JCS form of its claims, signed with the
//! hub's key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::error::{SignError, SignatureError};
use super::jcs::canonicalize;
use super::jws::{DetachedSignature, decode_header};
use super::keys::SigningKey;
use super::keyset::KeyLookup;

/// What a grant says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    /// The hub that signed it: `hub:<id>`.
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

/// Signs `claims` as a compact JWS.
pub fn sign_grant(claims: &GrantClaims, key: &SigningKey) -> Result<String, SignError> {
    let payload =
        canonicalize(&serde_json::to_value(claims).map_err(|e| SignError::Invalid(e.to_string()))?);
    let signed = DetachedSignature::sign(key, None, payload.as_bytes())?;
    Ok(format!(
        "{}.{}.{}",
        signed.protected,
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        signed.signature
    ))
}

/// Verifies a grant made by `issuer` and at most `max_age_secs` old at `now`, for `audience`.
pub fn verify_grant(
    token: &str,
    keys: &dyn KeyLookup,
    issuer: &str,
    audience: &str,
    now: u64,
    max_age_secs: u64,
) -> Result<GrantClaims, SignatureError> {
    let malformed = |why: &str| SignatureError::Malformed(format!("grant: {why}"));
    let mut parts = token.split('.');
    let (Some(protected), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not a compact JWS"));
    };
    let header = decode_header(protected)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("the payload is not base64url"))?;
    let claims: GrantClaims =
        serde_json::from_slice(&payload).map_err(|e| malformed(&format!("the claims: {e}")))?;
    if claims.iss != issuer {
        return Err(SignatureError::UnknownKey(header.kid));
    }
    let key = keys
        .find_key(issuer, &header.kid)
        .ok_or_else(|| SignatureError::UnknownKey(header.kid.clone()))?;
    DetachedSignature {
        protected: protected.to_owned(),
        signature: signature.to_owned(),
    }
    .verify(&header, &key, &payload)?;
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
    use crate::signing::KeySet;

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

    #[test]
    fn a_grant_verifies_for_its_audience_within_its_age() {
        let key = SigningKey::ed25519_from_seed(&[3; 32]);
        let keys = KeySet::new(&key, []);
        let token = sign_grant(&claims(), &key).unwrap();
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
        let other = SigningKey::ed25519_from_seed(&[4; 32]);
        assert!(matches!(
            verify_grant(
                &token,
                &KeySet::new(&other, []),
                "hub:h1",
                "agent:a",
                1100,
                3600
            ),
            Err(SignatureError::UnknownKey(_))
        ));
        // A changed payload under the same signature fails.
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
}
