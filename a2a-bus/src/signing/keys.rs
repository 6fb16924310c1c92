//! Signing keys and the public keys that check their signatures, as JWKs.
//!
//! Two algorithms, both with fixed-size keys and signatures and no parameters to get wrong:
//! EdDSA over Ed25519 (deterministic, the default) and ES256 (ECDSA over P-256 with SHA-256,
//! for peers whose stacks lack Ed25519). A key's id (`kid`) is its RFC 7638 thumbprint, so it
//! is derived from the key itself and the same in every JWKS that publishes the key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use serde_json::{Map, Value, json};

use super::error::{KeyError, SignError};
use super::jcs::canonicalize;

/// The algorithms agenthub signs and verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// EdDSA with Ed25519 (RFC 8037): JWS `alg` "EdDSA", JWK `kty` "OKP", `crv` "Ed25519".
    EdDsa,
    /// ECDSA with P-256 and SHA-256, the signature as r‖s (64 bytes): JWS `alg` "ES256",
    /// JWK `kty` "EC", `crv` "P-256".
    Es256,
}

impl SigningAlgorithm {
    /// The JWS `alg` value.
    pub fn jws_name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// The algorithm a JWS `alg` value names, if agenthub accepts it.
    pub fn from_jws_name(name: &str) -> Option<Self> {
        match name {
            "EdDSA" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jws_name())
    }
}

/// The PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 §7): the seed follows it.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A private key that signs, with its public half. Its `Debug` shows the algorithm and `kid`,
/// never the private key.
pub struct SigningKey {
    pair: KeyPair,
    /// The key as it is stored (sealed by the hub): PKCS#8 DER, as given or generated.
    pkcs8: Vec<u8>,
    verifying_key: VerifyingKey,
}

enum KeyPair {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
}

impl SigningKey {
    /// A new random key.
    pub fn generate(algorithm: SigningAlgorithm) -> Result<Self, SignError> {
        let rng = SystemRandom::new();
        let document = match algorithm {
            SigningAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
            SigningAlgorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
        }
        .map_err(|_| SignError::Random)?;
        Self::from_pkcs8(document.as_ref()).map_err(|_| SignError::Random)
    }

    /// A key from its PKCS#8 DER form (what `to_pkcs8` returns): Ed25519 (v1 or v2) or P-256.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let pair = if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            KeyPair::Ed25519(pair)
        } else {
            let pair = EcdsaKeyPair::from_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
                &SystemRandom::new(),
            )
            .map_err(|rejected| {
                KeyError::Invalid(format!(
                    "not an Ed25519 or P-256 private key in PKCS#8 DER form ({rejected})"
                ))
            })?;
            KeyPair::Es256(pair)
        };
        let verifying_key = match &pair {
            KeyPair::Ed25519(pair) => {
                VerifyingKey::new(SigningAlgorithm::EdDsa, pair.public_key().as_ref().to_vec())
            }
            KeyPair::Es256(pair) => {
                VerifyingKey::new(SigningAlgorithm::Es256, pair.public_key().as_ref().to_vec())
            }
        };
        Ok(Self {
            pair,
            pkcs8: der.to_vec(),
            verifying_key,
        })
    }

    /// The Ed25519 key of a 32-byte seed: fixed keys for test vectors and reproducible setups.
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Self {
        let der = [&ED25519_PKCS8_V1_PREFIX[..], seed].concat();
        Self::from_pkcs8(&der).expect("any 32 bytes are an Ed25519 seed")
    }

    /// The key in PKCS#8 DER form, for storing it (sealed) and loading it with `from_pkcs8`.
    pub fn to_pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.verifying_key.algorithm
    }

    /// The key id: the RFC 7638 thumbprint (SHA-256, base64url) of the public key.
    pub fn kid(&self) -> &str {
        &self.verifying_key.kid
    }

    /// The public half, to publish in a JWKS.
    pub fn public_jwk(&self) -> Value {
        self.verifying_key.to_jwk()
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// The signature of `input`: 64 bytes for either algorithm. Ed25519 signatures are
    /// deterministic; ES256 ones are not (each uses a fresh random number).
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.pair {
            KeyPair::Ed25519(pair) => Ok(pair.sign(input).as_ref().to_vec()),
            KeyPair::Es256(pair) => pair
                .sign(&SystemRandom::new(), input)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| SignError::Random),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// A public key that checks signatures, with the id signatures name it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey {
    algorithm: SigningAlgorithm,
    kid: String,
    /// Ed25519: the 32-byte point. P-256: the uncompressed point, 0x04 ‖ x ‖ y (65 bytes).
    public: Vec<u8>,
}

