//! The SQL of users' OAuth grants to upstream MCP servers that act for each user, of the consent
//! links handed to them, and of the consents under way. Tokens and verifiers arrive sealed: the
//! store never sees them in plaintext. Tickets and states are stored as hashes and taken once.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, classify};
use crate::error::Result;
use crate::model::Millis;
use crate::secrets::Sealed;

/// A user's grant for a server, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct McpGrantRow {
    pub server: String,
    pub principal_id: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The tokens, sealed.
    pub sealed: Sealed,
    pub version: i64,
    /// When the user granted access.
    pub created_at: Millis,
    /// When the tokens were last renewed (or granted).
    pub updated_at: Millis,
}

/// A consent link's ticket: who it is for, and for which server.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentTicket {
    pub server: String,
    pub principal_id: String,
    pub expires_at: Millis,
}

/// A consent under way at the authorization server, keyed by the hash of its state.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingConsent {
    pub state_hash: String,
    pub server: String,
    pub principal_id: String,
    /// The PKCE verifier, sealed.
    pub verifier: Sealed,
    pub expires_at: Millis,
}

fn sealed_from(row: &AnyRow) -> Result<Sealed> {
    Ok(Sealed {
        key_id: row.try_get("key_id").map_err(classify)?,
        nonce: row.try_get("nonce").map_err(classify)?,
        ciphertext: row.try_get("ciphertext").map_err(classify)?,
    })
}

fn grant_from(row: &AnyRow) -> Result<McpGrantRow> {
    Ok(McpGrantRow {
        server: row.try_get("server").map_err(classify)?,
        principal_id: row.try_get("principal_id").map_err(classify)?,
        scope: row.try_get("scope").map_err(classify)?,
        sealed: sealed_from(row)?,
        version: row.try_get("version").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        updated_at: row.try_get("updated_at").map_err(classify)?,
    })
}

/// The ticket of `row`, unless there is none or it has expired.
fn live_ticket(row: Option<AnyRow>, now: Millis) -> Result<Option<ConsentTicket>> {
    let Some(row) = row else { return Ok(None) };
    let ticket = ConsentTicket {
        server: row.try_get("server").map_err(classify)?,
        principal_id: row.try_get("principal_id").map_err(classify)?,
        expires_at: row.try_get("expires_at").map_err(classify)?,
    };
    Ok((ticket.expires_at > now).then_some(ticket))
}

