//! `clawdbot onboard`: from nothing to a configured assistant. Asks for (or takes as
//! flags) the model provider and key, the Telegram and Discord bot tokens, how the gateway listens,
//! and the workspace; stores secrets as 0600 files under `<stateDir>/credentials/`
//! (never echoed, never in the config), writes the config atomically and validated,
//! bootstraps the workspace, and can install the service.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Args;
use serde_json::{Value, json};

use super::gateway::Bind;
use crate::nix::NixMode;
use crate::paths::{Env, Paths};

const PROVIDERS: &[(&str, &str)] = &[
    ("anthropic", "anthropic/claude-sonnet-4-5"),
    ("openai", "openai/gpt-4o"),
    ("openrouter", "openrouter/anthropic/claude-sonnet-4.5"),
    ("groq", "groq/llama-3.3-70b-versatile"),
    ("xai", "xai/grok-4"),
    ("mistral", "mistral/mistral-large-latest"),
    ("ollama", "ollama/llama3.3"),
];

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  clawdbot onboard                      # asks, step by step\n  clawdbot onboard --non-interactive --api-key-file ~/.secrets/anthropic \\\n      --telegram-token-file ~/.secrets/telegram --telegram-allow-from 123456789\n  clawdbot onboard --non-interactive --discord-token-file ~/.secrets/discord\n  clawdbot onboard --non-interactive --gateway-bind lan --gateway-port 18789   # in a container\n  clawdbot onboard --install-daemon     # and install + start the user service"
)]
pub struct OnboardArgs {
    /// Take everything from flags; never prompt (scripts, containers).
    #[arg(long)]
    pub non_interactive: bool,
    /// Model provider: anthropic, openai, openrouter, groq, xai, mistral, ollama.
    #[arg(long)]
    pub provider: Option<String>,
    /// Primary model ref (default: a good one for the provider).
    #[arg(long, value_name = "REF")]
    pub model: Option<String>,
    /// Read the provider's API key from this file; it is stored as
    /// <stateDir>/credentials/<provider>-api-key (0600).
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// Store no key: the gateway reads this env var at start (e.g. ANTHROPIC_API_KEY).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Read the Telegram bot token from this file (stored as credentials/telegram-bot-token).
    #[arg(long, value_name = "PATH")]
    pub telegram_token_file: Option<PathBuf>,
    /// Telegram user ids allowed to DM the bot without pairing (repeatable).
    #[arg(long, value_name = "ID")]
    pub telegram_allow_from: Vec<String>,
    /// Read the Discord bot token from this file (stored as credentials/discord-bot-token).
    #[arg(long, value_name = "PATH")]
    pub discord_token_file: Option<PathBuf>,
    /// Discord user ids allowed to DM the bot without pairing (repeatable).
    #[arg(long, value_name = "ID")]
    pub discord_allow_from: Vec<String>,
    /// How the gateway listens (lan for Docker/VPS; needs a token, which is generated).
    #[arg(long, value_enum)]
    pub gateway_bind: Option<Bind>,
    /// Gateway port (default 18789).
    #[arg(long)]
    pub gateway_port: Option<u16>,
    /// The agent's workspace (default ~/clawd), with AGENTS.md and SOUL.md to edit.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Install and start the gateway as a user service afterwards.
    #[arg(long)]
    pub install_daemon: bool,
}

