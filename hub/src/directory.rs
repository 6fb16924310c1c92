//! The in-memory directory of principals, teams, memberships, keys and secrets.
//!
//! Requests are authenticated and admin reads are answered from an immutable [`Directory`]
//! snapshot, never from the store, so they keep working while the store is down. Every change
//! goes to the store first and reaches the snapshot only once the store has acknowledged it:
//! nothing is shown that could be lost. A refresh task reloads the snapshot from the store so
//! that changes made by other replicas sharing the database take effect.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use agenthub_policy::{GlobalRole, Identity, Scopes, TeamMembership, TeamRole};
use arc_swap::ArcSwap;
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::keys::{self, MintedKey};
use crate::model::{
    ApiKey, Membership, Millis, Principal, PrincipalKind, SealedSecret, SecretMeta, Session, Team,
    new_id, now_millis,
};
use crate::secrets::{Keyring, SecretError};
pub use crate::store::KeyPatch;
use crate::store::{DirectoryRows, LoginApplied, LoginCode, LoginWrite, PrincipalPatch, Store};

/// The name of the principal that owns the bootstrap admin key.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// One immutable view of everything the directory holds.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    principals: BTreeMap<String, Principal>,
    teams: BTreeMap<String, Team>,
    /// Keyed by (team id, principal id).
    memberships: BTreeMap<(String, String), Membership>,
    keys: BTreeMap<String, Arc<ApiKey>>,
    secrets: BTreeMap<String, SealedSecret>,
    /// Derived: key hash → the key and the identity it authenticates as.
    by_hash: HashMap<String, (Arc<ApiKey>, Arc<Identity>)>,
    /// Login sessions by token hash.
    sessions: HashMap<String, Arc<Session>>,
    /// Derived: principal id → the identity a session of theirs authenticates as.
    session_identities: HashMap<String, Arc<Identity>>,
}

/// The one way an identity is built from stored records.
fn identity(principal: &Principal, teams: &[TeamMembership], key: Option<&ApiKey>) -> Identity {
    Identity {
        principal_id: Some(principal.id.clone()),
        name: principal.name.clone(),
        kind: principal.kind.subject_kind(),
        key_id: key.map(|k| k.id.clone()),
        // A key issued for a team acts for it only while its owner still belongs to the team.
        key_team: key
            .and_then(|k| k.team_id.as_deref())
            .and_then(|team_id| teams.iter().find(|m| m.team_id == team_id))
            .map(|m| m.team.clone()),
        teams: teams.to_vec(),
        role: principal.role,
        scopes: key.map_or_else(Scopes::all, |k| k.scopes.clone()),
        claims: Default::default(),
    }
}

/// A page of a listing and the cursor of the next one.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

fn page<'a, K: Ord + Clone + AsRef<str> + 'a, V: 'a, T>(
    map: impl Iterator<Item = (&'a K, &'a V)>,
    after: Option<&str>,
    limit: usize,
    keep: impl Fn(&V) -> bool,
    out: impl Fn(&V) -> T,
) -> Page<T> {
    let mut items = Vec::with_capacity(limit);
    let mut next = None;
    for (key, value) in map.filter(|(k, _)| after.is_none_or(|a| k.as_ref() > a)) {
        if !keep(value) {
            continue;
        }
        if items.len() == limit {
            break;
        }
        items.push(out(value));
        next = Some(key.as_ref().to_owned());
    }
    if items.len() < limit {
        next = None;
    }
    Page { items, next }
}

impl Directory {
    fn from_rows(rows: DirectoryRows) -> Self {
        let mut dir = Directory {
            principals: rows
                .principals
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect(),
            teams: rows.teams.into_iter().map(|t| (t.id.clone(), t)).collect(),
            memberships: rows
                .memberships
                .into_iter()
                .map(|m| ((m.team_id.clone(), m.principal_id.clone()), m))
                .collect(),
            keys: rows
                .keys
                .into_iter()
                .map(|k| (k.id.clone(), Arc::new(k)))
                .collect(),
            secrets: rows
                .secrets
                .into_iter()
                .map(|s| (s.meta.name.clone(), s))
                .collect(),
            by_hash: HashMap::new(),
            sessions: rows
                .sessions
                .into_iter()
                .map(|s| (s.hash.clone(), Arc::new(s)))
                .collect(),
            session_identities: HashMap::new(),
        };
        dir.reindex();
        dir
    }

