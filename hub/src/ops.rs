//! Operations endpoints and the HTTP metrics layer: `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde_json::json;
use tower_http::request_id::RequestId;
use tracing::Instrument;

use crate::app::AppState;
use crate::config::ConfigErrors;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

/// The hub's Prometheus registry and the HTTP metrics in it.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    in_flight: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agenthub");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ])
        });
        let in_flight = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by route and status",
            latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served",
            in_flight.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
        }
    }

    /// Registers another metric (under the `agenthub_` prefix).
    pub fn register(
        &mut self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry.register(name, help, metric);
    }

    /// Registers metrics made at each scrape (under the `agenthub_` prefix).
    pub fn register_collector(&mut self, collector: impl prometheus_client::collector::Collector) {
        self.registry.register_collector(Box::new(collector));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One request counted in `agenthub_http_requests_in_flight`, until dropped.
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Records each request's count and latency under its route template (never the raw path,
/// which would make label cardinality unbounded), and runs it in a `request` span that names
/// its request id, so that everything logged while serving it can be found by that id.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        id = request
            .extensions()
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or(""),
        method = method.as_str(),
        route = route.as_str(),
    );
    let started = Instant::now();
    // Decremented when the request ends, or when its future is dropped (the client went away).
    let in_flight = InFlight::enter(&metrics.in_flight);
    let response = next.run(request).instrument(span).await;
    drop(in_flight);
    let labels = RouteLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Where the details of a rejected configuration change are, for `/readyz`.
const REJECTED_HINT: &str = "the configuration change was rejected; the hub's log has each error (\"configuration change rejected\")";

/// The paths of a rejected change's errors, each once, in order. Only the paths: the messages
/// quote the offending values (a URL may carry credentials) and `/readyz` is unauthenticated,
/// so they stay in the log.
fn rejected_paths(errors: &ConfigErrors) -> Vec<&str> {
    let mut paths: Vec<&str> = Vec::new();
    for error in &errors.errors {
        if !paths.contains(&error.path.as_str()) {
            paths.push(&error.path);
        }
    }
    paths
}

/// Ready when the store answers and a configuration is loaded. A rejected configuration edit
/// is reported (the paths of its errors) but does not make the hub unready: the last good
/// snapshot keeps serving.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.accounts.store().ping(crate::app::READY_TIMEOUT).await;
    let config = state.config.status();
    let loaded_at = config
        .loaded_at
        .map(|t| humantime::format_rfc3339_seconds(t).to_string());
    let rejected = config.rejected.as_ref().map(rejected_paths);
    let mut config_check = json!({
        "ok": rejected.is_none(),
        "loaded_at": loaded_at,
        "rejected_change": rejected,
    });
    if rejected.is_some() {
        config_check["details"] = json!(REJECTED_HINT);
    }
    let body = json!({
        "status": if store.is_ok() { "ready" } else { "unavailable" },
        "checks": {
            "store": match &store {
                Ok(()) => json!({ "ok": true }),
                Err(e) => json!({ "ok": false, "error": e.message() }),
            },
            "config": config_check,
        },
    });
    let status = if store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use std::time::Duration;
    use tower::ServiceExt;

    /// A request whose client goes away leaves the in-flight gauge as it found it.
    #[tokio::test]
    async fn in_flight_is_decremented_when_a_request_is_dropped() {
        let metrics = Arc::new(Metrics::new());
        let router = axum::Router::new()
            .route("/hang", get(std::future::pending::<&'static str>))
            .route("/ok", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), track));

        let ok = router
            .clone()
            .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(metrics.in_flight.get(), 0);

        let hanging =
            tokio::spawn(router.oneshot(Request::get("/hang").body(Body::empty()).unwrap()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while metrics.in_flight.get() != 1 {
            assert!(Instant::now() < deadline, "the request never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The client disconnects: hyper drops the request's future.
        hanging.abort();
        assert!(hanging.await.unwrap_err().is_cancelled());
        assert_eq!(metrics.in_flight.get(), 0);
    }

    /// `/readyz` is unauthenticated: a rejected change shows where, never what (values such
    /// as URLs may be credentials).
    #[tokio::test]
    async fn readyz_shows_only_the_paths_of_a_rejected_change() {
        use crate::config::{ConfigError, ConfigHandle, HubConfig};
        use crate::secrets::{KeyOrigin, Keyring, MasterKey};

        let test = crate::store::testing::sqlite().await;
        let keyring = Keyring::new(MasterKey::generate(), None, KeyOrigin::Env);
        let accounts = Arc::new(
            crate::directory::Accounts::load(test.store.clone(), Arc::new(keyring))
                .await
                .unwrap(),
        );
        let config = ConfigHandle::new(HubConfig::default());
        let governance = Arc::new(
            crate::governance::Governance::load(test.store.clone(), config.clone(), "test")
                .await
                .unwrap(),
        );
        let state = AppState::new(accounts, governance, config.clone());
        config.apply(Err(ConfigErrors {
            source_name: "/etc/agenthub/hub.yaml".into(),
            errors: vec![
                ConfigError::new(
                    "budget_alerts.webhook",
                    "\"https://alerts:hunter2@hooks.example.com/x\" is not an https URL",
                ),
                ConfigError::new("store.url", "\"mysql://root:s3cret@db/hub\" is unsupported"),
                ConfigError::new("budget_alerts.webhook", "another problem: hunter2"),
            ],
        }));

        let response = readyz(State(state)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        for secret in ["hunter2", "s3cret", "hooks.example.com", "mysql"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let ready: serde_json::Value = serde_json::from_str(&text).unwrap();
        let check = &ready["checks"]["config"];
        assert_eq!(check["ok"], false);
        assert_eq!(
            check["rejected_change"],
            json!(["budget_alerts.webhook", "store.url"])
        );
        assert!(
            check["details"].as_str().unwrap().contains("log"),
            "{ready}"
        );
        test.cleanup().await;
    }
}
