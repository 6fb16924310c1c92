//! `agenthub logs`, `agenthub usage` and `agenthub audit`: the request log, analytics for
//! chargeback (table, JSON or CSV) and the audit trail, through the admin API (`/requests`,
//! `/analytics`, `/audit`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::Value;

use super::admin::{ClientArgs, NO_BODY, Outcome, connect, path_segment};
use super::client::{Client, ClientError};
use super::output::Table;

/// Filters shared by `logs` and `usage`.
#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// From this time: RFC 3339, or a duration back from now (15m, 24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time: RFC 3339, or a duration back from now.
    #[arg(long)]
    pub until: Option<String>,
    /// A principal (user:alice, service:bot) or a user's name.
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub team: Option<String>,
    /// An API key id.
    #[arg(long)]
    pub key_id: Option<String>,
    /// llm, mcp or a2a.
    #[arg(long)]
    pub plane: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// server/tool.
    #[arg(long)]
    pub tool: Option<String>,
    #[arg(long)]
    pub agent: Option<String>,
    /// ok, denied or error.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub trace_id: Option<String>,
    /// key=value: requests whose x-agenthub-metadata had it.
    #[arg(long)]
    pub metadata: Option<String>,
}

impl FilterArgs {
    fn query(&self) -> Vec<String> {
        [
            ("since", &self.since),
            ("until", &self.until),
            ("user", &self.user),
            ("team", &self.team),
            ("key", &self.key_id),
            ("plane", &self.plane),
            ("model", &self.model),
            ("provider", &self.provider),
            ("tool", &self.tool),
            ("agent", &self.agent),
            ("status", &self.status),
            ("trace_id", &self.trace_id),
            ("metadata", &self.metadata),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            value
                .as_deref()
                .map(|value| format!("{name}={}", path_segment(value)))
        })
        .collect()
    }
}

fn with_query(path: &str, query: &[String]) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// `agenthub logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many requests, newest first (default 50).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Keep printing requests as they are recorded (oldest first), until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// How often --follow asks for new requests.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

