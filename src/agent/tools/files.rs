//! read / write / edit / ls. Each call runs on the blocking pool under a small semaphore
//! (so stuck disk work can neither starve the runtime nor pile up threads) and within a
//! per-call deadline; every open goes through [`beneath`](super::beneath). Only regular
//! files are read or replaced: a FIFO, socket or device is refused before anything could
//! block on it (opened `O_NONBLOCK`, then `fstat`). `read` streams and keeps at most
//! `READ_CAP` bytes of output, whatever the file's size.

// The *at syscalls (mkdirat, fstatat, renameat, fdopendir) have no std wrapper; every unsafe block is one syscall on fds this module owns.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;

use super::arg;
use super::beneath;

pub const READ_CAP: usize = 256 * 1024;
/// `edit` holds the whole file in memory twice; larger files are refused.
pub const EDIT_CAP: u64 = 8 * 1024 * 1024;
const LS_CAP: usize = 2_000;
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How many file-tool calls may be on the blocking pool at once (stuck ones included).
const SLOTS: usize = 8;

static PERMITS: Semaphore = Semaphore::const_new(SLOTS);

/// Runs file tool `name` with `args` in `root`.
pub async fn run(root: &Path, name: &str, args: &Value) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
    let timed_out = || {
        format!(
            "{name} timed out after {}s (the file system did not answer)",
            CALL_TIMEOUT.as_secs()
        )
    };
    let permit = tokio::time::timeout_at(deadline, PERMITS.acquire())
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| e.to_string())?;
    let (root, name_owned, args) = (root.to_path_buf(), name.to_string(), args.clone());
    let std_deadline = Instant::now() + CALL_TIMEOUT;
    let job = tokio::task::spawn_blocking(move || {
        // The permit lives as long as the thread works, even past the caller's timeout.
        let _permit = permit;
        match name_owned.as_str() {
            "read" => read(&root, &args, std_deadline),
            "write" => write(&root, &args),
            "edit" => edit(&root, &args),
            "ls" => ls(&root, &args),
            other => Err(format!("unknown file tool: {other}")),
        }
    });
    match tokio::time::timeout_at(deadline, job).await {
        Err(_) => Err(timed_out()),
        Ok(Err(e)) => Err(format!("{name} failed: {e}")),
        Ok(Ok(r)) => r,
    }
}

fn kind(ft: std::fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symlink"
    } else {
        "not a regular file"
    }
}

fn refuse_kind(p: &str, what: &str, tool: &str) -> String {
    format!("{p} is {what}; {tool} only works on regular files")
}

/// Maps an open error to a message that says which rule refused it.
fn open_error(root: &Path, p: &str, verb: &str, e: io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EXDEV) => beneath::outside(root, p),
        Some(libc::ELOOP) => {
            format!(
                "{p} is a symlink; file tools do not follow a symlink as the last path component"
            )
        }
        Some(libc::ENXIO) => refuse_kind(p, "a socket", verb),
        Some(libc::ENOTDIR) => format!(
            "cannot {verb} {p}: a directory on its path is a symlink or a file (file tools do not follow symlinks to directories)"
        ),
        _ => format!("cannot {verb} {p}: {e}"),
    }
}

struct Target {
    root_fd: OwnedFd,
    rel: PathBuf,
}

fn target(root: &Path, p: &str) -> Result<Target, String> {
    let rel = beneath::relative(root, p)?;
    let root_fd = beneath::open_root(root)
        .map_err(|e| format!("cannot open the workspace {}: {e}", root.display()))?;
    Ok(Target { root_fd, rel })
}

/// Opens a regular file for reading; anything else is refused without blocking.
fn open_regular(root: &Path, p: &str, tool: &str) -> Result<File, String> {
    let t = target(root, p)?;
    let fd = beneath::open(
        &t.root_fd,
        &t.rel,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        0,
    )
    .map_err(|e| open_error(root, p, tool, e))?;
    let f = File::from(fd);
    let ft = f
        .metadata()
        .map_err(|e| format!("cannot {tool} {p}: {e}"))?
        .file_type();
    if !ft.is_file() {
        return Err(refuse_kind(p, kind(ft), tool));
    }
    Ok(f)
}

fn read(root: &Path, args: &Value, deadline: Instant) -> Result<String, String> {
    let p = arg(args, "path")?;
    let offset = args
        .get("offset")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let end = args
        .get("limit")
        .and_then(Value::as_u64)
        .map(|l| offset.saturating_add(l));
    let mut f = open_regular(root, p, "read")?;
    let (out, truncated) =
        read_lines(&mut f, offset, end, deadline).map_err(|e| format!("cannot read {p}: {e}"))?;
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if truncated {
        text.push_str(&format!(
            "\n[output truncated at {READ_CAP} bytes; use offset/limit to read further]"
        ));
    }
    Ok(text)
}

