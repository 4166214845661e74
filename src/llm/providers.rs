//! Where a `provider/model` ref goes: the built-in providers (base URL, API kind, key
//! variable) and the user's `models.providers.<id>` entries, which override or add.

use serde::Deserialize;
use serde_json::Value;

use super::{Api, Target};
use crate::config::secrets::SecretMode;
use crate::paths::Env;

/// `(id, api, base URL, env var of the key)`; `None` key = no key needed (local servers).
const BUILTIN: &[(&str, Api, &str, Option<&str>)] = &[
    (
        "anthropic",
        Api::AnthropicMessages,
        super::anthropic::DEFAULT_BASE_URL,
        Some("ANTHROPIC_API_KEY"),
    ),
    (
        "openai",
        Api::OpenAiCompletions,
        super::openai::DEFAULT_BASE_URL,
        Some("OPENAI_API_KEY"),
    ),
    (
        "openrouter",
        Api::OpenAiCompletions,
        "https://openrouter.ai/api/v1",
        Some("OPENROUTER_API_KEY"),
    ),
    (
        "groq",
        Api::OpenAiCompletions,
        "https://api.groq.com/openai/v1",
        Some("GROQ_API_KEY"),
    ),
    (
        "xai",
        Api::OpenAiCompletions,
        "https://api.x.ai/v1",
        Some("XAI_API_KEY"),
    ),
    (
        "mistral",
        Api::OpenAiCompletions,
        "https://api.mistral.ai/v1",
        Some("MISTRAL_API_KEY"),
    ),
    (
        "ollama",
        Api::OpenAiCompletions,
        "http://127.0.0.1:11434/v1",
        None,
    ),
];

/// The env var holding a provider's key (`<ID>_API_KEY` for providers we do not know).
pub fn env_var(provider: &str) -> String {
    BUILTIN
        .iter()
        .find(|b| b.0 == provider)
        .and_then(|b| b.3)
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{}_API_KEY",
                provider.to_ascii_uppercase().replace(['-', '.'], "_")
            )
        })
}

pub fn needs_key(provider: &str) -> bool {
    BUILTIN
        .iter()
        .find(|b| b.0 == provider)
        .is_none_or(|b| b.3.is_some())
}

/// `models.providers.<id>` as far as this gateway uses it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProviderConfig {
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
    pub api: Option<String>,
    pub headers: std::collections::BTreeMap<String, String>,
    pub models: Vec<ModelConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ModelConfig {
    pub id: String,
    pub name: Option<String>,
    pub api: Option<String>,
    pub context_window: Option<f64>,
    pub max_tokens: Option<f64>,
    pub reasoning: Option<bool>,
}

pub fn provider_config(resolved: &Value, id: &str) -> Option<ProviderConfig> {
    let v = resolved.get("models")?.get("providers")?.get(id)?;
    serde_json::from_value(v.clone()).ok()
}

/// Splits `provider/model`; a bare model name belongs to Anthropic, as in the original.
pub fn split_ref(model_ref: &str) -> (String, String) {
    let r = crate::config::model::resolve_model_alias(model_ref.trim());
    match r.split_once('/') {
        Some((p, m)) => (p.trim().to_ascii_lowercase(), m.trim().to_string()),
        None => ("anthropic".to_string(), r.to_string()),
    }
}

fn parse_api(s: &str) -> Result<Api, String> {
    match s {
        "anthropic-messages" => Ok(Api::AnthropicMessages),
        "openai-completions" => Ok(Api::OpenAiCompletions),
        other => Err(format!(
            "API kind \"{other}\" is not supported by this gateway yet (supported: anthropic-messages, openai-completions)"
        )),
    }
}

/// Resolves a model ref to a call target, including its credential.
pub fn resolve(
    model_ref: &str,
    resolved: &Value,
    env: &Env,
    state_dir: &std::path::Path,
    warnings: &mut Vec<String>,
) -> Result<Target, String> {
    let (provider, model) = split_ref(model_ref);
    let builtin = BUILTIN.iter().find(|b| b.0 == provider);
    let cfg = provider_config(resolved, &provider);
    if builtin.is_none() && cfg.is_none() {
        return Err(format!(
            "Unknown model provider \"{provider}\" in \"{model_ref}\"; configure models.providers.{provider} with a baseUrl"
        ));
    }
    let cfg = cfg.unwrap_or_default();
    let model_cfg = cfg.models.iter().find(|m| m.id == model);
    let api = match model_cfg
        .and_then(|m| m.api.as_deref())
        .or(cfg.api.as_deref())
    {
        Some(a) => parse_api(a)?,
        None => builtin.map(|b| b.1).unwrap_or(Api::OpenAiCompletions),
    };
    let base_url = cfg
        .base_url
        .clone()
        .or_else(|| builtin.map(|b| b.2.to_string()))
        .unwrap_or_default();
    let api_key =
        super::credentials::api_key(&provider, &cfg, env, state_dir, SecretMode::Read, warnings)?;
    let max_tokens = model_cfg
        .and_then(|m| m.max_tokens)
        .map(|n| n as u32)
        .unwrap_or(8192);
    Ok(Target {
        provider,
        model,
        api,
        base_url,
        api_key,
        headers: cfg.headers.into_iter().collect(),
        max_tokens,
    })
}

/// The context window of a model when the config says it.
pub fn context_window(resolved: &Value, model_ref: &str) -> Option<u64> {
    let (provider, model) = split_ref(model_ref);
    provider_config(resolved, &provider)?
        .models
        .iter()
        .find(|m| m.id == model)?
        .context_window
        .map(|n| n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_aliases_and_custom_providers() {
        assert_eq!(
            split_ref("opus"),
            ("anthropic".into(), "claude-opus-4-5".into())
        );
        assert_eq!(
            split_ref("openrouter/meta/llama-3"),
            ("openrouter".into(), "meta/llama-3".into())
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = json!({"models": {"providers": {"local": {"baseUrl": "http://127.0.0.1:9/v1", "models": [{"id": "m", "name": "M", "maxTokens": 77}]}}}});
        let env = Env::from_pairs([("LOCAL_API_KEY", "k")]);
        let mut w = vec![];
        let t = resolve("local/m", &cfg, &env, dir.path(), &mut w).unwrap();
        assert_eq!(t.api, Api::OpenAiCompletions);
        assert_eq!(t.max_tokens, 77);
        assert!(t.api_key.unwrap().ct_eq("k"));
        let e = resolve("nope/x", &cfg, &env, dir.path(), &mut w).unwrap_err();
        assert!(e.contains("models.providers.nope"), "{e}");
        assert_eq!(env_var("my-llm"), "MY_LLM_API_KEY");
    }
}
