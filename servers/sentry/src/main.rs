//! `agenthub-mcp-sentry`: the Sentry MCP server, over stdio or streamable HTTP.

use agenthub_mcp_sentry::Settings;
use agenthub_server_kit::serve::{self, ServeArgs};
use clap::Parser;

#[derive(Parser)]
#[command(version, about = "An MCP server for Sentry")]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serve::init_logging();
    let cli = Cli::parse();
    let sentry = agenthub_mcp_sentry::server(&cli.settings)?;
    serve::serve(&cli.serve, move || sentry.clone()).await
}
