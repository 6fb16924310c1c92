//! The JWS pieces both signed things share (RFC 7515): the protected header, the signing
//! input, and the detached compact form (`header..signature`, the payload left out because the
//! receiver rebuilds it from the document).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::{SignError, SignatureError};
use super::jcs::canonicalize;
use super::keys::{SigningAlgorithm, SigningKey, VerifyingKey};

/// What a protected header says that verification uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProtectedHeader {
    pub algorithm: SigningAlgorithm,
    pub kid: String,
    /// Where the signer's JWKS is (agent cards may say).
    pub jku: Option<String>,
}

/// The base64url protected header `{"alg","jku"?,"kid","typ":"JOSE"}`, its members in JCS
/// order so that the same key always makes the same header (Ed25519 test vectors rely on it).
pub(crate) fn encode_header(key: &SigningKey, jku: Option<&str>) -> String {
    let mut header = Map::new();
    header.insert("alg".into(), key.algorithm().jws_name().into());
    header.insert("kid".into(), key.kid().into());
    header.insert("typ".into(), "JOSE".into());
    if let Some(jku) = jku {
        header.insert("jku".into(), jku.into());
    }
    URL_SAFE_NO_PAD.encode(canonicalize(&Value::Object(header)))
}

/// Reads a base64url protected header. `typ` is not checked (other signers write "JWT" or
/// nothing); a header with `crit`, or `b64` other than true, is refused because it would
/// change what the signature means.
pub(crate) fn decode_header(encoded: &str) -> Result<ProtectedHeader, SignatureError> {
    let malformed = |why: &str| SignatureError::Malformed(format!("protected header: {why}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| malformed("not base64url without padding"))?;
    let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(malformed("not a JSON object"));
    };
    if header.contains_key("crit") {
        return Err(malformed(
            "it has critical extensions (crit), which are not supported",
        ));
    }
    if header
        .get("b64")
        .is_some_and(|b64| b64 != &Value::Bool(true))
    {
        return Err(malformed("unencoded payloads (b64) are not supported"));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no alg"))?;
    let algorithm = SigningAlgorithm::from_jws_name(alg)
        .ok_or_else(|| SignatureError::UnsupportedAlgorithm(alg.to_owned()))?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|kid| !kid.is_empty())
        .ok_or_else(|| malformed("no kid"))?
        .to_owned();
    let jku = match header.get("jku") {
        None | Some(Value::Null) => None,
        Some(Value::String(jku)) => Some(jku.clone()),
        Some(_) => return Err(malformed("jku is not a string")),
    };
    Ok(ProtectedHeader {
        algorithm,
        kid,
        jku,
    })
}

/// ASCII(protected) ‖ "." ‖ ASCII(base64url(payload)): the bytes a JWS signature covers.
pub(crate) fn signing_input(protected: &str, payload: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(protected.len() + 1 + payload.len().div_ceil(3) * 4);
    input.extend_from_slice(protected.as_bytes());
    input.push(b'.');
    input.extend_from_slice(URL_SAFE_NO_PAD.encode(payload).as_bytes());
    input
}

/// A detached signature: the protected header and the base64url signature of `payload`.
pub(crate) struct DetachedSignature {
    pub protected: String,
    pub signature: String,
}

impl DetachedSignature {
    pub fn sign(key: &SigningKey, jku: Option<&str>, payload: &[u8]) -> Result<Self, SignError> {
        let protected = encode_header(key, jku);
        let signature = key.sign(&signing_input(&protected, payload))?;
        Ok(Self {
            protected,
            signature: URL_SAFE_NO_PAD.encode(signature),
        })
    }

    /// RFC 7515 Appendix F's detached compact form.
    pub fn compact(&self) -> String {
        format!("{}..{}", self.protected, self.signature)
    }

    /// Splits `header..signature`; a compact JWS that carries its payload is refused, since the
    /// payload must be the one rebuilt from the document.
    pub fn from_compact(jws: &str) -> Result<Self, SignatureError> {
        let mut parts = jws.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(protected), Some(""), Some(signature), None) => Ok(Self {
                protected: protected.to_owned(),
                signature: signature.to_owned(),
            }),
            _ => Err(SignatureError::Malformed(
                "jws is not a detached compact JWS (\"<header>..<signature>\")".into(),
            )),
        }
    }

    /// Checks the signature of `payload` with `key`, which must be of the header's algorithm.
    pub fn verify(
        &self,
        header: &ProtectedHeader,
        key: &VerifyingKey,
        payload: &[u8],
    ) -> Result<(), SignatureError> {
        let signature = URL_SAFE_NO_PAD.decode(&self.signature).map_err(|_| {
            SignatureError::Malformed("the signature is not base64url without padding".into())
        })?;
        if key.algorithm() != header.algorithm {
            return Err(SignatureError::BadSignature);
        }
        if key.verify(&signing_input(&self.protected, payload), &signature) {
            Ok(())
        } else {
            Err(SignatureError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(header: &str) -> String {
        URL_SAFE_NO_PAD.encode(header)
    }

    #[test]
    fn the_header_is_canonical_and_reads_back() {
        let key = SigningKey::ed25519_from_seed(&[7; 32]);
        let header = encode_header(&key, Some("https://hub.example/.well-known/jwks.json"));
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(&header).unwrap()).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"alg":"EdDSA","jku":"https://hub.example/.well-known/jwks.json","kid":"{}","typ":"JOSE"}}"#,
                key.kid()
            )
        );
        let read = decode_header(&header).unwrap();
        assert_eq!(read.algorithm, SigningAlgorithm::EdDsa);
        assert_eq!(read.kid, key.kid());
        assert_eq!(
            read.jku.as_deref(),
            Some("https://hub.example/.well-known/jwks.json")
        );
    }

    #[test]
    fn headers_that_change_the_meaning_or_lack_parts_are_refused() {
        let malformed = |header: &str| {
            matches!(
                decode_header(&encoded(header)),
                Err(SignatureError::Malformed(_))
            )
        };
        assert!(malformed(r#"{"alg":"EdDSA","kid":"k","crit":["exp"]}"#));
        assert!(malformed(r#"{"alg":"EdDSA","kid":"k","b64":false}"#));
        assert!(malformed(r#"{"kid":"k"}"#));
        assert!(malformed(r#"{"alg":"EdDSA"}"#));
        assert!(malformed(r#"{"alg":"EdDSA","kid":""}"#));
        assert!(malformed(r#"["alg"]"#));
        assert!(matches!(
            decode_header("*&^"),
            Err(SignatureError::Malformed(_))
        ));
        for alg in ["none", "HS256", "RS256", "ES384", "Ed25519"] {
            let header = format!(r#"{{"alg":"{alg}","kid":"k"}}"#);
            assert_eq!(
                decode_header(&encoded(&header)),
                Err(SignatureError::UnsupportedAlgorithm(alg.into()))
            );
        }
        // Other signers' typ values and a null jku (PyJWT writes one) are fine.
        let read = decode_header(&encoded(
            r#"{"alg":"ES256","kid":"k","typ":"JWT","jku":null}"#,
        ));
        assert_eq!(read.map(|header| header.jku), Ok(None));
    }

    #[test]
    fn only_the_detached_compact_form_is_accepted() {
        assert!(DetachedSignature::from_compact("aGVhZGVy..c2ln").is_ok());
        for jws in ["aGVhZGVy.cGF5bG9hZA.c2ln", "aGVhZGVy.c2ln", "a..b..c", ""] {
            assert!(DetachedSignature::from_compact(jws).is_err(), "{jws}");
        }
    }
}
