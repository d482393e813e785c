//! Baselines of the end-to-end benchmark, measured on the same servers and messages as the
//! pipeline: raw JetStream (async publish with message ids while a pull consumer acks) and
//! raw ClickHouse inserts of the same rows with the same client crate.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use marketprism_bus::StreamConfig;
use marketprism_model::codec::{self, EncodedMessage, MessageEncoder};
use marketprism_model::{Event, Exchange, MarketType, Side, Trade, TradeSource};
use marketprism_storage::TradeRow;
use serde::Serialize;

use crate::runner::{Names, Runner};
use crate::services::Services;

/// Acks a publisher keeps outstanding, as the collector (`publish.max_outstanding_acks`).
const PUBLISH_WINDOW: usize = 4_096;

/// The system a baseline measures alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    /// JetStream, with this many events per message.
    JetStream { events_per_message: usize },
    /// ClickHouse inserts.
    ClickHouse,
}

/// A measured baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// What was measured, in words.
    pub name: String,
    /// What was measured.
    pub system: System,
    /// Events (rows).
    pub items: u64,
    /// Bytes per message.
    pub message_bytes: usize,
    /// Items per second, through the whole baseline.
    pub per_second: f64,
    /// For JetStream: events per second until the last publish was acknowledged.
    pub publish_per_second: Option<f64>,
}

/// Symbols the trades are spread over, as the pipeline's ladder spreads them.
const SYMBOLS: u64 = 50;

/// A trade of symbol `symbol` as the simulator's Binance spot feed makes the collector
/// publish it.
fn trade(index: u64, symbol: u64) -> Event {
    Event::Trade(Trade {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: format!("X{:03}-USDT", symbol % SYMBOLS)
            .parse()
            .expect("a valid symbol"),
        trade_id: (1_000_000 + index).to_string().into(),
        aggregated: false,
        price: price(index),
        quantity: "0.01234567".parse().expect("a valid decimal"),
        side: if index.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        exchange_time_ms: 1_700_000_000_000 + index as i64,
        received_time_ms: 1_700_000_000_002 + index as i64,
        sequence: None,
        source: TradeSource::Ws,
    })
}

fn price(index: u64) -> marketprism_model::Decimal {
    format!("{}.{:02}000000", 1_000 + index % 500, index % 100)
        .parse()
        .expect("a valid decimal")
}

/// `count` trades in messages of `events_per_message` trades of one symbol each, as the
/// collector's messages carry them.
pub(super) fn trade_messages(count: u64, events_per_message: usize) -> Vec<EncodedMessage> {
    let per_message = events_per_message.max(1) as u64;
    (0..count / per_message)
        .map(|message| {
            let first = message * per_message;
            let mut encoder = MessageEncoder::new(trade(first, message));
            for index in first + 1..first + per_message {
                encoder.push(trade(index, message));
            }
            encoder.finish()
        })
        .collect()
}

/// Publishes `messages` with their ids, keeping as many acks outstanding as the collector,
/// and returns once every one is acknowledged.
pub(super) async fn publish(
    context: &jetstream::Context,
    messages: Vec<EncodedMessage>,
) -> anyhow::Result<()> {
    let mut window = VecDeque::with_capacity(PUBLISH_WINDOW);
    for message in messages {
        if window.len() == PUBLISH_WINDOW {
            if let Some(ack) = window.pop_front() {
                let ack: jetstream::context::PublishAckFuture = ack;
                ack.await?;
            }
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.msg_id.as_str());
        window.push_back(
            context
                .publish_with_headers(message.subject, headers, message.body.into())
                .await?,
        );
    }
    for ack in window {
        ack.await?;
    }
    Ok(())
}

