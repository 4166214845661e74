//! Channel accounts from the config, the same way for every channel kind: the top-level
//! `channels.<kind>` section is the account "default", each `accounts.<id>` entry is
//! another one over the top-level keys (a token is never inherited: each bot has its own).
//! Tokens come from a file (`tokenFile`), the inline key, or, for the default account
//! only, the kind's environment variable, `<VAR>_FILE` or the systemd credential.

use serde_json::{Map, Value};

use super::kinds::Kind;
use crate::config::secrets::{self, Candidate, Secret, SecretMode};
use crate::paths::Env;

/// One configured bot account with its effective settings.
#[derive(Debug, Clone)]
pub struct Account {
    pub kind: &'static Kind,
    pub id: String,
    pub enabled: bool,
    pub token: Result<Option<Secret>, String>,
    pub token_source: Option<String>,
    /// The REST base: `apiRoot`, or the kind's public API.
    pub api_root: String,
    /// The effective settings (top-level keys overlaid with the account's own).
    pub section: Map<String, Value>,
}

impl Account {
    /// The config key path of this account (`channels.telegram` or
    /// `channels.telegram.accounts.work`), for messages that name the key to fix.
    pub fn key(&self) -> String {
        key_of(self.kind, &self.id)
    }

    /// The token, or why there is none (naming the keys that set it).
    pub fn require_token(&self) -> Result<Secret, String> {
        match &self.token {
            Ok(Some(t)) => Ok(t.clone()),
            Ok(None) => Err(format!(
                "{} account {} has no bot token; set {}.tokenFile{}",
                self.kind.label,
                self.id,
                self.key(),
                if self.id == "default" {
                    format!(" (or {})", self.kind.token_env)
                } else {
                    String::new()
                }
            )),
            Err(e) => Err(e.clone()),
        }
    }
}

pub fn key_of(kind: &Kind, id: &str) -> String {
    if id == "default" {
        format!("channels.{}", kind.id)
    } else {
        format!("channels.{}.accounts.{id}", kind.id)
    }
}

/// The account ids `channels.<kind>` configures, with their effective settings (none
/// when the section is absent).
pub fn sections(resolved: &Value, kind: &Kind) -> Vec<(String, Map<String, Value>)> {
    let Some(base) = resolved
        .get("channels")
        .and_then(|c| c.get(kind.id))
        .and_then(Value::as_object)
    else {
        return vec![];
    };
    let mut common = base.clone();
    let listed = common
        .remove("accounts")
        .and_then(|a| a.as_object().cloned())
        .unwrap_or_default();
    let top_enabled = common.get("enabled").and_then(Value::as_bool) != Some(false);
    let has_token = common.contains_key(kind.inline_token_key) || common.contains_key("tokenFile");
    let mut ids: Vec<String> = listed.keys().cloned().collect();
    if ids.is_empty() || !listed.contains_key("default") && has_token {
        ids.insert(0, "default".into());
    }
    ids.into_iter()
        .map(|id| {
            let own = listed
                .get(&id)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut section = common.clone();
            if id != "default" {
                section.remove(kind.inline_token_key);
                section.remove("tokenFile");
            }
            section.extend(own);
            if !top_enabled {
                section.insert("enabled".into(), Value::Bool(false));
            }
            (id, section)
        })
        .collect()
}

/// The current settings of one account (the config may have been reloaded since the
/// account started: access rules and formatting follow it without a restart).
pub fn current_section(resolved: &Value, kind: &Kind, id: &str) -> Option<Map<String, Value>> {
    sections(resolved, kind)
        .into_iter()
        .find(|(i, _)| i == id)
        .map(|(_, s)| s)
}

