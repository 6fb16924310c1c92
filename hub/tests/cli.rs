//! End-to-end tests of the `agenthub` command line against a real hub: the quickstart,
//! persistence across restarts, the bootstrap admin key, `config validate`, Postgres, and the
//! offline rotation of the secrets master key.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Hub, HubBuilder, cli, hold_port};

/// The item of a JSON array whose `field` equals `value`.
#[track_caller]
fn find<'a>(items: &'a Value, field: &str, value: &str) -> &'a Value {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .find(|item| item[field] == value)
        .unwrap_or_else(|| panic!("no item with {field} = {value} in {items:#}"))
}

/// The key printed on the first line of `agenthub keys create`'s human output.
#[track_caller]
fn created_key(output: &str) -> String {
    let key = output.lines().next().unwrap_or_default().trim();
    assert!(
        key.starts_with("ahk_") && key.len() == 44,
        "no key on the first line of:\n{output}"
    );
    key.to_owned()
}

/// Creates team `ml`, user `alice` in it, and a key of hers charged to `ml`.
fn create_alice(hub: &Hub, admin: &str) -> (String, String) {
    let team = hub
        .cli(
            admin,
            &[
                "teams",
                "create",
                "ml",
                "--description",
                "Machine learning",
                "--json",
            ],
        )
        .json();
    assert_eq!(team["name"], "ml");
    assert_eq!(team["description"], "Machine learning");

    let user = hub.cli(
        admin,
        &["users", "create", "alice", "--email", "alice@example.com"],
    );
    assert!(user.ok().contains("alice@example.com"), "{}", user.stdout);

    let member = hub.cli(admin, &["teams", "add-member", "ml", "alice"]);
    assert_eq!(member.ok().trim(), "alice is now member of ml");

    let created = hub.cli(
        admin,
        &[
            "keys", "create", "--owner", "alice", "--team", "ml", "--name", "laptop",
        ],
    );
    let key = created_key(created.ok());
    assert!(created.stdout.contains("only time the key is shown"));
    let id = created
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .expect("the key's id is shown")
        .trim()
        .to_owned();
    (key, id)
}

/// The quickstart: a fresh data directory, then only the CLI.
#[test]
fn quickstart() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubBuilder::new(dir.path().join("data")).start();
    let admin = hub.printed_admin_key();
    assert!(admin.starts_with("ahk_"), "{admin}");
    assert!(hub.stdout().contains("shown only once"));

    let admin_me = hub.cli(&admin, &["whoami", "--json"]).json();
    assert_eq!(admin_me["subject"], "user:admin");
    assert_eq!(admin_me["principal"]["role"], "admin");

    let (key, key_id) = create_alice(&hub, &admin);

    let whoami = hub.cli(&key, &["whoami"]);
    let text = whoami.ok();
    assert!(text.contains("subject: user:alice"), "{text}");
    assert!(text.contains("ml (member)"), "{text}");
    assert!(text.contains(&key_id), "{text}");

    let me = hub.cli(&key, &["whoami", "--json"]).json();
    assert_eq!(me["subject"], "user:alice");
    assert_eq!(me["principal"]["name"], "alice");
    assert_eq!(me["key_id"], key_id.as_str());
    assert_eq!(me["principal"]["teams"][0]["team"], "ml");

    // Listings, as tables and as JSON.
    let table = hub.cli(&admin, &["keys", "list"]);
    let table = table.ok();
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("NAME") && header.contains("STATUS"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains(&key_id))
        .unwrap_or_else(|| panic!("no row for {key_id}:\n{table}"));
    assert!(
        row.contains("laptop") && row.contains("alice") && row.contains("active"),
        "{row}"
    );
    assert!(!table.contains(&key), "key listings never show the key");

    let keys = hub.cli(&admin, &["keys", "list", "--json"]).json();
    let laptop = find(&keys, "name", "laptop");
    assert_eq!(laptop["id"], key_id.as_str());
    assert_eq!(laptop["owner"], "alice");
    assert_eq!(laptop["team"], "ml");
    assert_eq!(laptop["status"], "active");

    let users = hub.cli(&admin, &["users", "list", "--json"]).json();
    assert_eq!(find(&users, "name", "alice")["email"], "alice@example.com");
    find(&users, "name", "admin");
    let teams = hub.cli(&admin, &["teams", "list", "--json"]).json();
    assert_eq!(find(&teams, "name", "ml")["member_count"], 1);
    let members = hub
        .cli(&admin, &["teams", "members", "ml", "--json"])
        .json();
    assert_eq!(find(&members, "name", "alice")["role"], "member");
    let users_table = hub.cli(&admin, &["users", "list"]);
    assert!(
        users_table.ok().contains("ml:member"),
        "{}",
        users_table.stdout
    );

    // Revocation takes effect at once.
    let revoked = hub.cli(&admin, &["keys", "revoke", &key_id]);
    assert_eq!(
        revoked.ok().trim(),
        format!("revoked key {key_id} (laptop)")
    );
    let denied = hub.cli(&key, &["whoami"]);
    let stderr = denied.fails_with(1);
    assert_eq!(
        stderr.trim(),
        "error: missing or invalid credentials (HTTP 401 Unauthorized)"
    );
    assert!(denied.stdout.is_empty());
    let info = hub.cli(&admin, &["keys", "get", &key_id, "--json"]).json();
    assert_eq!(info["status"], "revoked");
    assert!(info["revoked_at"].is_string());

    // No key at all: the message says how to pass one.
    let anonymous = cli(&["whoami"], &[("AGENTHUB_URL", &hub.url)], None);
    assert!(
        anonymous
            .fails_with(1)
            .contains("pass --key or set AGENTHUB_KEY"),
        "{}",
        anonymous.stderr
    );
    // A member cannot administer.
    hub.cli(&admin, &["users", "create", "bob"]).ok();
    let bob_key = created_key(hub.cli(&admin, &["keys", "create", "--owner", "bob"]).ok());
    let forbidden = hub.cli(&bob_key, &["teams", "create", "rogue"]);
    assert!(
        forbidden.fails_with(1).contains("HTTP 403"),
        "{}",
        forbidden.stderr
    );

    let url = hub.url.clone();
    hub.stop_cleanly();
    // The hub is gone: the CLI says it cannot reach it.
    let unreachable = cli(
        &["whoami"],
        &[("AGENTHUB_URL", &url), ("AGENTHUB_KEY", &admin)],
        None,
    );
    assert!(
        unreachable
            .fails_with(1)
            .contains(&format!("cannot reach the hub at {url}")),
        "{}",
        unreachable.stderr
    );
}

