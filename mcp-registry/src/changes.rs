//! Telling the face's clients that the federation's lists changed: a 2025-11-25 session on its
//! standalone (GET) stream, a 2026-07-28 client on the `subscriptions/listen` stream it opened
//! for the lists it chose. Every change is told to every such client, and the notices name
//! nothing: each client re-lists and sees only what it may. A virtual server's clients are also
//! told of the changes its own definition makes to its lists ([`Feed`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::SubscriptionFilter;
use rmcp::service::{Peer, RoleServer, SubscriptionContext, SubscriptionSendError};
use tokio::sync::watch;
use tokio::sync::watch::error::RecvError;

use crate::registry::ListChanges;

/// How long telling one session may take before it is given up (a stalled stream must not
/// hold notices back from the others, nor pile them up).
const TELL_WITHIN: Duration = Duration::from_secs(10);

/// Which lists changed between two counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lists {
    tools: bool,
    prompts: bool,
    resources: bool,
}

impl Lists {
    fn between(before: ListChanges, after: ListChanges) -> Self {
        Self {
            tools: before.tools != after.tools,
            prompts: before.prompts != after.prompts,
            resources: before.resources != after.resources,
        }
    }
}

/// The counts a face's clients follow: the federation's, plus, for a virtual server, those of
/// its definition's changes, plus the changes of the gate's extra tools (see [`crate::extra`]).
/// Ends when the federation or the selection does (a virtual server removed); extra tools that
/// stop changing end nothing.
#[derive(Clone)]
pub struct Feed {
    federation: watch::Receiver<ListChanges>,
    selection: Option<watch::Receiver<ListChanges>>,
    /// Counts changes of the extra tools' list.
    extra: Option<watch::Receiver<u64>>,
}

impl Feed {
    pub fn new(
        federation: watch::Receiver<ListChanges>,
        selection: Option<watch::Receiver<ListChanges>>,
    ) -> Self {
        Self {
            federation,
            selection,
            extra: None,
        }
    }

    /// The same feed, also following the changes of the extra tools' list, if they change.
    pub fn with_extra_tools(mut self, changes: Option<watch::Receiver<u64>>) -> Self {
        self.extra = changes;
        self
    }

    /// The counts now, every source marked seen.
    fn seen(&mut self) -> ListChanges {
        let mut counts = *self.federation.borrow_and_update();
        if let Some(selection) = &mut self.selection {
            let own = *selection.borrow_and_update();
            counts.tools = counts.tools.wrapping_add(own.tools);
            counts.prompts = counts.prompts.wrapping_add(own.prompts);
            counts.resources = counts.resources.wrapping_add(own.resources);
        }
        if let Some(extra) = &mut self.extra {
            counts.tools = counts.tools.wrapping_add(*extra.borrow_and_update());
        }
        counts
    }

    /// Waits for a change of any source.
    async fn changed(&mut self) -> Result<(), RecvError> {
        let Self {
            federation,
            selection,
            extra,
        } = self;
        tokio::select! {
            changed = federation.changed() => changed,
            changed = async {
                match selection {
                    Some(selection) => selection.changed().await,
                    None => std::future::pending().await,
                }
            } => changed,
            changed = async {
                if let Some(extra) = extra
                    && extra.changed().await.is_ok()
                {
                    return Ok(());
                }
                // None, or its sender is gone: the list no longer changes.
                std::future::pending().await
            } => changed,
        }
    }
}

/// What a client may subscribe to on `subscriptions/listen`: the list changes (rmcp keeps
/// those the client asked for). Resource updates are not offered.
pub fn offered() -> SubscriptionFilter {
    SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .resources_list_changed()
        .build()
}

/// The live 2025-11-25 sessions, told of each change by one task, started with the first.
pub struct Sessions {
    changes: Feed,
    peers: Mutex<Vec<Peer<RoleServer>>>,
    started: AtomicBool,
}

impl Sessions {
    pub fn new(changes: Feed) -> Self {
        Self {
            changes,
            peers: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
        }
    }

    /// Adds the session of `peer` (once it is initialized); sessions that ended are dropped.
    pub fn join(self: &Arc<Self>, peer: Peer<RoleServer>) {
        self.live().push(peer);
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().tell_each_change());
        }
    }

    /// The sessions' peers, those whose session ended taken out.
    fn live(&self) -> std::sync::MutexGuard<'_, Vec<Peer<RoleServer>>> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        peers.retain(|peer| !peer.is_transport_closed());
        peers
    }

    /// Until the registry (or the virtual server) is gone: after each change, tells every live session which lists
    /// changed, each on its own so that a slow one delays no other.
    async fn tell_each_change(self: Arc<Self>) {
        let mut changes = self.changes.clone();
        let mut seen = changes.seen();
        while changes.changed().await.is_ok() {
            let now = changes.seen();
            let lists = Lists::between(seen, now);
            seen = now;
            let peers = self.live().clone();
            for peer in peers {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(TELL_WITHIN, tell_session(&peer, lists)).await;
                });
            }
        }
    }
}

