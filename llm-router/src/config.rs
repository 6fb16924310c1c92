//! The LLM plane's configuration: the `llm` settings, `providers`, `models` and
//! `virtual_models`. The same types are the bodies of the admin API's provider, model and
//! virtual-model documents, so a file and an API call are checked alike ([`check`]).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::params::{Param, UnsupportedPolicy};

/// Settings of the whole plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// The largest request body `/v1/*` accepts, in bytes (images inline make prompts large).
    pub max_body_bytes: usize,
    /// Timeouts of every upstream call, unless a provider sets its own.
    pub timeouts: Timeouts,
    pub retry: RetryConfig,
    pub circuit_breaker: BreakerConfig,
    /// Latency routing treats targets within this fraction of the fastest as equally fast
    /// (0.25: up to 25% slower), and spreads load over them.
    pub latency_tolerance: f64,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            timeouts: Timeouts::default(),
            retry: RetryConfig::default(),
            circuit_breaker: BreakerConfig::default(),
            latency_tolerance: 0.25,
        }
    }
}

/// How long an upstream call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// To open the connection (TCP and TLS).
    #[serde(with = "humantime_serde")]
    pub connect: Duration,
    /// From sending the request to the answer's first byte: the whole answer when not
    /// streamed, the first event when streamed.
    #[serde(with = "humantime_serde")]
    pub first_token: Duration,
    /// From sending the request to the answer's last byte.
    #[serde(with = "humantime_serde")]
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(120),
            total: Duration::from_secs(600),
        }
    }
}

/// Retries of one target before failing over to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Retries after the first attempt, on the same target.
    pub attempts: u32,
    /// The delay before the first retry; each next one doubles, with full jitter.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Provider statuses worth retrying on the same target. Timeouts and connection errors
    /// are always retried.
    pub on_status: Vec<u16>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 1,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            on_status: vec![408, 429, 500, 502, 503, 504, 529],
        }
    }
}

/// A target that keeps failing is skipped for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open the breaker.
    pub failures: u32,
    /// How long an open breaker skips the target before one trial call is let through.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// What protocol a provider speaks and where it is by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Openai,
    Azure,
    Anthropic,
    Gemini,
    Vertex,
    Bedrock,
    Mistral,
    Cohere,
    /// Any server following OpenAI's Chat Completions API (`base_url` required).
    OpenaiCompatible,
    Groq,
    Together,
    Deepinfra,
    Fireworks,
    Openrouter,
    Ollama,
    Vllm,
    Sglang,
    Tgi,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Azure => "azure",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Vertex => "vertex",
            Self::Bedrock => "bedrock",
            Self::Mistral => "mistral",
            Self::Cohere => "cohere",
            Self::OpenaiCompatible => "openai_compatible",
            Self::Groq => "groq",
            Self::Together => "together",
            Self::Deepinfra => "deepinfra",
            Self::Fireworks => "fireworks",
            Self::Openrouter => "openrouter",
            Self::Ollama => "ollama",
            Self::Vllm => "vllm",
            Self::Sglang => "sglang",
            Self::Tgi => "tgi",
        }
    }

    /// The documented base URL of the hosted service, or the usual local address of a
    /// self-hosted server. `None`: it depends on the account (`base_url` or `region`).
    pub fn default_base_url(self) -> Option<&'static str> {
        Some(match self {
            Self::Openai => "https://api.openai.com/v1",
            Self::Anthropic => "https://api.anthropic.com",
            Self::Gemini => "https://generativelanguage.googleapis.com",
            Self::Mistral => "https://api.mistral.ai/v1",
            Self::Cohere => "https://api.cohere.com",
            Self::Groq => "https://api.groq.com/openai/v1",
            Self::Together => "https://api.together.xyz/v1",
            Self::Deepinfra => "https://api.deepinfra.com/v1/openai",
            Self::Fireworks => "https://api.fireworks.ai/inference/v1",
            Self::Openrouter => "https://openrouter.ai/api/v1",
            Self::Ollama => "http://127.0.0.1:11434/v1",
            Self::Vllm => "http://127.0.0.1:8000/v1",
            Self::Sglang => "http://127.0.0.1:30000/v1",
            Self::Tgi => "http://127.0.0.1:8080/v1",
            Self::Azure | Self::Vertex | Self::Bedrock | Self::OpenaiCompatible => return None,
        })
    }

    /// Self-hosted servers usually run without a key.
    pub fn key_optional(self) -> bool {
        matches!(
            self,
            Self::OpenaiCompatible | Self::Ollama | Self::Vllm | Self::Sglang | Self::Tgi
        )
    }
}

