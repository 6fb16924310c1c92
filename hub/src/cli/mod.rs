//! The `agenthub` command line: `serve`, offline maintenance commands, and clients of the
//! admin API.

mod admin;
mod agents;
mod catalog;
mod client;
mod governance;
mod login;
mod logs;
mod mcp;
mod mcp_virtual;
mod output;
mod serve;
mod traces;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "agenthub",
    version,
    about = "One endpoint for AI agents to reach tools (MCP), each other (A2A) and models."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub.
    Serve(ServeArgs),
    /// Check configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(admin::UsersCommand),
    /// Manage service accounts (identities for agents and workloads).
    #[command(subcommand, name = "service-accounts", alias = "sa")]
    ServiceAccounts(admin::ServiceAccountsCommand),
    /// Manage teams and their members.
    #[command(subcommand)]
    Teams(admin::TeamsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// Manage encrypted secrets.
    #[command(subcommand)]
    Secrets(admin::SecretsCommand),
    /// Authorization policy lines: who may do what on which model, tool, agent or admin area.
    #[command(subcommand)]
    Policies(governance::PoliciesCommand),
    /// Role assignments: subjects that act as a role.
    #[command(subcommand)]
    Roles(governance::RolesCommand),
    /// Request and token rate limits.
    #[command(subcommand)]
    Limits(governance::RulesCommand),
    /// Spending and token budgets, and current usage.
    #[command(subcommand)]
    Budgets(governance::BudgetsCommand),
    /// Guardrails on prompts, completions, tool calls and agent messages.
    #[command(subcommand)]
    Guardrails(governance::GuardrailsCommand),
    /// Authorization checks.
    #[command(subcommand)]
    Authz(governance::AuthzCommand),
    /// Model providers: the accounts models are served from.
    #[command(subcommand)]
    Providers(catalog::ProvidersCommand),
    /// Models clients ask for by name, each served by one provider.
    #[command(subcommand)]
    Models(catalog::ModelsCommand),
    /// Virtual models: names that route over several models.
    #[command(subcommand, name = "virtual-models")]
    VirtualModels(catalog::VirtualModelsCommand),
    /// MCP servers registered with the hub (their health and the tools they publish), and the
    /// virtual servers over them.
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// A2A agents registered with the hub (the state of their cards), and discovery of the
    /// agents you may reach by skill, tag or text.
    #[command(subcommand)]
    Agents(agents::AgentsCommand),
    /// Traces of A2A exchanges: each relayed request under the one that caused it, with what
    /// was sent and answered.
    #[command(subcommand)]
    Trace(traces::TraceCommand),
    /// The request log: LLM calls, MCP tool calls and A2A hops, newest last; --follow keeps
    /// printing new ones.
    Logs(logs::LogsArgs),
    /// Requests, errors, latency, tokens and cost grouped by team, user, key, model, provider,
    /// tool, agent or a metadata key (table, JSON or CSV for chargeback).
    Usage(logs::UsageArgs),
    /// The audit trail: verify its hash chain, export it as JSON Lines.
    #[command(subcommand)]
    Audit(logs::AuditCommand),
    /// Send a trace's messages again (to the same agents, or others with --agent) and compare
    /// the new trace with the recorded one.
    Replay(traces::ReplayArgs),
    /// Show who the configured key authenticates as.
    Whoami(admin::ClientArgs),
    /// Log in through the hub's identity provider (browser, loopback redirect); the session is
    /// stored for the other commands.
    Login(login::LoginArgs),
    /// End the session stored by `agenthub login`.
    Logout(login::LogoutArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file: exit 0 when valid, 2 with every error listed otherwise.
    Validate {
        /// The YAML file to check.
        file: PathBuf,
    },
}

/// Flags of `agenthub serve`. Each overrides the matching configuration key.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// YAML configuration file, reloaded when it changes.
    #[arg(long, short, env = "AGENTHUB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "AGENTHUB_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// Directory for the embedded database and key file.
    #[arg(long, env = "AGENTHUB_DATA_DIR", default_value = ".agenthub")]
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite:PATH` instead of the embedded SQLite database.
    #[arg(long, env = "AGENTHUB_DATABASE_URL")]
    pub database_url: Option<String>,
    /// NATS server for cross-replica sync.
    #[arg(long, env = "AGENTHUB_NATS_URL")]
    pub nats_url: Option<String>,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA bundle: require client certificates signed by it (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Runs the command and returns the process exit code: 0 on success, 1 on failure, 2 for
/// invalid configuration or usage.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Config(ConfigCommand::Validate { file }) => {
            match crate::config::HubConfig::load(&file) {
                Ok(_) => {
                    println!("{}: valid", file.display());
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Users(cmd) => admin::block_on(admin::users(cmd)),
        Command::ServiceAccounts(cmd) => admin::block_on(admin::service_accounts(cmd)),
        Command::Teams(cmd) => admin::block_on(admin::teams(cmd)),
        Command::Keys(cmd) => admin::block_on(admin::keys(cmd)),
        Command::Secrets(admin::SecretsCommand::RotateKey(args)) => serve::rotate_secret_key(args),
        Command::Secrets(cmd) => admin::block_on(admin::secrets(cmd)),
        Command::Policies(cmd) => admin::block_on(governance::policies(cmd)),
        Command::Roles(cmd) => admin::block_on(governance::roles(cmd)),
        Command::Limits(cmd) => admin::block_on(governance::limits(cmd)),
        Command::Budgets(cmd) => admin::block_on(governance::budgets(cmd)),
        Command::Guardrails(cmd) => admin::block_on(governance::guardrails(cmd)),
        Command::Authz(cmd) => admin::block_on(governance::authz(cmd)),
        Command::Providers(cmd) => admin::block_on(catalog::providers(cmd)),
        Command::Models(cmd) => admin::block_on(catalog::models(cmd)),
        Command::VirtualModels(cmd) => admin::block_on(catalog::virtual_models(cmd)),
        Command::Mcp(cmd) => admin::block_on(mcp::mcp(cmd)),
        Command::Agents(cmd) => admin::block_on(agents::agents(cmd)),
        Command::Trace(cmd) => admin::block_on(traces::trace(cmd)),
        Command::Replay(args) => traces::replay(args),
        Command::Logs(args) => admin::block_on(logs::logs(args)),
        Command::Usage(args) => admin::block_on(logs::usage(args)),
        Command::Audit(cmd) => admin::block_on(logs::audit(cmd)),
        Command::Whoami(args) => admin::block_on(admin::whoami(args)),
        Command::Login(args) => login::run_login(args),
        Command::Logout(args) => login::run_logout(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
