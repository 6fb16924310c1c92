//! The SQL, one function per operation. Rows are turned into core records here and nowhere else.

use std::sync::atomic::AtomicI64;

use agenthub_policy::Scopes;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, classify};
use crate::error::{Error, Result};
use crate::model::{
    ApiKey, Membership, Millis, Principal, PrincipalKind, SealedSecret, SecretMeta, Team,
};

/// Everything the in-memory directory is built from.
#[derive(Debug, Default)]
pub struct DirectoryRows {
    pub principals: Vec<Principal>,
    pub teams: Vec<Team>,
    pub memberships: Vec<Membership>,
    pub keys: Vec<ApiKey>,
    pub secrets: Vec<SealedSecret>,
    /// Login sessions that have not expired.
    pub sessions: Vec<crate::model::Session>,
}

/// Changes to a key; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub scopes: Option<Scopes>,
    pub expires_at: Option<Option<Millis>>,
    pub revoke: bool,
}

/// Fields of a principal that an update may change; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct PrincipalPatch {
    pub email: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub role: Option<agenthub_policy::GlobalRole>,
    pub disabled: Option<bool>,
}

fn corrupt(what: &str, value: &str) -> Error {
    Error::internal(format!("corrupt {what} in the store: {value:?}"))
}

fn principal_from(row: &AnyRow) -> Result<Principal> {
    let kind: String = row.try_get("kind").map_err(classify)?;
    let role: String = row.try_get("role").map_err(classify)?;
    Ok(Principal {
        id: row.try_get("id").map_err(classify)?,
        kind: PrincipalKind::parse(&kind).ok_or_else(|| corrupt("principal kind", &kind))?,
        name: row.try_get("name").map_err(classify)?,
        email: row.try_get("email").map_err(classify)?,
        display_name: row.try_get("display_name").map_err(classify)?,
        description: row.try_get("description").map_err(classify)?,
        role: role.parse().map_err(|_| corrupt("role", &role))?,
        disabled_at: row.try_get("disabled_at").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        updated_at: row.try_get("updated_at").map_err(classify)?,
    })
}

fn team_from(row: &AnyRow) -> Result<Team> {
    Ok(Team {
        id: row.try_get("id").map_err(classify)?,
        name: row.try_get("name").map_err(classify)?,
        description: row.try_get("description").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        updated_at: row.try_get("updated_at").map_err(classify)?,
    })
}

fn membership_from(row: &AnyRow) -> Result<Membership> {
    let role: String = row.try_get("role").map_err(classify)?;
    Ok(Membership {
        team_id: row.try_get("team_id").map_err(classify)?,
        principal_id: row.try_get("principal_id").map_err(classify)?,
        role: role.parse().map_err(|_| corrupt("team role", &role))?,
        created_at: row.try_get("created_at").map_err(classify)?,
    })
}

fn key_from(row: &AnyRow) -> Result<ApiKey> {
    let scopes: String = row.try_get("scopes").map_err(classify)?;
    let names: Vec<String> =
        serde_json::from_str(&scopes).map_err(|_| corrupt("scopes", &scopes))?;
    let last_used: Option<Millis> = row.try_get("last_used_at").map_err(classify)?;
    Ok(ApiKey {
        id: row.try_get("id").map_err(classify)?,
        name: row.try_get("name").map_err(classify)?,
        prefix: row.try_get("prefix").map_err(classify)?,
        hash: row.try_get("hash").map_err(classify)?,
        principal_id: row.try_get("principal_id").map_err(classify)?,
        team_id: row.try_get("team_id").map_err(classify)?,
        scopes: Scopes::parse(&names).map_err(|_| corrupt("scopes", &scopes))?,
        expires_at: row.try_get("expires_at").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        last_used_at: AtomicI64::new(last_used.unwrap_or(0)),
        revoked_at: row.try_get("revoked_at").map_err(classify)?,
    })
}

fn secret_from(row: &AnyRow) -> Result<SealedSecret> {
    Ok(SealedSecret {
        meta: SecretMeta {
            name: row.try_get("name").map_err(classify)?,
            description: row.try_get("description").map_err(classify)?,
            key_id: row.try_get("key_id").map_err(classify)?,
            created_at: row.try_get("created_at").map_err(classify)?,
            updated_at: row.try_get("updated_at").map_err(classify)?,
        },
        nonce: row.try_get("nonce").map_err(classify)?,
        ciphertext: row.try_get("ciphertext").map_err(classify)?,
    })
}

