//! How one venue's instruments are spread over WebSocket connections, and how fast a
//! connection may send, both within the venue's [`WsLimits`]. Pure: no I/O, times passed in.
//! (This is sharding within one collector; [`crate::ShardConfig`] splits instruments between
//! collectors.)
//!
//! * **Assignment.** The unit is the instrument: all of its subscriptions ride on one
//!   connection, so its book, trades and gaps stay together. An instrument costs the streams
//!   its subscriptions occupy ([`marketprism_venues::VenueProtocol::streams`]); a stream
//!   already on the connection (a market-wide channel, Coinbase's `heartbeats`) costs
//!   nothing more. [`rebalance`] keeps every connection within
//!   [`WsLimits::streams_per_connection`] and opens as few as first-fit needs.
//! * **Stability.** [`rebalance`] takes the current assignment and the new instrument set:
//!   an instrument that stays keeps its connection, a new one goes to the first connection
//!   with room, and connections are only dissolved (their instruments moved) when fewer would
//!   now do. Adding instruments moves none; removing some moves only those of a dissolved
//!   connection. The result depends only on the inputs, not on their order.
//! * **Batching.** A connection's subscribe requests list at most
//!   [`WsLimits::args_per_request`] arguments each: the venue's `subscribe_requests` cuts
//!   them so, from the same limits.
//! * **Pacing.** A [`Pacer`] admits at most a venue's allowance of events in any window: the
//!   frames a connection sends ([`WsLimits::messages`]) and the connections an IP opens
//!   ([`WsLimits::connections`]). The venue counts what it receives, and frames delayed
//!   unequally on the way (a loaded sender, network, or venue) arrive bunched: what we spread
//!   over a window and a delay's spread reaches the venue within one of its windows. So the
//!   pacer's window is the venue's plus [`DELAY_SPREAD`] (or a tenth, if longer), and where the
//!   venue counts every frame, one place per window is left for the pong a venue's ping is
//!   owed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use marketprism_model::Symbol;
use marketprism_venues::{
    CountedMessages, Rate, Subscription, VenueError, VenueProtocol, WsLimits,
};
use tokio::time::Instant;

/// One instrument and the streams its subscriptions occupy on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instrument {
    /// The instrument.
    pub(crate) symbol: Symbol,
    /// The venue's names of its streams.
    pub(crate) streams: BTreeSet<String>,
}

/// The instruments of `subscriptions`, each with the streams its subscriptions occupy, in
/// the order of their first subscription.
pub(crate) fn instruments(
    protocol: &dyn VenueProtocol,
    subscriptions: &[Subscription],
) -> Result<Vec<Instrument>, VenueError> {
    let mut order: Vec<Symbol> = Vec::new();
    let mut streams: BTreeMap<Symbol, BTreeSet<String>> = BTreeMap::new();
    for subscription in subscriptions {
        let entry = streams
            .entry(subscription.symbol.clone())
            .or_insert_with(|| {
                order.push(subscription.symbol.clone());
                BTreeSet::new()
            });
        entry.extend(protocol.streams(subscription)?);
    }
    Ok(order
        .into_iter()
        .map(|symbol| {
            let streams = streams.remove(&symbol).unwrap_or_default();
            Instrument { symbol, streams }
        })
        .collect())
}

/// Why no assignment fits the venue's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlanError {
    /// One instrument alone occupies more streams than a connection may carry.
    #[error(
        "{venue}: {symbol} alone occupies {streams} streams; a connection carries at most {limit}"
    )]
    InstrumentTooLarge {
        /// [`WsLimits::name`].
        venue: &'static str,
        /// The instrument.
        symbol: Symbol,
        /// Its streams.
        streams: usize,
        /// [`WsLimits::streams_per_connection`].
        limit: usize,
    },
    /// More connections are needed than the venue lets one IP hold open.
    #[error("{venue}: the instruments need {needed} connections; one IP may hold {limit}")]
    TooManyConnections {
        /// [`WsLimits::name`].
        venue: &'static str,
        /// Connections the plan needs.
        needed: usize,
        /// [`WsLimits::concurrent_connections`].
        limit: usize,
    },
}

/// One connection being planned: its instruments in order and the union of their streams.
#[derive(Debug, Clone, Default)]
struct Shard {
    symbols: Vec<Symbol>,
    streams: BTreeSet<String>,
}

