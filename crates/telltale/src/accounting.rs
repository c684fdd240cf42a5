//! Delivery accounting: every item sent carries a sequence number, and every item is judged
//! delivered, late, duplicated, out of order, or missing, from what a query saw.
//!
//! The model is loki-canary's (`pkg/canary/comparator/comparator.go` in grafana/loki) without its
//! WebSocket false positives: observations come from queries (with paging and a deadline), so a
//! tail reconnect replaying old lines cannot inflate the duplicate count. Out-of-order items are
//! the fewest items whose removal leaves the observed order increasing (the complement of a
//! longest increasing subsequence), so one displaced item counts once, not for every item it
//! passed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The verdict on one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Seen once, in order, within the deadline.
    Delivered {
        /// Send to first sighting.
        latency: Duration,
    },
    /// Seen once, in order, but after the lateness threshold.
    Late {
        /// Send to first sighting.
        latency: Duration,
    },
    /// Seen more than once.
    Duplicated {
        /// Times seen.
        copies: u32,
        /// Send to first sighting.
        latency: Duration,
    },
    /// Seen, but before an item sent earlier (in the same ordered stream).
    OutOfOrder {
        /// Send to first sighting.
        latency: Duration,
    },
    /// Seen only outside the place it was expected (another stream, other labels): it arrived,
    /// but a query for the promised labels does not find it.
    Misrouted {
        /// Send to first sighting.
        latency: Duration,
    },
    /// Never seen.
    Missing,
}

/// One sighting of an item in a read-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// The sequence number read back.
    pub seq: u64,
    /// When the harness first saw it, as an offset from the run's start.
    pub seen_at: Duration,
}

/// The ledger of one signal's items: what was sent, and what came back.
///
/// Compact by design, so a run of millions of items or a canary running for days costs a few
/// bytes an item and nothing a sighting: items are kept densely from the lowest sequence number
/// sent (12 bytes each: send time, first sighting, copies), times in whole milliseconds of the
/// run's clock, and a sighting only counts. What the store returned is kept only as the order
/// of first sightings (4 bytes an item), which the out-of-order judgement needs.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// The sequence number of `items[0]`.
    base: u64,
    items: Vec<Item>,
    sent: u64,
    /// Indexes into `items` of the items seen, in the order first seen.
    order: Vec<u32>,
    unexpected: BTreeSet<u64>,
    /// Items seen only outside the expected place: first sighting and where (an index into
    /// `places`, e.g. the labels).
    misrouted: BTreeMap<u64, (u32, u32)>,
    places: Vec<String>,
    late_after: Option<Duration>,
}

/// One item: when it was sent and first seen (milliseconds on the run's clock) and how often
/// it was seen.
#[derive(Debug, Clone, Copy)]
struct Item {
    sent_ms: u32,
    first_ms: u32,
    copies: u32,
}

/// `sent_ms` of a slot no item was sent for (sequence numbers need not be contiguous).
const NOT_SENT: u32 = u32::MAX;

const EMPTY: Item = Item {
    sent_ms: NOT_SENT,
    first_ms: u32::MAX,
    copies: 0,
};

/// Whole milliseconds, saturating (at 49 days).
fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX - 1)
}

impl Ledger {
    /// An empty ledger. Items seen later than `late_after` after being sent count as late.
    pub fn new(late_after: Option<Duration>) -> Ledger {
        Ledger {
            late_after,
            ..Ledger::default()
        }
    }

