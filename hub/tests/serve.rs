//! End-to-end tests of `agenthub serve`: start-up checks, configuration files and hot reload,
//! an unreachable store, graceful shutdown, and HTTPS with and without client certificates.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::{CertFiles, Http, Hub, HubBuilder, Pki, hold_port, poll};

/// Replaces a file in one step, so that a poller never reads it half written.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn readyz(http: &Http, hub: &Hub) -> (u16, Value) {
    let reply = http.get(&format!("{}/readyz", hub.url), None);
    let body = reply.json();
    (reply.status, body)
}

#[test]
fn health_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubBuilder::new(dir.path()).start();
    let http = Http::new();
    let health = http.get(&format!("{}/healthz", hub.url), None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({ "status": "ok" }));
    let (status, ready) = readyz(&http, &hub);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["store"]["ok"], true);
    assert_eq!(ready["checks"]["config"]["ok"], true);
    let metrics = http.get(&format!("{}/metrics", hub.url), None);
    assert!(
        metrics.body.contains(
            "agenthub_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{}",
        metrics.body
    );
    let anonymous = http.get(&format!("{}/api/v1/me", hub.url), None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"]["type"], "unauthenticated");
    hub.stop_cleanly();
}

/// A data directory the hub makes is private: its databases hold key hashes, sealed secrets
/// and logged bodies.
#[test]
fn a_new_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state").join("data");
    let hub = HubBuilder::new(&data).start();
    for made in [&data, &dir.path().join("state")] {
        let mode = std::fs::metadata(made).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", made.display());
    }
    assert!(data.join("agenthub-records.db").exists());
    hub.stop_cleanly();
}

/// With `--log-format json`, every line on standard error is a JSON object.
#[test]
fn json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubBuilder::new(dir.path())
        .args(["--log-format", "json"])
        .start();
    let stopped = hub.stop_cleanly();
    let mut messages = Vec::new();
    for line in stopped.stderr.lines() {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        messages.push(entry["message"].as_str().unwrap_or_default().to_owned());
        assert!(entry["level"].is_string(), "{line}");
    }
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("agenthub listening on http://127.0.0.1:")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m == "agenthub stopped"),
        "{messages:?}"
    );
}

/// A configuration with several errors stops `serve` with exit code 2 before the port is bound
/// or anything is created, listing every error.
#[test]
fn invalid_config_stops_serve_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(
        &config,
        "server:\n  lisen: 127.0.0.1:9000\nstore:\n  max_connections: 0\nlogging:\n  format: jsn\n",
    )
    .unwrap();
    // Hold the port: had the hub got as far as binding, it would fail with exit 1.
    let held = hold_port();
    let port = held.local_addr().unwrap().port();
    let data = dir.path().join("data");
    let failed = HubBuilder::new(&data)
        .listen(Some(format!("127.0.0.1:{port}").as_str()))
        .args(["--config", config.to_str().unwrap()])
        .run_to_exit();
    let stderr = failed.fails_with(2);
    assert!(
        stderr.starts_with(&format!("{}: 3 errors", config.display())),
        "{stderr}"
    );
    for path in ["server.lisen", "store.max_connections", "logging.format"] {
        assert!(
            stderr.contains(&format!("\n  {path}: ")),
            "{path} missing:\n{stderr}"
        );
    }
    assert!(!stderr.contains("cannot listen"), "{stderr}");
    assert!(!data.exists(), "nothing was created");
    // Control: a valid start on the held port does get as far as binding, and fails there.
    let control = HubBuilder::new(dir.path().join("control"))
        .listen(Some(format!("127.0.0.1:{port}").as_str()))
        .run_to_exit();
    assert!(
        control
            .fails_with(1)
            .contains(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "{}",
        control.stderr
    );
    drop(held);

    // Flags are checked like the file.
    let tls = HubBuilder::new(&data)
        .args([
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
        ])
        .run_to_exit();
    let stderr = tls.fails_with(2);
    assert!(
        stderr.contains("server.tls.cert: file /nonexistent.pem does not exist")
            && stderr.contains("server.tls.key: file /nonexistent.key does not exist"),
        "{stderr}"
    );
    assert!(!data.exists());
}

