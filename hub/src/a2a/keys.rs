//! The hub's signing keys: made at first use and kept in the store (the private key sealed with
//! the master key), the newest one signing, the retired ones still published in the JWKS until
//! they expire, so signatures made just before a rotation keep verifying.

use std::sync::Arc;
use std::time::Duration;

use agenthub_a2a_bus::signing::{
    GrantKey, GrantKeys, KeySet, SigningAlgorithm, SigningKey, VerifyingKey,
};
use arc_swap::ArcSwap;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::directory::Accounts;
use crate::error::{Error, Result};
use crate::model::{Millis, now_millis};
use crate::store::StoredSigningKey;

/// The keys in force: the one that signs, every published public key, and the delegation
/// grants' MAC keys (derived from the signing keys: the current one's makes grants, a retired
/// one's still reads the grants it made).
pub struct KeysInForce {
    pub signer: SigningKey,
    pub published: KeySet,
    pub grants: GrantKeys,
}

/// The hub's signing keys, loaded (or made) on first use.
pub struct HubKeys {
    accounts: Arc<Accounts>,
    algorithm: SigningAlgorithm,
    /// How long a retired key stays published.
    retention: Duration,
    loaded: OnceCell<ArcSwap<KeysInForce>>,
}

/// The name a signing key is sealed under (a `:`, so it is never a secret's name).
fn sealed_name(kid: &str) -> String {
    format!("a2a-signing-key:{kid}")
}

impl HubKeys {
    pub fn new(accounts: Arc<Accounts>, algorithm: SigningAlgorithm, retention: Duration) -> Self {
        Self {
            accounts,
            algorithm,
            retention,
            loaded: OnceCell::new(),
        }
    }

    /// The keys in force, loading them from the store (and making the first one) on first use.
    pub async fn get(&self) -> Result<Arc<KeysInForce>> {
        let loaded = self
            .loaded
            .get_or_try_init(|| async { self.read_or_make().await.map(ArcSwap::from_pointee) })
            .await?;
        Ok(loaded.load_full())
    }

    /// Reads the keys again (another replica may have rotated them).
    pub async fn reload(&self) -> Result<()> {
        let keys = self.read().await?;
        match (keys, self.loaded.get()) {
            (Some(keys), Some(loaded)) => loaded.store(Arc::new(keys)),
            (Some(keys), None) => {
                let _ = self.loaded.set(ArcSwap::from_pointee(keys));
            }
            (None, _) => {}
        }
        Ok(())
    }

    /// Makes a new signing key; the others stop signing and stay published for the retention
    /// period. Returns the new key's kid.
    pub async fn rotate(&self, algorithm: Option<SigningAlgorithm>) -> Result<String> {
        let kid = self.make(algorithm.unwrap_or(self.algorithm)).await?;
        let now = now_millis();
        let expires_at =
            now.saturating_add(Millis::try_from(self.retention.as_millis()).unwrap_or(Millis::MAX));
        self.accounts
            .store()
            .retire_signing_keys_except(&kid, now, expires_at)
            .await?;
        self.reload().await?;
        tracing::info!(%kid, "A2A signing key rotated");
        Ok(kid)
    }

    async fn read_or_make(&self) -> Result<KeysInForce> {
        if let Some(keys) = self.read().await? {
            return Ok(keys);
        }
        self.make(self.algorithm).await?;
        self.read()
            .await?
            .ok_or_else(|| Error::internal("the signing key just stored cannot be read back"))
    }

    /// The stored keys; `None` when there is none that can sign.
    async fn read(&self) -> Result<Option<KeysInForce>> {
        let rows = self
            .accounts
            .store()
            .load_signing_keys(now_millis())
            .await?;
        let Some(current) = rows.iter().find(|r| r.retired_at.is_none()) else {
            return Ok(None);
        };
        let pkcs8 = match self.open(current) {
            Ok(pkcs8) => pkcs8,
            Err(e) => {
                // The master key it was sealed under is gone: a new key replaces it.
                tracing::warn!(kid = %current.kid, error = %e, "the A2A signing key cannot be opened");
                return Ok(None);
            }
        };
        let signer = SigningKey::from_pkcs8(&pkcs8).map_err(Error::internal)?;
        let previous = rows.iter().filter(|r| r.kid != current.kid);
        let published = KeySet::new(
            &signer,
            previous.clone().filter_map(|r| match VerifyingKey::from_jwk(&r.public_jwk) {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!(kid = %r.kid, error = %e, "a stored public signing key is unusable");
                    None
                }
            }),
        );
        // A retired key that cannot be opened only costs the grants it made.
        let grants = GrantKeys::new(
            GrantKey::derive(&signer),
            previous.filter_map(|r| {
                let key = self
                    .open(r)
                    .map_err(|e| e.to_string())
                    .and_then(|key| SigningKey::from_pkcs8(&key).map_err(|e| e.to_string()));
                match key {
                    Ok(key) => Some(GrantKey::derive(&key)),
                    Err(e) => {
                        tracing::warn!(kid = %r.kid, error = %e, "a retired signing key cannot be opened: the grants it made are refused");
                        None
                    }
                }
            }),
        );
        Ok(Some(KeysInForce {
            signer,
            published,
            grants,
        }))
    }

    /// A stored key's PKCS#8 document.
    fn open(
        &self,
        row: &StoredSigningKey,
    ) -> std::result::Result<Vec<u8>, crate::secrets::SecretError> {
        self.accounts
            .keyring()
            .open_value(&sealed_name(&row.kid), &row.sealed)
    }

    async fn make(&self, algorithm: SigningAlgorithm) -> Result<String> {
        let key = SigningKey::generate(algorithm).map_err(Error::internal)?;
        let kid = key.kid().to_owned();
        let sealed = self
            .accounts
            .keyring()
            .seal_value(&sealed_name(&kid), key.to_pkcs8());
        self.accounts
            .store()
            .insert_signing_key(&StoredSigningKey {
                kid: kid.clone(),
                algorithm: algorithm.jws_name().to_owned(),
                public_jwk: key.public_jwk(),
                sealed,
                created_at: now_millis(),
                retired_at: None,
                expires_at: None,
            })
            .await?;
        tracing::info!(%kid, algorithm = algorithm.jws_name(), "A2A signing key made");
        Ok(kid)
    }

    /// The published keys as a JWKS document.
    pub async fn jwks(&self) -> Result<Value> {
        Ok(self.get().await?.published.to_jwks())
    }
}

/// Re-seals a stored signing key under the current master key (`secrets rotate-key`).
pub fn reseal(
    keyring: &crate::secrets::Keyring,
    kid: &str,
    sealed: crate::secrets::Sealed,
) -> std::result::Result<crate::secrets::Sealed, crate::secrets::SecretError> {
    keyring.reseal_value(&sealed_name(kid), sealed)
}