/// Publishes `count` trades, `events_per_message` of one symbol per message (as the
/// collector's messages carry them), with message ids to a stream configured as
/// MarketPrism's, while a durable pull consumer receives and acks the messages; the rate is
/// events over the time until the last message was acked.
pub async fn jetstream(
    services: &Services,
    count: u64,
    events_per_message: usize,
) -> anyhow::Result<Baseline> {
    let client = async_nats::connect(&services.nats_url).await?;
    let context = jetstream::new(client);
    let config = StreamConfig {
        name: "BENCH_RAW".into(),
        deadletter_name: "BENCH_RAW_DEADLETTER".into(),
        ..StreamConfig::default()
    };
    marketprism_bus::ensure_streams(&context, &config).await?;
    let stream = context.get_stream(&config.name).await?;
    // Pulled as storage pulls with its default settings.
    let settings = marketprism_storage::ConsumerConfig::default();
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bench-raw".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: settings.ack_wait,
            max_ack_pending: settings.max_ack_pending,
            ..Default::default()
        })
        .await?;
    let batch = marketprism_storage::BatchConfig::default().messages_per_pull();
    let per_message = events_per_message.max(1) as u64;
    let messages = trade_messages(count, events_per_message);
    let message_count = messages.len() as u64;
    let events = message_count * per_message;
    let message_bytes = messages.first().map_or(0, |message| message.body.len());

    let started = Instant::now();
    let consuming = tokio::spawn(async move {
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(batch)
            .messages()
            .await?;
        let mut received = 0;
        while received < message_count {
            let message = messages
                .next()
                .await
                .context("the consumer's message stream ended")?
                .map_err(|error| anyhow::anyhow!("pull failed: {error}"))?;
            message
                .ack()
                .await
                .map_err(|error| anyhow::anyhow!("ack failed: {error}"))?;
            received += 1;
        }
        anyhow::Ok(())
    });
    publish(&context, messages).await?;
    let published = started.elapsed().as_secs_f64();
    tokio::time::timeout(Duration::from_secs(300), consuming)
        .await
        .context("the raw consumer did not receive every message within 5 minutes")???;
    let seconds = started.elapsed().as_secs_f64();
    // The streams take every event subject: the next baseline on this server needs them gone.
    for stream in [&config.name, &config.deadletter_name] {
        context.delete_stream(stream).await?;
    }
    Ok(Baseline {
        name: format!(
            "JetStream publish (async, msg ids) + pull consume with acks, {per_message} per message"
        ),
        items: events,
        system: System::JetStream { events_per_message },
        message_bytes,
        per_second: events as f64 / seconds,
        publish_per_second: Some(events as f64 / published),
    })
}

/// Inserts `count` trade rows into a `trades` table created by `marketprism migrate`, in
/// batches of storage's size, one insert after the other as storage does.
pub async fn clickhouse(
    binary: &Path,
    services: &Services,
    dir: &Path,
    count: u64,
) -> anyhow::Result<Baseline> {
    // Only the database is used: the rows are inserted directly, no stream is created.
    let names = Names::new("bench_raw".into(), "BENCH_RAW".into(), "bench-raw".into());
    let runner = Runner::new(binary, services, dir, names)?;
    runner.write_storage_config(&runner.storage_config())?;
    runner.migrate()?;
    let client = clickhouse::Client::default()
        .with_url(&services.clickhouse_url)
        .with_database(&runner.names.database)
        .with_validation(false);
    let rows: Vec<TradeRow> = (0..count)
        .map(|index| match trade(index, index) {
            Event::Trade(trade) => TradeRow::try_from(&trade).map_err(anyhow::Error::from),
            _ => anyhow::bail!("trade() builds trades"),
        })
        .collect::<anyhow::Result<_>>()?;
    let message_bytes = codec::encode(&trade(0, 0)).len();

    // Rows per insert as storage batches them by default (`batch.max_rows`).
    let insert_batch = marketprism_storage::BatchConfig::default().max_rows;
    let started = Instant::now();
    for chunk in rows.chunks(insert_batch) {
        let mut insert = client.insert::<TradeRow>("trades").await?;
        for row in chunk {
            insert.write(row).await?;
        }
        insert.end().await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Baseline {
        name: format!("ClickHouse inserts of trade rows, {insert_batch} per insert"),
        items: count,
        system: System::ClickHouse,
        message_bytes,
        per_second: count as f64 / seconds,
        publish_per_second: None,
    })
}
