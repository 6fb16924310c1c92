//! Logged bodies: the request path keeps the bytes as they went by (a reference count, no
//! copy); the writer turns them into what is stored — JSON where they are JSON, cut to
//! `telemetry.max_body_bytes`, and for `redacted` passed through the PII and secret detectors
//! of the guardrails first.

use agenthub_policy::guardrails::{Action, DetectorType, Guardrails, RuleConfig, Stage};
use agenthub_policy::when::{Plane, RequestFacts};
use agenthub_policy::{Identity, SubjectKind};
use bytes::Bytes;
use serde_json::Value;

use super::event::Bodies;
use crate::config::BodyLogging;

/// A request's and its answer's bytes, as they went by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawBodies {
    pub request: Option<Bytes>,
    pub response: Option<Bytes>,
}

/// Turns raw bodies into logged ones.
pub struct BodyLogger {
    mode: BodyLogging,
    max_bytes: usize,
    redaction: Guardrails,
    identity: Identity,
}

impl BodyLogger {
    pub fn new(mode: BodyLogging, max_bytes: usize) -> Self {
        let redaction = Guardrails::from_rules(vec![
            RuleConfig::new("pii", DetectorType::Pii, Action::Redact),
            RuleConfig::new("secrets", DetectorType::Secrets, Action::Redact),
        ])
        .unwrap_or_else(|problems| unreachable!("the built-in rules are valid: {problems:?}"));
        Self {
            mode,
            max_bytes,
            redaction,
            identity: Identity::named(SubjectKind::Service, "telemetry"),
        }
    }

    /// Whether requests should keep their bodies at all.
    pub fn is_on(&self) -> bool {
        self.mode != BodyLogging::Off
    }

    pub fn log(&self, raw: &RawBodies, plane: Plane) -> Option<Bodies> {
        if !self.is_on() {
            return None;
        }
        let request = raw
            .request
            .as_ref()
            .map(|bytes| self.one(bytes, Stage::Input, plane));
        let response = raw
            .response
            .as_ref()
            .map(|bytes| self.one(bytes, Stage::Output, plane));
        Some(Bodies { request, response })
    }

    fn one(&self, bytes: &[u8], stage: Stage, plane: Plane) -> Value {
        let mut value = if bytes.len() <= self.max_bytes {
            serde_json::from_slice(bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
        } else {
            // Too long to keep whole: its beginning, as text.
            let cut = &bytes[..self.max_bytes];
            Value::String(format!(
                "{}… ({} bytes)",
                String::from_utf8_lossy(cut),
                bytes.len()
            ))
        };
        if self.mode == BodyLogging::Redacted {
            let metadata = Default::default();
            let facts = RequestFacts {
                identity: &self.identity,
                plane,
                model: None,
                tool: None,
                agent: None,
                metadata: &metadata,
            };
            self.redaction.inspect_json(&mut value, stage, &facts);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_parsed_redacted_and_cut() {
        let raw = RawBodies {
            request: Some(Bytes::from_static(
                br#"{"messages":[{"role":"user","content":"mail me at jane.doe@example.com"}]}"#,
            )),
            response: Some(Bytes::from_static(b"data: not json")),
        };
        let redacted = BodyLogger::new(BodyLogging::Redacted, 1024)
            .log(&raw, Plane::Llm)
            .unwrap();
        let content = redacted.request.unwrap()["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!content.contains("jane.doe@example.com"), "{content}");
        assert_eq!(redacted.response.unwrap(), "data: not json");

        let full = BodyLogger::new(BodyLogging::Full, 1024)
            .log(&raw, Plane::Llm)
            .unwrap();
        assert!(
            full.request
                .unwrap()
                .to_string()
                .contains("jane.doe@example.com")
        );

        let cut = BodyLogger::new(BodyLogging::Full, 8)
            .log(&raw, Plane::Llm)
            .unwrap();
        let length = raw.request.as_ref().unwrap().len();
        assert_eq!(
            cut.request.unwrap(),
            format!("{{\"messag… ({length} bytes)")
        );
        assert!(
            BodyLogger::new(BodyLogging::Off, 8)
                .log(&raw, Plane::Llm)
                .is_none()
        );
    }
}
