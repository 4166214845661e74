//! The state dir, file by file: which kind each file is, which version it carries, and
//! whether this release serves it (for `doctor`, and at gateway start so `status` lists
//! refusals before anything touches the files). `migrate` is `doctor --migrate`: the
//! only code that rewrites a file into a newer format, and only where a migration exists.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Marker, Refusal, check_header, check_value, format, line_readable};

/// What this release makes of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The version this release writes.
    Current,
    /// An older version it reads as is; `doctor --migrate` can upgrade it when a
    /// migration exists (named here).
    Older {
        migration: Option<&'static str>,
    },
    Refused(Refusal),
    /// Not readable or not JSON (the store reports it the same way).
    Unreadable(String),
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub kind: &'static str,
    pub version: Option<u32>,
    pub state: State,
    /// E.g. lines of an append-only log that are in a newer format and skipped.
    pub note: Option<String>,
}

/// Files directly in `dir` whose name passes `keep`, sorted.
fn files_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .collect();
    out.sort();
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// Every versioned file under `state_dir` (plus `extra`, e.g. a `cron.store` outside
/// it), with its kind. `transcripts: false` skips the JSONL transcripts (there can be
/// thousands; the gateway checks each one when it opens it).
pub fn inventory(
    state_dir: &Path,
    extra: &[(&'static str, PathBuf)],
    transcripts: bool,
) -> Vec<(&'static str, PathBuf)> {
    let mut out: Vec<(&'static str, PathBuf)> = vec![];
    for agent in subdirs(&state_dir.join("agents")) {
        let sessions = agent.join("sessions");
        out.extend(
            files_in(&sessions, |n| n == "sessions.json")
                .into_iter()
                .map(|p| ("sessions-index", p)),
        );
        if transcripts {
            out.extend(
                files_in(&sessions, |n| n.ends_with(".jsonl"))
                    .into_iter()
                    .map(|p| ("transcript", p)),
            );
        }
        out.extend(
            files_in(&agent.join("agent"), |n| n == "auth-profiles.json")
                .into_iter()
                .map(|p| ("auth-profiles", p)),
        );
    }
    let devices = state_dir.join("devices");
    out.extend(
        files_in(&devices, |n| n == "paired.json")
            .into_iter()
            .map(|p| ("devices-paired", p)),
    );
    out.extend(
        files_in(&devices, |n| n == "pending.json")
            .into_iter()
            .map(|p| ("devices-pending", p)),
    );
    let creds = state_dir.join("credentials");
    out.extend(
        files_in(&creds, |n| n.ends_with("-pairing.json"))
            .into_iter()
            .map(|p| ("channel-pairing", p)),
    );
    out.extend(
        files_in(&creds, |n| n.ends_with("-allowFrom.json"))
            .into_iter()
            .map(|p| ("channel-allowfrom", p)),
    );
    for account in subdirs(&creds.join("whatsapp")) {
        out.extend(
            files_in(&account, |n| n == "linked.json")
                .into_iter()
                .map(|p| ("whatsapp-linked", p)),
        );
    }
    for dir in subdirs(state_dir) {
        out.extend(
            files_in(&dir, |n| n.starts_with("inbox-") && n.ends_with(".json"))
                .into_iter()
                .map(|p| ("channel-inbox", p)),
        );
    }
    out.extend(
        files_in(&state_dir.join("telegram"), |n| {
            n.starts_with("update-offset-") && n.ends_with(".json")
        })
        .into_iter()
        .map(|p| ("telegram-offset", p)),
    );
    let cron = state_dir.join("cron");
    out.extend(
        files_in(&cron, |n| n == "jobs.json")
            .into_iter()
            .map(|p| ("cron-jobs", p)),
    );
    out.extend(
        files_in(&cron.join("runs"), |n| n.ends_with(".jsonl"))
            .into_iter()
            .map(|p| ("cron-runs", p)),
    );
    out.extend(
        files_in(&state_dir.join("heartbeat"), |n| n == "state.json")
            .into_iter()
            .map(|p| ("heartbeat-state", p)),
    );
    out.extend(
        files_in(state_dir, |n| n == "exec-allowlist.json")
            .into_iter()
            .map(|p| ("exec-allowlist", p)),
    );
    for (kind, p) in extra {
        if p.is_file() && !out.iter().any(|(_, q)| q == p) {
            out.push((kind, p.clone()));
        }
    }
    out
}

/// The first line of a file (at most 1 MiB of it).
pub fn first_line(path: &Path) -> std::io::Result<String> {
    let f = std::fs::File::open(path)?;
    let mut line = String::new();
    std::io::BufReader::new(f.take(1 << 20)).read_line(&mut line)?;
    Ok(line)
}

fn report_one(kind: &'static str, path: &Path) -> FileReport {
    let f = format(kind);
    let mut r = FileReport {
        path: path.to_path_buf(),
        kind,
        version: None,
        state: State::Current,
        note: None,
    };
    let checked = match f.marker {
        Marker::Header => match first_line(path) {
            Ok(l) => check_header(kind, path, &l),
            Err(e) => {
                r.state = State::Unreadable(format!("cannot read {}: {e}", path.display()));
                return r;
            }
        },
        Marker::PerLine => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let newer = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| !line_readable(kind, v))
                .count();
            if newer > 0 {
                r.note = Some(format!(
                    "{newer} line(s) in a newer format are skipped (kept in the file)"
                ));
            }
            Ok(f.current)
        }
        Marker::Unversioned => Ok(1),
        Marker::Field | Marker::MapField => match crate::fsutil::read_json(path) {
            Ok(Some(v)) => check_value(kind, path, &v),
            Ok(None) => return r,
            Err(e) => {
                r.state = State::Unreadable(e);
                return r;
            }
        },
    };
    match checked {
        Ok(v) => {
            r.version = Some(v);
            if v < f.current {
                r.state = State::Older {
                    migration: migration_for(kind, v).map(|m| m.name),
                };
            }
        }
        Err(refusal) => r.state = State::Refused(refusal),
    }
    r
}

/// Checks every file of [`inventory`]; refusals land in the registry as they would when
/// a store opens the file.
pub fn scan(
    state_dir: &Path,
    extra: &[(&'static str, PathBuf)],
    transcripts: bool,
) -> Vec<FileReport> {
    inventory(state_dir, extra, transcripts)
        .into_iter()
        .map(|(kind, p)| report_one(kind, &p))
        .collect()
}

/// A rewrite from one version to the current one.
pub struct Migration {
    pub kind: &'static str,
    pub from: u32,
    pub name: &'static str,
    pub run: fn(&Path) -> Result<(), String>,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        kind: "transcript",
        from: 1,
        name: "transcript v1 -> v3 (id/parentId on every entry, hookMessage -> custom)",
        run: migrate_transcript,
    },
    Migration {
        kind: "transcript",
        from: 2,
        name: "transcript v2 -> v3 (hookMessage -> custom)",
        run: migrate_transcript,
    },
];

fn migration_for(kind: &str, from: u32) -> Option<&'static Migration> {
    MIGRATIONS.iter().find(|m| m.kind == kind && m.from == from)
}

/// What `doctor --migrate` did to one file.
#[derive(Debug)]
pub struct Migrated {
    pub path: PathBuf,
    pub name: &'static str,
    pub result: Result<PathBuf, String>,
}

/// Applies every migration that exists to the files that need one. Each file is first
/// copied to `<file>.v<N>.bak` (never over an existing backup), then rewritten atomically.
pub fn migrate(state_dir: &Path, extra: &[(&'static str, PathBuf)]) -> Vec<Migrated> {
    let mut out = vec![];
    for r in scan(state_dir, extra, true) {
        let (State::Older { .. }, Some(v)) = (&r.state, r.version) else {
            continue;
        };
        let Some(m) = migration_for(r.kind, v) else {
            continue;
        };
        let result = backup(&r.path, v).and_then(|bak| (m.run)(&r.path).map(|()| bak));
        out.push(Migrated {
            path: r.path.clone(),
            name: m.name,
            result,
        });
    }
    out
}

fn backup(path: &Path, version: u32) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut bak = path.with_file_name(format!("{name}.v{version}.bak"));
    if bak.exists() {
        bak = path.with_file_name(format!("{name}.v{version}.{}.bak", crate::util::now_ms()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::fsutil::write_atomic(&bak, &bytes, 0o600)
        .map_err(|e| format!("cannot write backup {}: {e}", bak.display()))?;
    Ok(bak)
}

/// pi-coding-agent's v1 → v2 (an `id` on every entry, `parentId` the one before) and
/// v2 → v3 (message role `hookMessage` is `custom`). Unparseable lines (a torn line
/// from a crash) stay as they are; readers skip them either way.
fn migrate_transcript(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = String::new();
    let mut prev: Value = Value::Null;
    let mut saw_header = false;
    for (i, line) in text.lines().enumerate() {
        let Ok(mut v) = serde_json::from_str::<Value>(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        if i == 0 && v.get("type").and_then(Value::as_str) == Some("session") {
            v["version"] = json!(format("transcript").current);
            saw_header = true;
        } else if v.is_object() {
            if v.get("id").and_then(Value::as_str).is_none() {
                v["id"] = json!(crate::util::random_hex(4));
                v["parentId"] = prev.clone();
            }
            prev = v["id"].clone();
            if let Some(m) = v.get_mut("message")
                && m.get("role").and_then(Value::as_str) == Some("hookMessage")
            {
                m["role"] = json!("custom");
            }
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    if !saw_header {
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let header = json!({"type": "session", "version": format("transcript").current, "id": id,
            "timestamp": crate::util::iso_now(), "cwd": ""});
        out = format!("{header}\n{out}");
    }
    crate::fsutil::write_atomic(path, out.as_bytes(), 0o600)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
