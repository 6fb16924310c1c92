//! The AWS event stream encoding (`application/vnd.amazon.eventstream`), in which Bedrock's
//! `ConverseStream` answers: binary messages back to back, each
//!
//! ```text
//! total length (u32 BE) | headers length (u32 BE) | prelude CRC32 (of the 8 bytes before)
//! headers | payload | message CRC32 (of everything before it)
//! ```
//!
//! and each header `name length (u8) | name | type (u8) | value`. An incremental parser (bytes
//! may be split anywhere; both CRCs checked; sizes bounded as AWS bounds them: 16 MiB per
//! message, 128 KiB of headers), the encoder, and the mapping of a message to the
//! [`SseEvent`] the stream decoders take (`:event-type` or `:exception-type` as the event
//! name, the payload as its data).

use crate::error::{Error, Result};
use crate::wire::sse::SseEvent;

/// The largest message AWS sends or accepts.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;
/// The most header bytes a message may carry.
pub const MAX_HEADERS_LEN: usize = 128 * 1024;
const PRELUDE_LEN: usize = 12;
/// Prelude and message CRC, without headers or payload.
const MIN_MESSAGE_LEN: usize = 16;

/// A header value, by its wire type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Types 0 (true) and 1 (false).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Short(i16),
    /// Type 4.
    Int(i32),
    /// Type 5.
    Long(i64),
    /// Type 6: up to 65535 bytes.
    Bytes(Vec<u8>),
    /// Type 7: UTF-8, up to 65535 bytes.
    String(String),
    /// Type 8: milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

/// One event stream message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value)
    }

    /// A string header's value.
    pub fn string_header(&self, name: &str) -> Option<&str> {
        match self.header(name) {
            Some(HeaderValue::String(value)) => Some(value),
            _ => None,
        }
    }

    /// The message on the wire. Fails on a header name over 255 bytes, a string or byte array
    /// over 65535 bytes, or a message over the size limits.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let name_len = u8::try_from(name.len())
                .ok()
                .filter(|len| *len > 0)
                .ok_or_else(|| Error::protocol(format!("header name {name:?}: 1 to 255 bytes")))?;
            headers.push(name_len);
            headers.extend_from_slice(name.as_bytes());
            match value {
                HeaderValue::Bool(true) => headers.push(0),
                HeaderValue::Bool(false) => headers.push(1),
                HeaderValue::Byte(v) => {
                    headers.push(2);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Short(v) => {
                    headers.push(3);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Int(v) => {
                    headers.push(4);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Long(v) => {
                    headers.push(5);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Bytes(bytes) => {
                    headers.push(6);
                    push_sized(&mut headers, name, bytes)?;
                }
                HeaderValue::String(text) => {
                    headers.push(7);
                    push_sized(&mut headers, name, text.as_bytes())?;
                }
                HeaderValue::Timestamp(v) => {
                    headers.push(8);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Uuid(v) => {
                    headers.push(9);
                    headers.extend_from_slice(v);
                }
            }
        }
        let total = MIN_MESSAGE_LEN + headers.len() + self.payload.len();
        if headers.len() > MAX_HEADERS_LEN || total > MAX_MESSAGE_LEN {
            return Err(Error::protocol("event stream message too large"));
        }
        let mut out = Vec::with_capacity(total);
        // Both fit: bounded by MAX_MESSAGE_LEN above.
        out.extend_from_slice(&(total as u32).to_be_bytes());
        out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        let prelude_crc = crc32(&out);
        out.extend_from_slice(&prelude_crc.to_be_bytes());
        out.extend_from_slice(&headers);
        out.extend_from_slice(&self.payload);
        let message_crc = crc32(&out);
        out.extend_from_slice(&message_crc.to_be_bytes());
        Ok(out)
    }
}

fn push_sized(out: &mut Vec<u8>, name: &str, bytes: &[u8]) -> Result<()> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| Error::protocol(format!("header {name}: value over 65535 bytes")))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Splits a byte stream into messages, whatever the chunking. After an error the stream is
/// unusable: every later call fails the same way.
#[derive(Debug, Default)]
pub struct EventStreamParser {
    buffer: Vec<u8>,
    failed: Option<String>,
}

impl EventStreamParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the messages they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Message>> {
        if let Some(message) = &self.failed {
            return Err(Error::protocol(message.clone()));
        }
        self.buffer.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        let result = loop {
            match next_message(&self.buffer[at..]) {
                Ok(Some((message, len))) => {
                    out.push(message);
                    at += len;
                }
                Ok(None) => break Ok(out),
                Err(message) => break Err(message),
            }
        };
        self.buffer.drain(..at);
        result.map_err(|message| {
            self.failed = Some(message.clone());
            Error::protocol(message)
        })
    }

    /// The end of the stream: an error if it ended inside a message.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(message) = &self.failed {
            return Err(Error::protocol(message.clone()));
        }
        if self.buffer.is_empty() {
            Ok(())
        } else {
            Err(Error::protocol(format!(
                "the event stream ended inside a message ({} bytes left over)",
                self.buffer.len()
            )))
        }
    }
}

