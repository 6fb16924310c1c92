//! The registered upstream servers, each kept connected by its own supervisor task, and the
//! federated catalog published from all of them.
//!
//! One connection per server is shared by every caller (a stdio server is one process, not one
//! per session). A supervisor connects, reads the catalog, publishes it, re-reads it when the
//! server says a list changed, and when the connection is lost (the process died, the server
//! went away) reconnects with exponential backoff. The federation is an immutable snapshot
//! swapped in whole after every change: requests read it without locks. Each change that
//! alters a list (a server's catalog re-read, a server added, removed or reconnected) is
//! counted in [`ListChanges`], which the face follows to tell its clients.
//!
//! A server that acts for each user (the OAuth authorization code grant) has no shared
//! connection: each user's calls go over their own ([`crate::user_connections`]). Its catalog
//! is read through the connection of a user who granted access, and re-read like any other's;
//! until someone has, the server needs consent and publishes nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{McpServerConfig, McpSettings};
use crate::names::{Collision, Namespace};
use crate::oauth::AccessTokens;
use crate::upstream::{Builtins, Catalog, ConnectOptions, Connection, Secrets, UpstreamError};
use crate::user_connections::{IDLE_TIMEOUT, MAX_CONNECTIONS, UserConnections};
use crate::user_oauth::{Grants, UserTokens};
use crate::{uri_template, uris};

/// The first wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a supervisor checks that its connection is still up.
const LIVENESS_EVERY: Duration = Duration::from_secs(1);
/// How often a server that needs consent looks for grants made elsewhere (another replica).
const CONSENT_POLL: Duration = Duration::from_secs(30);

/// Where a server's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Ready,
    /// The last attempt failed; the supervisor tries again after a backoff.
    Failed,
    /// A server that acts for each user, and no user's grant can read its catalog now: what
    /// it published before stays published, and each user's calls ask for their consent.
    NeedsConsent,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::NeedsConsent => "needs_consent",
        }
    }
}

/// One server's health, as the admin API shows it.
#[derive(Debug, Clone)]
pub struct Status {
    pub name: String,
    pub state: State,
    /// Since when the server has been in this state.
    pub since: SystemTime,
    /// Why the last attempt or catalog read failed.
    pub error: Option<String>,
    /// How many times the connection was re-established after being up.
    pub reconnects: u32,
    pub tools: usize,
    pub resources: usize,
    pub prompts: usize,
}

/// A ready server's catalog and the prefix it is published under.
#[derive(Clone)]
struct Published {
    prefix: String,
    catalog: Arc<Catalog>,
}

/// A tool as clients see it.
#[derive(Debug, Clone)]
pub struct PublishedTool {
    pub name: String,
    pub server: String,
    /// The upstream's tool, under its own name.
    pub tool: rmcp::model::Tool,
}

/// A prompt as clients see it.
#[derive(Debug, Clone)]
pub struct PublishedPrompt {
    pub name: String,
    pub server: String,
    /// The upstream's prompt, under its own name.
    pub prompt: rmcp::model::Prompt,
}

/// A resource as clients see it.
#[derive(Debug, Clone)]
pub struct PublishedResource {
    /// Its URI at the hub (see [`crate::uris`]).
    pub uri: String,
    pub server: String,
    /// The upstream's resource, under its own URI.
    pub resource: rmcp::model::Resource,
}

/// A resource template as clients see it.
#[derive(Debug, Clone)]
pub struct PublishedTemplate {
    /// Its URI template at the hub (see [`crate::uris`]).
    pub uri_template: String,
    pub server: String,
    /// The upstream's template, as the upstream wrote it.
    pub template: rmcp::model::ResourceTemplate,
}

/// What reading a published resource URI means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceOrigin {
    pub server: String,
    /// The URI to read from the server.
    pub upstream: String,
    /// The name of the resource, or of the template, that covers it: permissions are granted
    /// on it.
    pub name: String,
}

/// Everything clients can see, from every ready server.
#[derive(Default)]
pub struct Federation {
    catalogs: BTreeMap<String, Arc<Catalog>>,
    tools: Vec<PublishedTool>,
    prompts: Vec<PublishedPrompt>,
    resources: Vec<PublishedResource>,
    templates: Vec<PublishedTemplate>,
    tool_names: Namespace,
    prompt_names: Namespace,
}

