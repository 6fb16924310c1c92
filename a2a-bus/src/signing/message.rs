//! Signed A2A messages: the signature object in `metadata["agenthub/signature"]`, what it
//! covers, and the checks a receiver makes (docs/a2a-signatures.md has the format).
//!
//! Both functions work on the message's A2A v1.0 JSON form (camelCase, `parts[]` with
//! `text`/`raw`/`url`/`data`, roles `ROLE_USER`/`ROLE_AGENT`). A v0.3 message must be converted
//! to that form first, by signer and verifier alike; the conversion is not part of this module.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::{SignError, SignatureError};
use super::jcs::canonicalize;
use super::jws::{DetachedSignature, decode_header};
use super::keys::SigningKey;
use super::keyset::KeyLookup;
use super::nonce::NonceCache;
use super::prune::remove_empty_members;

/// The metadata member that holds a message's signature.
pub const SIGNATURE_METADATA_KEY: &str = "agenthub/signature";

/// The version of the signature format (`v`).
pub const SIGNATURE_FORMAT_VERSION: u64 = 1;

/// What a message signature says besides the signature itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageClaims {
    /// Who signed: `hub:<hub-id>` or `agent:<name>`.
    pub iss: String,
    /// The agent the message is for: `agent:<name>`.
    pub aud: String,
    /// The original principal, on whose behalf the message travels (`user:alice`).
    pub sub: String,
    /// The delegation chain so far: the principal first, the sender last.
    pub chain: Vec<String>,
    /// When it was signed, unix seconds.
    pub iat: u64,
    /// Unique per message: base64url of 16 random bytes (`new_nonce`).
    pub nonce: String,
    /// The W3C trace context of the call, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The hub's delegation grant (`signing::sign_grant`), for the receiver to hand back when
    /// it delegates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

impl MessageClaims {
    /// Claims signed at `iat` with a fresh nonce, without trace context. The chain starts with
    /// `sub`, as verification requires.
    pub fn new(
        iss: impl Into<String>,
        aud: impl Into<String>,
        sub: impl Into<String>,
        chain: Vec<String>,
        iat: u64,
    ) -> Result<Self, SignError> {
        Ok(Self {
            iss: iss.into(),
            aud: aud.into(),
            sub: sub.into(),
            chain,
            iat,
            nonce: new_nonce()?,
            traceparent: None,
            grant: None,
        })
    }

    /// The claims with a W3C `traceparent`.
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// Why a receiver would refuse these claims whatever the signature, if it would.
    fn inconsistency(&self) -> Option<&'static str> {
        if self.chain.is_empty() {
            Some("chain is empty")
        } else if self.chain[0] != self.sub {
            Some("chain does not start with sub")
        } else if self.nonce.is_empty() {
            Some("nonce is empty")
        } else {
            None
        }
    }

    /// The signature object without `jws`: what the payload's `claims` member is.
    fn to_signature_object(&self) -> Map<String, Value> {
        let mut object = Map::new();
        object.insert("v".into(), SIGNATURE_FORMAT_VERSION.into());
        if let Value::Object(claims) = json!(self) {
            object.extend(claims);
        }
        object
    }
}

