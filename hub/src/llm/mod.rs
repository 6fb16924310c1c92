//! The LLM plane's HTTP face: `/v1/chat/completions`, `/v1/messages`, `/v1/embeddings` and
//! `/v1/models`, over the `agenthub-llm-router` crate. This module does what is the hub's: the
//! caller's identity, authorization (`model:<name>`), rate limits and budgets, guardrails on
//! the way in and out, the `x-agenthub-*` headers, and errors in the client's own format. The
//! router crate does the rest: translation, routing, retries, fallbacks, cost.

mod admission;
mod guard;
mod models;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use agenthub_llm_router::engine::{Engine, Secrets};
use agenthub_llm_router::model::Usage;
use agenthub_policy::limits::Usd;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::directory::Accounts;
use crate::ops::Metrics;

pub use routes::router;

/// What the plane keeps between requests: the engine (HTTP clients, targets' health).
pub struct LlmPlane {
    engine: Engine,
    secrets: AccountSecrets,
    metrics: LlmMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    model: String,
    provider: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    model: String,
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    provider: String,
    direction: &'static str,
}

/// Calls, tokens and spend per model and provider.
#[derive(Default)]
struct LlmMetrics {
    calls: Family<CallLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    cost_micros: Family<TargetLabels, Counter>,
    fallbacks: Family<TargetLabels, Counter>,
}

impl LlmPlane {
    pub fn new(accounts: Arc<Accounts>, metrics: &mut Metrics) -> Self {
        let own = LlmMetrics::default();
        metrics.register(
            "llm_calls",
            "Model calls answered, by model and provider that served (or was last tried) and outcome",
            own.calls.clone(),
        );
        metrics.register(
            "llm_tokens",
            "Tokens used, by model, provider and direction (input, output)",
            own.tokens.clone(),
        );
        metrics.register(
            "llm_cost_microdollars",
            "Spend in micro-dollars by the price table, by model and provider",
            own.cost_micros.clone(),
        );
        metrics.register(
            "llm_fallbacks",
            "Calls served by another target than the first tried, by the serving model",
            own.fallbacks.clone(),
        );
        let engine = Engine::new(Box::new(|connect: Duration| {
            crate::outbound::client_builder()
                .connect_timeout(connect)
                .pool_idle_timeout(Duration::from_secs(90))
                .build()
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot build the provider HTTP client with the hub's settings");
                    reqwest::Client::new()
                })
        }));
        Self {
            engine,
            secrets: AccountSecrets(accounts),
            metrics: own,
        }
    }

    /// Counts a served call.
    pub fn record(&self, model: &str, provider: &str, usage: &Usage, cost: Usd, fell_back: bool) {
        let target = TargetLabels {
            model: model.to_owned(),
            provider: provider.to_owned(),
        };
        self.metrics
            .calls
            .get_or_create(&CallLabels {
                model: target.model.clone(),
                provider: target.provider.clone(),
                outcome: "served",
            })
            .inc();
        for (direction, count) in [
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
        ] {
            self.metrics
                .tokens
                .get_or_create(&TokenLabels {
                    model: target.model.clone(),
                    provider: target.provider.clone(),
                    direction,
                })
                .inc_by(u64::from(count));
        }
        self.metrics
            .cost_micros
            .get_or_create(&target)
            .inc_by(cost.micros());
        if fell_back {
            self.metrics.fallbacks.get_or_create(&target).inc();
        }
    }

    /// Counts a call every target failed.
    pub fn record_failure(&self, model: &str, provider: &str) {
        self.metrics
            .calls
            .get_or_create(&CallLabels {
                model: model.to_owned(),
                provider: provider.to_owned(),
                outcome: "failed",
            })
            .inc();
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn secrets(&self) -> &dyn Secrets {
        &self.secrets
    }
}

/// Provider credentials from the directory's secret store, decrypted per call so that a
/// rotated secret applies at once.
struct AccountSecrets(Arc<Accounts>);

impl Secrets for AccountSecrets {
    fn reveal(&self, name: &str) -> Option<String> {
        match self.0.reveal_secret(name) {
            Ok(value) => value,
            Err(e) => {
                tracing::error!(secret = name, error = %e, "cannot read a provider credential");
                None
            }
        }
    }
}
