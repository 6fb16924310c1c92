//! Hot reload: the live configuration is an immutable snapshot swapped atomically; a bad edit
//! is rejected whole and the last good snapshot keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{ConfigErrors, HubConfig};

/// Turns a freshly loaded file into the configuration to serve (e.g. applying command-line
/// overrides and re-validating).
pub type Prepare = Arc<dyn Fn(HubConfig) -> Result<HubConfig, ConfigErrors> + Send + Sync>;

/// The state of the configuration file as last seen, for `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// When the serving snapshot was loaded.
    pub loaded_at: Option<SystemTime>,
    /// The errors of the last rejected edit, until a good edit replaces it.
    pub rejected: Option<ConfigErrors>,
}

/// Shared access to the serving configuration snapshot.
#[derive(Clone)]
pub struct ConfigHandle {
    current: Arc<ArcSwap<HubConfig>>,
    status: Arc<ArcSwap<ReloadStatus>>,
    changes: watch::Sender<Arc<HubConfig>>,
}

impl ConfigHandle {
    pub fn new(config: HubConfig) -> Self {
        let config = Arc::new(config);
        let (changes, _) = watch::channel(config.clone());
        Self {
            current: Arc::new(ArcSwap::new(config)),
            status: Arc::new(ArcSwap::from_pointee(ReloadStatus {
                loaded_at: Some(SystemTime::now()),
                rejected: None,
            })),
            changes,
        }
    }

    /// The serving snapshot. Cheap; hold it for the length of one request.
    pub fn snapshot(&self) -> Arc<HubConfig> {
        self.current.load_full()
    }

    pub fn status(&self) -> Arc<ReloadStatus> {
        self.status.load_full()
    }

    /// Notifies on every accepted change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<HubConfig>> {
        self.changes.subscribe()
    }

    /// Installs a new snapshot or records why it was rejected.
    pub fn apply(&self, candidate: Result<HubConfig, ConfigErrors>) {
        match candidate {
            Ok(config) => {
                let old = self.snapshot();
                if *old == config {
                    self.status.store(Arc::new(ReloadStatus {
                        rejected: None,
                        ..(*self.status()).clone()
                    }));
                    return;
                }
                let restart_only: Vec<&str> = [
                    ("server.listen", old.server.listen != config.server.listen),
                    ("server.tls", old.server.tls != config.server.tls),
                    ("store", old.store != config.store),
                    ("bus", old.bus != config.bus),
                    // The A2A plane (its client, registry and key settings) is built once.
                    ("a2a", old.a2a != config.a2a),
                ]
                .into_iter()
                .filter_map(|(name, changed)| changed.then_some(name))
                .collect();
                if !restart_only.is_empty() {
                    tracing::warn!(
                        settings = %restart_only.join(", "),
                        "changes of these settings take effect at the next restart"
                    );
                }
                let config = Arc::new(config);
                self.current.store(config.clone());
                self.status.store(Arc::new(ReloadStatus {
                    loaded_at: Some(SystemTime::now()),
                    rejected: None,
                }));
                self.changes.send_replace(config);
                tracing::info!("configuration reloaded");
            }
            Err(errors) => {
                tracing::error!(%errors, "configuration change rejected; the previous configuration keeps serving");
                self.status.store(Arc::new(ReloadStatus {
                    rejected: Some(errors),
                    ..(*self.status()).clone()
                }));
            }
        }
    }
}

/// Watches `path` and hands each change to `install` until `shutdown`: the configuration to
/// serve, or the errors that reject it. `install` is where a candidate is checked against
/// state outside the file and swapped in (the hub's checks it with the stored governance rules
/// under the governance lock, then calls [`ConfigHandle::apply`]); `prepare` applies what is
/// known without that state, e.g. command-line overrides.
///
/// Polls the file's contents instead of relying on inotify: polling also sees the symlink swaps
/// Kubernetes uses for mounted ConfigMaps, and costs one small read per interval.
pub fn watch_file<I, F>(
    path: PathBuf,
    interval: Duration,
    prepare: Prepare,
    install: I,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + use<I, F>
where
    I: Fn(Result<HubConfig, ConfigErrors>) -> F,
    F: Future<Output = ()>,
{
    // Read now, not at the first poll, so an edit made before the task runs is not missed.
    let last = std::fs::read(&path).ok();
    watch_loop(path, last, interval, prepare, install, shutdown)
}

async fn watch_loop<I, F>(
    path: PathBuf,
    mut last: Option<Vec<u8>>,
    interval: Duration,
    prepare: Prepare,
    install: I,
    shutdown: CancellationToken,
) where
    I: Fn(Result<HubConfig, ConfigErrors>) -> F,
    F: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let current = match tokio::fs::read(&path).await {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                if last.is_some() {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read configuration file; keeping the current configuration");
                }
                None
            }
        };
        if current.is_none() || current == last {
            last = current.or(last);
            continue;
        }
        last = current;
        let loaded = {
            let path = path.clone();
            let prepare = prepare.clone();
            tokio::task::spawn_blocking(move || HubConfig::load(&path).and_then(|c| prepare(c)))
                .await
        };
        match loaded {
            Ok(candidate) => install(candidate).await,
            Err(e) => tracing::error!(error = %e, "configuration reload task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_edit_keeps_last_good_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.yaml");
        std::fs::write(&path, "logging:\n  level: info\n").unwrap();
        let handle = ConfigHandle::new(HubConfig::load(&path).unwrap());
        let mut changes = handle.subscribe();
        let shutdown = CancellationToken::new();
        let installer = handle.clone();
        let task = tokio::spawn(watch_file(
            path.clone(),
            Duration::from_millis(20),
            Arc::new(Ok),
            move |candidate| {
                installer.apply(candidate);
                std::future::ready(())
            },
            shutdown.clone(),
        ));

        std::fs::write(&path, "logging:\n  level: debug\n").unwrap();
        tokio::time::timeout(Duration::from_secs(10), changes.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(handle.snapshot().logging.level, "debug");

        std::fs::write(&path, "logging:\n  levl: warn\n").unwrap();
        let rejected = async {
            loop {
                if let Some(errors) = &handle.status().rejected {
                    return errors.clone();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let errors = tokio::time::timeout(Duration::from_secs(10), rejected)
            .await
            .unwrap();
        assert_eq!(errors.errors[0].path, "logging.levl");
        assert_eq!(
            handle.snapshot().logging.level,
            "debug",
            "last good snapshot keeps serving"
        );

        std::fs::write(&path, "logging:\n  level: warn\n").unwrap();
        tokio::time::timeout(Duration::from_secs(10), changes.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(handle.snapshot().logging.level, "warn");
        assert!(handle.status().rejected.is_none());

        shutdown.cancel();
        task.await.unwrap();
    }
}
