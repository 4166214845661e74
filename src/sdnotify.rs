//! The systemd notify protocol, implemented here because the `sd-notify` crate does not
//! reach abstract sockets (`NOTIFY_SOCKET=@name`), which systemd uses for some managers.
//! Without `NOTIFY_SOCKET` every call is a no-op.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Path(std::path::PathBuf),
    #[cfg(target_os = "linux")]
    Abstract(Vec<u8>),
}

#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<Target>,
    /// The raw NOTIFY_SOCKET when it had a form we cannot use (for a log line).
    pub unsupported: Option<String>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the process environment.
    pub fn from_env() -> Notifier {
        let get = |k: &str| std::env::var(k).ok();
        Self::from_vars(
            get("NOTIFY_SOCKET").as_deref(),
            get("WATCHDOG_USEC").as_deref(),
            get("WATCHDOG_PID").as_deref(),
        )
    }

    pub fn from_vars(
        notify_socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
    ) -> Notifier {
        let mut n = Notifier::default();
        match notify_socket {
            None | Some("") => {}
            Some(s) if s.starts_with('/') => n.target = Some(Target::Path(s.into())),
            #[cfg(target_os = "linux")]
            Some(s) if s.starts_with('@') && s.len() > 1 => {
                n.target = Some(Target::Abstract(s.as_bytes()[1..].to_vec()))
            }
            Some(s) => n.unsupported = Some(s.to_string()),
        }
        let pid_ok =
            watchdog_pid.is_none_or(|p| p.trim().parse::<u32>().ok() == Some(std::process::id()));
        n.watchdog = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && pid_ok)
            .map(|u| Duration::from_micros(u / 2));
        n
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    fn addr(&self) -> std::io::Result<Option<SocketAddr>> {
        match &self.target {
            None => Ok(None),
            Some(Target::Path(p)) => SocketAddr::from_pathname(p).map(Some),
            #[cfg(target_os = "linux")]
            Some(Target::Abstract(name)) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name).map(Some)
            }
        }
    }

    /// Sends one datagram of newline-separated assignments.
    pub fn notify(&self, state: &str) -> std::io::Result<()> {
        let Some(addr) = self.addr()? else {
            return Ok(());
        };
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
        Ok(())
    }

    pub fn ready(&self, status: &str) -> std::io::Result<()> {
        self.notify(&format!(
            "READY=1\nSTATUS={}\nMAINPID={}",
            one_line(status),
            std::process::id()
        ))
    }

    pub fn status(&self, status: &str) -> std::io::Result<()> {
        self.notify(&format!("STATUS={}", one_line(status)))
    }

    /// `RELOADING=1` with the monotonic timestamp systemd ≥ 253 requires for
    /// `Type=notify-reload`.
    pub fn reloading(&self) -> std::io::Result<()> {
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()))
    }

    pub fn stopping(&self, status: &str) -> std::io::Result<()> {
        self.notify(&format!("STOPPING=1\nSTATUS={}", one_line(status)))
    }

    pub fn watchdog(&self) -> std::io::Result<()> {
        self.notify("WATCHDOG=1")
    }

    /// Half of WATCHDOG_USEC, when the watchdog is meant for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// CLOCK_MONOTONIC in microseconds.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 1024];
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn exercise(n: &Notifier, sock: &UnixDatagram) {
        n.ready("listening\non 1").unwrap();
        assert_eq!(
            recv(sock),
            format!(
                "READY=1\nSTATUS=listening on 1\nMAINPID={}",
                std::process::id()
            )
        );
        n.reloading().unwrap();
        let r = recv(sock);
        let usec: u64 = r
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(usec > 0);
        n.stopping("bye").unwrap();
        assert_eq!(recv(sock), "STOPPING=1\nSTATUS=bye");
        n.watchdog().unwrap();
        assert_eq!(recv(sock), "WATCHDOG=1");
    }

    #[test]
    fn path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&p).unwrap();
        let n = Notifier::from_vars(p.to_str(), None, None);
        assert!(n.is_enabled());
        exercise(&n, &sock);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("clawdbot-test-{}", uuid::Uuid::new_v4());
        let sock =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let n = Notifier::from_vars(Some(&format!("@{name}")), None, None);
        exercise(&n, &sock);
    }

    #[test]
    fn disabled_and_watchdog() {
        for v in [None, Some(""), Some("relative/path"), Some("vsock:1:2")] {
            let n = Notifier::from_vars(v, None, None);
            assert!(!n.is_enabled());
            n.ready("x").unwrap();
        }
        assert!(
            Notifier::from_vars(Some("vsock:1:2"), None, None)
                .unsupported
                .is_some()
        );
        let me = std::process::id().to_string();
        assert_eq!(
            Notifier::from_vars(None, Some("10000000"), None).watchdog_interval(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            Notifier::from_vars(None, Some("10000000"), Some(&me)).watchdog_interval(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            Notifier::from_vars(None, Some("10000000"), Some("1")).watchdog_interval(),
            None
        );
        assert_eq!(
            Notifier::from_vars(None, Some("junk"), None).watchdog_interval(),
            None
        );
    }
}
