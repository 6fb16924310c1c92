//! `x-agenthub-metadata`: what a client says about a request for rules (`when.metadata`,
//! `applies_per: metadata.<key>`) and logs, on every plane.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use crate::error::Error;

/// The largest `x-agenthub-metadata` header accepted.
const MAX_METADATA_BYTES: usize = 4096;

/// `x-agenthub-metadata`: a JSON object of strings (numbers and booleans are taken as text).
pub fn request_metadata(headers: &HeaderMap) -> Result<BTreeMap<String, String>, Error> {
    let Some(value) = headers.get("x-agenthub-metadata") else {
        return Ok(BTreeMap::new());
    };
    let bad = |why: &str| Error::invalid_field("x-agenthub-metadata", why);
    if value.len() > MAX_METADATA_BYTES {
        return Err(bad("is larger than 4096 bytes"));
    }
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(value.as_bytes()).map_err(|_| bad("must be a JSON object"))?;
    parsed
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => Ok((key, text)),
            serde_json::Value::Number(n) => Ok((key, n.to_string())),
            serde_json::Value::Bool(b) => Ok((key, b.to_string())),
            _ => Err(bad("values must be strings, numbers or booleans")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn metadata_is_a_small_object_of_scalars() {
        let mut headers = HeaderMap::new();
        assert!(request_metadata(&headers).unwrap().is_empty());
        headers.insert(
            "x-agenthub-metadata",
            HeaderValue::from_static(r#"{"project":"x","n":2,"b":true}"#),
        );
        let found = request_metadata(&headers).unwrap();
        assert_eq!(found["project"], "x");
        assert_eq!(found["n"], "2");
        assert_eq!(found["b"], "true");
        for bad in [r#"["x"]"#, r#"{"a":{"b":1}}"#, "not json"] {
            headers.insert("x-agenthub-metadata", HeaderValue::from_str(bad).unwrap());
            let error = request_metadata(&headers).unwrap_err();
            assert_eq!(error.param(), Some("x-agenthub-metadata"), "{bad}");
        }
    }
}
