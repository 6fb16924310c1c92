//! The A2A plane: agents reach each other through the hub.
//!
//! What exists so far is the first part of the agent registry: the agent card (`card`, the
//! A2A v1.0 model, which v0.3 cards are normalized into, and its validation), reading a card
//! from an agent (`fetch`), and the `agents` section of the configuration (`config`), which the
//! hub checks when it loads its configuration. The hub does nothing else with agents yet: no
//! `/a2a` routes, no registry kept up to date, no relaying, signing or traces.

pub mod card;
pub mod chain;
pub mod config;
pub mod fetch;
pub mod protocol;
pub mod registry;
pub mod relay;
pub mod signing;
pub mod upstream;
