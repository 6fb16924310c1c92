//! Time as the limits see it: a [`Timestamp`] the caller passes in (nothing here reads a clock),
//! UTC calendar dates, and the calendar periods budgets are counted in.
//!
//! The date arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days` (proleptic
//! Gregorian calendar, exact for every `i32` year), so no date crate is needed.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MS_PER_DAY: i64 = 86_400_000;

/// A point in time: milliseconds since the Unix epoch (UTC). The hub reads the clock once per
/// request and passes the value in, so every decision here is deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn from_unix_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Midnight UTC at the start of `date`.
    pub const fn from_date(date: CivilDate) -> Self {
        Self(date.to_days().saturating_mul(MS_PER_DAY))
    }

    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch, rounded up: the value of an `x-ratelimit-reset` header that
    /// gives an absolute time (rounding down would name a moment before the reset).
    pub const fn unix_secs_ceil(self) -> i64 {
        self.0.div_euclid(1000) + (self.0.rem_euclid(1000) != 0) as i64
    }

    /// The UTC calendar date this instant falls on.
    pub const fn date(self) -> CivilDate {
        CivilDate::from_days(self.0.div_euclid(MS_PER_DAY))
    }

    /// How long from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0).unsigned_abs())
    }

    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)),
            Err(before) => Self(-i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

/// RFC 3339 in UTC, e.g. `2026-11-26T13:45:00Z` (milliseconds shown only when not zero).
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms_of_day = self.0.rem_euclid(MS_PER_DAY);
        let (h, m, s, ms) = (
            ms_of_day / 3_600_000,
            ms_of_day / 60_000 % 60,
            ms_of_day / 1000 % 60,
            ms_of_day % 1000,
        );
        write!(f, "{}T{h:02}:{m:02}:{s:02}", self.date())?;
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        f.write_str("Z")
    }
}

/// A day of the proleptic Gregorian calendar, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
}

impl CivilDate {
    /// The date, if it exists (`2025-02-29` does not).
    pub const fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        if month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        Some(Self { year, month, day })
    }

    /// Days since 1970-01-01 (negative before it).
    pub const fn to_days(self) -> i64 {
        days_from_civil(self.year as i64, self.month as i64, self.day as i64)
    }

    pub const fn from_days(days: i64) -> Self {
        let (year, month, day) = civil_from_days(days);
        // Every i64 day count reachable from an i64 of milliseconds has an i32 year.
        Self {
            year: year as i32,
            month: month as u8,
            day: day as u8,
        }
    }

    /// Monday is 0, Sunday 6.
    pub const fn weekday_from_monday(self) -> u8 {
        // 1970-01-01 was a Thursday (3 days after a Monday).
        (self.to_days() + 3).rem_euclid(7) as u8
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

pub const fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub const fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of the date `y-m-d` (Hinnant's algorithm: the year is shifted to start
/// in March so the leap day is the last day of the shifted year).
const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
const fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A calendar period a budget is counted in, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// From 00:00 UTC to the next 00:00 UTC.
    Day,
    /// An ISO 8601 week: Monday 00:00 UTC to the next Monday.
    Week,
    /// From the 1st at 00:00 UTC to the 1st of the next month.
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// The period that contains `now`.
    pub fn containing(self, now: Timestamp) -> PeriodKey {
        let days = now.unix_millis().div_euclid(MS_PER_DAY);
        let start = match self {
            Self::Day => days,
            Self::Week => days - CivilDate::from_days(days).weekday_from_monday() as i64,
            Self::Month => {
                let date = CivilDate::from_days(days);
                days - (date.day as i64 - 1)
            }
        };
        PeriodKey {
            period: self,
            start_days: start,
        }
    }
}

/// One calendar period: which kind, and the day it starts on. Its text form is the ISO 8601
/// name of the period: `2026-11-26` (a day), `2026-W48` (an ISO week), `2026-11` (a month), so
/// that periods of different kinds never share a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeriodKey {
    period: Period,
    start_days: i64,
}

impl PeriodKey {
    pub fn period(self) -> Period {
        self.period
    }

    /// The first day of the period.
    pub fn start_date(self) -> CivilDate {
        CivilDate::from_days(self.start_days)
    }

    /// Midnight UTC at the start of the period.
    pub fn start(self) -> Timestamp {
        Timestamp(self.start_days.saturating_mul(MS_PER_DAY))
    }

    /// Midnight UTC at the start of the next period: when the budget resets.
    pub fn end(self) -> Timestamp {
        Timestamp(self.end_days().saturating_mul(MS_PER_DAY))
    }

