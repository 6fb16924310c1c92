//! Budget usage and budget alerts: what makes budgets survive restarts and alerts fire once.

use agenthub_policy::limits::{BudgetAlert, BudgetUsage, Measure};
use sqlx::Row;

use super::{Store, classify};
use crate::error::{Error, Result};
use crate::model::now_millis;

fn measure_name(measure: Measure) -> &'static str {
    measure.as_str()
}

fn parse_measure(name: &str) -> Result<Measure> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| Error::internal(format!("corrupt budget measure in the store: {name:?}")))
}

impl Store {
    /// Writes usage rows, each only if it is newer (higher version) than the stored one, so
    /// that a row written twice or out of order changes nothing. One transaction.
    pub async fn save_budget_usage(&self, rows: &[BudgetUsage]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let now = now_millis();
        for row in rows {
            sqlx::query(
                "INSERT INTO budget_usage (rule_id, subject, period, measure, replica, spent, alerts_fired, version, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (rule_id, subject, period, measure, replica) DO UPDATE
                 SET spent = excluded.spent, alerts_fired = excluded.alerts_fired, version = excluded.version,
                     updated_at = excluded.updated_at
                 WHERE budget_usage.version < excluded.version",
            )
            .bind(&row.rule_id)
            .bind(&row.subject)
            .bind(row.period.to_string())
            .bind(measure_name(row.measure))
            .bind(&row.replica)
            .bind(i64::try_from(row.spent).unwrap_or(i64::MAX))
            .bind(serde_json::to_string(&row.alerts_fired).unwrap_or_else(|_| "[]".into()))
            .bind(i64::try_from(row.version).unwrap_or(i64::MAX))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    /// Every stored usage row, of every replica.
    pub async fn load_budget_usage(&self) -> Result<Vec<BudgetUsage>> {
        let rows =
            sqlx::query("SELECT * FROM budget_usage ORDER BY rule_id, subject, period, replica")
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
        rows.iter()
            .map(|row| {
                let period: String = row.try_get("period").map_err(classify)?;
                let measure: String = row.try_get("measure").map_err(classify)?;
                let alerts: String = row.try_get("alerts_fired").map_err(classify)?;
                let spent: i64 = row.try_get("spent").map_err(classify)?;
                let version: i64 = row.try_get("version").map_err(classify)?;
                Ok(BudgetUsage {
                    rule_id: row.try_get("rule_id").map_err(classify)?,
                    subject: row.try_get("subject").map_err(classify)?,
                    period: period.parse().map_err(|_| {
                        Error::internal(format!("corrupt budget period {period:?}"))
                    })?,
                    measure: parse_measure(&measure)?,
                    replica: row.try_get("replica").map_err(classify)?,
                    spent: u64::try_from(spent).unwrap_or(0),
                    alerts_fired: serde_json::from_str(&alerts).map_err(|_| {
                        Error::internal(format!("corrupt budget alerts {alerts:?}"))
                    })?,
                    version: u64::try_from(version).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Records an alert; `true` when this call recorded it first (and so should deliver it).
    pub async fn record_budget_alert(&self, alert: &BudgetAlert) -> Result<bool> {
        let body = serde_json::to_string(alert).map_err(Error::internal)?;
        let done = sqlx::query(
            "INSERT INTO budget_alerts (dedupe_key, body, created_at) VALUES ($1, $2, $3) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(alert.dedupe_key())
        .bind(body)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// Alerts recorded but not yet delivered, oldest first.
    pub async fn undelivered_budget_alerts(&self) -> Result<Vec<(BudgetAlert, i64)>> {
        let rows = sqlx::query("SELECT body, attempts FROM budget_alerts WHERE delivered_at IS NULL ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|row| {
                let body: String = row.try_get("body").map_err(classify)?;
                let alert = serde_json::from_str(&body)
                    .map_err(|e| Error::internal(format!("corrupt budget alert: {e}")))?;
                Ok((alert, row.try_get("attempts").map_err(classify)?))
            })
            .collect()
    }

    /// Marks an alert delivered, or counts a failed attempt.
    pub async fn finish_budget_alert(&self, dedupe_key: &str, delivered: bool) -> Result<()> {
        let query = if delivered {
            sqlx::query("UPDATE budget_alerts SET delivered_at = $1, attempts = attempts + 1 WHERE dedupe_key = $2")
                .bind(now_millis())
                .bind(dedupe_key)
        } else {
            sqlx::query("UPDATE budget_alerts SET attempts = attempts + 1 WHERE dedupe_key = $1")
                .bind(dedupe_key)
        };
        query.execute(&self.pool).await.map_err(classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    fn row(replica: &str, spent: u64, version: u64) -> BudgetUsage {
        BudgetUsage {
            rule_id: "team-monthly".into(),
            subject: "team:ml".into(),
            period: "2026-11".parse().unwrap(),
            measure: Measure::Cost,
            replica: replica.into(),
            spent,
            alerts_fired: vec![75],
            version,
        }
    }

    #[tokio::test]
    async fn usage_rows_only_move_forward_on_every_backend() {
        for t in testing::all().await {
            let store = &t.store;
            store
                .save_budget_usage(&[row("r1", 100, 1), row("r2", 5, 1)])
                .await
                .unwrap();
            store.save_budget_usage(&[row("r1", 300, 3)]).await.unwrap();
            // A replayed or late write of an older version changes nothing.
            store
                .save_budget_usage(&[row("r1", 200, 2), row("r1", 100, 1)])
                .await
                .unwrap();
            let rows = store.load_budget_usage().await.unwrap();
            assert_eq!(rows, vec![row("r1", 300, 3), row("r2", 5, 1)], "{}", t.name);
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn an_alert_is_recorded_once() {
        for t in testing::all().await {
            let store = &t.store;
            let alert = BudgetAlert {
                rule_id: "team-monthly".into(),
                subject: "team:ml".into(),
                period: "2026-11".parse().unwrap(),
                measure: Measure::Cost,
                threshold: 90,
                spent: 450,
                limit: 500,
                audit_mode: false,
                at: agenthub_policy::limits::Timestamp::from_unix_millis(0),
            };
            assert!(
                store.record_budget_alert(&alert).await.unwrap(),
                "{}",
                t.name
            );
            assert!(
                !store.record_budget_alert(&alert).await.unwrap(),
                "{}: a second replica must not deliver it again",
                t.name
            );
            assert_eq!(store.undelivered_budget_alerts().await.unwrap().len(), 1);
            store
                .finish_budget_alert(&alert.dedupe_key(), false)
                .await
                .unwrap();
            assert_eq!(
                store.undelivered_budget_alerts().await.unwrap()[0].1,
                1,
                "{}",
                t.name
            );
            store
                .finish_budget_alert(&alert.dedupe_key(), true)
                .await
                .unwrap();
            assert!(
                store.undelivered_budget_alerts().await.unwrap().is_empty(),
                "{}",
                t.name
            );
            t.cleanup().await;
        }
    }
}
