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
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    sent: BTreeMap<u64, Duration>,
    sightings: Vec<Sighting>,
    unexpected: BTreeSet<u64>,
    /// Items seen only outside the expected place: first sighting and where (e.g. the labels).
    misrouted: BTreeMap<u64, (Duration, String)>,
    late_after: Option<Duration>,
}

impl Ledger {
    /// An empty ledger. Items seen later than `late_after` after being sent count as late.
    pub fn new(late_after: Option<Duration>) -> Ledger {
        Ledger {
            late_after,
            ..Ledger::default()
        }
    }

    /// Records that item `seq` was sent at `sent_at` (offset from the run's start).
    pub fn sent(&mut self, seq: u64, sent_at: Duration) {
        self.sent.insert(seq, sent_at);
    }

    /// Records the items of one read-back, in the order the store returned them (oldest first).
    ///
    /// Sightings of sequence numbers never sent are kept apart as unexpected.
    pub fn observe(&mut self, sightings: impl IntoIterator<Item = Sighting>) {
        for s in sightings {
            if self.sent.contains_key(&s.seq) {
                self.sightings.push(s);
            } else {
                self.unexpected.insert(s.seq);
            }
        }
    }

    /// Records that item `seq` was seen at `seen_at`, but outside the place it was expected
    /// (`place` says where, e.g. the labels it carried). It counts as misrouted unless a
    /// sighting in the expected place exists too; sightings of items never sent are ignored.
    pub fn observe_misrouted(&mut self, seq: u64, seen_at: Duration, place: impl Into<String>) {
        if self.sent.contains_key(&seq) {
            let place = place.into();
            self.misrouted
                .entry(seq)
                .and_modify(|(at, _)| *at = (*at).min(seen_at))
                .or_insert((seen_at, place));
        }
    }

    /// Judges every item sent.
    pub fn verdicts(&self) -> BTreeMap<u64, Verdict> {
        let mut first_seen: BTreeMap<u64, Duration> = BTreeMap::new();
        let mut copies: BTreeMap<u64, u32> = BTreeMap::new();
        let mut order: Vec<u64> = Vec::new();
        for s in &self.sightings {
            let count = copies.entry(s.seq).or_insert(0);
            *count += 1;
            if *count == 1 {
                order.push(s.seq);
            }
            let first = first_seen.entry(s.seq).or_insert(s.seen_at);
            *first = (*first).min(s.seen_at);
        }
        let in_order: BTreeSet<u64> = longest_increasing(&order).into_iter().collect();
        self.sent
            .iter()
            .map(|(&seq, &sent_at)| {
                let verdict = match first_seen.get(&seq) {
                    None => match self.misrouted.get(&seq) {
                        Some(&(seen, _)) => Verdict::Misrouted {
                            latency: seen.saturating_sub(sent_at),
                        },
                        None => Verdict::Missing,
                    },
                    Some(&seen) => {
                        let latency = seen.saturating_sub(sent_at);
                        let n = copies[&seq];
                        if n > 1 {
                            Verdict::Duplicated { copies: n, latency }
                        } else if !in_order.contains(&seq) {
                            Verdict::OutOfOrder { latency }
                        } else if self.late_after.is_some_and(|limit| latency > limit) {
                            Verdict::Late { latency }
                        } else {
                            Verdict::Delivered { latency }
                        }
                    }
                };
                (seq, verdict)
            })
            .collect()
    }

    /// Totals, latency percentiles and the missing items.
    pub fn summary(&self) -> Summary {
        let verdicts = self.verdicts();
        let mut summary = Summary {
            sent: self.sent.len() as u64,
            unexpected: self.unexpected.len() as u64,
            ..Summary::default()
        };
        let mut latencies: Vec<Duration> = Vec::new();
        let mut missing: Vec<u64> = Vec::new();
        for (seq, verdict) in &verdicts {
            match *verdict {
                Verdict::Delivered { latency } => {
                    summary.delivered += 1;
                    latencies.push(latency);
                }
                Verdict::Late { latency } => {
                    summary.late += 1;
                    latencies.push(latency);
                }
                Verdict::Duplicated { latency, .. } => {
                    summary.duplicated += 1;
                    latencies.push(latency);
                }
                Verdict::OutOfOrder { latency } => {
                    summary.out_of_order += 1;
                    latencies.push(latency);
                }
                // Not in the latency percentiles: a wide search samples misrouted items late, so
                // their latency is only an upper bound.
                Verdict::Misrouted { .. } => {
                    summary.misrouted += 1;
                    let place = &self.misrouted[seq].1;
                    match summary.misrouted_to.iter_mut().find(|(p, _)| p == place) {
                        Some((_, n)) => *n += 1,
                        None => summary.misrouted_to.push((place.clone(), 1)),
                    }
                }
                Verdict::Missing => {
                    summary.missing += 1;
                    missing.push(*seq);
                }
            }
        }
        latencies.sort();
        summary.latency = Percentiles::of(&latencies);
        summary.missing_ranges = ranges(&missing);
        summary
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
fn ranges(sorted: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &n in sorted {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == n => *end = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// The elements of one longest strictly increasing subsequence (patience sorting, O(n log n)).
fn longest_increasing(seq: &[u64]) -> Vec<u64> {
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
