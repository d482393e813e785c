//! Readiness of a started server: a port that accepts connections, HTTP endpoints that
//! answer with success, or ZooKeeper serving clients, checked once within a time bound or
//! polled until it holds.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

use crate::http;
use crate::port::port_open;
use crate::zookeeper;

/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(50);

/// How to tell that a server is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Something accepts TCP connections on `127.0.0.1:port`. The kernel accepts them for a
    /// frozen process too: prefer an HTTP check where the server has one.
    Port(u16),
    /// `GET url` answers with a success status, e.g. `http://127.0.0.1:8123/ping`.
    Http(String),
    /// Each `GET url` answers with a success status, in order, e.g. ClickHouse's `/ping`
    /// and then a query, each sent with `credentials` when given.
    HttpEach {
        /// The endpoints, in order.
        urls: Vec<String>,
        /// HTTP basic authentication for every request.
        credentials: Option<Credentials>,
    },
    /// ZooKeeper on `127.0.0.1:port` serves clients: its `srvr` command reports a mode. It
    /// accepts connections, and answers `ruok`, before it accepts sessions.
    ZooKeeper(u16),
}

/// A user name and password for HTTP basic authentication; `Debug` does not show the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The outcome of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Whether the server is ready.
    pub ready: bool,
    /// What was seen, e.g. `port 4222 accepting`, `http://127.0.0.1:9102/ready answered
    /// 503 Service Unavailable` or `timed out after 3 s answering http://127.0.0.1:9102/ready`.
    pub detail: String,
}

/// Why a process did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// It exited first.
    #[error("exited ({0})")]
    Exited(ExitStatus),
    /// It still runs but was not ready in time.
    #[error("not ready after {0:?}")]
    TimedOut(Duration),
}

impl Readiness {
    /// Checks once, giving up (not ready, "timed out after ...") when the server has not
    /// answered within `timeout`.
    pub fn probe(&self, timeout: Duration) -> Probe {
        http::off_runtime(|| Prober::new(self).probe(timeout))
    }
}

/// Polls `readiness` until it holds, `child` exits or `timeout` passes.
pub fn wait_ready(
    child: &mut Child,
    readiness: &Readiness,
    timeout: Duration,
) -> Result<(), NotReady> {
    http::off_runtime(|| {
        let prober = Prober::new(readiness);
        let started = Instant::now();
        loop {
            if prober.probe(http::REQUEST_TIMEOUT).ready {
                return Ok(());
            }
            // The child handle, not the pid, tells whether it exited: right after the fork
            // the pid's command line is still this process's.
            if let Ok(Some(status)) = child.try_wait() {
                return Err(NotReady::Exited(status));
            }
            if started.elapsed() > timeout {
                return Err(NotReady::TimedOut(timeout));
            }
            std::thread::sleep(POLL);
        }
    })
}

/// Checks one readiness condition, holding one HTTP client for every check of an endpoint.
enum Prober<'a> {
    Port(u16),
    ZooKeeper(u16),
    Http {
        urls: &'a [String],
        credentials: Option<&'a Credentials>,
        client: reqwest::Result<Client>,
    },
}

impl<'a> Prober<'a> {
    fn new(readiness: &'a Readiness) -> Self {
        let (urls, credentials) = match readiness {
            Readiness::Port(port) => return Prober::Port(*port),
            Readiness::ZooKeeper(port) => return Prober::ZooKeeper(*port),
            Readiness::Http(url) => (std::slice::from_ref(url), None),
            Readiness::HttpEach { urls, credentials } => (urls.as_slice(), credentials.as_ref()),
        };
        Prober::Http {
            urls,
            credentials,
            client: http::client(),
        }
    }

