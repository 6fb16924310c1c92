//! Calling an operation: the HTTP request a tool call's arguments make (path parameters
//! percent-encoded into the template, query parameters with arrays repeated, headers, a JSON
//! body), sent with the registration's credentials, and the API's answer as a tool result.
//!
//! Failures of the API are results with `isError` (the model can read them and react); only
//! arguments that cannot make a request are protocol errors.

use std::time::Duration;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use reqwest::Url;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value};

use super::tools::{BODY, In, Operation, Parameter, is_json};
use super::{Limited, read_body};
use crate::sse_client::cause;

/// The largest answer returned to the caller.
pub const MAX_RESPONSE: usize = 4 * 1024 * 1024;
/// How much of a refusing answer's body goes into the error.
const MAX_ERROR_BODY: usize = 2000;

/// The HTTP request a tool call makes, before the registration's credentials are added.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// The media type and the encoded body.
    pub body: Option<(String, Vec<u8>)>,
}

/// The request calling `operation` with `arguments` makes against the API at `base`. Absent
/// and `null` arguments are not sent; arguments the operation does not know are ignored.
pub fn build(
    base: &Url,
    operation: &Operation,
    arguments: &Map<String, Value>,
) -> Result<Request, String> {
    let argument = |p: &Parameter| arguments.get(&p.argument).filter(|v| !v.is_null());

    let mut path = String::new();
    let mut rest = operation.path.as_str();
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let parameter = operation
            .parameters
            .iter()
            .find(|p| p.location == In::Path && p.name == name);
        let value = parameter
            .and_then(|p| argument(p).map(|v| simple(v, p.explode, p.json)))
            .ok_or_else(|| {
                format!(
                    "missing the path parameter {}",
                    parameter.map_or(name, |p| &p.argument)
                )
            })?;
        // A dot segment would move the request to another path of the API.
        if matches!(value.as_str(), "" | "." | "..") {
            return Err(format!("the path parameter {name} cannot be \"{value}\""));
        }
        path.push_str(&rest[..open]);
        path.push_str(&encode(&value));
        rest = &rest[open + close + 1..];
    }
    path.push_str(rest);

    let mut url = base.clone();
    url.set_fragment(None);
    let joined = format!("{}{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);

    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut headers = HeaderMap::new();
    for parameter in &operation.parameters {
        let Some(value) = argument(parameter) else {
            continue;
        };
        match parameter.location {
            In::Path => {}
            In::Query => query(parameter, value, &mut pairs),
            In::Header => {
                let name = HeaderName::from_bytes(parameter.name.as_bytes())
                    .map_err(|_| format!("\"{}\" is not a header name", parameter.name))?;
                let value = HeaderValue::try_from(simple(value, parameter.explode, parameter.json))
                    .map_err(|_| {
                        format!(
                            "the value of {} cannot be sent in a header",
                            parameter.argument
                        )
                    })?;
                headers.append(name, value);
            }
        }
    }
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }

    let body = match (&operation.body, arguments.get(BODY)) {
        (Some(media_type), Some(value)) => Some((
            media_type.clone(),
            serde_json::to_vec(value).map_err(|e| format!("cannot encode the body: {e}"))?,
        )),
        _ => None,
    };
    Ok(Request {
        method: operation.method.clone(),
        url,
        headers,
        body,
    })
}

/// A query parameter's pairs: `form` style (arrays repeated when exploded, else
/// comma-separated; objects as their own pairs when exploded), `deepObject`
/// (`name[key]=value`), or JSON text for parameters declared with `content`.
fn query(parameter: &Parameter, value: &Value, pairs: &mut Vec<(String, String)>) {
    let name = &parameter.name;
    match value {
        _ if parameter.json => pairs.push((name.clone(), value.to_string())),
        Value::Array(items) if parameter.explode => {
            pairs.extend(items.iter().map(|item| (name.clone(), scalar(item))));
        }
        Value::Object(members) if parameter.deep_object => pairs.extend(
            members
                .iter()
                .map(|(key, member)| (format!("{name}[{key}]"), scalar(member))),
        ),
        Value::Object(members) if parameter.explode => {
            pairs.extend(members.iter().map(|(key, m)| (key.clone(), scalar(m))));
        }
        _ => pairs.push((name.clone(), simple(value, false, false))),
    }
}

