//! How the gaps of several collectors recording one feed combine into the feed's own gaps.
//!
//! Each collector records where *it* missed data: its gap rows carry its name
//! ([`Gap::collector`](crate::Gap::collector)), and the tables keep every collector's rows
//! apart. The rule:
//!
//! * a feed's collectors are those configured to record it (every collector of a shard);
//! * a collector misses a span where one of its gaps covers it, and where it was not
//!   recording at all: a collector that is down has not yet recorded the `restart` gap it
//!   will record when it comes back, so the caller counts it missing from its last event
//!   on (the feed state it saved says when that was);
//! * the feed misses a span only where **every** collector of the feed missed it: the feed's
//!   gaps are the intersection, over its collectors, of the union of each one's missed spans.
//!
//! A feed recorded by one collector thus has exactly that collector's gaps, and two
//! collectors that were never down together leave the feed without a gap.

/// A span of time, Unix milliseconds: data strictly between `from_ms` and `to_ms` may be
/// missing, as in a gap's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// Start, Unix milliseconds.
    pub from_ms: i64,
    /// End, Unix milliseconds; not before `from_ms`.
    pub to_ms: i64,
}

impl Span {
    /// The span from `from_ms` to `to_ms`; reversed ends are put in order.
    pub fn new(from_ms: i64, to_ms: i64) -> Self {
        Span {
            from_ms: from_ms.min(to_ms),
            to_ms: from_ms.max(to_ms),
        }
    }
}

/// The spans where every collector missed data, given each collector's missed spans (its
/// gaps' windows, plus the time since its last event when it is down), in time order and
/// merged. No collectors means no account of the feed at all: nothing is returned, and the
/// caller reports the feed as unrecorded instead.
pub fn feed_gaps(collectors: &[Vec<Span>]) -> Vec<Span> {
    let mut accounts = collectors.iter().map(|missed| merged(missed.clone()));
    let Some(first) = accounts.next() else {
        return Vec::new();
    };
    accounts.fold(first, |common, missed| intersection(&common, &missed))
}

/// `spans` sorted, with overlapping spans joined (spans that only touch stay apart: the
/// instant they share is outside both).
fn merged(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.from_ms < last.to_ms => last.to_ms = last.to_ms.max(span.to_ms),
            _ => merged.push(span),
        }
    }
    merged
}

/// The spans covered by both merged lists.
fn intersection(left: &[Span], right: &[Span]) -> Vec<Span> {
    let (mut i, mut j) = (0, 0);
    let mut common = Vec::new();
    while i < left.len() && j < right.len() {
        let from_ms = left[i].from_ms.max(right[j].from_ms);
        let to_ms = left[i].to_ms.min(right[j].to_ms);
        if from_ms < to_ms {
            common.push(Span { from_ms, to_ms });
        }
        if left[i].to_ms < right[j].to_ms {
            i += 1;
        } else {
            j += 1;
        }
    }
    common
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn spans(pairs: &[(i64, i64)]) -> Vec<Span> {
        pairs
            .iter()
            .map(|&(from, to)| Span::new(from, to))
            .collect()
    }

    #[test]
    fn one_collector_keeps_its_own_gaps_merged() {
        assert_eq!(
            feed_gaps(&[spans(&[(50, 60), (10, 20), (15, 30)])]),
            spans(&[(10, 30), (50, 60)])
        );
        // The instant two spans share is outside both.
        assert_eq!(
            feed_gaps(&[spans(&[(10, 20), (20, 30)]), spans(&[(15, 25)])]),
            spans(&[(15, 20), (20, 25)])
        );
    }

    #[test]
    fn a_feed_misses_only_what_every_collector_missed() {
        let a = spans(&[(10, 30), (100, 200)]);
        let b = spans(&[(20, 40), (150, 160), (180, 250)]);
        assert_eq!(
            feed_gaps(&[a.clone(), b.clone()]),
            spans(&[(20, 30), (150, 160), (180, 200)])
        );
        // Never down together: no gap.
        assert_eq!(feed_gaps(&[a, spans(&[(40, 90)])]), []);
        // A collector with no gap covers everything.
        assert_eq!(feed_gaps(&[spans(&[(1, 5)]), Vec::new()]), []);
        assert_eq!(feed_gaps(&[]), []);
    }

    #[test]
    fn a_collector_that_is_down_counts_as_missing_since_its_last_event() {
        // `b` stopped at 120 and has not come back to record its restart gap.
        let a = spans(&[(130, 140)]);
        let b_down_since_last_event = spans(&[(120, i64::MAX)]);
        assert_eq!(
            feed_gaps(&[a, b_down_since_last_event]),
            spans(&[(130, 140)])
        );
    }

    /// Whether the spans miss the instant `at`.
    fn missed(spans: &[Span], at: i64) -> bool {
        spans
            .iter()
            .any(|span| span.from_ms < at && at < span.to_ms)
    }

    proptest! {
        /// Sampled at every millisecond, the feed misses an instant exactly when every
        /// collector does.
        #[test]
        fn the_feed_misses_a_point_exactly_when_every_collector_does(
            collectors in prop::collection::vec(
                prop::collection::vec((0i64..200, 0i64..40), 0..6),
                1..4,
            )
        ) {
            let collectors: Vec<Vec<Span>> = collectors
                .iter()
                .map(|spans| spans.iter().map(|&(from, length)| Span::new(from, from + length)).collect())
                .collect();
            let feed = feed_gaps(&collectors);
            for at in 0..260 {
                let every = collectors.iter().all(|spans| missed(spans, at));
                prop_assert_eq!(missed(&feed, at), every, "at {}", at);
            }
        }
    }
}