/// Lines `offset..end` (1-based, `end` exclusive) joined by `\n`, at most `READ_CAP`
/// bytes; reads in 64 KiB chunks and stops as soon as the window is complete.
fn read_lines(
    f: &mut File,
    offset: u64,
    end: Option<u64>,
    deadline: Instant,
) -> io::Result<(Vec<u8>, bool)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let mut line = 1u64;
    let in_window = |line: u64| line >= offset && end.is_none_or(|e| line < e);
    'outer: loop {
        if end.is_some_and(|e| line >= e) {
            break;
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "took too long"));
        }
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let (seg, nl) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rest = &rest[seg.len() + nl as usize..];
            if in_window(line) {
                if out.len() + seg.len() > READ_CAP {
                    out.extend_from_slice(&seg[..READ_CAP - out.len()]);
                    return Ok((out, true));
                }
                out.extend_from_slice(seg);
                if nl {
                    if out.last() == Some(&b'\r') {
                        out.pop();
                    }
                    out.push(b'\n');
                }
            }
            if nl {
                line += 1;
                if end.is_some_and(|e| line >= e) {
                    break 'outer;
                }
            }
        }
    }
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    Ok((out, false))
}

/// The parent directory of `rel` opened beneath the root (created when `create`), and
/// the last component's name.
fn parent_dir(root: &Path, p: &str, create: bool) -> Result<(OwnedFd, std::ffi::OsString), String> {
    let t = target(root, p)?;
    let name = t
        .rel
        .file_name()
        .ok_or_else(|| format!("{p} names the workspace itself, not a file"))?
        .to_os_string();
    let parent = t.rel.parent().unwrap_or(Path::new("")).to_path_buf();
    let dir_flags = libc::O_RDONLY | libc::O_DIRECTORY;
    match beneath::open(&t.root_fd, &parent, dir_flags, 0) {
        Ok(fd) => return Ok((fd, name)),
        Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(open_error(root, p, "write", e)),
    }
    // mkdir -p, one component at a time, each created relative to its opened parent.
    let mut sofar = PathBuf::new();
    for c in parent.components() {
        let dir = beneath::open(&t.root_fd, &sofar, dir_flags, 0)
            .map_err(|e| open_error(root, p, "write", e))?;
        let cname = std::ffi::CString::new(c.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("invalid path {p}"))?;
        // SAFETY: valid dirfd and NUL-terminated name.
        let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), 0o755) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(format!("cannot create a directory for {p}: {e}"));
            }
        }
        sofar.push(c);
    }
    let fd = beneath::open(&t.root_fd, &parent, dir_flags, 0)
        .map_err(|e| open_error(root, p, "write", e))?;
    Ok((fd, name))
}

/// `fstatat(AT_SYMLINK_NOFOLLOW)` of `name` in `dir`: `None` when it does not exist.
fn stat_at(dir: &OwnedFd, name: &std::ffi::OsStr) -> io::Result<Option<libc::stat>> {
    let c = std::ffi::CString::new(name.as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dirfd, NUL-terminated name, and a stat buffer we own.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        return Ok(Some(st));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) {
        Ok(None)
    } else {
        Err(e)
    }
}

fn mode_kind(mode: libc::mode_t) -> Option<&'static str> {
    match mode & libc::S_IFMT {
        libc::S_IFREG => None,
        libc::S_IFIFO => Some("a FIFO"),
        libc::S_IFSOCK => Some("a socket"),
        libc::S_IFCHR | libc::S_IFBLK => Some("a device"),
        libc::S_IFDIR => Some("a directory"),
        libc::S_IFLNK => Some("a symlink"),
        _ => Some("not a regular file"),
    }
}