    /// The slot of `seq`, if an item was sent under it.
    fn slot(&self, seq: u64) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        (self.items.get(i)?.sent_ms != NOT_SENT).then_some(i)
    }

    /// Records that item `seq` was sent at `sent_at` (offset from the run's start).
    ///
    /// Memory grows with the span of sequence numbers sent, so they should be near each other
    /// (every signal numbers its items from 0).
    pub fn sent(&mut self, seq: u64, sent_at: Duration) {
        if self.items.is_empty() {
            self.base = seq;
        } else if seq < self.base {
            let grow = usize::try_from(self.base - seq).expect("sequence span fits memory");
            self.items.splice(0..0, std::iter::repeat_n(EMPTY, grow));
            for i in &mut self.order {
                *i += grow as u32;
            }
            self.base = seq;
        }
        let i = usize::try_from(seq - self.base).expect("sequence span fits memory");
        if i >= self.items.len() {
            self.items.resize(i + 1, EMPTY);
        }
        if self.items[i].sent_ms == NOT_SENT {
            self.sent += 1;
        }
        // The run's clock never reaches 49 days, the sentinel.
        self.items[i].sent_ms = ms(sent_at).min(NOT_SENT - 1);
    }

    /// Records the items of one read-back, in the order the store returned them (oldest first).
    ///
    /// Sightings of sequence numbers never sent are kept apart as unexpected.
    pub fn observe(&mut self, sightings: impl IntoIterator<Item = Sighting>) {
        for s in sightings {
            self.see(s.seq, s.seen_at);
        }
    }

    /// Records one sighting, as [`Ledger::observe`] does.
    pub fn see(&mut self, seq: u64, seen_at: Duration) {
        let Some(i) = self.slot(seq) else {
            self.unexpected.insert(seq);
            return;
        };
        let item = &mut self.items[i];
        if item.copies == 0 {
            self.order.push(i as u32);
        }
        item.copies = item.copies.saturating_add(1);
        item.first_ms = item.first_ms.min(ms(seen_at));
    }

    /// Records that item `seq` was seen at `seen_at`, but outside the place it was expected
    /// (`place` says where, e.g. the labels it carried). It counts as misrouted unless a
    /// sighting in the expected place exists too; sightings of items never sent are ignored.
    pub fn observe_misrouted(&mut self, seq: u64, seen_at: Duration, place: impl Into<String>) {
        if self.slot(seq).is_none() {
            return;
        }
        let place = place.into();
        let at = ms(seen_at);
        match self.misrouted.get_mut(&seq) {
            Some((first, _)) => *first = (*first).min(at),
            None => {
                let p = match self.places.iter().position(|p| *p == place) {
                    Some(p) => p,
                    None => {
                        self.places.push(place);
                        self.places.len() - 1
                    }
                };
                self.misrouted.insert(seq, (at, p as u32));
            }
        }
    }

    /// Items sent.
    pub fn sent_count(&self) -> u64 {
        self.sent
    }

    /// Items seen at least once in the expected place.
    pub fn seen_count(&self) -> u64 {
        self.order.len() as u64
    }

    /// Hands every item sent, in sequence order, with its verdict to `f`, holding no more than
    /// a bit an item beside the ledger.
    fn judge(&self, mut f: impl FnMut(u64, Verdict)) {
        let displaced = self.displaced();
        let latency =
            |from: u32, to: u32| Duration::from_millis(u64::from(to.saturating_sub(from)));
        for (i, item) in self.items.iter().enumerate() {
            if item.sent_ms == NOT_SENT {
                continue;
            }
            let seq = self.base + i as u64;
            let verdict = if item.copies == 0 {
                match self.misrouted.get(&seq) {
                    Some(&(seen, _)) => Verdict::Misrouted {
                        latency: latency(item.sent_ms, seen),
                    },
                    None => Verdict::Missing,
                }
            } else {
                let latency = latency(item.sent_ms, item.first_ms);
                if item.copies > 1 {
                    Verdict::Duplicated {
                        copies: item.copies,
                        latency,
                    }
                } else if displaced.get(i) {
                    Verdict::OutOfOrder { latency }
                } else if self.late_after.is_some_and(|limit| latency > limit) {
                    Verdict::Late { latency }
                } else {
                    Verdict::Delivered { latency }
                }
            };
            f(seq, verdict);
        }
    }

    /// The items seen out of order: those outside one longest increasing subsequence of the
    /// first sightings. Nothing to compute when they came in order, as they nearly always do.
    fn displaced(&self) -> Bits {
        let mut bits = Bits::default();
        if self.order.windows(2).all(|w| w[0] < w[1]) {
            return bits;
        }
        bits = Bits::new(self.items.len());
        for &i in &self.order {
            bits.set(i as usize);
        }
        for i in longest_increasing(&self.order) {
            bits.clear(i as usize);
        }
        bits
    }

    /// Judges every item sent.
    pub fn verdicts(&self) -> BTreeMap<u64, Verdict> {
        let mut out = BTreeMap::new();
        self.judge(|seq, v| {
            out.insert(seq, v);
        });
        out
    }

    /// Totals, latency percentiles and the missing items.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            sent: self.sent,
            unexpected: self.unexpected.len() as u64,
            ..Summary::default()
        };
        let mut latencies = Histogram::default();
        let mut misrouted_to: Vec<u64> = vec![0; self.places.len()];
        let mut missing: Vec<(u64, u64)> = Vec::new();
        self.judge(|seq, verdict| match verdict {
            Verdict::Delivered { latency } => {
                summary.delivered += 1;
                latencies.add(latency);
            }
            Verdict::Late { latency } => {
                summary.late += 1;
                latencies.add(latency);
            }
            Verdict::Duplicated { latency, .. } => {
                summary.duplicated += 1;
                latencies.add(latency);
            }
            Verdict::OutOfOrder { latency } => {
                summary.out_of_order += 1;
                latencies.add(latency);
            }
            // Not in the latency percentiles: a wide search samples misrouted items late, so
            // their latency is only an upper bound.
            Verdict::Misrouted { .. } => {
                summary.misrouted += 1;
                misrouted_to[self.misrouted[&seq].1 as usize] += 1;
            }
            Verdict::Missing => {
                summary.missing += 1;
                extend_ranges(&mut missing, seq);
            }
        });
        // In the order the places were first met, as before.
        summary.misrouted_to = self
            .places
            .iter()
            .zip(misrouted_to)
            .filter(|(_, n)| *n > 0)
            .map(|(p, n)| (p.clone(), n))
            .collect();
        summary.latency = latencies.percentiles();
        summary.missing_ranges = missing;
        summary
    }
}

