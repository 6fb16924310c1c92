//! The MCP servers bundled with the hub (`mcp_servers: [{builtin: sentry, env: {…}}]`), each
//! run inside the hub: a session per connection, over an in-process pipe. With `oauth`, the
//! session's calls carry the OAuth tokens of its connection (one user's, for a server that
//! acts for each user) in place of the credential settings.

use std::collections::BTreeMap;
use std::sync::Arc;

use agenthub_mcp_registry::oauth::AccessTokens;
use agenthub_mcp_registry::upstream::{Builtins, UpstreamError};
use agenthub_server_kit::credentials::{BearerTokens, Pending};
use tokio::io::DuplexStream;

/// Every name of [`agenthub_mcp_registry::config::BUILTINS`].
pub struct Bundled;

impl Builtins for Bundled {
    fn start(
        &self,
        name: &str,
        settings: BTreeMap<String, String>,
        tokens: Option<Arc<dyn AccessTokens>>,
    ) -> Result<DuplexStream, String> {
        let problem = |e: anyhow::Error| format!("{e:#}");
        let tokens = tokens.map(|tokens| Arc::new(HubTokens(tokens)) as Arc<dyn BearerTokens>);
        // Each crate's settings and server are its own types: one arm per crate.
        macro_rules! session {
            ($server:ident) => {{
                let settings = $server::Settings::from_vars(&settings).map_err(problem)?;
                let server = match tokens {
                    Some(tokens) => $server::server_with_tokens(&settings, tokens),
                    None => $server::server(&settings),
                }
                .map_err(problem)?;
                Ok(agenthub_server_kit::serve::in_process(server))
            }};
        }
        match name {
            "jira" => session!(agenthub_mcp_jira),
            "sentry" => session!(agenthub_mcp_sentry),
            "slack" => session!(agenthub_mcp_slack),
            other => Err(format!("\"{other}\" is not a built-in server")),
        }
    }
}

/// The registry's OAuth tokens as the bundled servers' bearer tokens.
struct HubTokens(Arc<dyn AccessTokens>);

impl BearerTokens for HubTokens {
    fn token(&self) -> Pending<'_, Result<Arc<str>, String>> {
        Box::pin(async move {
            self.0.token().await.map_err(|error| match error {
                // The hub's MCP face turns this into its request for the user's consent.
                UpstreamError::NeedsConsent => "you have not granted the hub access to your account, or the grant was revoked or refused; grant it again".to_owned(),
                other => other.to_string(),
            })
        })
    }

    fn reject<'a>(&'a self, token: &'a str) -> Pending<'a, ()> {
        self.0.reject(token)
    }
}

#[cfg(test)]
mod tests {
    use futures::future::BoxFuture;

    use super::*;

    /// No token ever: enough to start a session.
    struct NoTokens;

    impl AccessTokens for NoTokens {
        fn token(&self) -> BoxFuture<'_, Result<Arc<str>, UpstreamError>> {
            Box::pin(async { Err(UpstreamError::NeedsConsent) })
        }

        fn reject<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[tokio::test]
    async fn every_builtin_name_is_bundled_and_checks_its_settings() {
        for name in agenthub_mcp_registry::config::BUILTINS {
            let refused = Bundled.start(name, BTreeMap::new(), None).unwrap_err();
            assert!(
                refused.contains("is required") || refused.contains("set SLACK_BOT_TOKEN"),
                "{name}: {refused}"
            );
        }
        let typo = BTreeMap::from([("SENTRY_TOKEN".to_owned(), "x".to_owned())]);
        let refused = Bundled.start("sentry", typo, None).unwrap_err();
        assert!(
            refused.contains("unknown setting SENTRY_TOKEN"),
            "{refused}"
        );
    }

    /// With OAuth tokens, a server starts without its credential settings, and refuses each
    /// of them — those the registry's configuration check names.
    #[tokio::test]
    async fn with_tokens_the_credential_settings_are_neither_needed_nor_taken() {
        let tokens = || Some(Arc::new(NoTokens) as Arc<dyn AccessTokens>);
        let base: [(&str, &[(&str, &str)]); 3] = [
            (
                "jira",
                &[("JIRA_BASE_URL", "https://api.atlassian.com/ex/jira/1")],
            ),
            ("sentry", &[("SENTRY_ORG", "acme")]),
            ("slack", &[]),
        ];
        for (name, settings) in base {
            assert!(
                Bundled.start(name, vars(settings), tokens()).is_ok(),
                "{name}"
            );
            let credentials = agenthub_mcp_registry::config::builtin_credentials(name);
            assert!(!credentials.is_empty(), "{name}");
            for credential in credentials {
                let mut with = vars(settings);
                with.insert((*credential).to_owned(), "xoxp-1".to_owned());
                let refused = Bundled.start(name, with, tokens()).unwrap_err();
                assert!(refused.contains("not used with OAuth"), "{name}: {refused}");
            }
        }
    }
}
