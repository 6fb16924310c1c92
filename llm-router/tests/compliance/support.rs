//! Fixture files and comparisons.
//!
//! Inputs shaped like the providers' documented examples are written by hand. Outputs the
//! router produces are checked against files too; `UPDATE_FIXTURES=1 cargo test` rewrites
//! those files from the actual output, for review in the diff.

use std::path::PathBuf;

use agenthub_llm_router::adapters::{ByteStreamDecoder, ProviderAdapter};
use agenthub_llm_router::model::{ChatResponse, StreamAccumulator, StreamEvent, Usage};
use serde_json::Value;

pub fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_FIXTURES").is_some()
}

pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap() + "\n"
}

/// `actual` must equal the JSON in the fixture file `rel`.
pub fn check_json(rel: &str, actual: &Value) {
    if updating() {
        std::fs::write(path(rel), pretty(actual)).unwrap();
        return;
    }
    let expected: Value = serde_json::from_slice(&read(rel)).unwrap();
    assert_eq!(
        actual,
        &expected,
        "{rel} differs; actual:\n{}",
        pretty(actual)
    );
}

/// `actual` must equal the text of the fixture file `rel`.
pub fn check_text(rel: &str, actual: &str) {
    if updating() {
        std::fs::write(path(rel), actual).unwrap();
        return;
    }
    let expected = String::from_utf8(read(rel)).unwrap();
    assert_eq!(actual, expected, "{rel} differs; actual:\n{actual}");
}

/// The comparable form of an answer: zero counts and absent counts are the same, and tool-call
/// arguments are compared as JSON values, not as text (providers differ in spacing).
pub fn canon(mut response: ChatResponse) -> ChatResponse {
    fn zero_is_none(count: &mut Option<u32>) {
        if *count == Some(0) {
            *count = None;
        }
    }
    if let Some(usage) = &mut response.usage {
        let Usage {
            cached_input_tokens,
            cache_write_input_tokens,
            reasoning_tokens,
            ..
        } = usage;
        zero_is_none(cached_input_tokens);
        zero_is_none(cache_write_input_tokens);
        zero_is_none(reasoning_tokens);
    }
    for choice in &mut response.choices {
        for call in &mut choice.message.tool_calls {
            if let Ok(value) = serde_json::from_str::<Value>(&call.arguments) {
                call.arguments = value.to_string();
            }
        }
    }
    response
}

/// Decodes a provider's SSE bytes, fed in chunks of `size` bytes (0: all at once).
pub fn decode_stream(
    adapter: &dyn ProviderAdapter,
    bytes: &[u8],
    size: usize,
) -> agenthub_llm_router::Result<Vec<StreamEvent>> {
    let mut decoder = ByteStreamDecoder::new(adapter.stream_decoder());
    let mut events = Vec::new();
    let size = if size == 0 { bytes.len().max(1) } else { size };
    for chunk in bytes.chunks(size) {
        events.extend(decoder.push(chunk)?);
    }
    events.extend(decoder.finish()?);
    Ok(events)
}

/// A provider's stream fixture as the bytes on the wire: `stream_{case}.sse` as it is, or
/// `stream_{case}.eventstream.jsonl` encoded in the AWS event stream framing (one message a
/// line: `{"headers": [[name, string value], …], "payload": JSON}`, the payload sent as compact
/// JSON text).
pub fn stream_fixture(dir: &str, case: &str) -> Vec<u8> {
    use agenthub_llm_router::wire::eventstream::{HeaderValue, Message};
    let sse = format!("{dir}/stream_{case}.sse");
    if path(&sse).exists() {
        return read(&sse);
    }
    let rel = format!("{dir}/stream_{case}.eventstream.jsonl");
    let text = String::from_utf8(read(&rel)).unwrap();
    let mut bytes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{rel}:{n}: {e}"));
        let headers = line["headers"]
            .as_array()
            .unwrap_or_else(|| panic!("{rel}:{n}: headers"))
            .iter()
            .map(|pair| {
                let name = pair[0].as_str().unwrap().to_owned();
                let value = HeaderValue::String(pair[1].as_str().unwrap().to_owned());
                (name, value)
            })
            .collect();
        let message = Message {
            headers,
            payload: line["payload"].to_string().into_bytes(),
        };
        bytes.extend(message.encode().unwrap());
    }
    bytes
}

pub fn accumulate(events: &[StreamEvent]) -> ChatResponse {
    let mut acc = StreamAccumulator::new();
    events.iter().for_each(|e| acc.push(e));
    acc.finish()
}
