//! Every tool process group this gateway started, so that stopping the gateway leaves none
//! behind. The child reports its own pid (= its process group, it was started with
//! `process_group(0)` and cannot leave it) on a pipe from `pre_exec`; the gateway drains the
//! pipe when it starts the next process and when it stops.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

struct Registry {
    read: OwnedFd,
    write: OwnedFd,
    /// (process group, owner tag).
    groups: Mutex<Vec<(i32, u32)>>,
}

fn registry() -> Option<&'static Registry> {
    static R: OnceLock<Option<Registry>> = OnceLock::new();
    R.get_or_init(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array it is given.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if rc != 0 {
            return None;
        }
        // SAFETY: both fds were just created and are owned by nothing else.
        #[allow(unsafe_code)]
        let (read, write) = unsafe {
            use std::os::fd::FromRawFd;
            (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
        };
        Some(Registry {
            read,
            write,
            groups: Mutex::new(Vec::new()),
        })
    })
    .as_ref()
}

/// The fd the child writes its pid to (inherited across fork, closed at exec).
pub fn report_fd() -> Option<i32> {
    registry().map(|r| r.write.as_raw_fd())
}

/// In the child, before exec: syscalls only. One 8-byte record (pid, owner): a pipe write
/// of at most PIPE_BUF bytes is atomic, so records from concurrent children never mix.
pub fn report_self(fd: i32, owner: u32) {
    // SAFETY: getpid and write of 8 bytes from a stack value; no allocation.
    #[allow(unsafe_code)]
    unsafe {
        let pid = libc::getpid();
        let rec: [u32; 2] = [pid as u32, owner];
        libc::write(fd, rec.as_ptr().cast(), 8);
    }
}

/// Reads what the children reported and forgets groups that no longer exist.
fn collect(r: &Registry) -> std::sync::MutexGuard<'_, Vec<(i32, u32)>> {
    let mut g = r.groups.lock().unwrap_or_else(|p| p.into_inner());
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: read into a stack buffer of the given length.
        #[allow(unsafe_code)]
        let n = unsafe { libc::read(r.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        for c in buf[..n as usize].chunks_exact(8) {
            let pid = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
            let owner = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
            g.push((pid, owner));
        }
    }
    // SAFETY: kill(-pgid, 0) only checks that the group exists.
    #[allow(unsafe_code)]
    g.retain(|(p, _)| unsafe { libc::kill(-*p, 0) } == 0);
    g
}

/// Called before each spawn so the list stays as short as the live groups.
pub fn prune() {
    if let Some(r) = registry() {
        drop(collect(r));
    }
}

/// SIGKILL to every live tool process group started for `owner`; the gateway calls this
/// when it stops.
pub fn kill_all(owner: u32) -> usize {
    let Some(r) = registry() else { return 0 };
    let mut g = collect(r);
    let mut n = 0;
    g.retain(|(p, o)| {
        if *o != owner {
            return true;
        }
        // SAFETY: kill(2) of a process group this gateway started (still alive: pruned).
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-*p, libc::SIGKILL);
        }
        n += 1;
        false
    });
    n
}
