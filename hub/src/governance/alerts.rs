//! Delivery of budget alerts to a webhook.

use std::time::Duration;

use agenthub_policy::limits::BudgetAlert;

/// Delivers budget alerts as JSON POSTs.
#[derive(Clone)]
pub struct AlertWebhook {
    client: reqwest::Client,
    url: String,
}

impl AlertWebhook {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = crate::outbound::client_builder().timeout(timeout).build()?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }

    /// `true` when the receiver answered 2xx.
    pub(super) async fn send(&self, alert: &BudgetAlert) -> bool {
        let body = serde_json::json!({
            "type": "budget.threshold_crossed",
            "id": alert.dedupe_key(),
            "budget": alert.rule_id,
            "subject": alert.subject,
            "period": alert.period.to_string(),
            "measure": alert.measure.as_str(),
            "threshold_percent": alert.threshold,
            "spent": alert.spent,
            "limit": alert.limit,
            "audit_mode": alert.audit_mode,
            "at": crate::api::timestamp(alert.at.unix_millis()),
        });
        match self
            .client
            .post(&self.url)
            .header("idempotency-key", alert.dedupe_key())
            .json(&body)
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => true,
            Ok(response) => {
                tracing::warn!(status = %response.status(), "budget alert webhook refused the alert; will retry");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "budget alert webhook unreachable; will retry");
                false
            }
        }
    }
}
