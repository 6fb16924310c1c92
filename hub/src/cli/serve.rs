//! `agenthub serve` and the offline `agenthub secrets rotate-key`.
//!
//! Start-up order matters: everything that can be checked without the network (configuration,
//! flags, bootstrap key, TLS files) is checked first and fails with exit code 2; then the store
//! is opened (exit 1 with a one-line cause if unreachable); only then is the port bound.

use crate::telemetry::audit::AuditEntry;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::ServeArgs;
use super::admin::RotateKeyArgs;
use crate::app::{self, AppState};
use crate::bus::{ChangeBus, ChangeKind};
use crate::config::{ConfigErrors, ConfigHandle, HubConfig, TlsConfig};
use crate::directory::Accounts;
use crate::governance::Governance;
use crate::secrets::{KeyOrigin, Keyring, MasterKey};
use crate::store::{DatabaseUrl, Store, StoreOptions};

/// Minimum length of an operator-chosen `AGENTHUB_ADMIN_KEY`.
const MIN_ADMIN_KEY_LEN: usize = 24;
const CONFIG_POLL: Duration = Duration::from_secs(2);

/// A start-up failure and its exit code.
enum Failure {
    /// Invalid configuration or flags: exit 2.
    Invalid(String),
    /// A runtime failure (store unreachable, port taken): exit 1.
    Runtime(String),
}

