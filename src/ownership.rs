//! Startup check that the state and workspace directories are usable by the user the
//! gateway runs as.
//!
//! The common container failure (the deployment guide's "Permission issue" pitfall): a
//! host directory bind-mounted at /home/node/.clawdbot is owned by the host user (uid 0,
//! or 1001, ...) while the image runs as uid 1000, and the first write fails much later
//! with a bare "Permission denied". This check runs before anything is opened and names
//! the owner, the user we run as and the exact `chown` that fixes it. Compose passes the
//! host paths (CLAWDBOT_HOST_CONFIG_DIR / CLAWDBOT_HOST_WORKSPACE_DIR) so the command
//! printed is the one to run on the host.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Fails when `dir` exists but this process cannot list it and create files in it.
///
/// `what` names the directory in the message ("state directory"); `host_path` is the
/// host directory mounted there, when known. A missing directory passes: whoever creates
/// it later reports its own error, and a missing mount is not an ownership problem.
pub fn check_dir(what: &str, dir: &Path, host_path: Option<&str>) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Err(format!("The {what} {} is not a directory.", dir.display()));
    }
    let Some(errno) = access_error(dir, libc::W_OK | libc::X_OK) else {
        return Ok(());
    };
    // SAFETY: geteuid/getegid have no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if errno == libc::EROFS {
        return Err(format!(
            "The {what} {} is on a read-only mount: the gateway (uid {uid}) must write there. Mount it read-write.",
            dir.display()
        ));
    }
    let target = host_path.filter(|p| !p.is_empty());
    let fix = match target {
        Some(host) => format!(
            "Fix it on the host: sudo chown -R {uid}:{gid} {host}  (the host directory mounted at {})",
            dir.display()
        ),
        None => format!(
            "Fix: sudo chown -R {uid}:{gid} {}  (for a bind mount, run it on the host for the directory mounted there)",
            dir.display()
        ),
    };
    Err(format!(
        "The {what} {} is not writable by uid {uid} (gid {gid}), which this gateway runs as: it is owned by uid {} (gid {}) with mode {:04o}.\n{fix}",
        dir.display(),
        meta.uid(),
        meta.gid(),
        meta.mode() & 0o7777,
    ))
}

/// The errno of `faccessat(dir, mode, AT_EACCESS)` (effective ids), or None when allowed.
fn access_error(path: &Path, mode: libc::c_int) -> Option<libc::c_int> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) };
    if rc == 0 {
        None
    } else {
        Some(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EACCES),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_usable_directory_passes_and_a_file_does_not() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(check_dir("state directory", tmp.path(), None), Ok(()));
        assert_eq!(
            check_dir("state directory", &tmp.path().join("absent"), None),
            Ok(())
        );
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let err = check_dir("state directory", &file, None).unwrap_err();
        assert!(err.contains("is not a directory"), "{err}");
    }
}
