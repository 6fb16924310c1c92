//! Secrets at rest: AES-256-GCM under a master key the hub never stores beside the data.
//!
//! The master key comes from `AGENTHUB_SECRET_KEY` (32 bytes, base64 or hex). A second key in
//! `AGENTHUB_SECRET_KEY_PREVIOUS` is still accepted for reading, so a key can be rotated without
//! downtime: deploy with the new key and the previous one, run `agenthub secrets rotate-key`,
//! then drop the previous key. With neither set, the embedded default generates a key file in
//! the data directory on first start.
//!
//! Each ciphertext is bound to its secret's name (as associated data), so swapping two rows in
//! the database makes both undecryptable instead of silently exchanging them.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::model::{Millis, SealedSecret, SecretMeta};

pub const KEY_ENV: &str = "AGENTHUB_SECRET_KEY";
pub const PREVIOUS_KEY_ENV: &str = "AGENTHUB_SECRET_KEY_PREVIOUS";
const KEY_FILE: &str = "secret.key";

/// A reference to a stored secret in configuration or API input: `secret:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef(String);

impl SecretRef {
    /// Parses `secret:NAME`; `None` when `value` is not a reference.
    pub fn parse(value: &str) -> Option<Result<Self, String>> {
        let name = value.strip_prefix("secret:")?;
        Some(validate_name(name).map(|()| Self(name.to_owned())))
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

/// Secret names: 1–128 of `[A-Za-z0-9._-]`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid secret name \"{name}\": use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ))
    }
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0}")]
    BadKey(String),
    #[error(
        "secret \"{name}\" is sealed under key {key_id}, which is not loaded (set {PREVIOUS_KEY_ENV} to it, or restore the right {KEY_ENV})"
    )]
    UnknownKey { name: String, key_id: String },
    #[error("secret \"{0}\" cannot be decrypted: wrong key or tampered data")]
    Corrupt(String),
    #[error("cannot use the key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One AES-256 master key.
pub struct MasterKey {
    key: LessSafeKey,
    id: String,
    raw: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn from_bytes(raw: [u8; 32]) -> Self {
        let key =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw).expect("32-byte AES-256 key"));
        let digest = ring::digest::digest(&ring::digest::SHA256, &raw);
        let id = hex(&digest.as_ref()[..8]);
        Self { key, id, raw }
    }

    /// Parses 32 bytes written as base64 (standard or URL-safe) or 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect()
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .unwrap_or_default()
        };
        let raw: [u8; 32] = bytes.try_into().map_err(|_| {
            SecretError::BadKey(
                "a secret key must be 32 bytes written as base64 or 64 hex digits (generate one with `openssl rand -base64 32`)"
                    .into(),
            )
        })?;
        Ok(Self::from_bytes(raw))
    }

    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        SystemRandom::new()
            .fill(&mut raw)
            .expect("system random source");
        Self::from_bytes(raw)
    }

    /// A short fingerprint stored beside each ciphertext; not secret.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.raw)
    }

    fn seal(&self, name: &str, plaintext: &[u8]) -> (String, String) {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("system random source");
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(name), &mut buffer)
            .expect("AES-GCM sealing of an in-memory buffer");
        (STANDARD.encode(nonce), STANDARD.encode(buffer))
    }

    fn open(&self, name: &str, nonce: &str, ciphertext: &str) -> Result<Vec<u8>, SecretError> {
        let corrupt = || SecretError::Corrupt(name.to_owned());
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(corrupt)?;
        let mut buffer = STANDARD.decode(ciphertext).map_err(|_| corrupt())?;
        let plaintext = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), aad(name), &mut buffer)
            .map_err(|_| corrupt())?;
        Ok(plaintext.to_vec())
    }
}

