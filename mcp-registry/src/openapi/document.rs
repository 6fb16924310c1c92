//! An OpenAPI document and what it says about its API: read from a URL or a file (bounded in
//! size), parsed as JSON or YAML, its version checked, and the API's base URL.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};
use reqwest::Url;
use serde_json::Value;

use super::schema::Dialect;
use super::{Limited, read_body};
use crate::sse_client::cause;

/// The largest document read.
pub const MAX_DOCUMENT: usize = 16 * 1024 * 1024;

/// Where the document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(Url),
    File(PathBuf),
}

impl Location {
    /// `document` as the registration's `openapi` field gives it: an http(s) URL, else a path.
    pub fn parse(document: &str) -> Result<Self, String> {
        if document.starts_with("https://") || document.starts_with("http://") {
            Url::parse(document)
                .map(Self::Url)
                .map_err(|e| format!("\"{document}\" is not a valid URL: {e}"))
        } else {
            Ok(Self::File(PathBuf::from(document)))
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(url) => write!(f, "{url}"),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// How the document is read, again on every refresh.
pub struct Source {
    location: Location,
    client: reqwest::Client,
    /// The registration's credentials when the document is on the API's own origin; none
    /// otherwise, so that a document published elsewhere never sees them.
    headers: HeaderMap,
    timeout: Duration,
}

impl Source {
    /// `base` is the API's base URL when the registration sets one: the document is fetched
    /// with `credentials` only from that origin.
    pub fn new(
        location: Location,
        base: Option<&Url>,
        credentials: &HeaderMap,
        client: reqwest::Client,
        timeout: Duration,
    ) -> Self {
        let same_origin = match (&location, base) {
            (Location::Url(url), Some(base)) => url.origin() == base.origin(),
            _ => false,
        };
        Self {
            location,
            client,
            headers: if same_origin {
                credentials.clone()
            } else {
                HeaderMap::new()
            },
            timeout,
        }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Reads and parses the document (not yet checked as OpenAPI).
    pub async fn read(&self) -> Result<Value, String> {
        let text = match &self.location {
            Location::Url(url) => self.fetch(url).await?,
            Location::File(path) => read_file(path).await?,
        };
        parse(&text)
    }

    async fn fetch(&self, url: &Url) -> Result<String, String> {
        let response = self
            .client
            .get(url.clone())
            .headers(self.headers.clone())
            .header(
                header::ACCEPT,
                HeaderValue::from_static("application/json, application/yaml;q=0.9, */*;q=0.8"),
            )
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| format!("cannot fetch it: {}", cause(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let hint = if self.headers.is_empty() && matches!(status.as_u16(), 401 | 403) {
                " (it was requested without the registration's credentials, which go only to \
                 the API's origin: set `url` to the API's base URL on the document's origin)"
            } else {
                ""
            };
            return Err(format!("fetching it answered {status}{hint}"));
        }
        let body = read_body(response, MAX_DOCUMENT)
            .await
            .map_err(|e| match e {
                Limited::TooLarge => format!("it is larger than {} MiB", MAX_DOCUMENT >> 20),
                Limited::Failed(cause) => format!("reading it failed: {cause}"),
            })?;
        String::from_utf8(body).map_err(|_| "it is not UTF-8 text".to_owned())
    }
}

async fn read_file(path: &std::path::Path) -> Result<String, String> {
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read it: {e}"))?;
    if metadata.len() > MAX_DOCUMENT as u64 {
        return Err(format!("it is larger than {} MiB", MAX_DOCUMENT >> 20));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read it: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// JSON, or else YAML (of which JSON is a subset, but whose errors are less clear).
pub fn parse(text: &str) -> Result<Value, String> {
    let document: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("it is not valid JSON: {e}"))?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| format!("it is not valid YAML: {e}"))?
    };
    if !document.is_object() {
        return Err("it is not an OpenAPI document (not an object)".to_owned());
    }
    Ok(document)
}

/// Which schema dialect the document's `openapi` version implies; only OpenAPI 3 is read.
pub fn dialect(document: &Value) -> Result<Dialect, String> {
    match document.get("openapi") {
        Some(Value::String(version)) if version.starts_with("3.0") => Ok(Dialect::V30),
        Some(Value::String(version)) if version.starts_with("3.") => Ok(Dialect::V31),
        Some(version) => Err(format!(
            "OpenAPI {version} is not supported; only OpenAPI 3 documents are"
        )),
        None if document.get("swagger").is_some() => Err(
            "it is a Swagger 2.0 document; only OpenAPI 3 documents are supported (convert it \
             first, e.g. with swagger2openapi)"
                .to_owned(),
        ),
        None => Err("it is not an OpenAPI document (it has no `openapi` field)".to_owned()),
    }
}

/// The API's base URL: the registration's `url`, else the document's first server (its
/// variables at their defaults), resolved against the document's URL when relative. A
/// document without servers is served from its own origin (`/`).
pub fn base_url(
    configured: Option<&Url>,
    document: &Value,
    location: &Location,
) -> Result<Url, String> {
    if let Some(url) = configured {
        return Ok(url.clone());
    }
    let server = document
        .get("servers")
        .and_then(Value::as_array)
        .and_then(|servers| servers.first());
    let written = match server {
        Some(server) => substitute(server)?,
        None => "/".to_owned(),
    };
    let url = match location {
        Location::Url(document) => document.join(&written),
        Location::File(_) => Url::parse(&written),
    }
    .map_err(|_| match location {
        Location::Url(_) => format!("its server URL \"{written}\" is not a valid URL"),
        Location::File(_) => format!(
            "its server URL \"{written}\" is not absolute and the document is a file: set \
             `url` to the API's base URL"
        ),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "its server URL \"{url}\" is not an http(s) URL: set `url` to the API's base URL"
        ));
    }
    Ok(url)
}

/// A server object's `url` with its `{variables}` at their defaults.
fn substitute(server: &Value) -> Result<String, String> {
    let url = server
        .get("url")
        .and_then(Value::as_str)
        .ok_or("its first server has no url")?;
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let value = server
            .pointer(&format!(
                "/variables/{}/default",
                name.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("its server variable {{{name}}} has no default"))?;
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_base_url_is_the_registrations_or_the_documents_first_server() {
        let remote = Location::parse("https://api.example.com/docs/openapi.json").unwrap();
        let file = Location::parse("/etc/agenthub/api.yaml").unwrap();
        assert_eq!(file, Location::File("/etc/agenthub/api.yaml".into()));
        let configured = Url::parse("http://10.0.0.5:8080/v2").unwrap();
        // (registration's url, servers, location, expected base or words of the error)
        let cases = [
            (
                None,
                json!([{"url": "/v1"}]),
                &remote,
                Ok("https://api.example.com/v1"),
            ),
            (
                None,
                json!([{"url": "v1/"}]),
                &remote,
                Ok("https://api.example.com/docs/v1/"),
            ),
            (None, json!(null), &remote, Ok("https://api.example.com/")),
            (
                None,
                json!([{"url": "https://{region}.example.com/{base}",
                        "variables": {"region": {"default": "eu"}, "base": {"default": "api"}}},
                       {"url": "https://other.example.com"}]),
                &file,
                Ok("https://eu.example.com/api"),
            ),
            (
                Some(&configured),
                json!([{"url": "/v1"}]),
                &file,
                Ok("http://10.0.0.5:8080/v2"),
            ),
            (None, json!([{"url": "/v1"}]), &file, Err("set `url`")),
            (None, json!(null), &file, Err("set `url`")),
            (
                None,
                json!([{"url": "https://{tenant}.example.com"}]),
                &remote,
                Err("{tenant} has no default"),
            ),
            (
                None,
                json!([{"url": "ftp://example.com"}]),
                &remote,
                Err("not an http(s) URL"),
            ),
            (
                None,
                json!([{"description": "no url"}]),
                &remote,
                Err("no url"),
            ),
        ];
        for (configured, servers, location, expected) in cases {
            let document = if servers.is_null() {
                json!({"openapi": "3.1.0"})
            } else {
                json!({"openapi": "3.1.0", "servers": servers})
            };
            let base = base_url(configured, &document, location);
            match expected {
                Ok(url) => assert_eq!(base.unwrap().as_str(), url, "{servers}"),
                Err(words) => {
                    let error = base.unwrap_err();
                    assert!(error.contains(words), "{servers}: {error}");
                }
            }
        }
    }

    #[test]
    fn only_openapi_3_documents_are_read() {
        let cases = [
            (json!({"openapi": "3.0.3"}), Ok(Dialect::V30)),
            (json!({"openapi": "3.1.0"}), Ok(Dialect::V31)),
            (json!({"openapi": "3.2.0"}), Ok(Dialect::V31)),
            (json!({"openapi": "2.0"}), Err("not supported")),
            (json!({"openapi": 3}), Err("not supported")),
            (json!({"swagger": "2.0"}), Err("Swagger 2.0")),
            (json!({"info": {}}), Err("no `openapi` field")),
        ];
        for (document, expected) in cases {
            match expected {
                Ok(expected) => assert_eq!(dialect(&document).unwrap(), expected),
                Err(words) => {
                    let error = dialect(&document).unwrap_err();
                    assert!(error.contains(words), "{document}: {error}");
                }
            }
        }
    }

    #[test]
    fn documents_are_json_or_yaml() {
        let yaml = "openapi: 3.0.3\npaths:\n  /pets:\n    get:\n      responses:\n        200:\n          description: ok\n";
        let document = parse(yaml).unwrap();
        // Status codes written as numbers are keys like any other.
        assert_eq!(
            document.pointer("/paths/~1pets/get/responses/200/description"),
            Some(&json!("ok"))
        );
        assert_eq!(
            parse(r#" {"openapi": "3.1.0"}"#).unwrap()["openapi"],
            "3.1.0"
        );
        for (text, words) in [
            ("{\"openapi\": ", "not valid JSON"),
            ("openapi: [3", "not valid YAML"),
            ("- a\n- b\n", "not an object"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(words), "{text}: {error}");
        }
    }
}