/// Keys, revocations and secrets survive a restart; the admin key is printed only once.
#[test]
fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hub = HubBuilder::new(&data).start();
    let admin = hub.printed_admin_key();
    assert!(hub.stderr().contains("generated a master key for secrets"));

    let (alice_key, _) = create_alice(&hub, &admin);
    let spare = hub.cli(
        &admin,
        &[
            "keys", "create", "--owner", "alice", "--name", "spare", "--json",
        ],
    );
    let spare = spare.json();
    let spare_key = spare["key"].as_str().unwrap().to_owned();
    let spare_id = spare["id"].as_str().unwrap().to_owned();
    hub.cli(&admin, &["keys", "revoke", &spare_id]).ok();

    let stored = hub.cli_with(
        &admin,
        &[
            "secrets",
            "set",
            "openai-prod",
            "--description",
            "OpenAI production key",
        ],
        &[],
        Some("sk-test-0123456789\n"),
    );
    assert_eq!(
        stored.ok().trim(),
        "stored secret openai-prod (reference it as secret:openai-prod)"
    );
    let secret = hub
        .cli(&admin, &["secrets", "get", "openai-prod", "--json"])
        .json();
    assert!(
        !secret.to_string().contains("sk-test"),
        "values are never shown"
    );

    let first = hub.stop_cleanly();
    assert_eq!(first.stdout.matches("Admin API key").count(), 1);

    let hub = HubBuilder::new(&data).start();
    let me = hub.cli(&alice_key, &["whoami", "--json"]).json();
    assert_eq!(me["subject"], "user:alice");
    hub.cli(&admin, &["whoami"]).ok();
    let denied = hub.cli(&spare_key, &["whoami"]);
    assert!(denied.fails_with(1).contains("HTTP 401"));
    let secrets = hub.cli(&admin, &["secrets", "list", "--json"]).json();
    let again = find(&secrets, "name", "openai-prod");
    assert_eq!(again["description"], "OpenAI production key");
    assert_eq!(again["key_id"], secret["key_id"]);
    let table = hub.cli(&admin, &["secrets", "list"]);
    assert!(table.ok().contains("openai-prod"));
    let keys = hub.cli(&admin, &["keys", "list", "--json"]).json();
    assert_eq!(find(&keys, "id", &spare_id)["status"], "revoked");
    assert_eq!(
        find(&keys, "name", "laptop")["status"],
        "active",
        "{keys:#}"
    );

    let second = hub.stop_cleanly();
    assert!(
        !second.stdout.contains("Admin API key") && !second.stdout.contains("ahk_"),
        "the admin key is printed once only:\n{}",
        second.stdout
    );
    assert!(!second.stderr.contains("generated a master key"));
}

