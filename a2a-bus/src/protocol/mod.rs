//! The A2A wire protocol as the relay needs it: pure, synchronous code over `serde_json::Value`
//! that reads and writes both protocol versions (v1.0 and v0.3) in both bindings (JSON-RPC 2.0
//! and REST, HTTP+JSON). No HTTP client, no hub wiring.
//!
//! A relayed request goes through these steps, each a module here:
//!
//! 1. The client's request is read: a JSON-RPC body by [`envelope::parse_request`], a REST
//!    request by [`rest::route`] and [`rest::Route::params`]. Either way the result is the
//!    operation ([`Method`]), the version the client speaks, and the params in that version's
//!    JSON-RPC form. Version detection is in [`version`].
//! 2. [`access`] reads what routing, authorization and guardrails need (task and context ids,
//!    message texts) from that form.
//! 3. [`convert::params`] turns the params into the agent's version (a no-op when the
//!    versions agree).
//! 4. The agent's request is written: [`envelope::request`] or [`rest::request`].
//! 5. The agent's answer is read back into its version's JSON-RPC result form
//!    ([`envelope::parse_response`], [`rest::result_from_body`], [`rest::event_from_body`]),
//!    converted with [`convert::result`] / [`convert::stream_event`], and written for the
//!    client ([`envelope::success`], [`rest::body_from_result`], [`rest::body_from_event`]).
//!    Errors go through [`A2aError`] ([`errors`]), which writes each version's and binding's
//!    error form.
//!
//! The reference throughout is the official Python SDK, a2a-sdk 1.3.0, which serves v0.3
//! clients through its compatibility layer (`a2a/compat/v0_3`); each module says which of its
//! files it follows. `tests/data/protocol` holds fixtures made by running a2a-sdk (its
//! converters, and a server answering real requests) and `generate.py`, which remakes them.

pub mod access;
pub mod convert;
pub mod envelope;
pub mod errors;
mod json;
pub mod methods;
pub mod rest;
pub mod state;
pub mod version;

pub use crate::card::ProtocolVersion;
pub use errors::{A2aError, ErrorKind};
pub use json::Invalid;
pub use methods::{Method, TaskIdAt};
pub use state::TaskState;
pub use version::Requested;
