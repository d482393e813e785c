//! `GET /v1/replay?exchange&market&symbols&types&from&to&format=ndjson|csv`: the stored rows
//! of a range in venue-time order, streamed, with a gap row wherever the feed misses data.
//!
//! Each type is one ClickHouse query (`FINAL`, ordered by venue time), read line by line
//! as the server sends it; the lines of several types are merged by time, so the gateway
//! holds one row per type and a bounded queue of output chunks whatever the range. The
//! feed's gaps (where every collector missed data of that type, [`crate::gaps`]) are few and
//! read first; each is written before the first row after its start.
//!
//! `types` names stored data types and the computed `trade_bar_{interval}` and
//! `book_snapshot_{depth}_{interval}` ([`crate::kind`]), which ClickHouse computes.
//!
//! * `ndjson`: one JSON object per line. A row has `type` (e.g. `trade`), its table's columns,
//!   times as Unix milliseconds and decimals as strings, exactly as stored. A gap is
//!   `{"type":"gap","data_type":"trade","exchange":…,"market_type":…,"symbol":…,
//!   "from_time":…,"to_time":…,"reasons":["disconnect"]}`.
//! * `csv`: one type per request; a header, then one row per line with `type` and
//!   `exchange_time` first and `gap_to_time`, `gap_reasons` last (empty for data rows). A gap
//!   row has `type` `gap`, its start as `exchange_time`, its instrument, and its end and
//!   reasons (`;`-separated) in those last two columns.
//!
//! A failure after the answer started cuts the body off (the chunked transfer ends without
//! its last chunk, which HTTP clients report as an error); in `ndjson` a last line
//! `{"type":"error","message":…}` says why first, as far as the client reads it in time.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use marketprism_model::{Exchange, MarketType, Symbol};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::gaps::{self, GapRow};
use crate::kind::Kind;
use crate::metrics::Metrics;
use crate::params::{check_range, Params};
use crate::source::{Lines, Reader};
use crate::ApiError;

/// Bytes gathered before a chunk is sent to the client.
const CHUNK: usize = 64 * 1024;
/// How long a failed replay's last chunks get to reach the client before the body is cut.
const FLUSH_BEFORE_CUT: std::time::Duration = std::time::Duration::from_millis(200);
/// Chunks queued for a slow client before reading from ClickHouse pauses.
const QUEUED_CHUNKS: usize = 8;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Csv,
}

/// A checked replay request.
struct Request {
    exchange: Exchange,
    market: MarketType,
    symbols: Vec<Symbol>,
    kinds: Vec<Kind>,
    from_ms: i64,
    to_ms: i64,
    format: Format,
}

fn request(mut params: Params) -> Result<Request, ApiError> {
    let exchange = params.exchange()?;
    let market = params.market()?;
    let symbols = params.symbols("symbols")?;
    let kinds = params.kinds("types")?;
    let from_ms = params.time("from")?;
    let to_ms = params.time("to")?;
    let format = match params.choice("format", &["ndjson", "csv"])? {
        "csv" => Format::Csv,
        _ => Format::Ndjson,
    };
    params.finish()?;
    check_range(from_ms, to_ms)?;
    if format == Format::Csv && kinds.len() > 1 {
        return Err(ApiError::bad(
            "types",
            "csv carries one type per request (the types' columns differ)",
        ));
    }
    Ok(Request {
        exchange,
        market,
        symbols,
        kinds,
        from_ms,
        to_ms,
        format,
    })
}

/// A gap line, written before the first row after `from_ms`.
#[derive(Debug)]
struct GapLine {
    from_ms: i64,
    line: Bytes,
}

/// The last line of an NDJSON replay that failed midway.
#[derive(Serialize)]
struct ErrorJson {
    #[serde(rename = "type")]
    kind: &'static str,
    message: String,
}

#[derive(Serialize)]
struct GapJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data_type: &'a str,
    exchange: &'static str,
    market_type: &'static str,
    symbol: &'a str,
    from_time: i64,
    to_time: i64,
    reasons: Vec<&'a str>,
}

/// The feed gaps of every requested symbol and type, as lines in time order.
fn gap_lines(
    request: &Request,
    rows: &[GapRow],
    collectors: &BTreeSet<(String, String)>,
    header: &[String],
) -> Result<Vec<GapLine>, ApiError> {
    let mut lines = Vec::new();
    for (type_index, kind) in request.kinds.iter().enumerate() {
        for symbol in &request.symbols {
            let spans = gaps::feed_missing(
                rows,
                collectors,
                symbol.as_str(),
                kind.source(),
                (request.from_ms, request.to_ms),
            );
            for span in spans {
                // The reasons of the collectors' gaps behind this span of the feed.
                let reasons: BTreeSet<&str> = rows
                    .iter()
                    .filter(|row| {
                        row.symbol == symbol.as_str()
                            && row.leaves_missing(kind.source())
                            && row.from_ms < span.to_ms
                            && span.from_ms < row.to_ms
                    })
                    .map(|row| row.reason.as_str())
                    .collect();
                let gap = GapJson {
                    kind: "gap",
                    data_type: kind.name(),
                    exchange: request.exchange.as_str(),
                    market_type: request.market.as_str(),
                    symbol: symbol.as_str(),
                    from_time: span.from_ms,
                    to_time: span.to_ms,
                    reasons: reasons.into_iter().collect(),
                };
                let line = match request.format {
                    Format::Ndjson => {
                        let mut line = serde_json::to_vec(&gap)
                            .map_err(|error| ApiError::Answer(error.to_string()))?;
                        line.push(b'\n');
                        line
                    }
                    Format::Csv => csv_gap(&gap, header).into_bytes(),
                };
                lines.push((span.from_ms, symbol.as_str(), type_index, line));
            }
        }
    }
    lines.sort();
    Ok(lines
        .into_iter()
        .map(|(from_ms, _, _, line)| GapLine {
            from_ms,
            line: Bytes::from(line),
        })
        .collect())
}

