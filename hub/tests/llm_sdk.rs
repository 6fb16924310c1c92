//! The official OpenAI and Anthropic Python SDKs against the real `agenthub` binary, which
//! routes to fake providers on loopback: `tests/sdk/*.py`, run with the Python of
//! `AGENTHUB_TEST_PYTHON` (tests/run makes a venv with the pinned SDKs and sets it).
//!
//! Without `AGENTHUB_TEST_PYTHON` the tests print a notice and pass, unless
//! `AGENTHUB_REQUIRE_SDK` is set (CI sets it), when they fail.

mod support;

use std::path::Path;

use agenthub_test_support::fake_llm::{FakeAnthropic, FakeOpenAi, Reply};
use support::Hub;
use support::sdk::{hub_with_user, python, run_script};

/// An operator-chosen admin key (`ahk_` and 40 base62 characters).
const ADMIN_KEY: &str = "ahk_SdkTestAdminKey0123456789abcdefghijklmno";

/// Fakes, and the hub binary routing to them.
struct Lab {
    hub: Hub,
    /// A key whose user may invoke gpt-4o-mini only.
    user_key: String,
    _openai: FakeOpenAi,
    _anthropic: FakeAnthropic,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn start() -> Self {
        let openai = FakeOpenAi::start();
        let anthropic = FakeAnthropic::start();
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            r#"
llm:
  timeouts: {{connect: 2s, first_token: 10s, total: 30s}}
  retry: {{attempts: 0}}
providers:
  - {{name: fake-openai, kind: openai, base_url: "{}", api_key: "{}"}}
  - {{name: fake-anthropic, kind: anthropic, base_url: "{}", api_key: "{}"}}
models:
  - {{name: gpt-4o-mini, provider: fake-openai}}
  - {{name: claude, provider: fake-anthropic, model: claude-sonnet-4-5-20250929, max_output_tokens: 1024}}
  - {{name: embed, provider: fake-openai, model: text-embedding-3-small, kind: embeddings}}
policies:
  - {{subject: "user:sdk-user", resource: "model:gpt-4o-mini", action: invoke}}
"#,
            openai.base_url(),
            FakeOpenAi::API_KEY,
            anthropic.base_url(),
            FakeAnthropic::API_KEY,
        );
        let (hub, user_key) = hub_with_user(dir.path(), &yaml, ADMIN_KEY, "llm");
        Self {
            hub,
            user_key,
            _openai: openai,
            _anthropic: anthropic,
            _dir: dir,
        }
    }

    /// Runs `tests/sdk/<script>` against this hub.
    #[track_caller]
    fn run_script(&self, python: &Path, script: &str) {
        let env = [
            ("AGENTHUB_URL", self.hub.url.clone()),
            ("AGENTHUB_KEY", ADMIN_KEY.to_owned()),
            ("AGENTHUB_USER_KEY", self.user_key.clone()),
        ];
        run_script(python, script, &env, &self.hub.stderr());
    }
}

#[test]
fn the_openai_python_sdk_works_through_the_hub() {
    let Some(python) = python() else { return };
    Lab::start().run_script(&python, "openai_sdk.py");
}

#[test]
fn the_anthropic_python_sdk_works_through_the_hub() {
    let Some(python) = python() else { return };
    Lab::start().run_script(&python, "anthropic_sdk.py");
}

/// The fakes themselves, read by the SDKs' own parsers: their answers, streams, tool-call
/// deltas, base64 embeddings and error bodies are what the real APIs send.
#[test]
fn the_fake_providers_speak_what_the_sdks_expect() {
    let Some(python) = python() else { return };
    let openai = FakeOpenAi::start();
    let anthropic = FakeAnthropic::start();
    // The script's first request to each fake fails, its second breaks off mid-stream.
    openai.cue([Reply::Status(429, Some(2)), Reply::StreamError]);
    anthropic.cue([Reply::Status(529, None), Reply::StreamError]);
    let env = [
        ("FAKE_OPENAI_URL", openai.base_url()),
        ("FAKE_OPENAI_KEY", FakeOpenAi::API_KEY.to_owned()),
        ("FAKE_ANTHROPIC_URL", anthropic.base_url()),
        ("FAKE_ANTHROPIC_KEY", FakeAnthropic::API_KEY.to_owned()),
    ];
    run_script(&python, "fakes_sdk.py", &env, "");
    assert_eq!((openai.cued(), anthropic.cued()), (0, 0));
    // The SDKs sent what the real APIs require.
    let seen = anthropic.last();
    assert!(seen.header("anthropic-version").is_some());
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(openai.requests()[0].path, "/v1/chat/completions");
}