/// `AGENTHUB_ADMIN_KEY`: an operator-chosen admin key, checked before anything starts.
#[test]
fn operator_chosen_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let chosen = "ahk_operator_chosen_0123456789abcdefghij";
    let hub = HubBuilder::new(&data)
        .env("AGENTHUB_ADMIN_KEY", chosen)
        .start();
    let me = hub.cli(chosen, &["whoami", "--json"]).json();
    assert_eq!(me["subject"], "user:admin");
    hub.cli(chosen, &["teams", "create", "ops"]).ok();
    let keys = hub.cli(chosen, &["keys", "list", "--json"]).json();
    find(&keys, "name", "AGENTHUB_ADMIN_KEY");
    let stopped = hub.stop_cleanly();
    assert!(
        !stopped.stdout.contains("Admin API key"),
        "no key is generated when one is chosen:\n{}",
        stopped.stdout
    );

    for bad in ["too-short", "ahk_has a space_0123456789abcdefghij"] {
        // Hold the port the hub is told to use: had it got as far as binding, it would fail
        // with "cannot listen" and exit 1 instead.
        let held = hold_port();
        let port = held.local_addr().unwrap().port();
        let fresh = dir.path().join("never-created");
        let failed = HubBuilder::new(&fresh)
            .listen(Some(format!("127.0.0.1:{port}").as_str()))
            .env("AGENTHUB_ADMIN_KEY", bad)
            .run_to_exit();
        let stderr = failed.fails_with(2);
        assert_eq!(
            stderr.trim(),
            "AGENTHUB_ADMIN_KEY: must be at least 24 characters without spaces (e.g. `ahk_$(openssl rand -hex 20)`)"
        );
        assert!(!stderr.contains(bad), "the key is not echoed");
        assert!(!fresh.exists(), "nothing was created");
        drop(held);
    }
}

const GOOD_CONFIG: &str = "\
server:
  listen: 127.0.0.1:0
  shutdown_timeout: 5s
  max_body_bytes: 65536
store:
  max_connections: 4
  connect_timeout: 2s
  refresh_interval: 30s
logging:
  level: agenthub=debug,info
  format: json
";

const BAD_CONFIG: &str = "\
server:
  lisen: 127.0.0.1:9000
  shutdown_timeout: soon
store:
  url: mysql://db/hub
  max_connections: 0
logging:
  format: jsn
  level: 'agenthub=loud'
";

#[test]
fn config_validate() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, GOOD_CONFIG).unwrap();
    let valid = cli(&["config", "validate", good.to_str().unwrap()], &[], None);
    assert_eq!(valid.ok().trim(), format!("{}: valid", good.display()));

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, BAD_CONFIG).unwrap();
    let invalid = cli(&["config", "validate", bad.to_str().unwrap()], &[], None);
    let stderr = invalid.fails_with(2);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[0], format!("{}: 6 errors", bad.display()), "{stderr}");
    for path in [
        "server.lisen",
        "server.shutdown_timeout",
        "store.url",
        "store.max_connections",
        "logging.format",
        "logging.level",
    ] {
        assert!(
            lines[1..]
                .iter()
                .any(|l| l.starts_with(&format!("  {path}: "))),
            "{path} missing from:\n{stderr}"
        );
    }

    // ${VAR} interpolation, with and without the variable.
    let templated = dir.path().join("templated.yaml");
    std::fs::write(
        &templated,
        "store:\n  url: postgres://hub@${E2E_DB_HOST}/hub\nlogging:\n  level: ${E2E_LEVEL:-info}\n",
    )
    .unwrap();
    let args = ["config", "validate", templated.to_str().unwrap()];
    cli(&args, &[("E2E_DB_HOST", "127.0.0.1:5432")], None).ok();
    let unset = cli(&args, &[], None);
    assert!(
        unset
            .fails_with(2)
            .contains("store.url: environment variable E2E_DB_HOST is not set"),
        "{}",
        unset.stderr
    );
    let wrong_level = cli(
        &args,
        &[
            ("E2E_DB_HOST", "127.0.0.1:5432"),
            ("E2E_LEVEL", "agenthub=loud"),
        ],
        None,
    );
    assert!(wrong_level.fails_with(2).contains("logging.level: "));

    let missing = dir.path().join("missing.yaml");
    let unreadable = cli(
        &["config", "validate", missing.to_str().unwrap()],
        &[],
        None,
    );
    assert!(unreadable.fails_with(2).contains("cannot read file"));
}

