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
    PackedRequest, Reader, get_fields, put_opt_str, put_str, put_varint,
};

pub use crate::telemetry::packed::Corrupt;

const RECORDS_MAGIC: [u8; 4] = *b"AHR1";
const BODIES_MAGIC: [u8; 4] = *b"AHB1";
const HEADER: usize = 12;
/// The records payload's layout; a reader refuses any other.
const VERSION: u8 = 1;

/// The records section of `records`, which are sorted by id: their ids, then their packed
/// fields as they are.
pub fn records_section(records: &[&PackedRequest]) -> Vec<u8> {
    let size: usize = records
        .iter()
        .map(|record| record.id_bytes().len() + record.fields().len() + 2)
        .sum();
    let mut out = Vec::with_capacity(HEADER + 6 + size);
    out.extend_from_slice(&[0; HEADER]);
    out.push(VERSION);
    put_varint(&mut out, records.len() as u64);
    for record in records {
        put_str(&mut out, record.id());
    }
    for record in records {
        out.extend_from_slice(record.fields());
    }
    seal(out, RECORDS_MAGIC)
}

/// The bodies section of `records`, or `None` when none of them logged bodies.
pub fn bodies_section(records: &[&PackedRequest]) -> Option<Vec<u8>> {
    bodies_of(records.iter().map(|r| r.bodies().map(|b| b.json())))
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