impl Federation {
    fn build(
        separator: &str,
        published: &BTreeMap<String, Published>,
    ) -> Result<Self, Vec<Collision>> {
        let tool_names = Namespace::build(
            separator,
            published.iter().map(|(server, p)| {
                (
                    server.as_str(),
                    p.prefix.as_str(),
                    p.catalog.tools.iter().map(|t| t.name.as_ref()),
                )
            }),
        )?;
        let prompt_names = Namespace::build(
            separator,
            published.iter().map(|(server, p)| {
                (
                    server.as_str(),
                    p.prefix.as_str(),
                    p.catalog.prompts.iter().map(|p| p.name.as_str()),
                )
            }),
        )?;
        let mut tools = Vec::with_capacity(tool_names.len());
        for (server, p) in published {
            for tool in &p.catalog.tools {
                tools.push(PublishedTool {
                    name: crate::names::publish(&p.prefix, separator, &tool.name),
                    server: server.clone(),
                    tool: tool.clone(),
                });
            }
        }
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let mut prompts = Vec::with_capacity(prompt_names.len());
        for (server, p) in published {
            for prompt in &p.catalog.prompts {
                prompts.push(PublishedPrompt {
                    name: crate::names::publish(&p.prefix, separator, &prompt.name),
                    server: server.clone(),
                    prompt: prompt.clone(),
                });
            }
        }
        prompts.sort_by(|a, b| a.name.cmp(&b.name));
        let mut resources = Vec::new();
        let mut templates = Vec::new();
        for (server, p) in published {
            for resource in &p.catalog.resources {
                resources.push(PublishedResource {
                    uri: uris::publish(server, &resource.uri),
                    server: server.clone(),
                    resource: resource.clone(),
                });
            }
            for template in &p.catalog.resource_templates {
                templates.push(PublishedTemplate {
                    uri_template: uris::publish(server, &template.uri_template),
                    server: server.clone(),
                    template: template.clone(),
                });
            }
        }
        // Stable: an upstream listing one URI twice keeps its own order.
        resources.sort_by(|a, b| a.uri.cmp(&b.uri));
        templates.sort_by(|a, b| a.uri_template.cmp(&b.uri_template));
        Ok(Self {
            catalogs: published
                .iter()
                .map(|(server, p)| (server.clone(), p.catalog.clone()))
                .collect(),
            tools,
            prompts,
            resources,
            templates,
            tool_names,
            prompt_names,
        })
    }

    /// Every published tool, by name.
    pub fn tools(&self) -> &[PublishedTool] {
        &self.tools
    }

    /// Every published prompt, by name.
    pub fn prompts(&self) -> &[PublishedPrompt] {
        &self.prompts
    }

    /// Every published resource, by URI.
    pub fn resources(&self) -> &[PublishedResource] {
        &self.resources
    }

    /// Every published resource template, by URI template.
    pub fn resource_templates(&self) -> &[PublishedTemplate] {
        &self.templates
    }

    /// What reading the published `uri` means: a ready server's resource of that URI, else
    /// the first of its templates (in the server's order) that covers it. `None` for anything
    /// else, so that only what a server announced can be read, under a name to authorize.
    pub fn resource_origin(&self, uri: &str) -> Option<ResourceOrigin> {
        let target = uris::resolve(uri, |server| self.catalogs.contains_key(server))?;
        let catalog = self.catalogs.get(target.server)?;
        let name = catalog
            .resources
            .iter()
            .find(|r| r.uri == target.upstream)
            .map(|r| &r.name)
            .or_else(|| {
                catalog
                    .resource_templates
                    .iter()
                    .find(|t| uri_template::matches(&t.uri_template, target.upstream))
                    .map(|t| &t.name)
            })?;
        Some(ResourceOrigin {
            server: target.server.to_owned(),
            upstream: target.upstream.to_owned(),
            name: name.clone(),
        })
    }

    /// Published tool name → server and upstream name.
    pub fn tool_names(&self) -> &Namespace {
        &self.tool_names
    }

    /// Published prompt name → server and upstream name.
    pub fn prompt_names(&self) -> &Namespace {
        &self.prompt_names
    }

    /// A ready server's catalog.
    pub fn catalog(&self, server: &str) -> Option<&Arc<Catalog>> {
        self.catalogs.get(server)
    }
}

