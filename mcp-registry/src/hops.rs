//! The hop header between hubs: `x-agenthub-via: <id>, <id>, …` names every hub a request has
//! passed through, the sender last. A hub that finds its own id in it refuses the request (a
//! loop), and leaves out of its lists what comes from hubs on it, so that hubs registered with
//! each other never publish each other's tools back and forth.
//!
//! Upstream, the header goes with every request over streamable HTTP: the hub's own id for what
//! the hub asks itself (catalog reads, health checks), set once on the connection; for a request
//! forwarded for a client that came with a chain, that chain plus the hub's id. rmcp sends a
//! connection's headers alike on every request, so the face hands the per-request chain to
//! [`ViaHttpClient`] in the request's `_meta` ([`META_KEY`]), which turns it into the header and
//! takes it out of the message: the upstream server never sees it, and a request without a
//! chain costs nothing more. Stdio and OpenAPI upstreams get neither: they cannot forward a
//! request to another hub by HTTP.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, RequestMetaObject};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};

/// The hop header.
pub const HEADER: HeaderName = HeaderName::from_static("x-agenthub-via");
/// Where the face puts a forwarded request's chain for [`ViaHttpClient`]; never sent upstream.
pub const META_KEY: &str = "io.agenthub/via";
/// Where a hub's face tells its clients its id: the `_meta` of its initialize and discover
/// results.
pub const HUB_ID_META: &str = "io.agenthub/hub_id";
/// The most hubs a chain names, this one included: beyond it a request is refused, which also
/// bounds loops through gateways that forward the header without adding to it.
pub const MAX_HOPS: usize = 8;
/// The longest hub id.
const MAX_ID: usize = 64;

/// Why a hub id or a hop header is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HopError {
    #[error("a hub id is 1 to {MAX_ID} characters of A-Z, a-z, 0-9, '.', '_' and '-': {0:?}")]
    BadId(String),
    #[error("the header is not text")]
    NotText,
    #[error(
        "the request already passed through {0} hubs; at most {max} may be chained",
        max = MAX_HOPS - 1
    )]
    TooMany(usize),
}

/// Checks a hub id: short, and safe in a header's comma-separated list.
pub fn check_id(id: &str) -> Result<(), HopError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(HopError::BadId(id.to_owned()))
    }
}

/// The hub ids of a hop header, in order. Empty elements and whitespace around ids are
/// ignored (RFC 9110's list syntax); a chain that leaves no room for this hub is refused.
pub fn parse(header: &HeaderValue) -> Result<Vec<&str>, HopError> {
    let text = header.to_str().map_err(|_| HopError::NotText)?;
    let mut ids = Vec::new();
    for id in text.split(',').map(|s| s.trim_matches([' ', '\t'])) {
        if id.is_empty() {
            continue;
        }
        check_id(id)?;
        ids.push(id);
        if ids.len() >= MAX_HOPS {
            let total = text.split(',').filter(|s| !s.trim().is_empty()).count();
            return Err(HopError::TooMany(total));
        }
    }
    Ok(ids)
}

/// The chain a request forwarded by hub `own` carries on: `ids`, then `own`.
pub fn extend(ids: &[&str], own: &str) -> String {
    let mut chain = ids.join(", ");
    chain.push_str(", ");
    chain.push_str(own);
    chain
}

/// A streamable HTTP client that sends a request's own chain (from its `_meta`, see
/// [`META_KEY`]) as the hop header, in place of the connection's.
#[derive(Clone)]
pub struct ViaHttpClient<C> {
    inner: C,
}

impl<C> ViaHttpClient<C> {
    pub fn new(inner: C) -> Self {
        Self { inner }
    }
}

/// Takes the chain out of a forwarded request's `_meta`, if the face put one there.
fn take_chain(message: &mut ClientJsonRpcMessage) -> Option<HeaderValue> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let meta = match &mut request.request {
        ClientRequest::CallToolRequest(r) => &mut r.params.meta,
        ClientRequest::GetPromptRequest(r) => &mut r.params.meta,
        ClientRequest::ReadResourceRequest(r) => &mut r.params.meta,
        _ => return None,
    };
    let map: &mut RequestMetaObject = meta.as_mut()?;
    let chain = map.0.0.remove(META_KEY)?;
    if map.0.0.is_empty() {
        *meta = None;
    }
    // Made by the face from checked ids; anything else keeps the connection's header.
    HeaderValue::try_from(chain.as_str()?).ok()
}

