//! Query parameters of the API, parsed and checked before any query is built: venues and
//! markets against the model's identifiers, data types against the table registry, symbols
//! against the normalized symbol syntax, times as Unix milliseconds, RFC 3339 or a date. An
//! unknown or repeated parameter is refused too, so that a typo never goes unnoticed.

use std::collections::BTreeMap;

use marketprism_model::{DataType, Exchange, MarketType, Symbol};
use serde::de::IntoDeserializer as _;
use serde::Deserialize;

use crate::kind::Kind;
use crate::tables::{self, Recorded};
use crate::ApiError;

/// Most symbols one replay names.
const MAX_SYMBOLS: usize = 100;

/// The parameters of one request, taken one by one; [`Params::finish`] refuses the rest.
#[derive(Debug)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// The parameters of the query string `query` (absent: none).
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut values = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if values.insert(name.to_string(), value.to_string()).is_some() {
                return Err(ApiError::bad(name, "given more than once"));
            }
        }
        Ok(Params { values })
    }

    fn optional(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    fn required(&mut self, name: &str) -> Result<String, ApiError> {
        match self.optional(name) {
            Some(value) if !value.is_empty() => Ok(value),
            Some(_) => Err(ApiError::bad(name, "is empty")),
            None => Err(ApiError::bad(name, "is required")),
        }
    }

    /// Refuses any parameter not taken.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.values.into_keys().next() {
            Some(name) => Err(ApiError::bad(name, "unknown parameter")),
            None => Ok(()),
        }
    }

    /// The required `exchange`.
    pub fn exchange(&mut self) -> Result<Exchange, ApiError> {
        let value = self.required("exchange")?;
        identifier(&value).map_err(|()| {
            ApiError::bad(
                "exchange",
                format!("unknown exchange {value:?}, e.g. binance, okx, deribit, bybit, coinbase"),
            )
        })
    }

    /// The optional `exchange`: absent for every venue.
    pub fn optional_exchange(&mut self) -> Result<Option<Exchange>, ApiError> {
        if !self.values.contains_key("exchange") {
            return Ok(None);
        }
        self.exchange().map(Some)
    }

    /// The optional `market`: absent for every market.
    pub fn optional_market(&mut self) -> Result<Option<MarketType>, ApiError> {
        if !self.values.contains_key("market") {
            return Ok(None);
        }
        self.market().map(Some)
    }

    /// The required `market`.
    pub fn market(&mut self) -> Result<MarketType, ApiError> {
        let value = self.required("market")?;
        identifier(&value).map_err(|()| {
            ApiError::bad(
                "market",
                format!("unknown market {value:?}: spot, perpetual, futures or options"),
            )
        })
    }

    /// The required single symbol `name`.
    pub fn symbol(&mut self, name: &str) -> Result<Symbol, ApiError> {
        let value = self.required(name)?;
        value
            .parse()
            .map_err(|error: marketprism_model::SymbolError| ApiError::bad(name, error.to_string()))
    }

    /// The required comma-separated symbols `name`, without repeats, in the order given.
    pub fn symbols(&mut self, name: &str) -> Result<Vec<Symbol>, ApiError> {
        let value = self.required(name)?;
        let mut symbols: Vec<Symbol> = Vec::new();
        for text in value.split(',') {
            let symbol: Symbol =
                text.trim()
                    .parse()
                    .map_err(|error: marketprism_model::SymbolError| {
                        ApiError::bad(name, error.to_string())
                    })?;
            if !symbols.contains(&symbol) {
                symbols.push(symbol);
            }
        }
        if symbols.len() > MAX_SYMBOLS {
            return Err(ApiError::bad(
                name,
                format!("at most {MAX_SYMBOLS} symbols per request"),
            ));
        }
        Ok(symbols)
    }

    /// The required single data type `name`.
    pub fn data_type(&mut self, name: &str) -> Result<Recorded, ApiError> {
        let value = self.required(name)?;
        data_type(name, value.trim())
    }

    /// The required comma-separated kinds of rows `name` (data types, trade bars, book
    /// snapshots), without repeats, in the order given.
    pub fn kinds(&mut self, name: &str) -> Result<Vec<Kind>, ApiError> {
        let value = self.required(name)?;
        let mut kinds: Vec<Kind> = Vec::new();
        for text in value.split(',') {
            let kind = Kind::parse(name, text.trim())?;
            if !kinds.iter().any(|known| known.name() == kind.name()) {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }

    /// The required comma-separated stored data types `name` (`trade`, `orderbook`, ...),
    /// without repeats, in the order given.
    pub fn data_types(&mut self, name: &str) -> Result<Vec<DataType>, ApiError> {
        let value = self.required(name)?;
        let mut types: Vec<DataType> = Vec::new();
        for text in value.split(',') {
            let recorded = data_type(name, text.trim())?;
            if !types.contains(&recorded.data_type) {
                types.push(recorded.data_type);
            }
        }
        Ok(types)
    }

    /// The optional time `name`, as Unix milliseconds.
    pub fn optional_time(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        if !self.values.contains_key(name) {
            return Ok(None);
        }
        self.time(name).map(Some)
    }

    /// The required time `name`, as Unix milliseconds.
    pub fn time(&mut self, name: &str) -> Result<i64, ApiError> {
        let value = self.required(name)?;
        parse_time(value.trim()).ok_or_else(|| {
            ApiError::bad(
                name,
                format!(
                    "{value:?} is not a time: give Unix milliseconds, RFC 3339 \
                     (2026-11-27T00:00:00Z) or a date (2026-11-27, midnight UTC)"
                ),
            )
        })
    }

    /// The optional `name`, one of `choices`, else `choices[0]`.
    pub fn choice(
        &mut self,
        name: &str,
        choices: &[&'static str],
    ) -> Result<&'static str, ApiError> {
        match self.optional(name) {
            None => Ok(choices[0]),
            Some(value) => choices
                .iter()
                .find(|choice| **choice == value)
                .copied()
                .ok_or_else(|| {
                    ApiError::bad(
                        name,
                        format!("{value:?} is not one of {}", choices.join(", ")),
                    )
                }),
        }
    }
}

/// Parses one of the model's lowercase identifiers (`binance`, `spot`).
fn identifier<T: for<'de> Deserialize<'de>>(value: &str) -> Result<T, ()> {
    let deserializer: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        value.into_deserializer();
    T::deserialize(deserializer).map_err(|_| ())
}

fn data_type(name: &str, value: &str) -> Result<Recorded, ApiError> {
    tables::data_type(value).ok_or_else(|| {
        let known: Vec<&str> = tables::data_types()
            .map(|recorded| recorded.data_type.as_str())
            .collect();
        ApiError::bad(
            name,
            format!("unknown data type {value:?}: one of {}", known.join(", ")),
        )
    })
}

/// Unix milliseconds, RFC 3339 (`2026-11-27T10:00:00Z`, `2026-11-27T10:00:00.250Z`) or a date
/// (`2026-11-27`, midnight UTC).
fn parse_time(value: &str) -> Option<i64> {
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return value.parse().ok();
    }
    let text = if value.len() == 10 {
        format!("{value}T00:00:00Z")
    } else {
        value.to_owned()
    };
    let time = humantime::parse_rfc3339(&text).ok()?;
    let since_epoch = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_millis()).ok()
}