/// An account at a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The name models refer to.
    pub name: String,
    pub kind: ProviderKind,
    /// Overrides the kind's default (required for `azure` and `openai_compatible`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `secret:NAME` (a secret in the hub's encrypted store) or the key itself, usually
    /// `${ENV_VAR}`. For Vertex AI: an OAuth access token (short-lived; prefer
    /// `service_account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Vertex AI only, instead of `api_key`: `secret:NAME`, a secret in the hub's store holding
    /// a Google service account's JSON key file (as downloaded from the Cloud console: its
    /// `client_email`, `private_key`, `private_key_id` and `token_uri` are used). The hub signs
    /// a JWT with the key, exchanges it at `token_uri` for an access token (scope
    /// `cloud-platform`), caches the token and renews it when less than five minutes are left.
    /// Rotating the secret takes effect on the next call. The service account needs the Vertex
    /// AI User role (`roles/aiplatform.user`) in the provider's `project`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// AWS credentials (Bedrock); each value may be `secret:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsCredentials>,
    /// Azure OpenAI `api-version`; Anthropic `anthropic-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// AWS region (Bedrock) or Google Cloud location (Vertex AI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Google Cloud project (Vertex AI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Extra headers sent with every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Overrides some of the plane's timeouts (`llm.timeouts`) for this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutOverrides>,
}

/// A provider's own timeouts; those left out are the plane's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutOverrides {
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_token: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<Duration>,
}

impl TimeoutOverrides {
    /// These overrides on top of the plane's timeouts.
    pub fn over(&self, plane: &Timeouts) -> Timeouts {
        Timeouts {
            connect: self.connect.unwrap_or(plane.connect),
            first_token: self.first_token.unwrap_or(plane.first_token),
            total: self.total.unwrap_or(plane.total),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Prompt tokens read from the provider's cache (default: the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Prompt tokens written to the provider's cache (default: the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input: Option<f64>,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    #[default]
    Chat,
    Embeddings,
}

/// A model clients may ask for by name, served by one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name clients use (`model` in their requests) and policies name (`model:<name>`).
    pub name: String,
    pub provider: String,
    /// The model's name at the provider (an Azure deployment, a Bedrock model id); default:
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub kind: ModelKind,
    /// Overrides the shipped price table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Sent as the output limit when a provider requires one and the request has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// The model supports schema-constrained output and strict tools.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub structured_outputs: bool,
    /// Parameters this model does not honour although its provider has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<Param>,
    /// What happens to a parameter the model cannot honour.
    #[serde(default)]
    pub on_unsupported: UnsupportedPolicy,
}

impl ModelConfig {
    pub fn upstream_model(&self) -> &str {
        self.model.as_deref().unwrap_or(&self.name)
    }
}

/// How a virtual model picks among its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// In the order listed; the next one only when the one before fails.
    #[default]
    Priority,
    /// At random, in proportion to `weight`; the others in turn when it fails.
    Weight,
    /// The fastest by time to first token and time per output token.
    Latency,
    /// The cheapest by the price table.
    Cost,
}

/// A name that routes over several models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualModelConfig {
    pub name: String,
    #[serde(default)]
    pub strategy: Strategy,
    pub targets: Vec<TargetConfig>,
    /// Requests with the same session key go to the same target while it is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<StickyConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// A model's name.
    pub model: String,
    /// For `strategy: weight`.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// Where a request's session key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickyConfig {
    /// A request header (`x-session-id`); requests without it are not sticky.
    pub header: String,
}

/// A problem: the path of the offending key and what is wrong.
pub type Problem = (String, String);

/// Everything the plane is configured with.
#[derive(Debug, Clone, Copy)]
pub struct Sections<'a> {
    pub settings: &'a LlmSettings,
    pub providers: &'a [ProviderConfig],
    pub models: &'a [ModelConfig],
    pub virtual_models: &'a [VirtualModelConfig],
}

