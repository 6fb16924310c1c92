//! The typed configuration of rate limits and budgets, and its validation.
//!
//! Unknown keys are rejected when deserializing. Values that are well-formed but wrong — an
//! unknown `unit` or `applies_per`, a zero limit, a duplicate id — deserialize, so that
//! [`LimitsConfig::validate`] reports all of them at once, each with its path.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::time::Period;
use crate::when::When;

/// Rate limits and budgets, as they appear in the configuration file and the admin API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// How many requests or tokens may be used per minute, hour or day (sliding windows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimitRule>,
    /// How much may be spent, in US dollars or tokens, per calendar day, week or month (UTC).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetRule>,
}

/// One rate limit: at most `limit_to` requests or tokens in any sliding window of one `unit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// Names the rule in errors, `x-ratelimit-*` headers, metrics and status. Unique among all
    /// rate limits and budgets; letters, digits, `-`, `_` and `.`.
    pub id: String,
    /// Which requests the rule counts; left out, every request. See [`When`].
    #[serde(default, skip_serializing_if = "is_default")]
    pub when: When,
    /// How many requests (or tokens) are allowed per `unit`. At least 1.
    pub limit_to: u64,
    /// What is counted and over which window: `requests_per_minute`, `requests_per_hour`,
    /// `requests_per_day`, `tokens_per_minute`, `tokens_per_hour` or `tokens_per_day`.
    /// A window slides: "per minute" means in any 60 seconds, not per clock minute. Token units
    /// count only model (LLM) requests.
    pub unit: RateUnit,
    /// Keep a separate counter for each `user`, `team`, `key`, `model` or `metadata.<key>`
    /// value. Left out, one counter is shared by every request the rule matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_per: Option<AppliesPer>,
}

/// One budget: how much may be spent per calendar period. Exactly one of `cost_per_day`,
/// `cost_per_week`, `cost_per_month`, `tokens_per_day` and `tokens_per_month` is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetRule {
    /// Names the budget in errors, alerts, stored usage and status. Unique among all rate limits
    /// and budgets; letters, digits, `-`, `_` and `.`. Stored usage is keyed by it: renaming a
    /// budget starts it from zero.
    pub id: String,
    /// Which requests the budget counts; left out, every request. See [`When`]. A cost budget
    /// also blocks requests that cost nothing (tool calls) once spent; add
    /// `models: ["*"]` to count and block model requests only.
    #[serde(default, skip_serializing_if = "is_default")]
    pub when: When,
    /// Keep a separate budget for each `user`, `team`, `key`, `model` or `metadata.<key>` value.
    /// Left out, one budget is shared by every request the rule matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_per: Option<AppliesPer>,
    /// US dollars per calendar day (00:00 to 24:00 UTC), e.g. `25` or `12.50`. Kept to the
    /// micro-dollar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_day: Option<Usd>,
    /// US dollars per ISO week (Monday 00:00 UTC to the next Monday).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_week: Option<Usd>,
    /// US dollars per calendar month (the 1st 00:00 UTC to the next 1st).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_month: Option<Usd>,
    /// Tokens (prompt plus completion) per calendar day, UTC. Counts model requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
    /// Tokens (prompt plus completion) per calendar month, UTC. Counts model requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_month: Option<u64>,
    /// Count and alert, but never block: for trying a budget out, or for showback.
    #[serde(default, skip_serializing_if = "is_default")]
    pub audit_mode: bool,
    /// Percentages of the budget (1 to 100) at which to raise an alert, e.g. `[75, 90, 100]`.
    /// Each fires once per period and subject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_thresholds: Vec<u32>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Requests, one each.
    Requests,
    /// Model tokens, prompt plus completion.
    Tokens,
    /// US dollars, counted in micro-dollars (millionths): every amount of this measure is in
    /// micro-dollars.
    Cost,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
            Self::Cost => "cost",
        }
    }
}

/// The span a limit is counted over: a sliding window for rate limits (minute, hour, day), a
/// calendar period in UTC for budgets (day, week, month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

impl From<Period> for Interval {
    fn from(period: Period) -> Self {
        match period {
            Period::Day => Self::Day,
            Period::Week => Self::Week,
            Period::Month => Self::Month,
        }
    }
}

