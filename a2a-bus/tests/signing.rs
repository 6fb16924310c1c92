//! A2A signatures end to end: round trips, every refusal, rotation, the published test vectors
//! (tests/data/signature-vectors.json) and an agent card signed by the official Python a2a-sdk
//! (tests/data/a2a-sdk-signed-card.json).
//!
//! The vectors are written by `write_signature_vectors` (ignored; run it with
//! `cargo test -p agenthub-a2a-bus --test signing -- --ignored write_signature_vectors`) and
//! checked by `signature_vectors_hold`.

use std::time::Duration;

use agenthub_a2a_bus::signing::{
    KeyLookup, KeySet, MessageClaims, NonceCache, SIGNATURE_METADATA_KEY, SignatureError,
    SigningAlgorithm, SigningKey, VerifyingKey, card_signing_payload, sign_card_in_place,
    sign_message, signing_payload, verify_card, verify_message,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

const NOW: u64 = 1_764_180_000;
const SKEW: Duration = Duration::from_secs(300);
const PLANNER: &str = "agent:planner";

fn nonces() -> NonceCache {
    NonceCache::new(10_000, SKEW)
}

fn message() -> Value {
    json!({
        "messageId": "0198c7e2-5f1a-7b3c-9d4e-2a6f8b1c3d5e",
        "contextId": "ctx-trip-42",
        "role": "ROLE_USER",
        "parts": [{"text": "Plan a trip to Lisbon in May"}]
    })
}

fn claims(iat: u64) -> MessageClaims {
    MessageClaims::new(
        "hub:h1",
        PLANNER,
        "user:alice",
        vec!["user:alice".into(), "agent:concierge".into()],
        iat,
    )
    .expect("a nonce")
}

fn signed_by(key: &SigningKey, claims: &MessageClaims) -> Value {
    let mut message = message();
    sign_message(&mut message, claims, key).expect("signs");
    message
}

fn verify(message: &Value, keys: &dyn KeyLookup) -> Result<MessageClaims, SignatureError> {
    verify_message(message, keys, PLANNER, NOW, &nonces())
}

fn signature_object(message: &mut Value) -> &mut Map<String, Value> {
    message["metadata"][SIGNATURE_METADATA_KEY]
        .as_object_mut()
        .expect("a signature object")
}

#[test]
fn both_algorithms_round_trip() {
    for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
        let key = SigningKey::generate(algorithm).unwrap();
        let claims =
            claims(NOW).with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let signed = signed_by(&key, &claims);
        // Receivers read keys from the published JWKS, not from the signing key.
        let published = KeySet::from_jwks(&KeySet::new(&key, []).to_jwks()).unwrap();
        assert_eq!(verify(&signed, &published), Ok(claims), "{algorithm}");
    }
}

#[test]
fn a_stored_key_signs_what_its_published_key_verifies() {
    let key = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let restored = SigningKey::from_pkcs8(key.to_pkcs8()).unwrap();
    let signed = signed_by(&restored, &claims(NOW));
    assert!(verify(&signed, &KeySet::new(&key, [])).is_ok());
}

