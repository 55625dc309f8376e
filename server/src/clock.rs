//! The server's UTC clock: the reference every client offsets itself to.
//!
//! The server reads the operating system's realtime clock, which the host
//! keeps on UTC with NTP/PTP (chrony, systemd-timesyncd). Its own traceability
//! is therefore the host's; what we can check here is that it is plausible.
//!
//! Every timestamp the server stores or compares comes from [`now`]; nothing
//! here reads or writes the database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiliang_protocol::ReadinessCheck;
use time::OffsetDateTime;

/// A clock earlier than this is certainly unset (e.g. a board without RTC).
const PLAUSIBLE_AFTER: Duration = Duration::from_secs(1_735_689_600); // 2025-01-01T00:00:00Z

/// The current UTC time at microsecond precision — PostgreSQL's — so a
/// value read back from either database compares equal to the value written.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t)
}

/// Milliseconds since the Unix epoch, UTC, with sub-millisecond resolution.
pub fn now_ms() -> f64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1e3,
        // Before 1970: report it as is (negative) so readiness flags it.
        Err(e) => -(e.duration().as_secs_f64() * 1e3),
    }
}

pub fn source() -> &'static str {
    "system realtime clock (CLOCK_REALTIME, host-disciplined UTC)"
}

pub fn readiness_check() -> ReadinessCheck {
    let now = now_ms();
    let ok = now >= PLAUSIBLE_AFTER.as_secs_f64() * 1e3;
    ReadinessCheck {
        name: "clock".into(),
        ok,
        detail: if ok {
            source().to_owned()
        } else {
            format!("{}: implausible time {now} ms since epoch", source())
        },
        latency_ms: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_plausible_on_a_working_host() {
        assert!(readiness_check().ok);
        let a = now_ms();
        let b = now_ms();
        assert!(b >= a);
    }

    #[test]
    fn now_is_whole_microseconds() {
        let t = now();
        assert_eq!(t.nanosecond() % 1000, 0);
        assert_eq!(t.offset(), time::UtcOffset::UTC);
    }
}
