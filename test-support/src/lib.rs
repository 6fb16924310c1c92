//! Test support shared by agenthub's test suites.
//!
//! [`fake_llm`]: OpenAI and Anthropic API servers on loopback that answer from the request,
//! fail on cue, and record what reached them.

pub mod fake_llm;
