//! Coinbase Advanced Trade against the simulator: every trade the simulator delivered is
//! published once, as it was written (price, size, the taker's side from Coinbase's maker
//! side), books stay uncrossed, a message lost anywhere on the connection resynchronizes
//! every book of the connection, each with one sequence-break gap, and books published after
//! a reconnect (whose numbering starts again) are stored.

use std::collections::HashMap;
use std::time::Duration;

use marketprism_collector::VenueConfig;
use marketprism_model::{Event, GapReason, Side};
use marketprism_sim::BookFault;
use marketprism_venues::{Channel, VenueKind};

use crate::{all_events, finished_report, sim_config, start};

/// The sequence-break gaps among `events`, per symbol.
fn sequence_gaps(events: &[Event]) -> HashMap<String, usize> {
    let mut gaps = HashMap::new();
    for event in events {
        if let Event::Gap(gap) = event {
            if gap.reason == GapReason::SequenceBreak {
                *gaps.entry(gap.symbol.to_string()).or_default() += 1;
            }
        }
    }
    gaps
}

/// The published books per symbol.
fn books_per_symbol(events: &[Event]) -> HashMap<String, usize> {
    let mut books = HashMap::new();
    for event in events {
        if let Event::OrderBook(book) = event {
            *books.entry(book.symbol.to_string()).or_default() += 1;
        }
    }
    books
}

#[tokio::test]
async fn coinbase_trades_and_books_match_the_simulator() {
    const RATE: u32 = 40;
    let mut sim = sim_config(RATE);
    sim.count = Some(u64::from(RATE) * 8);
    let mut run = start(sim, "5s").await;
    run.config.venues[0] = VenueConfig {
        channels: vec![Channel::Trades, Channel::OrderBook],
        ..run.sim_venue(VenueKind::CoinbaseSpot, "", &["BTC-USDT", "ETH-USDT"])
    };
    run.config.books.depth = 10;
    let collector = run.spawn_collector();
    let stream = run.config.nats.stream.name.clone();

    let mut before_fault = Vec::new();
    for _ in 0..150 {
        before_fault = all_events(&run.context, &stream).await;
        let books = books_per_symbol(&before_fault);
        if books.len() == 2 && books.values().all(|count| *count > 5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        sequence_gaps(&before_fault).is_empty(),
        "clean start: {:?}",
        sequence_gaps(&before_fault)
    );
    let books_before = books_per_symbol(&before_fault);
    assert_eq!(books_before.len(), 2, "books of both symbols");

    // One BTC-USDT book event lost: the hole in the connection's numbering breaks both books.
    reqwest::Client::new()
        .post(format!("http://{}/control/book-fault", run.sim_address))
        .json(&serde_json::json!({ "kind": BookFault::Drop, "symbol": "BTCUSDT" }))
        .send()
        .await
        .expect("fault injected");
    let mut events = Vec::new();
    for _ in 0..150 {
        events = all_events(&run.context, &stream).await;
        let books = books_per_symbol(&events);
        let recovered = books_before
            .iter()
            .all(|(symbol, count)| books.get(symbol).is_some_and(|now| *now > count + 5));
        if sequence_gaps(&events).len() == 2 && recovered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gaps = sequence_gaps(&events);
    assert_eq!(
        gaps,
        HashMap::from([("BTC-USDT".to_owned(), 1), ("ETH-USDT".to_owned(), 1)]),
        "one gap per book of the connection"
    );

    // A reconnect numbers messages from 0 again: books published after it are named after
    // those before, so none is taken for a duplicate of an earlier one.
    let books_before = books_per_symbol(&events);
    reqwest::Client::new()
        .post(format!("http://{}/control/disconnect", run.sim_address))
        .send()
        .await
        .expect("disconnect");
    for _ in 0..150 {
        events = all_events(&run.context, &stream).await;
        let books = books_per_symbol(&events);
        let reconnected = events
            .iter()
            .any(|event| matches!(event, Event::Gap(gap) if gap.reason == GapReason::Disconnect));
        let published_after = books_before
            .iter()
            .all(|(symbol, count)| books.get(symbol).is_some_and(|now| *now > count + 5));
        if reconnected && published_after {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut last_ids: HashMap<String, u64> = HashMap::new();
    for event in &events {
        if let Event::OrderBook(book) = event {
            let last = last_ids.entry(book.symbol.to_string()).or_default();
            assert!(book.update_id > *last, "book ids run backwards: {book:?}");
            *last = book.update_id;
        }
    }
    let books_after = books_per_symbol(&events);
    for (symbol, count) in &books_before {
        assert!(
            books_after
                .get(symbol)
                .is_some_and(|now| now > &(count + 5)),
            "{symbol}: books after the reconnect were not stored"
        );
    }

    // Every trade the simulator wrote as Coinbase is published once, as written.
    let report = finished_report(&run.sim_address).await;
    let delivered: Vec<_> = report
        .trades
        .iter()
        .filter(|trade| trade.venues.contains("coinbase/spot"))
        .collect();
    assert!(
        delivered.len() > 100,
        "{} trades delivered",
        delivered.len()
    );
    let mut published = HashMap::new();
    for _ in 0..50 {
        events = all_events(&run.context, &stream).await;
        published = events
            .iter()
            .filter_map(|event| match event {
                Event::Trade(trade) => Some((
                    format!(
                        "{}:{}",
                        trade.symbol.as_str().replace('-', ""),
                        trade.trade_id
                    ),
                    trade.clone(),
                )),
                _ => None,
            })
            .collect();
        if published.len() >= delivered.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for sent in &delivered {
        let key = format!("{}:{}", sent.symbol, sent.trade_id);
        let trade = published
            .get(&key)
            .unwrap_or_else(|| panic!("trade {key} delivered but not published"));
        assert_eq!(trade.price.to_string(), sent.price, "{key}");
        assert_eq!(trade.quantity.to_string(), sent.quantity, "{key}");
        let taker = if sent.buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        };
        assert_eq!(trade.side, taker, "{key}");
        assert_eq!(trade.exchange_time_ms, sent.trade_time_ms, "{key}");
        assert_eq!(trade.sequence, Some(sent.trade_id), "{key}");
    }
    assert_eq!(published.len(), delivered.len(), "nothing else published");
    for event in &events {
        match event {
            Event::Gap(gap) => assert!(
                matches!(
                    gap.reason,
                    GapReason::SequenceBreak
                        | GapReason::BookUnsynced
                        | GapReason::Disconnect
                        | GapReason::TradeIdGap
                ),
                "unexpected gap {gap:?}"
            ),
            Event::OrderBook(book) => {
                let (Some(bid), Some(ask)) = (book.bids.first(), book.asks.first()) else {
                    panic!("an empty side in {book:?}");
                };
                assert!(bid.price < ask.price, "crossed book {book:?}");
            }
            _ => {}
        }
    }

    run.stop(collector).await;
}
