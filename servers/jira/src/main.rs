//! `agenthub-mcp-jira`: the Jira MCP server, over stdio or streamable HTTP.

use agenthub_mcp_jira::Settings;
use agenthub_server_kit::serve::{self, ServeArgs};
use clap::Parser;

#[derive(Parser)]
#[command(version, about = "An MCP server for Jira")]
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
    let jira = agenthub_mcp_jira::server(&cli.settings)?;
    serve::serve(&cli.serve, move || jira.clone()).await
}
