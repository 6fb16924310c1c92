//! Budget counters: spend per subject and calendar period, the rows that persist them, and
//! threshold alerts.
//!
//! # Persistence and idempotency
//!
//! Usage is persisted as [`BudgetUsage`] rows. A row is keyed by
//! `(rule_id, subject, period, measure, replica)` and carries **absolute totals** — what that
//! replica has spent on that subject in that period, and the alerts it fired — with a `version`
//! that grows by one with every change. Nothing in a row is a delta, so:
//!
//! - **Replaying a row is harmless.** The store applies a row only if its version is higher than
//!   the stored one (`INSERT … ON CONFLICT (key) DO UPDATE SET … WHERE stored.version <
//!   excluded.version`); writing the same row twice, or an old row after a newer one (retries,
//!   reordering in an async queue), changes nothing. A queue may also coalesce: only the newest
//!   row per key needs writing.
//! - **A restart neither resets nor double-counts.** [`Limits::restore`](super::Limits::restore)
//!   loads the rows of the current periods: a row of this replica becomes its own total (later
//!   charges continue from its version), a row of another replica is added as that replica's
//!   share. What a crash can lose is only the rows not yet written — never counted twice.
//! - **Replicas never overwrite each other.** Each writes only rows with its own `replica`, and
//!   a subject's spend is the sum over replicas. The same rows, published to the other replicas
//!   (over NATS, or read back from the store), are merged with the same `restore`: a newer
//!   version replaces a replica's share, an older or equal one is ignored. A replica id must be
//!   unique among running replicas (a fresh id per process start is also correct; the old id's
//!   rows are then counted as another replica's share).
//!
//! The `period` is part of the key, so a new period starts new rows and old ones are history;
//! `measure` is part of it so that a budget changed from dollars to tokens under the same id
//! never mixes the two.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::config::Measure;
use super::time::{Period, PeriodKey, Timestamp};

/// One replica's usage of one budget, for one subject and one calendar period: the unit of
/// persistence (see the module documentation for how rows are written and merged).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetUsage {
    /// The budget's id.
    pub rule_id: String,
    /// Whose usage: `team:ml`, `user:alice`, `*` for a budget shared by everything it matches.
    pub subject: String,
    /// The calendar period: `2026-11-26` (day), `2026-W48` (ISO week) or `2026-11` (month).
    pub period: PeriodKey,
    /// `cost` (amounts in micro-dollars) or `tokens`.
    pub measure: Measure,
    /// The replica that counted this usage.
    pub replica: String,
    /// Absolute total spent by `replica` in `period`: micro-dollars or tokens.
    pub spent: u64,
    /// The alert thresholds (percentages) `replica` has fired in `period`, ascending.
    pub alerts_fired: Vec<u8>,
    /// Grows by one with every change of this row; a row replaces a stored one only if higher.
    pub version: u64,
}

impl BudgetUsage {
    /// The row's identity in the store: everything but the totals and the version.
    pub fn key(&self) -> (&str, &str, PeriodKey, Measure, &str) {
        (
            &self.rule_id,
            &self.subject,
            self.period,
            self.measure,
            &self.replica,
        )
    }
}

/// A budget crossed one of its alert thresholds. Produced once per budget, subject, period and
/// threshold by the replica whose charge crossed it (restored rows carry the alerts already
/// fired, so a restart does not repeat them). Two replicas charging at the same instant could
/// both cross a threshold before hearing of each other: a deliverer that must be exact records
/// [`dedupe_key`](Self::dedupe_key) with a unique constraint and sends only when the insert
/// succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetAlert {
    pub rule_id: String,
    pub subject: String,
    pub period: PeriodKey,
    pub measure: Measure,
    /// The percentage crossed.
    pub threshold: u8,
    /// Spent in the period after the charge that crossed it (all replicas known).
    pub spent: u64,
    pub limit: u64,
    /// The budget only counts (never blocks).
    pub audit_mode: bool,
    /// When the crossing charge was made.
    pub at: Timestamp,
}

impl BudgetAlert {
    /// `rule/subject/period/threshold`: the same for every replica and every restart.
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.rule_id, self.subject, self.period, self.threshold
        )
    }
}

/// Alert thresholds as a bit set: bit `p` for `p`%.
pub(crate) type Fired = u128;

fn to_bits(percents: &[u8]) -> Fired {
    percents
        .iter()
        .filter(|p| (1..=100).contains(*p))
        .fold(0, |bits, p| bits | 1 << p)
}

pub(crate) fn to_percents(bits: Fired) -> Vec<u8> {
    (1..=100).filter(|p| bits & 1 << p != 0).collect()
}

#[derive(Debug, Clone)]
struct Peer {
    replica: Box<str>,
    spent: u64,
    fired: Fired,
    version: u64,
}

