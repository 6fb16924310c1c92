//! One upstream connection per user for the servers that act for each user (the OAuth
//! authorization code grant): opened on the user's first call with their own tokens, closed
//! once it has been idle for a while, and bounded in number — beyond the bound, the least
//! recently used goes. A user's connection carries only that user's token and is never used
//! for anyone else. A connection dropped here closes when the last call using it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::upstream::{Connection, UpstreamError};
use crate::user_oauth::UserTokens;

/// A user's connection unused this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// The most users' connections kept open, over all servers.
pub const MAX_CONNECTIONS: usize = 1000;
/// How often idle connections are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The users' connections, by server and principal.
pub struct UserConnections {
    pool: Mutex<Pool>,
    capacity: usize,
    idle: Duration,
}

struct Pool {
    servers: HashMap<String, HashMap<String, Arc<Slot>>>,
    count: usize,
    last_sweep: Instant,
}

/// One user's place for one server: their tokens, and their connection once opened.
pub struct Slot {
    pub tokens: Arc<UserTokens>,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    last_used: Mutex<Instant>,
}

impl Slot {
    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    fn idle_since(&self) -> Instant {
        *lock(&self.last_used)
    }

    /// The live connection, opened with `open` if there is none (or it closed). Concurrent
    /// callers wait for one opening.
    pub async fn connection(
        &self,
        open: impl Future<Output = Result<Connection, UpstreamError>>,
    ) -> Result<Arc<Connection>, UpstreamError> {
        let mut connection = self.connection.lock().await;
        if let Some(live) = connection.as_ref()
            && !live.is_closed()
        {
            return Ok(live.clone());
        }
        let opened = Arc::new(open.await?);
        *connection = Some(opened.clone());
        Ok(opened)
    }

    /// Whether `connection` is this slot's. While a call holds the slot, it is taken to be:
    /// the next look will tell.
    fn holds(&self, connection: &Arc<Connection>) -> bool {
        self.connection.try_lock().map_or(true, |c| {
            c.as_ref().is_some_and(|c| Arc::ptr_eq(c, connection))
        })
    }
}

impl UserConnections {
    pub fn new(capacity: usize, idle: Duration) -> Self {
        Self {
            pool: Mutex::new(Pool {
                servers: HashMap::new(),
                count: 0,
                last_sweep: Instant::now(),
            }),
            capacity: capacity.max(1),
            idle,
        }
    }

    /// `principal`'s slot for `server`, made with `make` when there is none; marked used. A
    /// new slot beyond the bound pushes out the least recently used one.
    pub fn slot(
        &self,
        server: &str,
        principal: &str,
        make: impl FnOnce() -> Result<UserTokens, UpstreamError>,
    ) -> Result<Arc<Slot>, UpstreamError> {
        let mut pool = lock(&self.pool);
        if let Some(slot) = pool.servers.get(server).and_then(|s| s.get(principal)) {
            slot.touch();
            return Ok(slot.clone());
        }
        let slot = Arc::new(Slot {
            tokens: Arc::new(make()?),
            connection: tokio::sync::Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
        });
        if pool.count >= self.capacity {
            pool.evict_least_recently_used();
        }
        pool.servers
            .entry(server.to_owned())
            .or_default()
            .insert(principal.to_owned(), slot.clone());
        pool.count += 1;
        Ok(slot)
    }

    /// `principal`'s slot for `server`, if they have one.
    pub fn get(&self, server: &str, principal: &str) -> Option<Arc<Slot>> {
        lock(&self.pool)
            .servers
            .get(server)
            .and_then(|s| s.get(principal))
            .cloned()
    }

    /// Forgets `principal`'s slot for `server` (their grant changed or went).
    pub fn remove(&self, server: &str, principal: &str) {
        let mut pool = lock(&self.pool);
        let Some(users) = pool.servers.get_mut(server) else {
            return;
        };
        if users.remove(principal).is_some() {
            if users.is_empty() {
                pool.servers.remove(server);
            }
            pool.count -= 1;
        }
    }

    /// Forgets every slot of `server` (it was removed or changed).
    pub fn remove_server(&self, server: &str) {
        let mut pool = lock(&self.pool);
        if let Some(users) = pool.servers.remove(server) {
            pool.count -= users.len();
        }
    }

    /// Whether `connection` is still `principal`'s connection to `server`; if it is, it is
    /// marked used (it stays open while it is watched).
    pub fn holds(&self, server: &str, principal: &str, connection: &Arc<Connection>) -> bool {
        match self.get(server, principal) {
            Some(slot) if slot.holds(connection) => {
                slot.touch();
                true
            }
            _ => false,
        }
    }

