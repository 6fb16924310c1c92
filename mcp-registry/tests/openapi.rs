//! A REST API registered by its OpenAPI document: a fake API on loopback (axum) serves the
//! document and its endpoints and records every request. The connection lists one tool per
//! operation, a call reaches the API exactly as the arguments say with the registration's
//! credentials, the API's failures are error results, a bad document fails the connection,
//! and through the registry the tools are federated and a refresh re-reads the document.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub_mcp_registry::config::{McpServerConfig, McpSettings, McpTimeouts};
use agenthub_mcp_registry::registry::{Registry, State, Status};
use agenthub_mcp_registry::upstream::{Connection, Secrets};
use axum::extract::State as Shared;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, ToolAnnotations};
use serde_json::{Value, json};

struct Store(BTreeMap<&'static str, &'static str>);

impl Secrets for Store {
    fn reveal(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| (*v).to_owned())
    }
}

fn secrets() -> Store {
    Store(BTreeMap::from([("pets-token", "s3cret")]))
}

fn timeouts() -> McpTimeouts {
    McpTimeouts {
        connect: Duration::from_secs(10),
        request: Duration::from_secs(10),
    }
}

fn server(value: Value) -> McpServerConfig {
    serde_json::from_value(value).unwrap()
}

/// The fake's API in OpenAPI 3.1: parameters by reference, path, query and header parameters,
/// a required JSON body.
fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Fake Petstore", "version": "1.2.3", "description": "Pets for tests."},
        "servers": [{"url": "/v1"}],
        "paths": {
            "/pets": {"get": {
                "operationId": "listPets",
                "summary": "List pets",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "tags", "in": "query",
                     "schema": {"type": "array", "items": {"type": "string"}}},
                ],
            }},
            "/pets/{petId}": {
                "parameters": [{"$ref": "#/components/parameters/PetId"}],
                "get": {"operationId": "showPetById", "summary": "Info for a pet"},
                "delete": {"operationId": "deletePet", "summary": "Delete a pet"},
            },
            "/owners/{owner}/pets": {"post": {
                "operationId": "createPet",
                "summary": "Create a pet",
                "parameters": [
                    {"name": "owner", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "notify", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "X-Request-Id", "in": "header", "required": true,
                     "schema": {"type": "string"}},
                ],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/NewPet"}}}},
            }},
            "/huge": {"get": {"operationId": "getHuge"}},
        },
        "components": {
            "parameters": {"PetId": {"name": "petId", "in": "path", "required": true,
                                     "description": "The pet's id", "schema": {"type": "string"}}},
            "schemas": {"NewPet": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"}, "tag": {"type": "string"}}}},
        },
    })
}

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// As sent, percent-encoding included.
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The fake REST API: the document at `/openapi.json` (and, only with the bearer token, at
/// `/private/openapi.json`), a Swagger 2.0 one at `/swagger.json`, the pets under `/v1`.
#[derive(Clone)]
struct FakeApi {
    address: SocketAddr,
    document: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeApi {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Self {
            address: listener.local_addr().unwrap(),
            document: Arc::new(Mutex::new(document().to_string())),
            seen: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(Self::handle)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn set_document(&self, text: String) {
        *self.document.lock().unwrap() = text;
    }

    /// What was received, leaving nothing behind.
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    async fn handle(Shared(fake): Shared<Self>, request: axum::extract::Request) -> Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
        let path = parts.uri.path().to_owned();
        let authorized = parts
            .headers
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v == "Bearer s3cret");
        fake.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body: body.clone(),
        });
        let document = fake.document.lock().unwrap().clone();
        let json = [(header::CONTENT_TYPE, "application/json")];
        match (parts.method.as_str(), path.as_str()) {
            ("GET", "/openapi.json") => (json, document).into_response(),
            ("GET", "/private/openapi.json") if authorized => (json, document).into_response(),
            ("GET", "/private/openapi.json") => StatusCode::UNAUTHORIZED.into_response(),
            ("GET", "/swagger.json") => {
                axum::Json(json!({"swagger": "2.0", "paths": {}})).into_response()
            }
            ("GET", "/v1/pets") => axum::Json(json!([{"id": "1", "name": "Rex"}])).into_response(),
            ("GET", "/v1/huge") => "x".repeat(5 << 20).into_response(),
            ("GET", "/v1/pets/404") => (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": "no such pet"})),
            )
                .into_response(),
            ("GET", "/v1/pets/boom") => {
                (StatusCode::INTERNAL_SERVER_ERROR, "database down").into_response()
            }
            ("GET", pet) if pet.starts_with("/v1/pets/") => {
                axum::Json(json!({"id": &pet["/v1/pets/".len()..], "name": "Rex"})).into_response()
            }
            ("DELETE", pet) if pet.starts_with("/v1/pets/") => {
                StatusCode::NO_CONTENT.into_response()
            }
            ("POST", owner) if owner.starts_with("/v1/owners/") => {
                let pet: Value = serde_json::from_slice(&body).unwrap_or_default();
                (
                    StatusCode::CREATED,
                    axum::Json(json!({"id": "7", "name": pet["name"]})),
                )
                    .into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
}

async fn call(connection: &Connection, tool: &str, arguments: Value) -> CallToolResult {
    connection
        .peer()
        .call_tool(
            CallToolRequestParams::new(tool.to_owned())
                .with_arguments(arguments.as_object().unwrap().clone()),
        )
        .await
        .unwrap()
}

fn text(result: &CallToolResult) -> String {
    match result.content.as_slice() {
        [ContentBlock::Text(text)] => text.text.clone(),
        other => panic!("not one text: {other:?}"),
    }
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn operations_become_tools_that_call_the_api() {
    let fake = FakeApi::start().await;
    let config = server(json!({
        "name": "pets",
        "openapi": fake.url("/openapi.json"),
        "bearer_token": "secret:pets-token",
        "headers": {"X-Team": "platform"},
    }));
    let connection = Connection::open(&config, timeouts(), &secrets())
        .await
        .unwrap();
    let catalog = connection.catalog().await.unwrap();
    assert_eq!(
        catalog
            .server
            .as_ref()
            .map(|s| (s.name.as_str(), s.version.as_str())),
        Some(("Fake Petstore", "1.2.3"))
    );
    assert_eq!(catalog.instructions.as_deref(), Some("Pets for tests."));
    let names: Vec<&str> = catalog.tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "createPet",
            "deletePet",
            "getHuge",
            "listPets",
            "showPetById"
        ]
    );
    let tool = |name: &str| catalog.tools.iter().find(|t| t.name == name).unwrap();
    assert_eq!(
        Value::Object(tool("createPet").input_schema.as_ref().clone()),
        json!({
            "type": "object",
            "properties": {
                "owner": {"type": "string"},
                "notify": {"type": "boolean"},
                "X-Request-Id": {"type": "string"},
                "body": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "tag": {"type": "string"}}},
            },
            "required": ["owner", "X-Request-Id", "body"],
        })
    );
    assert_eq!(
        Value::Object(tool("showPetById").input_schema.as_ref().clone()),
        json!({"type": "object", "required": ["petId"], "properties": {
            "petId": {"type": "string", "description": "The pet's id"}}})
    );
    assert_eq!(
        tool("createPet").description.as_deref(),
        Some("Create a pet")
    );
    assert_eq!(tool("createPet").annotations, None);
    assert_eq!(
        tool("listPets").annotations,
        Some(ToolAnnotations::new().read_only(true))
    );
    assert_eq!(
        tool("deletePet").annotations,
        Some(ToolAnnotations::new().destructive(true))
    );
    // The document was read once, without the credentials: `url` is not set, so the API's
    // origin was not known when it was fetched.
    let seen = fake.take();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/openapi.json")
    );
    assert_eq!(header(&seen[0], "authorization"), None);

    // A call with path, query, header and body arguments.
    let result = call(
        &connection,
        "createPet",
        json!({"owner": "ann b/c", "notify": true, "X-Request-Id": "r-1",
               "body": {"name": "Rex", "tag": "dog"}, "unknown": 1}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(
        result.structured_content,
        Some(json!({"id": "7", "name": "Rex"}))
    );
    assert_eq!(
        serde_json::from_str::<Value>(&text(&result)).unwrap(),
        json!({"id": "7", "name": "Rex"})
    );
    let seen = fake.take();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let request = &seen[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/owners/ann%20b%2Fc/pets");
    assert_eq!(request.query.as_deref(), Some("notify=true"));
    assert_eq!(header(request, "authorization"), Some("Bearer s3cret"));
    assert_eq!(header(request, "x-team"), Some("platform"));
    assert_eq!(header(request, "x-request-id"), Some("r-1"));
    assert_eq!(header(request, "content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&request.body).unwrap(),
        json!({"name": "Rex", "tag": "dog"})
    );

    // Arrays in the query are repeated; a JSON array answer is text only.
    let result = call(
        &connection,
        "listPets",
        json!({"limit": 2, "tags": ["a b", "c"]}),
    )
    .await;
    assert_eq!(result.is_error, Some(false));
    assert_eq!(result.structured_content, None);
    assert_eq!(text(&result), r#"[{"id":"1","name":"Rex"}]"#);
    let seen = fake.take();
    assert_eq!(seen[0].path, "/v1/pets");
    assert_eq!(seen[0].query.as_deref(), Some("limit=2&tags=a+b&tags=c"));
    assert!(seen[0].body.is_empty());

    let result = call(&connection, "deletePet", json!({"petId": "5"})).await;
    assert_eq!(
        (result.is_error, text(&result)),
        (Some(false), "204 No Content".to_owned())
    );
    assert_eq!(fake.take()[0].method, "DELETE");

    // The API's failures are error results that say what it answered.
    // (pet id, words of the error)
    let cases = [
        (
            "404",
            "the API pets answered 404 Not Found to GET /pets/{petId}: {\"error\":\"no such pet\"}",
        ),
        (
            "boom",
            "the API pets answered 500 Internal Server Error to GET /pets/{petId}: database down",
        ),
    ];
    for (pet, words) in cases {
        let result = call(&connection, "showPetById", json!({"petId": pet})).await;
        assert_eq!(result.is_error, Some(true), "{pet}");
        assert_eq!(text(&result), words);
    }
    let result = call(&connection, "getHuge", json!({})).await;
    assert_eq!(result.is_error, Some(true));
    assert!(
        text(&result).contains("more than 4 MiB"),
        "{}",
        text(&result)
    );

    // Arguments that cannot make a request are refused before anything is sent.
    fake.take();
    for (tool, arguments, words) in [
        ("showPetById", json!({}), "missing the path parameter petId"),
        ("showPetById", json!({"petId": ".."}), "cannot be \"..\""),
        ("nothing", json!({}), "unknown tool: nothing"),
    ] {
        let error = connection
            .peer()
            .call_tool(
                CallToolRequestParams::new(tool)
                    .with_arguments(arguments.as_object().unwrap().clone()),
            )
            .await
            .unwrap_err();
        assert!(error.to_string().contains(words), "{tool}: {error}");
    }
    assert!(fake.take().is_empty());
    connection.close().await;
}

#[tokio::test]
async fn the_document_gets_the_credentials_only_from_the_apis_origin() {
    let fake = FakeApi::start().await;
    let config = server(json!({
        "name": "private",
        "transport": "openapi",
        "openapi": fake.url("/private/openapi.json"),
        "url": fake.url("/v1"),
        "bearer_token": "secret:pets-token",
    }));
    let connection = Connection::open(&config, timeouts(), &secrets())
        .await
        .unwrap();
    assert_eq!(connection.catalog().await.unwrap().tools.len(), 5);
    let seen = fake.take();
    assert_eq!(seen[0].path, "/private/openapi.json");
    assert_eq!(header(&seen[0], "authorization"), Some("Bearer s3cret"));
    let result = call(&connection, "showPetById", json!({"petId": "3"})).await;
    assert_eq!(
        result.structured_content,
        Some(json!({"id": "3", "name": "Rex"}))
    );
    connection.close().await;

    // On another origin (another port here) the document is fetched without them.
    let other = FakeApi::start().await;
    let config = server(json!({
        "name": "private",
        "openapi": other.url("/private/openapi.json"),
        "url": fake.url("/v1"),
        "bearer_token": "secret:pets-token",
    }));
    let error = Connection::open(&config, timeouts(), &secrets())
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("401 Unauthorized"), "{error}");
    assert_eq!(header(&other.take()[0], "authorization"), None);
}

#[tokio::test]
async fn an_unreachable_api_is_an_error_naming_it() {
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    // A YAML document in a file, the API's URL in the registration.
    let file = std::env::temp_dir().join(format!("agenthub-openapi-{}.yaml", std::process::id()));
    std::fs::write(
        &file,
        "openapi: 3.0.3\ninfo: {title: Down, version: '1'}\npaths:\n  /ping:\n    get:\n      \
         operationId: ping\n      responses:\n        200: {description: ok}\n",
    )
    .unwrap();
    let config = server(json!({
        "name": "down",
        "openapi": file.to_str().unwrap(),
        "url": format!("http://{address}/api"),
    }));
    let connection = Connection::open(&config, timeouts(), &secrets())
        .await
        .unwrap();
    let catalog = connection.catalog().await.unwrap();
    assert_eq!(catalog.tools.len(), 1);
    let result = call(&connection, "ping", json!({})).await;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.starts_with(&format!(
            "cannot reach the API down at http://{address} for GET /ping: "
        )),
        "{message}"
    );
    connection.close().await;
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test]
async fn a_bad_document_fails_the_connection() {
    let fake = FakeApi::start().await;
    let broken =
        std::env::temp_dir().join(format!("agenthub-openapi-bad-{}.yaml", std::process::id()));
    std::fs::write(&broken, "openapi: [3\n").unwrap();
    let broken = broken.to_str().unwrap().to_owned();
    // (document, words of the error)
    let cases = [
        (fake.url("/swagger.json"), "Swagger 2.0 document"),
        (fake.url("/missing.json"), "answered 404 Not Found"),
        // The document needs the credentials, and no `url` says the API is on its origin.
        (
            fake.url("/private/openapi.json"),
            "set `url` to the API's base URL",
        ),
        ("/nonexistent/openapi.yaml".to_owned(), "cannot read it"),
        (broken.clone(), "not valid YAML"),
    ];
    for (document, words) in cases {
        let config = server(json!({
            "name": "bad", "openapi": document, "bearer_token": "secret:pets-token",
        }));
        let error = Connection::open(&config, timeouts(), &secrets())
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            error.contains(&format!("the OpenAPI document {document}")) && error.contains(words),
            "{document}: {error}"
        );
    }
    std::fs::remove_file(&broken).unwrap();
}

/// Waits (bounded) until `pick` holds for the status of `name`.
async fn until(registry: &Registry, name: &str, pick: impl Fn(&Status) -> bool) -> Status {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = registry
            .status()
            .into_iter()
            .find(|s| s.name == name)
            .expect("registered");
        if pick(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never got there: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_registered_document_is_federated_and_refreshed() {
    let fake = FakeApi::start().await;
    let settings = McpSettings {
        timeouts: timeouts(),
        ..McpSettings::default()
    };
    let registry = Registry::new(settings, Arc::new(secrets()));
    registry.add(server(json!({
        "name": "pets", "prefix": "api", "openapi": fake.url("/openapi.json"),
        "bearer_token": "secret:pets-token",
    })));
    let status = until(&registry, "pets", |s| s.state == State::Ready).await;
    assert_eq!((status.tools, status.resources, status.prompts), (5, 0, 0));
    let federation = registry.federation();
    let origin = federation.tool_names().resolve("api__showPetById").unwrap();
    assert_eq!(
        (origin.server.as_str(), origin.upstream.as_str()),
        ("pets", "showPetById")
    );
    let connection = registry.connection("pets").unwrap();
    let result = call(&connection, &origin.upstream, json!({"petId": "9"})).await;
    assert_eq!(
        result.structured_content,
        Some(json!({"id": "9", "name": "Rex"}))
    );

    // A refresh reads the document again.
    let mut changed = document();
    changed["paths"]["/pets/{petId}/photo"] = json!({"get": {"operationId": "getPhoto"}});
    fake.set_document(changed.to_string());
    let status = registry.refresh("pets").await.unwrap();
    assert_eq!(status.tools, 6);
    assert!(
        registry
            .federation()
            .tool_names()
            .resolve("api__getPhoto")
            .is_some()
    );

    // A document broken since is refused with why, and the tools in force stay.
    fake.set_document("{\"openapi\": ".to_owned());
    let error = registry.refresh("pets").await.unwrap_err();
    assert!(error.contains("not valid JSON"), "{error}");
    assert_eq!(registry.federation().tools().len(), 6);
    let result = call(&connection, "getPhoto", json!({"petId": "9"})).await;
    assert_eq!(
        result.structured_content,
        Some(json!({"id": "9/photo", "name": "Rex"}))
    );
    registry.shutdown();
}
