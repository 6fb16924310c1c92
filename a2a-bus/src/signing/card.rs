//! Signed agent cards (A2A v1.0): JWS signatures in the card's `signatures` array, computed as
//! the official a2a-sdk computes them, so that cards it signs verify here and cards signed here
//! verify with it.
//!
//! The payload is the RFC 8785 form of the card without `signatures`, with every `null`, `""`,
//! `[]` and `{}` removed, array elements included (a2a-sdk's `_clean_empty`). a2a-sdk reads a
//! card through its protobuf model before canonicalizing, which drops fields the model does not
//! know and fields at their proto3 default (`"required": false` of an extension,
//! `"pkceRequired": false` of an OAuth flow); so sign a card in its A2A v1.0 form as
//! `card::AgentCard` serializes it (it writes neither), or a2a-sdk clients will not verify it.

use serde_json::{Map, Value, json};

use super::error::{SignError, SignatureError};
use super::jcs::canonicalize;
use super::jws::{DetachedSignature, decode_header};
use super::keys::{SigningKey, VerifyingKey};
use super::prune::remove_empty_values;

/// The payload a card signature covers (the card's own `signatures` play no part).
pub fn card_signing_payload(card: &Map<String, Value>) -> String {
    let mut unsigned = card.clone();
    unsigned.remove("signatures");
    let mut unsigned = Value::Object(unsigned);
    remove_empty_values(&mut unsigned);
    canonicalize(&unsigned)
}

/// A signature of `card` by `key`: `{"protected": …, "signature": …}`, the protected header
/// `{"alg","jku"?,"kid","typ":"JOSE"}` with `jku` the URL of the signer's JWKS when given.
pub fn sign_card(card: &Value, key: &SigningKey, jku: Option<&str>) -> Result<Value, SignError> {
    let Value::Object(card) = card else {
        return Err(SignError::Invalid(
            "the agent card is not a JSON object".into(),
        ));
    };
    let payload = card_signing_payload(card);
    let signature = DetachedSignature::sign(key, jku, payload.as_bytes())?;
    Ok(json!({"protected": signature.protected, "signature": signature.signature}))
}

/// Appends `signature` (from `sign_card`) to the card's `signatures`.
pub fn add_card_signature(card: &mut Value, signature: Value) -> Result<(), SignError> {
    let Value::Object(card) = card else {
        return Err(SignError::Invalid(
            "the agent card is not a JSON object".into(),
        ));
    };
    let signatures = card
        .entry("signatures")
        .or_insert_with(|| Value::Array(Vec::new()));
    if signatures.is_null() {
        *signatures = Value::Array(Vec::new());
    }
    match signatures {
        Value::Array(signatures) => {
            signatures.push(signature);
            Ok(())
        }
        _ => Err(SignError::Invalid(
            "the card's signatures member is not an array".into(),
        )),
    }
}

/// Signs `card` with `key` and appends the signature to it.
pub fn sign_card_in_place(
    card: &mut Value,
    key: &SigningKey,
    jku: Option<&str>,
) -> Result<(), SignError> {
    let signature = sign_card(card, key, jku)?;
    add_card_signature(card, signature)
}

