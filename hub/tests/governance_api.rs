//! Governance through the admin API end to end: policies, roles, rate limits, budgets and
//! guardrails stored and listed with their sources, usage, and the authorization and guardrail
//! checks. The hub's router is driven in-process with `tower::ServiceExt::oneshot` over a real
//! store.
//!
//! Every scenario runs on SQLite in a temporary directory and, when `AGENTHUB_TEST_POSTGRES_URL`
//! names a Postgres server (e.g. `postgres://postgres@127.0.0.1:5432/test`), again on a fresh
//! Postgres database created for it and dropped afterwards.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agenthub::app::{self, AppState};
use agenthub::config::{ConfigHandle, HubConfig};
use agenthub::directory::Accounts;
use agenthub::governance::Governance;
use agenthub::model::now_millis;
use agenthub::store::{DatabaseUrl, Store};
use agenthub_policy::limits::{Usage, Usd};
use agenthub_policy::when::{Plane, RequestFacts};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::db::on_every_database;
use support::lab::directory;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------------
// Databases

/// Runs `scenario` against a freshly started hub with `config` on every available database.
async fn on_every_backend<F, Fut>(config: &str, scenario: F)
where
    F: Fn(Hub) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let config = HubConfig::parse(config, "test.yaml", &|_| None)
        .unwrap_or_else(|e| panic!("invalid test configuration: {e}"));
    let start = |url| {
        let config = config.clone();
        async move {
            let hub = Hub::start(url, config).await;
            let store = hub.store.clone();
            (hub, store)
        }
    };
    on_every_database(start, scenario).await;
}

// ---------------------------------------------------------------------------------------------
// The hub and its answers

#[derive(Clone)]
struct Hub {
    router: Router,
    store: Store,
    accounts: Arc<Accounts>,
    governance: Arc<Governance>,
    config: ConfigHandle,
    /// The bootstrap admin key (scope `*`).
    admin: String,
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

    /// The error message, after checking the status, the error body's shape and `param`.
    #[track_caller]
    fn expect_error(&self, status: StatusCode, kind: &str, param: Option<&str>) -> &str {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        let error = &self.json["error"];
        assert_eq!(error["type"], kind, "{}", self.text);
        assert_eq!(error["param"].as_str(), param, "{}", self.text);
        assert_eq!(error["retryable"], false, "{}", self.text);
        error["message"].as_str().expect("an error message")
    }
}

impl Hub {
    async fn start(url: DatabaseUrl, config: HubConfig) -> Self {
        let (store, accounts, admin) = directory(&url).await;
        Self::serve(store, accounts, ConfigHandle::new(config), admin).await
    }

    async fn serve(
        store: Store,
        accounts: Arc<Accounts>,
        config: ConfigHandle,
        admin: String,
    ) -> Self {
        let governance = Arc::new(
            Governance::load(store.clone(), config.clone(), "test")
                .await
                .expect("load the governance rules"),
        );
        let state = AppState::new(accounts.clone(), governance.clone(), config.clone());
        Self {
            router: app::router(state),
            store,
            accounts,
            governance,
            config,
            admin,
        }
    }

    /// The hub started again on the same store: the rules and usage it loads are what was
    /// stored.
    async fn restart(&self) -> Self {
        Self::serve(
            self.store.clone(),
            self.accounts.clone(),
            ConfigHandle::new(self.config.snapshot().as_ref().clone()),
            self.admin.clone(),
        )
        .await
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

    async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::POST, path, key, Some(body)).await
    }

    async fn put(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, key, Some(body)).await
    }

    async fn delete(&self, path: &str, key: &str) -> Reply {
        self.call(Method::DELETE, path, key, None).await
    }

    /// Every item of a listing, walking its pages.
    async fn list(&self, path: &str, key: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let url = match &cursor {
                Some(c) => format!("{path}?limit=4&cursor={c}"),
                None => format!("{path}?limit=4"),
            };
            let reply = self.get(&url, key).await;
            let page = reply.expect(StatusCode::OK);
            items.extend(page["data"].as_array().unwrap().iter().cloned());
            match page.get("next_cursor") {
                Some(next) => cursor = Some(next.as_str().unwrap().to_owned()),
                None => return items,
            }
        }
        panic!("{path}: pagination does not end");
    }

    /// Creates user `name` (in `team` with `role`, if given) and a key of theirs with `scopes`,
    /// charged to the team; returns the key's id and secret.
    async fn member(
        &self,
        name: &str,
        team: Option<(&str, &str)>,
        scopes: &[&str],
    ) -> (String, String) {
        self.post("/api/v1/users", &self.admin, json!({ "name": name }))
            .await
            .expect(StatusCode::CREATED);
        let mut key = json!({ "name": "test", "owner": name, "scopes": scopes });
        if let Some((team, role)) = team {
            if self
                .get(&format!("/api/v1/teams/{team}"), &self.admin)
                .await
                .status
                == StatusCode::NOT_FOUND
            {
                self.post("/api/v1/teams", &self.admin, json!({ "name": team }))
                    .await
                    .expect(StatusCode::CREATED);
            }
            self.put(
                &format!("/api/v1/teams/{team}/members/{name}"),
                &self.admin,
                json!({ "role": role }),
            )
            .await
            .expect(StatusCode::OK);
            key["team"] = json!(team);
        }
        let reply = self.post("/api/v1/keys", &self.admin, key).await;
        let created = reply.expect(StatusCode::CREATED);
        (
            created["id"].as_str().unwrap().to_owned(),
            created["key"].as_str().unwrap().to_owned(),
        )
    }
}

/// The item of a listing whose `id` is `id`.
#[track_caller]
fn by_id<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|item| item["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {items:#?}"))
}

