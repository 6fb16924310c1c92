//! The A2A agents through the admin API: `/agents` registers, replaces and removes agents
//! (stored like the other rules: `governance.rs` keeps them, the A2A plane follows) and shows
//! each one's registration, source and card; `…/{name}/refresh` reads a card again;
//! `/agents/find` is discovery for every caller: the agents it may reach, by skill, tag or
//! text. The `agents` admin area: read to look, write to change.
//!
//! A registration is checked before it is stored: its fields, its destinations (no private
//! networks unless `a2a.allow_private_networks`), and then the agent itself — the hub reads
//! and validates its card. `?check=false` skips reading it, for an agent that is not up yet.

use agenthub_a2a_bus::config::AgentConfig;
use agenthub_a2a_bus::registry::{Agent, AgentStatus, Binding, CardState};
use agenthub_policy::ErrorKind;
use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::{Action, AdminArea, Subjects};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::governance::{
    AGENTS, RuleSource, RuleView, changeable, checked_body, create, delete, replace,
};
use super::{ApiJson, ApiQuery, from_json, require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::governance::RuleKind;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, register_agent))
        .routes(routes!(find_agents))
        .routes(routes!(get_agent, replace_agent, unregister_agent))
        .routes(routes!(refresh_agent))
}

/// One skill of an agent, as discovery shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkillView {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// One registered agent and how its card stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub name: String,
    /// `config` (the configuration file) or `api` (registered through this API; only these
    /// can be changed here).
    pub source: RuleSource,
    /// `pending` (not read yet), `ready`, or `failed`.
    pub state: String,
    /// Why the last read failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set when the last read failed but an earlier card is still in use.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// When the card in use was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    /// Where clients reach it through the hub.
    pub hub_path: String,
    /// The agent's own endpoint, binding (`JSONRPC` or `HTTP+JSON`) and A2A version, as the
    /// hub speaks to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub skills: Vec<SkillView>,
    /// The registration as stored (credentials only as `secret:NAME` references).
    #[schema(value_type = Object)]
    pub registration: Map<String, Value>,
    /// The card as the agent published it (with `?card=true`, and on one agent's page).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub card: Option<Value>,
}

fn millis(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn skills(agent: &Agent) -> Vec<SkillView> {
    agent
        .card
        .skills
        .iter()
        .map(|s| SkillView {
            id: s.id.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            tags: s.tags.clone(),
        })
        .collect()
}

fn view(state: &AppState, status: &AgentStatus, with_card: bool) -> AgentView {
    let name = status.registration.name.clone();
    let source = if state
        .governance
        .stored_rules()
        .iter()
        .any(|r| r.kind == RuleKind::Agent.as_str() && r.id == name)
    {
        RuleSource::Api
    } else {
        RuleSource::Config
    };
    let mut registration = match serde_json::to_value(&status.registration) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    super::governance::mask_credentials(&mut registration);
    let (state_name, error, stale) = match &status.state {
        CardState::Pending => ("pending", None, false),
        CardState::Ready => ("ready", None, false),
        CardState::Failed { error, stale } => ("failed", Some(error.clone()), *stale),
    };
    let agent = status.agent.as_deref();
    AgentView {
        hub_path: format!("/a2a/{name}"),
        name,
        source,
        state: state_name.to_owned(),
        error,
        stale,
        read_at: status.read_at.map(|t| timestamp(millis(t))),
        endpoint: agent.map(|a| a.endpoint.url.clone()),
        binding: agent.map(|a| {
            match a.endpoint.binding {
                Binding::JsonRpc => "JSONRPC",
                Binding::Rest => "HTTP+JSON",
            }
            .to_owned()
        }),
        protocol_version: agent.map(|a| a.endpoint.version.as_str().to_owned()),
        description: agent
            .map(|a| a.card.description.clone())
            .unwrap_or_default(),
        skills: agent.map(skills).unwrap_or_default(),
        registration,
        card: agent.filter(|_| with_card).map(|a| a.raw_card.clone()),
    }
}

/// Whether to include each agent's whole card.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Include each agent's card as published (default `false`).
    pub card: Option<bool>,
}

/// List the registered agents with the state of their cards.
#[utoipa::path(get, path = "/agents", tag = "agents", params(ListQuery),
    responses((status = 200, body = Vec<AgentView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_agents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<AgentView>>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Agents))?;
    let with_card = query.card.unwrap_or(false);
    Ok(Json(
        state
            .a2a
            .registry()
            .statuses()
            .iter()
            .map(|s| view(&state, s, with_card))
            .collect(),
    ))
}

