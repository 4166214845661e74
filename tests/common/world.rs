//! One test's world: a fake Bot API, fake Anthropic and OpenAI, a workspace, and the
//! config that wires a gateway to them.
#![allow(dead_code)]

use std::path::Path;

use serde_json::{Value, json};

use super::fakes::{BOT_TOKEN, FakeModel, FakeTelegram};
use super::{Setup, TestGateway};

pub struct World {
    pub workspace: tempfile::TempDir,
    pub tg: FakeTelegram,
    pub anthropic: FakeModel,
    pub openai: FakeModel,
}

impl World {
    pub async fn new() -> World {
        World {
            workspace: tempfile::tempdir().unwrap(),
            tg: FakeTelegram::start().await,
            anthropic: FakeModel::anthropic().await,
            openai: FakeModel::openai().await,
        }
    }

    /// A config with Anthropic primary, OpenAI fallback, the fake Bot API, and
    /// `telegram`/`extra` merged over the defaults.
    pub fn config(&self, workspace: &Path, telegram: Value, extra: Value) -> String {
        let mut tg = json!({"botToken": BOT_TOKEN, "apiRoot": self.tg.url});
        merge(&mut tg, telegram);
        let mut cfg = json!({
            "agents": {"defaults": {
                "workspace": workspace,
                "model": {"primary": "anthropic/claude-test", "fallbacks": ["openai/gpt-test"]},
            }},
            "models": {"providers": {
                "anthropic": {"baseUrl": self.anthropic.url, "apiKey": "sk-ant-test", "models": []},
                "openai": {"baseUrl": self.openai.url, "apiKey": "sk-openai-test", "models": []},
            }},
            "channels": {"telegram": tg},
        });
        merge(&mut cfg, extra);
        serde_json::to_string_pretty(&cfg).unwrap()
    }

    pub async fn gateway(&self, telegram: Value, extra: Value) -> TestGateway {
        self.gateway_with(telegram, extra, false).await
    }

    /// The same, in Nix mode when `nix` is set.
    pub async fn gateway_with(&self, telegram: Value, extra: Value, nix: bool) -> TestGateway {
        let ws = self.workspace.path();
        std::fs::write(ws.join("AGENTS.md"), "You are Claw, the test assistant.").unwrap();
        TestGateway::with(Setup {
            config: Some(self.config(ws, telegram, extra)),
            nix,
            ..Setup::default()
        })
        .await
    }
}

pub fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

/// The text of the last user turn the model was sent (Anthropic body).
pub fn last_user_text(req: &Value) -> String {
    let msgs = req["messages"].as_array().unwrap();
    let last = msgs.iter().rev().find(|m| m["role"] == "user").unwrap();
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str().or(b["content"].as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}
