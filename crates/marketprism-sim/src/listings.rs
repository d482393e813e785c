//! Which symbols the simulator lists, since and until when: the configured ones from the
//! start, those listed and delisted at run time by `POST /control/listings`.
//!
//! Every symbol ever listed keeps its place in the listing order, which fixes its price
//! level and the ids venues give it. A listed symbol trades from its listing time in every
//! venue's framing; a delisted one generates nothing more (subscriptions to it stay open
//! and get nothing). A symbol is listed once: listing it again, even after its delisting,
//! is refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::dialect::split;
use crate::server::Shared;
use marketprism_model::now_ms;

/// Listing time of every configured symbol, Unix ms (2020-01-01).
pub const CONFIGURED_LISTED_MS: i64 = 1_577_836_800_000;

/// When a symbol was listed and delisted, as the report records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolListing {
    /// Listing time, Unix ms: [`CONFIGURED_LISTED_MS`] for a configured symbol. No trade,
    /// book event or derivatives value of the symbol is older.
    pub listed_ms: i64,
    /// Delisting time, Unix ms, if delisted. No trade, book event or derivatives value of
    /// the symbol is newer.
    pub delisted_ms: Option<i64>,
}

/// One symbol ever listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Binance form, upper case: `BTCUSDT`.
    pub(crate) symbol: String,
    /// Its place in the listing order, from 0.
    pub(crate) ordinal: usize,
    /// Its listing and delisting times.
    pub(crate) listing: SymbolListing,
}

impl Listed {
    /// Whether the symbol is trading now (listed and not delisted).
    pub(crate) fn is_trading(&self) -> bool {
        self.listing.delisted_ms.is_none()
    }
}

/// Every symbol ever listed, in listing order.
#[derive(Debug, Default)]
pub(crate) struct Listings {
    symbols: Vec<Listed>,
    /// Each symbol's place in `symbols`.
    index: HashMap<String, usize>,
    /// Counts changes, so the generator notices them cheaply.
    generation: u64,
}

/// A listing request that cannot be carried out.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ListingError {
    /// The symbol is (or was) already listed, or named twice.
    #[error("{0} is already listed")]
    AlreadyListed(String),
    /// The symbol does not split into base and quote asset.
    #[error("{0} does not split into base and quote asset (quotes: USDT, USDC, USD, BTC, ETH)")]
    DoesNotSplit(String),
    /// The symbol to delist is not trading.
    #[error("{0} is not trading")]
    NotTrading(String),
}

impl Listings {
    /// The configured symbols (upper-cased, each once), all listed at
    /// [`CONFIGURED_LISTED_MS`].
    pub(crate) fn new(configured: &[String]) -> Self {
        let mut listings = Listings::default();
        for symbol in configured {
            let symbol = symbol.to_ascii_uppercase();
            if !listings.index.contains_key(&symbol) {
                listings.push(symbol, CONFIGURED_LISTED_MS);
            }
        }
        listings
    }

    fn push(&mut self, symbol: String, listed_ms: i64) {
        let ordinal = self.symbols.len();
        self.index.insert(symbol.clone(), ordinal);
        self.symbols.push(Listed {
            symbol,
            ordinal,
            listing: SymbolListing {
                listed_ms,
                delisted_ms: None,
            },
        });
    }

    /// Every symbol ever listed, in listing order.
    pub(crate) fn all(&self) -> &[Listed] {
        &self.symbols
    }

    /// The symbols trading now, in listing order.
    pub(crate) fn trading(&self) -> impl Iterator<Item = &Listed> {
        self.symbols.iter().filter(|listed| listed.is_trading())
    }

    /// The symbols trading at `time_ms`: listed then and not yet delisted.
    pub(crate) fn trading_at(&self, time_ms: i64) -> impl Iterator<Item = &Listed> {
        self.symbols.iter().filter(move |listed| {
            listed.listing.listed_ms <= time_ms
                && listed
                    .listing
                    .delisted_ms
                    .is_none_or(|delisted| time_ms <= delisted)
        })
    }

    /// A symbol ever listed (any case).
    pub(crate) fn get(&self, symbol: &str) -> Option<&Listed> {
        let index = self.index.get(&symbol.to_ascii_uppercase())?;
        self.symbols.get(*index)
    }

    /// Whether `symbol` (any case) is trading now.
    pub(crate) fn is_trading(&self, symbol: &str) -> bool {
        self.get(symbol).is_some_and(Listed::is_trading)
    }

    /// The number of changes so far.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Checks a request: each of `list` splits and was never listed (nor named twice), each
    /// of `delist` is trading now. Returns both upper-cased.
    pub(crate) fn check(
        &self,
        list: &[String],
        delist: &[String],
    ) -> Result<(Vec<String>, Vec<String>), ListingError> {
        let list: Vec<String> = list.iter().map(|s| s.to_ascii_uppercase()).collect();
        let delist: Vec<String> = delist.iter().map(|s| s.to_ascii_uppercase()).collect();
        for (position, symbol) in list.iter().enumerate() {
            if self.index.contains_key(symbol) || list[..position].contains(symbol) {
                return Err(ListingError::AlreadyListed(symbol.clone()));
            }
            if split(symbol).is_none() {
                return Err(ListingError::DoesNotSplit(symbol.clone()));
            }
        }
        for (position, symbol) in delist.iter().enumerate() {
            if !self.is_trading(symbol) || delist[..position].contains(symbol) {
                return Err(ListingError::NotTrading(symbol.clone()));
            }
        }
        Ok((list, delist))
    }

