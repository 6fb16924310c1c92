//! OpenTelemetry export: each request record becomes a span of its trace, sent to an OTLP
//! collector over HTTP with protobuf bodies (`POST …/v1/traces`, `application/x-protobuf`).
//!
//! Model calls follow the GenAI semantic conventions (`gen_ai.*`), tool calls the MCP ones
//! (`mcp.method.name`, `gen_ai.tool.name`), A2A hops are client spans named by method and
//! agent. Spans are made by the telemetry writer, off the request path, and sent in batches by
//! a task of their own: a collector that is down is retried with backoff and, past its bounded
//! queue, spans are dropped (counted) — requests never wait for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prost::Message;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::event::{Plane, RequestEvent, Status as RecordStatus};
use crate::ops::Metrics;

/// The `telemetry.otlp` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's traces URL, e.g. `http://otel-collector:4318/v1/traces`.
    pub endpoint: String,
    /// Headers sent with every export (e.g. an API key of a hosted backend).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The share of traces exported, 0.0–1.0 (default 1.0), decided by trace id: every span
    /// of a trace is exported or none.
    #[serde(default = "full_sampling")]
    pub sampling: f64,
    /// `service.name` of the spans' resource.
    #[serde(default = "service_name")]
    pub service_name: String,
    /// How long one export may take.
    #[serde(default = "export_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn full_sampling() -> f64 {
    1.0
}

fn service_name() -> String {
    "agenthub".to_owned()
}

fn export_timeout() -> Duration {
    Duration::from_secs(10)
}

impl OtlpConfig {
    pub fn check(&self, errors: &mut Vec<crate::config::ConfigError>) {
        let mut err = |path: &str, message: String| {
            errors.push(crate::config::ConfigError::new(path, message));
        };
        match reqwest::Url::parse(&self.endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => err(
                "telemetry.otlp.endpoint",
                format!(
                    "\"{}\" is not an http(s) URL (e.g. http://collector:4318/v1/traces)",
                    self.endpoint
                ),
            ),
        }
        if !(0.0..=1.0).contains(&self.sampling) {
            err(
                "telemetry.otlp.sampling",
                "must be between 0.0 and 1.0".to_owned(),
            );
        }
        for name in self.headers.keys() {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                err(
                    &format!("telemetry.otlp.headers.{name}"),
                    "is not a valid header name".to_owned(),
                );
            }
        }
    }
}

/// Spans waiting to be sent; past it they are dropped.
const QUEUE: usize = 8192;
/// The most spans in one export.
const BATCH: usize = 512;
/// How long the exporter waits for more spans before sending what it has.
const LINGER: Duration = Duration::from_secs(1);
/// Attempts per batch, with backoff doubling from the first wait.
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExportLabels {
    result: &'static str,
}

/// The exporter's handle: spans in, counted.
pub struct Otlp {
    queue: mpsc::Sender<Span>,
    sampling: f64,
    spans: Family<ExportLabels, Counter>,
}

impl Otlp {
    /// Starts the export task.
    pub fn start(config: &OtlpConfig, metrics: &mut Metrics) -> Arc<Self> {
        let spans = Family::<ExportLabels, Counter>::default();
        metrics.register(
            "otlp_spans",
            "Spans for the OTLP collector, by result (exported, dropped, failed)",
            spans.clone(),
        );
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(export(config.clone(), waiting, spans.clone()));
        Arc::new(Self {
            queue,
            sampling: config.sampling,
            spans,
        })
    }

    /// Queues the span of `event`, if its trace is sampled; never waits.
    pub fn record(&self, event: &RequestEvent) {
        let Some(span) = span_of(event) else {
            return;
        };
        if !sampled(&span.trace_id, self.sampling) {
            return;
        }
        if self.queue.try_send(span).is_err() {
            self.spans
                .get_or_create(&ExportLabels { result: "dropped" })
                .inc();
        }
    }
}

/// Whether a trace is exported: its id's low 8 bytes against the ratio, the same answer for
/// every span of the trace.
fn sampled(trace_id: &[u8], ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let low: [u8; 8] = trace_id
        .get(8..16)
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or_default();
    (u64::from_be_bytes(low) as f64) < ratio * u64::MAX as f64
}

async fn export(
    config: OtlpConfig,
    mut waiting: mpsc::Receiver<Span>,
    counts: Family<ExportLabels, Counter>,
) {
    let client = match crate::outbound::client_builder()
        .timeout(config.timeout)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the OTLP client; spans are not exported");
            return;
        }
    };
    let resource = Resource {
        attributes: vec![
            text("service.name", &config.service_name),
            text("service.version", env!("CARGO_PKG_VERSION")),
        ],
        ..Default::default()
    };
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(span) = waiting.recv().await {
        batch.push(span);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, waiting.recv()).await {
                Ok(Some(span)) => batch.push(span),
                Ok(None) | Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        let body = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "agenthub".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    spans: std::mem::take(&mut batch),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
        .encode_to_vec();
        let result = if send(&client, &config, body).await {
            "exported"
        } else {
            "failed"
        };
        counts.get_or_create(&ExportLabels { result }).inc_by(n);
    }
}

