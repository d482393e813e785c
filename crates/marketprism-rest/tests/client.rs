//! The client against a local HTTP server that counts requests, reports used weight as
//! Binance does and answers rate limits on demand.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;
use axum::Router;
use marketprism_rest::{FetchError, RestClient, RestMetrics};
use marketprism_venues::{BanAnswer, RequestCost, RestBucket, RestLimits, UsedWeightHeader};

const LIMITS: RestLimits = RestLimits {
    name: "test_venue",
    buckets: &[RestBucket {
        name: "REQUEST_WEIGHT",
        limit: 100,
        window: Duration::from_secs(10 * 365 * 86_400),
    }],
    used_weight_header: Some(UsedWeightHeader {
        name: "x-mbx-used-weight-1m",
        bucket: "REQUEST_WEIGHT",
    }),
    ban: Some(BanAnswer {
        status: 403,
        pause: Duration::from_secs(600),
    }),
};

const COST: RequestCost = RequestCost {
    bucket: "REQUEST_WEIGHT",
    weight: 5,
};

#[derive(Default)]
struct Venue {
    requests: AtomicU64,
    /// The used weight reported with each answer.
    reported: AtomicU32,
    /// The status of the next answer (200 when 0).
    next_status: AtomicU32,
    /// Whether that answer names a `Retry-After` of 30 s.
    silent_retry_after: std::sync::atomic::AtomicBool,
}

async fn answer(State(venue): State<Arc<Venue>>) -> (StatusCode, HeaderMap, &'static str) {
    venue.requests.fetch_add(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-mbx-used-weight-1m",
        HeaderValue::from(venue.reported.load(Ordering::SeqCst)),
    );
    let status = venue.next_status.swap(0, Ordering::SeqCst);
    if status == 0 {
        return (StatusCode::OK, headers, "{}");
    }
    if !venue.silent_retry_after.load(Ordering::SeqCst) {
        headers.insert("retry-after", HeaderValue::from_static("30"));
    }
    let status = u16::try_from(status).expect("status");
    (StatusCode::from_u16(status).expect("status"), headers, "{}")
}

async fn serve() -> (String, Arc<Venue>) {
    let venue = Arc::new(Venue::default());
    let app = Router::new()
        .route("/depth", get(answer))
        .with_state(venue.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/depth"), venue)
}

fn client(share: f64) -> (RestClient, RestMetrics) {
    let metrics = RestMetrics::default();
    let client = RestClient::new(reqwest::Client::new(), LIMITS, share, metrics.clone());
    (client, metrics)
}

#[tokio::test]
async fn weight_is_accounted_and_the_venues_count_is_honoured() {
    let (url, venue) = serve().await;
    let (client, metrics) = client(0.5);
    client.get(COST, &url).await.expect("answered");
    client.get(COST, &url).await.expect("answered");
    assert_eq!(client.used("REQUEST_WEIGHT"), Some((10, 10)));
    assert_eq!(metrics.requests("test_venue"), 2);

    // Another process on the IP has spent most of the venue's limit: the venue says so, and
    // the next request waits although this process's share has room.
    venue.reported.store(97, Ordering::SeqCst);
    client.get(COST, &url).await.expect("answered");
    assert_eq!(client.used("REQUEST_WEIGHT"), Some((15, 97)));
    let waiting = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(COST, &url).await }
    });
    // The window is years long: the request is held, not sent.
    assert!(tokio::time::timeout(Duration::from_millis(300), waiting)
        .await
        .is_err());
    assert_eq!(venue.requests.load(Ordering::SeqCst), 3);
    assert_eq!(metrics.budget_waits("test_venue"), 1);
}

async fn a_rate_limit_answer_pauses_every_caller(status: u32) {
    let (url, venue) = serve().await;
    let (client, _) = client(1.0);
    let other_caller = client.clone();
    venue.next_status.store(status, Ordering::SeqCst);
    assert_eq!(
        client.get(COST, &url).await,
        Err(FetchError::RateLimited(Duration::from_secs(30)))
    );
    let paused_until = other_caller.paused_until().expect("paused");
    assert!(paused_until >= marketprism_model::now_ms() + 29_000);
    let waiting = tokio::spawn(async move { other_caller.get(COST, &url).await });
    assert!(tokio::time::timeout(Duration::from_millis(300), waiting)
        .await
        .is_err());
    assert_eq!(
        venue.requests.load(Ordering::SeqCst),
        1,
        "nothing sent while paused"
    );
}

#[tokio::test]
async fn a_429_pauses_every_caller_of_the_venue() {
    a_rate_limit_answer_pauses_every_caller(429).await;
}

#[tokio::test]
async fn a_418_pauses_every_caller_of_the_venue() {
    a_rate_limit_answer_pauses_every_caller(418).await;
}

#[tokio::test]
async fn the_venues_ban_answer_pauses_every_caller() {
    a_rate_limit_answer_pauses_every_caller(403).await;
}

#[tokio::test]
async fn a_ban_naming_no_retry_after_pauses_for_the_bans_own_time() {
    let (url, venue) = serve().await;
    let (client, metrics) = client(1.0);
    venue.silent_retry_after.store(true, Ordering::SeqCst);
    venue.next_status.store(403, Ordering::SeqCst);
    assert_eq!(
        client.get(COST, &url).await,
        Err(FetchError::RateLimited(Duration::from_secs(600)))
    );
    let paused_until = client.paused_until().expect("paused");
    assert!(paused_until >= marketprism_model::now_ms() + 599_000);
    assert_eq!(metrics.rate_limited("test_venue", 403), 1);

    // Any other failure status is a plain failure: nothing is paused.
    let (url, venue) = serve().await;
    let (client, _) = self::client(1.0);
    venue.next_status.store(500, Ordering::SeqCst);
    assert!(matches!(
        client.get(COST, &url).await,
        Err(FetchError::Failed(_))
    ));
    assert_eq!(client.paused_until(), None);
}

#[tokio::test]
async fn a_client_leaving_a_reserve_holds_its_requests_while_others_spend_it() {
    let (url, venue) = serve().await;
    // An allowance of 100, of which a fifth is left to the other callers.
    let (client, _) = client(1.0);
    let bulk = client.leaving(0.2);
    for _ in 0..16 {
        bulk.get(COST, &url).await.expect("answered");
    }
    let waiting = tokio::spawn({
        let url = url.clone();
        async move { bulk.get(COST, &url).await }
    });
    assert!(tokio::time::timeout(Duration::from_millis(300), waiting)
        .await
        .is_err());
    for _ in 0..4 {
        client.get(COST, &url).await.expect("the reserve");
    }
    assert_eq!(client.used("REQUEST_WEIGHT"), Some((100, 100)));
    assert_eq!(venue.requests.load(Ordering::SeqCst), 20);
}
