//! Race-free opens inside the workspace. The path is first normalised lexically (no `..`
//! may leave the root, absolute paths must lie under it), then opened relative to a
//! directory fd of the root: with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`
//! where the kernel has it (symlinks that stay inside are followed, none can leave), else
//! component by component with `O_NOFOLLOW` (no symlink is followed at all). The last
//! component is always opened `O_NOFOLLOW`, so a swapped-in symlink cannot redirect it.

// The openat2/openat have no std wrapper; every unsafe block is one syscall on fds this module owns.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once `openat2` turned out to be missing (ENOSYS, or refused by a seccomp filter).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// The path relative to `root`, lexically normalised; refuses anything outside it.
pub fn relative(root: &Path, p: &str) -> Result<PathBuf, String> {
    let rel = Path::new(p);
    let joined = if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut norm = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                norm.pop();
            }
            Component::CurDir => {}
            other => norm.push(other),
        }
    }
    norm.strip_prefix(root)
        .map(Path::to_path_buf)
        .map_err(|_| outside(root, p))
}

pub fn outside(root: &Path, p: &str) -> String {
    format!("path {p} is outside the workspace ({})", root.display())
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(fd: libc::c_long) -> io::Result<OwnedFd> {
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

/// `open(root, O_PATH | O_DIRECTORY)`: the anchor every other open is relative to.
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let c = cstr(root)?;
    // SAFETY: plain syscall with a valid NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    check(fd as libc::c_long)
}

fn openat(dir: &OwnedFd, name: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: valid dirfd and NUL-terminated path.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, mode) };
    check(fd as libc::c_long)
}

fn openat2(dir: &OwnedFd, rel: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(rel)?;
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.mode = if flags & libc::O_CREAT != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `how` is a valid open_how of the size we pass.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    check(fd)
}

/// Opens `rel` (already [`relative`]) beneath `root` with `flags` (plus `O_NOFOLLOW |
/// O_CLOEXEC`). Errors keep their errno: `EXDEV` (escape), `ELOOP` (a symlink last),
/// `ENOTDIR` (through a symlink or a file, on the fallback walk).
pub fn open(root: &OwnedFd, rel: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match openat2(root, rel, flags, mode) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
            }
            r => return r,
        }
    }
    walk(root, rel, flags, mode)
}

/// The fallback: one `openat(O_NOFOLLOW)` per component, so no symlink is followed.
pub fn walk(root: &OwnedFd, rel: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        return openat(root, Path::new("."), flags, mode);
    };
    let mut cur: Option<OwnedFd> = None;
    for d in dirs {
        let base = cur.as_ref().unwrap_or(root);
        let next = openat(
            base,
            Path::new(d),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0,
        )?;
        cur = Some(next);
    }
    openat(cur.as_ref().unwrap_or(root), Path::new(last), flags, mode)
}
