//! `agenthub users|service-accounts|teams|keys|secrets|whoami`: clients of the admin API.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::{Client, ClientError};
use super::output::{Table, fields, or_dash};
use crate::api::{CreatedKey, KeyView, MeView, MemberView, PrincipalView, SecretView, TeamView};

/// How to reach the hub.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The hub's base URL.
    #[arg(long, env = "AGENTHUB_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key to authenticate with.
    #[arg(long, env = "AGENTHUB_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// CA certificate (PEM) to trust for an HTTPS hub with a private CA.
    #[arg(long, env = "AGENTHUB_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// At most this many items (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create a user.
    Create {
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Make the user a hub administrator.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a user (id or name).
    Get {
        user: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change a user.
    Update {
        user: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// `admin` or `member`.
        #[arg(long)]
        role: Option<String>,
        /// Disable the user: their keys stop working.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a user with their keys and memberships.
    Delete {
        user: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceAccountsCommand {
    /// List service accounts.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create a service account.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Add it to this team as a member.
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a service account.
    Get {
        account: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a service account and its keys.
    Delete {
        account: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamsCommand {
    /// List teams.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create a team.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a team.
    Get {
        team: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change a team's description.
    Update {
        team: String,
        #[arg(long)]
        description: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a team.
    Delete {
        team: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List a team's members.
    Members {
        team: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add a user or service account to a team, or change their role.
    AddMember {
        team: String,
        member: String,
        /// owner, admin, member or viewer.
        #[arg(long, default_value = "member")]
        role: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a member from a team.
    RemoveMember {
        team: String,
        member: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys (yours, or everyone's for hub admins).
    List {
        /// Only this owner's keys.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create a key; it is printed once.
    Create {
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Owner (user or service account); default: you.
        #[arg(long)]
        owner: Option<String>,
        /// Team to charge the key's usage to.
        #[arg(long)]
        team: Option<String>,
        /// A scope (repeatable): *, admin, admin:read, keys, llm, mcp, a2a.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Expire after this long, e.g. 30d.
        #[arg(long, conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// Expire at this RFC 3339 time.
        #[arg(long)]
        expires_at: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a key's metadata.
    Get {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a key.
    Revoke {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a key.
    Delete {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// List secrets (names and metadata, never values).
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create or replace a secret. The value is read from standard input unless --value or
    /// --from-file is given.
    Set {
        name: String,
        /// The value (visible in shell history; prefer standard input).
        #[arg(long, conflicts_with = "from_file")]
        value: Option<String>,
        /// Read the value from a file.
        #[arg(long)]
        from_file: Option<PathBuf>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a secret's metadata.
    Get {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a secret.
    Delete {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Re-encrypt every secret under the current master key (offline: talks to the database).
    RotateKey(RotateKeyArgs),
}

/// Where the store is, as for `serve`.
#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    #[arg(long, env = "AGENTHUB_DATA_DIR", default_value = ".agenthub")]
    pub data_dir: PathBuf,
    #[arg(long, env = "AGENTHUB_DATABASE_URL")]
    pub database_url: Option<String>,
}

pub(super) type Outcome = Result<(), ClientError>;

pub fn block_on(future: impl Future<Output = Outcome>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ClientError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(super) fn connect(args: &ClientArgs) -> Result<Client, ClientError> {
    Client::new(
        &args.url,
        args.key.clone().filter(|k| !k.is_empty()),
        args.ca_cert.as_ref(),
    )
}

pub(super) const NO_BODY: Option<&()> = None;

/// Fetches every page of a listing (or up to `limit` items).
pub(super) async fn list_all(
    client: &Client,
    path: &str,
    limit: Option<usize>,
) -> Result<Vec<Value>, ClientError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    loop {
        let want = limit.map_or(500, |l| (l - items.len()).min(500));
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={want}&cursor={c}"),
            None => format!("{path}{sep}limit={want}"),
        };
        let page: Value = client.call(Method::GET, &url, NO_BODY).await?;
        items.extend(page["data"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() || limit.is_some_and(|l| items.len() >= l) {
            return Ok(items);
        }
    }
}

pub(super) fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ClientError> {
    serde_json::from_value(value).map_err(|e| ClientError::Protocol(e.to_string()))
}

pub(super) fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Prints a value as JSON or through `human`.
pub(super) fn show<T: DeserializeOwned>(
    value: Value,
    json: bool,
    human: impl Fn(T) -> String,
) -> Outcome {
    if json {
        print_json(&value);
    } else {
        print!("{}", human(decode(value)?));
    }
    Ok(())
}

pub(super) fn show_list<T: DeserializeOwned>(
    items: Vec<Value>,
    json: bool,
    human: impl Fn(Vec<T>) -> String,
) -> Outcome {
    if json {
        print_json(&items);
        return Ok(());
    }
    let typed = items
        .into_iter()
        .map(decode)
        .collect::<Result<Vec<T>, _>>()?;
    print!("{}", human(typed));
    Ok(())
}

/// Calls the hub and prints its answer as JSON or through `human`.
pub(super) async fn call_and_show<T: DeserializeOwned>(
    client: &ClientArgs,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
    human: impl Fn(T) -> String,
) -> Outcome {
    let value = connect(client)?.call(method, path, body).await?;
    show(value, client.json, human)
}

/// Gets one item and prints it as JSON or through `human`.
pub(super) async fn get_and_show<T: DeserializeOwned>(
    client: &ClientArgs,
    path: &str,
    human: impl Fn(T) -> String,
) -> Outcome {
    call_and_show(client, Method::GET, path, NO_BODY, human).await
}

/// Fetches a listing (up to `--limit` items) and prints it as JSON or through `human`.
pub(super) async fn list_and_show<T: DeserializeOwned>(
    client: &ClientArgs,
    path: &str,
    list: ListArgs,
    human: impl Fn(Vec<T>) -> String,
) -> Outcome {
    let items = list_all(&connect(client)?, path, list.limit).await?;
    show_list(items, client.json, human)
}

/// Deletes what `path` names and prints `done`, in JSON mode too.
pub(super) async fn delete(client: &ClientArgs, path: &str, done: String) -> Outcome {
    connect(client)?.send(Method::DELETE, path, NO_BODY).await?;
    println!("{done}");
    Ok(())
}

/// `{collection}/{id}`, with `id` escaped as one path segment.
pub(super) fn item(collection: &str, id: &str) -> String {
    format!("{collection}/{}", path_segment(id))
}

fn members_path(team: &str) -> String {
    format!("{}/members", item("/teams", team))
}

fn status(disabled: bool) -> String {
    if disabled { "disabled" } else { "active" }.into()
}

/// A principal's teams as `team (role), …`.
fn team_roles(p: &PrincipalView) -> String {
    p.teams
        .iter()
        .map(|t| format!("{} ({})", t.team, t.role))
        .collect::<Vec<_>>()
        .join(", ")
}

fn principal_table(items: Vec<PrincipalView>) -> String {
    let mut table = Table::new(&["ID", "NAME", "EMAIL", "ROLE", "TEAMS", "STATUS"]);
    for p in items {
        let teams = p
            .teams
            .iter()
            .map(|t| format!("{}:{}", t.team, t.role))
            .collect::<Vec<_>>()
            .join(",");
        table.row(vec![
            p.id,
            p.name,
            or_dash(p.email.as_deref()),
            p.role,
            or_dash(Some(&teams)),
            status(p.disabled),
        ]);
    }
    table.render()
}

fn principal_fields(p: PrincipalView) -> String {
    let teams = team_roles(&p);
    fields(&[
        ("id", p.id),
        ("kind", p.kind),
        ("name", p.name),
        ("email", p.email.unwrap_or_default()),
        ("display name", p.display_name.unwrap_or_default()),
        ("description", p.description.unwrap_or_default()),
        ("role", p.role),
        ("status", status(p.disabled)),
        ("teams", teams),
        ("created", p.created_at),
    ])
}

fn team_table(teams: Vec<TeamView>) -> String {
    let mut table = Table::new(&["ID", "NAME", "MEMBERS", "DESCRIPTION"]);
    for t in teams {
        table.row(vec![
            t.id,
            t.name,
            t.member_count.to_string(),
            or_dash(t.description.as_deref()),
        ]);
    }
    table.render()
}

fn team_fields(t: TeamView) -> String {
    fields(&[
        ("id", t.id),
        ("name", t.name),
        ("description", t.description.unwrap_or_default()),
        ("members", t.member_count.to_string()),
        ("created", t.created_at),
    ])
}

fn member_table(members: Vec<MemberView>) -> String {
    let mut table = Table::new(&["NAME", "KIND", "ROLE", "SINCE"]);
    for m in members {
        table.row(vec![m.name, m.kind, m.role, m.since]);
    }
    table.render()
}

fn key_table(keys: Vec<KeyView>) -> String {
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "PREFIX",
        "OWNER",
        "TEAM",
        "SCOPES",
        "STATUS",
        "LAST USED",
    ]);
    for k in keys {
        table.row(vec![
            k.id,
            k.name,
            k.prefix,
            k.owner,
            or_dash(k.team.as_deref()),
            k.scopes.join(","),
            k.status,
            or_dash(k.last_used_at.as_deref()),
        ]);
    }
    table.render()
}

fn key_fields(k: KeyView) -> String {
    fields(&[
        ("id", k.id),
        ("name", k.name),
        ("prefix", k.prefix),
        ("owner", k.owner),
        ("team", k.team.unwrap_or_default()),
        ("scopes", k.scopes.join(" ")),
        ("status", k.status),
        ("expires", k.expires_at.unwrap_or_default()),
        ("created", k.created_at),
        ("last used", k.last_used_at.unwrap_or_default()),
        ("revoked", k.revoked_at.unwrap_or_default()),
    ])
}

fn created_key_text(created: CreatedKey) -> String {
    format!(
        "{}\nThis is the only time the key is shown: store it now.\n\n{}",
        created.key,
        key_fields(created.info)
    )
}

fn secret_table(secrets: Vec<SecretView>) -> String {
    let mut table = Table::new(&["NAME", "DESCRIPTION", "KEY ID", "UPDATED"]);
    for s in secrets {
        table.row(vec![
            s.name,
            or_dash(s.description.as_deref()),
            s.key_id,
            s.updated_at,
        ]);
    }
    table.render()
}

fn secret_fields(s: SecretView) -> String {
    fields(&[
        ("name", s.name),
        ("description", s.description.unwrap_or_default()),
        ("key id", s.key_id),
        ("created", s.created_at),
        ("updated", s.updated_at),
    ])
}

fn me_fields(me: MeView) -> String {
    let teams = me.principal.as_ref().map(team_roles).unwrap_or_default();
    fields(&[
        ("subject", me.subject),
        ("role", me.principal.map(|p| p.role).unwrap_or_default()),
        ("teams", teams),
        ("key", me.key_id.unwrap_or_default()),
        ("scopes", me.scopes.join(" ")),
    ])
}

pub(super) fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn users(cmd: UsersCommand) -> Outcome {
    match cmd {
        UsersCommand::List { list, client } => {
            list_and_show(&client, "/users", list, principal_table).await
        }
        UsersCommand::Create {
            name,
            email,
            display_name,
            admin,
            client,
        } => {
            let body = json!({ "name": name, "email": email, "display_name": display_name, "role": if admin { "admin" } else { "member" } });
            call_and_show(
                &client,
                Method::POST,
                "/users",
                Some(&body),
                principal_fields,
            )
            .await
        }
        UsersCommand::Get { user, client } => {
            get_and_show(&client, &item("/users", &user), principal_fields).await
        }
        UsersCommand::Update {
            user,
            email,
            display_name,
            role,
            disable,
            enable,
            client,
        } => {
            let mut body = serde_json::Map::new();
            if let Some(email) = email {
                body.insert("email".into(), json!(email));
            }
            if let Some(display_name) = display_name {
                body.insert("display_name".into(), json!(display_name));
            }
            if let Some(role) = role {
                body.insert("role".into(), json!(role));
            }
            if disable || enable {
                body.insert("disabled".into(), json!(disable));
            }
            let path = item("/users", &user);
            call_and_show(&client, Method::PATCH, &path, Some(&body), principal_fields).await
        }
        UsersCommand::Delete { user, client } => {
            let path = item("/users", &user);
            delete(&client, &path, format!("deleted user {user}")).await
        }
    }
}

pub async fn service_accounts(cmd: ServiceAccountsCommand) -> Outcome {
    match cmd {
        ServiceAccountsCommand::List { list, client } => {
            list_and_show(&client, "/service-accounts", list, principal_table).await
        }
        ServiceAccountsCommand::Create {
            name,
            description,
            team,
            client,
        } => {
            let body = json!({ "name": name, "description": description, "team": team });
            call_and_show(
                &client,
                Method::POST,
                "/service-accounts",
                Some(&body),
                principal_fields,
            )
            .await
        }
        ServiceAccountsCommand::Get { account, client } => {
            let path = item("/service-accounts", &account);
            get_and_show(&client, &path, principal_fields).await
        }
        ServiceAccountsCommand::Delete { account, client } => {
            let path = item("/service-accounts", &account);
            delete(&client, &path, format!("deleted service account {account}")).await
        }
    }
}

pub async fn teams(cmd: TeamsCommand) -> Outcome {
    match cmd {
        TeamsCommand::List { list, client } => {
            list_and_show(&client, "/teams", list, team_table).await
        }
        TeamsCommand::Create {
            name,
            description,
            client,
        } => {
            let body = json!({ "name": name, "description": description });
            call_and_show(&client, Method::POST, "/teams", Some(&body), team_fields).await
        }
        TeamsCommand::Get { team, client } => {
            get_and_show(&client, &item("/teams", &team), team_fields).await
        }
        TeamsCommand::Update {
            team,
            description,
            client,
        } => {
            let body = json!({ "description": description });
            let path = item("/teams", &team);
            call_and_show(&client, Method::PATCH, &path, Some(&body), team_fields).await
        }
        TeamsCommand::Delete { team, client } => {
            let path = item("/teams", &team);
            delete(&client, &path, format!("deleted team {team}")).await
        }
        TeamsCommand::Members { team, client } => {
            // Not a paged listing: the members come as one array.
            let value: Value = connect(&client)?
                .call(Method::GET, &members_path(&team), NO_BODY)
                .await?;
            let items = value.as_array().cloned().unwrap_or_default();
            show_list(items, client.json, member_table)
        }
        TeamsCommand::AddMember {
            team,
            member,
            role,
            client,
        } => {
            let body = json!({ "role": role });
            let path = item(&members_path(&team), &member);
            call_and_show(&client, Method::PUT, &path, Some(&body), |m: MemberView| {
                format!("{} is now {} of {team}\n", m.name, m.role)
            })
            .await
        }
        TeamsCommand::RemoveMember {
            team,
            member,
            client,
        } => {
            let path = item(&members_path(&team), &member);
            delete(&client, &path, format!("removed {member} from {team}")).await
        }
    }
}

pub async fn keys(cmd: KeysCommand) -> Outcome {
    match cmd {
        KeysCommand::List {
            owner,
            list,
            client,
        } => {
            let path = match owner {
                Some(owner) => format!("/keys?owner={}", path_segment(&owner)),
                None => "/keys".to_owned(),
            };
            list_and_show(&client, &path, list, key_table).await
        }
        KeysCommand::Create {
            name,
            owner,
            team,
            scopes,
            expires_in,
            expires_at,
            client,
        } => {
            let body = json!({
                "name": name,
                "owner": owner,
                "team": team,
                "scopes": (!scopes.is_empty()).then_some(scopes),
                "expires_in": expires_in,
                "expires_at": expires_at,
            });
            call_and_show(
                &client,
                Method::POST,
                "/keys",
                Some(&body),
                created_key_text,
            )
            .await
        }
        KeysCommand::Get { id, client } => {
            get_and_show(&client, &item("/keys", &id), key_fields).await
        }
        KeysCommand::Revoke { id, client } => {
            let path = format!("{}/revoke", item("/keys", &id));
            call_and_show(&client, Method::POST, &path, NO_BODY, |k: KeyView| {
                format!("revoked key {} ({})\n", k.id, k.name)
            })
            .await
        }
        KeysCommand::Delete { id, client } => {
            delete(&client, &item("/keys", &id), format!("deleted key {id}")).await
        }
    }
}

pub async fn secrets(cmd: SecretsCommand) -> Outcome {
    match cmd {
        SecretsCommand::List { list, client } => {
            list_and_show(&client, "/secrets", list, secret_table).await
        }
        SecretsCommand::Set {
            name,
            value,
            from_file,
            description,
            client,
        } => {
            let value = match (value, from_file) {
                (Some(v), _) => v,
                (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| {
                    ClientError::Usage(format!("--from-file: cannot read {}: {e}", path.display()))
                })?,
                (None, None) => {
                    let mut v = String::new();
                    std::io::stdin().read_to_string(&mut v).map_err(|e| {
                        ClientError::Usage(format!("cannot read standard input: {e}"))
                    })?;
                    v
                }
            };
            // Files and pipes usually end with a newline that is not part of the secret.
            let value = value
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&value)
                .to_owned();
            let body = json!({ "value": value, "description": description });
            let path = item("/secrets", &name);
            call_and_show(&client, Method::PUT, &path, Some(&body), |s: SecretView| {
                format!(
                    "stored secret {} (reference it as secret:{})\n",
                    s.name, s.name
                )
            })
            .await
        }
        SecretsCommand::Get { name, client } => {
            get_and_show(&client, &item("/secrets", &name), secret_fields).await
        }
        SecretsCommand::Delete { name, client } => {
            let path = item("/secrets", &name);
            delete(&client, &path, format!("deleted secret {name}")).await
        }
        SecretsCommand::RotateKey(_) => Err(ClientError::Usage(
            "rotate-key runs offline, not through the API".into(),
        )),
    }
}

pub async fn whoami(client: ClientArgs) -> Outcome {
    get_and_show(&client, "/me", me_fields).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("alice@example.com"), "alice%40example.com");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