/// The `unit` of a rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RateUnit {
    RequestsPerMinute,
    RequestsPerHour,
    RequestsPerDay,
    TokensPerMinute,
    TokensPerHour,
    TokensPerDay,
    /// A spelling agenthub does not know, kept so that [`LimitsConfig::validate`] reports it
    /// with its path. A configuration containing one does not build.
    Unknown(String),
}

impl RateUnit {
    pub const KNOWN: [RateUnit; 6] = [
        Self::RequestsPerMinute,
        Self::RequestsPerHour,
        Self::RequestsPerDay,
        Self::TokensPerMinute,
        Self::TokensPerHour,
        Self::TokensPerDay,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Self::RequestsPerMinute => "requests_per_minute",
            Self::RequestsPerHour => "requests_per_hour",
            Self::RequestsPerDay => "requests_per_day",
            Self::TokensPerMinute => "tokens_per_minute",
            Self::TokensPerHour => "tokens_per_hour",
            Self::TokensPerDay => "tokens_per_day",
            Self::Unknown(other) => other,
        }
    }

    /// What is counted and over which window; `None` for an unknown unit.
    pub fn parts(&self) -> Option<(Measure, Interval)> {
        use {Interval::*, Measure::*};
        Some(match self {
            Self::RequestsPerMinute => (Requests, Minute),
            Self::RequestsPerHour => (Requests, Hour),
            Self::RequestsPerDay => (Requests, Day),
            Self::TokensPerMinute => (Tokens, Minute),
            Self::TokensPerHour => (Tokens, Hour),
            Self::TokensPerDay => (Tokens, Day),
            Self::Unknown(_) => return None,
        })
    }
}

impl From<String> for RateUnit {
    fn from(text: String) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|unit| unit.as_str() == text)
            .unwrap_or(Self::Unknown(text))
    }
}

impl From<RateUnit> for String {
    fn from(unit: RateUnit) -> Self {
        match unit {
            RateUnit::Unknown(text) => text,
            known => known.as_str().to_owned(),
        }
    }
}

/// What a rule keeps separate counters for (`applies_per`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum AppliesPer {
    /// The calling principal (user, service account, agent), e.g. `user:alice`.
    User,
    /// The team usage is charged to: the API key's team; for a key without one, the caller's
    /// team (the first by name if several).
    Team,
    /// The API key.
    Key,
    /// The model asked for.
    Model,
    /// The value of a client metadata key (`metadata.<key>`), e.g. `metadata.project`.
    Metadata(String),
    /// A spelling agenthub does not know, kept so that [`LimitsConfig::validate`] reports it.
    Unknown(String),
}

impl From<String> for AppliesPer {
    fn from(text: String) -> Self {
        match text.as_str() {
            "user" => Self::User,
            "team" => Self::Team,
            "key" => Self::Key,
            "model" => Self::Model,
            _ => match text.strip_prefix("metadata.") {
                Some(key) => Self::Metadata(key.to_owned()),
                None => Self::Unknown(text),
            },
        }
    }
}

impl From<AppliesPer> for String {
    fn from(per: AppliesPer) -> Self {
        match per {
            AppliesPer::User => "user".into(),
            AppliesPer::Team => "team".into(),
            AppliesPer::Key => "key".into(),
            AppliesPer::Model => "model".into(),
            AppliesPer::Metadata(key) => format!("metadata.{key}"),
            AppliesPer::Unknown(text) => text,
        }
    }
}

/// An amount in US dollars, kept as whole micro-dollars so that sums never drift.
///
/// In YAML and JSON it is a number of dollars (`12.5`) or a decimal string (`"12.50"`); a number
/// is rounded to the nearest micro-dollar, a string may have at most six decimals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(u64);

impl Usd {
    pub const ZERO: Usd = Usd(0);
    /// The largest amount accepted from a configuration: a trillion dollars.
    const MAX_DOLLARS: u64 = 1_000_000_000_000;

    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> u64 {
        self.0
    }

    /// Whole dollars plus cents, e.g. `Usd::from_cents(1250)` is $12.50.
    pub const fn from_cents(cents: u64) -> Self {
        Self(cents.saturating_mul(10_000))
    }