/// The quickstart subset against Postgres, across a restart.
#[test]
fn postgres_quickstart_and_restart() {
    let Some(db) = support::PostgresDb::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hub = HubBuilder::new(&data)
        .args(["--database-url", &db.url])
        .start();
    let admin = hub.printed_admin_key();
    let ready = support::Http::new().get(&format!("{}/readyz", hub.url), None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    let (key, key_id) = create_alice(&hub, &admin);
    assert_eq!(
        hub.cli(&key, &["whoami", "--json"]).json()["subject"],
        "user:alice"
    );
    hub.cli_with(&admin, &["secrets", "set", "pg-secret"], &[], Some("v"))
        .ok();
    assert!(!data.join("agenthub.db").exists(), "the store is Postgres");
    hub.stop_cleanly();

    let hub = HubBuilder::new(&data)
        .args(["--database-url", &db.url])
        .start();
    assert_eq!(
        hub.cli(&key, &["whoami", "--json"]).json()["key_id"],
        key_id.as_str()
    );
    let secrets = hub.cli(&admin, &["secrets", "list", "--json"]).json();
    find(&secrets, "name", "pg-secret");
    hub.cli(&admin, &["keys", "revoke", &key_id]).ok();
    assert!(
        hub.cli(&key, &["whoami"])
            .fails_with(1)
            .contains("HTTP 401")
    );
    let stopped = hub.stop_cleanly();
    assert!(!stopped.stdout.contains("Admin API key"));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// `secrets rotate-key` with the embedded key file: a new key replaces the file and every
/// secret is re-sealed under it.
#[test]
fn rotate_embedded_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hub = HubBuilder::new(&data).start();
    let admin = hub.printed_admin_key();
    for name in ["api-token", "db-password"] {
        hub.cli_with(&admin, &["secrets", "set", name], &[], Some("s3cr3t\n"))
            .ok();
    }
    let before = hub.cli(&admin, &["secrets", "list", "--json"]).json();
    let old_key_id = find(&before, "name", "api-token")["key_id"].clone();
    hub.stop_cleanly();

    let key_file = data.join("secret.key");
    let old_key = read(&key_file);
    let rotated = cli(
        &[
            "secrets",
            "rotate-key",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
        None,
    );
    let out = rotated.ok();
    assert!(
        out.starts_with("re-encrypted 2 secrets under the new key"),
        "{out}"
    );
    let new_key = read(&key_file);
    assert_ne!(old_key, new_key);
    assert!(!data.join("secret.key.new").exists());

    // The hub checks at start that every secret decrypts.
    let hub = HubBuilder::new(&data).start();
    let after = hub.cli(&admin, &["secrets", "list", "--json"]).json();
    for name in ["api-token", "db-password"] {
        let secret = find(&after, "name", name);
        assert_ne!(secret["key_id"], old_key_id);
        assert!(out.contains(secret["key_id"].as_str().unwrap()), "{out}");
    }
    hub.stop_cleanly();

    // Proof that start-up does check: with the old key back, the hub refuses to start.
    std::fs::write(&key_file, &old_key).unwrap();
    let refused = HubBuilder::new(&data).run_to_exit();
    let stderr = refused.fails_with(1);
    assert!(
        stderr.contains("cannot read the stored secrets") && stderr.contains("is sealed under key"),
        "{stderr}"
    );
    std::fs::write(&key_file, &new_key).unwrap();
    HubBuilder::new(&data).start().stop_cleanly();
}

/// `secrets rotate-key` with `AGENTHUB_SECRET_KEY` and `AGENTHUB_SECRET_KEY_PREVIOUS`.
#[test]
fn rotate_environment_key() {
    let old = "0f".repeat(32);
    let new = "a5".repeat(32);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let with_keys = |current: &str, previous: Option<&str>| {
        let builder = HubBuilder::new(&data).env("AGENTHUB_SECRET_KEY", current);
        match previous {
            Some(previous) => builder.env("AGENTHUB_SECRET_KEY_PREVIOUS", previous),
            None => builder,
        }
    };

    let hub = with_keys(&old, None).start();
    let admin = hub.printed_admin_key();
    hub.cli_with(
        &admin,
        &["secrets", "set", "github-token"],
        &[],
        Some("ghp_x"),
    )
    .ok();
    hub.stop_cleanly();
    assert!(
        !data.join("secret.key").exists(),
        "no key file when the key comes from the environment"
    );

    // The new key alone cannot read what the old one sealed.
    let refused = with_keys(&new, None).run_to_exit();
    let stderr = refused.fails_with(1);
    assert!(
        stderr.contains("github-token") && stderr.contains("AGENTHUB_SECRET_KEY_PREVIOUS"),
        "{stderr}"
    );

    // Deploy the new key with the old one as previous: the hub serves.
    with_keys(&new, Some(&old)).start().stop_cleanly();

    let rotated = cli(
        &[
            "secrets",
            "rotate-key",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[
            ("AGENTHUB_SECRET_KEY", &new),
            ("AGENTHUB_SECRET_KEY_PREVIOUS", &old),
        ],
        None,
    );
    let out = rotated.ok();
    assert!(
        out.starts_with("re-encrypted 1 secrets under key")
            && out.contains("AGENTHUB_SECRET_KEY_PREVIOUS can now be removed"),
        "{out}"
    );

    // Only the new key from now on.
    let hub = with_keys(&new, None).start();
    let secrets = hub.cli(&admin, &["secrets", "list", "--json"]).json();
    let secret = find(&secrets, "name", "github-token");
    assert!(out.contains(secret["key_id"].as_str().unwrap()), "{out}");
    hub.stop_cleanly();

    // A wrong key: exit 1 with a message about the key.
    let wrong = with_keys(&old, None).run_to_exit();
    let stderr = wrong.fails_with(1);
    assert!(
        stderr.contains("cannot read the stored secrets") && stderr.contains("AGENTHUB_SECRET_KEY"),
        "{stderr}"
    );
    // A malformed key is a configuration error.
    let malformed = with_keys("not-a-key", None).run_to_exit();
    assert!(
        malformed.fails_with(2).contains("32 bytes"),
        "{}",
        malformed.stderr
    );
}

/// Polls `url` with `key` until it answers `status`, for at most 15 s.
fn eventually_status(http: &support::Http, url: &str, key: &str, status: u16) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if http.get(url, Some(key)).status == status {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// Two replicas on one Postgres database, told about each other's changes over NATS. Their
/// periodic refresh is set to an hour, so only the bus can carry a change across in time.
#[test]
fn replicas_apply_each_others_changes_over_nats() {
    let Ok(nats) = std::env::var("AGENTHUB_TEST_NATS_URL") else {
        eprintln!("notice: AGENTHUB_TEST_NATS_URL is not set; skipping the replica sync test");
        return;
    };
    let Some(db) = support::PostgresDb::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.yaml");
    let prefix = format!("agenthub-e2e-{}", uuid::Uuid::new_v4().simple());
    std::fs::write(
        &config,
        format!("store:\n  refresh_interval: 1h\nbus:\n  subject_prefix: {prefix}\n"),
    )
    .unwrap();
    let admin = "ahk_replica_test_admin_key_0123456789";
    let secret_key = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";
    let replica = |name: &str| {
        HubBuilder::new(dir.path().join(name))
            .args(["--database-url", &db.url, "--nats-url", &nats])
            .args(["--config", config.to_str().unwrap()])
            .env("AGENTHUB_ADMIN_KEY", admin)
            .env("AGENTHUB_SECRET_KEY", secret_key)
            .start()
    };
    let a = replica("a");
    let b = replica("b");
    let http = support::Http::new();

    // Created on A, usable on B.
    let (key, key_id) = create_alice(&a, admin);
    assert!(
        eventually_status(&http, &format!("{}/api/v1/me", b.url), &key, 200),
        "B never learned about the key created on A"
    );
    // Revoked on B, refused on A.
    b.cli(admin, &["keys", "revoke", &key_id]).ok();
    assert!(
        eventually_status(&http, &format!("{}/api/v1/me", a.url), &key, 401),
        "A still accepts the key revoked on B"
    );
    a.stop_cleanly();
    b.stop_cleanly();
}
