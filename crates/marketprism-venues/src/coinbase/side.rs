//! Trade sides as Coinbase reports them: the side of the resting (maker) order.
//!
//! The Exchange docs say so of `match` ("the side field indicates the maker order side",
//! <https://docs.cdp.coinbase.com/exchange/websocket-feed/channels#match>); the Advanced Trade
//! docs do not say, and the capture `coinbase.20260809T2105Z` shows the same: its 12 `SELL`
//! trades printed at the best ask and 8 of its 10 `BUY` trades at the best bid (the other 2
//! between the quotes of the ticker before them). A `SELL` is therefore an aggressive buy.
//! The 2021 Exchange capture agrees: its `match` sides are opposite to the `ticker` sides
//! (the taker's) of the same trades.

use marketprism_model::Side;

use crate::VenueError;

/// The taker's side of a trade whose maker order was on `maker_side` (`BUY`/`SELL` on
/// Advanced Trade, `buy`/`sell` on Exchange).
pub(super) fn taker_side(maker_side: &str) -> Result<Side, VenueError> {
    match maker_side {
        "SELL" | "sell" => Ok(Side::Buy),
        "BUY" | "buy" => Ok(Side::Sell),
        other => Err(VenueError::Unrecognized(format!("trade side {other:?}"))),
    }
}