/// Checks that `from` is before `to`.
pub fn check_range(from_ms: i64, to_ms: i64) -> Result<(), ApiError> {
    if from_ms >= to_ms {
        return Err(ApiError::bad("to", "must be after from"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params::parse(Some(query)).expect("parses")
    }

    fn parameter(error: ApiError) -> String {
        match error {
            ApiError::BadParameter { parameter, .. } => parameter,
            other => panic!("not a bad parameter: {other}"),
        }
    }

    #[test]
    fn times_in_three_forms() {
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2026-11-27"), Some(1_795_737_600_000));
        assert_eq!(parse_time("2026-11-27T00:00:00Z"), Some(1_795_737_600_000));
        assert_eq!(
            parse_time("2026-11-27T00:00:00.250Z"),
            Some(1_795_737_600_250)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-13-01"), None);
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let mut bad = params("exchange=nasdaq&market=spot&symbol=btc-usdt&type=trades");
        assert_eq!(parameter(bad.exchange().expect_err("unknown")), "exchange");
        assert_eq!(bad.market().expect("spot"), MarketType::Spot);
        assert_eq!(
            parameter(bad.symbol("symbol").expect_err("lower case")),
            "symbol"
        );
        assert_eq!(
            parameter(bad.data_type("type").expect_err("plural")),
            "type"
        );
        assert_eq!(
            parameter(params("").time("from").expect_err("missing")),
            "from"
        );
        assert_eq!(
            parameter(
                params("symbols=BTC-USDT,'x'")
                    .symbols("symbols")
                    .expect_err("quote")
            ),
            "symbols"
        );
        assert_eq!(
            parameter(Params::parse(Some("a=1&a=2")).expect_err("repeated")),
            "a"
        );
        assert_eq!(
            parameter(params("colour=red").finish().expect_err("unknown")),
            "colour"
        );
        assert_eq!(
            parameter(
                params("format=xml")
                    .choice("format", &["ndjson", "csv"])
                    .expect_err("xml")
            ),
            "format"
        );
    }

    #[test]
    fn lists_keep_their_order_without_repeats() {
        let mut good =
            params("symbols=ETH-USDT,BTC-USDT,ETH-USDT&types=orderbook,trade,trade_bar_1m,trade");
        let symbols = good.symbols("symbols").expect("valid");
        assert_eq!(
            symbols.iter().map(Symbol::as_str).collect::<Vec<_>>(),
            ["ETH-USDT", "BTC-USDT"]
        );
        let kinds = good.kinds("types").expect("valid");
        assert_eq!(
            kinds.iter().map(Kind::name).collect::<Vec<_>>(),
            ["orderbook", "trade", "trade_bar_1m"]
        );
        assert_eq!(
            good.choice("format", &["ndjson", "csv"]).expect("default"),
            "ndjson"
        );
        good.finish().expect("nothing left");
    }
}
