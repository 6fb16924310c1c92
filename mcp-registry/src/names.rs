//! The names clients see: every upstream tool, prompt and resource template is published as
//! `<prefix><separator><upstream name>`, where the prefix is the server's name unless an admin
//! gave it another. Published names keep to MCP's tool-name alphabet (`[A-Za-z0-9_.-]`, 1–128
//! characters): other characters become `_`, and a name that would be too long is shortened
//! and given a hash of the full name, so it stays unique and stable across restarts.
//!
//! Calls are routed by looking the published name up in the [`Namespace`], never by splitting
//! it: an upstream name may itself contain the separator.

use std::collections::BTreeMap;
use std::fmt;

/// The longest name MCP allows for a tool.
pub const MAX_NAME: usize = 128;

/// Characters of the hash that ends a shortened name.
const HASH_CHARS: usize = 8;

/// The default separator between a server's prefix and an upstream name.
pub const DEFAULT_SEPARATOR: &str = "__";

/// Whether `c` may appear in a published name.
pub fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Checks a prefix or separator an admin chose: non-empty, within the alphabet, and short
/// enough to leave room for the upstream name.
pub fn check_part(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if value.len() > max {
        return Err(format!("{what} must be at most {max} characters"));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "{what} may use only letters, digits, '_', '-' and '.' (found {bad:?})"
        ));
    }
    Ok(())
}

/// The published name of `upstream` from a server published under `prefix`.
pub fn publish(prefix: &str, separator: &str, upstream: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + separator.len() + upstream.len());
    name.push_str(prefix);
    name.push_str(separator);
    name.extend(upstream.chars().map(|c| if allowed(c) { c } else { '_' }));
    if name.len() <= MAX_NAME {
        return name;
    }
    // All ASCII by now, so any byte index is a character boundary.
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut short = name[..MAX_NAME - HASH_CHARS - 1].to_owned();
    short.push('-');
    for byte in &digest.as_ref()[..HASH_CHARS / 2] {
        short.push_str(&format!("{byte:02x}"));
    }
    short
}

/// What a published name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub server: String,
    /// The name the upstream server uses.
    pub upstream: String,
}

/// Two upstream names that would be published under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub published: String,
    pub first: Origin,
    pub second: Origin,
}

impl fmt::Display for Collision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" of server {} and \"{}\" of server {} would both be published as \"{}\"; \
             give one of the servers another prefix",
            self.first.upstream,
            self.first.server,
            self.second.upstream,
            self.second.server,
            self.published
        )
    }
}

/// Published name → origin, for one kind of item (tools, prompts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespace {
    names: BTreeMap<String, Origin>,
}

impl Namespace {
    /// Publishes every server's names; fails with every collision found.
    ///
    /// `servers` yields each server's name, the prefix it is published under, and its
    /// upstream names.
    pub fn build<'a, I, N>(separator: &str, servers: I) -> Result<Self, Vec<Collision>>
    where
        I: IntoIterator<Item = (&'a str, &'a str, N)>,
        N: IntoIterator<Item = &'a str>,
    {
        let mut names: BTreeMap<String, Origin> = BTreeMap::new();
        let mut collisions = Vec::new();
        for (server, prefix, upstream_names) in servers {
            for upstream in upstream_names {
                let published = publish(prefix, separator, upstream);
                let origin = Origin {
                    server: server.to_owned(),
                    upstream: upstream.to_owned(),
                };
                match names.get(&published) {
                    Some(first) if *first == origin => {}
                    Some(first) => collisions.push(Collision {
                        published,
                        first: first.clone(),
                        second: origin,
                    }),
                    None => {
                        names.insert(published, origin);
                    }
                }
            }
        }
        if collisions.is_empty() {
            Ok(Self { names })
        } else {
            Err(collisions)
        }
    }

    /// Where a call to `published` goes.
    pub fn resolve(&self, published: &str) -> Option<&Origin> {
        self.names.get(published)
    }

    /// Published names in order, with their origins.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.names
            .iter()
            .map(|(name, origin)| (name.as_str(), origin))
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_names() {
        // (prefix, separator, upstream, published)
        let cases = [
            ("github", "__", "create_issue", "github__create_issue"),
            ("gh", ".", "search", "gh.search"),
            ("fs", "__", "read file", "fs__read_file"),
            ("fs", "__", "dir/list", "fs__dir_list"),
            ("docs", "-", "résumé", "docs-r_sum_"),
            ("a", "__", "", "a__"),
        ];
        for (prefix, separator, upstream, expected) in cases {
            assert_eq!(publish(prefix, separator, upstream), expected, "{upstream}");
        }
    }

    #[test]
    fn long_names_are_shortened_uniquely_and_stably() {
        let long_a = "x".repeat(200);
        let long_b = format!("{}y", "x".repeat(199));
        let a = publish("server", "__", &long_a);
        let b = publish("server", "__", &long_b);
        assert_eq!(a.len(), MAX_NAME);
        assert_eq!(b.len(), MAX_NAME);
        assert_ne!(a, b);
        assert_eq!(a, publish("server", "__", &long_a));
        assert!(a.chars().all(allowed), "{a}");
        let exact = "y".repeat(MAX_NAME - "s__".len());
        assert_eq!(publish("s", "__", &exact).len(), MAX_NAME);
        assert!(publish("s", "__", &exact).ends_with('y'));
    }

    #[test]
    fn parts_are_checked() {
        assert!(check_part("separator", "__", 8).is_ok());
        assert!(
            check_part("separator", "", 8)
                .unwrap_err()
                .contains("empty")
        );
        assert!(check_part("prefix", "a/b", 8).unwrap_err().contains("'/'"));
        assert!(
            check_part("prefix", "abcdefghi", 8)
                .unwrap_err()
                .contains("at most 8")
        );
    }

    #[test]
    fn namespaces_route_by_lookup_and_refuse_collisions() {
        let ns = Namespace::build(
            "__",
            [
                ("github", "github", vec!["create_issue", "a__b"]),
                ("slack", "chat", vec!["post"]),
            ],
        )
        .unwrap();
        assert_eq!(ns.len(), 3);
        let origin = ns.resolve("github__a__b").unwrap();
        assert_eq!(
            (origin.server.as_str(), origin.upstream.as_str()),
            ("github", "a__b")
        );
        assert_eq!(ns.resolve("chat__post").unwrap().server, "slack");
        assert!(ns.resolve("slack__post").is_none());

        // `a` + `__` + `b__c` and `a__b` + `__` + `c` are the same name.
        let collisions = Namespace::build(
            "__",
            [("one", "a", vec!["b__c"]), ("two", "a__b", vec!["c"])],
        )
        .unwrap_err();
        assert_eq!(collisions.len(), 1);
        let message = collisions[0].to_string();
        assert!(
            message.contains("server one") && message.contains("server two"),
            "{message}"
        );
        assert!(message.contains("\"a__b__c\""), "{message}");

        // Two upstream names that sanitize alike, on one server.
        let collisions =
            Namespace::build("__", [("fs", "fs", vec!["read file", "read_file"])]).unwrap_err();
        assert_eq!(collisions[0].published, "fs__read_file");
    }
}
