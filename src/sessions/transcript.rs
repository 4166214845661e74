//! Append-only JSONL transcripts in the original's layout: a `session` header line, then
//! one `message` line per message. Every line is written whole with one `write` and
//! fsynced before the caller goes on (before a reply is sent), so a crash loses at most
//! the line being written; a torn last line is skipped on read, never fatal. A write that
//! fails part-way (the disk is full) is cut back off, so the file stays whole.
//!
//! Every message a run writes carries the run's `idempotencyKey` (the inbound message it
//! answers, e.g. `telegram:default:1234`) and its `runId`: several chats can share one
//! session, and a replay after a crash must find *its* message and *its* answer, wherever
//! they sit among the others.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::llm::Message;

/// One stored message and the idempotency key it was written with (if any).
#[derive(Debug, Clone)]
pub struct Stored {
    pub message: Message,
    pub idempotency_key: Option<String>,
    /// The run (attempt) that wrote it; a resumed message has several attempts.
    pub run_id: Option<String>,
}

/// The state-format kind of a transcript (the header line carries the version).
const KIND: &str = "transcript";

/// The header this release writes (the original's current pi-coding-agent version).
fn header_version() -> u32 {
    crate::state_format::format(KIND).current
}

/// Appends `message`; creates the file with its header first if needed. Appending to an
/// older transcript keeps its header: only `doctor --migrate` upgrades a file.
pub fn append(
    path: &Path,
    session_id: &str,
    cwd: &Path,
    message: &Message,
    idempotency_key: Option<&str>,
    run_id: Option<&str>,
) -> std::io::Result<()> {
    crate::fsutil::create_private_dir(path.parent().unwrap_or(Path::new(".")))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let len = f.metadata()?.len();
    if len > 0 {
        // Never append to a transcript in a format this release does not know.
        let first = crate::state_format::scan::first_line(path)?;
        crate::state_format::check_header(KIND, path, &first)?;
    }
    let mut out = String::new();
    let parent = if len == 0 {
        let header = json!({
            "type": "session",
            "version": header_version(),
            "id": session_id,
            "timestamp": crate::util::iso_now(),
            "cwd": cwd.display().to_string(),
        });
        out.push_str(&header.to_string());
        out.push('\n');
        Value::Null
    } else {
        let (tail, ends_with_newline) = read_tail(&mut f, len)?;
        if !ends_with_newline {
            // A torn line from a crash: end it so our line stays whole and parseable.
            out.push('\n');
        }
        last_message_id(&tail)
            .map(Value::String)
            .unwrap_or(Value::Null)
    };
    let mut line = json!({
        "type": "message",
        "id": crate::util::random_hex(4),
        "parentId": parent,
        "timestamp": crate::util::iso_now(),
        "message": message,
    });
    if let Some(k) = idempotency_key {
        line["idempotencyKey"] = json!(k);
    }
    if let Some(r) = run_id {
        line["runId"] = json!(r);
    }
    out.push_str(&line.to_string());
    out.push('\n');
    let written = f.write_all(out.as_bytes()).and_then(|()| f.sync_data());
    if written.is_err() {
        // ENOSPC (or EIO) part-way: cut the partial line off again so no torn line stays.
        let _ = f.set_len(len);
        let _ = f.sync_data();
    }
    written
}

fn read_tail(f: &mut std::fs::File, len: u64) -> std::io::Result<(String, bool)> {
    let start = len.saturating_sub(64 * 1024);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = vec![];
    f.read_to_end(&mut buf)?;
    let ends = buf.last() == Some(&b'\n');
    Ok((String::from_utf8_lossy(&buf).into_owned(), ends))
}

fn last_message_id(tail: &str) -> Option<String> {
    tail.lines().rev().find_map(|l| {
        let v: Value = serde_json::from_str(l).ok()?;
        (v.get("type")?.as_str()? == "message").then(|| v.get("id")?.as_str().map(String::from))?
    })
}

