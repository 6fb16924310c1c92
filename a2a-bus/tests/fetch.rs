//! Fetching cards from fake agents on loopback: where the card is, what the agent answers, and
//! what the fetcher refuses.

use std::time::Duration;

use agenthub_a2a_bus::card::ProtocolVersion;
use agenthub_a2a_bus::fetch::{CardFetcher, FetchError, FetchOptions};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use serde_json::{Value, json};

fn v1_card() -> Value {
    json!({
        "name": "Echo",
        "description": "Says back what it is told.",
        "version": "0.4.1",
        "supportedInterfaces": [{"url": "http://127.0.0.1:1/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {"streaming": true},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "echo", "name": "Echo", "description": "Echoes.", "tags": ["test"]}]
    })
}

fn v0_3_card() -> Value {
    json!({
        "protocolVersion": "0.3.0",
        "name": "Old echo",
        "description": "Says back what it is told, in v0.3.",
        "url": "http://127.0.0.1:1/a2a",
        "preferredTransport": "JSONRPC",
        "version": "0.1.0",
        "capabilities": {},
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [{"id": "echo", "name": "Echo", "description": "Echoes.", "tags": []}]
    })
}

/// Serves `router` on a loopback port; returns its base URL.
async fn agent(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

fn fetcher() -> CardFetcher {
    CardFetcher::new(FetchOptions::default()).unwrap()
}

async fn fetch_error(base: &str) -> String {
    fetcher()
        .fetch(base, &HeaderMap::new())
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn a_v1_card_at_the_well_known_path() {
    let base = agent(Router::new().route(
        "/.well-known/agent-card.json",
        get(|| async { axum::Json(v1_card()) }),
    ))
    .await;
    // A trailing slash on the base changes nothing.
    let fetched = fetcher()
        .fetch(&format!("{base}/"), &HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(
        fetched.url.as_str(),
        format!("{base}/.well-known/agent-card.json")
    );
    assert_eq!(fetched.card.name, "Echo");
    assert_eq!(fetched.card.protocol_version(), ProtocolVersion::V1_0);
}

#[tokio::test]
async fn a_base_with_a_path_keeps_it() {
    let base = agent(Router::new().route(
        "/agents/echo/.well-known/agent-card.json",
        get(|| async { axum::Json(v1_card()) }),
    ))
    .await;
    let fetched = fetcher()
        .fetch(&format!("{base}/agents/echo"), &HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(fetched.card.name, "Echo");
}

#[tokio::test]
async fn a_v0_3_agent_serving_only_agent_json() {
    let base = agent(Router::new().route(
        "/.well-known/agent.json",
        get(|| async { axum::Json(v0_3_card()) }),
    ))
    .await;
    let fetched = fetcher().fetch(&base, &HeaderMap::new()).await.unwrap();
    assert_eq!(
        fetched.url.as_str(),
        format!("{base}/.well-known/agent.json")
    );
    assert_eq!(fetched.card.protocol_version(), ProtocolVersion::V0_3);
    assert_eq!(
        fetched.card.supported_interfaces[0].url,
        "http://127.0.0.1:1/a2a"
    );
}

#[tokio::test]
async fn no_card_anywhere() {
    let base = agent(Router::new()).await;
    assert_eq!(
        fetch_error(&base).await,
        format!(
            "cannot fetch the agent card from {base}/.well-known/agent-card.json: 404 Not Found \
             (nor from {base}/.well-known/agent.json: 404 Not Found)"
        )
    );
}

#[tokio::test]
async fn a_failing_agent_is_not_asked_twice() {
    let base = agent(
        Router::new()
            .route(
                "/.well-known/agent-card.json",
                get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
            )
            .route(
                "/.well-known/agent.json",
                get(|| async { axum::Json(v0_3_card()) }),
            ),
    )
    .await;
    assert_eq!(
        fetch_error(&base).await,
        format!(
            "cannot fetch the agent card from {base}/.well-known/agent-card.json: 503 Service Unavailable"
        )
    );
}

#[tokio::test]
async fn an_html_page_is_not_a_card() {
    let base = agent(Router::new().route(
        "/.well-known/agent-card.json",
        get(|| async { Html("<!doctype html><title>Sign in</title>") }),
    ))
    .await;
    assert_eq!(
        fetch_error(&base).await,
        format!(
            "{base}/.well-known/agent-card.json is not an agent card: not JSON (text/html; \
             charset=utf-8): expected value at line 1 column 1"
        )
    );
}

#[tokio::test]
async fn an_invalid_card_is_refused_with_every_problem() {
    let base = agent(Router::new().route(
        "/.well-known/agent-card.json",
        get(|| async {
            let mut card = v1_card();
            card["name"] = json!("");
            let skills = card["skills"].as_array_mut().unwrap();
            skills.push(json!({"id": "echo", "name": "Echo again"}));
            axum::Json(card)
        }),
    ))
    .await;
    assert_eq!(
        fetch_error(&base).await,
        format!(
            "the agent card at {base}/.well-known/agent-card.json is invalid: name: is required; \
             skills[1].id: \"echo\" is also the id of skills[0]"
        )
    );
}

#[tokio::test]
async fn a_card_too_large_is_refused_with_or_without_a_length() {
    let big = || format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let base = agent(
        Router::new()
            .route(
                "/sized/.well-known/agent-card.json",
                get(move || async move { big() }),
            )
            .route(
                "/streamed/.well-known/agent-card.json",
                get(|| async {
                    // Chunks without a Content-Length: the bound is kept while reading.
                    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 32 * 1024]));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            ),
    )
    .await;
    for kind in ["sized", "streamed"] {
        assert_eq!(
            fetch_error(&format!("{base}/{kind}")).await,
            format!(
                "cannot fetch the agent card from {base}/{kind}/.well-known/agent-card.json: \
                 larger than 1048576 bytes"
            )
        );
    }
}

#[tokio::test]
async fn redirects_are_followed_on_the_same_origin_only() {
    let elsewhere =
        agent(Router::new().route("/card.json", get(|| async { axum::Json(v1_card()) }))).await;
    let target = format!("{elsewhere}/card.json");
    let base = agent(
        Router::new()
            .route(
                "/here/.well-known/agent-card.json",
                get(|| async { Redirect::temporary("/card.json") }),
            )
            .route("/card.json", get(|| async { axum::Json(v1_card()) }))
            .route(
                "/away/.well-known/agent-card.json",
                get(move || async move { Redirect::temporary(&target) }),
            ),
    )
    .await;
    let fetched = fetcher()
        .fetch(&format!("{base}/here"), &HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(
        fetched.url.as_str(),
        format!("{base}/here/.well-known/agent-card.json")
    );
    assert_eq!(
        fetch_error(&format!("{base}/away")).await,
        format!(
            "cannot fetch the agent card from {base}/away/.well-known/agent-card.json: 307 \
             Temporary Redirect to {elsewhere}/card.json, another origin (not followed)"
        )
    );
}

#[tokio::test]
async fn the_agents_credentials_are_sent() {
    let base = agent(Router::new().route(
        "/.well-known/agent-card.json",
        get(|headers: HeaderMap| async move {
            if headers
                .get(header::AUTHORIZATION)
                .is_some_and(|v| v == "Bearer s3cret")
            {
                axum::Json(v1_card()).into_response()
            } else {
                StatusCode::UNAUTHORIZED.into_response()
            }
        }),
    ))
    .await;
    assert_eq!(
        fetch_error(&base).await,
        format!(
            "cannot fetch the agent card from {base}/.well-known/agent-card.json: 401 Unauthorized"
        )
    );
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    let fetched = fetcher().fetch(&base, &headers).await.unwrap();
    assert_eq!(fetched.card.name, "Echo");
}

#[tokio::test]
async fn a_silent_agent_times_out() {
    let base = agent(Router::new().route(
        "/.well-known/agent-card.json",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            axum::Json(v1_card())
        }),
    ))
    .await;
    let fetcher = CardFetcher::new(FetchOptions {
        timeout: Duration::from_millis(300),
        ..FetchOptions::default()
    })
    .unwrap();
    let error = fetcher.fetch(&base, &HeaderMap::new()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot fetch the agent card from {base}/.well-known/agent-card.json: no answer within 300ms"
        )
    );
}

#[tokio::test]
async fn nothing_listening_and_bad_base_urls() {
    // A port that was just free.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = fetch_error(&base).await;
    assert!(
        error.starts_with(&format!(
            "cannot fetch the agent card from {base}/.well-known/agent-card.json: cannot connect: "
        )),
        "{error}"
    );

    let error = fetcher()
        .fetch("ftp://agent.example.com", &HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        FetchError::BaseUrl {
            url: "ftp://agent.example.com".into(),
            reason: "it must start with https:// or http://".into(),
        }
    );
}

#[tokio::test]
async fn a_public_only_fetcher_reaches_no_private_address_by_literal_or_by_name() {
    let base = agent(Router::new().route(
        "/.well-known/agent-card.json",
        get(|| async { axum::Json(v1_card()) }),
    ))
    .await;
    let public_only = CardFetcher::new(FetchOptions {
        public_only: true,
        ..FetchOptions::default()
    })
    .unwrap();
    let by_name = base.replace("127.0.0.1", "localhost");
    for url in [&base, &by_name] {
        let error = public_only
            .fetch(url, &HeaderMap::new())
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("non-public address"), "{url}: {error}");
    }
    // The ordinary fetcher reads it.
    assert!(fetcher().fetch(&by_name, &HeaderMap::new()).await.is_ok());
}
