//! The simulator against real WebSocket and HTTP clients.

mod coinbase_exchange;
mod instruments;
mod listings;
mod protocol;
mod replay;
mod ws_limits;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use marketprism_sim::{Config, Report};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Starts a simulator; returns its address and the token that stops it.
pub(crate) async fn start(config: Config) -> (String, CancellationToken) {
    let shutdown = CancellationToken::new();
    let (address, server) = marketprism_sim::bind(config, shutdown.clone())
        .await
        .expect("bind");
    tokio::spawn(server);
    (format!("127.0.0.1:{}", address.port()), shutdown)
}

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket to `path` of the simulator at `address`.
pub(crate) async fn connect(address: &str, path: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}{path}"))
        .await
        .expect("connect");
    socket
}

/// Sends `request` as a text frame.
pub(crate) async fn send(socket: &mut Socket, request: &Value) {
    socket
        .send(Message::text(request.to_string()))
        .await
        .expect("send");
}

/// The next text frame, parsed; panics after 5 s without one.
pub(crate) async fn next_text(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("open")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

/// Sends an HTTP/1.0 request without a body; returns the status code and the body.
pub(crate) async fn http(address: &str, method: &str, path: &str) -> (u16, String) {
    request(address, method, path, None).await
}

/// Sends an HTTP/1.0 request with an optional JSON body; returns the status code and the
/// body.
pub(crate) async fn request(
    address: &str,
    method: &str,
    path: &str,
    json: Option<&Value>,
) -> (u16, String) {
    let body = json.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let address = address.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        stream.write_all(request.as_bytes()).expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("status code");
        (status, body.to_owned())
    })
    .await
    .expect("join")
}

/// The simulator's report.
pub(crate) async fn report(address: &str) -> Report {
    let (_, body) = http(address, "GET", "/control/report").await;
    serde_json::from_str(&body).expect("report JSON")
}
