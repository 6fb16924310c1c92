//! Users' OAuth grants to the MCP servers that act for each user, kept in the store: the tokens
//! sealed with the master key and bound to the server and the user, so a row copied to another
//! user or server does not open. The registry reads and renews them through [`Grants`]; a
//! consent (`consent.rs`) makes one, and the user (or whoever manages them) revokes it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agenthub_mcp_registry::user_oauth::{Grant, Grants, StoredGrant};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::directory::Accounts;
use crate::error::{Error, Result};
use crate::model::{Millis, now_millis};
use crate::secrets::{Keyring, Sealed, SecretError};
use crate::store::McpGrantRow;

/// What is sealed: the tokens, until when the access token is used, and the registration they
/// were issued for (sealed with them, so that it cannot be changed in the store).
#[derive(Serialize, Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    usable_until: Millis,
    /// The registration the tokens were issued for (absent in grants stored before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    audience: String,
}

/// The name a grant's tokens are sealed under (it has a `:`, which secret names cannot).
fn sealing_name(server: &str, principal_id: &str) -> String {
    format!("mcp-grant:{server}:{principal_id}")
}

/// Re-seals a stored grant under the current key (`agenthub secrets rotate-key`).
pub fn reseal(
    keyring: &Keyring,
    server: &str,
    principal_id: &str,
    sealed: Sealed,
) -> std::result::Result<Sealed, SecretError> {
    keyring.reseal_value(&sealing_name(server, principal_id), sealed)
}

/// A store error as the registry passes it on (to callers, in the end): its public message;
/// the cause is logged here.
fn public(error: Error) -> String {
    tracing::warn!(error = %error, "cannot use the users' MCP grants in the store");
    error.message().to_owned()
}

fn millis(time: SystemTime) -> Millis {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

/// The grants in the store, sealed with the hub's keyring.
pub struct StoreGrants {
    accounts: Arc<Accounts>,
}

impl StoreGrants {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Self { accounts }
    }

    fn seal(&self, server: &str, principal_id: &str, grant: &Grant) -> Result<Sealed> {
        let tokens = Tokens {
            access_token: grant.access_token.clone(),
            refresh_token: grant.refresh_token.clone(),
            usable_until: millis(grant.usable_until),
            audience: grant.audience.clone(),
        };
        let json = serde_json::to_vec(&tokens).map_err(Error::internal)?;
        Ok(self
            .accounts
            .keyring()
            .seal_value(&sealing_name(server, principal_id), &json))
    }

    /// The grant of `row`; `None` when it cannot be opened (sealed under a key that is not
    /// loaded any more): the user is then asked to consent again, which replaces it.
    fn open(&self, row: McpGrantRow) -> Option<StoredGrant> {
        let name = sealing_name(&row.server, &row.principal_id);
        let tokens = self
            .accounts
            .keyring()
            .open_value(&name, &row.sealed)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Tokens>(&bytes).map_err(|e| e.to_string()));
        match tokens {
            Ok(tokens) => Some(StoredGrant {
                grant: Grant {
                    access_token: tokens.access_token,
                    refresh_token: tokens.refresh_token,
                    usable_until: UNIX_EPOCH
                        + Duration::from_millis(u64::try_from(tokens.usable_until).unwrap_or(0)),
                    scope: row.scope,
                    audience: tokens.audience,
                },
                version: row.version,
            }),
            Err(error) => {
                tracing::warn!(server = %row.server, principal = %row.principal_id, error = %error, "a user's MCP grant cannot be opened; they will be asked to consent again");
                None
            }
        }
    }

    /// Stores the grant a consent made, replacing the user's previous one for the server.
    pub async fn put(&self, server: &str, principal_id: &str, grant: &Grant) -> Result<()> {
        let sealed = self.seal(server, principal_id, grant)?;
        self.accounts
            .store()
            .put_mcp_grant(server, principal_id, &grant.scope, &sealed, now_millis())
            .await?;
        Ok(())
    }
}

impl Grants for StoreGrants {
    fn load<'a>(
        &'a self,
        server: &'a str,
        principal: &'a str,
    ) -> BoxFuture<'a, std::result::Result<Option<StoredGrant>, String>> {
        Box::pin(async move {
            let row = self
                .accounts
                .store()
                .mcp_grant(server, principal)
                .await
                .map_err(public)?;
            Ok(row.and_then(|row| self.open(row)))
        })
    }

    fn update<'a>(
        &'a self,
        server: &'a str,
        principal: &'a str,
        version: i64,
        grant: &'a Grant,
    ) -> BoxFuture<'a, std::result::Result<Option<i64>, String>> {
        Box::pin(async move {
            let sealed = self.seal(server, principal, grant).map_err(public)?;
            self.accounts
                .store()
                .update_mcp_grant(
                    server,
                    principal,
                    version,
                    &grant.scope,
                    &sealed,
                    now_millis(),
                )
                .await
                .map_err(public)
        })
    }

    fn forget<'a>(
        &'a self,
        server: &'a str,
        principal: &'a str,
        version: i64,
    ) -> BoxFuture<'a, std::result::Result<(), String>> {
        Box::pin(async move {
            self.accounts
                .store()
                .delete_mcp_grant(server, principal, Some(version))
                .await
                .map(drop)
                .map_err(public)
        })
    }

    fn holders<'a>(
        &'a self,
        server: &'a str,
    ) -> BoxFuture<'a, std::result::Result<Vec<String>, String>> {
        Box::pin(async move {
            self.accounts
                .store()
                .mcp_grant_holders(server)
                .await
                .map_err(public)
        })
    }
}
