//! A provider's API key, from (in order): `models.providers.<id>.apiKeyFile`, the
//! original's `auth-profiles.json`, `<ID>_API_KEY`, `<ID>_API_KEY_FILE`, the systemd
//! credential `<id>-api-key`, and finally an inline `models.providers.<id>.apiKey`.

use std::path::Path;

use serde_json::Value;

use super::providers::{ProviderConfig, env_var};
use crate::config::secrets::{Candidate, Secret, SecretMode, lookup};
use crate::paths::Env;

pub fn api_key(
    provider: &str,
    cfg: &ProviderConfig,
    env: &Env,
    state_dir: &Path,
    mode: SecretMode,
    warnings: &mut Vec<String>,
) -> Result<Option<Secret>, String> {
    let file_key = format!("models.providers.{provider}.apiKeyFile");
    let inline_key = format!("models.providers.{provider}.apiKey");
    let var = env_var(provider);
    let var_file = format!("{var}_FILE");
    let cred = format!("{provider}-api-key");
    let first = [Candidate::File {
        key: &file_key,
        path: cfg.api_key_file.as_deref(),
    }];
    if let Some(found) = lookup(&first, env, mode, warnings)? {
        return Ok(found.secret().cloned());
    }
    if let Some(s) = auth_profile_key(state_dir, provider) {
        return Ok(Some(s));
    }
    let mut rest = vec![];
    if provider == "anthropic" {
        rest.push(Candidate::EnvVar {
            name: "ANTHROPIC_OAUTH_TOKEN",
        });
    }
    rest.extend([
        Candidate::EnvVar { name: &var },
        Candidate::EnvFile { name: &var_file },
        Candidate::Credential { name: &cred },
        Candidate::Inline {
            key: &inline_key,
            value: cfg.api_key.as_deref(),
        },
    ]);
    if let Some(found) = lookup(&rest, env, mode, warnings)? {
        return Ok(found.secret().cloned());
    }
    // Where `clawdbot onboard` stores a key it was given: <stateDir>/credentials/<id>-api-key.
    let stored = state_dir.join("credentials").join(&cred);
    let stored_key = format!("{}", stored.display());
    let last = [Candidate::File {
        key: &stored_key,
        path: stored.exists().then_some(stored_key.as_str()),
    }];
    Ok(lookup(&last, env, mode, warnings)?.and_then(|f| f.secret().cloned()))
}

/// The first `api_key`/`token` profile for the provider in the default agent's
/// `auth-profiles.json` (written by the original's `models auth` commands).
fn auth_profile_key(state_dir: &Path, provider: &str) -> Option<Secret> {
    let path = state_dir
        .join("agents")
        .join("main")
        .join("agent")
        .join("auth-profiles.json");
    // A newer-format file is skipped (and listed in `status`), never misread.
    let store = crate::state_format::read_json("auth-profiles", &path).ok()??;
    let profiles = store.get("profiles")?.as_object()?;
    let order: Vec<String> = store
        .get("order")
        .and_then(|o| o.get(provider))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_else(|| profiles.keys().cloned().collect());
    order.iter().find_map(|id| {
        let p = profiles.get(id)?;
        if p.get("provider")?.as_str()? != provider {
            return None;
        }
        let value = match p.get("type")?.as_str()? {
            "api_key" => p.get("key"),
            "token" => p.get("token"),
            _ => None,
        }?;
        value.as_str().filter(|s| !s.is_empty()).map(Secret::new)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn precedence() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = vec![];
        let env = Env::from_pairs([("OPENAI_API_KEY", "from-env")]);
        let cfg = ProviderConfig {
            api_key: Some("inline".into()),
            ..Default::default()
        };
        let k = api_key("openai", &cfg, &env, dir.path(), SecretMode::Read, &mut w).unwrap();
        assert!(k.unwrap().ct_eq("from-env"));
        let p = dir.path().join("agents/main/agent/auth-profiles.json");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, json!({"version": 1, "profiles": {"openai:default": {"type": "api_key", "provider": "openai", "key": "from-profile"}}}).to_string()).unwrap();
        let k = api_key("openai", &cfg, &env, dir.path(), SecretMode::Read, &mut w).unwrap();
        assert!(k.unwrap().ct_eq("from-profile"));
        let f = dir.path().join("key");
        std::fs::write(&f, "from-file\n").unwrap();
        let cfg = ProviderConfig {
            api_key_file: Some(f.display().to_string()),
            ..cfg
        };
        let k = api_key("openai", &cfg, &env, dir.path(), SecretMode::Read, &mut w).unwrap();
        assert!(k.unwrap().ct_eq("from-file"));
        let none = api_key(
            "groq",
            &ProviderConfig::default(),
            &Env::from_pairs::<_, &str, &str>([]),
            dir.path(),
            SecretMode::Read,
            &mut w,
        )
        .unwrap();
        assert!(none.is_none());
    }
}
