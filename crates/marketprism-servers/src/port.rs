//! Loopback TCP ports: a free one, a free block of consecutive ones, whether one is free,
//! whether one accepts connections.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long a connection attempt to a local port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// The lowest port [`free_port_block`] hands out.
const BLOCKS_START: u16 = 10_000;

/// Where the kernel's ephemeral ports begin when `/proc` does not say.
const DEFAULT_EPHEMERAL_START: u16 = 32_768;

/// Blocks handed out by this process so far: two calls never get the same block.
static BLOCKS_HANDED_OUT: AtomicU32 = AtomicU32::new(0);

/// A free TCP port on 127.0.0.1, as the kernel hands it out.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// The first of `len` consecutive free TCP ports on 127.0.0.1, for a deployment that
/// numbers its ports from a base.
///
/// Blocks lie below the kernel's ephemeral range, so no outgoing connection takes one of
/// their ports as its local port between this check and the bind. Each call in a process
/// gets a different block, and processes start at different blocks (by pid).
pub fn free_port_block(len: u16) -> io::Result<u16> {
    let len = len.max(1);
    let blocks = u32::from(ephemeral_start().saturating_sub(BLOCKS_START) / len);
    if blocks == 0 {
        return Err(io::Error::other(format!(
            "no room for {len} consecutive ports below the ephemeral range"
        )));
    }
    let first = std::process::id() % blocks;
    for _ in 0..blocks {
        let index = (first + BLOCKS_HANDED_OUT.fetch_add(1, Ordering::Relaxed)) % blocks;
        let offset = u16::try_from(index).unwrap_or(0) * len;
        let base = BLOCKS_START + offset;
        if (base..base + len).all(port_free) {
            return Ok(base);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no {len} consecutive free ports between {BLOCKS_START} and the ephemeral range"),
    ))
}

/// The first port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START)
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

    #[test]
    fn port_blocks_are_free_distinct_and_below_the_ephemeral_range() {
        let first = free_port_block(8).expect("block");
        let second = free_port_block(8).expect("block");
        assert!(first.abs_diff(second) >= 8, "{first} and {second} overlap");
        for base in [first, second] {
            assert!(base >= BLOCKS_START);
            assert!(
                base + 8 <= ephemeral_start(),
                "{base} reaches the ephemeral range"
            );
            assert!((base..base + 8).all(port_free));
        }
    }
}
