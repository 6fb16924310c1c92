//! Change notifications between replicas that share one store.
//!
//! A replica that changes shared state announces it; the others reload that state from the store
//! at once instead of at their next periodic refresh. Notifications carry no data, only what
//! changed: the store stays the one source of truth, and a lost notification costs at most one
//! refresh interval. Without NATS (the embedded default) there are no other replicas to tell.

use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Principals, teams, memberships, keys or secrets.
    Directory,
    /// Governance rules stored through the admin API.
    Rules,
}

impl ChangeKind {
    fn subject_suffix(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::Rules => "rules",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    origin: String,
    kind: ChangeKind,
}

/// The replica's connection to its peers.
pub struct ChangeBus {
    /// This replica's id, so that it ignores its own announcements.
    origin: String,
    nats: Option<Nats>,
}

struct Nats {
    client: async_nats::Client,
    prefix: String,
}

impl ChangeBus {
    /// A single replica: nothing to announce to.
    pub fn single() -> Self {
        Self {
            origin: uuid::Uuid::new_v4().to_string(),
            nats: None,
        }
    }

    /// Connects to NATS; fails with a one-line cause when the server cannot be reached.
    pub async fn nats(url: &str, subject_prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("agenthub")
            .connection_timeout(timeout)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Disconnected => {
                        tracing::warn!("lost the NATS connection; reconnecting")
                    }
                    async_nats::Event::Connected => tracing::info!("connected to NATS"),
                    other => tracing::debug!(event = %other, "NATS event"),
                }
            })
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to NATS at {url}: {e}"))?;
        Ok(Self {
            origin: uuid::Uuid::new_v4().to_string(),
            nats: Some(Nats {
                client,
                prefix: subject_prefix.to_owned(),
            }),
        })
    }

    /// This replica's id: also the replica name in the budget usage it writes.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn subject(prefix: &str, kind: ChangeKind) -> String {
        format!("{prefix}.changes.{}", kind.subject_suffix())
    }

    /// Tells the other replicas that `kind` changed. Never blocks the caller and never fails:
    /// a notification that cannot be sent is logged, and peers catch up at their next refresh.
    pub fn announce(&self, kind: ChangeKind) {
        let Some(nats) = &self.nats else { return };
        let payload = serde_json::to_vec(&Notice {
            origin: self.origin.clone(),
            kind,
        })
        .unwrap_or_default();
        let client = nats.client.clone();
        let subject = Self::subject(&nats.prefix, kind);
        tokio::spawn(async move {
            match tokio::time::timeout(PUBLISH_TIMEOUT, client.publish(subject, payload.into()))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "could not announce a change to other replicas")
                }
                Err(_) => tracing::warn!("timed out announcing a change to other replicas"),
            }
        });
    }

    /// The changes announced by other replicas.
    pub async fn remote_changes(
        &self,
    ) -> anyhow::Result<impl Stream<Item = ChangeKind> + Send + 'static> {
        let subscriber = match &self.nats {
            Some(nats) => Some(
                nats.client
                    .subscribe(format!("{}.changes.>", nats.prefix))
                    .await?,
            ),
            None => None,
        };
        let origin = self.origin.clone();
        let stream = futures::stream::iter(subscriber)
            .flatten()
            .filter_map(move |message| {
                let notice = serde_json::from_slice::<Notice>(&message.payload).ok();
                let remote = notice.filter(|n| n.origin != origin).map(|n| n.kind);
                std::future::ready(remote)
            });
        Ok(stream)
    }

    /// Sends what is buffered; used at shutdown.
    pub async fn flush(&self) {
        if let Some(nats) = &self.nats {
            let _ = tokio::time::timeout(PUBLISH_TIMEOUT, nats.client.flush()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two replicas on the local NATS server (`AGENTHUB_TEST_NATS_URL`): each hears the other's
    /// announcements and not its own.
    #[tokio::test]
    async fn replicas_hear_each_other_not_themselves() {
        let Ok(url) = std::env::var("AGENTHUB_TEST_NATS_URL") else {
            eprintln!("notice: AGENTHUB_TEST_NATS_URL is not set; skipping the NATS bus test");
            return;
        };
        let prefix = format!("agenthub-test-{}", uuid::Uuid::new_v4().simple());
        let a = ChangeBus::nats(&url, &prefix, Duration::from_secs(5))
            .await
            .unwrap();
        let b = ChangeBus::nats(&url, &prefix, Duration::from_secs(5))
            .await
            .unwrap();
        let mut heard_by_a = Box::pin(a.remote_changes().await.unwrap());
        let mut heard_by_b = Box::pin(b.remote_changes().await.unwrap());

        // The server learns of a subscription asynchronously; announce until it is heard.
        async fn until_heard(
            from: &ChangeBus,
            to: &mut (impl Stream<Item = ChangeKind> + Unpin),
        ) -> Option<ChangeKind> {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            while tokio::time::Instant::now() < deadline {
                from.announce(ChangeKind::Directory);
                if let Ok(heard) = tokio::time::timeout(Duration::from_millis(250), to.next()).await
                {
                    return heard;
                }
            }
            None
        }
        assert_eq!(
            until_heard(&a, &mut heard_by_b).await,
            Some(ChangeKind::Directory)
        );
        // Only A has announced so far: anything A heard would be its own voice.
        let own = tokio::time::timeout(Duration::from_millis(300), heard_by_a.next()).await;
        assert!(own.is_err(), "a replica must not hear itself");
        assert_eq!(
            until_heard(&b, &mut heard_by_a).await,
            Some(ChangeKind::Directory)
        );
    }

    #[tokio::test]
    async fn unreachable_nats_fails_fast_with_the_cause() {
        let err = ChangeBus::nats("nats://127.0.0.1:1", "agenthub", Duration::from_secs(2))
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("cannot connect to NATS at nats://127.0.0.1:1"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_single_replica_announces_to_nobody() {
        let bus = ChangeBus::single();
        bus.announce(ChangeKind::Directory);
        let mut changes = Box::pin(bus.remote_changes().await.unwrap());
        assert_eq!(changes.next().await, None);
    }
}
