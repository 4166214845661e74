//! Which file a program name means, and whether that file may be trusted by name.
//!
//! A `safeBins` entry is a *name*; it only means something for a file the operator did
//! not let the agent write. So a name matches only when the program was found through
//! the exec PATH (never `./x` or another relative path), and both the directory it was
//! found in and the file it finally resolves to (after symlinks) are trusted system or
//! Nix locations, or `tools.exec.pathPrepend` dirs, and neither is inside the workspace.

use std::path::{Path, PathBuf};

/// A program found for an argv[0].
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The absolute path that is executed (not canonicalised: a multi-call binary such as
    /// coreutils on NixOS looks at its argv[0] name, so the link is what runs).
    pub path: PathBuf,
    /// The file after every symlink.
    pub canonical: PathBuf,
    /// `safeBins` may match this program by its basename.
    pub trusted: bool,
}

/// The directories whose programs are the system's, not the agent's.
pub fn trusted_dirs(path_prepend: &[String], home: Option<&Path>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = [
        "/nix/store",
        "/run/current-system/sw/bin",
        "/run/wrappers/bin",
        "/nix/var/nix/profiles/default/bin",
        "/usr/bin",
        "/bin",
        "/usr/local/bin",
        "/usr/sbin",
        "/sbin",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Ok(user) = std::env::var("USER") {
        v.push(PathBuf::from(format!("/etc/profiles/per-user/{user}/bin")));
    }
    if let Some(h) = home {
        v.push(h.join(".nix-profile/bin"));
        v.push(h.join(".local/state/nix/profile/bin"));
    }
    v.extend(path_prepend.iter().map(PathBuf::from));
    v
}

/// Looks `program` up: a bare name through `path_dirs` (absolute entries only: an empty
/// or relative PATH entry would mean the workspace), a name with a `/` as given
/// (relative to `cwd`, and then never trusted).
pub fn resolve(
    program: &str,
    path_dirs: &[PathBuf],
    cwd: &Path,
    trusted: &[PathBuf],
) -> Option<Resolved> {
    let (path, via_path) = if program.contains('/') {
        (cwd.join(program), false)
    } else {
        let found = path_dirs
            .iter()
            .filter(|d| d.is_absolute())
            .map(|d| d.join(program))
            .find(|p| is_executable(p))?;
        (found, true)
    };
    if !is_executable(&path) {
        return None;
    }
    let canonical = std::fs::canonicalize(&path).ok()?;
    let workspace = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    let trusted_dirs: Vec<PathBuf> = trusted
        .iter()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
        .collect();
    let within =
        |p: &Path| !p.starts_with(&workspace) && trusted_dirs.iter().any(|d| p.starts_with(d));
    // The directory it was found in, with its own symlinks resolved (`/bin` → `/usr/bin`).
    let found_dir = path
        .parent()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .unwrap_or_default();
    let trusted = via_path && within(&found_dir) && within(&canonical);
    Some(Resolved {
        path,
        canonical,
        trusted,
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Shell builtins with no program of the same name: allowlist mode has no shell to run
/// them in, so they get a message instead of "not found".
pub const BUILTINS_WITHOUT_PROGRAM: &[&str] = &[
    "cd", "export", "set", "unset", "source", ".", "alias", "exit", "eval", "exec", "for", "if",
    "while", "case", "until", "function", "readonly", "shift", "trap", "ulimit", "umask",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn exe(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "#!/bin/sh\necho fake\n").unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn names_are_trusted_only_for_system_files_found_on_path() {
        let ws = tempfile::tempdir().unwrap();
        let sys = tempfile::tempdir().unwrap();
        exe(&sys.path().join("ls"));
        exe(&ws.path().join("ls"));
        exe(&ws.path().join("bin/ls"));
        let trusted = vec![sys.path().to_path_buf()];
        // The system one, found on PATH: trusted.
        let r = resolve("ls", &[sys.path().into()], ws.path(), &trusted).unwrap();
        assert!(r.trusted && r.path == sys.path().join("ls"), "{r:?}");
        // A workspace file named `ls` earlier in PATH is found first, but not trusted.
        let path = [ws.path().to_path_buf(), sys.path().to_path_buf()];
        let r = resolve("ls", &path, ws.path(), &trusted).unwrap();
        assert!(!r.trusted && r.path == ws.path().join("ls"), "{r:?}");
        // Even when the operator trusted a dir containing the workspace.
        let wide = vec![ws.path().to_path_buf()];
        assert!(!resolve("ls", &path, ws.path(), &wide).unwrap().trusted);
        // `./bin/ls`, `bin/ls`: a path, never trusted by name.
        for p in ["./bin/ls", "bin/ls", "./ls"] {
            let r = resolve(p, &[sys.path().into()], ws.path(), &trusted).unwrap();
            assert!(!r.trusted, "{p}");
        }
        // An absolute path is not a name lookup either.
        let abs = sys.path().join("ls");
        let r = resolve(abs.to_str().unwrap(), &[], ws.path(), &trusted).unwrap();
        assert!(!r.trusted);
        // Relative or empty PATH entries (the cwd) are skipped.
        assert!(resolve("ls", &["".into(), ".".into()], ws.path(), &trusted).is_none());
        // A link in a trusted dir pointing into the workspace is not trusted.
        std::os::unix::fs::symlink(ws.path().join("ls"), sys.path().join("ln-ls")).unwrap();
        let r = resolve("ln-ls", &[sys.path().into()], ws.path(), &trusted).unwrap();
        assert!(!r.trusted && r.canonical.starts_with(ws.path().canonicalize().unwrap()));
        // A non-executable file is not a program.
        std::fs::write(sys.path().join("data"), "x").unwrap();
        assert!(resolve("data", &[sys.path().into()], ws.path(), &trusted).is_none());
    }

    #[test]
    fn the_system_ls_is_trusted() {
        let ws = tempfile::tempdir().unwrap();
        let path: Vec<PathBuf> =
            std::env::split_paths(&std::env::var_os("PATH").unwrap()).collect();
        let r = resolve("ls", &path, ws.path(), &trusted_dirs(&[], None)).expect("ls on PATH");
        assert!(r.trusted, "{r:?}");
        assert_eq!(r.path.file_name().unwrap(), "ls");
    }
}