/// `${VAR}` in the configuration file: the listen address comes from the environment.
#[test]
fn config_interpolation() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.yaml");
    std::fs::write(
        &config,
        "server:\n  listen: ${E2E_LISTEN}\nstore:\n  url: sqlite://${E2E_DIR}/custom.db?mode=rwc\nlogging:\n  level: ${E2E_LEVEL:-info}\n",
    )
    .unwrap();
    let builder = HubBuilder::new(dir.path().join("data"))
        .listen(None)
        .args(["--config", config.to_str().unwrap()])
        .env("E2E_DIR", dir.path().to_str().unwrap());
    let hub = builder.clone().env("E2E_LISTEN", "127.0.0.1:0").start();
    assert_ne!(hub.addr.port(), 8080);
    assert!(
        dir.path().join("custom.db").exists(),
        "the store URL was expanded"
    );
    let health = Http::new().get(&format!("{}/healthz", hub.url), None);
    assert_eq!(health.status, 200);
    hub.stop_cleanly();

    let unset = builder.run_to_exit();
    assert!(
        unset
            .fails_with(2)
            .contains("server.listen: environment variable E2E_LISTEN is not set"),
        "{}",
        unset.stderr
    );
}

/// A bad edit of the configuration file is rejected and reported by `/readyz` while the last
/// good configuration keeps serving; a good edit clears it.
#[test]
fn config_hot_reload() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.yaml");
    write_atomically(&config, "logging:\n  level: info\n");
    let hub = HubBuilder::new(dir.path().join("data"))
        .args(["--config", config.to_str().unwrap()])
        .start();
    let admin = hub.printed_admin_key();
    let http = Http::new();
    let (status, ready) = readyz(&http, &hub);
    assert_eq!(status, 200);
    assert_eq!(ready["checks"]["config"]["ok"], true, "{ready}");
    assert!(ready["checks"]["config"]["rejected_change"].is_null());

    write_atomically(
        &config,
        "logging:\n  level: info\nserver:\n  lisen: 127.0.0.1:1\n  shutdown_timeout: soon\n",
    );
    // The hub polls the file every 2 s.
    let rejected = poll(Duration::from_secs(30), || {
        let (status, ready) = readyz(&http, &hub);
        (ready["checks"]["config"]["ok"] == false).then_some((status, ready))
    })
    .expect("the bad edit was not reported by /readyz");
    let (status, ready) = rejected;
    assert_eq!(status, 200, "a rejected edit does not make the hub unready");
    assert_eq!(ready["status"], "ready");
    // Only where the errors are: /readyz is unauthenticated, and messages quote values.
    let mut paths: Vec<&str> = ready["checks"]["config"]["rejected_change"]
        .as_array()
        .unwrap_or_else(|| panic!("{ready}"))
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["server.lisen", "server.shutdown_timeout"],
        "{ready}"
    );
    assert!(
        ready["checks"]["config"]["details"]
            .as_str()
            .is_some_and(|d| d.contains("log")),
        "{ready}"
    );
    assert!(!ready.to_string().contains("soon"), "{ready}");
    // The messages are in the log.
    assert!(hub.wait_stderr("configuration change rejected", Duration::from_secs(10)));
    assert!(hub.wait_stderr("server.lisen: unknown key", Duration::from_secs(10)));
    assert!(hub.wait_stderr("server.shutdown_timeout: ", Duration::from_secs(10)));
    // Still serving with the last good configuration.
    let me = http.get(&format!("{}/api/v1/me", hub.url), Some(&admin));
    assert_eq!(me.status, 200);

    write_atomically(&config, "logging:\n  level: debug\n");
    let (status, ready) = poll(Duration::from_secs(30), || {
        let (status, ready) = readyz(&http, &hub);
        (ready["checks"]["config"]["ok"] == true).then_some((status, ready))
    })
    .expect("the good edit did not clear the rejection");
    assert_eq!(status, 200);
    assert!(
        ready["checks"]["config"]["rejected_change"].is_null(),
        "{ready}"
    );
    assert!(hub.wait_stderr("configuration reloaded", Duration::from_secs(10)));
    hub.stop_cleanly();
}

/// An unreachable store: exit 1 with one line naming the cause, well within a bound.
#[test]
fn unreachable_store_fails_fast_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let failed = HubBuilder::new(&data)
        .args([
            "--database-url",
            "postgres://postgres:hunter2@127.0.0.1:1/x",
        ])
        .run_to_exit();
    let stderr = failed.fails_with(1);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(
            "error: cannot connect to the store at postgres://postgres:***@127.0.0.1:1/x: "
        ) && lines[0].contains("Connection refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "the password is never shown");

    let sqlite = HubBuilder::new(&data)
        .args(["--database-url", "sqlite:///nonexistent/dir/hub.db"])
        .run_to_exit();
    let stderr = sqlite.fails_with(1);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(
            "error: cannot connect to the store at sqlite:///nonexistent/dir/hub.db: "
        ),
        "{stderr}"
    );
}

