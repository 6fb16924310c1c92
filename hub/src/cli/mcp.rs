//! `agenthub mcp`: the registered MCP servers through the admin API (`/mcp/servers`):
//! register (from flags, a file, or an official registry `server.json`), remove, refresh,
//! their connection state, and the tools each publishes. `mcp virtual` is in `mcp_virtual`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::admin::{ClientArgs, Outcome, call_and_show, delete, get_and_show, item, path_segment};
use super::catalog::header as key_value;
use super::client::ClientError;
use super::governance::{FileArg, read_document};
use super::output::{Table, fields, or_dash};

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// List the registered MCP servers with their connection state and catalog size.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one server: its registration, source and connection state.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Register an MCP server: `NAME URL` (streamable HTTP, or --transport sse), `NAME
    /// --command PROGRAM -- ARGS…` (a stdio process), a file holding an entry of the
    /// configuration file's `mcp_servers`, or an official MCP registry `server.json`. The hub
    /// connects and reads the catalog before storing it, unless --no-check.
    Add {
        /// The name tools are published under (`<name>__<tool>`) and permissions name
        /// (`mcp:<name>/<tool>`); optional with --file or --server-json when they name it.
        name: Option<String>,
        #[command(flatten)]
        fields: Box<ServerFields>,
        /// Register without connecting first (the server is retried in the background).
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Unregister a server registered through the API or the CLI.
    Remove {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Re-read a server's catalog now.
    Refresh {
        name: String,
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
    /// Virtual servers: named selections of the servers' tools, prompts and resources, each
    /// served at /mcp/NAME.
    #[command(subcommand)]
    Virtual(super::mcp_virtual::VirtualCommand),
}

#[derive(Debug, Args)]
pub struct ServerFields {
    /// The server's streamable HTTP endpoint (or SSE stream with --transport sse).
    #[arg(value_name = "URL", conflicts_with_all = ["command", "file", "server_json"])]
    server_url: Option<String>,
    /// `streamable_http` (default for --url) or `sse`.
    #[arg(long, requires = "server_url")]
    transport: Option<String>,
    /// A header sent with every request (repeatable); credentials as secret:NAME.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = key_value, requires = "server_url")]
    headers: Vec<(String, String)>,
    /// The stored secret sent as `Authorization: Bearer …`.
    #[arg(long, value_name = "SECRET", requires = "server_url")]
    bearer_token_secret: Option<String>,
    /// An OpenAPI 3 document (URL) whose operations become the server's tools; the URL
    /// argument is then the API's base URL.
    #[arg(long, value_name = "DOCUMENT_URL", requires = "server_url")]
    openapi: Option<String>,
    /// The program to run as a stdio server; its arguments follow `--`.
    #[arg(long, conflicts_with_all = ["file", "server_json"])]
    command: Option<String>,
    /// An environment variable of the process (repeatable); credentials as secret:NAME.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = key_value, requires = "command")]
    env: Vec<(String, String)>,
    /// The process's working directory.
    #[arg(long, requires = "command")]
    cwd: Option<String>,
    /// The program's arguments.
    #[arg(last = true, requires = "command")]
    args: Vec<String>,
    /// Published names start with this instead of the server's name.
    #[arg(long)]
    prefix: Option<String>,
    /// Time to connect or start, e.g. 10s.
    #[arg(long, value_name = "DURATION")]
    connect_timeout: Option<String>,
    /// Time for one request's answer, e.g. 60s.
    #[arg(long, value_name = "DURATION")]
    request_timeout: Option<String>,
    /// YAML or JSON file holding one `mcp_servers` entry; `-` reads standard input.
    #[arg(long, short, conflicts_with = "server_json")]
    file: Option<PathBuf>,
    /// An official MCP registry entry (`server.json`) to register.
    #[arg(long, value_name = "FILE")]
    server_json: Option<PathBuf>,
    /// With --server-json: `remote:N` or `package:N` (default: the first remote, else the
    /// first stdio package).
    #[arg(long = "use", value_name = "KIND:N", requires = "server_json", value_parser = choice)]
    choice: Option<Value>,
    /// With --server-json: a value for a header, environment variable, URL variable or
    /// argument the entry asks for (repeatable); secrets as secret:NAME.
    #[arg(long = "value", value_name = "NAME=VALUE", value_parser = key_value, requires = "server_json")]
    values: Vec<(String, String)>,
}

fn choice(text: &str) -> Result<Value, String> {
    let (kind, index) = text
        .split_once(':')
        .ok_or_else(|| format!("\"{text}\" is not remote:N or package:N"))?;
    let index: usize = index
        .parse()
        .map_err(|_| format!("\"{index}\" is not a number"))?;
    match kind {
        "remote" | "package" => Ok(json!({"kind": kind, "index": index})),
        _ => Err(format!("\"{kind}\" is neither remote nor package")),
    }
}

fn map_of(pairs: Vec<(String, String)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// Where `add` sends what, from its flags.
fn registration(
    name: Option<String>,
    f: ServerFields,
) -> Result<(&'static str, Value), ClientError> {
    if let Some(path) = f.server_json {
        let document = read_document(
            &FileArg { file: path },
            "server.json",
            "name: …, remotes: […]",
        )?;
        let mut body = json!({"server": document, "values": map_of(f.values)});
        if let Some(name) = name {
            body["name"] = Value::String(name);
        }
        if let Some(choice) = f.choice {
            body["use"] = choice;
        }
        if let Some(prefix) = f.prefix {
            body["prefix"] = Value::String(prefix);
        }
        return Ok(("/mcp/servers/import", body));
    }
    if let Some(path) = f.file {
        let file = FileArg { file: path };
        let mut body = read_document(&file, "MCP server", "name: …, url: …")?;
        match (name, body.get("name")) {
            (Some(name), None) => body["name"] = Value::String(name),
            (Some(name), Some(named)) if named.as_str() != Some(name.as_str()) => {
                return Err(ClientError::Usage(format!(
                    "NAME \"{name}\" differs from the name in {} ({named})",
                    file.file.display()
                )));
            }
            (None, None) => {
                return Err(ClientError::Usage(format!(
                    "--file: {} has no name; give it as NAME or in the file",
                    file.file.display()
                )));
            }
            _ => {}
        }
        return Ok(("/mcp/servers", body));
    }
    let name = name.ok_or_else(|| ClientError::Usage("give the server's NAME".into()))?;
    if f.server_url.is_none() && f.command.is_none() {
        return Err(ClientError::Usage(
            "give the server's URL, --command, --file or --server-json".into(),
        ));
    }
    let mut body = Map::new();
    body.insert("name".into(), Value::String(name));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    };
    put("url", f.server_url.map(Value::String));
    put("openapi", f.openapi.map(Value::String));
    put("transport", f.transport.map(Value::String));
    put("command", f.command.map(Value::String));
    put("cwd", f.cwd.map(Value::String));
    put("prefix", f.prefix.map(Value::String));
    put(
        "bearer_token",
        f.bearer_token_secret.map(|s| {
            Value::String(if s.starts_with("secret:") {
                s
            } else {
                format!("secret:{s}")
            })
        }),
    );
    put("args", (!f.args.is_empty()).then(|| json!(f.args)));
    put(
        "headers",
        (!f.headers.is_empty()).then(|| Value::Object(map_of(f.headers))),
    );
    put(
        "env",
        (!f.env.is_empty()).then(|| Value::Object(map_of(f.env))),
    );
    let mut timeouts = Map::new();
    for (key, value) in [
        ("connect", f.connect_timeout),
        ("request", f.request_timeout),
    ] {
        if let Some(value) = value {
            timeouts.insert(key.into(), Value::String(value));
        }
    }
    put(
        "timeouts",
        (!timeouts.is_empty()).then_some(Value::Object(timeouts)),
    );
    Ok(("/mcp/servers", Value::Object(body)))
}

#[derive(Deserialize)]
struct Registered {
    id: String,
    catalog: Option<Counts>,
}

#[derive(Deserialize)]
struct Counts {
    tools: usize,
    resources: usize,
    prompts: usize,
}

#[derive(Deserialize)]
struct Server {
    name: String,
    source: String,
    registration: BTreeMap<String, Value>,
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

fn server_fields(s: Server) -> String {
    let mut rows = vec![
        ("name", s.name),
        ("source", s.source),
        ("transport", s.transport),
        ("target", s.target),
        ("state", s.state),
        ("since", s.since),
        ("tools", s.tools.to_string()),
        ("resources", s.resources.to_string()),
        ("prompts", s.prompts.to_string()),
    ];
    if let Some(error) = s.error {
        rows.push(("error", error));
    }
    for key in [
        "prefix",
        "args",
        "env",
        "cwd",
        "headers",
        "bearer_token",
        "timeouts",
    ] {
        if let Some(value) = s.registration.get(key) {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            rows.push((key, text));
        }
    }
    fields(&rows)
}

pub async fn mcp(cmd: McpCommand) -> Outcome {
    match cmd {
        McpCommand::Virtual(command) => super::mcp_virtual::run(command).await,
        McpCommand::Show { name, client } => {
            get_and_show(&client, &item("/mcp/servers", &name), server_fields).await
        }
        McpCommand::Add {
            name,
            fields,
            no_check,
            client,
        } => {
            let (path, body) = registration(name, *fields)?;
            let path = if no_check {
                format!("{path}?check=false")
            } else {
                path.to_owned()
            };
            call_and_show(
                &client,
                Method::POST,
                &path,
                Some(&body),
                |r: Registered| match r.catalog {
                    Some(c) => format!(
                        "registered MCP server {}: {} tools, {} resources, {} prompts\n",
                        r.id, c.tools, c.resources, c.prompts
                    ),
                    None => format!(
                        "registered MCP server {} (not checked; see `agenthub mcp list`)\n",
                        r.id
                    ),
                },
            )
            .await
        }
        McpCommand::Remove { name, client } => {
            let path = item("/mcp/servers", &name);
            delete(&client, &path, format!("removed MCP server {name}")).await
        }
        McpCommand::Refresh { name, client } => {
            let path = format!("/mcp/servers/{}/refresh", path_segment(&name));
            call_and_show(
                &client,
                Method::POST,
                &path,
                Some(&json!({})),
                server_fields,
            )
            .await
        }
        McpCommand::List { client } => {
            get_and_show(&client, "/mcp/servers", |servers: Vec<Server>| {
                let mut table = Table::new(&[
                    "NAME",
                    "SOURCE",
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
                        s.source,
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
