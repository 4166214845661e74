//! The gateway singleton: a kernel `flock` on `<stateDir>/gateway.<h>.lock`, one per
//! config file. The kernel drops the lock when the process dies, however it dies, so a
//! crash or `kill -9` never leaves a lock that blocks the next start (the original's
//! O_EXCL lock file needed a manual `rm` after some crashes).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Who holds the lock (written into the file by the holder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    pub pid: u32,
    pub port: u16,
    pub config_path: String,
    pub created_at: String,
}

/// A held lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct GatewayLock {
    file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}", held_message(.0, .1))]
    Held(Option<Holder>, PathBuf),
    #[error("failed to acquire gateway lock at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn held_message(holder: &Option<Holder>, path: &Path) -> String {
    match holder {
        Some(h) => format!(
            "gateway already running (pid {}, port {}). Stop it with `kill {}` (or `systemctl --user stop clawdbot-gateway` if it is a service), or start with --force to take over.",
            h.pid, h.port, h.pid
        ),
        None => format!(
            "gateway already running (lock {} is held). Stop the other gateway, or start with --force to take over.",
            path.display()
        ),
    }
}

impl GatewayLock {
    fn open(path: &Path) -> Result<File, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir(dir).map_err(io)?;
        }
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(path).map_err(io)
    }

    /// Takes the lock or reports who holds it.
    pub fn acquire(path: &Path) -> Result<GatewayLock, LockError> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(GatewayLock {
                file,
                path: path.to_path_buf(),
            }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held(read_holder(path), path.into())),
            Err(TryLockError::Error(source)) => Err(LockError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// `--force`: asks the holder to stop (SIGTERM), waits up to `grace` for the kernel to
    /// release its lock, then SIGKILLs it and takes over.
    pub fn acquire_force(path: &Path, grace: Duration) -> Result<GatewayLock, LockError> {
        let holder = match Self::acquire(path) {
            Ok(lock) => return Ok(lock),
            Err(LockError::Held(holder, _)) => holder,
            Err(e) => return Err(e),
        };
        let Some(holder) = holder else {
            return Err(LockError::Held(None, path.into()));
        };
        tracing::warn!(target: "gateway", "force: stopping running gateway pid {}", holder.pid);
        signal(holder.pid, libc::SIGTERM);
        let file = Self::open(path)?;
        let deadline = Instant::now() + grace;
        let mut killed = false;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    tracing::warn!(target: "gateway", "force: took over from pid {}", holder.pid);
                    return Ok(GatewayLock {
                        file,
                        path: path.to_path_buf(),
                    });
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Io {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            }
            if Instant::now() >= deadline {
                if killed {
                    return Err(LockError::Held(Some(holder), path.into()));
                }
                tracing::warn!(target: "gateway", "force: pid {} did not stop in time; sending SIGKILL", holder.pid);
                signal(holder.pid, libc::SIGKILL);
                killed = true;
            }
            // Polling a kernel lock while another process exits; there is no
            // notification for "flock released".
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Records who we are, once the port is known.
    pub fn write_holder(&mut self, holder: &Holder) -> std::io::Result<()> {
        let text = serde_json::to_string(holder).map_err(std::io::Error::other)?;
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the holder record, if the holder wrote one.
pub fn read_holder(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn signal(pid: u32, sig: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    if pid <= 0 || pid == std::process::id() as i32 {
        return;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; pid was checked above.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_reports_holder_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gateway.x.lock");
        let mut a = GatewayLock::acquire(&p).unwrap();
        a.write_holder(&Holder {
            pid: 4242,
            port: 18789,
            config_path: "/c.json".into(),
            created_at: "now".into(),
        })
        .unwrap();
        let err = GatewayLock::acquire(&p).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("gateway already running (pid 4242, port 18789)"),
            "{err}"
        );
        drop(a);
        GatewayLock::acquire(&p).unwrap();
    }
}
