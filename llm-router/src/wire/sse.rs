//! Server-sent events: an incremental parser for provider streams and the encoding of events
//! for clients, following the WHATWG event-stream format (`\n`, `\r\n` and `\r` line ends,
//! `:` comments, multi-line `data`, `id` and `retry` ignored).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `None` for the default `message` type.
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// An event with data only (OpenAI's style).
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            event: None,
            data: data.into(),
        }
    }

    /// A named event (Anthropic's style).
    pub fn named(event: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            event: Some(event.into()),
            data: data.into(),
        }
    }

    /// The event as it goes on the wire, blank line included.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.data.len() + 32);
        if let Some(event) = &self.event {
            out.push_str("event: ");
            out.push_str(event);
            out.push('\n');
        }
        for line in self.data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

/// Encodes events back to back.
pub fn encode_all(events: &[SseEvent]) -> String {
    events.iter().map(SseEvent::encode).collect()
}

/// Parses a byte stream into events, whatever the chunking (a chunk may end inside a line, a
/// `\r\n` pair or a UTF-8 character).
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &byte in bytes {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.end_line(&mut out);
                    self.after_cr = true;
                }
                _ => self.line.push(byte),
            }
        }
        out
    }

    /// The end of the stream: an event not yet closed by a blank line is dispatched (leniency
    /// towards servers that end without one).
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.end_line(&mut out);
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let raw = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&raw);
        let line = line.strip_prefix('\u{feff}').unwrap_or(&line);
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
                self.has_data = false;
            }
            self.event = None;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

/// Parses a whole stream at once.
pub fn parse_all(bytes: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = parser.push(bytes);
    events.extend(parser.finish());
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_format() {
        let stream = "event: message_start\ndata: {\"a\":1}\n\n: a comment\n\ndata: one\r\ndata: two\r\n\r\nid: 7\nretry: 100\ndata:no-space\n\nevent: ping\n\n";
        assert_eq!(
            parse_all(stream.as_bytes()),
            [
                SseEvent::named("message_start", "{\"a\":1}"),
                SseEvent::data("one\ntwo"),
                SseEvent::data("no-space"),
            ]
        );
    }

    #[test]
    fn any_chunking_gives_the_same_events() {
        let stream = "event: x\r\ndata: h\u{e9}llo \u{1f600}\r\n\r\ndata: [DONE]\r\r";
        let whole = parse_all(stream.as_bytes());
        assert_eq!(
            whole,
            [
                SseEvent::named("x", "h\u{e9}llo \u{1f600}"),
                SseEvent::data("[DONE]")
            ]
        );
        let bytes = stream.as_bytes();
        for size in 1..bytes.len() {
            let mut parser = SseParser::new();
            let mut events = Vec::new();
            for chunk in bytes.chunks(size) {
                events.extend(parser.push(chunk));
            }
            events.extend(parser.finish());
            assert_eq!(events, whole, "chunks of {size}");
        }
    }

    #[test]
    fn an_unterminated_last_event_is_kept() {
        assert_eq!(parse_all(b"data: [DONE]"), [SseEvent::data("[DONE]")]);
    }

    #[test]
    fn encoding_round_trips() {
        let events = [
            SseEvent::named("content_block_delta", "{\"x\":\"a\\nb\"}"),
            SseEvent::data("line one\nline two"),
        ];
        assert_eq!(parse_all(encode_all(&events).as_bytes()), events);
    }
}
