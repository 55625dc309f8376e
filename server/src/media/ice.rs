//! ICE servers for participants' peer connections: the STUN and TURN
//! servers of the configuration (`--ice-servers`), and time-limited TURN
//! credentials minted with coturn's REST-API shared-secret scheme
//! (`--turn-secret`, `--turn-ttl-secs`).
//!
//! A credential is `username = "{expiry}:{user_id}"` (Unix seconds) and
//! `credential = base64(HMAC-SHA1(secret, username))`; coturn
//! (`--use-auth-secret --static-auth-secret=…`) recomputes it and refuses
//! it after `expiry`. The secret itself never leaves this module: it is not
//! logged (its `Debug` is redacted) and not sent; only what one participant
//! needs for `ttl` is, and only to a participant (the room socket's
//! snapshot and its renewals).

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use jiliang_protocol::rooms::{IceServer, IceTransportPolicy, MediaIce};
use sha1::Sha1;
use uuid::Uuid;

use crate::config::Secret;

/// Why the ICE settings cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IceError {
    #[error(
        "ICE server URL {0:?}: expected stun:, stuns:, turn: or turns: HOST[:PORT][?transport=udp|tcp]"
    )]
    Url(String),
    #[error(
        "--ice-servers names TURN servers but --turn-secret is not set (coturn's static-auth-secret)"
    )]
    TurnWithoutSecret,
    #[error("--ice-transport-policy relay needs a turn: or turns: URL in --ice-servers")]
    RelayWithoutTurn,
}

/// One `stun:`/`turn:` URL of the configuration, checked (RFC 7064/7065).
#[derive(Clone, PartialEq, Eq)]
pub struct IceUrl(String);

