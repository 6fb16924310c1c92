//! The MCP servers bundled with the hub (`mcp_servers: [{builtin: sentry, env: {…}}]`), each
//! run inside the hub: a session per connection, over an in-process pipe.

use std::collections::BTreeMap;

use agenthub_mcp_registry::upstream::Builtins;
use tokio::io::DuplexStream;

/// Every name of [`agenthub_mcp_registry::config::BUILTINS`].
pub struct Bundled;

impl Builtins for Bundled {
    fn start(
        &self,
        name: &str,
        settings: BTreeMap<String, String>,
    ) -> Result<DuplexStream, String> {
        let problem = |e: anyhow::Error| format!("{e:#}");
        match name {
            "jira" => {
                let settings =
                    agenthub_mcp_jira::Settings::from_vars(&settings).map_err(problem)?;
                let server = agenthub_mcp_jira::server(&settings).map_err(problem)?;
                Ok(agenthub_server_kit::serve::in_process(server))
            }
            "sentry" => {
                let settings =
                    agenthub_mcp_sentry::Settings::from_vars(&settings).map_err(problem)?;
                let server = agenthub_mcp_sentry::server(&settings).map_err(problem)?;
                Ok(agenthub_server_kit::serve::in_process(server))
            }
            "slack" => {
                let settings =
                    agenthub_mcp_slack::Settings::from_vars(&settings).map_err(problem)?;
                let server = agenthub_mcp_slack::server(&settings).map_err(problem)?;
                Ok(agenthub_server_kit::serve::in_process(server))
            }
            other => Err(format!("\"{other}\" is not a built-in server")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_builtin_name_is_bundled_and_checks_its_settings() {
        for name in agenthub_mcp_registry::config::BUILTINS {
            let refused = Bundled.start(name, BTreeMap::new()).unwrap_err();
            assert!(
                refused.contains("is required") || refused.contains("set SLACK_BOT_TOKEN"),
                "{name}: {refused}"
            );
        }
        let typo = BTreeMap::from([("SENTRY_TOKEN".to_owned(), "x".to_owned())]);
        let refused = Bundled.start("sentry", typo).unwrap_err();
        assert!(
            refused.contains("unknown setting SENTRY_TOKEN"),
            "{refused}"
        );
    }
}