    /// Checks once within `timeout` (a port check takes at most its connect timeout).
    fn probe(&self, timeout: Duration) -> Probe {
        match self {
            Prober::Port(port) => {
                let open = port_open(*port);
                Probe {
                    ready: open,
                    detail: format!("port {port} {}", if open { "accepting" } else { "closed" }),
                }
            }
            Prober::ZooKeeper(port) => match zookeeper::mode(*port, timeout) {
                Some(mode) => Probe {
                    ready: true,
                    detail: format!("ZooKeeper on port {port} serving ({mode})"),
                },
                None => not_ready(format!("ZooKeeper on port {port} not serving clients")),
            },
            Prober::Http {
                urls,
                credentials,
                client,
            } => {
                let client = match client {
                    Ok(client) => client,
                    Err(error) => return not_ready(format!("no HTTP client: {error}")),
                };
                let deadline = Instant::now() + timeout;
                for url in *urls {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let mut request = client.get(url).timeout(remaining);
                    if let Some(credentials) = credentials {
                        request =
                            request.basic_auth(&credentials.user, Some(&credentials.password));
                    }
                    match request.send() {
                        Ok(response) if response.status().is_success() => {}
                        Ok(response) => {
                            let status = response.status();
                            // A service's `/ready` says why in its body: keep its first line.
                            let reason = response.text().unwrap_or_default();
                            let reason = reason.lines().next().unwrap_or_default().trim();
                            return not_ready(if reason.is_empty() {
                                format!("{url} answered {status}")
                            } else {
                                format!("{url} answered {status}: {}", truncated(reason))
                            });
                        }
                        Err(error) if error.is_timeout() => {
                            return not_ready(format!(
                                "timed out after {} s answering {url}",
                                timeout.as_secs_f64()
                            ))
                        }
                        Err(error) => return not_ready(format!("{url}: {error}")),
                    }
                }
                Probe {
                    ready: true,
                    detail: format!("{} ok", urls.join(", ")),
                }
            }
        }
    }
}

/// Most characters of an answer's reason kept in a probe's detail.
const REASON_CHARS: usize = 200;

/// `reason` cut to [`REASON_CHARS`] characters, marked with `…` when cut.
fn truncated(reason: &str) -> String {
    match reason.char_indices().nth(REASON_CHARS) {
        Some((end, _)) => format!("{}…", &reason[..end]),
        None => reason.to_owned(),
    }
}