/// A CSV value, quoted as ClickHouse quotes strings.
fn csv_quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// The CSV row of `gap`, in the columns of `header` (the data rows' column names).
fn csv_gap(gap: &GapJson<'_>, header: &[String]) -> String {
    let fields: Vec<String> = header
        .iter()
        .map(|column| match column.as_str() {
            "type" => csv_quoted(gap.kind),
            "exchange_time" => gap.from_time.to_string(),
            "exchange" => csv_quoted(gap.exchange),
            "market_type" => csv_quoted(gap.market_type),
            "symbol" => csv_quoted(gap.symbol),
            "gap_to_time" => gap.to_time.to_string(),
            "gap_reasons" => csv_quoted(&gap.reasons.join(";")),
            _ => String::new(),
        })
        .collect();
    format!("{}\n", fields.join(","))
}

/// The column names of a `CSVWithNames` header line.
fn header_names(line: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(line)
        .trim_end()
        .split(',')
        .map(|name| name.trim_matches('"').to_owned())
        .collect()
}

#[derive(Deserialize)]
struct Timed {
    exchange_time: i64,
}

/// The venue time of a row line.
fn row_time(format: Format, line: &[u8]) -> Result<i64, ApiError> {
    let time = match format {
        Format::Ndjson => serde_json::from_slice::<Timed>(line)
            .ok()
            .map(|timed| timed.exchange_time),
        Format::Csv => line
            .split(|byte| *byte == b',')
            .nth(1)
            .and_then(|field| std::str::from_utf8(field).ok())
            .and_then(|field| field.trim().parse().ok()),
    };
    time.ok_or_else(|| {
        ApiError::Answer(format!(
            "a row without a venue time: {}",
            String::from_utf8_lossy(&line[..line.len().min(200)])
        ))
    })
}

/// One data type's rows, with the next one read ahead.
struct Source {
    lines: Lines,
    next: Option<(i64, Bytes)>,
}

impl Source {
    async fn advance(&mut self, format: Format) -> Result<(), ApiError> {
        self.next = match self.lines.next().await? {
            Some(line) => Some((row_time(format, &line)?, line)),
            None => None,
        };
        Ok(())
    }
}

