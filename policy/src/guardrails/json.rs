//! Inspecting every string inside a JSON value: MCP tool arguments and results, A2A parts.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::{Blocked, Finding, Guardrails, Stage};
use crate::when::RequestFacts;

/// A finding inside a JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonFinding {
    /// Where the string is, as a JSON pointer (RFC 6901), e.g. `/arguments/body`. Object keys
    /// in it are the redacted keys.
    pub pointer: String,
    /// Whether the string is an object key rather than a value.
    pub in_key: bool,
    /// The span is an offset into that string.
    #[serde(flatten)]
    pub finding: Finding,
}

/// The outcome of inspecting a JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonVerdict {
    /// The first blocking finding in document order, with the pointer of its string.
    pub blocked: Option<(String, Blocked)>,
    pub findings: Vec<JsonFinding>,
    /// Whether some string (or key) was changed.
    pub redacted: bool,
}

impl JsonVerdict {
    pub fn is_blocked(&self) -> bool {
        self.blocked.is_some()
    }
}

pub(super) fn inspect(
    g: &Guardrails,
    value: &mut Value,
    stage: Stage,
    facts: &RequestFacts<'_>,
) -> JsonVerdict {
    let rules = g.active(stage, facts);
    let mut verdict = JsonVerdict::default();
    if !rules.is_empty() {
        let mut pointer = String::new();
        walk(g, &rules, value, &mut pointer, &mut verdict);
    }
    verdict
}

fn escape(segment: &str) -> Cow<'_, str> {
    if segment.contains(['~', '/']) {
        Cow::Owned(segment.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(segment)
    }
}

/// Inspects one string; returns the redacted text when it changed.
fn string(
    g: &Guardrails,
    rules: &[usize],
    text: &str,
    pointer: &str,
    in_key: bool,
    verdict: &mut JsonVerdict,
) -> Option<String> {
    let v = g.inspect_with(text, rules.iter().copied());
    if let Some(blocked) = v.blocked
        && verdict.blocked.is_none()
    {
        verdict.blocked = Some((pointer.to_owned(), blocked));
    }
    verdict
        .findings
        .extend(v.findings.into_iter().map(|finding| JsonFinding {
            pointer: pointer.to_owned(),
            in_key,
            finding,
        }));
    match v.text {
        Cow::Owned(redacted) => {
            verdict.redacted = true;
            Some(redacted)
        }
        Cow::Borrowed(_) => None,
    }
}

fn walk(
    g: &Guardrails,
    rules: &[usize],
    value: &mut Value,
    pointer: &mut String,
    verdict: &mut JsonVerdict,
) {
    match value {
        Value::String(s) => {
            if let Some(redacted) = string(g, rules, s, pointer, false, verdict) {
                *s = redacted;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                walk(g, rules, item, pointer, verdict);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            // Keys first: a redacted key is renamed (kept unique), and pointers use the new name.
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let len = pointer.len();
                pointer.push('/');
                let mut name = key.clone();
                // The pointer of a key's own findings names the key as it will be.
                let mut findings = JsonVerdict::default();
                if let Some(redacted) = string(g, rules, &key, "", true, &mut findings) {
                    let mut unique = redacted.clone();
                    let mut n = 2;
                    while map.contains_key(&unique) {
                        unique = format!("{redacted}#{n}");
                        n += 1;
                    }
                    if let Some(v) = map.remove(&key) {
                        map.insert(unique.clone(), v);
                    }
                    name = unique;
                }
                pointer.push_str(&escape(&name));
                for mut f in findings.findings {
                    f.pointer = pointer.clone();
                    verdict.findings.push(f);
                }
                if let Some((_, blocked)) = findings.blocked
                    && verdict.blocked.is_none()
                {
                    verdict.blocked = Some((pointer.clone(), blocked));
                }
                verdict.redacted |= findings.redacted;
                if let Some(child) = map.get_mut(&name) {
                    walk(g, rules, child, pointer, verdict);
                }
                pointer.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}
