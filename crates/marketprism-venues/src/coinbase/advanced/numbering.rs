//! The message numbering of an Advanced Trade connection (`sequence_num`), and the ids it
//! gives book messages.
//!
//! Coinbase numbers every message of a connection, whatever its channel or product, from 0
//! and without holes: in the capture `coinbase.20260809T2105Z` the 258 messages of the one
//! connection (`market_trades`, `l2_data`, `ticker`, `candles`, `heartbeats`,
//! `subscriptions`) are numbered 0 to 257, and the 185 `l2_data` messages of BTC-USD and
//! ETH-USD interleave with the others (13, 14, 15, 16, 17, 18, 19, 28, ... for BTC-USD). The
//! number is per connection, not per product: a hole means the connection lost messages,
//! which may have been any product's book updates.
//!
//! Numbers restart at 0 on every connection, so they cannot name book updates: a book
//! published after a reconnect would reuse the ids, and the message ids derived from them, of
//! books published before it. A message is named instead by its send time (`timestamp`, in
//! nanoseconds; strictly increasing along the capture's connection), raised where needed
//! so that ids strictly increase along the connection. [`Numbering`] follows one connection's
//! numbers and gives each message its id and the id of the first message after the last
//! hole: a book continues while that is at or before its last message
//! ([`marketprism_book::SyncRule::CoinbaseAdvanced`]).

/// A message's place on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Observed {
    /// The message's id.
    pub(super) id: u64,
    /// The id of the first message from which the numbering has been unbroken up to this one.
    pub(super) unbroken_since: u64,
}

/// Where one connection's numbering stands.
#[derive(Debug, Default)]
pub(super) struct Numbering {
    /// The last number seen and the id given to its message.
    last: Option<(u64, u64)>,
    /// The id of the first message after the last hole (or of the connection's first).
    unbroken_since: u64,
}

impl Numbering {
    /// Notes message `number`, sent at `time_ns`. A number 0 starts a new connection; a number
    /// at or below the last one, a repeat or a late message, changes nothing and keeps its
    /// send time as its id, which is not after the id of the message it repeats.
    pub(super) fn observe(&mut self, number: u64, time_ns: u64) -> Observed {
        let Some((last_number, last_id)) = self.last else {
            self.unbroken_since = time_ns;
            self.last = Some((number, time_ns));
            return Observed {
                id: time_ns,
                unbroken_since: time_ns,
            };
        };
        if number <= last_number && number != 0 {
            return Observed {
                id: time_ns,
                unbroken_since: self.unbroken_since,
            };
        }
        let id = time_ns.max(last_id.saturating_add(1));
        if Some(number) != last_number.checked_add(1) {
            // A hole before this message, or a new connection.
            self.unbroken_since = id;
        }
        self.last = Some((number, id));
        Observed {
            id,
            unbroken_since: self.unbroken_since,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(id: u64, unbroken_since: u64) -> Observed {
        Observed { id, unbroken_since }
    }

    #[test]
    fn a_hole_moves_the_unbroken_start_and_a_new_connection_restarts_it() {
        let mut numbering = Numbering::default();
        assert_eq!(numbering.observe(0, 100), observed(100, 100));
        assert_eq!(numbering.observe(1, 110), observed(110, 100));
        // Two messages sent in the same nanosecond still get increasing ids.
        assert_eq!(numbering.observe(2, 110), observed(111, 100));
        // 3 and 4 were lost.
        assert_eq!(numbering.observe(5, 150), observed(150, 150));
        assert_eq!(numbering.observe(6, 160), observed(160, 150));
        // A late or repeated message changes nothing.
        assert_eq!(numbering.observe(4, 140), observed(140, 150));
        assert_eq!(numbering.observe(6, 160), observed(160, 150));
        assert_eq!(numbering.observe(7, 170), observed(170, 150));
        // The next connection numbers from 0 again; its ids continue.
        assert_eq!(numbering.observe(0, 300), observed(300, 300));
        assert_eq!(numbering.observe(1, 310), observed(310, 300));
    }

    #[test]
    fn numbering_first_seen_mid_connection_is_unbroken_from_there() {
        let mut numbering = Numbering::default();
        assert_eq!(numbering.observe(57, 1_000), observed(1_000, 1_000));
        assert_eq!(numbering.observe(58, 1_001), observed(1_001, 1_000));
    }
}
