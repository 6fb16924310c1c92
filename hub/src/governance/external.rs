//! The external guardrail: a service the hub asks about each text after its own rules.
//!
//! Request (JSON POST): `{"stage", "text", "plane", "subject", "model"?, "tool"?, "agent"?,
//! "metadata"}`. Answer: `{"action": "allow"}`, `{"action": "deny", "reason": "…"}` or
//! `{"action": "replace", "text": "…"}`. A timeout, a non-2xx status or an unreadable answer
//! follows `on_failure` and is counted in `agenthub_guardrail_webhook_failures_total`.

use agenthub_policy::guardrails::Stage;
use agenthub_policy::when::RequestFacts;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::Deserialize;

use crate::config::{FailMode, GuardrailWebhookConfig};

/// The external service's decision about one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalVerdict {
    Allow,
    Deny { reason: String },
    Replace { text: String },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Answer {
    Allow,
    Deny {
        #[serde(default)]
        reason: Option<String>,
    },
    Replace {
        text: String,
    },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `timeout`, `unreachable`, `status` or `invalid_answer`.
    pub reason: &'static str,
}

/// The client of one external guardrail service.
pub struct ExternalGuardrail {
    client: reqwest::Client,
    config: GuardrailWebhookConfig,
    failures: Family<FailureLabels, Counter>,
}

impl ExternalGuardrail {
    pub fn new(
        config: GuardrailWebhookConfig,
        failures: Family<FailureLabels, Counter>,
    ) -> anyhow::Result<Self> {
        let client = crate::outbound::client_builder()
            .timeout(config.timeout)
            .build()?;
        Ok(Self {
            client,
            config,
            failures,
        })
    }

    /// Whether this service wants to see texts of `stage` for this request.
    pub fn applies(&self, stage: Stage, facts: &RequestFacts<'_>) -> bool {
        self.config.stage.includes(stage) && self.config.when.matches(facts)
    }

    pub async fn inspect(
        &self,
        text: &str,
        stage: Stage,
        facts: &RequestFacts<'_>,
    ) -> ExternalVerdict {
        let body = serde_json::json!({
            "stage": match stage { Stage::Input => "input", Stage::Output => "output" },
            "text": text,
            "plane": facts.plane.as_str(),
            "subject": facts.identity.subject(),
            "model": facts.model,
            "tool": facts.tool,
            "agent": facts.agent,
            "metadata": facts.metadata,
        });
        let failed = |reason: &'static str| {
            self.failures.get_or_create(&FailureLabels { reason }).inc();
            tracing::warn!(reason, fail = ?self.config.on_failure, "external guardrail failed");
            match self.config.on_failure {
                FailMode::Open => ExternalVerdict::Allow,
                FailMode::Closed => ExternalVerdict::Deny {
                    reason: "the content check is unavailable; try again later".into(),
                },
            }
        };
        let response = match self.client.post(&self.config.url).json(&body).send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return failed("timeout"),
            Err(_) => return failed("unreachable"),
        };
        if !response.status().is_success() {
            return failed("status");
        }
        match response.json::<Answer>().await {
            Ok(Answer::Allow) => ExternalVerdict::Allow,
            Ok(Answer::Deny { reason }) => ExternalVerdict::Deny {
                reason: reason.unwrap_or_else(|| "refused by the content policy".into()),
            },
            Ok(Answer::Replace { text }) => ExternalVerdict::Replace { text },
            Err(e) if e.is_timeout() => failed("timeout"),
            Err(_) => failed("invalid_answer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use agenthub_policy::when::Plane;
    use agenthub_policy::{Identity, SubjectKind};
    use axum::Json;
    use axum::routing::post;

    use super::*;

    /// A guardrail service on loopback that answers by the first word of the text.
    async fn service() -> String {
        let app = axum::Router::new().route(
            "/check",
            post(|Json(body): Json<serde_json::Value>| async move {
                let text = body["text"].as_str().unwrap_or_default().to_owned();
                match text.split_whitespace().next() {
                    Some("deny") => (
                        axum::http::StatusCode::OK,
                        r#"{"action":"deny","reason":"nope"}"#.to_owned(),
                    ),
                    Some("replace") => (
                        axum::http::StatusCode::OK,
                        r#"{"action":"replace","text":"[clean]"}"#.to_owned(),
                    ),
                    Some("slow") => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        (
                            axum::http::StatusCode::OK,
                            r#"{"action":"allow"}"#.to_owned(),
                        )
                    }
                    Some("broken") => (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "oops".to_owned(),
                    ),
                    Some("garbage") => (axum::http::StatusCode::OK, "not json".to_owned()),
                    _ => (
                        axum::http::StatusCode::OK,
                        format!(r#"{{"action":"allow","echo":{}}}"#, body["subject"]),
                    ),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/check", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn identity() -> Identity {
        Identity::named(SubjectKind::User, "alice")
    }

    #[tokio::test]
    async fn verdicts_failures_and_fail_modes() {
        let url = service().await;
        let identity = identity();
        let metadata = BTreeMap::new();
        let facts = RequestFacts {
            identity: &identity,
            plane: Plane::Llm,
            model: Some("m"),
            tool: None,
            agent: None,
            metadata: &metadata,
        };
        for mode in [FailMode::Open, FailMode::Closed] {
            let failures = Family::<FailureLabels, Counter>::default();
            let config = GuardrailWebhookConfig {
                url: url.clone(),
                timeout: Duration::from_millis(300),
                on_failure: mode,
                stage: Default::default(),
                when: Default::default(),
            };
            let external = ExternalGuardrail::new(config, failures.clone()).unwrap();
            let check = |text: &'static str| external.inspect(text, Stage::Input, &facts);
            assert_eq!(check("hello").await, ExternalVerdict::Allow);
            assert_eq!(
                check("deny this").await,
                ExternalVerdict::Deny {
                    reason: "nope".into()
                }
            );
            assert_eq!(
                check("replace this").await,
                ExternalVerdict::Replace {
                    text: "[clean]".into()
                }
            );
            let on_failure = match mode {
                FailMode::Open => ExternalVerdict::Allow,
                FailMode::Closed => ExternalVerdict::Deny {
                    reason: "the content check is unavailable; try again later".into(),
                },
            };
            for (text, reason) in [
                ("slow", "timeout"),
                ("broken", "status"),
                ("garbage", "invalid_answer"),
            ] {
                assert_eq!(check(text).await, on_failure, "{text} with {mode:?}");
                assert_eq!(
                    failures.get_or_create(&FailureLabels { reason }).get(),
                    1,
                    "{text} is counted"
                );
            }
        }
        // Nothing listening: unreachable.
        let failures = Family::<FailureLabels, Counter>::default();
        let config = GuardrailWebhookConfig {
            url: "http://127.0.0.1:1/check".into(),
            timeout: Duration::from_secs(2),
            on_failure: FailMode::Open,
            stage: Default::default(),
            when: Default::default(),
        };
        let external = ExternalGuardrail::new(config, failures.clone()).unwrap();
        assert_eq!(
            external.inspect("x", Stage::Output, &facts).await,
            ExternalVerdict::Allow
        );
        assert_eq!(
            failures
                .get_or_create(&FailureLabels {
                    reason: "unreachable"
                })
                .get(),
            1
        );
    }
}