#[test]
fn every_refusal_has_its_own_error() {
    let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let keys = KeySet::new(&key, []);
    let signed = signed_by(&key, &claims(NOW));

    assert_eq!(verify(&message(), &keys), Err(SignatureError::Missing));

    let mut not_an_object = signed.clone();
    not_an_object["metadata"][SIGNATURE_METADATA_KEY] = json!("signed, trust me");
    assert!(matches!(
        verify(&not_an_object, &keys),
        Err(SignatureError::Malformed(_))
    ));

    let mut future_version = signed.clone();
    signature_object(&mut future_version).insert("v".into(), json!(2));
    assert!(matches!(
        verify(&future_version, &keys),
        Err(SignatureError::Malformed(_))
    ));

    let mut no_nonce = signed.clone();
    signature_object(&mut no_nonce).remove("nonce");
    assert!(matches!(
        verify(&no_nonce, &keys),
        Err(SignatureError::Malformed(_))
    ));

    let mut chain_not_from_sub = signed.clone();
    signature_object(&mut chain_not_from_sub).insert("chain".into(), json!(["agent:concierge"]));
    assert!(matches!(
        verify(&chain_not_from_sub, &keys),
        Err(SignatureError::Malformed(_))
    ));

    let mut attached_payload = signed.clone();
    let jws = signature_object(&mut attached_payload)["jws"]
        .as_str()
        .unwrap()
        .replace("..", ".e30.");
    signature_object(&mut attached_payload).insert("jws".into(), jws.into());
    assert!(matches!(
        verify(&attached_payload, &keys),
        Err(SignatureError::Malformed(_))
    ));

    let stranger = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    assert_eq!(
        verify(&signed_by(&stranger, &claims(NOW)), &keys),
        Err(SignatureError::UnknownKey(stranger.kid().into()))
    );

    let mut tampered = signed.clone();
    tampered["parts"][0]["text"] = json!("Plan a trip to Lisbon in May, first class");
    assert_eq!(verify(&tampered, &keys), Err(SignatureError::BadSignature));

    let mut tampered_claims = signed.clone();
    signature_object(&mut tampered_claims).insert("iat".into(), json!(NOW - 1));
    assert_eq!(
        verify(&tampered_claims, &keys),
        Err(SignatureError::BadSignature)
    );

    assert_eq!(
        verify_message(&signed, &keys, "agent:booker", NOW, &nonces()),
        Err(SignatureError::WrongAudience {
            expected: "agent:booker".into(),
            found: PLANNER.into()
        })
    );

    assert_eq!(
        verify_message(&signed, &keys, PLANNER, NOW + 301, &nonces()),
        Err(SignatureError::Stale {
            iat: NOW,
            now: NOW + 301,
            max_skew_secs: 300
        })
    );

    let cache = nonces();
    assert!(verify_message(&signed, &keys, PLANNER, NOW, &cache).is_ok());
    assert_eq!(
        verify_message(&signed, &keys, PLANNER, NOW + 5, &cache),
        Err(SignatureError::Replayed)
    );

    let mut other_algorithm = signed.clone();
    let signature = signature_object(&mut other_algorithm);
    let jws = signature["jws"].as_str().unwrap().to_owned();
    let (_, rest) = jws.split_once("..").unwrap();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, key.kid()));
    signature.insert("jws".into(), format!("{header}..{rest}").into());
    assert_eq!(
        verify(&other_algorithm, &keys),
        Err(SignatureError::UnsupportedAlgorithm("HS256".into()))
    );
}

#[test]
fn a_header_naming_the_other_algorithm_for_a_key_does_not_verify() {
    let key = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let mut signed = signed_by(&key, &claims(NOW));
    let signature = signature_object(&mut signed);
    let jws = signature["jws"].as_str().unwrap().to_owned();
    let (_, rest) = jws.split_once("..").unwrap();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, key.kid()));
    signature.insert("jws".into(), format!("{header}..{rest}").into());
    assert_eq!(
        verify(&signed, &KeySet::new(&key, [])),
        Err(SignatureError::BadSignature)
    );
}

#[test]
fn the_clock_may_differ_by_the_skew_either_way() {
    let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let keys = KeySet::new(&key, []);
    for (iat, now, accepted) in [
        (NOW, NOW + 300, true),
        (NOW, NOW + 301, false),
        (NOW + 300, NOW, true),
        (NOW + 301, NOW, false),
    ] {
        let result = verify_message(
            &signed_by(&key, &claims(iat)),
            &keys,
            PLANNER,
            now,
            &nonces(),
        );
        assert_eq!(result.is_ok(), accepted, "iat {iat}, now {now}: {result:?}");
    }
}

