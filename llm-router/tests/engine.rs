//! The engine over HTTP, against fake providers on 127.0.0.1: Vertex AI called with a Google
//! service account (the access token minted at the key's `token_uri`, reused, renewed near
//! expiry, renewed when the secret rotates or Vertex refuses it; the token endpoint's failures)
//! and a provider naming its error in a header (Bedrock's `x-amzn-ErrorType`).
//!
//! The service account's key is a throwaway generated for these tests
//! (`tests/fixtures/vertex/README.md`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub_llm_router::catalog::{Catalog, Route};
use agenthub_llm_router::config::{LlmSettings, ModelConfig, ProviderConfig, Sections};
use agenthub_llm_router::engine::{CallContext, ChatAnswer, Engine, Failure, Outcome, Secrets};
use agenthub_llm_router::google_auth::{AssertionClaims, pem_block};
use agenthub_llm_router::model::{ChatRequest, ChatResponse, Message};
use agenthub_llm_router::routing::RequestHints;
use agenthub_llm_router::{Error, ErrorKind};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

const KEY_FILE: &str = include_str!("fixtures/vertex/service_account.json");
const PUBLIC_KEY: &str = include_str!("fixtures/vertex/service_account.pub.pem");
const CLIENT_EMAIL: &str = "agenthub-test@agenthub-test.iam.gserviceaccount.com";

/// The hub's secret store.
#[derive(Default)]
struct Store(Mutex<HashMap<String, String>>);

impl Store {
    fn set(&self, name: &str, value: impl Into<String>) {
        self.0.lock().unwrap().insert(name.into(), value.into());
    }
}

impl Secrets for Store {
    fn reveal(&self, name: &str) -> Option<String> {
        self.0.lock().unwrap().get(name).cloned()
    }
}

/// Google's token endpoint and Vertex AI's `generateContent`, as far as the engine uses them.
#[derive(Default)]
struct Google {
    token_uri: String,
    /// Seconds the next tokens last.
    lifetime: u64,
    /// Answer token requests with `invalid_grant`.
    refuse: bool,
    /// How long the token endpoint takes.
    delay: Duration,
    /// Tokens handed out, and the ones since revoked.
    issued: Vec<String>,
    revoked: HashSet<String>,
    /// The `Authorization` of every `generateContent` call.
    bearers: Vec<String>,
}

type Shared = Arc<Mutex<Google>>;

async fn token(State(google): State<Shared>, headers: HeaderMap, form: String) -> Response {
    let (delay, token_uri) = {
        let google = google.lock().unwrap();
        (google.delay, google.token_uri.clone())
    };
    tokio::time::sleep(delay).await;
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    let fields: HashMap<&str, &str> = form.split('&').filter_map(|f| f.split_once('=')).collect();
    assert_eq!(
        fields["grant_type"],
        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    );
    // What Google checks: signed by the account's key, for this endpoint, at most an hour.
    let public = pem_block(PUBLIC_KEY, "RSA PUBLIC KEY").unwrap().unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[token_uri]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    let verified = jsonwebtoken::decode::<AssertionClaims>(
        fields["assertion"],
        &jsonwebtoken::DecodingKey::from_rsa_der(&public),
        &validation,
    );
    let mut google = google.lock().unwrap();
    let valid = verified.is_ok_and(|jwt| {
        jwt.claims.scope == "https://www.googleapis.com/auth/cloud-platform"
            && jwt.claims.exp - jwt.claims.iat <= 3600
    });
    if google.refuse || !valid {
        let body = json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let token = format!("ya29.test-{}", google.issued.len() + 1);
    google.issued.push(token.clone());
    axum::Json(
        json!({"access_token": token, "expires_in": google.lifetime, "token_type": "Bearer"}),
    )
    .into_response()
}

async fn generate_content(
    State(google): State<Shared>,
    Path((project, location, call)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    assert_eq!(
        (project.as_str(), location.as_str(), call.as_str()),
        (
            "agenthub-test",
            "us-central1",
            "gemini-2.0-flash:generateContent"
        )
    );
    let mut google = google.lock().unwrap();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    google.bearers.push(bearer.clone());
    let token = bearer.strip_prefix("Bearer ").unwrap_or_default();
    if !google.issued.iter().any(|t| t == token) || google.revoked.contains(token) {
        let body = json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    axum::Json(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello!"}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
        "modelVersion": "gemini-2.0-flash",
        "responseId": "r-1"
    }))
    .into_response()
}

/// Serves `app` on 127.0.0.1; its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn engine() -> Engine {
    Engine::new()
}

fn catalog(provider: Value, model: Value) -> Catalog {
    let providers: Vec<ProviderConfig> = vec![serde_json::from_value(provider).unwrap()];
    let models: Vec<ModelConfig> = vec![serde_json::from_value(model).unwrap()];
    Catalog::build(Sections {
        settings: &LlmSettings::default(),
        providers: &providers,
        models: &models,
        virtual_models: &[],
    })
    .unwrap()
}

