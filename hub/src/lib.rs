//! agenthub: one endpoint through which AI agents reach tools (MCP), each other (A2A) and
//! models, under one identity, policy and audit trail.
//!
//! This crate is the hub: configuration, store, the identity directory, the authentication
//! front door, the admin API and CLI, and the HTTP server that wires the planes together. See
//! `ARCHITECTURE.md` at the repository root for the codemap.

pub mod a2a;
pub mod api;
pub mod app;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod config;
pub mod directory;
pub mod error;
pub mod governance;
pub mod keys;
pub mod llm;
pub mod logging;
pub mod mcp;
pub mod model;
pub mod ops;
pub mod outbound;
pub mod secrets;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
