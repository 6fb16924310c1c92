//! Shared helpers for the end-to-end tests: run the real `agenthub` binary, learn where it
//! listens, drive its CLI, and talk to it over HTTP.
//!
//! Every wait is bounded, every child process is killed when its handle is dropped, and all
//! traffic goes to 127.0.0.1.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod a2a;
pub mod db;
pub mod fake_agent;
pub mod lab;
pub mod sdk;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_agenthub");

/// How long a hub may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a hub may take to exit after SIGTERM, or a failing start to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one CLI command may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(25);

/// Installs the ring provider for rustls (reqwest is built without one).
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A command running the binary under test with a clean environment: nothing inherited that
/// would change its behaviour (`AGENTHUB_*`, `RUST_LOG`), no colours, and standard input closed.
pub fn agenthub<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("AGENTHUB_") || text == "RUST_LOG" {
            cmd.env_remove(&name);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd.args(args);
    cmd.stdin(Stdio::null());
    cmd
}

/// Removes ANSI escape sequences (`ESC [ … letter`), in case the log writer colours its output.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Everything a pipe produced, collected by a background thread so the child never blocks on
/// a full pipe.
pub struct Capture {
    state: Arc<Mutex<(String, bool)>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    pub fn spawn(pipe: impl Read + Send + 'static) -> Self {
        let state = Arc::new(Mutex::new((String::new(), false)));
        let writer = state.clone();
        let thread = std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = strip_ansi(&String::from_utf8_lossy(&line));
                        writer.lock().unwrap().0.push_str(&text);
                    }
                }
            }
            writer.lock().unwrap().1 = true;
        });
        Self {
            state,
            thread: Some(thread),
        }
    }

    /// What was read so far.
    pub fn text(&self) -> String {
        self.state.lock().unwrap().0.clone()
    }

    fn eof(&self) -> bool {
        self.state.lock().unwrap().1
    }

    /// Waits until `find` returns something for the text read so far; `None` at end of file or
    /// after `timeout`.
    pub fn wait_for<T>(&self, timeout: Duration, find: impl Fn(&str) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let (found, eof) = {
                let state = self.state.lock().unwrap();
                (find(&state.0), state.1)
            };
            if found.is_some() || eof || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits (bounded) for the end of the stream and returns all of it.
    pub fn finish(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.eof() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        if self.eof()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
        self.text()
    }
}

/// A process that has exited, with everything it printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Standard output, after checking the exit code was 0.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Standard output parsed as JSON, after checking the exit code was 0.
    #[track_caller]
    pub fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    /// Checks the exit code and returns standard error.
    #[track_caller]
    pub fn fails_with(&self, code: i32) -> &str {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stderr
    }
}

/// Waits for `child` to exit, killing it after `timeout`. `None` when it had to be killed.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs `cmd` to completion (bounded by `timeout`), feeding it `stdin` if given.
#[track_caller]
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Finished {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdout = Capture::spawn(child.stdout.take().unwrap());
    let mut stderr = Capture::spawn(child.stderr.take().unwrap());
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // A child that exits early closes the pipe; its exit status tells what happened.
        let _ = pipe.write_all(input);
        drop(pipe);
    }
    let status = wait_bounded(&mut child, timeout);
    let (stdout, stderr) = (stdout.finish(), stderr.finish());
    match status {
        Some(status) => Finished {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{cmd:?} did not finish within {timeout:?}; killed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ),
    }
}