impl Failure {
    fn report(self) -> ExitCode {
        match self {
            Failure::Invalid(message) => {
                eprintln!("{message}");
                ExitCode::from(2)
            }
            Failure::Runtime(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Command-line values that override the configuration file, re-applied on every reload.
#[derive(Debug, Clone)]
struct Overrides {
    listen: Option<std::net::SocketAddr>,
    database_url: Option<String>,
    nats_url: Option<String>,
    tls: Option<TlsConfig>,
    log_format: Option<crate::config::LogFormat>,
}

impl Overrides {
    fn from_args(args: &ServeArgs) -> Self {
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: args.tls_client_ca.clone(),
                client_auth: Default::default(),
            }),
            _ => None,
        };
        Self {
            listen: args.listen,
            database_url: args.database_url.clone(),
            nats_url: args.nats_url.clone(),
            tls,
            log_format: args.log_format,
        }
    }

    fn apply(&self, mut config: HubConfig) -> Result<HubConfig, ConfigErrors> {
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(url) = &self.database_url {
            config.store.url = Some(url.clone());
        }
        if let Some(url) = &self.nats_url {
            config.bus.nats_url = Some(url.clone());
        }
        if let Some(tls) = &self.tls {
            config.server.tls = Some(tls.clone());
        }
        if let Some(format) = self.log_format {
            config.logging.format = format;
        }
        config.validate().map_err(|errors| ConfigErrors {
            source_name: "command line".into(),
            errors,
        })?;
        Ok(config)
    }
}

fn load_config(path: Option<&Path>, overrides: &Overrides) -> Result<HubConfig, ConfigErrors> {
    let config = match path {
        Some(path) => HubConfig::load(path)?,
        None => HubConfig::default(),
    };
    overrides.apply(config)
}

/// One core (a container limited to one CPU, or a process pinned to one): a single-threaded
/// runtime, which does the same work without the multi-threaded scheduler's cross-thread
/// wake-ups and parking. More cores: a worker per core.
fn runtime_for(cores: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if cores <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .enable_all()
            .build()
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    match prepare(&args) {
        Ok((config, admin_key)) => {
            let runtime =
                match runtime_for(std::thread::available_parallelism().map_or(1, usize::from)) {
                    Ok(rt) => rt,
                    Err(e) => {
                        return Failure::Runtime(format!("cannot start the async runtime: {e}"))
                            .report();
                    }
                };
            match runtime.block_on(serve(args, config, admin_key)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => failure.report(),
            }
        }
        Err(failure) => failure.report(),
    }
}

/// Everything checked before the runtime starts.
fn prepare(args: &ServeArgs) -> Result<(HubConfig, Option<String>), Failure> {
    let overrides = Overrides::from_args(args);
    let config = load_config(args.config.as_deref(), &overrides)
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    let admin_key = std::env::var("AGENTHUB_ADMIN_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    if let Some(key) = &admin_key
        && (key.len() < MIN_ADMIN_KEY_LEN
            || key.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(Failure::Invalid(format!(
            "AGENTHUB_ADMIN_KEY: must be at least {MIN_ADMIN_KEY_LEN} characters without spaces (e.g. `ahk_$(openssl rand -hex 20)`)"
        )));
    }
    Ok((config, admin_key))
}

fn database_url(config: &HubConfig, data_dir: &Path) -> Result<DatabaseUrl, Failure> {
    match &config.store.url {
        Some(url) => {
            DatabaseUrl::parse(url).map_err(|e| Failure::Invalid(format!("store.url: {e}")))
        }
        None => {
            // Made private (0700): the databases in it hold key hashes, sealed secrets and,
            // when bodies are logged, prompts and answers. One that exists is left as it is.
            std::os::unix::fs::DirBuilderExt::mode(
                std::fs::DirBuilder::new().recursive(true),
                0o700,
            )
            .create(data_dir)
            .map_err(|e| {
                Failure::Runtime(format!(
                    "cannot create the data directory {}: {e}",
                    data_dir.display()
                ))
            })?;
            Ok(DatabaseUrl::sqlite_in(data_dir))
        }
    }
}

fn load_keyring(data_dir: &Path, create: bool) -> Result<Keyring, Failure> {
    let keyring = Keyring::load(&|name| std::env::var(name).ok(), data_dir, create)
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    if let KeyOrigin::GeneratedFile(path) = &keyring.origin {
        tracing::warn!(
            path = %path.display(),
            "generated a master key for secrets; back it up, or set AGENTHUB_SECRET_KEY: secrets cannot be decrypted without it"
        );
    }
    Ok(keyring)
}

async fn open_store(config: &HubConfig, data_dir: &Path) -> Result<Store, Failure> {
    let url = database_url(config, data_dir)?;
    let options = StoreOptions {
        max_connections: config.store.max_connections,
        connect_timeout: config.store.connect_timeout,
        sqlite_sync_full: config.store.sqlite_synchronous == crate::config::SqliteSync::Full,
    };
    let store = Store::open(&url, &options)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    tracing::info!(store = %url.redacted(), "store ready");
    Ok(store)
}

async fn serve(
    args: ServeArgs,
    config: HubConfig,
    admin_key: Option<String>,
) -> Result<(), Failure> {
    let (log_level, _log_writer) =
        crate::logging::init(&config.logging.level, config.logging.format);
    let tls = config
        .server
        .tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()
        .map_err(|e| Failure::Invalid(format!("{e:#}")))?;

    let store = open_store(&config, &args.data_dir).await?;
    let keyring = Arc::new(load_keyring(&args.data_dir, true)?);
    let mut config = config;
    let spill = crate::telemetry::spill_dir(&config.telemetry, &args.data_dir);
    std::fs::create_dir_all(&spill).map_err(|e| {
        Failure::Runtime(format!(
            "cannot create the telemetry spill directory {}: {e}",
            spill.display()
        ))
    })?;
    config.telemetry.spill_dir = Some(spill);
    let accounts = Arc::new(
        Accounts::load(store.clone(), keyring)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?,
    );
    accounts
        .verify_secrets()
        .map_err(|e| Failure::Runtime(format!("cannot read the stored secrets: {e}")))?;
    if let Some(secret) = accounts
        .bootstrap(admin_key)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot bootstrap the admin key: {e}")))?
    {
        println!(
            "\nAdmin API key (shown only once; store it now):\n\n    {secret}\n\nUse it with: export AGENTHUB_KEY={secret}\n"
        );
    }

    let bus = Arc::new(match &config.bus.nats_url {
        Some(url) => ChangeBus::nats(
            url,
            &config.bus.subject_prefix,
            config.store.connect_timeout,
        )
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?,
        None => ChangeBus::single(),
    });
    let remote_changes = bus
        .remote_changes()
        .await
        .map_err(|e| Failure::Runtime(format!("cannot subscribe to change notifications: {e}")))?;
    let handle = ConfigHandle::new(config.clone());
    let governance = Arc::new(
        Governance::load(store.clone(), handle.clone(), bus.origin())
            .await
            .map_err(|e| Failure::Runtime(format!("cannot load the governance rules: {e}")))?,
    );

    // Signal handlers first: once the port is bound, SIGTERM must mean a graceful stop.
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(crate::server::cancel_on_signal(shutdown.clone()));

    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", config.server.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %local, "agenthub listening on {scheme}://{local}");

    tasks.spawn(
        accounts
            .clone()
            .run_background(config.store.refresh_interval, shutdown.clone()),
    );
    if let Some(path) = args.config.clone() {
        let overrides = Overrides::from_args(&args);
        let source_name = path.display().to_string();
        let rules = governance.clone();
        // A change is checked with the stored rules and swapped in under the governance lock:
        // one that conflicts with them is rejected whole (and shown on /readyz).
        tasks.spawn(crate::config::watch_file(
            path,
            CONFIG_POLL,
            Arc::new(move |loaded| overrides.apply(loaded)),
            move |candidate| {
                let (rules, source_name) = (rules.clone(), source_name.clone());
                async move { rules.apply_config(candidate, &source_name).await }
            },
            shutdown.clone(),
        ));
    }
    // Budget usage is settled by requests until the server has drained: the writer has its
    // own token, cancelled only after that, so that their usage is stored too.
    let governance_stop = CancellationToken::new();
    let governance_task = tokio::spawn(
        governance
            .clone()
            .run_background(config.store.refresh_interval, governance_stop.clone()),
    );
    tasks.spawn(sync_replicas(
        accounts.clone(),
        governance.clone(),
        bus.clone(),
        remote_changes,
        shutdown.clone(),
    ));
    let mut changes = handle.subscribe();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
            let level = changes.borrow_and_update().logging.level.clone();
            log_level.set(&level);
        }
    });

    let state = AppState::new(accounts.clone(), governance.clone(), handle.clone());
    let source = args
        .config
        .as_ref()
        .map_or_else(|| "defaults".to_owned(), |path| path.display().to_string());
    state
        .telemetry
        .audit(AuditEntry::new("hub", "start", source.clone(), "ok"));
    tasks.spawn(audit_config_changes(
        state.telemetry.clone(),
        handle.subscribe(),
        source,
        shutdown.clone(),
    ));
    // JWKS caches and provider discovery: fetched now (a failure is logged, not fatal), kept
    // fresh, and rebuilt when the configuration changes.
    tasks.spawn(
        state
            .auth
            .clone()
            .run_background(handle.clone(), shutdown.clone()),
    );
    let mcp = state.mcp.clone();
    let a2a = state.a2a.clone();
    let telemetry = state.telemetry.clone();
    let drain = config.server.shutdown_timeout;
    let served = stop_after_drain(
        crate::server::serve(listener, tls, app::router(state), shutdown.clone(), drain),
        &shutdown,
        &governance_stop,
        governance_task,
        BACKGROUND_STOP,
    )
    .await;
    // Upstream MCP connections close and their processes stop.
    mcp.shutdown();
    a2a.shutdown();
    // The drained requests' records are stored, or spilled for the next start.
    telemetry.shutdown(BACKGROUND_STOP).await;
    // The other background tasks flush what they hold (key last-use times) and stop.
    let _ = tokio::time::timeout(BACKGROUND_STOP, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    bus.flush().await;
    store.close().await;
    tracing::info!("agenthub stopped");
    served.map_err(|e| Failure::Runtime(format!("server error: {e}")))
}