fn prompt(q: &str, default: &str) -> String {
    eprint!(
        "{q}{}: ",
        if default.is_empty() {
            String::new()
        } else {
            format!(" [{default}]")
        }
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    let line = line.trim();
    if line.is_empty() {
        default.to_string()
    } else {
        line.to_string()
    }
}

/// Reads a secret from the terminal without echoing it.
fn prompt_secret(q: &str) -> String {
    eprint!("{q}: ");
    let _ = std::io::stderr().flush();
    let stty = |arg: &str| {
        Command::new("stty")
            .arg(arg)
            .stdin(Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let hidden = stty("-echo");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
        eprintln!();
    }
    line.trim().to_string()
}

fn read_secret(path: &Path, what: &str) -> Result<String, String> {
    let mut w = vec![];
    crate::config::secrets::read_secret_file(what, path, &mut w).map(|s| s.expose().to_string())
}

fn store(dir: &Path, name: &str, value: &str) -> Result<PathBuf, String> {
    crate::fsutil::create_private_dir(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let p = dir.join(name);
    crate::fsutil::write_atomic(&p, format!("{value}\n").as_bytes(), 0o600)
        .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    Ok(p)
}

const AGENTS_MD: &str = "# AGENTS.md: how your assistant works\n\nYou are a personal assistant reachable over chat (Telegram) and the Control UI.\n\n- Be brief on chat; use lists for steps.\n- Use the workspace (this directory) for notes and files you create.\n- Ask before running commands that change things outside the workspace.\n";
const SOUL_MD: &str = "# SOUL.md: who your assistant is\n\nFriendly, direct, a little dry. Admit what you do not know.\nEdit this file: it is read before every conversation turn.\n";

pub fn run(args: OnboardArgs, profile: Option<&str>) -> ExitCode {
    match onboard(args, profile) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Onboarding stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

fn onboard(args: OnboardArgs, profile: Option<&str>) -> Result<ExitCode, String> {
    let env = Env::from_process();
    let paths = Paths::resolve(&env, profile);
    let nix = NixMode::detect(&env, &paths.config_path);
    if nix.enabled {
        return Err(crate::nix::action_refusal(
            "Onboarding (it writes the config)",
        ));
    }
    let ask = !args.non_interactive;
    let creds = paths.state_dir.join("credentials");
    crate::fsutil::create_private_dir(&paths.state_dir)
        .map_err(|e| format!("cannot create {}: {e}", paths.state_dir.display()))?;
    if ask {
        eprintln!(
            "Setting up clawdbot in {} (config {}).\nSecrets are stored as 0600 files in {} and never shown.\n",
            paths.state_dir.display(),
            paths.config_path.display(),
            creds.display()
        );
    }

    // Model provider and key.
    let provider = match (&args.provider, ask) {
        (Some(p), _) => p.to_ascii_lowercase(),
        (None, true) => prompt(
            &format!(
                "Model provider ({})",
                PROVIDERS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
            ),
            "anthropic",
        )
        .to_ascii_lowercase(),
        (None, false) => "anthropic".into(),
    };
    let default_model = PROVIDERS
        .iter()
        .find(|p| p.0 == provider)
        .map(|p| p.1.to_string());
    let model = match (&args.model, &default_model) {
        (Some(m), _) => m.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => {
            return Err(format!(
                "unknown provider {provider:?}: pass --model <provider>/<model> (and configure models.providers.{provider})"
            ));
        }
    };
    let var = crate::llm::providers::env_var(&provider);
    let mut key_note = String::new();
    let key = if let Some(f) = &args.api_key_file {
        Some(read_secret(f, "--api-key-file")?)
    } else if let Some(v) = &args.api_key_env {
        key_note = format!("the gateway reads the key from ${v} at start");
        None
    } else if ask && provider != "ollama" {
        let k = prompt_secret(&format!("{provider} API key (empty: use ${var} at start)"));
        (!k.is_empty()).then_some(k)
    } else {
        None
    };
    if let Some(k) = key {
        let p = store(&creds, &format!("{provider}-api-key"), &k)?;
        key_note = format!("stored in {}", p.display());
    } else if key_note.is_empty() && provider != "ollama" {
        key_note = format!("none stored: set ${var} (or {var}_FILE) for the gateway");
    }

    // Channels: a bot token for each kind, and who may DM it without pairing.
    let mut edits: Vec<(String, Option<Value>)> =
        vec![("agents.defaults.model.primary".into(), Some(json!(model)))];
    let mut channel_notes = vec![];
    for kind in crate::channels::kinds::KINDS {
        if kind.linked_device {
            // No token: linked with `clawdbot channels login` (see the README).
            continue;
        }
        let (file, allow) = match kind.id {
            "telegram" => (&args.telegram_token_file, &args.telegram_allow_from),
            "discord" => (&args.discord_token_file, &args.discord_allow_from),
            _ => (&None, &vec![]),
        };
        let flag = format!("--{}-token-file", kind.id);
        let token = if let Some(f) = file {
            Some(read_secret(f, &flag)?)
        } else if ask {
            let t = prompt_secret(&format!(
                "{} bot token, {} (empty: skip)",
                kind.label, kind.token_hint
            ));
            (!t.is_empty()).then_some(t)
        } else {
            None
        };
        let Some(t) = token else { continue };
        (kind.check_token)(&t)?;
        let p = store(&creds, kind.credential, &t)?;
        let base = format!("channels.{}", kind.id);
        edits.push((
            format!("{base}.tokenFile"),
            Some(json!(p.display().to_string())),
        ));
        let mut allow = allow.clone();
        if ask && allow.is_empty() {
            let id = prompt(
                &format!(
                    "Your {} user id, to skip pairing (empty: pair with a code)",
                    kind.label
                ),
                "",
            );
            if !id.is_empty() {
                allow.push(id);
            }
        }
        let policy = format!("{base}.{}", kind.dm_policy_key);
        if allow.is_empty() {
            edits.push((policy, Some(json!("pairing"))));
            channel_notes.push(format!(
                "{:<10} bot token stored; DMs: pairing (approve with `clawdbot pairing approve {} <code>`)",
                kind.id, kind.id
            ));
        } else {
            // Ids stay numbers where JSON numbers hold them exactly (Telegram's); a
            // Discord snowflake is larger than 2^53 and stays a string.
            let ids: Vec<Value> = allow
                .iter()
                .map(|a| {
                    a.parse::<i64>()
                        .ok()
                        .filter(|n| n.unsigned_abs() < 1 << 53)
                        .map(Value::from)
                        .unwrap_or_else(|| json!(a))
                })
                .collect();
            edits.push((policy, Some(json!("allowlist"))));
            edits.push((
                format!("{base}.{}", kind.allow_from_key),
                Some(Value::Array(ids)),
            ));
            channel_notes.push(format!(
                "{:<10} bot token stored; DMs: allowed for {}",
                kind.id,
                allow.join(", ")
            ));
        }
    }

    // How the gateway listens, and its token.
    let bind = match (args.gateway_bind, ask) {
        (Some(b), _) => Some(b),
        (None, true) => match prompt(
            "Listen on (loopback: this machine only; lan: all interfaces, for Docker/VPS)",
            "loopback",
        )
        .as_str()
        {
            "lan" => Some(Bind::Lan),
            _ => Some(Bind::Loopback),
        },
        (None, false) => None,
    };
    if let Some(b) = bind {
        edits.push(("gateway.bind".into(), Some(json!(b.as_str()))));
    }
    if let Some(p) = args.gateway_port {
        edits.push(("gateway.port".into(), Some(json!(p))));
    }
    let token_from_env = env.get("CLAWDBOT_GATEWAY_TOKEN").is_some()
        || env.get("CLAWDBOT_GATEWAY_TOKEN_FILE").is_some();
    let (_, created) = super::gateway::generated_token(&paths)?;
    if !token_from_env {
        // Explicit, so a `lan` bind has its token and `dashboard` finds it.
        edits.push((
            "gateway.auth.tokenFile".into(),
            Some(json!(paths.generated_token_path().display().to_string())),
        ));
    }

    // Workspace.
    let ws = match (&args.workspace, ask) {
        (Some(w), _) => w.clone(),
        (None, true) => env.expand_tilde(&prompt("Workspace for the agent", "~/clawd")),
        (None, false) => env.home().join("clawd"),
    };
    std::fs::create_dir_all(&ws).map_err(|e| format!("cannot create {}: {e}", ws.display()))?;
    for (name, text) in [("AGENTS.md", AGENTS_MD), ("SOUL.md", SOUL_MD)] {
        let p = ws.join(name);
        if !p.exists() {
            std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
    }
    if args.workspace.is_some() || ws != env.home().join("clawd") {
        edits.push((
            "agents.defaults.workspace".into(),
            Some(json!(ws.display().to_string())),
        ));
    }

    let refs: Vec<(&str, Option<Value>)> =
        edits.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    super::config_cmd::edit_config(&paths, &env, &refs)?;

    println!("Wrote {}", paths.config_path.display());
    println!("  model      {model} (key: {key_note})");
    for note in &channel_notes {
        println!("  {note}");
    }
    println!(
        "  gateway    token in {}{}",
        paths.generated_token_path().display(),
        if created { " (new)" } else { "" }
    );
    println!("  workspace  {}", ws.display());
    let install = args.install_daemon
        || (ask
            && prompt(
                "Install and start the gateway as a user service? (y/N)",
                "n",
            )
            .eq_ignore_ascii_case("y"));
    if install {
        let code = super::service::run(
            super::service::ServiceCommand::Install(super::service::InstallArgs {
                common: super::service::ManagerArgs {
                    manager: None,
                    dry_run: false,
                },
                port: None,
                no_start: false,
            }),
            profile,
        );
        return Ok(code);
    }
    println!(
        "Next: `clawdbot gateway` (or `clawdbot gateway install`), then `clawdbot dashboard`."
    );
    Ok(ExitCode::SUCCESS)
}
