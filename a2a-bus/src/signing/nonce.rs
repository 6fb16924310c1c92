//! The nonces of recently accepted messages, so that a captured signed message cannot be
//! delivered twice.
//!
//! A message is accepted only while its `iat` is within the allowed skew of the receiver's
//! clock, so a nonce must be remembered until `iat + skew`: after that the message is refused as
//! stale anyway. The cache keeps a 64-bit keyed hash of each nonce (SipHash with a random key
//! per cache, so senders cannot aim for collisions) and its expiry, which keeps an entry at a
//! few dozen bytes whatever the nonce's length.
//!
//! Bounded: when `capacity` entries are live, the one closest to expiry is dropped to make
//! room, and a replay of that message would go unnoticed until its own expiry. For complete
//! protection, size the cache for the peak message rate times twice the skew (the longest an
//! entry lives is `iat + skew` with `iat` up to `skew` ahead of the clock).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

/// Remembers nonces for the skew window. Shared by the threads that verify messages.
#[derive(Debug)]
pub struct NonceCache {
    max_skew_secs: u64,
    capacity: usize,
    hash_key: RandomState,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Nonce hash → expiry (unix seconds).
    expiry_of: HashMap<u64, u64, BuildHasherDefault<AlreadyHashed>>,
    /// The same entries, soonest expiry on top; one heap entry per map entry.
    by_expiry: BinaryHeap<Reverse<(u64, u64)>>,
}

impl NonceCache {
    /// A cache for at most `capacity` nonces (at least 1), for messages whose `iat` may differ
    /// from the receiver's clock by up to `max_skew` (whole seconds; verification uses the same
    /// window, so the two cannot disagree).
    pub fn new(capacity: usize, max_skew: Duration) -> Self {
        Self {
            max_skew_secs: max_skew.as_secs(),
            capacity: capacity.max(1),
            hash_key: RandomState::new(),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The accepted difference between a signature's `iat` and the clock.
    pub fn max_skew(&self) -> Duration {
        Duration::from_secs(self.max_skew_secs)
    }

    pub(crate) fn max_skew_secs(&self) -> u64 {
        self.max_skew_secs
    }

    /// Whether `nonce` is new: if so it is remembered until `iat + skew` and the answer is true;
    /// a nonce already remembered gives false. A message already past its window (`iat + skew`
    /// before `now`) gives false too: it cannot be told apart from a replay, and verification
    /// refuses it as stale before asking. Times are unix seconds.
    pub fn check_and_remember(&self, nonce: &str, iat: u64, now: u64) -> bool {
        let expires = iat.saturating_add(self.max_skew_secs);
        if expires < now {
            return false;
        }
        let hash = self.hash_key.hash_one(nonce);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.forget_expired(now);
        if entries.expiry_of.contains_key(&hash) {
            return false;
        }
        if entries.expiry_of.len() >= self.capacity {
            entries.forget_soonest();
        }
        entries.expiry_of.insert(hash, expires);
        entries.by_expiry.push(Reverse((expires, hash)));
        true
    }

    /// How many nonces are remembered now (expired ones go at the next check).
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .expiry_of
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entries {
    fn forget_expired(&mut self, now: u64) {
        while let Some(Reverse((expires, _))) = self.by_expiry.peek() {
            if *expires >= now {
                break;
            }
            self.forget_soonest();
        }
    }

    fn forget_soonest(&mut self) {
        if let Some(Reverse((_, hash))) = self.by_expiry.pop() {
            self.expiry_of.remove(&hash);
        }
    }
}

/// The map's keys are already keyed SipHash values; hashing them again would only cost time.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys reach this hasher; fold anything else in rather than lose it.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const SKEW: Duration = Duration::from_secs(300);
    const NOW: u64 = 1_764_180_000;

    #[test]
    fn a_nonce_is_accepted_once_within_its_window() {
        let cache = NonceCache::new(100, SKEW);
        assert!(cache.check_and_remember("n1", NOW, NOW));
        assert!(!cache.check_and_remember("n1", NOW, NOW));
        assert!(!cache.check_and_remember("n1", NOW, NOW + 300));
        assert!(cache.check_and_remember("n2", NOW, NOW));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn entries_expire_when_their_message_would_be_stale() {
        let cache = NonceCache::new(100, SKEW);
        assert!(cache.check_and_remember("early", NOW - 200, NOW));
        assert!(cache.check_and_remember("ahead", NOW + 250, NOW));
        // At NOW + 101, "early" (iat + 300 = NOW + 100) is past its window and forgotten;
        // its message is stale by then, so verification refuses it before the cache is asked.
        assert!(!cache.check_and_remember("early", NOW - 200, NOW + 101));
        assert!(cache.check_and_remember("next", NOW + 101, NOW + 101));
        assert_eq!(cache.len(), 2, "\"early\" was forgotten");
        // "ahead" stays until NOW + 550.
        assert!(!cache.check_and_remember("ahead", NOW + 250, NOW + 550));
        assert!(cache.check_and_remember("later", NOW + 551, NOW + 551));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_drops_the_entry_closest_to_expiry() {
        let cache = NonceCache::new(2, SKEW);
        assert!(cache.check_and_remember("a", NOW, NOW));
        assert!(cache.check_and_remember("b", NOW - 10, NOW));
        assert!(cache.check_and_remember("c", NOW, NOW));
        assert_eq!(cache.len(), 2);
        // "b" expired soonest and was dropped; "a" and "c" are still known.
        assert!(!cache.check_and_remember("a", NOW, NOW));
        assert!(!cache.check_and_remember("c", NOW, NOW));
        assert!(cache.check_and_remember("b", NOW - 10, NOW));
    }

    #[test]
    fn threads_share_one_memory() {
        let cache = Arc::new(NonceCache::new(10_000, SKEW));
        let accepted: usize = (0..4)
            .map(|_| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    (0..1_000)
                        .filter(|i| cache.check_and_remember(&format!("nonce-{i}"), NOW, NOW))
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .sum();
        assert_eq!(accepted, 1_000);
    }
}
