//! Instrument discovery: what changed on a venue's instrument list since it was last read,
//! and which listed instruments a feed records. Pure: lists and times are passed in.
//!
//! * **Catalog.** [`Catalog::update`] takes each fresh list and returns the [`Listing`]s to
//!   publish (the rows of the `instruments` table): an instrument seen for the first time,
//!   one whose trading state or expiry changed, and one gone from the list or past its
//!   expiry, with [`Listing::delisted_ms`] set. Where the venue gives no listing time, an
//!   instrument's [`Listing::listed_ms`] is when this process first saw it.
//! * **Selection.** [`select`] gives the instruments a feed records: its configured symbols
//!   the list holds (trading or not: a halted instrument may resume), and the trading,
//!   unexpired instruments a [`SelectRule`] matches; within the collector's
//!   [`ShardConfig`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use marketprism_model::{Listing, Symbol};
use marketprism_venues::VenueKind;

use crate::config::{SelectRule, ShardConfig};

/// The instruments a venue's list held when it was last read.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    listed: BTreeMap<Symbol, Listing>,
}

impl Catalog {
    /// Takes the list read at `now_ms` and returns what changed, to be published: new
    /// instruments, changed ones, and those gone or expired (with `delisted_ms`).
    pub(crate) fn update(&mut self, listings: Vec<Listing>, now_ms: i64) -> Vec<Listing> {
        let mut changed = Vec::new();
        let mut seen: HashSet<Symbol> = HashSet::with_capacity(listings.len());
        for mut listing in listings {
            if !seen.insert(listing.symbol.clone()) {
                continue;
            }
            let expired_at = listing.expiry_ms.filter(|&expiry_ms| expiry_ms <= now_ms);
            match self.listed.get(&listing.symbol) {
                Some(known) => {
                    listing.listed_ms = known.listed_ms;
                    if expired_at.is_none()
                        && known.trading == listing.trading
                        && known.expiry_ms == listing.expiry_ms
                    {
                        continue;
                    }
                }
                None if expired_at.is_some() => continue,
                None => {}
            }
            match expired_at {
                Some(expiry_ms) => {
                    self.listed.remove(&listing.symbol);
                    changed.push(Listing {
                        trading: false,
                        delisted_ms: Some(expiry_ms),
                        ..listing
                    });
                }
                None => {
                    self.listed.insert(listing.symbol.clone(), listing.clone());
                    changed.push(listing);
                }
            }
        }
        let gone: Vec<Symbol> = self
            .listed
            .keys()
            .filter(|symbol| !seen.contains(*symbol))
            .cloned()
            .collect();
        for symbol in gone {
            if let Some(listing) = self.listed.remove(&symbol) {
                changed.push(Listing {
                    trading: false,
                    delisted_ms: Some(now_ms),
                    received_time_ms: now_ms,
                    ..listing
                });
            }
        }
        changed
    }

    /// The instruments listed now.
    pub(crate) fn listed(&self) -> impl Iterator<Item = &Listing> {
        self.listed.values()
    }

    /// Whether the list holds `symbol`.
    pub(crate) fn holds(&self, symbol: &Symbol) -> bool {
        self.listed.contains_key(symbol)
    }
}

