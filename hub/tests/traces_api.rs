//! The traces of A2A exchanges through the admin API: one trace as a tree of spans, who may
//! read it (readers of the `agents` admin area, and the principal the trace is for), and the
//! listing of recent traces with its filters and pages. Trace events are written straight into
//! the store, as the hub's trace writer does; the hub's router is driven in-process with
//! `tower::ServiceExt::oneshot`.
//!
//! Every scenario runs on SQLite in a temporary directory and, when `AGENTHUB_TEST_POSTGRES_URL`
//! names a Postgres server, again on a fresh Postgres database created for it.

mod support;

use std::future::Future;
use std::sync::Arc;

use agenthub::app::{self, AppState};
use agenthub::config::{ConfigHandle, HubConfig};
use agenthub::governance::Governance;
use agenthub::model::Millis;
use agenthub::store::{DatabaseUrl, Store, TraceEvent};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::db::on_every_database;
use support::lab::directory;
use tower::ServiceExt;

/// alice's trace: planner delegating to booker, and a later root of hers (its caller's span
/// is elsewhere).
const ALICE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// bob's trace: one span.
const BOB: &str = "0af7651916cd43dd8448eb211c80319c";
/// Started by mallory, joined by alice: hers only in part.
const MIXED: &str = "5d1c8b3e2a7f4e6b9c0d1e2f3a4b5c6d";
const UNKNOWN: &str = "ffffffffffffffffffffffffffffffff";

const PLANNER_SPAN: &str = "00f067aa0ba902b7";
const BOOKER_SPAN: &str = "b7ad6b7169203331";
const ECHO_SPAN: &str = "e457b5a2e4d86bd1";
const ELSEWHERE: &str = "1111111111111111";

/// When the first trace starts.
const T0: Millis = 1_800_000_000_000;

#[derive(Clone)]
struct Hub {
    router: Router,
    admin: String,
    store: Store,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    text: String,
    json: Value,
}

impl Reply {
    #[track_caller]
    fn expect(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        &self.json
    }
}

impl Hub {
    async fn start(url: DatabaseUrl) -> Self {
        let config = HubConfig::parse("", "test.yaml", &|_| None).expect("an empty configuration");
        let (store, accounts, admin) = directory(&url).await;
        let config = ConfigHandle::new(config);
        let governance = Arc::new(
            Governance::load(store.clone(), config.clone(), "test")
                .await
                .expect("load the governance rules"),
        );
        let state = AppState::new(accounts, governance, config);
        Self {
            router: app::router(state),
            admin,
            store,
        }
    }

    async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .expect("the router is infallible");
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("a UTF-8 body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, text, json }
    }

    async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, key, None).await
    }

    /// User `name` (created unless it exists) and a new key of theirs with `scopes`.
    async fn key_of(&self, name: &str, scopes: &[&str]) -> String {
        let created = self
            .call(
                Method::POST,
                "/api/v1/users",
                &self.admin,
                Some(json!({"name": name})),
            )
            .await;
        assert!(
            matches!(created.status, StatusCode::CREATED | StatusCode::CONFLICT),
            "{}",
            created.text
        );
        let reply = self
            .call(
                Method::POST,
                "/api/v1/keys",
                &self.admin,
                Some(json!({"name": "traces", "owner": name, "scopes": scopes})),
            )
            .await;
        reply.expect(StatusCode::CREATED)["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Records the three traces, as the hub's trace writer would.
    async fn record(&self) {
        // alice's: planner (120 ms) delegating to booker (35 ms), then a root of hers whose
        // caller's span is elsewhere.
        let planner = Span::new(ALICE, (PLANNER_SPAN, None), "planner", &["user:alice"], T0);
        let booker = Span::new(
            ALICE,
            (BOOKER_SPAN, Some(PLANNER_SPAN)),
            "booker",
            &["user:alice", "agent:planner"],
            T0 + 10,
        );
        let echo = Span::new(
            ALICE,
            (ECHO_SPAN, Some(ELSEWHERE)),
            "echo",
            &["user:alice"],
            T0 + 200,
        );
        // bob's, later.
        let bob = Span::new(
            BOB,
            ("2222222222222222", None),
            "echo",
            &["user:bob"],
            T0 + 1_000,
        );
        // mallory's, latest, which alice joined with a root of her own; neither has ended.
        let mallory = Span::new(
            MIXED,
            ("3333333333333333", None),
            "echo",
            &["user:mallory"],
            T0 + 2_000,
        );
        let joined = Span::new(
            MIXED,
            ("4444444444444444", Some(ELSEWHERE)),
            "echo",
            &["user:alice"],
            T0 + 2_005,
        );
        let events = [
            planner.request("delegate booker echo hi"),
            booker.request("echo hi"),
            booker.response(1, T0 + 45, "hi", "task-booker"),
            planner.response(1, T0 + 120, "booker said: hi", "task-planner"),
            echo.request("again"),
            echo.end(1, T0 + 210, "error: the agent went away"),
            bob.request("hello"),
            bob.response(1, T0 + 1_010, "hello", "task-bob"),
            mallory.request("first"),
            joined.request("second"),
        ];
        self.store.save_trace_events(&events).await.unwrap();
    }
}

/// Runs `scenario` on a hub with the three traces recorded, on every available database.
async fn with_traces<F, Fut>(scenario: F)
where
    F: Fn(Hub) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = |url| async move {
        let hub = Hub::start(url).await;
        hub.record().await;
        let store = hub.store.clone();
        (hub, store)
    };
    on_every_database(start, scenario).await;
}

