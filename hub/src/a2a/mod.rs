//! The A2A plane's HTTP face: `/a2a/<agent>` relays A2A requests (JSON-RPC, REST, streams) to
//! the agents registered in `agents` (the configuration file's and those stored through the
//! admin API, merged and checked by governance like the other rules), over the
//! `agenthub-a2a-bus` crate. This module does what is the hub's: the caller's identity,
//! `agent:<name>` authorization, governance, the hub's signing keys, and the records kept in
//! the store.

mod exchange;
pub mod keys;
pub mod push;
mod routes;
mod tasks;
pub mod tools;
pub mod traces;
mod usage;

use std::sync::Arc;

use agenthub_a2a_bus::config::{A2aSettings, AgentConfig};
use agenthub_a2a_bus::registry::AgentRegistry;
use agenthub_a2a_bus::signing::{NonceCache, SigningAlgorithm};
use agenthub_a2a_bus::upstream::{Upstream, UpstreamLimits};
use agenthub_policy::Identity;
use agenthub_policy::authz::{Action, Request as AuthzRequest, Resource, Subjects};
use tokio::task::JoinHandle;

use keys::HubKeys;
pub use routes::router;
use tasks::TaskIndex;
use traces::Recorder;

use crate::auth::Caller;
use crate::config::HubConfig;
use crate::directory::{Accounts, StoreSecrets};
use crate::governance::Governance;

/// How many agents' nonces are remembered (at 5,000 signed messages a second for a 300 s
/// skew, 3 million; beyond that the oldest go first).
const NONCES: usize = 1 << 20;

/// Whether `subjects` (of `identity`: the caller's, or the principal's it acts for) may take
/// `action` on `agent:<agent>`. Every A2A authorization decision is this one.
pub(crate) fn may(
    caller: &Caller,
    subjects: &Subjects,
    identity: &Identity,
    agent: &str,
    action: Action,
) -> bool {
    caller.authorizer.allows(
        subjects,
        &AuthzRequest {
            resource: Resource::agent(agent),
            action,
            team: identity.key_team.as_deref(),
        },
    )
}

/// Refuses an agent's URL whose host resolves to a non-public address (unless
/// `a2a.allow_private_networks`, which the caller checks), naming the setting.
pub(crate) async fn public_destination(url: &str) -> Result<(), String> {
    public_destination_for(url, "register agents").await
}

/// The MCP plane's check of a destination, its hint naming this plane's setting and what it
/// would allow (`register agents`, `allow webhooks`).
async fn public_destination_for(url: &str, what: &str) -> Result<(), String> {
    agenthub_mcp_registry::config::check_destination(url)
        .await
        .map_err(|e| {
            e.replace(
                "set mcp.allow_private_networks: true to register servers on private networks",
                &format!("set a2a.allow_private_networks: true to {what} on private networks"),
            )
        })
}

/// The registered agents, their cards kept up to date, and the client that reaches them.
pub struct A2aPlane {
    registry: AgentRegistry,
    upstream: Upstream,
    settings: A2aSettings,
    /// `hub:<id>`: the issuer of the hub's signatures.
    hub_subject: String,
    keys: HubKeys,
    tasks: TaskIndex,
    recorder: Recorder,
    /// Nonces of agents' signed messages, remembered for the allowed skew.
    nonces: NonceCache,
    /// Applies registration changes (configuration file or admin API) as they are installed.
    follower: JoinHandle<()>,
    /// Push notifications relayed to clients' webhooks (push.rs).
    push: push::Push,
}

impl A2aPlane {
    /// Starts reading the registered agents' cards and follows the registrations.
    pub fn new(
        accounts: Arc<Accounts>,
        config: &HubConfig,
        governance: &Governance,
        metrics: &mut crate::ops::Metrics,
        telemetry: Arc<crate::telemetry::Telemetry>,
    ) -> Self {
        let metrics = usage::A2aMetrics::new(metrics);
        let settings = config.a2a.clone();
        let hub_subject = format!("hub:{}", accounts.hub_id());
        let algorithm = SigningAlgorithm::from_jws_name(&settings.signing_algorithm)
            .unwrap_or(SigningAlgorithm::EdDsa);
        let keys = HubKeys::new(accounts.clone(), algorithm, settings.retired_key_retention);
        let tasks = TaskIndex::start(accounts.store().clone());
        let recorder = Recorder::start(accounts.store().clone(), metrics, telemetry);
        let nonces = NonceCache::new(NONCES, settings.signature_max_skew);
        let push = push::Push::start(accounts.clone(), &settings);
        let registry = AgentRegistry::new(Arc::new(StoreSecrets(accounts)))
            .unwrap_or_else(|e| panic!("the TLS client cannot be built: {e}"));
        if !settings.allow_private_networks {
            registry.check_destinations_with(Arc::new(|url| {
                Box::pin(async move { public_destination(&url).await })
            }));
            registry
                .connect_publicly()
                .unwrap_or_else(|e| panic!("the TLS client cannot be built: {e}"));
        }
        let upstream = Upstream::new(
            UpstreamLimits {
                connect_timeout: settings.connect_timeout,
                timeout: settings.timeout,
                stream_idle_timeout: settings.stream_idle_timeout,
                max_bytes: settings.max_message_bytes,
            },
            !settings.allow_private_networks,
        )
        .unwrap_or_else(|e| panic!("the TLS client cannot be built: {e}"));
        let mut registrations = governance.agents();
        registry.set(&registrations.borrow_and_update());
        let follower = tokio::spawn({
            let registry = registry.clone();
            async move {
                while registrations.changed().await.is_ok() {
                    let agents: Arc<Vec<AgentConfig>> = registrations.borrow_and_update().clone();
                    registry.set(&agents);
                }
            }
        });
        Self {
            registry,
            upstream,
            settings,
            hub_subject,
            keys,
            tasks,
            recorder,
            nonces,
            follower,
            push,
        }
    }

    pub fn registry(&self) -> &AgentRegistry {
        &self.registry
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub fn settings(&self) -> &A2aSettings {
        &self.settings
    }

    /// `hub:<id>`, the issuer of the hub's signatures.
    pub fn hub_subject(&self) -> String {
        self.hub_subject.clone()
    }

    pub fn keys(&self) -> &HubKeys {
        &self.keys
    }

    fn tasks(&self) -> &TaskIndex {
        &self.tasks
    }

    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn nonces(&self) -> &NonceCache {
        &self.nonces
    }

    fn push(&self) -> &push::Push {
        &self.push
    }

    /// Applies the registrations in force now, without waiting for the follower: after an
    /// admin API write, so that its answer and the next read agree.
    pub fn catch_up(&self, governance: &Governance) {
        let agents = governance.agents().borrow().clone();
        self.registry.set(&agents);
    }

    /// Stops following registrations and reading cards.
    pub fn shutdown(&self) {
        self.follower.abort();
        self.registry.shutdown();
        self.push.shutdown();
    }
}