    /// Drops the slots idle for longer than the idle timeout, at most once a minute.
    pub fn sweep_if_due(&self) {
        let mut pool = lock(&self.pool);
        if pool.last_sweep.elapsed() < SWEEP_EVERY {
            return;
        }
        pool.last_sweep = Instant::now();
        let idle = self.idle;
        let mut dropped = 0;
        pool.servers.retain(|_, users| {
            users.retain(|_, slot| {
                let keep = slot.idle_since().elapsed() < idle;
                dropped += usize::from(!keep);
                keep
            });
            !users.is_empty()
        });
        pool.count -= dropped;
        if dropped > 0 {
            tracing::debug!(
                closed = dropped,
                "closed users' idle MCP server connections"
            );
        }
    }

    /// How many users' slots are kept.
    pub fn len(&self) -> usize {
        lock(&self.pool).count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Pool {
    fn evict_least_recently_used(&mut self) {
        let oldest = self
            .servers
            .iter()
            .flat_map(|(server, users)| {
                users
                    .iter()
                    .map(move |(principal, slot)| (slot.idle_since(), server, principal))
            })
            .min_by_key(|(since, ..)| *since)
            .map(|(_, server, principal)| (server.clone(), principal.clone()));
        let Some((server, principal)) = oldest else {
            return;
        };
        if let Some(users) = self.servers.get_mut(&server) {
            users.remove(&principal);
            if users.is_empty() {
                self.servers.remove(&server);
            }
            self.count -= 1;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use futures::future::BoxFuture;

    use super::*;
    use crate::config::OAuthClientConfig;
    use crate::oauth::OAuthClient;
    use crate::user_oauth::{Grant, Grants, StoredGrant};

    struct NoGrants;

    impl Grants for NoGrants {
        fn load<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<Option<StoredGrant>, String>> {
            Box::pin(async { Ok(None) })
        }
        fn update<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: i64,
            _: &'a Grant,
        ) -> BoxFuture<'a, Result<Option<i64>, String>> {
            Box::pin(async { Ok(None) })
        }
        fn forget<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: i64,
        ) -> BoxFuture<'a, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn holders<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    fn make(server: &str, principal: &str) -> Result<UserTokens, UpstreamError> {
        let config: OAuthClientConfig = serde_json::from_value(serde_json::json!({
            "grant": "authorization_code", "authorization_url": "https://idp/authorize",
            "token_url": "https://idp/token", "client_id": "hub"}))
        .unwrap();
        let client = OAuthClient::new(
            &config,
            None,
            Some("https://x/mcp"),
            crate::upstream::http_client(crate::config::McpTimeouts::default())?,
        );
        Ok(UserTokens::new(
            server,
            principal,
            client,
            Arc::new(NoGrants),
        ))
    }

    #[test]
    fn slots_are_per_server_and_user_and_bounded_least_recently_used_first() {
        let pool = UserConnections::new(3, IDLE_TIMEOUT);
        let a = pool.slot("crm", "alice", || make("crm", "alice")).unwrap();
        let again = pool.slot("crm", "alice", || make("crm", "alice")).unwrap();
        assert!(Arc::ptr_eq(&a, &again), "one slot per server and user");
        let b = pool.slot("crm", "bob", || make("crm", "bob")).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        let other = pool
            .slot("notes", "alice", || make("notes", "alice"))
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(pool.len(), 3);

        // alice's crm slot is used again: bob's is now the least recently used.
        std::thread::sleep(Duration::from_millis(5));
        pool.slot("crm", "alice", || make("crm", "alice")).unwrap();
        pool.slot("crm", "carol", || make("crm", "carol")).unwrap();
        assert_eq!(pool.len(), 3);
        assert!(pool.get("crm", "bob").is_none());
        assert!(pool.get("crm", "alice").is_some());
        assert!(pool.get("notes", "alice").is_some());

        pool.remove("crm", "alice");
        assert!(pool.get("crm", "alice").is_none());
        pool.remove_server("crm");
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn idle_slots_are_swept() {
        let pool = UserConnections::new(10, Duration::from_millis(1));
        pool.slot("crm", "alice", || make("crm", "alice")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        // Not yet due: sweeps happen at most once a minute.
        pool.sweep_if_due();
        assert_eq!(pool.len(), 1);
        lock(&pool.pool).last_sweep = Instant::now() - SWEEP_EVERY;
        pool.sweep_if_due();
        assert!(pool.is_empty());
    }
}
