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
use marketprism_model::{codec, Event, Exchange, MarketType, Side, Trade};
use marketprism_storage::TradeRow;
use serde::Serialize;

use crate::services::Services;

/// Rows per ClickHouse insert, as storage batches them (`batch.max_rows`).
const INSERT_BATCH: usize = 10_000;

/// Acks a publisher keeps outstanding, as the collector (`publish.max_outstanding_acks`).
const PUBLISH_WINDOW: usize = 4_096;

/// A measured baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// What was measured.
    pub name: String,
    /// Messages or rows.
    pub items: u64,
    /// Bytes per message.
    pub message_bytes: usize,
    /// Items per second, through the whole baseline.
    pub per_second: f64,
    /// For JetStream: messages per second until the last publish was acknowledged.
    pub publish_per_second: Option<f64>,
}

/// A trade as the simulator's Binance spot feed makes the collector publish it.
fn trade(index: u64) -> Event {
    Event::Trade(Trade {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: format!("X{:03}-USDT", index % 50)
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
    })
}

fn price(index: u64) -> marketprism_model::Decimal {
    format!("{}.{:02}000000", 1_000 + index % 500, index % 100)
        .parse()
        .expect("a valid decimal")
}

/// Publishes `count` trades with message ids to a stream configured as MarketPrism's, while a
/// durable pull consumer receives and acks them; the rate is messages over the time until the
/// last one was acked.
pub async fn jetstream(services: &Services, count: u64) -> anyhow::Result<Baseline> {
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
    let batch = marketprism_storage::BatchConfig::default().max_rows;
    let events: Vec<(String, Vec<u8>)> = (0..count)
        .map(|index| {
            let event = trade(index);
            (event.subject(), codec::encode(&event))
        })
        .collect();
    let message_bytes = events.first().map_or(0, |(_, body)| body.len());

    let started = Instant::now();
    let consuming = tokio::spawn(async move {
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(batch)
            .messages()
            .await?;
        let mut received = 0;
        while received < count {
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
    let mut window = VecDeque::with_capacity(PUBLISH_WINDOW);
    for (index, (subject, body)) in events.into_iter().enumerate() {
        if window.len() == PUBLISH_WINDOW {
            if let Some(ack) = window.pop_front() {
                let ack: jetstream::context::PublishAckFuture = ack;
                ack.await?;
            }
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{subject}:t:{index}").as_str());
        window.push_back(
            context
                .publish_with_headers(subject, headers, body.into())
                .await?,
        );
    }
    for ack in window {
        ack.await?;
    }
    let published = started.elapsed().as_secs_f64();
    tokio::time::timeout(Duration::from_secs(300), consuming)
        .await
        .context("the raw consumer did not receive every message within 5 minutes")???;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Baseline {
        name: "JetStream publish (async, msg ids) + pull consume with acks".into(),
        items: count,
        message_bytes,
        per_second: count as f64 / seconds,
        publish_per_second: Some(count as f64 / published),
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
    const DATABASE: &str = "bench_raw";
    std::fs::create_dir_all(dir)?;
    let config = dir.join("storage.toml");
    std::fs::write(
        &config,
        format!(
            "[nats]\nurl = \"{}\"\n\n[clickhouse]\nurl = \"{}\"\ndatabase = \"{DATABASE}\"\n",
            services.nats_url, services.clickhouse_url
        ),
    )?;
    let status = std::process::Command::new(binary)
        .args(["migrate", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running marketprism migrate")?;
    anyhow::ensure!(status.success(), "marketprism migrate failed ({status})");
    let client = clickhouse::Client::default()
        .with_url(&services.clickhouse_url)
        .with_database(DATABASE)
        .with_validation(false);
    let rows: Vec<TradeRow> = (0..count)
        .map(|index| match trade(index) {
            Event::Trade(trade) => TradeRow::try_from(&trade).map_err(anyhow::Error::from),
            _ => anyhow::bail!("trade() builds trades"),
        })
        .collect::<anyhow::Result<_>>()?;
    let message_bytes = codec::encode(&trade(0)).len();

    let started = Instant::now();
    for chunk in rows.chunks(INSERT_BATCH) {
        let mut insert = client.insert::<TradeRow>("trades").await?;
        for row in chunk {
            insert.write(row).await?;
        }
        insert.end().await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Baseline {
        name: format!("ClickHouse inserts of trade rows, {INSERT_BATCH} per insert"),
        items: count,
        message_bytes,
        per_second: count as f64 / seconds,
        publish_per_second: None,
    })
}
