//! Free loopback ports and port layouts.

use std::net::{TcpListener, UdpSocket};

/// A TCP port free on 127.0.0.1 right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether every port of the seed's layout at `base` is free on each of `ips`.
pub fn ports_free(ips: &[&str], base: u16) -> bool {
    ips.iter().all(|ip| {
        (0..3).all(|i| TcpListener::bind((*ip, base + i)).is_ok())
            && UdpSocket::bind((*ip, base + 3)).is_ok()
    })
}

/// The first of the usual port layouts free on every one of `ips`.
pub fn free_base(ips: &[&str]) -> u16 {
    [18180u16, 28180, 38180, 48180]
        .into_iter()
        .find(|b| ports_free(ips, *b))
        .expect("no free port layout")
}