    /// Lists `symbol` (checked by [`Listings::check`]) at `now`.
    pub(crate) fn list(&mut self, symbol: String, now: i64) {
        self.push(symbol, now);
        self.generation += 1;
    }

    /// Delists `symbol` (checked by [`Listings::check`]) at `now`.
    pub(crate) fn delist(&mut self, symbol: &str, now: i64) {
        if let Some(index) = self.index.get(symbol) {
            if let Some(listed) = self.symbols.get_mut(*index) {
                listed.listing.delisted_ms = Some(now);
                self.generation += 1;
            }
        }
    }

    /// Every symbol's listing, for the report.
    pub(crate) fn report(&self) -> BTreeMap<String, SymbolListing> {
        self.symbols
            .iter()
            .map(|listed| (listed.symbol.clone(), listed.listing))
            .collect()
    }

    /// The answer of the control routes: the symbols trading, those delisted, every
    /// listing.
    fn answer(&self, at_ms: i64) -> serde_json::Value {
        let (trading, delisted): (Vec<&Listed>, Vec<&Listed>) =
            self.symbols.iter().partition(|listed| listed.is_trading());
        let names = |listed: Vec<&Listed>| -> Vec<String> {
            listed.into_iter().map(|l| l.symbol.clone()).collect()
        };
        json!({"at_ms": at_ms, "trading": names(trading), "delisted": names(delisted),
               "listings": self.report()})
    }
}

/// The body of `POST /control/listings`.
#[derive(Deserialize)]
pub(crate) struct ListingRequest {
    #[serde(default)]
    list: Vec<String>,
    #[serde(default)]
    delist: Vec<String>,
}

/// `POST /control/listings` `{"list": [...], "delist": [...]}`: lists and delists symbols
/// now, all or none; answers the resulting listings, or 400 naming the symbol refused.
pub(crate) async fn change(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<ListingRequest>,
) -> Response {
    match shared.change_listings(&request.list, &request.delist) {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => {
            tracing::warn!(%error, "Listing request refused.");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": error.to_string()})),
            )
                .into_response()
        }
    }
}

/// `GET /control/listings`: the symbols trading, those delisted, every listing.
pub(crate) async fn current(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(shared.listings().answer(now_ms()))
}

impl Shared {
    /// Carries out a checked listing request under the listings and books locks, so no
    /// book event of a delisted symbol is newer than its delisting, nor one of a listed
    /// symbol older than its listing. Returns the answer of the control routes.
    fn change_listings(
        &self,
        list: &[String],
        delist: &[String],
    ) -> Result<serde_json::Value, ListingError> {
        let mut listings = self.listings();
        let (list, delist) = listings.check(list, delist)?;
        let mut books = self.books();
        let now = now_ms();
        for symbol in list {
            books.list(&symbol, listings.all().len());
            listings.list(symbol, now);
        }
        for symbol in &delist {
            books.delist(symbol);
            listings.delist(symbol, now);
        }
        drop(books);
        self.report().listings = listings.report();
        tracing::info!(
            trading = listings.trading().count(),
            "Listings changed on command."
        );
        Ok(listings.answer(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run-time listing time, Unix ms.
    const T: i64 = 1_800_000_000_000;

    #[test]
    fn requests_are_checked_before_anything_changes() {
        let mut listings = Listings::new(&["btcusdt".into(), "ETHUSDT".into()]);
        let strings = |items: &[&str]| -> Vec<String> {
            items.iter().map(|item| (*item).to_owned()).collect()
        };
        assert_eq!(
            listings.check(&strings(&["BTCUSDT"]), &[]),
            Err(ListingError::AlreadyListed("BTCUSDT".into()))
        );
        assert_eq!(
            listings.check(&strings(&["NEWUSDT", "newusdt"]), &[]),
            Err(ListingError::AlreadyListed("NEWUSDT".into()))
        );
        assert_eq!(
            listings.check(&strings(&["NEWXYZ"]), &[]),
            Err(ListingError::DoesNotSplit("NEWXYZ".into()))
        );
        assert_eq!(
            listings.check(&[], &strings(&["NEWUSDT"])),
            Err(ListingError::NotTrading("NEWUSDT".into()))
        );
        let (list, delist) = listings
            .check(&strings(&["newusdt"]), &strings(&["ethusdt"]))
            .expect("valid");
        assert_eq!(
            (list.clone(), delist.clone()),
            (strings(&["NEWUSDT"]), strings(&["ETHUSDT"]))
        );
        for symbol in list {
            listings.list(symbol, T);
        }
        listings.delist("ETHUSDT", T);
        assert_eq!(listings.generation(), 2);
        let trading: Vec<&str> = listings.trading().map(|l| l.symbol.as_str()).collect();
        assert_eq!(trading, ["BTCUSDT", "NEWUSDT"]);
        assert_eq!(listings.get("newusdt").map(|l| l.ordinal), Some(2));
        assert_eq!(listings.trading_at(T - 1).count(), 2, "BTCUSDT and ETHUSDT");
        assert_eq!(listings.trading_at(T + 1).count(), 2, "BTCUSDT and NEWUSDT");
        assert_eq!(
            listings.check(&strings(&["ETHUSDT"]), &strings(&["ETHUSDT"])),
            Err(ListingError::AlreadyListed("ETHUSDT".into()))
        );
        assert_eq!(
            listings.report().get("ETHUSDT"),
            Some(&SymbolListing {
                listed_ms: CONFIGURED_LISTED_MS,
                delisted_ms: Some(T)
            })
        );
    }
}