/// The rules of a listing stored through the API.
fn stored(items: Vec<Value>) -> Vec<Value> {
    items.into_iter().filter(|i| i["source"] == "api").collect()
}

fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["id"].as_str().unwrap()).collect()
}

/// The usage row of rule `rule`.
#[track_caller]
fn row<'a>(usage: &'a Value, rule: &str) -> &'a Value {
    usage["limits"]
        .as_array()
        .unwrap_or_else(|| panic!("not a usage answer: {usage}"))
        .iter()
        .find(|row| row["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} in {usage:#}"))
}

const NO_CONFIG: &str = "";

// ---------------------------------------------------------------------------------------------
// Rules

#[tokio::test]
async fn rules_of_every_kind_are_created_read_replaced_and_deleted() {
    on_every_backend(NO_CONFIG, |hub| async move {
        let admin = hub.admin.clone();
        // (collection, new rule, a replacement, the field that changes, its new value)
        let cases = [
            (
                "policies",
                json!({ "subject": "team:ml", "resource": "model:gpt-4*", "action": "invoke" }),
                json!({ "subject": "team:ml", "resource": "model:gpt-4o", "action": "invoke" }),
                "resource",
                json!("model:gpt-4o"),
            ),
            (
                "roles",
                json!({ "member": "user:alice", "role": "role:lead" }),
                json!({ "member": "user:alice", "role": "role:lead", "team": "ml" }),
                "team",
                json!("ml"),
            ),
            (
                "rate-limits",
                json!({ "id": "rpm", "limit_to": 60, "unit": "requests_per_minute", "applies_per": "user" }),
                json!({ "limit_to": 120, "unit": "requests_per_minute", "applies_per": "user" }),
                "limit_to",
                json!(120),
            ),
            (
                "budgets",
                json!({ "id": "monthly", "cost_per_month": "500.00", "applies_per": "team", "alert_thresholds": [75, 100] }),
                json!({ "id": "monthly", "cost_per_month": 750, "applies_per": "team" }),
                "cost_per_month",
                json!(750.0),
            ),
            (
                "guardrails",
                json!({ "id": "codenames", "type": "banned_terms", "terms": ["bluebird"], "action": "redact" }),
                json!({ "type": "banned_terms", "terms": ["bluebird", "falcon"], "action": "block" }),
                "action",
                json!("block"),
            ),
        ];
        for (collection, rule, replacement, field, value) in cases {
            let path = format!("/api/v1/{collection}");
            let reply = hub.post(&path, &admin, rule.clone()).await;
            let created = reply.expect(StatusCode::CREATED).clone();
            let id = created["id"].as_str().unwrap().to_owned();
            match rule.get("id") {
                Some(own) => assert_eq!(own, id.as_str(), "{collection}"),
                None => assert!(uuid::Uuid::parse_str(&id).is_ok(), "{collection}: {id}"),
            }
            assert_eq!(created["source"], "api", "{collection}");
            assert_eq!(created["created_by"], "user:admin", "{collection}");
            assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
            for (key, expected) in rule.as_object().unwrap() {
                if key != "cost_per_month" {
                    assert_eq!(&created[key], expected, "{collection}.{key}");
                }
            }

            let listed = stored(hub.list(&path, &admin).await);
            assert_eq!(ids(&listed), [id.as_str()], "{collection}");
            assert_eq!(by_id(&listed, &id)["source"], "api");
            let item = format!("{path}/{id}");
            let got = hub.get(&item, &admin).await;
            assert_eq!(got.expect(StatusCode::OK), &created, "{collection}");

            let reply = hub.put(&item, &admin, replacement).await;
            let replaced = reply.expect(StatusCode::OK);
            assert_eq!(replaced["id"], id.as_str());
            assert_eq!(replaced[field], value, "{collection}");
            assert_eq!(replaced["created_at"], created["created_at"]);
            let got = hub.get(&item, &admin).await;
            assert_eq!(got.expect(StatusCode::OK)[field], value, "{collection}");

            hub.delete(&item, &admin)
                .await
                .expect(StatusCode::NO_CONTENT);
            hub.get(&item, &admin)
                .await
                .expect_error(StatusCode::NOT_FOUND, "not_found", None);
            hub.delete(&item, &admin)
                .await
                .expect_error(StatusCode::NOT_FOUND, "not_found", None);
            hub.put(&item, &admin, rule)
                .await
                .expect_error(StatusCode::NOT_FOUND, "not_found", None);
            assert!(
                stored(hub.list(&path, &admin).await).is_empty(),
                "{collection}"
            );
        }

        // Ids are unique among rate limits and budgets together; a body's id must be the path's.
        let rpm = json!({ "id": "shared", "limit_to": 5, "unit": "requests_per_day" });
        hub.post("/api/v1/rate-limits", &admin, rpm.clone())
            .await
            .expect(StatusCode::CREATED);
        let message = hub
            .post("/api/v1/rate-limits", &admin, rpm)
            .await
            .expect_error(StatusCode::CONFLICT, "conflict", None)
            .to_owned();
        assert!(message.contains("\"shared\" already exists"), "{message}");
        let message = hub
            .post(
                "/api/v1/budgets",
                &admin,
                json!({ "id": "shared", "tokens_per_day": 1000 }),
            )
            .await
            .expect_error(StatusCode::CONFLICT, "conflict", None)
            .to_owned();
        assert!(message.contains("rate limit"), "{message}");
        let message = hub
            .put(
                "/api/v1/rate-limits/shared",
                &admin,
                json!({ "id": "other", "limit_to": 5, "unit": "requests_per_day" }),
            )
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("id"))
            .to_owned();
        assert!(message.contains("differs from the id in the path"), "{message}");
        hub.post(
            "/api/v1/guardrails",
            &admin,
            json!({ "id": "check", "type": "pii", "action": "flag" }),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("id"));
    })
    .await;
}

