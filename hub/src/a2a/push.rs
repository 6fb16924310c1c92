//! Push notifications through the hub. A client that gives a push config (with a message, or
//! `CreateTaskPushNotificationConfig`) never has the agent call its webhook directly:
//!
//! 1. The hub checks the client's URL like an agent's (http(s), a public destination unless
//!    `a2a.allow_private_networks`), keeps the config as a subscription (its token and
//!    credentials sealed with the master key) under a fresh random id and secret, and gives the
//!    agent a config pointing at itself instead: `<hub>/a2a/_push/<id>`, authenticated by the
//!    secret (as the token and as a bearer credential). What comes back about push configs
//!    (Create, Get, List) is rewritten to the client's own view; Delete removes the
//!    subscription too.
//! 2. The agent's notifications arrive at `POST /a2a/_push/<id>` ([`receive`]): the secret
//!    checked (in constant time), the body bounded, the event (a v1.0 StreamResponse, or a
//!    v0.3 event) read, its task recorded to its owner, the output guardrails run, the event
//!    recorded in the trace of the exchange that made the subscription, converted to the
//!    client's version and stored as a delivery; the agent gets its 200 at once.
//! 3. A background worker ([`Push`]) delivers: each attempt claimed in the store first (so one
//!    replica sends it at a time), the same body and delivery id (`X-A2A-Delivery-Id`) every
//!    time, retried with exponential backoff until the webhook answers 2xx, refuses it for good
//!    (4xx other than 408 and 429), or the attempts (`a2a.push.max_attempts`) or the time
//!    (`a2a.push.max_age`) run out. A subscription's notifications go out in order.

use std::sync::Arc;
use std::time::Duration;

use agenthub_a2a_bus::config::{A2aSettings, PushSettings};
use agenthub_a2a_bus::protocol::convert;
use agenthub_a2a_bus::protocol::{A2aError, Method, ProtocolVersion, access};
use agenthub_a2a_bus::registry::Agent;
use agenthub_policy::Identity;
use agenthub_policy::SubjectKind;
use agenthub_policy::guardrails::Stage;
use agenthub_policy::when::{Plane, RequestFacts};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use super::exchange::{ClientRequest, Failure, event_kind, inspect};
use super::traces::{Span, TraceContext};
use crate::app::AppState;
use crate::auth::Caller;
use crate::directory::Accounts;
use crate::model::{Millis, now_millis};
use crate::secrets::Sealed;
use crate::store::{PushDelivery, PushSubscription, Store};

/// Where agents send the notifications of a subscription: `<hub>/a2a/_push/<id>`.
pub const PUSH_PATH: &str = "/a2a/_push/";
/// The header carrying a delivery's id, the same on every attempt.
pub const DELIVERY_ID_HEADER: &str = "x-a2a-delivery-id";
/// The header carrying a push config's token (v0.3's, which a2a-sdk sends in both versions).
pub const TOKEN_HEADER: &str = "x-a2a-notification-token";
/// The scheme of the credentials the hub gives agents.
const HUB_SCHEME: &str = "Bearer";
/// The method name of notification spans in traces.
const SPAN_METHOD: &str = "PushNotification";

/// The longest webhook URL, token, scheme or credentials accepted from a client.
const MAX_URL: usize = 2048;
const MAX_CREDENTIAL: usize = 4096;
/// How many due deliveries one round takes on.
const BATCH: i64 = 100;
/// The longest the worker sleeps without looking at the store (other replicas' deliveries,
/// claims that ran out).
const IDLE_POLL: Duration = Duration::from_secs(10);
/// The shortest pause between rounds.
const MIN_PAUSE: Duration = Duration::from_millis(20);
/// After a store error.
const ERROR_PAUSE: Duration = Duration::from_secs(2);
/// How often ended deliveries and idle subscriptions are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Ended deliveries are kept this long.
const DELIVERY_RETENTION_MS: Millis = 7 * 24 * 3_600_000;
/// Subscriptions with no notification for this long are deleted.
const SUBSCRIPTION_RETENTION_MS: Millis = 30 * 24 * 3_600_000;

/// The name a subscription's token and credentials are sealed under.
fn sealed_name(id: &str) -> String {
    format!("a2a-push:{id}")
}

/// Re-seals a subscription's credentials under the current master key (`secrets rotate-key`).
pub fn reseal(
    keyring: &crate::secrets::Keyring,
    id: &str,
    sealed: Sealed,
) -> std::result::Result<Sealed, crate::secrets::SecretError> {
    keyring.reseal_value(&sealed_name(id), sealed)
}

// ---------------------------------------------------------------------------------------------
// The client's config and where it sits in each method's params.

/// A push config as the client gave it.
#[derive(Debug, Clone, PartialEq, Default)]
struct ClientConfig {
    url: String,
    token: Option<String>,
    scheme: Option<String>,
    credentials: Option<String>,
}

/// What the sealed value holds.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Secrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials: Option<String>,
}

/// The path of the object holding `url`, `token` and `authentication` in a method's params
/// (JSON-RPC form of `version`), for error messages; `None` for methods without one.
fn config_path(method: Method, version: ProtocolVersion) -> Option<&'static str> {
    match (method, version) {
        (Method::CreateTaskPushNotificationConfig, ProtocolVersion::V1_0) => Some("params"),
        (Method::CreateTaskPushNotificationConfig, ProtocolVersion::V0_3) => {
            Some("params.pushNotificationConfig")
        }
        (Method::SendMessage | Method::SendStreamingMessage, ProtocolVersion::V1_0) => {
            Some("params.configuration.taskPushNotificationConfig")
        }
        (Method::SendMessage | Method::SendStreamingMessage, ProtocolVersion::V0_3) => {
            Some("params.configuration.pushNotificationConfig")
        }
        _ => None,
    }
}

/// The object holding `url`, `token` and `authentication` in a method's params.
fn config_mut(
    method: Method,
    version: ProtocolVersion,
    params: &mut Value,
) -> Option<&mut Map<String, Value>> {
    let path = config_path(method, version)?;
    let mut at = params;
    for key in path.split('.').skip(1) {
        at = at.get_mut(key)?;
    }
    at.as_object_mut()
}

/// The object holding `url`, `token` and `authentication` in a TaskPushNotificationConfig of
/// `version` (v1.0: the config itself; v0.3: its `pushNotificationConfig`).
fn inner_config_mut(
    config: &mut Value,
    version: ProtocolVersion,
) -> Option<&mut Map<String, Value>> {
    match version {
        ProtocolVersion::V1_0 => config.as_object_mut(),
        ProtocolVersion::V0_3 => config.get_mut("pushNotificationConfig")?.as_object_mut(),
    }
}

