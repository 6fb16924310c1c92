//! What agenthub's bundled MCP servers (Slack, Jira, Sentry) share:
//!
//! - [`serve`]: one binary speaks MCP over stdio or streamable HTTP (`--transport`, `--listen`);
//! - [`credentials`]: what authenticates the calls: a credential from the settings, or bearer
//!   tokens that change (each user's OAuth tokens, when the hub runs the server);
//! - [`rest`]: calls to the service's REST API with its credentials, 429s retried as the
//!   service asks within a bound, and every failure turned into a message a model can act on;
//! - [`tools`]: tool definitions (schemas, annotations), results (text plus
//!   `structuredContent`), and the MCP server of a set of tools;
//! - [`settings`]: a server's settings read from variables named as its environment (how the
//!   hub passes a built-in server's `env`).

pub mod credentials;
pub mod rest;
pub mod serve;
pub mod settings;
pub mod tools;