async fn chat(
    engine: &Engine,
    route: &Route,
    settings: &LlmSettings,
    secrets: &Store,
) -> Result<ChatResponse, Failure> {
    let request = ChatRequest {
        model: route.name.clone(),
        messages: vec![Message::user("Hi")],
        ..ChatRequest::default()
    };
    let cx = CallContext {
        settings,
        secrets,
        hints: RequestHints::default(),
    };
    match engine.chat(route, &request, cx).await?.0 {
        ChatAnswer::Complete(response) => Ok(response),
        ChatAnswer::Stream(_) => panic!("asked for a complete answer"),
    }
}

/// The key file with its token endpoint on the fake, `variant` making it another secret value
/// (a rotation) with the same key.
fn key_file(token_uri: &str, variant: u32) -> String {
    let mut key: Value = serde_json::from_str(KEY_FILE).unwrap();
    key["token_uri"] = token_uri.into();
    key["client_id"] = format!("10000000000000000000{variant}").into();
    key.to_string()
}

#[tokio::test]
async fn vertex_is_called_with_service_account_tokens() {
    let google: Shared = Arc::new(Mutex::new(Google {
        lifetime: 3600,
        ..Google::default()
    }));
    let app = axum::Router::new()
        .route("/token", post(token))
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{call}",
            post(generate_content),
        )
        .with_state(google.clone());
    let base = serve(app).await;
    let token_uri = format!("{base}/token");
    google.lock().unwrap().token_uri = token_uri.clone();
    let catalog = catalog(
        json!({"name": "vertex", "kind": "vertex", "base_url": base, "region": "us-central1",
               "project": "agenthub-test", "service_account": "secret:vertex-sa"}),
        json!({"name": "gemini", "provider": "vertex", "model": "gemini-2.0-flash"}),
    );
    let route = catalog.route("gemini").unwrap();
    let provider = route.targets[0].0.provider.clone();
    let settings = LlmSettings::default();
    let secrets = Store::default();
    let engine = engine();
    let fetched = || google.lock().unwrap().issued.len();
    let bearers = || google.lock().unwrap().bearers.clone();

    // Minted once, then reused; the bearer reaches Vertex.
    secrets.set("vertex-sa", key_file(&token_uri, 1));
    for _ in 0..2 {
        let answer = chat(&engine, route, &settings, &secrets).await.unwrap();
        assert_eq!(answer.choices[0].message.text.as_deref(), Some("Hello!"));
    }
    assert_eq!(fetched(), 1);
    assert_eq!(bearers(), ["Bearer ya29.test-1", "Bearer ya29.test-1"]);

    // A rotated secret takes effect at once; concurrent calls wait for one fetch.
    secrets.set("vertex-sa", key_file(&token_uri, 2));
    google.lock().unwrap().delay = Duration::from_millis(200);
    let calls = (0..6).map(|_| chat(&engine, route, &settings, &secrets));
    for answer in futures::future::join_all(calls).await {
        answer.unwrap();
    }
    google.lock().unwrap().delay = Duration::ZERO;
    assert_eq!(fetched(), 2);
    assert_eq!(bearers()[2..], ["Bearer ya29.test-2"; 6]);

    // A token with less than five minutes left is renewed before use.
    google.lock().unwrap().lifetime = 240;
    secrets.set("vertex-sa", key_file(&token_uri, 3));
    chat(&engine, route, &settings, &secrets).await.unwrap();
    chat(&engine, route, &settings, &secrets).await.unwrap();
    assert_eq!(fetched(), 4);
    assert_eq!(bearers()[8..], ["Bearer ya29.test-3", "Bearer ya29.test-4"]);

    // The token endpoint refuses: the call fails as the hub's setup, without reaching Vertex.
    google.lock().unwrap().refuse = true;
    secrets.set("vertex-sa", key_file(&token_uri, 4));
    let failure = chat(&engine, route, &settings, &secrets).await.unwrap_err();
    assert_eq!(failure.error.kind(), ErrorKind::UpstreamFailed);
    assert_eq!(failure.attempts.len(), 1);
    assert!(
        matches!(&failure.attempts[0].outcome, Outcome::Failed { status: None, kind: ErrorKind::UpstreamFailed, reason } if reason.contains("not set up")),
        "{:?}",
        failure.attempts
    );
    assert!(failure.error.public_message().contains("not set up"));
    assert_eq!(bearers().len(), 10);
    // The log line says what went wrong, and nothing secret.
    let Err(Error::Setup(message)) = engine.credential(&provider, &secrets).await else {
        panic!("a token endpoint refusal is a setup error");
    };
    assert_eq!(
        message,
        format!(
            "service account {CLIENT_EMAIL}: the token endpoint {token_uri} refused the \
             assertion (400 invalid_grant: Invalid JWT Signature.)"
        )
    );
    // A token that has not expired yet outlives a failed renewal.
    secrets.set("vertex-sa", key_file(&token_uri, 3));
    chat(&engine, route, &settings, &secrets).await.unwrap();
    assert_eq!(bearers()[10], "Bearer ya29.test-4");

    // The token endpoint is down.
    let down = "http://127.0.0.1:9/token";
    secrets.set("vertex-sa", key_file(down, 5));
    let Err(Error::Setup(message)) = engine.credential(&provider, &secrets).await else {
        panic!("an unreachable token endpoint is a setup error");
    };
    assert_eq!(
        message,
        format!(
            "service account {CLIENT_EMAIL}: the token endpoint {down} could not be reached \
             (could not connect)"
        )
    );

    // A secret that is not a key file, or no secret at all.
    secrets.set("vertex-sa", "not json");
    let Err(Error::Setup(message)) = engine.credential(&provider, &secrets).await else {
        panic!("an unreadable key is a setup error");
    };
    assert_eq!(
        message,
        "the service account secret \"vertex-sa\" is not a service account JSON key file \
         (unreadable at line 1, column 2)"
    );
    secrets.0.lock().unwrap().clear();
    let Err(Error::Setup(message)) = engine.credential(&provider, &secrets).await else {
        panic!("a missing secret is a setup error");
    };
    assert_eq!(
        message,
        "the credential secret \"vertex-sa\" does not exist"
    );

    // Vertex refuses a token (revoked early): the next call mints a new one.
    google.lock().unwrap().refuse = false;
    google.lock().unwrap().lifetime = 3600;
    secrets.set("vertex-sa", key_file(&token_uri, 6));
    chat(&engine, route, &settings, &secrets).await.unwrap();
    assert_eq!(fetched(), 5);
    google
        .lock()
        .unwrap()
        .revoked
        .insert("ya29.test-5".to_owned());
    let failure = chat(&engine, route, &settings, &secrets).await.unwrap_err();
    assert!(
        matches!(
            failure.attempts[0].outcome,
            Outcome::Failed {
                status: Some(401),
                ..
            }
        ),
        "{:?}",
        failure.attempts
    );
    chat(&engine, route, &settings, &secrets).await.unwrap();
    assert_eq!(fetched(), 6);
    assert_eq!(bearers().last().unwrap(), "Bearer ya29.test-6");
}

