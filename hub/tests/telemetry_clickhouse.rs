//! ClickHouse as the second sink of request records, against a real `clickhouse-server` (the
//! one `.ci/run` installs from Debian's packages and starts), when
//! `AGENTHUB_TEST_CLICKHOUSE_URL` names it: records of requests through the hub arrive there,
//! counted once, with their tokens.

mod support;

use std::time::Duration;

use agenthub::app;
use agenthub_test_support::fake_llm::FakeOpenAi;
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::json;
use tower::ServiceExt;

const CLICKHOUSE_ENV: &str = "AGENTHUB_TEST_CLICKHOUSE_URL";
const WITHIN: Duration = Duration::from_secs(30);

async fn query(http: &reqwest::Client, url: &str, sql: &str) -> String {
    let response = http.post(url).body(sql.to_owned()).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{sql}: {status} {text}");
    text.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_records_reach_clickhouse_once() {
    let Ok(url) = std::env::var(CLICKHOUSE_ENV) else {
        eprintln!("notice: {CLICKHOUSE_ENV} is not set; skipping the ClickHouse sink test");
        return;
    };
    // The sink's warnings say why ClickHouse refused something.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("agenthub=warn")
        .with_test_writer()
        .try_init();
    let openai = FakeOpenAi::start();
    let table = format!("requests_{}", uuid::Uuid::new_v4().simple());
    let yaml = format!(
        r#"
providers:
  - {{name: fake-openai, kind: openai, base_url: "{openai}", api_key: "{key}"}}
models:
  - {{name: gpt, provider: fake-openai, price: {{input: 2.5, output: 10}}}}
telemetry:
  clickhouse: {{url: "{url}", database: agenthub_test, table: {table}}}
"#,
        openai = openai.base_url(),
        key = FakeOpenAi::API_KEY,
    );
    let hub = support::lab::InProcessHub::start(&yaml).await;
    let router = app::router(hub.state.clone());
    let mut input_tokens = 0u64;
    for n in 0..12 {
        let request = Request::post("/v1/chat/completions")
            .header(header::AUTHORIZATION, format!("Bearer {}", hub.admin))
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-agenthub-metadata", r#"{"project":"apollo"}"#)
            .body(Body::from(
                json!({"model": "gpt", "messages": [{"role": "user", "content": format!("count to {n}")}]})
                    .to_string(),
            ))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        input_tokens += response.headers()["x-agenthub-tokens-input"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap();
    }

    let http = reqwest::Client::new();
    let sql = format!(
        "SELECT count(), sum(input_tokens), countIf(metadata LIKE '%apollo%'), any(plane) FROM agenthub_test.{table} FINAL FORMAT TSV"
    );
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let exists = query(
            &http,
            &url,
            &format!("EXISTS TABLE agenthub_test.{table} FORMAT TSV"),
        )
        .await;
        if exists == "1" {
            let found = query(&http, &url, &sql).await;
            if found == format!("12\t{input_tokens}\t12\tllm") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{found}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no table; the hub's sink: {}",
            hub.state
                .metrics
                .render()
                .lines()
                .filter(|l| l.contains("clickhouse") || l.contains("telemetry_records"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    query(&http, &url, &format!("DROP TABLE agenthub_test.{table}")).await;
    hub.store.close().await;
}
