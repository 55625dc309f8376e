//! Addresses of the media ports: which UDP port a new peer connection
//! takes, and what address its candidates announce.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

use super::MediaConfig;

/// Hands out the configured UDP ports in turn, skipping those in use.
#[derive(Debug)]
pub struct Ports {
    ip: IpAddr,
    first: u16,
    count: u16,
    next: AtomicU32,
}

impl Ports {
    pub fn new(config: &MediaConfig) -> Self {
        Self {
            ip: config.udp.ip(),
            first: config.udp.port(),
            count: config.udp_ports.max(1),
            next: AtomicU32::new(0),
        }
    }

    /// Addresses to try for the next peer connection, in order: every port
    /// of the range once, starting after the last one handed out (a port
    /// just freed is not reused at once). Port 0: one address, any port.
    pub fn candidates(&self) -> Vec<SocketAddr> {
        if self.first == 0 {
            return vec![SocketAddr::new(self.ip, 0)];
        }
        let count = u32::from(self.count);
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        (0..count)
            .filter_map(|i| {
                let offset = u16::try_from((start + i) % count).ok()?;
                self.first
                    .checked_add(offset)
                    .map(|p| SocketAddr::new(self.ip, p))
            })
            .collect()
    }

    /// Whether `addr` can be bound now (it may be taken again before the
    /// peer connection binds it; the caller then tries the next one).
    pub fn free(addr: SocketAddr) -> bool {
        UdpSocket::bind(addr).is_ok()
    }
}

/// The address candidates announce instead of the bound one: the configured
/// public address, else (when bound to the unspecified address) the address
/// of the interface that routes outwards, else none (announce as bound).
pub fn announced_ip(config: &MediaConfig) -> Option<IpAddr> {
    if let Some(ip) = config.public_ip {
        return Some(ip);
    }
    if !config.udp.ip().is_unspecified() {
        return None;
    }
    // Connecting a UDP socket sends nothing; it only picks a route.
    let outward = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified());
    Some(outward.unwrap_or(IpAddr::from([127, 0, 0, 1])))
}

/// A candidate attribute (`candidate:… 1 udp PRIO IP PORT typ host …`) with
/// its address replaced by `ip` when it is a host candidate.
pub fn rewrite_candidate(candidate: &str, ip: IpAddr) -> String {
    let fields: Vec<&str> = candidate.split(' ').collect();
    // foundation component transport priority address port "typ" type
    if fields.len() < 8 || fields[6] != "typ" || fields[7] != "host" {
        return candidate.to_owned();
    }
    let ip = ip.to_string();
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| if i == 4 { ip.as_str() } else { f })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An SDP with its host candidates' addresses replaced by `ip`.
pub fn rewrite_sdp(sdp: &str, ip: IpAddr) -> String {
    let mut out = String::with_capacity(sdp.len() + 64);
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let end = &line[body.len()..];
        if let Some(candidate) = body.strip_prefix("a=")
            && candidate.starts_with("candidate:")
        {
            out.push_str("a=");
            out.push_str(&rewrite_candidate(candidate, ip));
            out.push_str(end);
            continue;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_candidates_take_the_announced_address() {
        let ip: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(
            rewrite_candidate(
                "candidate:1 1 udp 2130706431 0.0.0.0 7882 typ host ufrag abc",
                ip
            ),
            "candidate:1 1 udp 2130706431 203.0.113.9 7882 typ host ufrag abc"
        );
        // Reflexive and relayed candidates already carry a public address.
        let srflx =
            "candidate:2 1 udp 1694498815 198.51.100.1 40000 typ srflx raddr 0.0.0.0 rport 7882";
        assert_eq!(rewrite_candidate(srflx, ip), srflx);
        assert_eq!(rewrite_candidate("garbage", ip), "garbage");
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=candidate:1 1 udp 2130706431 10.0.0.5 7883 typ host\r\na=mid:0\r\n";
        assert_eq!(
            rewrite_sdp(sdp, ip),
            "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=candidate:1 1 udp 2130706431 203.0.113.9 7883 typ host\r\na=mid:0\r\n"
        );
    }

    #[test]
    fn ports_rotate_through_the_range() {
        let config = MediaConfig {
            udp: "127.0.0.1:40000".parse().expect("addr"),
            udp_ports: 3,
            public_ip: None,
            lease_ms: 10_000,
        };
        let ports = Ports::new(&config);
        let first: Vec<u16> = ports.candidates().iter().map(|a| a.port()).collect();
        assert_eq!(first, vec![40000, 40001, 40002]);
        let second: Vec<u16> = ports.candidates().iter().map(|a| a.port()).collect();
        assert_eq!(second, vec![40001, 40002, 40000]);
        let any = Ports::new(&MediaConfig::loopback());
        assert_eq!(
            any.candidates(),
            vec!["127.0.0.1:0".parse::<SocketAddr>().expect("addr")]
        );
    }

    #[test]
    fn the_announced_address_follows_the_configuration() {
        let mut config = MediaConfig::loopback();
        assert_eq!(announced_ip(&config), None);
        config.public_ip = Some("203.0.113.9".parse().expect("ip"));
        assert_eq!(announced_ip(&config), config.public_ip);
        config.public_ip = None;
        config.udp = "0.0.0.0:7882".parse().expect("addr");
        assert!(announced_ip(&config).is_some_and(|ip| !ip.is_unspecified()));
    }
}