#[tokio::test]
async fn stored_rules_survive_a_restart() {
    on_every_backend(NO_CONFIG, |hub| async move {
        let admin = hub.admin.clone();
        let (_, alice) = hub
            .member("alice", Some(("ml", "member")), &["admin"])
            .await;
        let grant = json!({ "subject": "team:ml", "resource": "admin:budgets", "action": "*" });
        let policy = hub.post("/api/v1/policies", &admin, grant).await;
        let policy_id = policy.expect(StatusCode::CREATED)["id"].clone();
        for (path, body) in [
            (
                "/api/v1/roles",
                json!({ "member": "user:alice", "role": "role:lead" }),
            ),
            (
                "/api/v1/rate-limits",
                json!({ "id": "rpm", "limit_to": 60, "unit": "requests_per_minute" }),
            ),
            (
                "/api/v1/budgets",
                json!({ "id": "daily", "cost_per_day": 25 }),
            ),
            (
                "/api/v1/guardrails",
                json!({ "id": "pii", "type": "pii", "action": "redact" }),
            ),
        ] {
            hub.post(path, &admin, body)
                .await
                .expect(StatusCode::CREATED);
        }
        let before: Vec<Vec<Value>> = futures::future::join_all(
            ["policies", "roles", "rate-limits", "budgets", "guardrails"]
                .map(|c| hub.list_owned(format!("/api/v1/{c}"))),
        )
        .await;

        let hub = hub.restart().await;
        let after: Vec<Vec<Value>> = futures::future::join_all(
            ["policies", "roles", "rate-limits", "budgets", "guardrails"]
                .map(|c| hub.list_owned(format!("/api/v1/{c}"))),
        )
        .await;
        assert_eq!(before, after);
        assert!(by_id(&after[0], policy_id.as_str().unwrap())["source"] == "api");
        // And they are in force: the stored grant lets alice read and manage budgets.
        hub.get("/api/v1/budgets", &alice)
            .await
            .expect(StatusCode::OK);
        let inspection = hub
            .post(
                "/api/v1/guardrails/check",
                &admin,
                json!({ "text": "write to ana@example.org" }),
            )
            .await;
        assert_eq!(
            inspection.expect(StatusCode::OK)["text"],
            "write to [REDACTED:EMAIL]"
        );
    })
    .await;
}

impl Hub {
    /// [`Hub::list`] as the admin, owning its arguments (for joining several).
    async fn list_owned(&self, path: String) -> Vec<Value> {
        self.list(&path, &self.admin).await
    }
}