/// A fresh nonce: base64url (no padding) of 16 random bytes.
pub fn new_nonce() -> Result<String, SignError> {
    let mut bytes = [0_u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SignError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Signs `message` (an A2A v1.0 message object) for `claims.aud`, putting the signature object
/// in `metadata["agenthub/signature"]`; a signature already there is replaced (a hub signs
/// again what it forwards). Refused: a message that is not an object or whose `metadata` is not
/// one, and claims that no receiver would accept (empty chain, chain not starting with `sub`,
/// empty nonce).
pub fn sign_message(
    message: &mut Value,
    claims: &MessageClaims,
    key: &SigningKey,
) -> Result<(), SignError> {
    if let Some(why) = claims.inconsistency() {
        return Err(SignError::Invalid(format!(
            "the claims would not verify: {why}"
        )));
    }
    let Value::Object(fields) = message else {
        return Err(SignError::Invalid(
            "the message is not a JSON object".into(),
        ));
    };
    match fields.get("metadata") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(_) => {
            return Err(SignError::Invalid(
                "the message's metadata is not an object".into(),
            ));
        }
    }
    let mut signature = claims.to_signature_object();
    let payload = signing_payload(message, &signature);
    let jws = DetachedSignature::sign(key, None, payload.as_bytes())?.compact();
    signature.insert("jws".into(), jws.into());

    let metadata = message
        .as_object_mut()
        .expect("checked to be an object above")
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if metadata.is_null() {
        *metadata = Value::Object(Map::new());
    }
    if let Value::Object(metadata) = metadata {
        metadata.insert(SIGNATURE_METADATA_KEY.into(), Value::Object(signature));
    }
    Ok(())
}

/// Verifies the signature of a received `message` (A2A v1.0 form) addressed to `audience`, at
/// `now` (unix seconds), and returns its claims. The message is not changed.
///
/// The checks, cheapest first: the signature object and its header are well formed; the
/// algorithm is EdDSA or ES256; the signer (`iss`) has the key `kid` (`keys`); `aud` is
/// `audience`; `iat` is within the nonce cache's skew of `now`; the chain starts with `sub`; the
/// signature matches. Only then is the nonce checked and remembered, so that forged messages
/// cannot fill the cache and push genuine nonces out.
pub fn verify_message(
    message: &Value,
    keys: &dyn KeyLookup,
    audience: &str,
    now: u64,
    nonces: &NonceCache,
) -> Result<MessageClaims, SignatureError> {
    let signature_object = message
        .get("metadata")
        .and_then(|metadata| metadata.get(SIGNATURE_METADATA_KEY))
        .ok_or(SignatureError::Missing)?;
    let Value::Object(signature_object) = signature_object else {
        return Err(malformed(format!(
            "{SIGNATURE_METADATA_KEY} is not an object"
        )));
    };
    let mut signed_claims = signature_object.clone();
    let jws = match signed_claims.remove("jws") {
        Some(Value::String(jws)) => jws,
        Some(_) => return Err(malformed("jws is not a string".into())),
        None => return Err(malformed("jws is missing".into())),
    };
    let claims = read_claims(&signed_claims)?;
    let detached = DetachedSignature::from_compact(&jws)?;
    let header = decode_header(&detached.protected)?;
    let key = keys
        .find_key(&claims.iss, &header.kid)
        .ok_or_else(|| SignatureError::UnknownKey(header.kid.clone()))?;

    if claims.aud != audience {
        return Err(SignatureError::WrongAudience {
            expected: audience.to_owned(),
            found: claims.aud,
        });
    }
    let max_skew_secs = nonces.max_skew_secs();
    if claims.iat.abs_diff(now) > max_skew_secs {
        return Err(SignatureError::Stale {
            iat: claims.iat,
            now,
            max_skew_secs,
        });
    }
    if let Some(why) = claims.inconsistency() {
        return Err(malformed(why.into()));
    }

    let payload = signing_payload(message, &signed_claims);
    detached.verify(&header, &key, payload.as_bytes())?;

    if !nonces.check_and_remember(&claims.nonce, claims.iat, now) {
        return Err(SignatureError::Replayed);
    }
    Ok(claims)
}

/// The detached payload a message signature covers: the JCS form of
/// `{"message": <canonical message>, "claims": <signature object without jws>}`, where the
/// canonical message is `message` without `metadata["agenthub/signature"]` and without empty
/// members. Public so that tools and test vectors can show what is signed.
pub fn signing_payload(message: &Value, claims: &Map<String, Value>) -> String {
    let mut canonical_message = message.clone();
    if let Some(Value::Object(metadata)) = canonical_message.get_mut("metadata") {
        metadata.remove(SIGNATURE_METADATA_KEY);
    }
    remove_empty_members(&mut canonical_message);
    let mut payload = Map::new();
    payload.insert("message".into(), canonical_message);
    payload.insert("claims".into(), Value::Object(claims.clone()));
    canonicalize(&Value::Object(payload))
}

/// The claims of a signature object (without `jws`), every field checked for its type.
fn read_claims(object: &Map<String, Value>) -> Result<MessageClaims, SignatureError> {
    match object.get("v") {
        Some(v) if whole(v) == Some(SIGNATURE_FORMAT_VERSION) => {}
        Some(v) => return Err(malformed(format!("version {v} is not supported (only 1)"))),
        None => return Err(malformed("v is missing".into())),
    }
    let text = |name: &str| match object.get(name) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(malformed(format!("{name} is not a string"))),
        None => Err(malformed(format!("{name} is missing"))),
    };
    let chain = match object.get("chain") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("chain has an element that is not a string".into()))?,
        Some(_) => return Err(malformed("chain is not an array".into())),
        None => return Err(malformed("chain is missing".into())),
    };
    let iat = match object.get("iat") {
        Some(iat) => {
            whole(iat).ok_or_else(|| malformed("iat is not a whole number of seconds".into()))?
        }
        None => return Err(malformed("iat is missing".into())),
    };
    let traceparent = match object.get("traceparent") {
        None | Some(Value::Null) => None,
        Some(Value::String(traceparent)) => Some(traceparent.clone()),
        Some(_) => return Err(malformed("traceparent is not a string".into())),
    };
    Ok(MessageClaims {
        iss: text("iss")?,
        aud: text("aud")?,
        sub: text("sub")?,
        chain,
        iat,
        nonce: text("nonce")?,
        traceparent,
        grant: match object.get("grant") {
            None | Some(Value::Null) => None,
            Some(Value::String(grant)) => Some(grant.clone()),
            Some(_) => return Err(malformed("grant is not a string".into())),
        },
    })
}

