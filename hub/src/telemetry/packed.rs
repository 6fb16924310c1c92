//! A request's record packed into one buffer when the request ends, while its memory is still
//! in cache: what waits in the queue and what the request log stores, byte for byte.
//!
//! A record made of twenty small allocations that waits 50 ms for the writer costs the request
//! path more than its making: every allocation after it comes from memory gone cold, and the
//! writer reads it back cold. Packed, it is one buffer read front to back, and the request's own
//! memory is freed (and reused) at once.
//!
//! The layout: the id, then the fields — LEB128 varints, text as its length then its UTF-8, an
//! absent value a 0 where a present one is its length + 1 — then the bodies: the request's and
//! the answer's bytes as kept, until the writer logs them in their place. A request log block's
//! records are these fields verbatim (`store::request_log::codec`), its bodies section these
//! logged bodies.

use std::collections::BTreeMap;

use agenthub_policy::when::Plane;
use serde::{Deserialize, Serialize};

use super::bodies::{BodyView, KeptBody, RawBodies};
use super::event::{Caller, Failure, GuardrailVerdict, LoggedBodies, RequestEvent, Status, Tokens};
use crate::model::Millis;

/// Why packed bytes cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a stored block of request records is corrupt: {}",
            self.0
        )
    }
}

impl std::error::Error for Corrupt {}

/// A request's record, packed.
#[derive(Clone, PartialEq)]
pub struct PackedRequest {
    /// The id, the fields, then the bodies: as kept, waiting for the writer to log them, or
    /// logged. Not shrunk to fit: that would be a second allocation and a copy for every
    /// record.
    bytes: Vec<u8>,
    id_len: usize,
    fields_end: usize,
    bodies: Bodies,
}

/// What follows a record's fields.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bodies {
    None,
    /// The request's and the answer's bytes as kept, in that order, for the writer to log.
    Pending {
        request: Option<PendingBody>,
        response: Option<PendingBody>,
    },
    /// The logged bodies' JSON text.
    Logged,
}

/// A body waiting in a record to be logged: how many of its bytes were kept, and what the
/// logger needs to know of the rest.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PendingBody {
    kept: usize,
    length: usize,
    json: bool,
}

impl PendingBody {
    fn of(body: &KeptBody) -> Self {
        Self {
            kept: body.bytes.len(),
            length: body.length,
            json: body.json,
        }
    }

    fn view(self, bytes: &[u8]) -> BodyView<'_> {
        BodyView {
            bytes,
            length: self.length,
            json: self.json,
        }
    }
}

/// Room left past a record's kept bodies for what logging them adds (`{"request":…}`), so
/// that logged in place they need no new allocation.
const LOGGING_ROOM: usize = 32;
/// Room for a record's id and fields, enough for most.
const FIELDS_ROOM: usize = 384;

/// The values of a record the request log indexes, borrowed from its packed bytes: UTF-8, as
/// packed from strings, but not checked again (a few dozen small checks per record, the log's
/// writer's hottest work), since the log stores them as the text they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indexed<'a> {
    pub principal: &'a [u8],
    pub team: Option<&'a [u8]>,
    pub key_id: Option<&'a [u8]>,
    pub plane: &'a [u8],
    pub model: Option<&'a [u8]>,
    pub provider: Option<&'a [u8]>,
    pub tool: Option<&'a [u8]>,
    pub agent: Option<&'a [u8]>,
    pub status: &'a [u8],
    pub trace_id: Option<&'a [u8]>,
}

impl PackedRequest {
    /// `event` packed, with its logged bodies.
    pub fn pack(event: &RequestEvent) -> Self {
        let logged = event.bodies.as_ref().map(LoggedBodies::json);
        let mut packed = Self::fields_of(event, logged.map_or(0, str::len));
        if let Some(logged) = logged {
            packed.bytes.extend_from_slice(logged.as_bytes());
            packed.bodies = Bodies::Logged;
        }
        packed
    }

    /// `event` packed with the bodies `raw` kept, copied after its fields for the writer to
    /// log (in place): one buffer for the whole record, and none of the request's buffers
    /// held while the record waits.
    pub fn with_raw_bodies(event: &RequestEvent, raw: &RawBodies) -> Self {
        let (request, response) = (raw.request.as_ref(), raw.response.as_ref());
        let kept = request.map_or(0, |b| b.bytes.len()) + response.map_or(0, |b| b.bytes.len());
        let mut packed = Self::fields_of(event, kept + LOGGING_ROOM);
        for body in [request, response].into_iter().flatten() {
            packed.bytes.extend_from_slice(&body.bytes);
        }
        packed.bodies = Bodies::Pending {
            request: request.map(PendingBody::of),
            response: response.map(PendingBody::of),
        };
        packed
    }

