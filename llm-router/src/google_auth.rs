//! Google service-account credentials (Vertex AI): the JSON key file, the JWT assertion signed
//! with its private key, the token endpoint's answer, and the access tokens cached per provider.
//!
//! Google's OAuth 2.0 flow for server-to-server applications: a JWT (RS256, `kid` = the key's
//! `private_key_id`) with `iss` = the account's `client_email`, `scope`, `aud` = the key's
//! `token_uri`, `iat` and `exp` (at most an hour later) is POSTed to `token_uri` as
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`; the answer holds
//! an `access_token` and its `expires_in`, or an OAuth `error` and `error_description`.
//!
//! The HTTP exchange is the engine's; this module has no I/O. Error messages are fragments
//! ("has no client_email") for the engine to prefix with whose key it is, and never quote the
//! secret.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The scope Vertex AI's calls need.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The grant type of a JWT assertion (RFC 7523), form-encoded.
pub const GRANT_TYPE_FORM: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
/// Google accepts assertions that are valid for at most an hour.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// A cached token with less than this left is renewed before use.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Google's access tokens last an hour; assumed when an answer has no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// DER of the rsaEncryption algorithm identifier's OID (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// A service account's JSON key file, as far as the flow needs it.
#[derive(Clone)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key_id: String,
    pub token_uri: String,
    /// The RSA private key as PKCS#1 DER, the form the signer takes.
    rsa_der: Vec<u8>,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// The fields of a key file the flow reads; the others (`project_id`, `client_id`, ...) are
/// ignored. All optional, to name the missing one.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// The claims of the assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

impl ServiceAccountKey {
    /// Reads a JSON key file as Google Cloud issues it.
    pub fn parse(json: &str) -> Result<Self, String> {
        let file: KeyFile = serde_json::from_str(json).map_err(|e| {
            // serde's message may quote a value; the position is enough.
            format!(
                "is not a service account JSON key file (unreadable at line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        if let Some(kind) = file.kind.as_deref()
            && kind != "service_account"
        {
            let shown = if kind.len() <= 40
                && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                format!(" ({kind})")
            } else {
                String::new()
            };
            return Err(format!(
                "holds another kind of Google credential{shown}, not a service account key"
            ));
        }
        let field = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("is not a service account JSON key file (no {name})"))
        };
        let client_email = field(file.client_email, "client_email")?;
        let private_key_id = field(file.private_key_id, "private_key_id")?;
        let token_uri = field(file.token_uri, "token_uri")?;
        let private_key = field(file.private_key, "private_key")?;
        check_token_uri(&token_uri)?;
        Ok(Self {
            client_email,
            private_key_id,
            token_uri,
            rsa_der: rsa_private_key_der(&private_key)?,
        })
    }

    /// The claims of an assertion issued at `now` (Unix seconds).
    pub fn claims(&self, now: u64) -> AssertionClaims {
        AssertionClaims {
            iss: self.client_email.clone(),
            scope: SCOPE.to_owned(),
            aud: self.token_uri.clone(),
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        }
    }

    /// The signed JWT (RS256, `kid` = `private_key_id`) asking `token_uri` for an access token,
    /// issued at `now` (Unix seconds).
    pub fn assertion(&self, now: u64) -> Result<String, String> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.private_key_id.clone());
        let key = jsonwebtoken::EncodingKey::from_rsa_der(&self.rsa_der);
        jsonwebtoken::encode(&header, &self.claims(now), &key)
            .map_err(|e| format!("has a private_key that cannot sign ({e})"))
    }
}

/// `https://…`, or `http://` to this machine (a local emulator): the assertion is a credential
/// for an hour and must not cross a network in clear text.
fn check_token_uri(uri: &str) -> Result<(), String> {
    let parsed = uri.parse::<http::Uri>().ok();
    let host = parsed
        .as_ref()
        .and_then(http::Uri::host)
        .unwrap_or_default();
    let allowed = match parsed.as_ref().and_then(http::Uri::scheme_str) {
        Some("https") => !host.is_empty(),
        Some("http") => matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1"),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "has token_uri {uri:?}, which is not an https URL (http only to this machine)"
        ))
    }
}