#[test]
fn a_replay_is_refused_for_as_long_as_the_message_is_fresh() {
    let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let keys = KeySet::new(&key, []);
    let cache = nonces();
    let signed = signed_by(&key, &claims(NOW));
    assert!(verify_message(&signed, &keys, PLANNER, NOW, &cache).is_ok());
    for later in [NOW, NOW + 1, NOW + 300] {
        assert_eq!(
            verify_message(&signed, &keys, PLANNER, later, &cache),
            Err(SignatureError::Replayed)
        );
    }
    assert!(matches!(
        verify_message(&signed, &keys, PLANNER, NOW + 301, &cache),
        Err(SignatureError::Stale { .. })
    ));
    // Another message from the same sender is new.
    assert!(verify_message(&signed_by(&key, &claims(NOW)), &keys, PLANNER, NOW, &cache).is_ok());
}

#[test]
fn forged_messages_do_not_use_up_nonces() {
    let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let keys = KeySet::new(&key, []);
    let cache = nonces();
    let signed = signed_by(&key, &claims(NOW));
    let mut forged = signed.clone();
    forged["parts"][0]["text"] = json!("something else");
    assert_eq!(
        verify_message(&forged, &keys, PLANNER, NOW, &cache),
        Err(SignatureError::BadSignature)
    );
    assert!(cache.is_empty());
    assert!(verify_message(&signed, &keys, PLANNER, NOW, &cache).is_ok());
}

#[test]
fn after_rotation_messages_signed_with_the_previous_key_still_verify() {
    let previous = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let current = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let in_flight = signed_by(&previous, &claims(NOW));
    let new = signed_by(&current, &claims(NOW));

    let jwks = KeySet::new(&current, [previous.verifying_key().clone()]).to_jwks();
    let published = KeySet::from_jwks(&jwks).unwrap();
    assert!(verify(&in_flight, &published).is_ok());
    assert!(verify(&new, &published).is_ok());

    let previous_dropped = KeySet::from_jwks(&KeySet::new(&current, []).to_jwks()).unwrap();
    assert_eq!(
        verify(&in_flight, &previous_dropped),
        Err(SignatureError::UnknownKey(previous.kid().into()))
    );
}

#[test]
fn keys_are_found_per_signer() {
    let hub = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let agent = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let hub_keys = KeySet::new(&hub, []);
    let agent_keys = KeySet::new(&agent, []);
    let lookup = |issuer: &str, kid: &str| -> Option<VerifyingKey> {
        match issuer {
            "hub:h1" => hub_keys.get(kid).cloned(),
            "agent:concierge" => agent_keys.get(kid).cloned(),
            _ => None,
        }
    };
    assert!(verify(&signed_by(&hub, &claims(NOW)), &lookup).is_ok());
    // The agent's key cannot vouch for a message that claims to come from the hub.
    assert_eq!(
        verify(&signed_by(&agent, &claims(NOW)), &lookup),
        Err(SignatureError::UnknownKey(agent.kid().into()))
    );
    let mut from_agent = claims(NOW);
    from_agent.iss = "agent:concierge".into();
    assert!(verify(&signed_by(&agent, &from_agent), &lookup).is_ok());
}

#[test]
fn a_protobuf_round_trip_keeps_the_signature_valid() {
    let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
    let mut original = json!({
        "messageId": "m-7",
        "contextId": "",
        "role": "ROLE_AGENT",
        "parts": [{"text": "done", "metadata": {}}, {"data": {"score": 3.0, "items": [""]}}],
        "extensions": [],
        "metadata": {"note": null}
    });
    sign_message(&mut original, &claims(NOW), &key).unwrap();
    let round_tripped = json!({
        "messageId": "m-7",
        "role": "ROLE_AGENT",
        "parts": [{"text": "done"}, {"data": {"score": 3, "items": [""]}}],
        "metadata": {SIGNATURE_METADATA_KEY: original["metadata"][SIGNATURE_METADATA_KEY].clone()}
    });
    assert!(verify(&round_tripped, &KeySet::new(&key, [])).is_ok());
}

