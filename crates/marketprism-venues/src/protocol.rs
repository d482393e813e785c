//! The interface between the collector's connection driver and a venue, and the names of the
//! channels and polled series as configuration files write them (`trades`, `orderbook`,
//! `long_short_top_positions`, ...).

use marketprism_book::{BookUpdate, SyncRule};
use marketprism_model::{Event, Exchange, Listing, MarketType, RatioKind, Symbol};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::history::{HistoryPager, HistoryRange};
use crate::{RequestCost, RestCall, RestLimits, VenueError, WsLimits};

/// A data channel MarketPrism can subscribe to. Configuration files name it by
/// [`Channel::as_str`], e.g. `channels = ["trades", "orderbook"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Every individual trade.
    Trades,
    /// Trades aggregated per taker order and price (Binance `aggTrade`).
    AggregateTrades,
    /// Order-book snapshots and deltas, for the sequencer, published as top-N books.
    OrderBook,
    /// Funding rates of perpetuals, with mark and index prices where the venue sends them
    /// (Binance USDⓈ-M mark price stream, OKX, Bybit tickers).
    FundingRate,
    /// Open interest (OKX, Bybit tickers).
    OpenInterest,
    /// Forced liquidations (Binance USDⓈ-M, OKX, Bybit).
    Liquidations,
    /// Volatility indices (Deribit DVOL); the symbol is the currency, e.g. `BTC`.
    VolatilityIndex,
}

impl Channel {
    /// Every channel.
    const ALL: [Channel; 7] = [
        Channel::Trades,
        Channel::AggregateTrades,
        Channel::OrderBook,
        Channel::FundingRate,
        Channel::OpenInterest,
        Channel::Liquidations,
        Channel::VolatilityIndex,
    ];

    /// The configuration names of [`Channel::ALL`], in the same order.
    const NAMES: [&'static str; 7] = {
        let mut names = [""; 7];
        let mut index = 0;
        while index < names.len() {
            names[index] = Channel::ALL[index].as_str();
            index += 1;
        }
        names
    };

    /// The configuration name of the channel.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Trades => "trades",
            Channel::AggregateTrades => "aggregate_trades",
            Channel::OrderBook => "orderbook",
            Channel::FundingRate => "funding_rate",
            Channel::OpenInterest => "open_interest",
            Channel::Liquidations => "liquidations",
            Channel::VolatilityIndex => "volatility_index",
        }
    }
}

impl Serialize for Channel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        by_name(deserializer, &Channel::ALL, &Channel::NAMES)
    }
}

/// Reads a configuration name and returns the value of `values` at its place in `names`;
/// an unknown name is reported as serde reports an unknown enum variant.
fn by_name<'de, D: Deserializer<'de>, T: Copy>(
    deserializer: D,
    values: &[T],
    names: &'static [&'static str],
) -> Result<T, D::Error> {
    let name = String::deserialize(deserializer)?;
    names
        .iter()
        .zip(values)
        .find_map(|(known, value)| (*known == name).then_some(*value))
        .ok_or_else(|| de::Error::unknown_variant(&name, names))
}

/// One channel of one instrument.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subscription {
    /// What to receive.
    pub channel: Channel,
    /// Which instrument.
    pub symbol: Symbol,
}

/// A subscribe request frame and the acknowledgements that confirm it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The ids of the [`Inbound::SubscribeAck`]s confirming this frame: one request id for
    /// venues that reply once per request, one id per channel for venues that reply per
    /// channel (OKX).
    pub acks: Vec<u64>,
    /// The text frame to send.
    pub frame: String,
}

/// One order-book message of one instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookMessage {
    /// The instrument's market.
    pub market_type: MarketType,
    /// The instrument.
    pub symbol: Symbol,
    /// The snapshot or delta with the venue's sequence ids.
    pub update: BookUpdate,
}