/// Checks every signature of `card` and returns the `kid`s that signed it, in order; a card
/// without signatures gives an empty list (whether that is acceptable is the caller's policy).
///
/// `find_key(kid, jku)` gives the key a signature names. `jku` comes from the card, which anyone
/// can write: fetch keys from it only if its origin is trusted for this agent (the card's own
/// origin, say), or the signature proves nothing.
///
/// Stricter than a2a-sdk, which accepts a card when any one signature holds: here one bad or
/// unknown signature fails the card, so that a card never carries a signature that does not
/// hold.
pub fn verify_card(
    card: &Value,
    find_key: &dyn Fn(&str, Option<&str>) -> Option<VerifyingKey>,
) -> Result<Vec<String>, SignatureError> {
    let Value::Object(card_members) = card else {
        return Err(SignatureError::Malformed(
            "the agent card is not a JSON object".into(),
        ));
    };
    let signatures = match card_members.get("signatures") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(signatures)) => signatures,
        Some(_) => {
            return Err(SignatureError::Malformed(
                "the card's signatures is not an array".into(),
            ));
        }
    };
    if signatures.is_empty() {
        return Ok(Vec::new());
    }
    let payload = card_signing_payload(card_members);
    signatures
        .iter()
        .map(|signature| {
            let member = |name: &str| {
                signature
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        SignatureError::Malformed(format!(
                            "a card signature has no {name:?} string"
                        ))
                    })
            };
            let detached = DetachedSignature {
                protected: member("protected")?,
                signature: member("signature")?,
            };
            let header = decode_header(&detached.protected)?;
            let key = find_key(&header.kid, header.jku.as_deref())
                .ok_or_else(|| SignatureError::UnknownKey(header.kid.clone()))?;
            detached.verify(&header, &key, payload.as_bytes())?;
            Ok(header.kid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::keys::SigningAlgorithm;
    use crate::signing::keyset::KeySet;

    fn card() -> Value {
        json!({
            "name": "Planner",
            "description": "Plans trips",
            "version": "1.0.0",
            "supportedInterfaces": [
                {"url": "https://planner.example/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
            ],
            "capabilities": {"streaming": true},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{"id": "plan", "name": "Plan", "description": "Plans", "tags": ["travel"]}]
        })
    }

    fn lookup(set: &KeySet) -> impl Fn(&str, Option<&str>) -> Option<VerifyingKey> + '_ {
        move |kid, _jku| set.get(kid).cloned()
    }

    #[test]
    fn signatures_by_several_keys_all_verify() {
        let ed = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let ec = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let mut signed = card();
        sign_card_in_place(
            &mut signed,
            &ed,
            Some("https://planner.example/.well-known/jwks.json"),
        )
        .unwrap();
        sign_card_in_place(&mut signed, &ec, None).unwrap();
        let keys = KeySet::from_keys([ed.verifying_key().clone(), ec.verifying_key().clone()]);
        assert_eq!(
            verify_card(&signed, &lookup(&keys)),
            Ok(vec![ed.kid().into(), ec.kid().into()])
        );
    }

    #[test]
    fn an_unsigned_card_verifies_nothing() {
        let keys = KeySet::default();
        assert_eq!(verify_card(&card(), &lookup(&keys)), Ok(vec![]));
        let mut empty = card();
        empty["signatures"] = json!([]);
        assert_eq!(verify_card(&empty, &lookup(&keys)), Ok(vec![]));
    }

    #[test]
    fn empty_values_do_not_change_the_payload() {
        let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let mut signed = card();
        sign_card_in_place(&mut signed, &key, None).unwrap();
        signed["iconUrl"] = json!("");
        signed["skills"][0]["examples"] = json!([]);
        signed["defaultInputModes"] = json!(["text/plain", ""]);
        signed["securityRequirements"] = json!([{"schemes": {"bearer": {}}}]);
        let keys = KeySet::new(&key, []);
        assert_eq!(
            verify_card(&signed, &lookup(&keys)),
            Ok(vec![key.kid().into()])
        );
    }

    #[test]
    fn any_failing_signature_fails_the_card() {
        let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let stranger = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let keys = KeySet::new(&key, []);
        let mut signed = card();
        sign_card_in_place(&mut signed, &key, None).unwrap();

        let mut tampered = signed.clone();
        tampered["description"] = json!("Plans trips, and takes your money");
        assert_eq!(
            verify_card(&tampered, &lookup(&keys)),
            Err(SignatureError::BadSignature)
        );

        let mut unknown = signed.clone();
        sign_card_in_place(&mut unknown, &stranger, None).unwrap();
        assert_eq!(
            verify_card(&unknown, &lookup(&keys)),
            Err(SignatureError::UnknownKey(stranger.kid().into()))
        );

        let mut broken = signed.clone();
        broken["signatures"][0] = json!({"protected": "e30"});
        assert!(matches!(
            verify_card(&broken, &lookup(&keys)),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify_card(&json!([]), &lookup(&keys)),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn what_cannot_carry_a_signature_is_refused() {
        let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        assert!(sign_card(&json!("card"), &key, None).is_err());
        let mut bad = card();
        bad["signatures"] = json!("none");
        assert!(sign_card_in_place(&mut bad, &key, None).is_err());
    }
}