impl Shard {
    /// The streams the connection would carry with `instrument` added.
    fn streams_with(&self, instrument: &BTreeSet<String>) -> usize {
        self.streams.len() + instrument.difference(&self.streams).count()
    }

    fn add(&mut self, symbol: Symbol, streams: &BTreeSet<String>) {
        self.symbols.push(symbol);
        self.streams.extend(streams.iter().cloned());
    }
}

/// The instruments of each connection after moving from `current` to `instruments`: every
/// connection carries at most [`WsLimits::streams_per_connection`] streams, instruments that
/// stay keep their connection, and, when `consolidate`, as few connections as first-fit
/// needs are kept (see the module doc). Without it no instrument moves: a running feed
/// changes its instruments without interrupting any, and only closes connections left
/// empty. Connections are listed in the order of `current`, new ones last; each lists
/// its kept instruments first, in their order, then the ones added, by symbol.
pub(crate) fn rebalance(
    current: &[Vec<Symbol>],
    instruments: &[Instrument],
    limits: &WsLimits,
    consolidate: bool,
) -> Result<Vec<Vec<Symbol>>, PlanError> {
    let capacity = limits.streams_per_connection;
    let wanted: BTreeMap<&Symbol, &BTreeSet<String>> = instruments
        .iter()
        .map(|instrument| (&instrument.symbol, &instrument.streams))
        .collect();
    if let Some((symbol, streams)) = wanted.iter().find(|(_, streams)| streams.len() > capacity) {
        return Err(PlanError::InstrumentTooLarge {
            venue: limits.name,
            symbol: (*symbol).clone(),
            streams: streams.len(),
            limit: capacity,
        });
    }

    // Instruments that stay keep their connection, as long as it still has room for them
    // (an instrument's streams change when channels do).
    let mut placed: BTreeSet<&Symbol> = BTreeSet::new();
    let mut evicted: Vec<&Symbol> = Vec::new();
    let mut shards: Vec<Shard> = Vec::new();
    for symbols in current {
        let mut shard = Shard::default();
        for symbol in symbols {
            let Some((known, streams)) = wanted.get_key_value(symbol) else {
                continue;
            };
            if !placed.insert(*known) {
                continue;
            }
            if shard.streams_with(streams) <= capacity {
                shard.add((*known).clone(), streams);
            } else {
                evicted.push(*known);
            }
        }
        if !shard.symbols.is_empty() {
            shards.push(shard);
        }
    }

    // New and evicted instruments, by symbol, go to the first connection with room.
    let mut pending: Vec<&Symbol> = wanted
        .keys()
        .copied()
        .filter(|symbol| !placed.contains(symbol))
        .chain(evicted)
        .collect();
    pending.sort();
    for symbol in pending {
        place(&mut shards, symbol, wanted[symbol], capacity, true);
    }

    // Fewer connections would do: dissolve the emptiest while its instruments fit the others.
    let fewest = first_fit(&wanted, capacity);
    while consolidate && shards.len() > fewest {
        let Some(emptiest) = (0..shards.len()).min_by_key(|&index| {
            (
                shards[index].streams.len(),
                std::cmp::Reverse(index), // Of equals, the last.
            )
        }) else {
            break;
        };
        let mut trial = shards.clone();
        let dissolved = trial.remove(emptiest);
        let fits = dissolved
            .symbols
            .iter()
            .all(|symbol| place(&mut trial, symbol, wanted[symbol], capacity, false));
        if !fits {
            break;
        }
        shards = trial;
    }

    if let Some(limit) = limits.concurrent_connections {
        if shards.len() > limit {
            return Err(PlanError::TooManyConnections {
                venue: limits.name,
                needed: shards.len(),
                limit,
            });
        }
    }
    Ok(shards.into_iter().map(|shard| shard.symbols).collect())
}

/// Adds `symbol` to the first of `shards` with room; to a new one when none has and `open`
/// allows. False when it was not placed.
fn place(
    shards: &mut Vec<Shard>,
    symbol: &Symbol,
    streams: &BTreeSet<String>,
    capacity: usize,
    open: bool,
) -> bool {
    match shards
        .iter_mut()
        .find(|shard| shard.streams_with(streams) <= capacity)
    {
        Some(shard) => shard.add(symbol.clone(), streams),
        None if open => {
            let mut shard = Shard::default();
            shard.add(symbol.clone(), streams);
            shards.push(shard);
        }
        None => return false,
    }
    true
}

