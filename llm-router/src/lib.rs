//! The agenthub LLM plane. Two layers:
//!
//! - **Translation**, pure (no I/O, no async, no clock): the router's own request, answer and
//!   stream types ([`model`]), the providers' wire formats ([`wire`]), translation between them
//!   in both directions — client formats to and from the normalized types ([`ingress`]) and
//!   the normalized types to and from providers ([`adapters`]) — and the parameter
//!   normalization table ([`params`]).
//! - **Routing**, the runtime: the configuration ([`config`]) compiled into a [`catalog`],
//!   the price table ([`pricing`]), target selection and health ([`routing`]), and the
//!   [`engine`] that sends calls over HTTP with retries, timeouts and fallbacks. The hub
//!   supplies identity, policy and credentials.
//!
//! A request's path through this crate:
//!
//! ```text
//! client body ─► Ingress::decode_request ─► ChatRequest (+ warnings)
//!             ─► ProviderAdapter::encode_request(request, ModelProfile) ─► provider body (+ warnings)
//! provider body ─► ProviderAdapter::decode_response ─► ChatResponse ─► Ingress::encode_response
//! provider SSE ─► StreamDecoder ─► StreamEvent* ─► StreamEncoder ─► client SSE
//! provider error ─► ProviderAdapter::decode_error ─► Error (ErrorKind) ─► Ingress::encode_error
//! ```

pub mod adapters;
pub mod catalog;
pub mod config;
pub mod engine;
mod error;
pub mod google_auth;
pub mod ingress;
pub mod model;
pub mod params;
pub mod pricing;
pub mod routing;
pub mod sigv4;
pub mod transport;
pub mod wire;

pub use agenthub_policy::ErrorKind;
pub use error::{Error, ProviderError, Result, classify};