    fn end_days(self) -> i64 {
        match self.period {
            Period::Day => self.start_days + 1,
            Period::Week => self.start_days + 7,
            Period::Month => {
                let date = CivilDate::from_days(self.start_days);
                self.start_days + days_in_month(date.year, date.month) as i64
            }
        }
    }

    /// The next period of the same kind.
    pub fn next(self) -> Self {
        Self {
            period: self.period,
            start_days: self.end_days(),
        }
    }
}

/// ISO week-numbering year and week of the week starting on `monday` (days since the epoch).
fn iso_week(monday: i64) -> (i32, u32) {
    // The ISO year of a week is the year its Thursday falls in.
    let thursday = CivilDate::from_days(monday + 3);
    let jan1 = days_from_civil(thursday.year as i64, 1, 1);
    (thursday.year, ((monday + 3 - jan1) / 7 + 1) as u32)
}

/// The Monday of ISO week `week` of ISO year `year`.
fn monday_of_iso_week(year: i32, week: u32) -> i64 {
    // Week 1 is the week with January 4th in it.
    let jan4 = CivilDate {
        year,
        month: 1,
        day: 4,
    };
    jan4.to_days() - jan4.weekday_from_monday() as i64 + (week as i64 - 1) * 7
}

impl fmt::Display for PeriodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.period {
            Period::Day => self.start_date().fmt(f),
            Period::Week => {
                let (year, week) = iso_week(self.start_days);
                write!(f, "{year:04}-W{week:02}")
            }
            Period::Month => {
                let date = self.start_date();
                write!(f, "{:04}-{:02}", date.year, date.month)
            }
        }
    }
}

/// A period name that is not `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a period (expected YYYY-MM-DD, YYYY-Www or YYYY-MM)")]
pub struct BadPeriod(pub String);

impl FromStr for PeriodKey {
    type Err = BadPeriod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPeriod(s.to_owned());
        let number = |part: &str, digits: usize| {
            (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u32>().ok())
                .flatten()
        };
        let parts: Vec<&str> = s.split('-').collect();
        let year = parts.first().and_then(|y| number(y, 4)).ok_or_else(bad)?;
        let year = i32::try_from(year).map_err(|_| bad())?;
        let key = match parts[1..] {
            [week] if week.starts_with('W') => {
                let week = number(&week[1..], 2).ok_or_else(bad)?;
                let key = PeriodKey {
                    period: Period::Week,
                    start_days: monday_of_iso_week(year, week),
                };
                // Rejects week 0 and a week 53 the year does not have.
                if week == 0 || iso_week(key.start_days) != (year, week) {
                    return Err(bad());
                }
                key
            }
            [month] => {
                let month = number(month, 2).ok_or_else(bad)?;
                let date = CivilDate::new(year, month as u8, 1).ok_or_else(bad)?;
                PeriodKey {
                    period: Period::Month,
                    start_days: date.to_days(),
                }
            }
            [month, day] => {
                let (month, day) = (
                    number(month, 2).ok_or_else(bad)?,
                    number(day, 2).ok_or_else(bad)?,
                );
                let date = CivilDate::new(year, month as u8, day as u8).ok_or_else(bad)?;
                PeriodKey {
                    period: Period::Day,
                    start_days: date.to_days(),
                }
            }
            _ => return Err(bad()),
        };
        Ok(key)
    }
}

