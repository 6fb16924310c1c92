//! The bytes of a block: its records, and apart from them their logged bodies.
//!
//! A section is `magic, payload length (u32 LE), CRC-32 of the payload (u32 LE), payload`. A
//! records payload is `version, count, the ids, the records`: the ids come first, sorted, so
//! that a lookup by id or a check for records already stored reads nothing else. Numbers are
//! LEB128 varints, text is its length then its UTF-8, an absent value is a 0 where a present
//! one is its length + 1. A bodies payload is `count`, then each record's bodies (JSON text)
//! or an absent value, in the records' order.

use std::collections::BTreeMap;

use agenthub_policy::when::Plane;

use crate::telemetry::event::{Caller, Failure, GuardrailVerdict, RequestEvent, Status, Tokens};

const RECORDS_MAGIC: [u8; 4] = *b"AHR1";
const BODIES_MAGIC: [u8; 4] = *b"AHB1";
const HEADER: usize = 12;
/// The records payload's layout; a reader refuses any other.
const VERSION: u8 = 1;

/// Why a section cannot be read.
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

/// The records section of `events`, which are sorted by id.
pub fn records_section(events: &[&RequestEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + 1 + events.len() * 320);
    out.extend_from_slice(&[0; HEADER]);
    out.push(VERSION);
    put_varint(&mut out, events.len() as u64);
    for event in events {
        put_str(&mut out, &event.id);
    }
    for event in events {
        put_event(&mut out, event);
    }
    seal(out, RECORDS_MAGIC)
}

/// The bodies section of `events`, or `None` when none of them logged bodies.
pub fn bodies_section(events: &[&RequestEvent]) -> Option<Vec<u8>> {
    bodies_of(events.iter().map(|e| e.bodies.as_ref().map(|b| b.json())))
}

/// The bodies section of each record's bodies, in order, or `None` when there are none.
pub fn bodies_of<'a>(bodies: impl Iterator<Item = Option<&'a str>> + Clone) -> Option<Vec<u8>> {
    if bodies.clone().all(|body| body.is_none()) {
        return None;
    }
    let (count, size) = bodies.clone().fold((0, 0), |(count, size), body| {
        (count + 1, size + body.map_or(1, |b| b.len() + 5))
    });
    let mut out = Vec::with_capacity(HEADER + 5 + size);
    out.extend_from_slice(&[0; HEADER]);
    put_varint(&mut out, count);
    for body in bodies {
        put_opt_str(&mut out, body);
    }
    Some(seal(out, BODIES_MAGIC))
}

fn seal(mut out: Vec<u8>, magic: [u8; 4]) -> Vec<u8> {
    let payload = &out[HEADER..];
    let length = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[..4].copy_from_slice(&magic);
    out[4..8].copy_from_slice(&length);
    out[8..12].copy_from_slice(&crc);
    out
}

/// The payload of a section, checked.
fn open(section: &[u8], magic: [u8; 4]) -> Result<&[u8], Corrupt> {
    if section.len() < HEADER || section[..4] != magic {
        return Err(Corrupt("no section header"));
    }
    let length = u32::from_le_bytes([section[4], section[5], section[6], section[7]]) as usize;
    let crc = u32::from_le_bytes([section[8], section[9], section[10], section[11]]);
    let payload = &section[HEADER..];
    if payload.len() != length {
        return Err(Corrupt("a section's length does not match its header"));
    }
    if crc32fast::hash(payload) != crc {
        return Err(Corrupt("a section's checksum does not match"));
    }
    Ok(payload)
}

/// A records section, checked, read as far as its ids.
pub struct Records<'a> {
    ids: Vec<&'a str>,
    rest: Reader<'a>,
}

impl<'a> Records<'a> {
    pub fn open(section: &'a [u8]) -> Result<Self, Corrupt> {
        let mut reader = Reader(open(section, RECORDS_MAGIC)?);
        if reader.byte()? != VERSION {
            return Err(Corrupt("an unknown records layout"));
        }
        let count = reader.len()?;
        let mut ids = Vec::with_capacity(count.min(reader.0.len()));
        for _ in 0..count {
            ids.push(reader.str()?);
        }
        Ok(Self { ids, rest: reader })
    }

    /// The records' ids, sorted.
    pub fn ids(&self) -> &[&'a str] {
        &self.ids
    }

    /// Every record, in id order.
    pub fn events(self) -> Result<Vec<RequestEvent>, Corrupt> {
        let mut reader = self.rest;
        let mut events = Vec::with_capacity(self.ids.len());
        for id in self.ids {
            events.push(get_event(&mut reader, id)?);
        }
        Ok(events)
    }
}

