//! The event envelope: data type, NATS subject and deduplication id.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    Exchange, FundingRate, Gap, Liquidation, Listing, LongShortRatio, MarketType, OpenInterest,
    OrderBook, OrderBookDelta, Symbol, Trade, VolatilityIndex,
};

/// The kinds of event MarketPrism carries, each with its own subject prefix and table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    /// Public trades.
    Trade,
    /// Top-N order books.
    OrderBook,
    /// Sequenced order-book messages, for full-depth reconstruction.
    OrderBookDelta,
    /// Funding rates of perpetuals.
    FundingRate,
    /// Open interest.
    OpenInterest,
    /// Forced liquidations.
    Liquidation,
    /// Volatility indices.
    VolatilityIndex,
    /// Long/short ratios.
    LongShortRatio,
    /// Windows of possibly missing data.
    Gap,
    /// Instruments as their venues list them.
    Listing,
}

impl DataType {
    /// Every data type, in subject order.
    pub const ALL: [DataType; 10] = [
        DataType::Trade,
        DataType::OrderBook,
        DataType::OrderBookDelta,
        DataType::FundingRate,
        DataType::OpenInterest,
        DataType::Liquidation,
        DataType::VolatilityIndex,
        DataType::LongShortRatio,
        DataType::Gap,
        DataType::Listing,
    ];

    /// The first subject token, e.g. `trade`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DataType::Trade => "trade",
            DataType::OrderBook => "orderbook",
            DataType::OrderBookDelta => "orderbook_delta",
            DataType::FundingRate => "funding_rate",
            DataType::OpenInterest => "open_interest",
            DataType::Liquidation => "liquidation",
            DataType::VolatilityIndex => "volatility_index",
            DataType::LongShortRatio => "long_short_ratio",
            DataType::Gap => "gap",
            DataType::Listing => "listing",
        }
    }

    /// The wildcard subject matching every event of this type, e.g. `trade.>`.
    pub fn wildcard_subject(self) -> String {
        format!("{}.>", self.as_str())
    }

    /// Parses the first token of a subject.
    pub fn from_subject(subject: &str) -> Option<DataType> {
        let token = subject.split('.').next()?;
        DataType::ALL
            .into_iter()
            .find(|data_type| data_type.as_str() == token)
    }
}

/// A normalized event, as published on the bus.
///
/// The JSON form is one flat object with a `type` field naming the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A public trade.
    Trade(Trade),
    /// The top levels of a synchronized order book.
    #[serde(rename = "orderbook")]
    OrderBook(OrderBook),
    /// A sequenced order-book message.
    #[serde(rename = "orderbook_delta")]
    OrderBookDelta(OrderBookDelta),
    /// A funding rate.
    FundingRate(FundingRate),
    /// Open interest.
    OpenInterest(OpenInterest),
    /// A forced liquidation.
    Liquidation(Liquidation),
    /// A volatility index value.
    VolatilityIndex(VolatilityIndex),
    /// A long/short ratio.
    LongShortRatio(LongShortRatio),
    /// A window of possibly missing data.
    Gap(Gap),
    /// An instrument as its venue lists it: published when it first appears on the venue's
    /// list, when its trading state changes and when it leaves the list.
    Listing(Listing),
}

impl Event {
    /// The data type of this event.
    pub fn data_type(&self) -> DataType {
        match self {
            Event::Trade(_) => DataType::Trade,
            Event::OrderBook(_) => DataType::OrderBook,
            Event::OrderBookDelta(_) => DataType::OrderBookDelta,
            Event::FundingRate(_) => DataType::FundingRate,
            Event::OpenInterest(_) => DataType::OpenInterest,
            Event::Liquidation(_) => DataType::Liquidation,
            Event::VolatilityIndex(_) => DataType::VolatilityIndex,
            Event::LongShortRatio(_) => DataType::LongShortRatio,
            Event::Gap(_) => DataType::Gap,
            Event::Listing(_) => DataType::Listing,
        }
    }

    /// The venue, market and symbol the event concerns.
    pub fn instrument(&self) -> (Exchange, MarketType, &Symbol) {
        match self {
            Event::Trade(trade) => (trade.exchange, trade.market_type, &trade.symbol),
            Event::OrderBook(book) => (book.exchange, book.market_type, &book.symbol),
            Event::OrderBookDelta(delta) => (delta.exchange, delta.market_type, &delta.symbol),
            Event::FundingRate(rate) => (rate.exchange, rate.market_type, &rate.symbol),
            Event::OpenInterest(interest) => {
                (interest.exchange, interest.market_type, &interest.symbol)
            }
            Event::Liquidation(liquidation) => (
                liquidation.exchange,
                liquidation.market_type,
                &liquidation.symbol,
            ),
            Event::VolatilityIndex(index) => (index.exchange, index.market_type, &index.symbol),
            Event::LongShortRatio(ratio) => (ratio.exchange, ratio.market_type, &ratio.symbol),
            Event::Gap(gap) => (gap.exchange, gap.market_type, &gap.symbol),
            Event::Listing(listing) => (listing.exchange, listing.market_type, &listing.symbol),
        }
    }

