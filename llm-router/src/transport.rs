//! The providers' HTTP client: hyper's pooled client over rustls, with the platform's
//! certificate roots, HTTP/2 where the provider offers it, no redirects (an answer must not
//! point the hub at another address) and the `HTTP(S)_PROXY`/`NO_PROXY` environment honoured.
//! The request is sent as the adapter prepared it, without a general-purpose client's per-call
//! URL parsing and policy layers: this is the hot path of every model call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, PROXY_AUTHORIZATION, USER_AGENT};
use http::uri::Scheme;
use http::{Method, Request, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower_service::Service;

use crate::adapters::UpstreamRequest;
use crate::error::{Error, Result};

/// A provider's answer, its body not yet read.
pub type Answer = http::Response<Incoming>;

/// How long an idle pooled connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Cheap to clone: the pool is shared.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<ProxiedConnector>, Full<Bytes>>,
    proxies: Arc<Matcher>,
    user_agent: HeaderValue,
}

impl HttpClient {
    /// A client whose connections (through a proxy, if one applies) must open within
    /// `connect`.
    pub fn new(connect: Duration) -> Result<Self> {
        Self::with_proxies(connect, Matcher::from_env())
    }

    fn with_proxies(connect: Duration, proxies: Matcher) -> Result<Self> {
        let proxies = Arc::new(proxies);
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect));
        http.set_nodelay(true);
        // The scheme is checked by the TLS layer above.
        http.enforce_http(false);
        let tls = tls_config()?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(ProxiedConnector {
                http,
                proxies: proxies.clone(),
            });
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .build(https);
        Ok(Self {
            client,
            proxies,
            user_agent: HeaderValue::from_static(concat!("agenthub/", env!("CARGO_PKG_VERSION"))),
        })
    }

    /// POSTs `request` and waits for the answer's status and headers.
    pub async fn post(&self, request: UpstreamRequest) -> Result<Answer> {
        let UpstreamRequest { url, headers, body } = request;
        let uri = Uri::try_from(url).map_err(|e| Error::Transport {
            timeout: false,
            message: format!("the provider's URL is not valid: {e}"),
        })?;
        let mut builder = Request::builder().method(Method::POST);
        if uri.scheme() == Some(&Scheme::HTTP)
            && let Some(auth) = self
                .proxies
                .intercept(&uri)
                .and_then(|proxy| proxy.basic_auth().cloned())
        {
            // A plain-HTTP request goes to the proxy itself, which reads its credentials here.
            builder = builder.header(PROXY_AUTHORIZATION, auth);
        }
        let mut request = builder
            .uri(uri)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Setup(format!("cannot build the provider request: {e}")))?;
        let map = request.headers_mut();
        map.reserve(headers.len() + 1);
        for (name, value) in headers {
            let name = HeaderName::try_from(name)
                .map_err(|e| Error::Setup(format!("an adapter made a bad header name: {e}")))?;
            let mut value = HeaderValue::try_from(value).map_err(|_| {
                Error::Setup(format!("an adapter made a bad value for the {name} header"))
            })?;
            if is_credential(&name) {
                value.set_sensitive(true);
            }
            map.append(name, value);
        }
        map.entry(USER_AGENT).or_insert(self.user_agent.clone());
        self.client
            .request(request)
            .await
            .map_err(|e| transport_error(&e))
    }
}

/// The client's error as the router's, without the address or anything the provider said.
fn transport_error(error: &hyper_util::client::legacy::Error) -> Error {
    let message = if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    Error::Transport {
        timeout: false,
        message: message.to_owned(),
    }
}

/// A body read failed part way.
pub fn body_error(_: &hyper::Error) -> Error {
    Error::Transport {
        timeout: false,
        message: "the connection broke during the answer".to_owned(),
    }
}

fn is_credential(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "authorization" | "x-api-key" | "api-key" | "x-goog-api-key"
    )
}

fn tls_config() -> Result<rustls::ClientConfig> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map(|builder| builder.with_no_client_auth())
        .map_err(|e| Error::Setup(format!("cannot set up TLS for provider calls: {e}")))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens TCP connections straight to the provider, or through the proxy the environment names
