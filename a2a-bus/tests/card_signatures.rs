//! Signed cards at registration: a card's signatures are checked with the registration's
//! public keys, or the keys its `jku` names on the agent's own origin; a card whose signature
//! does not hold is not used.

use std::sync::Arc;

use agenthub_a2a_bus::config::AgentConfig;
use agenthub_a2a_bus::registry::{AgentRegistry, Secrets};
use agenthub_a2a_bus::signing::{KeySet, SigningKey, sign_card_in_place};
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

struct NoSecrets;

impl Secrets for NoSecrets {
    fn reveal(&self, _: &str) -> Option<String> {
        None
    }
}

fn card() -> Value {
    json!({
        "name": "Signed",
        "description": "A card with a signature.",
        "version": "1.0.0",
        "supportedInterfaces": [{"url": "http://127.0.0.1:1/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "s", "name": "S", "description": "s", "tags": []}]
    })
}

fn registration(name: &str, url: Option<String>, card: Option<Value>) -> AgentConfig {
    serde_json::from_value(json!({"name": name}))
        .map(|mut r: AgentConfig| {
            r.url = url;
            r.card = card;
            r
        })
        .unwrap()
}

/// Serves `card` and the JWKS of `key` at `/jwks.json` on loopback; returns the base URL.
async fn agent(card: impl Fn(&str) -> Value + Send + Sync + 'static, key: &SigningKey) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let jwks = KeySet::new(key, []).to_jwks();
    let served = card(&base);
    let router = Router::new()
        .route(
            "/.well-known/agent-card.json",
            get(move || async move { axum::Json(served) }),
        )
        .route("/jwks.json", get(move || async move { axum::Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn registry() -> AgentRegistry {
    AgentRegistry::new(Arc::new(NoSecrets)).unwrap()
}

#[tokio::test]
async fn a_card_signed_with_keys_on_its_origin_is_used_and_a_tampered_one_is_not() {
    let key = SigningKey::ed25519_from_seed(&[9; 32]);
    let signer = SigningKey::from_pkcs8(key.to_pkcs8()).unwrap();
    let good = agent(
        move |base| {
            let mut card = card();
            sign_card_in_place(&mut card, &signer, Some(&format!("{base}/jwks.json"))).unwrap();
            card
        },
        &key,
    )
    .await;
    let registry = registry();
    let read = registry
        .probe(&registration("good", Some(good), None))
        .await;
    assert!(read.is_ok(), "{:?}", read.err());

    let signer = SigningKey::from_pkcs8(key.to_pkcs8()).unwrap();
    let tampered = agent(
        move |base| {
            let mut card = card();
            sign_card_in_place(&mut card, &signer, Some(&format!("{base}/jwks.json"))).unwrap();
            card["description"] = json!("Changed after signing.");
            card
        },
        &key,
    )
    .await;
    let error = registry
        .probe(&registration("tampered", Some(tampered), None))
        .await
        .unwrap_err();
    assert!(error.contains("signature does not hold"), "{error}");

    // Keys elsewhere prove nothing.
    let signer = SigningKey::from_pkcs8(key.to_pkcs8()).unwrap();
    let elsewhere = agent(
        move |_| {
            let mut card = card();
            sign_card_in_place(&mut card, &signer, Some("http://127.0.0.1:9/jwks.json")).unwrap();
            card
        },
        &key,
    )
    .await;
    let error = registry
        .probe(&registration("elsewhere", Some(elsewhere), None))
        .await
        .unwrap_err();
    assert!(error.contains("not the agent's origin"), "{error}");
}

#[tokio::test]
async fn an_inline_signed_card_is_checked_with_the_registrations_keys() {
    let key = SigningKey::ed25519_from_seed(&[5; 32]);
    let mut signed = card();
    sign_card_in_place(&mut signed, &key, None).unwrap();
    let mut with_key = registration("inline", None, Some(signed.clone()));
    with_key.public_keys = vec![key.public_jwk()];
    let registry = registry();
    assert!(registry.probe(&with_key).await.is_ok());
    let without = registration("inline", None, Some(signed));
    let error = registry.probe(&without).await.unwrap_err();
    assert!(error.contains("signature does not hold"), "{error}");
}
