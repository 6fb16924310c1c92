//! The compiled catalog: every name a client may ask for, resolved to a [`Route`] over
//! [`Target`]s that know their provider, adapter, credential reference, profile and price.
//! Built once per configuration or catalog change and swapped in whole.

use std::collections::HashMap;
use std::sync::Arc;

use crate::adapters::{
    AnthropicAdapter, AzureOpenAiAdapter, BedrockAdapter, CohereAdapter, GeminiAdapter,
    MistralAdapter, OpenAiAdapter, ProviderAdapter, ProviderOptions,
};
use crate::config::{
    ModelConfig, ModelKind, Price, Problem, ProviderConfig, ProviderKind, Sections, Strategy,
    Timeouts, check,
};
use crate::params::ModelProfile;
use crate::pricing;

/// Where a credential comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A secret in the hub's encrypted store, read at call time so that rotations apply at
    /// once.
    Stored(String),
    /// The value itself (from the configuration, usually `${ENV_VAR}`).
    Literal(String),
}

impl SecretRef {
    /// `secret:NAME` or a literal value.
    pub fn parse(value: &str) -> Self {
        match value.strip_prefix("secret:") {
            Some(name) => Self::Stored(name.to_owned()),
            None => Self::Literal(value.to_owned()),
        }
    }
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stored(name) => write!(f, "secret:{name}"),
            Self::Literal(_) => f.write_str("<literal>"),
        }
    }
}

/// How a provider authenticates, before the secrets are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSpec {
    None,
    ApiKey(SecretRef),
    Aws {
        access_key_id: SecretRef,
        secret_access_key: SecretRef,
        session_token: Option<SecretRef>,
    },
    /// A Google service account's JSON key file (Vertex AI): access tokens are minted from it
    /// at call time and cached.
    GoogleServiceAccount(SecretRef),
}

/// A provider account, ready to call.
pub struct ProviderEntry {
    pub name: String,
    pub kind: ProviderKind,
    pub adapter: Arc<dyn ProviderAdapter>,
    pub base_url: String,
    pub options: ProviderOptions,
    pub credential: CredentialSpec,
    pub timeouts: Timeouts,
}

impl std::fmt::Debug for ProviderEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderEntry")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A model at one provider: one routing target.
#[derive(Debug)]
pub struct Target {
    /// The model's name in the catalog.
    pub name: String,
    pub provider: Arc<ProviderEntry>,
    pub kind: ModelKind,
    pub profile: ModelProfile,
    /// The configured price, else the shipped one; `None` when neither knows the model.
    pub price: Option<Price>,
    pub context_window: Option<u32>,
}

/// What a name resolves to: one target, or several with a strategy.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub strategy: Strategy,
    /// With their weights.
    pub targets: Vec<(Arc<Target>, u32)>,
    /// The header carrying the session key, for sticky routing.
    pub sticky_header: Option<http::HeaderName>,
    pub kind: ModelKind,
    /// Whether this is a virtual model.
    pub is_virtual: bool,
}

/// Every routable name.
#[derive(Debug, Default)]
pub struct Catalog {
    routes: HashMap<String, Arc<Route>>,
    /// Names in the order they were configured, for listings.
    order: Vec<String>,
    /// Distinct connect timeouts in use (one HTTP client each).
    connect_timeouts: Vec<std::time::Duration>,
    /// Unix seconds when this catalog was compiled (the `created` of its model listings).
    compiled_at: u64,
}

