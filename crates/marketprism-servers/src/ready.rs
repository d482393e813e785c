//! Readiness of a started server: a port that accepts connections or an HTTP endpoint that
//! answers with success, checked once or polled until it holds.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

use crate::http;
use crate::port::port_open;

/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(50);

/// How to tell that a server is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Something accepts TCP connections on `127.0.0.1:port`.
    Port(u16),
    /// `GET url` answers with a success status, e.g. `http://127.0.0.1:8123/ping`.
    Http(String),
}

/// The outcome of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Whether the server is ready.
    pub ready: bool,
    /// What was seen, e.g. `port 4222 accepting` or `http://127.0.0.1:9102/ready answered
    /// 503 Service Unavailable`.
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
    /// Checks once.
    pub fn probe(&self) -> Probe {
        http::off_runtime(|| Prober::new(self).probe())
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
            if prober.probe().ready {
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
    Http {
        url: &'a str,
        client: reqwest::Result<Client>,
    },
}

impl<'a> Prober<'a> {
    fn new(readiness: &'a Readiness) -> Self {
        match readiness {
            Readiness::Port(port) => Prober::Port(*port),
            Readiness::Http(url) => Prober::Http {
                url,
                client: http::client(),
            },
        }
    }

    fn probe(&self) -> Probe {
        match self {
            Prober::Port(port) => {
                let open = port_open(*port);
                Probe {
                    ready: open,
                    detail: format!("port {port} {}", if open { "accepting" } else { "closed" }),
                }
            }
            Prober::Http { url, client } => {
                let answer = match client {
                    Ok(client) => client.get(*url).send().map_err(|error| error.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                match answer {
                    Ok(response) if response.status().is_success() => Probe {
                        ready: true,
                        detail: format!("{url} ok"),
                    },
                    Ok(response) => Probe {
                        ready: false,
                        detail: format!("{url} answered {}", response.status()),
                    },
                    Err(error) => Probe {
                        ready: false,
                        detail: format!("{url}: {error}"),
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::process::Command;

    use super::*;

    /// Answers every request on `listener` with `status_line`, `requests` times.
    fn answer(listener: TcpListener, status_line: &'static str, requests: usize) {
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.expect("connection");
                let mut request = [0_u8; 1024];
                let _ = stream.read(&mut request);
                let _ = write!(stream, "{status_line}\r\ncontent-length: 4\r\n\r\nOk.\n");
            }
        });
    }

    /// A listener on a free loopback port, and its port.
    fn bound() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        (listener, port)
    }

    #[test]
    fn probes_ports_and_http_endpoints() {
        let (listener, port) = bound();
        assert_eq!(
            Readiness::Port(port).probe(),
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
            Readiness::Port(port).probe().detail,
            format!("port {port} closed")
        );

        let (listener, port) = bound();
        let url = format!("http://127.0.0.1:{port}/ready");
        answer(listener, "HTTP/1.1 503 Service Unavailable", 1);
        let unavailable = Readiness::Http(url.clone()).probe();
        assert!(!unavailable.ready);
        assert_eq!(
            unavailable.detail,
            format!("{url} answered 503 Service Unavailable")
        );

        let (listener, port) = bound();
        let url = format!("http://127.0.0.1:{port}/ping");
        answer(listener, "HTTP/1.1 200 OK", 2);
        assert_eq!(
            Readiness::Http(url.clone()).probe().detail,
            format!("{url} ok")
        );
        assert_eq!(http::get_text(&url).expect("answer"), "Ok.\n");
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
