//! The admin REST API end to end: the hub's router driven in-process with
//! `tower::ServiceExt::oneshot` (no sockets), over a real store.
//!
//! Every scenario runs on SQLite in a temporary directory and, when `AGENTHUB_TEST_POSTGRES_URL`
//! names a Postgres server (e.g. `postgres://postgres@127.0.0.1:5432/test`), again on a fresh
//! Postgres database created for it and dropped afterwards.

mod support;

use std::future::Future;
use std::sync::Arc;

use agenthub::app::{self, AppState};
use agenthub::config::{ConfigHandle, HubConfig};
use agenthub::directory::Accounts;
use agenthub::governance::Governance;
use agenthub::store::{DatabaseUrl, Store};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::db::on_every_database;
use support::lab::{directory, store_options};
use tower::ServiceExt;

/// The one body every authentication failure gets.
const UNAUTHENTICATED: &str = r#"{"error":{"message":"missing or invalid credentials","type":"unauthenticated","retryable":false}}"#;

// ---------------------------------------------------------------------------------------------
// Databases

/// Runs `scenario` against a freshly started hub on every available database.
async fn on_every_backend<F, Fut>(scenario: F)
where
    F: Fn(Hub) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = |url| async move {
        let hub = Hub::start(url).await;
        let store = hub.accounts.store().clone();
        (hub, store)
    };
    on_every_database(start, scenario).await;
}

// ---------------------------------------------------------------------------------------------
// The hub and its answers

#[derive(Clone)]
struct Hub {
    url: DatabaseUrl,
    router: Router,
    accounts: Arc<Accounts>,
    /// The bootstrap admin key (scope `*`).
    admin: String,
}

/// An answer, with its body both as text (to look for things that must not be there) and JSON.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Reply {
    /// The JSON body, after checking the status.
    #[track_caller]
    fn expect(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        &self.json
    }

    /// The error message, after checking the status and the error body's shape and fields.
    #[track_caller]
    fn expect_error(&self, status: StatusCode, kind: &str, param: Option<&str>) -> &str {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{}",
            self.text
        );
        let error = &self.json["error"];
        assert_eq!(error["type"], kind, "{}", self.text);
        assert_eq!(error["param"].as_str(), param, "{}", self.text);
        assert_eq!(error["retryable"], kind == "unavailable", "{}", self.text);
        let fields: Vec<&str> = error
            .as_object()
            .expect("an error object")
            .keys()
            .map(String::as_str)
            .collect();
        for field in &fields {
            assert!(
                ["message", "type", "param", "retryable"].contains(field),
                "unexpected error field {field}: {}",
                self.text
            );
        }
        error["message"].as_str().expect("an error message")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Hub {
    async fn start(url: DatabaseUrl) -> Self {
        let (store, accounts, admin) = directory(&url).await;
        let config = ConfigHandle::new(HubConfig::default());
        let governance = Arc::new(
            Governance::load(store, config.clone(), "test")
                .await
                .expect("load the governance rules"),
        );
        let state = AppState::new(accounts.clone(), governance, config);
        Self {
            url,
            router: app::router(state),
            accounts,
            admin,
        }
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read the response body")
            .to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("a UTF-8 body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// A request with `key` as a bearer token and `body` as JSON.
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("a valid request"))
            .await
    }

    /// A request whose body and content type are sent as given.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin));
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    async fn put(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(key), Some(body)).await
    }

    async fn patch(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    async fn delete(&self, path: &str, key: &str) -> Reply {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// Creates a member user as the admin; returns its id.
    async fn create_user(&self, name: &str) -> String {
        let reply = self
            .post("/api/v1/users", &self.admin, json!({ "name": name }))
            .await;
        let user = reply.expect(StatusCode::CREATED);
        assert_eq!(user["name"], name);
        user["id"].as_str().unwrap().to_owned()
    }

    /// Creates a team as the admin; returns its id.
    async fn create_team(&self, name: &str) -> String {
        let reply = self
            .post("/api/v1/teams", &self.admin, json!({ "name": name }))
            .await;
        reply.expect(StatusCode::CREATED)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sets `principal`'s role in `team` as the admin.
    async fn add_member(&self, team: &str, principal: &str, role: &str) {
        self.put(
            &format!("/api/v1/teams/{team}/members/{principal}"),
            &self.admin,
            json!({ "role": role }),
        )
        .await
        .expect(StatusCode::OK);
    }

    /// Creates a key as the admin for `owner`, with `fields` added to the request; returns
    /// the key's id and secret.
    async fn create_key(&self, owner: &str, fields: Value) -> (String, String) {
        let mut body = json!({ "name": "test", "owner": owner });
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let reply = self.post("/api/v1/keys", &self.admin, body).await;
        let key = reply.expect(StatusCode::CREATED);
        (
            key["id"].as_str().unwrap().to_owned(),
            key["key"].as_str().unwrap().to_owned(),
        )
    }

    /// The names on every page of a listing of `path`, walked `limit` at a time.
    async fn walk(&self, path: &str, limit: usize) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let url = match &cursor {
                Some(c) => format!("{path}?limit={limit}&cursor={c}"),
                None => format!("{path}?limit={limit}"),
            };
            let reply = self.get(&url, &self.admin).await;
            let page = reply.expect(StatusCode::OK);
            let data = page["data"].as_array().unwrap();
            assert!(data.len() <= limit, "{url}: page too long: {}", reply.text);
            names.extend(data.iter().map(|p| p["name"].as_str().unwrap().to_owned()));
            match page.get("next_cursor") {
                Some(next) => {
                    assert_eq!(data.len(), limit, "only full pages have a next page");
                    cursor = Some(next.as_str().unwrap().to_owned());
                }
                None => return names,
            }
        }
        panic!("{path}: pagination does not end");
    }
}