/// An `authentication` object in `version`'s form.
fn authentication(version: ProtocolVersion, scheme: &str, credentials: Option<&str>) -> Value {
    let mut auth = Map::new();
    match version {
        ProtocolVersion::V1_0 => {
            auth.insert("scheme".into(), scheme.into());
        }
        ProtocolVersion::V0_3 => {
            auth.insert("schemes".into(), json!([scheme]));
        }
    }
    if let Some(credentials) = credentials {
        auth.insert("credentials".into(), credentials.into());
    }
    Value::Object(auth)
}

fn invalid(at: &str, message: impl std::fmt::Display) -> Failure {
    A2aError::invalid_params()
        .with_message(format!("{at}: {message}"))
        .into()
}

/// An optional string field that will be sent as (part of) a header value.
fn header_safe(
    object: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, Failure> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => {
            if text.len() > MAX_CREDENTIAL {
                return Err(invalid(
                    &format!("{at}.{key}"),
                    format!("is longer than {MAX_CREDENTIAL} characters"),
                ));
            }
            if HeaderValue::from_str(text).is_err() {
                return Err(invalid(
                    &format!("{at}.{key}"),
                    "is not usable in an HTTP header (control characters?)",
                ));
            }
            Ok(Some(text.clone()))
        }
        Some(_) => Err(invalid(&format!("{at}.{key}"), "must be a string")),
    }
}

/// Reads the client's config from the object at `at`.
fn read_config(
    object: &Map<String, Value>,
    version: ProtocolVersion,
    at: &str,
) -> Result<ClientConfig, Failure> {
    let url = match object.get("url") {
        Some(Value::String(url)) if !url.is_empty() => url.clone(),
        _ => return Err(invalid(&format!("{at}.url"), "is required")),
    };
    check_url(&url).map_err(|message| invalid(&format!("{at}.url"), message))?;
    let token = header_safe(object, "token", at)?;
    let (scheme, credentials) = match object.get("authentication") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Object(auth)) => {
            let auth_at = format!("{at}.authentication");
            let scheme = match version {
                ProtocolVersion::V1_0 => header_safe(auth, "scheme", &auth_at)?,
                ProtocolVersion::V0_3 => match auth.get("schemes") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(schemes)) => match schemes.first() {
                        None => None,
                        Some(Value::String(scheme)) if !scheme.is_empty() => Some(scheme.clone()),
                        Some(_) => {
                            return Err(invalid(
                                &format!("{auth_at}.schemes[0]"),
                                "must be a non-empty string",
                            ));
                        }
                    },
                    Some(_) => {
                        return Err(invalid(&format!("{auth_at}.schemes"), "must be an array"));
                    }
                },
            };
            if let Some(scheme) = &scheme
                && !is_token(scheme)
            {
                return Err(invalid(
                    &format!("{auth_at}.scheme"),
                    "must be an HTTP authentication scheme name (e.g. Bearer)",
                ));
            }
            (scheme, header_safe(auth, "credentials", &auth_at)?)
        }
        Some(_) => {
            return Err(invalid(
                &format!("{at}.authentication"),
                "must be an object",
            ));
        }
    };
    Ok(ClientConfig {
        url,
        token,
        scheme,
        credentials,
    })
}

/// RFC 9110's `token`: what an authentication scheme's name is made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A webhook URL the hub may post to: absolute http(s), with a host, no credentials, no
/// fragment. Whether its destination is public is checked apart (it resolves the name).
fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL {
        return Err(format!("is longer than {MAX_URL} characters"));
    }
    let uri = http::Uri::try_from(url).map_err(|e| format!("\"{url}\" is not a valid URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("\"{url}\" must start with https:// or http://")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("\"{url}\" names no host"));
    };
    if authority.as_str().contains('@') {
        return Err(format!(
            "\"{url}\" must not carry credentials (give them in authentication)"
        ));
    }
    if url.contains('#') {
        return Err(format!("\"{url}\" must not have a fragment"));
    }
    Ok(())
}

/// Refuses a webhook URL whose host resolves to a non-public address.
async fn public_destination(url: &str) -> Result<(), String> {
    super::public_destination_for(url, "allow webhooks").await
}

// ---------------------------------------------------------------------------------------------
// The exchange's side: the request's config swapped for the hub's, the answer's swapped back.

/// What an exchange carries from its request to its answer about push configs.
pub(super) struct Pending {
    agent: String,
    principal: String,
    method: Method,
    version: ProtocolVersion,
    kind: PendingKind,
}

enum PendingKind {
    /// The client's config is kept as subscription `id`; the agent gets the hub's.
    Subscribed {
        id: String,
        secret: String,
        client: ClientConfig,
        config_id: Option<String>,
    },
    /// Get or List: the configs answered are rewritten to the client's view.
    Reading,
    /// Delete: the subscriptions behind the config go with it.
    Deleting { task_id: String, config_id: String },
}

