//! Progress notifications from an upstream server, routed to the calls waiting for them.
//!
//! Every request the hub sends upstream carries a progress token of its connection's own
//! (rmcp numbers them per connection), so tokens of two callers never meet on a shared
//! connection. A call that wants its progress [`follow`](Routes::follow)s its token; the
//! connection's transport is wrapped in [`Routed`], which hands each progress notification for
//! a followed token to that call as it comes off the wire. rmcp's own notification handler
//! is not used for this: it runs each notification in a task of its own, so progress could
//! arrive out of order, or after the answer it preceded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{JsonRpcMessage, JsonRpcNotification, ProgressToken, ServerNotification};
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::sync::mpsc;

pub use rmcp::model::ProgressNotificationParam as Progress;

/// How many progress notifications of one call may wait to be relayed. Progress is advisory:
/// when a caller cannot keep up, the surplus is dropped rather than buffered.
const BACKLOG: usize = 32;

/// The tokens being followed on one connection, and where their progress goes.
#[derive(Default)]
pub struct Routes {
    followed: Mutex<HashMap<ProgressToken, mpsc::Sender<Progress>>>,
}

impl Routes {
    /// Routes the progress of `token` to the returned feed until it is dropped.
    pub fn follow(self: &Arc<Self>, token: ProgressToken) -> Feed {
        let (sender, receiver) = mpsc::channel(BACKLOG);
        self.lock().insert(token.clone(), sender);
        Feed {
            routes: self.clone(),
            token,
            receiver,
        }
    }

    /// Hands `progress` to the call following its token; false if none is.
    fn deliver(&self, progress: &Progress) -> bool {
        let followed = self.lock();
        let Some(sender) = followed.get(&progress.progress_token) else {
            return false;
        };
        // A full backlog drops this update (see BACKLOG); a closed one is being unfollowed.
        let _ = sender.try_send(progress.clone());
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProgressToken, mpsc::Sender<Progress>>> {
        self.followed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The progress of one upstream request, in the order the server sent it.
pub struct Feed {
    routes: Arc<Routes>,
    token: ProgressToken,
    receiver: mpsc::Receiver<Progress>,
}

impl Feed {
    /// The next progress notification. Pending for ever once nothing more can come (the
    /// request's answer, awaited alongside, ends the wait).
    pub async fn next(&mut self) -> Progress {
        match self.receiver.recv().await {
            Some(progress) => progress,
            None => std::future::pending().await,
        }
    }

    /// A progress notification already received, if any.
    pub fn try_next(&mut self) -> Option<Progress> {
        self.receiver.try_recv().ok()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.routes.lock().remove(&self.token);
    }
}

/// A client transport that takes the progress notifications of followed tokens off the
/// connection as they are read, in order; everything else goes on to rmcp.
pub struct Routed<T> {
    inner: T,
    routes: Arc<Routes>,
}

impl<T> Routed<T> {
    pub fn new(inner: T, routes: Arc<Routes>) -> Self {
        Self { inner, routes }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Routed<T> {
    type Error = T::Error;

    fn name() -> std::borrow::Cow<'static, str> {
        T::name()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            let message = self.inner.receive().await?;
            if let JsonRpcMessage::Notification(JsonRpcNotification {
                notification: ServerNotification::ProgressNotification(progress),
                ..
            }) = &message
                && self.routes.deliver(&progress.params)
            {
                continue;
            }
            return Some(message);
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::NumberOrString;

    use super::*;

    fn progress(token: i64, value: f64) -> Progress {
        Progress::new(ProgressToken(NumberOrString::Number(token)), value)
    }

    #[tokio::test]
    async fn followed_tokens_get_their_progress_in_order_and_others_pass() {
        let routes = Arc::new(Routes::default());
        let mut feed = routes.follow(ProgressToken(NumberOrString::Number(7)));
        assert!(routes.deliver(&progress(7, 1.0)));
        assert!(routes.deliver(&progress(7, 2.0)));
        assert!(!routes.deliver(&progress(8, 1.0)));
        assert_eq!(feed.next().await, progress(7, 1.0));
        assert_eq!(feed.try_next(), Some(progress(7, 2.0)));
        assert_eq!(feed.try_next(), None);
        drop(feed);
        assert!(!routes.deliver(&progress(7, 3.0)));
        assert!(routes.lock().is_empty());
    }

    #[tokio::test]
    async fn a_caller_that_lags_loses_updates_not_memory() {
        let routes = Arc::new(Routes::default());
        let mut feed = routes.follow(ProgressToken(NumberOrString::Number(1)));
        for i in 0..BACKLOG + 10 {
            assert!(routes.deliver(&progress(1, i as f64)));
        }
        let mut received = 0;
        while feed.try_next().is_some() {
            received += 1;
        }
        assert_eq!(received, BACKLOG);
    }
}