impl Store {
    /// Stores a user's grant from a new consent, replacing the one they had for the server;
    /// its version.
    pub async fn put_mcp_grant(
        &self,
        server: &str,
        principal_id: &str,
        scope: &str,
        sealed: &Sealed,
        now: Millis,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO mcp_grants (server, principal_id, scope, key_id, nonce, ciphertext, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)
             ON CONFLICT (server, principal_id) DO UPDATE SET scope = excluded.scope,
                 key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                 version = mcp_grants.version + 1, created_at = excluded.created_at,
                 updated_at = excluded.updated_at
             RETURNING version",
        )
        .bind(server)
        .bind(principal_id)
        .bind(scope)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?
        .try_get("version")
        .map_err(classify)
    }

    pub async fn mcp_grant(&self, server: &str, principal_id: &str) -> Result<Option<McpGrantRow>> {
        sqlx::query("SELECT * FROM mcp_grants WHERE server = $1 AND principal_id = $2")
            .bind(server)
            .bind(principal_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .as_ref()
            .map(grant_from)
            .transpose()
    }

    /// Replaces the tokens of the grant at `version` (after a refresh); the new version, or
    /// `None` when the grant changed or went away meanwhile.
    pub async fn update_mcp_grant(
        &self,
        server: &str,
        principal_id: &str,
        version: i64,
        scope: &str,
        sealed: &Sealed,
        now: Millis,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "UPDATE mcp_grants SET scope = $1, key_id = $2, nonce = $3, ciphertext = $4,
                 version = version + 1, updated_at = $5
             WHERE server = $6 AND principal_id = $7 AND version = $8
             RETURNING version",
        )
        .bind(scope)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now)
        .bind(server)
        .bind(principal_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(|r| r.try_get("version").map_err(classify))
            .transpose()
    }

    /// Deletes a user's grant — only at `version` when one is given; whether one went.
    pub async fn delete_mcp_grant(
        &self,
        server: &str,
        principal_id: &str,
        version: Option<i64>,
    ) -> Result<bool> {
        let done = match version {
            Some(version) => sqlx::query(
                "DELETE FROM mcp_grants WHERE server = $1 AND principal_id = $2 AND version = $3",
            )
            .bind(server)
            .bind(principal_id)
            .bind(version),
            None => sqlx::query("DELETE FROM mcp_grants WHERE server = $1 AND principal_id = $2")
                .bind(server)
                .bind(principal_id),
        }
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    /// The principals holding a grant for `server`, oldest grant first.
    pub async fn mcp_grant_holders(&self, server: &str) -> Result<Vec<String>> {
        sqlx::query(
            "SELECT principal_id FROM mcp_grants WHERE server = $1 ORDER BY created_at, principal_id",
        )
        .bind(server)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(|row| row.try_get("principal_id").map_err(classify))
        .collect()
    }

    /// A principal's grants, by server.
    pub async fn mcp_grants_of(&self, principal_id: &str) -> Result<Vec<McpGrantRow>> {
        sqlx::query("SELECT * FROM mcp_grants WHERE principal_id = $1 ORDER BY server")
            .bind(principal_id)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .iter()
            .map(grant_from)
            .collect()
    }

    /// Stores a consent link's ticket unless the principal has `max` live ones already;
    /// whether it was stored. (Concurrent inserts may overshoot `max` by a few.)
    pub async fn insert_consent_ticket(
        &self,
        ticket_hash: &str,
        ticket: &ConsentTicket,
        now: Millis,
        max: u64,
    ) -> Result<bool> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "INSERT INTO mcp_consent_tickets (ticket_hash, server, principal_id, expires_at)
             SELECT $1, $2, $3, $4
             WHERE (SELECT COUNT(*) FROM mcp_consent_tickets WHERE principal_id = $5 AND expires_at > $6) < $7",
        )
        .bind(ticket_hash)
        .bind(&ticket.server)
        .bind(&ticket.principal_id)
        .bind(ticket.expires_at)
        .bind(&ticket.principal_id)
        .bind(now)
        .bind(max)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// The ticket with this hash, if it has not expired, without using it up.
    pub async fn peek_consent_ticket(
        &self,
        ticket_hash: &str,
        now: Millis,
    ) -> Result<Option<ConsentTicket>> {
        let row = sqlx::query("SELECT * FROM mcp_consent_tickets WHERE ticket_hash = $1")
            .bind(ticket_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        live_ticket(row, now)
    }

    /// Removes and returns the ticket with this hash, if it has not expired: a ticket works
    /// once.
    pub async fn take_consent_ticket(
        &self,
        ticket_hash: &str,
        now: Millis,
    ) -> Result<Option<ConsentTicket>> {
        let row = self
            .take_row(
                "DELETE FROM mcp_consent_tickets WHERE ticket_hash = $1 RETURNING *",
                ticket_hash,
            )
            .await?;
        live_ticket(row, now)
    }

    pub async fn insert_pending_consent(&self, consent: &PendingConsent) -> Result<()> {
        sqlx::query(
            "INSERT INTO mcp_consents (state_hash, server, principal_id, key_id, nonce, ciphertext, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&consent.state_hash)
        .bind(&consent.server)
        .bind(&consent.principal_id)
        .bind(&consent.verifier.key_id)
        .bind(&consent.verifier.nonce)
        .bind(&consent.verifier.ciphertext)
        .bind(consent.expires_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Removes and returns the consent with this state hash, if it has not expired: a state
    /// works once, so a replayed callback finds nothing.
    pub async fn take_pending_consent(
        &self,
        state_hash: &str,
        now: Millis,
    ) -> Result<Option<PendingConsent>> {
        let row = self
            .take_row(
                "DELETE FROM mcp_consents WHERE state_hash = $1 RETURNING *",
                state_hash,
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let consent = PendingConsent {
            state_hash: row.try_get("state_hash").map_err(classify)?,
            server: row.try_get("server").map_err(classify)?,
            principal_id: row.try_get("principal_id").map_err(classify)?,
            verifier: sealed_from(&row)?,
            expires_at: row.try_get("expires_at").map_err(classify)?,
        };
        Ok((consent.expires_at > now).then_some(consent))
    }

    /// Deletes expired consent tickets and consents; how many rows went.
    pub async fn purge_expired_consents(&self, now: Millis) -> Result<u64> {
        self.delete_expired(
            &[
                "DELETE FROM mcp_consent_tickets WHERE expires_at <= $1",
                "DELETE FROM mcp_consents WHERE expires_at <= $1",
            ],
            now,
        )
        .await
    }

    /// Re-seals every grant in one transaction (a master key rotation); `reseal` gets each
    /// grant's server and principal. Consents under way are short-lived and left as they are.
    pub async fn reseal_mcp_grants(
        &self,
        mut reseal: impl FnMut(&str, &str, Sealed) -> Result<Sealed>,
    ) -> Result<usize> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let rows = sqlx::query("SELECT * FROM mcp_grants ORDER BY server, principal_id")
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        let count = rows.len();
        for row in rows {
            let grant = grant_from(&row)?;
            let sealed = reseal(&grant.server, &grant.principal_id, grant.sealed)?;
            // The version stays: the tokens are the same.
            sqlx::query(
                "UPDATE mcp_grants SET key_id = $1, nonce = $2, ciphertext = $3
                 WHERE server = $4 AND principal_id = $5",
            )
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(&grant.server)
            .bind(&grant.principal_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Principal, PrincipalKind};
    use crate::store::testing;

    fn sealed(text: &str) -> Sealed {
        Sealed {
            key_id: "k1".into(),
            nonce: "n".into(),
            ciphertext: text.into(),
        }
    }

    async fn principal(store: &Store, name: &str) -> String {
        let principal = Principal {
            id: crate::model::new_id(),
            kind: PrincipalKind::User,
            name: name.into(),
            email: None,
            display_name: None,
            description: None,
            role: agenthub_policy::GlobalRole::Member,
            disabled_at: None,
            created_at: 1,
            updated_at: 1,
        };
        store.insert_principal(&principal).await.unwrap();
        principal.id
    }

    /// Versions guard refreshes and deletions; holders come oldest first; a new consent
    /// replaces the grant.
    #[tokio::test]
    async fn grants_are_versioned() {
        for test in testing::all().await {
            let store = &test.store;
            let (alice, bob) = (
                principal(store, "alice").await,
                principal(store, "bob").await,
            );
            let v1 = store
                .put_mcp_grant("crm", &bob, "crm.read", &sealed("b1"), 10)
                .await
                .unwrap();
            assert_eq!(v1, 1, "{}", test.name);
            store
                .put_mcp_grant("crm", &alice, "crm.read", &sealed("a1"), 20)
                .await
                .unwrap();
            assert_eq!(
                store.mcp_grant_holders("crm").await.unwrap(),
                [bob.clone(), alice.clone()],
                "{}",
                test.name
            );
            let v2 = store
                .update_mcp_grant("crm", &bob, v1, "crm.read", &sealed("b2"), 30)
                .await
                .unwrap();
            assert_eq!(v2, Some(2), "{}", test.name);
            // A refresh based on the old read changes nothing.
            let stale = store
                .update_mcp_grant("crm", &bob, v1, "crm.read", &sealed("b3"), 40)
                .await
                .unwrap();
            assert_eq!(stale, None, "{}", test.name);
            let row = store.mcp_grant("crm", &bob).await.unwrap().unwrap();
            assert_eq!(
                (
                    row.sealed.ciphertext.as_str(),
                    row.version,
                    row.created_at,
                    row.updated_at
                ),
                ("b2", 2, 10, 30),
                "{}",
                test.name
            );
            // A new consent replaces the grant and makes a new version.
            let v3 = store
                .put_mcp_grant("crm", &bob, "crm.write", &sealed("b4"), 50)
                .await
                .unwrap();
            assert_eq!(v3, 3, "{}", test.name);
            assert!(
                !store.delete_mcp_grant("crm", &bob, v2).await.unwrap(),
                "{}: a refusal of the old grant leaves the new one",
                test.name
            );
            assert_eq!(store.mcp_grants_of(&bob).await.unwrap().len(), 1);
            assert!(store.delete_mcp_grant("crm", &bob, None).await.unwrap());
            assert!(store.mcp_grant("crm", &bob).await.unwrap().is_none());
            assert_eq!(store.mcp_grant_holders("crm").await.unwrap(), [alice]);
            test.cleanup().await;
        }
    }

    /// A key rotation re-seals every grant and keeps its version.
    #[tokio::test]
    async fn grants_are_resealed_in_place() {
        for test in testing::all().await {
            let store = &test.store;
            let alice = principal(store, "alice").await;
            store
                .put_mcp_grant("crm", &alice, "crm.read", &sealed("old"), 10)
                .await
                .unwrap();
            let count = store
                .reseal_mcp_grants(|server, principal, before| {
                    assert_eq!((server, principal), ("crm", alice.as_str()));
                    assert_eq!(before.ciphertext, "old");
                    Ok(Sealed {
                        key_id: "k2".into(),
                        ..sealed("new")
                    })
                })
                .await
                .unwrap();
            assert_eq!(count, 1, "{}", test.name);
            let row = store.mcp_grant("crm", &alice).await.unwrap().unwrap();
            assert_eq!(
                (
                    row.sealed.key_id.as_str(),
                    row.sealed.ciphertext.as_str(),
                    row.version
                ),
                ("k2", "new", 1),
                "{}",
                test.name
            );
            test.cleanup().await;
        }
    }

    /// Tickets and states work once and expire; tickets are bounded per user.
    #[tokio::test]
    async fn tickets_and_states_are_taken_once() {
        for test in testing::all().await {
            let store = &test.store;
            let alice = principal(store, "alice").await;
            let now: Millis = 1_000_000;
            let ticket = |expires_at| ConsentTicket {
                server: "crm".into(),
                principal_id: alice.clone(),
                expires_at,
            };
            assert!(
                store
                    .insert_consent_ticket("t1", &ticket(now + 600_000), now, 2)
                    .await
                    .unwrap()
            );
            assert!(
                store
                    .insert_consent_ticket("old", &ticket(now - 1), now - 600_000, 2)
                    .await
                    .unwrap()
            );
            assert!(
                store
                    .insert_consent_ticket("t2", &ticket(now + 600_000), now, 2)
                    .await
                    .unwrap()
            );
            assert!(
                !store
                    .insert_consent_ticket("t3", &ticket(now + 600_000), now, 2)
                    .await
                    .unwrap(),
                "{}: a third live ticket is refused",
                test.name
            );
            assert_eq!(
                store.take_consent_ticket("t1", now).await.unwrap(),
                Some(ticket(now + 600_000)),
                "{}",
                test.name
            );
            assert_eq!(store.take_consent_ticket("t1", now).await.unwrap(), None);
            assert_eq!(store.take_consent_ticket("old", now).await.unwrap(), None);

            let pending = |state: &str, expires_at| PendingConsent {
                state_hash: state.into(),
                server: "crm".into(),
                principal_id: alice.clone(),
                verifier: sealed("v"),
                expires_at,
            };
            store
                .insert_pending_consent(&pending("s1", now + 600_000))
                .await
                .unwrap();
            store
                .insert_pending_consent(&pending("s2", now - 1))
                .await
                .unwrap();
            assert_eq!(
                store.take_pending_consent("s1", now).await.unwrap(),
                Some(pending("s1", now + 600_000)),
                "{}",
                test.name
            );
            assert_eq!(store.take_pending_consent("s1", now).await.unwrap(), None);
            store
                .insert_pending_consent(&pending("s3", now - 1))
                .await
                .unwrap();
            // s2 and s3 have expired; t2 is live, and the others were taken.
            assert_eq!(
                store.purge_expired_consents(now).await.unwrap(),
                2,
                "{}",
                test.name
            );
            assert_eq!(store.take_pending_consent("s2", now).await.unwrap(), None);
            test.cleanup().await;
        }
    }
}
