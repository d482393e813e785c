//! Cuts the events of each subject into messages at boundaries taken from the venue's data,
//! so that collectors recording the same feed make the same messages and the stream, which
//! deduplicates by `Nats-Msg-Id`, stores one copy.
//!
//! A message holds events of one subject whose venue times fall in the same `window`
//! (windows are aligned to the Unix epoch, so every collector cuts the same ones). It is
//! finished when
//! * an event of the subject from another window arrives (venues send a subject's events in
//!   time order, so this is the next window starting);
//! * it holds `max_events_per_message` events or `max_message_bytes` bytes;
//! * `linger` has passed since its window ended, as the local clock sees it: from the local
//!   arrival of its first event plus the rest of the window in venue time, so that a quiet
//!   feed's events wait at most one window and `linger`;
//! * a gap of its instrument is queued, so that nothing recorded after a gap is published
//!   before it; the gap goes alone;
//! * the publisher stops.
//!
//! The first two depend only on the venue's data. The timed cut is the same for collectors
//! that receive the window's events within `linger` of each other; one that receives an event
//! later than that publishes it in a message of its own, which the stream stores beside the
//! other collector's (the tables keep each event once). The message id names its events (see
//! [`MessageEncoder`]), so differing messages never share an id.
//!
//! Dead letters go alone, as they are queued.
//!
//! A checkpoint comes out once every message open when it arrived is finished, so that it
//! follows every message holding an event queued before it.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use marketprism_bus::{DeadLetter, DeadLetterOrigin};
use marketprism_model::codec::{EncodedMessage, MessageEncoder};
use marketprism_model::{Event, Exchange, MarketType, Symbol};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::publisher::Outgoing;
use crate::PublishConfig;

/// A finished message.
#[derive(Debug)]
pub(crate) enum Batch {
    /// Events of one subject.
    Events(EncodedMessage),
    /// A frame that could not be parsed.
    DeadLetter(DeadLetter),
    /// A checkpoint: told once every message before it is stored.
    Checkpoint(oneshot::Sender<()>),
}

/// The message of a subject still taking events.
#[derive(Debug)]
struct Open {
    /// The venue-time window of its events.
    window: i64,
    encoder: MessageEncoder,
    /// When it is finished even if no event of a later window has come.
    deadline: Instant,
    /// Its instrument, which a gap of the instrument finishes.
    instrument: (Exchange, MarketType, Symbol),
    /// Its number in the order messages were opened.
    serial: u64,
}

/// The open message of every subject.
#[derive(Debug)]
pub(crate) struct Batcher {
    window_ms: i64,
    linger: Duration,
    max_events: usize,
    max_bytes: usize,
    max_payload: usize,
    open: HashMap<String, Open>,
    /// The serial the next message opened gets.
    next_serial: u64,
    /// Checkpoints waiting for the messages opened before them (those with a lower serial)
    /// to finish, in arrival order.
    checkpoints: VecDeque<(u64, oneshot::Sender<()>)>,
}

