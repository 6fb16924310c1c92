//! Times as Slack takes them: a message `ts` ("1712345678.123456", seconds and microseconds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agenthub_server_kit::tools::ToolError;

/// A Slack ts as given: digits, a dot, six digits (or whole seconds).
pub fn check_ts(ts: &str, field: &str) -> Result<String, ToolError> {
    let ts = ts.trim();
    let (seconds, micros) = ts.split_once('.').unwrap_or((ts, "000000"));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if digits(seconds) && digits(micros) && micros.len() <= 6 {
        Ok(format!("{seconds}.{micros:0<6}"))
    } else {
        Err(ToolError(format!(
            "`{field}` must be a Slack message ts like 1712345678.123456, not {ts:?}"
        )))
    }
}

/// A time given as a Slack ts, seconds since the epoch, an RFC 3339 time, or how long ago
/// ("24h", "7d"), as a Slack ts.
pub fn to_ts(text: &str, field: &str) -> Result<String, ToolError> {
    let text = text.trim();
    if let Ok(ts) = check_ts(text, field) {
        return Ok(ts);
    }
    let at = if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        at
    } else if let Ok(ago) = humantime::parse_duration(text) {
        SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| ToolError(format!("`{field}`: {text} ago is before 1970")))?
    } else {
        return Err(ToolError(format!(
            "`{field}` must be a Slack ts (1712345678.123456), a UTC time (2026-11-27T08:00:00Z) or how long ago (24h, 7d), not {text:?}"
        )));
    };
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    Ok(format!("{}.{:06}", since.as_secs(), since.subsec_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_become_slack_timestamps() {
        assert_eq!(
            to_ts("1712345678.123456", "oldest").unwrap(),
            "1712345678.123456"
        );
        assert_eq!(to_ts("1712345678", "oldest").unwrap(), "1712345678.000000");
        assert_eq!(
            to_ts("2024-04-05T19:34:38Z", "oldest").unwrap(),
            "1712345678.000000"
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let day_ago: u64 = to_ts("24h", "oldest")
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((now - 86_400).abs_diff(day_ago) <= 2);
        let e = to_ts("yesterday", "oldest").unwrap_err();
        assert!(e.0.starts_with("`oldest` must be"), "{}", e.0);
        assert!(check_ts("17.1234567", "ts").is_err());
    }
}
