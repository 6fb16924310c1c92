//! What the hub decides around a tool call once it is authorized: the rate limits and budgets
//! that admit it (a call counts as one request and costs nothing), the guardrails on its
//! arguments (every string, before anything goes upstream) and on its result (text contents,
//! embedded text resources and structured content), and its settlement.

use std::collections::BTreeMap;

use agenthub_mcp_registry::calls::{Refusal, ToolCall};
use agenthub_policy::guardrails::{Action, Stage};
use agenthub_policy::limits::{Admission, Timestamp, Usage};
use agenthub_policy::when::{Plane, RequestFacts};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ResourceContents};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::Error;
use crate::governance::{Governance, JsonInspection};
use crate::model::now_millis;
use crate::telemetry::event::GuardrailVerdict;

/// What a call carries from admission to settlement.
pub struct Ticket {
    admission: Admission,
    /// `server/tool`, as rules name tools.
    tool: String,
}

fn facts<'a>(
    caller: &'a Caller,
    metadata: &'a BTreeMap<String, String>,
    tool: &'a str,
) -> RequestFacts<'a> {
    RequestFacts {
        identity: &caller.identity,
        plane: Plane::Mcp,
        model: None,
        tool: Some(tool),
        agent: None,
        metadata,
    }
}

/// Inspects the call's arguments (redacting them in place), then admits it: as on the LLM
/// plane, a call the guardrails refuse uses no quota.
pub async fn admit(
    governance: &Governance,
    caller: &Caller,
    metadata: &BTreeMap<String, String>,
    call: ToolCall<'_>,
    arguments: &mut JsonObject,
    verdicts: &mut Vec<GuardrailVerdict>,
) -> Result<Ticket, Refusal> {
    let tool = format!("{}/{}", call.server, call.tool);
    let facts = facts(caller, metadata, &tool);
    if governance.inspects(Stage::Input, &facts) {
        // Inspected as one JSON value, moved out of the map and back: nothing is copied.
        let mut document = Value::Object(std::mem::take(arguments));
        let inspection = governance
            .inspect_json(&mut document, Stage::Input, &facts)
            .await;
        if let Value::Object(map) = document {
            *arguments = map;
        }
        if let Some(reason) = verdict(&inspection, Stage::Input, &tool, "arguments", verdicts) {
            return Err(Refusal::Blocked { reason });
        }
    }
    let admission = governance
        .admit(&facts, Usage::default())
        .map_err(|rejection| {
            let error = Error::limited(&rejection, Timestamp::from_unix_millis(now_millis()));
            Refusal::Limited {
                message: error.message().to_owned(),
                data: serde_json::to_value(error.limit_facts()).unwrap_or_default(),
            }
        })?;
    Ok(Ticket { admission, tool })
}

/// Settles the call and inspects its result, if it has one (redacting it in place);
/// `Err(reason)` when a guardrail blocked it.
pub async fn settle(
    governance: &Governance,
    caller: &Caller,
    metadata: &BTreeMap<String, String>,
    ticket: Ticket,
    result: Option<&mut CallToolResult>,
    verdicts: &mut Vec<GuardrailVerdict>,
) -> Result<(), String> {
    let Ticket { admission, tool } = ticket;
    governance.settle(admission, Usage::default());
    let Some(result) = result else {
        return Ok(());
    };
    let facts = facts(caller, metadata, &tool);
    if !governance.inspects(Stage::Output, &facts) {
        return Ok(());
    }
    // The texts are moved into one array (a rule sees each under its index, /0, /1 …) and
    // back out, in the same order; an array, so that no key of the hub's own is inspected.
    let mut texts = Value::Array(
        texts_mut(result)
            .map(|text| Value::String(std::mem::take(text)))
            .collect(),
    );
    let inspection = governance
        .inspect_json(&mut texts, Stage::Output, &facts)
        .await;
    if let Some(reason) = verdict(&inspection, Stage::Output, &tool, "content", verdicts) {
        return Err(reason);
    }
    if let Value::Array(texts) = texts {
        for (slot, text) in texts_mut(result).zip(texts) {
            if let Value::String(text) = text {
                *slot = text;
            }
        }
    }
    if let Some(structured) = &mut result.structured_content {
        let inspection = governance
            .inspect_json(structured, Stage::Output, &facts)
            .await;
        if let Some(reason) = verdict(
            &inspection,
            Stage::Output,
            &tool,
            "structuredContent",
            verdicts,
        ) {
            return Err(reason);
        }
    }
    Ok(())
}

/// Why the inspected value must not go on, if it must not; logs what `flag` rules found (in
/// `part` of the call: its arguments, or its result's content or structured content) and adds
/// what the rules did to the call's `verdicts`.
fn verdict(
    inspection: &JsonInspection,
    stage: Stage,
    tool: &str,
    part: &'static str,
    verdicts: &mut Vec<GuardrailVerdict>,
) -> Option<String> {
    GuardrailVerdict::collect(
        verdicts,
        stage,
        inspection.findings.iter().map(|f| &f.finding),
        inspection.blocked.is_some(),
    );
    for finding in inspection
        .findings
        .iter()
        .filter(|f| f.finding.action == Action::Flag)
    {
        tracing::info!(
            target: "agenthub::mcp::call",
            tool,
            stage = match stage {
                Stage::Input => "input",
                Stage::Output => "output",
            },
            part,
            rule = %finding.finding.rule_id,
            kind = finding.finding.kind.as_str(),
            pointer = %finding.pointer,
            "guardrail flagged a tool call"
        );
    }
    inspection.blocked.clone()
}

/// The texts of a result the output guardrails see: text contents and embedded text
/// resources, in order.
fn texts_mut(result: &mut CallToolResult) -> impl Iterator<Item = &mut String> {
    result.content.iter_mut().filter_map(|block| match block {
        ContentBlock::Text(text) => Some(&mut text.text),
        ContentBlock::Resource(embedded) => match &mut embedded.resource {
            ResourceContents::TextResourceContents { text, .. } => Some(text),
            _ => None,
        },
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use rmcp::model::{EmbeddedResource, ResourceContents};

    use super::*;

    /// Text contents and embedded text resources, in order; nothing else.
    #[test]
    fn a_results_texts_are_its_text_contents_and_embedded_texts() {
        let mut result = CallToolResult::success(vec![
            ContentBlock::text("one"),
            ContentBlock::image("aGk=", "image/png"),
            ContentBlock::Resource(EmbeddedResource::new(ResourceContents::text(
                "two", "demo://x",
            ))),
            ContentBlock::text("three"),
        ]);
        let texts: Vec<String> = texts_mut(&mut result).map(|t| t.clone()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
    }
}