/// Checks the plane's configuration as a whole: names unique across models and virtual
/// models, references resolved, values in range. Paths are `providers[i].field` etc.
pub fn check(sections: Sections<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut err = |path: String, message: String| problems.push((path, message));
    let settings = sections.settings;
    if settings.max_body_bytes < 1024 {
        err("llm.max_body_bytes".into(), "must be at least 1024".into());
    }
    check_timeouts("llm.timeouts", &settings.timeouts, &mut err);
    if settings.retry.attempts > 10 {
        err("llm.retry.attempts".into(), "must be at most 10".into());
    }
    if settings.retry.initial_backoff > settings.retry.max_backoff {
        err(
            "llm.retry.initial_backoff".into(),
            "must not exceed max_backoff".into(),
        );
    }
    for (i, status) in settings.retry.on_status.iter().enumerate() {
        if !(400..=599).contains(status) {
            err(
                format!("llm.retry.on_status[{i}]"),
                format!("{status} is not an error status (400–599)"),
            );
        }
    }
    if settings.circuit_breaker.failures == 0 {
        err(
            "llm.circuit_breaker.failures".into(),
            "must be at least 1".into(),
        );
    }
    if !(0.0..=10.0).contains(&settings.latency_tolerance) {
        err(
            "llm.latency_tolerance".into(),
            "must be between 0 and 10".into(),
        );
    }

    let mut providers = HashSet::new();
    for (i, provider) in sections.providers.iter().enumerate() {
        let at = |field: &str| format!("providers[{i}].{field}");
        if let Err(message) = check_name(&provider.name) {
            err(at("name"), message);
        } else if !providers.insert(provider.name.as_str()) {
            err(
                at("name"),
                format!("provider \"{}\" is defined twice", provider.name),
            );
        }
        check_provider(provider, &mut |field, message| err(at(field), message));
        if let Some(overrides) = &provider.timeouts {
            let merged = overrides.over(&settings.timeouts);
            if merged.first_token > merged.total {
                err(
                    at("timeouts.first_token"),
                    format!(
                        "{} (with llm.timeouts filling what is not set) must not exceed total ({})",
                        humantime::format_duration(merged.first_token),
                        humantime::format_duration(merged.total)
                    ),
                );
            }
        }
    }

    let mut names: HashSet<&str> = HashSet::new();
    let models: BTreeMap<&str, &ModelConfig> = sections
        .models
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();
    for (i, model) in sections.models.iter().enumerate() {
        let at = |field: &str| format!("models[{i}].{field}");
        if let Err(message) = check_name(&model.name) {
            err(at("name"), message);
        } else if !names.insert(model.name.as_str()) {
            err(
                at("name"),
                format!("model \"{}\" is defined twice", model.name),
            );
        }
        if !providers.contains(model.provider.as_str()) {
            err(
                at("provider"),
                format!("no provider is named \"{}\"", model.provider),
            );
        }
        if model.upstream_model().is_empty() {
            err(at("model"), "must not be empty".into());
        }
        if let Some(price) = &model.price {
            for (field, value) in [
                ("price.input", Some(price.input)),
                ("price.output", Some(price.output)),
                ("price.cached_input", price.cached_input),
                ("price.cache_write_input", price.cache_write_input),
            ] {
                if let Some(value) = value
                    && !(value.is_finite() && (0.0..=1_000_000.0).contains(&value))
                {
                    err(
                        at(field),
                        "must be a price between 0 and 1000000 dollars per million tokens".into(),
                    );
                }
            }
        }
        if model.max_output_tokens == Some(0) {
            err(at("max_output_tokens"), "must be at least 1".into());
        }
        if model.context_window == Some(0) {
            err(at("context_window"), "must be at least 1".into());
        }
    }
    for (i, virtual_model) in sections.virtual_models.iter().enumerate() {
        let at = |field: &str| format!("virtual_models[{i}].{field}");
        if let Err(message) = check_name(&virtual_model.name) {
            err(at("name"), message);
        } else if !names.insert(virtual_model.name.as_str()) {
            err(
                at("name"),
                format!(
                    "\"{}\" is already the name of a model or virtual model",
                    virtual_model.name
                ),
            );
        }
        if virtual_model.targets.is_empty() {
            err(at("targets"), "must name at least one model".into());
        }
        let mut kinds = HashSet::new();
        let mut seen = HashSet::new();
        for (j, target) in virtual_model.targets.iter().enumerate() {
            let at = |field: &str| format!("virtual_models[{i}].targets[{j}].{field}");
            match models.get(target.model.as_str()) {
                Some(model) => {
                    kinds.insert(model.kind);
                }
                None => err(
                    at("model"),
                    format!(
                        "no model is named \"{}\" (targets are models, not virtual models)",
                        target.model
                    ),
                ),
            }
            if !seen.insert(target.model.as_str()) {
                err(at("model"), format!("\"{}\" is listed twice", target.model));
            }
            if virtual_model.strategy == Strategy::Weight && target.weight == 0 {
                err(at("weight"), "must be at least 1".into());
            }
        }
        if kinds.len() > 1 {
            err(at("targets"), "mixes chat and embeddings models".into());
        }
        if let Some(sticky) = &virtual_model.sticky
            && http::HeaderName::from_bytes(sticky.header.as_bytes()).is_err()
        {
            err(
                at("sticky.header"),
                format!("\"{}\" is not a header name", sticky.header),
            );
        }
    }
    problems
}

