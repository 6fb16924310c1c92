//! The client to agents: an agent registered through the admin API is reached on public
//! addresses only when the hub does not allow private networks — checked as each connection is
//! made, whatever the card said when it was read — while the configuration file's agents are
//! reached wherever they are.

use std::sync::Arc;

use agenthub_a2a_bus::config::AgentConfig;
use agenthub_a2a_bus::registry::{AgentRegistry, Secrets};
use agenthub_a2a_bus::upstream::{
    Answer, Upstream, UpstreamError, UpstreamLimits, UpstreamRequest,
};
use axum::Router;
use axum::routing::post;
use http::{HeaderMap, Method};
use serde_json::{Value, json};

struct NoSecrets;

impl Secrets for NoSecrets {
    fn reveal(&self, _: &str) -> Option<String> {
        None
    }
}

fn registration(name: &str, endpoint: &str, from_api: bool) -> AgentConfig {
    let mut registration: AgentConfig = serde_json::from_value(json!({
        "name": name,
        "card": {
            "name": name,
            "description": "An agent on loopback.",
            "version": "1.0.0",
            "supportedInterfaces": [{"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [],
        },
    }))
    .unwrap();
    registration.from_api = from_api;
    registration
}

async fn send(
    upstream: &Upstream,
    registry: &AgentRegistry,
    name: &str,
) -> Result<Value, UpstreamError> {
    let directory = registry.directory();
    let agent = directory.get(name).expect("the card is in hand");
    let request = UpstreamRequest {
        method: Method::POST,
        url: agent.endpoint.url.clone(),
        headers: HeaderMap::new(),
        body: Some(json!({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "t"}})),
        streaming: false,
    };
    match upstream.send(agent, request).await? {
        Answer::Json(value) => Ok(value),
        Answer::Events(_) => panic!("not a stream"),
    }
}

#[tokio::test]
async fn api_agents_are_reached_on_public_addresses_only() {
    let router = Router::new().route(
        "/a2a",
        post(|| async { axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": {}})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let literal = format!("http://{address}/a2a");
    let by_name = format!("http://localhost:{}/a2a", address.port());

    // A registry that checks nothing stands in for cards read while the names were public.
    let registry = AgentRegistry::new(Arc::new(NoSecrets)).unwrap();
    registry.set(&[
        registration("api-literal", &literal, true),
        registration("api-name", &by_name, true),
        registration("filed", &by_name, false),
    ]);
    let restricted = Upstream::new(UpstreamLimits::default(), true).unwrap();
    for name in ["api-literal", "api-name"] {
        match send(&restricted, &registry, name).await {
            Err(UpstreamError::Unreachable(why)) => {
                assert!(why.contains("non-public address"), "{name}: {why}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(
        send(&restricted, &registry, "filed").await.unwrap()["id"],
        1
    );
    // Without the restriction, every agent is reached.
    let open = Upstream::new(UpstreamLimits::default(), false).unwrap();
    assert_eq!(send(&open, &registry, "api-name").await.unwrap()["id"], 1);
}
