//! The A2A peers of `tests/a2a` (agents and a client built on the official Python a2a-sdk),
//! run against the hub.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{Capture, run};

/// One client command, SDK import included.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

fn peers() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/a2a")
}

fn python_command(python: &Path, script: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.arg(peers().join(script))
        .current_dir(peers())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_string();
        if name.to_ascii_uppercase().ends_with("_PROXY") {
            cmd.env_remove(&name);
        }
    }
    cmd
}

/// An a2a-sdk agent (`tests/a2a/agent.py`) on a loopback port; stopped when dropped.
pub struct PyAgent {
    child: Child,
    pub port: u16,
    stderr: Capture,
}

impl PyAgent {
    /// Starts `agent.py --port 0 --name <name> <args…>` and waits (bounded) for it to listen.
    #[track_caller]
    pub fn start(python: &Path, name: &str, args: &[&str]) -> Self {
        let mut cmd = python_command(python, "agent.py");
        cmd.args(["--port", "0", "--name", name, "--max-lifetime", "600"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start agent.py");
        let stdout = Capture::spawn(child.stdout.take().unwrap());
        let stderr = Capture::spawn(child.stderr.take().unwrap());
        let port = stdout.wait_for(Duration::from_secs(60), |text| {
            text.lines()
                .find_map(|line| line.strip_prefix("READY "))
                .and_then(|port| port.trim().parse::<u16>().ok())
        });
        let Some(port) = port else {
            let _ = child.kill();
            panic!("agent {name} did not start:\n{}", stderr.text());
        };
        Self {
            child,
            port,
            stderr,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        self.stderr.text()
    }
}

impl Drop for PyAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `client.py` printed: one JSON value per line, and whether it succeeded.
#[derive(Debug)]
pub struct ClientRun {
    pub ok: bool,
    pub lines: Vec<Value>,
    pub stderr: String,
}

impl ClientRun {
    /// The last line.
    #[track_caller]
    pub fn last(&self) -> &Value {
        self.lines
            .last()
            .unwrap_or_else(|| panic!("no output; stderr:\n{}", self.stderr))
    }
}

/// Runs `client.py --url <url> --token <token> <args…>`.
pub fn client(python: &Path, url: &str, token: &str, args: &[&str]) -> ClientRun {
    let mut cmd = python_command(python, "client.py");
    cmd.args(["--url", url, "--token", token]).args(args);
    let finished = run(&mut cmd, None, CLIENT_TIMEOUT);
    let lines = finished
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    ClientRun {
        ok: finished.status.success(),
        lines,
        stderr: finished.stderr,
    }
}
