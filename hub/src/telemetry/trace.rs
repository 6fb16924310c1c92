//! W3C trace context: every request the hub serves is a span of a trace — the caller's, when
//! it sent a `traceparent`, else a new one — so that one agent task's model calls, tool calls
//! and hops to other agents are one trace.

/// Where a relayed request sits in its trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// This hop: 16 lowercase hex digits.
    pub span_id: String,
    /// The span the request came from (the caller's), if it said.
    pub parent_span_id: Option<String>,
}

impl TraceContext {
    /// Continues the trace of a W3C `traceparent` (`00-<trace>-<parent>-<flags>`), or starts
    /// a new one when there is none or it is malformed.
    pub fn continue_from(traceparent: Option<&str>) -> Self {
        let span_id = format!("{:016x}", fastrand::u64(1..));
        match traceparent.and_then(parse_traceparent) {
            Some((trace_id, parent)) => Self {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
            },
            None => Self {
                trace_id: new_trace_id(crate::model::now_millis()),
                span_id,
                parent_span_id: None,
            },
        }
    }

    /// The `traceparent` the agent receives: this trace, this hop as its parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The trace id and parent span id of a version-00 (or later) `traceparent`.
fn parse_traceparent(text: &str) -> Option<(String, String)> {
    let mut parts = text.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let valid = is_hex(version, 2)
        && version != "ff"
        && is_hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && is_hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && is_hex(flags, 2);
    valid.then(|| (trace.to_owned(), parent.to_owned()))
}

/// A new trace id: the time in milliseconds in its first 6 bytes, 10 random bytes after
/// (W3C Trace Context level 2 asks randomness of the right-most 7). Ids that grow with time are
/// appended to the records' trace index instead of being scattered over it, which would
/// rewrite one index page per record.
fn new_trace_id(at: crate::model::Millis) -> String {
    let time = u64::try_from(at).unwrap_or(0) & 0xffff_ffff_ffff;
    let random = fastrand::u128(..) & ((1 << 80) - 1);
    format!("{time:012x}{random:020x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_continued_and_a_bad_one_replaced() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::continue_from(Some(parent));
        assert_eq!(context.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_ne!(context.span_id, "00f067aa0ba902b7");
        assert!(
            context
                .traceparent()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
        ] {
            let context = TraceContext::continue_from(Some(bad));
            assert_eq!(context.parent_span_id, None, "{bad}");
            assert_eq!(context.trace_id.len(), 32);
        }
    }

    #[test]
    fn new_trace_ids_grow_with_time_and_are_random_after() {
        let early = new_trace_id(1_700_000_000_000);
        let later = new_trace_id(1_700_000_000_001);
        assert!(early < later, "{early} {later}");
        assert!(is_hex(&early, 32) && is_hex(&later, 32));
        assert_eq!(&early[..12], "018bcfe56800");
        assert_ne!(new_trace_id(0)[12..], new_trace_id(0)[12..]);
        let fresh = TraceContext::continue_from(None);
        assert!(is_hex(&fresh.trace_id, 32) && is_hex(&fresh.span_id, 16));
        assert_ne!(fresh.span_id, "0000000000000000");
    }
}
