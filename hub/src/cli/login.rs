//! `agenthub login` and `agenthub logout`: a person's session for the CLI, through the hub's
//! OIDC login and a loopback redirect.
//!
//! `login` listens on 127.0.0.1 on a random port, opens (or prints) the hub's login URL carrying
//! that port and a PKCE challenge, and waits. Once the person has logged in at the provider, the
//! hub redirects the browser to `http://127.0.0.1:PORT/callback?code=…` with a one-time code,
//! which the CLI exchanges — with its PKCE verifier, so that an intercepted code is useless —
//! for a session token. The token is stored in the user's config directory (mode 0600) and used
//! by the other commands when no `--key`/`AGENTHUB_KEY` is given.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::client::{Client, ClientError};
use crate::keys;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The hub's base URL.
    #[arg(long, env = "AGENTHUB_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The login provider (see the hub's /auth/providers); needed when it has several.
    #[arg(long)]
    pub provider: Option<String>,
    /// Only print the login URL; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// How long to wait for the login to complete.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// CA certificate (PEM) to trust for an HTTPS hub with a private CA.
    #[arg(long, env = "AGENTHUB_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The hub's base URL.
    #[arg(long, env = "AGENTHUB_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// CA certificate (PEM) to trust for an HTTPS hub with a private CA.
    #[arg(long, env = "AGENTHUB_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// One stored session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSession {
    pub token: String,
    pub subject: String,
    pub expires_at: String,
}

/// The credentials file: a session per hub URL.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Credentials {
    hubs: BTreeMap<String, StoredSession>,
}

/// Where sessions are kept: `$AGENTHUB_CONFIG_DIR`, else `$XDG_CONFIG_HOME/agenthub`, else
/// `~/.config/agenthub`.
fn credentials_path() -> Option<PathBuf> {
    let dir = std::env::var_os("AGENTHUB_CONFIG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CONFIG_HOME")
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(d).join("agenthub"))
        })
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(d).join(".config").join("agenthub"))
        })?;
    Some(dir.join("credentials.json"))
}

fn read_credentials() -> Credentials {
    credentials_path()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn write_credentials(credentials: &Credentials) -> Result<PathBuf, ClientError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = credentials_path().ok_or_else(|| {
        ClientError::Usage(
            "cannot tell where to store the session: set HOME or AGENTHUB_CONFIG_DIR".into(),
        )
    })?;
    let fail =
        |e: std::io::Error| ClientError::Usage(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
    }
    let pending = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&pending);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&pending)
        .map_err(fail)?;
    let text =
        serde_json::to_vec_pretty(credentials).map_err(|e| ClientError::Protocol(e.to_string()))?;
    file.write_all(&text).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&pending, &path).map_err(fail)?;
    Ok(path)
}

fn hub_key(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

/// The stored session token for a hub, if `agenthub login` left one.
pub fn stored_token(url: &str) -> Option<String> {
    read_credentials()
        .hubs
        .get(&hub_key(url))
        .map(|s| s.token.clone())
}

/// Waits for the browser's redirect to `/callback?code=…` and answers it.
async fn wait_for_code(listener: TcpListener) -> Result<String, ClientError> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| ClientError::Usage(format!("loopback listener failed: {e}")))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => head.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head);
        let target = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("GET "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("");
        let code = reqwest::Url::parse(&format!("http://127.0.0.1{target}"))
            .ok()
            .filter(|u| u.path() == "/callback")
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
            });
        let (status, body) = match &code {
            Some(_) => (
                "200 OK",
                "Logged in to agenthub. You can close this window.",
            ),
            None => ("404 Not Found", "Not an agenthub login callback."),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\ncache-control: no-store\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if let Some(code) = code {
            return Ok(code);
        }
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

#[derive(Debug, Deserialize)]
struct Providers {
    providers: Vec<ProviderEntry>,
}

#[derive(Debug, Deserialize)]
struct ProviderEntry {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Token {
    token: String,
    expires_at: String,
    subject: String,
}

async fn login(args: LoginArgs) -> Result<(), ClientError> {
    let client = Client::new(&args.url, None, args.ca_cert.as_ref())?;
    let provider = match args.provider {
        Some(provider) => provider,
        None => {
            let list: Providers = client
                .call_path(Method::GET, "/auth/providers", None::<&()>)
                .await?;
            match list.providers.as_slice() {
                [] => {
                    return Err(ClientError::Usage(
                        "the hub has no login providers (auth.oidc_providers)".into(),
                    ));
                }
                [one] => one.name.clone(),
                many => {
                    let names: Vec<&str> = many.iter().map(|p| p.name.as_str()).collect();
                    return Err(ClientError::Usage(format!(
                        "the hub has several login providers; choose one with --provider: {}",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| ClientError::Usage(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| ClientError::Usage(e.to_string()))?
        .port();
    let verifier = keys::random_token(32);
    let url = format!(
        "{}/auth/oidc/{provider}/login?cli_port={port}&cli_challenge={}",
        client.base(),
        keys::pkce_challenge(&verifier)
    );
    eprintln!("Open this URL in a browser to log in:\n\n    {url}\n");
    if !args.no_browser {
        open_browser(&url);
    }
    let code = tokio::time::timeout(args.timeout, wait_for_code(listener))
        .await
        .map_err(|_| {
            ClientError::Usage(format!(
                "the login was not completed within {}",
                humantime::format_duration(args.timeout)
            ))
        })??;
    let token: Token = client
        .call_path(
            Method::POST,
            "/auth/cli/token",
            Some(&json!({"code": code, "code_verifier": verifier})),
        )
        .await?;
    let mut credentials = read_credentials();
    credentials.hubs.insert(
        hub_key(client.base()),
        StoredSession {
            token: token.token,
            subject: token.subject.clone(),
            expires_at: token.expires_at.clone(),
        },
    );
    let path = write_credentials(&credentials)?;
    println!(
        "Logged in to {} as {} until {} (session stored in {}).",
        client.base(),
        token.subject,
        token.expires_at,
        path.display()
    );
    Ok(())
}

async fn logout(args: LogoutArgs) -> Result<(), ClientError> {
    let mut credentials = read_credentials();
    let key = hub_key(&args.url);
    let Some(session) = credentials.hubs.remove(&key) else {
        println!("Not logged in to {key}.");
        return Ok(());
    };
    let client = Client::new(&args.url, Some(session.token), args.ca_cert.as_ref())?;
    let ended = client
        .send_path(Method::POST, "/auth/logout", None::<&()>)
        .await;
    write_credentials(&credentials)?;
    match ended {
        Ok(_) => println!("Logged out of {key}."),
        Err(e) => println!("Forgot the session for {key} (the hub could not be told: {e})."),
    }
    Ok(())
}

pub fn run_login(args: LoginArgs) -> ExitCode {
    super::admin::block_on(login(args))
}

pub fn run_logout(args: LogoutArgs) -> ExitCode {
    super::admin::block_on(logout(args))
}