/// The fields every event of a span shares.
struct Span {
    trace: &'static str,
    span: &'static str,
    parent: Option<&'static str>,
    agent: &'static str,
    chain: Vec<String>,
    /// When its request was relayed.
    started: Millis,
}

impl Span {
    fn new(
        trace: &'static str,
        (span, parent): (&'static str, Option<&'static str>),
        agent: &'static str,
        chain: &[&str],
        started: Millis,
    ) -> Self {
        Self {
            trace,
            span,
            parent,
            agent,
            chain: chain.iter().map(|s| (*s).to_owned()).collect(),
            started,
        }
    }

    fn event(&self, seq: i64, at: Millis, kind: &str, body: Option<Value>) -> TraceEvent {
        TraceEvent {
            id: format!("{}-{}-{seq}", self.trace, self.span),
            trace_id: self.trace.into(),
            span_id: self.span.into(),
            parent_span_id: self.parent.map(str::to_owned),
            seq,
            at,
            kind: kind.into(),
            agent: self.agent.into(),
            method: "SendMessage".into(),
            principal: self.chain[0].clone(),
            chain: self.chain.clone(),
            context_id: Some(format!("ctx-{}", self.agent)),
            task_id: None,
            outcome: None,
            duration_ms: None,
            body,
        }
    }

