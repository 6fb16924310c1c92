//! What the face and its [`Gate`](crate::face::Gate) say to each other around one tool call:
//! which tool is called, why the gate refuses one before it goes upstream, and how the call
//! ended (the usage record's facts). The face knows no limits, guardrails or metrics; the gate
//! knows no MCP messages beyond the arguments and result it is handed.

use std::time::Duration;

/// The tool a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolCall<'a> {
    /// The registered server's name.
    pub server: &'a str,
    /// The tool's upstream name (as `mcp:<server>/<tool>` grants name it).
    pub tool: &'a str,
}

/// Why the gate refused a call before anything was sent upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A rate limit or budget: `message` names it and says when to retry; `data` is the
    /// JSON-RPC error's data (the limit's facts, `retry_after_seconds` among them).
    Limited {
        message: String,
        data: serde_json::Value,
    },
    /// A guardrail blocked the arguments; `reason` is safe to show the caller.
    Blocked { reason: String },
}

/// How a call of an extra tool (one the gate answers itself, see
/// [`Gate::call_extra_tool`](crate::face::Gate::call_extra_tool)) ended without a result: the
/// outcome it is recorded with, and the JSON-RPC error the caller gets.
#[derive(Debug, Clone)]
pub struct CallFailure {
    pub outcome: Outcome,
    pub error: rmcp::ErrorData,
}

/// How a call ended: the `outcome` of its usage record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The tool answered with a result.
    Ok,
    /// The tool answered with an error: an `isError` result or a JSON-RPC error of its own.
    ToolError,
    /// The caller may not call the tool (answered like an unknown tool).
    RefusedByPolicy,
    /// A rate limit or budget refused the call.
    RefusedByLimit,
    /// A guardrail blocked the arguments or the result.
    RefusedByGuardrail,
    /// The server was not available or its connection failed.
    UpstreamFailed,
    /// The server did not answer within its request timeout.
    Timeout,
    /// The arguments did not match the tool's input schema.
    InvalidArguments,
    /// The caller went away before the answer.
    Cancelled,
    /// The server acts for each user, and the caller has not granted it access (yet, or any
    /// more): they were sent a link to.
    ConsentRequired,
}

impl Outcome {
    pub const ALL: [Outcome; 10] = [
        Self::Ok,
        Self::ToolError,
        Self::RefusedByPolicy,
        Self::RefusedByLimit,
        Self::RefusedByGuardrail,
        Self::UpstreamFailed,
        Self::Timeout,
        Self::InvalidArguments,
        Self::Cancelled,
        Self::ConsentRequired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::RefusedByPolicy => "refused_by_policy",
            Self::RefusedByLimit => "refused_by_limit",
            Self::RefusedByGuardrail => "refused_by_guardrail",
            Self::UpstreamFailed => "upstream_failed",
            Self::Timeout => "timeout",
            Self::InvalidArguments => "invalid_arguments",
            Self::Cancelled => "cancelled",
            Self::ConsentRequired => "consent_required",
        }
    }

    /// The position of this outcome in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One finished call, as the gate records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport<'a> {
    pub call: ToolCall<'a>,
    pub outcome: Outcome,
    /// From the call's arrival to its answer.
    pub latency: Duration,
    /// The size of the arguments as received, in bytes of compact JSON.
    pub request_bytes: u64,
    /// The size of the result as answered (0 for an error), in bytes of compact JSON.
    pub response_bytes: u64,
    /// The request's `_meta.traceparent` (MCP's trace context), if it had one.
    pub traceparent: Option<&'a str>,
    /// When the gate [keeps bodies](crate::face::Gate::keeps_bodies): the arguments as
    /// received and the result as answered (none for an error), as compact JSON.
    pub arguments: Option<bytes::Bytes>,
    pub result: Option<bytes::Bytes>,
}

/// The size of `value` as compact JSON, counted without building the text.
pub fn json_size(value: &impl serde::Serialize) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Counting cannot fail, and a value that cannot be serialized would not have been sent.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_know_their_place_and_names() {
        for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome.index(), i);
        }
        let names: std::collections::HashSet<&str> =
            Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(names.len(), Outcome::ALL.len());
    }

    #[test]
    fn json_size_is_the_compact_texts_length() {
        let value = serde_json::json!({"message": "héllo", "n": [1, 2.5, null]});
        assert_eq!(
            json_size(&value),
            serde_json::to_string(&value).unwrap().len() as u64
        );
    }
}