fn number(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn log_row(request: &Value) -> Vec<String> {
    let caller = request.get("caller").cloned().unwrap_or_default();
    let target = match (request.get("model"), request.get("provider")) {
        (Some(Value::String(model)), Some(Value::String(provider))) => {
            format!("{model} ({provider})")
        }
        _ => text(request, "target"),
    };
    vec![
        text(request, "time"),
        text(request, "plane"),
        text(&caller, "principal"),
        text(&caller, "team"),
        target,
        text(request, "status"),
        format!("{:.1}", number(request, "/latency_us") as f64 / 1000.0),
        format!(
            "{}/{}",
            number(request, "/tokens/input"),
            number(request, "/tokens/output")
        ),
        format!("{:.6}", number(request, "/cost_micros") as f64 / 1e6),
        text(request, "id"),
    ]
}

const LOG_HEADERS: [&str; 10] = [
    "TIME", "PLANE", "CALLER", "TEAM", "TARGET", "STATUS", "MS", "TOKENS", "COST", "ID",
];

async fn page(client: &Client, path: &str) -> Result<(Vec<Value>, Option<String>), ClientError> {
    let page: Value = client.call(Method::GET, path, NO_BODY).await?;
    let data = page
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next = page
        .get("next_cursor")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((data, next))
}

pub async fn logs(args: LogsArgs) -> Outcome {
    if args.limit == 0 || args.limit > 10_000 {
        return Err(ClientError::Usage(
            "--limit must be between 1 and 10000".into(),
        ));
    }
    let client = connect(&args.client)?;
    let query = args.filter.query();
    let mut shown: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    while shown.len() < args.limit {
        let mut page_query = query.clone();
        page_query.push(format!("limit={}", (args.limit - shown.len()).min(1000)));
        if let Some(cursor) = &cursor {
            page_query.push(format!("cursor={cursor}"));
        }
        let (data, next) = page(&client, &with_query("/requests", &page_query)).await?;
        shown.extend(data);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // Oldest first, like a log.
    shown.reverse();
    print_requests(&shown, args.client.json, true);
    if !args.follow {
        return Ok(());
    }
    // Records are dated at arrival but stored at the end (a long stream, the writer's batching,
    // a store that was away): each poll looks back a while and skips what was shown.
    let mut seen: std::collections::HashMap<String, std::time::SystemTime> = shown
        .iter()
        .filter_map(|r| Some((text(r, "id"), time_of(r)?)))
        .collect();
    loop {
        tokio::time::sleep(args.interval).await;
        let since = std::time::SystemTime::now() - FOLLOW_LOOKBACK;
        seen.retain(|_, at| *at >= since);
        let mut follow_query = query.clone();
        follow_query.retain(|q| !q.starts_with("since="));
        follow_query.push(format!(
            "since={}",
            path_segment(&humantime::format_rfc3339_millis(since).to_string())
        ));
        follow_query.push("limit=1000".to_owned());
        let mut fresh = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..FOLLOW_PAGES {
            let mut page_query = follow_query.clone();
            if let Some(cursor) = &cursor {
                page_query.push(format!("cursor={cursor}"));
            }
            let (data, next) = page(&client, &with_query("/requests", &page_query)).await?;
            fresh.extend(
                data.into_iter()
                    .filter(|r| !seen.contains_key(&text(r, "id"))),
            );
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        fresh.reverse();
        for record in &fresh {
            seen.insert(text(record, "id"), time_of(record).unwrap_or(since));
        }
        print_requests(&fresh, args.client.json, false);
    }
}

/// How far back each `--follow` poll looks for records stored late.
const FOLLOW_LOOKBACK: Duration = Duration::from_secs(300);
/// The most pages of 1,000 one poll reads.
const FOLLOW_PAGES: usize = 10;

fn time_of(record: &Value) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(record.get("time")?.as_str()?).ok()
}

fn print_requests(requests: &[Value], json: bool, headers: bool) {
    if json {
        let mut out = std::io::stdout().lock();
        for request in requests {
            let _ = writeln!(out, "{request}");
        }
        return;
    }
    let mut table = Table::new(&LOG_HEADERS);
    for request in requests {
        table.row(log_row(request));
    }
    let rendered = table.render();
    let body = if headers {
        rendered.as_str()
    } else {
        rendered.split_once('\n').map_or("", |(_, rows)| rows)
    };
    print!("{body}");
    if !body.is_empty() && !body.ends_with('\n') {
        println!();
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum UsageFormat {
    Table,
    Json,
    Csv,
}

/// `agenthub usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Group by team, user, key, model, provider, tool, agent, plane, status or
    /// metadata.<key>.
    #[arg(long, default_value = "team")]
    pub by: String,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Show a time series in buckets of this size (1h, 1d) instead of totals.
    #[arg(long)]
    pub bucket: Option<String>,
    /// table (default), json or csv (for chargeback).
    #[arg(long, value_enum, default_value_t = UsageFormat::Table)]
    pub format: UsageFormat,
    /// CSV: print to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

const USAGE_COLUMNS: [&str; 11] = [
    "requests",
    "errors",
    "denied",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "group",
];

fn figure(row: &Value, key: &str) -> String {
    match row.get(key) {
        Some(Value::Number(n)) if key == "cost_usd" => format!("{:.6}", n.as_f64().unwrap_or(0.0)),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    }
}

/// CSV with RFC 4180 quoting.
fn csv(rows: &[Value], series: bool) -> String {
    let mut columns: Vec<&str> = Vec::new();
    if series {
        columns.push("start");
    }
    columns.push("group");
    columns.extend(USAGE_COLUMNS.iter().filter(|c| **c != "group"));
    let quote = |cell: String| {
        if cell.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", cell.replace('"', "\"\""))
        } else {
            cell
        }
    };
    let mut out = columns.join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = columns.iter().map(|c| quote(figure(row, c))).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

pub async fn usage(args: UsageArgs) -> Outcome {
    let client = connect(&args.client)?;
    let mut query = args.filter.query();
    if args.filter.since.is_none() {
        query.push("since=7d".to_owned());
    }
    query.push(format!("group_by={}", path_segment(&args.by)));
    if let Some(bucket) = &args.bucket {
        query.push(format!("bucket={}", path_segment(bucket)));
    }
    let answer: Value = client
        .call(Method::GET, &with_query("/analytics", &query), NO_BODY)
        .await?;
    let series = args.bucket.is_some();
    let rows = answer
        .get(if series { "series" } else { "totals" })
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let format = if args.client.json {
        UsageFormat::Json
    } else {
        args.format
    };
    let rendered = match format {
        UsageFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        ),
        UsageFormat::Csv => csv(&rows, series),
        UsageFormat::Table => {
            let by = args.by.to_uppercase();
            let mut headers: Vec<&str> = Vec::new();
            if series {
                headers.push("START");
            }
            headers.extend([
                by.as_str(),
                "REQUESTS",
                "ERRORS",
                "DENIED",
                "P50 MS",
                "P99 MS",
                "TOKENS IN",
                "TOKENS OUT",
                "COST USD",
            ]);
            let mut table = Table::new(&headers);
            for row in &rows {
                let mut cells = Vec::new();
                if series {
                    cells.push(figure(row, "start"));
                }
                cells.push(
                    row.get("group")
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                        .to_owned(),
                );
                for key in [
                    "requests",
                    "errors",
                    "denied",
                    "p50_ms",
                    "p99_ms",
                    "input_tokens",
                    "output_tokens",
                    "cost_usd",
                ] {
                    cells.push(figure(row, key));
                }
                table.row(cells);
            }
            table.render()
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered)
            .map_err(|e| ClientError::Usage(format!("cannot write {}: {e}", path.display()))),
        None => {
            print!("{rendered}");
            Ok(())
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain; exits 1 and names the first broken link if it was
    /// tampered with.
    Verify {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Write the audit trail as JSON Lines, in chain order, with each entry's hashes.
    Export {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Only entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn audit(cmd: AuditCommand) -> Outcome {
    match cmd {
        AuditCommand::Verify { client } => {
            let json = client.json;
            let report: Value = connect(&client)?
                .call(Method::GET, "/audit/verify", NO_BODY)
                .await?;
            if json {
                println!("{report}");
            }
            let checked = number(&report, "/checked");
            if report.get("intact").and_then(Value::as_bool) == Some(true) {
                if !json {
                    println!(
                        "audit trail intact: {checked} entries verified, head at {} ({})",
                        number(&report, "/head_seq"),
                        text(&report, "head_hash")
                    );
                }
                Ok(())
            } else {
                Err(ClientError::Failed(format!(
                    "audit trail broken at entry {}: {} ({checked} entries verified before it)",
                    report
                        .get("broken_seq")
                        .map_or("?".to_owned(), Value::to_string),
                    text(&report, "reason"),
                )))
            }
        }
        AuditCommand::Export {
            output,
            after,
            client,
        } => {
            let api = connect(&client)?;
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| {
                        ClientError::Usage(format!("cannot write {}: {e}", path.display()))
                    })?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut after = after;
            let mut written = 0u64;
            loop {
                let page: Value = api
                    .call(
                        Method::GET,
                        &format!("/audit?after={after}&limit=5000"),
                        NO_BODY,
                    )
                    .await?;
                for entry in page
                    .get("data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    writeln!(out, "{entry}")
                        .map_err(|e| ClientError::Usage(format!("cannot write: {e}")))?;
                    written += 1;
                }
                match page.get("next_after").and_then(Value::as_i64) {
                    Some(next) => after = next,
                    None => break,
                }
            }
            out.flush()
                .map_err(|e| ClientError::Usage(format!("cannot write: {e}")))?;
            if output.is_some() {
                eprintln!("{written} audit entries written");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        let rows = vec![json!({"group": "ml, research", "requests": 3, "cost_usd": 0.5})];
        let text = csv(&rows, false);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "group,requests,errors,denied,p50_ms,p90_ms,p99_ms,input_tokens,output_tokens,cached_tokens,cost_usd"
        );
        assert_eq!(lines.next().unwrap(), "\"ml, research\",3,,,,,,,,,0.500000");
    }

    #[test]
    fn filters_become_a_query() {
        let filter = FilterArgs {
            team: Some("ml".into()),
            metadata: Some("project=x y".into()),
            ..FilterArgs::default()
        };
        assert_eq!(
            with_query("/requests", &filter.query()),
            "/requests?team=ml&metadata=project%3Dx%20y"
        );
    }
}
