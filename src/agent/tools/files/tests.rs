use super::*;
use serde_json::json;

fn ws() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    (dir, root)
}

fn far() -> Instant {
    Instant::now() + CALL_TIMEOUT
}

#[test]
fn confinement_edit_read_ls() {
    let (_d, root) = ws();
    assert_eq!(
        beneath::relative(&root, "a/b.txt").unwrap(),
        Path::new("a/b.txt")
    );
    assert!(beneath::relative(&root, "../x").is_err());
    assert!(beneath::relative(&root, "/etc/passwd").is_err());
    assert!(beneath::relative(&root, "a/../../x").is_err());
    std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
    let e = read(&root, &json!({"path": "link/passwd"}), far()).unwrap_err();
    assert!(e.contains("outside the workspace"), "{e}");
    std::os::unix::fs::symlink("/etc/passwd", root.join("pw")).unwrap();
    let e = read(&root, &json!({"path": "pw"}), far()).unwrap_err();
    assert!(e.contains("symlink") || e.contains("outside"), "{e}");
    let f = root.join("f.txt");
    std::fs::write(&f, "one two two").unwrap();
    let e = edit(
        &root,
        &json!({"path": "f.txt", "oldText": "two", "newText": "3"}),
    )
    .unwrap_err();
    assert!(e.contains("2 times"), "{e}");
    edit(
        &root,
        &json!({"path": "f.txt", "oldText": "one", "newText": "1"}),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "1 two two");
    assert_eq!(
        read(&root, &json!({"path": "f.txt"}), far()).unwrap(),
        "1 two two"
    );
    let listing = ls(&root, &json!({})).unwrap();
    assert!(
        listing.contains("f.txt") && listing.contains("link"),
        "{listing}"
    );
}

#[test]
fn the_fallback_walk_follows_no_symlink() {
    let (_d, root) = ws();
    std::fs::create_dir(root.join("real")).unwrap();
    std::fs::write(root.join("real/x"), "x").unwrap();
    std::os::unix::fs::symlink("real", root.join("inner")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
    let fd = beneath::open_root(&root).unwrap();
    assert!(
        beneath::walk(
            &fd,
            Path::new("real/x"),
            libc::O_RDONLY | libc::O_NOFOLLOW,
            0
        )
        .is_ok()
    );
    for p in ["inner/x", "out/passwd"] {
        let e = beneath::walk(&fd, Path::new(p), libc::O_RDONLY | libc::O_NOFOLLOW, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR), "{p}: {e}");
    }
}

#[test]
fn offset_limit_and_crlf() {
    let (_d, root) = ws();
    std::fs::write(root.join("l.txt"), "a\r\nb\nc\nd\n").unwrap();
    let r = |v: Value| read(&root, &v, far()).unwrap();
    assert_eq!(r(json!({"path": "l.txt"})), "a\nb\nc\nd");
    assert_eq!(r(json!({"path": "l.txt", "offset": 2, "limit": 2})), "b\nc");
    assert_eq!(r(json!({"path": "l.txt", "limit": 1})), "a");
    assert_eq!(r(json!({"path": "l.txt", "offset": 9})), "");
}

#[test]
fn output_is_capped_without_reading_the_rest() {
    let (_d, root) = ws();
    // One line far longer than the cap: the output stops at the cap.
    std::fs::write(root.join("big"), vec![b'x'; READ_CAP * 3]).unwrap();
    let out = read(&root, &json!({"path": "big"}), far()).unwrap();
    assert!(
        out.starts_with("xxx") && out.contains("[output truncated at"),
        "{}",
        out.len()
    );
    assert!(out.len() < READ_CAP + 200);
}

#[test]
fn fifos_sockets_and_devices_are_refused_at_once() {
    let (_d, root) = ws();
    let fifo = std::ffi::CString::new(root.join("pipe").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
    let e = read(&root, &json!({"path": "pipe"}), far()).unwrap_err();
    assert_eq!(e, "pipe is a FIFO; read only works on regular files");
    let e = read(&root, &json!({"path": "sock"}), far()).unwrap_err();
    assert!(e.contains("a socket"), "{e}");
    let e = edit(
        &root,
        &json!({"path": "pipe", "oldText": "a", "newText": "b"}),
    )
    .unwrap_err();
    assert!(e.contains("a FIFO"), "{e}");
    let e = write(&root, &json!({"path": "pipe", "content": "x"})).unwrap_err();
    assert_eq!(e, "pipe is a FIFO; write only works on regular files");
    let e = write(&root, &json!({"path": "sock", "content": "x"})).unwrap_err();
    assert!(e.contains("a socket"), "{e}");
    let e = write(&root, &json!({"path": "zero", "content": "x"})).unwrap_err();
    assert!(e.contains("a symlink"), "{e}");
    let e = write(&root, &json!({"path": ".", "content": "x"})).unwrap_err();
    assert!(e.contains("workspace itself"), "{e}");
    // The FIFO is untouched (no temp file was renamed over it).
    let meta = std::fs::symlink_metadata(root.join("pipe")).unwrap();
    assert!(meta.file_type().is_fifo());
}

#[test]
fn write_creates_parents_keeps_the_mode_and_leaves_no_temp_files() {
    let (_d, root) = ws();
    write(&root, &json!({"path": "a/b/c.txt", "content": "hi"})).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("a/b/c.txt")).unwrap(),
        "hi"
    );
    std::fs::set_permissions(
        root.join("a/b/c.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    write(&root, &json!({"path": "a/b/c.txt", "content": "again"})).unwrap();
    let m = std::fs::metadata(root.join("a/b/c.txt")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    let names: Vec<_> = std::fs::read_dir(root.join("a/b"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["c.txt"]);
    std::os::unix::fs::symlink("/tmp", root.join("esc")).unwrap();
    let e = write(&root, &json!({"path": "esc/x.txt", "content": "no"})).unwrap_err();
    assert!(
        e.contains("outside the workspace") || e.contains("is a symlink or a file"),
        "{e}"
    );
}
