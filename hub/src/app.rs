//! The hub's HTTP application: shared state and the router, with its layers composed in named
//! stages.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::a2a::A2aPlane;
use crate::auth::AuthService;
use crate::config::ConfigHandle;
use crate::directory::Accounts;
use crate::error::Error;
use crate::governance::Governance;
use crate::llm::LlmPlane;
use crate::mcp::McpPlane;
use crate::ops::{self, Metrics};
use crate::telemetry::Telemetry;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub accounts: Arc<Accounts>,
    pub config: ConfigHandle,
    pub metrics: Arc<Metrics>,
    /// JWT issuers, OIDC providers and sessions.
    pub auth: Arc<AuthService>,
    /// Authorization, rate limits and budgets in force.
    pub governance: Arc<Governance>,
    /// The LLM plane's engine: provider clients and targets' health.
    pub llm: Arc<LlmPlane>,
    /// The MCP plane: registered upstream servers, kept connected.
    pub mcp: Arc<McpPlane>,
    /// The A2A plane: registered agents and their cards.
    pub a2a: Arc<A2aPlane>,
    /// Request records and the audit trail, on their way to the store.
    pub telemetry: Arc<Telemetry>,
}

impl AppState {
    /// The state for a directory and a configuration, with fresh metrics.
    pub fn new(accounts: Arc<Accounts>, governance: Arc<Governance>, config: ConfigHandle) -> Self {
        let mut metrics = Metrics::new();
        let auth = AuthService::new(accounts.clone(), &config.snapshot().auth, &mut metrics);
        governance.register_metrics(&mut metrics);
        let llm = Arc::new(LlmPlane::new(accounts.clone(), &mut metrics));
        let mcp = Arc::new(McpPlane::new(
            accounts.clone(),
            &config.snapshot(),
            &governance,
            &mut metrics,
        ));
        let telemetry = Telemetry::start(
            accounts.store().clone(),
            &config.snapshot().telemetry,
            &mut metrics,
        );
        let a2a = Arc::new(A2aPlane::new(
            accounts.clone(),
            &config.snapshot(),
            &governance,
            &mut metrics,
            telemetry.clone(),
        ));
        metrics.register_collector(crate::telemetry::gauges::ScrapeGauges {
            governance: governance.clone(),
            llm: llm.clone(),
            mcp: mcp.clone(),
            a2a: a2a.clone(),
        });
        Self {
            telemetry,
            llm,
            mcp,
            a2a,
            accounts,
            config,
            metrics: Arc::new(metrics),
            auth,
            governance,
        }
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

/// Builds the whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let config = state.config.snapshot();
    let max_body = config.server.max_body_bytes;
    let (admin_api, openapi) = crate::api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    let routes = Router::new()
        .merge(admin_api)
        .merge(crate::auth::routes::router())
        .merge(crate::llm::router(config.llm.max_body_bytes))
        .merge(crate::mcp::router(&state, &config.mcp))
        .merge(crate::a2a::router())
        .route(
            &format!("{}/openapi.json", crate::api::PREFIX),
            get(move || async move { Json(openapi.as_ref().clone()) }),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { Error::not_found("route") })
        .method_not_allowed_fallback(|| async {
            Error::new(
                agenthub_policy::ErrorKind::MethodNotAllowed,
                "this route does not accept this method",
            )
        });

    // Stages, outermost first: identify the request, hide credentials from anything that
    // prints headers, audit it (admin changes, logins, denials), set aside a malformed
    // metadata header if so configured, measure it and trace it in a
    // span named by its id, contain panics, bound its body.
    let identify = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, TimeOrderedIds))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID));
    let redact = SetSensitiveRequestHeadersLayer::new([
        axum::http::header::AUTHORIZATION,
        HeaderName::from_static("x-api-key"),
    ]);
    let measure = axum::middleware::from_fn_with_state(state.metrics.clone(), ops::track);
    let audit = axum::middleware::from_fn_with_state(
        state.telemetry.clone(),
        crate::telemetry::trail::record,
    );
    let metadata = axum::middleware::from_fn_with_state(
        state.config.clone(),
        crate::governance::lenient_metadata,
    );
    let contain = CatchPanicLayer::custom(|_| {
        axum::response::IntoResponse::into_response(Error::internal("a handler panicked"))
    });
    // Enforced by the body extractors, which answer 413 in the hub's error shape.
    let bound = axum::extract::DefaultBodyLimit::max(max_body);

    routes
        .layer(
            ServiceBuilder::new()
                .layer(identify)
                .layer(redact)
                .layer(audit)
                .layer(metadata)
                .layer(measure)
                .layer(contain)
                .layer(bound),
        )
        .with_state(state)
}

/// Request ids for requests that come without one: UUID v7, so ids sort by time in logs and
/// stores. The random part comes from a per-thread generator seeded by the OS, not from a
/// system call per request.
#[derive(Clone, Copy)]
struct TimeOrderedIds;

impl MakeRequestId for TimeOrderedIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let millis = crate::model::now_millis().try_into().unwrap_or(0);
        let random: [u8; 10] = fastrand::u128(..).to_le_bytes()[..10]
            .try_into()
            .unwrap_or_default();
        let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        axum::http::HeaderValue::from_str(text)
            .ok()
            .map(RequestId::new)
    }
}

/// How long `/readyz` waits for the store.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
