//! The MCP plane. Admins register upstream MCP servers (`config`, or an official registry
//! entry through `server_json`); each is kept connected (`upstream`, `registry`; the legacy
//! HTTP+SSE transport in `sse_client` over the `sse` parser; a REST API's OpenAPI document served
//! as an MCP server by the hub itself in `openapi`) and every
//! upstream tool and prompt is published to clients under a name of the hub's (`names`):
//! `<server><separator><tool>`, routed back by lookup; every resource under a URI of the hub's
//! (`uris`): `hub://<server>/<upstream URI>`, a read matched to the resource or template
//! (`uri_template`) that covers it. `face` is the MCP server clients talk to; `calls` is what it
//! and the hub's gate say to each other around a tool call (refusals, outcomes); `relay`
//! forwards its requests upstream (cancellation, and progress routed back by `progress`);
//! `changes` tells its clients when the federation's lists change; `hops` keeps hubs registered
//! with each other from looping (the `x-agenthub-via` header). `virtual_servers` are named
//! selections of the federation that the face serves as servers of their own. A server that
//! acts for each user (OAuth authorization code with PKCE, `user_oauth`) is reached over one
//! connection per user (`user_connections`), each with that user's own tokens; Slack's OAuth,
//! which departs from the standard, is read by `slack_oauth` (`dialect: slack`). Besides the
//! federation's, the face publishes `extra` tools that its gate answers itself (the hub's A2A
//! agents).

pub mod calls;
pub mod changes;
pub mod config;
pub mod extra;
pub mod face;
pub mod hops;
pub mod names;
pub mod oauth;
pub mod openapi;
pub mod progress;
pub mod registry;
pub mod relay;
pub mod server_json;
mod slack_oauth;
pub mod sse;
pub mod sse_client;
pub mod upstream;
pub mod uri_template;
pub mod uris;
pub mod user_connections;
pub mod user_oauth;
pub mod virtual_servers;
