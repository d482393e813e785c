//! Order books MarketPrism can vouch for.
//!
//! [`Book`] is an L2 book keyed by exact decimal prices. [`Sequencer`] feeds it a venue's
//! snapshot and delta messages ([`BookUpdate`]) under that venue's documented chaining rule
//! ([`SyncRule`]): it buffers the stream while a REST snapshot is fetched, bridges the
//! snapshot, applies contiguous deltas, skips duplicates, and on any break (a missing or
//! reordered update, a snapshot older than the stream, a checksum mismatch, a crossed book)
//! invalidates the book until a fresh snapshot arrives, then reports the outage so the caller
//! can record a gap. Nothing here performs I/O.

mod book;
mod checksum;
mod rule;
mod sequencer;
#[cfg(test)]
mod test_levels;
mod tracker;
mod update;

pub use book::{Book, BookSide};
pub use checksum::okx_checksum;
pub use rule::SyncRule;
pub use sequencer::{
    Applied, Desync, DesyncReason, Outage, Position, Progress, Sequencer, Skip,
    DEFAULT_BUFFER_LIMIT,
};
pub use tracker::{BookTracker, PublishSettings, Tracked};
pub use update::{BookUpdate, UpdateKind};