fn aad(name: &str) -> Aad<Vec<u8>> {
    Aad::from(format!("agenthub-secret:v1:{name}").into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The current master key, and the previous one during a rotation.
#[derive(Debug)]
pub struct Keyring {
    current: MasterKey,
    previous: Option<MasterKey>,
    /// Where the current key came from, for messages.
    pub origin: KeyOrigin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Env,
    File(PathBuf),
    /// Created in this process (first start of the embedded default).
    GeneratedFile(PathBuf),
}

impl Keyring {
    pub fn new(current: MasterKey, previous: Option<MasterKey>, origin: KeyOrigin) -> Self {
        Self {
            current,
            previous,
            origin,
        }
    }

    /// Loads the keys from the environment, else from `data_dir/secret.key`, creating that
    /// file (mode 0600) when `create` is set and it does not exist.
    pub fn load(
        env: &dyn Fn(&str) -> Option<String>,
        data_dir: &Path,
        create: bool,
    ) -> Result<Self, SecretError> {
        let previous = env(PREVIOUS_KEY_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| MasterKey::parse(&v))
            .transpose()?;
        if let Some(text) = env(KEY_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::new(
                MasterKey::parse(&text)?,
                previous,
                KeyOrigin::Env,
            ));
        }
        let path = data_dir.join(KEY_FILE);
        let file_err = |source| SecretError::KeyFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Self::new(
                MasterKey::parse(&text)?,
                previous,
                KeyOrigin::File(path),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key = MasterKey::generate();
                write_key_file(&path, &key).map_err(file_err)?;
                Ok(Self::new(key, previous, KeyOrigin::GeneratedFile(path)))
            }
            Err(e) => Err(file_err(e)),
        }
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    pub fn seal(
        &self,
        name: &str,
        description: Option<String>,
        value: &[u8],
        created_at: Millis,
        now: Millis,
    ) -> SealedSecret {
        let (nonce, ciphertext) = self.current.seal(name, value);
        SealedSecret {
            meta: SecretMeta {
                name: name.to_owned(),
                description,
                key_id: self.current.id.clone(),
                created_at,
                updated_at: now,
            },
            nonce,
            ciphertext,
        }
    }

    pub fn open(&self, sealed: &SealedSecret) -> Result<Vec<u8>, SecretError> {
        let name = &sealed.meta.name;
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == sealed.meta.key_id)
            .ok_or_else(|| SecretError::UnknownKey {
                name: name.clone(),
                key_id: sealed.meta.key_id.clone(),
            })?;
        key.open(name, &sealed.nonce, &sealed.ciphertext)
    }

    /// Re-seals `sealed` under the current key (a no-op copy when it already is).
    pub fn reseal(&self, sealed: SealedSecret) -> Result<SealedSecret, SecretError> {
        if sealed.meta.key_id == self.current.id {
            return Ok(sealed);
        }
        let plaintext = self.open(&sealed)?;
        let (nonce, ciphertext) = self.current.seal(&sealed.meta.name, &plaintext);
        Ok(SealedSecret {
            meta: SecretMeta {
                key_id: self.current.id.clone(),
                ..sealed.meta
            },
            nonce,
            ciphertext,
        })
    }
}

/// A value sealed under a master key and bound to a name that is not stored with it (the
/// record it belongs to, e.g. a user's OAuth grant for a server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: String,
    pub ciphertext: String,
}

impl Keyring {
    /// Seals `value` under the current key, bound to `name`. Names of such values contain a
    /// `:`, which secret names cannot, so neither can be opened as the other.
    pub fn seal_value(&self, name: &str, value: &[u8]) -> Sealed {
        let (nonce, ciphertext) = self.current.seal(name, value);
        Sealed {
            key_id: self.current.id.clone(),
            nonce,
            ciphertext,
        }
    }

    pub fn open_value(&self, name: &str, sealed: &Sealed) -> Result<Vec<u8>, SecretError> {
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| SecretError::UnknownKey {
                name: name.to_owned(),
                key_id: sealed.key_id.clone(),
            })?;
        key.open(name, &sealed.nonce, &sealed.ciphertext)
    }

    /// Re-seals `sealed` under the current key (unchanged when it already is).
    pub fn reseal_value(&self, name: &str, sealed: Sealed) -> Result<Sealed, SecretError> {
        if sealed.key_id == self.current.id {
            return Ok(sealed);
        }
        let plaintext = self.open_value(name, &sealed)?;
        Ok(self.seal_value(name, &plaintext))
    }
}

