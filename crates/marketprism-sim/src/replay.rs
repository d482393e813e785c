//! Replays the WebSocket frames of a capture file to subscribed clients.
//!
//! Combined-stream frames (`{"stream":..,"data":..}`) go to the clients subscribed to their
//! stream, wrapped or unwrapped to suit each client; other frames go to every client. Frames
//! are paced by their recorded receive times divided by the replay speed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use marketprism_capture::{read_capture, CaptureError, RecordKind};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::server::{Outbound, Shared};

/// A captured frame and its offset from the first frame.
pub(crate) struct ReplayFrame {
    offset: Duration,
    payload: String,
}

#[derive(Deserialize)]
struct Combined<'a> {
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Loads the WebSocket frames of a capture.
pub(crate) fn load(path: &Path) -> Result<Vec<ReplayFrame>, CaptureError> {
    let records: Vec<_> = read_capture(path)?
        .into_iter()
        .filter(|record| record.kind == RecordKind::Ws)
        .collect();
    let start = records.first().map_or(0.0, |record| record.recv_ts);
    Ok(records
        .into_iter()
        .map(|record| ReplayFrame {
            offset: Duration::from_secs_f64((record.recv_ts - start).max(0.0)),
            payload: record.payload,
        })
        .collect())
}

/// Sends every frame once, starting when the first client subscribes.
pub(crate) async fn run(
    shared: Arc<Shared>,
    frames: Vec<ReplayFrame>,
    shutdown: CancellationToken,
) {
    while !shared.has_subscribers() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.subscribed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let speed = shared.config.replay_speed;
    let started = Instant::now();
    for frame in &frames {
        if speed > 0.0 {
            let due = started + frame.offset.div_f64(speed);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(due) => {}
            }
        } else {
            tokio::task::yield_now().await;
        }
        let combined: Option<Combined<'_>> = serde_json::from_str(&frame.payload).ok();
        for client in shared.clients().values() {
            let text = match &combined {
                Some(parsed) if !client.streams.contains(parsed.stream) => continue,
                Some(parsed) if !client.combined => parsed.data.get().to_owned(),
                _ => frame.payload.clone(),
            };
            client.offer(Outbound { text, trade: None });
        }
    }
    shared.report().done = true;
    tracing::info!(frames = frames.len(), "Replay finished.");
}
