//! Reading an agent's card from the agent: `<base>/.well-known/agent-card.json`, or v0.3's
//! `<base>/.well-known/agent.json` when the first is not there; then parsed and validated.
//! Bounded in time and size, and never sent to another origin by a redirect (the request may
//! carry the agent's credentials).

use std::error::Error as _;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use reqwest::Url;

use crate::card::{AgentCard, Problem};

/// Where agents publish their card (A2A v1.0, and v0.3 since 0.3.0).
pub const CARD_PATH: &str = "/.well-known/agent-card.json";
/// Where agents before v0.3 published it; v0.3 agents often still do.
pub const LEGACY_CARD_PATH: &str = "/.well-known/agent.json";
/// Same-origin redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    pub connect_timeout: Duration,
    /// For the whole exchange, body included.
    pub timeout: Duration,
    /// The largest card accepted.
    pub max_bytes: usize,
    /// Connect to public addresses only (`destinations`): names resolving elsewhere and
    /// private IP literals are refused.
    pub public_only: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_bytes: 1024 * 1024,
            public_only: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("\"{url}\" is not an agent's base URL: {reason}")]
    BaseUrl { url: String, reason: String },
    /// No answer, a refusal, or an answer out of bounds.
    #[error("cannot fetch the agent card from {url}: {reason}")]
    Fetch { url: String, reason: String },
    /// An answer that cannot be read as a card.
    #[error("{url} is not an agent card: {reason}")]
    NotACard { url: String, reason: String },
    /// A card the hub cannot use; every problem with its JSON path.
    #[error("the agent card at {url} is invalid: {}", list(problems))]
    Invalid { url: String, problems: Vec<Problem> },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|(path, message)| format!("{path}: {message}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A card and where it was read.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub card: AgentCard,
    /// The card as the agent published it: its signatures cover this form, not the
    /// normalized one.
    pub raw: serde_json::Value,
    /// The card's URL as requested (the well-known path or v0.3's), before any same-origin
    /// redirect.
    pub url: Url,
}

/// Fetches cards; one per hub, its connections reused.
#[derive(Debug, Clone)]
pub struct CardFetcher {
    client: reqwest::Client,
    options: FetchOptions,
}

/// Why one GET failed: a status (which may send us to the legacy path) or anything else.
enum GetError {
    Status(StatusCode),
    Other(String),
}

