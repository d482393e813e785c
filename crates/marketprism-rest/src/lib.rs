//! REST requests to venues within the limits they publish.
//!
//! Every process that calls a venue's REST API (the collector's book snapshots and pollers,
//! the backfill) makes its requests through a [`RestClient`]: one per venue endpoint, cloned
//! by every caller, holding that venue's [`Budget`]. A request names its cost
//! ([`marketprism_venues::VenueProtocol::request_cost`]) and waits until the cost fits the
//! current window of its bucket; a 429 or 418 answer pauses every request to the venue for
//! the answer's `Retry-After` (30 s when it names none), so that no caller keeps asking
//! during a back-off, which is what turns Binance's 429 into a 418 ban.
//!
//! Sharing one IP's budget between processes:
//!
//! * Each process spends at most its configured share of each bucket per window (the
//!   collector's `rest.budget_share`; the shares of the processes on one IP should add up to
//!   at most 1).
//! * Where the venue reports the weight it has counted for the IP (Binance's
//!   `X-MBX-USED-WEIGHT-1M`), that count, which includes every process on the IP, is
//!   recorded with each answer, and no request is sent that would take it past the venue's
//!   limit, whatever the process's own share leaves.
//!
//! A caller sending many requests at once (the collector's book snapshots) uses a client
//! that leaves part of each window's allowance to the venue's other callers
//! ([`RestClient::leaving`]), so that a burst of its requests never holds the others back
//! until the next window.
//!
//! Windows are fixed and aligned on the Unix epoch, as Binance counts per clock minute;
//! venues counting over rolling windows (OKX, Bybit) are approximated by fixed windows of
//! their length, whose boundary can let through up to twice a window's limit within one
//! window's length, which a share of at most one half keeps within the limit.

mod budget;
mod client;
mod metrics;

pub use budget::{Budget, Wait};
pub use client::{FetchError, RestClient, RestClients};
pub use metrics::RestMetrics;
