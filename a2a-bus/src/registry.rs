//! The registered agents: each one's card, kept up to date, and how it is reached.
//!
//! The hub tells the registry which agents are registered (`set`); the registry reads the cards
//! of agents registered by URL in the background — again every `refresh_interval`, and at
//! once on `refresh` — and publishes an immutable [`Directory`] of the agents whose card it
//! has. A request loads the directory once and never waits for a card to be read.
//!
//! An agent whose card cannot be read stays out of the directory until it can; an agent whose
//! card was read once keeps its last card while a later read fails (its status says so).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::card::{AgentCard, ProtocolVersion};
use crate::config::{AgentConfig, CardSource};
use crate::fetch::{CardFetcher, FetchOptions};
use crate::signing::{self, KeySet, VerifyingKey};

/// How often a card registered by URL is read again when its registration does not say.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// The first retry after a failed read; doubled each time, at most [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Reveals the secrets agents' credentials name (`secret:NAME`).
pub trait Secrets: Send + Sync {
    fn reveal(&self, name: &str) -> Option<String>;
}

/// The protocol binding the hub speaks to an agent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    JsonRpc,
    Rest,
}

/// Where and how the hub reaches an agent: its card's preferred interface that the hub speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub binding: Binding,
    pub version: ProtocolVersion,
    pub tenant: Option<String>,
}

/// An agent the hub can relay to.
#[derive(Debug)]
pub struct Agent {
    pub name: String,
    pub registration: AgentConfig,
    /// The card, in the v1.0 form.
    pub card: AgentCard,
    /// The card as the agent published it (signatures cover this form).
    pub raw_card: Value,
    pub endpoint: Endpoint,
    /// Sent with every request to the agent: its registration's headers and bearer token,
    /// secrets revealed.
    pub headers: HeaderMap,
    /// The registration's `public_keys`, parsed: what the agent's card and messages are
    /// verified with.
    pub public_keys: KeySet,
    /// When the card was read.
    pub read_at: SystemTime,
}

impl Agent {
    /// Whether the agent offers the skill `id`.
    pub fn has_skill(&self, id: &str) -> bool {
        self.card.skills.iter().any(|s| s.id == id)
    }
}

/// The agents whose card the registry has, by name: what requests are served from.
#[derive(Debug, Default)]
pub struct Directory {
    agents: BTreeMap<String, Arc<Agent>>,
}

impl Directory {
    pub fn get(&self, name: &str) -> Option<&Arc<Agent>> {
        self.agents.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Agent>> {
        self.agents.values()
    }

    /// The agents offering the skill `id`, in name order.
    pub fn with_skill<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Arc<Agent>> {
        self.agents.values().filter(move |a| a.has_skill(id))
    }

    /// The agent acting as hub principal `principal` (its registration's `principal`).
    pub fn acting_as(&self, principal: &str) -> Option<&Arc<Agent>> {
        self.agents
            .values()
            .find(|a| a.registration.principal.as_deref() == Some(principal))
    }
}

/// Where an agent's card stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CardState {
    /// Not read yet.
    Pending,
    /// Read; the agent is in the directory.
    Ready,
    /// The last read failed. `stale` when an earlier card is still in use.
    Failed { error: String, stale: bool },
}

/// An agent's registration and how its card stands, for the admin API.
#[derive(Debug, Clone)]
pub struct AgentStatus {
    pub registration: AgentConfig,
    pub state: CardState,
    /// When the card was last read successfully.
    pub read_at: Option<SystemTime>,
    pub agent: Option<Arc<Agent>>,
}

struct Entry {
    registration: AgentConfig,
    state: CardState,
    /// Reads the card of an agent registered by URL, now and then.
    reader: Option<JoinHandle<()>>,
    read_now: Arc<Notify>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

/// Checks a URL the hub is about to send requests to (the hub's rule on private networks):
/// `Err` says why it may not.
pub type DestinationCheck =
    Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The registered agents; cheap to clone (one shared registry).
#[derive(Clone)]
pub struct AgentRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    fetcher: CardFetcher,
    /// For API registrations once `connect_publicly`: connects to public addresses only.
    public_fetcher: std::sync::OnceLock<CardFetcher>,
    secrets: Arc<dyn Secrets>,
    directory: ArcSwap<Directory>,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Counts directory changes, for whoever shows the agents (cards, MCP tools).
    changes: watch::Sender<u64>,
    /// Where cards may be read from and endpoints point to; unset, anywhere.
    destinations: std::sync::OnceLock<DestinationCheck>,
}