/// Answers a replay request: checks it, reads the gaps, starts every query and reads its
/// first row (so that a failing query is answered with its error), then streams the rest.
pub async fn replay(
    reader: &Reader,
    configured_collectors: &[String],
    metrics: Metrics,
    shutdown: CancellationToken,
    params: Params,
) -> Result<Response, ApiError> {
    let request = request(params)?;
    let dialect = reader.dialect().await?;
    let range = (request.from_ms, request.to_ms);
    let rows = gaps::gap_rows(
        reader,
        dialect,
        request.exchange,
        request.market,
        &request.symbols,
        range,
    )
    .await?;
    let collectors = gaps::collectors(
        reader,
        configured_collectors,
        request.exchange,
        request.market,
        &request.symbols,
    )
    .await?;
    let mut sources = Vec::with_capacity(request.kinds.len());
    let mut header = None;
    for kind in &request.kinds {
        let sql = kind.sql(
            dialect,
            request.symbols.len(),
            request.format == Format::Csv,
        );
        let mut query = reader
            .query(&sql)
            .await?
            .bind(request.exchange.as_str())
            .bind(request.market.as_str());
        for symbol in &request.symbols {
            query = query.bind(symbol.as_str());
        }
        query = query.bind(request.from_ms).bind(request.to_ms);
        let format = match request.format {
            Format::Ndjson => "JSONEachRow",
            Format::Csv => "CSVWithNames",
        };
        let mut lines = Lines::new(query, format)?;
        if request.format == Format::Csv {
            header = lines.next().await?;
        }
        let mut source = Source { lines, next: None };
        source.advance(request.format).await?;
        sources.push(source);
    }
    let names = header.as_deref().map(header_names).unwrap_or_default();
    let gap_lines = gap_lines(&request, &rows, &collectors, &names)?;

    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUED_CHUNKS);
    let format = request.format;
    // Set once every row is sent: a body whose sender goes away before is cut off with an
    // error, so that a client never takes a truncated replay for a whole one.
    let finished = Arc::new(AtomicBool::new(false));
    let finished_by_merge = finished.clone();
    tokio::spawn(async move {
        let output = Output {
            sender: &sender,
            shutdown: &shutdown,
        };
        match merge(format, header, sources, gap_lines, &output, &metrics).await {
            Ok(()) => finished_by_merge.store(true, Ordering::Release),
            Err(MergeError::Gone) => {}
            Err(error) => {
                tracing::warn!(error = %error, "A replay ended early.");
                metrics.replay_failures.inc();
                if format == Format::Ndjson {
                    let line = ErrorJson {
                        kind: "error",
                        message: error.to_string(),
                    };
                    if let Ok(mut line) = serde_json::to_vec(&line) {
                        line.push(b'\n');
                        let _ = output.send(Ok(Bytes::from(line))).await;
                    }
                }
            }
        }
    });
    let body = Body::from_stream(futures::stream::unfold(
        (receiver, finished, false),
        |(mut receiver, finished, cut)| async move {
            if cut {
                return None;
            }
            match receiver.recv().await {
                Some(chunk) => Some((chunk, (receiver, finished, false))),
                None if finished.load(Ordering::Acquire) => None,
                None => {
                    // The error makes the server drop the connection with whatever it has
                    // not written yet; a pause lets it write out the rows and the error
                    // line first (best effort: a client that stops reading may miss them).
                    tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                    Some((
                        Err(std::io::Error::other(
                            "the replay ended before its last row",
                        )),
                        (receiver, finished, true),
                    ))
                }
            }
        },
    ));
    let content_type = match format {
        Format::Ndjson => "application/x-ndjson",
        Format::Csv => "text/csv; charset=utf-8",
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Why the merge stopped before the end.
#[derive(Debug, thiserror::Error)]
enum MergeError {
    #[error("{0}")]
    Read(#[from] ApiError),
    #[error("the client went away")]
    Gone,
    #[error("the gateway is shutting down")]
    Stopped,
}

/// Where a replay's chunks go: a bounded queue to the client, given up when the gateway
/// shuts down, so that neither a slow client nor a slow query holds up its exit.
struct Output<'a> {
    sender: &'a mpsc::Sender<Result<Bytes, std::io::Error>>,
    shutdown: &'a CancellationToken,
}

impl Output<'_> {
    async fn send(&self, chunk: Result<Bytes, std::io::Error>) -> Result<(), MergeError> {
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Err(MergeError::Stopped),
            sent = self.sender.send(chunk) => sent.map_err(|_| MergeError::Gone),
        }
    }

    /// `work`, unless the gateway shuts down first.
    async fn unless_stopped<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, MergeError> {
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Err(MergeError::Stopped),
            done = work => Ok(done?),
        }
    }
}

/// Writes the rows of every source in time order, with the gaps among them, into `sender`.
async fn merge(
    format: Format,
    header: Option<Bytes>,
    mut sources: Vec<Source>,
    gap_lines: Vec<GapLine>,
    output_to: &Output<'_>,
    metrics: &Metrics,
) -> Result<(), MergeError> {
    let mut output = BytesMut::with_capacity(CHUNK);
    let mut gap_lines = gap_lines.into_iter().peekable();
    if let Some(header) = header {
        output.extend_from_slice(&header);
    }
    let result = async {
        loop {
            // The earliest row; on a tie, the type asked for first.
            let earliest = sources
                .iter()
                .enumerate()
                .filter_map(|(index, source)| source.next.as_ref().map(|(time, _)| (*time, index)))
                .min();
            let Some((time, index)) = earliest else {
                break;
            };
            while let Some(gap) = gap_lines.next_if(|gap| gap.from_ms < time) {
                output.extend_from_slice(&gap.line);
                metrics.replay_gaps.inc();
            }
            let source = &mut sources[index];
            if let Some((_, line)) = source.next.take() {
                output.extend_from_slice(&line);
                metrics.replay_rows.inc();
            }
            if output.len() >= CHUNK {
                output_to.send(Ok(output.split().freeze())).await?;
            }
            output_to.unless_stopped(source.advance(format)).await?;
        }
        for gap in gap_lines {
            output.extend_from_slice(&gap.line);
            metrics.replay_gaps.inc();
        }
        if !output.is_empty() {
            output_to.send(Ok(output.split().freeze())).await?;
        }
        Ok(())
    }
    .await;
    if let Err(MergeError::Read(_)) = &result {
        // What was read before the failure still goes out, then the error.
        if !output.is_empty() {
            let _ = output_to.send(Ok(output.split().freeze())).await;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_times_are_read_from_either_format() {
        assert_eq!(
            row_time(
                Format::Ndjson,
                br#"{"type":"trade","exchange_time":17,"x":[1]}"#
            )
            .ok(),
            Some(17)
        );
        assert_eq!(
            row_time(Format::Csv, b"\"trade\",1700000000001,\"binance\"\n").ok(),
            Some(1_700_000_000_001)
        );
        assert!(row_time(Format::Ndjson, b"Code: 241. DB::Exception").is_err());
    }
}