impl VerifyingKey {
    fn new(algorithm: SigningAlgorithm, public: Vec<u8>) -> Self {
        let mut key = Self {
            algorithm,
            kid: String::new(),
            public,
        };
        key.kid = key.thumbprint();
        key
    }

    /// A key from its JWK. Its `kid` is the JWK's, or the thumbprint when it has none.
    /// Refused: key types, curves and algorithms other than the two above, a `use` other than
    /// "sig", and a JWK that carries the private key (`d`), which must never be published.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let Value::Object(jwk) = jwk else {
            return Err(KeyError::Invalid("a JWK is a JSON object".into()));
        };
        if jwk.contains_key("d") {
            return Err(KeyError::Invalid(
                "the JWK contains a private key (\"d\"); publish only the public key".into(),
            ));
        }
        if let Some(key_use) = jwk.get("use")
            && key_use != "sig"
        {
            return Err(KeyError::Unsupported(format!(
                "use {key_use}: only signature keys (\"sig\") are used"
            )));
        }
        let kty = member(jwk, "kty")?;
        if kty != "OKP" && kty != "EC" {
            return Err(KeyError::Unsupported(format!(
                "kty {kty:?} (only OKP/Ed25519 and EC/P-256 keys are accepted)"
            )));
        }
        let algorithm = match (kty, member(jwk, "crv")?) {
            ("OKP", "Ed25519") => SigningAlgorithm::EdDsa,
            ("EC", "P-256") => SigningAlgorithm::Es256,
            (kty, crv) => {
                return Err(KeyError::Unsupported(format!(
                    "kty {kty:?} with crv {crv:?} (only OKP/Ed25519 and EC/P-256 are accepted)"
                )));
            }
        };
        if let Some(alg) = jwk.get("alg")
            && alg != algorithm.jws_name()
        {
            return Err(KeyError::Unsupported(format!(
                "alg {alg} with this key type (it must be {:?})",
                algorithm.jws_name()
            )));
        }
        let public = match algorithm {
            SigningAlgorithm::EdDsa => coordinate(jwk, "x")?.to_vec(),
            SigningAlgorithm::Es256 => {
                [&[0x04][..], &coordinate(jwk, "x")?, &coordinate(jwk, "y")?].concat()
            }
        };
        let mut key = Self::new(algorithm, public);
        if let Some(kid) = jwk.get("kid") {
            key.kid = kid
                .as_str()
                .filter(|kid| !kid.is_empty())
                .ok_or_else(|| KeyError::Invalid("\"kid\" is not a non-empty string".into()))?
                .to_owned();
        }
        Ok(key)
    }

    /// The public JWK, with `kid`, `alg` and `use`.
    pub fn to_jwk(&self) -> Value {
        let mut jwk = self.thumbprint_members();
        jwk.insert("kid".into(), self.kid.clone().into());
        jwk.insert("alg".into(), self.algorithm.jws_name().into());
        jwk.insert("use".into(), "sig".into());
        Value::Object(jwk)
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The RFC 7638 thumbprint: SHA-256 of the canonical JSON of the required members,
    /// base64url. It is the `kid` of agenthub's own keys.
    pub fn thumbprint(&self) -> String {
        let members = Value::Object(self.thumbprint_members());
        let digest = ring::digest::digest(&ring::digest::SHA256, canonicalize(&members).as_bytes());
        URL_SAFE_NO_PAD.encode(digest)
    }

    /// Whether `signature` is this key's signature of `input`. A P-256 point that is not on the
    /// curve fails here (ring checks the point when it verifies).
    pub fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn ring_sig::VerificationAlgorithm = match self.algorithm {
            SigningAlgorithm::EdDsa => &ring_sig::ED25519,
            SigningAlgorithm::Es256 => &ring_sig::ECDSA_P256_SHA256_FIXED,
        };
        ring_sig::UnparsedPublicKey::new(algorithm, &self.public)
            .verify(input, signature)
            .is_ok()
    }

    /// The members RFC 7638 hashes for this key type, which are also the key's JWK.
    fn thumbprint_members(&self) -> Map<String, Value> {
        let encode = |bytes: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(bytes));
        let members = match self.algorithm {
            SigningAlgorithm::EdDsa => {
                json!({"crv": "Ed25519", "kty": "OKP", "x": encode(&self.public)})
            }
            SigningAlgorithm::Es256 => json!({
                "crv": "P-256",
                "kty": "EC",
                "x": encode(&self.public[1..33]),
                "y": encode(&self.public[33..65]),
            }),
        };
        match members {
            Value::Object(members) => members,
            _ => unreachable!("json! of an object literal is an object"),
        }
    }
}