/// The PKCS#1 DER of a PEM RSA private key: PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues)
/// or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
fn rsa_private_key_der(pem: &str) -> Result<Vec<u8>, String> {
    const UNREADABLE: &str = "has a private_key that is not a PEM RSA private key";
    if let Some(der) = pem_block(pem, "PRIVATE KEY") {
        let der = der.map_err(|()| UNREADABLE.to_owned())?;
        return pkcs8_rsa_key(&der)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "has a private_key that is not an RSA key".to_owned());
    }
    match pem_block(pem, "RSA PRIVATE KEY") {
        Some(Ok(der)) => Ok(der),
        _ => Err(UNREADABLE.to_owned()),
    }
}

/// The DER inside `-----BEGIN {label}-----` … `-----END {label}-----`; `None` when there is no
/// such block, `Err` when its base64 is broken.
pub fn pem_block(pem: &str, label: &str) -> Option<Result<Vec<u8>, ()>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let Some(length) = pem[start..].find(&end) else {
        return Some(Err(()));
    };
    let body: String = pem[start..start + length]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| ()),
    )
}

/// One DER element: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (length, &rest[count..])
    };
    if rest.len() < length {
        return None;
    }
    let (content, rest) = rest.split_at(length);
    Some((tag, content, rest))
}

/// The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo: `SEQUENCE { INTEGER version,
/// SEQUENCE { OID rsaEncryption, … }, OCTET STRING key, … }`.
fn pkcs8_rsa_key(der: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der_element(der)? else {
        return None;
    };
    let (0x02, _version, rest) = der_element(info)? else {
        return None;
    };
    let (0x30, algorithm, rest) = der_element(rest)? else {
        return None;
    };
    let (0x06, oid, _) = der_element(algorithm)? else {
        return None;
    };
    if oid != RSA_ENCRYPTION_OID {
        return None;
    }
    let (0x04, key, _) = der_element(rest)? else {
        return None;
    };
    Some(key)
}

/// An access token and how long it lasts from when it was asked for.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub lifetime: Duration,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

/// The token endpoint's answer: the access token, or what went wrong (a fragment such as
/// "refused the assertion (400 invalid_grant: Invalid JWT Signature.)").
pub fn read_token_answer(status: u16, body: &[u8]) -> Result<AccessToken, String> {
    if !(200..300).contains(&status) {
        let said = serde_json::from_slice::<TokenError>(body)
            .ok()
            .and_then(|e| {
                let error = printable(e.error?);
                Some(match e.error_description.map(printable) {
                    Some(description) if !description.is_empty() => {
                        format!("{error}: {description}")
                    }
                    _ => error,
                })
            });
        return Err(match said {
            Some(said) => format!("refused the assertion ({status} {said})"),
            None => format!("refused the assertion ({status})"),
        });
    }
    let answer: TokenAnswer = serde_json::from_slice(body)
        .map_err(|_| "answered with something that is not an OAuth token answer".to_owned())?;
    if let Some(kind) = &answer.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err("answered with a token that is not a bearer token".to_owned());
    }
    let token = answer
        .access_token
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| "answered without a usable access_token".to_owned())?;
    Ok(AccessToken {
        token,
        lifetime: answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs),
    })
}

/// At most 200 printable characters of a provider's words.
fn printable(text: String) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Which key a token was minted from: a digest of the whole secret, so that a rotated secret
/// (even one keeping the key id) is never answered with the old key's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyIdentity([u8; 32]);

impl KeyIdentity {
    pub fn of(secret: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }
}

/// Access tokens minted from service-account keys, one per provider.
///
/// A token is reused until less than [`REFRESH_MARGIN`] of it is left, then renewed. One
/// renewal per provider at a time: calls that need a token while one is being fetched wait for
/// that fetch and share its outcome, so a burst of calls costs the token endpoint one request.
/// When a renewal fails but the old token has not expired yet, the old token is used.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    current: Mutex<Option<Cached>>,
    /// Held while fetching; keeps the last failure for the calls that waited on it.
    fetching: tokio::sync::Mutex<Option<Failed>>,
}

