//! Real MCP peers for tests: the reference `server-everything` from npm, installed in
//! `tests/mcp` by `tests/run` (from its committed package-lock.json).

use std::path::PathBuf;

/// The entry point of `server-everything` (run it with `node <path> stdio|streamableHttp`), or
/// `None` with a notice when it is not installed. Under CI (`CI` or `AGENTHUB_REQUIRE_SDK`
/// set, as `.ci/run` does) its absence is a failure instead.
pub fn server_everything() -> Option<PathBuf> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none() && std::env::var_os("AGENTHUB_REQUIRE_SDK").is_none(),
        "tests/mcp/node_modules is missing: CI must run `npm ci` in tests/mcp (tests/run does)"
    );
    eprintln!("notice: tests/mcp/node_modules is missing; skipping (run `npm ci` in tests/mcp)");
    None
}