impl SubscribeRequest {
    /// One request per chunk of `items` (at most `per_request` each), numbered from 1, each
    /// confirmed by the reply that echoes its number; `request` builds the frame's body.
    pub(crate) fn numbered<'a, T, R: serde::Serialize>(
        items: &'a [T],
        per_request: usize,
        request: impl Fn(&'a [T], u64) -> R,
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        items
            .chunks(per_request)
            .zip(1..)
            .map(|(chunk, id)| {
                Ok(SubscribeRequest {
                    acks: vec![id],
                    frame: serde_json::to_string(&request(chunk, id))?,
                })
            })
            .collect()
    }
}

/// What one inbound frame means.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Market data, normalized.
    Events(Vec<Event>),
    /// An order-book message, to be sequenced before anything is published.
    Book(BookMessage),
    /// The venue confirmed a subscription.
    SubscribeAck {
        /// One of the ids of [`SubscribeRequest::acks`].
        request_id: u64,
    },
    /// The venue refused a request.
    Rejected {
        /// The request id, when the venue echoed one.
        request_id: Option<u64>,
        /// The venue's explanation.
        reason: String,
    },
    /// A documented frame MarketPrism does not record (e.g. a channel the connection also
    /// carries for another consumer).
    Ignored,
}

impl Inbound {
    /// One event per record of a frame: each record normalized by `normalize`, then made an
    /// event by `event`. The first record that does not normalize fails the frame.
    pub(crate) fn events_of<R, T>(
        records: &[R],
        normalize: impl Fn(&R) -> Result<T, VenueError>,
        event: impl Fn(T) -> Event,
    ) -> Result<Inbound, VenueError> {
        records
            .iter()
            .map(|record| normalize(record).map(&event))
            .collect::<Result<_, _>>()
            .map(Inbound::Events)
    }
}

/// Data a venue publishes over REST only, fetched by polling. Configuration files name it by
/// [`PollKind::as_str`], e.g. `data = "long_short_top_positions"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollKind {
    /// The current funding rate with mark and index price (Binance USDⓈ-M `premiumIndex`).
    FundingRate,
    /// Current open interest (Binance USDⓈ-M `openInterest`).
    OpenInterest,
    /// The latest long/short ratio of a period: top traders' positions and accounts
    /// (Binance, OKX), all accounts (Binance, OKX per currency, Bybit).
    LongShortRatio(RatioKind),
    /// Volatility-index history: Deribit DVOL candles at the `period` resolution (`1s`,
    /// `1m`, `1h`, `12h`, `1d`); the first poll backfills up to 1,000 candles.
    VolatilityIndex,
}

impl PollKind {
    /// Every polled series.
    const ALL: [PollKind; 6] = [
        PollKind::FundingRate,
        PollKind::OpenInterest,
        PollKind::LongShortRatio(RatioKind::TopPositions),
        PollKind::LongShortRatio(RatioKind::TopAccounts),
        PollKind::LongShortRatio(RatioKind::AllAccounts),
        PollKind::VolatilityIndex,
    ];

    /// The configuration names of [`PollKind::ALL`], in the same order.
    const NAMES: [&'static str; 6] = {
        let mut names = [""; 6];
        let mut index = 0;
        while index < names.len() {
            names[index] = PollKind::ALL[index].as_str();
            index += 1;
        }
        names
    };

    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            PollKind::FundingRate => "funding_rate",
            PollKind::OpenInterest => "open_interest",
            PollKind::LongShortRatio(RatioKind::TopPositions) => "long_short_top_positions",
            PollKind::LongShortRatio(RatioKind::TopAccounts) => "long_short_top_accounts",
            PollKind::LongShortRatio(RatioKind::AllAccounts) => "long_short_all_accounts",
            PollKind::VolatilityIndex => "volatility_index",
        }
    }
}

impl Serialize for PollKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PollKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        by_name(deserializer, &PollKind::ALL, &PollKind::NAMES)
    }
}

/// One polled series: what, for which instrument, over which statistics period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Poll {
    /// What to fetch.
    pub kind: PollKind,
    /// The instrument.
    pub symbol: Symbol,
    /// Period in Binance notation (`1s`, `5m`, `1h`, `1d`): the statistics period of
    /// long/short ratios, the candle resolution of volatility-index history.
    pub period: String,
}