#[derive(Clone)]
struct Cached {
    key: KeyIdentity,
    token: Arc<str>,
    expires_at: Instant,
}

struct Failed {
    key: KeyIdentity,
    at: Instant,
    message: String,
}

impl Slot {
    /// The cached token of `key` if more than `margin` of it is left at `now`.
    fn usable(&self, key: KeyIdentity, now: Instant, margin: Duration) -> Option<Arc<str>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|c| c.key == key && c.expires_at > now + margin)
            .map(|c| c.token.clone())
    }
}

impl TokenCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The access token of `provider`, minted from the key `key` identifies, as of `now`:
    /// the cached one, or a new one from `fetch` (see the type's docs).
    pub async fn token<F, Fut>(
        &self,
        provider: &str,
        key: KeyIdentity,
        now: Instant,
        fetch: F,
    ) -> Result<Arc<str>, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, String>>,
    {
        let slot = self.slot(provider);
        if let Some(token) = slot.usable(key, now, REFRESH_MARGIN) {
            return Ok(token);
        }
        let waiting_since = Instant::now();
        let mut fetching = slot.fetching.lock().await;
        // Another call may have fetched (or failed to) while this one waited.
        if let Some(token) = slot.usable(key, now, REFRESH_MARGIN) {
            return Ok(token);
        }
        if let Some(failed) = fetching.as_ref()
            && failed.key == key
            && failed.at >= waiting_since
        {
            return Err(failed.message.clone());
        }
        match fetch().await {
            Ok(fresh) => {
                let token: Arc<str> = fresh.token.into();
                *slot.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
                    key,
                    token: token.clone(),
                    expires_at: now + fresh.lifetime,
                });
                *fetching = None;
                Ok(token)
            }
            Err(message) => {
                *fetching = Some(Failed {
                    key,
                    at: Instant::now(),
                    message: message.clone(),
                });
                match slot.usable(key, now, Duration::ZERO) {
                    Some(token) => {
                        tracing::warn!(provider, error = %message, "could not renew the Google access token; using the current one until it expires");
                        Ok(token)
                    }
                    None => Err(message),
                }
            }
        }
    }

    /// Drops `provider`'s token (the provider refused it): the next call fetches a new one.
    pub fn forget(&self, provider: &str) {
        let slot = self.slot(provider);
        *slot.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn slot(&self, provider: &str) -> Arc<Slot> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(provider.to_owned())
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A throwaway key generated for these tests (see tests/fixtures/vertex/README.md).
    const KEY_FILE: &str = include_str!("../tests/fixtures/vertex/service_account.json");
    const PUBLIC_KEY: &str = include_str!("../tests/fixtures/vertex/service_account.pub.pem");

    fn key_file(change: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value: serde_json::Value = serde_json::from_str(KEY_FILE).unwrap();
        change(&mut value);
        value.to_string()
    }

    #[test]
    fn the_assertion_is_the_documented_jwt() {
        let key = ServiceAccountKey::parse(KEY_FILE).unwrap();
        assert_eq!(
            key.client_email,
            "agenthub-test@agenthub-test.iam.gserviceaccount.com"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let jwt = key.assertion(now).unwrap();
        // Form-safe as it is: base64url and dots.
        assert!(
            jwt.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        );

        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(
            header.kid.as_deref(),
            Some("5d1c0a9e2b7f4c3a8e6d0f1b2a3c4d5e6f708192")
        );

        let public = pem_block(PUBLIC_KEY, "RSA PUBLIC KEY").unwrap().unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        validation.set_issuer(&["agenthub-test@agenthub-test.iam.gserviceaccount.com"]);
        validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
        let decoded = jsonwebtoken::decode::<AssertionClaims>(
            &jwt,
            &jsonwebtoken::DecodingKey::from_rsa_der(&public),
            &validation,
        )
        .unwrap();
        assert_eq!(
            decoded.claims,
            AssertionClaims {
                iss: "agenthub-test@agenthub-test.iam.gserviceaccount.com".into(),
                scope: "https://www.googleapis.com/auth/cloud-platform".into(),
                aud: "https://oauth2.googleapis.com/token".into(),
                iat: now,
                exp: now + 3600,
            }
        );

        // Signed by this key: another key's public half does not verify it.
        let mut tampered = jwt.clone();
        tampered.replace_range(jwt.len() - 8.., "AAAAAAAA");
        assert!(
            jsonwebtoken::decode::<AssertionClaims>(
                &tampered,
                &jsonwebtoken::DecodingKey::from_rsa_der(&public),
                &validation,
            )
            .is_err()
        );
    }

    #[test]
    fn a_pkcs1_key_signs_too() {
        // The PKCS#8 wrapper removed: what `openssl rsa -traditional` writes.
        let pkcs8 = pem_block(
            serde_json::from_str::<serde_json::Value>(KEY_FILE).unwrap()["private_key"]
                .as_str()
                .unwrap(),
            "PRIVATE KEY",
        )
        .unwrap()
        .unwrap();
        let pkcs1 = pkcs8_rsa_key(&pkcs8).unwrap();
        let pem = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs1)
        );
        let key = ServiceAccountKey::parse(&key_file(|v| v["private_key"] = pem.into())).unwrap();
        assert!(key.assertion(1_700_000_000).is_ok());
    }

    #[test]
    fn bad_key_files_are_named_without_their_secrets() {
        let cases: Vec<(String, &str)> = vec![
            ("{not json".into(), "unreadable at line 1, column 2"),
            (
                key_file(|v| v["type"] = "authorized_user".into()),
                "another kind of Google credential (authorized_user)",
            ),
            (
                key_file(|v| {
                    v.as_object_mut().unwrap().remove("client_email");
                }),
                "(no client_email)",
            ),
            (
                key_file(|v| v["private_key_id"] = "".into()),
                "(no private_key_id)",
            ),
            (
                key_file(|v| v["token_uri"] = "http://oauth2.example.com/token".into()),
                "not an https URL",
            ),
            (
                key_file(|v| v["token_uri"] = "http://127.0.0.1.example.com/token".into()),
                "not an https URL",
            ),
            (
                key_file(|v| v["token_uri"] = "http://localhost@example.com/token".into()),
                "not an https URL",
            ),
            (
                key_file(|v| v["token_uri"] = "oauth2.googleapis.com/token".into()),
                "not an https URL",
            ),
            (
                key_file(|v| v["private_key"] = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".into()),
                "not a PEM RSA private key",
            ),
            (
                key_file(|v| {
                    v["private_key"] =
                        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n".into()
                }),
                "not a PEM RSA private key",
            ),
            (
                // PKCS#8 of another algorithm (the id-ecPublicKey OID, an empty key).
                key_file(|v| {
                    v["private_key"] =
                        "-----BEGIN PRIVATE KEY-----\nMBECAQAwCQYHKoZIzj0CAQQBAA==\n-----END PRIVATE KEY-----\n".into()
                }),
                "not an RSA key",
            ),
        ];
        for (json, expected) in cases {
            let error = ServiceAccountKey::parse(&json).unwrap_err();
            assert!(error.contains(expected), "{error} (expected {expected})");
            assert!(
                !error.contains("MII") && !error.contains("BEGIN"),
                "{error}"
            );
        }
        for local in [
            "http://127.0.0.1:8089/token",
            "http://localhost/token",
            "http://[::1]:99/token",
            "http://[::1]/token",
        ] {
            assert!(
                ServiceAccountKey::parse(&key_file(|v| v["token_uri"] = local.into())).is_ok(),
                "{local}"
            );
        }
        // Not quoted in a Debug print either.
        let key = ServiceAccountKey::parse(KEY_FILE).unwrap();
        assert!(!format!("{key:?}").contains("rsa_der"));
    }

    #[test]
    fn token_answers() {
        let token = read_token_answer(
            200,
            br#"{"access_token": "ya29.c.abc", "expires_in": 3599, "token_type": "Bearer"}"#,
        )
        .unwrap();
        assert_eq!(token.token, "ya29.c.abc");
        assert_eq!(token.lifetime, Duration::from_secs(3599));
        assert!(!format!("{token:?}").contains("ya29"));
        let token = read_token_answer(200, br#"{"access_token": "t"}"#).unwrap();
        assert_eq!(token.lifetime, Duration::from_secs(3600));

        let cases: [(u16, &[u8], &str); 5] = [
            (
                400,
                br#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#,
                "refused the assertion (400 invalid_grant: Invalid JWT Signature.)",
            ),
            (401, b"<html>nope</html>", "refused the assertion (401)"),
            (200, b"{}", "answered without a usable access_token"),
            (
                200,
                br#"{"access_token": "t", "token_type": "mac"}"#,
                "answered with a token that is not a bearer token",
            ),
            (
                200,
                b"not json",
                "answered with something that is not an OAuth token answer",
            ),
        ];
        for (status, body, expected) in cases {
            assert_eq!(read_token_answer(status, body).unwrap_err(), expected);
        }
    }

    fn fresh(token: &str, seconds: u64) -> Result<AccessToken, String> {
        Ok(AccessToken {
            token: token.into(),
            lifetime: Duration::from_secs(seconds),
        })
    }

    #[tokio::test]
    async fn tokens_are_reused_until_near_expiry() {
        let cache = TokenCache::new();
        let key = KeyIdentity::of("key one");
        let start = Instant::now();
        let fetches = AtomicUsize::new(0);
        let fetch = |token: &'static str| {
            let fetches = &fetches;
            move || async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                fresh(token, 3600)
            }
        };
        let at = |minutes: u64| start + Duration::from_secs(minutes * 60);
        assert_eq!(
            &*cache.token("v", key, at(0), fetch("a")).await.unwrap(),
            "a"
        );
        // 54 minutes later, six are left: reused.
        assert_eq!(
            &*cache.token("v", key, at(54), fetch("b")).await.unwrap(),
            "a"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // 56 minutes later, four are left: renewed.
        assert_eq!(
            &*cache.token("v", key, at(56), fetch("b")).await.unwrap(),
            "b"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // A rotated secret is never answered with the old key's token.
        let rotated = KeyIdentity::of("key two");
        assert_eq!(
            &*cache.token("v", rotated, at(57), fetch("c")).await.unwrap(),
            "c"
        );
        // Providers do not share tokens.
        assert_eq!(
            &*cache.token("w", rotated, at(57), fetch("d")).await.unwrap(),
            "d"
        );
        assert_eq!(
            &*cache.token("v", rotated, at(58), fetch("e")).await.unwrap(),
            "c"
        );
        cache.forget("v");
        assert_eq!(
            &*cache.token("v", rotated, at(58), fetch("f")).await.unwrap(),
            "f"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_failed_renewal_keeps_a_token_that_has_not_expired() {
        let cache = TokenCache::new();
        let key = KeyIdentity::of("key");
        let start = Instant::now();
        let failing = || async { Err::<AccessToken, _>("refused".to_owned()) };
        cache
            .token("v", key, start, || async { fresh("a", 3600) })
            .await
            .unwrap();
        let near = start + Duration::from_secs(3500);
        assert_eq!(&*cache.token("v", key, near, failing).await.unwrap(), "a");
        let expired = start + Duration::from_secs(3600);
        assert_eq!(
            cache.token("v", key, expired, failing).await.unwrap_err(),
            "refused"
        );
    }

    #[tokio::test]
    async fn concurrent_calls_share_one_fetch() {
        let cache = TokenCache::new();
        let key = KeyIdentity::of("key");
        let now = Instant::now();
        let fetches = AtomicUsize::new(0);
        let outcome = Mutex::new(fresh("shared", 3600));
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            outcome.lock().unwrap().clone()
        };
        let calls = (0..8).map(|_| cache.token("v", key, now, fetch));
        for token in futures::future::join_all(calls).await {
            assert_eq!(&*token.unwrap(), "shared");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        // A failure is shared with the calls that waited for it, not retried by each.
        *outcome.lock().unwrap() = Err("the token endpoint refused".to_owned());
        let rotated = KeyIdentity::of("rotated");
        let calls = (0..8).map(|_| cache.token("v", rotated, now, fetch));
        for token in futures::future::join_all(calls).await {
            assert_eq!(token.unwrap_err(), "the token endpoint refused");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // A later call tries again.
        assert!(cache.token("v", rotated, now, fetch).await.is_err());
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }
}