/// Records each configuration change applied from the file in the audit trail.
async fn audit_config_changes(
    telemetry: Arc<crate::telemetry::Telemetry>,
    mut changes: tokio::sync::watch::Receiver<Arc<HubConfig>>,
    source: String,
    shutdown: CancellationToken,
) {
    changes.mark_unchanged();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        telemetry.audit(AuditEntry::new(
            "config-file",
            "config reload",
            source.clone(),
            "ok",
        ));
    }
}

/// How long stopping background tasks may take (each group).
const BACKGROUND_STOP: Duration = Duration::from_secs(10);

/// Serves until the server has stopped and drained its requests; only then stops the
/// governance writer, whose last writes (budget usage settled by the drained requests) it
/// awaits for at most `bound`.
async fn stop_after_drain<T>(
    served: impl Future<Output = T>,
    shutdown: &CancellationToken,
    governance_stop: &CancellationToken,
    governance_task: tokio::task::JoinHandle<()>,
    bound: Duration,
) -> T {
    let served = served.await;
    shutdown.cancel();
    governance_stop.cancel();
    match tokio::time::timeout(bound, governance_task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the governance writer failed"),
        Err(_) => tracing::warn!(
            timeout = ?bound,
            "the governance writer did not finish storing budget usage in time"
        ),
    }
    served
}

