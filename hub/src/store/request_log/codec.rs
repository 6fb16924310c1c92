//! The bytes of a block: its records, and apart from them their logged bodies.
//!
//! A section is `magic, payload length (u32 LE), CRC-32 of the payload (u32 LE), payload`. A
//! records payload is `version, count, the ids, the records`: the ids come first, sorted, so
//! that a lookup by id or a check for records already stored reads nothing else; each record is
//! its packed fields (`telemetry::packed`: LEB128 varints, text as its length then its UTF-8, an
//! absent value a 0 where a present one is its length + 1). A bodies payload is `count`, then each record's bodies (JSON text)
//! or an absent value, in the records' order.

use crate::telemetry::event::RequestEvent;
use crate::telemetry::packed::{
    PackedRequest, Reader, get_fields, put_opt_text_bytes, put_text_bytes, put_varint,
};

pub use crate::telemetry::packed::Corrupt;

const RECORDS_MAGIC: [u8; 4] = *b"AHR1";
const BODIES_MAGIC: [u8; 4] = *b"AHB1";
const HEADER: usize = 12;
/// The records payload's layout; a reader refuses any other.
const VERSION: u8 = 1;

/// The buffers a block's sections are built in, kept from block to block: a new buffer for
/// each would be fresh pages the kernel zeroes, every batch.
#[derive(Default)]
pub struct Sections {
    records: Vec<u8>,
    bodies: Vec<u8>,
}

/// Capacity kept past a block: a batch of long bodies must not pin its buffers for good.
const KEPT_CAPACITY: usize = 4 << 20;

impl Sections {
    /// The sections of `records`, which are sorted by id: the records section (their ids,
    /// then their packed fields as they are), and the bodies section unless none of them
    /// logged bodies.
    pub fn build(&mut self, records: &[&PackedRequest]) -> (&[u8], Option<&[u8]>) {
        for buffer in [&mut self.records, &mut self.bodies] {
            buffer.clear();
            if buffer.capacity() > KEPT_CAPACITY {
                buffer.shrink_to(KEPT_CAPACITY);
            }
        }
        records_into(&mut self.records, records);
        let bodies = bodies_into(&mut self.bodies, records.iter().map(|r| r.logged_bodies()));
        (&self.records, bodies.then_some(self.bodies.as_slice()))
    }
}

/// Writes the records section of `records` to `out` (empty).
fn records_into(out: &mut Vec<u8>, records: &[&PackedRequest]) {
    let size: usize = records
        .iter()
        .map(|record| record.id_bytes().len() + record.fields().len() + 2)
        .sum();
    out.reserve(HEADER + 6 + size);
    out.extend_from_slice(&[0; HEADER]);
    out.push(VERSION);
    put_varint(out, records.len() as u64);
    for record in records {
        put_text_bytes(out, record.id_bytes());
    }
    for record in records {
        out.extend_from_slice(record.fields());
    }
    seal(out, RECORDS_MAGIC);
}

/// The bodies section of each record's bodies, in order, or `None` when there are none.
pub fn bodies_of<'a>(bodies: impl Iterator<Item = Option<&'a [u8]>> + Clone) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    bodies_into(&mut out, bodies).then_some(out)
}

/// Writes the bodies section of each record's bodies to `out` (empty); false, writing
/// nothing, when there are none.
fn bodies_into<'a>(
    out: &mut Vec<u8>,
    bodies: impl Iterator<Item = Option<&'a [u8]>> + Clone,
) -> bool {
    if bodies.clone().all(|body| body.is_none()) {
        return false;
    }
    let (count, size) = bodies.clone().fold((0, 0), |(count, size), body| {
        (count + 1, size + body.map_or(1, |b| b.len() + 5))
    });
    out.reserve(HEADER + 5 + size);
    out.extend_from_slice(&[0; HEADER]);
    put_varint(out, count);
    for body in bodies {
        put_opt_text_bytes(out, body);
    }
    seal(out, BODIES_MAGIC);
    true
}

fn seal(out: &mut [u8], magic: [u8; 4]) {
    let payload = &out[HEADER..];
    let length = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[..4].copy_from_slice(&magic);
    out[4..8].copy_from_slice(&length);
    out[8..12].copy_from_slice(&crc);
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
        let count = reader.length()?;
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
            events.push(get_fields(&mut reader, id)?);
        }
        Ok(events)
    }
}

/// The bodies of a bodies section, by the records' order.
pub fn bodies(section: &[u8]) -> Result<Vec<Option<String>>, Corrupt> {
    let mut reader = Reader(open(section, BODIES_MAGIC)?);
    let count = reader.length()?;
    let mut bodies = Vec::with_capacity(count.min(reader.0.len()));
    for _ in 0..count {
        bodies.push(reader.opt_str()?.map(str::to_owned));
    }
    Ok(bodies)
}

#[cfg(test)]
mod tests {
    use agenthub_policy::when::Plane;

    use super::*;
    use crate::telemetry::event::{Caller, LoggedBodies};
    use crate::telemetry::packed::tests::full_event;

    fn packed(events: &[&RequestEvent]) -> Vec<PackedRequest> {
        events
            .iter()
            .map(|event| PackedRequest::pack(event))
            .collect()
    }

    fn records_section(records: &[&PackedRequest]) -> Vec<u8> {
        Sections::default().build(records).0.to_vec()
    }

    fn bodies_section(records: &[&PackedRequest]) -> Option<Vec<u8>> {
        Sections::default().build(records).1.map(<[u8]>::to_vec)
    }

    #[test]
    fn records_come_back_as_they_went_in() {
        let full = full_event();
        let mut bare = RequestEvent::new(Plane::Llm, -5, Caller::default(), "");
        bare.id = "0".into();
        let mut with_bodies = full.clone();
        with_bodies.id = "z".into();
        with_bodies.bodies = LoggedBodies::from_json(r#"{"request":{"a":"ü"}}"#.into());
        let events = packed(&[&bare, &full, &with_bodies]);
        let events: Vec<&PackedRequest> = events.iter().collect();

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
        assert_eq!(bodies_section(&events[..2]), None, "no bodies, no section");
    }

    /// Buffers kept from block to block hold nothing of the block before.
    #[test]
    fn reused_buffers_make_the_same_sections() {
        let full = full_event();
        let mut with_bodies = full.clone();
        with_bodies.id = "z".into();
        with_bodies.bodies = LoggedBodies::from_json(format!(r#""{}""#, "b".repeat(5000)));
        let many = packed(&[&full, &with_bodies]);
        let many: Vec<&PackedRequest> = many.iter().collect();
        let one = packed(&[&full]);
        let one: Vec<&PackedRequest> = one.iter().collect();
        let mut sections = Sections::default();
        for block in [&many, &one, &many] {
            let (records, bodies) = sections.build(block);
            assert_eq!(records, records_section(block));
            assert_eq!(bodies.map(<[u8]>::to_vec), bodies_section(block));
        }
    }

    #[test]
    fn a_damaged_section_is_refused() {
        let full = full_event();
        let section = records_section(&[&PackedRequest::pack(&full)]);
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
                bodies_section(&[&PackedRequest::pack(&{
                    let mut e = full.clone();
                    e.bodies = LoggedBodies::from_json("{}".into());
                    e
                })])
                .unwrap(),
            ),
        ] {
            assert!(Records::open(&damaged).is_err(), "{what}");
        }
        assert!(bodies(&section).is_err(), "a records section is not bodies");
    }
}
