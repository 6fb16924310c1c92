//! The one record every plane reports for every request it serves: an LLM call, an MCP tool
//! call or an A2A hop. What the store keeps, the query API returns and the exporters send.

use std::collections::BTreeMap;

use agenthub_policy::Identity;
use agenthub_policy::guardrails::{Action, Finding, Stage};
pub use agenthub_policy::when::Plane;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::model::Millis;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Refused by the hub: authorization, a rate limit, a budget or a guardrail.
    Denied,
    /// Failed upstream or in the hub.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ok" => Some(Self::Ok),
            "denied" => Some(Self::Denied),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// Who called: the identity as it was when the request was served.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Caller {
    /// `kind:name`, e.g. `user:alice`.
    pub principal: String,
    /// The team the request is charged to: the key's team, else the caller's only team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The delegation chain, first sender first (A2A; empty elsewhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

impl Caller {
    pub fn of(identity: &Identity) -> Self {
        let team = identity
            .key_team
            .clone()
            .or_else(|| match &identity.teams[..] {
                [only] => Some(only.team.clone()),
                _ => None,
            });
        Self {
            principal: identity.subject(),
            team,
            key_id: identity.key_id.clone(),
            chain: Vec::new(),
        }
    }
}

/// Tokens a model call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    /// Input tokens served from the provider's prompt cache (included in `input`).
    pub cached: u64,
}

/// What a guardrail rule did to the request or its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailVerdict {
    pub rule: String,
    /// `input` or `output`.
    pub stage: String,
    /// `redact`, `block`, `flag`, …
    pub action: String,
}

impl GuardrailVerdict {
    /// Adds to `verdicts`, once each, what the rules that found something in a text did at
    /// `stage`; a block that no blocking rule found came from the external guardrail service
    /// (`webhook`).
    pub fn collect<'f>(
        verdicts: &mut Vec<Self>,
        stage: Stage,
        findings: impl IntoIterator<Item = &'f Finding>,
        blocked: bool,
    ) {
        let stage = match stage {
            Stage::Input => "input",
            Stage::Output => "output",
        };
        let mut push = |rule: &str, action: &str| {
            let verdict = Self {
                rule: rule.to_owned(),
                stage: stage.to_owned(),
                action: action.to_owned(),
            };
            if !verdicts.contains(&verdict) {
                verdicts.push(verdict);
            }
        };
        let mut blocked_by_rule = false;
        for finding in findings {
            blocked_by_rule |= finding.action == Action::Block;
            let action = match finding.action {
                Action::Block => "block",
                Action::Redact => "redact",
                Action::Flag => "flag",
            };
            push(&finding.rule_id, action);
        }
        if blocked && !blocked_by_rule {
            push("webhook", "block");
        }
    }
}

/// What went wrong, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The hub's error kind (`rate_limited`, `upstream_timeout`, …).
    pub class: String,
    pub message: String,
}

/// One request through one plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEvent {
    /// UUIDv7: ids sort by time.
    pub id: String,
    /// When the request arrived.
    pub at: Millis,
    pub plane: Plane,
    /// The HTTP request it came in (`x-request-id`); several tool calls may share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    pub caller: Caller,
    /// The model, `server/tool` or agent, as the caller named it.
    pub target: String,
    /// The catalog model that served (LLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `server/tool` (MCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The agent called (A2A).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The operation: `chat`, `embeddings`, `tools/call`, an A2A method.
    pub operation: String,
    /// The targets tried, in order (LLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_path: Option<String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Arrival to the answer's end (streams included), in microseconds.
    pub latency_us: u64,
    /// Arrival to the first token of a streamed answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<u64>,
    /// Time per output token after the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_us: Option<u64>,
    #[serde(default)]
    pub tokens: Tokens,
    #[serde(default)]
    pub cost_micros: u64,
    #[serde(default)]
    pub request_bytes: u64,
    #[serde(default)]
    pub response_bytes: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<GuardrailVerdict>,
    /// The client's `x-agenthub-metadata`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The request's and the answer's bodies, as `telemetry.bodies` says: a JSON object with
    /// `request` and `response`, each the body's JSON, or its text when it is not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodies: Option<LoggedBodies>,
    /// The bodies' bytes as they went by, turned into `bodies` by the writer.
    #[serde(skip)]
    pub raw_bodies: Option<super::bodies::RawBodies>,
}