/// The connections first-fit uses for `instruments` from scratch, by symbol.
fn first_fit(instruments: &BTreeMap<&Symbol, &BTreeSet<String>>, capacity: usize) -> usize {
    let mut shards = Vec::new();
    for (symbol, streams) in instruments {
        place(&mut shards, symbol, streams, capacity, true);
    }
    shards.len()
}

/// The pacer of the frames a connection sends (of every connection to the venue from this
/// IP, where the venue counts them per IP), keeping a place for a pong where the venue
/// counts every frame.
pub(crate) fn message_pacer(limits: &WsLimits) -> Pacer {
    let reserved = match limits.counted {
        CountedMessages::EveryFrame => 1,
        CountedMessages::Requests => 0,
    };
    Pacer::new(limits.messages, reserved)
}

/// The pacer of the connections this IP opens to the venue.
pub(crate) fn connection_pacer(limits: &WsLimits) -> Pacer {
    Pacer::new(limits.connections, 0)
}

/// How much more one frame may be delayed than another on its way to the venue, and still
/// be counted as paced: events the pacer spreads over the venue's window and this much reach
/// the venue no closer together than its window.
const DELAY_SPREAD: Duration = Duration::from_millis(500);

/// Admits at most `allowance` events in any window: a rolling count, times passed in.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    allowance: usize,
    window: Duration,
    /// When the events still inside the window happened, oldest first.
    recent: VecDeque<Instant>,
}

impl Pacer {
    /// A pacer within `rate` as the venue counts it after delays spread by up to
    /// [`DELAY_SPREAD`] (or a tenth of the window, if longer), keeping `reserved` places per
    /// window for frames sent outside it (at least one place is always left).
    pub(crate) fn new(rate: Rate, reserved: u32) -> Self {
        let allowance = rate.limit.saturating_sub(reserved).max(1);
        Pacer {
            allowance: usize::try_from(allowance).unwrap_or(usize::MAX),
            window: rate.window + (rate.window / 10).max(DELAY_SPREAD),
            recent: VecDeque::new(),
        }
    }

    /// Takes a place at `now`; otherwise says when the next one frees.
    pub(crate) fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        while self
            .recent
            .front()
            .is_some_and(|&event| event + self.window <= now)
        {
            self.recent.pop_front();
        }
        if self.recent.len() < self.allowance {
            self.recent.push_back(now);
            return Ok(());
        }
        // Full: the oldest event leaves the window first.
        Err(self
            .recent
            .front()
            .map_or(now, |&oldest| oldest + self.window))
    }
}

#[cfg(test)]
mod tests {
    use marketprism_venues::MessageScope;

    use super::*;

    /// [`rebalance`] as at start, dissolving connections fewer would replace.
    fn consolidated(
        current: &[Vec<Symbol>],
        instruments: &[Instrument],
        limits: &WsLimits,
    ) -> Result<Vec<Vec<Symbol>>, PlanError> {
        rebalance(current, instruments, limits, true)
    }

    /// Limits of `capacity` streams per connection, otherwise Binance spot's.
    fn limits(capacity: usize) -> WsLimits {
        WsLimits {
            name: "test",
            streams_per_connection: capacity,
            args_per_request: 100,
            request_bytes: None,
            messages: Rate {
                limit: 5,
                window: Duration::from_secs(1),
            },
            counted: CountedMessages::EveryFrame,
            message_scope: MessageScope::Connection,
            connections: Rate {
                limit: 300,
                window: Duration::from_secs(300),
            },
            concurrent_connections: None,
        }
    }

    fn symbol(index: usize) -> Symbol {
        format!("S{index:04}-USDT").parse().expect("symbol")
    }

    /// Instrument `index` with trades and a book: two streams of its own.
    fn instrument(index: usize) -> Instrument {
        let name = symbol(index).as_str().to_ascii_lowercase();
        Instrument {
            symbol: symbol(index),
            streams: [format!("{name}@trade"), format!("{name}@depth")].into(),
        }
    }

    fn instruments(indices: impl IntoIterator<Item = usize>) -> Vec<Instrument> {
        indices.into_iter().map(instrument).collect()
    }

