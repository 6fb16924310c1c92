//! What a streamed answer owes after its headers are gone: its output guardrails, applied
//! event by event, and its settlement, made once when the stream ends or is dropped.

use std::collections::HashMap;
use std::sync::Arc;

use agenthub_llm_router::config::Price;
use agenthub_llm_router::model::{StreamError, StreamEvent, Usage};
use agenthub_llm_router::pricing;
use agenthub_policy::ErrorKind;
use agenthub_policy::guardrails::{Guardrails, Stage, StreamRedactor};
use agenthub_policy::limits::{Admission, Usage as LimitUsage, Usd};
use agenthub_policy::when::RequestFacts;

use crate::governance::Governance;

/// Told the usage and cost of a settled answer.
pub type Report = Box<dyn FnOnce(&Usage, Usd) + Send>;

/// Settles an admission exactly once: with the usage seen, when the answer is complete or
/// when it is dropped (a client that went away still pays for what was generated).
pub struct Settlement {
    governance: Arc<Governance>,
    admission: Option<Admission>,
    price: Option<Price>,
    usage: Option<Usage>,
    /// Told the usage and cost once settled (metrics, the usage log).
    report: Option<Report>,
}

impl Settlement {
    pub fn new(
        governance: Arc<Governance>,
        admission: Admission,
        price: Option<Price>,
        report: Report,
    ) -> Self {
        Self {
            governance,
            admission: Some(admission),
            price,
            usage: None,
            report: Some(report),
        }
    }

    pub fn observe(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    /// Settles now with what was seen; returns the cost charged.
    pub fn settle(&mut self) -> Usd {
        let usage = self.usage.unwrap_or_default();
        let cost = match self.admission.take() {
            Some(admission) => charge(&self.governance, admission, self.price.as_ref(), &usage),
            None => cost_of(self.price.as_ref(), &usage),
        };
        if let Some(report) = self.report.take() {
            report(&usage, cost);
        }
        cost
    }
}

impl Drop for Settlement {
    fn drop(&mut self) {
        self.settle();
    }
}

/// Settles `admission` with what a call used, at `price`; returns what it cost.
pub fn charge(
    governance: &Governance,
    admission: Admission,
    price: Option<&Price>,
    usage: &Usage,
) -> Usd {
    let cost = cost_of(price, usage);
    governance.settle(
        admission,
        LimitUsage {
            tokens: u64::from(usage.total_tokens()),
            cost,
        },
    );
    cost
}

/// What `usage` costs at `price`; nothing when the price is unknown (self-hosted models).
pub fn cost_of(price: Option<&Price>, usage: &Usage) -> Usd {
    price.map_or(Usd::ZERO, |price| pricing::cost(price, usage))
}

/// Applies the output guardrails to a stream's text, one redactor per choice; a `block` rule
/// ends the stream with an error event.
pub struct OutputFilter {
    guardrails: Arc<Guardrails>,
    rules_apply: bool,
    choices: HashMap<u32, StreamRedactor<Arc<Guardrails>>>,
    blocked: bool,
    facts_rules: FactsSnapshot,
}

/// The facts the redactors are created with, kept owned for choices that start later.
struct FactsSnapshot {
    identity: Arc<agenthub_policy::Identity>,
    model: String,
    metadata: std::collections::BTreeMap<String, String>,
}

impl OutputFilter {
    pub fn new(
        guardrails: Arc<Guardrails>,
        facts: &RequestFacts<'_>,
        identity: Arc<agenthub_policy::Identity>,
    ) -> Self {
        let probe = StreamRedactor::new(guardrails.clone(), Stage::Output, facts);
        Self {
            rules_apply: probe.is_active(),
            guardrails,
            choices: HashMap::new(),
            blocked: false,
            facts_rules: FactsSnapshot {
                identity,
                model: facts.model.unwrap_or_default().to_owned(),
                metadata: facts.metadata.clone(),
            },
        }
    }

    fn redactor(&mut self, choice: u32) -> &mut StreamRedactor<Arc<Guardrails>> {
        let guardrails = &self.guardrails;
        let facts = &self.facts_rules;
        self.choices.entry(choice).or_insert_with(|| {
            let facts = RequestFacts {
                identity: &facts.identity,
                plane: agenthub_policy::when::Plane::Llm,
                model: Some(&facts.model),
                tool: None,
                agent: None,
                metadata: &facts.metadata,
            };
            StreamRedactor::new(guardrails.clone(), Stage::Output, &facts)
        })
    }

    /// The events to forward for `event`.
    pub fn apply(&mut self, event: StreamEvent) -> Vec<StreamEvent> {
        if self.blocked {
            return Vec::new();
        }
        if !self.rules_apply {
            return vec![event];
        }
        match event {
            StreamEvent::TextDelta { choice, text } => {
                let step = self.redactor(choice).push(&text);
                self.forward(choice, step, None)
            }
            StreamEvent::Finish { choice, .. } => {
                let step = self.redactor(choice).finish();
                self.forward(choice, step, Some(event))
            }
            other => vec![other],
        }
    }

    fn forward(
        &mut self,
        choice: u32,
        step: agenthub_policy::guardrails::StreamStep,
        then: Option<StreamEvent>,
    ) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if !step.text.is_empty() {
            out.push(StreamEvent::TextDelta {
                choice,
                text: step.text,
            });
        }
        if let Some(blocked) = step.blocked {
            self.blocked = true;
            out.push(StreamEvent::Error(StreamError {
                kind: ErrorKind::Forbidden,
                message: format!("the answer was blocked by a guardrail: {}", blocked.reason),
            }));
            return out;
        }
        out.extend(then);
        out
    }
}