impl Serialize for PeriodKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeriodKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, time: &str) -> Timestamp {
        let key: PeriodKey = date.parse().unwrap();
        let (h, m) = time.split_once(':').unwrap();
        let (h, m): (i64, i64) = (h.parse().unwrap(), m.parse().unwrap());
        Timestamp::from_unix_millis(key.start().unix_millis() + (h * 60 + m) * 60_000)
    }

    #[test]
    fn civil_round_trip_over_four_centuries_and_more() {
        // Every day from 1600 to 2400, and each mapping agrees with a naive day-by-day walk.
        let mut date = CivilDate::new(1600, 1, 1).unwrap();
        let first = date.to_days();
        for days in first..first + 292_194 {
            assert_eq!(CivilDate::from_days(days), date, "{days}");
            assert_eq!(date.to_days(), days);
            date = if date.day < days_in_month(date.year, date.month) {
                CivilDate {
                    day: date.day + 1,
                    ..date
                }
            } else if date.month < 12 {
                CivilDate {
                    month: date.month + 1,
                    day: 1,
                    ..date
                }
            } else {
                CivilDate::new(date.year + 1, 1, 1).unwrap()
            };
        }
        assert_eq!(CivilDate::new(1970, 1, 1).unwrap().to_days(), 0);
        assert_eq!(
            CivilDate::from_days(-1),
            CivilDate::new(1969, 12, 31).unwrap()
        );
    }

    #[test]
    fn leap_years() {
        let cases = [
            (2024, true),
            (2025, false),
            (2000, true),
            (1900, false),
            (2100, false),
            (2400, true),
        ];
        for (year, leap) in cases {
            assert_eq!(is_leap_year(year), leap, "{year}");
            assert_eq!(CivilDate::new(year, 2, 29).is_some(), leap, "{year}");
        }
    }

    #[test]
    fn periods_containing_an_instant() {
        // (instant, period, its name, start, end)
        let cases = [
            (
                "2026-11-26",
                "13:45",
                Period::Day,
                "2026-11-26",
                "2026-11-27",
            ),
            (
                "2026-11-26",
                "00:00",
                Period::Day,
                "2026-11-26",
                "2026-11-27",
            ),
            (
                "2026-12-31",
                "23:59",
                Period::Day,
                "2026-12-31",
                "2027-01-01",
            ),
            // 2026-11-26 is a Thursday; its week starts Monday 2026-11-23.
            (
                "2026-11-26",
                "13:45",
                Period::Week,
                "2026-W48",
                "2026-11-30",
            ),
            (
                "2026-11-23",
                "00:00",
                Period::Week,
                "2026-W48",
                "2026-11-30",
            ),
            (
                "2026-11-29",
                "23:59",
                Period::Week,
                "2026-W48",
                "2026-11-30",
            ),
            // A week across a year end belongs to the year of its Thursday.
            (
                "2027-01-01",
                "12:00",
                Period::Week,
                "2026-W53",
                "2027-01-04",
            ),
            (
                "2025-12-31",
                "12:00",
                Period::Week,
                "2026-W01",
                "2026-01-05",
            ),
            (
                "2026-11-26",
                "13:45",
                Period::Month,
                "2026-11",
                "2026-12-01",
            ),
            (
                "2026-12-31",
                "23:59",
                Period::Month,
                "2026-12",
                "2027-01-01",
            ),
            (
                "2024-02-29",
                "12:00",
                Period::Month,
                "2024-02",
                "2024-03-01",
            ),
            (
                "2025-02-28",
                "23:59",
                Period::Month,
                "2025-02",
                "2025-03-01",
            ),
            (
                "2026-04-30",
                "23:59",
                Period::Month,
                "2026-04",
                "2026-05-01",
            ),
            (
                "2026-01-31",
                "23:59",
                Period::Month,
                "2026-01",
                "2026-02-01",
            ),
            (
                "1969-12-31",
                "23:59",
                Period::Month,
                "1969-12",
                "1970-01-01",
            ),
        ];
        for (date, time, period, name, end) in cases {
            let key = period.containing(at(date, time));
            assert_eq!(key.to_string(), name, "{date} {time} {period:?}");
            assert_eq!(key.end(), at(end, "00:00"), "{date} {time} {period:?}");
            assert!(key.start() <= at(date, time) && at(date, time) < key.end());
            assert_eq!(key.next().start(), key.end());
            assert_eq!(name.parse::<PeriodKey>().unwrap(), key, "{name}");
        }
    }

    #[test]
    fn period_names_parse_strictly() {
        for good in [
            "2026-11-26",
            "2024-02-29",
            "2026-W53",
            "2020-W53",
            "2026-W01",
            "2026-01",
        ] {
            let key: PeriodKey = good.parse().unwrap();
            assert_eq!(key.to_string(), good);
        }
        for bad in [
            "2025-02-29",
            "2025-W53",
            "2026-W00",
            "2026-13",
            "2026-1-01",
            "26-11-26",
            "2026",
            "2026-11-26-01",
            "",
        ] {
            assert!(bad.parse::<PeriodKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        let t = at("2026-11-26", "13:45");
        assert_eq!(t.to_string(), "2026-11-26T13:45:00Z");
        let t = Timestamp::from_unix_millis(t.unix_millis() + 1_001);
        assert_eq!(t.to_string(), "2026-11-26T13:45:01.001Z");
        assert_eq!(Timestamp::from_unix_millis(1_001).unix_secs_ceil(), 2);
        assert_eq!(Timestamp::from_unix_millis(1_000).unix_secs_ceil(), 1);
        assert_eq!(Timestamp::from_unix_millis(-1).unix_secs_ceil(), 0);
        let system = UNIX_EPOCH + Duration::from_millis(1_234);
        assert_eq!(Timestamp::from(system), Timestamp::from_unix_millis(1_234));
        assert_eq!(
            Timestamp::from_unix_secs(5).since(Timestamp::from_unix_secs(7)),
            Duration::ZERO
        );
    }
}
