//! The status page in a real browser: `marketprism up --sim`, then headless Chromium loads
//! the gateway's `/` twice, some seconds apart, the simulator dropping the collector's
//! connections in between. The figures the page shows must be those of `/v1/status` (the
//! same feeds, books and consumers, with values close to its own; the second time the gaps
//! the drop left) and must change between the loads; a screenshot is kept in
//! `target/status-page/status.png`.
//!
//! Chromium is required: on Debian, `apt-get install chromium` (`.ci/run` installs it).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{marketprism, text};

use serde_json::Value;

/// Virtual time the page runs for before its DOM is taken: several polls of `/v1/status`.
/// Chromium's virtual time waits for network requests, so this is no wall-clock bound.
const PAGE_TIME_MS: u32 = 4_000;

/// Longest a Chromium run may take before the test fails.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(120);

/// A deployment in a state directory of its own, stopped with `down` when dropped, also
/// when the test fails (or `up` failed halfway).
struct Deployment {
    state: tempfile::TempDir,
    stopped: bool,
}

impl Deployment {
    /// `up --sim` on free ports: the deployment and its ports.
    fn up() -> (Deployment, marketprism_deploy::Ports) {
        let deployment = Deployment {
            state: tempfile::tempdir().expect("state directory"),
            stopped: false,
        };
        let base = marketprism_servers::free_port_block(marketprism_deploy::Ports::COUNT)
            .expect("free ports");
        let up = marketprism(
            &["up", "--sim", "--port-base", &base.to_string()],
            deployment.state.path(),
        );
        assert!(up.status.success(), "up failed:\n{}", text(&up));
        let ports = marketprism_deploy::Ports::from_base(base).expect("ports in range");
        (deployment, ports)
    }

    /// `down`, which must succeed.
    fn down(mut self) {
        self.stopped = true;
        let down = marketprism(&["down"], self.state.path());
        assert!(down.status.success(), "down failed:\n{}", text(&down));
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = marketprism(&["down"], self.state.path());
        }
    }
}

/// Chromium's executable, or a failure saying how to install it.
fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "chromium is not installed: the status page test needs a real browser; on \
             Debian run `apt-get install chromium` (as .ci/run does)"
        )
    })
}

/// Runs headless Chromium on `url` with `extra` arguments, its profile in `profile`, and
/// returns what it wrote to stdout.
fn headless(chromium: &Path, profile: &Path, url: &str, extra: &[String]) -> String {
    let out_path = profile.join("stdout");
    let err_path = profile.join("stderr");
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless=new",
            // Root (as in CI containers) cannot run Chromium's sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.join("profile").display()
        ))
        .arg(format!("--virtual-time-budget={PAGE_TIME_MS}"))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"));
    let mut child = command.spawn().expect("chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("chromium runs") {
            break status;
        }
        if started.elapsed() > CHROMIUM_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {CHROMIUM_DEADLINE:?}:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "chromium failed ({status}):\n{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    std::fs::read_to_string(&out_path).expect("chromium's output")
}

/// The attributes of every start tag in `dom` that has attribute `name`, in order.
fn tags_with(dom: &str, name: &str) -> Vec<BTreeMap<String, String>> {
    let needle = format!(" {name}=\"");
    dom.match_indices(&needle)
        .filter_map(|(at, _)| {
            let start = dom[..at].rfind('<')?;
            let end = at + dom[at..].find('>')?;
            Some(attributes(&dom[start..end]))
        })
        .collect()
}

/// The `name="value"` pairs of start tag `tag` (from its `<`, without its `>`), as Chromium
/// writes them: double quotes, `&amp;` and `&quot;` escaped.
fn attributes(tag: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut rest = tag;
    while let Some(equals) = rest.find("=\"") {
        let name = rest[..equals]
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or_default()
            .to_owned();
        let value_start = equals + 2;
        let Some(length) = rest[value_start..].find('"') else {
            break;
        };
        let value = rest[value_start..value_start + length]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        found.insert(name, value);
        rest = &rest[value_start + length + 1..];
    }
    found
}

/// What one load of the page showed.
#[derive(Debug)]
struct Shown {
    /// `data-updated-ms`: the `now_ms` of the answer shown.
    updated_ms: i64,
    /// Each feed's row, by `data-feed`.
    feeds: BTreeMap<String, BTreeMap<String, String>>,
    /// Each book's row, by `data-book`.
    books: BTreeMap<String, BTreeMap<String, String>>,
    /// Each consumer's row, by `data-consumer`.
    consumers: BTreeMap<String, BTreeMap<String, String>>,
    /// Every gap row.
    gaps: Vec<BTreeMap<String, String>>,
}