    /// The NATS subject: `{data_type}.{exchange}.{market_type}.{symbol}`,
    /// e.g. `trade.binance.spot.BTC-USDT`.
    pub fn subject(&self) -> String {
        let (exchange, market_type, symbol) = self.instrument();
        format!(
            "{}.{}.{}.{}",
            self.data_type().as_str(),
            exchange.as_str(),
            market_type.as_str(),
            symbol
        )
    }

    /// The deterministic `Nats-Msg-Id` of the event published alone: its subject and its
    /// [`dedup_key`](Self::dedup_key), so a republish after a reconnect, or a second
    /// collector on the same feed, is deduplicated by the stream.
    pub fn msg_id(&self) -> String {
        format!("{}:{}", self.subject(), self.dedup_key())
    }

    /// The venue's own identifiers of the event, unique within its subject: the trade id, the
    /// book update ids, the venue time of a funding rate, ...
    pub fn dedup_key(&self) -> String {
        let mut key = String::new();
        // Writing into a `String` cannot fail.
        let _ = self.write_dedup_key(&mut key);
        key
    }

    /// Writes the [`dedup_key`](Self::dedup_key) into `out`, without allocating.
    pub fn write_dedup_key<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        match self {
            Event::Trade(trade) => {
                let id_space = if trade.aggregated { "a" } else { "t" };
                write!(out, "{id_space}:{}", trade.trade_id)
            }
            Event::OrderBook(book) => write!(out, "{}", book.update_id),
            Event::OrderBookDelta(delta) => write!(
                out,
                "{}:{}:{}",
                if delta.snapshot { "s" } else { "d" },
                delta.first_update_id,
                delta.update_id
            ),
            Event::FundingRate(rate) => write!(out, "{}", rate.exchange_time_ms),
            Event::OpenInterest(interest) => write!(out, "{}", interest.exchange_time_ms),
            // Venues give liquidations no id: time, side, price and quantity identify one.
            Event::Liquidation(liquidation) => write!(
                out,
                "{}:{}:{}:{}",
                liquidation.exchange_time_ms,
                liquidation.side.as_str(),
                liquidation.price,
                liquidation.quantity
            ),
            Event::VolatilityIndex(index) => write!(out, "{}", index.exchange_time_ms),
            Event::LongShortRatio(ratio) => write!(
                out,
                "{}:{}:{}",
                ratio.kind.as_str(),
                ratio.period,
                ratio.exchange_time_ms
            ),
            // A gap is published again as its status changes: each status (and count of
            // trades recovered) is a message of its own, not a duplicate of the first.
            Event::Gap(gap) => {
                write!(out, "{}:{}:{}", gap.reason.as_str(), gap.from_ms, gap.to_ms)?;
                // Each collector's account of a gap is its own message.
                if let Some(collector) = &gap.collector {
                    write!(out, "@{collector}")?;
                }
                if !gap.state.is_open() {
                    write!(out, ":{}", gap.state.status.as_str())?;
                    if let Some(recovered) = gap.state.recovered {
                        write!(out, ":{recovered}")?;
                    }
                }
                Ok(())
            }
            // Each observation of a venue's list is a message of its own (a later one says
            // the same or something new, at its own time); the state it saw is part of the
            // key, so two accounts of one moment that disagree never pass for one message.
            Event::Listing(listing) => {
                let state = match (listing.delisted_ms, listing.trading) {
                    (Some(_), _) => "delisted",
                    (None, true) => "trading",
                    (None, false) => "halted",
                };
                write!(out, "{}:{state}", listing.received_time_ms)
            }
        }
    }

    /// The instrument the event concerns.
    pub fn symbol(&self) -> &Symbol {
        self.instrument().2
    }

    /// The venue's time of the data, Unix milliseconds; `None` for gaps and listings, which
    /// are the collector's own account (a listing's times say when the instrument was listed
    /// and delisted, not when the venue said so).
    pub fn exchange_time_ms(&self) -> Option<i64> {
        match self {
            Event::Trade(trade) => Some(trade.exchange_time_ms),
            Event::OrderBook(book) => Some(book.exchange_time_ms),
            Event::OrderBookDelta(delta) => Some(delta.exchange_time_ms),
            Event::FundingRate(rate) => Some(rate.exchange_time_ms),
            Event::OpenInterest(interest) => Some(interest.exchange_time_ms),
            Event::Liquidation(liquidation) => Some(liquidation.exchange_time_ms),
            Event::VolatilityIndex(index) => Some(index.exchange_time_ms),
            Event::LongShortRatio(ratio) => Some(ratio.exchange_time_ms),
            Event::Gap(_) | Event::Listing(_) => None,
        }
    }

    /// The local receive time of the event, Unix milliseconds.
    pub fn received_time_ms(&self) -> i64 {
        match self {
            Event::Trade(trade) => trade.received_time_ms,
            Event::OrderBook(book) => book.received_time_ms,
            Event::OrderBookDelta(delta) => delta.received_time_ms,
            Event::FundingRate(rate) => rate.received_time_ms,
            Event::OpenInterest(interest) => interest.received_time_ms,
            Event::Liquidation(liquidation) => liquidation.received_time_ms,
            Event::VolatilityIndex(index) => index.received_time_ms,
            Event::LongShortRatio(ratio) => ratio.received_time_ms,
            Event::Gap(gap) => gap.received_time_ms,
            Event::Listing(listing) => listing.received_time_ms,
        }
    }
}
