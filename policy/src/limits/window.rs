//! The sliding-window counter behind every rate limit.
//!
//! A window of length `T` (a minute, an hour, a day) is divided into [`SLOTS`] slots of width
//! `w = T / SLOTS`. The counter keeps the amount used in each of the last `SLOTS + 1` slots — the
//! current one included — and their running total. A request costing `c` fits if
//! `total + max(c, 1) <= limit`.
//!
//! **Why this never lets more than the limit through in any window of length `T`.** At a time
//! `t` in slot `k`, the window `(t - T, t]` begins in slot `k - SLOTS`, which is the oldest slot
//! still counted; so everything used in `(t - T, t]` is in `total`. Every admission checks
//! `total <= limit` after adding itself, hence the amount admitted in the `T` before any admission
//! is at most the limit — and the busiest window of length `T` always ends at an admission.
//! The price is a little conservatism: a unit is released between `T` and `T + w` after it was
//! used (`w` is 1 s for a minute, 1 min for an hour, 24 min for a day).
//!
//! **Why not GCRA or a token bucket.** With a burst allowance of the full limit (what users
//! expect: "60 a minute" should allow 10 at once), GCRA admits a full burst and then keeps
//! admitting at the steady rate, i.e. up to `2 × limit − 1` in one window of length `T`; without
//! a burst allowance it rejects any two requests closer than `T / limit`. A fixed window admits
//! `2 × limit` across its boundary. The slotted sliding window has neither problem, costs O(1)
//! per check (slots are cleared as time passes, each once) and about 500 bytes per counter.

/// How many slots a window is divided into.
pub(crate) const SLOTS: usize = 60;
const RING: usize = SLOTS + 1;

/// Usage over one sliding window. Not synchronized: the engine keeps each behind a mutex.
#[derive(Debug, Clone)]
pub(crate) struct SlidingWindow {
    /// The newest slot seen (absolute index: time / slot width).
    head: i64,
    /// Sum of `ring`.
    total: u64,
    /// Usage per slot; slot `s` lives at `s mod RING`.
    ring: [u64; RING],
}

impl Default for SlidingWindow {
    fn default() -> Self {
        Self {
            head: i64::MIN,
            total: 0,
            ring: [0; RING],
        }
    }
}

/// Why a request does not fit, and when it would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deny {
    /// Milliseconds from now until the request would fit, if nothing else is admitted; `None`
    /// when it never can (it alone costs more than the limit).
    pub retry_after_ms: Option<u64>,
}

impl SlidingWindow {
    /// Moves the window to the slot containing `now_ms`, dropping the slots that fell out.
    /// Time never goes backwards for a window: an earlier `now` counts in the newest slot.
    pub fn advance(&mut self, now_ms: i64, slot_ms: i64) {
        let slot = now_ms.div_euclid(slot_ms);
        if slot <= self.head {
            return;
        }
        if self.head == i64::MIN || slot - self.head >= RING as i64 {
            self.ring = [0; RING];
            self.total = 0;
        } else {
            for s in self.head + 1..=slot {
                let i = Self::index(s);
                self.total -= self.ring[i];
                self.ring[i] = 0;
            }
        }
        self.head = slot;
    }

    fn index(slot: i64) -> usize {
        slot.rem_euclid(RING as i64) as usize
    }

    /// The slot the next [`add`](Self::add) goes to.
    pub fn head(&self) -> i64 {
        self.head
    }

    pub fn used(&self) -> u64 {
        self.total
    }

    /// Whether `cost` fits under `limit` now. A zero cost still needs one unit of headroom, so
    /// that a counter driven over its limit blocks everything until it recovers.
    pub fn fits(&self, cost: u64, limit: u64) -> bool {
        self.total.saturating_add(cost.max(1)) <= limit
    }

