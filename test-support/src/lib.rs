//! Test support shared by agenthub's test suites.
//!
//! [`fake_llm`]: OpenAI and Anthropic API servers on loopback that answer from the request,
//! fail on cue, and record what reached them.
//! [`mcp`]: where the real MCP peers the tests run against are installed.

pub mod fake_llm;
pub mod mcp;