// --- Agent cards -------------------------------------------------------------------------------

fn a2a_sdk_fixture() -> (Value, VerifyingKey) {
    let fixture: Value =
        serde_json::from_str(include_str!("data/a2a-sdk-signed-card.json")).expect("the fixture");
    let key = VerifyingKey::from_jwk(&fixture["jwk"]).expect("a2a-sdk's public key");
    (fixture["card"].clone(), key)
}

#[test]
fn a_card_signed_by_a2a_sdk_verifies() {
    let (card, key) = a2a_sdk_fixture();
    let lookup = |kid: &str, jku: Option<&str>| {
        assert_eq!(jku, Some("https://agent.example/.well-known/jwks.json"));
        (kid == key.kid()).then(|| key.clone())
    };
    assert_eq!(verify_card(&card, &lookup), Ok(vec![key.kid().to_owned()]));
    // Member order and number spelling are not part of what is signed.
    let reparsed: Value = serde_json::from_str(&card.to_string()).unwrap();
    assert_eq!(
        verify_card(&reparsed, &lookup),
        Ok(vec![key.kid().to_owned()])
    );
}

#[test]
fn a_changed_a2a_sdk_card_does_not_verify() {
    let (card, key) = a2a_sdk_fixture();
    let lookup = |_kid: &str, _jku: Option<&str>| Some(key.clone());
    let mut tampered = card.clone();
    tampered["skills"][0]["description"] = json!("Finds a recipe and orders the ingredients");
    assert_eq!(
        verify_card(&tampered, &lookup),
        Err(SignatureError::BadSignature)
    );
    let mut tampered = card.clone();
    tampered["capabilities"]["extensions"][0]["params"]["maxTokens"] = json!(4097);
    assert_eq!(
        verify_card(&tampered, &lookup),
        Err(SignatureError::BadSignature)
    );
    let mut tampered = card;
    tampered["capabilities"]["pushNotifications"] = json!(true);
    assert_eq!(
        verify_card(&tampered, &lookup),
        Err(SignatureError::BadSignature)
    );
}

// --- Test vectors ------------------------------------------------------------------------------

const VECTORS_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/signature-vectors.json"
);

fn vectors() -> Value {
    let text =
        std::fs::read_to_string(VECTORS_PATH).expect("the vectors (write_signature_vectors)");
    serde_json::from_str(&text).expect("the vectors are JSON")
}

/// The audience and time every vector is verified with, unless the case says otherwise.
const VECTOR_AUDIENCE: &str = "agent:planner";

