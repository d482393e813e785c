//! Symbols listed and delisted at run time: in every venue's instrument list with their
//! listing time, trading from then, gone (or no longer trading) and silent once delisted.

use std::time::Duration;

use marketprism_sim::{Config, SymbolListing, CONFIGURED_LISTED_MS};
use serde_json::{json, Value};

use crate::{connect, http, next_text, report, request, send, start, Socket};

fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        rate: 200,
        // No pings: Binance counts the pongs owed to them against its message rate.
        ping_interval: Duration::from_secs(60),
        ..Config::default()
    }
}

/// `POST /control/listings` with `body`: the status and the answer.
async fn change(address: &str, body: Value) -> (u16, Value) {
    let (status, text) = request(address, "POST", "/control/listings", Some(&body)).await;
    (status, serde_json::from_str(&text).expect("JSON answer"))
}

/// `GET path`, answered 200 with JSON.
async fn get(address: &str, path: &str) -> Value {
    let (status, body) = http(address, "GET", path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// The entry of `list` (a JSON array) whose `field` is `name`.
fn entry<'a>(list: &'a Value, field: &str, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|item| item[field] == name)
}

/// The next reply to a request (a frame with an id), past stream data.
async fn next_reply(socket: &mut Socket) -> Value {
    loop {
        let frame = next_text(socket).await;
        if frame.get("id").is_some() {
            return frame;
        }
    }
}

#[tokio::test]
async fn a_symbol_listed_at_run_time_trades_and_a_delisted_one_leaves_the_lists() {
    let (address, shutdown) = start(config()).await;
    let mut socket = connect(&address, "/stream").await;

    // Not listed yet: refused as an unknown stream, as before.
    send(
        &mut socket,
        &json!({"method": "SUBSCRIBE", "params": ["newusdt@trade"], "id": 1}),
    )
    .await;
    assert_eq!(next_reply(&mut socket).await["error"]["code"], 2);

    let (status, answer) = change(&address, json!({"list": ["newusdt"]})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["trading"], json!(["BTCUSDT", "ETHUSDT", "NEWUSDT"]));
    assert_eq!(answer["delisted"], json!([]));
    let listed_ms = answer["listings"]["NEWUSDT"]["listed_ms"]
        .as_i64()
        .expect("listing time");
    assert_eq!(answer["at_ms"], listed_ms);
    assert_eq!(
        answer["listings"]["BTCUSDT"],
        json!({"listed_ms": CONFIGURED_LISTED_MS, "delisted_ms": null})
    );

    // Every venue lists it, with its listing time where the venue writes one.
    let spot = get(&address, "/api/v3/exchangeInfo").await;
    let new = entry(&spot["symbols"], "symbol", "NEWUSDT").expect("Binance spot lists it");
    assert_eq!(new["status"], "TRADING");
    let usdm = get(&address, "/fapi/v1/exchangeInfo").await;
    let new = entry(&usdm["symbols"], "symbol", "NEWUSDT").expect("Binance USDⓈ-M lists it");
    assert_eq!(
        (&new["status"], &new["onboardDate"]),
        (&json!("TRADING"), &json!(listed_ms))
    );
    let btc = entry(&usdm["symbols"], "symbol", "BTCUSDT").expect("configured");
    assert_eq!(btc["onboardDate"], CONFIGURED_LISTED_MS);
    for (inst_type, inst_id) in [("SPOT", "NEW-USDT"), ("SWAP", "NEW-USDT-SWAP")] {
        let okx = get(
            &address,
            &format!("/api/v5/public/instruments?instType={inst_type}"),
        )
        .await;
        let new = entry(&okx["data"], "instId", inst_id).expect("OKX lists it");
        assert_eq!(new["listTime"], listed_ms.to_string());
    }
    for category in ["spot", "linear"] {
        let bybit = get(
            &address,
            &format!("/v5/market/instruments-info?category={category}"),
        )
        .await;
        let new = entry(&bybit["result"]["list"], "symbol", "NEWUSDT").expect("Bybit lists it");
        if category == "linear" {
            assert_eq!(new["launchTime"], listed_ms.to_string());
        }
    }
    let deribit = get(&address, "/api/v2/public/get_instruments?currency=any").await;
    for name in ["NEW_USDT-PERPETUAL", "NEW_USDT-25DEC26-60000-C"] {
        let new = entry(&deribit["result"], "instrument_name", name).expect("Deribit lists it");
        assert_eq!(new["creation_timestamp"], listed_ms);
    }
    let coinbase = get(&address, "/api/v3/brokerage/market/products").await;
    assert!(entry(&coinbase["products"], "product_id", "NEW-USDT").is_some());

    // Its trades arrive on a subscribed stream from its listing on.
    send(
        &mut socket,
        &json!({"method": "SUBSCRIBE", "params": ["newusdt@trade"], "id": 2}),
    )
    .await;
    assert_eq!(
        next_reply(&mut socket).await,
        json!({"result": null, "id": 2})
    );
    let frame = next_text(&mut socket).await;
    assert_eq!(frame["stream"], "newusdt@trade");
    assert_eq!(frame["data"]["s"], "NEWUSDT");
    assert!(frame["data"]["T"].as_i64() >= Some(listed_ms), "{frame}");

    let (status, answer) = change(&address, json!({"delist": ["NEWUSDT"]})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["trading"], json!(["BTCUSDT", "ETHUSDT"]));
    assert_eq!(answer["delisted"], json!(["NEWUSDT"]));
    let delisted_ms = answer["at_ms"].as_i64().expect("delisting time");

    // Binance keeps it, no longer trading; OKX (as the other venues) drops it.
    let spot = get(&address, "/api/v3/exchangeInfo").await;
    let new = entry(&spot["symbols"], "symbol", "NEWUSDT").expect("Binance keeps it");
    assert_eq!(new["status"], "BREAK");
    let okx = get(&address, "/api/v5/public/instruments?instType=SPOT").await;
    assert!(entry(&okx["data"], "instId", "NEW-USDT").is_none(), "{okx}");
    assert!(entry(&okx["data"], "instId", "BTC-USDT").is_some(), "{okx}");
    let coinbase = get(&address, "/api/v3/brokerage/market/products").await;
    assert!(entry(&coinbase["products"], "product_id", "NEW-USDT").is_none());

    // The subscription stays open and gets nothing newer than the delisting.
    send(
        &mut socket,
        &json!({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 3}),
    )
    .await;
    let mut btc_trades = 0;
    while btc_trades < 40 {
        let frame = next_text(&mut socket).await;
        match frame["data"]["s"].as_str() {
            Some("NEWUSDT") => assert!(frame["data"]["T"].as_i64() <= Some(delisted_ms)),
            Some("BTCUSDT") => btc_trades += 1,
            _ => {}
        }
    }
    send(
        &mut socket,
        &json!({"method": "LIST_SUBSCRIPTIONS", "id": 4}),
    )
    .await;
    assert_eq!(
        next_reply(&mut socket).await["result"],
        json!(["btcusdt@trade", "newusdt@trade"])
    );

    let report = report(&address).await;
    assert_eq!(
        report.listings.get("NEWUSDT"),
        Some(&SymbolListing {
            listed_ms,
            delisted_ms: Some(delisted_ms)
        })
    );
    let new_trades: Vec<_> = report
        .trades
        .iter()
        .filter(|trade| trade.symbol == "NEWUSDT")
        .collect();
    assert!(new_trades.iter().any(|trade| trade.delivered));
    assert!(new_trades
        .iter()
        .all(|trade| (listed_ms..=delisted_ms).contains(&trade.trade_time_ms)));
    let summary = get(&address, "/control/summary").await;
    assert_eq!(
        (&summary["symbols_trading"], &summary["symbols_delisted"]),
        (&json!(2), &json!(1))
    );
    shutdown.cancel();
}