    /// Counts `amount` in the current slot. May go over the limit (token usage settled after the
    /// call); the counter then blocks until enough has aged out.
    pub fn add(&mut self, amount: u64) {
        let i = Self::index(self.head);
        self.ring[i] = self.ring[i].saturating_add(amount);
        self.total = self.total.saturating_add(amount);
    }

    /// Takes back up to `amount` that was added in `slot`, if that slot is still counted.
    pub fn refund(&mut self, slot: i64, amount: u64) {
        if slot > self.head || self.head - slot > SLOTS as i64 {
            return;
        }
        let i = Self::index(slot);
        let back = amount.min(self.ring[i]);
        self.ring[i] -= back;
        self.total -= back;
    }

    /// When `cost` would fit, given the window has been advanced to `now_ms`.
    pub fn deny(&self, now_ms: i64, slot_ms: i64, cost: u64, limit: u64) -> Deny {
        let need = cost.max(1);
        if need > limit {
            return Deny {
                retry_after_ms: None,
            };
        }
        // Slots age out oldest first: at the start of slot head + j, slots up to
        // head - SLOTS + j - 1 are gone.
        let mut total = self.total;
        let mut j = 0;
        while total.saturating_add(need) > limit && j <= SLOTS as i64 {
            total -= self.ring[Self::index(self.head - SLOTS as i64 + j)];
            j += 1;
        }
        let at = (self.head + j).saturating_mul(slot_ms);
        Deny {
            retry_after_ms: Some(at.saturating_sub(now_ms).max(0).unsigned_abs()),
        }
    }

    /// When everything counted now will have aged out (the window is back to its full limit):
    /// the end of the newest slot with usage, plus the window. `now_ms` if nothing is counted.
    pub fn reset_at_ms(&self, now_ms: i64, slot_ms: i64) -> i64 {
        if self.total == 0 {
            return now_ms;
        }
        let newest = (0..=SLOTS as i64)
            .map(|age| self.head - age)
            .find(|s| self.ring[Self::index(*s)] != 0)
            .unwrap_or(self.head);
        (newest + RING as i64).saturating_mul(slot_ms)
    }