/// An application-level keepalive frame and its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Send the frame this often.
    pub every: std::time::Duration,
    /// The text frame.
    pub frame: &'static str,
}

/// A venue's protocol for one market, as the connection driver sees it.
pub trait VenueProtocol: Send + Sync {
    /// The venue.
    fn exchange(&self) -> Exchange;

    /// The market this protocol instance serves.
    fn market_type(&self) -> MarketType;

    /// The WebSocket URL to connect to, given the configured endpoint (scheme, host, port).
    fn connect_url(&self, endpoint: &str) -> String;

    /// `symbol` as this venue names it in this market, e.g. `BTCUSDT`, `BTC-USDT-SWAP`,
    /// `BTC-PERPETUAL`.
    fn native_symbol(&self, symbol: &Symbol) -> String;

    /// The frames that subscribe to `subscriptions`, each with the request id its reply carries.
    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError>;

    /// The streams `subscription` occupies on a connection, as the venue names them
    /// (`btcusdt@trade`, `books:BTC-USDT`, `publicTrade.BTCUSDT`, `trades.BTC-PERPETUAL.100ms`,
    /// `level2:BTC-USD`): what [`WsLimits::streams_per_connection`] counts. Subscriptions
    /// naming the same stream (a market-wide channel such as Binance's `!forceOrder@arr`,
    /// Bybit's ticker carrying funding and open interest, Coinbase's `heartbeats`) occupy it
    /// once. An error for a channel the venue does not offer, as
    /// [`Self::subscribe_requests`] gives.
    fn streams(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError>;

    /// The venue's WebSocket limits for this market's endpoint.
    fn ws_limits(&self) -> WsLimits;

    /// Interprets one text frame received at `received_time_ms` (local Unix milliseconds).
    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError>;

    /// How this venue's book messages chain.
    fn sync_rule(&self) -> SyncRule;

    /// An application-level keepalive the venue requires: the frame to send and how often.
    /// WebSocket pings are answered by the connection itself.
    fn keepalive(&self) -> Option<Keepalive> {
        None
    }

    /// Frames ending `subscriptions` on a connection that carries them, batched within the
    /// venue's limits as subscribe requests are; a stream the connection's other
    /// subscriptions still need must not be among them. Replies need not be awaited.
    fn unsubscribe_frames(&self, subscriptions: &[Subscription])
        -> Result<Vec<String>, VenueError>;

    /// Frames that drop and re-establish one subscription, so that a venue sending book
    /// snapshots in the stream sends a fresh one. Replies to them need not be awaited.
    fn resubscribe_frames(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        let _ = subscription;
        Ok(Vec::new())
    }

    /// For venues whose books start from a REST snapshot ([`SyncRule::snapshot_in_stream`] is
    /// false): the URL of `symbol`'s snapshot covering at least `depth` levels, given the
    /// configured REST endpoint.
    fn book_snapshot_url(
        &self,
        _rest_endpoint: &str,
        _symbol: &Symbol,
        _depth: usize,
    ) -> Option<String> {
        None
    }

    /// The URL that answers `poll` at `now_ms` (history endpoints ask for a window ending
    /// then), given the configured REST endpoint.
    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        now_ms: i64,
    ) -> Result<String, VenueError> {
        let _ = (rest_endpoint, now_ms);
        Err(VenueError::UnsupportedChannel {
            venue: format!("{} {}", self.exchange(), self.market_type()),
            channel: poll.kind.as_str(),
        })
    }

    /// Whether `symbol` names an instrument of this protocol's market, which the market's
    /// instrument list ([`VenueProtocol::instruments_url`]) must hold; false for what a
    /// connection also carries under another name, such as an OKX futures id on the spot
    /// connection or the currency of a Deribit volatility index.
    fn in_instrument_list(&self, symbol: &Symbol) -> bool {
        let _ = symbol;
        true
    }