fn number<T: std::str::FromStr>(row: &BTreeMap<String, String>, name: &str) -> T {
    row.get(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not a number in {row:?}"))
}

fn keyed(
    rows: Vec<BTreeMap<String, String>>,
    key: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    rows.into_iter()
        .map(|row| (row[key].clone(), row))
        .collect()
}

/// Loads the page and reads its figures.
fn load(chromium: &Path, url: &str) -> Shown {
    let profile = tempfile::tempdir().expect("profile directory");
    let dom = headless(chromium, profile.path(), url, &["--dump-dom".to_owned()]);
    let error = tags_with(&dom, "id")
        .into_iter()
        .find(|tag| tag.get("id").map(String::as_str) == Some("error"))
        .unwrap_or_else(|| panic!("no error box in the page:\n{dom}"));
    assert!(
        error.contains_key("hidden"),
        "the page shows an error:\n{dom}"
    );
    let updated = tags_with(&dom, "data-updated-ms");
    assert_eq!(updated.len(), 1, "{dom}");
    Shown {
        updated_ms: number(&updated[0], "data-updated-ms"),
        feeds: keyed(tags_with(&dom, "data-feed"), "data-feed"),
        books: keyed(tags_with(&dom, "data-book"), "data-book"),
        consumers: keyed(tags_with(&dom, "data-consumer"), "data-consumer"),
        gaps: tags_with(&dom, "data-gap"),
    }
}

/// `GET url` as JSON.
fn get_json(url: &str) -> Value {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let response = reqwest::get(url).await.expect("the gateway answers");
        assert_eq!(response.status().as_u16(), 200, "{url}");
        response.json().await.expect("JSON")
    })
}

/// `POST url`, which must succeed.
fn post(url: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(url)
            .send()
            .await
            .expect("answered")
            .status()
    });
    assert!(status.is_success(), "{url}: {status}");
}

/// The gaps of a `/v1/status` answer, open or recent, as the page names them: feed, reason
/// and window.
fn api_gaps(status: &Value) -> BTreeSet<(String, String, i64, i64)> {
    ["open", "recent"]
        .into_iter()
        .flat_map(|list| status["gaps"][list].as_array().cloned().unwrap_or_default())
        .map(|gap| {
            (
                feed_name(&gap),
                gap["reason"].as_str().expect("reason").to_owned(),
                gap["from_ms"].as_i64().expect("from"),
                gap["to_ms"].as_i64().expect("to"),
            )
        })
        .collect()
}

/// The gaps a load of the page showed, named as [`api_gaps`] names them.
fn shown_gaps(shown: &Shown) -> BTreeSet<(String, String, i64, i64)> {
    shown
        .gaps
        .iter()
        .map(|gap| {
            (
                gap["data-gap-feed"].clone(),
                gap["data-reason"].clone(),
                number(gap, "data-from-ms"),
                number(gap, "data-to-ms"),
            )
        })
        .collect()
}