    /// Rebuilds the derived authentication index. Called after every change: admin writes are
    /// rare, and one full rebuild cannot drift the way incremental updates can.
    fn reindex(&mut self) {
        let mut teams_of: HashMap<&str, Vec<TeamMembership>> = HashMap::new();
        for m in self.memberships.values() {
            if let Some(team) = self.teams.get(&m.team_id) {
                teams_of
                    .entry(&m.principal_id)
                    .or_default()
                    .push(TeamMembership {
                        team_id: team.id.clone(),
                        team: team.name.clone(),
                        role: m.role,
                    });
            }
        }
        let no_teams = Vec::new();
        let teams_of = |id: &str| teams_of.get(id).unwrap_or(&no_teams);
        self.by_hash = self
            .keys
            .values()
            .filter_map(|key| {
                let principal = self.principals.get(&key.principal_id)?;
                let identity = identity(principal, teams_of(&principal.id), Some(key));
                Some((key.hash.clone(), (key.clone(), Arc::new(identity))))
            })
            .collect();
        // A session acts with everything its principal may do: scopes only narrow keys.
        self.session_identities = self
            .principals
            .values()
            .filter(|p| p.kind == PrincipalKind::User)
            .map(|principal| {
                (
                    principal.id.clone(),
                    Arc::new(identity(principal, teams_of(&principal.id), None)),
                )
            })
            .collect();
    }

    /// The identity of a stored principal: acting through `key`, or with every scope (as a
    /// session does) without one.
    pub fn identity_of(&self, principal: &Principal, key: Option<&ApiKey>) -> Identity {
        let teams: Vec<TeamMembership> = self
            .teams_of(&principal.id)
            .into_iter()
            .map(|(membership, team)| TeamMembership {
                team_id: team.id,
                team: team.name,
                role: membership.role,
            })
            .collect();
        identity(principal, &teams, key)
    }

    /// The identity a login session token authenticates as, if the session exists, has not
    /// expired, and its user is enabled.
    pub fn authenticate_session(&self, token: &str, now: Millis) -> Option<Arc<Identity>> {
        let session = self.sessions.get(&keys::hash(token))?;
        if session.expires_at <= now {
            return None;
        }
        let principal = self.principals.get(&session.principal_id)?;
        if principal.disabled_at.is_some() {
            return None;
        }
        self.session_identities.get(&principal.id).cloned()
    }

    /// The session a token belongs to, expired or not.
    pub fn session(&self, token: &str) -> Option<&Arc<Session>> {
        self.sessions.get(&keys::hash(token))
    }

    /// The identity a presented key authenticates as, if the key exists, is neither revoked
    /// nor expired, and its principal is enabled.
    pub fn authenticate(&self, secret: &str, now: Millis) -> Option<Arc<Identity>> {
        let (key, identity) = self.by_hash.get(&keys::hash(secret))?;
        if !key.is_usable_at(now) {
            return None;
        }
        let principal = self.principals.get(&key.principal_id)?;
        if principal.disabled_at.is_some() {
            return None;
        }
        key.last_used_at.fetch_max(now, Ordering::Relaxed);
        Some(identity.clone())
    }

    pub fn principal(&self, id_or_name: &str) -> Option<&Principal> {
        self.principals
            .get(id_or_name)
            .or_else(|| self.principals.values().find(|p| p.name == id_or_name))
    }

    pub fn principals(
        &self,
        kind: PrincipalKind,
        after: Option<&str>,
        limit: usize,
    ) -> Page<Principal> {
        page(
            self.principals.iter(),
            after,
            limit,
            |p| p.kind == kind,
            Clone::clone,
        )
    }

    pub fn team(&self, id_or_name: &str) -> Option<&Team> {
        self.teams
            .get(id_or_name)
            .or_else(|| self.teams.values().find(|t| t.name == id_or_name))
    }

    pub fn teams(
        &self,
        after: Option<&str>,
        limit: usize,
        visible: impl Fn(&Team) -> bool,
    ) -> Page<Team> {
        page(self.teams.iter(), after, limit, visible, Clone::clone)
    }

    pub fn members(&self, team_id: &str) -> Vec<(Membership, Principal)> {
        self.memberships
            .values()
            .filter(|m| m.team_id == team_id)
            .filter_map(|m| Some((m.clone(), self.principals.get(&m.principal_id)?.clone())))
            .collect()
    }

    pub fn teams_of(&self, principal_id: &str) -> Vec<(Membership, Team)> {
        self.memberships
            .values()
            .filter(|m| m.principal_id == principal_id)
            .filter_map(|m| Some((m.clone(), self.teams.get(&m.team_id)?.clone())))
            .collect()
    }

    pub fn key(&self, id: &str) -> Option<&Arc<ApiKey>> {
        self.keys.get(id)
    }