/// Sends a session the notices of `lists`; stops at the first that cannot be sent (the session
/// is gone).
async fn tell_session(peer: &Peer<RoleServer>, lists: Lists) -> Result<(), rmcp::ServiceError> {
    if lists.tools {
        peer.notify_tool_list_changed().await?;
    }
    if lists.prompts {
        peer.notify_prompt_list_changed().await?;
    }
    if lists.resources {
        peer.notify_resource_list_changed().await?;
    }
    Ok(())
}

/// Serves one `subscriptions/listen` stream until the client closes it: the notices of the
/// lists it subscribed to, after each change. Ends gracefully if the registry (or the virtual
/// server) is gone.
pub async fn listen(mut changes: Feed, subscription: SubscriptionContext) -> Result<(), ErrorData> {
    let accepted = subscription.accepted();
    let wanted = Lists {
        tools: accepted.tools_list_changed == Some(true),
        prompts: accepted.prompts_list_changed == Some(true),
        resources: accepted.resources_list_changed == Some(true),
    };
    let sink = subscription.sink();
    let mut seen = changes.seen();
    loop {
        tokio::select! {
            () = subscription.cancelled() => return Ok(()),
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let now = changes.seen();
                let lists = Lists::between(seen, now);
                seen = now;
                let sent = async {
                    if lists.tools && wanted.tools {
                        sink.notify_tool_list_changed().await?;
                    }
                    if lists.prompts && wanted.prompts {
                        sink.notify_prompt_list_changed().await?;
                    }
                    if lists.resources && wanted.resources {
                        sink.notify_resource_list_changed().await?;
                    }
                    Ok::<_, SubscriptionSendError>(())
                };
                if sent.await.is_err() {
                    // The stream is gone: nothing more can be told on it.
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_virtual_servers_feed_adds_its_own_changes_and_ends_with_it() {
        let federation = watch::Sender::new(ListChanges::default());
        let own = watch::Sender::new(ListChanges::default());
        let mut feed = Feed::new(federation.subscribe(), Some(own.subscribe()));
        let start = feed.seen();
        federation.send_modify(|c| c.tools += 1);
        feed.changed().await.unwrap();
        own.send_modify(|c| c.prompts += 1);
        feed.changed().await.unwrap();
        assert_eq!(
            Lists::between(start, feed.seen()),
            Lists {
                tools: true,
                prompts: true,
                resources: false
            }
        );
        // Both sources moved their counts: a tools change on each still shows as a change.
        let before = feed.seen();
        federation.send_modify(|c| c.tools += 1);
        own.send_modify(|c| c.tools += 1);
        feed.changed().await.unwrap();
        assert!(Lists::between(before, feed.seen()).tools);
        drop(own);
        assert!(feed.changed().await.is_err());
    }

    #[tokio::test]
    async fn extra_tools_changes_are_tool_list_changes_and_their_end_ends_nothing() {
        let federation = watch::Sender::new(ListChanges::default());
        let extra = watch::Sender::new(0u64);
        let mut feed =
            Feed::new(federation.subscribe(), None).with_extra_tools(Some(extra.subscribe()));
        let start = feed.seen();
        extra.send_modify(|n| *n += 1);
        feed.changed().await.unwrap();
        assert_eq!(
            Lists::between(start, feed.seen()),
            Lists {
                tools: true,
                prompts: false,
                resources: false
            }
        );
        drop(extra);
        let before = feed.seen();
        federation.send_modify(|c| c.prompts += 1);
        feed.changed().await.unwrap();
        assert!(Lists::between(before, feed.seen()).prompts);
        drop(federation);
        assert!(feed.changed().await.is_err());
    }

    #[test]
    fn only_the_lists_whose_counts_moved_changed() {
        let before = ListChanges {
            tools: 3,
            prompts: 1,
            resources: 0,
        };
        let after = ListChanges {
            tools: 5,
            prompts: 1,
            resources: 1,
        };
        assert_eq!(
            Lists::between(before, after),
            Lists {
                tools: true,
                prompts: false,
                resources: true
            }
        );
        assert_eq!(
            Lists::between(after, after),
            Lists {
                tools: false,
                prompts: false,
                resources: false
            }
        );
    }
}
