//! `doctor`'s look at what openclaw (Clawdbot's current release) did to a state dir.
//!
//! openclaw 2026.9 imports sessions, devices, cron and the identity into SQLite on its
//! first start, renames the JSON files it imported to `*.migrated` (or archives them),
//! and leaves `~/.clawdbot` as a symlink to `~/.openclaw` (protocol-v4.md §2, §4). We
//! read the JSON files only, so a user's history would silently vanish; instead we say
//! what we found and how to get the JSON back (we do not read SQLite).

use std::path::{Path, PathBuf};

use super::doctor::Severity;
use crate::paths::{Env, Paths};

pub struct Note {
    pub severity: Severity,
    pub message: String,
    pub fix: Option<String>,
}

fn note(severity: Severity, message: String, fix: Option<String>) -> Note {
    Note {
        severity,
        message,
        fix,
    }
}

/// A `sessions.json` under `dir` (openclaw's import archive), at most three levels deep.
fn find_sessions_json(dir: &Path, depth: u32) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut subdirs = vec![];
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "sessions.json") {
            return Some(p);
        }
        if p.is_dir() {
            subdirs.push(p);
        }
    }
    subdirs.sort();
    if depth == 0 {
        return None;
    }
    subdirs
        .iter()
        .find_map(|d| find_sessions_json(d, depth - 1))
}

/// Findings about openclaw's state in `paths.state_dir` (none when openclaw never ran).
pub fn findings(paths: &Paths, env: &Env) -> Vec<Note> {
    let s = &paths.state_dir;
    let mut out = vec![];
    let legacy = env.home().join(".clawdbot");
    if let Ok(target) = std::fs::read_link(&legacy) {
        out.push(note(
            Severity::Info,
            format!(
                "{} is a symlink to {} (openclaw moved the state dir); both names reach the same files",
                legacy.display(),
                target.display()
            ),
            None,
        ));
    }
    let db = s.join("state/openclaw.sqlite");
    if db.exists() {
        out.push(note(
            Severity::Info,
            format!(
                "openclaw's SQLite state {} (devices, cron, identity) is not read by this gateway",
                db.display()
            ),
            None,
        ));
    }
    for (file, what) in [
        ("devices/paired.json", "paired devices"),
        ("devices/pending.json", "pending pairing requests"),
        ("cron/jobs.json", "cron jobs"),
    ] {
        let ours = s.join(file);
        let moved = s.join(format!("{file}.migrated"));
        if moved.exists() && !ours.exists() {
            out.push(note(
                Severity::Warn,
                format!(
                    "openclaw imported the {what} into SQLite and renamed {} to {}; this gateway reads {} and sees none",
                    file,
                    moved.display(),
                    ours.display()
                ),
                Some(format!(
                    "restore it: cp {} {}",
                    moved.display(),
                    ours.display()
                )),
            ));
        }
    }
    let agents = std::fs::read_dir(s.join("agents")).into_iter().flatten();
    for agent in agents.flatten() {
        let dir = agent.path();
        let id = agent.file_name().to_string_lossy().into_owned();
        let sqlite = dir.join("agent/openclaw-agent.sqlite");
        let ours = paths.sessions_store(&id);
        let archived = find_sessions_json(&dir.join("session-sqlite-import-archive"), 3);
        match (ours.exists(), archived) {
            (false, Some(a)) => out.push(note(
                Severity::Warn,
                format!(
                    "agent {id}: openclaw moved the sessions into {} and archived the JSON store at {}; this gateway reads {} and sees no history",
                    sqlite.display(),
                    a.display(),
                    ours.display()
                ),
                Some(format!(
                    "restore it (with the transcripts beside it): mkdir -p {dir} && cp -n {src}/* {dir}/",
                    dir = ours.parent().unwrap_or(s).display(),
                    src = a.parent().unwrap_or(s).display()
                )),
            )),
            (false, None) if sqlite.exists() => out.push(note(
                Severity::Warn,
                format!(
                    "agent {id}: sessions are only in openclaw's {} (no JSON store); this gateway starts them afresh",
                    sqlite.display()
                ),
                Some(
                    "export them with openclaw before switching, or keep using openclaw for that history"
                        .into(),
                ),
            )),
            (true, _) if sqlite.exists() => out.push(note(
                Severity::Info,
                format!(
                    "agent {id}: using {}; openclaw's {} is not read (sessions made under openclaw are not here)",
                    ours.display(),
                    sqlite.display()
                ),
                None,
            )),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_dir_openclaw_migrated_is_described_with_fixes() {
        let home = tempfile::tempdir().unwrap();
        let s = home.path().join(".openclaw");
        for d in [
            "state",
            "devices",
            "cron",
            "agents/main/agent",
            "agents/main/session-sqlite-import-archive/2026-12-01",
        ] {
            std::fs::create_dir_all(s.join(d)).unwrap();
        }
        std::fs::write(s.join("state/openclaw.sqlite"), "SQLite format 3\0").unwrap();
        std::fs::write(s.join("devices/paired.json.migrated"), "{}").unwrap();
        std::fs::write(s.join("agents/main/agent/openclaw-agent.sqlite"), "").unwrap();
        std::fs::write(
            s.join("agents/main/session-sqlite-import-archive/2026-12-01/sessions.json"),
            "{}",
        )
        .unwrap();
        std::os::unix::fs::symlink(&s, home.path().join(".clawdbot")).unwrap();
        let env = Env::from_pairs([("HOME", home.path().to_str().unwrap())]);
        let paths = Paths::resolve(&env, None);
        let notes = findings(&paths, &env);
        let text: Vec<String> = notes
            .iter()
            .map(|n| format!("{:?} {} | {:?}", n.severity, n.message, n.fix))
            .collect();
        let all = text.join("\n");
        assert!(all.contains("is a symlink to"), "{all}");
        assert!(all.contains("state/openclaw.sqlite"), "{all}");
        assert!(
            all.contains("Warn openclaw imported the paired devices") && all.contains("cp "),
            "{all}"
        );
        assert!(
            all.contains("Warn agent main: openclaw moved the sessions")
                && all.contains("2026-12-01/sessions.json"),
            "{all}"
        );
        // A plain state dir says nothing.
        let clean = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("CLAWDBOT_STATE_DIR", clean.path().to_str().unwrap())]);
        assert!(findings(&Paths::resolve(&env, None), &env).is_empty());
    }
}