impl AgentRegistry {
    pub fn new(secrets: Arc<dyn Secrets>) -> Result<Self, reqwest::Error> {
        Self::with_fetch_options(secrets, FetchOptions::default())
    }

    pub fn with_fetch_options(
        secrets: Arc<dyn Secrets>,
        options: FetchOptions,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            inner: Arc::new(Inner {
                fetcher: CardFetcher::new(options)?,
                public_fetcher: std::sync::OnceLock::new(),
                secrets,
                directory: ArcSwap::from_pointee(Directory::default()),
                entries: Mutex::new(BTreeMap::new()),
                changes: watch::Sender::new(0),
                destinations: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Checks the card URL of every registration made through the admin API before it is
    /// read, and its card's endpoint before the card is used, each time (a card read again may
    /// point elsewhere, a name may resolve elsewhere): an agent that fails is taken out of the
    /// directory, its earlier card with it, until a read passes. Set once, before
    /// registrations.
    pub fn check_destinations_with(&self, check: DestinationCheck) {
        let _ = self.inner.destinations.set(check);
    }

    /// Reads the cards of registrations made through the admin API over connections to public
    /// addresses only (`destinations`), so that a name cannot resolve elsewhere between the
    /// check and the read. Set before registrations.
    pub fn connect_publicly(&self) -> Result<(), reqwest::Error> {
        let public = self.inner.fetcher.public_only()?;
        let _ = self.inner.public_fetcher.set(public);
        Ok(())
    }

    /// The agents requests are served from now.
    pub fn directory(&self) -> Arc<Directory> {
        self.inner.directory.load_full()
    }

    /// Told of every change of the directory.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Makes the registered agents exactly `registrations`: new ones are read, changed ones
    /// read again, removed ones dropped; unchanged ones are left alone. Must be called within a
    /// Tokio runtime (cards by URL are read by tasks).
    pub fn set(&self, registrations: &[AgentConfig]) {
        let mut entries = self.inner.lock_entries();
        let before = entries.len();
        entries.retain(|name, _| registrations.iter().any(|r| &r.name == name));
        let mut changed = entries.len() != before;
        for registration in registrations {
            if entries
                .get(&registration.name)
                .is_some_and(|e| &e.registration == registration)
            {
                continue;
            }
            changed = true;
            let entry = self.start(registration.clone());
            entries.insert(registration.name.clone(), entry);
        }
        drop(entries);
        if changed {
            self.inner.republish_from_entries();
        }
    }

    /// Every registration with its card's state, in name order.
    pub fn statuses(&self) -> Vec<AgentStatus> {
        let entries = self.inner.lock_entries();
        // The directory changes only under the entries' lock: loaded under it, the two agree
        // (loaded before it, a card published in between would show as ready without a card).
        let directory = self.directory();
        entries
            .values()
            .map(|entry| {
                let agent = directory.get(&entry.registration.name).cloned();
                AgentStatus {
                    registration: entry.registration.clone(),
                    state: entry.state.clone(),
                    read_at: agent.as_ref().map(|a| a.read_at),
                    agent,
                }
            })
            .collect()
    }

    pub fn status(&self, name: &str) -> Option<AgentStatus> {
        self.statuses()
            .into_iter()
            .find(|s| s.registration.name == name)
    }

    /// Reads the card of `name` again now, and waits for the outcome. `None` for an agent
    /// that is not registered.
    pub async fn refresh(&self, name: &str) -> Option<Result<(), String>> {
        let registration = self
            .inner
            .lock_entries()
            .get(name)
            .map(|e| e.registration.clone())?;
        let outcome = self.inner.load(&registration).await;
        Some(match outcome {
            Ok(agent) => {
                self.inner.publish(agent);
                Ok(())
            }
            Err(error) => {
                self.inner.failed(&registration, &error);
                Err(error)
            }
        })
    }

    /// Loads the card of an agent that is not registered (yet): to check a registration.
    pub async fn probe(&self, registration: &AgentConfig) -> Result<Agent, String> {
        self.inner.load(registration).await
    }

    /// Stops reading cards.
    pub fn shutdown(&self) {
        self.inner.lock_entries().clear();
    }

    /// An entry for a new or changed registration: a card given inline or by file is loaded
    /// now; one registered by URL (or one whose destination must be checked) is read by a task
    /// of its own.
    fn start(&self, registration: AgentConfig) -> Entry {
        let read_now = Arc::new(Notify::new());
        let mut entry = Entry {
            registration: registration.clone(),
            state: CardState::Pending,
            reader: None,
            read_now: read_now.clone(),
        };
        // An API registration's card, even one given inline, is read by a task when its
        // destination must be checked (a lookup, again every refresh_interval).
        let checked = registration.from_api && self.inner.destinations.get().is_some();
        if checked || matches!(registration.sources().first(), Some(CardSource::Url(_))) {
            let inner = Arc::downgrade(&self.inner);
            entry.reader = Some(tokio::spawn(read_periodically(
                inner,
                registration,
                read_now,
            )));
            return entry;
        }
        match self.inner.load_now(&registration) {
            Ok(agent) => {
                entry.state = CardState::Ready;
                self.inner.stage(agent);
            }
            Err(error) => {
                tracing::warn!(agent = %registration.name, %error, "agent card unusable");
                entry.state = CardState::Failed {
                    error,
                    stale: false,
                };
            }
        }
        entry
    }

    /// Asks the reader of `name` to read its card now, without waiting.
    pub fn read_soon(&self, name: &str) {
        if let Some(entry) = self.inner.lock_entries().get(name) {
            entry.read_now.notify_one();
        }
    }
}

/// Reads an agent's card until it is unregistered: at once, then every refresh interval, and
/// after a failure again with backoff (while keeping any earlier card).
async fn read_periodically(
    inner: std::sync::Weak<Inner>,
    registration: AgentConfig,
    read_now: Arc<Notify>,
) {
    let every = registration.refresh_interval.unwrap_or(DEFAULT_REFRESH);
    let mut retry = FIRST_RETRY;
    loop {
        let Some(registry) = inner.upgrade() else {
            return;
        };
        let wait = match registry.load(&registration).await {
            Ok(agent) => {
                retry = FIRST_RETRY;
                registry.publish(agent);
                every
            }
            Err(error) => {
                tracing::warn!(agent = %registration.name, %error, "cannot read the agent card");
                registry.failed(&registration, &error);
                let wait = retry;
                retry = (retry * 2).min(MAX_RETRY);
                wait.min(every)
            }
        };
        drop(registry);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = read_now.notified() => {}
        }
    }
}

impl Inner {
    fn lock_entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads the card of an agent registered by card or card file (no I/O but a small file).
    fn load_now(&self, registration: &AgentConfig) -> Result<Agent, String> {
        let raw = match registration.sources().first() {
            Some(CardSource::Inline(card)) => (*card).clone(),
            Some(CardSource::File(path)) => crate::config::read_card_file(path)?,
            _ => return Err("the agent has no card to load".into()),
        };
        let card = AgentCard::from_value(raw.clone()).map_err(|e| e.to_string())?;
        let problems = card.validate();
        if let Some((path, message)) = problems.first() {
            return Err(format!("the card is invalid: {path}: {message}"));
        }
        self.agent(registration, card, raw)
    }

    /// Loads the card of any agent: read from its URL, or given.
    async fn load(&self, registration: &AgentConfig) -> Result<Agent, String> {
        let Some(CardSource::Url(url)) = registration.sources().first().copied() else {
            let agent = self.load_now(registration)?;
            self.check_endpoint(registration, &agent).await?;
            return Ok(agent);
        };
        let headers = self.headers(registration)?;
        self.check_destination(registration, url)
            .await
            .map_err(|e| self.refused(registration, format!("the card's URL: {e}")))?;
        let fetcher = self.fetcher_for(registration);
        let fetched = fetcher
            .fetch(url, &headers)
            .await
            .map_err(|e| e.to_string())?;
        let jwks = self
            .signers_keys(fetcher, url, &fetched.raw, &headers)
            .await?;
        let agent = self.agent(registration, fetched.card, fetched.raw)?;
        verify_signatures(&agent, jwks.as_ref())?;
        if agent.endpoint.url != url {
            self.check_endpoint(registration, &agent).await?;
        }
        Ok(agent)
    }

    /// Checks where the agent's card sends messages.
    async fn check_endpoint(
        &self,
        registration: &AgentConfig,
        agent: &Agent,
    ) -> Result<(), String> {
        let endpoint = &agent.endpoint.url;
        self.check_destination(registration, endpoint)
            .await
            .map_err(|e| self.refused(registration, format!("the card's endpoint {endpoint}: {e}")))
    }

    /// The client a registration's cards are read with.
    fn fetcher_for(&self, registration: &AgentConfig) -> &CardFetcher {
        match self.public_fetcher.get() {
            Some(public) if registration.from_api => public,
            _ => &self.fetcher,
        }
    }

    /// A destination refused: the agent's last card leaves the directory too (its endpoint is
    /// most likely the same host, which may now resolve to the refused address). Returns the
    /// error.
    fn refused(&self, registration: &AgentConfig, error: String) -> String {
        let entries = self.lock_entries();
        let published = self.directory.load();
        if entries
            .get(&registration.name)
            .is_some_and(|e| &e.registration == registration)
            && published.get(&registration.name).is_some()
        {
            let mut agents = published.agents.clone();
            agents.remove(&registration.name);
            self.directory.store(Arc::new(Directory { agents }));
            drop(entries);
            self.changes.send_modify(|n| *n += 1);
            tracing::warn!(agent = %registration.name, %error, "agent withdrawn: its card points at a refused destination");
        }
        error
    }

    async fn check_destination(&self, registration: &AgentConfig, url: &str) -> Result<(), String> {
        match self.destinations.get() {
            // The configuration file's registrations are trusted as written.
            Some(check) if registration.from_api => check(url.to_owned()).await,
            _ => Ok(()),
        }
    }

    /// The keys a card's signatures name by `jku`, when the card's registration gives none:
    /// read from the agent's own origin only (keys from elsewhere would prove nothing).
    async fn signers_keys(
        &self,
        fetcher: &CardFetcher,
        base_url: &str,
        raw: &Value,
        headers: &HeaderMap,
    ) -> Result<Option<KeySet>, String> {
        let jkus = signature_jkus(raw);
        let Some(jku) = jkus.first() else {
            return Ok(None);
        };
        let same_origin = |a: &str, b: &str| match (reqwest::Url::parse(a), reqwest::Url::parse(b))
        {
            (Ok(a), Ok(b)) => a.origin() == b.origin(),
            _ => false,
        };
        if !same_origin(jku, base_url) {
            return Err(format!(
                "the card's signature names keys at {jku}, which is not the agent's origin; register the agent's public_keys instead"
            ));
        }
        let jwks = fetcher
            .json(jku, headers)
            .await
            .map_err(|e| format!("cannot read the card's signing keys: {e}"))?;
        KeySet::from_jwks(&jwks)
            .map(Some)
            .map_err(|e| format!("the card's signing keys at {jku}: {e}"))
    }

    fn agent(
        &self,
        registration: &AgentConfig,
        card: AgentCard,
        raw_card: Value,
    ) -> Result<Agent, String> {
        let public_keys = KeySet::from_keys(
            registration
                .public_keys
                .iter()
                .filter_map(|jwk| VerifyingKey::from_jwk(jwk).ok()),
        );
        if registration.url.is_none() {
            verify_signatures_with(&public_keys, &raw_card, None)?;
        }
        let endpoint = endpoint(&card)?;
        Ok(Agent {
            name: registration.name.clone(),
            headers: self.headers(registration)?,
            registration: registration.clone(),
            card,
            raw_card,
            endpoint,
            public_keys,
            read_at: SystemTime::now(),
        })
    }

    /// The registration's headers and bearer token, secrets revealed.
    fn headers(&self, registration: &AgentConfig) -> Result<HeaderMap, String> {
        let mut headers = HeaderMap::new();
        let reveal = |value: &str| -> Result<HeaderValue, String> {
            let value = match value.strip_prefix("secret:") {
                Some(name) => self
                    .secrets
                    .reveal(name)
                    .ok_or_else(|| format!("secret \"{name}\" is not in the secret store"))?,
                None => value.to_owned(),
            };
            let mut value = HeaderValue::try_from(value)
                .map_err(|_| "a credential is not a valid header value".to_owned())?;
            value.set_sensitive(true);
            Ok(value)
        };
        for (name, value) in &registration.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| format!("\"{name}\" is not a header name"))?;
            headers.insert(name, reveal(value)?);
        }
        if let Some(token) = &registration.bearer_token {
            let token = reveal(token)?;
            let bearer = format!("Bearer {}", token.to_str().unwrap_or_default());
            let mut value = HeaderValue::try_from(bearer)
                .map_err(|_| "the bearer token is not a valid header value".to_owned())?;
            value.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, value);
        }
        Ok(headers)
    }

    /// Puts a card loaded while the entries are locked into the directory.
    fn stage(&self, agent: Agent) {
        let mut agents = self.directory.load().agents.clone();
        agents.insert(agent.name.clone(), Arc::new(agent));
        self.directory.store(Arc::new(Directory { agents }));
    }

    /// A card read by a reader (or a refresh): published if the agent is still registered
    /// as it was read.
    fn publish(&self, agent: Agent) {
        let mut entries = self.lock_entries();
        let Some(entry) = entries.get_mut(&agent.name) else {
            return;
        };
        if entry.registration != agent.registration {
            return;
        }
        if entry.state != CardState::Ready {
            tracing::info!(agent = %agent.name, url = %agent.endpoint.url, version = %agent.endpoint.version, "agent card read");
        }
        entry.state = CardState::Ready;
        self.stage(agent);
        drop(entries);
        self.changes.send_modify(|n| *n += 1);
    }

    /// A read of `registration` failed: said so if the agent is still registered as it was
    /// read (a read of an earlier registration says nothing about the new one).
    fn failed(&self, registration: &AgentConfig, error: &str) {
        let name = &registration.name;
        let mut entries = self.lock_entries();
        if let Some(entry) = entries
            .get_mut(name)
            .filter(|e| &e.registration == registration)
        {
            let stale = self.directory.load().get(name).is_some();
            entry.state = CardState::Failed {
                error: error.to_owned(),
                stale,
            };
        }
    }

    /// Drops the cards of agents no longer registered (or registered differently).
    fn republish_from_entries(&self) {
        let entries = self.lock_entries();
        let agents = self
            .directory
            .load()
            .agents
            .iter()
            .filter(|(name, agent)| {
                entries
                    .get(*name)
                    .is_some_and(|e| e.registration == agent.registration)
            })
            .map(|(name, agent)| (name.clone(), agent.clone()))
            .collect();
        self.directory.store(Arc::new(Directory { agents }));
        drop(entries);
        self.changes.send_modify(|n| *n += 1);
    }
}