fn scopes_json(scopes: &Scopes) -> String {
    serde_json::to_string(&scopes.names()).unwrap_or_else(|_| "[]".into())
}

/// Fails with `NotFound` when an update or delete touched no row.
fn expect_one(rows: u64, what: &str) -> Result<()> {
    if rows == 0 {
        Err(Error::not_found(what))
    } else {
        Ok(())
    }
}

impl Store {
    /// Reads everything the directory holds, in id (= creation) order.
    pub async fn load_directory(&self) -> Result<DirectoryRows> {
        Ok(DirectoryRows {
            principals: self
                .fetch_all("SELECT * FROM principals ORDER BY id", principal_from)
                .await?,
            teams: self
                .fetch_all("SELECT * FROM teams ORDER BY id", team_from)
                .await?,
            memberships: self
                .fetch_all(
                    "SELECT * FROM memberships ORDER BY team_id, principal_id",
                    membership_from,
                )
                .await?,
            keys: self
                .fetch_all("SELECT * FROM api_keys ORDER BY id", key_from)
                .await?,
            secrets: self
                .fetch_all("SELECT * FROM secrets ORDER BY name", secret_from)
                .await?,
            sessions: self.live_sessions(crate::model::now_millis()).await?,
        })
    }

    /// Every row of a parameterless query, each turned into a record by `from`.
    async fn fetch_all<T>(
        &self,
        sql: &'static str,
        from: fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter().map(from).collect()
    }

    pub async fn insert_principal(&self, p: &Principal) -> Result<()> {
        sqlx::query(
            "INSERT INTO principals (id, kind, name, email, display_name, description, role, disabled_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&p.id)
        .bind(p.kind.as_str())
        .bind(&p.name)
        .bind(&p.email)
        .bind(&p.display_name)
        .bind(&p.description)
        .bind(p.role.as_str())
        .bind(p.disabled_at)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| name_taken(e, "a user or service account", &p.name))?;
        Ok(())
    }