/// A non-negative whole number, also when written as a float: peers that keep metadata in a
/// protobuf `Struct` (a2a-sdk) send `1.0` for `1`. The canonical form (JCS) is the same.
fn whole(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9_007_199_254_740_992.0)
            .map(|f| f as u64)
    })
}

fn malformed(why: String) -> SignatureError {
    SignatureError::Malformed(why)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::signing::keys::SigningAlgorithm;
    use crate::signing::keyset::KeySet;

    const NOW: u64 = 1_764_180_000;

    fn message() -> Value {
        json!({
            "messageId": "m-1",
            "role": "ROLE_USER",
            "parts": [{"text": "Plan a trip to Lisbon"}],
            "metadata": {"trace": "kept"}
        })
    }

    fn claims() -> MessageClaims {
        MessageClaims::new(
            "hub:h1",
            "agent:planner",
            "user:alice",
            vec!["user:alice".into(), "agent:concierge".into()],
            NOW,
        )
        .unwrap()
    }

    fn nonces() -> NonceCache {
        NonceCache::new(1_000, Duration::from_secs(300))
    }

    #[test]
    fn the_signature_object_holds_the_claims_and_a_detached_jws() {
        let key = SigningKey::ed25519_from_seed(&[1; 32]);
        let claims =
            claims().with_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let mut signed = message();
        sign_message(&mut signed, &claims, &key).unwrap();
        let object = &signed["metadata"][SIGNATURE_METADATA_KEY];
        assert_eq!(object["v"], 1);
        assert_eq!(object["iss"], "hub:h1");
        assert_eq!(object["chain"], json!(["user:alice", "agent:concierge"]));
        assert_eq!(object["iat"], NOW);
        assert_eq!(object["traceparent"], json!(claims.traceparent));
        assert!(object["jws"].as_str().unwrap().contains(".."));
        assert_eq!(signed["metadata"]["trace"], "kept");
        let keys = KeySet::new(&key, []);
        assert_eq!(
            verify_message(&signed, &keys, "agent:planner", NOW, &nonces()),
            Ok(claims)
        );
    }

    #[test]
    fn a_message_without_metadata_gets_some() {
        let key = SigningKey::ed25519_from_seed(&[1; 32]);
        for metadata in [None, Some(Value::Null)] {
            let mut signed = json!({"messageId": "m", "role": "ROLE_AGENT", "parts": []});
            if let Some(metadata) = metadata {
                signed["metadata"] = metadata;
            }
            sign_message(&mut signed, &claims(), &key).unwrap();
            let keys = KeySet::new(&key, []);
            assert!(verify_message(&signed, &keys, "agent:planner", NOW, &nonces()).is_ok());
        }
    }

    #[test]
    fn what_cannot_be_signed_is_refused() {
        let key = SigningKey::ed25519_from_seed(&[1; 32]);
        let refused = |mut message: Value, claims: MessageClaims| {
            matches!(
                sign_message(&mut message, &claims, &key),
                Err(SignError::Invalid(_))
            )
        };
        assert!(refused(json!("text"), claims()));
        assert!(refused(json!({"metadata": "x"}), claims()));
        let mut wrong_chain = claims();
        wrong_chain.chain = vec!["agent:concierge".into()];
        assert!(refused(message(), wrong_chain));
        let mut empty_chain = claims();
        empty_chain.chain.clear();
        assert!(refused(message(), empty_chain));
    }

    #[test]
    fn verification_does_not_change_the_message() {
        let key = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let mut signed = message();
        sign_message(&mut signed, &claims(), &key).unwrap();
        let before = signed.clone();
        let keys = KeySet::new(&key, []);
        verify_message(&signed, &keys, "agent:planner", NOW, &nonces()).unwrap();
        assert_eq!(signed, before);
    }

    #[test]
    fn nonces_are_fresh() {
        let a = new_nonce().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 16);
        assert_ne!(a, new_nonce().unwrap());
    }
}
