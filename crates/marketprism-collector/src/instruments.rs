//! Configured symbols against the venue's instrument list: a symbol the venue does not list
//! can never record, and on some venues it makes the whole subscription fail, so it is
//! caught before connecting (`check-config --symbols`, the collector's start).

use std::collections::HashSet;
use std::time::Duration;

use marketprism_model::{now_ms, Symbol};
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
/// `rest_client` (its budget applies), within `timeout`, and says which of `symbols` it does
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
    timeout: Duration,
) -> SymbolCheck {
    let urls = protocol.instruments_urls(rest_endpoint);
    if urls.is_empty() {
        return SymbolCheck::Unchecked("the venue has no instrument list".to_owned());
    }
    let mut listed: HashSet<String> = HashSet::new();
    for url in &urls {
        match read_list(protocol, rest_client, url, timeout).await {
            Ok(names) => listed.extend(names),
            Err(reason) => return SymbolCheck::Unchecked(reason),
        }
    }
    if listed.is_empty() {
        return SymbolCheck::Unchecked(format!("{} lists no instrument", urls.join(", ")));
    }
    let unlisted = symbols
        .into_iter()
        .filter(|symbol| protocol.in_instrument_list(symbol))
        .filter(|symbol| !listed.contains(&protocol.native_symbol(symbol).to_ascii_uppercase()))
        .cloned()
        .collect();
    SymbolCheck::Checked { unlisted }
}

/// The venue's names of the instruments one list at `url` holds, upper-cased, or why it
/// could not be read.
async fn read_list(
    protocol: &dyn VenueProtocol,
    rest_client: &RestClient,
    url: &str,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let cost = protocol.request_cost(RestCall::Instruments);
    let body = match tokio::time::timeout(timeout, rest_client.get(cost, url)).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => return Err(format!("{url}: {error}")),
        Err(_) => {
            return Err(format!(
                "{url}: no answer within {:.0} s",
                timeout.as_secs_f64()
            ))
        }
    };
    match protocol.parse_instruments(&body, now_ms()) {
        Ok(listings) => Ok(listings
            .into_iter()
            .map(|listing| listing.venue_symbol.to_ascii_uppercase())
            .collect()),
        Err(error) => Err(format!("{url}: {error}")),
    }
}