/// The `jku` of every signature of a card (where its signer publishes its keys).
fn signature_jkus(raw: &Value) -> Vec<String> {
    use base64::Engine as _;
    raw.get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|signature| signature.get("protected")?.as_str())
        .filter_map(|protected| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(protected)
                .ok()
        })
        .filter_map(|header| serde_json::from_slice::<Value>(&header).ok())
        .filter_map(|header| header.get("jku")?.as_str().map(str::to_owned))
        .collect()
}

fn verify_signatures(agent: &Agent, jwks: Option<&KeySet>) -> Result<(), String> {
    verify_signatures_with(&agent.public_keys, &agent.raw_card, jwks)
}

/// Checks a card's signatures, when it has any, with the registration's public keys (else the
/// keys its `jku` names): a card whose signature does not hold is not used.
fn verify_signatures_with(
    registered: &KeySet,
    raw: &Value,
    jwks: Option<&KeySet>,
) -> Result<(), String> {
    if raw
        .get("signatures")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Ok(());
    }
    let find = |kid: &str, _jku: Option<&str>| {
        registered
            .get(kid)
            .or_else(|| jwks.and_then(|keys| keys.get(kid)))
            .cloned()
    };
    signing::verify_card(raw, &find)
        .map(drop)
        .map_err(|e| format!("the card's signature does not hold: {e}"))
}

/// The interface the hub speaks to the agent through: the card's first one with a binding
/// and version the hub relays.
fn endpoint(card: &AgentCard) -> Result<Endpoint, String> {
    let interface = card.preferred_interface().ok_or(
        "the card offers no interface the hub speaks (JSONRPC or HTTP+JSON, A2A 0.3 or 1.0)",
    )?;
    let binding = match interface.protocol_binding.as_str() {
        "JSONRPC" => Binding::JsonRpc,
        _ => Binding::Rest,
    };
    let version = interface
        .version()
        .ok_or("the card's interface declares no version the hub speaks")?;
    Ok(Endpoint {
        url: interface.url.clone(),
        binding,
        version,
        tenant: interface.tenant.clone(),
    })
}