    /// Rounded to the nearest micro-dollar; `None` if negative, not finite or above a trillion.
    pub fn from_dollars(dollars: f64) -> Option<Self> {
        (dollars.is_finite() && (0.0..=Self::MAX_DOLLARS as f64).contains(&dollars))
            .then(|| Self((dollars * 1e6).round() as u64))
    }

    /// Parses `12`, `12.5` or `0.000125` exactly.
    fn parse(text: &str) -> Option<Self> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 6 {
            return None;
        }
        let whole: u64 = whole.parse().ok().filter(|w| *w <= Self::MAX_DOLLARS)?;
        let fraction: u64 = format!("{fraction:0<6}").parse().ok()?;
        Some(Self(whole * 1_000_000 + fraction))
    }

    fn as_dollars(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

/// Dollars with at least two decimals and no trailing zeros beyond: `12.50`, `0.000125`.
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, micros) = (self.0 / 1_000_000, self.0 % 1_000_000);
        let fraction = format!("{micros:06}");
        let fraction = fraction.trim_end_matches('0');
        write!(f, "{whole}.{fraction:0<2}")
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_dollars())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        const EXPECTED: &str = "an amount in US dollars between 0 and 1e12, e.g. 12.50";
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Usd;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Usd, E> {
                (v <= Usd::MAX_DOLLARS)
                    .then(|| Usd(v * 1_000_000))
                    .ok_or_else(|| E::custom(format!("{v} is not {EXPECTED}")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Usd, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("{v} is not {EXPECTED}"))),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Usd, E> {
                Usd::from_dollars(v).ok_or_else(|| E::custom(format!("{v} is not {EXPECTED}")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Usd, E> {
                Usd::parse(v).ok_or_else(|| {
                    E::custom(format!("\"{v}\" is not {EXPECTED} (at most six decimals)"))
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A budget's limit, once the configuration is known to be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BudgetLimit {
    pub measure: Measure,
    pub period: Period,
    /// Micro-dollars or tokens.
    pub amount: u64,
}

impl BudgetRule {
    /// The amount fields that are set, with their names.
    fn amounts(&self) -> Vec<(&'static str, BudgetLimit)> {
        let cost = |period, usd: Option<Usd>| {
            usd.map(|usd| BudgetLimit {
                measure: Measure::Cost,
                period,
                amount: usd.micros(),
            })
        };
        let tokens = |period, tokens: Option<u64>| {
            tokens.map(|amount| BudgetLimit {
                measure: Measure::Tokens,
                period,
                amount,
            })
        };
        [
            ("cost_per_day", cost(Period::Day, self.cost_per_day)),
            ("cost_per_week", cost(Period::Week, self.cost_per_week)),
            ("cost_per_month", cost(Period::Month, self.cost_per_month)),
            ("tokens_per_day", tokens(Period::Day, self.tokens_per_day)),
            (
                "tokens_per_month",
                tokens(Period::Month, self.tokens_per_month),
            ),
        ]
        .into_iter()
        .filter_map(|(name, limit)| limit.map(|limit| (name, limit)))
        .collect()
    }

    /// The one limit the budget sets; `None` unless exactly one amount is given.
    pub(crate) fn limit(&self) -> Option<BudgetLimit> {
        match self.amounts()[..] {
            [(_, limit)] => Some(limit),
            _ => None,
        }
    }
}

/// One problem in a limits configuration, with the path of the offending field relative to
/// [`LimitsConfig`] (e.g. `rate_limits[1].unit`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl LimitsConfig {
    /// Checks everything types alone cannot: ids, units, limits, thresholds, conditions.
    /// Reports every problem, in file order.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| {
            problems.push(ConfigProblem { path, message });
        };
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        let mut check_id = |path: &str, id: &str, problem: &mut dyn FnMut(String, String)| {
            if id.is_empty() {
                problem(format!("{path}.id"), "must not be empty".into());
            } else if id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                problem(
                    format!("{path}.id"),
                    format!("\"{id}\" is not an id (at most 64 letters, digits, '-', '_' and '.')"),
                );
            } else if let Some(first) = ids.get(id) {
                problem(
                    format!("{path}.id"),
                    format!("duplicate id \"{id}\" (also {first}.id)"),
                );
            } else {
                ids.insert(id.to_owned(), path.to_owned());
            }
        };
        let check_common = |path: &str,
                            when: &When,
                            per: Option<&AppliesPer>,
                            problem: &mut dyn FnMut(String, String)| {
            for (field, message) in when.validate() {
                problem(format!("{path}.when.{field}"), message);
            }
            match per {
                Some(AppliesPer::Unknown(other)) => problem(
                    format!("{path}.applies_per"),
                    format!(
                        "unknown value \"{other}\" (expected user, team, key, model or metadata.<key>)"
                    ),
                ),
                Some(AppliesPer::Metadata(key)) if key.is_empty() => problem(
                    format!("{path}.applies_per"),
                    "metadata.<key> needs a key, e.g. metadata.project".into(),
                ),
                _ => {}
            }
        };

        for (i, rule) in self.rate_limits.iter().enumerate() {
            let path = format!("rate_limits[{i}]");
            check_id(&path, &rule.id, &mut problem);
            check_common(&path, &rule.when, rule.applies_per.as_ref(), &mut problem);
            if rule.limit_to == 0 {
                problem(format!("{path}.limit_to"), "must be at least 1".into());
            }
            if let RateUnit::Unknown(other) = &rule.unit {
                let known: Vec<&str> = RateUnit::KNOWN.iter().map(|u| u.as_str()).collect();
                problem(
                    format!("{path}.unit"),
                    format!(
                        "unknown unit \"{other}\" (expected {} or {})",
                        known[..known.len() - 1].join(", "),
                        known[known.len() - 1]
                    ),
                );
            }
        }

        for (i, rule) in self.budgets.iter().enumerate() {
            let path = format!("budgets[{i}]");
            check_id(&path, &rule.id, &mut problem);
            check_common(&path, &rule.when, rule.applies_per.as_ref(), &mut problem);
            let amounts = rule.amounts();
            match &amounts[..] {
                [] => problem(
                    path.clone(),
                    "needs one of cost_per_day, cost_per_week, cost_per_month, tokens_per_day \
                     or tokens_per_month"
                        .into(),
                ),
                [(first, _), rest @ ..] => {
                    for (name, _) in rest {
                        problem(
                            format!("{path}.{name}"),
                            format!("only one amount per budget ({first} is set too)"),
                        );
                    }
                }
            }
            for (name, limit) in &amounts {
                if limit.amount == 0 {
                    problem(format!("{path}.{name}"), "must be greater than 0".into());
                }
            }
            for (j, threshold) in rule.alert_thresholds.iter().enumerate() {
                if !(1..=100).contains(threshold) {
                    problem(
                        format!("{path}.alert_thresholds[{j}]"),
                        "must be between 1 and 100".into(),
                    );
                } else if rule.alert_thresholds[..j].contains(threshold) {
                    problem(
                        format!("{path}.alert_thresholds[{j}]"),
                        format!("duplicate threshold {threshold}"),
                    );
                }
            }
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(json: &str) -> Vec<String> {
        let config: LimitsConfig = serde_json::from_str(json).unwrap();
        match config.validate() {
            Ok(()) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let found = problems(
            r#"{
              "rate_limits": [
                {"id": "rpm", "limit_to": 60, "unit": "requests_per_minute"},
                {"id": "fortnight", "limit_to": 1, "unit": "requests_per_fortnight"},
                {"id": "rpm", "limit_to": 0, "unit": "tokens_per_day", "applies_per": "project"},
                {"id": "bad id", "limit_to": 5, "unit": "tokens_per_hour", "applies_per": "metadata."},
                {"id": "", "limit_to": 5, "unit": "tokens_per_hour", "when": {"subjects": ["alice"]}}
              ],
              "budgets": [
                {"id": "monthly", "cost_per_month": 100, "alert_thresholds": [75, 90, 150, 90, 0]},
                {"id": "none"},
                {"id": "two", "cost_per_day": 5, "tokens_per_month": 1000},
                {"id": "fortnight", "tokens_per_day": 0}
              ]
            }"#,
        );
        let expected = [
            r#"rate_limits[1].unit: unknown unit "requests_per_fortnight" (expected requests_per_minute, requests_per_hour, requests_per_day, tokens_per_minute, tokens_per_hour or tokens_per_day)"#,
            r#"rate_limits[2].id: duplicate id "rpm" (also rate_limits[0].id)"#,
            r#"rate_limits[2].applies_per: unknown value "project" (expected user, team, key, model or metadata.<key>)"#,
            "rate_limits[2].limit_to: must be at least 1",
            r#"rate_limits[3].id: "bad id" is not an id (at most 64 letters, digits, '-', '_' and '.')"#,
            "rate_limits[3].applies_per: metadata.<key> needs a key, e.g. metadata.project",
            "rate_limits[4].id: must not be empty",
            r#"rate_limits[4].when.subjects[0]: "alice" is not a subject (expected user:, service:, agent:, key:, team: or role: followed by a name)"#,
            "budgets[0].alert_thresholds[2]: must be between 1 and 100",
            "budgets[0].alert_thresholds[3]: duplicate threshold 90",
            "budgets[0].alert_thresholds[4]: must be between 1 and 100",
            "budgets[1]: needs one of cost_per_day, cost_per_week, cost_per_month, tokens_per_day or tokens_per_month",
            "budgets[2].tokens_per_month: only one amount per budget (cost_per_day is set too)",
            r#"budgets[3].id: duplicate id "fortnight" (also rate_limits[1].id)"#,
            "budgets[3].tokens_per_day: must be greater than 0",
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn valid_configurations_pass() {
        assert_eq!(problems("{}"), Vec::<String>::new());
        let found = problems(
            r#"{
              "rate_limits": [{"id": "a", "limit_to": 1, "unit": "tokens_per_minute",
                               "applies_per": "metadata.project", "when": {"models": ["gpt-*"]}}],
              "budgets": [{"id": "b", "cost_per_week": "0.000001", "audit_mode": true,
                           "alert_thresholds": [100, 50]}]
            }"#,
        );
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        for json in [
            r#"{"rate_limit": []}"#,
            r#"{"rate_limits": [{"id": "a", "limit_to": 1, "unit": "requests_per_minute", "per": "user"}]}"#,
            r#"{"budgets": [{"id": "a", "cost_per_day": 1, "audit": true}]}"#,
        ] {
            assert!(
                serde_json::from_str::<LimitsConfig>(json).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn units_and_subjects_round_trip() {
        for unit in RateUnit::KNOWN {
            let text = String::from(unit.clone());
            assert_eq!(RateUnit::from(text), unit);
        }
        for per in [
            "user",
            "team",
            "key",
            "model",
            "metadata.project",
            "nonsense",
        ] {
            assert_eq!(String::from(AppliesPer::from(per.to_owned())), per);
        }
        assert_eq!(
            AppliesPer::from("metadata.env".to_owned()),
            AppliesPer::Metadata("env".into())
        );
    }

    #[test]
    fn dollars() {
        let cases = [
            ("12", Some(12_000_000)),
            ("12.5", Some(12_500_000)),
            ("0.1", Some(100_000)),
            ("\"0.1\"", Some(100_000)),
            ("\"12.50\"", Some(12_500_000)),
            ("\"0.000001\"", Some(1)),
            ("0.0000004", Some(0)),
            ("\"0.0000001\"", None),
            ("-1", None),
            ("-0.5", None),
            ("\"1e3\"", None),
            ("\".5\"", None),
            ("1000000000001", None),
        ];
        for (json, micros) in cases {
            let parsed = serde_json::from_str::<Usd>(json).ok().map(Usd::micros);
            assert_eq!(parsed, micros, "{json}");
        }
        // Sums of many small float amounts do not drift once converted.
        let total: u64 = (0..1_000)
            .map(|_| Usd::from_dollars(0.1).unwrap().micros())
            .sum();
        assert_eq!(total, 100_000_000);
        for (micros, text) in [
            (12_500_000, "12.50"),
            (125, "0.000125"),
            (0, "0.00"),
            (3_000_000, "3.00"),
        ] {
            assert_eq!(Usd::from_micros(micros).to_string(), text);
        }
        assert_eq!(
            serde_json::to_string(&Usd::from_cents(1250)).unwrap(),
            "12.5"
        );
    }
}
