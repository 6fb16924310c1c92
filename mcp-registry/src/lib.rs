//! The MCP plane. Admins register upstream MCP servers (`config`); every upstream tool,
//! prompt and resource template is published to clients under a name of the hub's
//! (`names`): `<server><separator><tool>`, routed back by lookup.
//!
//! Being built in steps (see the MCP registry issue): the configuration and the names come
//! first; the upstream connections, the federated catalog and the hub's `/mcp` face follow.

pub mod config;
pub mod face;
pub mod names;
pub mod registry;
pub mod upstream;
