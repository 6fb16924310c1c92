//! A server's settings from variables named as its environment (`SENTRY_ORG`, …): how the hub
//! passes a built-in server's `env`. An unknown name is refused, so that a typo is not
//! silently a default.

use std::collections::BTreeMap;

/// A service's base URL from `setting`, without its trailing slashes; it must be http(s).
pub fn base_url<'v>(setting: &str, value: &'v str) -> anyhow::Result<&'v str> {
    let base = value.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        anyhow::bail!("{setting} must be an http(s) URL, not {base:?}");
    }
    Ok(base)
}

/// The variables of one server, checked against the names it knows.
pub struct Vars<'a> {
    vars: &'a BTreeMap<String, String>,
}

impl<'a> Vars<'a> {
    pub fn new(vars: &'a BTreeMap<String, String>, known: &[&str]) -> anyhow::Result<Self> {
        if let Some(unknown) = vars.keys().find(|k| !known.contains(&k.as_str())) {
            anyhow::bail!(
                "unknown setting {unknown}; the settings are {}",
                known.join(", ")
            );
        }
        Ok(Self { vars })
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    pub fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    pub fn required(&self, name: &str) -> anyhow::Result<String> {
        self.get(name)
            .ok_or_else(|| anyhow::anyhow!("{name} is required"))
    }

    /// A whole number of seconds, `default` when unset.
    pub fn seconds(&self, name: &str, default: u64) -> anyhow::Result<u64> {
        match self.vars.get(name) {
            Some(secs) => secs
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{name} must be a whole number of seconds")),
            None => Ok(default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_values_read() {
        let vars = BTreeMap::from([
            ("A_URL".to_owned(), "x".to_owned()),
            ("A_SECS".to_owned(), "7".to_owned()),
        ]);
        let read = Vars::new(&vars, &["A_URL", "A_SECS", "A_TOKEN"]).unwrap();
        assert_eq!(read.required("A_URL").unwrap(), "x");
        assert_eq!(read.seconds("A_SECS", 30).unwrap(), 7);
        assert_eq!(read.or("A_TOKEN", "none"), "none");
        assert!(
            read.required("A_TOKEN")
                .unwrap_err()
                .to_string()
                .contains("A_TOKEN is required")
        );
        let typo = Vars::new(&vars, &["A_URL"]).err().unwrap().to_string();
        assert!(typo.contains("unknown setting A_SECS"), "{typo}");
        let bad = BTreeMap::from([("A_SECS".to_owned(), "soon".to_owned())]);
        assert!(
            Vars::new(&bad, &["A_SECS"])
                .unwrap()
                .seconds("A_SECS", 1)
                .is_err()
        );
    }

    #[test]
    fn a_base_url_loses_its_trailing_slashes_and_must_be_http() {
        assert_eq!(
            base_url("X_URL", "https://sentry.io//").unwrap(),
            "https://sentry.io"
        );
        assert_eq!(
            base_url("X_URL", "http://127.0.0.1:9").unwrap(),
            "http://127.0.0.1:9"
        );
        let refused = base_url("X_URL", "sentry.io").unwrap_err().to_string();
        assert_eq!(refused, "X_URL must be an http(s) URL, not \"sentry.io\"");
    }
}