/// Checks one provider on its own (the admin API checks a new one before storing it).
pub fn check_provider(provider: &ProviderConfig, err: &mut dyn FnMut(&str, String)) {
    let kind = provider.kind;
    match &provider.base_url {
        Some(url) => {
            if let Err(message) = check_base_url(url) {
                err("base_url", message);
            }
        }
        None if kind.default_base_url().is_none()
            && !matches!(kind, ProviderKind::Vertex | ProviderKind::Bedrock) =>
        {
            err(
                "base_url",
                format!("is required for a provider of kind {}", kind.as_str()),
            );
        }
        None => {}
    }
    if kind == ProviderKind::Bedrock {
        // Bedrock takes AWS access keys (SigV4) or a Bedrock API key (bearer).
        match (&provider.aws, &provider.api_key) {
            (None, None) => err(
                "aws",
                "bedrock providers need AWS credentials (aws) or a Bedrock API key (api_key)"
                    .into(),
            ),
            (Some(_), Some(_)) => err(
                "api_key",
                "set either aws credentials or an api_key, not both".into(),
            ),
            _ => {}
        }
    } else {
        if provider.aws.is_some() {
            err("aws", "only bedrock providers use AWS credentials".into());
        }
        match (&provider.api_key, &provider.service_account) {
            (Some(_), Some(_)) => err(
                "service_account",
                "set either api_key (an access token) or service_account, not both".into(),
            ),
            (None, None) if kind == ProviderKind::Vertex => err(
                "service_account",
                "vertex providers need a service_account (secret:NAME holding its JSON key \
                 file) or an api_key (an access token)"
                    .into(),
            ),
            (None, None) if !kind.key_optional() => err(
                "api_key",
                format!("a provider of kind {} needs an API key", kind.as_str()),
            ),
            _ => {}
        }
    }
    if let Some(service_account) = &provider.service_account {
        if kind != ProviderKind::Vertex {
            err(
                "service_account",
                "only vertex providers use a Google service account".into(),
            );
        } else if check_secret_ref(service_account).is_err() {
            // The key file is a private key: it lives in the encrypted secret store only.
            err(
                "service_account",
                "must name a stored secret (secret:NAME) holding the service account's JSON \
                 key file"
                    .into(),
            );
        }
    }
    if matches!(kind, ProviderKind::Bedrock | ProviderKind::Vertex) && provider.region.is_none() {
        err(
            "region",
            format!("{} providers need a region", kind.as_str()),
        );
    }
    if kind == ProviderKind::Vertex && provider.project.is_none() {
        err("project", "vertex providers need a project".into());
    }
    for (name, value) in &provider.headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            err("headers", format!("\"{name}\" is not a header name"));
        } else if http::HeaderValue::from_str(value).is_err() {
            err(
                "headers",
                format!("the value of \"{name}\" is not a header value"),
            );
        }
    }
    if let Some(timeouts) = &provider.timeouts {
        for (field, value) in [
            ("timeouts.connect", timeouts.connect),
            ("timeouts.first_token", timeouts.first_token),
            ("timeouts.total", timeouts.total),
        ] {
            if value.is_some_and(|v| v.is_zero()) {
                err(field, "must be more than 0".into());
            }
        }
    }
}

