//! One product of either API's product list as a listing.

use marketprism_model::{Exchange, Listing, MarketType};

use crate::coinbase::symbol::from_native;

/// The spot listing of the product `product_id` (`BTC-USD`, named as frames name it) with
/// the assets `base` and `quote`, received at `received_time_ms`; Coinbase gives no listing
/// time, so it is the receive time. `None` for an id that is not `BASE-QUOTE`, which no
/// frame names either.
pub(super) fn listing(
    product_id: &str,
    base: &str,
    quote: &str,
    trading: bool,
    received_time_ms: i64,
) -> Option<Listing> {
    Some(Listing {
        exchange: Exchange::Coinbase,
        market_type: MarketType::Spot,
        symbol: from_native(product_id).ok()?,
        venue_symbol: product_id.to_owned(),
        base: base.to_owned(),
        quote: quote.to_owned(),
        settle: None,
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading,
        listed_ms: received_time_ms,
        delisted_ms: None,
        received_time_ms,
    })
}
