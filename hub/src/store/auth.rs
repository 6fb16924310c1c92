//! The SQL of authentication: identity links, provider-managed memberships, sessions, pending
//! OIDC logins and the CLI's one-time codes.

use std::collections::BTreeMap;

use agenthub_policy::{ErrorKind, GlobalRole, TeamRole};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, classify};
use crate::error::{Error, Result};
use crate::model::{Millis, Session, SessionClient, new_id};

/// A login started at `/auth/oidc/{provider}/login`, waiting for its callback.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLogin {
    pub state_hash: String,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where the browser goes once logged in (a path on the hub).
    pub redirect_to: String,
    /// For `agenthub login`: the loopback port to hand the one-time code to, and the CLI's PKCE
    /// challenge for exchanging it.
    pub cli_port: Option<u16>,
    pub cli_challenge: Option<String>,
    pub expires_at: Millis,
}

/// A one-time code for `agenthub login`, exchanged once for a session.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginCode {
    pub code_hash: String,
    pub principal_id: String,
    pub provider: String,
    /// base64url(SHA-256(verifier)) sent by the CLI when it started the login.
    pub challenge: String,
    pub expires_at: Millis,
}

/// Everything a completed OIDC login writes, in one transaction.
#[derive(Debug, Clone)]
pub struct LoginWrite {
    pub issuer: String,
    pub subject: String,
    /// Candidate names for a new user, best first; each a valid principal name.
    pub names: Vec<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// Whether the claims grant the hub admin role.
    pub admin: bool,
    /// Team id → role, as granted by the claims.
    pub teams: BTreeMap<String, TeamRole>,
    /// A session to create for the user (its `principal_id` is filled in here).
    pub session: Option<Session>,
    /// A one-time code to create for the user (its `principal_id` is filled in here).
    pub code: Option<LoginCode>,
    pub now: Millis,
}

/// What a login changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoginApplied {
    pub principal_id: String,
    pub created: bool,
    /// Team ids whose provider-managed membership was added, changed or removed.
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

fn session_from(row: &AnyRow) -> Result<Session> {
    let client: String = row.try_get("client").map_err(classify)?;
    Ok(Session {
        id: row.try_get("id").map_err(classify)?,
        hash: row.try_get("hash").map_err(classify)?,
        principal_id: row.try_get("principal_id").map_err(classify)?,
        provider: row.try_get("provider").map_err(classify)?,
        client: SessionClient::parse(&client)
            .ok_or_else(|| Error::internal(format!("corrupt session client {client:?}")))?,
        created_at: row.try_get("created_at").map_err(classify)?,
        expires_at: row.try_get("expires_at").map_err(classify)?,
    })
}

fn role_of(text: &str) -> Result<TeamRole> {
    text.parse()
        .map_err(|_| Error::internal(format!("corrupt team role {text:?}")))
}

impl Store {
    pub(super) async fn live_sessions(&self, now: Millis) -> Result<Vec<Session>> {
        sqlx::query("SELECT * FROM sessions WHERE expires_at > $1 ORDER BY id")
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .iter()
            .map(session_from)
            .collect()
    }

    pub async fn insert_session(&self, s: &Session) -> Result<()> {
        insert_session(&mut *self.pool.acquire().await.map_err(classify)?, s).await
    }