/// Reads every message; returns them and the number of unreadable lines skipped.
pub fn read(path: &Path) -> std::io::Result<(Vec<Stored>, usize)> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], 0)),
        Err(e) => return Err(e),
    };
    crate::state_format::check_header(KIND, path, text.lines().next().unwrap_or(""))?;
    let mut out = vec![];
    let mut skipped = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            skipped += 1;
            continue;
        };
        if v.get("type").and_then(Value::as_str) != Some("message") {
            continue;
        }
        match v
            .get("message")
            .cloned()
            .map(serde_json::from_value::<Message>)
        {
            Some(Ok(message)) => out.push(Stored {
                message,
                idempotency_key: v
                    .get("idempotencyKey")
                    .and_then(Value::as_str)
                    .map(String::from),
                run_id: v.get("runId").and_then(Value::as_str).map(String::from),
            }),
            _ => skipped += 1,
        }
    }
    if skipped > 0 {
        tracing::warn!(target: "sessions", "{}: skipped {skipped} unreadable line(s) (a crash can leave a torn last line)", path.display());
    }
    Ok((out, skipped))
}

/// The raw message objects (for `chat.history`), newest last; a missing file is empty,
/// one in a format this release does not read is an error naming it.
pub fn read_raw(path: &Path) -> Result<Vec<Value>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let text = String::from_utf8_lossy(&bytes);
    crate::state_format::check_header(KIND, path, text.lines().next().unwrap_or(""))
        .map_err(|r| r.to_string())?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("type").and_then(Value::as_str) == Some("message"))
        .filter_map(|v| v.get("message").cloned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_skipped_and_appends_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        append(
            &p,
            "sid",
            dir.path(),
            &Message::user("one"),
            Some("k1"),
            Some("r1"),
        )
        .unwrap();
        append(&p, "sid", dir.path(), &Message::user("two"), None, None).unwrap();
        // Simulate a crash mid-write.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"type\":\"message\",\"message\":{\"role\":\"us")
            .unwrap();
        drop(f);
        let (msgs, skipped) = read(&p).unwrap();
        assert_eq!((msgs.len(), skipped), (2, 1));
        assert_eq!(msgs[0].idempotency_key.as_deref(), Some("k1"));
        assert_eq!(msgs[0].run_id.as_deref(), Some("r1"));
        append(&p, "sid", dir.path(), &Message::user("three"), None, None).unwrap();
        let (msgs, skipped) = read(&p).unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(skipped, 1);
        assert_eq!(msgs[2].message.text(), "three");
        let text = std::fs::read_to_string(&p).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["type"], "session");
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert_eq!(lines[2]["parentId"], lines[1]["id"]);
        assert_eq!(read_raw(&p).unwrap().len(), 3);
    }
    #[test]
    fn newer_header_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        let text = "{\"type\":\"session\",\"version\":4,\"id\":\"s\"}\n{\"type\":\"message\",\"message\":{\"role\":\"user\",\"content\":[]},\"z\":1}\n";
        std::fs::write(&p, text).unwrap();
        let e = append(&p, "s", dir.path(), &Message::user("x"), None, None).unwrap_err();
        assert!(e.to_string().contains("newer clawdbot"), "{e}");
        assert!(read(&p).unwrap_err().to_string().contains("version 4"));
        assert!(read_raw(&p).unwrap_err().contains("roll forward"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        // An older (v2) transcript is read and appended to without touching its header.
        let old = dir.path().join("o.jsonl");
        std::fs::write(&old, "{\"type\":\"session\",\"version\":2,\"id\":\"o\"}\n").unwrap();
        append(&old, "o", dir.path(), &Message::user("y"), None, None).unwrap();
        let t = std::fs::read_to_string(&old).unwrap();
        assert!(t.starts_with("{\"type\":\"session\",\"version\":2,"));
        assert_eq!(read(&old).unwrap().0.len(), 1);
    }
}