/// Announces this replica's directory changes and applies the other replicas' at once.
async fn sync_replicas(
    accounts: Arc<Accounts>,
    governance: Arc<Governance>,
    bus: Arc<ChangeBus>,
    remote: impl futures::Stream<Item = ChangeKind> + Send + 'static,
    shutdown: CancellationToken,
) {
    let mut remote = std::pin::pin!(remote);
    let mut directory = accounts.changes();
    let mut rules = governance.changes();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = directory.changed() => {
                if changed.is_err() {
                    return;
                }
                directory.mark_unchanged();
                bus.announce(ChangeKind::Directory);
            }
            changed = rules.changed() => {
                if changed.is_err() {
                    return;
                }
                rules.mark_unchanged();
                bus.announce(ChangeKind::Rules);
            }
            Some(kind) = futures::StreamExt::next(&mut remote) => {
                let applied = match kind {
                    ChangeKind::Directory => accounts.refresh().await,
                    ChangeKind::Rules => governance.refresh().await,
                };
                if let Err(e) = applied {
                    tracing::warn!(error = %e, "could not apply another replica's change; will retry at the next refresh");
                }
            }
        }
    }
}

/// `agenthub secrets rotate-key`: re-seals every secret under the current master key.
///
/// With `AGENTHUB_SECRET_KEY` set: run it after deploying the new key with the old one in
/// `AGENTHUB_SECRET_KEY_PREVIOUS`. With the embedded key file: a new key is generated and
/// replaces the file once every secret is re-sealed.
pub fn rotate_secret_key(args: RotateKeyArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Failure::Runtime(format!("cannot start the async runtime: {e}")).report(),
    };
    match runtime.block_on(rotate(args)) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(),
    }
}

