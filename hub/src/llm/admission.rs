//! What the hub decides around a model call: may the caller use the model, what the
//! guardrails let through, and what the call is admitted with against rate limits and budgets.

use std::sync::Arc;

use agenthub_llm_router::catalog::{Catalog, Route};
use agenthub_llm_router::config::ModelKind;
use agenthub_llm_router::model::{
    ChatRequest, ChatResponse, ContentPart, EmbeddingInput, EmbeddingsRequest, Message, Usage,
};
use agenthub_policy::ErrorKind;
use agenthub_policy::authz::{Action, Request as AuthzRequest, Resource, Subjects};
use agenthub_policy::guardrails::Stage;
use agenthub_policy::limits::{Admission, Timestamp, Usage as LimitUsage, Usd};
use agenthub_policy::when::RequestFacts;
use axum::http::HeaderMap;

use super::guard::cost_of;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::Error;
use crate::model::now_millis;
use crate::telemetry::event::GuardrailVerdict;

pub(super) fn may_invoke(caller: &Caller, subjects: &Subjects, model: &str) -> bool {
    caller.authorizer.allows(
        subjects,
        &AuthzRequest {
            resource: Resource::model(model),
            action: Action::Invoke,
            team: caller.identity.key_team.as_deref(),
        },
    )
}

/// The route for `model`, if the caller may invoke it: 404 for an unknown name, 403 for one
/// the caller may not use, 400 for the wrong kind of model.
pub(super) fn resolve(
    catalog: &Catalog,
    caller: &Caller,
    model: &str,
    kind: ModelKind,
) -> Result<Arc<Route>, Error> {
    let route = catalog.route(model).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("the model \"{model}\" does not exist"),
        )
        .with_param("model")
    })?;
    if !may_invoke(caller, &Subjects::of(&caller.identity), model) {
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!("you may not use the model \"{model}\""),
        )
        .with_param("model"));
    }
    if route.kind != kind {
        let what = match route.kind {
            ModelKind::Chat => "a chat model",
            ModelKind::Embeddings => "an embeddings model",
        };
        return Err(Error::invalid_field(
            "model",
            format!("\"{model}\" is {what}"),
        ));
    }
    Ok(route.clone())
}

pub(super) fn session_key(route: &Route, headers: &HeaderMap) -> Option<String> {
    let header = route.sticky_header.as_ref()?;
    headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Runs the input guardrails over every text of the conversation, replacing redacted text.
pub(super) async fn guard_input(
    state: &AppState,
    request: &mut ChatRequest,
    facts: &RequestFacts<'_>,
    verdicts: &mut Vec<GuardrailVerdict>,
) -> Result<(), Error> {
    if !state.governance.inspects(Stage::Input, facts) {
        return Ok(());
    }
    for (i, message) in request.messages.iter_mut().enumerate() {
        let content = match message {
            Message::System { content, .. }
            | Message::User { content, .. }
            | Message::Assistant { content, .. }
            | Message::Tool { content, .. } => content,
        };
        for part in content.iter_mut() {
            if let ContentPart::Text(text) = part {
                let param = format!("messages[{i}]");
                guard_text(state, text, Stage::Input, facts, &param, verdicts).await?;
            }
        }
    }
    Ok(())
}

/// Runs the output guardrails over a complete answer's texts.
pub(super) async fn guard_output(
    state: &AppState,
    response: &mut ChatResponse,
    facts: &RequestFacts<'_>,
    verdicts: &mut Vec<GuardrailVerdict>,
) -> Result<(), Error> {
    if !state.governance.inspects(Stage::Output, facts) {
        return Ok(());
    }
    for choice in &mut response.choices {
        if let Some(text) = &mut choice.message.text {
            guard_text(state, text, Stage::Output, facts, "choices", verdicts).await?;
        }
    }
    Ok(())
}

pub(super) async fn guard_text(
    state: &AppState,
    text: &mut String,
    stage: Stage,
    facts: &RequestFacts<'_>,
    param: &str,
    verdicts: &mut Vec<GuardrailVerdict>,
) -> Result<(), Error> {
    let inspection = state.governance.inspect(text, stage, facts).await;
    GuardrailVerdict::collect(
        verdicts,
        stage,
        &inspection.findings,
        inspection.blocked.is_some(),
    );
    if let Some(reason) = inspection.blocked {
        let what = match stage {
            Stage::Input => "the request",
            Stage::Output => "the answer",
        };
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!("{what} was blocked by a guardrail: {reason}"),
        )
        .with_param(param.to_owned()));
    }
    if inspection.text != *text {
        *text = inspection.text;
    }
    Ok(())
}

pub(super) fn admit(
    state: &AppState,
    facts: &RequestFacts<'_>,
    estimate: LimitUsage,
) -> Result<Admission, Error> {
    state
        .governance
        .admit(facts, estimate)
        .map_err(|rejection| Error::limited(&rejection, Timestamp::from_unix_millis(now_millis())))
}

/// About four characters per token: the usual rule of thumb for English text with the
/// providers' tokenizers; images count as a fixed amount.
fn approx_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// The tokens and cost an embeddings request is admitted with: its input (by the rule of
/// thumb for texts, exactly for token arrays) at the first target's price.
pub(super) fn estimate_embeddings(request: &EmbeddingsRequest, route: &Route) -> LimitUsage {
    let input_tokens = match &request.input {
        EmbeddingInput::Text(texts) => texts.iter().map(|t| approx_tokens(t)).sum::<u64>(),
        EmbeddingInput::Tokens(tokens) => tokens.iter().map(|t| t.len() as u64).sum(),
    };
    let usage = Usage {
        input_tokens: u32::try_from(input_tokens).unwrap_or(u32::MAX),
        ..Usage::default()
    };
    let price = route.targets.first().and_then(|(t, _)| t.price);
    LimitUsage {
        tokens: input_tokens,
        cost: cost_of(price.as_ref(), &usage),
    }
}

/// The tokens and cost a request is admitted with: its prompt by the rule of thumb, plus its
/// output limit (or the model's default one) — the most it can use.
pub(super) fn estimate(request: &ChatRequest, route: &Route) -> LimitUsage {
    let mut input: u64 = 0;
    for message in &request.messages {
        for part in message.content() {
            input += match part {
                ContentPart::Text(text) => approx_tokens(text),
                ContentPart::Image(_) => 800,
            };
        }
        if let Message::Assistant { tool_calls, .. } = message {
            input += tool_calls
                .iter()
                .map(|c| approx_tokens(&c.arguments))
                .sum::<u64>();
        }
    }
    let target = route.targets.first().map(|(t, _)| t);
    let output = request
        .max_output_tokens
        .or(target.map(|t| t.profile.default_max_tokens))
        .unwrap_or(0);
    let usage = Usage {
        input_tokens: u32::try_from(input).unwrap_or(u32::MAX),
        output_tokens: output,
        ..Usage::default()
    };
    let n = u64::from(request.n.unwrap_or(1).max(1));
    let cost = cost_of(target.and_then(|t| t.price.as_ref()), &usage);
    LimitUsage {
        tokens: input + u64::from(output) * n,
        cost: Usd::from_micros(cost.micros().saturating_mul(n)),
    }
}
