//! Logged bodies: the request path keeps the bytes as they went by (a reference count, no
//! copy) and, when the request ends, copies them into its packed record, after the fields. The
//! writer turns a batch's bodies into what is stored — JSON where they are JSON, cut to
//! `telemetry.max_body_bytes`, and for `redacted` passed through the PII and secret detectors
//! of the guardrails first — on a blocking thread, one record after another, each in place of
//! its raw bytes in the record's buffer.
//!
//! One buffer per record, from the request's end to the store: what a record costs the
//! request path is mostly the memory it holds while it waits (about 50 ms), which every
//! allocation of the requests after it finds colder; a record made of several allocations,
//! logged into yet another, held more and touched more.
//!
//! Redacting in batches is the cheaper order: what a scan reads most is the detectors'
//! automaton, not the text, and one batch keeps the automaton in cache from one record to the
//! next, where a request ending among other work finds it evicted. With both hubs loaded at
//! once on one core, a chat call's record cost about 3.5 CPU-µs less this way than redacted
//! as its request ended (docs/benchmarks.md).

use agenthub_policy::guardrails::{Action, DetectorType, Guardrails, RuleConfig, Stage};
use agenthub_policy::when::{Plane, RequestFacts};
use agenthub_policy::{Identity, SubjectKind};
use bytes::Bytes;

use serde_json::value::RawValue;

use super::event::RequestEvent;
use super::packed::PackedRequest;
use crate::config::BodyLogging;

/// A request's and its answer's bytes, as they went by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawBodies {
    pub request: Option<KeptBody>,
    pub response: Option<KeptBody>,
}

/// A body as kept for its record: the whole of a short one, the beginning of a long one.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptBody {
    pub bytes: Bytes,
    /// The body's whole length.
    pub length: usize,
    /// Known to be JSON (parsed or made by the hub), so not checked again unless redacted.
    pub json: bool,
}

impl KeptBody {
    /// The body as the logger reads it.
    pub fn view(&self) -> BodyView<'_> {
        BodyView {
            bytes: &self.bytes,
            length: self.length,
            json: self.json,
        }
    }
}

/// A kept body's bytes, where they are (in the request's buffers or in its packed record).
#[derive(Debug, Clone, Copy)]
pub struct BodyView<'a> {
    pub bytes: &'a [u8],
    /// The body's whole length.
    pub length: usize,
    pub json: bool,
}

/// Turns raw bodies into logged ones.
pub struct BodyLogger {
    mode: BodyLogging,
    max_bytes: usize,
    redaction: Guardrails,
    identity: Identity,
}

impl BodyLogger {
    pub fn new(mode: BodyLogging, max_bytes: usize) -> Self {
        let redaction = Guardrails::from_rules(vec![
            RuleConfig::new("pii", DetectorType::Pii, Action::Redact),
            RuleConfig::new("secrets", DetectorType::Secrets, Action::Redact),
        ])
        .unwrap_or_else(|problems| unreachable!("the built-in rules are valid: {problems:?}"));
        Self {
            mode,
            max_bytes,
            redaction,
            identity: Identity::named(SubjectKind::Service, "telemetry"),
        }
    }

    /// Whether requests should keep their bodies at all.
    pub fn is_on(&self) -> bool {
        self.mode != BodyLogging::Off
    }

    /// What a request keeps of `body` until it ends: all of it, or its first `max_bytes` (a
    /// reference, not a copy).
    pub fn keep(&self, body: &Bytes) -> KeptBody {
        KeptBody {
            bytes: body.slice(..body.len().min(self.max_bytes)),
            length: body.len(),
            json: false,
        }
    }

    /// Like [`keep`](Self::keep), for a body the hub has parsed or made as JSON.
    pub fn keep_json(&self, body: &Bytes) -> KeptBody {
        KeptBody {
            json: true,
            ..self.keep(body)
        }
    }

    /// `event`, ended, packed: bodies already logged kept, raw ones copied into the record
    /// for the writer to log.
    pub fn pack(&self, event: &mut RequestEvent) -> PackedRequest {
        match event.raw_bodies.take() {
            Some(raw) if self.is_on() => PackedRequest::with_raw_bodies(event, &raw),
            _ => PackedRequest::pack(event),
        }
    }

    /// Writes the logged form of a request's and its answer's bodies to `out`: `{"request":
    /// …, "response": …}`, each the body's JSON when it is JSON (redacted as text, so no tree
    /// is built), else its text. False, writing nothing, when bodies are not logged.
    pub fn log(
        &self,
        request: Option<BodyView<'_>>,
        response: Option<BodyView<'_>>,
        plane: Plane,
        out: &mut String,
    ) -> bool {
        if !self.is_on() {
            return false;
        }
        // Each part is JSON (checked, or made by serde_json): so is the whole.
        let start = out.len();
        out.push('{');
        for (name, kept, stage) in [
            ("request", request, Stage::Input),
            ("response", response, Stage::Output),
        ] {
            let Some(kept) = kept else { continue };
            if out.len() > start + 1 {
                out.push(',');
            }
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            self.one(out, kept, stage, plane);
        }
        out.push('}');
        true
    }