/// Bedrock names some errors only in the `x-amzn-ErrorType` header.
async fn converse(
    Path(model): Path<String>,
    State(models): State<Arc<Mutex<Vec<String>>>>,
) -> Response {
    let calls = {
        let mut models = models.lock().unwrap();
        models.push(model);
        models.len()
    };
    let (code, error_type, message) = if calls == 1 {
        (
            StatusCode::BAD_REQUEST,
            "ServiceQuotaExceededException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "Your request exceeds the service quota for your account.",
        )
    } else {
        (
            StatusCode::FAILED_DEPENDENCY,
            "ModelErrorException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "The model failed to process the request.",
        )
    };
    (
        code,
        [("x-amzn-ErrorType", error_type)],
        axum::Json(json!({"message": message})),
    )
        .into_response()
}

#[tokio::test]
async fn error_types_in_headers_are_read() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/model/{model}/converse", post(converse))
        .with_state(calls.clone());
    let base = serve(app).await;
    let catalog = catalog(
        json!({"name": "bedrock", "kind": "bedrock", "base_url": base, "region": "us-east-1",
               "aws": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}}),
        json!({"name": "claude", "provider": "bedrock", "model": "anthropic.claude-3-haiku-20240307-v1:0"}),
    );
    let route = catalog.route("claude").unwrap();
    let mut settings = LlmSettings::default();
    settings.retry.initial_backoff = Duration::from_millis(1);
    settings.retry.on_status.push(424);
    let secrets = Store::default();
    let engine = engine();

    // Without the header, a 400 would be the caller's mistake; the quota is the hub's account.
    let failure = chat(&engine, route, &settings, &secrets).await.unwrap_err();
    assert_eq!(
        failure.attempts[0].outcome,
        Outcome::Failed {
            status: Some(400),
            kind: ErrorKind::UpstreamFailed,
            reason: "400 ServiceQuotaExceededException".into(),
        }
    );
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(
        calls.lock().unwrap()[0],
        "anthropic.claude-3-haiku-20240307-v1:0"
    );

    // A model failure (424) is retried when the retry settings list it.
    let failure = chat(&engine, route, &settings, &secrets).await.unwrap_err();
    let reasons: Vec<&Outcome> = failure.attempts.iter().map(|a| &a.outcome).collect();
    let failed = Outcome::Failed {
        status: Some(424),
        kind: ErrorKind::UpstreamFailed,
        reason: "424 ModelErrorException".into(),
    };
    assert_eq!(reasons, [&failed, &failed]);
    assert_eq!(failure.error.kind(), ErrorKind::UpstreamFailed);
}