impl IceUrl {
    /// Parse a URL as browsers accept it in `iceServers`: the scheme, a host
    /// (name, IPv4 or `[IPv6]`), an optional port, and for TURN an optional
    /// `?transport=udp|tcp`.
    pub fn parse(text: &str) -> Result<Self, IceError> {
        let bad = || IceError::Url(text.to_owned());
        let text = text.trim();
        let (scheme, rest) = text.split_once(':').ok_or_else(bad)?;
        let turn = match scheme {
            "stun" | "stuns" => false,
            "turn" | "turns" => true,
            _ => return Err(bad()),
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        match query {
            None => {}
            Some("transport=udp" | "transport=tcp") if turn => {}
            Some(_) => return Err(bad()),
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (addr, after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
        if !host_ok || !port_ok || authority.starts_with("//") {
            return Err(bad());
        }
        Ok(Self(text.to_owned()))
    }

    /// A TURN URL (needs credentials).
    pub fn is_turn(&self) -> bool {
        self.0.starts_with("turn:") || self.0.starts_with("turns:")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::str::FromStr for IceUrl {
    type Err = IceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The node's ICE settings, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceSettings {
    pub servers: Vec<IceUrl>,
    /// coturn's `static-auth-secret`; needed when `servers` has TURN URLs.
    pub turn_secret: Option<Secret>,
    /// How long a minted TURN credential is valid.
    pub ttl: Duration,
    pub policy: IceTransportPolicy,
}

impl Default for IceSettings {
    /// No ICE servers: host candidates only (a node browsers reach directly).
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            turn_secret: None,
            ttl: Duration::from_secs(DEFAULT_TTL_SECS),
            policy: IceTransportPolicy::All,
        }
    }
}

/// A day: longer than any session, so a credential minted at join outlives
/// the call; sockets open longer get renewals (see [`IceSettings::renew_every`]).
pub const DEFAULT_TTL_SECS: u64 = 86_400;

impl IceSettings {
    /// Refuse settings that would break every call: TURN URLs nobody can
    /// log in to, or a relay-only policy without a relay.
    pub fn check(&self) -> Result<(), IceError> {
        let turn = self.servers.iter().any(IceUrl::is_turn);
        if turn && self.turn_secret.is_none() {
            return Err(IceError::TurnWithoutSecret);
        }
        if self.policy == IceTransportPolicy::Relay && !turn {
            return Err(IceError::RelayWithoutTurn);
        }
        Ok(())
    }

    /// Whether minted credentials expire (and so must be renewed).
    pub fn mints_credentials(&self) -> bool {
        self.turn_secret.is_some() && self.servers.iter().any(IceUrl::is_turn)
    }

    /// How often a connection that stays open gets fresh credentials: at
    /// half their lifetime, so the old ones are still valid for an ICE
    /// restart in between. `None`: nothing expires.
    pub fn renew_every(&self) -> Option<Duration> {
        self.mints_credentials()
            .then(|| (self.ttl / 2).max(Duration::from_secs(1)))
    }

    /// What participant `user` gets, minted at Unix time `now_s`: STUN
    /// URLs as they are, TURN URLs with a credential valid for `ttl`.
    pub fn for_participant(&self, user: Uuid, now_s: u64) -> MediaIce {
        let stun: Vec<String> = self
            .servers
            .iter()
            .filter(|u| !u.is_turn())
            .map(|u| u.as_str().to_owned())
            .collect();
        let turn: Vec<String> = self
            .servers
            .iter()
            .filter(|u| u.is_turn())
            .map(|u| u.as_str().to_owned())
            .collect();
        let mut ice_servers = Vec::with_capacity(2);
        if !stun.is_empty() {
            ice_servers.push(IceServer {
                urls: stun,
                username: None,
                credential: None,
            });
        }
        if let (false, Some(secret)) = (turn.is_empty(), &self.turn_secret) {
            let username = format!("{}:{user}", now_s.saturating_add(self.ttl.as_secs()));
            let credential = turn_password(secret.0.as_bytes(), &username);
            ice_servers.push(IceServer {
                urls: turn,
                username: Some(username),
                credential: Some(credential),
            });
        }
        MediaIce {
            ice_servers,
            ice_transport_policy: self.policy,
        }
    }
}

/// coturn's REST-API password: base64(HMAC-SHA1(secret, username)).
pub fn turn_password(secret: &[u8], username: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this cannot happen.
        return String::new();
    };
    mac.update(username.as_bytes());
    base64(&mac.finalize().into_bytes())
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<IceUrl> {
        list.iter()
            .map(|u| IceUrl::parse(u).expect("url"))
            .collect()
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn turn_passwords_are_coturns() {
        // RFC 2202 test case 2 (HMAC-SHA1), in base64.
        assert_eq!(
            turn_password(b"Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
        // As `openssl dgst -sha1 -hmac s3cret -binary | base64` gives it
        // for the username coturn receives.
        assert_eq!(
            turn_password(b"s3cret", "1764230460:01930000-0000-7000-8000-000000000001"),
            "JUbtYz5a4b4fJYZOjM6OFg4X5F0="
        );
        assert_ne!(
            turn_password(b"s3cret", "1764230460:a"),
            turn_password(b"other", "1764230460:a")
        );
    }

    #[test]
    fn urls_are_checked() {
        for good in [
            "stun:stun.example.cn",
            "stun:stun.example.cn:3478",
            "stuns:203.0.113.9:5349",
            "turn:127.0.0.1:3478?transport=udp",
            "turns:turn.example.cn:443?transport=tcp",
            "turn:[2001:db8::1]:3478",
        ] {
            assert!(IceUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "http://turn.example.cn",
            "turn:",
            "turn::3478",
            "turn:host:0",
            "turn:host:99999",
            "turn:host?transport=sctp",
            "stun:host?transport=udp",
            "turn://host:3478",
            "turn:ho st",
            "turn:[nonsense]:3478",
        ] {
            assert!(IceUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(IceUrl::parse("turns:h").expect("url").is_turn());
        assert!(!IceUrl::parse("stun:h").expect("url").is_turn());
    }

    #[test]
    fn settings_that_break_calls_are_refused() {
        let mut s = IceSettings {
            servers: urls(&["stun:s.example.cn", "turn:t.example.cn"]),
            ..IceSettings::default()
        };
        assert_eq!(s.check(), Err(IceError::TurnWithoutSecret));
        s.turn_secret = Some(Secret("k".into()));
        assert_eq!(s.check(), Ok(()));
        s.policy = IceTransportPolicy::Relay;
        assert_eq!(s.check(), Ok(()));
        s.servers = urls(&["stun:s.example.cn"]);
        assert_eq!(s.check(), Err(IceError::RelayWithoutTurn));
        assert_eq!(IceSettings::default().check(), Ok(()));
    }

    #[test]
    fn participants_get_time_limited_credentials() {
        let user = Uuid::from_u128(7);
        let s = IceSettings {
            servers: urls(&[
                "stun:s.example.cn:3478",
                "turn:t.example.cn:3478?transport=udp",
                "turns:t.example.cn:443?transport=tcp",
            ]),
            turn_secret: Some(Secret("s3cret".into())),
            ttl: Duration::from_secs(3600),
            policy: IceTransportPolicy::Relay,
        };
        let ice = s.for_participant(user, 1_000_000);
        assert_eq!(ice.ice_transport_policy, IceTransportPolicy::Relay);
        assert_eq!(ice.ice_servers.len(), 2);
        assert_eq!(ice.ice_servers[0].urls, vec!["stun:s.example.cn:3478"]);
        assert_eq!(ice.ice_servers[0].username, None);
        let turn = &ice.ice_servers[1];
        assert_eq!(turn.urls.len(), 2);
        let username = format!("1003600:{user}");
        assert_eq!(turn.username.as_deref(), Some(username.as_str()));
        assert_eq!(
            turn.credential.as_deref(),
            Some(turn_password(b"s3cret", &username).as_str())
        );
        // Nothing of the secret itself is in what the participant gets.
        let json = serde_json::to_string(&ice).expect("json");
        assert!(!json.contains("s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"));
        assert_eq!(s.renew_every(), Some(Duration::from_secs(1800)));
        // Without ICE servers: nothing, and nothing to renew.
        let none = IceSettings::default();
        assert_eq!(none.for_participant(user, 1), MediaIce::default());
        assert_eq!(none.renew_every(), None);
    }
}
