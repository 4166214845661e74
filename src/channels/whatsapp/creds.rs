//! Where a linked device's credentials live: `<stateDir>/credentials/whatsapp/<account>/`
//! (or the account's `authDir`), a 0700 directory holding the library's SQLite session
//! (`session.db`, created 0600 before the library opens it, so SQLite's journal files
//! inherit 0600 too) and `linked.json` (who the device is linked as, written on a
//! successful link). Linking writes here and never the config, so it works in Nix mode
//! and a container that mounts the state dir keeps the link across rebuilds.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::fsutil::{create_private_dir, write_json_private};

/// The library's session database in the credentials directory.
pub const DB_FILE: &str = "session.db";
/// Written when a link succeeds: `{jid, lid, pushName, linkedAt}`.
pub const LINKED_FILE: &str = "linked.json";

/// One account's credentials directory.
#[derive(Debug, Clone)]
pub struct Creds {
    pub dir: PathBuf,
}

impl Creds {
    /// `authDir` (with `~/` expanded against `home`) or the state-dir default.
    pub fn for_account(
        state_dir: &Path,
        home: Option<&Path>,
        account: &str,
        auth_dir: Option<&str>,
    ) -> Creds {
        let dir = match auth_dir.filter(|d| !d.trim().is_empty()) {
            Some(d) => match (d.strip_prefix("~/"), home) {
                (Some(rest), Some(h)) => h.join(rest),
                _ => PathBuf::from(d),
            },
            None => default_dir(state_dir, account),
        };
        Creds { dir }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    /// Creates the directory (0700, and tightens an existing one) and an empty 0600
    /// database file if there is none; the database path.
    pub fn prepare(&self) -> Result<PathBuf, String> {
        let fail = |e: std::io::Error| format!("cannot prepare {}: {e}", self.dir.display());
        create_private_dir(&self.dir).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(fail)?;
        }
        let db = self.db();
        let mut o = std::fs::OpenOptions::new();
        o.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        o.open(&db).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        }
        Ok(db)
    }

    /// Who the device is linked as, when it is. A `linked.json` in a newer format is
    /// refused (and listed in `status`): the account counts as not linked, and the file
    /// is left as it is.
    pub fn linked(&self) -> Option<Value> {
        crate::state_format::read_json("whatsapp-linked", &self.dir.join(LINKED_FILE))
            .ok()
            .flatten()
    }

    pub fn is_linked(&self) -> bool {
        self.linked().is_some() && self.db().is_file()
    }

    /// Records a successful link.
    pub fn mark_linked(&self, jid: &str, lid: &str, push_name: &str) -> Result<(), String> {
        self.prepare()?;
        let path = self.dir.join(LINKED_FILE);
        if crate::state_format::is_refused(&path) {
            return Err(format!(
                "{} was written by a newer clawdbot; roll forward, or move it aside to link again",
                path.display()
            ));
        }
        let v = json!({"version": 1, "jid": jid, "lid": lid, "pushName": push_name, "linkedAt": crate::util::now_ms()});
        write_json_private(&self.dir.join(LINKED_FILE), &v)
            .map_err(|e| format!("cannot write {}: {e}", self.dir.display()))
    }

    /// Forgets the link: the session database (with SQLite's journal files) and
    /// `linked.json`, then the directory if nothing else is in it. Only our own files
    /// go: an `authDir` pointed at a directory holding other things keeps them.
    pub fn remove(&self) -> Result<bool, String> {
        let mut any = false;
        for name in [
            LINKED_FILE,
            DB_FILE,
            "session.db-wal",
            "session.db-shm",
            "session.db-journal",
        ] {
            match std::fs::remove_file(self.dir.join(name)) {
                Ok(()) => any = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(format!(
                        "cannot remove {}: {e}",
                        self.dir.join(name).display()
                    ));
                }
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
        Ok(any)
    }
}

pub fn default_dir(state_dir: &Path, account: &str) -> PathBuf {
    state_dir.join("credentials").join("whatsapp").join(account)
}

/// Accounts with a linked device under the state dir (a link made with
/// `channels login` needs no config section to run).
pub fn linked_accounts(state_dir: &Path) -> Vec<String> {
    let dir = state_dir.join("credentials").join("whatsapp");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let c = Creds { dir: e.path() };
            (valid_id(&name) && c.is_linked()).then_some(name)
        })
        .collect();
    out.sort();
    out
}

/// An account id names a directory: letters, digits, `-` and `_` only (no `..`).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The linked number (`+…`) from `linked.json`, for status and logs.
pub fn self_e164(linked: &Value) -> Option<String> {
    linked["jid"].as_str().and_then(super::settings::e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_dir_overrides_and_expands_home() {
        let c = Creds::for_account(Path::new("/s"), Some(Path::new("/h")), "work", None);
        assert_eq!(c.dir, Path::new("/s/credentials/whatsapp/work"));
        let c = Creds::for_account(Path::new("/s"), Some(Path::new("/h")), "w", Some("~/wa"));
        assert_eq!(c.dir, Path::new("/h/wa"));
        let c = Creds::for_account(Path::new("/s"), None, "w", Some(" "));
        assert_eq!(c.dir, Path::new("/s/credentials/whatsapp/w"));
    }

    #[test]
    fn a_newer_linked_file_is_not_a_link_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let c = Creds::for_account(dir.path(), None, "a", None);
        c.mark_linked("1@s.whatsapp.net", "2@lid", "Ada").unwrap();
        let v = c.linked().unwrap();
        assert_eq!(
            (v["version"].as_i64(), v["pushName"].as_str()),
            (Some(1), Some("Ada"))
        );
        let path = c.dir.join(LINKED_FILE);
        let newer = r#"{"version": 2, "jid": "1@s.whatsapp.net", "keys": {}}"#;
        std::fs::write(&path, newer).unwrap();
        assert!(c.linked().is_none(), "a newer file is not read as a link");
        let e = c
            .mark_linked("1@s.whatsapp.net", "2@lid", "Ada")
            .unwrap_err();
        assert!(e.contains("newer clawdbot"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);
    }
}
