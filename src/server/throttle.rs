//! Failed-authentication throttle per source address: after a few free failures each
//! further one locks the address out for twice as long as the last (capped), and the
//! lockout ends by itself. Loopback is counted too, but its lockout never exceeds a
//! couple of seconds, so the operator on the same machine is never shut out of the
//! shared-token path for long. Failures are logged as one summary line per interval per
//! address class instead of one line each.
//!
//! The address is the socket's peer, never a forwarded header (which a client can
//! spoof); behind a reverse proxy every client shares the proxy's address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::limits::RateLog;

/// Failures allowed before the first lockout.
pub const FREE_FAILURES: u32 = 10;
/// The first lockout; each further failure doubles it.
pub const BASE_LOCKOUT: Duration = Duration::from_millis(250);
/// Longest lockout for a remote address.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(300);
/// Longest lockout for a loopback address.
pub const MAX_LOOPBACK_LOCKOUT: Duration = Duration::from_secs(2);
/// An address with no failure for this long starts from zero again.
pub const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Addresses tracked at most (the oldest unlocked ones are dropped first).
pub const MAX_TRACKED: usize = 10_000;
/// At most one failure summary line per address class per interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

pub struct Throttle {
    map: Mutex<HashMap<IpAddr, Entry>>,
    log_loopback: RateLog,
    log_remote: RateLog,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            map: Mutex::new(HashMap::new()),
            log_loopback: RateLog::new(LOG_INTERVAL),
            log_remote: RateLog::new(LOG_INTERVAL),
        }
    }
}

impl Throttle {
    /// `Err(wait)` while `ip` is locked out.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match map.get(&ip).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed attempt; logs a summary line when one is due.
    pub fn failed(&self, ip: IpAddr, detail: &str) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, e| e.locked_until.is_some_and(|u| u > now));
        }
        let e = map.entry(ip).or_insert(Entry {
            failures: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(e.last) > FORGET_AFTER {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        if e.failures > FREE_FAILURES {
            let cap = if ip.is_loopback() {
                MAX_LOOPBACK_LOCKOUT
            } else {
                MAX_LOCKOUT
            };
            let doublings = (e.failures - FREE_FAILURES - 1).min(20);
            e.locked_until = Some(now + (BASE_LOCKOUT * 2u32.pow(doublings)).min(cap));
        }
        let failures = e.failures;
        drop(map);
        let (log, class) = if ip.is_loopback() {
            (&self.log_loopback, "loopback")
        } else {
            (&self.log_remote, "remote")
        };
        if let Some(n) = log.hit() {
            tracing::warn!(target: "ws", "{n} failed authentication attempt(s) from {class} addresses in the last {}s (latest: remote={ip} failures={failures} {detail})", LOG_INTERVAL.as_secs());
        }
    }

    /// A success clears the address's record.
    pub fn succeeded(&self, ip: IpAddr) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }

    /// For `status`: how many addresses are tracked and the ones locked out now.
    pub fn snapshot(&self) -> Value {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut locked: Vec<(IpAddr, u32, u128)> = map
            .iter()
            .filter_map(|(ip, e)| {
                let until = e.locked_until.filter(|u| *u > now)?;
                Some((*ip, e.failures, (until - now).as_millis()))
            })
            .collect();
        locked.sort_by_key(|l| std::cmp::Reverse(l.1));
        let total_locked = locked.len();
        locked.truncate(10);
        json!({
            "trackedAddresses": map.len(),
            "lockedOutCount": total_locked,
            "lockedOut": locked.iter().map(|(ip, f, ms)| json!({"address": ip.to_string(), "failures": f, "retryInMs": ms})).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_locks_and_loopback_is_capped() {
        let t = Throttle::default();
        let remote: IpAddr = "203.0.113.7".parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            t.failed(remote, "");
            t.failed(lo, "");
        }
        assert!(t.check(remote).is_ok() && t.check(lo).is_ok());
        for _ in 0..30 {
            t.failed(remote, "");
            t.failed(lo, "");
        }
        assert!(t.check(remote).unwrap_err() > Duration::from_secs(200));
        assert!(t.check(lo).unwrap_err() <= MAX_LOOPBACK_LOCKOUT);
        assert_eq!(t.snapshot()["lockedOutCount"], 2);
        t.succeeded(remote);
        assert!(t.check(remote).is_ok());
    }
}