    /// Appends one body's logged form to `out`.
    fn one(&self, out: &mut String, kept: BodyView<'_>, stage: Stage, plane: Plane) {
        let bytes = &kept.bytes[..kept.bytes.len().min(self.max_bytes)];
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let mut unchanged = true;
        let text = if self.mode == BodyLogging::Redacted {
            let metadata = Default::default();
            let facts = RequestFacts {
                identity: &self.identity,
                plane,
                model: None,
                tool: None,
                agent: None,
                metadata: &metadata,
            };
            match self.redaction.inspect(&text, stage, &facts).text {
                std::borrow::Cow::Borrowed(_) => text,
                std::borrow::Cow::Owned(redacted) => {
                    unchanged = false;
                    std::borrow::Cow::Owned(redacted)
                }
            }
        } else {
            text
        };
        let whole = kept.length <= self.max_bytes;
        let json = (kept.json && unchanged) || serde_json::from_str::<&RawValue>(&text).is_ok();
        if whole && json {
            out.push_str(&text);
            return;
        }
        let shown = if whole {
            text.into_owned()
        } else {
            // Too long to keep whole: its beginning, as text.
            format!("{text}… ({} bytes)", kept.length)
        };
        out.push_str(&serde_json::to_string(&shown).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(logger: &BodyLogger, raw: &RawBodies) -> serde_json::Value {
        let mut out = String::new();
        let (request, response) = (raw.request.as_ref(), raw.response.as_ref());
        assert!(logger.log(
            request.map(KeptBody::view),
            response.map(KeptBody::view),
            Plane::Llm,
            &mut out
        ));
        serde_json::from_str(&out).unwrap()
    }

    /// A request keeps its bodies by reference until it ends; its record holds a copy in its
    /// own buffer, so that no record waiting for the writer holds on to a connection's read
    /// buffer, and the writer logs them in place.
    #[test]
    fn bodies_are_kept_by_reference_copied_into_the_record_and_logged_in_place() {
        let logger = BodyLogger::new(BodyLogging::Redacted, 64 * 1024);
        for read_buffer in [
            Bytes::from(br#"{"a":"mail jane.doe@example.com"}"#.to_vec()),
            Bytes::from(format!(r#"{{"a":"{}"}}"#, "x".repeat(32 * 1024))),
        ] {
            let kept = logger.keep_json(&read_buffer);
            assert_eq!(
                kept.bytes.as_ptr(),
                read_buffer.as_ptr(),
                "kept by reference"
            );
            let mut event = RequestEvent::new(Plane::Llm, 0, Default::default(), "m");
            event.raw_bodies = Some(RawBodies {
                request: Some(kept),
                response: Some(logger.keep_json(&Bytes::from_static(b"[1,2]"))),
            });
            let mut packed = logger.pack(&mut event);
            assert!(read_buffer.is_unique(), "the record holds a copy");
            assert!(packed.bodies().is_none());
            assert!(packed.has_pending_bodies());
            let buffer = packed.fields().as_ptr();
            let mut scratch = String::new();
            packed.log_pending(&mut scratch, |request, response, plane, out| {
                assert_eq!(request.unwrap().bytes, &read_buffer[..]);
                assert_eq!(response.unwrap().bytes, b"[1,2]");
                logger.log(request, response, plane, out)
            });
            assert_eq!(packed.fields().as_ptr(), buffer, "logged in place");
            let bodies: serde_json::Value =
                serde_json::from_str(packed.bodies().unwrap().json()).unwrap();
            assert!(
                !bodies["request"]["a"]
                    .as_str()
                    .unwrap()
                    .contains("jane.doe")
            );
            assert_eq!(bodies["response"], serde_json::json!([1, 2]));
            assert_eq!(
                packed.event().unwrap().id,
                event.id,
                "the fields are intact"
            );
        }
        // With bodies off, nothing is kept for the writer.
        let off = BodyLogger::new(BodyLogging::Off, 64 * 1024);
        let mut event = RequestEvent::new(Plane::Llm, 0, Default::default(), "m");
        event.raw_bodies = Some(RawBodies {
            request: Some(off.keep(&Bytes::from_static(b"x"))),
            response: None,
        });
        assert!(!off.pack(&mut event).has_pending_bodies());
    }

    #[test]
    fn bodies_are_kept_redacted_and_cut() {
        let whole = |bytes: &'static [u8]| KeptBody {
            bytes: Bytes::from_static(bytes),
            length: bytes.len(),
            json: false,
        };
        let raw = RawBodies {
            request: Some(whole(
                br#"{"messages":[{"role":"user","content":"mail me at jane.doe@example.com"}]}"#,
            )),
            response: Some(whole(b"data: not json")),
        };
        let redacted = logged(&BodyLogger::new(BodyLogging::Redacted, 1024), &raw);
        let content = redacted["request"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(content.starts_with("mail me at "), "{content}");
        assert!(!content.contains("jane.doe@example.com"), "{content}");
        assert_eq!(redacted["response"], "data: not json");

        let full = logged(&BodyLogger::new(BodyLogging::Full, 1024), &raw);
        assert!(full["request"].to_string().contains("jane.doe@example.com"));

        let short = BodyLogger::new(BodyLogging::Full, 8);
        let length = raw.request.as_ref().unwrap().length;
        let kept = short.keep(&raw.request.as_ref().unwrap().bytes);
        assert_eq!((kept.bytes.len(), kept.length), (8, length));
        let cut = logged(
            &short,
            &RawBodies {
                request: Some(kept),
                response: None,
            },
        );
        assert_eq!(cut["request"], format!("{{\"messag… ({length} bytes)"));
        assert!(cut.get("response").is_none());
        let mut out = String::new();
        assert!(!BodyLogger::new(BodyLogging::Off, 8).log(
            raw.request.as_ref().map(KeptBody::view),
            None,
            Plane::Llm,
            &mut out
        ));
        assert!(out.is_empty());
    }
}