/// One bit an item.
#[derive(Debug, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// Latencies counted per whole millisecond: exact percentiles at the ledger's resolution, in
/// memory that grows with the spread of latencies, not with the items.
#[derive(Debug, Default)]
struct Histogram {
    counts: BTreeMap<u64, u64>,
    n: u64,
}

impl Histogram {
    fn add(&mut self, d: Duration) {
        *self.counts.entry(d.as_millis() as u64).or_default() += 1;
        self.n += 1;
    }

    /// Nearest-rank percentiles, as [`Percentiles::of`] computes them on the sorted list.
    fn percentiles(&self) -> Percentiles {
        if self.n == 0 {
            return Percentiles::default();
        }
        let rank = |p: f64| {
            ((p / 100.0) * self.n as f64)
                .ceil()
                .clamp(1.0, self.n as f64) as u64
        };
        let at = |r: u64| {
            let mut below = 0;
            for (&ms, &c) in &self.counts {
                below += c;
                if below >= r {
                    return Duration::from_millis(ms);
                }
            }
            unreachable!("rank within the count")
        };
        Percentiles {
            p50: at(rank(50.0)),
            p95: at(rank(95.0)),
            p99: at(rank(99.0)),
            max: at(self.n),
        }
    }
}

/// Latency percentiles over the items seen (nearest-rank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Worst.
    pub max: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles of a sorted slice; all zero when it is empty.
    pub fn of(sorted: &[Duration]) -> Percentiles {
        if sorted.is_empty() {
            return Percentiles::default();
        }
        let rank = |p: f64| {
            let idx = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[idx.clamp(1, sorted.len()) - 1]
        };
        Percentiles {
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// What a ledger adds up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Items sent.
    pub sent: u64,
    /// Seen once, in order, in time.
    pub delivered: u64,
    /// Seen once, in order, but late.
    pub late: u64,
    /// Seen more than once.
    pub duplicated: u64,
    /// Seen out of order.
    pub out_of_order: u64,
    /// Seen only outside the expected place.
    pub misrouted: u64,
    /// Never seen.
    pub missing: u64,
    /// Sightings of sequence numbers never sent.
    pub unexpected: u64,
    /// Where misrouted items were found, and how many at each place.
    pub misrouted_to: Vec<(String, u64)>,
    /// Latency of the items seen.
    pub latency: Percentiles,
    /// Missing sequence numbers as inclusive ranges, e.g. `[(3, 3), (10, 14)]`.
    pub missing_ranges: Vec<(u64, u64)>,
}

impl Summary {
    /// Whether every item was delivered exactly once, in order, in time, and nothing unexpected
    /// showed up.
    pub fn is_clean(&self) -> bool {
        self.delivered == self.sent && self.unexpected == 0
    }

    /// Whether every item sent is in exactly one bucket.
    pub fn is_balanced(&self) -> bool {
        self.delivered
            + self.late
            + self.duplicated
            + self.out_of_order
            + self.misrouted
            + self.missing
            == self.sent
    }
}

/// Collapses sorted numbers into inclusive ranges.
#[cfg(test)]
fn ranges(sorted: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &n in sorted {
        extend_ranges(&mut out, n);
    }
    out
}

/// Adds `n`, no lower than any number before it, to inclusive ranges.
fn extend_ranges(ranges: &mut Vec<(u64, u64)>, n: u64) {
    match ranges.last_mut() {
        Some((_, end)) if *end + 1 == n => *end = n,
        _ => ranges.push((n, n)),
    }
}

/// The elements of one longest strictly increasing subsequence (patience sorting, O(n log n)).
fn longest_increasing<T: Copy + Ord>(seq: &[T]) -> Vec<T> {
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; seq.len()];
    for (i, &x) in seq.iter().enumerate() {
        let pos = tails.partition_point(|&t| seq[t] < x);
        if pos > 0 {
            prev[i] = Some(tails[pos - 1]);
        }
        if pos == tails.len() {
            tails.push(i);
        } else {
            tails[pos] = i;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut cursor = tails.last().copied();
    while let Some(i) = cursor {
        out.push(seq[i]);
        cursor = prev[i];
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ledger(n: u64) -> Ledger {
        let mut l = Ledger::new(Some(ms(500)));
        for seq in 0..n {
            l.sent(seq, ms(seq * 10));
        }
        l
    }

    fn seen(seqs: &[u64], at: u64) -> Vec<Sighting> {
        seqs.iter()
            .map(|&seq| Sighting {
                seq,
                seen_at: ms(at),
            })
            .collect()
    }

    #[test]
    fn clean_delivery() {
        let mut l = ledger(5);
        l.observe(seen(&[0, 1, 2, 3, 4], 100));
        let s = l.summary();
        assert!(s.is_clean() && s.is_balanced(), "{s:?}");
        assert_eq!(s.latency.max, ms(100));
        assert_eq!(s.latency.p50, ms(80));
    }

    #[test]
    fn each_fault_is_named() {
        let mut l = ledger(8);
        // 2 missing, 5 duplicated, 6 seen before 4 (out of order), 7 late, 99 never sent.
        l.observe(seen(&[0, 1, 3, 6, 4, 5, 5, 99], 100));
        l.observe(seen(&[7], 5_000));
        let v = l.verdicts();
        assert_eq!(v[&2], Verdict::Missing);
        assert!(matches!(v[&5], Verdict::Duplicated { copies: 2, .. }));
        assert!(matches!(v[&6], Verdict::OutOfOrder { .. }), "{v:?}");
        assert!(
            matches!(v[&4], Verdict::Delivered { .. }),
            "one displaced item counts once"
        );
        assert!(matches!(v[&7], Verdict::Late { .. }));
        let s = l.summary();
        assert_eq!(
            (
                s.missing,
                s.duplicated,
                s.out_of_order,
                s.late,
                s.unexpected
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(s.missing_ranges, vec![(2, 2)]);
        assert!(s.is_balanced() && !s.is_clean());
    }

    #[test]
    fn an_item_found_only_elsewhere_is_misrouted_not_missing() {
        let mut l = ledger(4);
        l.observe(seen(&[0, 1], 100));
        // 1 also turned up elsewhere: it was delivered, the extra copy is not a misroute.
        l.observe_misrouted(1, ms(120), "{job=\"x\"}");
        l.observe_misrouted(2, ms(150), "{job=\"x\"}");
        l.observe_misrouted(3, ms(160), "{service_name=\"y\"}");
        l.observe_misrouted(99, ms(160), "{job=\"x\"}");
        let v = l.verdicts();
        assert!(matches!(v[&1], Verdict::Delivered { .. }));
        assert!(matches!(v[&2], Verdict::Misrouted { .. }));
        let s = l.summary();
        assert_eq!((s.delivered, s.misrouted, s.missing), (2, 2, 0));
        assert_eq!(
            s.misrouted_to,
            vec![
                ("{job=\"x\"}".to_owned(), 1),
                ("{service_name=\"y\"}".to_owned(), 1)
            ]
        );
        assert!(s.is_balanced() && !s.is_clean());
    }

    #[test]
    fn sequence_numbers_need_not_start_at_zero_nor_be_contiguous() {
        let mut l = Ledger::new(None);
        for seq in [100, 102, 50] {
            l.sent(seq, ms(seq));
        }
        // 101 was never sent: seeing it is unexpected, not a fourth item.
        l.observe(seen(&[50, 101, 102], 200));
        let v = l.verdicts();
        assert_eq!(v.keys().copied().collect::<Vec<_>>(), vec![50, 100, 102]);
        assert_eq!(v[&50], Verdict::Delivered { latency: ms(150) });
        assert_eq!(v[&100], Verdict::Missing);
        let s = l.summary();
        assert_eq!((s.sent, s.delivered, s.missing, s.unexpected), (3, 2, 1, 1));
        assert_eq!(s.missing_ranges, vec![(100, 100)]);
        assert_eq!((l.sent_count(), l.seen_count()), (3, 2));
    }

    #[test]
    fn a_million_items_cost_a_few_bytes_each() {
        let mut l = Ledger::new(None);
        for seq in 0..1_000_000u64 {
            l.sent(seq, ms(seq / 1000));
        }
        l.observe((0..1_000_000u64).map(|seq| Sighting {
            seq,
            seen_at: ms(seq / 1000 + 250),
        }));
        let held = l.items.capacity() * std::mem::size_of::<Item>()
            + l.order.capacity() * std::mem::size_of::<u32>();
        assert!(held <= 24_000_000, "{held} bytes");
        let s = l.summary();
        assert!(s.is_clean(), "{s:?}");
        assert_eq!(s.latency.p99, ms(250));
    }

    #[test]
    fn missing_ranges_collapse() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), vec![(1, 3), (7, 7), (9, 10)]);
        assert_eq!(ranges(&[]), Vec::<(u64, u64)>::new());
    }

    proptest! {
        /// Any mix of drops, duplicates and displacements is accounted for, every item once.
        #[test]
        fn random_delivery_orders_are_fully_accounted(
            n in 1u64..200,
            drops in prop::collection::btree_set(0u64..200, 0..20),
            dups in prop::collection::btree_set(0u64..200, 0..20),
            swaps in prop::collection::vec((0usize..200, 0usize..200), 0..10),
        ) {
            let mut l = ledger(n);
            let mut read: Vec<u64> = (0..n).filter(|s| !drops.contains(s)).collect();
            for &d in &dups {
                if let Some(pos) = read.iter().position(|&s| s == d) {
                    read.insert(pos + 1, d);
                }
            }
            let mut displaced = false;
            for &(a, b) in &swaps {
                if a < read.len() && b < read.len() && read[a] != read[b] {
                    read.swap(a, b);
                    displaced = true;
                }
            }
            l.observe(seen(&read, 100));
            let s = l.summary();
            prop_assert!(s.is_balanced(), "{:?}", s);
            let expected_missing = (0..n).filter(|x| drops.contains(x)).count() as u64;
            prop_assert_eq!(s.missing, expected_missing);
            let expected_dups = dups.iter().filter(|&&d| d < n && !drops.contains(&d)).count() as u64;
            prop_assert_eq!(s.duplicated, expected_dups);
            if !displaced {
                prop_assert_eq!(s.out_of_order, 0);
            }
            prop_assert_eq!(s.is_clean(), expected_missing == 0 && expected_dups == 0 && s.out_of_order == 0);
        }

        /// The longest increasing subsequence is increasing, drawn from the input, and no shorter
        /// than any increasing run found greedily.
        #[test]
        fn lis_is_increasing_and_maximal(v in prop::collection::vec(0u64..50, 0..60)) {
            let lis = longest_increasing(&v);
            prop_assert!(lis.windows(2).all(|w| w[0] < w[1]));
            let mut greedy = 0usize;
            let mut last: Option<u64> = None;
            for &x in &v {
                if last.is_none_or(|l| x > l) {
                    greedy += 1;
                    last = Some(x);
                }
            }
            prop_assert!(lis.len() >= greedy);
        }
    }
}