/// Logged bodies as JSON text, kept as it was made (never parsed back into a tree by the hub).
/// Written out as JSON, not as a string of it.
#[derive(Debug, Clone)]
pub struct LoggedBodies(String);

impl LoggedBodies {
    pub fn json(&self) -> &str {
        &self.0
    }

    /// `text`, if it is JSON.
    pub fn from_json(text: String) -> Option<Self> {
        serde_json::from_str::<serde::de::IgnoredAny>(&text)
            .is_ok()
            .then_some(Self(text))
    }

    /// `text`, which its maker knows to be JSON (it is checked again when written out).
    pub(super) fn made(text: String) -> Self {
        Self(text)
    }
}

impl Serialize for LoggedBodies {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&RawValue>(&self.0) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => self.0.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for LoggedBodies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer)
            .map(|raw| Self(Box::<str>::from(raw).into_string()))
    }
}

impl PartialEq for LoggedBodies {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl RequestEvent {
    /// An event for `caller` on `plane`, starting at `at`, every measure zero.
    pub fn new(plane: Plane, at: Millis, caller: Caller, target: impl Into<String>) -> Self {
        Self {
            id: crate::model::time_ordered_id(at),
            at,
            plane,
            request_id: None,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            caller,
            target: target.into(),
            model: None,
            provider: None,
            tool: None,
            agent: None,
            operation: String::new(),
            fallback_path: None,
            status: Status::Ok,
            error: None,
            latency_us: 0,
            ttft_us: None,
            tpot_us: None,
            tokens: Tokens::default(),
            cost_micros: 0,
            request_bytes: 0,
            response_bytes: 0,
            guardrails: Vec::new(),
            metadata: BTreeMap::new(),
            bodies: None,
            raw_bodies: None,
        }
    }

    /// Places the event in its trace: the trace, its span, the caller's span.
    pub fn in_trace(&mut self, trace: &super::trace::TraceContext) {
        self.trace_id = Some(trace.trace_id.clone());
        self.span_id = Some(trace.span_id.clone());
        self.parent_span_id = trace.parent_span_id.clone();
    }

    /// Marks the event failed with `class` (an error kind) and `message`.
    pub fn fail(&mut self, status: Status, class: &str, message: impl Into<String>) {
        self.status = status;
        self.error = Some(Failure {
            class: class.to_owned(),
            message: message.into(),
        });
    }
}

/// The status an error kind reports: refusals by the hub's own rules are `denied`.
pub fn status_of(kind: agenthub_policy::ErrorKind) -> Status {
    use agenthub_policy::ErrorKind as K;
    match kind {
        K::Unauthenticated | K::Forbidden | K::RateLimited => Status::Denied,
        _ => Status::Error,
    }
}

#[cfg(test)]
mod tests {
    use agenthub_policy::{SubjectKind, TeamMembership, TeamRole};

    use super::*;

    #[test]
    fn the_team_is_the_keys_else_the_only_one() {
        let mut identity = Identity::named(SubjectKind::User, "alice");
        assert_eq!(Caller::of(&identity).team, None);
        let member = |team: &str| TeamMembership {
            team_id: format!("id-{team}"),
            team: team.to_owned(),
            role: TeamRole::Member,
        };
        identity.teams = vec![member("ml")];
        assert_eq!(Caller::of(&identity).team.as_deref(), Some("ml"));
        identity.teams.push(member("web"));
        assert_eq!(Caller::of(&identity).team, None, "two teams: not guessed");
        identity.key_team = Some("web".into());
        let caller = Caller::of(&identity);
        assert_eq!(caller.team.as_deref(), Some("web"));
        assert_eq!(caller.principal, "user:alice");
    }

    #[test]
    fn events_round_trip_through_json() {
        let mut event = RequestEvent::new(Plane::Llm, 1_700_000_000_000, Caller::default(), "gpt");
        event.tokens.input = 3;
        event.metadata.insert("project".into(), "x".into());
        event.fail(Status::Denied, "rate_limited", "slow down");
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<RequestEvent>(&text).unwrap(), event);
        assert!(event.id.starts_with("018bcfe5-6800-7"), "{}", event.id);
    }
}