    /// The URL of the list of every instrument of this protocol's market (Binance
    /// `exchangeInfo`, OKX `public/instruments`, Deribit `get_instruments`, Bybit
    /// `instruments-info`), given the configured REST endpoint; `None` when the venue offers
    /// no such list for the market. It costs [`RestCall::Instruments`].
    fn instruments_url(&self, rest_endpoint: &str) -> Option<String> {
        let _ = rest_endpoint;
        None
    }

    /// Every URL whose answers together list this protocol's market, for venues that list
    /// a market in parts (OKX options, per instrument family); by default the one
    /// [`Self::instruments_url`]. Each costs [`RestCall::Instruments`].
    fn instruments_urls(&self, rest_endpoint: &str) -> Vec<String> {
        self.instruments_url(rest_endpoint).into_iter().collect()
    }

    /// Every instrument of this protocol's market that the answer to
    /// [`Self::instruments_url`] (or to one of [`Self::instruments_urls`]) lists, received
    /// at `received_time_ms` (local Unix milliseconds), in the venue's order, trading or not
    /// ([`Listing::trading`] says which: a consumer decides).
    ///
    /// [`Listing::symbol`] is the symbol [`Self::parse`] gives that instrument's events and
    /// [`Listing::venue_symbol`] the venue's name, as [`Self::native_symbol`] writes it
    /// (`BTCUSDT`, `BTC-USDT-SWAP`, `BTC-PERPETUAL`). A list that also names instruments of
    /// another market (Binance USDⓈ-M quarterly contracts, Deribit dated futures beside
    /// perpetuals, Bybit linear futures) gives this market's only; an instrument whose name
    /// the stream parser cannot normalize, and which therefore cannot be recorded, is left
    /// out. [`Listing::listed_ms`] is the venue's listing time where the list gives one,
    /// else `received_time_ms`; [`Listing::delisted_ms`] is `None`. An error answer of the
    /// venue, one that lists only part of the market, or an entry lacking a documented field
    /// is an error.
    fn parse_instruments(
        &self,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Listing>, VenueError> {
        let _ = (body, received_time_ms);
        Err(VenueError::UnsupportedChannel {
            venue: format!("{} {}", self.exchange(), self.market_type()),
            channel: "instruments",
        })
    }

    /// The venue's REST limits for this market's REST endpoint.
    fn rest_limits(&self) -> RestLimits;

    /// What `call` costs against [`Self::rest_limits`].
    fn request_cost(&self, call: RestCall) -> RequestCost;

    /// Parses the answer to `poll` into events stamped with the venue's times.
    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        let _ = (poll, received_time_ms);
        Err(VenueError::unrecognized(body))
    }

    /// A pager over the venue's public trade history for `range`, given the configured REST
    /// endpoint; an error when the venue's history cannot answer such a range.
    fn trade_history(
        &self,
        rest_endpoint: &str,
        range: HistoryRange,
    ) -> Result<Box<dyn HistoryPager>, VenueError> {
        let _ = (rest_endpoint, range);
        Err(crate::history::unsupported(
            &format!("{} {}", self.exchange(), self.market_type()),
            "trade history",
        ))
    }