#[test]
fn signature_vectors_hold() {
    let vectors = vectors();
    let ed25519 = vector_ed25519_key();
    let es256 = vector_es256_key();
    assert_eq!(
        vectors["keys"]["ed25519"]["public_jwk"],
        ed25519.public_jwk()
    );
    assert_eq!(vectors["keys"]["es256"]["public_jwk"], es256.public_jwk());
    let keys = KeySet::from_jwks(&vectors["jwks"]).expect("the vectors' JWKS");
    let skew = Duration::from_secs(vectors["max_skew_seconds"].as_u64().unwrap());

    let cases = vectors["messages"].as_array().expect("message cases");
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let message = &case["message"];
        if let Some(payload) = case["canonical_payload"].as_str() {
            let mut claims = message["metadata"][SIGNATURE_METADATA_KEY]
                .as_object()
                .unwrap()
                .clone();
            claims.remove("jws");
            assert_eq!(
                signing_payload(message, &claims),
                payload,
                "{name}: the payload"
            );
        }
        if let Some(expected) = case.get("ed25519_signature_object") {
            // Ed25519 is deterministic: signing the same message and claims again gives the
            // same signature object.
            let mut unsigned = message.clone();
            unsigned["metadata"]
                .as_object_mut()
                .unwrap()
                .remove(SIGNATURE_METADATA_KEY);
            let claims: MessageClaims = serde_json::from_value(expected.clone()).unwrap();
            sign_message(&mut unsigned, &claims, &ed25519).unwrap();
            assert_eq!(
                &unsigned["metadata"][SIGNATURE_METADATA_KEY], expected,
                "{name}"
            );
        }
        let cache = NonceCache::new(100, skew);
        for seen in case["seen_nonces"].as_array().into_iter().flatten() {
            assert!(cache.check_and_remember(seen.as_str().unwrap(), NOW, NOW));
        }
        let result = verify_message(
            message,
            &keys,
            case["audience"].as_str().unwrap(),
            case["now"].as_u64().unwrap(),
            &cache,
        );
        match case["expected"]["error"].as_str() {
            None => assert_eq!(
                result.map(|claims| serde_json::to_value(claims).unwrap()),
                Ok(case["expected"]["claims"].clone()),
                "{name}"
            ),
            Some(code) => assert_eq!(result.map_err(|error| error.code()), Err(code), "{name}"),
        }
    }

    for case in vectors["cards"].as_array().expect("card cases") {
        let name = case["name"].as_str().unwrap();
        let card = case["card"].as_object().unwrap();
        assert_eq!(
            card_signing_payload(card),
            case["canonical_payload"].as_str().unwrap(),
            "{name}"
        );
        let result = verify_card(&case["card"], &|kid, _| keys.get(kid).cloned());
        match case["expected"]["error"].as_str() {
            None => assert_eq!(
                result.map(|kids| json!(kids)),
                Ok(case["expected"]["kids"].clone()),
                "{name}"
            ),
            Some(code) => assert_eq!(result.map_err(|error| error.code()), Err(code), "{name}"),
        }
    }
}

fn seed_of(label: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, label.as_bytes());
    digest.as_ref().try_into().unwrap()
}

const ED25519_SEED_LABEL: &str = "agenthub signature vectors: Ed25519 key";
const UNKNOWN_SEED_LABEL: &str = "agenthub signature vectors: a key nobody published";

fn vector_ed25519_key() -> SigningKey {
    SigningKey::ed25519_from_seed(&seed_of(ED25519_SEED_LABEL))
}

/// P-256, private scalar SHA-256("agenthub signature vectors: ES256 key"), PKCS#8 DER.
const ES256_PKCS8_HEX: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420b2749b5a2286c6fea456435b0d9f35381b76ac841fdabbf6059c5fb8cf860e39a144034200044769ad6887d7a7a74f4c23d277efc8bbed67becf66c7308440d9d830baa8cd46ade458bd047caf4ee9e50c0e26cf986230c0fa039a6f3b83a0b893cf0c426d45";