/// How many times each of the federation's lists has changed. Subscribers compare the counts
/// with those they last saw; changes in between are coalesced, and none says what changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListChanges {
    pub tools: u64,
    pub prompts: u64,
    /// Resources and resource templates.
    pub resources: u64,
}

/// A server and its supervisor.
struct Supervised {
    config: McpServerConfig,
    connection: Arc<RwLock<Option<Arc<Connection>>>>,
    status: Arc<RwLock<Status>>,
    task: JoinHandle<()>,
}

struct Inner {
    settings: McpSettings,
    /// This hub's id in hop headers (see [`crate::hops`]).
    hub_id: Arc<str>,
    secrets: Arc<dyn Secrets>,
    servers: Mutex<BTreeMap<String, Supervised>>,
    /// Catalogs of ready servers, the source the federation is built from.
    published: Mutex<BTreeMap<String, Published>>,
    federation: ArcSwap<Federation>,
    changes: watch::Sender<ListChanges>,
    /// Told of each catalog published.
    sink: RwLock<Option<Arc<dyn CatalogSink>>>,
    /// Users' grants, for the servers that act for each user.
    grants: RwLock<Option<Arc<dyn Grants>>>,
    /// The servers bundled with the hub.
    builtins: RwLock<Option<Arc<dyn Builtins>>>,
    /// Users' connections to those servers.
    users: UserConnections,
    /// Counts the grants made here, so that a server waiting for one looks at once.
    consents: watch::Sender<u64>,
}

/// Where published catalogs are kept beyond the process's life. Called under no lock of the
/// registry's; it must not block (hand the write to a task).
pub trait CatalogSink: Send + Sync {
    fn published(&self, server: &str, catalog: &Arc<Catalog>);
}

impl Inner {
    fn options(&self) -> ConnectOptions {
        ConnectOptions {
            timeouts: self.settings.timeouts,
            limits: self.settings.limits,
            hub_id: Some(self.hub_id.clone()),
            builtins: read(&self.builtins).clone(),
        }
    }
}

