//! The A2A plane: agents reach each other through the hub.
//!
//! The agent card (`card`, the A2A v1.0 model, which v0.3 cards are normalized into) read from
//! agents (`fetch`) and kept up to date for every registered agent (`registry`, from the
//! `agents` and `a2a` sections: `config`); the wire protocol in both versions and bindings
//! (`protocol`); signatures on messages and cards (`signing`); delegation chains (`chain`);
//! and one request relayed to an agent and its answer read back (`upstream`, `relay`). The
//! hub (`hub/src/a2a`) adds identity, authorization, governance, keys, tasks and traces.

pub mod card;
pub mod chain;
pub mod config;
pub mod destinations;
pub mod fetch;
pub mod protocol;
pub mod registry;
pub mod relay;
pub mod signing;
pub mod upstream;