/// The accounts `channels.<kind>` configures. With no section at all, a token in the
/// kind's environment variable (or `<VAR>_FILE`, or the systemd credential) is the
/// default account on default settings: `fly secrets set DISCORD_BOT_TOKEN=…` is a
/// whole setup.
pub fn accounts(resolved: &Value, env: &Env, kind: &'static Kind) -> Vec<Account> {
    let mut found = sections(resolved, kind);
    let section_absent = resolved
        .get("channels")
        .and_then(|c| c.get(kind.id))
        .is_none();
    if found.is_empty() && section_absent {
        let (token, _) = token_of(kind, "default", &Map::new(), env);
        if !matches!(token, Ok(None)) {
            found.push(("default".into(), Map::new()));
        }
    }
    found
        .into_iter()
        .map(|(id, section)| {
            let enabled = section.get("enabled").and_then(Value::as_bool) != Some(false);
            let (token, token_source) = token_of(kind, &id, &section, env);
            let api_root = section
                .get("apiRoot")
                .and_then(Value::as_str)
                .unwrap_or(kind.api_root)
                .trim_end_matches('/')
                .to_string();
            Account {
                kind,
                id,
                enabled,
                token,
                token_source,
                api_root,
                section,
            }
        })
        .collect()
}

/// One account by id.
pub fn find(resolved: &Value, env: &Env, kind: &'static Kind, id: &str) -> Option<Account> {
    accounts(resolved, env, kind)
        .into_iter()
        .find(|a| a.id == id)
}

fn token_of(
    kind: &Kind,
    id: &str,
    section: &Map<String, Value>,
    env: &Env,
) -> (Result<Option<Secret>, String>, Option<String>) {
    let prefix = key_of(kind, id);
    let inline_key = format!("{prefix}.{}", kind.inline_token_key);
    let file_key = format!("{prefix}.tokenFile");
    let env_file = format!("{}_FILE", kind.token_env);
    let mut c = vec![
        Candidate::File {
            key: &file_key,
            path: section.get("tokenFile").and_then(Value::as_str),
        },
        Candidate::Inline {
            key: &inline_key,
            value: section.get(kind.inline_token_key).and_then(Value::as_str),
        },
    ];
    if id == "default" {
        c.push(Candidate::EnvVar {
            name: kind.token_env,
        });
        c.push(Candidate::EnvFile { name: &env_file });
        c.push(Candidate::Credential {
            name: kind.credential,
        });
    }
    let mut warnings = vec![];
    match secrets::lookup(&c, env, SecretMode::Read, &mut warnings) {
        Ok(Some(found)) => (
            Ok(found.secret().map(|s| (kind.clean_token)(s))),
            Some(found.source().to_string()),
        ),
        Ok(None) => (Ok(None), None),
        Err(e) => (Err(e), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::{discord, telegram};
    use serde_json::json;

    #[test]
    fn accounts_from_sections_and_from_the_environment_alone() {
        let none = Env::from_pairs([("HOME", "/nonexistent")]);
        assert!(accounts(&json!({}), &none, &discord::KIND).is_empty());
        // `fly secrets set DISCORD_BOT_TOKEN=…` and nothing else: one default account,
        // its token cleaned of a pasted `Bot ` prefix.
        let env = Env::from_pairs([("HOME", "/nonexistent"), ("DISCORD_BOT_TOKEN", "Bot a.b.c")]);
        let a = accounts(&json!({}), &env, &discord::KIND);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].id, "default");
        assert_eq!(
            a[0].token.as_ref().unwrap().as_ref().unwrap().expose(),
            "a.b.c"
        );
        assert_eq!(a[0].api_root, discord::rest::DEFAULT_API_ROOT);
        // A section that disables the channel wins over the environment.
        let off = json!({"channels": {"discord": {"enabled": false}}});
        assert!(
            accounts(&off, &env, &discord::KIND)
                .iter()
                .all(|a| !a.enabled)
        );
        // Accounts never inherit another bot's token; the env var is the default's only.
        let cfg = json!({"channels": {"telegram": {"botToken": "1:a", "accounts": {"work": {"dmPolicy": "open"}}}}});
        let t = accounts(&cfg, &env, &telegram::KIND);
        assert_eq!(
            t.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["default", "work"]
        );
        assert!(matches!(t[1].token, Ok(None)));
        assert_eq!(t[1].key(), "channels.telegram.accounts.work");
        assert!(
            t[1].require_token()
                .unwrap_err()
                .contains("channels.telegram.accounts.work.tokenFile")
        );
    }
}