impl CardFetcher {
    pub fn new(options: FetchOptions) -> Result<Self, reqwest::Error> {
        // The binary installs ring first thing; a hub embedded as a library may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if !same_origin {
                // Answered as it is: `get` reports the redirect.
                attempt.stop()
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        });
        let mut client = reqwest::Client::builder()
            .redirect(redirects)
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .user_agent(concat!("agenthub/", env!("CARGO_PKG_VERSION")));
        if options.public_only {
            client = client.dns_resolver(crate::destinations::PublicOnly);
        }
        let client = client.build()?;
        Ok(Self { client, options })
    }

    /// A fetcher like this one that connects to public addresses only.
    pub fn public_only(&self) -> Result<Self, reqwest::Error> {
        Self::new(FetchOptions {
            public_only: true,
            ..self.options
        })
    }

    /// Fetches, parses and validates the card of the agent at `base_url`, sending `headers`
    /// (the agent's credentials, if its card is not public).
    pub async fn fetch(&self, base_url: &str, headers: &HeaderMap) -> Result<Fetched, FetchError> {
        let base = parse_base(base_url).map_err(|reason| FetchError::BaseUrl {
            url: base_url.to_owned(),
            reason,
        })?;
        let url = at_path(&base, CARD_PATH);
        let (url, body, content_type) = match self.get(&url, headers).await {
            Ok((body, content_type)) => (url, body, content_type),
            Err(GetError::Status(status))
                if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) =>
            {
                let legacy = at_path(&base, LEGACY_CARD_PATH);
                match self.get(&legacy, headers).await {
                    Ok((body, content_type)) => (legacy, body, content_type),
                    Err(GetError::Status(legacy_status)) => {
                        return Err(FetchError::Fetch {
                            url: url.to_string(),
                            reason: format!("{status} (nor from {legacy}: {legacy_status})"),
                        });
                    }
                    Err(GetError::Other(reason)) => {
                        return Err(FetchError::Fetch {
                            url: legacy.to_string(),
                            reason,
                        });
                    }
                }
            }
            Err(GetError::Status(status)) => {
                return Err(FetchError::Fetch {
                    url: url.to_string(),
                    reason: status.to_string(),
                });
            }
            Err(GetError::Other(reason)) => {
                return Err(FetchError::Fetch {
                    url: url.to_string(),
                    reason,
                });
            }
        };
        let parsed = serde_json::from_slice::<serde_json::Value>(&body)
            .map_err(|e| crate::card::ParseError::new("", format!("not JSON: {e}")))
            .and_then(|raw| Ok((AgentCard::from_value(raw.clone())?, raw)));
        let (card, raw) = parsed.map_err(|e| {
            let mut reason = e.to_string();
            // An HTML error page or a login form says more by its type than by its first byte.
            if let Some(content_type) = content_type.filter(|t| !t.contains("json"))
                && e.path.is_empty()
            {
                reason = reason.replacen("not JSON", &format!("not JSON ({content_type})"), 1);
            }
            FetchError::NotACard {
                url: url.to_string(),
                reason,
            }
        })?;
        let problems = card.validate();
        if !problems.is_empty() {
            return Err(FetchError::Invalid {
                url: url.to_string(),
                problems,
            });
        }
        Ok(Fetched { card, raw, url })
    }

    /// A JSON document (a card's signing keys) at `url`, bounded like a card.
    pub async fn json(&self, url: &str, headers: &HeaderMap) -> Result<serde_json::Value, String> {
        let parsed = Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
        let (body, _) = self.get(&parsed, headers).await.map_err(|e| match e {
            GetError::Status(status) => format!("{url}: {status}"),
            GetError::Other(reason) => format!("{url}: {reason}"),
        })?;
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))
    }

    /// The body and content type of a 2xx answer, at most `max_bytes` long.
    async fn get(
        &self,
        url: &Url,
        headers: &HeaderMap,
    ) -> Result<(Vec<u8>, Option<String>), GetError> {
        if self.options.public_only {
            crate::destinations::check_literal(url).map_err(GetError::Other)?;
        }
        let mut response = self
            .client
            .get(url.clone())
            .headers(headers.clone())
            .header(header::ACCEPT, HeaderValue::from_static("application/json"))
            .send()
            .await
            .map_err(|e| GetError::Other(self.describe(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("nowhere");
            return Err(GetError::Other(format!(
                "{status} to {location}, another origin (not followed)"
            )));
        }
        if !status.is_success() {
            return Err(GetError::Status(status));
        }
        let too_large = || GetError::Other(format!("larger than {} bytes", self.options.max_bytes));
        if response
            .content_length()
            .is_some_and(|length| length > self.options.max_bytes as u64)
        {
            return Err(too_large());
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| GetError::Other(self.describe(&e)))?
        {
            if body.len() + chunk.len() > self.options.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, content_type))
    }

    fn describe(&self, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            return format!("no answer within {:?}", self.options.timeout);
        }
        // reqwest's own message repeats the URL; its causes say what happened.
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        match causes.last() {
            // The innermost cause is the one that says why (refused, no such host, TLS).
            Some(cause) if error.is_connect() => format!("cannot connect: {cause}"),
            Some(_) => causes.join(": "),
            None => error.to_string(),
        }
    }
}

/// Whether `url` can be an agent's base URL (what `fetch` takes).
pub fn check_base_url(url: &str) -> Result<(), String> {
    parse_base(url).map(drop)
}

/// An http(s) URL without credentials, query or fragment: the card's path is appended to it.
fn parse_base(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| e.to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("it must start with https:// or http://".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("it names no host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("it must not carry credentials (use headers or bearer_token)".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("it must not have a query or fragment".into());
    }
    if [CARD_PATH, LEGACY_CARD_PATH]
        .iter()
        .any(|card| parsed.path().ends_with(card))
    {
        return Err(format!(
            "give the agent's base URL, without {CARD_PATH}: the card is read from there"
        ));
    }
    Ok(parsed)
}

fn at_path(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url
}
