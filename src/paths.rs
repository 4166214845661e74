//! Where the gateway keeps its files: state dir, config path, profiles.
//!
//! The rules are the original's (spec §6.1) so an existing `~/.clawdbot` keeps working:
//! `CLAWDBOT_STATE_DIR` (or `MOLTBOT_STATE_DIR`) wins, else `~/.clawdbot`, or
//! `~/.clawdbot-<profile>` for a named profile. The config is `CLAWDBOT_CONFIG_PATH`
//! (or `MOLTBOT_CONFIG_PATH`), else the first existing `clawdbot.json`/`moltbot.json` in
//! the state dir, else `<stateDir>/clawdbot.json`.

use std::path::{Path, PathBuf};

/// The environment variables we read, captured once so tests can inject them.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: std::collections::BTreeMap<String, String>,
}

impl Env {
    /// Snapshot of the real process environment.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
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
            .unwrap_or_else(|| match &profile {
                Some(p) => env.home().join(format!(".clawdbot-{p}")),
                None => env.home().join(".clawdbot"),
            });
        let (config_path, config_source) = if let Some(p) = env.get("MOLTBOT_CONFIG_PATH") {
            (env.expand_tilde(p), "MOLTBOT_CONFIG_PATH")
        } else if let Some(p) = env.get("CLAWDBOT_CONFIG_PATH") {
            (env.expand_tilde(p), "CLAWDBOT_CONFIG_PATH")
        } else {
            let candidates = [
                state_dir.join("clawdbot.json"),
                state_dir.join("moltbot.json"),
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
}