/// The bodies of a bodies section, by the records' order.
pub fn bodies(section: &[u8]) -> Result<Vec<Option<String>>, Corrupt> {
    let mut reader = Reader(open(section, BODIES_MAGIC)?);
    let count = reader.len()?;
    let mut bodies = Vec::with_capacity(count.min(reader.0.len()));
    for _ in 0..count {
        bodies.push(reader.opt_str()?.map(str::to_owned));
    }
    Ok(bodies)
}

fn put_event(out: &mut Vec<u8>, event: &RequestEvent) {
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

fn get_event(reader: &mut Reader<'_>, id: &str) -> Result<RequestEvent, Corrupt> {
    let at = unzigzag(reader.varint()?);
    let plane = match reader.str()? {
        "mcp" => Plane::Mcp,
        "a2a" => Plane::A2a,
        _ => Plane::Llm,
    };
    let request_id = reader.opt_string()?;
    let trace_id = reader.opt_string()?;
    let span_id = reader.opt_string()?;
    let parent_span_id = reader.opt_string()?;
    let principal = reader.string()?;
    let team = reader.opt_string()?;
    let key_id = reader.opt_string()?;
    let hops = reader.len()?;
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
    let verdicts = reader.len()?;
    let mut guardrails = Vec::with_capacity(verdicts.min(64));
    for _ in 0..verdicts {
        guardrails.push(GuardrailVerdict {
            rule: reader.string()?,
            stage: reader.string()?,
            action: reader.string()?,
        });
    }
    let pairs = reader.len()?;
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

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
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

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            put_varint(out, text.len() as u64 + 1);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Corrupt> {
        let (&first, rest) = self.0.split_first().ok_or(Corrupt("a record ends early"))?;
        self.0 = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<u64, Corrupt> {
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

    fn len(&mut self) -> Result<usize, Corrupt> {
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

    fn text(&mut self, length: usize) -> Result<&'a str, Corrupt> {
        std::str::from_utf8(self.bytes(length)?).map_err(|_| Corrupt("text is not UTF-8"))
    }

    fn str(&mut self) -> Result<&'a str, Corrupt> {
        let length = self.len()?;
        self.text(length)
    }

    fn string(&mut self) -> Result<String, Corrupt> {
        self.str().map(str::to_owned)
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>, Corrupt> {
        match self.len()? {
            0 => Ok(None),
            length => self.text(length - 1).map(Some),
        }
    }

    fn opt_string(&mut self) -> Result<Option<String>, Corrupt> {
        Ok(self.opt_str()?.map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::event::LoggedBodies;

    fn full_event() -> RequestEvent {
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

    #[test]
    fn records_come_back_as_they_went_in() {
        let full = full_event();
        let mut bare = RequestEvent::new(Plane::Llm, -5, Caller::default(), "");
        bare.id = "0".into();
        let mut with_bodies = full.clone();
        with_bodies.id = "z".into();
        with_bodies.bodies = LoggedBodies::from_json(r#"{"request":{"a":"ü"}}"#.into());
        let events = [&bare, &full, &with_bodies];

        let section = records_section(&events);
        let records = Records::open(&section).unwrap();
        assert_eq!(records.ids(), [&bare.id, &full.id, &with_bodies.id]);
        let back = records.events().unwrap();
        let mut without_bodies = with_bodies.clone();
        without_bodies.bodies = None;
        assert_eq!(back, [bare.clone(), full.clone(), without_bodies]);

        let section = bodies_section(&events).unwrap();
        assert_eq!(
            bodies(&section).unwrap(),
            [None, None, Some(r#"{"request":{"a":"ü"}}"#.to_owned())]
        );
        assert_eq!(
            bodies_section(&[&bare, &full]),
            None,
            "no bodies, no section"
        );
    }

    #[test]
    fn a_damaged_section_is_refused() {
        let full = full_event();
        let section = records_section(&[&full]);
        for (what, damaged) in [
            ("a flipped bit", {
                let mut s = section.clone();
                let last = s.len() - 1;
                s[last] ^= 1;
                s
            }),
            ("cut short", section[..section.len() - 1].to_vec()),
            ("no header", section[..8].to_vec()),
            (
                "a bodies section",
                bodies_section(&[&{
                    let mut e = full.clone();
                    e.bodies = LoggedBodies::from_json("{}".into());
                    e
                }])
                .unwrap(),
            ),
        ] {
            assert!(Records::open(&damaged).is_err(), "{what}");
        }
        assert!(bodies(&section).is_err(), "a records section is not bodies");
    }
}