/// Cheap to clone: all clones share the servers.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// A registry of the hub `settings.hub_id`; without one, of a random id for this process.
    pub fn new(settings: McpSettings, secrets: Arc<dyn Secrets>) -> Self {
        let hub_id: Arc<str> = settings
            .hub_id
            .as_deref()
            .map_or_else(random_hub_id, Arc::from);
        Self {
            inner: Arc::new(Inner {
                hub_id,
                settings,
                secrets,
                servers: Mutex::new(BTreeMap::new()),
                published: Mutex::new(BTreeMap::new()),
                federation: ArcSwap::from_pointee(Federation::default()),
                changes: watch::Sender::new(ListChanges::default()),
                sink: RwLock::new(None),
                grants: RwLock::new(None),
                builtins: RwLock::new(None),
                users: UserConnections::new(MAX_CONNECTIONS, IDLE_TIMEOUT),
                consents: watch::Sender::new(0),
            }),
        }
    }

    /// Where users' grants are kept; without it, servers that act for each user need consent
    /// forever.
    pub fn set_grants(&self, grants: Arc<dyn Grants>) {
        *write(&self.inner.grants) = Some(grants);
    }

    /// How many items a page of a list holds (`mcp.page_size`).
    pub fn page_size(&self) -> usize {
        self.inner.settings.page_size
    }

    /// Tells `sink` of every catalog published from now on (to keep it across restarts).
    /// What runs `builtin:` servers; set before any is added.
    pub fn set_builtins(&self, builtins: Arc<dyn Builtins>) {
        *write(&self.inner.builtins) = Some(builtins);
    }

    pub fn set_sink(&self, sink: Arc<dyn CatalogSink>) {
        *write(&self.inner.sink) = Some(sink);
    }

    /// Starts supervising `server` (replacing a server of the same name). Returns at once;
    /// [`Registry::status`] shows when it is ready.
    pub fn add(&self, server: McpServerConfig) {
        self.remove(&server.name);
        let status = Arc::new(RwLock::new(Status {
            name: server.name.clone(),
            state: State::Connecting,
            since: SystemTime::now(),
            error: None,
            reconnects: 0,
            tools: 0,
            resources: 0,
            prompts: 0,
        }));
        let connection = Arc::new(RwLock::new(None));
        let task = if server.acts_per_user() {
            tokio::spawn(supervise_per_user(
                self.inner.clone(),
                server.clone(),
                connection.clone(),
                status.clone(),
            ))
        } else {
            tokio::spawn(supervise(
                self.inner.clone(),
                server.clone(),
                connection.clone(),
                status.clone(),
            ))
        };
        lock(&self.inner.servers).insert(
            server.name.clone(),
            Supervised {
                config: server,
                connection,
                status,
                task,
            },
        );
    }

    /// Stops supervising `name` and withdraws its catalog; its connection closes (and its
    /// process stops) when the last call using it ends.
    pub fn remove(&self, name: &str) -> bool {
        let Some(supervised) = lock(&self.inner.servers).remove(name) else {
            return false;
        };
        supervised.task.abort();
        write(&supervised.connection).take();
        self.inner.users.remove_server(name);
        withdraw(&self.inner, name);
        true
    }

    /// This hub's id in hop headers between hubs.
    pub fn hub_id(&self) -> &Arc<str> {
        &self.inner.hub_id
    }

    /// The published catalog now.
    pub fn federation(&self) -> Arc<Federation> {
        self.inner.federation.load_full()
    }

    /// The counts of list changes, following every change from now on.
    pub fn changes(&self) -> watch::Receiver<ListChanges> {
        self.inner.changes.subscribe()
    }

    /// The live connection to `server`, if it is ready and shared by every caller (a server
    /// that acts for each user has none: see [`Registry::user_connection`]).
    pub fn connection(&self, server: &str) -> Option<Arc<Connection>> {
        let servers = lock(&self.inner.servers);
        let supervised = servers.get(server)?;
        if supervised.config.acts_per_user() {
            return None;
        }
        read(&supervised.connection).clone()
    }

    /// Whether `server` acts for each user: its calls need the caller's own connection.
    pub fn acts_per_user(&self, server: &str) -> bool {
        lock(&self.inner.servers)
            .get(server)
            .is_some_and(|s| s.config.acts_per_user())
    }

    /// `principal`'s own connection to `server`, a server that acts for each user: opened
    /// with their tokens on first use. [`UpstreamError::NeedsConsent`] when they have no
    /// usable grant.
    pub async fn user_connection(
        &self,
        server: &str,
        principal: &str,
    ) -> Result<Arc<Connection>, UpstreamError> {
        let config = lock(&self.inner.servers)
            .get(server)
            .map(|s| s.config.clone())
            .ok_or_else(|| UpstreamError::Setup(format!("no MCP server is named \"{server}\"")))?;
        user_connection(&self.inner, &config, principal).await
    }

    /// Whether `principal`'s grant for `server` is known to be gone (refused by the
    /// authorization server while they were connected).
    pub fn lacks_grant(&self, server: &str, principal: &str) -> bool {
        self.inner
            .users
            .get(server, principal)
            .is_some_and(|slot| slot.tokens.lacks_grant())
    }

    /// `principal` granted access to `server` (anew): their next call connects with the new
    /// tokens, and a server that needed consent reads its catalog now.
    pub fn granted(&self, server: &str, principal: &str) {
        self.inner.users.remove(server, principal);
        self.inner.consents.send_modify(|n| *n += 1);
    }

    /// `principal`'s grant for `server` was revoked: their connection is closed once the calls
    /// using it end.
    pub fn revoked(&self, server: &str, principal: &str) {
        self.inner.users.remove(server, principal);
    }

    /// Every server's health, by name.
    pub fn status(&self) -> Vec<Status> {
        lock(&self.inner.servers)
            .values()
            .map(|s| read(&s.status).clone())
            .collect()
    }

    /// The registered servers' settings, by name.
    pub fn servers(&self) -> Vec<McpServerConfig> {
        lock(&self.inner.servers)
            .values()
            .map(|s| s.config.clone())
            .collect()
    }

    /// Connects to `server` once, reads its catalog and disconnects: what registering it would
    /// publish. The catalog is not installed.
    pub async fn probe(&self, server: &McpServerConfig) -> Result<Catalog, UpstreamError> {
        let connection =
            Connection::open_with(server, &self.inner.options(), self.inner.secrets.as_ref())
                .await?;
        let catalog = connection.catalog().await;
        connection.close().await;
        catalog
    }

    /// Whether `catalog`, published as `server`'s (in place of a server of the same name),
    /// would fit with every other ready server's names; otherwise which names collide.
    pub fn fits(&self, server: &McpServerConfig, catalog: &Catalog) -> Result<(), String> {
        let mut candidate = lock(&self.inner.published).clone();
        candidate.insert(
            server.name.clone(),
            Published {
                prefix: server.prefix().to_owned(),
                catalog: Arc::new(catalog.clone()),
            },
        );
        Federation::build(&self.inner.settings.separator, &candidate)
            .map(drop)
            .map_err(|collisions| describe(&collisions))
    }

    /// Re-reads `name`'s catalog now over its live connection and publishes it.
    pub async fn refresh(&self, name: &str) -> Result<Status, String> {
        let (config, connection, status) = {
            let servers = lock(&self.inner.servers);
            let supervised = servers
                .get(name)
                .ok_or_else(|| format!("no MCP server is named \"{name}\""))?;
            (
                supervised.config.clone(),
                read(&supervised.connection).clone(),
                supervised.status.clone(),
            )
        };
        let Some(connection) = connection else {
            let status = read(&status).clone();
            return Err(format!(
                "\"{name}\" is not connected ({}{}); it is retried in the background",
                status.state.as_str(),
                status.error.map(|e| format!(": {e}")).unwrap_or_default()
            ));
        };
        let catalog = connection.catalog().await.map_err(|e| e.to_string())?;
        publish(&self.inner, &config, catalog, &status)?;
        Ok(read(&status).clone())
    }

    /// Stops every supervisor and closes every connection.
    pub fn shutdown(&self) {
        let names: Vec<String> = lock(&self.inner.servers).keys().cloned().collect();
        for name in names {
            self.remove(&name);
        }
    }
}

