//! Connection limits: how many sockets a peer may hold before it authenticates, how many
//! the whole gateway holds, and how long a socket may sit without sending its request
//! head. The defaults live here, once; `gateway.limits.*` overrides some of them (read
//! at start).
//!
//! Why: without these, ~1,000 silent TCP connections from anyone exhaust the open-file
//! limit and lock every client out for as long as they are held.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::model::Limits as LimitsConfig;

/// `LimitNOFILE=` of every unit we generate (systemd, NixOS, Home Manager).
pub const UNIT_NOFILE: u64 = 65_536;
/// A request head (or, for a kept-alive socket, the next one) must arrive within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Sockets one address may hold before they authenticate (HTTP requests and WebSocket
/// handshakes in progress).
pub const MAX_PRE_AUTH_PER_ADDRESS: usize = 256;
/// Upper bound of not-yet-authenticated sockets in total (lowered to fit the fd limit).
pub const MAX_PRE_AUTH_TOTAL: usize = 4_096;
/// Descriptors kept free for files, child processes and outgoing HTTP.
pub const FD_RESERVE: usize = 64;
/// Requests of one connection that may wait at once (`agent.wait`, `agent` runs, …).
pub const MAX_IN_FLIGHT_PER_CONNECTION: usize = 64;
/// At most one "refused connections" line per this interval.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The limits in force, resolved once at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub header_read_timeout: Duration,
    pub max_pre_auth_per_address: usize,
    pub max_pre_auth_total: usize,
    pub max_authenticated_total: usize,
    pub max_in_flight_per_connection: usize,
}

impl Settings {
    /// Defaults, overridden by `gateway.limits.*`, with totals that fit `nofile`.
    pub fn resolve(cfg: &LimitsConfig, nofile: u64) -> Settings {
        let usable = (nofile as usize).saturating_sub(FD_RESERVE).max(16);
        let pre_total = MAX_PRE_AUTH_TOTAL.min(usable / 2);
        Settings {
            header_read_timeout: cfg
                .header_read_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(HEADER_READ_TIMEOUT),
            max_pre_auth_per_address: cfg
                .max_pre_auth_per_address
                .unwrap_or(MAX_PRE_AUTH_PER_ADDRESS),
            max_pre_auth_total: pre_total,
            max_authenticated_total: usable - pre_total,
            max_in_flight_per_connection: cfg
                .max_in_flight_per_connection
                .unwrap_or(MAX_IN_FLIGHT_PER_CONNECTION),
        }
    }
}

/// Live counts, shared by the accept loop and the WebSocket handler.
pub struct ConnLimits {
    pub settings: Settings,
    pre_auth: AtomicUsize,
    authenticated: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    refused: RateLog,
    /// Waiting requests (`agent.wait`, `agent`, `send`, …) over all connections.
    waiting: AtomicUsize,
}

/// Why a socket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Address,
    Total,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Address => "too many connections from your address",
            Refusal::Total => "gateway connection limit reached",
        }
    }
}

impl ConnLimits {
    pub fn new(settings: Settings) -> Arc<ConnLimits> {
        Arc::new(ConnLimits {
            settings,
            pre_auth: AtomicUsize::new(0),
            authenticated: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            refused: RateLog::new(REFUSAL_LOG_INTERVAL),
            waiting: AtomicUsize::new(0),
        })
    }

    /// A slot for a new, unauthenticated socket from `ip`, or why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut map = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let mine = map.entry(ip).or_insert(0);
        let refusal = if *mine >= self.settings.max_pre_auth_per_address {
            Some(Refusal::Address)
        } else if self.pre_auth.load(Ordering::Relaxed) >= self.settings.max_pre_auth_total {
            Some(Refusal::Total)
        } else {
            None
        };
        if let Some(r) = refusal {
            if *mine == 0 {
                map.remove(&ip);
            }
            drop(map);
            self.note_refusal(r, ip);
            return Err(r);
        }
        *mine += 1;
        self.pre_auth.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            limits: self.clone(),
            ip,
            authenticated: AtomicBool::new(false),
        })
    }

    fn note_refusal(&self, r: Refusal, ip: IpAddr) {
        if let Some(n) = self.refused.hit() {
            tracing::warn!(target: "gateway", "refused {n} connection(s) in the last {}s (latest from {ip}: {})", REFUSAL_LOG_INTERVAL.as_secs(), r.reason());
        }
    }

    fn release_pre_auth(&self, ip: IpAddr) {
        self.pre_auth.fetch_sub(1, Ordering::Relaxed);
        let mut map = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }

    pub fn counts(&self) -> (usize, usize) {
        (
            self.pre_auth.load(Ordering::Relaxed),
            self.authenticated.load(Ordering::Relaxed),
        )
    }

    /// Counts and caps for `status`.
    pub fn snapshot(&self) -> serde_json::Value {
        let (pre, auth) = self.counts();
        serde_json::json!({
            "preAuth": pre,
            "authenticated": auth,
            "waitingRequests": self.waiting.load(Ordering::Relaxed),
            "maxPreAuthPerAddress": self.settings.max_pre_auth_per_address,
            "maxPreAuthTotal": self.settings.max_pre_auth_total,
            "maxAuthenticatedTotal": self.settings.max_authenticated_total,
            "maxInFlightPerConnection": self.settings.max_in_flight_per_connection,
            "headerReadTimeoutMs": self.settings.header_read_timeout.as_millis() as u64,
        })
    }
}