    /// `event`'s id and fields, with room for `more` bytes after them.
    fn fields_of(event: &RequestEvent, more: usize) -> Self {
        let mut bytes = Vec::with_capacity(FIELDS_ROOM + more);
        bytes.extend_from_slice(event.id.as_bytes());
        put_fields(&mut bytes, event);
        Self {
            id_len: event.id.len(),
            fields_end: bytes.len(),
            bytes,
            bodies: Bodies::None,
        }
    }

    /// The record's id (UUIDv7).
    pub fn id(&self) -> &str {
        // Packed from a `String`: a failure here would be a bug, and shows as an empty id.
        std::str::from_utf8(self.id_bytes()).unwrap_or_default()
    }

    /// The id's bytes: ids order as their bytes do.
    pub fn id_bytes(&self) -> &[u8] {
        &self.bytes[..self.id_len]
    }

    /// When the request arrived.
    pub fn at(&self) -> Millis {
        Reader(self.fields())
            .varint()
            .map(unzigzag)
            .unwrap_or_default()
    }

    /// The plane the request went through.
    pub fn plane(&self) -> Plane {
        let mut reader = Reader(self.fields());
        reader
            .varint()
            .and_then(|_| reader.str())
            .ok()
            .and_then(Plane::parse)
            .unwrap_or(Plane::Llm)
    }

    /// The packed fields, as a request log block stores them.
    pub fn fields(&self) -> &[u8] {
        &self.bytes[self.id_len..self.fields_end]
    }

    /// The logged bodies' JSON text (`{"request": …, "response": …}`), if any: bytes made from
    /// text, as the request log stores them.
    pub fn logged_bodies(&self) -> Option<&[u8]> {
        (self.bodies == Bodies::Logged).then(|| &self.bytes[self.fields_end..])
    }

    /// The logged bodies, if any.
    pub fn bodies(&self) -> Option<LoggedBodies> {
        let text = std::str::from_utf8(self.logged_bodies()?).ok()?;
        Some(LoggedBodies::made(text.to_owned()))
    }

    /// Whether the bodies still wait to be logged.
    pub fn has_pending_bodies(&self) -> bool {
        matches!(self.bodies, Bodies::Pending { .. })
    }

    /// Logs the pending bodies in place: `log` is given the request's and the answer's bytes
    /// as kept and the plane they went through, and writes their logged form to `scratch`
    /// (cleared first), or returns false to log nothing.
    pub fn log_pending(
        &mut self,
        scratch: &mut String,
        log: impl FnOnce(Option<BodyView<'_>>, Option<BodyView<'_>>, Plane, &mut String) -> bool,
    ) {
        let Bodies::Pending { request, response } = self.bodies else {
            return;
        };
        let plane = self.plane();
        scratch.clear();
        let kept = &self.bytes[self.fields_end..];
        let (request_bytes, rest) = kept.split_at(request.map_or(0, |b| b.kept).min(kept.len()));
        let response_bytes = &rest[..response.map_or(0, |b| b.kept).min(rest.len())];
        let logged = log(
            request.map(|b| b.view(request_bytes)),
            response.map(|b| b.view(response_bytes)),
            plane,
            scratch,
        );
        self.bytes.truncate(self.fields_end);
        self.bodies = if logged {
            self.bytes.extend_from_slice(scratch.as_bytes());
            Bodies::Logged
        } else {
            Bodies::None
        };
    }

