//! The LLM plane's HTTP face: `/v1/chat/completions`, `/v1/messages`, `/v1/embeddings` and
//! `/v1/models`, over the `agenthub-llm-router` crate. This module does what is the hub's: the
//! caller's identity, authorization (`model:<name>`), rate limits and budgets, guardrails on
//! the way in and out, the `x-agenthub-*` headers, and errors in the client's own format. The
//! router crate does the rest: translation, routing, retries, fallbacks, cost.

mod admission;
mod guard;
mod models;
mod routes;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use agenthub_llm_router::engine::{Engine, Secrets};
use agenthub_llm_router::model::Usage;
use agenthub_policy::limits::Usd;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::directory::{Accounts, StoreSecrets};
use crate::ops::Metrics;

pub use routes::router;

/// What the plane keeps between requests: the engine (HTTP clients, targets' health).
pub struct LlmPlane {
    engine: Engine,
    secrets: StoreSecrets,
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
    /// The served-call counters of each model and provider, found without building labels.
    served: RwLock<HashMap<String, HashMap<String, Arc<ServedCounters>>>>,
}

/// One model and provider's counters in the families above.
struct ServedCounters {
    calls: Counter,
    input_tokens: Counter,
    output_tokens: Counter,
    cost_micros: Counter,
    fallbacks: Counter,
}

impl LlmMetrics {
    fn served(&self, model: &str, provider: &str) -> Arc<ServedCounters> {
        let found = self
            .served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(model)
            .and_then(|by_provider| by_provider.get(provider))
            .cloned();
        if let Some(counters) = found {
            return counters;
        }
        let target = TargetLabels {
            model: model.to_owned(),
            provider: provider.to_owned(),
        };
        let tokens = |direction| TokenLabels {
            model: model.to_owned(),
            provider: provider.to_owned(),
            direction,
        };
        // One statement each: `get_or_create` returns a guard holding its family's lock, and a
        // second call on the same family within one statement would wait on it for ever.
        let calls = self
            .calls
            .get_or_create(&CallLabels {
                model: model.to_owned(),
                provider: provider.to_owned(),
                outcome: "served",
            })
            .clone();
        let input_tokens = self.tokens.get_or_create(&tokens("input")).clone();
        let output_tokens = self.tokens.get_or_create(&tokens("output")).clone();
        let cost_micros = self.cost_micros.get_or_create(&target).clone();
        let fallbacks = self.fallbacks.get_or_create(&target).clone();
        let counters = Arc::new(ServedCounters {
            calls,
            input_tokens,
            output_tokens,
            cost_micros,
            fallbacks,
        });
        self.served
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(model.to_owned())
            .or_default()
            .insert(provider.to_owned(), counters.clone());
        counters
    }
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
        let engine = Engine::new();
        Self {
            engine,
            secrets: StoreSecrets(accounts),
            metrics: own,
        }
    }

    /// Counts a served call.
    pub fn record(&self, model: &str, provider: &str, usage: &Usage, cost: Usd, fell_back: bool) {
        let counters = self.metrics.served(model, provider);
        counters.calls.inc();
        counters.input_tokens.inc_by(u64::from(usage.input_tokens));
        counters
            .output_tokens
            .inc_by(u64::from(usage.output_tokens));
        counters.cost_micros.inc_by(cost.micros());
        if fell_back {
            counters.fallbacks.inc();
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
