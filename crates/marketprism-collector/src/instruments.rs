//! Configured symbols against the venue's instrument list: a symbol the venue does not list
//! can never record, and on some venues it makes the whole subscription fail, so it is
//! caught before connecting (`check-config --symbols`, the collector's start).

use std::collections::HashSet;

use marketprism_model::{now_ms, Listing, Symbol};
use marketprism_rest::RestClient;
use marketprism_venues::{RestCall, VenueProtocol};

/// What a venue's instrument list says of some symbols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolCheck {
    /// The list was read: these symbols are not on it (none when all are).
    Checked {
        /// The symbols the venue does not list, in the order given.
        unlisted: Vec<Symbol>,
    },
    /// The list could not be read: why. The symbols are not known to be wrong.
    Unchecked(String),
}

/// Reads the instrument list of `protocol`'s market from `rest_endpoint` through
/// `rest_client` (its budget applies, see [`read_listings`]) and says which of `symbols` it does
/// not hold, by the venue's name of each ([`VenueProtocol::native_symbol`] against
/// [`Listing::venue_symbol`](marketprism_model::Listing::venue_symbol)). A symbol on the list is listed whether or not it trades now
/// (halted, not yet open): it may trade later, and the venue accepts its subscription.
/// Symbols of another market or no instrument at all (see
/// [`VenueProtocol::in_instrument_list`]) are not judged.
pub async fn check_symbols<'a>(
    protocol: &dyn VenueProtocol,
    rest_endpoint: &str,
    rest_client: &RestClient,
    symbols: impl IntoIterator<Item = &'a Symbol>,
) -> SymbolCheck {
    let listed: HashSet<String> = match read_listings(protocol, rest_endpoint, rest_client).await {
        Ok(listings) => listings
            .into_iter()
            .map(|listing| listing.venue_symbol.to_ascii_uppercase())
            .collect(),
        Err(reason) => return SymbolCheck::Unchecked(reason),
    };
    let unlisted = symbols
        .into_iter()
        .filter(|symbol| protocol.in_instrument_list(symbol))
        .filter(|symbol| !listed.contains(&protocol.native_symbol(symbol).to_ascii_uppercase()))
        .cloned()
        .collect();
    SymbolCheck::Checked { unlisted }
}

/// Reads every instrument of `protocol`'s market from its lists at `rest_endpoint`
/// ([`VenueProtocol::instruments_urls`]) through `rest_client`; or why they could not be
/// read. A market with no list, or lists naming no instrument, cannot be read. Each request
/// waits its turn in the venue's budget, behind the venue's other requests, however long
/// that takes; only the request itself is bounded, by the HTTP client's timeout.
pub(crate) async fn read_listings(
    protocol: &dyn VenueProtocol,
    rest_endpoint: &str,
    rest_client: &RestClient,
) -> Result<Vec<Listing>, String> {
    let urls = protocol.instruments_urls(rest_endpoint);
    if urls.is_empty() {
        return Err("the venue has no instrument list".to_owned());
    }
    let mut listings = Vec::new();
    for url in &urls {
        listings.extend(read_list(protocol, rest_client, url).await?);
    }
    if listings.is_empty() {
        return Err(format!("{} lists no instrument", urls.join(", ")));
    }
    Ok(listings)
}

/// The instruments one list at `url` holds, or why it could not be read.
async fn read_list(
    protocol: &dyn VenueProtocol,
    rest_client: &RestClient,
    url: &str,
) -> Result<Vec<Listing>, String> {
    let cost = protocol.request_cost(RestCall::Instruments);
    let body = rest_client
        .get(cost, url)
        .await
        .map_err(|error| format!("{url}: {error}"))?;
    protocol
        .parse_instruments(&body, now_ms())
        .map_err(|error| format!("{url}: {error}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::extract::State;
    use axum::http::{header, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use marketprism_venues::VenueKind;

    use super::*;
    use crate::test_server::{client, serve};

    /// Binance's list: a 429 pausing requests for a second first, then one symbol.
    async fn exchange_info(
        State(refuse): State<Arc<AtomicBool>>,
    ) -> (
        StatusCode,
        [(header::HeaderName, &'static str); 1],
        &'static str,
    ) {
        if refuse.swap(false, Ordering::SeqCst) {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                "{}",
            );
        }
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT"}]}"#,
        )
    }

    #[tokio::test]
    async fn a_list_read_waits_for_the_budget_longer_than_a_request_may_take() {
        let endpoint = serve(
            Router::new()
                .route("/api/v3/exchangeInfo", get(exchange_info))
                .with_state(Arc::new(AtomicBool::new(true))),
        )
        .await;
        let protocol = VenueKind::BinanceSpot.protocol(&[]);
        let rest_client = client(protocol.rest_limits(), Duration::from_millis(200));
        assert!(read_listings(protocol.as_ref(), &endpoint, &rest_client)
            .await
            .is_err());
        assert!(rest_client.paused_until().is_some());
        // The next read waits out the pause, five times the request timeout.
        let listings = read_listings(protocol.as_ref(), &endpoint, &rest_client)
            .await
            .expect("read once the pause ended");
        assert_eq!(listings.len(), 1);
    }
}