/// The instruments a feed of `kind` records at `now_ms`: of `explicit`, those `catalog`
/// holds or does not judge (`listed_here` false: another market's instrument, a currency;
/// all of them when `catalog` is `None`: the list could not be read), and the trading,
/// unexpired instruments matching any of `rules`; of those, the ones in `shard`.
pub(crate) fn select(
    kind: VenueKind,
    catalog: Option<&Catalog>,
    explicit: &[Symbol],
    listed_here: impl Fn(&Symbol) -> bool,
    rules: &[SelectRule],
    shard: Option<ShardConfig>,
    now_ms: i64,
) -> BTreeSet<Symbol> {
    let mut selected: BTreeSet<Symbol> = explicit
        .iter()
        .filter(|symbol| {
            !listed_here(symbol) || catalog.is_none_or(|catalog| catalog.holds(symbol))
        })
        .cloned()
        .collect();
    if let Some(catalog) = catalog {
        selected.extend(
            catalog
                .listed()
                .filter(|listing| {
                    listing.trading
                        && listing.expiry_ms.is_none_or(|expiry_ms| expiry_ms > now_ms)
                        && rules.iter().any(|rule| rule.matches(listing, now_ms))
                })
                .map(|listing| listing.symbol.clone()),
        );
    }
    selected.retain(|symbol| shard.is_none_or(|shard| shard.holds(kind, symbol)));
    selected
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use marketprism_model::{Exchange, MarketType, OptionKind};

    use super::*;

    const DAY_MS: i64 = 86_400_000;

    fn listing(symbol: &str, base: &str, quote: &str, expiry_ms: Option<i64>) -> Listing {
        Listing {
            exchange: Exchange::Okx,
            market_type: MarketType::Futures,
            symbol: symbol.parse().expect("valid"),
            venue_symbol: symbol.to_owned(),
            base: base.to_owned(),
            quote: quote.to_owned(),
            settle: None,
            expiry_ms,
            strike: None,
            option_kind: None,
            trading: true,
            listed_ms: 5,
            delisted_ms: None,
            received_time_ms: 5,
        }
    }

    fn symbols(names: &[&str]) -> BTreeSet<Symbol> {
        names
            .iter()
            .map(|name| name.parse().expect("valid"))
            .collect()
    }

    #[test]
    fn the_catalog_publishes_new_changed_and_gone_instruments_once() {
        let mut catalog = Catalog::default();
        let first = catalog.update(
            vec![
                listing("BTC-USDT", "BTC", "USDT", None),
                listing("ETH-USDT", "ETH", "USDT", None),
            ],
            10,
        );
        assert_eq!(first.len(), 2);
        assert!(catalog
            .update(
                vec![
                    listing("BTC-USDT", "BTC", "USDT", None),
                    listing("ETH-USDT", "ETH", "USDT", None)
                ],
                20
            )
            .is_empty());

        let mut halted = listing("BTC-USDT", "BTC", "USDT", None);
        halted.trading = false;
        halted.listed_ms = 20; // The venue gives no listing time: the first sighting stays.
        let changed = catalog.update(vec![halted], 30);
        assert_eq!(changed.len(), 2);
        assert_eq!(
            (
                changed[0].symbol.as_str(),
                changed[0].trading,
                changed[0].listed_ms,
                changed[0].delisted_ms
            ),
            ("BTC-USDT", false, 5, None)
        );
        assert_eq!(
            (
                changed[1].symbol.as_str(),
                changed[1].delisted_ms,
                changed[1].received_time_ms
            ),
            ("ETH-USDT", Some(30), 30)
        );
        assert!(!catalog.holds(&"ETH-USDT".parse().expect("valid")));
    }

    #[test]
    fn an_expired_instrument_is_delisted_at_its_expiry() {
        let mut catalog = Catalog::default();
        let future = listing("BTC-USD-261225", "BTC", "USD", Some(100));
        assert_eq!(catalog.update(vec![future.clone()], 50).len(), 1);
        let changed = catalog.update(vec![future.clone()], 150);
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (changed[0].delisted_ms, changed[0].trading),
            (Some(100), false)
        );
        // Still on the list, already delisted: not published again.
        assert!(catalog.update(vec![future], 200).is_empty());
    }

    #[test]
    fn selection_takes_listed_explicit_symbols_and_matching_trading_instruments() {
        let now = 1_000 * DAY_MS;
        let mut catalog = Catalog::default();
        let mut halted = listing("SOL-USDT", "SOL", "USDT", None);
        halted.trading = false;
        let mut call = listing(
            "BTC-USD-261225-60000-C",
            "BTC",
            "USD",
            Some(now + 3 * DAY_MS),
        );
        call.option_kind = Some(OptionKind::Call);
        catalog.update(
            vec![
                listing("BTC-USDT", "BTC", "USDT", None),
                listing("ETH-BTC", "ETH", "BTC", None),
                halted,
                listing("BTC-USD-270326", "BTC", "USD", Some(now + 100 * DAY_MS)),
                listing("BTC-USD-261204", "BTC", "USD", Some(now + 2 * DAY_MS)),
                call,
            ],
            now,
        );
        let usdt = SelectRule {
            base: None,
            quote: Some("usdt".into()),
            settle: None,
            expires_within: None,
            option_kind: None,
        };
        let explicit = symbols(&["ETH-BTC", "XRP-USDT"]);
        let explicit: Vec<Symbol> = explicit.into_iter().collect();
        let kind = VenueKind::OkxFutures;
        assert_eq!(
            select(
                kind,
                Some(&catalog),
                &explicit,
                |_| true,
                std::slice::from_ref(&usdt),
                None,
                now
            ),
            symbols(&["BTC-USDT", "ETH-BTC"]),
            "the halted SOL-USDT and the unlisted XRP-USDT are left out"
        );
        let week = SelectRule {
            base: Some("BTC".into()),
            quote: None,
            settle: None,
            expires_within: Some(Duration::from_secs(7 * 86_400)),
            option_kind: None,
        };
        assert_eq!(
            select(
                kind,
                Some(&catalog),
                &[],
                |_| true,
                std::slice::from_ref(&week),
                None,
                now
            ),
            symbols(&["BTC-USD-261204", "BTC-USD-261225-60000-C"])
        );
        let calls = SelectRule {
            option_kind: Some(OptionKind::Call),
            ..week.clone()
        };
        assert_eq!(
            select(kind, Some(&catalog), &[], |_| true, &[calls], None, now),
            symbols(&["BTC-USD-261225-60000-C"])
        );
        // Time passes: the March future comes within the week and rolls in.
        let later = now + 95 * DAY_MS;
        catalog.update(
            vec![listing(
                "BTC-USD-270326",
                "BTC",
                "USD",
                Some(now + 100 * DAY_MS),
            )],
            later,
        );
        assert_eq!(
            select(kind, Some(&catalog), &[], |_| true, &[week], None, later),
            symbols(&["BTC-USD-270326"])
        );
        // Without a list, the explicit symbols are taken unchecked.
        assert_eq!(
            select(
                kind,
                None,
                &explicit,
                |_| true,
                std::slice::from_ref(&usdt),
                None,
                now
            ),
            symbols(&["ETH-BTC", "XRP-USDT"])
        );
        // A symbol the list does not judge (a currency of a volatility index) is kept; ETH-BTC
        // has left the list since.
        assert_eq!(
            select(
                kind,
                Some(&catalog),
                &explicit,
                |symbol| symbol.as_str() != "XRP-USDT",
                &[usdt],
                None,
                now
            ),
            symbols(&["XRP-USDT"])
        );
    }

    #[test]
    fn selection_keeps_the_collector_s_shard() {
        let explicit: Vec<Symbol> = (0..40)
            .map(|index| format!("C{index}-USDT").parse().expect("valid"))
            .collect();
        let kind = VenueKind::BinanceSpot;
        let mut union = BTreeSet::new();
        for index in 0..3 {
            let shard = ShardConfig { index, count: 3 };
            let part = select(kind, None, &explicit, |_| true, &[], Some(shard), 0);
            assert!(part.iter().all(|symbol| shard.holds(kind, symbol)));
            assert!(part.len() < explicit.len());
            union.extend(part);
        }
        assert_eq!(union.len(), explicit.len());
    }
}
