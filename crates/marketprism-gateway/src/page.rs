//! `GET /`: the status page, one self-contained HTML file (`assets/status.html`, its CSS and
//! script inline, nothing fetched from elsewhere) that reads `/v1/status` every second and
//! shows each feed's rate and last event, the consumers' lag, open and recent gaps and the
//! top of each book. Where API keys are configured, open it as `/?key=<key>`: the page sends
//! the key as `X-API-Key`. The page itself needs no key; it holds no data.

use axum::http::header;
use axum::response::{Html, IntoResponse};

/// The page.
const PAGE: &str = include_str!("../assets/status.html");

/// Answers the page.
pub(crate) async fn serve() -> impl IntoResponse {
    // A new gateway may serve a new page: browsers ask again rather than keep an old one.
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_reads_the_status_and_loads_nothing_from_elsewhere() {
        assert!(PAGE.contains("fetch(\"v1/status\""));
        assert!(PAGE.contains("\"X-API-Key\""));
        for outside in ["http://", "https://", "//cdn", "src=", "@import", "url("] {
            assert!(!PAGE.contains(outside), "the page refers to {outside}");
        }
        for id in [
            "feeds",
            "books",
            "consumers",
            "open-gaps",
            "recent-gaps",
            "updated",
        ] {
            assert!(PAGE.contains(&format!("id=\"{id}\"")), "{id}");
        }
    }
}