    /// The values the request log indexes, read without copying.
    pub fn indexed(&self) -> Result<Indexed<'_>, Corrupt> {
        let mut reader = Reader(self.fields());
        reader.varint()?;
        let plane = reader.text_bytes()?;
        reader.opt_text_bytes()?;
        let trace_id = reader.opt_text_bytes()?;
        reader.opt_text_bytes()?;
        reader.opt_text_bytes()?;
        let principal = reader.text_bytes()?;
        let team = reader.opt_text_bytes()?;
        let key_id = reader.opt_text_bytes()?;
        for _ in 0..reader.length()? {
            reader.text_bytes()?;
        }
        reader.text_bytes()?;
        let model = reader.opt_text_bytes()?;
        let provider = reader.opt_text_bytes()?;
        let tool = reader.opt_text_bytes()?;
        let agent = reader.opt_text_bytes()?;
        reader.text_bytes()?;
        reader.opt_text_bytes()?;
        let status = reader.text_bytes()?;
        Ok(Indexed {
            principal,
            team,
            key_id,
            plane,
            model,
            provider,
            tool,
            agent,
            status,
            trace_id,
        })
    }

    /// The record, without its bodies.
    pub fn event(&self) -> Result<RequestEvent, Corrupt> {
        get_fields(&mut Reader(self.fields()), self.id())
    }

    /// The record with its bodies.
    pub fn event_with_bodies(&self) -> Result<RequestEvent, Corrupt> {
        let mut event = self.event()?;
        event.bodies = self.bodies();
        Ok(event)
    }
}

impl std::fmt::Debug for PackedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.event_with_bodies() {
            Ok(event) => f.debug_tuple("PackedRequest").field(&event).finish(),
            Err(e) => f.debug_tuple("PackedRequest").field(&e).finish(),
        }
    }
}

/// Written out as the record it packs (the spill's JSON Lines are records, not bytes).
impl Serialize for PackedRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.event_with_bodies()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PackedRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RequestEvent::deserialize(deserializer).map(|event| Self::pack(&event))
    }
}

fn put_fields(out: &mut Vec<u8>, event: &RequestEvent) {
    put_varint(out, zigzag(event.at));
    put_str(out, event.plane.as_str());
    put_opt_str(out, event.request_id.as_deref());
    put_opt_str(out, event.trace_id.as_deref());
    put_opt_str(out, event.span_id.as_deref());
    put_opt_str(out, event.parent_span_id.as_deref());
    put_str(out, &event.caller.principal);
    put_opt_str(out, event.caller.team.as_deref());
    put_opt_str(out, event.caller.key_id.as_deref());
    put_varint(out, event.caller.chain.len() as u64);
    for hop in &event.caller.chain {
        put_str(out, hop);
    }
    put_str(out, &event.target);
    put_opt_str(out, event.model.as_deref());
    put_opt_str(out, event.provider.as_deref());
    put_opt_str(out, event.tool.as_deref());
    put_opt_str(out, event.agent.as_deref());
    put_str(out, &event.operation);
    put_opt_str(out, event.fallback_path.as_deref());
    put_str(out, event.status.as_str());
    put_opt_str(out, event.error.as_ref().map(|e| e.class.as_str()));
    put_opt_str(out, event.error.as_ref().map(|e| e.message.as_str()));
    put_varint(out, event.latency_us);
    put_opt_varint(out, event.ttft_us);
    put_opt_varint(out, event.tpot_us);
    put_varint(out, event.tokens.input);
    put_varint(out, event.tokens.output);
    put_varint(out, event.tokens.cached);
    put_varint(out, event.cost_micros);
    put_varint(out, event.request_bytes);
    put_varint(out, event.response_bytes);
    put_varint(out, event.guardrails.len() as u64);
    for verdict in &event.guardrails {
        put_str(out, &verdict.rule);
        put_str(out, &verdict.stage);
        put_str(out, &verdict.action);
    }
    put_varint(out, event.metadata.len() as u64);
    for (key, value) in &event.metadata {
        put_str(out, key);
        put_str(out, value);
    }
}