#[tokio::test]
async fn rule_errors_name_the_field_of_the_body() {
    on_every_backend(NO_CONFIG, |hub| async move {
        let admin = hub.admin.clone();
        // (collection, body, param, words the message must contain)
        let cases: Vec<(&str, Value, Option<&str>, &str)> = vec![
            (
                "policies",
                json!({ "subject": "team:ml", "resource": "modle:gpt-4", "action": "invoke" }),
                Some("resource"),
                "resource: unknown resource kind",
            ),
            (
                "policies",
                json!({ "subject": "alice", "resource": "model:x", "action": "invoke" }),
                Some("subject"),
                "subject:",
            ),
            (
                "policies",
                json!({ "subject": "team:ml", "resource": "model:x", "action": "call" }),
                Some("action"),
                "action:",
            ),
            (
                "policies",
                json!({ "subject": "team:ml", "resource": "model:x", "action": "invoke", "effect": "maybe" }),
                Some("effect"),
                "effect: unknown variant",
            ),
            (
                "policies",
                json!({ "subject": "team:ml", "resource": "model:x", "action": "invoke", "teams": "ml" }),
                Some("teams"),
                "unknown field `teams`",
            ),
            (
                "roles",
                json!({ "member": "user:alice", "role": "user:bob" }),
                Some("role"),
                "is not a role",
            ),
            (
                "roles",
                json!({ "member": "user:alice" }),
                None,
                "missing field `role`",
            ),
            (
                "rate-limits",
                json!({ "id": "rpm", "limit_to": 0, "unit": "requests_per_fortnight" }),
                Some("limit_to"),
                "limit_to: must be at least 1; unit: unknown unit \"requests_per_fortnight\"",
            ),
            (
                "rate-limits",
                json!({ "id": "rpm", "limit_to": 5, "unit": "requests_per_day", "per": "user" }),
                Some("per"),
                "unknown field `per`",
            ),
            (
                "rate-limits",
                json!({ "id": "rpm", "limit_to": 5, "unit": "requests_per_day", "when": { "subjects": ["alice"] } }),
                Some("when.subjects[0]"),
                "is not a subject",
            ),
            (
                "rate-limits",
                json!({ "id": "bad id", "limit_to": 5, "unit": "requests_per_day" }),
                Some("id"),
                "is not an id",
            ),
            (
                "budgets",
                json!({ "id": "nothing" }),
                None,
                "needs one of cost_per_day",
            ),
            (
                "budgets",
                json!({ "id": "b", "cost_per_day": -5 }),
                Some("cost_per_day"),
                "is not an amount in US dollars",
            ),
            (
                "budgets",
                json!({ "id": "b", "cost_per_day": 5, "alert_thresholds": [50, 150] }),
                Some("alert_thresholds[1]"),
                "must be between 1 and 100",
            ),
            (
                "guardrails",
                json!({ "id": "r", "type": "regex", "pattern": "(", "action": "block" }),
                Some("pattern"),
                "pattern:",
            ),
            (
                "guardrails",
                json!({ "id": "r", "type": "pii", "kinds": ["github_token"], "action": "block" }),
                Some("kinds[0]"),
                "is not a pii kind",
            ),
            (
                "guardrails",
                json!({ "id": "r", "type": "telepathy", "action": "block" }),
                Some("type"),
                "unknown variant `telepathy`",
            ),
        ];
        for (collection, body, param, words) in cases {
            let reply = hub
                .post(&format!("/api/v1/{collection}"), &admin, body.clone())
                .await;
            let message = reply.expect_error(StatusCode::BAD_REQUEST, "invalid_request", param);
            assert!(
                message.contains(words),
                "{collection} {body}: {message:?} lacks {words:?}"
            );
        }
        // A conflict with the rules in force is reported at its place in the merged set.
        hub.post(
            "/api/v1/roles",
            &admin,
            json!({ "member": "role:a", "role": "role:b" }),
        )
        .await
        .expect(StatusCode::CREATED);
        let reply = hub
            .post(
                "/api/v1/roles",
                &admin,
                json!({ "member": "role:b", "role": "role:a" }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        let param = reply.json["error"]["param"].as_str().unwrap_or_default();
        assert!(param.starts_with("roles["), "{}", reply.text);
        // Nothing invalid was stored.
        for collection in ["policies", "rate-limits", "budgets", "guardrails"] {
            let listed = hub.list(&format!("/api/v1/{collection}"), &admin).await;
            assert!(stored(listed).is_empty(), "{collection}");
        }
        assert_eq!(hub.list("/api/v1/roles", &admin).await.len(), 1);
    })
    .await;
}

const CONFIGURED: &str = r#"
policies:
  - { subject: "team:ops", resource: "model:*", action: invoke }
roles:
  - { member: "user:carol", role: "role:ops-lead" }
rate_limits:
  - { id: cfg-rpm, limit_to: 600, unit: requests_per_minute, applies_per: team }
budgets:
  - { id: cfg-monthly, cost_per_month: 500, applies_per: team }
guardrails:
  - { id: cfg-pii, type: pii, action: redact }
"#;

#[tokio::test]
async fn configured_and_starter_rules_are_listed_and_read_only() {
    on_every_backend(CONFIGURED, |hub| async move {
        let admin = hub.admin.clone();
        let stored = hub
            .post(
                "/api/v1/policies",
                &admin,
                json!({ "subject": "team:ml", "resource": "model:*", "action": "invoke" }),
            )
            .await;
        let stored_id = stored.expect(StatusCode::CREATED)["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Policies in the authorizer's order: starter, configuration, stored.
        let policies = hub.list("/api/v1/policies", &admin).await;
        let starter = agenthub_policy::authz::starter_policy().policies.len();
        assert_eq!(policies.len(), starter + 2);
        for (i, policy) in policies[..starter].iter().enumerate() {
            assert_eq!(policy["id"], format!("starter-{i}"));
            assert_eq!(policy["source"], "starter");
            assert!(policy.get("created_by").is_none());
        }
        assert_eq!(policies[0]["subject"], "role:admin");
        assert_eq!(policies[starter]["id"], "config-0");
        assert_eq!(policies[starter]["source"], "config");
        assert_eq!(policies[starter]["subject"], "team:ops");
        assert_eq!(policies[starter + 1]["id"], stored_id.as_str());
        assert_eq!(policies[starter + 1]["source"], "api");
        let roles = hub.list("/api/v1/roles", &admin).await;
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0]["id"], "config-0");
        assert_eq!(roles[0]["member"], "user:carol");

        for (collection, id, source) in [
            ("rate-limits", "cfg-rpm", "config"),
            ("budgets", "cfg-monthly", "config"),
            ("guardrails", "cfg-pii", "config"),
        ] {
            let listed = hub.list(&format!("/api/v1/{collection}"), &admin).await;
            assert_eq!(ids(&listed), [id], "{collection}");
            assert_eq!(listed[0]["source"], source);
            let got = hub.get(&format!("/api/v1/{collection}/{id}"), &admin).await;
            assert_eq!(got.expect(StatusCode::OK)["source"], "config");
        }
        let budget = hub.get("/api/v1/budgets/cfg-monthly", &admin).await;
        assert_eq!(budget.expect(StatusCode::OK)["cost_per_month"], 500.0);

        // None of them can be changed or shadowed through the API.
        let attempts = [
            ("policies/config-0", "configuration file (policies[0])"),
            ("policies/starter-3", "starter policy"),
            ("roles/config-0", "configuration file (roles[0])"),
            ("rate-limits/cfg-rpm", "configuration file (rate_limits[0])"),
            ("budgets/cfg-monthly", "configuration file (budgets[0])"),
            ("guardrails/cfg-pii", "configuration file (guardrails[0])"),
        ];
        for (item, words) in attempts {
            let path = format!("/api/v1/{item}");
            let deleted = hub.delete(&path, &admin).await;
            let message = deleted.expect_error(StatusCode::CONFLICT, "conflict", None);
            assert!(message.contains(words), "DELETE {item}: {message}");
            let body = hub.get(&path, &admin).await.json;
            let mut body = body.as_object().unwrap().clone();
            for key in ["source", "created_by", "created_at", "updated_at"] {
                body.remove(key);
            }
            let replaced = hub.put(&path, &admin, Value::Object(body)).await;
            let message = replaced.expect_error(StatusCode::CONFLICT, "conflict", None);
            assert!(message.contains(words), "PUT {item}: {message}");
        }
        for (collection, body) in [
            (
                "rate-limits",
                json!({ "id": "cfg-rpm", "limit_to": 1, "unit": "requests_per_day" }),
            ),
            ("budgets", json!({ "id": "cfg-rpm", "tokens_per_day": 10 })),
            (
                "rate-limits",
                json!({ "id": "cfg-monthly", "limit_to": 1, "unit": "requests_per_day" }),
            ),
            (
                "guardrails",
                json!({ "id": "cfg-pii", "type": "secrets", "action": "block" }),
            ),
        ] {
            let reply = hub
                .post(&format!("/api/v1/{collection}"), &admin, body)
                .await;
            let message = reply.expect_error(StatusCode::CONFLICT, "conflict", None);
            assert!(message.contains("configuration file"), "{message}");
        }
        // The stored policy is not read-only.
        hub.delete(&format!("/api/v1/policies/{stored_id}"), &admin)
            .await
            .expect(StatusCode::NO_CONTENT);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Authorization through stored policies

#[tokio::test]
async fn stored_policies_open_and_close_admin_areas() {
    on_every_backend(NO_CONFIG, |hub| async move {
        let admin = hub.admin.clone();
        let (_, alice) = hub.member("alice", Some(("ml", "member")), &["admin"]).await;
        let (_, bob) = hub.member("bob", None, &["admin"]).await;
        let budget = |id: &str| json!({ "id": id, "tokens_per_day": 1000 });

        // A plain member manages no governance area, and reads none.
        for collection in ["policies", "roles", "rate-limits", "budgets", "guardrails"] {
            let path = format!("/api/v1/{collection}");
            hub.get(&path, &alice)
                .await
                .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
            hub.post(&path, &alice, json!({}))
                .await
                .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
            hub.delete(&format!("{path}/x"), &alice)
                .await
                .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        }

        // Granting team ml the management of budgets lets its members' admin keys create them.
        let grant = hub
            .post(
                "/api/v1/policies",
                &admin,
                json!({ "subject": "team:ml", "resource": "admin:budgets", "action": "manage" }),
            )
            .await;
        let grant_id = grant.expect(StatusCode::CREATED)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        hub.post("/api/v1/budgets", &alice, budget("alices"))
            .await
            .expect(StatusCode::CREATED);
        // `manage` does not imply `read`, and nothing else opened; bob is not in ml.
        hub.get("/api/v1/budgets", &alice)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.post(
            "/api/v1/rate-limits",
            &alice,
            json!({ "id": "r", "limit_to": 1, "unit": "requests_per_day" }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.post("/api/v1/budgets", &bob, budget("bobs"))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);

        // A stored deny overrides the grant.
        let deny = hub
            .post(
                "/api/v1/policies",
                &admin,
                json!({ "subject": "user:alice", "resource": "admin:*", "action": "manage", "effect": "deny" }),
            )
            .await;
        let deny_id = deny.expect(StatusCode::CREATED)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        hub.delete("/api/v1/budgets/alices", &alice)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        let check = hub
            .post(
                "/api/v1/authz/check",
                &admin,
                json!({ "subject": "user:alice", "resource": "admin:budgets", "action": "manage" }),
            )
            .await;
        let check = check.expect(StatusCode::OK);
        assert_eq!(check["allowed"], false);
        assert_eq!(check["decision"], "denied");
        assert_eq!(check["policy"]["id"], deny_id.as_str());

        // Removing the deny restores the grant; removing the grant closes the area again.
        hub.delete(&format!("/api/v1/policies/{deny_id}"), &admin)
            .await
            .expect(StatusCode::NO_CONTENT);
        hub.delete("/api/v1/budgets/alices", &alice)
            .await
            .expect(StatusCode::NO_CONTENT);
        hub.delete(&format!("/api/v1/policies/{grant_id}"), &admin)
            .await
            .expect(StatusCode::NO_CONTENT);
        hub.post("/api/v1/budgets", &alice, budget("again"))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);

        // The checks are admin tools too.
        hub.post(
            "/api/v1/authz/check",
            &alice,
            json!({ "resource": "model:x", "action": "invoke" }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.post("/api/v1/guardrails/check", &alice, json!({ "text": "hi" }))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        // A grant of read on guardrails opens the check.
        hub.post(
            "/api/v1/policies",
            &admin,
            json!({ "subject": "user:alice", "resource": "admin:guardrails", "action": "read" }),
        )
        .await
        .expect(StatusCode::CREATED);
        hub.post("/api/v1/guardrails/check", &alice, json!({ "text": "hi" }))
            .await
            .expect(StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn authz_check_explains_each_decision() {
    on_every_backend(NO_CONFIG, |hub| async move {
        let admin = hub.admin.clone();
        let (alice_key_id, _) = hub.member("alice", Some(("ml", "member")), &["llm"]).await;
        let (admin_key_id, _) = hub.member("ops-bot", None, &["admin:read"]).await;
        let check = |body: Value| {
            let hub = hub.clone();
            let admin = admin.clone();
            async move { hub.post("/api/v1/authz/check", &admin, body).await }
        };

        // Without a subject: the caller (the bootstrap admin), granted by the starter policy.
        let reply = check(json!({ "resource": "admin:budgets", "action": "manage" })).await;
        let answer = reply.expect(StatusCode::OK);
        assert_eq!(answer["allowed"], true);
        assert_eq!(answer["decision"], "granted");
        assert_eq!(answer["subject"], "user:admin");
        assert_eq!(answer["policy"]["id"], "starter-0");
        assert_eq!(answer["policy"]["source"], "starter");
        assert!(
            answer["reason"]
                .as_str()
                .unwrap()
                .contains("starter policy starter-0")
        );
        assert!(
            answer["acting_as"]
                .as_array()
                .unwrap()
                .contains(&json!("role:admin"))
        );

        // A member uses models within her team only.
        let outside = check(json!({ "subject": "user:alice", "resource": "model:gpt-4o", "action": "invoke" })).await;
        let outside = outside.expect(StatusCode::OK);
        assert_eq!(outside["allowed"], false);
        assert_eq!(outside["decision"], "no_grant");
        assert!(outside.get("policy").is_none());
        let inside = check(json!({ "subject": "user:alice", "resource": "model:gpt-4o", "action": "invoke", "team": "ml" })).await;
        let inside = inside.expect(StatusCode::OK);
        assert_eq!(inside["allowed"], true, "{inside}");
        assert_eq!(inside["policy"]["subject"], "role:team-member");
        assert!(
            inside["acting_as"]
                .as_array()
                .unwrap()
                .contains(&json!("role:team-member"))
        );

        // A key is checked with its team and scopes.
        let key = check(json!({ "subject": format!("key:{alice_key_id}"), "resource": "model:gpt-4o", "action": "invoke" })).await;
        assert_eq!(key.expect(StatusCode::OK)["allowed"], true, "{}", key.text);
        let scoped = check(json!({ "subject": format!("key:{admin_key_id}"), "resource": "model:gpt-4o", "action": "invoke" })).await;
        let scoped = scoped.expect(StatusCode::OK);
        assert_eq!(scoped["decision"], "missing_scope");
        assert!(scoped["reason"].as_str().unwrap().contains("llm"));

        // A stored deny line decides, and is named.
        let deny = hub
            .post(
                "/api/v1/policies",
                &admin,
                json!({ "subject": "team:ml", "resource": "model:gpt-4*", "action": "invoke", "effect": "deny" }),
            )
            .await;
        let deny_id = deny.expect(StatusCode::CREATED)["id"].clone();
        let denied = check(json!({ "subject": "user:alice", "resource": "model:gpt-4o", "action": "invoke", "team": "ml" })).await;
        let denied = denied.expect(StatusCode::OK);
        assert_eq!(denied["decision"], "denied");
        assert_eq!(denied["policy"]["id"], deny_id);
        assert_eq!(denied["policy"]["source"], "api");
        let team = check(json!({ "subject": "team:ml", "resource": "model:gpt-4o", "action": "invoke" })).await;
        assert_eq!(team.expect(StatusCode::OK)["decision"], "denied");

        // Bad questions name their field.
        for (body, param, status) in [
            (
                json!({ "resource": "modle:x", "action": "invoke" }),
                "resource",
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "resource": "model:x", "action": "call" }),
                "action",
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "resource": "model:x", "action": "fly" }),
                "action",
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "subject": "alice", "resource": "model:x", "action": "invoke" }),
                "subject",
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "subject": "user:nobody", "resource": "model:x", "action": "invoke" }),
                "subject",
                StatusCode::NOT_FOUND,
            ),
            (
                json!({ "resource": "model:x", "action": "invoke", "as": "root" }),
                "as",
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let reply = check(body.clone()).await;
            let kind = if status == StatusCode::NOT_FOUND {
                "not_found"
            } else {
                "invalid_request"
            };
            reply.expect_error(status, kind, Some(param));
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Guardrails and usage

const GUARDED: &str = r#"
guardrails:
  - { id: pii, type: pii, action: redact, allow: [support@example.com] }
"#;

#[tokio::test]
async fn guardrails_check_shows_what_would_happen() {
    on_every_backend(GUARDED, |hub| async move {
        let admin = hub.admin.clone();
        for rule in [
            json!({ "id": "codenames", "type": "banned_terms", "terms": ["project falcon"], "action": "redact", "label": "CODENAME" }),
            json!({ "id": "no-keys", "type": "secrets", "action": "block", "stage": "input", "message": "No credentials, please." }),
            json!({ "id": "gpt-only", "type": "banned_terms", "terms": ["bluebird"], "action": "flag", "when": { "models": ["gpt-*"] } }),
        ] {
            hub.post("/api/v1/guardrails", &admin, rule)
                .await
                .expect(StatusCode::CREATED);
        }
        let check = |body: Value| {
            let hub = hub.clone();
            let admin = admin.clone();
            async move {
                let reply = hub.post("/api/v1/guardrails/check", &admin, body).await;
                reply.expect(StatusCode::OK).clone()
            }
        };

        let text = "mail bob@example.org, not support@example.com, about Project Falcon";
        let answer = check(json!({ "text": text })).await;
        assert_eq!(answer["blocked"], false);
        assert!(answer.get("reason").is_none());
        assert_eq!(
            answer["text"],
            "mail [REDACTED:EMAIL], not support@example.com, about [REDACTED:CODENAME]"
        );
        let findings = answer["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 2, "{answer:#}");
        assert_eq!(findings[0]["rule_id"], "pii");
        assert_eq!(findings[0]["kind"], "email");
        assert_eq!(findings[0]["action"], "redact");
        let span = &findings[0]["span"];
        let (start, end) = (
            span["start"].as_u64().unwrap() as usize,
            span["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&text[start..end], "bob@example.org");
        assert_eq!(findings[1]["rule_id"], "codenames");
        assert_eq!(findings[1]["kind"], "banned_term");

        let secret = "use AKIABAPDEJ7RP8RDFJF2 please";
        let blocked = check(json!({ "text": secret, "stage": "input" })).await;
        assert_eq!(blocked["blocked"], true);
        assert_eq!(blocked["reason"], "No credentials, please.");
        assert_eq!(blocked["findings"][0]["rule_id"], "no-keys");
        let output = check(json!({ "text": secret, "stage": "output" })).await;
        assert_eq!(output["blocked"], false, "the rule is for input only");

        // `when` conditions see the request described.
        let flagged = check(json!({ "text": "bluebird", "model": "gpt-4o" })).await;
        assert_eq!(flagged["findings"][0]["rule_id"], "gpt-only");
        assert_eq!(flagged["findings"][0]["action"], "flag");
        let other = check(json!({ "text": "bluebird", "model": "claude-3" })).await;
        assert_eq!(other["findings"], json!([]));
        let tool = check(json!({ "text": "bluebird", "tool": "jira/create_issue" })).await;
        assert_eq!(tool["findings"], json!([]));

        for (body, param) in [
            (json!({ "text": "x", "stage": "sideways" }), Some("stage")),
            (json!({ "text": "x", "model": "m", "tool": "a/b" }), None),
            (json!({ "stage": "input" }), None),
        ] {
            hub.post("/api/v1/guardrails/check", &admin, body)
                .await
                .expect_error(StatusCode::BAD_REQUEST, "invalid_request", param);
        }
    })
    .await;
}

#[tokio::test]
async fn usage_shows_spend_and_survives_a_restart() {
    on_every_backend(NO_CONFIG, |hub| async move {
        let admin = hub.admin.clone();
        let (_, alice) = hub.member("alice", Some(("ml", "member")), &["llm"]).await;
        for (path, rule) in [
            (
                "/api/v1/budgets",
                json!({ "id": "user-daily", "applies_per": "user", "cost_per_day": 10, "alert_thresholds": [10, 50] }),
            ),
            (
                "/api/v1/budgets",
                json!({ "id": "ml-tokens", "applies_per": "team", "tokens_per_month": 1000000, "audit_mode": true }),
            ),
            (
                "/api/v1/rate-limits",
                json!({ "id": "user-rpm", "applies_per": "user", "limit_to": 100, "unit": "requests_per_minute" }),
            ),
        ] {
            hub.post(path, &admin, rule).await.expect(StatusCode::CREATED);
        }

        // One model request of alice's: $0.50 and 100 tokens estimated, $1.25 and 150 used.
        let identity = hub
            .accounts
            .snapshot()
            .authenticate(&alice, now_millis())
            .expect("alice's key authenticates");
        let metadata = BTreeMap::new();
        let facts = RequestFacts {
            identity: &identity,
            plane: Plane::Llm,
            model: Some("gpt-4o"),
            tool: None,
            agent: None,
            metadata: &metadata,
        };
        let admission = hub
            .governance
            .admit(
                &facts,
                Usage {
                    tokens: 100,
                    cost: Usd::from_cents(50),
                },
            )
            .expect("admitted");
        hub.governance.settle(
            admission,
            Usage {
                tokens: 150,
                cost: Usd::from_cents(125),
            },
        );

        let reply = hub.get("/api/v1/usage?user=alice", &admin).await;
        let usage = reply.expect(StatusCode::OK).clone();
        assert_eq!(usage["subject"], "user:alice");
        let daily = row(&usage, "user-daily");
        assert_eq!(daily["kind"], "budget");
        assert_eq!(daily["measure"], "cost");
        assert_eq!(daily["interval"], "day");
        assert_eq!(daily["subject"], "user:alice");
        assert_eq!(daily["used"], 1_250_000);
        assert_eq!(daily["limit"], 10_000_000);
        assert_eq!(daily["used_usd"], "1.25");
        assert_eq!(daily["limit_usd"], "10.00");
        assert_eq!(daily["remaining_usd"], "8.75");
        assert_eq!(daily["alerts_fired"], json!([10]));
        assert_eq!(daily["audit_mode"], false);
        let period = daily["period"].as_str().unwrap().to_owned();
        assert_eq!(period.len(), "2026-11-26".len(), "{period}");
        let reset = daily["reset_at"].as_str().unwrap();
        assert!(reset.ends_with("T00:00:00.000Z"), "{reset}");
        let rpm = row(&usage, "user-rpm");
        assert_eq!(rpm["kind"], "rate_limit");
        assert_eq!(rpm["measure"], "requests");
        assert_eq!(rpm["used"], 1);
        assert!(rpm.get("used_usd").is_none());
        assert!(rpm.get("period").is_none());
        let team_tokens = row(&usage, "ml-tokens");
        assert_eq!(team_tokens["subject"], "team:ml");
        assert_eq!(team_tokens["used"], 150);
        assert_eq!(team_tokens["audit_mode"], true);
        assert_eq!(team_tokens["conditional"], true, "a token budget counts model requests only");

        // Her own usage she may read; others' she may not.
        let own = hub.get("/api/v1/usage", &alice).await;
        let own = own.expect(StatusCode::OK);
        assert_eq!(own["subject"], "user:alice");
        assert_eq!(row(own, "user-daily")["used"], 1_250_000);
        let named = hub.get("/api/v1/usage?user=alice", &alice).await;
        assert_eq!(named.expect(StatusCode::OK)["subject"], "user:alice");
        hub.get("/api/v1/usage?user=admin", &alice)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.get("/api/v1/usage?team=ml", &alice)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);

        let team = hub.get("/api/v1/usage?team=ml", &admin).await;
        let team = team.expect(StatusCode::OK);
        assert_eq!(team["subject"], "team:ml");
        assert_eq!(team["limits"].as_array().unwrap().len(), 1, "{team}");
        assert_eq!(row(team, "ml-tokens")["used"], 150);
        let nobody = hub.get("/api/v1/usage?user=bob", &admin).await;
        nobody.expect_error(StatusCode::NOT_FOUND, "not_found", Some("user"));
        let both = hub.get("/api/v1/usage?user=alice&team=ml", &admin).await;
        both.expect_error(StatusCode::BAD_REQUEST, "invalid_request", None);
        let unknown = hub.get("/api/v1/usage?who=alice", &admin).await;
        unknown.expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("who"));

        // The background writer stores the usage; a restarted hub has it back.
        let stop = CancellationToken::new();
        let writer = tokio::spawn(hub.governance.clone().run_background(
            Duration::from_millis(20),
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
        writer.await.expect("the writer stops");

        let hub = hub.restart().await;
        let reply = hub.get("/api/v1/usage?user=alice", &admin).await;
        let usage = reply.expect(StatusCode::OK);
        let daily = row(usage, "user-daily");
        assert_eq!(daily["used_usd"], "1.25");
        assert_eq!(daily["period"], period.as_str());
        assert_eq!(daily["alerts_fired"], json!([10]));
        assert_eq!(row(usage, "ml-tokens")["used"], 150);
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_governance_endpoints() {
    on_every_backend(NO_CONFIG, |hub| async move {
        let doc = hub.get("/api/v1/openapi.json", &hub.admin).await;
        let doc = doc.expect(StatusCode::OK);
        let paths = doc["paths"].as_object().expect("paths");
        for (path, methods) in [
            ("/api/v1/policies", &["get", "post"][..]),
            ("/api/v1/policies/{id}", &["get", "put", "delete"]),
            ("/api/v1/roles", &["get", "post"]),
            ("/api/v1/roles/{id}", &["get", "put", "delete"]),
            ("/api/v1/rate-limits", &["get", "post"]),
            ("/api/v1/rate-limits/{id}", &["get", "put", "delete"]),
            ("/api/v1/budgets", &["get", "post"]),
            ("/api/v1/budgets/{id}", &["get", "put", "delete"]),
            ("/api/v1/guardrails", &["get", "post"]),
            ("/api/v1/guardrails/{id}", &["get", "put", "delete"]),
            ("/api/v1/guardrails/check", &["post"]),
            ("/api/v1/authz/check", &["post"]),
            ("/api/v1/usage", &["get"]),
        ] {
            let item = paths
                .get(path)
                .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"));
            for method in methods {
                assert!(item.get(*method).is_some(), "{method} {path}");
            }
        }
        let schemas = &doc["components"]["schemas"];
        for schema in [
            "PolicyRule",
            "RoleRule",
            "RateLimitRule",
            "BudgetRule",
            "GuardrailRule",
            "RuleView",
            "UsageView",
            "AuthzCheckView",
            "InspectionView",
        ] {
            assert!(schemas[schema].is_object(), "{schema}");
        }
        assert_eq!(
            schemas["RateLimitRule"]["required"],
            json!(["id", "limit_to", "unit"])
        );
    })
    .await;
}

/// Managing an admin area never reaches hub admin: a role that manages users cannot make
/// anyone an admin nor touch an admin, and one that manages keys cannot mint an admin's key.
/// An expiring key cannot give its owner a key that outlives it.
#[tokio::test]
async fn delegated_areas_stop_short_of_hub_admin() {
    on_every_backend(NO_CONFIG, |hub| async move {
        let admin = hub.admin.clone();
        let (_, helpdesk) = hub.member("helpdesk", None, &["admin", "keys"]).await;
        for (resource, action) in [("admin:users", "manage"), ("admin:keys", "manage"), ("admin:users", "read")] {
            hub.post(
                "/api/v1/policies",
                &admin,
                json!({ "subject": "user:helpdesk", "resource": resource, "action": action }),
            )
            .await
            .expect(StatusCode::CREATED);
        }
        // The delegated area works for ordinary users...
        hub.post("/api/v1/users", &helpdesk, json!({ "name": "carol" })).await.expect(StatusCode::CREATED);
        hub.call(Method::PATCH, "/api/v1/users/carol", &helpdesk, Some(json!({ "display_name": "Carol" })))
            .await
            .expect(StatusCode::OK);
        // ...but not for hub admin.
        for (method, path, body) in [
            (Method::PATCH, "/api/v1/users/helpdesk", Some(json!({ "role": "admin" }))),
            (Method::PATCH, "/api/v1/users/carol", Some(json!({ "role": "admin" }))),
            (Method::POST, "/api/v1/users", Some(json!({ "name": "mallory", "role": "admin" }))),
            (Method::PATCH, "/api/v1/users/admin", Some(json!({ "disabled": true }))),
            (Method::DELETE, "/api/v1/users/admin", None),
            (Method::POST, "/api/v1/keys", Some(json!({ "name": "x", "owner": "admin", "scopes": ["admin"] }))),
        ] {
            let reply = hub.call(method.clone(), path, &helpdesk, body).await;
            reply.expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        }
        let me = hub.get("/api/v1/users/helpdesk", &admin).await;
        assert_eq!(me.expect(StatusCode::OK)["role"], "member");

        // A key that expires cannot mint its owner a longer-lived one.
        let short = hub
            .post("/api/v1/keys", &admin, json!({ "name": "short", "owner": "carol", "scopes": ["keys"], "expires_in": "1h" }))
            .await;
        let short = short.expect(StatusCode::CREATED);
        let short_key = short["key"].as_str().unwrap().to_owned();
        let short_expiry = short["expires_at"].as_str().unwrap().to_owned();
        let inherited = hub.post("/api/v1/keys", &short_key, json!({ "name": "child", "scopes": ["keys"] })).await;
        assert_eq!(inherited.expect(StatusCode::CREATED)["expires_at"], short_expiry.as_str(), "inherits the expiry");
        hub.post("/api/v1/keys", &short_key, json!({ "name": "child", "scopes": ["keys"], "expires_in": "30d" }))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("expires_at"));
        let own_id = short["id"].as_str().unwrap();
        hub.call(Method::PATCH, &format!("/api/v1/keys/{own_id}"), &short_key, Some(json!({ "expires_at": null })))
            .await
            .expect(StatusCode::OK);
        let after = hub.get(&format!("/api/v1/keys/{own_id}"), &admin).await;
        assert_eq!(after.expect(StatusCode::OK)["expires_at"], short_expiry.as_str(), "cannot remove its own expiry");
    })
    .await;
}