/// for it: a CONNECT tunnel for HTTPS (TLS is then negotiated end to end by the layer above),
/// the proxy itself for plain HTTP (the client then sends absolute-form request targets).
#[derive(Clone)]
struct ProxiedConnector {
    http: HttpConnector,
    proxies: Arc<Matcher>,
}

impl Service<Uri> for ProxiedConnector {
    type Response = ProxiedStream;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<ProxiedStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let Some(proxy) = self.proxies.intercept(&destination) else {
            return Box::pin(async move {
                let io = http.call(destination).await?;
                Ok(ProxiedStream { io, proxied: false })
            });
        };
        if destination.scheme() == Some(&Scheme::HTTPS) {
            let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
            if let Some(auth) = proxy.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            Box::pin(async move {
                let io = tunnel.call(destination).await?;
                Ok(ProxiedStream { io, proxied: false })
            })
        } else {
            let proxy = proxy.uri().clone();
            Box::pin(async move {
                let io = http.call(proxy).await?;
                Ok(ProxiedStream { io, proxied: true })
            })
        }
    }
}

/// A TCP stream that knows whether it leads to a forwarding proxy.
struct ProxiedStream {
    io: TokioIo<tokio::net::TcpStream>,
    proxied: bool,
}

impl Connection for ProxiedStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for ProxiedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for ProxiedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A forward proxy that answers every request itself and hands back its head.
    async fn fake_proxy() -> (String, tokio::sync::oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client hung up");
                head.extend_from_slice(&buf[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await
                .unwrap();
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        });
        (format!("http://user:secret@{address}"), rx)
    }

    fn post_to(url: &str) -> UpstreamRequest {
        UpstreamRequest {
            url: url.to_owned(),
            headers: vec![("authorization".into(), "Bearer sk-provider".into())],
            body: b"{}".to_vec(),
        }
    }

    #[tokio::test]
    async fn plain_http_goes_through_the_proxy_in_absolute_form() {
        let (proxy, head) = fake_proxy().await;
        let client = HttpClient::with_proxies(
            Duration::from_secs(5),
            Matcher::builder().http(proxy).build(),
        )
        .unwrap();
        let answer = client
            .post(post_to("http://provider.invalid:8000/v1/chat/completions"))
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let head = head.await.unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("post http://provider.invalid:8000/v1/chat/completions http/1.1"),
            "{head}"
        );
        // user:secret, as the proxy URL gave them.
        assert!(
            head.contains("proxy-authorization: basic dxnlcjpzzwnyzxq="),
            "{head}"
        );
        assert!(head.contains("authorization: bearer sk-provider"), "{head}");
        assert!(head.contains("user-agent: agenthub/"), "{head}");
    }

    #[tokio::test]
    async fn no_proxy_hosts_are_reached_directly() {
        let (proxy, _head) = fake_proxy().await;
        let (direct, head) = fake_proxy().await;
        let direct = direct.replace("user:secret@", "");
        let client = HttpClient::with_proxies(
            Duration::from_secs(5),
            Matcher::builder().http(proxy).no("127.0.0.1").build(),
        )
        .unwrap();
        let answer = client
            .post(post_to(&format!("{direct}/v1/chat/completions")))
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let head = head.await.unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("post /v1/chat/completions http/1.1"),
            "{head}"
        );
        assert!(!head.contains("proxy-authorization"), "{head}");
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_a_transport_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let client =
            HttpClient::with_proxies(Duration::from_secs(5), Matcher::builder().build()).unwrap();
        let error = client
            .post(post_to(&format!("http://{address}/v1/chat/completions")))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Transport { timeout: false, message } if message == "could not connect"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_bad_url_is_refused_before_sending() {
        let client =
            HttpClient::with_proxies(Duration::from_secs(5), Matcher::builder().build()).unwrap();
        let error = client.post(post_to("not a url")).await.unwrap_err();
        assert!(error.to_string().contains("not valid"), "{error}");
    }
}