impl<C: StreamableHttpClient + Sync> StreamableHttpClient for ViaHttpClient<C> {
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        mut message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        if let Some(chain) = take_chain(&mut message) {
            custom_headers.insert(HEADER, chain);
        }
        self.inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<
        futures::stream::BoxStream<'static, Result<sse_stream::Sse, SseError>>,
        StreamableHttpError<Self::Error>,
    > {
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolRequest, CallToolRequestParams, JsonRpcRequest, RequestId};

    use super::*;

    #[test]
    fn headers_parse_into_ids_or_are_refused() {
        let nine = ["h"; 9].join(",");
        let eight = ["h"; 8].join(",");
        let seven = ["h"; 7].join(",");
        let seven_ids: Vec<&str> = vec!["h"; 7];
        // (header, the ids, or the error)
        let cases: Vec<(&str, Result<Vec<&str>, HopError>)> = vec![
            ("a", Ok(vec!["a"])),
            ("a,b", Ok(vec!["a", "b"])),
            ("  a ,\tb  ", Ok(vec!["a", "b"])),
            ("a,,b,", Ok(vec!["a", "b"])),
            (", ,", Ok(vec![])),
            ("", Ok(vec![])),
            ("hub-1.eu_west", Ok(vec!["hub-1.eu_west"])),
            (&seven, Ok(seven_ids)),
            (&eight, Err(HopError::TooMany(8))),
            (&nine, Err(HopError::TooMany(9))),
            ("a b", Err(HopError::BadId("a b".to_owned()))),
            ("a;b", Err(HopError::BadId("a;b".to_owned()))),
            ("a,b/c", Err(HopError::BadId("b/c".to_owned()))),
            ("a,\"b\"", Err(HopError::BadId("\"b\"".to_owned()))),
        ];
        for (header, expected) in cases {
            let value = HeaderValue::from_str(header).unwrap();
            assert_eq!(parse(&value), expected, "{header:?}");
        }
        let long = "x".repeat(MAX_ID + 1);
        assert!(matches!(
            parse(&HeaderValue::from_str(&long).unwrap()),
            Err(HopError::BadId(_))
        ));
        let not_text = HeaderValue::from_bytes(b"a,\xff").unwrap();
        assert_eq!(parse(&not_text), Err(HopError::NotText));
    }

    #[test]
    fn ids_are_checked() {
        for good in ["a", "0198-abc", "A.b_c-d", &"x".repeat(MAX_ID)] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "a,b", "é", &"x".repeat(MAX_ID + 1)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_chain_is_extended_with_this_hub() {
        assert_eq!(extend(&["a", "b"], "c"), "a, b, c");
        assert_eq!(extend(&["a"], "c"), "a, c");
    }

    fn call(meta: Option<serde_json::Value>) -> ClientJsonRpcMessage {
        let mut params = CallToolRequestParams::new("t");
        params.meta = meta.map(|m| serde_json::from_value(m).unwrap());
        JsonRpcMessage::Request(JsonRpcRequest::new(
            RequestId::Number(1),
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
        ))
    }

    fn meta_of(message: &ClientJsonRpcMessage) -> Option<serde_json::Value> {
        serde_json::to_value(message).unwrap()["params"]
            .get("_meta")
            .cloned()
    }

    #[test]
    fn the_chain_leaves_the_message_for_the_header() {
        let mut alone = call(Some(serde_json::json!({META_KEY: "a, b"})));
        assert_eq!(
            take_chain(&mut alone),
            Some(HeaderValue::from_static("a, b"))
        );
        assert_eq!(meta_of(&alone), None);

        let mut with_token = call(Some(serde_json::json!({META_KEY: "a", "progressToken": 3})));
        assert_eq!(
            take_chain(&mut with_token),
            Some(HeaderValue::from_static("a"))
        );
        assert_eq!(
            meta_of(&with_token),
            Some(serde_json::json!({"progressToken": 3}))
        );

        let mut none = call(None);
        assert_eq!(take_chain(&mut none), None);
    }
}
