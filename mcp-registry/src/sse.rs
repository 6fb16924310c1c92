//! Server-sent events as the legacy MCP transport receives them: an incremental parser of the
//! WHATWG event-stream format (`\n`, `\r\n` and `\r` line ends, `:` comments, multi-line
//! `data` joined by `\n`, a type of `message` when none is given; `id` and `retry` ignored).

/// The largest event accepted (its data and the line being read), as rmcp's own SSE client:
/// a server that never ends a line must not exhaust the hub's memory.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, `message` when the event has none.
    pub event: String,
    pub data: String,
}

/// An event longer than [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event of the stream is longer than {MAX_EVENT_BYTES} bytes")]
pub struct TooLarge;

/// Parses a byte stream into events, whatever the chunking (a chunk may end inside a line, a
/// `\r\n` pair or a UTF-8 character).
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// The previous byte ended a line with `\r`: a `\n` right after belongs to it.
    after_cr: bool,
    /// Whether the first line has begun (a byte-order mark is skipped only there).
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Event>, TooLarge> {
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
                _ => {
                    self.line.push(byte);
                    if self.line.len() + self.data.len() > MAX_EVENT_BYTES {
                        return Err(TooLarge);
                    }
                }
            }
        }
        Ok(out)
    }

    fn end_line(&mut self, out: &mut Vec<Event>) {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw);
        if !std::mem::replace(&mut self.started, true)
            && let Some(rest) = line.strip_prefix('\u{feff}')
        {
            line = rest.to_owned().into();
        }
        if line.is_empty() {
            let event = self.event.take();
            // An event without data is not dispatched (the format's rule).
            if std::mem::take(&mut self.has_data) {
                out.push(Event {
                    event: event.unwrap_or_else(|| "message".to_owned()),
                    data: std::mem::take(&mut self.data),
                });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &str, data: &str) -> Event {
        Event {
            event: event.to_owned(),
            data: data.to_owned(),
        }
    }

    fn parse(bytes: &[u8]) -> Vec<Event> {
        Parser::new().push(bytes).unwrap()
    }

    #[test]
    fn parses_the_format() {
        let stream = "event: endpoint\ndata: /messages?sessionId=1\n\n\
                      : a comment\n\n\
                      data: {\"a\":\r\ndata:  1}\r\n\r\n\
                      event: message\rdata: two\r\r\
                      id: 7\nretry: 100\ndata:no-space\n\n\
                      event: ping\n\n\
                      data\n\n\
                      event: custom\ndata: x\nunknown: y\n\n";
        assert_eq!(
            parse(stream.as_bytes()),
            [
                event("endpoint", "/messages?sessionId=1"),
                // Only one space after the colon is taken off.
                event("message", "{\"a\":\n 1}"),
                event("message", "two"),
                event("message", "no-space"),
                // `data` without a colon is a data line with an empty value.
                event("message", ""),
                event("custom", "x"),
            ]
        );
    }

    #[test]
    fn any_chunking_gives_the_same_events() {
        let stream = "\u{feff}event: endpoint\r\ndata: /m\r\n\r\ndata: h\u{e9}llo \u{1f600}\r\n\
                      data: second line\r\n\r\n: keep-alive\r\rdata: last\r\r";
        let whole = parse(stream.as_bytes());
        assert_eq!(
            whole,
            [
                event("endpoint", "/m"),
                event("message", "h\u{e9}llo \u{1f600}\nsecond line"),
                event("message", "last"),
            ]
        );
        let bytes = stream.as_bytes();
        for size in 1..bytes.len() {
            let mut parser = Parser::new();
            let mut events = Vec::new();
            for chunk in bytes.chunks(size) {
                events.extend(parser.push(chunk).unwrap());
            }
            assert_eq!(events, whole, "chunks of {size}");
        }
    }

    #[test]
    fn an_event_is_dispatched_only_at_its_blank_line() {
        let mut parser = Parser::new();
        assert_eq!(parser.push(b"data: {\"x\":1}\n").unwrap(), []);
        assert_eq!(parser.push(b"\n").unwrap(), [event("message", "{\"x\":1}")]);
        // The type does not carry over to the next event.
        assert_eq!(
            parser.push(b"event: endpoint\n\ndata: y\n\n").unwrap(),
            [event("message", "y")]
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped_only_at_the_start() {
        let mut parser = Parser::new();
        assert_eq!(
            parser.push("\u{feff}data: a\n\n".as_bytes()).unwrap(),
            [event("message", "a")]
        );
        // Later, a line starting with it is a field named with it: ignored.
        assert_eq!(parser.push("\u{feff}data: b\n\n".as_bytes()).unwrap(), []);
    }

    #[test]
    fn endless_lines_are_refused() {
        let mut parser = Parser::new();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut outcome = Ok(Vec::new());
        for _ in 0..=MAX_EVENT_BYTES / chunk.len() {
            outcome = parser.push(&chunk);
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(outcome, Err(TooLarge));
    }
}
