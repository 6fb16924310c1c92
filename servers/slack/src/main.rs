//! `agenthub-mcp-slack`: the Slack MCP server, over stdio or streamable HTTP.

use agenthub_mcp_slack::Settings;
use agenthub_server_kit::serve::{self, ServeArgs};
use clap::Parser;

#[derive(Parser)]
#[command(version, about = "An MCP server for Slack")]
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
    let slack = agenthub_mcp_slack::server(&cli.settings)?;
    serve::serve(&cli.serve, move || slack.clone()).await
}
