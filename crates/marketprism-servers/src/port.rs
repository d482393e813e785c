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

/// How far apart processes start handing out ports: room for a cluster's ports before two
/// processes' ranges meet.
const PROCESS_STRIDE: u32 = 200;

/// Ports handed out by this process so far: no two calls get overlapping ports.
static PORTS_HANDED_OUT: AtomicU32 = AtomicU32::new(0);

/// A free TCP port on 127.0.0.1, below the kernel's ephemeral range (see
/// [`free_port_block`]): no outgoing connection takes it before its server binds it.
pub fn free_port() -> io::Result<u16> {
    free_port_block(1)
}

/// The first of `len` consecutive free TCP ports on 127.0.0.1, for a deployment that
/// numbers its ports from a base.
///
/// Ports lie below the kernel's ephemeral range, so no outgoing connection takes one of
/// them as its local port between this check and the bind. Calls in a process never get
/// overlapping ports, and processes start at different places (by pid).
pub fn free_port_block(len: u16) -> io::Result<u16> {
    let len = len.max(1);
    let span = u32::from(len);
    let room = u32::from(ephemeral_start().saturating_sub(BLOCKS_START));
    if room < span {
        return Err(io::Error::other(format!(
            "no room for {len} consecutive ports below the ephemeral range"
        )));
    }
    let start = std::process::id() % (room / PROCESS_STRIDE).max(1) * PROCESS_STRIDE;
    for _ in 0..=room / span {
        let handed_out = PORTS_HANDED_OUT.fetch_add(span, Ordering::Relaxed);
        let offset = start.wrapping_add(handed_out) % room;
        if offset + span > room {
            continue;
        }
        let base = BLOCKS_START + u16::try_from(offset).unwrap_or(0);
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
    fn ports_handed_out_are_free_disjoint_and_below_the_ephemeral_range() {
        let ranges: Vec<(u16, u16)> = [8, 1, 3, 8]
            .into_iter()
            .map(|len| {
                let base = match len {
                    1 => free_port().expect("port"),
                    len => free_port_block(len).expect("block"),
                };
                (base, base + len)
            })
            .collect();
        for (index, &(start, end)) in ranges.iter().enumerate() {
            assert!(start >= BLOCKS_START);
            assert!(
                end <= ephemeral_start(),
                "{start}..{end} reaches the ephemeral range"
            );
            assert!((start..end).all(port_free));
            for &(other_start, other_end) in &ranges[index + 1..] {
                assert!(
                    end <= other_start || other_end <= start,
                    "{start}..{end} and {other_start}..{other_end} overlap"
                );
            }
        }
    }
}
