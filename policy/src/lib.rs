//! What every agenthub plane shares: who is calling ([`Identity`]), what they may do
//! ([`authz`]: policies, roles, the compiled authorizer), what they may do in the admin area
//! ([`admin`]), which requests a rule applies to ([`when`]), where requests may go ([`net`]),
//! and how a failure is classified ([`ErrorKind`]).
//!
//! This crate is pure logic: no I/O, no async, no wire types. Every decision it makes is taken
//! from in-memory state the hub hands it.

pub mod admin;
pub mod authz;
mod error;
pub mod guardrails;
mod identity;
pub mod limits;
pub mod net;
pub mod when;

pub use error::{ErrorKind, ErrorSource};
pub use identity::{
    GlobalRole, Identity, Scope, Scopes, SubjectKind, TeamMembership, TeamRole, UnknownScope,
};