/// A failed check.
fn not_ready(detail: String) -> Probe {
    Probe {
        ready: false,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::process::Command;

    use super::*;

    /// Answers every request on `listener` with `status_line` and `body`, `requests` times.
    fn answer(
        listener: TcpListener,
        status_line: &'static str,
        body: &'static str,
        requests: usize,
    ) {
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.expect("connection");
                let mut request = [0_u8; 1024];
                let _ = stream.read(&mut request);
                let _ = write!(
                    stream,
                    "{status_line}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
    }

    /// A listener on a free loopback port, and its port.
    fn bound() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        (listener, port)
    }

    /// Bound for probes in tests.
    const TIMEOUT: Duration = Duration::from_secs(2);

    #[test]
    fn probes_ports_and_http_endpoints() {
        let (listener, port) = bound();
        assert_eq!(
            Readiness::Port(port).probe(TIMEOUT),
            Probe {
                ready: true,
                detail: format!("port {port} accepting")
            }
        );
        drop(listener);
        // A socket bound but not listening holds its port, so no other test can take it.
        let unlistened = tokio::net::TcpSocket::new_v4().expect("socket");
        unlistened.bind(([127, 0, 0, 1], 0).into()).expect("bind");
        let port = unlistened.local_addr().expect("address").port();
        assert_eq!(
            Readiness::Port(port).probe(TIMEOUT).detail,
            format!("port {port} closed")
        );

        let (listener, port) = bound();
        let url = format!("http://127.0.0.1:{port}/ready");
        answer(listener, "HTTP/1.1 503 Service Unavailable", "", 1);
        let unavailable = Readiness::Http(url.clone()).probe(TIMEOUT);
        assert!(!unavailable.ready);
        assert_eq!(
            unavailable.detail,
            format!("{url} answered 503 Service Unavailable")
        );

        // A service's reason is kept: the body's first line.
        let (listener, port) = bound();
        let url = format!("http://127.0.0.1:{port}/ready");
        answer(
            listener,
            "HTTP/1.1 503 Service Unavailable",
            "not ready: no commit for 35 s\nmore\n",
            1,
        );
        assert_eq!(
            Readiness::Http(url.clone()).probe(TIMEOUT).detail,
            format!("{url} answered 503 Service Unavailable: not ready: no commit for 35 s")
        );

        let (listener, port) = bound();
        let url = format!("http://127.0.0.1:{port}/ping");
        answer(listener, "HTTP/1.1 200 OK", "Ok.\n", 2);
        assert_eq!(
            Readiness::Http(url.clone()).probe(TIMEOUT).detail,
            format!("{url} ok")
        );
        assert_eq!(http::get_text(&url).expect("answer"), "Ok.\n");

        let (listener, port) = bound();
        let urls = vec![
            format!("http://127.0.0.1:{port}/ping"),
            format!("http://127.0.0.1:{port}/?query=SELECT%201"),
        ];
        answer(listener, "HTTP/1.1 200 OK", "Ok.\n", 2);
        assert_eq!(
            Readiness::HttpEach {
                urls: urls.clone(),
                credentials: None,
            }
            .probe(TIMEOUT)
            .detail,
            format!("{} ok", urls.join(", "))
        );
    }

    #[test]
    fn credentials_go_with_every_request_and_stay_out_of_debug_output() {
        let (listener, port) = bound();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(2) {
                let mut stream = stream.expect("connection");
                let mut request = [0_u8; 1024];
                let read = stream.read(&mut request).unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..read]).to_lowercase();
                // base64("reader:s3cret")
                let status = if request.contains("authorization: basic cmvhzgvyonmzy3jlda==") {
                    "HTTP/1.1 200 OK"
                } else {
                    "HTTP/1.1 401 Unauthorized"
                };
                let _ = write!(stream, "{status}\r\ncontent-length: 4\r\n\r\nOk.\n");
            }
        });
        let credentials = Credentials {
            user: "reader".to_owned(),
            password: "s3cret".to_owned(),
        };
        assert!(!format!("{credentials:?}").contains("s3cret"));
        let readiness = Readiness::HttpEach {
            urls: vec![
                format!("http://127.0.0.1:{port}/ping"),
                format!("http://127.0.0.1:{port}/?query=SELECT%201"),
            ],
            credentials: Some(credentials),
        };
        let probe = readiness.probe(TIMEOUT);
        assert!(probe.ready, "{}", probe.detail);
        assert!(!probe.detail.contains("s3cret"));
    }

    #[test]
    fn a_server_that_accepts_but_never_answers_times_out() {
        // The kernel completes connections to a listening socket nobody accepts from, as it
        // does for a frozen (SIGSTOPped) server.
        let (listener, port) = bound();
        let url = format!("http://127.0.0.1:{port}/ready");
        let probe = Readiness::Http(url.clone()).probe(Duration::from_millis(500));
        assert_eq!(
            probe,
            Probe {
                ready: false,
                detail: format!("timed out after 0.5 s answering {url}")
            }
        );
        assert!(Readiness::Port(port).probe(TIMEOUT).ready, "the port lies");
        drop(listener);
    }

    #[test]
    fn waiting_ends_when_the_process_exits() {
        let port = crate::free_port().expect("port");
        let mut child = Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .expect("spawns");
        let error = wait_ready(&mut child, &Readiness::Port(port), Duration::from_secs(30))
            .expect_err("never ready");
        assert!(matches!(error, NotReady::Exited(status) if status.code() == Some(3)));
    }

    #[tokio::test]
    async fn waiting_works_on_an_async_runtime_thread() {
        let mut child = Command::new("sleep").arg("5").spawn().expect("spawns");
        let url = format!(
            "http://127.0.0.1:{}/ready",
            crate::free_port().expect("port")
        );
        let error = wait_ready(
            &mut child,
            &Readiness::Http(url),
            Duration::from_millis(200),
        )
        .expect_err("nothing answers");
        assert!(matches!(error, NotReady::TimedOut(_)));
        let _ = child.kill();
        let _ = child.wait();
    }
}
