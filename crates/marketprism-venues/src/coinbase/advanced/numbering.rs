//! The message numbering of an Advanced Trade connection (`sequence_num`), and the ids and
//! chaining it gives each book's messages.
//!
//! Coinbase numbers every message of a connection, whatever its channel or product, from 0
//! and without holes: in the capture `coinbase.20260809T2105Z` the 258 messages of the one
//! connection (`market_trades`, `l2_data`, `ticker`, `candles`, `heartbeats`,
//! `subscriptions`) are numbered 0 to 257, and the 185 `l2_data` messages of BTC-USD and
//! ETH-USD interleave with the others (13, 14, 15, 16, 17, 18, 19, 28, ... for BTC-USD). The
//! number is per connection, not per product: a hole means the connection lost messages,
//! which may have been any product's book updates.
//!
//! Numbers restart at 0 on every connection and count other channels' messages, so they
//! cannot name book updates. A book message is named instead by its send time (`timestamp`,
//! in nanoseconds), raised where needed above the id of the book's previous message, so that
//! a book's ids strictly increase. The id depends on the book's own messages alone, not on
//! what else the connection carries: a replay of the capture and a live connection
//! subscribed to part of it name the book's messages alike.
//!
//! [`Numbering`] follows one connection's numbers, counting the stretches between holes,
//! and chains each book's messages: a message continues the book's previous one (its
//! `prev_id`) when both came in the same stretch, that is when no message of the connection
//! was lost in between ([`marketprism_book::SyncRule::CoinbaseAdvanced`]).

use std::collections::HashMap;

use marketprism_model::Symbol;

/// A message's place in its connection's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Observed {
    /// When Coinbase sent the message, Unix nanoseconds.
    time_ns: u64,
    /// The stretch of unbroken numbering it came in; `None` for a repeat or a late message,
    /// which continues nothing.
    stretch: Option<u64>,
}

/// A book message's id, and the id of the book's message it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Placed {
    /// The message's id.
    pub(super) id: u64,
    /// The id of the book's previous message, when no message of the connection was lost
    /// since it.
    pub(super) prev_id: Option<u64>,
}

/// Where one connection's numbering stands, and each book's last message on it.
#[derive(Debug, Default)]
pub(super) struct Numbering {
    /// The last number seen.
    last: Option<u64>,
    /// The stretches of unbroken numbering so far, less one: each hole, or number 0 of a new
    /// connection, starts the next.
    stretch: u64,
    /// Per product, the id of its last book message and the stretch it came in.
    books: HashMap<Symbol, (u64, u64)>,
}

impl Numbering {
    /// Notes message `number`, sent at `time_ns`. A number 0 starts a new connection; a number
    /// at or below the last one, a repeat or a late message, changes nothing.
    pub(super) fn observe(&mut self, number: u64, time_ns: u64) -> Observed {
        if let Some(last) = self.last {
            if number <= last && number != 0 {
                return Observed {
                    time_ns,
                    stretch: None,
                };
            }
            if Some(number) != last.checked_add(1) {
                // A hole before this message, or a new connection.
                self.stretch += 1;
            }
        }
        self.last = Some(number);
        Observed {
            time_ns,
            stretch: Some(self.stretch),
        }
    }

    /// Notes that a message that was noted could not be read: it may have been any book's,
    /// so no book continues across it.
    pub(super) fn lose(&mut self) {
        self.stretch += 1;
    }

    /// Places `observed`, a book message of `symbol`, in the book's chain. A repeat or late
    /// message keeps its send time as its id, which is not after the id of the message it
    /// repeats, and follows nothing.
    pub(super) fn place(&mut self, symbol: &Symbol, observed: Observed) -> Placed {
        let Some(stretch) = observed.stretch else {
            return Placed {
                id: observed.time_ns,
                prev_id: None,
            };
        };
        let previous = self.books.get(symbol).copied();
        let id = previous.map_or(observed.time_ns, |(last_id, _)| {
            observed.time_ns.max(last_id.saturating_add(1))
        });
        let prev_id = previous
            .filter(|(_, last_stretch)| *last_stretch == stretch)
            .map(|(last_id, _)| last_id);
        self.books.insert(symbol.clone(), (id, stretch));
        Placed { id, prev_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(id: u64, prev_id: Option<u64>) -> Placed {
        Placed { id, prev_id }
    }

    fn symbol(text: &str) -> Symbol {
        text.parse().expect("symbol")
    }

    #[test]
    fn a_book_follows_its_previous_message_until_the_connection_loses_one() {
        let (btc, eth) = (symbol("BTC-USD"), symbol("ETH-USD"));
        let mut numbering = Numbering::default();
        let book = |numbering: &mut Numbering, symbol: &Symbol, number, time_ns| {
            let observed = numbering.observe(number, time_ns);
            numbering.place(symbol, observed)
        };
        assert_eq!(book(&mut numbering, &btc, 0, 100), placed(100, None));
        assert_eq!(book(&mut numbering, &eth, 1, 105), placed(105, None));
        // Other channels' messages between a book's messages break nothing.
        numbering.observe(2, 106);
        assert_eq!(book(&mut numbering, &btc, 3, 110), placed(110, Some(100)));
        // Two messages of a book sent in the same nanosecond still get increasing ids; a
        // message of another book sent before does not raise this book's.
        assert_eq!(book(&mut numbering, &btc, 4, 110), placed(111, Some(110)));
        assert_eq!(book(&mut numbering, &eth, 5, 104), placed(106, Some(105)));
        // 6 and 7 were lost: no book continues across them.
        assert_eq!(book(&mut numbering, &eth, 8, 150), placed(150, None));
        assert_eq!(book(&mut numbering, &btc, 9, 160), placed(160, None));
        assert_eq!(book(&mut numbering, &btc, 10, 170), placed(170, Some(160)));
        // A late or repeated message changes nothing and follows nothing.
        assert_eq!(book(&mut numbering, &btc, 7, 140), placed(140, None));
        assert_eq!(book(&mut numbering, &btc, 10, 170), placed(170, None));
        assert_eq!(book(&mut numbering, &btc, 11, 180), placed(180, Some(170)));
        // A message that could not be read may have been any book's.
        numbering.observe(12, 185);
        numbering.lose();
        assert_eq!(book(&mut numbering, &eth, 13, 190), placed(190, None));
        // The next connection numbers from 0 again; ids keep increasing.
        assert_eq!(book(&mut numbering, &btc, 0, 175), placed(181, None));
        assert_eq!(book(&mut numbering, &btc, 1, 310), placed(310, Some(181)));
    }

    #[test]
    fn numbering_first_seen_mid_connection_is_unbroken_from_there() {
        let btc = symbol("BTC-USD");
        let mut numbering = Numbering::default();
        let observed = numbering.observe(57, 1_000);
        assert_eq!(numbering.place(&btc, observed), placed(1_000, None));
        let observed = numbering.observe(58, 1_001);
        assert_eq!(numbering.place(&btc, observed), placed(1_001, Some(1_000)));
    }
}