/// Get one registered agent, with its card.
#[utoipa::path(get, path = "/agents/{name}", tag = "agents", params(("name" = String, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<AgentView>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Agents))?;
    let status = state
        .a2a
        .registry()
        .status(&name)
        .ok_or_else(|| Error::not_found(format!("agent \"{name}\"")))?;
    Ok(Json(view(&state, &status, true)))
}

/// What discovery looks for; every given criterion must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FindQuery {
    /// A skill id the agent offers.
    pub skill: Option<String>,
    /// A tag of one of its skills (case-insensitive).
    pub tag: Option<String>,
    /// Text in its name, description, or a skill's name, description or tags
    /// (case-insensitive).
    pub q: Option<String>,
}

/// An agent found by discovery.
#[derive(Debug, Serialize, ToSchema)]
pub struct FoundAgent {
    pub name: String,
    /// Where to reach it through the hub, and its card there.
    pub hub_path: String,
    pub card_path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub skills: Vec<SkillView>,
}

fn matches(agent: &Agent, query: &FindQuery) -> bool {
    let card = &agent.card;
    if let Some(skill) = &query.skill
        && !agent.has_skill(skill)
    {
        return false;
    }
    if let Some(tag) = &query.tag
        && !card
            .skills
            .iter()
            .any(|s| s.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
    {
        return false;
    }
    if let Some(text) = &query.q {
        let text = text.to_lowercase();
        let has = |field: &str| field.to_lowercase().contains(&text);
        let found = has(&agent.name)
            || has(&card.name)
            || has(&card.description)
            || card.skills.iter().any(|s| {
                has(&s.id) || has(&s.name) || has(&s.description) || s.tags.iter().any(|t| has(t))
            });
        if !found {
            return false;
        }
    }
    true
}

/// Find agents by skill, tag or text, among those the caller may see (`list` on
/// `agent:<name>`); any authenticated caller may ask.
#[utoipa::path(get, path = "/agents/find", tag = "agents", params(FindQuery),
    responses((status = 200, body = Vec<FoundAgent>), (status = 401, body = crate::error::ErrorBody)))]
async fn find_agents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<FindQuery>,
) -> Result<Json<Vec<FoundAgent>>> {
    let subjects = Subjects::of(&caller.identity);
    let directory = state.a2a.registry().directory();
    let found = directory
        .iter()
        .filter(|agent| {
            crate::a2a::may(
                &caller,
                &subjects,
                &caller.identity,
                &agent.name,
                Action::List,
            )
        })
        .filter(|agent| matches(agent, &query))
        .map(|agent| FoundAgent {
            name: agent.name.clone(),
            hub_path: format!("/a2a/{}", agent.name),
            card_path: format!("/a2a/{}/.well-known/agent-card.json", agent.name),
            description: agent.card.description.clone(),
            skills: skills(agent),
        })
        .collect();
    Ok(Json(found))
}

/// Whether to read an agent's card before registering it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RegisterQuery {
    /// Read and validate the agent's card before storing (default `true`). `false` registers
    /// an agent that is not reachable yet; its card is read in the background.
    pub check: Option<bool>,
}

/// A registration stored, with the card read when it was checked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    #[serde(flatten)]
    pub registration: RuleView,
    /// The card read (or, for a card given inline, validated) when the registration was
    /// checked: its name, version, A2A version, endpoint and skills (absent with
    /// `?check=false`). Not `card`: that is the registration's own field, flattened beside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_card: Option<CardSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CardSummary {
    pub name: String,
    pub version: String,
    pub protocol_version: String,
    pub endpoint: String,
    pub skills: Vec<SkillView>,
}