#[tokio::test]
async fn bad_listing_requests_are_refused_and_change_nothing() {
    let (address, shutdown) = start(config()).await;
    let refused = [
        (json!({"list": ["BTCUSDT"]}), "BTCUSDT is already listed"),
        (
            json!({"list": ["NEWUSDT", "newusdt"]}),
            "NEWUSDT is already listed",
        ),
        (
            json!({"list": ["GOODUSDT", "NOQUOTE"]}),
            "NOQUOTE does not split",
        ),
        (json!({"delist": ["XYZUSDT"]}), "XYZUSDT is not trading"),
        (
            json!({"list": ["GOODUSDT"], "delist": ["GOODUSDT"]}),
            "GOODUSDT is not trading",
        ),
    ];
    for (body, message) in refused {
        let (status, answer) = change(&address, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(message), "{body}: {error}");
    }
    let current = get(&address, "/control/listings").await;
    assert_eq!(current["trading"], json!(["BTCUSDT", "ETHUSDT"]));

    // Delisted, a symbol cannot be listed again.
    let (status, _) = change(&address, json!({"delist": ["ETHUSDT"]})).await;
    assert_eq!(status, 200);
    let (status, answer) = change(&address, json!({"list": ["ETHUSDT"]})).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = change(&address, json!({"delist": ["ETHUSDT"]})).await;
    assert_eq!(status, 400);
    shutdown.cancel();
}