/// A value in `simple` style (path and header parameters): arrays and objects
/// comma-separated, objects as `key=value` when exploded.
fn simple(value: &Value, explode: bool, json: bool) -> String {
    match value {
        _ if json => value.to_string(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
        Value::Object(members) => members
            .iter()
            .map(|(key, member)| {
                let separator = if explode { "=" } else { "," };
                format!("{key}{separator}{}", scalar(member))
            })
            .collect::<Vec<_>>()
            .join(","),
        other => scalar(other),
    }
}

/// A string as itself, anything else as JSON text.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: a value stays one path
/// segment.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Sends requests to one API.
pub struct Caller {
    /// The registration's name, by which errors name the API.
    pub server: String,
    pub client: reqwest::Client,
    /// The registration's headers and bearer token: they win over header parameters.
    pub credentials: HeaderMap,
    pub timeout: Duration,
}

impl Caller {
    /// Sends `request` and turns the answer into a tool result.
    pub async fn send(&self, operation: &Operation, request: Request) -> CallToolResult {
        let label = operation.label();
        let origin = request.url.origin().ascii_serialization();
        let mut headers = request.headers;
        for (name, value) in &self.credentials {
            headers.insert(name.clone(), value.clone());
        }
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("application/json, */*;q=0.8"));
        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(headers)
            .timeout(self.timeout);
        if let Some((media_type, body)) = request.body {
            builder = builder.header(header::CONTENT_TYPE, media_type).body(body);
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(error) if error.is_timeout() => {
                return failure(format!(
                    "the API {} did not answer {label} within {}",
                    self.server,
                    humantime::format_duration(self.timeout)
                ));
            }
            Err(error) => {
                return failure(format!(
                    "cannot reach the API {} at {origin} for {label}: {}",
                    self.server,
                    cause(&error)
                ));
            }
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = match read_body(response, MAX_RESPONSE).await {
            Ok(body) => body,
            Err(Limited::TooLarge) => {
                return failure(format!(
                    "the API {} answered {label} with more than {} MiB; the answer is not \
                     returned",
                    self.server,
                    MAX_RESPONSE >> 20
                ));
            }
            Err(Limited::Failed(cause)) => {
                return failure(format!(
                    "the answer of the API {} to {label} broke off: {cause}",
                    self.server
                ));
            }
        };
        if status.is_success() {
            answer(status, &content_type, body)
        } else {
            let redirect = if status.is_redirection() {
                " (redirects are not followed)"
            } else {
                ""
            };
            failure(format!(
                "the API {} answered {status} to {label}{redirect}{}",
                self.server,
                excerpt(&body)
            ))
        }
    }
}

/// A successful answer: JSON as text and, when it is an object, as structured content (which
/// MCP requires to be an object); images as images; other text as text.
fn answer(status: StatusCode, content_type: &str, body: Vec<u8>) -> CallToolResult {
    if body.is_empty() {
        return CallToolResult::success(vec![ContentBlock::text(status.to_string())]);
    }
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if is_json(&media)
        && let Ok(value) = serde_json::from_slice::<Value>(&body)
    {
        let text = String::from_utf8_lossy(&body).into_owned();
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        if value.is_object() {
            result.structured_content = Some(value);
        }
        return result;
    }
    if media.starts_with("image/") {
        let data = base64::engine::general_purpose::STANDARD.encode(&body);
        return CallToolResult::success(vec![ContentBlock::image(data, media)]);
    }
    let text = match String::from_utf8(body) {
        Ok(text) => text,
        Err(error) => format!(
            "{status}: {} bytes of {}, not text",
            error.as_bytes().len(),
            if media.is_empty() { "data" } else { &media }
        ),
    };
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn failure(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// The start of a body, after a colon, for an error message; empty if there is none.
fn excerpt(body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    let body = body.trim();
    match body.char_indices().nth(MAX_ERROR_BODY) {
        _ if body.is_empty() => String::new(),
        Some((at, _)) => format!(": {}…", &body[..at]),
        None => format!(": {body}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parameter(argument: &str, name: &str, location: In) -> Parameter {
        Parameter {
            argument: argument.to_owned(),
            name: name.to_owned(),
            location,
            explode: location == In::Query,
            deep_object: false,
            json: false,
        }
    }

    fn operation(path: &str, parameters: Vec<Parameter>, body: Option<&str>) -> Operation {
        Operation {
            method: Method::POST,
            path: path.to_owned(),
            parameters,
            body: body.map(str::to_owned),
        }
    }

    fn arguments(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn arguments_make_the_request() {
        let base = Url::parse("https://api.example.com/v1/").unwrap();
        let mut tags = parameter("tags", "tags", In::Query);
        tags.explode = true;
        let mut ids = parameter("ids", "ids", In::Query);
        ids.explode = false;
        let mut filter = parameter("filter", "filter", In::Query);
        filter.deep_object = true;
        let mut sort = parameter("sort", "sort", In::Query);
        sort.json = true;
        let operation = operation(
            "/owners/{owner}/pets/{petId}",
            vec![
                parameter("owner", "owner", In::Path),
                parameter("petId", "petId", In::Path),
                parameter("query_petId", "petId", In::Query),
                tags,
                ids,
                filter,
                sort,
                parameter("limit", "limit", In::Query),
                parameter("X-Trace", "X-Trace", In::Header),
                parameter("X-Ids", "X-Ids", In::Header),
            ],
            Some("application/merge-patch+json"),
        );
        let request = build(
            &base,
            &operation,
            &arguments(json!({
                "owner": "ann/b ob", "petId": 7, "query_petId": true,
                "tags": ["a b", "c&d"], "ids": [1, 2], "filter": {"tag": "x"},
                "sort": ["name"], "limit": null, "X-Trace": "t-1", "X-Ids": [4, 5],
                "unknown": "ignored", "body": {"name": "Rex"},
            })),
        )
        .unwrap();
        assert_eq!(request.method, Method::POST);
        assert_eq!(
            request.url.as_str(),
            "https://api.example.com/v1/owners/ann%2Fb%20ob/pets/7?petId=true&tags=a+b&tags=c%26d\
             &ids=1%2C2&filter%5Btag%5D=x&sort=%5B%22name%22%5D"
        );
        assert_eq!(request.headers["x-trace"], "t-1");
        assert_eq!(request.headers["x-ids"], "4,5");
        let (media_type, body) = request.body.unwrap();
        assert_eq!(media_type, "application/merge-patch+json");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"name": "Rex"})
        );
    }

    #[test]
    fn arguments_that_cannot_make_a_request_are_refused() {
        let base = Url::parse("http://127.0.0.1:9/").unwrap();
        let operation = operation(
            "/pets/{petId}",
            vec![
                parameter("petId", "petId", In::Path),
                parameter("X-Trace", "X-Trace", In::Header),
            ],
            None,
        );
        let cases = [
            (json!({}), "missing the path parameter petId"),
            (json!({"petId": null}), "missing the path parameter petId"),
            (json!({"petId": ".."}), "cannot be \"..\""),
            (json!({"petId": "."}), "cannot be \".\""),
            (json!({"petId": ""}), "cannot be \"\""),
            (
                json!({"petId": "1", "X-Trace": "a\nb"}),
                "cannot be sent in a header",
            ),
        ];
        for (given, words) in cases {
            let error = build(&base, &operation, &arguments(given.clone())).unwrap_err();
            assert!(error.contains(words), "{given}: {error}");
        }
        // A path parameter's dots and slashes stay inside its segment.
        let request = build(&base, &operation, &arguments(json!({"petId": "../admin"}))).unwrap();
        assert_eq!(request.url.as_str(), "http://127.0.0.1:9/pets/..%2Fadmin");
        assert!(request.body.is_none());
    }

    #[test]
    fn answers_become_results() {
        let ok = StatusCode::OK;
        // (content type, body, text, structured content)
        let cases = [
            (
                "application/json",
                r#"{"id":1}"#,
                r#"{"id":1}"#,
                Some(json!({"id": 1})),
            ),
            (
                "application/problem+json; charset=utf-8",
                r#"{"a":[]}"#,
                r#"{"a":[]}"#,
                Some(json!({"a": []})),
            ),
            // MCP's structured content is an object: other JSON is text only.
            ("application/json", "[1,2]", "[1,2]", None),
            ("application/json", "not json", "not json", None),
            ("text/plain", "pong", "pong", None),
            ("", "", "200 OK", None),
        ];
        for (content_type, body, text, structured) in cases {
            let result = answer(ok, content_type, body.as_bytes().to_vec());
            assert_eq!(result.is_error, Some(false), "{body}");
            assert_eq!(
                result.content,
                vec![ContentBlock::text(text)],
                "{content_type} {body}"
            );
            assert_eq!(result.structured_content, structured, "{body}");
        }
        let image = answer(ok, "image/png", vec![0x89, b'P', b'N', b'G']);
        assert_eq!(
            image.content,
            vec![ContentBlock::image("iVBORw==", "image/png")]
        );
        let binary = answer(ok, "application/octet-stream", vec![0xff, 0xfe]);
        assert_eq!(
            binary.content,
            vec![ContentBlock::text(
                "200 OK: 2 bytes of application/octet-stream, not text"
            )]
        );
        assert_eq!(
            answer(StatusCode::NO_CONTENT, "", Vec::new()).content,
            vec![ContentBlock::text("204 No Content")]
        );
    }

    #[test]
    fn error_bodies_are_cut() {
        assert_eq!(excerpt(b"  \n"), "");
        assert_eq!(excerpt(b" {\"error\": \"no\"}\n"), ": {\"error\": \"no\"}");
        let long = "é".repeat(MAX_ERROR_BODY + 10);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), MAX_ERROR_BODY + 3);
    }
}