/// Reads one record's fields from `reader`: the record with id `id`, without bodies.
pub fn get_fields(reader: &mut Reader<'_>, id: &str) -> Result<RequestEvent, Corrupt> {
    let at = unzigzag(reader.varint()?);
    let plane = Plane::parse(reader.str()?).unwrap_or(Plane::Llm);
    let request_id = reader.opt_string()?;
    let trace_id = reader.opt_string()?;
    let span_id = reader.opt_string()?;
    let parent_span_id = reader.opt_string()?;
    let principal = reader.string()?;
    let team = reader.opt_string()?;
    let key_id = reader.opt_string()?;
    let hops = reader.length()?;
    let mut chain = Vec::with_capacity(hops.min(64));
    for _ in 0..hops {
        chain.push(reader.string()?);
    }
    let target = reader.string()?;
    let model = reader.opt_string()?;
    let provider = reader.opt_string()?;
    let tool = reader.opt_string()?;
    let agent = reader.opt_string()?;
    let operation = reader.string()?;
    let fallback_path = reader.opt_string()?;
    let status = Status::parse(reader.str()?).unwrap_or(Status::Error);
    let class = reader.opt_string()?;
    let message = reader.opt_string()?;
    let error = class.map(|class| Failure {
        class,
        message: message.unwrap_or_default(),
    });
    let latency_us = reader.varint()?;
    let ttft_us = reader.opt_varint()?;
    let tpot_us = reader.opt_varint()?;
    let tokens = Tokens {
        input: reader.varint()?,
        output: reader.varint()?,
        cached: reader.varint()?,
    };
    let cost_micros = reader.varint()?;
    let request_bytes = reader.varint()?;
    let response_bytes = reader.varint()?;
    let verdicts = reader.length()?;
    let mut guardrails = Vec::with_capacity(verdicts.min(64));
    for _ in 0..verdicts {
        guardrails.push(GuardrailVerdict {
            rule: reader.string()?,
            stage: reader.string()?,
            action: reader.string()?,
        });
    }
    let pairs = reader.length()?;
    let mut metadata = BTreeMap::new();
    for _ in 0..pairs {
        let key = reader.string()?;
        metadata.insert(key, reader.string()?);
    }
    Ok(RequestEvent {
        id: id.to_owned(),
        at,
        plane,
        request_id,
        trace_id,
        span_id,
        parent_span_id,
        caller: Caller {
            principal,
            team,
            key_id,
            chain,
        },
        target,
        model,
        provider,
        tool,
        agent,
        operation,
        fallback_path,
        status,
        error,
        latency_us,
        ttft_us,
        tpot_us,
        tokens,
        cost_micros,
        request_bytes,
        response_bytes,
        guardrails,
        metadata,
        bodies: None,
        raw_bodies: None,
    })
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_opt_varint(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        None => out.push(0),
        Some(n) => {
            out.push(1);
            put_varint(out, n);
        }
    }
}

pub fn put_str(out: &mut Vec<u8>, text: &str) {
    put_text_bytes(out, text.as_bytes());
}

/// Like [`put_str`], for a text's bytes already known to be UTF-8.
pub fn put_text_bytes(out: &mut Vec<u8>, text: &[u8]) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text);
}

pub fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    put_opt_text_bytes(out, text.map(str::as_bytes));
}