    pub fn keys(
        &self,
        owner: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Page<Arc<ApiKey>> {
        page(
            self.keys.iter(),
            after,
            limit,
            |k| owner.is_none_or(|o| k.principal_id == o),
            Clone::clone,
        )
    }

    pub fn secret(&self, name: &str) -> Option<&SealedSecret> {
        self.secrets.get(name)
    }

    pub fn secrets(&self, after: Option<&str>, limit: usize) -> Page<SecretMeta> {
        page(
            self.secrets.iter(),
            after,
            limit,
            |_| true,
            |s| s.meta.clone(),
        )
    }

    fn all_keys(&self) -> impl Iterator<Item = &Arc<ApiKey>> {
        self.keys.values()
    }
}

/// New principal fields.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub kind: PrincipalKind,
    pub name: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub role: GlobalRole,
}

/// New key fields.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub principal_id: String,
    pub team_id: Option<String>,
    pub scopes: Scopes,
    pub expires_at: Option<Millis>,
}

/// The directory service: the serving snapshot plus the write path through the store.
pub struct Accounts {
    store: Store,
    keyring: Arc<Keyring>,
    current: ArcSwap<Directory>,
    /// Serializes writers and refreshes, so that a refresh read before a write cannot
    /// overwrite that write's effect on the snapshot.
    writer: Mutex<()>,
    /// Counts the changes made here (not refreshes), for announcing them to other replicas.
    revision: watch::Sender<u64>,
    /// This hub's id between hubs: made once, kept in the store, shared by its replicas.
    hub_id: String,
}

impl Accounts {
    /// Loads the directory from the store.
    pub async fn load(store: Store, keyring: Arc<Keyring>) -> Result<Self> {
        let rows = store.load_directory().await?;
        let hub_id = store
            .meta_or_insert("hub_id", &uuid::Uuid::new_v4().simple().to_string())
            .await?;
        Ok(Self {
            hub_id,
            store,
            keyring,
            current: ArcSwap::from_pointee(Directory::from_rows(rows)),
            writer: Mutex::new(()),
            revision: watch::Sender::new(0),
        })
    }

    /// The serving snapshot.
    pub fn snapshot(&self) -> Arc<Directory> {
        self.current.load_full()
    }