/// One subject's usage of one budget in the current period.
#[derive(Debug, Clone)]
pub(crate) struct BudgetCounter {
    subject: Box<str>,
    period: Option<PeriodKey>,
    /// The period's start and end in Unix milliseconds.
    bounds: (i64, i64),
    /// Spent by this replica.
    own: u64,
    own_fired: Fired,
    /// Version of this replica's row; 0 until the first change.
    version: u64,
    /// The other replicas' rows for this period.
    peers: Vec<Peer>,
    /// Sum of the peers' `spent`.
    others: u64,
    /// Every alert fired by anyone in this period.
    fired: Fired,
}

impl BudgetCounter {
    pub fn new(subject: String) -> Self {
        Self {
            subject: subject.into(),
            period: None,
            bounds: (0, 0),
            own: 0,
            own_fired: 0,
            version: 0,
            peers: Vec::new(),
            others: 0,
            fired: 0,
        }
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Moves to `current` if it is later than the period counted so far (a new period starts
    /// from zero). An earlier `current` (a clock stepping back) keeps the counter as it is.
    pub fn roll(&mut self, current: PeriodKey) {
        if self.period.is_none_or(|period| period < current) {
            *self = Self {
                period: Some(current),
                bounds: (current.start().unix_millis(), current.end().unix_millis()),
                ..Self::new(std::mem::take(&mut self.subject).into())
            };
        }
    }

    /// [`roll`](Self::roll)s to the period of kind `period` containing `now`, and returns the
    /// period counted (the later one if `now` stepped back into an earlier period). While `now`
    /// stays in the period counted, no calendar arithmetic is done.
    pub fn roll_to(&mut self, now: Timestamp, period: Period) -> PeriodKey {
        let ms = now.unix_millis();
        match self.period {
            Some(key) if self.bounds.0 <= ms && ms < self.bounds.1 => key,
            _ => {
                let current = period.containing(now);
                self.roll(current);
                self.period.unwrap_or(current)
            }
        }
    }

    /// Spent in the period by all replicas known.
    pub fn spent(&self) -> u64 {
        self.own.saturating_add(self.others)
    }

    pub fn fired(&self) -> Fired {
        self.fired
    }

    /// Adds `amount` to this replica's spend and fires the thresholds (ascending percentages)
    /// now reached that nobody has fired yet. Returns whether the row changed, and the newly
    /// fired thresholds.
    pub fn charge(
        &mut self,
        amount: u64,
        limit: u64,
        thresholds: &[u8],
    ) -> (bool, SmallVec<[u8; 4]>) {
        self.own = self.own.saturating_add(amount);
        let spent = u128::from(self.spent());
        let mut newly = SmallVec::new();
        for &threshold in thresholds {
            let bit = 1 << threshold;
            if self.fired & bit == 0 && spent * 100 >= u128::from(threshold) * u128::from(limit) {
                self.fired |= bit;
                self.own_fired |= bit;
                newly.push(threshold);
            }
        }
        let changed = amount > 0 || !newly.is_empty();
        if changed {
            self.version += 1;
        }
        (changed, newly)
    }

    /// Takes in a stored or published row of the counter's current period: this replica's own
    /// row if `row.replica == replica`, another's otherwise. A row not newer than what is known
    /// is ignored. Returns whether anything changed.
    pub fn apply(&mut self, row: &BudgetUsage, replica: &str) -> bool {
        if self.period != Some(row.period) {
            return false;
        }
        let fired = to_bits(&row.alerts_fired);
        if row.replica == replica {
            if row.version <= self.version {
                return false;
            }
            self.own = row.spent;
            self.own_fired = fired;
            self.version = row.version;
        } else {
            match self.peers.iter_mut().find(|p| *p.replica == *row.replica) {
                Some(peer) if row.version <= peer.version => return false,
                Some(peer) => {
                    peer.spent = row.spent;
                    peer.fired = fired;
                    peer.version = row.version;
                }
                None => self.peers.push(Peer {
                    replica: row.replica.as_str().into(),
                    spent: row.spent,
                    fired,
                    version: row.version,
                }),
            }
            self.others = self
                .peers
                .iter()
                .fold(0u64, |sum, p| sum.saturating_add(p.spent));
        }
        self.fired = self
            .peers
            .iter()
            .fold(self.own_fired, |bits, p| bits | p.fired);
        true
    }

    /// This replica's row, if it has changed anything in the period.
    pub fn own_row(&self, rule_id: &str, measure: Measure, replica: &str) -> Option<BudgetUsage> {
        let period = self.period?;
        (self.version > 0).then(|| BudgetUsage {
            rule_id: rule_id.to_owned(),
            subject: self.subject.to_string(),
            period,
            measure,
            replica: replica.to_owned(),
            spent: self.own,
            alerts_fired: to_percents(self.own_fired),
            version: self.version,
        })
    }

    /// Every row known for the period: this replica's and the others'.
    pub fn rows(&self, rule_id: &str, measure: Measure, replica: &str) -> Vec<BudgetUsage> {
        let Some(period) = self.period else {
            return Vec::new();
        };
        let peers = self.peers.iter().map(|p| BudgetUsage {
            rule_id: rule_id.to_owned(),
            subject: self.subject.to_string(),
            period,
            measure,
            replica: p.replica.to_string(),
            spent: p.spent,
            alerts_fired: to_percents(p.fired),
            version: p.version,
        });
        self.own_row(rule_id, measure, replica)
            .into_iter()
            .chain(peers)
            .collect()
    }

    /// Whether the counter holds nothing worth keeping in memory at `current`.
    pub fn is_idle(&self, current: PeriodKey) -> bool {
        self.period != Some(current) || (self.version == 0 && self.peers.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(name: &str) -> PeriodKey {
        name.parse().unwrap()
    }

    fn row(replica: &str, spent: u64, fired: &[u8], version: u64) -> BudgetUsage {
        BudgetUsage {
            rule_id: "b".into(),
            subject: "team:ml".into(),
            period: period("2026-11"),
            measure: Measure::Cost,
            replica: replica.into(),
            spent,
            alerts_fired: fired.to_vec(),
            version,
        }
    }

    #[test]
    fn thresholds_fire_once_each() {
        let mut counter = BudgetCounter::new("team:ml".into());
        counter.roll(period("2026-11"));
        let thresholds = [50, 75, 100];
        // (amount, expected newly fired)
        let steps: [(u64, &[u8]); 6] = [
            (40, &[]),
            (10, &[50]),
            (0, &[]),
            (40, &[75]),
            (200, &[100]),
            (10, &[]),
        ];
        for (amount, expected) in steps {
            let (_, fired) = counter.charge(amount, 100, &thresholds);
            assert_eq!(&fired[..], expected, "after {amount}");
        }
        // One charge crossing several thresholds fires each.
        let mut counter = BudgetCounter::new("team:ml".into());
        counter.roll(period("2026-11"));
        assert_eq!(&counter.charge(100, 100, &thresholds).1[..], [50, 75, 100]);
        // A new period fires them again.
        counter.roll(period("2026-12"));
        assert_eq!(counter.spent(), 0);
        assert_eq!(&counter.charge(60, 100, &thresholds).1[..], [50]);
    }

    #[test]
    fn rows_merge_by_version() {
        let mut counter = BudgetCounter::new("team:ml".into());
        counter.roll(period("2026-11"));
        // Own row from the store, then peers; replays and stale rows change nothing.
        let cases = [
            (row("a", 100, &[50], 3), true, 100),
            (row("a", 100, &[50], 3), false, 100),
            (row("a", 80, &[], 2), false, 100),
            (row("b", 30, &[], 1), true, 130),
            (row("b", 30, &[], 1), false, 130),
            (row("b", 45, &[75], 2), true, 145),
            (row("c", 5, &[], 9), true, 150),
            (row("b", 40, &[], 1), false, 150),
        ];
        for (i, (row, changed, spent)) in cases.iter().enumerate() {
            assert_eq!(counter.apply(row, "a"), *changed, "row {i}");
            assert_eq!(counter.spent(), *spent, "row {i}");
        }
        assert_eq!(to_percents(counter.fired()), [50, 75]);
        // Charges continue this replica's row from the restored version, and nobody's alert
        // fires twice.
        let (changed, fired) = counter.charge(50, 200, &[50, 75, 100]);
        assert!(changed);
        assert_eq!(&fired[..], [100]);
        let own = counter.own_row("b", Measure::Cost, "a").unwrap();
        assert_eq!((own.spent, own.version), (150, 4));
        assert_eq!(own.alerts_fired, [50, 100]);
        assert_eq!(counter.rows("b", Measure::Cost, "a").len(), 3);
        // A row of another period is not this counter's business.
        let mut other = row("b", 1_000, &[], 99);
        other.period = Period::Month.containing(Timestamp::from_unix_millis(0));
        assert!(!counter.apply(&other, "a"));
    }

    #[test]
    fn a_clock_stepping_back_keeps_the_later_period() {
        let mut counter = BudgetCounter::new("*".into());
        let dec = period("2026-12").start();
        assert_eq!(counter.roll_to(dec, Period::Month), period("2026-12"));
        counter.charge(5, 100, &[]);
        let nov = Timestamp::from_unix_millis(dec.unix_millis() - 1);
        assert_eq!(counter.roll_to(nov, Period::Month), period("2026-12"));
        assert_eq!(counter.spent(), 5);
    }

    #[test]
    fn threshold_bits() {
        assert_eq!(to_percents(to_bits(&[100, 1, 75, 0, 101])), [1, 75, 100]);
    }
}
