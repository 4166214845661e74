//! Where the gateway keeps its files: state dir, config path, profiles.
//!
//! The rules are the original's (spec §6.1) so an existing `~/.clawdbot` keeps working:
//! `CLAWDBOT_STATE_DIR` (or `MOLTBOT_STATE_DIR`) wins, else `~/.clawdbot`, or
//! `~/.clawdbot-<profile>` for a named profile. The config is `CLAWDBOT_CONFIG_PATH`
//! (or `MOLTBOT_CONFIG_PATH`), else the first existing `clawdbot.json`/`moltbot.json` in
//! the state dir, else `<stateDir>/clawdbot.json`.
//!
//! Beside them, openclaw's names (its current release renamed everything): every
//! `OPENCLAW_<X>` is read as `CLAWDBOT_<X>` and wins when both are set (the newer name;
//! the config's warnings say which were used). Without a state dir variable,
//! `~/.clawdbot` is used when it exists, else `~/.openclaw` when that exists, else
//! `~/.clawdbot` (after openclaw migrated a state dir, `~/.clawdbot` is a symlink to
//! `~/.openclaw`: the same directory). In the state dir the config is the first of
//! `clawdbot.json`, `moltbot.json`, `openclaw.json` that exists.

use std::path::{Path, PathBuf};

/// The environment variables we read, captured once so tests can inject them.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: std::collections::BTreeMap<String, String>,
    /// Which `OPENCLAW_*` names were read (see [`Env::with_openclaw_names`]).
    openclaw_names: Vec<String>,
}

impl Env {
    /// Snapshot of the real process environment, openclaw's names applied.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
            openclaw_names: vec![],
        }
        .with_openclaw_names()
    }

    /// Reads each `OPENCLAW_<X>` as `CLAWDBOT_<X>` (and over `MOLTBOT_<X>`): the newer
    /// name wins when both are set. Records what it did for [`Env::names_note`].
    pub fn with_openclaw_names(mut self) -> Env {
        let found: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, v)| k.starts_with("OPENCLAW_") && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, value) in found {
            let suffix = &name["OPENCLAW_".len()..];
            let old = format!("CLAWDBOT_{suffix}");
            let over = [old.clone(), format!("MOLTBOT_{suffix}")]
                .into_iter()
                .filter(|o| self.get(o).is_some())
                .collect::<Vec<_>>();
            self.vars.remove(&format!("MOLTBOT_{suffix}"));
            self.vars.insert(old, value);
            self.openclaw_names.push(if over.is_empty() {
                name
            } else {
                format!("{name} (over {})", over.join(", "))
            });
        }
        self
    }

    /// One line naming the `OPENCLAW_*` variables read, if any.
    pub fn names_note(&self) -> Option<String> {
        (!self.openclaw_names.is_empty()).then(|| {
            format!(
                "environment: read openclaw's names {} as CLAWDBOT_* (the newer name wins)",
                self.openclaw_names.join(", ")
            )
        })
    }

    /// Builds an environment from pairs (tests, and the `env` config block overlay).
    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            openclaw_names: vec![],
        }
    }

    /// A variable's value; an empty value counts as unset, as in the original.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Sets a variable only when it is missing (the config `env` block never overrides).
    pub fn set_default(&mut self, key: &str, value: &str) {
        if self.get(key).is_none() {
            self.vars.insert(key.to_string(), value.to_string());
        }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.insert(key.to_string(), value.to_string());
    }

    pub fn home(&self) -> PathBuf {
        self.get("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    /// Expands a leading `~` to HOME.
    pub fn expand_tilde(&self, p: &str) -> PathBuf {
        if p == "~" {
            self.home()
        } else if let Some(rest) = p.strip_prefix("~/") {
            self.home().join(rest)
        } else {
            PathBuf::from(p)
        }
    }
}

/// Validates a profile name: letters, digits, `_` and `-` (the original's rule).
pub fn check_profile(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid profile name {name:?}: use letters, digits, '_' and '-' only"
        ))
    }
}

/// Resolved locations for one gateway instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    /// Where the config path came from, for messages ("CLAWDBOT_CONFIG_PATH", "default", ...).
    pub config_source: &'static str,
    pub profile: Option<String>,
}

impl Paths {
    /// Applies the original's precedence. `profile` comes from `--profile`.
    pub fn resolve(env: &Env, profile: Option<&str>) -> Paths {
        let profile = profile
            .map(str::to_string)
            .or_else(|| env.get("CLAWDBOT_PROFILE").map(str::to_string))
            .filter(|p| p != "default");
        let state_dir = env
            .get("MOLTBOT_STATE_DIR")
            .or_else(|| env.get("CLAWDBOT_STATE_DIR"))
            .map(|p| env.expand_tilde(p))
            .unwrap_or_else(|| {
                let suffix = profile
                    .as_ref()
                    .map(|p| format!("-{p}"))
                    .unwrap_or_default();
                let ours = env.home().join(format!(".clawdbot{suffix}"));
                let openclaw = env.home().join(format!(".openclaw{suffix}"));
                if !ours.exists() && openclaw.is_dir() {
                    openclaw
                } else {
                    ours
                }
            });
        let (config_path, config_source) = if let Some(p) = env.get("MOLTBOT_CONFIG_PATH") {
            (env.expand_tilde(p), "MOLTBOT_CONFIG_PATH")
        } else if let Some(p) = env.get("CLAWDBOT_CONFIG_PATH") {
            (env.expand_tilde(p), "CLAWDBOT_CONFIG_PATH")
        } else {
            let candidates = [
                state_dir.join("clawdbot.json"),
                state_dir.join("moltbot.json"),
                state_dir.join("openclaw.json"),
            ];
            let found = candidates.iter().find(|c| c.exists()).cloned();
            (
                found.unwrap_or_else(|| state_dir.join("clawdbot.json")),
                "state dir",
            )
        };
        Paths {
            state_dir: absolute(&state_dir),
            config_path: absolute(&config_path),
            config_source,
            profile,
        }
    }