/// One waiting request, counted on its connection and gateway-wide until dropped.
pub struct InFlight {
    limits: Arc<ConnLimits>,
    conn: Arc<AtomicUsize>,
}

impl InFlight {
    /// `None` when the connection already has `max` requests waiting.
    pub fn enter(
        limits: &Arc<ConnLimits>,
        conn: &Arc<AtomicUsize>,
        max: usize,
    ) -> Option<InFlight> {
        if conn.fetch_add(1, Ordering::Relaxed) >= max {
            conn.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        limits.waiting.fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            limits: limits.clone(),
            conn: conn.clone(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn.fetch_sub(1, Ordering::Relaxed);
        self.limits.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One socket's place in the counts; released when dropped.
pub struct Slot {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
    authenticated: AtomicBool,
}

impl Slot {
    /// Moves this socket from the pre-auth count to the authenticated one, or refuses
    /// when the authenticated total is full.
    pub fn promote(&self) -> Result<(), Refusal> {
        if self.authenticated.load(Ordering::Relaxed) {
            return Ok(());
        }
        let l = &self.limits;
        if l.authenticated.fetch_add(1, Ordering::Relaxed) >= l.settings.max_authenticated_total {
            l.authenticated.fetch_sub(1, Ordering::Relaxed);
            l.note_refusal(Refusal::Total, self.ip);
            return Err(Refusal::Total);
        }
        self.authenticated.store(true, Ordering::Relaxed);
        l.release_pre_auth(self.ip);
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if *self.authenticated.get_mut() {
            self.limits.authenticated.fetch_sub(1, Ordering::Relaxed);
        } else {
            self.limits.release_pre_auth(self.ip);
        }
    }
}

/// Lets one event through per interval and counts the ones it held back, so a flood of
/// failures costs one log line per interval.
pub struct RateLog {
    interval: Duration,
    start: Instant,
    next_ms: AtomicU64,
    count: AtomicU64,
}

impl RateLog {
    pub fn new(interval: Duration) -> RateLog {
        RateLog {
            interval,
            start: Instant::now(),
            next_ms: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// `Some(events since the last line)` when a line is due now.
    pub fn hit(&self) -> Option<u64> {
        self.count.fetch_add(1, Ordering::Relaxed);
        let now = self.start.elapsed().as_millis() as u64;
        let next = self.next_ms.load(Ordering::Relaxed);
        if now < next {
            return None;
        }
        let due = now + self.interval.as_millis() as u64;
        self.next_ms
            .compare_exchange(next, due, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(self.count.swap(0, Ordering::Relaxed))
    }
}

/// Raises the soft open-file limit to the hard limit; returns the soft limit in force.
#[allow(unsafe_code)]
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    if lim.rlim_cur != before {
        tracing::info!(target: "gateway", "open-file limit raised from {before} to {}", lim.rlim_cur);
    } else {
        tracing::info!(target: "gateway", "open-file limit {} (hard {})", lim.rlim_cur, lim.rlim_max);
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_cap_and_release() {
        let s = Settings::resolve(
            &LimitsConfig {
                max_pre_auth_per_address: Some(2),
                ..Default::default()
            },
            1024,
        );
        assert_eq!(
            s.max_pre_auth_total + s.max_authenticated_total,
            1024 - FD_RESERVE
        );
        let l = ConnLimits::new(s);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = l.admit(a).unwrap();
        let _s2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(Refusal::Address));
        let _s3 = l.admit(b).unwrap();
        s1.promote().unwrap();
        assert_eq!(l.counts(), (2, 1));
        let _s4 = l.admit(a).unwrap();
        drop(s1);
        assert_eq!(l.counts(), (3, 0));
    }

    #[test]
    fn rate_log_lets_one_line_per_interval() {
        let r = RateLog::new(Duration::from_secs(3600));
        assert_eq!(r.hit(), Some(1));
        for _ in 0..100 {
            assert_eq!(r.hit(), None);
        }
    }
}