/// Runs `agenthub ARGS` with the given environment to completion.
#[track_caller]
pub fn cli(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Finished {
    let mut cmd = agenthub(args);
    cmd.envs(env.iter().copied());
    run(&mut cmd, stdin.map(str::as_bytes), CLI_TIMEOUT)
}

/// Sends `signal` (e.g. `TERM`) to a process through kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("kill(1) is available");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A port on 127.0.0.1 held by the test until the listener is dropped.
pub fn hold_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// How to start a hub: `agenthub serve --listen 127.0.0.1:0 --data-dir DIR` plus extras.
#[derive(Clone)]
pub struct HubBuilder {
    pub data_dir: PathBuf,
    listen: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl HubBuilder {
    pub fn new(data_dir: impl AsRef<Path>) -> Self {
        Self {
            data_dir: data_dir.as_ref().to_owned(),
            listen: Some("127.0.0.1:0".into()),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Replaces `--listen 127.0.0.1:0`; `None` leaves the address to the configuration.
    pub fn listen(mut self, listen: Option<&str>) -> Self {
        self.listen = listen.map(str::to_owned);
        self
    }

    pub fn command(&self) -> Command {
        let mut cmd = agenthub(["serve", "--data-dir"]);
        cmd.arg(&self.data_dir);
        if let Some(listen) = &self.listen {
            cmd.args(["--listen", listen]);
        }
        cmd.args(&self.args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Starts the hub and waits until it listens; panics with its output if it does not.
    #[track_caller]
    pub fn start(&self) -> Hub {
        init_crypto();
        let mut cmd = self.command();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = Capture::spawn(child.stdout.take().unwrap());
        let stderr = Capture::spawn(child.stderr.take().unwrap());
        let mut hub = Hub {
            child,
            exited: false,
            url: String::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some((url, addr)) = listening_url(&hub.stderr.text()) {
                hub.url = url;
                hub.addr = addr;
                return hub;
            }
            if let Ok(Some(_)) = hub.child.try_wait() {
                let finished = hub.wait_exit(EXIT_TIMEOUT);
                panic!(
                    "the hub exited before listening: {:?}\nstdout:\n{}\nstderr:\n{}",
                    finished.status, finished.stdout, finished.stderr
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "the hub did not listen within {START_TIMEOUT:?}\nstderr:\n{}",
                    hub.stderr.text()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `serve` expecting it to fail before listening; returns how it exited.
    #[track_caller]
    pub fn run_to_exit(&self) -> Finished {
        let finished = run(&mut self.command(), None, EXIT_TIMEOUT);
        assert!(
            !finished.stderr.contains("agenthub listening on"),
            "the hub started listening:\n{}",
            finished.stderr
        );
        finished
    }
}

/// The `scheme://host:port` of the "agenthub listening on …" log line, in text or JSON form.
fn listening_url(log: &str) -> Option<(String, SocketAddr)> {
    const MARK: &str = "agenthub listening on ";
    let rest = &log[log.find(MARK)? + MARK.len()..];
    let url: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\\')
        .collect();
    let addr = url.split_once("://")?.1.parse().ok()?;
    Some((url, addr))
}

/// A running hub. Killed when dropped, unless it was stopped.
pub struct Hub {
    child: Child,
    exited: bool,
    /// `http://127.0.0.1:PORT` or `https://…`.
    pub url: String,
    pub addr: SocketAddr,
    stdout: Capture,
    stderr: Capture,
}

impl Hub {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Waits (bounded) until standard error contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        self.stderr
            .wait_for(timeout, |t| t.contains(needle).then_some(()))
            .is_some()
    }

    /// The admin key printed on first start. It is printed before the port is bound, so it is
    /// in the pipe by the time the hub listens; the wait only covers the reader thread.
    #[track_caller]
    pub fn printed_admin_key(&self) -> String {
        self.stdout
            .wait_for(Duration::from_secs(10), |text| {
                let rest = &text[text.find("export AGENTHUB_KEY=")? + 20..];
                let end = rest.find(char::is_whitespace)?;
                Some(rest[..end].to_owned())
            })
            .unwrap_or_else(|| panic!("no admin key printed; stdout:\n{}", self.stdout.text()))
    }

    /// Runs `agenthub ARGS` against this hub, authenticated with `key`.
    #[track_caller]
    pub fn cli(&self, key: &str, args: &[&str]) -> Finished {
        self.cli_with(key, args, &[], None)
    }

    #[track_caller]
    pub fn cli_with(
        &self,
        key: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Finished {
        let mut all = vec![("AGENTHUB_URL", self.url.as_str()), ("AGENTHUB_KEY", key)];
        all.extend_from_slice(env);
        cli(args, &all, stdin)
    }

    pub fn terminate(&self) {
        send_signal(self.pid(), "TERM");
    }

    /// Sends SIGTERM and waits (bounded) for the hub to exit.
    #[track_caller]
    pub fn stop(mut self) -> Finished {
        self.terminate();
        self.wait_exit(EXIT_TIMEOUT)
    }

    /// Sends SIGTERM and checks the hub exited with 0.
    #[track_caller]
    pub fn stop_cleanly(self) -> Finished {
        let finished = self.stop();
        assert!(
            finished.status.success(),
            "the hub did not stop cleanly: {:?}\nstderr:\n{}",
            finished.status,
            finished.stderr
        );
        finished
    }

    /// Waits for the hub to exit; kills it and panics after `timeout`.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> Finished {
        let status = wait_bounded(&mut self.child, timeout);
        self.exited = true;
        let stdout = self.stdout.finish();
        let stderr = self.stderr.finish();
        match status {
            Some(status) => Finished {
                status,
                stdout,
                stderr,
            },
            None => panic!("the hub did not exit within {timeout:?}; killed\nstderr:\n{stderr}"),
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A blocking HTTP client over reqwest, for tests that are not async.
pub struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

/// A response: status and body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Http {
    pub fn new() -> Self {
        init_crypto();
        Self::with(reqwest::Client::builder())
    }

    pub fn with(builder: reqwest::ClientBuilder) -> Self {
        init_crypto();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = builder.timeout(Duration::from_secs(30)).build().unwrap();
        Self { runtime, client }
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, reqwest::Error> {
        self.runtime.block_on(async {
            let mut request = self.client.request(method, url);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            let body = response.text().await?;
            Ok(Reply { status, body })
        })
    }

    #[track_caller]
    pub fn get(&self, url: &str, key: Option<&str>) -> Reply {
        self.request(reqwest::Method::GET, url, key, None)
            .unwrap_or_else(|e| panic!("GET {url}: {e:?}"))
    }

    #[track_caller]
    pub fn post(&self, url: &str, key: Option<&str>, body: &Value) -> Reply {
        self.request(reqwest::Method::POST, url, key, Some(body))
            .unwrap_or_else(|e| panic!("POST {url}: {e:?}"))
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls `check` every 100 ms until it returns something or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh Postgres database for one test, dropped with the guard. `None` (after a notice)
/// when `AGENTHUB_TEST_POSTGRES_URL` is not set.
pub struct PostgresDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PostgresDb {
    pub fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("AGENTHUB_TEST_POSTGRES_URL") else {
            eprintln!("notice: AGENTHUB_TEST_POSTGRES_URL is not set; skipping the Postgres test");
            return None;
        };
        let name = format!("agenthub_e2e_{}", uuid::Uuid::new_v4().simple());
        Self::execute(&admin_url, &format!("CREATE DATABASE \"{name}\""));
        let base = admin_url
            .rsplit_once('/')
            .expect("AGENTHUB_TEST_POSTGRES_URL must name a database")
            .0;
        let url = format!("{base}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    fn execute(url: &str, sql: &str) {
        sqlx::any::install_default_drivers();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pool = tokio::time::timeout(Duration::from_secs(30), sqlx::AnyPool::connect(url))
                .await
                .expect("Postgres did not answer in time")
                .expect("AGENTHUB_TEST_POSTGRES_URL is unreachable");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            pool.close().await;
        });
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        Self::execute(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}

/// A private CA and certificates it signs, written as PEM files into a directory.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, as PEM files.
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "agenthub test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let ca_cert = dir.join("ca.pem");
        std::fs::write(&ca_cert, cert.pem()).unwrap();
        Self {
            dir: dir.to_owned(),
            ca_cert,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn issue(&self, name: &str, sans: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> CertFiles {
        use rcgen::{CertificateParams, DnType, KeyPair};
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let files = CertFiles {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> CertFiles {
        self.issue(
            "server",
            &["127.0.0.1", "localhost"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate.
    pub fn client(&self, name: &str) -> CertFiles {
        self.issue(name, &[], rcgen::ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// The certificates in a PEM file.
pub fn read_certs(path: &Path) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// A rustls client configuration trusting `ca` only, with the given protocol versions and an
/// optional client certificate.
pub fn tls_client_config(
    ca: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
    client: Option<&CertFiles>,
) -> rustls::ClientConfig {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca) {
        roots.add(cert).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots);
    match client {
        Some(files) => builder
            .with_client_auth_cert(
                read_certs(&files.cert),
                PrivateKeyDer::from_pem_file(&files.key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}
