//! The official Python SDKs (`tests/sdk`, a venv made by tests/run) run against the hub.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::{Http, Hub, HubBuilder, run};

/// One script, SDK import included.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(100);

/// The Python to run the scripts with, or `None` (after a notice) to skip.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("AGENTHUB_TEST_PYTHON") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("AGENTHUB_REQUIRE_SDK").is_some() => panic!(
            "AGENTHUB_REQUIRE_SDK is set but AGENTHUB_TEST_PYTHON is not: run the tests with tests/run, \
             which installs the SDKs into tests/sdk/.venv"
        ),
        None => {
            eprintln!(
                "notice: AGENTHUB_TEST_PYTHON is not set; skipping the Python SDK tests (tests/run sets it)"
            );
            None
        }
    }
}

/// Runs `tests/sdk/<script>` with `env`; fails with its output (and `log`) unless it exits 0.
#[track_caller]
pub fn run_script(python: &Path, script: &str, env: &[(&str, String)], log: &str) {
    let sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk");
    let mut cmd = Command::new(python);
    cmd.arg(sdk.join(script)).current_dir(&sdk);
    // Nothing from the environment may steer the SDKs elsewhere (base URLs, tokens, proxies).
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_string();
        let upper = name.to_ascii_uppercase();
        if upper.starts_with("OPENAI_")
            || upper.starts_with("ANTHROPIC_")
            || upper.ends_with("_PROXY")
        {
            cmd.env_remove(&name);
        }
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let finished = run(&mut cmd, None, SCRIPT_TIMEOUT);
    assert!(
        finished.status.success(),
        "{script} failed ({:?})\nstdout:\n{}\nstderr:\n{}\nhub log:\n{log}",
        finished.status,
        finished.stdout,
        finished.stderr,
    );
    println!("{}", finished.stdout);
}

/// The binary with `yaml` as its configuration and `admin_key` as its bootstrap key, and the
/// key of a user `sdk-user` created through the admin API with `scope`; the directory holds
/// the configuration and data and must outlive the hub.
pub fn hub_with_user(dir: &Path, yaml: &str, admin_key: &str, scope: &str) -> (Hub, String) {
    let config = dir.join("agenthub.yaml");
    std::fs::write(&config, yaml).unwrap();
    let hub = HubBuilder::new(dir.join("data"))
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("AGENTHUB_ADMIN_KEY", admin_key)
        .start();
    let http = Http::new();
    let created = http.post(
        &format!("{}/api/v1/users", hub.url),
        Some(admin_key),
        &json!({"name": "sdk-user"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let key = http.post(
        &format!("{}/api/v1/keys", hub.url),
        Some(admin_key),
        &json!({"name": "sdk", "owner": "sdk-user", "scopes": [scope]}),
    );
    assert_eq!(key.status, 201, "{}", key.body);
    let user_key = key.json()["key"].as_str().unwrap().to_owned();
    (hub, user_key)
}