    /// This hub's id between hubs (see `agenthub_mcp_registry::hops`), unless the
    /// configuration sets `mcp.hub_id`.
    pub fn hub_id(&self) -> &str {
        &self.hub_id
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Applies `change` to a copy of the snapshot and installs it.
    fn publish(&self, change: impl FnOnce(&mut Directory)) {
        let mut next = (**self.current.load()).clone();
        change(&mut next);
        next.reindex();
        self.current.store(Arc::new(next));
        self.revision.send_modify(|r| *r += 1);
    }

    /// Notifies on every change made through this instance (not on refreshes).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Reloads the snapshot from the store, keeping in-memory last-use times that are newer.
    pub async fn refresh(&self) -> Result<()> {
        let _writer = self.writer.lock().await;
        self.reload_locked().await
    }

    /// [`Self::refresh`], for callers that hold the writer lock.
    async fn reload_locked(&self) -> Result<()> {
        let rows = self.store.load_directory().await?;
        let fresh = Directory::from_rows(rows);
        let old = self.current.load();
        for key in fresh.all_keys() {
            if let Some(previous) = old.key(&key.id) {
                key.last_used_at.fetch_max(
                    previous.last_used_at.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
            }
        }
        self.current.store(Arc::new(fresh));
        Ok(())
    }

    pub async fn create_principal(&self, new: NewPrincipal) -> Result<Principal> {
        let _writer = self.writer.lock().await;
        let now = now_millis();
        let principal = Principal {
            id: new_id(),
            kind: new.kind,
            name: new.name,
            email: new.email,
            display_name: new.display_name,
            description: new.description,
            role: new.role,
            disabled_at: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_principal(&principal).await?;
        self.publish(|d| {
            d.principals.insert(principal.id.clone(), principal.clone());
        });
        Ok(principal)
    }

    pub async fn update_principal(&self, id: &str, patch: PrincipalPatch) -> Result<Principal> {
        let _writer = self.writer.lock().await;
        let principal = self.store.patch_principal(id, &patch, now_millis()).await?;
        self.publish(|d| {
            d.principals.insert(principal.id.clone(), principal.clone());
        });
        Ok(principal)
    }

    pub async fn delete_principal(&self, id: &str) -> Result<()> {
        let _writer = self.writer.lock().await;
        self.store.delete_principal(id).await?;
        self.publish(|d| {
            d.principals.remove(id);
            d.memberships.retain(|(_, p), _| p != id);
            d.keys.retain(|_, k| k.principal_id != id);
        });
        Ok(())
    }

    pub async fn create_team(&self, name: String, description: Option<String>) -> Result<Team> {
        let _writer = self.writer.lock().await;
        let now = now_millis();
        let team = Team {
            id: new_id(),
            name,
            description,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_team(&team).await?;
        self.publish(|d| {
            d.teams.insert(team.id.clone(), team.clone());
        });
        Ok(team)
    }

    pub async fn update_team(&self, id: &str, description: Option<Option<String>>) -> Result<Team> {
        let _writer = self.writer.lock().await;
        let mut team = self
            .snapshot()
            .teams
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found("team"))?;
        if let Some(description) = description {
            team.description = description;
        }
        team.updated_at = now_millis();
        self.store.update_team(&team).await?;
        self.publish(|d| {
            d.teams.insert(team.id.clone(), team.clone());
        });
        Ok(team)
    }

    pub async fn delete_team(&self, id: &str) -> Result<()> {
        let _writer = self.writer.lock().await;
        self.store.delete_team(id).await?;
        self.publish(|d| {
            d.teams.remove(id);
            d.memberships.retain(|(t, _), _| t != id);
            for key in d.keys.values_mut() {
                if key.team_id.as_deref() == Some(id) {
                    let mut detached = (**key).clone();
                    detached.team_id = None;
                    *key = Arc::new(detached);
                }
            }
        });
        Ok(())
    }

    /// Adds a principal to a team, or changes their role in it.
    pub async fn set_membership(
        &self,
        team_id: &str,
        principal_id: &str,
        role: TeamRole,
    ) -> Result<Membership> {
        let _writer = self.writer.lock().await;
        let snapshot = self.snapshot();
        if !snapshot.teams.contains_key(team_id) {
            return Err(Error::not_found("team"));
        }
        if !snapshot.principals.contains_key(principal_id) {
            return Err(Error::not_found("principal"));
        }
        let key = (team_id.to_owned(), principal_id.to_owned());
        let created_at = snapshot
            .memberships
            .get(&key)
            .map_or_else(now_millis, |m| m.created_at);
        let membership = Membership {
            team_id: key.0.clone(),
            principal_id: key.1.clone(),
            role,
            created_at,
        };
        self.store.upsert_membership(&membership).await?;
        self.publish(|d| {
            d.memberships.insert(key, membership.clone());
        });
        Ok(membership)
    }

    pub async fn remove_membership(&self, team_id: &str, principal_id: &str) -> Result<()> {
        let _writer = self.writer.lock().await;
        self.store.delete_membership(team_id, principal_id).await?;
        self.publish(|d| {
            d.memberships
                .remove(&(team_id.to_owned(), principal_id.to_owned()));
        });
        Ok(())
    }

    /// Creates a key and returns it with its secret, which is not kept anywhere.
    pub async fn create_key(&self, new: NewKey) -> Result<(Arc<ApiKey>, String)> {
        self.insert_key(new, keys::mint()).await
    }

    async fn insert_key(&self, new: NewKey, minted: MintedKey) -> Result<(Arc<ApiKey>, String)> {
        let _writer = self.writer.lock().await;
        let snapshot = self.snapshot();
        if !snapshot.principals.contains_key(&new.principal_id) {
            return Err(Error::not_found("principal"));
        }
        if let Some(team) = &new.team_id
            && !snapshot.teams.contains_key(team)
        {
            return Err(Error::not_found("team"));
        }
        let key = Arc::new(ApiKey {
            id: new_id(),
            name: new.name,
            prefix: minted.prefix,
            hash: minted.hash,
            principal_id: new.principal_id,
            team_id: new.team_id,
            scopes: new.scopes,
            expires_at: new.expires_at,
            created_at: now_millis(),
            last_used_at: Default::default(),
            revoked_at: None,
        });
        self.store.insert_key(&key).await?;
        self.publish(|d| {
            d.keys.insert(key.id.clone(), key.clone());
        });
        Ok((key, minted.secret))
    }

    pub async fn update_key(&self, id: &str, patch: KeyPatch) -> Result<Arc<ApiKey>> {
        let _writer = self.writer.lock().await;
        let key = self.store.patch_key(id, &patch, now_millis()).await?;
        if let Some(current) = self.snapshot().keys.get(id) {
            key.last_used_at.fetch_max(
                current.last_used_at.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
        }
        let key = Arc::new(key);
        self.publish(|d| {
            d.keys.insert(key.id.clone(), key.clone());
        });
        Ok(key)
    }

    pub async fn delete_key(&self, id: &str) -> Result<()> {
        let _writer = self.writer.lock().await;
        self.store.delete_key(id).await?;
        self.publish(|d| {
            d.keys.remove(id);
        });
        Ok(())
    }

    /// Stores a secret's value, sealed under the current master key.
    /// Stores a secret's value. With `create_only`, fails with `Conflict` if the name is taken —
    /// decided by the store, so that two replicas creating one name cannot both succeed.
    pub async fn put_secret(
        &self,
        name: &str,
        description: Option<String>,
        value: &str,
        create_only: bool,
    ) -> Result<SecretMeta> {
        let _writer = self.writer.lock().await;
        let now = now_millis();
        let created_at = self
            .snapshot()
            .secrets
            .get(name)
            .map_or(now, |s| s.meta.created_at);
        let sealed = self
            .keyring
            .seal(name, description, value.as_bytes(), created_at, now);
        if create_only {
            self.store.insert_secret(&sealed).await?;
        } else {
            self.store.upsert_secret(&sealed).await?;
        }
        let meta = sealed.meta.clone();
        self.publish(|d| {
            d.secrets.insert(name.to_owned(), sealed);
        });
        Ok(meta)
    }

    pub async fn delete_secret(&self, name: &str) -> Result<()> {
        let _writer = self.writer.lock().await;
        self.store.delete_secret(name).await?;
        self.publish(|d| {
            d.secrets.remove(name);
        });
        Ok(())
    }

    /// A secret's plaintext, for the hub's own use with upstreams. Never sent to API callers.
    pub fn reveal_secret(&self, name: &str) -> Result<Option<String>> {
        let snapshot = self.snapshot();
        let Some(sealed) = snapshot.secret(name) else {
            return Ok(None);
        };
        let bytes = self.keyring.open(sealed).map_err(Error::internal)?;
        String::from_utf8(bytes).map(Some).map_err(Error::internal)
    }

    /// Checks that every stored secret is readable with the loaded keys, so that a wrong
    /// `AGENTHUB_SECRET_KEY` stops the hub at start instead of failing requests later.
    pub fn verify_secrets(&self) -> Result<(), SecretError> {
        self.snapshot()
            .secrets
            .values()
            .try_for_each(|s| self.keyring.open(s).map(drop))
    }

    /// Ensures the bootstrap admin exists with a usable key. Returns the key's secret when one
    /// was generated, for the caller to print once.
    pub async fn bootstrap(&self, admin_key: Option<String>) -> Result<Option<String>> {
        let admin = match self.snapshot().principal(BOOTSTRAP_ADMIN).cloned() {
            Some(admin) => admin,
            None => {
                self.create_principal(NewPrincipal {
                    kind: PrincipalKind::User,
                    name: BOOTSTRAP_ADMIN.into(),
                    email: None,
                    display_name: Some("Bootstrap administrator".into()),
                    description: None,
                    role: GlobalRole::Admin,
                })
                .await?
            }
        };
        let new_key = |name: &str| NewKey {
            name: name.into(),
            principal_id: admin.id.clone(),
            team_id: None,
            scopes: Scopes::all(),
            expires_at: None,
        };
        if let Some(secret) = admin_key {
            let minted = keys::from_secret(secret);
            if !self.snapshot().by_hash.contains_key(&minted.hash) {
                self.insert_key(new_key("AGENTHUB_ADMIN_KEY"), minted)
                    .await?;
                tracing::info!("installed AGENTHUB_ADMIN_KEY as a key of the \"admin\" user");
            }
            return Ok(None);
        }
        if self.store.meta("bootstrap_key_issued").await?.is_some() {
            return Ok(None);
        }
        let (_, secret) = self.create_key(new_key("bootstrap")).await?;
        self.store
            .set_meta("bootstrap_key_issued", &now_millis().to_string())
            .await?;
        Ok(Some(secret))
    }

    /// Applies a completed OIDC login (see [`Store::apply_login`]) and reloads the snapshot, so
    /// that the new user, memberships and session are served at once.
    pub async fn record_login(&self, login: LoginWrite) -> Result<LoginApplied> {
        let _writer = self.writer.lock().await;
        let applied = self.store.apply_login(&login).await?;
        self.reload_locked().await?;
        self.revision.send_modify(|r| *r += 1);
        Ok(applied)
    }

    /// Creates a session for a principal; returns it with its token, which is not kept.
    pub async fn create_session(
        &self,
        principal_id: &str,
        provider: &str,
        client: crate::model::SessionClient,
        ttl: Duration,
    ) -> Result<(Arc<Session>, String)> {
        let _writer = self.writer.lock().await;
        if !self.snapshot().principals.contains_key(principal_id) {
            return Err(Error::not_found("principal"));
        }
        let token = keys::mint_session_token();
        let now = now_millis();
        let session = Arc::new(Session {
            id: new_id(),
            hash: keys::hash(&token),
            principal_id: principal_id.to_owned(),
            provider: provider.to_owned(),
            client,
            created_at: now,
            expires_at: now.saturating_add(ttl.as_millis() as Millis),
        });
        self.store.insert_session(&session).await?;
        self.publish(|d| {
            d.sessions.insert(session.hash.clone(), session.clone());
        });
        Ok((session, token))
    }

    /// Ends the session a token belongs to; whether there was one.
    pub async fn end_session(&self, token: &str) -> Result<bool> {
        let _writer = self.writer.lock().await;
        let hash = keys::hash(token);
        let existed = self.store.delete_session(&hash).await?;
        self.publish(|d| {
            d.sessions.remove(&hash);
        });
        Ok(existed)
    }

    /// Takes a one-time login code (once); `None` when unknown, used or expired.
    pub async fn take_login_code(&self, code: &str) -> Result<Option<LoginCode>> {
        self.store
            .take_login_code(&keys::hash(code), now_millis())
            .await
    }

    /// Deletes expired sessions, pending logins, login codes and MCP consent links and
    /// consents from the store, and expired sessions from the snapshot.
    pub async fn purge_expired(&self) -> Result<u64> {
        let _writer = self.writer.lock().await;
        let now = now_millis();
        let purged =
            self.store.purge_expired(now).await? + self.store.purge_expired_consents(now).await?;
        if self
            .snapshot()
            .sessions
            .values()
            .any(|s| s.expires_at <= now)
        {
            let mut next = (**self.current.load()).clone();
            next.sessions.retain(|_, s| s.expires_at > now);
            self.current.store(Arc::new(next));
        }
        Ok(purged)
    }

    /// Writes recently used keys' last-use times to the store, in one batch.
    async fn flush_last_used(&self, flushed: &mut HashMap<String, Millis>) -> Result<()> {
        let snapshot = self.snapshot();
        let pending: Vec<(String, Millis)> = snapshot
            .all_keys()
            .filter_map(|k| {
                let used = k.last_used()?;
                (flushed.get(&k.id).is_none_or(|f| *f < used)).then(|| (k.id.clone(), used))
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        self.store.touch_keys(&pending).await?;
        flushed.extend(pending);
        Ok(())
    }

    /// Refreshes the snapshot and flushes last-use times until `shutdown`, then flushes once
    /// more. Store failures are logged and retried on the next tick.
    pub async fn run_background(
        self: Arc<Self>,
        refresh_every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut flushed: HashMap<String, Millis> = self
            .snapshot()
            .all_keys()
            .filter_map(|k| Some((k.id.clone(), k.last_used()?)))
            .collect();
        let mut ticker = tokio::time::interval(refresh_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            if let Err(e) = self.flush_last_used(&mut flushed).await {
                tracing::warn!(error = %e, "could not record key last-use times; will retry");
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "could not refresh the directory from the store; serving the last snapshot");
            }
        }
        if let Err(e) = self.flush_last_used(&mut flushed).await {
            tracing::warn!(error = %e, "could not record key last-use times at shutdown");
        }
    }
}

/// Upstream credentials (MCP servers', agents', model providers') from the secret store,
/// decrypted when a connection or request needs them, so that a rotated secret applies at once.
pub struct StoreSecrets(pub Arc<Accounts>);

impl StoreSecrets {
    fn reveal(&self, name: &str) -> Option<String> {
        match self.0.reveal_secret(name) {
            Ok(value) => value,
            Err(e) => {
                tracing::error!(secret = name, error = %e, "cannot read an upstream credential");
                None
            }
        }
    }
}

impl agenthub_mcp_registry::upstream::Secrets for StoreSecrets {
    fn reveal(&self, name: &str) -> Option<String> {
        StoreSecrets::reveal(self, name)
    }
}

impl agenthub_a2a_bus::registry::Secrets for StoreSecrets {
    fn reveal(&self, name: &str) -> Option<String> {
        StoreSecrets::reveal(self, name)
    }
}

impl agenthub_llm_router::engine::Secrets for StoreSecrets {
    fn reveal(&self, name: &str) -> Option<String> {
        StoreSecrets::reveal(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{KeyOrigin, MasterKey};
    use crate::store::testing;

    async fn accounts(store: Store) -> Accounts {
        Accounts::load(
            store,
            Arc::new(Keyring::new(MasterKey::generate(), None, KeyOrigin::Env)),
        )
        .await
        .unwrap()
    }

    fn user(name: &str) -> NewPrincipal {
        NewPrincipal {
            kind: PrincipalKind::User,
            name: name.into(),
            email: None,
            display_name: None,
            description: None,
            role: GlobalRole::Member,
        }
    }

    #[tokio::test]
    async fn a_team_key_stops_acting_for_a_team_its_owner_left() {
        let t = testing::sqlite().await;
        let accounts = accounts(t.store.clone()).await;
        let alice = accounts.create_principal(user("alice")).await.unwrap();
        let team = accounts.create_team("ml".into(), None).await.unwrap();
        accounts
            .set_membership(&team.id, &alice.id, TeamRole::Member)
            .await
            .unwrap();
        let (_, secret) = accounts
            .create_key(NewKey {
                name: "k".into(),
                principal_id: alice.id.clone(),
                team_id: Some(team.id.clone()),
                scopes: Scopes::default_for_new_key(),
                expires_at: None,
            })
            .await
            .unwrap();
        let now = now_millis();
        assert_eq!(
            accounts
                .snapshot()
                .authenticate(&secret, now)
                .unwrap()
                .key_team
                .as_deref(),
            Some("ml")
        );
        accounts
            .remove_membership(&team.id, &alice.id)
            .await
            .unwrap();
        let identity = accounts.snapshot().authenticate(&secret, now).unwrap();
        assert_eq!(identity.key_team, None, "the key no longer acts for ml");
        assert!(identity.teams.is_empty());
    }

    /// A replica whose snapshot is stale must not undo another replica's revocation or
    /// disabling when it writes something else about the same record.
    #[tokio::test]
    async fn stale_replicas_cannot_resurrect_keys_or_users() {
        for t in testing::all().await {
            let a = accounts(t.store.clone()).await;
            let alice = a.create_principal(user("alice")).await.unwrap();
            let (key, secret) = a
                .create_key(NewKey {
                    name: "k".into(),
                    principal_id: alice.id.clone(),
                    team_id: None,
                    scopes: Scopes::default_for_new_key(),
                    expires_at: None,
                })
                .await
                .unwrap();
            let b = accounts(t.store.clone()).await; // loaded now, never refreshed
            a.update_key(
                &key.id,
                KeyPatch {
                    revoke: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            a.update_principal(
                &alice.id,
                PrincipalPatch {
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

            b.update_key(
                &key.id,
                KeyPatch {
                    name: Some("renamed".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            b.update_principal(
                &alice.id,
                PrincipalPatch {
                    description: Some(Some("x".into())),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

            let fresh = accounts(t.store.clone()).await;
            let stored = fresh.snapshot().key(&key.id).cloned().unwrap();
            assert!(
                stored.revoked_at.is_some(),
                "{}: revocation survives a stale write",
                t.name
            );
            assert_eq!(stored.name, "renamed", "{}", t.name);
            assert!(
                fresh
                    .snapshot()
                    .principal(&alice.id)
                    .unwrap()
                    .disabled_at
                    .is_some(),
                "{}",
                t.name
            );
            assert!(
                fresh
                    .snapshot()
                    .authenticate(&secret, now_millis())
                    .is_none(),
                "{}",
                t.name
            );
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn keys_authenticate_until_revoked_expired_or_disabled() {
        for t in testing::all().await {
            let accounts = accounts(t.store.clone()).await;
            let alice = accounts.create_principal(user("alice")).await.unwrap();
            let team = accounts.create_team("ml".into(), None).await.unwrap();
            accounts
                .set_membership(&team.id, &alice.id, TeamRole::Admin)
                .await
                .unwrap();
            let new = NewKey {
                name: "laptop".into(),
                principal_id: alice.id.clone(),
                team_id: Some(team.id.clone()),
                scopes: Scopes::default_for_new_key(),
                expires_at: None,
            };
            let (key, secret) = accounts.create_key(new.clone()).await.unwrap();
            let now = now_millis();

            let identity = accounts
                .snapshot()
                .authenticate(&secret, now)
                .expect("fresh key works");
            assert_eq!(identity.subject(), "user:alice");
            assert_eq!(identity.key_team.as_deref(), Some("ml"));
            assert_eq!(identity.team_role(&team.id), Some(TeamRole::Admin));
            assert!(accounts.snapshot().authenticate("ahk_nope", now).is_none());

            accounts
                .update_principal(
                    &alice.id,
                    PrincipalPatch {
                        disabled: Some(true),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert!(
                accounts.snapshot().authenticate(&secret, now).is_none(),
                "{}: disabled",
                t.name
            );
            accounts
                .update_principal(
                    &alice.id,
                    PrincipalPatch {
                        disabled: Some(false),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert!(accounts.snapshot().authenticate(&secret, now).is_some());

            let (_, expiring) = accounts
                .create_key(NewKey {
                    expires_at: Some(now + 1000),
                    ..new.clone()
                })
                .await
                .unwrap();
            assert!(accounts.snapshot().authenticate(&expiring, now).is_some());
            assert!(
                accounts
                    .snapshot()
                    .authenticate(&expiring, now + 1000)
                    .is_none(),
                "{}: expired",
                t.name
            );

            accounts
                .update_key(
                    &key.id,
                    KeyPatch {
                        revoke: true,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert!(
                accounts.snapshot().authenticate(&secret, now).is_none(),
                "{}: revoked",
                t.name
            );

            // Everything survives a reload from the store, revocation included.
            let reloaded = Accounts::load(
                t.store.clone(),
                Arc::new(Keyring::new(MasterKey::generate(), None, KeyOrigin::Env)),
            )
            .await
            .unwrap();
            assert!(reloaded.snapshot().authenticate(&secret, now).is_none());
            assert!(reloaded.snapshot().authenticate(&expiring, now).is_some());
            assert_eq!(reloaded.snapshot().members(&team.id).len(), 1);
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn pagination_walks_everything_once() {
        let t = testing::sqlite().await;
        let accounts = accounts(t.store.clone()).await;
        for i in 0..7 {
            accounts
                .create_principal(user(&format!("u{i}")))
                .await
                .unwrap();
        }
        accounts
            .create_principal(NewPrincipal {
                kind: PrincipalKind::Service,
                ..user("svc")
            })
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = accounts
                .snapshot()
                .principals(PrincipalKind::User, cursor.as_deref(), 3);
            seen.extend(page.items.into_iter().map(|p| p.name));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]);
    }

    #[tokio::test]
    async fn bootstrap_issues_one_key_once() {
        let t = testing::sqlite().await;
        let accounts = accounts(t.store.clone()).await;
        let secret = accounts
            .bootstrap(None)
            .await
            .unwrap()
            .expect("first start prints a key");
        let identity = accounts
            .snapshot()
            .authenticate(&secret, now_millis())
            .unwrap();
        assert!(identity.is_admin_with(agenthub_policy::Scope::Admin));
        assert!(
            accounts.bootstrap(None).await.unwrap().is_none(),
            "never printed twice"
        );

        let chosen = "ahk_chosen_by_the_operator_0123456789".to_owned();
        assert!(
            accounts
                .bootstrap(Some(chosen.clone()))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            accounts
                .snapshot()
                .authenticate(&chosen, now_millis())
                .is_some()
        );
        accounts.bootstrap(Some(chosen)).await.unwrap();
        assert_eq!(
            accounts.snapshot().keys(None, None, 10).items.len(),
            2,
            "the env key is installed once"
        );
    }

    #[tokio::test]
    async fn last_used_is_flushed_to_the_store() {
        let t = testing::sqlite().await;
        let accounts = accounts(t.store.clone()).await;
        let secret = accounts.bootstrap(None).await.unwrap().unwrap();
        accounts.snapshot().authenticate(&secret, 12345).unwrap();
        let mut flushed = HashMap::new();
        accounts.flush_last_used(&mut flushed).await.unwrap();
        let rows = t.store.load_directory().await.unwrap();
        assert_eq!(rows.keys[0].last_used(), Some(12345));
    }

    #[tokio::test]
    async fn secrets_are_sealed_and_checked() {
        let t = testing::sqlite().await;
        let accounts = accounts(t.store.clone()).await;
        accounts
            .put_secret("openai", Some("prod".into()), "sk-123", false)
            .await
            .unwrap();
        assert_eq!(
            accounts.reveal_secret("openai").unwrap().as_deref(),
            Some("sk-123")
        );
        let raw = t.store.load_directory().await.unwrap();
        assert!(!raw.secrets[0].ciphertext.contains("sk-123"));
        accounts.verify_secrets().unwrap();
        // A hub started with another key refuses to serve them.
        let wrong = Accounts::load(
            t.store.clone(),
            Arc::new(Keyring::new(MasterKey::generate(), None, KeyOrigin::Env)),
        )
        .await
        .unwrap();
        assert!(wrong.verify_secrets().is_err());
    }
}
