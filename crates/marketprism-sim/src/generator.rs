//! The deterministic trade generator.
//!
//! Trades are drawn from a ChaCha8 stream seeded with `--seed`: the trading symbols in
//! rotation (so the configured rate is spread over all of them), a price random walk per
//! symbol, random quantities and sides. Only the times depend on the clock, and the
//! rotation on when symbols are listed and delisted at run time: a listed symbol joins it
//! from its listing, a delisted one leaves it at its delisting. Generation starts when the
//! first client subscribes, so a run's first trades are not lost to a collector that is
//! still connecting; it pauses while no symbol trades.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use marketprism_model::now_ms;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::listings::Listings;
use crate::server::{Outbound, Shared, TradeDelivery};
use crate::SimTrade;

struct SymbolState {
    name: String,
    next_id: u64,
    /// Price in cents.
    price_cents: i64,
}

fn next_trade(
    rng: &mut ChaCha8Rng,
    symbols: &mut [SymbolState],
    sequence: u64,
    now: i64,
) -> SimTrade {
    let index = (sequence % symbols.len() as u64) as usize;
    let state = &mut symbols[index];
    state.price_cents = (state.price_cents + rng.random_range(-50..=50)).max(1);
    let quantity_units: u64 = rng.random_range(1..=5_000_000);
    let trade = SimTrade {
        symbol: state.name.clone(),
        trade_id: state.next_id,
        price: format!(
            "{}.{:02}000000",
            state.price_cents / 100,
            state.price_cents % 100
        ),
        quantity: format!(
            "{}.{:08}",
            quantity_units / 100_000_000,
            quantity_units % 100_000_000
        ),
        buyer_is_maker: rng.random_bool(0.5),
        trade_time_ms: now,
        delivered: false,
        venues: Default::default(),
    };
    state.next_id += 1;
    trade
}

/// Makes `states` the trading symbols of `listings` in listing order, keeping the state of
/// those already trading; a newly listed one begins at `first_trade_id` at its own price
/// level.
fn follow(states: &mut Vec<SymbolState>, listings: &Listings, first_trade_id: u64) {
    let mut previous: HashMap<String, SymbolState> = states
        .drain(..)
        .map(|state| (state.name.clone(), state))
        .collect();
    states.extend(listings.trading().map(|listed| {
        previous
            .remove(&listed.symbol)
            .unwrap_or_else(|| SymbolState {
                name: listed.symbol.clone(),
                next_id: first_trade_id,
                price_cents: 100_000 * (listed.ordinal as i64 + 1),
            })
    }));
}

/// Trades generated between chances for the clients' writers to run.
const CATCH_UP_CHUNK: u64 = 512;

/// Generates trades at the configured rate until `count` is reached or shutdown.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let config = shared.config.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut symbols = Vec::new();
    let mut listings_seen = None;
    while !shared.has_subscribers() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.subscribed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    tracing::info!(rate = config.rate, count = ?config.count, "First subscriber: generating trades.");
    // Trades are due at the rate since `started`, counting from `generated_then`.
    let mut started = Instant::now();
    let mut generated_then: u64 = 0;
    let mut generated: u64 = 0;
    'generating: loop {
        if config.count.is_some_and(|count| generated >= count) {
            break;
        }
        let due =
            generated_then + (started.elapsed().as_secs_f64() * f64::from(config.rate)) as u64;
        let due = config.count.map_or(due, |count| due.min(count));
        while generated < due {
            // The trade is made under the listings lock, so its time is not before its
            // symbol's listing nor after its delisting.
            let trade = {
                let listings = shared.listings();
                if listings_seen != Some(listings.generation()) {
                    listings_seen = Some(listings.generation());
                    follow(&mut symbols, &listings, config.first_trade_id);
                }
                (!symbols.is_empty())
                    .then(|| next_trade(&mut rng, &mut symbols, generated, now_ms()))
            };
            let Some(trade) = trade else {
                // Nothing trades: no trades are owed for the time until something does.
                started = Instant::now();
                generated_then = generated;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                }
                continue 'generating;
            };
            publish(&shared, trade);
            generated += 1;
            // Catching up after the simulator itself stalled must not flood the clients'
            // queues at once, or a client keeping up would be dropped as slow: let their
            // writers drain between chunks.
            if generated.is_multiple_of(CATCH_UP_CHUNK) {
                tokio::task::yield_now().await;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    shared.report().done = true;
    tracing::info!(generated, "Generator finished.");
}