/// A string member a JWK must have.
fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, KeyError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| KeyError::Invalid(format!("the JWK has no {name:?} string")))
}

/// A 32-byte base64url coordinate of a JWK (both key types have 32-byte coordinates).
fn coordinate(jwk: &Map<String, Value>, name: &str) -> Result<[u8; 32], KeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(member(jwk, name)?)
        .map_err(|_| KeyError::Invalid(format!("{name:?} is not base64url without padding")))?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        KeyError::Invalid(format!("{name:?} is {} bytes, not 32", bytes.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_8037_ed25519_example_key() {
        // RFC 8037 Appendix A.1–A.3: the key, its public JWK and its thumbprint.
        let seed = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .expect("base64url");
        let key = SigningKey::ed25519_from_seed(&seed.try_into().expect("32 bytes"));
        assert_eq!(key.algorithm(), SigningAlgorithm::EdDsa);
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        assert_eq!(
            key.public_jwk(),
            json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
                "alg": "EdDSA",
                "use": "sig"
            })
        );
        // RFC 8037 A.4: Ed25519 signatures are deterministic.
        let signature = key
            .sign(b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc")
            .unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&signature),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key() {
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let key = SigningKey::generate(algorithm).unwrap();
            let again = SigningKey::from_pkcs8(key.to_pkcs8()).unwrap();
            assert_eq!(again.algorithm(), algorithm);
            assert_eq!(again.kid(), key.kid());
            assert_eq!(again.verifying_key(), key.verifying_key());
            let signature = again.sign(b"input").unwrap();
            assert_eq!(signature.len(), 64);
            assert!(key.verifying_key().verify(b"input", &signature));
            assert!(!key.verifying_key().verify(b"other input", &signature));
        }
    }

    #[test]
    fn garbage_is_not_a_pkcs8_key() {
        assert!(matches!(
            SigningKey::from_pkcs8(b"not a key"),
            Err(KeyError::Invalid(_))
        ));
    }

    #[test]
    fn a_jwk_round_trips_and_its_kid_is_the_thumbprint() {
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let key = SigningKey::generate(algorithm).unwrap();
            let parsed = VerifyingKey::from_jwk(&key.public_jwk()).unwrap();
            assert_eq!(&parsed, key.verifying_key());
            assert_eq!(parsed.thumbprint(), key.kid());
        }
    }

    #[test]
    fn a_jwk_without_kid_is_named_by_its_thumbprint_and_a_given_kid_is_kept() {
        let key = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        let mut jwk = key.public_jwk();
        jwk.as_object_mut().unwrap().remove("kid");
        assert_eq!(VerifyingKey::from_jwk(&jwk).unwrap().kid(), key.kid());
        jwk["kid"] = "my-key-1".into();
        assert_eq!(VerifyingKey::from_jwk(&jwk).unwrap().kid(), "my-key-1");
    }

    #[test]
    fn unusable_jwks_are_refused() {
        let ed = SigningKey::generate(SigningAlgorithm::EdDsa)
            .unwrap()
            .public_jwk();
        let with = |name: &str, value: Value| {
            let mut jwk = ed.clone();
            jwk[name] = value;
            VerifyingKey::from_jwk(&jwk)
        };
        let unsupported = |result: Result<VerifyingKey, KeyError>| {
            matches!(result, Err(KeyError::Unsupported(_)))
        };
        assert!(unsupported(with("kty", "RSA".into())));
        assert!(unsupported(with("crv", "X25519".into())));
        assert!(unsupported(with("crv", "Ed448".into())));
        assert!(unsupported(with("alg", "ES256".into())));
        assert!(unsupported(with("alg", "none".into())));
        assert!(unsupported(with("use", "enc".into())));
        let invalid =
            |result: Result<VerifyingKey, KeyError>| matches!(result, Err(KeyError::Invalid(_)));
        assert!(invalid(with("x", "AAAA".into())));
        assert!(invalid(with("x", "not base64!".into())));
        assert!(invalid(with("x", Value::Null)));
        assert!(invalid(with("d", "c2VjcmV0".into())));
        assert!(invalid(with("kid", 7.into())));
        assert!(invalid(VerifyingKey::from_jwk(&json!("a string"))));
        let mut ec = SigningKey::generate(SigningAlgorithm::Es256)
            .unwrap()
            .public_jwk();
        ec.as_object_mut().unwrap().remove("y");
        assert!(invalid(VerifyingKey::from_jwk(&ec)));
    }

    #[test]
    fn debug_output_hides_the_private_key() {
        let key = SigningKey::generate(SigningAlgorithm::EdDsa).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains(key.kid()));
        assert!(!shown.contains("pkcs8"));
    }
}