fn vector_es256_key() -> SigningKey {
    SigningKey::from_pkcs8(&from_hex(ES256_PKCS8_HEX)).expect("the vectors' ES256 key")
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Writes tests/data/signature-vectors.json. Everything in it is fixed except the ES256
/// signatures (ECDSA is randomized), so a rewrite changes only those.
#[test]
#[ignore = "writes the test vectors; run it after a deliberate format change"]
fn write_signature_vectors() {
    let text = serde_json::to_string_pretty(&build_vectors()).unwrap() + "\n";
    std::fs::write(VECTORS_PATH, text).expect("writes the vectors");
}

fn build_vectors() -> Value {
    let ed25519 = vector_ed25519_key();
    let es256 = vector_es256_key();
    let unknown = SigningKey::ed25519_from_seed(&seed_of(UNKNOWN_SEED_LABEL));
    let jwks = KeySet::from_keys([
        ed25519.verifying_key().clone(),
        es256.verifying_key().clone(),
    ]);

    let fixed_claims = |nonce: &str| MessageClaims {
        iss: "hub:0198c7e0-hub-1".into(),
        aud: VECTOR_AUDIENCE.into(),
        sub: "user:alice".into(),
        chain: vec!["user:alice".into(), "agent:concierge".into()],
        iat: NOW,
        nonce: nonce.into(),
        traceparent: None,
        grant: None,
    };
    let sign = |mut message: Value, claims: &MessageClaims, key: &SigningKey| {
        sign_message(&mut message, claims, key).unwrap();
        message
    };
    let basic = json!({
        "messageId": "msg-0001",
        "contextId": "ctx-trip-42",
        "role": "ROLE_USER",
        "parts": [{"text": "Plan a trip to Lisbon in May"}]
    });
    let rich = json!({
        "messageId": "msg-0003",
        "contextId": "",
        "taskId": "task-7",
        "role": "ROLE_USER",
        "parts": [
            {"text": "Café ☕ — 東京 😀 \"quoted\"\n", "metadata": {}},
            {"data": {"temperature": 21.5, "count": 3.0, "big": 1e21, "small": 1e-7, "ratio": 0.1,
                      "none": null, "list": [1, "", {}, []], "flags": {"a": false, "b": {}}},
             "mediaType": "application/json"},
            {"url": "https://files.example/report.pdf", "filename": "report.pdf", "mediaType": "application/pdf"},
            {"raw": "aGVsbG8=", "mediaType": "text/plain", "filename": ""}
        ],
        "extensions": [],
        "referenceTaskIds": [],
        "metadata": {"client": {"name": "web", "empty": ""}, "priority": 2, "€": "after ASCII", "tags": []}
    });
    // `rich` as it looks after a protobuf round trip: no empty fields, numbers respelled.
    let rich_pruned = json!({
        "messageId": "msg-0003",
        "taskId": "task-7",
        "role": "ROLE_USER",
        "parts": [
            {"text": "Café ☕ — 東京 😀 \"quoted\"\n"},
            {"data": {"temperature": 21.5, "count": 3, "big": 1e21, "small": 1e-7, "ratio": 0.1,
                      "list": [1, "", {}, []], "flags": {"a": false}},
             "mediaType": "application/json"},
            {"url": "https://files.example/report.pdf", "filename": "report.pdf", "mediaType": "application/pdf"},
            {"raw": "aGVsbG8=", "mediaType": "text/plain"}
        ],
        "metadata": {"client": {"name": "web"}, "priority": 2, "€": "after ASCII"}
    });

    let ed_basic = sign(
        basic.clone(),
        &fixed_claims("AAECAwQFBgcICQoLDA0ODw"),
        &ed25519,
    );
    let ed_rich = sign(
        rich.clone(),
        &fixed_claims("EBESExQVFhcYGRobHB0eHw"),
        &ed25519,
    );
    let mut rich_round_tripped = rich_pruned;
    rich_round_tripped["metadata"][SIGNATURE_METADATA_KEY] =
        ed_rich["metadata"][SIGNATURE_METADATA_KEY].clone();
    let es_claims = MessageClaims {
        iss: "agent:concierge".into(),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        ..fixed_claims("ICEiIyQlJicoKSorLC0uLw")
    };
    let es_valid = sign(basic.clone(), &es_claims, &es256);

    let mut tampered_text = ed_basic.clone();
    tampered_text["parts"][0]["text"] = json!("Plan a trip to Lisbon in May, first class");
    let mut tampered_claims = es_valid.clone();
    tampered_claims["metadata"][SIGNATURE_METADATA_KEY]["traceparent"] =
        json!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    let unknown_key = sign(
        basic.clone(),
        &fixed_claims("MDEyMzQ1Njc4OTo7PD0-Pw"),
        &unknown,
    );
    let mut future_version = ed_basic.clone();
    future_version["metadata"][SIGNATURE_METADATA_KEY]["v"] = json!(2);
    let mut other_algorithm = ed_basic.clone();
    let jws = other_algorithm["metadata"][SIGNATURE_METADATA_KEY]["jws"]
        .as_str()
        .unwrap()
        .to_owned();
    let header = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"HS256","kid":"{}","typ":"JOSE"}}"#,
        ed25519.kid()
    ));
    other_algorithm["metadata"][SIGNATURE_METADATA_KEY]["jws"] =
        format!("{header}..{}", jws.split_once("..").unwrap().1).into();

    let valid = |message: &Value| json!({"claims": claims_of(message)});
    let error = |code: &str| json!({"error": code});
    let case = |name: &str,
                description: &str,
                message: &Value,
                now: u64,
                audience: &str,
                expected: Value| {
        let mut case = json!({
            "name": name,
            "description": description,
            "audience": audience,
            "now": now,
            "message": message,
        });
        if let Some(signature) = message["metadata"].get(SIGNATURE_METADATA_KEY) {
            let mut claims = signature.as_object().unwrap().clone();
            claims.remove("jws");
            case["canonical_payload"] = signing_payload(message, &claims).into();
            case["protected_header"] = protected_header_of(signature).into();
        }
        case["expected"] = expected;
        case
    };
    let mut messages = vec![
        case(
            "ed25519-valid",
            "A message signed with the Ed25519 key.",
            &ed_basic,
            NOW,
            VECTOR_AUDIENCE,
            valid(&ed_basic),
        ),
        case(
            "ed25519-tampered-text",
            "ed25519-valid with its text changed after signing.",
            &tampered_text,
            NOW,
            VECTOR_AUDIENCE,
            error("bad_signature"),
        ),
        case(
            "ed25519-v1-metadata-empty-fields",
            "A v1.0 message with metadata, empty fields (removed before canonicalization), array elements that are empty (kept), non-ASCII text and numbers JCS respells.",
            &ed_rich,
            NOW,
            VECTOR_AUDIENCE,
            valid(&ed_rich),
        ),
        case(
            "ed25519-v1-after-protobuf-round-trip",
            "ed25519-v1-metadata-empty-fields without its empty fields and with 3.0 written 3, as a protobuf round trip leaves it: the same payload, so the same signature verifies.",
            &rich_round_tripped,
            NOW,
            VECTOR_AUDIENCE,
            valid(&rich_round_tripped),
        ),
        case(
            "es256-valid",
            "A message signed by an agent with the ES256 key, with a traceparent.",
            &es_valid,
            NOW,
            VECTOR_AUDIENCE,
            valid(&es_valid),
        ),
        case(
            "es256-tampered-claims",
            "es256-valid with its traceparent changed after signing.",
            &tampered_claims,
            NOW,
            VECTOR_AUDIENCE,
            error("bad_signature"),
        ),
        case(
            "wrong-audience",
            "ed25519-valid received by agent:booker.",
            &ed_basic,
            NOW,
            "agent:booker",
            error("wrong_audience"),
        ),
        case(
            "stale",
            "ed25519-valid received 301 s after it was signed (the skew is 300 s).",
            &ed_basic,
            NOW + 301,
            VECTOR_AUDIENCE,
            error("stale"),
        ),
        case(
            "within-skew",
            "ed25519-valid received 300 s after it was signed.",
            &ed_basic,
            NOW + 300,
            VECTOR_AUDIENCE,
            valid(&ed_basic),
        ),
        case(
            "unknown-key",
            "Signed with an Ed25519 key that is not in the JWKS.",
            &unknown_key,
            NOW,
            VECTOR_AUDIENCE,
            error("unknown_key"),
        ),
        case(
            "unsupported-algorithm",
            "ed25519-valid with its header's alg changed to HS256.",
            &other_algorithm,
            NOW,
            VECTOR_AUDIENCE,
            error("unsupported_algorithm"),
        ),
        case(
            "unsupported-version",
            "ed25519-valid with v = 2.",
            &future_version,
            NOW,
            VECTOR_AUDIENCE,
            error("malformed"),
        ),
        case(
            "missing",
            "A message without a signature.",
            &basic,
            NOW,
            VECTOR_AUDIENCE,
            error("missing"),
        ),
    ];
    let mut replayed = case(
        "replayed",
        "ed25519-valid when its nonce (seen_nonces) was already accepted.",
        &ed_basic,
        NOW,
        VECTOR_AUDIENCE,
        error("replayed"),
    );
    replayed["seen_nonces"] = json!([claims_of(&ed_basic)["nonce"]]);
    messages.push(replayed);
    for case in &mut messages {
        let name = case["name"].as_str().unwrap();
        if name.starts_with("ed25519-") && case["expected"].get("error").is_none() {
            case["ed25519_signature_object"] =
                case["message"]["metadata"][SIGNATURE_METADATA_KEY].clone();
        }
    }

    let mut card = json!({
        "name": "Planner",
        "description": "Plans trips — door to door",
        "version": "1.0.0",
        "supportedInterfaces": [{"url": "https://planner.example/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {"streaming": true, "pushNotifications": false},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": [{"id": "plan", "name": "Plan", "description": "Plans a trip", "tags": ["travel", ""], "examples": []}],
        "securityRequirements": [{"schemes": {"bearer": {}}}]
    });
    let mut es256_card = card.clone();
    sign_card_in_place(
        &mut card,
        &ed25519,
        Some("https://planner.example/.well-known/jwks.json"),
    )
    .unwrap();
    sign_card_in_place(&mut es256_card, &es256, None).unwrap();
    let mut tampered_card = card.clone();
    tampered_card["description"] = json!("Plans trips — and books them");
    let card_case = |name: &str, description: &str, card: &Value, expected: Value| {
        json!({
            "name": name,
            "description": description,
            "card": card,
            "canonical_payload": card_signing_payload(card.as_object().unwrap()),
            "expected": expected,
        })
    };

    json!({
        "description": "Test vectors for agenthub A2A message signatures (format v1) and agent card signatures; see docs/a2a-signatures.md. Verify each message case with the JWKS, the case's audience and now (unix seconds), a skew of max_skew_seconds and a nonce cache that already holds seen_nonces. Expected errors: missing, malformed, unknown_key, bad_signature, wrong_audience, stale, replayed, unsupported_algorithm. ES256 signatures are randomized, so only verify them; Ed25519 signatures are deterministic, so signing a case's message (its signature removed) with the claims of ed25519_signature_object must give that object exactly.",
        "max_skew_seconds": SKEW.as_secs(),
        "keys": {
            "ed25519": {
                "seed_hex": to_hex(&seed_of(ED25519_SEED_LABEL)),
                "seed_is": format!("SHA-256(\"{ED25519_SEED_LABEL}\")"),
                "pkcs8_der_hex": to_hex(ed25519.to_pkcs8()),
                "public_jwk": ed25519.public_jwk(),
            },
            "es256": {
                "pkcs8_der_hex": ES256_PKCS8_HEX,
                "public_jwk": es256.public_jwk(),
            },
            "unknown_ed25519": {
                "seed_hex": to_hex(&seed_of(UNKNOWN_SEED_LABEL)),
                "note": "signs the unknown-key case; not in the JWKS",
            },
        },
        "jwks": jwks.to_jwks(),
        "messages": messages,
        "cards": [
            card_case("card-ed25519-valid", "An agent card signed with the Ed25519 key (jku in the header); its empty values are not part of the payload.", &card, json!({"kids": [ed25519.kid()]})),
            card_case("card-es256-valid", "The same card signed with the ES256 key.", &es256_card, json!({"kids": [es256.kid()]})),
            card_case("card-tampered", "card-ed25519-valid with its description changed after signing.", &tampered_card, json!({"error": "bad_signature"})),
        ],
    })
}

fn claims_of(message: &Value) -> Value {
    let mut claims = message["metadata"][SIGNATURE_METADATA_KEY]
        .as_object()
        .unwrap()
        .clone();
    claims.remove("jws");
    claims.remove("v");
    Value::Object(claims)
}

fn protected_header_of(signature: &Value) -> String {
    let jws = signature["jws"].as_str().unwrap_or_default();
    let header = jws.split('.').next().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}
