//! Counters per subject: which counter a request is charged to (`applies_per`), and the
//! concurrent map that holds them.
//!
//! The map is split into shards, each a `RwLock` over a `hashbrown::HashTable`; a lookup takes a
//! shard's read lock only, and finds the counter by hashing the borrowed parts of its key, so
//! the common case (the counter exists) allocates nothing. Each counter has its own `Mutex`:
//! requests for different subjects never wait for each other, and a counter is updated in one
//! critical section of a few dozen nanoseconds.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::config::AppliesPer;
use crate::identity::{Identity, SubjectKind};
use crate::when::{Plane, RequestFacts};

/// Locks ignoring poisoning: the counters' invariants hold after every statement (no code under
/// these locks can panic halfway through an update), so a panic elsewhere leaves them usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// An empty metadata map, for facts made up from an identity alone.
pub(crate) static NO_METADATA: BTreeMap<String, String> = BTreeMap::new();

/// Facts that carry only who is calling.
pub(crate) fn identity_only(identity: &Identity) -> RequestFacts<'_> {
    RequestFacts {
        identity,
        plane: Plane::Llm,
        model: None,
        tool: None,
        agent: None,
        metadata: &NO_METADATA,
    }
}

/// A counter's key, borrowed from the request: a tag (which kind of subject, or whether the
/// value is absent) and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyRef<'a> {
    tag: u8,
    value: &'a str,
}

const PRESENT: u8 = 0;
const ABSENT: u8 = 255;

/// `applies_per`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Per {
    Shared,
    User,
    Team,
    Key,
    Model,
    Metadata(Box<str>),
}

const SUBJECT_KINDS: [SubjectKind; 4] = [
    SubjectKind::User,
    SubjectKind::Service,
    SubjectKind::Agent,
    SubjectKind::Key,
];

impl Per {
    /// `None` for an unknown spelling (ruled out by validation).
    pub fn new(applies_per: Option<&AppliesPer>) -> Option<Self> {
        Some(match applies_per {
            None => Self::Shared,
            Some(AppliesPer::User) => Self::User,
            Some(AppliesPer::Team) => Self::Team,
            Some(AppliesPer::Key) => Self::Key,
            Some(AppliesPer::Model) => Self::Model,
            Some(AppliesPer::Metadata(key)) if !key.is_empty() => {
                Self::Metadata(key.as_str().into())
            }
            Some(AppliesPer::Metadata(_) | AppliesPer::Unknown(_)) => return None,
        })
    }

    /// Whether the counter is chosen by the request rather than by who is calling.
    pub fn depends_on_request(&self) -> bool {
        matches!(self, Self::Model | Self::Metadata(_))
    }

    /// The counter a request is charged to. A request without a value (no team, no model, the
    /// metadata key not sent) shares one counter with all such requests, so that leaving a value
    /// out never escapes a limit.
    pub fn key<'a>(&'a self, facts: &RequestFacts<'a>) -> KeyRef<'a> {
        let present = |value: Option<&'a str>| match value {
            Some(value) => KeyRef {
                tag: PRESENT,
                value,
            },
            None => KeyRef {
                tag: ABSENT,
                value: "",
            },
        };
        let identity = facts.identity;
        match self {
            Self::Shared => KeyRef {
                tag: PRESENT,
                value: "",
            },
            Self::User => KeyRef {
                tag: SUBJECT_KINDS
                    .iter()
                    .position(|k| *k == identity.kind)
                    .unwrap_or(0) as u8
                    + 1,
                value: &identity.name,
            },
            Self::Team => present(
                identity
                    .key_team
                    .as_deref()
                    .or_else(|| identity.teams.iter().map(|t| t.team.as_str()).min()),
            ),
            Self::Key => present(identity.key_id.as_deref()),
            Self::Model => present(facts.model),
            Self::Metadata(key) => present(facts.metadata.get(&**key).map(String::as_str)),
        }
    }

    fn prefix(&self) -> &str {
        match self {
            Self::Shared | Self::User => "",
            Self::Team => "team",
            Self::Key => "key",
            Self::Model => "model",
            Self::Metadata(key) => key,
        }
    }

    /// The subject as shown and stored: `*` (shared), `user:alice`, `team:ml`, `key:<id>`,
    /// `model:gpt-4o`, `metadata.project:apollo`; without a value just the kind: `team`.
    pub fn render(&self, key: KeyRef<'_>) -> String {
        match self {
            Self::Shared => "*".to_owned(),
            Self::User => {
                let kind = SUBJECT_KINDS[usize::from(key.tag.clamp(1, 4) - 1)];
                format!("{}:{}", kind.as_str(), key.value)
            }
            Self::Metadata(name) if key.tag == ABSENT => format!("metadata.{name}"),
            Self::Metadata(name) => format!("metadata.{name}:{}", key.value),
            _ if key.tag == ABSENT => self.prefix().to_owned(),
            _ => format!("{}:{}", self.prefix(), key.value),
        }
    }

    /// Every subject of this kind, for a listing made without a request: `model:*`.
    pub fn render_any(&self) -> String {
        match self {
            Self::Shared => "*".to_owned(),
            Self::User => "user:*".to_owned(),
            Self::Metadata(name) => format!("metadata.{name}:*"),
            other => format!("{}:*", other.prefix()),
        }
    }

    /// The inverse of [`render`](Self::render); `None` if `subject` is not of this kind.
    pub fn parse<'a>(&self, subject: &'a str) -> Option<KeyRef<'a>> {
        let present = |value| KeyRef {
            tag: PRESENT,
            value,
        };
        match self {
            Self::Shared => (subject == "*").then_some(present("")),
            Self::User => {
                let (kind, name) = subject.split_once(':')?;
                let tag = SUBJECT_KINDS.iter().position(|k| k.as_str() == kind)? as u8 + 1;
                Some(KeyRef { tag, value: name })
            }
            other => {
                let rest = match other {
                    Self::Metadata(_) => subject.strip_prefix("metadata.")?,
                    _ => subject,
                };
                let rest = rest.strip_prefix(other.prefix())?;
                if rest.is_empty() {
                    Some(KeyRef {
                        tag: ABSENT,
                        value: "",
                    })
                } else {
                    rest.strip_prefix(':').map(present)
                }
            }
        }
    }
}

