//! A fake A2A v1.0 agent on loopback for tests that need an agent but not the Python peers.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde_json::{Value, json};

/// An A2A v1.0 agent on loopback: its card names skills `skills`; SendMessage answers with a
/// completed task whose artifact echoes the text (`echo: <text>`), or a failed task when the
/// text starts with "fail". It keeps each request's headers and body.
#[derive(Clone)]
pub struct FakeAgent {
    pub base: String,
    received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl FakeAgent {
    pub async fn start(name: &str, skills: &[&str]) -> Self {
        async fn serve_card(State((card, _)): State<(Value, FakeAgent)>) -> axum::Json<Value> {
            axum::Json(card)
        }
        async fn rpc(
            State((_, fake)): State<(Value, FakeAgent)>,
            headers: HeaderMap,
            axum::Json(body): axum::Json<Value>,
        ) -> axum::Json<Value> {
            let n = {
                let mut received = fake.received.lock().unwrap();
                received.push((headers, body.clone()));
                received.len()
            };
            let message = &body["params"]["message"];
            let text = message["parts"][0]["text"].as_str().unwrap_or_default();
            let context = message["contextId"].as_str().unwrap_or("ctx-1");
            let task = if let Some(reason) = text.strip_prefix("fail") {
                json!({"id": format!("task-{n}"), "contextId": context, "status": {
                    "state": "TASK_STATE_FAILED",
                    "message": {"messageId": format!("m-{n}"), "role": "ROLE_AGENT",
                                "parts": [{"text": format!("cannot{reason}")}]},
                }})
            } else {
                json!({"id": format!("task-{n}"), "contextId": context,
                       "status": {"state": "TASK_STATE_COMPLETED"},
                       "artifacts": [{"artifactId": "a", "parts": [{"text": format!("echo: {text}")}]}]})
            };
            axum::Json(json!({"jsonrpc": "2.0", "id": body["id"], "result": {"task": task}}))
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = Self {
            base: base.clone(),
            received: Arc::default(),
        };
        let card = json!({
            "name": format!("The {name} agent"),
            "description": format!("{name} says back what it is told."),
            "version": "1.0.0",
            "supportedInterfaces": [{"url": format!("{base}/a2a"), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": skills.iter().map(|id| json!({
                "id": id, "name": format!("Skill {id}"), "description": format!("Does {id}."),
                "tags": [], "examples": [format!("{id} this")],
            })).collect::<Vec<_>>(),
        });
        let router = Router::new()
            .route("/.well-known/agent-card.json", get(serve_card))
            .route("/a2a", post(rpc))
            .with_state((card, fake.clone()));
        tokio::spawn(async move { axum::serve(listener, router).await });
        fake
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<(HeaderMap, Value)> {
        self.received.lock().unwrap().clone()
    }
}
