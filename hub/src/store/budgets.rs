//! Budget usage and budget alerts: what makes budgets survive restarts and alerts fire once.
//!
//! Usage rows are keyed by the ISO name of their calendar period; only the current periods'
//! rows are ever read, and rows older than the previous period are deleted. Alerts are claimed
//! before every delivery attempt, so that of all the replicas sharing the store only one posts
//! an alert at a time, and the retry backoff lives here rather than in any process.

use agenthub_policy::limits::{BudgetAlert, BudgetUsage, Measure, Period, PeriodKey, Timestamp};
use sqlx::Row;

use super::{Store, classify};
use crate::error::{Error, Result};
use crate::model::{Millis, now_millis};

const PERIODS: [Period; 3] = [Period::Day, Period::Week, Period::Month];

fn measure_name(measure: Measure) -> &'static str {
    measure.as_str()
}

fn parse_measure(name: &str) -> Result<Measure> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| Error::internal(format!("corrupt budget measure in the store: {name:?}")))
}

/// The names of the day, week and month containing `now`: the only periods whose usage counts.
fn current_periods(now: Timestamp) -> [String; 3] {
    PERIODS.map(|period| period.containing(now).to_string())
}

/// The period of the same kind just before `key`.
fn previous(key: PeriodKey) -> PeriodKey {
    key.period()
        .containing(Timestamp::from_unix_millis(key.start().unix_millis() - 1))
}