impl Catalog {
    /// Compiles the plane's configuration, or reports every problem with its path.
    pub fn build(sections: Sections<'_>) -> Result<Self, Vec<Problem>> {
        let mut problems = check(sections);
        let mut providers = HashMap::new();
        for (i, config) in sections.providers.iter().enumerate() {
            match provider_entry(config, &sections.settings.timeouts) {
                Ok(entry) => {
                    providers.insert(config.name.clone(), Arc::new(entry));
                }
                Err(message) => problems.push((format!("providers[{i}].kind"), message)),
            }
        }
        for (i, model) in sections.models.iter().enumerate() {
            let provider = providers.get(&model.provider);
            if model.kind == ModelKind::Embeddings
                && provider.is_some_and(|p| !p.adapter.has_embeddings())
            {
                problems.push((
                    format!("models[{i}].kind"),
                    format!(
                        "provider \"{}\" ({}) has no embeddings endpoint",
                        model.provider,
                        provider.map_or("", |p| p.kind.as_str())
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut catalog = Catalog::default();
        let mut targets = HashMap::new();
        for model in sections.models {
            let provider = providers[&model.provider].clone();
            let target = Arc::new(target(model, provider));
            targets.insert(model.name.clone(), target.clone());
            catalog.insert(Route {
                name: model.name.clone(),
                strategy: Strategy::Priority,
                kind: model.kind,
                targets: vec![(target, 1)],
                sticky_header: None,
                is_virtual: false,
            });
        }
        for virtual_model in sections.virtual_models {
            let routed: Vec<(Arc<Target>, u32)> = virtual_model
                .targets
                .iter()
                .map(|t| (targets[&t.model].clone(), t.weight))
                .collect();
            catalog.insert(Route {
                name: virtual_model.name.clone(),
                strategy: virtual_model.strategy,
                kind: routed[0].0.kind,
                targets: routed,
                sticky_header: virtual_model
                    .sticky
                    .as_ref()
                    .and_then(|s| http::HeaderName::from_bytes(s.header.as_bytes()).ok()),
                is_virtual: true,
            });
        }
        let mut connect: Vec<_> = providers.values().map(|p| p.timeouts.connect).collect();
        connect.sort();
        connect.dedup();
        catalog.connect_timeouts = connect;
        catalog.compiled_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(catalog)
    }

    fn insert(&mut self, route: Route) {
        self.order.push(route.name.clone());
        self.routes.insert(route.name.clone(), Arc::new(route));
    }

    pub fn route(&self, name: &str) -> Option<&Arc<Route>> {
        self.routes.get(name)
    }

    /// Every route, in configuration order: models first, then virtual models.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.order.iter().filter_map(|name| self.routes.get(name))
    }

    pub fn compiled_at(&self) -> u64 {
        self.compiled_at
    }

    pub fn connect_timeouts(&self) -> &[std::time::Duration] {
        &self.connect_timeouts
    }
}

/// The adapter speaking a provider kind's protocol.
pub fn adapter_for(kind: ProviderKind) -> Arc<dyn ProviderAdapter> {
    match kind {
        ProviderKind::Openai => Arc::new(OpenAiAdapter::new()),
        ProviderKind::Anthropic => Arc::new(AnthropicAdapter::new()),
        ProviderKind::Bedrock => Arc::new(BedrockAdapter::new()),
        ProviderKind::Mistral => Arc::new(MistralAdapter::new()),
        ProviderKind::Cohere => Arc::new(CohereAdapter::new()),
        ProviderKind::Azure => Arc::new(AzureOpenAiAdapter::new()),
        ProviderKind::Gemini => Arc::new(GeminiAdapter::new()),
        ProviderKind::Vertex => Arc::new(GeminiAdapter::vertex()),
        ProviderKind::OpenaiCompatible
        | ProviderKind::Groq
        | ProviderKind::Together
        | ProviderKind::Deepinfra
        | ProviderKind::Fireworks
        | ProviderKind::Openrouter
        | ProviderKind::Ollama
        | ProviderKind::Vllm
        | ProviderKind::Sglang
        | ProviderKind::Tgi => Arc::new(OpenAiAdapter::compatible()),
    }
}

fn provider_entry(config: &ProviderConfig, defaults: &Timeouts) -> Result<ProviderEntry, String> {
    let adapter = adapter_for(config.kind);
    let base_url = config
        .base_url
        .clone()
        .or_else(|| config.kind.default_base_url().map(str::to_owned))
        .or_else(|| {
            let region = config.region.as_deref()?;
            match config.kind {
                ProviderKind::Bedrock => {
                    Some(format!("https://bedrock-runtime.{region}.amazonaws.com"))
                }
                ProviderKind::Vertex => Some(format!("https://{region}-aiplatform.googleapis.com")),
                _ => None,
            }
        })
        .ok_or_else(|| "no base_url".to_owned())?;
    let credential = match (&config.aws, &config.service_account, &config.api_key) {
        (Some(aws), _, _) => CredentialSpec::Aws {
            access_key_id: SecretRef::parse(&aws.access_key_id),
            secret_access_key: SecretRef::parse(&aws.secret_access_key),
            session_token: aws.session_token.as_deref().map(SecretRef::parse),
        },
        (None, Some(key_file), _) => {
            CredentialSpec::GoogleServiceAccount(SecretRef::parse(key_file))
        }
        (None, None, Some(key)) => CredentialSpec::ApiKey(SecretRef::parse(key)),
        (None, None, None) => CredentialSpec::None,
    };
    Ok(ProviderEntry {
        name: config.name.clone(),
        kind: config.kind,
        adapter,
        base_url,
        options: ProviderOptions {
            api_version: config.api_version.clone(),
            region: config.region.clone(),
            project: config.project.clone(),
            headers: config
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
        },
        credential,
        timeouts: config
            .timeouts
            .map_or(*defaults, |overrides| overrides.over(defaults)),
    })
}

fn target(model: &ModelConfig, provider: Arc<ProviderEntry>) -> Target {
    let mut profile = ModelProfile::new(model.upstream_model());
    if let Some(max) = model.max_output_tokens {
        profile.default_max_tokens = max;
    }
    profile.on_unsupported = model.on_unsupported;
    profile.structured_outputs = model.structured_outputs;
    profile.unsupported = model.unsupported.clone();
    Target {
        name: model.name.clone(),
        price: model
            .price
            .or_else(|| pricing::shipped(provider.kind, model.upstream_model())),
        provider,
        kind: model.kind,
        profile,
        context_window: model.context_window,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{LlmSettings, ModelConfig, ProviderConfig};

    #[test]
    fn embeddings_models_need_a_provider_with_embeddings() {
        let providers: Vec<ProviderConfig> = vec![
            serde_json::from_value(json!({"name": "a", "kind": "anthropic", "api_key": "k"}))
                .unwrap(),
            serde_json::from_value(json!({"name": "o", "kind": "openai", "api_key": "k"})).unwrap(),
        ];
        let models: Vec<ModelConfig> = vec![
            serde_json::from_value(json!({"name": "e1", "provider": "a", "kind": "embeddings"}))
                .unwrap(),
            serde_json::from_value(json!({"name": "e2", "provider": "o", "kind": "embeddings"}))
                .unwrap(),
        ];
        let problems = Catalog::build(Sections {
            settings: &LlmSettings::default(),
            providers: &providers,
            models: &models,
            virtual_models: &[],
        })
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "models[0].kind");
    }
}