fn names(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Authentication

#[tokio::test]
async fn authentication_failures_are_indistinguishable() {
    on_every_backend(|hub| async move {
        // Keys that worked, then stopped working for different reasons.
        hub.create_user("rita").await;
        hub.create_user("dora").await;
        let (revoked_id, revoked) = hub.create_key("rita", json!({ "name": "revoked" })).await;
        let (expired_id, expired) = hub
            .create_key("rita", json!({ "name": "expired", "expires_in": "1h" }))
            .await;
        let (_, disabled) = hub.create_key("dora", json!({ "name": "disabled" })).await;
        for key in [&revoked, &expired, &disabled] {
            let me = hub.get("/api/v1/me", key).await;
            assert!(
                me.expect(StatusCode::OK)["subject"]
                    .as_str()
                    .unwrap()
                    .starts_with("user:")
            );
        }

        let reply = hub
            .call(
                Method::POST,
                &format!("/api/v1/keys/{revoked_id}/revoke"),
                Some(&hub.admin),
                None,
            )
            .await;
        assert_eq!(reply.expect(StatusCode::OK)["status"], "revoked");

        // The API refuses expiries in the past, so move this one's into the past in the store
        // and reload the directory, as the refresh task does.
        let past = agenthub::store::KeyPatch {
            expires_at: Some(Some(1_000)),
            ..Default::default()
        };
        hub.accounts
            .store()
            .patch_key(&expired_id, &past, 2_000)
            .await
            .unwrap();
        hub.accounts.refresh().await.unwrap();
        let reply = hub
            .get(&format!("/api/v1/keys/{expired_id}"), &hub.admin)
            .await;
        let view = reply.expect(StatusCode::OK);
        assert_eq!(view["status"], "expired");
        assert_eq!(view["expires_at"], "1970-01-01T00:00:01.000Z");

        let reply = hub
            .patch(
                "/api/v1/users/dora",
                &hub.admin,
                json!({ "disabled": true }),
            )
            .await;
        assert_eq!(reply.expect(StatusCode::OK)["disabled"], true);

        let unknown = format!("ahk_{}", "A1b2C3d4E5".repeat(4));
        let admin = hub.admin.clone();
        let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
            ("no credentials", vec![]),
            (
                "garbage bearer token",
                vec![("authorization", "Bearer garbage".into())],
            ),
            ("garbage x-api-key", vec![("x-api-key", "not-a-key".into())]),
            (
                "empty bearer token",
                vec![("authorization", "Bearer ".into())],
            ),
            ("empty x-api-key", vec![("x-api-key", " ".into())]),
            (
                "unknown well-formed key",
                vec![("authorization", format!("Bearer {unknown}"))],
            ),
            (
                "unknown key as x-api-key",
                vec![("x-api-key", unknown.clone())],
            ),
            (
                "valid key, wrong scheme",
                vec![("authorization", format!("Token {admin}"))],
            ),
            (
                "valid key, basic auth",
                vec![("authorization", format!("Basic {admin}"))],
            ),
            (
                "revoked key",
                vec![("authorization", format!("Bearer {revoked}"))],
            ),
            (
                "revoked key as x-api-key",
                vec![("x-api-key", revoked.clone())],
            ),
            (
                "expired key",
                vec![("authorization", format!("Bearer {expired}"))],
            ),
            (
                "disabled user's key",
                vec![("authorization", format!("Bearer {disabled}"))],
            ),
            (
                "disabled user's key as x-api-key",
                vec![("x-api-key", disabled.clone())],
            ),
        ];
        // A write with a valid body, to show that authentication is checked first.
        let routes = [
            (Method::GET, "/api/v1/me", None),
            (Method::GET, "/api/v1/users", None),
            (
                Method::POST,
                "/api/v1/users",
                Some(r#"{"name":"intruder"}"#),
            ),
            (Method::DELETE, "/api/v1/secrets/anything", None),
        ];
        for (case, headers) in &cases {
            for (method, path, body) in &routes {
                let mut request = Request::builder().method(method.clone()).uri(*path);
                for (name, value) in headers {
                    request = request.header(*name, value);
                }
                if body.is_some() {
                    request = request.header(header::CONTENT_TYPE, "application/json");
                }
                let body = body.map_or_else(Body::empty, Body::from);
                let reply = hub.send(request.body(body).unwrap()).await;
                assert_eq!(
                    reply.status,
                    StatusCode::UNAUTHORIZED,
                    "{case}: {method} {path}"
                );
                assert_eq!(reply.text, UNAUTHENTICATED, "{case}: {method} {path}");
                assert_eq!(
                    reply.header("www-authenticate"),
                    Some(r#"Bearer realm="agenthub""#),
                    "{case}: {method} {path}"
                );
            }
        }
        let users = hub.get("/api/v1/users", &hub.admin).await;
        assert!(!names(users.expect(StatusCode::OK)).contains(&"intruder"));

        // Both ways of presenting a key work, and the scheme is case-insensitive.
        for (name, value) in [
            ("authorization", format!("Bearer {admin}")),
            ("authorization", format!("bearer {admin}")),
            ("x-api-key", admin.clone()),
        ] {
            let request = Request::builder()
                .uri("/api/v1/me")
                .header(name, value)
                .body(Body::empty())
                .unwrap();
            let reply = hub.send(request).await;
            let me = reply.expect(StatusCode::OK);
            assert_eq!(me["subject"], "user:admin", "{name}");
            assert_eq!(me["principal"]["role"], "admin");
            assert_eq!(me["scopes"], json!(["*"]));
        }

        // A disabled user's keys work again once the user is enabled.
        hub.patch(
            "/api/v1/users/dora",
            &hub.admin,
            json!({ "disabled": false }),
        )
        .await
        .expect(StatusCode::OK);
        let me = hub.get("/api/v1/me", &disabled).await;
        assert_eq!(me.expect(StatusCode::OK)["subject"], "user:dora");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 2. Authorization

#[tokio::test]
async fn members_reach_only_what_their_roles_and_scopes_allow() {
    on_every_backend(|hub| async move {
        let alice_id = hub.create_user("alice").await;
        let (alice_key_id, alice) = hub.create_key("alice", json!({ "name": "laptop" })).await;
        let admin_me = hub.get("/api/v1/me", &hub.admin).await;
        let admin_key_id = admin_me.expect(StatusCode::OK)["key_id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Hub-wide writes are for hub admins.
        let writes = [
            ("/api/v1/users", json!({ "name": "mallory" })),
            ("/api/v1/service-accounts", json!({ "name": "bot" })),
            ("/api/v1/teams", json!({ "name": "alices-team" })),
            ("/api/v1/secrets", json!({ "name": "stolen", "value": "x" })),
        ];
        for (path, body) in writes {
            let reply = hub.post(path, &alice, body).await;
            let message = reply.expect_error(StatusCode::FORBIDDEN, "forbidden", None);
            assert_eq!(
                message, "the credentials used do not allow this operation",
                "{path}"
            );
        }
        for path in ["/api/v1/users", "/api/v1/secrets", "/api/v1/secrets/x"] {
            hub.get(path, &alice)
                .await
                .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        }
        hub.patch("/api/v1/users/alice", &alice, json!({ "role": "admin" }))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);

        // Herself she can see; whether other users exist she cannot tell.
        let me = hub.get("/api/v1/me", &alice).await;
        let me = me.expect(StatusCode::OK);
        assert_eq!(me["subject"], "user:alice");
        assert_eq!(me["key_id"], alice_key_id.as_str());
        assert_eq!(me["scopes"], json!(["keys", "llm", "mcp", "a2a"]));
        assert_eq!(me["principal"]["id"], alice_id.as_str());
        assert_eq!(me["principal"]["role"], "member");
        let own = hub.get("/api/v1/users/alice", &alice).await;
        assert_eq!(own.expect(StatusCode::OK)["id"], alice_id.as_str());
        let existing = hub.get("/api/v1/users/admin", &alice).await;
        let missing = hub.get("/api/v1/users/nobody", &alice).await;
        existing.expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        assert_eq!(existing.text, missing.text);
        assert_eq!(existing.status, missing.status);

        // Her own keys only; another's key is "not found", whatever she tries to do with it.
        let keys = hub.get("/api/v1/keys", &alice).await;
        let keys = keys.expect(StatusCode::OK);
        let ids: Vec<&str> = keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [alice_key_id.as_str()]);
        assert_eq!(keys["data"][0]["owner"], "alice");
        hub.get(&format!("/api/v1/keys/{alice_key_id}"), &alice)
            .await
            .expect(StatusCode::OK);
        let not_found = format!(r#"key "{admin_key_id}" not found"#);
        for reply in [
            hub.get(&format!("/api/v1/keys/{admin_key_id}"), &alice)
                .await,
            hub.call(
                Method::POST,
                &format!("/api/v1/keys/{admin_key_id}/revoke"),
                Some(&alice),
                None,
            )
            .await,
            hub.patch(
                &format!("/api/v1/keys/{admin_key_id}"),
                &alice,
                json!({ "name": "mine now" }),
            )
            .await,
            hub.delete(&format!("/api/v1/keys/{admin_key_id}"), &alice)
                .await,
        ] {
            let message = reply.expect_error(StatusCode::NOT_FOUND, "not_found", None);
            assert_eq!(message, not_found);
        }
        let me = hub.get("/api/v1/me", &hub.admin).await;
        assert_eq!(me.expect(StatusCode::OK)["subject"], "user:admin");
        // Listing another's keys is refused alike whether or not that principal exists.
        let existing = hub.get("/api/v1/keys?owner=admin", &alice).await;
        let missing = hub.get("/api/v1/keys?owner=nobody", &alice).await;
        existing.expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        assert_eq!(existing.text, missing.text);
        assert_eq!(existing.status, missing.status);

        // Keys cannot carry more than the key that creates them.
        let reply = hub
            .post(
                "/api/v1/keys",
                &alice,
                json!({ "name": "escalate", "scopes": ["llm", "admin"] }),
            )
            .await;
        let message = reply.expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        assert_eq!(
            message,
            "a key cannot be given scopes that the credentials creating it do not have"
        );
        hub.post(
            "/api/v1/keys",
            &alice,
            json!({ "name": "all", "scopes": ["*"] }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.patch(
            &format!("/api/v1/keys/{alice_key_id}"),
            &alice,
            json!({ "scopes": ["admin"] }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.post(
            "/api/v1/keys",
            &alice,
            json!({ "name": "for admin", "owner": "admin" }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        let narrower = hub
            .post(
                "/api/v1/keys",
                &alice,
                json!({ "name": "llm only", "scopes": ["llm"] }),
            )
            .await;
        let narrower = narrower.expect(StatusCode::CREATED);
        assert_eq!(narrower["owner"], "alice");
        assert_eq!(narrower["scopes"], json!(["llm"]));
        // A key without the `keys` scope cannot manage keys, not even its own.
        let llm_only = narrower["key"].as_str().unwrap();
        hub.post("/api/v1/keys", llm_only, json!({ "name": "more" }))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.get("/api/v1/keys", llm_only).await.expect_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
        );
        let all_keys = hub.get("/api/v1/keys", &hub.admin).await;
        assert_eq!(
            all_keys.expect(StatusCode::OK)["data"]
                .as_array()
                .unwrap()
                .len(),
            3,
            "the refused requests created nothing: {}",
            all_keys.text
        );

        // A read-only admin key reads everything and changes nothing.
        let (_, reader) = hub
            .create_key(
                "admin",
                json!({ "name": "dashboards", "scopes": ["admin:read"] }),
            )
            .await;
        for path in [
            "/api/v1/users",
            "/api/v1/teams",
            "/api/v1/secrets",
            "/api/v1/keys",
        ] {
            hub.get(path, &reader).await.expect(StatusCode::OK);
        }
        let users = hub.get("/api/v1/users", &reader).await;
        assert_eq!(names(users.expect(StatusCode::OK)), ["admin", "alice"]);
        for (path, body) in [
            ("/api/v1/users", json!({ "name": "mallory" })),
            ("/api/v1/teams", json!({ "name": "t" })),
            ("/api/v1/secrets", json!({ "name": "s", "value": "v" })),
        ] {
            hub.post(path, &reader, body).await.expect_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                None,
            );
        }
        hub.patch("/api/v1/users/alice", &reader, json!({ "disabled": true }))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.post(
            "/api/v1/keys",
            &reader,
            json!({ "name": "x", "scopes": ["admin"] }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
    })
    .await;
}

#[tokio::test]
async fn team_managers_manage_their_own_team_only() {
    on_every_backend(|hub| async move {
        hub.create_team("ml").await;
        hub.create_team("ops").await;
        hub.create_team("research").await;
        for user in ["olivia", "bob", "carol"] {
            hub.create_user(user).await;
        }
        hub.add_member("ml", "olivia", "owner").await;
        hub.add_member("research", "olivia", "viewer").await;
        hub.add_member("ml", "carol", "admin").await;
        let (_, olivia) = hub
            .create_key("olivia", json!({ "name": "admin", "scopes": ["admin"] }))
            .await;
        let (_, olivia_default) = hub.create_key("olivia", json!({ "name": "default" })).await;
        let (_, carol) = hub
            .create_key("carol", json!({ "name": "admin", "scopes": ["admin"] }))
            .await;

        // The owner adds a member to her team.
        let reply = hub
            .put(
                "/api/v1/teams/ml/members/bob",
                &olivia,
                json!({ "role": "member" }),
            )
            .await;
        let member = reply.expect(StatusCode::OK);
        assert_eq!(member["name"], "bob");
        assert_eq!(member["kind"], "user");
        assert_eq!(member["role"], "member");
        let members = hub.get("/api/v1/teams/ml/members", &olivia).await;
        let mut roles: Vec<(String, String)> = members
            .expect(StatusCode::OK)
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        roles.sort();
        assert_eq!(
            roles,
            [
                ("bob".to_owned(), "member".to_owned()),
                ("carol".to_owned(), "admin".to_owned()),
                ("olivia".to_owned(), "owner".to_owned()),
            ]
        );

        // Not to a team she is not in (which she cannot even see), nor to one she only views.
        let reply = hub
            .put(
                "/api/v1/teams/ops/members/bob",
                &olivia,
                json!({ "role": "member" }),
            )
            .await;
        let message = reply.expect_error(StatusCode::NOT_FOUND, "not_found", None);
        assert_eq!(message, r#"team "ops" not found"#);
        hub.get("/api/v1/teams/ops", &olivia).await.expect_error(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
        hub.put(
            "/api/v1/teams/research/members/bob",
            &olivia,
            json!({ "role": "member" }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        let teams = hub.get("/api/v1/teams", &olivia).await;
        assert_eq!(names(teams.expect(StatusCode::OK)), ["ml", "research"]);

        // Managing a team needs the `admin` scope as well as the team role.
        hub.put(
            "/api/v1/teams/ml/members/bob",
            &olivia_default,
            json!({ "role": "viewer" }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        // A team admin manages members but not owners.
        hub.put(
            "/api/v1/teams/ml/members/bob",
            &carol,
            json!({ "role": "viewer" }),
        )
        .await
        .expect(StatusCode::OK);
        for (method, body) in [
            (Method::PUT, Some(json!({ "role": "owner" }))),
            (Method::DELETE, None),
        ] {
            hub.call(
                method,
                "/api/v1/teams/ml/members/olivia",
                Some(&carol),
                body,
            )
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        }
        hub.put(
            "/api/v1/teams/ml/members/bob",
            &carol,
            json!({ "role": "owner" }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        // Team managers cannot create or delete teams.
        hub.post("/api/v1/teams", &olivia, json!({ "name": "mine" }))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden", None);
        hub.delete("/api/v1/teams/ml", &olivia).await.expect_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
        );
        // The owner removes a member.
        let reply = hub.delete("/api/v1/teams/ml/members/bob", &olivia).await;
        reply.expect(StatusCode::NO_CONTENT);
        assert_eq!(reply.text, "");
        let team = hub.get("/api/v1/teams/ml", &olivia).await;
        assert_eq!(team.expect(StatusCode::OK)["member_count"], 2);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 3. Bad input

#[tokio::test]
async fn bad_input_is_rejected_with_the_field_named() {
    on_every_backend(|hub| async move {
        hub.create_user("dup").await;
        hub.create_team("dup-team").await;
        const JSON: Option<&str> = Some("application/json");
        const BAD: StatusCode = StatusCode::BAD_REQUEST;
        const CONFLICT: StatusCode = StatusCode::CONFLICT;
        const INVALID: &str = "invalid_request";
        let (post, put, patch) = (Method::POST, Method::PUT, Method::PATCH);
        // (case, method, path, content type, body, status, type, param, message fragment)
        #[rustfmt::skip]
        let cases = [
            ("malformed JSON", &post, "/api/v1/users", JSON, r#"{"name":"#, BAD, INVALID, None, "invalid JSON"),
            ("not JSON at all", &post, "/api/v1/users", JSON, "name=x", BAD, INVALID, None, "invalid JSON"),
            ("trailing data", &post, "/api/v1/users", JSON, r#"{"name":"x"} {}"#, BAD, INVALID, None, "invalid JSON"),
            ("empty body", &post, "/api/v1/users", JSON, "", BAD, INVALID, None, "invalid JSON"),
            ("unknown field", &post, "/api/v1/users", JSON, r#"{"name":"x","nmae":1}"#, BAD, INVALID, Some("nmae"), "nmae: unknown field `nmae`"),
            ("wrong type", &post, "/api/v1/users", JSON, r#"{"name":5}"#, BAD, INVALID, Some("name"), "name: invalid type: integer `5`, expected a string"),
            ("wrong type, later field", &post, "/api/v1/users", JSON, r#"{"name":"x","email":["a@b"]}"#, BAD, INVALID, Some("email"), "email: invalid type: sequence"),
            ("unknown role", &post, "/api/v1/users", JSON, r#"{"name":"x","role":"root"}"#, BAD, INVALID, Some("role"), "role: "),
            ("missing field", &post, "/api/v1/users", JSON, "{}", BAD, INVALID, None, "missing field `name`"),
            ("array instead of object", &post, "/api/v1/users", JSON, r#"["bob", null, null, null]"#, BAD, INVALID, None, "the request body must be a JSON object"),
            ("not an object", &post, "/api/v1/users", JSON, "5", BAD, INVALID, None, "invalid request body: invalid type: integer `5`, expected struct CreateUser"),
            ("invalid user name", &post, "/api/v1/users", JSON, r#"{"name":"has space"}"#, BAD, INVALID, Some("name"), r#"name: invalid name "has space""#),
            ("user name shaped like an id", &post, "/api/v1/users", JSON, r#"{"name":"0190a0e4-7b1c-7cc3-98e0-6d0d4c1f4a3b"}"#, BAD, INVALID, Some("name"), "name: invalid name"),
            ("invalid email", &post, "/api/v1/users", JSON, r#"{"name":"x","email":"nope"}"#, BAD, INVALID, Some("email"), r#"email: "nope" is not an email address"#),
            ("missing content-type", &post, "/api/v1/users", None, r#"{"name":"x"}"#, BAD, INVALID, None, "expected a JSON body with content-type: application/json"),
            ("wrong content-type", &post, "/api/v1/users", Some("text/plain"), r#"{"name":"x"}"#, BAD, INVALID, None, "expected a JSON body with content-type: application/json"),
            ("duplicate user", &post, "/api/v1/users", JSON, r#"{"name":"dup"}"#, CONFLICT, "conflict", None, r#"a user or service account named "dup" already exists"#),
            ("duplicate service account name", &post, "/api/v1/service-accounts", JSON, r#"{"name":"dup"}"#, CONFLICT, "conflict", None, r#"a user or service account named "dup" already exists"#),
            ("invalid team name", &post, "/api/v1/teams", JSON, r#"{"name":"-ml"}"#, BAD, INVALID, Some("name"), r#"name: invalid name "-ml""#),
            ("duplicate team", &post, "/api/v1/teams", JSON, r#"{"name":"dup-team"}"#, CONFLICT, "conflict", None, r#"a team named "dup-team" already exists"#),
            ("bad scope", &post, "/api/v1/keys", JSON, r#"{"name":"k","scopes":["llm","root"]}"#, BAD, INVALID, Some("scopes[1]"), r#"scopes[1]: unknown scope "root""#),
            ("scope of the wrong type", &post, "/api/v1/keys", JSON, r#"{"name":"k","scopes":["llm",7]}"#, BAD, INVALID, Some("scopes[1]"), "scopes[1]: invalid type: integer `7`"),
            ("no scopes", &post, "/api/v1/keys", JSON, r#"{"name":"k","scopes":[]}"#, BAD, INVALID, Some("scopes"), "scopes: a key needs at least one scope"),
            ("blank key name", &post, "/api/v1/keys", JSON, r#"{"name":"  "}"#, BAD, INVALID, Some("name"), "name: must be 1-100 characters"),
            ("unknown team", &post, "/api/v1/keys", JSON, r#"{"name":"k","team":"nope"}"#, BAD, INVALID, Some("team"), r#"team: no team "nope""#),
            ("owner not in the team", &post, "/api/v1/keys", JSON, r#"{"name":"k","team":"dup-team"}"#, BAD, INVALID, Some("team"), "team: admin is not a member of team dup-team"),
            ("unknown owner", &post, "/api/v1/keys", JSON, r#"{"name":"k","owner":"ghost"}"#, BAD, INVALID, Some("owner"), r#"owner: no user or service account "ghost""#),
            ("expires_at in the past", &post, "/api/v1/keys", JSON, r#"{"name":"k","expires_at":"2001-01-01T00:00:00Z"}"#, BAD, INVALID, Some("expires_at"), "expires_at: must be in the future"),
            ("expires_at not a time", &post, "/api/v1/keys", JSON, r#"{"name":"k","expires_at":"tomorrow"}"#, BAD, INVALID, Some("expires_at"), "expires_at: expected an RFC 3339 time"),
            ("expires_in not a duration", &post, "/api/v1/keys", JSON, r#"{"name":"k","expires_in":"soon"}"#, BAD, INVALID, Some("expires_in"), "expires_in: expected a duration"),
            ("both expiries", &post, "/api/v1/keys", JSON, r#"{"name":"k","expires_in":"1d","expires_at":"2999-01-01T00:00:00Z"}"#, BAD, INVALID, None, "give expires_at or expires_in, not both"),
            ("unknown team member role", &put, "/api/v1/teams/dup-team/members/dup", JSON, r#"{"role":"boss"}"#, BAD, INVALID, Some("role"), "role: "),
            ("unknown field in a patch", &patch, "/api/v1/users/dup", JSON, r#"{"disabled":true,"admin":true}"#, BAD, INVALID, Some("admin"), "admin: unknown field `admin`"),
            ("invalid secret name", &post, "/api/v1/secrets", JSON, r#"{"name":"bad name","value":"v"}"#, BAD, INVALID, Some("name"), r#"name: invalid secret name "bad name""#),
            ("empty secret value", &post, "/api/v1/secrets", JSON, r#"{"name":"s","value":""}"#, BAD, INVALID, Some("value"), "value: must not be empty"),
        ];
        for (case, method, path, content_type, body, status, kind, param, fragment) in cases {
            let reply = hub.raw(method.clone(), path, content_type, body).await;
            let message = reply.expect_error(status, kind, param);
            assert!(
                message.contains(fragment),
                "{case}: message {message:?} lacks {fragment:?}"
            );
            // Positions help with syntax errors; past those, the field name is what helps.
            if !fragment.starts_with("invalid JSON") {
                assert!(
                    !message.contains(" at line "),
                    "{case}: parser positions mean nothing to callers: {message:?}"
                );
            }
        }

        // Nothing was created, and `dup` was not changed, by the rejected requests.
        let users = hub.get("/api/v1/users", &hub.admin).await;
        let users = users.expect(StatusCode::OK);
        assert_eq!(names(users), ["admin", "dup"]);
        assert_eq!(users["data"][1]["disabled"], false);
        let accounts = hub.get("/api/v1/service-accounts", &hub.admin).await;
        assert_eq!(names(accounts.expect(StatusCode::OK)), Vec::<&str>::new());
        let teams = hub.get("/api/v1/teams", &hub.admin).await;
        assert_eq!(names(teams.expect(StatusCode::OK)), ["dup-team"]);
        let keys = hub.get("/api/v1/keys", &hub.admin).await;
        assert_eq!(names(keys.expect(StatusCode::OK)), ["bootstrap"]);
        let secrets = hub.get("/api/v1/secrets", &hub.admin).await;
        assert_eq!(names(secrets.expect(StatusCode::OK)), Vec::<&str>::new());
        let members = hub.get("/api/v1/teams/dup-team/members", &hub.admin).await;
        assert_eq!(members.expect(StatusCode::OK), &json!([]));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Keys

#[tokio::test]
async fn keys_are_shown_once_and_revocation_is_immediate() {
    on_every_backend(|hub| async move {
        let kim_id = hub.create_user("kim").await;
        hub.create_team("ml").await;
        hub.add_member("ml", "kim", "member").await;
        let reply = hub
            .post(
                "/api/v1/keys",
                &hub.admin,
                json!({
                    "name": "laptop",
                    "owner": "kim",
                    "team": "ml",
                    "scopes": ["llm", "keys"],
                    "expires_in": "30d",
                }),
            )
            .await;
        let created = reply.expect(StatusCode::CREATED).clone();
        let secret = created["key"].as_str().unwrap().to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("ahk_"), "{secret}");
        assert_eq!(secret.len(), 44);
        assert!(secret[4..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(reply.text.matches(&secret).count(), 1, "{}", reply.text);
        assert_eq!(created["prefix"], &secret[..10]);
        assert_eq!(created["name"], "laptop");
        assert_eq!(created["owner"], "kim");
        assert_eq!(created["owner_id"], kim_id.as_str());
        assert_eq!(created["team"], "ml");
        assert_eq!(created["scopes"], json!(["keys", "llm"]));
        assert_eq!(created["status"], "active");
        assert!(created["expires_at"].is_string());
        assert!(created.get("last_used_at").is_none());
        assert!(created.get("revoked_at").is_none());
        let hash = agenthub::keys::hash(&secret);

        // Never again: not in the key's metadata, not in any listing.
        let views = [
            hub.get(&format!("/api/v1/keys/{id}"), &hub.admin).await,
            hub.get("/api/v1/keys", &hub.admin).await,
            hub.get("/api/v1/keys?owner=kim", &hub.admin).await,
            hub.get(&format!("/api/v1/keys?owner={kim_id}"), &hub.admin).await,
        ];
        for reply in &views {
            reply.expect(StatusCode::OK);
            assert!(reply.text.contains(&id), "{}", reply.text);
            assert!(!reply.text.contains(&secret[10..]), "{}", reply.text);
            assert!(!reply.text.contains(&hash), "{}", reply.text);
            assert!(!reply.text.contains("\"key\""), "{}", reply.text);
        }
        let view = &views[0].json;
        for field in ["id", "name", "prefix", "owner", "owner_id", "team", "scopes", "status", "expires_at", "created_at"] {
            assert_eq!(view[field], created[field], "{field}");
        }
        let only_kims = &views[2].json;
        assert_eq!(names(only_kims), ["laptop"]);

        // The new key authenticates as its owner, and its use is recorded.
        let me = hub.get("/api/v1/me", &secret).await;
        let me = me.expect(StatusCode::OK);
        assert_eq!(me["subject"], "user:kim");
        assert_eq!(me["key_id"], id.as_str());
        assert_eq!(me["scopes"], json!(["keys", "llm"]));
        assert_eq!(me["principal"]["teams"], json!([{ "team_id": hub.accounts.snapshot().team("ml").unwrap().id, "team": "ml", "role": "member" }]));
        let view = hub.get(&format!("/api/v1/keys/{id}"), &hub.admin).await;
        assert!(view.expect(StatusCode::OK)["last_used_at"].is_string());

        // With the `keys` scope, kim manages her own keys.
        let own = hub
            .post("/api/v1/keys", &secret, json!({ "name": "ci", "scopes": ["llm"] }))
            .await;
        let own = own.expect(StatusCode::CREATED);
        assert_eq!(own["owner"], "kim");
        let renamed = hub
            .patch(&format!("/api/v1/keys/{id}"), &secret, json!({ "name": "old laptop" }))
            .await;
        assert_eq!(renamed.expect(StatusCode::OK)["name"], "old laptop");

        // Revoked: refused at once, still listed as revoked, revoking again changes nothing.
        let revoked = hub
            .call(Method::POST, &format!("/api/v1/keys/{id}/revoke"), Some(&hub.admin), None)
            .await;
        let revoked = revoked.expect(StatusCode::OK).clone();
        assert_eq!(revoked["status"], "revoked");
        assert!(revoked["revoked_at"].is_string());
        assert!(!revoked.to_string().contains(&secret));
        let refused = hub.get("/api/v1/me", &secret).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.text, UNAUTHENTICATED);
        let view = hub.get(&format!("/api/v1/keys/{id}"), &hub.admin).await;
        let view = view.expect(StatusCode::OK);
        assert_eq!(view["status"], "revoked");
        assert_eq!(view["revoked_at"], revoked["revoked_at"]);
        let again = hub
            .call(Method::POST, &format!("/api/v1/keys/{id}/revoke"), Some(&hub.admin), None)
            .await;
        assert_eq!(again.expect(StatusCode::OK)["revoked_at"], revoked["revoked_at"]);
        // The revocation is stored, not only in memory.
        let rows = hub.accounts.store().load_directory().await.unwrap();
        let row = rows.keys.iter().find(|k| k.id == id).unwrap();
        assert!(row.revoked_at.is_some());
        assert_eq!(row.hash, hash);

        // Deleted: gone.
        let deleted = hub.delete(&format!("/api/v1/keys/{id}"), &hub.admin).await;
        deleted.expect(StatusCode::NO_CONTENT);
        hub.get(&format!("/api/v1/keys/{id}"), &hub.admin)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found", None);
        let kims = hub.get("/api/v1/keys?owner=kim", &hub.admin).await;
        assert_eq!(names(kims.expect(StatusCode::OK)), ["ci"]);
        let ghost = hub.get("/api/v1/keys?owner=ghost", &hub.admin).await;
        let message = ghost.expect_error(StatusCode::NOT_FOUND, "not_found", None);
        assert_eq!(message, r#"owner "ghost" not found"#);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 5. Secrets

#[tokio::test]
async fn secret_values_go_in_and_never_come_out() {
    on_every_backend(|hub| async move {
        let first = "sk-live-FIRST-0123456789";
        let second = "sk-live-SECOND-9876543210";
        let key_id = hub.accounts.keyring().current().id().to_owned();
        let mut bodies = Vec::new();

        let reply = hub
            .post(
                "/api/v1/secrets",
                &hub.admin,
                json!({ "name": "openai.prod", "value": first, "description": "OpenAI production" }),
            )
            .await;
        let created = reply.expect(StatusCode::CREATED).clone();
        assert_eq!(created["name"], "openai.prod");
        assert_eq!(created["description"], "OpenAI production");
        assert_eq!(created["key_id"], key_id.as_str());
        assert_eq!(created["created_at"], created["updated_at"]);
        assert!(created.get("value").is_none());
        bodies.push(reply.text);
        assert_eq!(hub.accounts.reveal_secret("openai.prod").unwrap().as_deref(), Some(first));

        let duplicate = hub
            .post("/api/v1/secrets", &hub.admin, json!({ "name": "openai.prod", "value": second }))
            .await;
        let message = duplicate.expect_error(StatusCode::CONFLICT, "conflict", None);
        assert_eq!(message, r#"a secret named "openai.prod" already exists"#);
        bodies.push(duplicate.text);
        assert_eq!(
            hub.accounts.reveal_secret("openai.prod").unwrap().as_deref(),
            Some(first),
            "a refused create leaves the value alone"
        );

        for name in ["bad name", "-leading", "a/b", ""] {
            let reply = hub
                .post("/api/v1/secrets", &hub.admin, json!({ "name": name, "value": second }))
                .await;
            let message = reply.expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("name"));
            assert!(message.starts_with("name: invalid secret name"), "{message}");
            bodies.push(reply.text);
        }
        let reply = hub
            .put("/api/v1/secrets/-leading", &hub.admin, json!({ "value": second }))
            .await;
        reply.expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("name"));

        let list = hub.get("/api/v1/secrets", &hub.admin).await;
        assert_eq!(names(list.expect(StatusCode::OK)), ["openai.prod"]);
        assert!(list.json["data"][0].get("value").is_none());
        bodies.push(list.text);
        let got = hub.get("/api/v1/secrets/openai.prod", &hub.admin).await;
        assert_eq!(got.expect(StatusCode::OK), &created);
        bodies.push(got.text);

        // A new value; the description stays unless given.
        let put = hub
            .put("/api/v1/secrets/openai.prod", &hub.admin, json!({ "value": second }))
            .await;
        let updated = put.expect(StatusCode::OK).clone();
        assert_eq!(updated["name"], "openai.prod");
        assert_eq!(updated["description"], "OpenAI production");
        assert_eq!(updated["created_at"], created["created_at"]);
        assert!(updated["updated_at"].as_str() >= created["updated_at"].as_str());
        bodies.push(put.text);
        assert_eq!(hub.accounts.reveal_secret("openai.prod").unwrap().as_deref(), Some(second));
        let got = hub.get("/api/v1/secrets/openai.prod", &hub.admin).await;
        assert_eq!(got.expect(StatusCode::OK), &updated);
        bodies.push(got.text);

        // PUT also creates.
        let put = hub
            .put("/api/v1/secrets/anthropic", &hub.admin, json!({ "value": first, "description": "claude" }))
            .await;
        assert_eq!(put.expect(StatusCode::OK)["description"], "claude");
        bodies.push(put.text);
        let list = hub.get("/api/v1/secrets", &hub.admin).await;
        assert_eq!(names(list.expect(StatusCode::OK)), ["anthropic", "openai.prod"]);
        bodies.push(list.text);

        // Stored sealed, not in clear.
        let rows = hub.accounts.store().load_directory().await.unwrap();
        assert_eq!(rows.secrets.len(), 2);
        for row in &rows.secrets {
            assert!(!row.ciphertext.contains("sk-live"));
            assert_eq!(row.meta.key_id, key_id);
        }

        let deleted = hub.delete("/api/v1/secrets/openai.prod", &hub.admin).await;
        deleted.expect(StatusCode::NO_CONTENT);
        assert_eq!(deleted.text, "");
        hub.get("/api/v1/secrets/openai.prod", &hub.admin)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found", None);
        hub.delete("/api/v1/secrets/openai.prod", &hub.admin)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found", None);
        assert_eq!(hub.accounts.reveal_secret("openai.prod").unwrap(), None);
        assert_eq!(hub.accounts.reveal_secret("anthropic").unwrap().as_deref(), Some(first));

        for body in &bodies {
            assert!(!body.contains(first) && !body.contains(second), "a value leaked: {body}");
            assert!(!body.contains("sk-live"), "a value leaked: {body}");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 6. Pagination

#[tokio::test]
async fn pagination_walks_every_item_once_in_a_stable_order() {
    on_every_backend(|hub| async move {
        let mut expected = vec!["admin".to_owned()];
        for i in 0..7 {
            let name = format!("user{i}");
            hub.create_user(&name).await;
            expected.push(name);
        }
        // Service accounts are listed elsewhere and do not disturb the pages of users.
        hub.post(
            "/api/v1/service-accounts",
            &hub.admin,
            json!({ "name": "bot" }),
        )
        .await
        .expect(StatusCode::CREATED);

        let all = hub.get("/api/v1/users?limit=500", &hub.admin).await;
        let all = all.expect(StatusCode::OK);
        assert_eq!(names(all), expected);
        assert!(all.get("next_cursor").is_none());
        let default_page = hub.get("/api/v1/users", &hub.admin).await;
        assert_eq!(default_page.expect(StatusCode::OK), all);

        for limit in [1, 3, 4, 8, 9] {
            let walked = hub.walk("/api/v1/users", limit).await;
            assert_eq!(walked, expected, "limit={limit}");
        }
        let again = hub.walk("/api/v1/users", 3).await;
        assert_eq!(again, expected, "the same walk twice gives the same order");

        // Pages of three: 3 + 3 + 2, the cursors leading on and the last page without one.
        let page1 = hub.get("/api/v1/users?limit=3", &hub.admin).await;
        let page1 = page1.expect(StatusCode::OK);
        assert_eq!(names(page1), ["admin", "user0", "user1"]);
        let cursor = page1["next_cursor"].as_str().unwrap();
        let page2 = hub
            .get(
                &format!("/api/v1/users?limit=3&cursor={cursor}"),
                &hub.admin,
            )
            .await;
        let page2 = page2.expect(StatusCode::OK);
        assert_eq!(names(page2), ["user2", "user3", "user4"]);
        let cursor = page2["next_cursor"].as_str().unwrap();
        let page3 = hub
            .get(
                &format!("/api/v1/users?limit=3&cursor={cursor}"),
                &hub.admin,
            )
            .await;
        let page3 = page3.expect(StatusCode::OK);
        assert_eq!(names(page3), ["user5", "user6"]);
        assert!(page3.get("next_cursor").is_none());

        // A new user created mid-walk appears at the end, not in pages already read.
        hub.create_user("late").await;
        let page3 = hub
            .get(
                &format!("/api/v1/users?limit=3&cursor={cursor}"),
                &hub.admin,
            )
            .await;
        assert_eq!(
            names(page3.expect(StatusCode::OK)),
            ["user5", "user6", "late"]
        );

        let service = hub.walk("/api/v1/service-accounts", 1).await;
        assert_eq!(service, ["bot"]);

        for (query, param) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("cursor=garbage", "cursor"),
            ("cursor=%25%25%25", "cursor"),
            ("limit=2&cursor=not%20a%20cursor", "cursor"),
        ] {
            for path in [
                "/api/v1/users",
                "/api/v1/teams",
                "/api/v1/keys",
                "/api/v1/secrets",
            ] {
                let reply = hub.get(&format!("{path}?{query}"), &hub.admin).await;
                reply.expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some(param));
            }
        }
        let message = hub
            .get("/api/v1/users?limit=0", &hub.admin)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("limit"))
            .to_owned();
        assert_eq!(message, "limit: must be between 1 and 500");
        // Query strings the API cannot parse get the same error shape as bodies.
        for (query, param) in [
            ("limit=many", "limit"),
            ("limit=-1", "limit"),
            ("page=2", "page"),
        ] {
            let reply = hub.get(&format!("/api/v1/users?{query}"), &hub.admin).await;
            reply.expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some(param));
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 7. Store lost while running

#[tokio::test]
async fn losing_the_store_keeps_reads_and_loses_no_acknowledged_write() {
    on_every_backend(|hub| async move {
        hub.create_user("before").await;
        hub.create_team("ml").await;
        hub.add_member("ml", "before", "admin").await;
        let (key_id, key) = hub.create_key("before", json!({ "name": "k" })).await;
        hub.post(
            "/api/v1/secrets",
            &hub.admin,
            json!({ "name": "s", "value": "v1" }),
        )
        .await
        .expect(StatusCode::CREATED);

        hub.accounts.store().close().await;

        // Reads are served from memory and keys still authenticate.
        let users = hub.get("/api/v1/users", &hub.admin).await;
        assert_eq!(names(users.expect(StatusCode::OK)), ["admin", "before"]);
        let me = hub.get("/api/v1/me", &key).await;
        let me = me.expect(StatusCode::OK);
        assert_eq!(me["subject"], "user:before");
        assert_eq!(me["principal"]["teams"][0]["team"], "ml");
        for path in [
            "/api/v1/teams/ml/members",
            "/api/v1/keys",
            "/api/v1/secrets/s",
            "/api/v1/users/before",
        ] {
            hub.get(path, &hub.admin).await.expect(StatusCode::OK);
        }

        // Writes are refused as retryable, and none is half-applied.
        let revoke = format!("/api/v1/keys/{key_id}/revoke");
        let writes: Vec<(Method, &str, Option<Value>)> = vec![
            (
                Method::POST,
                "/api/v1/users",
                Some(json!({ "name": "during" })),
            ),
            (
                Method::PATCH,
                "/api/v1/users/before",
                Some(json!({ "disabled": true })),
            ),
            (Method::DELETE, "/api/v1/users/before", None),
            (
                Method::POST,
                "/api/v1/teams",
                Some(json!({ "name": "new-team" })),
            ),
            (
                Method::PUT,
                "/api/v1/teams/ml/members/before",
                Some(json!({ "role": "viewer" })),
            ),
            (
                Method::POST,
                "/api/v1/keys",
                Some(json!({ "name": "k2", "owner": "before" })),
            ),
            (Method::POST, &revoke, None),
            (
                Method::PUT,
                "/api/v1/secrets/s",
                Some(json!({ "value": "v2" })),
            ),
            (Method::DELETE, "/api/v1/secrets/s", None),
        ];
        for (method, path, body) in writes {
            let reply = hub.call(method.clone(), path, Some(&hub.admin), body).await;
            let message = reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", None);
            assert_eq!(
                message, "the store is unavailable; the change was not saved, try again later",
                "{method} {path}"
            );
        }
        let users = hub.get("/api/v1/users", &hub.admin).await;
        let users = users.expect(StatusCode::OK);
        assert_eq!(names(users), ["admin", "before"]);
        assert_eq!(users["data"][1]["disabled"], false);
        let me = hub.get("/api/v1/me", &key).await;
        assert_eq!(
            me.expect(StatusCode::OK)["principal"]["teams"][0]["role"],
            "admin"
        );
        let keys = hub.get("/api/v1/keys", &hub.admin).await;
        assert_eq!(names(keys.expect(StatusCode::OK)), ["bootstrap", "k"]);
        assert_eq!(
            hub.accounts.reveal_secret("s").unwrap().as_deref(),
            Some("v1")
        );
        let ready = hub.get("/readyz", &hub.admin).await;
        assert_eq!(
            ready.expect(StatusCode::SERVICE_UNAVAILABLE)["checks"]["store"]["ok"],
            false
        );

        // Everything acknowledged before is in the database; nothing refused is.
        let store = Store::open(&hub.url, &store_options()).await.unwrap();
        let rows = store.load_directory().await.unwrap();
        let principals: Vec<&str> = rows.principals.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(principals, ["admin", "before"]);
        assert!(rows.principals.iter().all(|p| p.disabled_at.is_none()));
        let teams: Vec<&str> = rows.teams.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(teams, ["ml"]);
        assert_eq!(rows.memberships.len(), 1);
        assert_eq!(rows.memberships[0].role.as_str(), "admin");
        let keys: Vec<&str> = rows.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(keys, ["bootstrap", "k"]);
        assert!(rows.keys.iter().all(|k| k.revoked_at.is_none()));
        assert_eq!(rows.secrets.len(), 1);
        assert_eq!(
            hub.accounts.keyring().open(&rows.secrets[0]).unwrap(),
            b"v1"
        );
        store.close().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 8. Operations

#[tokio::test]
async fn health_and_readiness() {
    on_every_backend(|hub| async move {
        let health = hub.call(Method::GET, "/healthz", None, None).await;
        assert_eq!(health.expect(StatusCode::OK), &json!({ "status": "ok" }));

        let ready = hub.call(Method::GET, "/readyz", None, None).await;
        let ready = ready.expect(StatusCode::OK);
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["checks"]["store"], json!({ "ok": true }));
        assert_eq!(ready["checks"]["config"]["ok"], true);
        assert!(ready["checks"]["config"]["loaded_at"].is_string());

        hub.accounts.store().close().await;
        let ready = hub.call(Method::GET, "/readyz", None, None).await;
        let ready = ready.expect(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready["status"], "unavailable");
        assert_eq!(ready["checks"]["store"]["ok"], false);
        assert!(ready["checks"]["store"]["error"].is_string());
        // Liveness does not depend on the store.
        let health = hub.call(Method::GET, "/healthz", None, None).await;
        health.expect(StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    on_every_backend(|hub| async move {
        let mut seen = Vec::new();
        for (path, key) in [
            ("/healthz", None),
            ("/api/v1/me", None),
            ("/api/v1/me", Some(&hub.admin)),
            ("/nowhere", None),
        ] {
            let reply = hub
                .call(Method::GET, path, key.map(String::as_str), None)
                .await;
            let id = reply
                .header("x-request-id")
                .unwrap_or_else(|| panic!("{path}: no x-request-id"));
            uuid::Uuid::parse_str(id)
                .unwrap_or_else(|e| panic!("{path}: {id:?} is not a UUID: {e}"));
            seen.push(id.to_owned());
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 4, "each request gets its own id");

        for (path, key) in [
            ("/healthz", None),
            ("/api/v1/me", None),
            ("/api/v1/users", Some(hub.admin.clone())),
        ] {
            let mut request = Request::builder()
                .uri(path)
                .header("x-request-id", "client-chosen-42");
            if let Some(key) = key {
                request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
            }
            let reply = hub.send(request.body(Body::empty()).unwrap()).await;
            assert_eq!(
                reply.header("x-request-id"),
                Some("client-chosen-42"),
                "{path}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    on_every_backend(|hub| async move {
        hub.get("/api/v1/users", &hub.admin).await.expect(StatusCode::OK);
        hub.get("/api/v1/users/admin", &hub.admin).await.expect(StatusCode::OK);
        hub.call(Method::GET, "/api/v1/users", None, None).await;
        hub.call(Method::GET, "/definitely/not/a/route", None, None).await;

        let metrics = hub.call(Method::GET, "/metrics", None, None).await;
        assert_eq!(metrics.status, StatusCode::OK);
        assert_eq!(
            metrics.header("content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        let lines: Vec<&str> = metrics.text.lines().collect();
        for expected in [
            r#"agenthub_http_requests_total{method="GET",route="/api/v1/users",status="200"} 1"#,
            r#"agenthub_http_requests_total{method="GET",route="/api/v1/users",status="401"} 1"#,
            r#"agenthub_http_requests_total{method="GET",route="/api/v1/users/{id}",status="200"} 1"#,
            r#"agenthub_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        ] {
            assert!(lines.contains(&expected), "missing {expected} in:\n{}", metrics.text);
        }
        // Raw paths never become labels.
        assert!(!metrics.text.contains("/api/v1/users/admin"));
        assert!(!metrics.text.contains("/definitely/not/a/route"));
        assert!(metrics.text.contains("# TYPE agenthub_http_request_duration_seconds histogram"));
        assert!(metrics.text.trim_end().ends_with("# EOF"));
    })
    .await;
}

#[tokio::test]
async fn unknown_routes_answer_a_json_error() {
    on_every_backend(|hub| async move {
        for (path, key) in [
            ("/nope", None),
            ("/api/v1/nope", Some(hub.admin.clone())),
            ("/api/v2/users", Some(hub.admin.clone())),
        ] {
            let reply = hub.call(Method::GET, path, key.as_deref(), None).await;
            let message = reply.expect_error(StatusCode::NOT_FOUND, "not_found", None);
            assert_eq!(message, "route not found", "{path}");
            assert_eq!(
                reply.text,
                r#"{"error":{"message":"route not found","type":"not_found","retryable":false}}"#
            );
        }
    })
    .await;
}

#[tokio::test]
async fn wrong_methods_and_oversized_bodies_answer_json_errors() {
    on_every_backend(|hub| async move {
        let reply = hub
            .raw(Method::PUT, "/api/v1/users", Some("application/json"), "{}")
            .await;
        reply.expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);

        // Over the default 16 MiB limit, declared up front by Content-Length.
        let huge = format!(
            r#"{{"name":"x","display_name":"{}"}}"#,
            "y".repeat(17 * 1024 * 1024)
        );
        let reply = hub
            .raw(
                Method::POST,
                "/api/v1/users",
                Some("application/json"),
                &huge,
            )
            .await;
        reply.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None);
        let users = hub.get("/api/v1/users", &hub.admin).await;
        assert_eq!(names(users.expect(StatusCode::OK)), ["admin"]);
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    on_every_backend(|hub| async move {
        let reply = hub
            .call(Method::GET, "/api/v1/openapi.json", None, None)
            .await;
        let doc = reply.expect(StatusCode::OK);
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3."),
            "{}",
            reply.text
        );
        let paths = doc["paths"].as_object().expect("paths");
        for (path, methods) in [
            ("/api/v1/users", &["get", "post"][..]),
            ("/api/v1/users/{id}", &["get", "patch", "delete"]),
            ("/api/v1/service-accounts", &["get", "post"]),
            ("/api/v1/teams/{id}/members", &["get"]),
            ("/api/v1/teams/{id}/members/{principal}", &["put", "delete"]),
            ("/api/v1/keys", &["get", "post"]),
            ("/api/v1/keys/{id}", &["get", "patch", "delete"]),
            ("/api/v1/keys/{id}/revoke", &["post"]),
            ("/api/v1/secrets", &["get", "post"]),
            ("/api/v1/secrets/{name}", &["get", "put", "delete"]),
            ("/api/v1/me", &["get"]),
        ] {
            let item = paths.get(path).unwrap_or_else(|| {
                panic!("{path} missing from {:?}", paths.keys().collect::<Vec<_>>())
            });
            for method in methods {
                assert!(item.get(*method).is_some(), "{method} {path}");
            }
        }
        let parameters: Vec<&str> = paths["/api/v1/users"]["get"]["parameters"]
            .as_array()
            .expect("list parameters")
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(parameters, ["limit", "cursor"]);
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["api_key"]["name"], "x-api-key");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    })
    .await;
}