    /// Parses the body of a REST book snapshot fetched from [`Self::book_snapshot_url`]. Its
    /// `exchange_time_ms` is the venue's time, `None` when the venue sends none (the book's
    /// sequencer then stamps it from the stream, never with the receive time).
    fn parse_book_snapshot(
        &self,
        body: &str,
        _received_time_ms: i64,
    ) -> Result<BookUpdate, VenueError> {
        Err(VenueError::unrecognized(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_polls_read_and_write_their_configuration_names() {
        for channel in Channel::ALL {
            let json = format!("\"{}\"", channel.as_str());
            assert_eq!(serde_json::to_string(&channel).expect("serializes"), json);
            assert_eq!(
                serde_json::from_str::<Channel>(&json).expect("deserializes"),
                channel
            );
        }
        for kind in PollKind::ALL {
            let json = format!("\"{}\"", kind.as_str());
            assert_eq!(serde_json::to_string(&kind).expect("serializes"), json);
            assert_eq!(
                serde_json::from_str::<PollKind>(&json).expect("deserializes"),
                kind
            );
        }
        let error = serde_json::from_str::<Channel>("\"order_book\"").expect_err("unknown");
        assert!(
            error
                .to_string()
                .starts_with("unknown variant `order_book`, expected one of `trades`"),
            "{error}"
        );
    }
}

/// The symbols among `symbols` that a venue's refusal names, e.g. `NOPE-USDT` in Binance's
/// `unknown stream nopeusdt@trade`, OKX's `instId:NOPE-USDT-SWAP doesn't exist` or Bybit's
/// `topic:publicTrade.NOPEUSDT`: each word of `reason` (letters, digits, `-`, `_`) is
/// compared with the venue's name of each symbol, ignoring case. Empty when the refusal
/// names none of them.
pub fn refused_symbols<'a>(
    protocol: &dyn VenueProtocol,
    reason: &str,
    symbols: impl IntoIterator<Item = &'a Symbol>,
) -> Vec<Symbol> {
    let words: Vec<String> = reason
        .split(|character: char| {
            !(character.is_ascii_alphanumeric() || character == '-' || character == '_')
        })
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    symbols
        .into_iter()
        .filter(|symbol| {
            let native = protocol.native_symbol(symbol).to_ascii_uppercase();
            words.contains(&native)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod refusal_tests {
    use super::*;
    use crate::binance::Binance;
    use crate::bybit::Bybit;
    use crate::okx::Okx;

    fn symbols(names: &[&str]) -> Vec<Symbol> {
        names
            .iter()
            .map(|name| name.parse().expect("symbol"))
            .collect()
    }

    #[test]
    fn only_instruments_of_the_protocol_s_market_are_judged_by_its_list() {
        let spot = Okx::new(MarketType::Spot);
        assert!(spot.in_instrument_list(&symbols(&["BTC-USDT"])[0]));
        // Futures and options ids ride on the spot connection, listed elsewhere.
        assert!(!spot.in_instrument_list(&symbols(&["BTC-USD-220527"])[0]));
        assert!(!spot.in_instrument_list(&symbols(&["BTC-USD-220624-20000-C"])[0]));
        assert!(Okx::new(MarketType::Perpetual).in_instrument_list(&symbols(&["BTC-USDT"])[0]));
        // A volatility index is recorded per currency, which no instrument list holds.
        let options = crate::deribit::Deribit::new(MarketType::Options);
        assert!(!options.in_instrument_list(&symbols(&["BTC"])[0]));
    }

    #[test]
    fn a_refusal_names_the_symbols_it_refuses_in_the_venue_s_words() {
        let configured = symbols(&["BTC-USDT", "NOPE-USDT", "ETH-USDT"]);
        let binance = Binance::spot(crate::binance::symbol::SymbolMap::new(&configured));
        assert_eq!(
            refused_symbols(
                &binance,
                "code 2: Invalid request: unknown stream nopeusdt@trade",
                &configured
            ),
            symbols(&["NOPE-USDT"])
        );
        let okx = Okx::new(MarketType::Perpetual);
        assert_eq!(
            refused_symbols(
                &okx,
                "60018: Wrong URL or channel:trades,instId:NOPE-USDT-SWAP doesn't exist.",
                &configured
            ),
            symbols(&["NOPE-USDT"])
        );
        let bybit = Bybit::spot(crate::bybit::symbol::SymbolMap::new(&configured));
        assert_eq!(
            refused_symbols(
                &bybit,
                "error:handler not found,topic:publicTrade.NOPEUSDT",
                &configured
            ),
            symbols(&["NOPE-USDT"])
        );
        // A refusal naming no configured symbol, or only part of one, names none.
        assert!(refused_symbols(&binance, "code 3: Invalid JSON", &configured).is_empty());
        assert!(refused_symbols(&binance, "unknown stream nope@trade", &configured).is_empty());
    }
}