/// Records the trade and queues it to every client subscribed to one of its streams. It
/// becomes its symbol's latest under the client-table lock, so a Coinbase Exchange
/// subscription to `matches` gets it once: as a `match` when made before, as its
/// `last_match` when made after.
fn publish(shared: &Shared, trade: SimTrade) {
    let index = shared.report().record_trade(trade.clone());
    let clients = shared.clients();
    let sequence = crate::coinbase_exchange::sequence(shared, &trade.symbol, trade.trade_id);
    for client in clients.values() {
        for frame in crate::trades::render(client, &trade, sequence) {
            client.offer(Outbound {
                text: frame.text,
                trade: Some(TradeDelivery {
                    index,
                    venue: frame.venue,
                }),
            });
        }
    }
    crate::coinbase_exchange::note_trade(shared, index, trade, sequence);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FIRST_TRADE_ID;

    #[test]
    fn sequence_is_deterministic_per_seed() {
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut symbols = vec![
                SymbolState {
                    name: "BTCUSDT".into(),
                    next_id: FIRST_TRADE_ID,
                    price_cents: 100_000,
                },
                SymbolState {
                    name: "ETHUSDT".into(),
                    next_id: FIRST_TRADE_ID,
                    price_cents: 200_000,
                },
            ];
            (0..100)
                .map(|sequence| next_trade(&mut rng, &mut symbols, sequence, 0))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let trades = draw(7);
        assert_eq!(trades[0].symbol, "BTCUSDT");
        assert_eq!(trades[1].symbol, "ETHUSDT");
        assert_eq!(trades[2].trade_id, FIRST_TRADE_ID + 1);
        assert!(trades
            .iter()
            .all(|trade| trade.price.parse::<f64>().is_ok_and(|price| price > 0.0)));
        let frame: serde_json::Value =
            serde_json::from_str(&crate::trades::binance_payload(&trades[0], "trade"))
                .expect("valid JSON");
        assert_eq!(frame["t"], FIRST_TRADE_ID);
        assert_eq!(frame["p"], trades[0].price.as_str());
    }

    #[test]
    fn every_symbol_begins_at_the_configured_first_trade_id() {
        let mut listings = Listings::new(&["BTCUSDT".into(), "ETHUSDT".into()]);
        let mut symbols = Vec::new();
        follow(&mut symbols, &listings, 1_795_000_000_000_000);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ids: Vec<u64> = (0..4)
            .map(|sequence| next_trade(&mut rng, &mut symbols, sequence, 0).trade_id)
            .collect();
        assert_eq!(
            ids,
            [
                1_795_000_000_000_000,
                1_795_000_000_000_000,
                1_795_000_000_000_001,
                1_795_000_000_000_001
            ]
        );

        // A symbol listed later joins the rotation at the first id; a delisted one leaves.
        listings.list("SOLUSDT".into(), 1);
        listings.delist("BTCUSDT", 1);
        follow(&mut symbols, &listings, 1_795_000_000_000_000);
        let trades: Vec<(String, u64)> = (0..4)
            .map(|sequence| {
                let trade = next_trade(&mut rng, &mut symbols, sequence, 0);
                (trade.symbol, trade.trade_id)
            })
            .collect();
        assert_eq!(
            trades,
            [
                ("ETHUSDT".to_owned(), 1_795_000_000_000_002),
                ("SOLUSDT".to_owned(), 1_795_000_000_000_000),
                ("ETHUSDT".to_owned(), 1_795_000_000_000_003),
                ("SOLUSDT".to_owned(), 1_795_000_000_000_001),
            ]
        );
        assert!(
            (symbols[1].price_cents - 300_000).abs() < 1_000,
            "the third listed symbol's level"
        );
    }
}
