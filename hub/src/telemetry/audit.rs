//! The audit trail's records and their hash chain.
//!
//! Each stored entry has a sequence number and `hash = SHA-256(prev_hash ‖ JCS(entry))`, where
//! `prev_hash` is the previous entry's hash (64 zeros before the first) and JCS is RFC 8785's
//! canonical JSON of the entry with its `seq`. Changing, removing or reordering any entry
//! breaks every hash after it; [`verify`] names the first broken link.

use agenthub_a2a_bus::signing::jcs;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::Millis;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something an auditor must be able to see: an admin change, a login, a denial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// UUIDv7.
    pub id: String,
    pub at: Millis,
    /// Who acted: `user:alice`, or `anonymous` for a request without valid credentials.
    pub actor: String,
    /// `POST /api/v1/keys`, `login`, `denied`, …
    pub action: String,
    /// What it was done to: a path, a provider, a resource.
    pub target: String,
    /// `ok`, or what went wrong (`403 forbidden`, …).
    pub outcome: String,
    /// More facts (request id, remote address, key id); never secret values.
    pub details: Value,
}

impl AuditEntry {
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        let at = crate::model::now_millis();
        // Without NUL characters (callers' tool names, paths), which Postgres cannot store: the
        // hash covers the text as stored.
        let clean = |text: String| {
            if text.contains('\0') {
                text.replace('\0', "\u{FFFD}")
            } else {
                text
            }
        };
        Self {
            id: crate::model::time_ordered_id(at),
            at,
            actor: clean(actor.into()),
            action: clean(action.into()),
            target: clean(target.into()),
            outcome: clean(outcome.into()),
            details: Value::Object(Default::default()),
        }
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(details) = &mut self.details {
            details.insert(key.to_owned(), value.into());
        }
        self
    }
}

/// An entry as stored: its place in the chain and the hashes that bind it there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainedEntry {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of `entry` at `seq` after `prev_hash`.
pub fn link_hash(prev_hash: &str, seq: i64, entry: &AuditEntry) -> String {
    let canonical = jcs::canonicalize(&json!({
        "seq": seq,
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "details": entry.details,
    }));
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(prev_hash.as_bytes());
    context.update(canonical.as_bytes());
    hex(context.finish().as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: String,
}

/// Checks entries in sequence order, continuing from `expected` (the previous entry's seq and
/// hash; `None` to take the first entry's `prev_hash` as given, as after retention dropped
/// older ones). Returns the last (seq, hash) checked, or the first broken link.
pub struct Verifier {
    last: Option<(i64, String)>,
    pub checked: u64,
}

impl Verifier {
    pub fn new() -> Self {
        Self {
            last: None,
            checked: 0,
        }
    }

    pub fn check(&mut self, stored: &ChainedEntry) -> Result<(), BrokenLink> {
        let broken = |reason: String| {
            Err(BrokenLink {
                seq: stored.seq,
                reason,
            })
        };
        if let Some((seq, hash)) = &self.last {
            if stored.seq != seq + 1 {
                return broken(format!(
                    "entries {} to {} are missing",
                    seq + 1,
                    stored.seq - 1
                ));
            }
            if &stored.prev_hash != hash {
                return broken("its prev_hash is not the previous entry's hash".into());
            }
        } else if stored.seq == 1 && stored.prev_hash != GENESIS {
            return broken("the first entry does not start from the genesis hash".into());
        }
        if link_hash(&stored.prev_hash, stored.seq, &stored.entry) != stored.hash {
            return broken(
                "its contents do not match its hash (changed after it was written)".into(),
            );
        }
        self.last = Some((stored.seq, stored.hash.clone()));
        self.checked += 1;
        Ok(())
    }

    /// The last entry checked.
    pub fn last(&self) -> Option<&(i64, String)> {
        self.last.as_ref()
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

/// Chains `entries` after (`seq`, `hash`).
pub fn chain(mut seq: i64, mut hash: String, entries: &[AuditEntry]) -> Vec<ChainedEntry> {
    entries
        .iter()
        .map(|entry| {
            seq += 1;
            let next = link_hash(&hash, seq, entry);
            ChainedEntry {
                seq,
                entry: entry.clone(),
                prev_hash: std::mem::replace(&mut hash, next.clone()),
                hash: next,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<AuditEntry> {
        (0..n)
            .map(|i| {
                let mut entry =
                    AuditEntry::new("user:admin", "POST /api/v1/keys", format!("k{i}"), "ok");
                entry.at = 1_700_000_000_000 + i as i64;
                entry.id = format!("id-{i}");
                entry
            })
            .collect()
    }

    fn verify(chain: &[ChainedEntry]) -> Result<u64, BrokenLink> {
        let mut verifier = Verifier::new();
        for stored in chain {
            verifier.check(stored)?;
        }
        Ok(verifier.checked)
    }

    #[test]
    fn an_intact_chain_verifies_and_continues_across_batches() {
        let first = chain(0, GENESIS.into(), &entries(3));
        let (seq, hash) = (first[2].seq, first[2].hash.clone());
        let mut all = first;
        all.extend(chain(seq, hash, &entries(2)));
        assert_eq!(verify(&all), Ok(5));
        // Retention dropped the oldest: the rest still verifies from its first prev_hash.
        assert_eq!(verify(&all[2..]), Ok(3));
    }

    /// Every kind of tampering is found, at the entry where it happened.
    #[test]
    fn tampering_names_the_first_broken_link() {
        let good = chain(0, GENESIS.into(), &entries(5));
        type Tamper = fn(&mut Vec<ChainedEntry>);
        let cases: [(&str, Tamper, i64); 5] = [
            ("changed field", |c| c[2].entry.outcome = "denied".into(), 3),
            (
                "changed detail",
                |c| c[1].entry.details = json!({"x": 1}),
                2,
            ),
            (
                "removed entry",
                |c| {
                    c.remove(3);
                },
                5,
            ),
            ("swapped entries", |c| c.swap(1, 2), 3),
            (
                "rehashed entry",
                |c| {
                    c[2].entry.actor = "user:mallory".into();
                    c[2].hash = link_hash(&c[2].prev_hash, 3, &c[2].entry);
                },
                4,
            ),
        ];
        for (name, tamper, at) in cases {
            let mut tampered = good.clone();
            tamper(&mut tampered);
            let broken = verify(&tampered).expect_err(name);
            assert_eq!(broken.seq, at, "{name}: {}", broken.reason);
        }
    }

    #[test]
    fn the_hash_is_sha256_of_prev_and_canonical_json() {
        let entry = &entries(1)[0];
        let canonical = r#"{"action":"POST /api/v1/keys","actor":"user:admin","at":1700000000000,"details":{},"id":"id-0","outcome":"ok","seq":1,"target":"k0"}"#;
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{GENESIS}{canonical}").as_bytes(),
        );
        assert_eq!(link_hash(GENESIS, 1, entry), hex(digest.as_ref()));
    }
}