/// The current and the previous day, week and month: the usage rows worth keeping. The
/// previous periods stay so that a replica whose clock lags a little still finds its rows.
fn kept_periods(now: Timestamp) -> [String; 6] {
    let [day, week, month] = PERIODS.map(|period| period.containing(now));
    [
        day,
        week,
        month,
        previous(day),
        previous(week),
        previous(month),
    ]
    .map(|k| k.to_string())
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

    /// The stored usage rows, of every replica, of the day, week and month containing `now`:
    /// rows of past periods count for nothing and are not read.
    pub async fn load_budget_usage(&self, now: Timestamp) -> Result<Vec<BudgetUsage>> {
        let [day, week, month] = current_periods(now);
        let rows = sqlx::query(
            "SELECT * FROM budget_usage WHERE period IN ($1, $2, $3)
             ORDER BY rule_id, subject, period, replica",
        )
        .bind(day)
        .bind(week)
        .bind(month)
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

    /// Deletes the usage rows of periods before the previous day, week and month at `now`;
    /// returns how many.
    pub async fn prune_budget_usage(&self, now: Timestamp) -> Result<u64> {
        let mut query =
            sqlx::query("DELETE FROM budget_usage WHERE period NOT IN ($1, $2, $3, $4, $5, $6)");
        for period in kept_periods(now) {
            query = query.bind(period);
        }
        let done = query.execute(&self.pool).await.map_err(classify)?;
        Ok(done.rows_affected())
    }

    /// Records an alert; `true` when this call recorded it first (and so should deliver it).
    /// With `claim_until` (epoch milliseconds) the recording replica claims the first attempt,
    /// as [`claim_budget_alert`](Self::claim_budget_alert) would; without, any replica may
    /// deliver it at once.
    pub async fn record_budget_alert(
        &self,
        alert: &BudgetAlert,
        claim_until: Option<Millis>,
    ) -> Result<bool> {
        let body = serde_json::to_string(alert).map_err(Error::internal)?;
        let done = sqlx::query(
            "INSERT INTO budget_alerts (dedupe_key, body, created_at, attempts, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(alert.dedupe_key())
        .bind(body)
        .bind(now_millis())
        .bind(i64::from(claim_until.is_some()))
        .bind(claim_until)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// Up to `limit` alerts not yet delivered whose next attempt is due at `now`, oldest
    /// first, each with the number of attempts claimed so far. Claim one before sending it.
    pub async fn due_budget_alerts(
        &self,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<(BudgetAlert, i64)>> {
        let rows = sqlx::query(
            "SELECT body, attempts FROM budget_alerts
             WHERE delivered_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
             ORDER BY created_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
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

    /// Claims the next delivery attempt of an alert until `until`: `true` for exactly one
    /// caller among those that saw it due at `now` with `attempts` attempts, across replicas.
    /// The claim is also the backoff: if the attempt fails, the alert is due again at `until`.
    pub async fn claim_budget_alert(
        &self,
        dedupe_key: &str,
        attempts: i64,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE budget_alerts SET next_attempt_at = $1, attempts = attempts + 1
             WHERE dedupe_key = $2 AND attempts = $3 AND delivered_at IS NULL
               AND (next_attempt_at IS NULL OR next_attempt_at <= $4)",
        )
        .bind(until)
        .bind(dedupe_key)
        .bind(attempts)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks an alert delivered.
    pub async fn budget_alert_delivered(&self, dedupe_key: &str) -> Result<()> {
        sqlx::query(
            "UPDATE budget_alerts SET delivered_at = $1 WHERE dedupe_key = $2 AND delivered_at IS NULL",
        )
        .bind(now_millis())
        .bind(dedupe_key)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Deletes the alerts raised before `before` (epoch milliseconds), delivered or not;
    /// returns how many were never delivered.
    pub async fn prune_budget_alerts(&self, before: Millis) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let abandoned: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM budget_alerts WHERE created_at < $1 AND delivered_at IS NULL",
        )
        .bind(before)
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?
        .try_get("n")
        .map_err(classify)?;
        sqlx::query("DELETE FROM budget_alerts WHERE created_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(u64::try_from(abandoned).unwrap_or(0))
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

    /// Noon UTC on 2026-11-26, a Thursday of ISO week 48.
    fn nov_26() -> Timestamp {
        let day: PeriodKey = "2026-11-26".parse().unwrap();
        Timestamp::from_unix_millis(day.start().unix_millis() + 12 * 3_600_000)
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
            let rows = store.load_budget_usage(nov_26()).await.unwrap();
            assert_eq!(rows, vec![row("r1", 300, 3), row("r2", 5, 1)], "{}", t.name);
            t.cleanup().await;
        }
    }

    /// Only the current day, week and month are read; rows older than the previous period of
    /// their kind are deleted.
    #[tokio::test]
    async fn only_current_periods_are_read_and_past_ones_pruned() {
        for t in testing::all().await {
            let store = &t.store;
            let at = |period: &str| BudgetUsage {
                period: period.parse().unwrap(),
                ..row("r1", 1, 1)
            };
            let current = ["2026-11-26", "2026-W48", "2026-11"];
            let previous = ["2026-11-25", "2026-W47", "2026-10"];
            let past = ["2026-11-24", "2026-W46", "2026-09", "2025-11-26"];
            let all: Vec<BudgetUsage> = current
                .iter()
                .chain(&previous)
                .chain(&past)
                .map(|p| at(p))
                .collect();
            store.save_budget_usage(&all).await.unwrap();

            let mut read: Vec<String> = store
                .load_budget_usage(nov_26())
                .await
                .unwrap()
                .iter()
                .map(|r| r.period.to_string())
                .collect();
            read.sort();
            let mut expected = current.map(String::from).to_vec();
            expected.sort();
            assert_eq!(read, expected, "{}", t.name);

            assert_eq!(
                store.prune_budget_usage(nov_26()).await.unwrap(),
                past.len() as u64,
                "{}",
                t.name
            );
            let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM budget_usage")
                .fetch_one(&store.pool)
                .await
                .unwrap()
                .try_get("n")
                .unwrap();
            assert_eq!(rows, 6, "{}: current and previous periods are kept", t.name);
            t.cleanup().await;
        }
    }

    fn alert_at(threshold: u8) -> BudgetAlert {
        BudgetAlert {
            rule_id: "team-monthly".into(),
            subject: "team:ml".into(),
            period: "2026-11".parse().unwrap(),
            measure: Measure::Cost,
            threshold,
            spent: 450,
            limit: 500,
            audit_mode: false,
            at: Timestamp::from_unix_millis(0),
        }
    }

    #[tokio::test]
    async fn an_alert_is_recorded_once_and_each_attempt_claimed_once() {
        for t in testing::all().await {
            let store = &t.store;
            let alert = alert_at(90);
            let key = alert.dedupe_key();
            let now = now_millis();
            let claimed = Some(now + 1000);
            assert!(
                store.record_budget_alert(&alert, claimed).await.unwrap(),
                "{}",
                t.name
            );
            assert!(
                !store.record_budget_alert(&alert, claimed).await.unwrap(),
                "{}: a second replica must not deliver it again",
                t.name
            );
            assert!(
                store.due_budget_alerts(now, 10).await.unwrap().is_empty(),
                "{}: the first attempt is claimed by the replica that recorded it",
                t.name
            );
            // The claim expired (the attempt failed): due again, and claimed by one replica.
            let later = now + 1000;
            let due = store.due_budget_alerts(later, 10).await.unwrap();
            assert_eq!(due.len(), 1, "{}", t.name);
            assert_eq!(due[0].1, 1, "{}", t.name);
            let first = store.claim_budget_alert(&key, 1, later, later + 2000);
            let second = store.claim_budget_alert(&key, 1, later, later + 2000);
            let (first, second) = tokio::join!(first, second);
            assert!(
                first.unwrap() ^ second.unwrap(),
                "{}: exactly one replica claims an attempt",
                t.name
            );
            assert!(
                !store
                    .claim_budget_alert(&key, 2, later, later + 2000)
                    .await
                    .unwrap(),
                "{}: not due before the backoff ends",
                t.name
            );
            assert_eq!(
                store.due_budget_alerts(later + 2000, 10).await.unwrap()[0].1,
                2,
                "{}",
                t.name
            );
            store.budget_alert_delivered(&key).await.unwrap();
            assert!(
                store
                    .due_budget_alerts(later + 10_000, 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "{}",
                t.name
            );
            assert!(
                !store
                    .claim_budget_alert(&key, 2, later + 10_000, later + 20_000)
                    .await
                    .unwrap(),
                "{}: a delivered alert is never claimed again",
                t.name
            );

            // Recorded unclaimed (e.g. while stopping): due at once.
            assert!(
                store
                    .record_budget_alert(&alert_at(50), None)
                    .await
                    .unwrap()
            );
            let due = store.due_budget_alerts(now, 10).await.unwrap();
            assert_eq!(due.len(), 1, "{}", t.name);
            assert_eq!((due[0].0.threshold, due[0].1), (50, 0), "{}", t.name);

            assert_eq!(
                store.prune_budget_alerts(now_millis() + 1).await.unwrap(),
                1,
                "{}: one of the pruned alerts was never delivered",
                t.name
            );
            assert!(
                store.due_budget_alerts(now, 10).await.unwrap().is_empty(),
                "{}",
                t.name
            );
            t.cleanup().await;
        }
    }
}