    /// Whether nothing is counted any more at `now_ms` (the counter may be dropped).
    pub fn is_idle(&self, now_ms: i64, slot_ms: i64) -> bool {
        self.total == 0 || now_ms.div_euclid(slot_ms) - self.head > SLOTS as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    const SLOT: i64 = MINUTE / SLOTS as i64;

    /// Offers one request (cost 1) at each time; returns the admitted times.
    fn run(limit: u64, times: impl IntoIterator<Item = i64>) -> Vec<i64> {
        let mut window = SlidingWindow::default();
        let mut admitted = Vec::new();
        for t in times {
            window.advance(t, SLOT);
            if window.fits(1, limit) {
                window.add(1);
                admitted.push(t);
            }
        }
        admitted
    }

    /// The most requests admitted in any window `(t - T, t]`, by brute force over the log.
    fn busiest_window(admitted: &[i64], window: i64) -> usize {
        admitted
            .iter()
            .map(|&end| {
                admitted
                    .iter()
                    .filter(|&&t| t > end - window && t <= end)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn no_burst_above_the_limit_across_a_window_boundary() {
        // A fixed one-minute window would admit 10 at 59.9 s and 10 more at 60.1 s.
        let limit = 10;
        let mut times = vec![59_900; 15];
        times.extend([60_100; 15]);
        let admitted = run(limit, times);
        assert_eq!(admitted.len(), 10);
        assert!(admitted.iter().all(|t| *t == 59_900));

        // Bursts at every slot boundary and in between, for three minutes: no window of one
        // minute ever holds more than the limit.
        let times: Vec<i64> = (0..180_000)
            .step_by(50)
            .flat_map(|t| std::iter::repeat_n(t, if t % 1000 >= 950 { 3 } else { 1 }))
            .collect();
        let admitted = run(limit, times);
        assert_eq!(busiest_window(&admitted, MINUTE), limit as usize);
        // ... and the limit is really available: about `limit` per minute gets through.
        assert!(
            admitted.len() >= 3 * limit as usize - 1,
            "{}",
            admitted.len()
        );
    }

    #[test]
    fn usage_ages_out_after_one_window_and_at_most_one_slot() {
        let mut window = SlidingWindow::default();
        window.advance(10_500, SLOT);
        window.add(5);
        // Still counted until the end of its slot plus the window (71 s), gone after.
        for (t, used) in [(60_000, 5), (70_999, 5), (71_000, 0)] {
            window.advance(t, SLOT);
            assert_eq!(window.used(), used, "at {t}");
        }
    }

    #[test]
    fn retry_after_is_exactly_when_the_request_fits() {
        // (uses: (time, amount)), now, cost, limit, expected retry-after in ms
        type Case = (&'static [(i64, u64)], i64, u64, u64, Option<u64>);
        let cases: &[Case] = &[
            // Full at 10.5 s: fits again when that slot ages out at 71 s.
            (&[(10_500, 10)], 30_000, 1, 10, Some(41_000)),
            // Two slots: the older one frees enough.
            (&[(10_500, 6), (20_000, 4)], 30_000, 5, 10, Some(41_000)),
            // ... but not for a larger request: it waits for both.
            (&[(10_500, 6), (20_000, 4)], 30_000, 7, 10, Some(51_000)),
            // Over the limit after a settle: waits until enough has aged out.
            (&[(0, 25)], 59_999, 1, 10, Some(1_001)),
            // Fits now.
            (&[(0, 3)], 5_000, 1, 10, Some(0)),
            // Never: more than the limit on its own.
            (&[], 5_000, 11, 10, None),
        ];
        for (i, (uses, now, cost, limit, expected)) in cases.iter().enumerate() {
            let mut window = SlidingWindow::default();
            for (t, amount) in uses.iter() {
                window.advance(*t, SLOT);
                window.add(*amount);
            }
            window.advance(*now, SLOT);
            let deny = window.deny(*now, SLOT, *cost, *limit);
            assert_eq!(deny.retry_after_ms, *expected, "case {i}");
            if let Some(wait) = deny.retry_after_ms {
                // At the moment promised it fits, and not a millisecond before.
                let mut later = window.clone();
                later.advance(now + wait as i64, SLOT);
                assert!(later.fits(*cost, *limit), "case {i}");
                if wait > 0 {
                    let mut sooner = window.clone();
                    sooner.advance(now + wait as i64 - 1, SLOT);
                    assert!(!sooner.fits(*cost, *limit), "case {i}");
                }
            }
        }
    }

    #[test]
    fn refunds_only_what_is_still_counted() {
        let mut window = SlidingWindow::default();
        window.advance(0, SLOT);
        let slot = window.head();
        window.add(100);
        window.advance(30_000, SLOT);
        window.add(1);
        window.refund(slot, 60);
        assert_eq!(window.used(), 41);
        window.refund(slot, 1_000);
        assert_eq!(window.used(), 1);
        // Once the slot has aged out a refund does nothing.
        let mut aged = SlidingWindow::default();
        aged.advance(0, SLOT);
        aged.add(7);
        aged.advance(61_000, SLOT);
        aged.add(2);
        aged.refund(0, 7);
        assert_eq!(aged.used(), 2);
    }

    #[test]
    fn reset_and_idleness() {
        let mut window = SlidingWindow::default();
        window.advance(0, SLOT);
        assert_eq!(window.reset_at_ms(0, SLOT), 0);
        window.add(1);
        window.advance(2_500, SLOT);
        window.add(1);
        assert_eq!(window.reset_at_ms(2_500, SLOT), 63_000);
        assert!(!window.is_idle(62_999, SLOT));
        assert!(window.is_idle(63_000, SLOT));
        // Time going backwards is treated as "now".
        window.advance(1_000, SLOT);
        assert_eq!(window.used(), 2);
    }
}