    fn request(&self, text: &str) -> TraceEvent {
        self.event(
            0,
            self.started,
            "request",
            Some(
                json!({"target": self.agent, "version": "1.0", "params": {"message": {
                "messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}]}}}),
            ),
        )
    }

    fn response(&self, seq: i64, at: Millis, text: &str, task: &str) -> TraceEvent {
        let mut event = self.event(
            seq,
            at,
            "response",
            Some(
                json!({"task": {"id": task, "status": {"state": "TASK_STATE_COMPLETED"},
                "artifacts": [{"artifactId": "a1", "parts": [{"text": text}]}]}}),
            ),
        );
        event.task_id = Some(task.into());
        event.outcome = Some("ok".into());
        event.duration_ms = Some(at - self.started);
        event
    }

    fn end(&self, seq: i64, at: Millis, outcome: &str) -> TraceEvent {
        let mut event = self.event(seq, at, "end", None);
        event.outcome = Some(outcome.into());
        event.duration_ms = Some(at - self.started);
        event
    }
}

/// A tree as `agent(children…)`, roots separated by spaces.
fn shape(spans: &Value) -> String {
    spans
        .as_array()
        .unwrap()
        .iter()
        .map(|span| {
            let agent = span["agent"].as_str().unwrap().to_owned();
            if span["children"].as_array().unwrap().is_empty() {
                agent
            } else {
                format!("{agent}({})", shape(&span["children"]))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn trace_ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_trace_is_a_tree_of_its_spans() {
    with_traces(|hub| async move {
        let reply = hub
            .get(&format!("/api/v1/traces/{ALICE}"), &hub.admin)
            .await;
        let trace = reply.expect(StatusCode::OK);
        assert_eq!(trace["trace_id"], ALICE);
        assert_eq!(trace["started_at"], "2027-01-15T08:00:00.000Z");
        assert_eq!(trace["duration_ms"], 210);
        assert!(trace.get("truncated").is_none(), "{trace:#}");
        // planner with booker below it; the root whose caller's span is elsewhere after it.
        assert_eq!(shape(&trace["spans"]), "planner(booker) echo");

        let planner = &trace["spans"][0];
        assert_eq!(planner["span_id"], PLANNER_SPAN);
        assert_eq!(planner["parent_span_id"], Value::Null);
        assert_eq!(planner["method"], "SendMessage");
        assert_eq!(planner["principal"], "user:alice");
        assert_eq!(planner["chain"], json!(["user:alice"]));
        assert_eq!(planner["context_id"], "ctx-planner");
        assert_eq!(planner["task_id"], "task-planner");
        assert_eq!(planner["outcome"], "ok");
        assert_eq!(planner["duration_ms"], 120);
        assert_eq!(planner["started_at"], "2027-01-15T08:00:00.000Z");
        let events = planner["events"].as_array().unwrap();
        assert_eq!(
            events
                .iter()
                .map(|e| (e["seq"].as_i64().unwrap(), e["kind"].as_str().unwrap()))
                .collect::<Vec<_>>(),
            [(0, "request"), (1, "response")]
        );
        assert_eq!(events[1]["at"], "2027-01-15T08:00:00.120Z");
        assert_eq!(
            events[0]["body"]["params"]["message"]["parts"][0]["text"],
            "delegate booker echo hi"
        );

        let booker = &planner["children"][0];
        assert_eq!(booker["parent_span_id"], PLANNER_SPAN);
        assert_eq!(booker["principal"], "user:alice");
        assert_eq!(booker["chain"], json!(["user:alice", "agent:planner"]));
        assert_eq!(
            (booker["duration_ms"].as_i64(), booker["outcome"].as_str()),
            (Some(35), Some("ok"))
        );

        let echo = &trace["spans"][1];
        assert_eq!(echo["parent_span_id"], ELSEWHERE);
        assert_eq!(echo["outcome"], "error: the agent went away");
        assert_eq!(echo["task_id"], Value::Null);
        assert_eq!(echo["events"][1]["body"], Value::Null);

        // A span that has not ended has neither outcome nor duration.
        let reply = hub
            .get(&format!("/api/v1/traces/{MIXED}"), &hub.admin)
            .await;
        let mixed = reply.expect(StatusCode::OK);
        assert_eq!(shape(&mixed["spans"]), "echo echo");
        assert_eq!(mixed["spans"][0]["outcome"], Value::Null);
        assert_eq!(mixed["spans"][0]["duration_ms"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn a_trace_is_read_by_agents_readers_and_its_own_principal_only() {
    with_traces(|hub| async move {
        let alice = hub.key_of("alice", &["a2a"]).await;
        let bob = hub.key_of("bob", &["a2a"]).await;
        let alice_llm = hub.key_of("alice", &["llm"]).await;
        let path = |id: &str| format!("/api/v1/traces/{id}");

        // The hub admin reads every trace.
        for id in [ALICE, BOB, MIXED] {
            hub.get(&path(id), &hub.admin).await.expect(StatusCode::OK);
        }
        // Each principal reads their own.
        let own = hub.get(&path(ALICE), &alice).await;
        assert_eq!(
            shape(&own.expect(StatusCode::OK)["spans"]),
            "planner(booker) echo"
        );
        hub.get(&path(BOB), &bob).await.expect(StatusCode::OK);

        // Anyone else is told it does not exist, exactly as for a trace that does not.
        let unknown = hub.get(&path(UNKNOWN), &hub.admin).await;
        unknown.expect(StatusCode::NOT_FOUND);
        let not_found = |reply: &Reply, id: &str| {
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
            assert_eq!(
                reply.text,
                unknown.text.replace(UNKNOWN, id),
                "the answer tells a forbidden trace from an unknown one"
            );
        };
        not_found(&hub.get(&path(ALICE), &bob).await, ALICE);
        not_found(&hub.get(&path(BOB), &alice).await, BOB);
        not_found(&hub.get(&path(UNKNOWN), &alice).await, UNKNOWN);
        // A trace is the caller's only when all its root spans are: alice joined mallory's.
        not_found(&hub.get(&path(MIXED), &alice).await, MIXED);
        // Credentials for other planes do not read A2A traces.
        not_found(&hub.get(&path(ALICE), &alice_llm).await, ALICE);
        // Nothing like an id names anything.
        let long = "a".repeat(65);
        hub.get(&path(&long), &hub.admin)
            .await
            .expect(StatusCode::NOT_FOUND);
        // Without credentials: 401, as everywhere.
        hub.get(&path(ALICE), "ahk_nope")
            .await
            .expect(StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn traces_are_listed_newest_first_with_filters_and_pages() {
    with_traces(|hub| async move {
        let reply = hub.get("/api/v1/traces", &hub.admin).await;
        let page = reply.expect(StatusCode::OK);
        assert_eq!(trace_ids(page), [MIXED, BOB, ALICE]);
        assert!(page.get("next_cursor").is_none(), "{page:#}");
        let alice_trace = &page["data"][2];
        assert_eq!(
            alice_trace,
            &json!({
                "trace_id": ALICE, "agent": "planner", "method": "SendMessage",
                "principal": "user:alice", "started_at": "2027-01-15T08:00:00.000Z",
                "outcome": "ok", "duration_ms": 120, "spans": 3,
            })
        );
        // Each trace by the request that started it: mallory's, though alice joined it.
        assert_eq!(page["data"][0]["principal"], "user:mallory");
        assert_eq!(page["data"][0]["outcome"], Value::Null);

        let ids = |query: &'static str| {
            let hub = hub.clone();
            async move {
                let reply = hub
                    .get(&format!("/api/v1/traces?{query}"), &hub.admin)
                    .await;
                trace_ids(reply.expect(StatusCode::OK))
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(ids("agent=planner").await, [ALICE]);
        assert_eq!(ids("agent=echo").await, [MIXED, BOB]);
        assert_eq!(ids("principal=user%3Abob").await, [BOB]);
        assert_eq!(
            ids("principal=user:alice&agent=echo").await,
            Vec::<String>::new()
        );

        // Pages.
        let reply = hub.get("/api/v1/traces?limit=2", &hub.admin).await;
        let first = reply.expect(StatusCode::OK);
        assert_eq!(trace_ids(first), [MIXED, BOB]);
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let reply = hub
            .get(
                &format!("/api/v1/traces?limit=2&cursor={cursor}"),
                &hub.admin,
            )
            .await;
        let second = reply.expect(StatusCode::OK);
        assert_eq!(trace_ids(second), [ALICE]);
        assert!(second.get("next_cursor").is_none());

        // Callers who may not read every trace list their own.
        let alice = hub.key_of("alice", &["a2a"]).await;
        let reply = hub.get("/api/v1/traces", &alice).await;
        assert_eq!(trace_ids(reply.expect(StatusCode::OK)), [ALICE]);
        let reply = hub.get("/api/v1/traces?principal=user%3Abob", &alice).await;
        assert_eq!(trace_ids(reply.expect(StatusCode::OK)), Vec::<&str>::new());
        let bob = hub.key_of("bob", &["a2a"]).await;
        let reply = hub.get("/api/v1/traces?agent=echo", &bob).await;
        assert_eq!(trace_ids(reply.expect(StatusCode::OK)), [BOB]);
        let llm_only = hub.key_of("carol", &["llm"]).await;
        hub.get("/api/v1/traces", &llm_only)
            .await
            .expect(StatusCode::FORBIDDEN);

        // Bad parameters name themselves.
        for (query, param) in [
            ("limit=0", "limit"),
            ("cursor=bm9wZQ", "cursor"),
            ("cursor=%21", "cursor"),
            ("colour=red", "colour"),
        ] {
            let reply = hub
                .get(&format!("/api/v1/traces?{query}"), &hub.admin)
                .await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{query}: {}",
                reply.text
            );
            assert_eq!(
                reply.json["error"]["param"], param,
                "{query}: {}",
                reply.text
            );
        }
    })
    .await;
}
