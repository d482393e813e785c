//! Loopback TCP ports: a free one, whether one is free, whether one accepts connections.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

/// How long a connection attempt to a local port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// A free TCP port on 127.0.0.1, as the kernel hands it out.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// True when nothing listens on `127.0.0.1:port`.
pub fn port_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// True when something accepts connections on `127.0.0.1:port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), CONNECT_TIMEOUT).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_open_and_not_free() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("address").port();
        assert!(port_open(port));
        assert!(!port_free(port));
        drop(listener);
        // A socket bound but not listening holds its port: closed, and no other test takes it.
        let unlistened = tokio::net::TcpSocket::new_v4().expect("socket");
        unlistened
            .bind((Ipv4Addr::LOCALHOST, 0).into())
            .expect("bind");
        let held = unlistened.local_addr().expect("address").port();
        assert!(!port_open(held));
        assert!(!port_free(held));
        // A port just released is free, unless a test running alongside took it meanwhile:
        // a few fresh ports make that race irrelevant.
        assert!((0..3).any(|_| free_port().is_ok_and(port_free)));
    }
}