    /// Every connection's streams, and each instrument on exactly one connection.
    fn check(plan: &[Vec<Symbol>], wanted: &[Instrument], capacity: usize) {
        let by_symbol: BTreeMap<&Symbol, &Instrument> = wanted
            .iter()
            .map(|instrument| (&instrument.symbol, instrument))
            .collect();
        let mut seen = BTreeSet::new();
        for symbols in plan {
            assert!(!symbols.is_empty(), "an empty connection");
            let streams: BTreeSet<&String> = symbols
                .iter()
                .flat_map(|symbol| &by_symbol[symbol].streams)
                .collect();
            assert!(streams.len() <= capacity, "{} streams", streams.len());
            for symbol in symbols {
                assert!(seen.insert(symbol.clone()), "{symbol} twice");
            }
        }
        assert_eq!(seen.len(), wanted.len());
    }

    /// Which connection each instrument is on.
    fn homes(plan: &[Vec<Symbol>]) -> BTreeMap<Symbol, usize> {
        plan.iter()
            .enumerate()
            .flat_map(|(index, symbols)| symbols.iter().map(move |symbol| (symbol.clone(), index)))
            .collect()
    }

    #[test]
    fn an_instrument_occupies_the_streams_its_venue_names_shared_ones_once() {
        use marketprism_venues::{Channel, VenueKind};
        let subscriptions = |channels: &[Channel], symbols: &[&str]| -> Vec<Subscription> {
            channels
                .iter()
                .flat_map(|&channel| {
                    symbols.iter().map(move |name| Subscription {
                        channel,
                        symbol: name.parse().expect("symbol"),
                    })
                })
                .collect()
        };
        fn streams(instrument: &Instrument) -> Vec<&str> {
            instrument.streams.iter().map(String::as_str).collect()
        }
        // Bybit's ticker carries both funding and open interest: one topic.
        let bybit = VenueKind::BybitLinear.protocol(&[]);
        let channels = [Channel::Trades, Channel::FundingRate, Channel::OpenInterest];
        let found = super::instruments(
            bybit.as_ref(),
            &subscriptions(&channels, &["ETH-USDT", "BTC-USDT"]),
        )
        .expect("offered");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].symbol.as_str(), "ETH-USDT");
        assert_eq!(
            streams(&found[0]),
            ["publicTrade.ETHUSDT", "tickers.ETHUSDT"]
        );
        // Binance's liquidations of every contract come on one market-wide stream, which
        // two instruments of one connection occupy once.
        let binance = VenueKind::BinanceUsdm.protocol(&[]);
        let channels = [Channel::AggregateTrades, Channel::Liquidations];
        let found = super::instruments(
            binance.as_ref(),
            &subscriptions(&channels, &["BTC-USDT", "ETH-USDT"]),
        )
        .expect("offered");
        assert_eq!(streams(&found[1]), ["!forceOrder@arr", "ethusdt@aggTrade"]);
        let plan = consolidated(&[], &found, &limits(3)).expect("plan");
        assert_eq!(plan.len(), 1);
        // A channel the venue does not offer is refused as its subscribe requests refuse it.
        let spot = VenueKind::BinanceSpot.protocol(&[]);
        assert!(super::instruments(
            spot.as_ref(),
            &subscriptions(&[Channel::FundingRate], &["BTC-USDT"])
        )
        .is_err());
    }

    #[test]
    fn instruments_fill_as_few_connections_as_the_stream_limit_allows() {
        // 1,100 instruments of two streams: 2,200 streams, three connections of 1,024.
        let wanted = instruments(0..1_100);
        let plan = consolidated(&[], &wanted, &limits(1_024)).expect("plan");
        check(&plan, &wanted, 1_024);
        assert_eq!(
            plan.iter().map(Vec::len).collect::<Vec<_>>(),
            [512, 512, 76]
        );
        // Exactly full: one connection.
        let plan = consolidated(&[], &instruments(0..512), &limits(1_024)).expect("plan");
        assert_eq!(plan.len(), 1);
    }

    #[test]
    fn a_stream_shared_by_instruments_is_counted_once_per_connection() {
        let mut wanted = instruments(0..10);
        for instrument in &mut wanted {
            instrument.streams.insert("!forceOrder@arr".into());
        }
        // Ten instruments of two streams each, plus the market-wide one: 21.
        let plan = consolidated(&[], &wanted, &limits(21)).expect("plan");
        assert_eq!(plan.len(), 1);
        let plan = consolidated(&[], &wanted, &limits(20)).expect("plan");
        check(&plan, &wanted, 20);
        assert_eq!(plan.len(), 2);
    }

    #[test]
    fn the_plan_does_not_depend_on_the_order_of_its_inputs() {
        let wanted = instruments(0..300);
        let mut reversed = wanted.clone();
        reversed.reverse();
        let current = consolidated(&[], &instruments(100..200), &limits(64)).expect("plan");
        assert_eq!(
            consolidated(&current, &wanted, &limits(64)),
            consolidated(&current, &reversed, &limits(64))
        );
        assert_eq!(
            consolidated(&[], &wanted, &limits(64)),
            consolidated(&[], &reversed, &limits(64))
        );
    }

    #[test]
    fn adding_instruments_moves_none_of_those_already_placed() {
        let before = instruments(0..240);
        let current = consolidated(&[], &before, &limits(100)).expect("plan");
        // New symbols sort before, between and after the old ones.
        let after = instruments((0..240).chain(1_000..1_120));
        let mut after_with_early = after.clone();
        after_with_early.push(Instrument {
            symbol: "A-USDT".parse().expect("symbol"),
            streams: ["a@trade".to_owned()].into(),
        });
        let next = consolidated(&current, &after_with_early, &limits(100)).expect("plan");
        check(&next, &after_with_early, 100);
        let (old, new) = (homes(&current), homes(&next));
        for (symbol, home) in &old {
            assert_eq!(new.get(symbol), Some(home), "{symbol} moved");
        }
        // The last old connection had room for ten more: new instruments fill it before
        // any connection is opened.
        assert_eq!(current[current.len() - 1].len(), 40);
        assert_eq!(next[current.len() - 1].len(), 50);
    }

    #[test]
    fn without_consolidation_no_instrument_moves_and_only_empty_connections_close() {
        let current = consolidated(&[], &instruments(0..300), &limits(100)).expect("plan");
        assert_eq!(current.len(), 6);
        // Every other one leaves and the whole last connection empties: three would do,
        // yet the five others stay as they were, less what left.
        let remaining: Vec<Instrument> = instruments((0..250).step_by(2));
        let next = rebalance(&current, &remaining, &limits(100), false).expect("plan");
        check(&next, &remaining, 100);
        assert_eq!(next.len(), 5);
        let old = homes(&current);
        assert!(homes(&next)
            .iter()
            .all(|(symbol, home)| old.get(symbol) == Some(home)));
    }

    #[test]
    fn removing_instruments_moves_only_those_of_a_dissolved_connection() {
        let wanted = instruments(0..300);
        let current = consolidated(&[], &wanted, &limits(100)).expect("plan");
        assert_eq!(current.len(), 6);
        // A few leave here and there: every connection stays, nothing moves.
        let fewer: Vec<Instrument> = wanted
            .iter()
            .filter(|instrument| !instrument.symbol.as_str().ends_with("7-USDT"))
            .cloned()
            .collect();
        let next = consolidated(&current, &fewer, &limits(100)).expect("plan");
        check(&next, &fewer, 100);
        assert_eq!(next.len(), 6);
        let old = homes(&current);
        assert!(homes(&next)
            .iter()
            .all(|(symbol, home)| old.get(symbol) == Some(home)));

        // Every other one leaves: three connections would do. The last three, the
        // emptiest, are dissolved into the first three; only their instruments move.
        let half: Vec<Instrument> = instruments((0..300).step_by(2));
        let next = consolidated(&current, &half, &limits(100)).expect("plan");
        check(&next, &half, 100);
        assert_eq!(next.len(), 3);
        let new = homes(&next);
        for (symbol, home) in homes(&current) {
            match new.get(&symbol) {
                Some(now) if home < 3 => assert_eq!(*now, home, "{symbol} moved"),
                _ => {}
            }
        }
        let moved = new
            .iter()
            .filter(|(symbol, now)| old[*symbol] != **now)
            .count();
        assert_eq!(moved, 75);
    }

    #[test]
    fn a_connection_over_its_limit_sheds_its_last_instruments() {
        let current = consolidated(&[], &instruments(0..50), &limits(100)).expect("plan");
        assert_eq!(current.len(), 1);
        // Each instrument gains a stream (a channel was added): 150 streams for 100.
        let grown: Vec<Instrument> = instruments(0..50)
            .into_iter()
            .map(|mut instrument| {
                let name = instrument.symbol.as_str().to_ascii_lowercase();
                instrument.streams.insert(format!("{name}@aggTrade"));
                instrument
            })
            .collect();
        let next = consolidated(&current, &grown, &limits(100)).expect("plan");
        check(&next, &grown, 100);
        assert_eq!(next.len(), 2);
        assert_eq!(next[0], current[0][..33]);
    }

    #[test]
    fn an_instrument_or_a_plan_beyond_the_venue_s_limits_is_an_error() {
        assert!(matches!(
            consolidated(&[], &instruments(0..1), &limits(1)),
            Err(PlanError::InstrumentTooLarge { streams: 2, .. })
        ));
        let capped = WsLimits {
            concurrent_connections: Some(2),
            ..limits(10)
        };
        assert!(consolidated(&[], &instruments(0..10), &capped).is_ok());
        assert_eq!(
            consolidated(&[], &instruments(0..11), &capped),
            Err(PlanError::TooManyConnections {
                venue: "test",
                needed: 3,
                limit: 2
            })
        );
    }

    /// The most of `taken` (in order) within any span shorter than `span`.
    fn most_within(taken: &[Instant], span: Duration) -> usize {
        taken
            .iter()
            .enumerate()
            .map(|(index, first)| {
                taken[index..]
                    .iter()
                    .take_while(|&&event| event < *first + span)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Takes `count` places from `pacer`, asking every 7 ms from `start`.
    fn take_eagerly(pacer: &mut Pacer, start: Instant, count: usize) -> Vec<Instant> {
        let mut taken = Vec::new();
        let mut now = start;
        while taken.len() < count {
            match pacer.try_take(now) {
                Ok(()) => taken.push(now),
                Err(next) => now = next,
            }
            now += Duration::from_millis(7);
        }
        taken
    }

    #[test]
    fn a_pacer_admits_its_allowance_in_any_window_and_says_when_the_next_place_frees() {
        let rate = Rate {
            limit: 5,
            window: Duration::from_secs(1),
        };
        // One place of five kept for pongs; the window is 1.5 s.
        let mut pacer = Pacer::new(rate, 1);
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        for ms in [0, 10, 20, 30] {
            assert_eq!(pacer.try_take(at(ms)), Ok(()));
        }
        assert_eq!(pacer.try_take(at(40)), Err(at(1_500)));
        assert_eq!(pacer.try_take(at(1_499)), Err(at(1_500)));
        assert_eq!(pacer.try_take(at(1_500)), Ok(()));
        assert_eq!(pacer.try_take(at(1_505)), Err(at(1_510)));
        // Whatever the pattern, no 1.5 s span holds more than four.
        let taken = take_eagerly(&mut Pacer::new(rate, 1), start, 40);
        assert_eq!(most_within(&taken, Duration::from_millis(1_500)), 4);
        // A long window keeps a tenth more.
        let mut hourly = Pacer::new(
            Rate {
                limit: 2,
                window: Duration::from_secs(3_600),
            },
            0,
        );
        assert_eq!(hourly.try_take(start), Ok(()));
        assert_eq!(hourly.try_take(start), Ok(()));
        assert_eq!(
            hourly.try_take(start),
            Err(start + Duration::from_secs(3_960))
        );
        // A limit of one with a place reserved still admits one.
        let mut single = Pacer::new(
            Rate {
                limit: 1,
                window: Duration::from_secs(1),
            },
            1,
        );
        assert_eq!(single.try_take(start), Ok(()));
        assert!(single.try_take(start).is_err());
    }

    #[test]
    fn frames_delayed_unequally_on_their_way_still_reach_the_venue_within_its_count() {
        // Bybit spot counts every frame, 10 a second: its subscribe requests, sent as fast as
        // the pacer admits, each delayed by anything up to 400 ms, with a pong.
        let limits = WsLimits {
            messages: Rate {
                limit: 10,
                window: Duration::from_secs(1),
            },
            ..limits(500)
        };
        let taken = take_eagerly(&mut message_pacer(&limits), Instant::now(), 100);
        // Frames sent within a window and 400 ms apart can arrive within one window: at
        // most the limit, counting the pong.
        let bunched = most_within(&taken, limits.messages.window + Duration::from_millis(400));
        assert!(
            bunched < 10,
            "{bunched} frames and a pong within one venue window"
        );
        // Yet the pacer keeps most of the venue's rate: 9 frames every 1.5 s, so 100 in
        // eleven windows and a little.
        let span = taken[taken.len() - 1] - taken[0];
        assert!(span < Duration::from_secs(17), "100 frames took {span:?}");
    }
}