/// Writes a key file readable by its owner only, atomically.
pub fn write_key_file(path: &Path, key: &MasterKey) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(key.to_base64().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(MasterKey::generate(), None, KeyOrigin::Env)
    }

    #[test]
    fn seal_and_open() {
        let keys = ring();
        let sealed = keys.seal("openai-prod", None, b"sk-live-123", 1, 1);
        assert!(!sealed.ciphertext.contains("sk-live"));
        assert_eq!(sealed.meta.key_id, keys.current().id());
        assert_eq!(keys.open(&sealed).unwrap(), b"sk-live-123");
    }

    #[test]
    fn ciphertext_is_bound_to_its_name() {
        let keys = ring();
        let mut sealed = keys.seal("a", None, b"value", 1, 1);
        sealed.meta.name = "b".into();
        assert!(matches!(keys.open(&sealed), Err(SecretError::Corrupt(_))));
    }

    #[test]
    fn tampering_is_detected() {
        let keys = ring();
        let mut sealed = keys.seal("a", None, b"value", 1, 1);
        let mut raw = STANDARD.decode(&sealed.ciphertext).unwrap();
        raw[0] ^= 1;
        sealed.ciphertext = STANDARD.encode(raw);
        assert!(matches!(keys.open(&sealed), Err(SecretError::Corrupt(_))));
    }

    #[test]
    fn rotation_reads_with_previous_and_reseals_with_current() {
        let old = MasterKey::generate();
        let old_text = old.to_base64();
        let sealed = Keyring::new(old, None, KeyOrigin::Env).seal("s", None, b"v", 1, 1);
        let new = MasterKey::generate();
        let new_id = new.id().to_owned();
        let rotating = Keyring::new(
            new,
            Some(MasterKey::parse(&old_text).unwrap()),
            KeyOrigin::Env,
        );
        assert_eq!(rotating.open(&sealed).unwrap(), b"v");
        let resealed = rotating.reseal(sealed).unwrap();
        assert_eq!(resealed.meta.key_id, new_id);
        let after = Keyring::new(
            MasterKey::parse(&rotating.current().to_base64()).unwrap(),
            None,
            KeyOrigin::Env,
        );
        assert_eq!(after.open(&resealed).unwrap(), b"v");
        let err = Keyring::new(MasterKey::generate(), None, KeyOrigin::Env)
            .open(&resealed)
            .unwrap_err();
        assert!(err.to_string().contains(&new_id), "{err}");
    }

    #[test]
    fn values_are_sealed_bound_to_their_name_and_resealed() {
        let old = MasterKey::generate();
        let old_text = old.to_base64();
        let keys = Keyring::new(old, None, KeyOrigin::Env);
        let sealed = keys.seal_value("mcp-grant:crm:u1", b"rt-123");
        assert!(!sealed.ciphertext.contains("rt-123"));
        assert_eq!(
            keys.open_value("mcp-grant:crm:u1", &sealed).unwrap(),
            b"rt-123"
        );
        assert!(matches!(
            keys.open_value("mcp-grant:crm:u2", &sealed),
            Err(SecretError::Corrupt(_))
        ));
        let rotating = Keyring::new(
            MasterKey::generate(),
            Some(MasterKey::parse(&old_text).unwrap()),
            KeyOrigin::Env,
        );
        let resealed = rotating.reseal_value("mcp-grant:crm:u1", sealed).unwrap();
        assert_eq!(resealed.key_id, rotating.current().id());
        assert_eq!(
            rotating.open_value("mcp-grant:crm:u1", &resealed).unwrap(),
            b"rt-123"
        );
    }

    #[test]
    fn key_formats() {
        let hex_key = "00".repeat(32);
        assert!(MasterKey::parse(&hex_key).is_ok());
        assert!(MasterKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MasterKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).is_ok());
        let err = MasterKey::parse("too-short").unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let no_env = |_: &str| None;
        let first = Keyring::load(&no_env, dir.path(), true).unwrap();
        assert!(matches!(first.origin, KeyOrigin::GeneratedFile(_)));
        let second = Keyring::load(&no_env, dir.path(), true).unwrap();
        assert!(matches!(second.origin, KeyOrigin::File(_)));
        assert_eq!(first.current().id(), second.current().id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let env_key = MasterKey::generate().to_base64();
        let env = |name: &str| (name == KEY_ENV).then(|| env_key.clone());
        assert_eq!(
            Keyring::load(&env, dir.path(), true).unwrap().origin,
            KeyOrigin::Env
        );
    }

    #[test]
    fn secret_refs() {
        assert_eq!(
            SecretRef::parse("secret:openai-prod")
                .unwrap()
                .unwrap()
                .name(),
            "openai-prod"
        );
        assert!(SecretRef::parse("plain value").is_none());
        assert!(SecretRef::parse("secret:").unwrap().is_err());
        assert!(SecretRef::parse("secret:a b").unwrap().is_err());
    }
}