impl Batcher {
    /// A batcher cutting by `limits` (`window`, `linger` and the message limits); a dead
    /// letter is cut to `max_payload`, the server's limit.
    pub(crate) fn new(limits: &PublishConfig, max_payload: usize) -> Self {
        Batcher {
            window_ms: i64::try_from(limits.window.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
            linger: limits.linger,
            max_events: limits.max_events_per_message,
            max_bytes: limits.max_message_bytes,
            max_payload,
            open: HashMap::new(),
            next_serial: 0,
            checkpoints: VecDeque::new(),
        }
    }

    /// Takes one queued item, arrived at `now`; what it finishes is appended to `finished`,
    /// in the order it must be published.
    pub(crate) fn take(&mut self, item: Outgoing, now: Instant, finished: &mut Vec<Batch>) {
        self.take_item(item, now, finished);
        self.release_checkpoints(finished);
    }

    fn take_item(&mut self, item: Outgoing, now: Instant, finished: &mut Vec<Batch>) {
        match item {
            Outgoing::Event(event @ Event::Gap(_)) => {
                let (exchange, market_type, symbol) = event.instrument();
                self.finish_where(finished, |open| {
                    open.instrument.0 == exchange
                        && open.instrument.1 == market_type
                        && &open.instrument.2 == symbol
                });
                finished.push(Batch::Events(MessageEncoder::new(event).finish()));
            }
            Outgoing::Event(event) => self.take_event(event, now, finished),
            Outgoing::DeadLetter {
                feed,
                frame,
                reason,
            } => finished.push(Batch::DeadLetter(DeadLetter::new(
                DeadLetterOrigin::Collector,
                &feed,
                frame.into(),
                &reason,
                None,
                self.max_payload,
            ))),
            Outgoing::Checkpoint(stored) => {
                self.checkpoints.push_back((self.next_serial, stored));
            }
        }
    }

    fn take_event(&mut self, event: Event, now: Instant, finished: &mut Vec<Batch>) {
        let time_ms = event.exchange_time_ms().unwrap_or_default();
        let window = time_ms.div_euclid(self.window_ms);
        let subject = event.subject();
        match self.open.get_mut(&subject) {
            Some(open) if open.window == window => open.encoder.push(event),
            _ => {
                if let Some(open) = self.open.remove(&subject) {
                    finished.push(Batch::Events(open.encoder.finish()));
                }
                let window_end_ms = window.saturating_add(1).saturating_mul(self.window_ms);
                let rest_of_window =
                    u64::try_from((window_end_ms - time_ms).clamp(0, self.window_ms))
                        .unwrap_or_default();
                let instrument = event.instrument();
                let instrument = (instrument.0, instrument.1, instrument.2.clone());
                self.open.insert(
                    subject.clone(),
                    Open {
                        window,
                        encoder: MessageEncoder::new(event),
                        deadline: now + Duration::from_millis(rest_of_window) + self.linger,
                        instrument,
                        serial: self.next_serial,
                    },
                );
                self.next_serial += 1;
            }
        }
        let full = self.open.get(&subject).is_some_and(|open| {
            open.encoder.events() >= self.max_events || open.encoder.body_len() >= self.max_bytes
        });
        if full {
            if let Some(open) = self.open.remove(&subject) {
                finished.push(Batch::Events(open.encoder.finish()));
            }
        }
    }

    /// Finishes the messages whose deadline is at or before `now`.
    pub(crate) fn finish_due(&mut self, now: Instant, finished: &mut Vec<Batch>) {
        self.finish_where(finished, |open| open.deadline <= now);
        self.release_checkpoints(finished);
    }

    /// Finishes every open message, e.g. when the publisher stops taking events.
    pub(crate) fn finish_all(&mut self, finished: &mut Vec<Batch>) {
        self.finish_where(finished, |_| true);
        self.release_checkpoints(finished);
    }

    /// Passes on the checkpoints whose earlier messages are all finished, in order.
    fn release_checkpoints(&mut self, finished: &mut Vec<Batch>) {
        if self.checkpoints.is_empty() {
            return;
        }
        let oldest_open = self.open.values().map(|open| open.serial).min();
        while let Some((opened_before, _)) = self.checkpoints.front() {
            if oldest_open.is_some_and(|serial| serial < *opened_before) {
                return;
            }
            if let Some((_, stored)) = self.checkpoints.pop_front() {
                finished.push(Batch::Checkpoint(stored));
            }
        }
    }

    /// The earliest deadline of an open message.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.open.values().map(|open| open.deadline).min()
    }