/// The first message of `bytes` and its length, `None` if it is not complete yet.
fn next_message(bytes: &[u8]) -> std::result::Result<Option<(Message, usize)>, String> {
    if bytes.len() < PRELUDE_LEN {
        return Ok(None);
    }
    let total = be_u32(&bytes[0..4]) as usize;
    let headers_len = be_u32(&bytes[4..8]) as usize;
    // The prelude is checked before its lengths are trusted.
    let prelude_crc = be_u32(&bytes[8..12]);
    if crc32(&bytes[..8]) != prelude_crc {
        return Err("event stream prelude CRC mismatch".to_owned());
    }
    if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&total) {
        return Err(format!("event stream message length {total} out of bounds"));
    }
    if headers_len > MAX_HEADERS_LEN || headers_len > total - MIN_MESSAGE_LEN {
        return Err(format!(
            "event stream headers length {headers_len} out of bounds"
        ));
    }
    if bytes.len() < total {
        return Ok(None);
    }
    let message_crc = be_u32(&bytes[total - 4..total]);
    if crc32(&bytes[..total - 4]) != message_crc {
        return Err("event stream message CRC mismatch".to_owned());
    }
    let headers = parse_headers(&bytes[PRELUDE_LEN..PRELUDE_LEN + headers_len])?;
    let payload = bytes[PRELUDE_LEN + headers_len..total - 4].to_vec();
    Ok(Some((Message { headers, payload }, total)))
}

fn parse_headers(mut bytes: &[u8]) -> std::result::Result<Vec<(String, HeaderValue)>, String> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
        if bytes.len() < n {
            return Err("event stream header cut short".to_owned());
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head)
    }
    fn array<const N: usize>(bytes: &mut &[u8]) -> std::result::Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(take(bytes, N)?);
        Ok(out)
    }
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let name_len = usize::from(take(&mut bytes, 1)?[0]);
        if name_len == 0 {
            return Err("event stream header with an empty name".to_owned());
        }
        let name = std::str::from_utf8(take(&mut bytes, name_len)?)
            .map_err(|_| "event stream header name is not UTF-8".to_owned())?
            .to_owned();
        let kind = take(&mut bytes, 1)?[0];
        let value = match kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(array(&mut bytes)?)),
            3 => HeaderValue::Short(i16::from_be_bytes(array(&mut bytes)?)),
            4 => HeaderValue::Int(i32::from_be_bytes(array(&mut bytes)?)),
            5 => HeaderValue::Long(i64::from_be_bytes(array(&mut bytes)?)),
            6 | 7 => {
                let len = usize::from(u16::from_be_bytes(array(&mut bytes)?));
                let value = take(&mut bytes, len)?.to_vec();
                if kind == 6 {
                    HeaderValue::Bytes(value)
                } else {
                    HeaderValue::String(String::from_utf8(value).map_err(|_| {
                        format!("event stream header {name}: string value is not UTF-8")
                    })?)
                }
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(array(&mut bytes)?)),
            9 => HeaderValue::Uuid(array(&mut bytes)?),
            other => {
                return Err(format!(
                    "event stream header {name}: unknown value type {other}"
                ));
            }
        };
        headers.push((name, value));
    }
    Ok(headers)
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A message as a stream decoder takes it: an `event` message becomes an event named by its
/// `:event-type`, an `exception` message one named by its `:exception-type` (Bedrock's
/// exception names end in `Exception`), the payload the data. An `error` message (the
/// framing's own failure report) fails the stream.
pub fn to_sse_event(message: &Message) -> Result<SseEvent> {
    let name_header = match message.string_header(":message-type") {
        Some("event") => ":event-type",
        Some("exception") => ":exception-type",
        Some("error") => {
            return Err(Error::protocol(format!(
                "the event stream reported an error: {}: {}",
                message.string_header(":error-code").unwrap_or("no code"),
                message
                    .string_header(":error-message")
                    .unwrap_or("no message")
            )));
        }
        Some(other) => {
            return Err(Error::protocol(format!(
                "unknown event stream message type {other:?}"
            )));
        }
        None => {
            return Err(Error::protocol(
                "event stream message without a :message-type header",
            ));
        }
    };
    let name = message
        .string_header(name_header)
        .ok_or_else(|| Error::protocol(format!("event stream message without {name_header}")))?;
    let data = std::str::from_utf8(&message.payload)
        .map_err(|_| Error::protocol(format!("event stream {name}: payload is not UTF-8")))?;
    Ok(SseEvent::named(name, data))
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it), the checksum of the event stream.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc = CRC_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
    }
    !crc
}

static CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    // Byte sequences from AWS's own event stream library (awslabs/aws-c-event-stream,
    // tests/message_deserializer_test.c), with the CRCs and fields it asserts.
    const EMPTY: [u8; 16] = [
        0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8,
        0xff,
    ];
    const NO_HEADERS: [u8; 29] = [
        0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x52, 0x8c, 0x5a, 0x7b, 0x27, 0x66,
        0x6f, 0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xc3, 0x65, 0x39, 0x36,
    ];
    const ONE_HEADER: [u8; 61] = [
        0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C, b'c', b'o',
        b'n', b't', b'e', b'n', b't', b'-', b't', b'y', b'p', b'e', 0x07, 0x00, 0x10, b'a', b'p',
        b'p', b'l', b'i', b'c', b'a', b't', b'i', b'o', b'n', b'/', b'j', b's', b'o', b'n', 0x7b,
        0x27, 0x66, 0x6f, 0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0x8D, 0x9C, 0x08,
        0xB1,
    ];

    fn parse_all(bytes: &[u8]) -> Result<Vec<Message>> {
        let mut parser = EventStreamParser::new();
        let messages = parser.push(bytes)?;
        parser.finish()?;
        Ok(messages)
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn parses_aws_vectors() {
        assert_eq!(parse_all(&EMPTY).unwrap(), [Message::default()]);
        assert_eq!(
            parse_all(&NO_HEADERS).unwrap(),
            [Message {
                headers: Vec::new(),
                payload: b"{'foo':'bar'}".to_vec()
            }]
        );
        let one = Message {
            headers: vec![(
                "content-type".into(),
                HeaderValue::String("application/json".into()),
            )],
            payload: b"{'foo':'bar'}".to_vec(),
        };
        assert_eq!(parse_all(&ONE_HEADER).unwrap(), std::slice::from_ref(&one));
        // The encoder writes the same bytes.
        assert_eq!(one.encode().unwrap(), ONE_HEADER);
        assert_eq!(Message::default().encode().unwrap(), EMPTY);
    }

    #[test]
    fn any_chunking_gives_the_same_messages() {
        let stream: Vec<u8> = [&EMPTY[..], &ONE_HEADER, &NO_HEADERS, &ONE_HEADER].concat();
        let whole = parse_all(&stream).unwrap();
        assert_eq!(whole.len(), 4);
        for size in 1..stream.len() {
            let mut parser = EventStreamParser::new();
            let mut messages = Vec::new();
            for chunk in stream.chunks(size) {
                messages.extend(parser.push(chunk).unwrap());
            }
            parser.finish().unwrap();
            assert_eq!(messages, whole, "chunks of {size}");
        }
    }

    #[test]
    fn every_header_type_round_trips() {
        let message = Message {
            headers: vec![
                ("t".into(), HeaderValue::Bool(true)),
                ("f".into(), HeaderValue::Bool(false)),
                ("byte".into(), HeaderValue::Byte(-3)),
                ("short".into(), HeaderValue::Short(-300)),
                ("int".into(), HeaderValue::Int(70_000)),
                ("long".into(), HeaderValue::Long(-5_000_000_000)),
                ("bytes".into(), HeaderValue::Bytes(vec![0, 255, 7])),
                ("str".into(), HeaderValue::String("h\u{e9}llo".into())),
                ("ts".into(), HeaderValue::Timestamp(1_440_938_160_000)),
                ("id".into(), HeaderValue::Uuid([7; 16])),
            ],
            payload: b"{}".to_vec(),
        };
        assert_eq!(parse_all(&message.encode().unwrap()).unwrap(), [message]);
    }

    #[test]
    fn corruption_and_truncation_are_errors() {
        let check = |bytes: &[u8], expected: &str| {
            let error = parse_all(bytes).unwrap_err();
            assert!(matches!(error, Error::Protocol { .. }));
            assert!(error.to_string().contains(expected), "{error}");
        };
        let mut bad = ONE_HEADER;
        bad[20] ^= 1;
        check(&bad, "message CRC mismatch");
        let mut bad = ONE_HEADER;
        bad[3] = 0x3E;
        check(&bad, "prelude CRC mismatch");
        check(&ONE_HEADER[..30], "ended inside a message");
        check(&ONE_HEADER[..5], "ended inside a message");
        // A prelude that claims more than the limit, with a valid CRC.
        let mut huge = Vec::new();
        huge.extend_from_slice(&(MAX_MESSAGE_LEN as u32 + 1).to_be_bytes());
        huge.extend_from_slice(&0u32.to_be_bytes());
        huge.extend_from_slice(&crc32(&huge).to_be_bytes());
        check(&huge, "out of bounds");
        // Headers longer than the message.
        let mut over = Vec::new();
        over.extend_from_slice(&16u32.to_be_bytes());
        over.extend_from_slice(&1u32.to_be_bytes());
        over.extend_from_slice(&crc32(&over).to_be_bytes());
        check(&over, "headers length");
        // A header that runs past its block, and an unknown value type.
        let cut = Message {
            headers: vec![("x".into(), HeaderValue::Int(1))],
            payload: Vec::new(),
        };
        let mut bytes = cut.encode().unwrap();
        bytes[7] = 5; // headers length 5 of 7
        let len = bytes.len();
        let prelude_crc = crc32(&bytes[..8]);
        bytes[8..12].copy_from_slice(&prelude_crc.to_be_bytes());
        let crc = crc32(&bytes[..len - 4]);
        bytes[len - 4..].copy_from_slice(&crc.to_be_bytes());
        check(&bytes, "cut short");
        let mut bytes = cut.encode().unwrap();
        bytes[14] = 42;
        let crc = crc32(&bytes[..len - 4]);
        bytes[len - 4..].copy_from_slice(&crc.to_be_bytes());
        check(&bytes, "unknown value type 42");
        // After an error, the parser stays failed.
        let mut parser = EventStreamParser::new();
        let mut bad = EMPTY;
        bad[15] ^= 1;
        assert!(parser.push(&bad).is_err());
        assert!(parser.push(&EMPTY).is_err());
    }

    #[test]
    fn messages_become_named_events() {
        let event = |kind: &str, name_header: &str, name: &str, payload: &str| Message {
            headers: vec![
                (":message-type".into(), HeaderValue::String(kind.into())),
                (name_header.into(), HeaderValue::String(name.into())),
                (
                    ":content-type".into(),
                    HeaderValue::String("application/json".into()),
                ),
            ],
            payload: payload.as_bytes().to_vec(),
        };
        assert_eq!(
            to_sse_event(&event(
                "event",
                ":event-type",
                "messageStart",
                r#"{"role":"assistant"}"#
            ))
            .unwrap(),
            SseEvent::named("messageStart", r#"{"role":"assistant"}"#)
        );
        assert_eq!(
            to_sse_event(&event(
                "exception",
                ":exception-type",
                "throttlingException",
                r#"{"message":"slow down"}"#
            ))
            .unwrap(),
            SseEvent::named("throttlingException", r#"{"message":"slow down"}"#)
        );
        let error = Message {
            headers: vec![
                (":message-type".into(), HeaderValue::String("error".into())),
                (
                    ":error-code".into(),
                    HeaderValue::String("InternalFailure".into()),
                ),
                (
                    ":error-message".into(),
                    HeaderValue::String("try again".into()),
                ),
            ],
            payload: Vec::new(),
        };
        let failure = to_sse_event(&error).unwrap_err();
        assert!(failure.to_string().contains("InternalFailure: try again"));
        assert!(to_sse_event(&Message::default()).is_err());
        assert!(to_sse_event(&event("event", ":other", "x", "{}")).is_err());
        assert!(to_sse_event(&event("event", ":event-type", "x", "\u{fffd}")).is_ok());
        let mut binary = event("event", ":event-type", "x", "");
        binary.payload = vec![0xff, 0xfe];
        assert!(to_sse_event(&binary).is_err());
    }
}
