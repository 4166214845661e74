//! A pids cgroup per sandboxed run: the only process cap that binds root (RLIMIT_NPROC
//! exempts uid 0) and that counts only the run's own processes.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The pids hierarchy: cgroup v1's `pids` controller, or the v2 root when it offers pids.
pub fn root() -> Option<PathBuf> {
    let v1 = PathBuf::from("/sys/fs/cgroup/pids");
    if v1.join("cgroup.procs").exists() {
        return Some(v1);
    }
    let v2 = PathBuf::from("/sys/fs/cgroup");
    let ctl = std::fs::read_to_string(v2.join("cgroup.subtree_control")).unwrap_or_default();
    ctl.split_whitespace().any(|c| c == "pids").then_some(v2)
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Creates `<root>/clawdbot-sandbox/<gateway pid>-<n>` with `pids.max = limit` and returns
/// its `cgroup.procs` opened for the child to join. Old empty cgroups of this gateway are
/// removed on the way (rmdir of a cgroup that still has processes fails, so this never
/// touches a live run).
pub fn create(limit: u64) -> Result<File, String> {
    let root = root().ok_or("no pids cgroup hierarchy is mounted")?;
    let base = root.join("clawdbot-sandbox");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let me = std::process::id();
    if let Ok(rd) = std::fs::read_dir(&base) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let stale = match name.split_once('-') {
                Some((pid, k)) if pid == me.to_string() => {
                    k.parse::<u64>().is_ok_and(|k| k + 64 < n)
                }
                Some((pid, _)) => !PathBuf::from(format!("/proc/{pid}")).exists(),
                None => false,
            };
            if stale {
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
    let dir = base.join(format!("{me}-{n}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("pids.max"), limit.to_string())
        .map_err(|e| format!("{}/pids.max: {e}", dir.display()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
        .map_err(|e| format!("{}/cgroup.procs: {e}", dir.display()))
}

/// Tasks (threads) the current uid runs now: RLIMIT_NPROC counts all of them.
pub fn tasks_of_uid() -> u64 {
    // SAFETY: getuid(2) has no preconditions.
    #[allow(unsafe_code)]
    let uid = unsafe { libc::getuid() };
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return 0;
    };
    rd.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .map(|e| {
            std::fs::read_dir(e.path().join("task"))
                .map(|t| t.count() as u64)
                .unwrap_or(1)
        })
        .sum()
}
