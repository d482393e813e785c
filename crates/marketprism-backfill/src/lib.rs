//! The backfill service: recovers the trades a gap missed from the venue's REST history.
//!
//! A durable JetStream consumer reads gap events (`gap.>`). For every trade gap still open
//! (`disconnect`, `stale`, `restart` windows and `trade_id_gap` ranges; book gaps need no
//! fill, a fresh snapshot closes them) it pages the venue's trade history
//! ([`marketprism_venues::HistoryPager`]), publishes the recovered trades with the source
//! `rest` and the keys live trades have, then publishes the gap again with its final status
//! (`filled`, `partial` or `unfillable`, the counts and the reason), and only then acks the
//! gap. `/metrics` counts gaps by status and the trades recovered.

mod config;
mod fill;
mod metrics;
mod service;

pub use config::{Config, ConsumerConfig, VenueConfig};
pub use metrics::metrics_exposition;
pub use service::{run, BackfillError};