async fn supervise(
    inner: Arc<Inner>,
    server: McpServerConfig,
    slot: Arc<RwLock<Option<Arc<Connection>>>>,
    status: Arc<RwLock<Status>>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut was_up = false;
    loop {
        set_state(&status, State::Connecting, None);
        let outcome = async {
            let connection =
                Connection::open_with(&server, &inner.options(), inner.secrets.as_ref()).await?;
            let catalog = connection.catalog().await?;
            Ok::<_, UpstreamError>((connection, catalog))
        }
        .await;
        let (connection, catalog) = match outcome {
            Ok(ready) => ready,
            Err(error) => {
                tracing::warn!(server = %server.name, error = %error, retry_in = ?backoff, "MCP server unavailable");
                set_state(&status, State::Failed, Some(error.to_string()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Err(problem) = publish(&inner, &server, catalog, &status) {
            // Its names would collide with another server's: not served until that changes.
            tracing::warn!(server = %server.name, error = %problem, "MCP server's catalog refused");
            set_state(&status, State::Failed, Some(problem));
            connection.close().await;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        if was_up {
            write(&status).reconnects += 1;
        }
        was_up = true;
        let up_since = tokio::time::Instant::now();
        let shared = Arc::new(connection);
        *write(&slot) = Some(shared.clone());
        set_state(&status, State::Ready, None);
        tracing::info!(server = %server.name, "MCP server ready");
        let lost = watch_connection(&inner, &server, &shared, &status).await;
        write(&slot).take();
        withdraw(&inner, &server.name);
        tracing::warn!(server = %server.name, reason = %lost, "MCP server connection lost; reconnecting");
        set_state(&status, State::Connecting, Some(lost));
        drop(shared);
        // A server that keeps dying soon after starting is restarted less and less often.
        if up_since.elapsed() >= MAX_BACKOFF {
            backoff = FIRST_BACKOFF;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits while the connection is up, re-reading the catalog when the server announces a
/// change. Returns why it ended.
async fn watch_connection(
    inner: &Arc<Inner>,
    server: &McpServerConfig,
    connection: &Arc<Connection>,
    status: &Arc<RwLock<Status>>,
) -> String {
    let mut changes = connection.subscribe();
    let mut liveness = tokio::time::interval(LIVENESS_EVERY);
    let every = inner.settings.health_check_interval;
    let mut health = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = health.tick() => {
                // An HTTP server that died leaves no closed transport behind.
                if let Err(error) = connection.check().await {
                    return format!("health check failed: {error}");
                }
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return "the connection closed".to_owned();
                }
                changes.borrow_and_update();
                match connection.catalog().await {
                    Ok(catalog) => {
                        if let Err(problem) = publish(inner, server, catalog, status) {
                            tracing::warn!(server = %server.name, error = %problem, "MCP server's changed catalog refused; keeping the previous one");
                            write(status).error = Some(problem);
                        }
                    }
                    Err(error) => return format!("re-reading its catalog failed: {error}"),
                }
            }
            _ = liveness.tick() => {
                if connection.is_closed() {
                    return "the connection closed".to_owned();
                }
            }
        }
    }
}

/// Why a server that acts for each user has no catalog connection.
const NO_CONSENT: &str = "no user has granted access yet (or every grant was revoked or refused); \
     a user's call answers with a link to grant it";

/// Supervises a server that acts for each user: its catalog is read through the connection of
/// the first user (oldest grant first) whose grant still works, published, and re-read like any
/// other's while that connection lasts. With no such user it needs consent: what it published
/// before stays, so that each user's calls can ask for their own consent.
async fn supervise_per_user(
    inner: Arc<Inner>,
    server: McpServerConfig,
    slot: Arc<RwLock<Option<Arc<Connection>>>>,
    status: Arc<RwLock<Status>>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut consents = inner.consents.subscribe();
    let mut was_up = false;
    loop {
        consents.borrow_and_update();
        inner.users.sweep_if_due();
        let (principal, connection, catalog) = match read_through_a_user(&inner, &server).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                set_state(&status, State::NeedsConsent, Some(NO_CONSENT.to_owned()));
                tokio::select! {
                    _ = consents.changed() => {}
                    () = tokio::time::sleep(CONSENT_POLL) => {}
                }
                continue;
            }
            Err(error) => {
                tracing::warn!(server = %server.name, error = %error, retry_in = ?backoff, "MCP server unavailable");
                set_state(&status, State::Failed, Some(error.to_string()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Err(problem) = publish(&inner, &server, catalog, &status) {
            tracing::warn!(server = %server.name, error = %problem, "MCP server's catalog refused");
            set_state(&status, State::Failed, Some(problem));
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        if was_up {
            write(&status).reconnects += 1;
        }
        was_up = true;
        backoff = FIRST_BACKOFF;
        *write(&slot) = Some(connection.clone());
        set_state(&status, State::Ready, None);
        tracing::info!(server = %server.name, "MCP server ready (acting for each user)");
        let lost = tokio::select! {
            lost = watch_connection(&inner, &server, &connection, &status) => Some(lost),
            () = until_released(&inner, &server.name, &principal, &connection) => None,
        };
        write(&slot).take();
        drop(connection);
        // Released (the user's grant went, or their connection was replaced): another user's
        // is looked for at once, and the catalog stays. Lost: as for any server.
        if let Some(lost) = lost {
            withdraw(&inner, &server.name);
            tracing::warn!(server = %server.name, reason = %lost, "MCP server connection lost; reconnecting");
            set_state(&status, State::Connecting, Some(lost));
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// The catalog of `server`, read through the connection of the first user whose grant works;
/// `None` when no user's does.
async fn read_through_a_user(
    inner: &Inner,
    server: &McpServerConfig,
) -> Result<Option<(String, Arc<Connection>, Catalog)>, UpstreamError> {
    let Some(grants) = read(&inner.grants).clone() else {
        return Ok(None);
    };
    let holders = grants
        .holders(&server.name)
        .await
        .map_err(|e| UpstreamError::Setup(format!("cannot read the users' OAuth grants: {e}")))?;
    for principal in holders {
        let connection = match user_connection(inner, server, &principal).await {
            Ok(connection) => connection,
            Err(UpstreamError::NeedsConsent) => continue,
            Err(error) => return Err(error),
        };
        match connection.catalog().await {
            Ok(catalog) => return Ok(Some((principal, connection, catalog))),
            // Their grant was refused on the way: the next user's may do.
            Err(_)
                if inner
                    .users
                    .get(&server.name, &principal)
                    .is_none_or(|slot| slot.tokens.lacks_grant()) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}

/// Returns once `connection` is no longer `principal`'s connection to `server` (their grant
/// was revoked, renewed or refused, or the connection was replaced); keeps it from idling out
/// until then.
async fn until_released(
    inner: &Inner,
    server: &str,
    principal: &str,
    connection: &Arc<Connection>,
) {
    let mut liveness = tokio::time::interval(LIVENESS_EVERY);
    loop {
        liveness.tick().await;
        inner.users.sweep_if_due();
        let held = inner.users.holds(server, principal, connection);
        if !held
            || inner
                .users
                .get(server, principal)
                .is_some_and(|slot| slot.tokens.lacks_grant())
        {
            return;
        }
    }
}

/// `principal`'s connection to `server` (which acts for each user), opened with their tokens
/// if need be; [`UpstreamError::NeedsConsent`] without a usable grant.
async fn user_connection(
    inner: &Inner,
    server: &McpServerConfig,
    principal: &str,
) -> Result<Arc<Connection>, UpstreamError> {
    let grants = read(&inner.grants)
        .clone()
        .ok_or_else(|| UpstreamError::Setup("this hub keeps no users' OAuth grants".to_owned()))?;
    let oauth = server
        .oauth
        .as_ref()
        .ok_or_else(|| UpstreamError::Setup("it has no oauth settings".to_owned()))?;
    inner.users.sweep_if_due();
    let options = inner.options();
    let slot = inner.users.slot(&server.name, principal, || {
        let client = crate::upstream::oauth_client(
            server,
            oauth,
            inner.secrets.as_ref(),
            server.timeouts(options.timeouts),
        )?;
        Ok(UserTokens::new(&server.name, principal, client, grants))
    })?;
    // Without a grant there is nothing to connect with.
    if let Err(error) = slot.tokens.token().await {
        if matches!(error, UpstreamError::NeedsConsent) {
            inner.users.remove(&server.name, principal);
        }
        return Err(error);
    }
    let tokens: Arc<dyn AccessTokens> = slot.tokens.clone();
    slot.connection(Connection::open_for_user(
        server,
        &options,
        inner.secrets.as_ref(),
        tokens,
    ))
    .await
}

/// Installs `catalog` as `server`'s and rebuilds the federation, unless its names collide.
fn publish(
    inner: &Inner,
    server: &McpServerConfig,
    catalog: Catalog,
    status: &RwLock<Status>,
) -> Result<(), String> {
    let mut published = lock(&inner.published);
    let mut candidate = published.clone();
    let counts = (
        catalog.tools.len(),
        catalog.resources.len(),
        catalog.prompts.len(),
    );
    candidate.insert(
        server.name.clone(),
        Published {
            prefix: server.prefix().to_owned(),
            catalog: Arc::new(catalog),
        },
    );
    let federation = Federation::build(&inner.settings.separator, &candidate)
        .map_err(|collisions| describe(&collisions))?;
    let before = published.get(&server.name).map(|p| p.catalog.clone());
    let after = candidate.get(&server.name).map(|p| p.catalog.clone());
    *published = candidate;
    inner.federation.store(Arc::new(federation));
    drop(published);
    announce(inner, before.as_deref(), after.as_deref());
    {
        let mut status = write(status);
        (status.tools, status.resources, status.prompts) = counts;
    }
    if let (Some(sink), Some(catalog)) = (read(&inner.sink).clone(), after) {
        sink.published(&server.name, &catalog);
    }
    Ok(())
}

/// 32 random hex digits.
fn random_hub_id() -> Arc<str> {
    let mut bytes = [0u8; 16];
    // Names the hub, guards nothing: a failure leaves zeros, which still work as an id.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into()
}

fn describe(collisions: &[Collision]) -> String {
    collisions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Takes `server`'s catalog out of the federation.
fn withdraw(inner: &Inner, server: &str) {
    let mut published = lock(&inner.published);
    let Some(removed) = published.remove(server) else {
        return;
    };
    // Removing names cannot create a collision.
    if let Ok(federation) = Federation::build(&inner.settings.separator, &published) {
        inner.federation.store(Arc::new(federation));
    }
    announce(inner, Some(&removed.catalog), None);
}

/// Counts the lists that differ between a server's catalog `before` and `after` a change
/// (`None`: not published), once the federation holding `after` is in place.
fn announce(inner: &Inner, before: Option<&Catalog>, after: Option<&Catalog>) {
    let none = Catalog::default();
    let (before, after) = (before.unwrap_or(&none), after.unwrap_or(&none));
    let tools = before.tools != after.tools;
    let prompts = before.prompts != after.prompts;
    let resources = before.resources != after.resources
        || before.resource_templates != after.resource_templates;
    if tools || prompts || resources {
        inner.changes.send_modify(|changes| {
            changes.tools += u64::from(tools);
            changes.prompts += u64::from(prompts);
            changes.resources += u64::from(resources);
        });
    }
}

fn set_state(status: &RwLock<Status>, state: State, error: Option<String>) {
    let mut status = write(status);
    if status.state != state {
        status.since = SystemTime::now();
    }
    status.state = state;
    if error.is_some() || state == State::Ready {
        status.error = error;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use rmcp::model::{Resource, ResourceTemplate};

    use super::*;

    fn server(resources: &[(&str, &str)], templates: &[(&str, &str)]) -> Published {
        Published {
            prefix: String::new(),
            catalog: Arc::new(Catalog {
                resources: resources
                    .iter()
                    .map(|(uri, name)| Resource::new(*uri, *name))
                    .collect(),
                resource_templates: templates
                    .iter()
                    .map(|(template, name)| ResourceTemplate::new(*template, *name))
                    .collect(),
                ..Catalog::default()
            }),
        }
    }

    fn federation() -> Federation {
        let published = BTreeMap::from([
            (
                "ev".to_owned(),
                server(
                    &[("demo://b", "b.md"), ("demo://a", "a.md")],
                    &[
                        ("demo://item/{id}", "Item"),
                        ("demo://{anything}/{id}", "Anything"),
                        ("demo://item/{id}/raw", "Raw"),
                    ],
                ),
            ),
            (
                "files".to_owned(),
                server(&[("file:///x", "x")], &[("file:///{+path}", "File")]),
            ),
        ]);
        Federation::build("__", &published).unwrap()
    }

    #[test]
    fn resources_and_templates_are_published_under_hub_uris_in_order() {
        let federation = federation();
        let uris: Vec<(&str, &str, &str)> = federation
            .resources()
            .iter()
            .map(|r| (r.uri.as_str(), r.server.as_str(), r.resource.uri.as_str()))
            .collect();
        assert_eq!(
            uris,
            [
                ("hub://ev/demo://a", "ev", "demo://a"),
                ("hub://ev/demo://b", "ev", "demo://b"),
                ("hub://files/file:///x", "files", "file:///x"),
            ]
        );
        let templates: Vec<&str> = federation
            .resource_templates()
            .iter()
            .map(|t| t.uri_template.as_str())
            .collect();
        assert_eq!(
            templates,
            [
                "hub://ev/demo://item/{id}",
                "hub://ev/demo://item/{id}/raw",
                "hub://ev/demo://{anything}/{id}",
                "hub://files/file:///{+path}",
            ]
        );
    }

    #[test]
    fn a_read_goes_to_the_resource_or_the_first_template_that_covers_it() {
        let federation = federation();
        // (published URI, server, upstream URI, the name permissions are on)
        let cases = [
            ("hub://ev/demo://a", "ev", "demo://a", "a.md"),
            // The server's order decides between templates, not the published order.
            ("hub://ev/demo://item/7", "ev", "demo://item/7", "Item"),
            (
                "hub://ev/demo://other/7",
                "ev",
                "demo://other/7",
                "Anything",
            ),
            (
                "hub://ev/demo://item/7/raw",
                "ev",
                "demo://item/7/raw",
                "Raw",
            ),
            ("hub://files/file:///x", "files", "file:///x", "x"),
            ("hub://files/file:///a/b", "files", "file:///a/b", "File"),
        ];
        for (uri, server, upstream, name) in cases {
            assert_eq!(
                federation.resource_origin(uri),
                Some(ResourceOrigin {
                    server: server.to_owned(),
                    upstream: upstream.to_owned(),
                    name: name.to_owned(),
                }),
                "{uri}"
            );
        }
        for uri in [
            "demo://a",
            "hub://ev/demo://c",
            "hub://ev/demo://item/",
            "hub://gone/demo://a",
            "hub://files/demo://a",
            "hub://ev/file:///x",
        ] {
            assert_eq!(federation.resource_origin(uri), None, "{uri}");
        }
    }
}
