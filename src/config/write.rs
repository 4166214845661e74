//! Config writes outside Nix mode: validated, atomic (temp + rename, 0600), with the
//! original's five rotating backups (`.bak`, `.bak.1` … `.bak.4`). In Nix mode every write
//! is refused with the option to change instead.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::nix::NixMode;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    NixManaged(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Refuses when Nix manages the config; `key` names what the caller wanted to change.
pub fn guard(nix: &NixMode, key: &str) -> Result<(), WriteError> {
    if nix.enabled {
        Err(WriteError::NixManaged(crate::nix::key_remediation(key)))
    } else {
        Ok(())
    }
}

fn backup_name(path: &Path, n: Option<u32>) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    match n {
        None => s.push(".bak"),
        Some(n) => s.push(format!(".bak.{n}")),
    }
    PathBuf::from(s)
}

/// Rotates `.bak.3→.bak.4`, …, `.bak→.bak.1`, then copies the current file to `.bak`.
fn rotate_backups(path: &Path) -> std::io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let _ = std::fs::remove_file(backup_name(path, Some(4)));
    for n in (1..4).rev() {
        let from = backup_name(path, Some(n));
        if from.exists() {
            std::fs::rename(&from, backup_name(path, Some(n + 1)))?;
        }
    }
    let bak = backup_name(path, None);
    if bak.exists() {
        std::fs::rename(&bak, backup_name(path, Some(1)))?;
    }
    let bytes = std::fs::read(path)?;
    crate::fsutil::write_atomic(&bak, &bytes, 0o600)
}

/// Writes text that the caller already validated.
pub fn write_text(path: &Path, text: &str, nix: &NixMode, key: &str) -> Result<(), WriteError> {
    guard(nix, key)?;
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    rotate_backups(path).map_err(io)?;
    crate::fsutil::write_atomic(path, text.as_bytes(), 0o600).map_err(io)
}

/// Stamps `meta.lastTouched*` and writes `value` as 2-space JSON.
pub fn write_value(
    path: &Path,
    value: &mut Value,
    nix: &NixMode,
    key: &str,
) -> Result<(), WriteError> {
    if let Some(obj) = value.as_object_mut() {
        let meta = obj
            .entry("meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("lastTouchedVersion".into(), crate::VERSION.into());
            meta.insert("lastTouchedAt".into(), crate::util::iso_now().into());
        }
    }
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| WriteError::Invalid(e.to_string()))?;
    text.push('\n');
    write_text(path, &text, nix, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_rotate_and_nix_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("clawdbot.json");
        let off = NixMode::off();
        for i in 0..7 {
            write_text(&p, &format!("{{\"n\":{i}}}"), &off, "n").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"n\":6}");
        assert_eq!(
            std::fs::read_to_string(backup_name(&p, None)).unwrap(),
            "{\"n\":5}"
        );
        assert_eq!(
            std::fs::read_to_string(backup_name(&p, Some(4))).unwrap(),
            "{\"n\":1}"
        );
        assert!(!backup_name(&p, Some(5)).exists());

        let nix = NixMode {
            enabled: true,
            reason: "test",
        };
        let err = write_text(&p, "{}", &nix, "gateway.port").unwrap_err();
        assert!(
            err.to_string()
                .contains("services.clawdbot.settings.gateway.port")
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"n\":6}");
    }
}