    /// Applies a patch column by column and returns the stored row. Only the fields the patch
    /// names change, so a replica with a stale snapshot cannot undo another replica's change
    /// (re-enable a user someone just disabled, say).
    pub async fn patch_principal(
        &self,
        id: &str,
        patch: &PrincipalPatch,
        now: Millis,
    ) -> Result<Principal> {
        let set = |given: bool| i64::from(given);
        let disabled = patch.disabled.map_or(-1, i64::from);
        let done = sqlx::query(
            "UPDATE principals SET
                 email = CASE WHEN $1 = 1 THEN $2 ELSE email END,
                 display_name = CASE WHEN $3 = 1 THEN $4 ELSE display_name END,
                 description = CASE WHEN $5 = 1 THEN $6 ELSE description END,
                 role = COALESCE($7, role),
                 disabled_at = CASE WHEN $8 = 1 THEN COALESCE(disabled_at, $9) WHEN $8 = 0 THEN NULL ELSE disabled_at END,
                 updated_at = $9
             WHERE id = $10",
        )
        .bind(set(patch.email.is_some()))
        .bind(patch.email.clone().flatten())
        .bind(set(patch.display_name.is_some()))
        .bind(patch.display_name.clone().flatten())
        .bind(set(patch.description.is_some()))
        .bind(patch.description.clone().flatten())
        .bind(patch.role.map(|r| r.as_str()))
        .bind(disabled)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        expect_one(done.rows_affected(), "principal")?;
        let row = sqlx::query("SELECT * FROM principals WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        principal_from(&row)
    }

    pub async fn delete_principal(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM principals WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        expect_one(done.rows_affected(), "principal")
    }

    pub async fn insert_team(&self, t: &Team) -> Result<()> {
        sqlx::query("INSERT INTO teams (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.description)
            .bind(t.created_at)
            .bind(t.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|e| name_taken(e, "a team", &t.name))?;
        Ok(())
    }

    pub async fn update_team(&self, t: &Team) -> Result<()> {
        let done = sqlx::query("UPDATE teams SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(&t.description)
            .bind(t.updated_at)
            .bind(&t.id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        expect_one(done.rows_affected(), "team")
    }

    pub async fn delete_team(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        expect_one(done.rows_affected(), "team")
    }

    /// Adds a member or changes their role.
    pub async fn upsert_membership(&self, m: &Membership) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (team_id, principal_id, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (team_id, principal_id) DO UPDATE SET role = excluded.role, managed_by = NULL",
        )
        .bind(&m.team_id)
        .bind(&m.principal_id)
        .bind(m.role.as_str())
        .bind(m.created_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    pub async fn delete_membership(&self, team_id: &str, principal_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM memberships WHERE team_id = $1 AND principal_id = $2")
            .bind(team_id)
            .bind(principal_id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        expect_one(done.rows_affected(), "membership")
    }

    pub async fn insert_key(&self, k: &ApiKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, hash, principal_id, team_id, scopes, expires_at, created_at, last_used_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&k.id)
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(&k.hash)
        .bind(&k.principal_id)
        .bind(&k.team_id)
        .bind(scopes_json(&k.scopes))
        .bind(k.expires_at)
        .bind(k.created_at)
        .bind(k.last_used())
        .bind(k.revoked_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Applies a patch column by column and returns the stored row. Revocation is sticky: no
    /// write, from any replica, brings a revoked key back.
    pub async fn patch_key(&self, id: &str, patch: &KeyPatch, now: Millis) -> Result<ApiKey> {
        let done = sqlx::query(
            "UPDATE api_keys SET
                 name = COALESCE($1, name),
                 scopes = COALESCE($2, scopes),
                 expires_at = CASE WHEN $3 = 1 THEN $4 ELSE expires_at END,
                 revoked_at = COALESCE(revoked_at, $5)
             WHERE id = $6",
        )
        .bind(patch.name.clone())
        .bind(patch.scopes.as_ref().map(scopes_json))
        .bind(i64::from(patch.expires_at.is_some()))
        .bind(patch.expires_at.flatten())
        .bind(patch.revoke.then_some(now))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        expect_one(done.rows_affected(), "key")?;
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        key_from(&row)
    }

    pub async fn delete_key(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        expect_one(done.rows_affected(), "key")
    }

    /// Records last-use times in one transaction; never moves a time backwards.
    pub async fn touch_keys(&self, uses: &[(String, Millis)]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        for (id, at) in uses {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
                .bind(*at)
                .bind(id)
                .bind(*at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    /// Inserts a new secret; `Conflict` if the name is taken.
    pub async fn insert_secret(&self, s: &SealedSecret) -> Result<()> {
        sqlx::query(
            "INSERT INTO secrets (name, description, key_id, nonce, ciphertext, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.meta.name)
        .bind(&s.meta.description)
        .bind(&s.meta.key_id)
        .bind(&s.nonce)
        .bind(&s.ciphertext)
        .bind(s.meta.created_at)
        .bind(s.meta.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| name_taken(e, "a secret", &s.meta.name))?;
        Ok(())
    }

    /// Inserts or replaces a secret.
    pub async fn upsert_secret(&self, s: &SealedSecret) -> Result<()> {
        sqlx::query(
            "INSERT INTO secrets (name, description, key_id, nonce, ciphertext, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, key_id = excluded.key_id,
                 nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        )
        .bind(&s.meta.name)
        .bind(&s.meta.description)
        .bind(&s.meta.key_id)
        .bind(&s.nonce)
        .bind(&s.ciphertext)
        .bind(s.meta.created_at)
        .bind(s.meta.updated_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    pub async fn delete_secret(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        expect_one(done.rows_affected(), "secret")
    }

    /// Re-seals every secret in one transaction: all rows change, or none.
    pub async fn reseal_secrets(
        &self,
        mut reseal: impl FnMut(SealedSecret) -> Result<SealedSecret>,
    ) -> Result<usize> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let rows = sqlx::query("SELECT * FROM secrets ORDER BY name")
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        let count = rows.len();
        for row in rows {
            let sealed = reseal(secret_from(&row)?)?;
            sqlx::query(
                "UPDATE secrets SET key_id = $1, nonce = $2, ciphertext = $3 WHERE name = $4",
            )
            .bind(&sealed.meta.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(&sealed.meta.name)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(count)
    }

    pub async fn meta(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM hub_meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|r| r.try_get("value").map_err(classify))
            .transpose()
    }

    /// `name`'s value, set to `value` first if it had none: the first writer wins, so that
    /// replicas starting together agree.
    pub async fn meta_or_insert(&self, name: &str, value: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO hub_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(self.meta(name).await?.unwrap_or_else(|| value.to_owned()))
    }

    pub async fn set_meta(&self, name: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO hub_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn name_taken(e: sqlx::Error, what: &str, name: &str) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::conflict(format!("{what} named \"{name}\" already exists")).with_cause(e)
        }
        _ => classify(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::model::{new_id, now_millis};
    use agenthub_policy::{GlobalRole, TeamRole};

    fn principal(name: &str) -> Principal {
        let now = now_millis();
        Principal {
            id: new_id(),
            kind: PrincipalKind::User,
            name: name.into(),
            email: Some(format!("{name}@example.com")),
            display_name: None,
            description: None,
            role: GlobalRole::Member,
            disabled_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[tokio::test]
    async fn round_trip_on_every_backend() {
        for t in testing::all().await {
            let store = &t.store;
            let alice = principal("alice");
            store.insert_principal(&alice).await.unwrap();
            let dup = store
                .insert_principal(&principal("alice"))
                .await
                .unwrap_err();
            assert_eq!(
                dup.kind(),
                agenthub_policy::ErrorKind::Conflict,
                "{}",
                t.name
            );
            assert!(dup.message().contains("\"alice\""), "{}: {dup}", t.name);

            let team = Team {
                id: new_id(),
                name: "ml".into(),
                description: None,
                created_at: 1,
                updated_at: 1,
            };
            store.insert_team(&team).await.unwrap();
            let m = Membership {
                team_id: team.id.clone(),
                principal_id: alice.id.clone(),
                role: TeamRole::Member,
                created_at: 1,
            };
            store.upsert_membership(&m).await.unwrap();
            store
                .upsert_membership(&Membership {
                    role: TeamRole::Owner,
                    ..m.clone()
                })
                .await
                .unwrap();

            let key = ApiKey {
                id: new_id(),
                name: "ci".into(),
                prefix: "ahk_abc".into(),
                hash: "h1".into(),
                principal_id: alice.id.clone(),
                team_id: Some(team.id.clone()),
                scopes: Scopes::parse(["llm", "admin:read"]).unwrap(),
                expires_at: Some(99),
                created_at: 1,
                last_used_at: AtomicI64::new(0),
                revoked_at: None,
            };
            store.insert_key(&key).await.unwrap();
            store.touch_keys(&[(key.id.clone(), 50)]).await.unwrap();
            store.touch_keys(&[(key.id.clone(), 40)]).await.unwrap();

            let rows = store.load_directory().await.unwrap();
            assert_eq!(rows.principals, vec![alice.clone()], "{}", t.name);
            assert_eq!(rows.memberships[0].role, TeamRole::Owner, "{}", t.name);
            assert_eq!(rows.keys[0].scopes, key.scopes, "{}", t.name);
            assert_eq!(
                rows.keys[0].last_used(),
                Some(50),
                "{}: last use never goes backwards",
                t.name
            );

            // Deleting the team keeps the key but detaches it; deleting the principal removes both.
            store.delete_team(&team.id).await.unwrap();
            let rows = store.load_directory().await.unwrap();
            assert!(
                rows.memberships.is_empty() && rows.keys[0].team_id.is_none(),
                "{}",
                t.name
            );
            store.delete_principal(&alice.id).await.unwrap();
            assert!(
                store.load_directory().await.unwrap().keys.is_empty(),
                "{}",
                t.name
            );
            assert_eq!(
                store.delete_principal(&alice.id).await.unwrap_err().kind(),
                agenthub_policy::ErrorKind::NotFound
            );

            assert_eq!(store.meta("x").await.unwrap(), None);
            store.set_meta("x", "1").await.unwrap();
            store.set_meta("x", "2").await.unwrap();
            assert_eq!(store.meta("x").await.unwrap().as_deref(), Some("2"));
            assert_eq!(store.meta_or_insert("y", "1").await.unwrap(), "1");
            assert_eq!(store.meta_or_insert("y", "2").await.unwrap(), "1");
            t.cleanup().await;
        }
    }
}