async fn rotate(args: RotateKeyArgs) -> Result<String, Failure> {
    let mut config = HubConfig::default();
    config.store.url = args.database_url.clone();
    let store = open_store(&config, &args.data_dir).await?;
    let loaded = load_keyring(&args.data_dir, false)?;
    let (keyring, new_file) = match &loaded.origin {
        KeyOrigin::Env => (loaded, None),
        KeyOrigin::File(path) | KeyOrigin::GeneratedFile(path) => {
            let new = MasterKey::generate();
            let pending = path.with_extension("key.new");
            crate::secrets::write_key_file(&pending, &new).map_err(|e| {
                Failure::Runtime(format!("cannot write {}: {e}", pending.display()))
            })?;
            let old = MasterKey::parse(&loaded.current().to_base64())
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            (
                Keyring::new(new, Some(old), loaded.origin.clone()),
                Some((pending, path.clone())),
            )
        }
    };
    let count = store
        .reseal_secrets(|sealed| {
            keyring
                .reseal(sealed)
                .map_err(crate::error::Error::internal)
        })
        .await
        .map_err(|e| Failure::Runtime(format!("rotation aborted, nothing was changed: {e}")))?;
    // Users' MCP grants can be granted again, unlike secrets: a failure here is reported, not
    // undone (their users are then asked to consent again).
    let grants = store
        .reseal_mcp_grants(|server, principal, sealed| {
            crate::mcp::grants::reseal(&keyring, server, principal, sealed)
                .map_err(crate::error::Error::internal)
        })
        .await;
    let signing_keys = store
        .reseal_signing_keys(|kid, sealed| {
            crate::a2a::keys::reseal(&keyring, kid, sealed).map_err(crate::error::Error::internal)
        })
        .await;
    let push_credentials = store
        .reseal_push_credentials(|id, sealed| {
            crate::a2a::push::reseal(&keyring, id, sealed).map_err(crate::error::Error::internal)
        })
        .await;
    store.close().await;
    if let Err(e) = push_credentials {
        tracing::warn!(error = %e, "the A2A push credentials could not be re-encrypted; their subscriptions stop delivering once the previous key is gone");
    }
    if let Err(e) = signing_keys {
        tracing::warn!(error = %e, "the A2A signing keys could not be re-encrypted; the hub makes a new one when it cannot open them");
    }
    let grants = match grants {
        Ok(count) => format!(", and {count} users' MCP grants"),
        Err(e) => format!(
            "; the users' MCP grants could not be re-encrypted ({e}): once the previous key is gone, their users are asked to grant access again"
        ),
    };
    let key_id = keyring.current().id().to_owned();
    match new_file {
        Some((pending, path)) => {
            std::fs::rename(&pending, &path).map_err(|e| {
                Failure::Runtime(format!(
                    "secrets are now sealed under the key in {}, but it could not replace {}: {e}; move it there by hand",
                    pending.display(),
                    path.display()
                ))
            })?;
            Ok(format!(
                "re-encrypted {count} secrets under the new key {key_id} in {}; restart running hubs{grants}",
                path.display()
            ))
        }
        None => Ok(format!(
            "re-encrypted {count} secrets under key {key_id}; AGENTHUB_SECRET_KEY_PREVIOUS can now be removed{grants}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use agenthub_policy::limits::{Timestamp, Usage, Usd};
    use agenthub_policy::when::{Plane, RequestFacts};
    use agenthub_policy::{Identity, SubjectKind};

    use super::*;
    use crate::store::testing;

    #[test]
    fn one_core_gets_a_single_threaded_runtime() {
        use tokio::runtime::RuntimeFlavor;
        let flavor = |cores| runtime_for(cores).unwrap().handle().runtime_flavor();
        assert_eq!(flavor(1), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(2), RuntimeFlavor::MultiThread);
    }

    fn spend(governance: &Governance, cents: u64) {
        let identity = Identity::named(SubjectKind::User, "alice");
        let metadata = BTreeMap::new();
        let facts = RequestFacts {
            identity: &identity,
            plane: Plane::Llm,
            model: Some("m"),
            tool: None,
            agent: None,
            metadata: &metadata,
        };
        let usage = Usage {
            tokens: 1,
            cost: Usd::from_cents(cents),
        };
        let admission = governance.admit(&facts, usage).unwrap();
        governance.settle(admission, usage);
    }

    /// A request that settles its usage while the server drains (after SIGTERM) has it
    /// stored: the governance writer stops only once the server has returned.
    #[tokio::test]
    async fn usage_settled_while_draining_is_stored() {
        let t = testing::sqlite().await;
        let config = HubConfig::parse(
            "budgets:\n  - {id: daily, applies_per: user, cost_per_day: 10.00}\n",
            "hub.yaml",
            &|_| None,
        )
        .unwrap();
        let governance = Arc::new(
            Governance::load(t.store.clone(), ConfigHandle::new(config), "r")
                .await
                .unwrap(),
        );
        let shutdown = CancellationToken::new();
        let governance_stop = CancellationToken::new();
        let writer = tokio::spawn(
            governance
                .clone()
                .run_background(Duration::from_secs(60), governance_stop.clone()),
        );
        // The server: its last request finishes, and settles, during the drain.
        let server = {
            let (governance, shutdown) = (governance.clone(), shutdown.clone());
            async move {
                shutdown.cancelled().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                spend(&governance, 42);
                "drained"
            }
        };
        shutdown.cancel();
        let served = stop_after_drain(
            server,
            &shutdown,
            &governance_stop,
            writer,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(served, "drained");
        let rows = t
            .store
            .load_budget_usage(Timestamp::from_unix_millis(crate::model::now_millis()))
            .await
            .unwrap();
        assert_eq!(
            rows.iter().map(|r| r.spent).sum::<u64>(),
            Usd::from_cents(42).micros(),
            "the drained request's usage is stored"
        );
    }
}
