//! The run log: `<storeDir>/runs/<jobId>.jsonl`, one `finished` entry per run, appended
//! and fsynced. Bounded like the original's: past 2 MB it keeps the newest 2000 lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub const MAX_BYTES: u64 = 2_000_000;
pub const KEEP_LINES: usize = 2_000;

pub fn path(store_path: &Path, job_id: &str) -> PathBuf {
    store_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("runs")
        .join(format!("{job_id}.jsonl"))
}

pub fn append(path: &Path, entry: &Value) -> std::io::Result<()> {
    append_bounded(path, entry, MAX_BYTES, KEEP_LINES)
}

pub fn append_bounded(
    path: &Path,
    entry: &Value,
    max_bytes: u64,
    keep: usize,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        crate::fsutil::create_private_dir(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = entry.to_string();
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    if f.metadata()?.len() > max_bytes {
        let raw = std::fs::read_to_string(path)?;
        let lines: Vec<&str> = raw.lines().filter(|l| !l.trim().is_empty()).collect();
        let kept = &lines[lines.len().saturating_sub(keep)..];
        let mut text = kept.join("\n");
        text.push('\n');
        crate::fsutil::write_atomic(path, text.as_bytes(), 0o600)?;
    }
    Ok(())
}

/// The newest `limit` valid `finished` entries, oldest first (the original's order).
pub fn read(path: &Path, limit: usize) -> Vec<Value> {
    let raw = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: Vec<Value> = raw
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(|v| v["action"] == "finished" && v["ts"].is_i64() && v["jobId"].as_str().is_some())
        // A line a newer release wrote in a newer shape (`"v": 2`) is skipped, not misread.
        .filter(|v| crate::state_format::line_readable("cron-runs", v))
        .take(limit.clamp(1, 5000))
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appends_reads_newest_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(&dir.path().join("jobs.json"), "j");
        for i in 0..50 {
            let e = json!({"ts": i, "jobId": "j", "action": "finished", "status": "ok"});
            append_bounded(&p, &e, 400, 5).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"garbage\n")
            .unwrap();
        append_bounded(
            &p,
            &json!({"ts": 50, "jobId": "j", "action": "finished", "v": 2}),
            400,
            5,
        )
        .unwrap();
        let all = read(&p, 100);
        assert!(all.len() <= 12, "bounded: {}", all.len());
        assert_eq!(all.last().unwrap()["ts"], 49);
        let two = read(&p, 2);
        assert_eq!(
            two.iter()
                .map(|e| e["ts"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            [48, 49]
        );
    }
}