    /// Finishes the open messages `which` selects, oldest deadline first.
    fn finish_where(&mut self, finished: &mut Vec<Batch>, which: impl Fn(&Open) -> bool) {
        let mut subjects: Vec<(Instant, String)> = self
            .open
            .iter()
            .filter(|(_, open)| which(open))
            .map(|(subject, open)| (open.deadline, subject.clone()))
            .collect();
        subjects.sort_unstable();
        for (_, subject) in subjects {
            if let Some(open) = self.open.remove(&subject) {
                finished.push(Batch::Events(open.encoder.finish()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use marketprism_model::{
        codec, Exchange, Gap, GapReason, GapState, MarketType, Side, Trade, TradeSource,
    };

    use super::*;

    const T0: i64 = 1_700_000_000_000;

    /// How [`published`] shows a checkpoint.
    const CHECKPOINT: &str = "checkpoint";

    fn trade(symbol: &str, trade_id: u64, exchange_time_ms: i64) -> Event {
        Event::Trade(Trade {
            exchange: Exchange::Binance,
            market_type: MarketType::Spot,
            symbol: symbol.parse().expect("valid"),
            trade_id: trade_id.to_string().into(),
            aggregated: false,
            price: "100.5".parse().expect("valid"),
            quantity: "0.25".parse().expect("valid"),
            side: Side::Buy,
            exchange_time_ms,
            received_time_ms: exchange_time_ms + 1,
            sequence: None,
            source: TradeSource::Ws,
        })
    }

    fn gap(symbol: &str) -> Event {
        Event::Gap(Gap {
            exchange: Exchange::Binance,
            market_type: MarketType::Spot,
            symbol: symbol.parse().expect("valid"),
            from_ms: 1,
            to_ms: 2,
            reason: GapReason::Disconnect,
            received_time_ms: 2,
            missing_ids: None,
            state: GapState::default(),
            collector: None,
        })
    }

    fn limits(max_events_per_message: usize, max_message_bytes: usize) -> PublishConfig {
        PublishConfig {
            max_events_per_message,
            max_message_bytes,
            window: Duration::from_millis(10),
            linger: Duration::from_millis(5),
            ..PublishConfig::default()
        }
    }

    /// (subject, events decoded from the body) of each message; dead letters as their subject
    /// and no events.
    fn published(batches: &[Batch]) -> Vec<(String, Vec<Event>)> {
        batches
            .iter()
            .map(|batch| match batch {
                Batch::Events(message) => {
                    let events = codec::decode(&message.subject, &message.body).expect("decodes");
                    assert_eq!(message.events, events.len());
                    (message.subject.clone(), events)
                }
                Batch::DeadLetter(letter) => (letter.subject.clone(), Vec::new()),
                Batch::Checkpoint(_) => (CHECKPOINT.to_owned(), Vec::new()),
            })
            .collect()
    }

    /// Everything `items` makes, taken at `now` and then finished.
    fn cut(batcher: &mut Batcher, items: Vec<Outgoing>, now: Instant) -> Vec<Batch> {
        let mut finished = Vec::new();
        for item in items {
            batcher.take(item, now, &mut finished);
        }
        batcher.finish_all(&mut finished);
        finished
    }

    fn events(events: impl IntoIterator<Item = Event>) -> Vec<Outgoing> {
        events.into_iter().map(Outgoing::Event).collect()
    }

    #[test]
    fn events_of_one_subject_and_window_share_a_message() {
        let mut batcher = Batcher::new(&limits(256, 1 << 20), 1 << 20);
        let batches = cut(
            &mut batcher,
            events([
                trade("BTC-USDT", 1, T0),
                trade("ETH-USDT", 10, T0 + 1),
                trade("BTC-USDT", 2, T0 + 9),
                trade("BTC-USDT", 3, T0 + 10),
            ]),
            Instant::now(),
        );
        assert_eq!(
            published(&batches),
            [
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    vec![trade("BTC-USDT", 1, T0), trade("BTC-USDT", 2, T0 + 9)],
                ),
                (
                    "trade.binance.spot.ETH-USDT".to_owned(),
                    vec![trade("ETH-USDT", 10, T0 + 1)],
                ),
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    vec![trade("BTC-USDT", 3, T0 + 10)],
                ),
            ]
        );
    }

    /// Two collectors that receive the same events in different bursts, at different times,
    /// make the same messages with the same ids.
    #[test]
    fn collectors_receiving_in_different_bursts_make_the_same_messages() {
        let tape: Vec<Event> = (0..200)
            .map(|index| trade("BTC-USDT", index, T0 + (index as i64) * 3))
            .collect();
        let ids = |bursts: usize| {
            let mut batcher = Batcher::new(&limits(256, 1 << 20), 1 << 20);
            let mut finished = Vec::new();
            let start = Instant::now();
            for (burst, chunk) in tape.chunks(bursts).enumerate() {
                let now = start + Duration::from_millis(burst as u64);
                for event in chunk {
                    batcher.take(Outgoing::Event(event.clone()), now, &mut finished);
                }
            }
            batcher.finish_all(&mut finished);
            finished
                .into_iter()
                .map(|batch| match batch {
                    Batch::Events(message) => message.msg_id,
                    Batch::DeadLetter(letter) => letter.subject,
                    Batch::Checkpoint(_) => CHECKPOINT.to_owned(),
                })
                .collect::<Vec<_>>()
        };
        let one_by_one = ids(1);
        assert_eq!(
            one_by_one.len(),
            60,
            "600 ms of venue time in 10 ms windows"
        );
        assert_eq!(one_by_one, ids(7));
        assert_eq!(one_by_one, ids(64));
    }

    /// A checkpoint follows every message holding an event queued before it; a message
    /// opened after it does not hold it back.
    #[test]
    fn a_checkpoint_follows_every_message_open_when_it_arrived() {
        let mut batcher = Batcher::new(&limits(256, 1 << 20), 1 << 20);
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut finished = Vec::new();
        let (alone, _) = oneshot::channel();
        batcher.take(Outgoing::Checkpoint(alone), start, &mut finished);
        assert_eq!(published(&finished), [(CHECKPOINT.to_owned(), vec![])]);

        let mut finished = Vec::new();
        // Due 15 ms and 10 ms after they arrived: the rest of their window and the linger.
        batcher.take(
            Outgoing::Event(trade("BTC-USDT", 1, T0)),
            start,
            &mut finished,
        );
        batcher.take(
            Outgoing::Event(trade("ETH-USDT", 2, T0 + 5)),
            start,
            &mut finished,
        );
        let (checkpoint, _) = oneshot::channel();
        batcher.take(Outgoing::Checkpoint(checkpoint), start, &mut finished);
        // Opened after the checkpoint, due at 20 ms.
        batcher.take(
            Outgoing::Event(trade("SOL-USDT", 3, T0)),
            at(5),
            &mut finished,
        );
        // Joins the message opened before the checkpoint.
        batcher.take(
            Outgoing::Event(trade("BTC-USDT", 4, T0 + 1)),
            at(5),
            &mut finished,
        );
        assert!(finished.is_empty());
        let subjects = |finished: &[Batch]| -> Vec<String> {
            published(finished)
                .into_iter()
                .map(|(subject, _)| subject)
                .collect()
        };

        batcher.finish_due(at(10), &mut finished);
        assert_eq!(subjects(&finished), ["trade.binance.spot.ETH-USDT"]);
        batcher.finish_due(at(15), &mut finished);
        assert_eq!(
            published(&finished[1..]),
            [
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    vec![trade("BTC-USDT", 1, T0), trade("BTC-USDT", 4, T0 + 1)]
                ),
                (CHECKPOINT.to_owned(), vec![]),
            ]
        );
        batcher.finish_due(at(20), &mut finished);
        assert_eq!(subjects(&finished[3..]), ["trade.binance.spot.SOL-USDT"]);
    }

    #[test]
    fn a_message_is_finished_once_linger_has_passed_after_its_window() {
        let mut batcher = Batcher::new(&limits(256, 1 << 20), 1 << 20);
        let start = Instant::now();
        let mut finished = Vec::new();
        // 4 ms before its window ends: due 4 ms + 5 ms after it arrived.
        batcher.take(
            Outgoing::Event(trade("BTC-USDT", 1, T0 + 6)),
            start,
            &mut finished,
        );
        assert_eq!(
            batcher.next_deadline(),
            Some(start + Duration::from_millis(9))
        );
        batcher.finish_due(start + Duration::from_millis(8), &mut finished);
        assert!(finished.is_empty());
        batcher.finish_due(start + Duration::from_millis(9), &mut finished);
        assert_eq!(finished.len(), 1);
        assert_eq!(batcher.next_deadline(), None);
    }

    #[test]
    fn a_full_message_is_finished_and_the_next_event_starts_another() {
        let mut batcher = Batcher::new(&limits(2, 1 << 20), 1 << 20);
        let batches = cut(
            &mut batcher,
            events((1..=5).map(|id| trade("BTC-USDT", id, T0))),
            Instant::now(),
        );
        let sizes: Vec<usize> = published(&batches)
            .iter()
            .map(|(_, events)| events.len())
            .collect();
        assert_eq!(sizes, [2, 2, 1]);

        let mut batcher = Batcher::new(&limits(256, 1), 1 << 20);
        let batches = cut(
            &mut batcher,
            events((1..=3).map(|id| trade("BTC-USDT", id, T0))),
            Instant::now(),
        );
        let ids: Vec<String> = batches
            .into_iter()
            .filter_map(|batch| match batch {
                Batch::Events(message) => Some(message.msg_id),
                Batch::DeadLetter(_) | Batch::Checkpoint(_) => None,
            })
            .collect();
        assert_eq!(
            ids,
            (1..=3)
                .map(|id| trade("BTC-USDT", id, T0).msg_id())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn nothing_taken_after_a_gap_is_published_before_it() {
        let mut batcher = Batcher::new(&limits(256, 1 << 20), 1 << 20);
        let batches = cut(
            &mut batcher,
            events([
                trade("BTC-USDT", 1, T0),
                trade("ETH-USDT", 10, T0),
                gap("BTC-USDT"),
                trade("BTC-USDT", 2, T0 + 1),
                trade("ETH-USDT", 11, T0 + 1),
            ]),
            Instant::now(),
        );
        assert_eq!(
            published(&batches),
            [
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    vec![trade("BTC-USDT", 1, T0)]
                ),
                (
                    "gap.binance.spot.BTC-USDT".to_owned(),
                    vec![gap("BTC-USDT")]
                ),
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    vec![trade("BTC-USDT", 2, T0 + 1)]
                ),
                // Another instrument's message is not cut by the gap.
                (
                    "trade.binance.spot.ETH-USDT".to_owned(),
                    vec![trade("ETH-USDT", 10, T0), trade("ETH-USDT", 11, T0 + 1)]
                ),
            ]
        );
    }

    #[test]
    fn dead_letters_go_alone_as_they_are_queued() {
        let mut batcher = Batcher::new(&limits(256, 1 << 20), 1 << 20);
        let mut items = events([trade("BTC-USDT", 1, T0)]);
        items.push(Outgoing::DeadLetter {
            feed: "binance.spot".into(),
            frame: "{garbage".into(),
            reason: "expected value".into(),
        });
        items.extend(events([trade("BTC-USDT", 2, T0)]));
        let batches = cut(&mut batcher, items, Instant::now());
        assert_eq!(
            published(&batches),
            [
                ("deadletter.collector.binance.spot".to_owned(), Vec::new()),
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    vec![trade("BTC-USDT", 1, T0), trade("BTC-USDT", 2, T0)]
                ),
            ]
        );
        match &batches[0] {
            Batch::DeadLetter(letter) => assert_eq!(&letter.payload[..], b"{garbage"),
            Batch::Events(_) | Batch::Checkpoint(_) => panic!("the dead letter comes first"),
        }
    }
}
