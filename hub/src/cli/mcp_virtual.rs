//! `agenthub mcp virtual`: the virtual MCP servers through the admin API
//! (`/mcp/virtual-servers`): define one (from flags or a file), replace, remove, and list them
//! with what each selects now.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::admin::{ClientArgs, Outcome, call_and_show, delete, get_and_show, item};
use super::catalog::header as key_value;
use super::client::ClientError;
use super::governance::{FileArg, read_document};
use super::output::{Table, fields, or_dash};

const COLLECTION: &str = "/mcp/virtual-servers";

#[derive(Debug, Subcommand)]
pub enum VirtualCommand {
    /// List the virtual servers with how many tools, prompts and resources each selects now.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one virtual server: its patterns, renames and what it selects now.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Define a virtual server, served at /mcp/NAME: patterns over SERVER/NAME (exact, or
    /// ending in `*`; `*` for everything) for its tools, prompts and resources, or a file
    /// holding an entry of the configuration file's `mcp_virtual_servers`.
    Add {
        /// Served at /mcp/NAME; optional with --file when the file names it.
        name: Option<String>,
        #[command(flatten)]
        fields: Box<VirtualFields>,
        /// Replace the virtual server of that name (defined through the API) instead.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a virtual server defined through the API or the CLI.
    Remove {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
pub struct VirtualFields {
    /// Tools to serve: SERVER/TOOL patterns, e.g. `jira/*` `ev/get-sum`.
    #[arg(long, value_name = "PATTERN", num_args = 1.., conflicts_with = "file")]
    tools: Vec<String>,
    /// Prompts to serve: SERVER/PROMPT patterns.
    #[arg(long, value_name = "PATTERN", num_args = 1.., conflicts_with = "file")]
    prompts: Vec<String>,
    /// Resources and resource templates to serve: SERVER/NAME patterns (their names).
    #[arg(long, value_name = "PATTERN", num_args = 1.., conflicts_with = "file")]
    resources: Vec<String>,
    /// Publish a selected tool under a name of its own (repeatable).
    #[arg(long, value_name = "SERVER/TOOL=NAME", value_parser = key_value, conflicts_with = "file")]
    rename: Vec<(String, String)>,
    /// Shown to clients as the server's description.
    #[arg(long, conflicts_with = "file")]
    description: Option<String>,
    /// Given to clients at initialization.
    #[arg(long, conflicts_with = "file")]
    instructions: Option<String>,
    /// YAML or JSON file holding one `mcp_virtual_servers` entry; `-` reads standard input.
    #[arg(long, short)]
    file: Option<PathBuf>,
}

/// The definition `add` sends, from its flags or file.
fn definition(name: Option<String>, f: VirtualFields) -> Result<(String, Value), ClientError> {
    if let Some(path) = f.file {
        let file = FileArg { file: path };
        let mut body = read_document(&file, "virtual server", "name: …, tools: [server/*]")?;
        let named = body.get("name").and_then(Value::as_str).map(str::to_owned);
        let name = match (name, named) {
            (Some(name), None) => {
                body["name"] = Value::String(name.clone());
                name
            }
            (Some(name), Some(named)) if named != name => {
                return Err(ClientError::Usage(format!(
                    "NAME \"{name}\" differs from the name in {} (\"{named}\")",
                    file.file.display()
                )));
            }
            (_, Some(named)) => named,
            (None, None) => {
                return Err(ClientError::Usage(format!(
                    "--file: {} has no name; give it as NAME or in the file",
                    file.file.display()
                )));
            }
        };
        return Ok((name, body));
    }
    let name = name.ok_or_else(|| ClientError::Usage("give the virtual server's NAME".into()))?;
    let mut body = Map::new();
    body.insert("name".into(), Value::String(name.clone()));
    for (key, patterns) in [
        ("tools", f.tools),
        ("prompts", f.prompts),
        ("resources", f.resources),
    ] {
        if !patterns.is_empty() {
            body.insert(key.into(), json!(patterns));
        }
    }
    if !f.rename.is_empty() {
        let renames: Map<String, Value> = f
            .rename
            .into_iter()
            .map(|(from, to)| (from, Value::String(to)))
            .collect();
        body.insert("rename".into(), Value::Object(renames));
    }
    for (key, text) in [
        ("description", f.description),
        ("instructions", f.instructions),
    ] {
        if let Some(text) = text {
            body.insert(key.into(), Value::String(text));
        }
    }
    Ok((name, Value::Object(body)))
}

#[derive(Deserialize)]
struct Selected {
    tools: usize,
    prompts: usize,
    resources: usize,
    resource_templates: usize,
}

#[derive(Deserialize)]
struct VirtualServer {
    id: String,
    source: String,
    path: String,
    selected: Selected,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    tools: Vec<String>,
    #[serde(default)]
    prompts: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    rename: BTreeMap<String, String>,
}

fn selected_text(s: &Selected) -> String {
    format!(
        "{} tools, {} prompts, {} resources, {} resource templates",
        s.tools, s.prompts, s.resources, s.resource_templates
    )
}

fn virtual_fields(v: VirtualServer) -> String {
    let renames: Vec<String> = v
        .rename
        .iter()
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    fields(&[
        ("name", v.id),
        ("source", v.source),
        ("path", v.path),
        ("description", v.description.unwrap_or_default()),
        ("instructions", v.instructions.unwrap_or_default()),
        ("tools", v.tools.join(" ")),
        ("prompts", v.prompts.join(" ")),
        ("resources", v.resources.join(" ")),
        ("rename", renames.join(", ")),
        ("selects", selected_text(&v.selected)),
    ])
}

pub async fn run(cmd: VirtualCommand) -> Outcome {
    match cmd {
        VirtualCommand::List { client } => {
            get_and_show(&client, COLLECTION, |servers: Vec<VirtualServer>| {
                let mut table = Table::new(&[
                    "NAME",
                    "SOURCE",
                    "PATH",
                    "TOOLS",
                    "PROMPTS",
                    "RESOURCES",
                    "TEMPLATES",
                    "DESCRIPTION",
                ]);
                for v in servers {
                    table.row(vec![
                        v.id,
                        v.source,
                        v.path,
                        v.selected.tools.to_string(),
                        v.selected.prompts.to_string(),
                        v.selected.resources.to_string(),
                        v.selected.resource_templates.to_string(),
                        or_dash(v.description.as_deref()),
                    ]);
                }
                table.render()
            })
            .await
        }
        VirtualCommand::Show { name, client } => {
            get_and_show(&client, &item(COLLECTION, &name), virtual_fields).await
        }
        VirtualCommand::Add {
            name,
            fields,
            replace,
            client,
        } => {
            let (name, body) = definition(name, *fields)?;
            let (method, path, done) = if replace {
                (Method::PUT, item(COLLECTION, &name), "replaced")
            } else {
                (Method::POST, COLLECTION.to_owned(), "defined")
            };
            call_and_show(&client, method, &path, Some(&body), |v: VirtualServer| {
                format!(
                    "{done} virtual MCP server {} at {}: it selects {}\n",
                    v.id,
                    v.path,
                    selected_text(&v.selected)
                )
            })
            .await
        }
        VirtualCommand::Remove { name, client } => {
            let path = item(COLLECTION, &name);
            delete(&client, &path, format!("removed virtual MCP server {name}")).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> VirtualFields {
        VirtualFields {
            tools: vec!["ev/get-sum".into(), "jira/*".into()],
            prompts: Vec::new(),
            resources: vec!["ev/architecture.md".into()],
            rename: vec![("jira/create_issue".into(), "create_ticket".into())],
            description: Some("Support".into()),
            instructions: None,
            file: None,
        }
    }

    #[test]
    fn flags_make_the_definition() {
        let (name, body) = definition(Some("support".into()), fields()).unwrap();
        assert_eq!(name, "support");
        assert_eq!(
            body,
            json!({"name": "support", "tools": ["ev/get-sum", "jira/*"],
                   "resources": ["ev/architecture.md"],
                   "rename": {"jira/create_issue": "create_ticket"}, "description": "Support"})
        );
        assert!(matches!(
            definition(None, fields()),
            Err(ClientError::Usage(_))
        ));
    }
}