/// Replaces `name` in `dir` atomically: temp file beside it, fsync, `renameat`, fsync
/// the directory. Only a missing or regular target is replaced.
fn replace_at(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    p: &str,
    tool: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let existing = stat_at(dir, name).map_err(|e| format!("cannot {tool} {p}: {e}"))?;
    if let Some(st) = &existing
        && let Some(k) = mode_kind(st.st_mode)
    {
        return Err(refuse_kind(p, k, tool));
    }
    let mode = existing.map(|st| st.st_mode & 0o7777).unwrap_or(0o644);
    let tmp = format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let tmp_c = std::ffi::CString::new(tmp.clone()).map_err(|_| format!("invalid path {p}"))?;
    let name_c =
        std::ffi::CString::new(name.as_encoded_bytes()).map_err(|_| format!("invalid path {p}"))?;
    let fd = beneath::walk(
        dir,
        Path::new(&tmp),
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        mode,
    )
    .map_err(|e| format!("cannot {tool} {p}: {e}"))?;
    let result = (|| -> io::Result<()> {
        let mut f = File::from(fd);
        f.write_all(bytes)?;
        // The umask may have narrowed the mode; keep the original file's.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        // SAFETY: valid dirfd and NUL-terminated names.
        let rc = unsafe {
            libc::renameat(
                dir.as_raw_fd(),
                tmp_c.as_ptr(),
                dir.as_raw_fd(),
                name_c.as_ptr(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fsync of a directory fd we own; best effort (not every fs supports it).
        unsafe { libc::fsync(dir.as_raw_fd()) };
        Ok(())
    })();
    if let Err(e) = result {
        // SAFETY: valid dirfd and NUL-terminated name.
        unsafe { libc::unlinkat(dir.as_raw_fd(), tmp_c.as_ptr(), 0) };
        return Err(format!("cannot {tool} {p}: {e}"));
    }
    Ok(())
}

fn write(root: &Path, args: &Value) -> Result<String, String> {
    let p = arg(args, "path")?;
    let content = arg(args, "content")?;
    let (dir, name) = parent_dir(root, p, true)?;
    replace_at(&dir, &name, p, "write", content.as_bytes())?;
    Ok(format!("wrote {} bytes to {p}", content.len()))
}

fn edit(root: &Path, args: &Value) -> Result<String, String> {
    let p = arg(args, "path")?;
    let old = arg(args, "oldText")?;
    let new = arg(args, "newText")?;
    let f = open_regular(root, p, "edit")?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > EDIT_CAP {
        return Err(format!(
            "{p} is {len} bytes; edit works on files up to {EDIT_CAP} bytes"
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(EDIT_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {p}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{p} is not UTF-8 text"))?;
    match text.matches(old).count() {
        0 => Err("oldText was not found in the file".into()),
        1 => {
            let out = text.replacen(old, new, 1);
            let (dir, name) = parent_dir(root, p, false)?;
            replace_at(&dir, &name, p, "edit", out.as_bytes())?;
            Ok("edited".into())
        }
        n => Err(format!(
            "oldText occurs {n} times; include more context so it is unique"
        )),
    }
}

fn ls(root: &Path, args: &Value) -> Result<String, String> {
    let p = args.get("path").and_then(Value::as_str).unwrap_or(".");
    let t = target(root, p)?;
    let fd = beneath::open(
        &t.root_fd,
        &t.rel,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NONBLOCK,
        0,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTDIR) => format!("{p} is not a directory"),
        _ => open_error(root, p, "list", e),
    })?;
    let mut names = list_fd(fd).map_err(|e| format!("cannot list {p}: {e}"))?;
    let more = names.len() > LS_CAP;
    names.sort();
    names.truncate(LS_CAP);
    if names.is_empty() {
        return Ok("(empty)".into());
    }
    let mut out = names.join("\n");
    if more {
        out.push_str(&format!("\n[listing truncated at {LS_CAP} entries]"));
    }
    Ok(out)
}

/// The entries of an open directory (`fdopendir`/`readdir`), directories marked `/`;
/// stops reading a little past the cap.
fn list_fd(fd: OwnedFd) -> io::Result<Vec<String>> {
    use std::os::fd::IntoRawFd;
    let raw = fd.into_raw_fd();
    // SAFETY: `raw` is an open directory fd; fdopendir takes ownership of it.
    let dir = unsafe { libc::fdopendir(raw) };
    if dir.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so the fd is still ours to close.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut names = vec![];
    loop {
        // SAFETY: `dir` is a valid DIR* until closedir below.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() || names.len() > LS_CAP {
            break;
        }
        // SAFETY: readdir returned a valid dirent whose d_name is NUL-terminated.
        let (name, dtype) = unsafe {
            (
                std::ffi::CStr::from_ptr((*ent).d_name.as_ptr())
                    .to_string_lossy()
                    .into_owned(),
                (*ent).d_type,
            )
        };
        if name == "." || name == ".." {
            continue;
        }
        let is_dir = match dtype {
            libc::DT_DIR => true,
            libc::DT_UNKNOWN => {
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                let c = std::ffi::CString::new(name.clone()).unwrap_or_default();
                // SAFETY: dirfd of a valid DIR*, NUL-terminated name, our stat buffer.
                let rc = unsafe {
                    libc::fstatat(
                        libc::dirfd(dir),
                        c.as_ptr(),
                        &mut st,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
                rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
            }
            _ => false,
        };
        names.push(if is_dir { format!("{name}/") } else { name });
    }
    // SAFETY: closes the DIR* (and its fd) exactly once.
    unsafe { libc::closedir(dir) };
    Ok(names)
}

#[cfg(test)]
mod tests;