    /// The gateway's singleton lock: one per config file, inside the state dir.
    pub fn lock_path(&self) -> PathBuf {
        use sha1::Digest;
        let digest = sha1::Sha1::digest(self.config_path.to_string_lossy().as_bytes());
        let short = hex::encode(&digest[..4]);
        self.state_dir.join(format!("gateway.{short}.lock"))
    }

    /// The token generated on first start when none is configured.
    pub fn generated_token_path(&self) -> PathBuf {
        self.state_dir.join("credentials").join("gateway-token")
    }

    pub fn sessions_store(&self, agent_id: &str) -> PathBuf {
        self.state_dir
            .join("agents")
            .join(agent_id)
            .join("sessions")
            .join("sessions.json")
    }

    pub fn devices_dir(&self) -> PathBuf {
        self.state_dir.join("devices")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}

/// Absolute path without touching the filesystem (the file may not exist yet).
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The CLI's device identity lives under HOME, not the state dir (a quirk of the original
/// that we keep so the same identity is used by both programs).
pub fn client_identity_path(env: &Env) -> PathBuf {
    env.home()
        .join(".clawdbot")
        .join("identity")
        .join("device.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let env = Env::from_pairs([("HOME", "/h")]);
        let p = Paths::resolve(&env, None);
        assert_eq!(p.state_dir, PathBuf::from("/h/.clawdbot"));
        assert_eq!(p.config_path, PathBuf::from("/h/.clawdbot/clawdbot.json"));

        let p = Paths::resolve(&env, Some("work"));
        assert_eq!(p.state_dir, PathBuf::from("/h/.clawdbot-work"));

        let env = Env::from_pairs([
            ("HOME", "/h"),
            ("CLAWDBOT_STATE_DIR", "~/st"),
            ("CLAWDBOT_CONFIG_PATH", "/etc/c.json"),
        ]);
        let p = Paths::resolve(&env, Some("work"));
        assert_eq!(p.state_dir, PathBuf::from("/h/st"));
        assert_eq!(p.config_path, PathBuf::from("/etc/c.json"));
        assert_eq!(p.config_source, "CLAWDBOT_CONFIG_PATH");
    }

    #[test]
    fn moltbot_json_is_found_when_present() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("moltbot.json"), "{}").unwrap();
        let env = Env::from_pairs([("CLAWDBOT_STATE_DIR", dir.path().to_str().unwrap())]);
        let p = Paths::resolve(&env, None);
        assert_eq!(p.config_path, dir.path().join("moltbot.json"));
    }

    #[test]
    fn profile_names() {
        assert!(check_profile("work_2-x").is_ok());
        assert!(check_profile("../x").is_err());
        assert!(check_profile("").is_err());
    }

    #[test]
    fn openclaw_names_are_read_and_win() {
        let env = Env::from_pairs([
            ("HOME", "/h"),
            ("OPENCLAW_STATE_DIR", "/oc"),
            ("CLAWDBOT_STATE_DIR", "/cb"),
            ("MOLTBOT_STATE_DIR", "/mb"),
            ("OPENCLAW_GATEWAY_TOKEN", "t4"),
            ("OPENCLAW_NIX_MODE", "1"),
            ("OPENCLAW_EMPTY", ""),
        ])
        .with_openclaw_names();
        assert_eq!(Paths::resolve(&env, None).state_dir, PathBuf::from("/oc"));
        assert_eq!(env.get("CLAWDBOT_GATEWAY_TOKEN"), Some("t4"));
        assert_eq!(env.get("CLAWDBOT_NIX_MODE"), Some("1"));
        assert_eq!(env.get("CLAWDBOT_EMPTY"), None);
        let note = env.names_note().unwrap();
        assert!(
            note.contains("OPENCLAW_STATE_DIR (over CLAWDBOT_STATE_DIR, MOLTBOT_STATE_DIR)"),
            "{note}"
        );
        assert!(note.contains("OPENCLAW_GATEWAY_TOKEN,"), "{note}");
        // Without OPENCLAW_* nothing changes and nothing is said.
        let env = Env::from_pairs([("CLAWDBOT_STATE_DIR", "/cb")]).with_openclaw_names();
        assert_eq!(env.names_note(), None);
        assert_eq!(Paths::resolve(&env, None).state_dir, PathBuf::from("/cb"));
    }

    #[test]
    fn openclaw_state_dir_and_config_are_found() {
        let home = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("HOME", home.path().to_str().unwrap())]);
        // Only ~/.openclaw: used, with its openclaw.json.
        std::fs::create_dir_all(home.path().join(".openclaw")).unwrap();
        std::fs::write(home.path().join(".openclaw/openclaw.json"), "{}").unwrap();
        let p = Paths::resolve(&env, None);
        assert_eq!(p.state_dir, home.path().join(".openclaw"));
        assert_eq!(p.config_path, home.path().join(".openclaw/openclaw.json"));
        // clawdbot.json beside it comes first.
        std::fs::write(home.path().join(".openclaw/clawdbot.json"), "{}").unwrap();
        assert_eq!(
            Paths::resolve(&env, None).config_path,
            home.path().join(".openclaw/clawdbot.json")
        );
        // ~/.clawdbot, when it exists, stays the default.
        std::fs::create_dir_all(home.path().join(".clawdbot")).unwrap();
        assert_eq!(
            Paths::resolve(&env, None).state_dir,
            home.path().join(".clawdbot")
        );
    }
}
