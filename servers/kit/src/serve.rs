//! Serving one MCP server over stdio or streamable HTTP.

use std::net::SocketAddr;

use anyhow::Context;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt};

/// How the server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// MCP on standard input and output (what MCP clients and the hub's `stdio` upstreams run).
    Stdio,
    /// Streamable HTTP at `/mcp` on `--listen`.
    Http,
}

/// The serving flags every bundled server takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[arg(long, value_enum, default_value = "stdio", env = "MCP_TRANSPORT")]
    pub transport: Transport,
    /// Where the HTTP transport listens.
    #[arg(long, default_value = "127.0.0.1:8080", env = "MCP_LISTEN")]
    pub listen: SocketAddr,
    /// `Host` values the HTTP transport accepts besides loopback ones (DNS-rebinding
    /// protection); comma-separated.
    #[arg(
        long = "allowed-host",
        env = "MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
}

impl ServeArgs {
    /// Streamable HTTP on `listen`, loopback `Host` values only.
    pub fn http(listen: SocketAddr) -> Self {
        Self {
            transport: Transport::Http,
            listen,
            allowed_hosts: Vec::new(),
        }
    }
}

/// Logs go to standard error: standard output is the stdio transport's.
pub fn init_logging() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}

/// Serves the handlers `make` builds until the client goes away (stdio) or the process is
/// stopped (HTTP).
pub async fn serve<S, F>(args: &ServeArgs, make: F) -> anyhow::Result<()>
where
    S: ServerHandler + Send + Sync + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    match args.transport {
        Transport::Stdio => {
            let running = make()
                .serve(rmcp::transport::stdio())
                .await
                .context("the MCP session over stdio did not start")?;
            running.waiting().await.context("the MCP session failed")?;
            Ok(())
        }
        Transport::Http => {
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            tracing::info!(address = %listener.local_addr()?, "serving MCP at /mcp");
            if !args.listen.ip().is_loopback() {
                tracing::warn!(
                    "listening beyond loopback: this server has no authentication of its own and uses its service's token for whoever reaches it; put it behind the hub or a proxy that authenticates"
                );
            }
            axum::serve(listener, router(args, make))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .context("the HTTP server failed")
        }
    }
}

/// The HTTP transport's routes: `/mcp` and `/healthz`.
pub fn router<S, F>(args: &ServeArgs, make: F) -> axum::Router
where
    S: ServerHandler + Send + Sync + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    let hosts = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .map(str::to_owned)
        .chain(args.allowed_hosts.iter().cloned());
    let mcp = StreamableHttpService::new(
        move || Ok(make()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default().with_allowed_hosts(hosts),
    );
    axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .nest_service("/mcp", mcp)
}

/// A session of `handler` inside this process: the client's end of a pipe to it (how the hub
/// runs a bundled server). The session ends when that end is dropped.
pub fn in_process<S>(handler: S) -> tokio::io::DuplexStream
where
    S: ServerHandler + Send + Sync + 'static,
{
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        match handler.serve(server_end).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(error) => tracing::debug!(%error, "a built-in server's session did not start"),
        }
    });
    client_end
}
