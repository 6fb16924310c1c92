//! The compliance suite: data-driven cases every provider adapter and every ingress must pass,
//! the same expectations for each, on fixtures shaped like the providers' documented examples
//! (`tests/fixtures/<provider>/`); translations across formats (`cross`); and round-trip
//! properties on generated values (`roundtrip`).
//!
//! A new adapter joins by adding a `Subject` to `cases::subjects` and its fixtures; a new ingress
//! by adding an `IngressSubject`.

mod adapters;
mod cases;
mod cross;
mod docs;
mod ingress;
mod responses;
mod roundtrip;
mod support;
