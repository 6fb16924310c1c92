//! `agenthub mcp`: the registered MCP servers through the admin API (`/mcp/servers`): their
//! connection state, and the tools each publishes.

use clap::Subcommand;
use serde::Deserialize;

use super::admin::{ClientArgs, Outcome, get_and_show, path_segment};
use super::output::{Table, or_dash};

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// List the registered MCP servers with their connection state and catalog size.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the tools an MCP server publishes, under the names clients call.
    Tools {
        /// The server's name.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Deserialize)]
struct Server {
    name: String,
    transport: String,
    target: String,
    state: String,
    since: String,
    error: Option<String>,
    tools: usize,
    resources: usize,
    prompts: usize,
}

#[derive(Deserialize)]
struct Tool {
    name: String,
    upstream_name: String,
    description: Option<String>,
}

pub async fn mcp(cmd: McpCommand) -> Outcome {
    match cmd {
        McpCommand::List { client } => {
            get_and_show(&client, "/mcp/servers", |servers: Vec<Server>| {
                let mut table = Table::new(&[
                    "NAME",
                    "TRANSPORT",
                    "TARGET",
                    "STATE",
                    "SINCE",
                    "TOOLS",
                    "RESOURCES",
                    "PROMPTS",
                    "ERROR",
                ]);
                for s in servers {
                    table.row(vec![
                        s.name,
                        s.transport,
                        s.target,
                        s.state,
                        s.since,
                        s.tools.to_string(),
                        s.resources.to_string(),
                        s.prompts.to_string(),
                        or_dash(s.error.as_deref()),
                    ]);
                }
                table.render()
            })
            .await
        }
        McpCommand::Tools { name, client } => {
            let path = format!("/mcp/servers/{}/tools", path_segment(&name));
            get_and_show(&client, &path, |tools: Vec<Tool>| {
                let mut table = Table::new(&["NAME", "UPSTREAM NAME", "DESCRIPTION"]);
                for t in tools {
                    let description = t
                        .description
                        .map(|d| d.lines().next().unwrap_or_default().to_owned());
                    table.row(vec![
                        t.name,
                        t.upstream_name,
                        or_dash(description.as_deref()),
                    ]);
                }
                table.render()
            })
            .await
        }
    }
}