/// `secret:NAME` with a name.
fn check_secret_ref(value: &str) -> Result<&str, ()> {
    match value.strip_prefix("secret:") {
        Some(name) if !name.trim().is_empty() => Ok(name),
        _ => Err(()),
    }
}

fn check_timeouts(prefix: &str, timeouts: &Timeouts, err: &mut dyn FnMut(String, String)) {
    for (field, value) in [
        ("connect", timeouts.connect),
        ("first_token", timeouts.first_token),
        ("total", timeouts.total),
    ] {
        if value.is_zero() {
            err(format!("{prefix}.{field}"), "must be more than 0".into());
        }
    }
    if timeouts.first_token > timeouts.total {
        err(
            format!("{prefix}.first_token"),
            "must not exceed total".into(),
        );
    }
}

/// Names appear in URLs, policies (`model:<name>`) and headers.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '@'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a valid name (1–128 letters, digits and - _ . : / @)"
        ))
    }
}

fn check_base_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("\"{url}\" is not an http(s) URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("\"{url}\" has no host"));
    }
    if url.ends_with('/') {
        return Err(format!("\"{url}\" must not end with /"));
    }
    if url.contains(['?', '#']) {
        return Err(format!("\"{url}\" must not have a query or fragment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(name: &str, kind: ProviderKind) -> ProviderConfig {
        ProviderConfig {
            name: name.into(),
            kind,
            base_url: None,
            api_key: Some("secret:key".into()),
            service_account: None,
            aws: None,
            api_version: None,
            region: None,
            project: None,
            headers: BTreeMap::new(),
            timeouts: None,
        }
    }

    fn model(name: &str, provider: &str) -> ModelConfig {
        serde_json::from_value(serde_json::json!({"name": name, "provider": provider})).unwrap()
    }

    fn problems(
        providers: &[ProviderConfig],
        models: &[ModelConfig],
        virtual_models: &[VirtualModelConfig],
    ) -> Vec<Problem> {
        check(Sections {
            settings: &LlmSettings::default(),
            providers,
            models,
            virtual_models,
        })
    }

    #[test]
    fn a_sound_catalog_has_no_problems() {
        let virtual_model: VirtualModelConfig = serde_json::from_value(serde_json::json!({
            "name": "smart", "strategy": "weight",
            "targets": [{"model": "a", "weight": 3}, {"model": "b"}],
            "sticky": {"header": "x-session-id"}
        }))
        .unwrap();
        assert_eq!(
            problems(
                &[provider("p", ProviderKind::Openai)],
                &[model("a", "p"), model("b", "p")],
                &[virtual_model]
            ),
            Vec::<Problem>::new()
        );
    }

    #[test]
    fn each_problem_is_reported_with_its_path() {
        let mut azure = provider("az", ProviderKind::Azure);
        azure.api_key = None;
        let mut bedrock = provider("br", ProviderKind::Bedrock);
        bedrock.base_url = Some("ftp://x".into());
        let mut bad_price = model("m2", "az");
        bad_price.price = Some(Price {
            input: -1.0,
            output: 1.0,
            cached_input: None,
            cache_write_input: None,
        });
        let virtual_model: VirtualModelConfig = serde_json::from_value(serde_json::json!({
            "name": "m1", "targets": [{"model": "nope"}, {"model": "m2"}, {"model": "m2"}],
            "sticky": {"header": "bad header"}
        }))
        .unwrap();
        let found = problems(
            &[azure, bedrock, provider("az", ProviderKind::Openai)],
            &[model("m1", "missing"), bad_price, model("bad name!", "az")],
            &[virtual_model],
        );
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "providers[0].base_url",
                "providers[0].api_key",
                "providers[1].base_url",
                "providers[1].region",
                "providers[2].name",
                "models[0].provider",
                "models[1].price.input",
                "models[2].name",
                "virtual_models[0].name",
                "virtual_models[0].targets[0].model",
                "virtual_models[0].targets[2].model",
                "virtual_models[0].sticky.header",
            ],
            "{found:#?}"
        );
    }

    #[test]
    fn vertex_takes_a_service_account_or_an_access_token() {
        let paths = |provider: &ProviderConfig| {
            let mut found = Vec::new();
            check_provider(provider, &mut |field, message| {
                found.push(format!("{field}: {message}"))
            });
            found
        };
        let mut vertex = provider("v", ProviderKind::Vertex);
        vertex.region = Some("us-central1".into());
        vertex.project = Some("my-project".into());
        assert_eq!(paths(&vertex), Vec::<String>::new());
        vertex.api_key = None;
        vertex.service_account = Some("secret:vertex-sa".into());
        assert_eq!(paths(&vertex), Vec::<String>::new());

        vertex.api_key = Some("secret:token".into());
        assert!(paths(&vertex)[0].starts_with("service_account: set either"));
        vertex.api_key = None;
        vertex.service_account = None;
        assert!(paths(&vertex)[0].starts_with("service_account: vertex providers need"));
        // A key file is a private key: never a literal value.
        for literal in [r#"{"type": "service_account"}"#, "secret:", "secret: "] {
            vertex.service_account = Some(literal.into());
            assert_eq!(
                paths(&vertex),
                [
                    "service_account: must name a stored secret (secret:NAME) holding the \
                  service account's JSON key file"
                ]
            );
        }

        let mut openai = provider("o", ProviderKind::Openai);
        openai.api_key = None;
        openai.service_account = Some("secret:vertex-sa".into());
        assert_eq!(
            paths(&openai),
            ["service_account: only vertex providers use a Google service account"]
        );
        // The field round-trips through the admin API's JSON.
        let parsed: ProviderConfig = serde_json::from_value(serde_json::json!({
            "name": "v", "kind": "vertex", "region": "us-central1", "project": "p",
            "service_account": "secret:vertex-sa"
        }))
        .unwrap();
        assert_eq!(parsed.service_account.as_deref(), Some("secret:vertex-sa"));
        assert_eq!(
            serde_json::to_value(&parsed).unwrap()["service_account"],
            "secret:vertex-sa"
        );
    }

    #[test]
    fn provider_timeouts_fill_in_from_the_planes() {
        let mut short = provider("p", ProviderKind::Openai);
        short.timeouts = Some(TimeoutOverrides {
            total: Some(Duration::from_secs(30)),
            ..TimeoutOverrides::default()
        });
        // The plane's first_token (120 s) would outlast this provider's total.
        let found = problems(&[short.clone()], &[], &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "providers[0].timeouts.first_token");
        short.timeouts = Some(TimeoutOverrides {
            first_token: Some(Duration::from_secs(10)),
            total: Some(Duration::from_secs(30)),
            connect: None,
        });
        assert_eq!(problems(&[short.clone()], &[], &[]), Vec::<Problem>::new());
        let merged = short.timeouts.unwrap().over(&Timeouts::default());
        assert_eq!(merged.connect, Timeouts::default().connect);
        assert_eq!(merged.first_token, Duration::from_secs(10));
    }

    #[test]
    fn bedrock_takes_aws_keys_or_an_api_key() {
        let mut bedrock = provider("b", ProviderKind::Bedrock);
        bedrock.region = Some("us-east-1".into());
        assert_eq!(
            problems(&[bedrock.clone()], &[], &[]),
            Vec::<Problem>::new()
        );
        bedrock.api_key = None;
        let found = problems(&[bedrock.clone()], &[], &[]);
        assert_eq!(found[0].0, "providers[0].aws", "{found:?}");
        bedrock.aws = Some(AwsCredentials {
            access_key_id: "secret:id".into(),
            secret_access_key: "secret:key".into(),
            session_token: None,
        });
        assert_eq!(
            problems(&[bedrock.clone()], &[], &[]),
            Vec::<Problem>::new()
        );
        bedrock.api_key = Some("secret:k".into());
        let found = problems(&[bedrock], &[], &[]);
        assert_eq!(found[0].0, "providers[0].api_key", "{found:?}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = serde_json::from_value::<ModelConfig>(
            serde_json::json!({"name": "m", "provider": "p", "prize": 1}),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `prize`"),
            "{error}"
        );
    }
}