/// Sends one export, retrying what the OTLP spec says is retryable (connection failures, 429,
/// 502, 503, 504) with backoff, honouring `Retry-After`.
async fn send(client: &reqwest::Client, config: &OtlpConfig, body: Vec<u8>) -> bool {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let mut request = client
            .post(&config.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body.clone());
        for (name, value) in &config.headers {
            request = request.header(name, value);
        }
        let wait = match request.send().await {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => {
                let status = response.status().as_u16();
                if !matches!(status, 429 | 502 | 503 | 504) {
                    tracing::warn!(status, "the OTLP collector refused spans; they are dropped");
                    return false;
                }
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(backoff, |secs| Duration::from_secs(secs.min(30)))
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt, "the OTLP collector did not answer");
                backoff
            }
        };
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            backoff *= 2;
        }
    }
    tracing::warn!("the OTLP collector could not be reached; spans are dropped");
    false
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: u64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(
                i64::try_from(value).unwrap_or(i64::MAX),
            )),
        }),
        ..Default::default()
    }
}

fn double(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
        ..Default::default()
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The span of a request record; `None` for a record outside any trace.
pub fn span_of(event: &RequestEvent) -> Option<Span> {
    let trace_id = hex_bytes(event.trace_id.as_deref()?)?;
    let span_id = hex_bytes(event.span_id.as_deref()?)?;
    let parent_span_id = event
        .parent_span_id
        .as_deref()
        .and_then(hex_bytes)
        .unwrap_or_default();
    let start = u64::try_from(event.at).unwrap_or(0) * 1_000_000;
    let end = start + event.latency_us * 1000;
    let mut attributes = vec![
        text("enduser.id", &event.caller.principal),
        text("agenthub.plane", event.plane.as_str()),
        text("agenthub.status", event.status.as_str()),
    ];
    if let Some(team) = &event.caller.team {
        attributes.push(text("agenthub.team", team));
    }
    if let Some(key) = &event.caller.key_id {
        attributes.push(text("agenthub.key_id", key));
    }
    if let Some(id) = &event.request_id {
        attributes.push(text("agenthub.request_id", id));
    }
    let (name, kind) = match event.plane {
        Plane::Llm => {
            let model = event.model.as_deref().unwrap_or(&event.target);
            attributes.extend([
                text("gen_ai.operation.name", &event.operation),
                text("gen_ai.request.model", &event.target),
                int("gen_ai.usage.input_tokens", event.tokens.input),
                int("gen_ai.usage.output_tokens", event.tokens.output),
                double("agenthub.cost_usd", event.cost_micros as f64 / 1e6),
            ]);
            if let Some(model) = &event.model {
                attributes.push(text("gen_ai.response.model", model));
            }
            if let Some(provider) = &event.provider {
                attributes.push(text("gen_ai.provider.name", provider));
            }
            if let Some(path) = &event.fallback_path {
                attributes.push(text("agenthub.fallback_path", path));
            }
            if let Some(ttft) = event.ttft_us {
                attributes.push(double(
                    "gen_ai.server.time_to_first_token",
                    ttft as f64 / 1e6,
                ));
            }
            (format!("{} {model}", event.operation), SpanKind::Client)
        }
        Plane::Mcp => {
            let tool = event.tool.as_deref().unwrap_or(&event.target);
            attributes.extend([
                text("mcp.method.name", &event.operation),
                text("gen_ai.operation.name", "execute_tool"),
                text("gen_ai.tool.name", tool),
            ]);
            (format!("{} {tool}", event.operation), SpanKind::Server)
        }
        Plane::A2a => {
            let agent = event.agent.as_deref().unwrap_or(&event.target);
            attributes.extend([
                text("a2a.method", &event.operation),
                text("gen_ai.agent.name", agent),
            ]);
            if !event.caller.chain.is_empty() {
                attributes.push(text("agenthub.chain", &event.caller.chain.join(" > ")));
            }
            (format!("{} {agent}", event.operation), SpanKind::Client)
        }
    };
    let status = match (&event.status, &event.error) {
        (RecordStatus::Ok, _) => Status::default(),
        (_, error) => {
            if let Some(error) = error {
                attributes.push(text("error.type", &error.class));
            }
            Status {
                code: StatusCode::Error as i32,
                message: event
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default(),
            }
        }
    };
    Some(Span {
        trace_id,
        span_id,
        parent_span_id,
        name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        status: Some(status),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::event::Caller;

    #[test]
    fn a_model_call_is_a_genai_client_span() {
        let mut event =
            RequestEvent::new(Plane::Llm, 1_700_000_000_000, Caller::default(), "smart");
        event.operation = "chat".into();
        event.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        event.span_id = Some("00f067aa0ba902b7".into());
        event.model = Some("gpt-4o-mini".into());
        event.provider = Some("openai".into());
        event.tokens.input = 12;
        event.latency_us = 1500;
        let span = span_of(&event).unwrap();
        assert_eq!(span.name, "chat gpt-4o-mini");
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(
            span.end_time_unix_nano - span.start_time_unix_nano,
            1_500_000
        );
        let attribute = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.clone())
                .and_then(|v| v.value)
        };
        assert_eq!(
            attribute("gen_ai.request.model"),
            Some(any_value::Value::StringValue("smart".into()))
        );
        assert_eq!(
            attribute("gen_ai.usage.input_tokens"),
            Some(any_value::Value::IntValue(12))
        );
        event.trace_id = None;
        assert!(span_of(&event).is_none());
    }

    #[test]
    fn sampling_is_by_trace_and_proportional() {
        let ids: Vec<Vec<u8>> = (0..10_000u64)
            .map(|i| {
                let mut id = vec![0u8; 16];
                id[8..].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
                id
            })
            .collect();
        let kept = ids.iter().filter(|id| sampled(id, 0.25)).count();
        assert!((2_000..3_000).contains(&kept), "{kept}");
        assert!(ids.iter().all(|id| sampled(id, 1.0)));
        assert!(!ids.iter().any(|id| sampled(id, 0.0)));
    }
}