/// Takes the push config out of a client's request: kept by the hub, and the request's
/// config pointed at the hub (its token and credentials removed; [`arm`] adds the hub's after
/// the request is recorded in the trace). `None` when the request carries no push config and
/// its answer carries none.
pub(super) async fn intercept(
    state: &AppState,
    caller: &Caller,
    agent: &Agent,
    principal: &str,
    request: &mut ClientRequest,
) -> Result<Option<Pending>, Failure> {
    let (method, version) = (request.method, request.version);
    let pending = |kind| {
        Some(Pending {
            agent: agent.name.clone(),
            principal: principal.to_owned(),
            method,
            version,
            kind,
        })
    };
    match method {
        Method::GetTaskPushNotificationConfig | Method::ListTaskPushNotificationConfigs => {
            return Ok(pending(PendingKind::Reading));
        }
        Method::DeleteTaskPushNotificationConfig => {
            let (task_key, config_key) = match version {
                ProtocolVersion::V1_0 => ("taskId", "id"),
                ProtocolVersion::V0_3 => ("id", "pushNotificationConfigId"),
            };
            let text = |key| {
                request
                    .params
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            return Ok(match (text(task_key), text(config_key)) {
                (Some(task_id), Some(config_id)) => {
                    pending(PendingKind::Deleting { task_id, config_id })
                }
                _ => None,
            });
        }
        _ => {}
    }
    let Some(at) = config_path(method, version) else {
        return Ok(None);
    };
    let task_id = match method {
        Method::CreateTaskPushNotificationConfig => request.params.get("taskId"),
        _ => access::params_message(method, &request.params).and_then(|m| m.get("taskId")),
    }
    .and_then(Value::as_str)
    .filter(|id| !id.is_empty())
    .map(str::to_owned);
    let Some(object) = config_mut(method, version, &mut request.params) else {
        return Ok(None);
    };
    let client = read_config(object, version, at)?;
    if !state.a2a.settings().allow_private_networks {
        public_destination(&client.url)
            .await
            .map_err(|message| invalid(&format!("{at}.url"), message))?;
    }
    let config_id = object
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let id = crate::keys::random_token(16);
    let secret = crate::keys::random_token(32);
    let secrets = Secrets {
        token: client.token.clone(),
        credentials: client.credentials.clone(),
    };
    let sealed = (secrets.token.is_some() || secrets.credentials.is_some()).then(|| {
        let plain = serde_json::to_vec(&secrets).unwrap_or_default();
        state
            .accounts
            .keyring()
            .seal_value(&sealed_name(&id), &plain)
    });
    let now = now_millis();
    let subscription = PushSubscription {
        id: id.clone(),
        secret_hash: crate::keys::hash(&secret),
        agent: agent.name.clone(),
        task_id,
        config_id: config_id.clone(),
        principal: principal.to_owned(),
        caller: caller.identity.subject(),
        metadata: (*request.metadata).clone(),
        client_version: version.as_str().to_owned(),
        url: client.url.clone(),
        auth_scheme: client.scheme.clone(),
        sealed,
        trace_id: request.trace.trace_id.clone(),
        span_id: request.trace.span_id.clone(),
        created_at: now,
        updated_at: now,
    };
    state
        .accounts
        .store()
        .insert_push_subscription(&subscription)
        .await?;
    // The agent is given the hub's webhook; the secret is added by `arm`.
    object.insert(
        "url".into(),
        format!("{}{PUSH_PATH}{id}", request.base_url.trim_end_matches('/')).into(),
    );
    object.remove("token");
    object.remove("authentication");
    Ok(pending(PendingKind::Subscribed {
        id,
        secret,
        client,
        config_id,
    }))
}

/// Gives the agent the subscription's secret, as the token and as bearer credentials, in the
/// params written in the agent's `version`.
pub(super) fn arm(pending: Option<&Pending>, version: ProtocolVersion, params: &mut Value) {
    let Some(Pending {
        method,
        kind: PendingKind::Subscribed { secret, .. },
        ..
    }) = pending
    else {
        return;
    };
    if let Some(object) = config_mut(*method, version, params) {
        object.insert("token".into(), secret.as_str().into());
        object.insert(
            "authentication".into(),
            authentication(version, HUB_SCHEME, Some(secret)),
        );
    }
}

/// The request was not relayed: a subscription made for it goes.
pub(super) async fn abandon(plane: &super::A2aPlane, pending: Option<&Pending>) {
    if let Some(Pending {
        kind: PendingKind::Subscribed { id, .. },
        ..
    }) = pending
        && let Err(e) = plane.push().store.delete_push_subscription(id).await
    {
        tracing::debug!(error = %e, "could not delete an unused push subscription");
    }
}

/// Rewrites an answer (in the client's version) about push configs to the client's view: its
/// own URL, token and credentials, never the hub's. A config the agent accepted completes its
/// subscription (task and config ids); a deleted one takes its subscriptions with it.
pub(super) async fn answered(
    plane: &super::A2aPlane,
    pending: Option<&Pending>,
    result: &mut Value,
) {
    let Some(pending) = pending else {
        return;
    };
    let store = &plane.push().store;
    let version = pending.version;
    match &pending.kind {
        PendingKind::Subscribed {
            id,
            client,
            config_id,
            ..
        } => {
            let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
            let (task_id, answered_id) = match pending.method {
                Method::CreateTaskPushNotificationConfig => (
                    text(result.get("taskId")),
                    text(inner_config_mut(result, version).and_then(|inner| inner.get("id"))),
                ),
                _ => (
                    access::result_task_id(pending.method, version, result).map(str::to_owned),
                    None,
                ),
            };
            // An agent that assigns no id of its own uses the task's (a2a-sdk does).
            let config_id = config_id.clone().or(answered_id).or(task_id.clone());
            if let Err(e) = store
                .complete_push_subscription(id, task_id.as_deref(), config_id.as_deref())
                .await
            {
                tracing::warn!(error = %e, "could not record a push subscription's task");
            }
            // A config with the same id replaced the older one at the agent.
            if let (Some(task_id), Some(config_id)) = (&task_id, &config_id) {
                replaced(store, pending, task_id, config_id, id).await;
            }
            if pending.method == Method::CreateTaskPushNotificationConfig
                && let Some(inner) = inner_config_mut(result, version)
            {
                client_view(inner, version, client);
            }
        }
        PendingKind::Reading => {
            let configs: Vec<&mut Value> = match (pending.method, version) {
                (Method::GetTaskPushNotificationConfig, _) => vec![result],
                (_, ProtocolVersion::V1_0) => match result.get_mut("configs") {
                    Some(Value::Array(configs)) => configs.iter_mut().collect(),
                    _ => Vec::new(),
                },
                (_, ProtocolVersion::V0_3) => match result {
                    Value::Array(configs) => configs.iter_mut().collect(),
                    _ => Vec::new(),
                },
            };
            for config in configs {
                let Some(inner) = inner_config_mut(config, version) else {
                    continue;
                };
                let client = match hub_subscription(inner) {
                    Some(id) => match store.push_subscription(&id).await {
                        Ok(Some(sub))
                            if sub.agent == pending.agent && sub.principal == pending.principal =>
                        {
                            open_client_config(&plane.push().accounts, &sub)
                        }
                        _ => None,
                    },
                    // Not the hub's: set at the agent some other way; passed on as it is.
                    None => continue,
                };
                match client {
                    Some(client) => client_view(inner, version, &client),
                    None => {
                        // The hub's secret never reaches the client.
                        inner.remove("token");
                        inner.remove("authentication");
                    }
                }
            }
        }
        PendingKind::Deleting { task_id, config_id } => {
            let subscriptions = store
                .push_subscriptions_of_task(&pending.agent, &pending.principal, task_id)
                .await
                .unwrap_or_default();
            for sub in subscriptions
                .iter()
                .filter(|s| s.config_id.as_deref().unwrap_or(task_id) == config_id)
            {
                if let Err(e) = store.delete_push_subscription(&sub.id).await {
                    tracing::warn!(error = %e, "could not delete a push subscription");
                }
            }
        }
    }
}

/// Deletes the subscriptions a new one with the same task and config id replaced.
async fn replaced(store: &Store, pending: &Pending, task_id: &str, config_id: &str, new: &str) {
    let Ok(subscriptions) = store
        .push_subscriptions_of_task(&pending.agent, &pending.principal, task_id)
        .await
    else {
        return;
    };
    for sub in subscriptions {
        if sub.id != new && sub.config_id.as_deref() == Some(config_id) {
            let _ = store.delete_push_subscription(&sub.id).await;
        }
    }
}

/// A copy of an answer for the trace: push configs without tokens or credentials.
pub(super) fn for_trace(pending: Option<&Pending>, result: &Value) -> Value {
    let mut traced = result.clone();
    let about_configs = pending
        .is_some_and(|p| !matches!(p.method, Method::SendMessage | Method::SendStreamingMessage));
    if !about_configs {
        return traced;
    }
    fn strip(value: &mut Value) {
        match value {
            Value::Object(object) => {
                object.remove("token");
                if let Some(Value::Object(auth)) = object.get_mut("authentication") {
                    auth.remove("credentials");
                }
                object.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut traced);
    traced
}

/// The subscription id of a config pointing at the hub's webhook.
fn hub_subscription(inner: &Map<String, Value>) -> Option<String> {
    let url = inner.get("url")?.as_str()?;
    let (_, id) = url.rsplit_once(PUSH_PATH)?;
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| id.to_owned())
}

/// The client's config of a subscription, its secrets opened.
fn open_client_config(accounts: &Accounts, sub: &PushSubscription) -> Option<ClientConfig> {
    let secrets = match &sub.sealed {
        None => Secrets::default(),
        Some(sealed) => {
            let plain = accounts
                .keyring()
                .open_value(&sealed_name(&sub.id), sealed)
                .map_err(|e| tracing::warn!(subscription = %sub.id, error = %e, "a push subscription's credentials cannot be opened"))
                .ok()?;
            serde_json::from_slice(&plain).ok()?
        }
    };
    Some(ClientConfig {
        url: sub.url.clone(),
        token: secrets.token,
        scheme: sub.auth_scheme.clone(),
        credentials: secrets.credentials,
    })
}

/// Puts the client's own URL, token and authentication in a config object of `version`.
fn client_view(inner: &mut Map<String, Value>, version: ProtocolVersion, client: &ClientConfig) {
    inner.insert("url".into(), client.url.as_str().into());
    match &client.token {
        Some(token) => inner.insert("token".into(), token.as_str().into()),
        None => inner.remove("token"),
    };
    if client.scheme.is_some() || client.credentials.is_some() {
        inner.insert(
            "authentication".into(),
            authentication(
                version,
                client.scheme.as_deref().unwrap_or(HUB_SCHEME),
                client.credentials.as_deref(),
            ),
        );
    } else {
        inner.remove("authentication");
    }
}

// ---------------------------------------------------------------------------------------------
// The agent's side: notifications received at /a2a/_push/<id>.

/// The hash of a secret, compared in constant time.
fn same_secret(presented: &str, hash: &str) -> bool {
    let presented = crate::keys::hash(presented);
    presented.len() == hash.len()
        && presented
            .bytes()
            .zip(hash.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether the request carries the subscription's secret: as the token header, or as bearer
/// credentials.
fn authenticated(headers: &HeaderMap, sub: &PushSubscription) -> bool {
    let token = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(HUB_SCHEME))
        .map(|(_, credentials)| credentials.trim());
    // Both are checked, so the time taken does not say which one was present.
    let by_token = token.is_some_and(|t| same_secret(t, &sub.secret_hash));
    let by_bearer = bearer.is_some_and(|b| same_secret(b, &sub.secret_hash));
    by_token | by_bearer
}

/// A notification in the v1.0 form: a v1.0 StreamResponse as it is, a v0.3 event (a Task,
/// Message, status-update or artifact-update, with `kind`) converted.
fn to_v1(body: Value) -> Option<Value> {
    let object = body.as_object()?;
    let members = ["task", "message", "statusUpdate", "artifactUpdate"];
    let present = members.iter().filter(|m| object.contains_key(**m)).count();
    if present == 1 && !object.contains_key("kind") {
        return Some(body);
    }
    if object.contains_key("kind") {
        return convert::stream_event(ProtocolVersion::V0_3, ProtocolVersion::V1_0, body).ok();
    }
    None
}

/// The identity a subscription's notifications are inspected for: its caller's as the
/// directory knows it now.
fn identity_of(accounts: &Accounts, caller: &str) -> Identity {
    let (kind, name) = caller.split_once(':').unwrap_or(("user", caller));
    let directory = accounts.snapshot();
    if let Some(principal) = directory.principal(name) {
        return directory.identity_of(principal, None);
    }
    let kind = match kind {
        "user" => SubjectKind::User,
        "service" => SubjectKind::Service,
        "agent" => SubjectKind::Agent,
        _ => SubjectKind::Key,
    };
    Identity::named(kind, name)
}

/// What replaces a notification the guardrails blocked: the task failed, with why.
fn blocked_event(task_id: &str, context_id: Option<&str>, reason: &str) -> Value {
    json!({
        "statusUpdate": {
            "taskId": task_id,
            "contextId": context_id.unwrap_or_default(),
            "status": {
                "state": "TASK_STATE_FAILED",
                "message": {
                    "messageId": super::traces::event_id(),
                    "role": "ROLE_AGENT",
                    "parts": [{"text": format!("a notification was withheld: {reason}")}],
                },
                "timestamp": crate::api::timestamp(now_millis()),
            },
        }
    })
}

fn status(code: StatusCode) -> Response {
    code.into_response()
}

/// `POST /a2a/_push/{subscription}`: a notification from the agent. Not behind the hub's
/// authentication: the agent proves itself with the subscription's secret. An unknown
/// subscription is 404 and a wrong secret 401, neither with a body.
pub(super) async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let plane = &state.a2a;
    let store = &plane.push().store;
    let sub = match store.push_subscription(&id).await {
        Ok(Some(sub)) => sub,
        Ok(None) => return status(StatusCode::NOT_FOUND),
        Err(error) => return error.into_response(),
    };
    if !authenticated(&headers, &sub) {
        return status(StatusCode::UNAUTHORIZED);
    }
    let limit = plane.settings().max_message_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return status(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let Some(mut event) = serde_json::from_slice(&bytes).ok().and_then(to_v1) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let v1 = ProtocolVersion::V1_0;
    let Some(task_id) = access::event_task_id(v1, &event).map(str::to_owned) else {
        return status(StatusCode::BAD_REQUEST);
    };
    // A subscription is for one task.
    if sub.task_id.as_deref().is_some_and(|t| t != task_id) {
        return status(StatusCode::BAD_REQUEST);
    }
    let context_id = access::event_context_id(v1, &event).map(str::to_owned);
    if sub.task_id.is_none()
        && let Err(e) = store
            .complete_push_subscription(&sub.id, Some(&task_id), None)
            .await
    {
        tracing::warn!(error = %e, "could not record a push subscription's task");
    }
    plane.tasks().record(
        &sub.agent,
        &task_id,
        &sub.principal,
        context_id.as_deref(),
        &sub.trace_id,
    );

    // The output guardrails, as for any answer of the agent.
    let identity = identity_of(&state.accounts, &sub.caller);
    let facts = RequestFacts {
        identity: &identity,
        plane: Plane::A2a,
        model: None,
        tool: None,
        agent: Some(&sub.agent),
        metadata: &sub.metadata,
    };
    let mut outcome = "ok".to_owned();
    if let Err(failure) = inspect(&state.governance, &mut event, Stage::Output, &facts).await {
        let reason = match failure {
            Failure::A2a(e) => e.message,
            Failure::Hub(e) => e.message().to_owned(),
        };
        outcome = format!("error: {reason}");
        event = blocked_event(&task_id, context_id.as_deref(), &reason);
    }

    // Recorded in the trace of the exchange that made the subscription.
    let parent = format!("00-{}-{}-01", sub.trace_id, sub.span_id);
    let mut span = Span::new(
        plane.recorder().clone(),
        TraceContext::continue_from(Some(&parent)),
        sub.agent.clone(),
        SPAN_METHOD,
        sub.principal.clone(),
        vec![sub.principal.clone()],
    );
    span.task_id = Some(task_id.clone());
    span.context_id = context_id.clone();
    span.event(event_kind(&event), Some(event.clone()));
    span.end(&outcome, None);

    let client_version =
        ProtocolVersion::parse(&sub.client_version).unwrap_or(ProtocolVersion::V1_0);
    let Ok(converted) = convert::stream_event(v1, client_version, event) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let body = converted.to_string();
    let delivery_id = super::traces::event_id();
    match store
        .queue_push_delivery(&sub.id, &delivery_id, &body, now_millis())
        .await
    {
        Ok(Some(_)) => {
            plane.push().wake.notify_one();
            StatusCode::OK.into_response()
        }
        // Deleted meanwhile.
        Ok(None) => status(StatusCode::NOT_FOUND),
        Err(error) => error.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery to the clients' webhooks.

/// The push notifications' store and the worker that delivers them.
pub struct Push {
    store: Store,
    accounts: Arc<Accounts>,
    wake: Arc<Notify>,
    worker: JoinHandle<()>,
}

impl Push {
    /// Starts the worker (it picks up what earlier runs left undelivered).
    pub fn start(accounts: Arc<Accounts>, settings: &A2aSettings) -> Self {
        let client = crate::outbound::client_builder()
            .connect_timeout(settings.push.timeout.min(settings.connect_timeout))
            .timeout(settings.push.timeout)
            .build()
            .unwrap_or_else(|e| panic!("the TLS client cannot be built: {e}"));
        let wake = Arc::new(Notify::new());
        let deliverer = Arc::new(Deliverer {
            store: accounts.store().clone(),
            accounts: accounts.clone(),
            settings: settings.push.clone(),
            allow_private: settings.allow_private_networks,
            client,
            wake: wake.clone(),
            in_flight: Arc::new(Semaphore::new(settings.push.max_in_flight)),
        });
        let worker = tokio::spawn(deliverer.run());
        Self {
            store: accounts.store().clone(),
            accounts,
            wake,
            worker,
        }
    }

    /// Stops delivering; what is undelivered stays in the store for the next start (or
    /// another replica), attempts under way included once their claims run out.
    pub fn shutdown(&self) {
        self.worker.abort();
    }
}

struct Deliverer {
    store: Store,
    accounts: Arc<Accounts>,
    settings: PushSettings,
    allow_private: bool,
    client: reqwest::Client,
    wake: Arc<Notify>,
    in_flight: Arc<Semaphore>,
}

/// What one attempt came to.
#[derive(Debug, PartialEq)]
enum Attempt {
    Delivered,
    /// Refused for good.
    Refused(String),
    /// Worth another try, not before the delay given (`Retry-After`), if any.
    Retry(String, Option<Duration>),
}

fn millis(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}

impl Deliverer {
    async fn run(self: Arc<Self>) {
        let mut purged = tokio::time::Instant::now();
        loop {
            let pause = match self.round().await {
                Ok(pause) => pause,
                Err(e) => {
                    tracing::warn!(error = %e, "push notification deliveries could not be read");
                    ERROR_PAUSE
                }
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
            if purged.elapsed() >= PURGE_EVERY {
                purged = tokio::time::Instant::now();
                let now = now_millis();
                match self
                    .store
                    .purge_push(now - DELIVERY_RETENTION_MS, now - SUBSCRIPTION_RETENTION_MS)
                    .await
                {
                    Ok((deliveries, subscriptions)) if deliveries + subscriptions > 0 => {
                        tracing::debug!(
                            deliveries,
                            subscriptions,
                            "old push notifications deleted"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "could not delete old push notifications")
                    }
                }
            }
        }
    }

    /// How long an attempt is claimed for: long enough that no other replica starts the next
    /// one while it may still be in flight.
    fn lease(&self) -> Duration {
        self.settings
            .timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(5))
    }

    /// Sends the deliveries due now, each claimed first; how long to wait for the next.
    async fn round(self: &Arc<Self>) -> crate::error::Result<Duration> {
        let due = self.store.due_push_deliveries(now_millis(), BATCH).await?;
        for delivery in due {
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                break;
            };
            let now = now_millis();
            let until = now.saturating_add(millis(self.lease()));
            if !self
                .store
                .claim_push_delivery(&delivery.id, delivery.attempts, now, until)
                .await?
            {
                continue; // another replica has this attempt
            }
            let this = self.clone();
            tokio::spawn(async move {
                this.deliver(delivery).await;
                drop(permit);
                // The subscription's next notification may be due now.
                this.wake.notify_one();
            });
        }
        let pause = match self.store.next_push_due().await? {
            None => IDLE_POLL,
            Some(at) => {
                Duration::from_millis(u64::try_from(at.saturating_sub(now_millis())).unwrap_or(0))
                    .clamp(MIN_PAUSE, IDLE_POLL)
            }
        };
        Ok(pause)
    }

    /// The delay before the attempt after `attempt` failed ones: `retry_initial` doubled for
    /// each, at most `retry_max`.
    fn backoff(&self, attempt: i64) -> Duration {
        let shift = u32::try_from((attempt - 1).clamp(0, 30)).unwrap_or(30);
        self.settings
            .retry_initial
            .saturating_mul(1u32 << shift)
            .min(self.settings.retry_max)
    }

    /// One claimed attempt of a delivery, and what follows from it.
    async fn deliver(&self, delivery: PushDelivery) {
        let attempt = delivery.attempts + 1;
        let sub = match self
            .store
            .push_subscription(&delivery.subscription_id)
            .await
        {
            Ok(Some(sub)) => sub,
            // Deleted (its deliveries with it).
            Ok(None) => return,
            // Tried again when the claim runs out.
            Err(e) => {
                tracing::debug!(error = %e, "could not read a push subscription");
                return;
            }
        };
        let outcome = self.send(&sub, &delivery).await;
        let now = now_millis();
        let result = match outcome {
            Attempt::Delivered => {
                self.store
                    .finish_push_delivery(&delivery.id, true, None, now)
                    .await
            }
            Attempt::Refused(reason) => {
                tracing::warn!(subscription = %sub.id, delivery = %delivery.id, agent = %sub.agent, %reason, "a push notification was refused by the client's webhook; not retried");
                self.store
                    .finish_push_delivery(&delivery.id, false, Some(&reason), now)
                    .await
            }
            Attempt::Retry(reason, after) => {
                let delay = self
                    .backoff(attempt)
                    .max(after.unwrap_or_default().min(self.settings.retry_max));
                let at = now.saturating_add(millis(delay));
                let deadline = delivery
                    .created_at
                    .saturating_add(millis(self.settings.max_age));
                if attempt >= i64::from(self.settings.max_attempts) || at > deadline {
                    let reason = format!("gave up after {attempt} attempts: {reason}");
                    tracing::warn!(subscription = %sub.id, delivery = %delivery.id, agent = %sub.agent, %reason, "a push notification could not be delivered");
                    self.store
                        .finish_push_delivery(&delivery.id, false, Some(&reason), now)
                        .await
                } else {
                    tracing::debug!(delivery = %delivery.id, attempt, %reason, "push notification delivery failed; will retry");
                    self.store
                        .retry_push_delivery(&delivery.id, attempt, at, &reason)
                        .await
                        .map(drop)
                }
            }
        };
        if let Err(e) = result {
            // The claim runs out and the attempt is made again: the client sees the same
            // delivery id twice at worst.
            tracing::warn!(error = %e, delivery = %delivery.id, "could not record a push notification's delivery");
        }
    }

    /// One POST to the client's webhook.
    async fn send(&self, sub: &PushSubscription, delivery: &PushDelivery) -> Attempt {
        if !self.allow_private {
            match tokio::time::timeout(self.settings.timeout, public_destination(&sub.url)).await {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Attempt::Refused(reason),
                Err(_) => return Attempt::Retry("the webhook's name did not resolve".into(), None),
            }
        }
        let Some(client) = open_client_config(&self.accounts, sub) else {
            return Attempt::Refused("the webhook's credentials cannot be opened".into());
        };
        let mut request = self
            .client
            .post(&sub.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_ID_HEADER, delivery.id.as_str())
            .body(delivery.body.clone());
        if let Some(token) = &client.token
            && let Ok(mut value) = HeaderValue::from_str(token)
        {
            value.set_sensitive(true);
            request = request.header(TOKEN_HEADER, value);
        }
        if let Some(credentials) = &client.credentials {
            let scheme = client.scheme.as_deref().unwrap_or(HUB_SCHEME);
            if let Ok(mut value) = HeaderValue::from_str(&format!("{scheme} {credentials}")) {
                value.set_sensitive(true);
                request = request.header(header::AUTHORIZATION, value);
            }
        }
        match request.send().await {
            Ok(response) => {
                let code = response.status();
                if code.is_success() {
                    return Attempt::Delivered;
                }
                let reason = format!("the webhook answered {code}");
                if code == StatusCode::REQUEST_TIMEOUT
                    || code == StatusCode::TOO_MANY_REQUESTS
                    || code.is_server_error()
                {
                    let after = response
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    Attempt::Retry(reason, after)
                } else {
                    Attempt::Refused(reason)
                }
            }
            Err(e) if e.is_timeout() => {
                Attempt::Retry("the webhook did not answer in time".into(), None)
            }
            Err(e) => Attempt::Retry(format!("the webhook could not be reached: {e}"), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_their_destination() {
        assert_eq!(check_url("https://hooks.example.com/a2a?x=1"), Ok(()));
        assert_eq!(check_url("http://127.0.0.1:9/webhook"), Ok(()));
        for bad in [
            "ftp://hooks.example.com/",
            "/relative",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://h.example.com/{}", "a".repeat(MAX_URL))).is_err());
    }

    #[test]
    fn configs_are_found_and_read_in_both_versions() {
        let mut v1 = json!({"message": {}, "configuration": {"taskPushNotificationConfig": {
            "url": "https://h.example.com/", "token": "t",
            "authentication": {"scheme": "Basic", "credentials": "c"}}}});
        let object = config_mut(Method::SendMessage, ProtocolVersion::V1_0, &mut v1).unwrap();
        let config = read_config(object, ProtocolVersion::V1_0, "params.x").unwrap();
        assert_eq!(
            config,
            ClientConfig {
                url: "https://h.example.com/".into(),
                token: Some("t".into()),
                scheme: Some("Basic".into()),
                credentials: Some("c".into()),
            }
        );
        let mut v03 = json!({"taskId": "t1", "pushNotificationConfig": {
            "url": "https://h.example.com/", "authentication": {"schemes": ["Bearer", "Basic"], "credentials": "c"}}});
        let object = config_mut(
            Method::CreateTaskPushNotificationConfig,
            ProtocolVersion::V0_3,
            &mut v03,
        )
        .unwrap();
        let config = read_config(object, ProtocolVersion::V0_3, "params.p").unwrap();
        assert_eq!(config.scheme.as_deref(), Some("Bearer"));
        assert_eq!(config.token, None);

        let failure = read_config(
            json!({"url": "https://h.example.com/", "token": "a\nb"})
                .as_object()
                .unwrap(),
            ProtocolVersion::V1_0,
            "params",
        )
        .unwrap_err();
        let Failure::A2a(error) = failure else {
            panic!("not an A2A error")
        };
        assert_eq!(error.kind.code(), -32602);
        assert!(
            error.message.starts_with("params.token:"),
            "{}",
            error.message
        );
        let Failure::A2a(error) = read_config(
            json!({"url": "https://h.example.com/", "authentication": {"scheme": "Bad Scheme"}})
                .as_object()
                .unwrap(),
            ProtocolVersion::V1_0,
            "params",
        )
        .unwrap_err() else {
            panic!("not an A2A error")
        };
        assert!(
            error.message.starts_with("params.authentication.scheme:"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_client_view_replaces_the_hubs_config() {
        let client = ClientConfig {
            url: "https://h.example.com/".into(),
            token: Some("client-token".into()),
            scheme: Some("Basic".into()),
            credentials: Some("Zm9v".into()),
        };
        let mut v03 = json!({"taskId": "t", "pushNotificationConfig": {"id": "c1",
            "url": "http://hub/a2a/_push/abc", "token": "hub-secret",
            "authentication": {"schemes": ["Bearer"], "credentials": "hub-secret"}}});
        let inner = inner_config_mut(&mut v03, ProtocolVersion::V0_3).unwrap();
        assert_eq!(hub_subscription(inner).as_deref(), Some("abc"));
        client_view(inner, ProtocolVersion::V0_3, &client);
        assert_eq!(
            v03,
            json!({"taskId": "t", "pushNotificationConfig": {"id": "c1",
                "url": "https://h.example.com/", "token": "client-token",
                "authentication": {"schemes": ["Basic"], "credentials": "Zm9v"}}})
        );
        let bare = ClientConfig {
            url: "https://h.example.com/".into(),
            ..ClientConfig::default()
        };
        let mut v1 = json!({"id": "c1", "taskId": "t", "url": "http://hub/a2a/_push/abc",
            "token": "hub-secret", "authentication": {"scheme": "Bearer", "credentials": "s"}});
        client_view(v1.as_object_mut().unwrap(), ProtocolVersion::V1_0, &bare);
        assert_eq!(
            v1,
            json!({"id": "c1", "taskId": "t", "url": "https://h.example.com/"})
        );
        let traced = for_trace(
            Some(&Pending {
                agent: "a".into(),
                principal: "p".into(),
                method: Method::GetTaskPushNotificationConfig,
                version: ProtocolVersion::V1_0,
                kind: PendingKind::Reading,
            }),
            &json!({"url": "u", "token": "t", "authentication": {"scheme": "Basic", "credentials": "c"}}),
        );
        assert_eq!(
            traced,
            json!({"url": "u", "authentication": {"scheme": "Basic"}})
        );
    }

    #[test]
    fn notifications_are_read_in_either_version() {
        let v1 = json!({"statusUpdate": {"taskId": "t", "contextId": "c",
            "status": {"state": "TASK_STATE_WORKING"}}});
        assert_eq!(to_v1(v1.clone()), Some(v1));
        let v03 = json!({"kind": "status-update", "taskId": "t", "contextId": "c",
            "status": {"state": "working"}, "final": false});
        let read = to_v1(v03).unwrap();
        assert_eq!(
            read["statusUpdate"]["status"]["state"],
            "TASK_STATE_WORKING"
        );
        assert_eq!(to_v1(json!({"hello": 1})), None);
        assert_eq!(to_v1(json!("text")), None);
    }

    #[test]
    fn secrets_are_compared_by_hash() {
        let hash = crate::keys::hash("s3cret");
        assert!(same_secret("s3cret", &hash));
        assert!(!same_secret("s3cre", &hash));
        assert!(!same_secret("", &hash));
    }

    /// An in-process hub configured by `yaml`, and its store's test database.
    async fn hub(yaml: &str) -> (AppState, crate::store::testing::TestStore) {
        use crate::config::{ConfigHandle, HubConfig};
        use crate::secrets::{KeyOrigin, Keyring, MasterKey};

        let test = crate::store::testing::sqlite().await;
        let keyring = Keyring::new(MasterKey::generate(), None, KeyOrigin::Env);
        let accounts = Arc::new(
            Accounts::load(test.store.clone(), Arc::new(keyring))
                .await
                .unwrap(),
        );
        let config = HubConfig::parse(yaml, "test.yaml", &|_| None).unwrap();
        let config = ConfigHandle::new(config);
        let governance = Arc::new(
            crate::governance::Governance::load(test.store.clone(), config.clone(), "test")
                .await
                .unwrap(),
        );
        (AppState::new(accounts, governance, config), test)
    }

    /// A subscription to task `t1` at agent `echo` for a client of `version`, whose agent
    /// secret is `s3cret`; its client token and credentials sealed.
    async fn subscribe(state: &AppState, id: &str, url: &str, version: &str) {
        let secrets = Secrets {
            token: Some("client-token".into()),
            credentials: Some("client-credentials".into()),
        };
        let sealed = state
            .accounts
            .keyring()
            .seal_value(&sealed_name(id), &serde_json::to_vec(&secrets).unwrap());
        let now = now_millis();
        state
            .accounts
            .store()
            .insert_push_subscription(&PushSubscription {
                id: id.into(),
                secret_hash: crate::keys::hash("s3cret"),
                agent: "echo".into(),
                task_id: Some("t1".into()),
                config_id: None,
                principal: "user:alice".into(),
                caller: "user:alice".into(),
                metadata: Default::default(),
                client_version: version.into(),
                url: url.into(),
                auth_scheme: Some("Basic".into()),
                sealed: Some(sealed),
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                span_id: "00f067aa0ba902b7".into(),
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap();
    }

    fn working(task: &str) -> Value {
        json!({"statusUpdate": {"taskId": task, "contextId": "c1",
            "status": {"state": "TASK_STATE_WORKING"}}})
    }

    async fn post(
        state: &AppState,
        id: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> StatusCode {
        use tower::ServiceExt;
        let mut request = axum::http::Request::post(format!("{PUSH_PATH}{id}"))
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        crate::app::router(state.clone())
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn the_webhook_wants_a_known_subscription_its_secret_and_a_bounded_notification() {
        // Nowhere to deliver: the worker's attempts fail, which this test does not wait for.
        let (state, test) =
            hub("a2a: {max_message_bytes: 1024, allow_private_networks: true}").await;
        subscribe(&state, "sub-1", "http://127.0.0.1:9/hook", "1.0").await;
        subscribe(&state, "sub-3", "http://127.0.0.1:9/hook", "0.3").await;
        let event = working("t1").to_string();
        let token = [(TOKEN_HEADER, "s3cret")];

        assert_eq!(
            post(&state, "nope", &token, event.clone()).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            post(&state, "sub-1", &[], event.clone()).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            post(&state, "sub-1", &[(TOKEN_HEADER, "s3cre")], event.clone()).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            post(
                &state,
                "sub-1",
                &[("authorization", "Basic s3cret")],
                event.clone()
            )
            .await,
            StatusCode::UNAUTHORIZED
        );
        let big = json!({"statusUpdate": {"taskId": "t1", "status": {"state": "TASK_STATE_WORKING"},
            "metadata": {"pad": "x".repeat(2000)}}});
        assert_eq!(
            post(&state, "sub-1", &token, big.to_string()).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            post(&state, "sub-1", &token, "not json").await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            post(&state, "sub-1", &token, working("another-task").to_string()).await,
            StatusCode::BAD_REQUEST,
            "a subscription is for its own task"
        );
        let store = state.accounts.store();
        assert!(store.push_deliveries_of("sub-1").await.unwrap().is_empty());

        // The secret as the token or as bearer credentials.
        assert_eq!(
            post(&state, "sub-1", &token, event.clone()).await,
            StatusCode::OK
        );
        assert_eq!(
            post(
                &state,
                "sub-1",
                &[("authorization", "bearer s3cret")],
                event.clone()
            )
            .await,
            StatusCode::OK
        );
        let queued = store.push_deliveries_of("sub-1").await.unwrap();
        assert_eq!(queued.len(), 2);
        let body: Value = serde_json::from_str(&queued[0].body).unwrap();
        assert_eq!(body, working("t1"), "a v1.0 client gets the StreamResponse");
        assert_ne!(queued[0].id, queued[1].id);

        // A v0.3 client gets v0.3 events, whichever form the agent sent.
        assert_eq!(post(&state, "sub-3", &token, event).await, StatusCode::OK);
        let v03 = json!({"kind": "status-update", "taskId": "t1", "contextId": "c1",
            "status": {"state": "completed"}, "final": true});
        assert_eq!(
            post(&state, "sub-3", &token, v03.to_string()).await,
            StatusCode::OK
        );
        let queued = store.push_deliveries_of("sub-3").await.unwrap();
        let bodies: Vec<Value> = queued
            .iter()
            .map(|d| serde_json::from_str(&d.body).unwrap())
            .collect();
        assert_eq!(bodies[0]["kind"], "status-update", "{bodies:?}");
        assert_eq!(bodies[0]["status"]["state"], "working");
        assert_eq!(bodies[1]["status"]["state"], "completed");
        state.a2a.shutdown();
        test.cleanup().await;
    }

    /// What a test webhook saw: each request's delivery id, body and credentials headers.
    #[derive(Clone, Default)]
    struct Seen(Arc<std::sync::Mutex<Vec<Hit>>>);

    /// One request to a test webhook: delivery id, body, token, Authorization.
    type Hit = (String, String, String, String);

    async fn webhook(answers: Vec<u16>) -> (String, Seen) {
        use axum::routing::post;
        let seen = Seen::default();
        let answers = Arc::new(std::sync::Mutex::new(answers.into_iter()));
        let app = axum::Router::new().route(
            "/hook",
            post({
                let seen = seen.clone();
                move |headers: HeaderMap, body: String| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    seen.0.lock().unwrap().push((
                        header(DELIVERY_ID_HEADER),
                        body,
                        header(TOKEN_HEADER),
                        header("authorization"),
                    ));
                    let code = answers.lock().unwrap().next().unwrap_or(200);
                    StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        let address = agenthub_test_support::serve_on_loopback(app).await;
        (format!("http://{address}/hook"), seen)
    }

    /// Polls (bounded) until the subscription's deliveries have all ended.
    async fn ended(state: &AppState, id: &str) -> Vec<PushDelivery> {
        for _ in 0..200 {
            let deliveries = state.accounts.store().push_deliveries_of(id).await.unwrap();
            if !deliveries.is_empty()
                && deliveries
                    .iter()
                    .all(|d| d.state != crate::store::PUSH_PENDING)
            {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the deliveries of {id} did not end in time");
    }

    #[tokio::test]
    async fn a_delivery_is_retried_the_same_until_delivered_and_refused_ones_end() {
        let (state, test) = hub(
            "a2a: {allow_private_networks: true, push: {retry_initial: 50ms, retry_max: 200ms}}",
        )
        .await;
        // 500, then 429: retried; then 200.
        let (url, seen) = webhook(vec![500, 429]).await;
        subscribe(&state, "retried", &url, "1.0").await;
        let token = [(TOKEN_HEADER, "s3cret")];
        assert_eq!(
            post(&state, "retried", &token, working("t1").to_string()).await,
            StatusCode::OK
        );
        let done = working("t1").to_string().replace("WORKING", "COMPLETED");
        assert_eq!(post(&state, "retried", &token, done).await, StatusCode::OK);
        let deliveries = ended(&state, "retried").await;
        assert!(
            deliveries
                .iter()
                .all(|d| d.state == crate::store::PUSH_DELIVERED),
            "{deliveries:?}"
        );
        assert_eq!(deliveries[0].attempts, 3);
        assert_eq!(deliveries[1].attempts, 1);
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 4, "{seen:?}");
        // The same delivery id and body on every attempt, and in order: the second waited.
        assert!(
            seen[..3]
                .iter()
                .all(|s| s.0 == deliveries[0].id && s.1 == seen[0].1)
        );
        assert_eq!(seen[3].0, deliveries[1].id);
        assert!(seen[3].1.contains("TASK_STATE_COMPLETED"));
        for (_, _, token, authorization) in &seen {
            assert_eq!(token, "client-token");
            assert_eq!(authorization, "Basic client-credentials");
        }

        // A 404 ends a delivery at once, as failed.
        let (url, seen) = webhook(vec![404]).await;
        subscribe(&state, "refused", &url, "1.0").await;
        assert_eq!(
            post(&state, "refused", &token, working("t1").to_string()).await,
            StatusCode::OK
        );
        let deliveries = ended(&state, "refused").await;
        assert_eq!(deliveries[0].state, crate::store::PUSH_FAILED);
        assert_eq!(deliveries[0].attempts, 1);
        assert!(
            deliveries[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("404")),
            "{deliveries:?}"
        );
        assert_eq!(seen.0.lock().unwrap().len(), 1);
        state.a2a.shutdown();
        test.cleanup().await;
    }

    #[tokio::test]
    async fn a_webhook_on_a_private_network_is_refused_unless_allowed() {
        let (state, test) = hub("{}").await;
        let (url, seen) = webhook(vec![]).await;
        subscribe(&state, "private", &url, "1.0").await;
        assert_eq!(
            post(
                &state,
                "private",
                &[(TOKEN_HEADER, "s3cret")],
                working("t1").to_string()
            )
            .await,
            StatusCode::OK
        );
        let deliveries = ended(&state, "private").await;
        assert_eq!(deliveries[0].state, crate::store::PUSH_FAILED);
        assert!(
            deliveries[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("a2a.allow_private_networks")),
            "{deliveries:?}"
        );
        assert!(seen.0.lock().unwrap().is_empty());
        state.a2a.shutdown();
        test.cleanup().await;
    }
}