/// Checks a registration before it is stored: fields, destinations, and (when `check`) the
/// card itself.
async fn vet(
    state: &AppState,
    body: &Map<String, Value>,
    check: bool,
) -> Result<Option<CardSummary>> {
    checked_body(RuleKind::Agent, body.clone())?;
    let registration: AgentConfig = from_json(Value::Object(body.clone()))?;
    let private_allowed = state.a2a.settings().allow_private_networks;
    if !private_allowed && let Some(url) = &registration.url {
        crate::a2a::public_destination(url)
            .await
            .map_err(|e| Error::invalid_field("url", e))?;
    }
    let must_read = registration.card.is_some() || check;
    if !must_read {
        return Ok(None);
    }
    let agent = state.a2a.registry().probe(&registration).await.map_err(|e| {
        let kind = if registration.card.is_some() {
            ErrorKind::InvalidRequest
        } else {
            ErrorKind::UpstreamFailed
        };
        Error::new(
            kind,
            format!(
                "cannot use agent \"{}\": {e}. Fix the registration{}",
                registration.name,
                if registration.card.is_some() {
                    ""
                } else {
                    ", or register it anyway with ?check=false (its card is then read in the background)"
                }
            ),
        )
    })?;
    if !private_allowed {
        // The card says where messages go: that must be public too.
        crate::a2a::public_destination(&agent.endpoint.url)
            .await
            .map_err(|e| {
                Error::invalid_field(
                    if registration.card.is_some() {
                        "card"
                    } else {
                        "url"
                    },
                    format!("the card's interface {}: {e}", agent.endpoint.url),
                )
            })?;
    }
    Ok(Some(CardSummary {
        name: agent.card.name.clone(),
        version: agent.card.version.clone(),
        protocol_version: agent.endpoint.version.as_str().to_owned(),
        endpoint: agent.endpoint.url.clone(),
        skills: skills(&agent),
    }))
}

/// Applies a stored registration now; a checked agent's card is read again at once, so that
/// the agent is reachable when the answer arrives (rather than when the background read ends).
async fn ready_now(state: &AppState, name: &str, checked: bool) {
    state.a2a.catch_up(&state.governance);
    if checked && let Some(Err(error)) = state.a2a.registry().refresh(name).await {
        tracing::warn!(agent = name, %error, "the agent's card could not be read again after registration");
    }
}

/// Register an agent: `name`, and either `url` (its base URL: the hub reads its card) or
/// `card` (the card itself); optionally `headers` and `bearer_token` (as `secret:NAME`),
/// `refresh_interval`, `principal` (the hub account it calls the hub as) and `public_keys`
/// (JWKs it signs its messages with).
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = Object, params(RegisterQuery),
    responses((status = 201, body = Registered), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
async fn register_agent(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RegisterQuery>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<Registered>)> {
    require(&caller, Access::Write, Target::Area(AdminArea::Agents))?;
    let card = vet(&state, &body, query.check.unwrap_or(true)).await?;
    let (status, Json(registration)) = create(&state, &caller, AGENTS, body).await?;
    ready_now(&state, &registration.id, card.is_some()).await;
    Ok((
        status,
        Json(Registered {
            registration,
            checked_card: card,
        }),
    ))
}

/// Replace a registration made through the API (the body's `name` may be left out). The card
/// is read again.
#[utoipa::path(put, path = "/agents/{name}", tag = "agents", request_body = Object, params(("name" = String, Path), RegisterQuery),
    responses((status = 200, body = Registered), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<RegisterQuery>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Json<Registered>> {
    require(&caller, Access::Write, Target::Area(AdminArea::Agents))?;
    body.entry("name")
        .or_insert_with(|| Value::String(name.clone()));
    changeable(&state, AGENTS, &name)?;
    let card = vet(&state, &body, query.check.unwrap_or(true)).await?;
    let Json(registration) = replace(&state, &caller, AGENTS, &name, body).await?;
    ready_now(&state, &name, card.is_some()).await;
    Ok(Json(Registered {
        registration,
        checked_card: card,
    }))
}

/// Unregister an agent registered through the API.
#[utoipa::path(delete, path = "/agents/{name}", tag = "agents", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn unregister_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    let done = delete(&state, &caller, AGENTS, &name).await?;
    state.a2a.catch_up(&state.governance);
    Ok(done)
}

/// Read an agent's card again now (it is also read every `refresh_interval`).
#[utoipa::path(post, path = "/agents/{name}/refresh", tag = "agents", params(("name" = String, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
async fn refresh_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<AgentView>> {
    require(&caller, Access::Write, Target::Area(AdminArea::Agents))?;
    let registry = state.a2a.registry();
    registry
        .refresh(&name)
        .await
        .ok_or_else(|| Error::not_found(format!("agent \"{name}\"")))?
        .map_err(|e| {
            Error::new(
                ErrorKind::UpstreamFailed,
                format!("cannot read the card of \"{name}\": {e}"),
            )
        })?;
    let status = registry
        .status(&name)
        .ok_or_else(|| Error::not_found(format!("agent \"{name}\"")))?;
    Ok(Json(view(&state, &status, true)))
}