/// The value of the in-flight requests gauge in a Prometheus exposition.
fn in_flight(metrics: &str) -> Option<i64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("agenthub_http_requests_in_flight "))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until the hub is serving `n` requests besides the `/metrics` request asking.
fn wait_in_flight(http: &Http, hub: &Hub, n: i64) {
    poll(Duration::from_secs(20), || {
        let metrics = http.get(&format!("{}/metrics", hub.url), None);
        in_flight(&metrics.body).filter(|v| *v > n)
    })
    .unwrap_or_else(|| panic!("the hub never had {n} requests in flight"));
}

/// Sends the head of a `POST /api/v1/teams` and the first `sent` bytes of `body`.
fn partial_post(addr: SocketAddr, key: &str, body: &[u8], sent: usize) -> TcpStream {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /api/v1/teams HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&body[..sent]).unwrap();
    conn.flush().unwrap();
    conn
}

/// Polls until connecting to `addr` is refused.
fn wait_refused(addr: SocketAddr) {
    poll(
        Duration::from_secs(20),
        || match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Some(()),
            _ => None,
        },
    )
    .expect("new connections were still accepted after shutdown began");
}

/// SIGTERM during a request: the request completes, new connections are refused, exit 0.
#[test]
fn graceful_shutdown_completes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hub = HubBuilder::new(&data).start();
    let admin = hub.printed_admin_key();
    let http = Http::new();

    let body = br#"{"name":"drained","description":"created during shutdown"}"#;
    let mut conn = partial_post(hub.addr, &admin, body, 10);
    wait_in_flight(&http, &hub, 1);

    hub.terminate();
    assert!(hub.wait_stderr("SIGTERM received; shutting down", Duration::from_secs(20)));
    wait_refused(hub.addr);

    conn.write_all(&body[10..]).unwrap();
    let mut response = Vec::new();
    // The hub closes the connection after answering, as it is shutting down.
    let _ = conn.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201 "), "{response}");
    assert!(response.contains(r#""name":"drained""#), "{response}");

    let mut hub = hub;
    let stopped = hub.wait_exit(support::EXIT_TIMEOUT);
    assert_eq!(stopped.code(), Some(0), "{}", stopped.stderr);
    assert!(stopped.stderr.contains("agenthub stopped"));
    assert!(!stopped.stderr.contains("still in flight"));

    // The request's change was committed.
    let hub = HubBuilder::new(&data).start();
    let team = http.get(&format!("{}/api/v1/teams/drained", hub.url), Some(&admin));
    assert_eq!(team.status, 200, "{}", team.body);
    hub.stop_cleanly();
}

/// A request that never completes does not hold shutdown beyond `server.shutdown_timeout`.
#[test]
fn shutdown_timeout_bounds_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.yaml");
    std::fs::write(&config, "server:\n  shutdown_timeout: 1s\n").unwrap();
    let mut hub = HubBuilder::new(dir.path().join("data"))
        .args(["--config", config.to_str().unwrap()])
        .start();
    let admin = hub.printed_admin_key();
    let http = Http::new();
    let body = br#"{"name":"never-finished"}"#;
    let mut conn = partial_post(hub.addr, &admin, body, 5);
    wait_in_flight(&http, &hub, 1);

    hub.terminate();
    // Bounded: wait_exit kills the hub and fails the test if it does not exit in time.
    let stopped = hub.wait_exit(support::EXIT_TIMEOUT);
    assert_eq!(stopped.code(), Some(0), "{}", stopped.stderr);
    assert!(
        stopped
            .stderr
            .contains("requests still in flight at the drain timeout"),
        "{}",
        stopped.stderr
    );
    // The unfinished request got no answer; its connection is closed.
    let mut rest = Vec::new();
    let closed = conn.read_to_end(&mut rest);
    assert!(
        closed.is_err() || !String::from_utf8_lossy(&rest).contains("HTTP/1.1 201"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
}

fn tls_args(server: &CertFiles) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        server.cert.display().to_string(),
        "--tls-key".into(),
        server.key.display().to_string(),
    ]
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn https_client(ca: &Path, client: Option<&CertFiles>) -> Http {
    support::init_crypto();
    let config = support::tls_client_config(ca, BOTH, client);
    Http::with(reqwest::Client::builder().tls_backend_preconfigured(config))
}

/// `GET /healthz` over rustls directly, to see the negotiated protocol version.
fn raw_https_get(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<(rustls::ProtocolVersion, String)> {
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    if let Err(e) = tls.read_to_end(&mut response)
        && response.is_empty()
    {
        return Err(e);
    }
    let version = tls.conn.protocol_version().unwrap();
    Ok((version, String::from_utf8_lossy(&response).into_owned()))
}

#[test]
fn https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let server = pki.server();
    let hub = HubBuilder::new(dir.path().join("data"))
        .args(tls_args(&server))
        .start();
    assert!(hub.url.starts_with("https://127.0.0.1:"), "{}", hub.url);
    let admin = hub.printed_admin_key();
    let port = hub.addr.port();

    let https = https_client(&pki.ca_cert, None);
    let health = https.get(&format!("{}/healthz", hub.url), None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let by_name = https.get(&format!("https://localhost:{port}/healthz"), None);
    assert_eq!(by_name.status, 200);

    // A client that trusts another CA refuses the hub's certificate.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::new(other_dir.path());
    let distrustful = https_client(&other.ca_cert, None);
    assert!(
        distrustful
            .request(
                reqwest::Method::GET,
                &format!("{}/healthz", hub.url),
                None,
                None
            )
            .is_err()
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = Http::new().request(
        reqwest::Method::GET,
        &format!("http://127.0.0.1:{port}/healthz"),
        None,
        None,
    );
    assert!(plain.is_err(), "{plain:?}");

    // The CLI with --ca-cert, and without it.
    let ca = pki.ca_cert.to_str().unwrap();
    let me = hub
        .cli(&admin, &["whoami", "--ca-cert", ca, "--json"])
        .json();
    assert_eq!(me["subject"], "user:admin");
    hub.cli(&admin, &["teams", "create", "secure", "--ca-cert", ca])
        .ok();
    let untrusted = hub.cli(&admin, &["whoami"]);
    assert!(
        untrusted
            .fails_with(1)
            .contains(&format!("cannot reach the hub at {}", hub.url)),
        "{}",
        untrusted.stderr
    );

    // TLS 1.3 by default, TLS 1.2 when that is all the client speaks.
    let cases: &[(
        &[&rustls::SupportedProtocolVersion],
        rustls::ProtocolVersion,
    )] = &[
        (BOTH, rustls::ProtocolVersion::TLSv1_3),
        (&[&rustls::version::TLS13], rustls::ProtocolVersion::TLSv1_3),
        (&[&rustls::version::TLS12], rustls::ProtocolVersion::TLSv1_2),
    ];
    for (versions, expected) in cases {
        let config = support::tls_client_config(&pki.ca_cert, versions, None);
        let (version, response) = raw_https_get(hub.addr, config).unwrap();
        assert_eq!(version, *expected);
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    }
    hub.stop_cleanly();
}

#[test]
fn mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let server = pki.server();
    let agent = pki.client("agent-1");
    let other_dir = tempfile::tempdir().unwrap();
    let intruder = Pki::new(other_dir.path()).client("intruder");

    let hub = HubBuilder::new(dir.path().join("data"))
        .args(tls_args(&server))
        .args(["--tls-client-ca", pki.ca_cert.to_str().unwrap()])
        .start();
    let url = format!("{}/healthz", hub.url);

    let anonymous =
        https_client(&pki.ca_cert, None).request(reqwest::Method::GET, &url, None, None);
    assert!(anonymous.is_err(), "{anonymous:?}");
    let foreign =
        https_client(&pki.ca_cert, Some(&intruder)).request(reqwest::Method::GET, &url, None, None);
    assert!(foreign.is_err(), "{foreign:?}");
    let trusted = https_client(&pki.ca_cert, Some(&agent)).get(&url, None);
    assert_eq!(trusted.status, 200);

    for versions in [
        &[&rustls::version::TLS12][..],
        &[&rustls::version::TLS13][..],
    ] {
        let with_cert = support::tls_client_config(&pki.ca_cert, versions, Some(&agent));
        let (_, response) = raw_https_get(hub.addr, with_cert).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        let without = support::tls_client_config(&pki.ca_cert, versions, None);
        assert!(
            raw_https_get(hub.addr, without).is_err(),
            "a client without a certificate is refused"
        );
    }
    hub.stop_cleanly();
}