/// Like [`put_opt_str`], for a text's bytes already known to be UTF-8.
pub fn put_opt_text_bytes(out: &mut Vec<u8>, text: Option<&[u8]>) {
    match text {
        None => out.push(0),
        Some(text) => {
            put_varint(out, text.len() as u64 + 1);
            out.extend_from_slice(text);
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, Corrupt> {
    std::str::from_utf8(bytes).map_err(|_| Corrupt("text is not UTF-8"))
}

/// Reads packed values front to back.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn byte(&mut self) -> Result<u8, Corrupt> {
        let (&first, rest) = self.0.split_first().ok_or(Corrupt("a record ends early"))?;
        self.0 = rest;
        Ok(first)
    }

    pub fn varint(&mut self) -> Result<u64, Corrupt> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Corrupt("a number is too long"))
    }

    pub fn length(&mut self) -> Result<usize, Corrupt> {
        usize::try_from(self.varint()?).map_err(|_| Corrupt("a length is too large"))
    }

    fn opt_varint(&mut self) -> Result<Option<u64>, Corrupt> {
        match self.byte()? {
            0 => Ok(None),
            _ => self.varint().map(Some),
        }
    }

    fn bytes(&mut self, length: usize) -> Result<&'a [u8], Corrupt> {
        if length > self.0.len() {
            return Err(Corrupt("a record ends early"));
        }
        let (bytes, rest) = self.0.split_at(length);
        self.0 = rest;
        Ok(bytes)
    }

    /// A text's bytes, not checked to be UTF-8.
    fn text_bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let length = self.length()?;
        self.bytes(length)
    }

    fn opt_text_bytes(&mut self) -> Result<Option<&'a [u8]>, Corrupt> {
        match self.length()? {
            0 => Ok(None),
            length => self.bytes(length - 1).map(Some),
        }
    }

    pub fn str(&mut self) -> Result<&'a str, Corrupt> {
        self.text_bytes().and_then(utf8)
    }

    fn string(&mut self) -> Result<String, Corrupt> {
        self.str().map(str::to_owned)
    }

    pub fn opt_str(&mut self) -> Result<Option<&'a str>, Corrupt> {
        self.opt_text_bytes()?.map(utf8).transpose()
    }

    fn opt_string(&mut self) -> Result<Option<String>, Corrupt> {
        Ok(self.opt_str()?.map(str::to_owned))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::telemetry::Record;

    /// A record with every field set, some to their extremes; no bodies.
    pub(crate) fn full_event() -> RequestEvent {
        let caller = Caller {
            principal: "service:planner".into(),
            team: Some("ml".into()),
            key_id: Some("key-1".into()),
            chain: vec!["agent:a".into(), "agent:b".into()],
        };
        let mut event = RequestEvent::new(Plane::A2a, 1_800_000_000_123, caller, "writer");
        event.request_id = Some("req-1".into());
        event.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        event.span_id = Some("00f067aa0ba902b7".into());
        event.parent_span_id = Some("00f067aa0ba902b6".into());
        event.model = Some("gpt-4o".into());
        event.provider = Some("openai".into());
        event.tool = Some("slack/post".into());
        event.agent = Some("writer".into());
        event.operation = "SendMessage".into();
        event.fallback_path = Some("a>b".into());
        event.fail(Status::Denied, "budget_exceeded", "över budget ✓");
        event.latency_us = u64::MAX;
        event.ttft_us = Some(0);
        event.tpot_us = Some(300);
        event.tokens = Tokens {
            input: 10,
            output: 20,
            cached: 3,
        };
        event.cost_micros = 1 << 40;
        event.request_bytes = 512;
        event.response_bytes = 1024;
        event.guardrails.push(GuardrailVerdict {
            rule: "pii".into(),
            stage: "input".into(),
            action: "redact".into(),
        });
        event.metadata.insert("project".into(), "apollo".into());
        event.metadata.insert("".into(), "".into());
        event
    }

    fn with_bodies(mut event: RequestEvent) -> RequestEvent {
        event.bodies = LoggedBodies::from_json(r#"{"request":{"a":"ü"}}"#.into());
        event
    }

    #[test]
    fn a_packed_record_unpacks_as_it_went_in() {
        let mut bare = RequestEvent::new(Plane::Llm, -5, Caller::default(), "");
        bare.id = String::new();
        for event in [with_bodies(full_event()), full_event(), bare] {
            let packed = PackedRequest::pack(&event);
            assert_eq!(packed.id(), event.id);
            assert_eq!(packed.at(), event.at);
            assert_eq!(packed.plane(), event.plane);
            assert_eq!(packed.bodies(), event.bodies);
            assert!(!packed.has_pending_bodies());
            assert_eq!(packed.event_with_bodies().unwrap(), event);
            let mut without = event.clone();
            without.bodies = None;
            assert_eq!(packed.event().unwrap(), without);
        }
    }

    #[test]
    fn the_indexed_values_are_read_in_place() {
        let event = full_event();
        let packed = PackedRequest::pack(&event);
        let indexed = packed.indexed().unwrap();
        assert_eq!(
            indexed,
            Indexed {
                principal: b"service:planner",
                team: Some(b"ml"),
                key_id: Some(b"key-1"),
                plane: b"a2a",
                model: Some(b"gpt-4o"),
                provider: Some(b"openai"),
                tool: Some(b"slack/post"),
                agent: Some(b"writer"),
                status: b"denied",
                trace_id: Some(b"4bf92f3577b34da6a3ce929d0e0e4736"),
            }
        );
    }

    /// The spill writes records as JSON: a packed record is written as the record it packs, so
    /// spills of earlier versions replay and this version's read back.
    #[test]
    fn a_packed_record_is_written_out_as_its_record() {
        let event = with_bodies(full_event());
        let record = Record::Request(PackedRequest::pack(&event));
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "request", "record": serde_json::to_value(&event).unwrap()})
        );
        assert_eq!(serde_json::from_value::<Record>(json).unwrap(), record);
    }

    #[test]
    fn damaged_fields_are_refused() {
        let packed = PackedRequest::pack(&full_event());
        for cut in [0, 1, packed.fields().len() / 2, packed.fields().len() - 1] {
            let mut reader = Reader(&packed.fields()[..cut]);
            assert!(get_fields(&mut reader, "x").is_err(), "cut at {cut}");
        }
    }
}