    /// Deletes the session with this token hash; whether there was one.
    pub async fn delete_session(&self, hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a pending login unless `max` pending logins that have not expired at `now` are
    /// stored already; whether it was stored. Unauthenticated requests start logins, so their
    /// number must be bounded. (Concurrent inserts may overshoot `max` by a few.)
    pub async fn insert_pending_login(
        &self,
        p: &PendingLogin,
        now: Millis,
        max: u64,
    ) -> Result<bool> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "INSERT INTO oidc_logins (state_hash, provider, nonce, pkce_verifier, redirect_to, cli_port, cli_challenge, expires_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE (SELECT COUNT(*) FROM oidc_logins WHERE expires_at > $9) < $10",
        )
        .bind(&p.state_hash)
        .bind(&p.provider)
        .bind(&p.nonce)
        .bind(&p.pkce_verifier)
        .bind(&p.redirect_to)
        .bind(p.cli_port.map(i64::from))
        .bind(&p.cli_challenge)
        .bind(p.expires_at)
        .bind(now)
        .bind(max)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// How many pending logins have not expired at `now`.
    pub async fn pending_logins(&self, now: Millis) -> Result<u64> {
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM oidc_logins WHERE expires_at > $1")
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?
            .try_get("n")
            .map_err(classify)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Removes and returns the pending login with this state hash, if it has not expired. A
    /// state can be taken once: a replayed callback finds nothing.
    pub async fn take_pending_login(
        &self,
        state_hash: &str,
        now: Millis,
    ) -> Result<Option<PendingLogin>> {
        let row = self
            .take_row(
                "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING *",
                state_hash,
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let cli_port: Option<i64> = row.try_get("cli_port").map_err(classify)?;
        let login = PendingLogin {
            state_hash: row.try_get("state_hash").map_err(classify)?,
            provider: row.try_get("provider").map_err(classify)?,
            nonce: row.try_get("nonce").map_err(classify)?,
            pkce_verifier: row.try_get("pkce_verifier").map_err(classify)?,
            redirect_to: row.try_get("redirect_to").map_err(classify)?,
            cli_port: cli_port.and_then(|p| u16::try_from(p).ok()),
            cli_challenge: row.try_get("cli_challenge").map_err(classify)?,
            expires_at: row.try_get("expires_at").map_err(classify)?,
        };
        Ok((login.expires_at > now).then_some(login))
    }

    /// Removes and returns the one-time login code with this hash, if it has not expired.
    pub async fn take_login_code(&self, code_hash: &str, now: Millis) -> Result<Option<LoginCode>> {
        let row = self
            .take_row(
                "DELETE FROM login_codes WHERE code_hash = $1 RETURNING *",
                code_hash,
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let code = LoginCode {
            code_hash: row.try_get("code_hash").map_err(classify)?,
            principal_id: row.try_get("principal_id").map_err(classify)?,
            provider: row.try_get("provider").map_err(classify)?,
            challenge: row.try_get("challenge").map_err(classify)?,
            expires_at: row.try_get("expires_at").map_err(classify)?,
        };
        Ok((code.expires_at > now).then_some(code))
    }

    /// Deletes expired sessions, pending logins and login codes; how many rows went.
    pub async fn purge_expired(&self, now: Millis) -> Result<u64> {
        self.delete_expired(
            &[
                "DELETE FROM sessions WHERE expires_at <= $1",
                "DELETE FROM oidc_logins WHERE expires_at <= $1",
                "DELETE FROM login_codes WHERE expires_at <= $1",
            ],
            now,
        )
        .await
    }

    /// Applies a completed login in one transaction: finds the user linked to (issuer, subject)
    /// or creates one, refreshes their email and display name, brings the provider-managed
    /// memberships and admin role in line with the claims (leaving hand-made ones alone), and
    /// creates the session or one-time code. Fails with `Forbidden` for a disabled user.
    pub async fn apply_login(&self, login: &LoginWrite) -> Result<LoginApplied> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let now = login.now;
        let link = sqlx::query(
            "SELECT l.principal_id, l.managed_role, p.role, p.disabled_at
             FROM identity_links l JOIN principals p ON p.id = l.principal_id
             WHERE l.issuer = $1 AND l.subject = $2",
        )
        .bind(&login.issuer)
        .bind(&login.subject)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;

        let mut applied = LoginApplied::default();
        let (principal_id, mut managed_role, mut role) = match link {
            Some(row) => {
                let disabled: Option<Millis> = row.try_get("disabled_at").map_err(classify)?;
                if disabled.is_some() {
                    return Err(Error::new(
                        ErrorKind::Forbidden,
                        "this account is disabled in the hub",
                    ));
                }
                let id: String = row.try_get("principal_id").map_err(classify)?;
                let role: String = row.try_get("role").map_err(classify)?;
                let managed: Option<String> = row.try_get("managed_role").map_err(classify)?;
                sqlx::query(
                    "UPDATE principals SET email = COALESCE($1, email), display_name = COALESCE($2, display_name), updated_at = $3 WHERE id = $4",
                )
                .bind(&login.email)
                .bind(&login.display_name)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                sqlx::query(
                    "UPDATE identity_links SET last_login_at = $1 WHERE issuer = $2 AND subject = $3",
                )
                .bind(now)
                .bind(&login.issuer)
                .bind(&login.subject)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let role = role
                    .parse::<GlobalRole>()
                    .map_err(|_| Error::internal(format!("corrupt role {role:?}")))?;
                (id, managed, role)
            }
            None => {
                let name = free_name(&mut tx, &login.names).await?;
                let id = new_id();
                sqlx::query(
                    "INSERT INTO principals (id, kind, name, email, display_name, description, role, disabled_at, created_at, updated_at)
                     VALUES ($1, 'user', $2, $3, $4, NULL, 'member', NULL, $5, $6)",
                )
                .bind(&id)
                .bind(&name)
                .bind(&login.email)
                .bind(&login.display_name)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                sqlx::query(
                    "INSERT INTO identity_links (issuer, subject, principal_id, managed_role, created_at, last_login_at)
                     VALUES ($1, $2, $3, NULL, $4, $5)",
                )
                .bind(&login.issuer)
                .bind(&login.subject)
                .bind(&id)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                applied.created = true;
                (id, None, GlobalRole::Member)
            }
        };

        // The hub admin role: granted and withdrawn by the claims only when a login granted it.
        let provider_admin = managed_role.as_deref() == Some("admin");
        if login.admin && role != GlobalRole::Admin {
            role = GlobalRole::Admin;
            managed_role = Some("admin".into());
        } else if !login.admin && provider_admin {
            if role == GlobalRole::Admin {
                role = GlobalRole::Member;
            }
            managed_role = None;
        }
        sqlx::query("UPDATE principals SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(&principal_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query(
            "UPDATE identity_links SET managed_role = $1 WHERE issuer = $2 AND subject = $3",
        )
        .bind(&managed_role)
        .bind(&login.issuer)
        .bind(&login.subject)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;

        // Memberships: the claims own the ones they created; hand-made ones are left alone.
        let rows = sqlx::query(
            "SELECT team_id, role, managed_by FROM memberships WHERE principal_id = $1",
        )
        .bind(&principal_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(classify)?;
        let mut current: BTreeMap<String, (TeamRole, Option<String>)> = BTreeMap::new();
        for row in &rows {
            let team: String = row.try_get("team_id").map_err(classify)?;
            let role: String = row.try_get("role").map_err(classify)?;
            let managed: Option<String> = row.try_get("managed_by").map_err(classify)?;
            current.insert(team, (role_of(&role)?, managed));
        }
        for (team, (role, managed_by)) in &current {
            if managed_by.as_deref() != Some(login.issuer.as_str()) {
                continue;
            }
            match login.teams.get(team) {
                None => {
                    sqlx::query("DELETE FROM memberships WHERE team_id = $1 AND principal_id = $2")
                        .bind(team)
                        .bind(&principal_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    applied.removed.push(team.clone());
                }
                Some(wanted) if wanted != role => {
                    sqlx::query(
                        "UPDATE memberships SET role = $1 WHERE team_id = $2 AND principal_id = $3",
                    )
                    .bind(wanted.as_str())
                    .bind(team)
                    .bind(&principal_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                    applied.changed.push(team.clone());
                }
                Some(_) => {}
            }
        }
        for (team, role) in &login.teams {
            if current.contains_key(team) {
                continue;
            }
            sqlx::query(
                "INSERT INTO memberships (team_id, principal_id, role, created_at, managed_by) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(team)
            .bind(&principal_id)
            .bind(role.as_str())
            .bind(now)
            .bind(&login.issuer)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
            applied.added.push(team.clone());
        }

        if let Some(session) = &login.session {
            let session = Session {
                principal_id: principal_id.clone(),
                ..session.clone()
            };
            insert_session(&mut tx, &session).await?;
        }
        if let Some(code) = &login.code {
            sqlx::query(
                "INSERT INTO login_codes (code_hash, principal_id, provider, challenge, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&code.code_hash)
            .bind(&principal_id)
            .bind(&code.provider)
            .bind(&code.challenge)
            .bind(code.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        applied.principal_id = principal_id;
        Ok(applied)
    }

    /// The teams whose membership of `principal_id` a login manages, with the issuer.
    pub async fn managed_memberships(&self, principal_id: &str) -> Result<Vec<(String, String)>> {
        sqlx::query(
            "SELECT team_id, managed_by FROM memberships WHERE principal_id = $1 AND managed_by IS NOT NULL ORDER BY team_id",
        )
        .bind(principal_id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("team_id").map_err(classify)?,
                row.try_get("managed_by").map_err(classify)?,
            ))
        })
        .collect()
    }
}

async fn insert_session(conn: &mut sqlx::AnyConnection, s: &Session) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, hash, principal_id, provider, client, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.id)
    .bind(&s.hash)
    .bind(&s.principal_id)
    .bind(&s.provider)
    .bind(s.client.as_str())
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(())
}

/// The first candidate name no principal has; failing that, the first with a random suffix.
async fn free_name(conn: &mut sqlx::AnyConnection, candidates: &[String]) -> Result<String> {
    async fn taken(conn: &mut sqlx::AnyConnection, name: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM principals WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await
            .map_err(classify)?
            .is_some())
    }
    for name in candidates {
        if !taken(conn, name).await? {
            return Ok(name.clone());
        }
    }
    let base = candidates.first().map_or("user", String::as_str);
    let base: String = base.chars().take(55).collect();
    loop {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let name = format!("{base}-{suffix}");
        if !taken(conn, &name).await? {
            return Ok(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn pending(state: &str, expires_at: Millis) -> PendingLogin {
        PendingLogin {
            state_hash: state.into(),
            provider: "okta".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            redirect_to: "/".into(),
            cli_port: Some(4242),
            cli_challenge: Some("c".into()),
            expires_at,
        }
    }

    /// At most `max` live pending logins; expired ones do not count, and are purged.
    #[tokio::test]
    async fn pending_logins_are_bounded() {
        for test in testing::all().await {
            let store = &test.store;
            let now: Millis = 1_000_000;
            // An expired one, not yet purged.
            assert!(
                store
                    .insert_pending_login(&pending("old", now - 1), now - 600_000, 2)
                    .await
                    .unwrap()
            );
            for state in ["a", "b"] {
                assert!(
                    store
                        .insert_pending_login(&pending(state, now + 600_000), now, 2)
                        .await
                        .unwrap(),
                    "{}",
                    test.name
                );
            }
            assert!(
                !store
                    .insert_pending_login(&pending("c", now + 600_000), now, 2)
                    .await
                    .unwrap(),
                "{}: the third live login is refused",
                test.name
            );
            assert_eq!(store.pending_logins(now).await.unwrap(), 2, "{}", test.name);
            assert!(store.take_pending_login("c", now).await.unwrap().is_none());
            // A finished login makes room.
            let taken = store.take_pending_login("a", now).await.unwrap().unwrap();
            assert_eq!(taken, pending("a", now + 600_000));
            assert!(
                store
                    .insert_pending_login(&pending("c", now + 600_000), now, 2)
                    .await
                    .unwrap(),
                "{}",
                test.name
            );
            // The expired one goes at the next purge.
            assert_eq!(store.purge_expired(now).await.unwrap(), 1, "{}", test.name);
            assert_eq!(store.pending_logins(0).await.unwrap(), 2, "{}", test.name);
            test.cleanup().await;
        }
    }
}