const SHARDS: usize = 32;

/// String equality without a call to `memcmp` for the short strings keys usually are (names,
/// ids): on the hot path the call costs more than the comparison.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 32 {
        return a == b;
    }
    let mut differ = 0;
    for (x, y) in a.iter().zip(b) {
        differ |= x ^ y;
    }
    differ == 0
}

struct Slot<C> {
    tag: u8,
    value: Box<str>,
    counter: Arc<Mutex<C>>,
}

impl<C> Slot<C> {
    fn is(&self, key: KeyRef<'_>) -> bool {
        self.tag == key.tag && same(&self.value, key.value)
    }

    fn key(&self) -> KeyRef<'_> {
        KeyRef {
            tag: self.tag,
            value: &self.value,
        }
    }
}

/// Counters by subject, for one rule.
pub(crate) struct CounterMap<C> {
    /// Keyed SipHash: counter keys include client-chosen values (metadata), so the hash must
    /// not be predictable.
    hasher: RandomState,
    shards: Box<[RwLock<HashTable<Slot<C>>>]>,
}

impl<C> CounterMap<C> {
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
        }
    }

    fn hash(&self, key: KeyRef<'_>) -> u64 {
        self.hasher.hash_one((key.tag, key.value))
    }

    fn shard(&self, hash: u64) -> &RwLock<HashTable<Slot<C>>> {
        // Bits the table itself does not use for small tables (low bits pick the bucket, the top
        // seven are the control tag), so that one shard's entries still spread evenly.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    pub fn get(&self, key: KeyRef<'_>) -> Option<Arc<Mutex<C>>> {
        let hash = self.hash(key);
        read(self.shard(hash))
            .find(hash, |slot| slot.is(key))
            .map(|slot| slot.counter.clone())
    }

    /// The counter for `key`, made with `make` if there is none yet.
    pub fn get_or_insert_with(&self, key: KeyRef<'_>, make: impl FnOnce() -> C) -> Arc<Mutex<C>> {
        let hash = self.hash(key);
        let shard = self.shard(hash);
        if let Some(slot) = read(shard).find(hash, |slot| slot.is(key)) {
            return slot.counter.clone();
        }
        let mut table = write(shard);
        let entry = table.entry(
            hash,
            |slot| slot.is(key),
            |slot| self.hasher.hash_one((slot.tag, &*slot.value)),
        );
        match entry {
            Entry::Occupied(slot) => slot.get().counter.clone(),
            Entry::Vacant(vacant) => {
                let counter = Arc::new(Mutex::new(make()));
                vacant.insert(Slot {
                    tag: key.tag,
                    value: key.value.into(),
                    counter: counter.clone(),
                });
                counter
            }
        }
    }

    /// Calls `f` with every counter (locked one at a time, in no particular order).
    pub fn for_each(&self, mut f: impl FnMut(KeyRef<'_>, &mut C)) {
        for shard in &self.shards {
            for slot in read(shard).iter() {
                f(slot.key(), &mut lock(&slot.counter));
            }
        }
    }

    /// Drops the counters `idle` says may go, unless a request in flight still holds one.
    /// Returns how many were dropped.
    pub fn retain_busy(&self, mut idle: impl FnMut(&mut C) -> bool) -> usize {
        let mut dropped = 0;
        for shard in &self.shards {
            let mut table = write(shard);
            let before = table.len();
            // Holding the shard's write lock, nobody can take a new reference to a counter of
            // this shard, so a count of one cannot change under us.
            table.retain(|slot| {
                Arc::strong_count(&slot.counter) > 1 || !idle(&mut lock(&slot.counter))
            });
            dropped += before - table.len();
        }
        dropped
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| read(shard).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{GlobalRole, Scopes, TeamMembership, TeamRole};

    fn identity(kind: SubjectKind, name: &str, key_team: Option<&str>, teams: &[&str]) -> Identity {
        Identity {
            principal_id: Some(format!("p-{name}")),
            name: name.into(),
            kind,
            key_id: Some(format!("k-{name}")),
            key_team: key_team.map(Into::into),
            teams: teams
                .iter()
                .map(|t| TeamMembership {
                    team_id: format!("t-{t}"),
                    team: (*t).into(),
                    role: TeamRole::Member,
                })
                .collect(),
            role: GlobalRole::Member,
            scopes: Scopes::default_for_new_key(),
            claims: Default::default(),
        }
    }

    #[test]
    fn subjects_render_and_parse_back() {
        let alice = identity(SubjectKind::User, "alice", None, &["ml", "infra"]);
        let bot = identity(SubjectKind::Service, "alice", Some("ops"), &["ml"]);
        let loner = Identity {
            key_id: None,
            ..identity(SubjectKind::User, "bob", None, &[])
        };
        let metadata = BTreeMap::from([("project".to_owned(), "apollo".to_owned())]);
        let facts = |identity| RequestFacts {
            model: Some("gpt-4o"),
            metadata: &metadata,
            ..identity_only(identity)
        };
        let bare = identity_only;
        let project = Per::Metadata("project".into());
        let cases = [
            (Per::Shared, facts(&alice), "*"),
            (Per::User, facts(&alice), "user:alice"),
            (Per::User, facts(&bot), "service:alice"),
            // The key's team first; else the caller's first team by name; else none.
            (Per::Team, facts(&bot), "team:ops"),
            (Per::Team, facts(&alice), "team:infra"),
            (Per::Team, facts(&loner), "team"),
            (Per::Key, facts(&alice), "key:k-alice"),
            (Per::Key, facts(&loner), "key"),
            (Per::Model, facts(&alice), "model:gpt-4o"),
            (Per::Model, bare(&alice), "model"),
            (project.clone(), facts(&alice), "metadata.project:apollo"),
            (project.clone(), bare(&alice), "metadata.project"),
        ];
        for (per, facts, subject) in cases {
            let key = per.key(&facts);
            assert_eq!(per.render(key), subject);
            assert_eq!(per.parse(subject), Some(key), "{subject}");
        }
        // Same name, different kinds: different counters.
        assert_ne!(Per::User.key(&facts(&alice)), Per::User.key(&facts(&bot)));
        for (per, wrong) in [
            (Per::Shared, "user:alice"),
            (Per::User, "alice"),
            (Per::User, "robot:alice"),
            (Per::Team, "teams:ml"),
            (Per::Team, "key:ml"),
            (project.clone(), "metadata.other:x"),
            (project, "project:x"),
        ] {
            assert_eq!(per.parse(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn counters_are_found_again_and_pruned_when_idle() {
        let map: CounterMap<u64> = CounterMap::new();
        let names: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            let key = KeyRef {
                tag: PRESENT,
                value: name,
            };
            *lock(&map.get_or_insert_with(key, || 0)) += i as u64;
        }
        assert_eq!(map.len(), 1000);
        let key = |value| KeyRef {
            tag: PRESENT,
            value,
        };
        assert_eq!(*lock(&map.get(key("user-7")).unwrap()), 7);
        assert!(
            map.get(KeyRef {
                tag: ABSENT,
                value: "user-7"
            })
            .is_none()
        );
        // A counter someone still holds survives pruning.
        let held = map.get(key("user-0")).unwrap();
        assert_eq!(map.retain_busy(|n| *n < 500), 499);
        assert!(map.get(key("user-0")).is_some());
        drop(held);
        assert_eq!(map.retain_busy(|n| *n < 500), 1);
        let mut seen = 0;
        map.for_each(|_, n| {
            assert!(*n >= 500);
            seen += 1;
        });
        assert_eq!(seen, 500);
    }
}