/// Asks `/v1/status` at `api` until it lists a gap; the answer.
fn wait_for_a_gap(api: &str) -> Value {
    let started = Instant::now();
    loop {
        let status = get_json(api);
        if !api_gaps(&status).is_empty() {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no gap recorded within a minute of dropping the connections: {status}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn feed_name(entry: &Value) -> String {
    format!(
        "{} {} {}",
        entry["exchange"].as_str().expect("exchange"),
        entry["market"].as_str().expect("market"),
        entry["symbol"].as_str().expect("symbol")
    )
}

/// `a` and `b` differ by at most half the larger, or by 1 when both are small: figures taken
/// a moment apart.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= (0.5 * a.abs().max(b.abs())).max(1.0)
}

/// The page shows what `/v1/status` answers a moment later.
fn assert_consistent(shown: &Shown, status: &Value) {
    let now_ms = status["now_ms"].as_i64().expect("now_ms");
    assert!(shown.updated_ms <= now_ms, "{shown:?}\n{status}");

    let feeds: BTreeMap<String, &Value> = status["feeds"]
        .as_array()
        .expect("feeds")
        .iter()
        .map(|feed| (feed_name(feed), feed))
        .collect();
    assert!(!feeds.is_empty(), "no feed is recorded: {status}");
    assert_eq!(
        shown.feeds.keys().collect::<BTreeSet<_>>(),
        feeds.keys().collect::<BTreeSet<_>>(),
        "{shown:?}\n{status}"
    );
    for (name, row) in &shown.feeds {
        let feed = feeds[name];
        let last: i64 = number(row, "data-last-received-ms");
        let age: f64 = number(row, "data-age");
        let rate: f64 = number(row, "data-rate");
        let events: u64 = number(row, "data-events");
        // The page's age is that of its own answer; the API's answer is as new or newer.
        assert!(
            (age - (shown.updated_ms - last) as f64 / 1000.0).abs() < 0.001,
            "{name}: {row:?}"
        );
        assert!(
            last <= feed["last_received_ms"].as_i64().expect("time"),
            "{name}: {row:?}\n{feed}"
        );
        let api_rate = feed["events_per_second"].as_f64().expect("rate");
        assert!(close(rate, api_rate), "{name}: {rate} vs {api_rate}");
        assert!(
            (rate - events as f64 / 60.0).abs() < 1e-9,
            "{name}: {row:?}"
        );
    }

    let books: BTreeMap<String, &Value> = status["books"]
        .as_array()
        .expect("books")
        .iter()
        .map(|book| (feed_name(book), book))
        .collect();
    assert!(!books.is_empty(), "no book is recorded: {status}");
    assert_eq!(
        shown.books.keys().collect::<BTreeSet<_>>(),
        books.keys().collect::<BTreeSet<_>>(),
        "{shown:?}\n{status}"
    );
    for (name, row) in &shown.books {
        let bid: f64 = number(row, "data-bid-price");
        let ask: f64 = number(row, "data-ask-price");
        assert!(bid < ask, "{name}: crossed book shown: {row:?}");
        let _: f64 = number(row, "data-bid-size");
        let _: f64 = number(row, "data-ask-size");
        let api_bid: f64 = books[name]["bid"]["price"]
            .as_str()
            .and_then(|price| price.parse().ok())
            .expect("a bid");
        assert!(
            (bid - api_bid).abs() <= 0.05 * api_bid,
            "{name}: {bid} vs {api_bid}"
        );
    }

    let consumers: BTreeSet<&str> = status["consumers"]
        .as_array()
        .expect("consumers")
        .iter()
        .map(|consumer| consumer["durable"].as_str().expect("durable"))
        .collect();
    assert_eq!(
        shown
            .consumers
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        consumers,
        "{shown:?}\n{status}"
    );
    let storage = &shown.consumers["marketprism-storage"];
    let _: u64 = number(storage, "data-pending");
    let _: u64 = number(storage, "data-awaiting-ack");

    for gap in &shown.gaps {
        let list = &gap["data-gap"];
        assert!(list == "open" || list == "recent", "{gap:?}");
        assert_eq!(list == "open", gap["data-status"] == "open", "{gap:?}");
        assert!(!gap["data-reason"].is_empty(), "{gap:?}");
    }
}

#[test]
fn the_status_page_shows_the_api_figures_and_updates_them() {
    let chromium = chromium();
    let (deployment, ports) = Deployment::up();
    let page = format!("http://127.0.0.1:{}/", ports.gateway);
    let api = format!("http://127.0.0.1:{}/v1/status", ports.gateway);

    let first = load(&chromium, &page);
    assert_consistent(&first, &get_json(&api));

    // The simulator drops the collector's connections: each feed gets a gap, which the next
    // load shows (open, or already closed or filled).
    post(&format!(
        "http://127.0.0.1:{}/control/disconnect",
        ports.sim
    ));
    wait_for_a_gap(&api);
    std::thread::sleep(Duration::from_secs(2));
    let second = load(&chromium, &page);
    let status = get_json(&api);
    assert_consistent(&second, &status);
    let gaps = shown_gaps(&second);
    assert!(!gaps.is_empty(), "the page shows no gap: {second:?}");
    assert!(
        gaps.is_subset(&api_gaps(&status)),
        "the page shows gaps /v1/status does not list: {gaps:?}\n{status}"
    );
    assert!(
        second.updated_ms > first.updated_ms,
        "the page was not updated: {first:?}\n{second:?}"
    );
    let newer = second.feeds.iter().any(|(name, row)| {
        first.feeds.get(name).is_some_and(|before| {
            number::<i64>(row, "data-last-received-ms")
                > number::<i64>(before, "data-last-received-ms")
        })
    });
    assert!(newer, "no feed got a newer event: {first:?}\n{second:?}");

    let screenshot_dir = marketprism_testkit::target_dir().join("status-page");
    std::fs::create_dir_all(&screenshot_dir).expect("screenshot directory");
    let screenshot = screenshot_dir.join("status.png");
    let _ = std::fs::remove_file(&screenshot);
    let profile = tempfile::tempdir().expect("profile directory");
    headless(
        &chromium,
        profile.path(),
        &page,
        &[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,900".to_owned(),
        ],
    );
    let png = std::fs::read(&screenshot).expect("the screenshot is written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // An empty 1280x900 page compresses to a few kilobytes; tables of figures do not.
    assert!(png.len() > 20_000, "a screenshot of {} bytes", png.len());

    deployment.down();
}
