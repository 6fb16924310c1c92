//! Wire types: the JSON shapes of each provider's protocol, and nothing else. Only the
//! translations in [`crate::ingress`] and [`crate::adapters`] use them.
//!
//! Leniency, decided once for every format:
//! - Requests from clients: an unknown top-level field is accepted, ignored and reported as a
//!   warning (SDKs add fields faster than gateways learn them, and a 400 for a field we would not
//!   use anyway helps no one; the warning tells the client it had no effect). Unknown nested
//!   fields are ignored silently. Required fields are enforced, and a malformed request fails
//!   with a 400 naming the field (`messages[2].tool_call_id`).
//! - Answers from providers: unknown fields, content block types, delta types and stream
//!   events are ignored, as both providers ask of their clients.

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod eventstream;
pub mod gemini;
pub mod mistral;
pub mod openai;
pub mod responses;
pub mod sse;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Parses a client's JSON body; failures are 400s naming the field at fault.
pub(crate) fn from_client<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => value,
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(Error::invalid_body(format!("invalid JSON: {inner}")));
            }
            let message = inner.to_string();
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(field, _)| field.to_owned());
            let param = match (missing, path.as_str()) {
                (Some(field), ".") => field,
                (Some(field), path) => format!("{path}.{field}"),
                (None, path) => path.to_owned(),
            };
            return Err(Error::invalid(param, message));
        }
    };
    de.end()
        .map_err(|e| Error::invalid_body(format!("invalid JSON: {e}")))?;
    Ok(value)
}

/// Parses a provider's JSON answer; failures are protocol errors (the provider is at fault).
pub(crate) fn from_provider<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|source| Error::Protocol {
        message: format!("{what}: {source}"),
        source: Some(source),
    })
}

/// Serializes a wire value. Wire types are plain data whose serialization cannot fail.
pub(crate) fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        model: String,
        items: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        id: String,
        count: u32,
    }

    #[test]
    fn client_errors_name_the_field() {
        let cases: [(&str, Option<&str>, &str); 5] = [
            (r#"{"items": []}"#, Some("model"), "missing field `model`"),
            (
                r#"{"model": "m", "items": [{"id": "a", "count": 1}, {"id": "b"}]}"#,
                Some("items[1].count"),
                "missing field `count`",
            ),
            (
                r#"{"model": "m", "items": [{"id": "a", "count": "x"}]}"#,
                Some("items[0].count"),
                "invalid type",
            ),
            (r#"{"model": "m", "items": [}"#, None, "invalid JSON"),
            (r#"{"model": "m", "items": []} x"#, None, "invalid JSON"),
        ];
        for (body, param, message) in cases {
            let error = from_client::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!(error.param(), param, "{body}");
            assert!(error.to_string().contains(message), "{error}");
        }
    }
}
