//! `<stateDir>/cron/jobs.json` (or `cron.store`): the original's `{version:1, jobs:[…]}`,
//! written atomically (temp file, fsync, rename) so a crash leaves the old or the new
//! file, never half of one.

use std::path::{Path, PathBuf};

use super::types::StoreFile;

/// `cron.store` when set (with `~` expanded), else `<stateDir>/cron/jobs.json`.
pub fn resolve_path(
    state_dir: &Path,
    configured: Option<&str>,
    env: &crate::paths::Env,
) -> PathBuf {
    match configured.map(str::trim).filter(|s| !s.is_empty()) {
        Some(p) => env.expand_tilde(p),
        None => state_dir.join("cron").join("jobs.json"),
    }
}

/// A missing file is an empty store; an unreadable one is an error (so a typo in the
/// file is never answered by silently overwriting every job), and so is one in a newer
/// format (state format `cron-jobs`): the service then refuses every write to it.
pub fn load(path: &Path) -> Result<StoreFile, String> {
    let raw = match std::fs::read_to_string(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoreFile::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if raw.trim().is_empty() {
        return Ok(StoreFile::default());
    }
    let invalid = |e: String| {
        format!(
            "{} is not a valid cron store ({e}); fix or remove it",
            path.display()
        )
    };
    let value: serde_json::Value =
        serde_json::from_str(&raw).map_err(|e| invalid(e.to_string()))?;
    let version =
        crate::state_format::check_value("cron-jobs", path, &value).map_err(|r| r.to_string())?;
    let mut file: StoreFile = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    // Saved as read: only `doctor --migrate` changes a file's format version.
    file.version = version;
    Ok(file)
}

pub fn save(path: &Path, file: &StoreFile) -> Result<(), String> {
    let value = serde_json::to_value(file).map_err(|e| e.to_string())?;
    crate::fsutil::write_json_private(path, &value)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cron::types::*;

    #[test]
    fn round_trips_the_original_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cron/jobs.json");
        assert!(load(&path).unwrap().jobs.is_empty());
        let job = Job {
            id: "j1".into(),
            agent_id: None,
            name: "n".into(),
            description: None,
            enabled: true,
            delete_after_run: None,
            created_at_ms: 1,
            updated_at_ms: 1,
            schedule: Schedule::Every {
                every_ms: 1000,
                anchor_ms: None,
            },
            session_target: "main".into(),
            wake_mode: "now".into(),
            payload: Payload::SystemEvent { text: "hi".into() },
            isolation: None,
            state: JobState::default(),
        };
        save(
            &path,
            &StoreFile {
                version: 1,
                jobs: vec![job.clone()],
            },
        )
        .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["jobs"][0]["schedule"]["kind"], "every");
        assert_eq!(v["jobs"][0]["schedule"]["everyMs"], 1000);
        assert_eq!(v["jobs"][0]["payload"]["kind"], "systemEvent");
        assert_eq!(v["jobs"][0]["sessionTarget"], "main");
        assert_eq!(load(&path).unwrap().jobs, vec![job]);
        std::fs::write(&path, "{oops").unwrap();
        assert!(load(&path).unwrap_err().contains("fix or remove it"));
    }

    #[test]
    fn newer_store_is_refused_and_older_shape_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.json");
        let text = r#"{"version": 2, "jobs": {"reshaped": true}}"#;
        std::fs::write(&path, text).unwrap();
        let e = load(&path).unwrap_err();
        assert!(
            e.contains("newer clawdbot") && e.contains("version 2"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // The original's file without a version field is version 1.
        std::fs::write(&path, r#"{"jobs": []}"#).unwrap();
        assert_eq!(load(&path).unwrap().version, 1);
    }
}
