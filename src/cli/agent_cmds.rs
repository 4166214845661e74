//! The commands a user of the original reaches for beside the gateway itself:
//! `message send`, `agent`, `sessions [list|show]`, `logs [--follow]`,
//! `models [list|status]`. Each talks to the running gateway over the protocol (but
//! `models status`, which reads the config here), prints one line per thing, `--json`
//! for scripts, and fails with one line naming what to fix.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ConnectOpts;
use super::client_cmds::{failed, print_json, timeout};
use crate::client::{self, Client};

#[derive(Debug, Args)]
pub struct MessageArgs {
    #[command(subcommand)]
    pub command: MessageCommand,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Send a message to a chat through a channel account (Markdown; chunked as needed).
    #[command(
        after_help = "Examples:\n  clawdbot message send --channel telegram --to 123456789 --message \"Build finished\"\n  clawdbot message send --channel discord --to channel:1200000000000000001 --message \"**Deployed**\"\n  clawdbot message send --channel discord --to user:4100000000000000001 --message \"psst\""
    )]
    Send {
        #[arg(long, default_value = "telegram")]
        channel: String,
        /// A chat id (Telegram), `channel:<id>` or `user:<id>` (Discord).
        #[arg(long)]
        to: String,
        #[arg(long, short = 'm')]
        message: String,
        #[arg(long, default_value = "default")]
        account: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  clawdbot agent --message \"What is on my calendar today?\"\n  clawdbot agent --message \"Summarise the inbox\" --deliver --channel telegram --to 123456789\n  clawdbot agent --message hi --session agent:main:side --json"
)]
pub struct AgentArgs {
    /// The message for the agent.
    #[arg(long, short = 'm')]
    pub message: String,
    /// Session key (default: the agent's main session).
    #[arg(long)]
    pub session: Option<String>,
    #[arg(long)]
    pub agent: Option<String>,
    /// Also send the answer to a chat (`--channel`, `--to`).
    #[arg(long)]
    pub deliver: bool,
    #[arg(long)]
    pub channel: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    /// Give up waiting for the answer after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub wait: u64,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub command: Option<SessionsCommand>,
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Sessions, newest first (the default).
    List {
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// The last messages of one session.
    Show {
        key: String,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  clawdbot logs\n  clawdbot logs --follow --level warn\n  clawdbot logs --limit 50 --json"
)]
pub struct LogsArgs {
    /// Keep printing new lines as the gateway writes them (Ctrl-C to stop).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only this level and above: trace, debug, info, warn, error.
    #[arg(long)]
    pub level: Option<String>,
    #[arg(long, default_value_t = 200)]
    pub limit: u64,
    /// The gateway's JSON lines as they are.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: Option<ModelsCommand>,
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Models the running gateway knows (the default).
    List,
    /// The primary model and fallbacks from the config, and whether each has a key (no
    /// gateway needed).
    Status,
}

fn rt() -> tokio::runtime::Runtime {
    super::runtime()
}

pub fn message(args: MessageArgs, profile: Option<&str>) -> ExitCode {
    let t = client::resolve_target(&args.conn, profile);
    let MessageCommand::Send {
        channel,
        to,
        message,
        account,
        json: as_json,
    } = args.command;
    let params = json!({"channel": channel, "to": to, "message": message, "accountId": account,
        "idempotencyKey": uuid::Uuid::new_v4().to_string()});
    match rt().block_on(client::call_once(
        &t,
        "cli",
        "send",
        params,
        timeout(&args.conn),
    )) {
        Ok(v) if as_json => {
            print_json(&v, false);
            ExitCode::SUCCESS
        }
        Ok(v) => {
            println!(
                "Sent to {channel} {to} (message {})",
                v["messageId"].as_str().unwrap_or("?")
            );
            ExitCode::SUCCESS
        }
        Err(e) => failed("Send", e, &t),
    }
}

pub fn agent(args: AgentArgs, profile: Option<&str>) -> ExitCode {
    let t = client::resolve_target(&args.conn, profile);
    if args.deliver && (args.channel.is_none() || args.to.is_none()) {
        eprintln!("--deliver needs --channel and --to (e.g. --channel telegram --to 123456789)");
        return ExitCode::FAILURE;
    }
    let mut params =
        json!({"message": args.message, "idempotencyKey": uuid::Uuid::new_v4().to_string()});
    for (k, v) in [
        ("sessionKey", &args.session),
        ("agentId", &args.agent),
        ("channel", &args.channel),
        ("to", &args.to),
    ] {
        if let Some(v) = v {
            params[k] = json!(v);
        }
    }
    if args.deliver {
        params["deliver"] = json!(true);
    }
    let wait = Duration::from_secs(args.wait.max(1));
    let res = rt().block_on(async {
        let mut c = Client::connect(&t, "cli", timeout(&args.conn)).await?;
        let out = tokio::time::timeout(wait, c.call_final("agent", params))
            .await
            .map_err(|_| client::ClientError::Timeout(wait.as_millis() as u64))?;
        c.close().await;
        out
    });
    match res {
        Ok(v) if args.json => {
            print_json(&v, false);
            ExitCode::SUCCESS
        }
        Ok(v) => {
            for p in v["result"]["payloads"].as_array().into_iter().flatten() {
                if let Some(text) = p["text"].as_str() {
                    println!("{text}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed("Agent", e, &t),
    }
}

pub fn sessions(args: SessionsArgs, profile: Option<&str>) -> ExitCode {
    let t = client::resolve_target(&args.conn, profile);
    let (method, params) = match &args.command {
        None => ("sessions.list", json!({"limit": 50})),
        Some(SessionsCommand::List { limit }) => ("sessions.list", json!({"limit": limit})),
        Some(SessionsCommand::Show { key, limit }) => {
            ("sessions.preview", json!({"keys": [key], "limit": limit}))
        }
    };
    let v = match rt().block_on(client::call_once(
        &t,
        "cli",
        method,
        params,
        timeout(&args.conn),
    )) {
        Ok(v) => v,
        Err(e) => return failed("Sessions", e, &t),
    };
    if args.json {
        print_json(&v, false);
        return ExitCode::SUCCESS;
    }
    if method == "sessions.list" {
        let rows = v["sessions"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            println!("No sessions yet.");
        }
        let now = crate::util::now_ms();
        for s in rows {
            let age = (now - s["updatedAt"].as_i64().unwrap_or(now)).max(0) / 1000;
            println!(
                "{}  {}  updated {}  {} tokens",
                s["key"].as_str().unwrap_or("?"),
                s["kind"].as_str().unwrap_or("?"),
                ago(age),
                s["totalTokens"].as_u64().unwrap_or(0)
            );
        }
    } else {
        let items = v["previews"][0]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            println!("No messages in this session (or no such session).");
        }
        for i in items {
            println!(
                "{}: {}",
                i["role"].as_str().unwrap_or("?"),
                i["text"].as_str().unwrap_or_default()
            );
        }
    }
    ExitCode::SUCCESS
}

fn ago(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

fn level_rank(l: &str) -> Option<u8> {
    match l.to_ascii_lowercase().as_str() {
        "trace" => Some(0),
        "debug" => Some(1),
        "info" => Some(2),
        "warn" | "warning" => Some(3),
        "error" | "fatal" => Some(4),
        _ => None,
    }
}

pub fn logs(args: LogsArgs, profile: Option<&str>) -> ExitCode {
    let t = client::resolve_target(&args.conn, profile);
    let min = match args.level.as_deref().map(|l| (l, level_rank(l))) {
        None => 0,
        Some((_, Some(r))) => r,
        Some((l, None)) => {
            eprintln!("unknown --level {l:?}: trace, debug, info, warn or error");
            return ExitCode::FAILURE;
        }
    };
    let res: Result<(), client::ClientError> = rt().block_on(async {
        let mut c = Client::connect(&t, "cli", timeout(&args.conn)).await?;
        let mut cursor: Option<u64> = None;
        loop {
            let mut p = json!({"limit": args.limit.clamp(1, 5000)});
            if let Some(cur) = cursor {
                p["cursor"] = json!(cur);
            }
            let v = c.call("logs.tail", p).await?;
            for line in v["lines"].as_array().into_iter().flatten() {
                let raw = line
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| line.to_string());
                let rec: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
                let lvl = rec["level"].as_str().and_then(level_rank).unwrap_or(2);
                if lvl < min {
                    continue;
                }
                if args.json || rec.is_null() {
                    println!("{raw}");
                } else {
                    println!(
                        "{} {:<5} [{}] {}",
                        rec["time"].as_str().unwrap_or(""),
                        rec["level"].as_str().unwrap_or(""),
                        rec["subsystem"].as_str().unwrap_or(""),
                        rec["message"].as_str().unwrap_or("")
                    );
                }
            }
            cursor = v["cursor"].as_u64();
            if !args.follow {
                return Ok(());
            }
            // A CLI following a file: a poll per second is what `tail -f` does.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed("Logs", e, &t),
    }
}

pub fn models(args: ModelsArgs, profile: Option<&str>) -> ExitCode {
    if matches!(args.command, Some(ModelsCommand::Status)) {
        return models_status(args.json, profile);
    }
    let t = client::resolve_target(&args.conn, profile);
    match rt().block_on(client::call_once(
        &t,
        "cli",
        "models.list",
        Value::Null,
        timeout(&args.conn),
    )) {
        Ok(v) if args.json => {
            print_json(&v, false);
            ExitCode::SUCCESS
        }
        Ok(v) => {
            for m in v["models"].as_array().into_iter().flatten() {
                let id = m["id"].as_str().unwrap_or("?");
                match m["provider"].as_str() {
                    Some(p) if !id.starts_with(&format!("{p}/")) => println!("{p}/{id}"),
                    _ => println!("{id}"),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed("Models", e, &t),
    }
}

fn models_status(as_json: bool, profile: Option<&str>) -> ExitCode {
    let env = crate::paths::Env::from_process();
    let paths = crate::paths::Paths::resolve(&env, profile);
    let loaded = match crate::config::load(&paths.config_path, &env) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = &loaded.config;
    let primary = cfg.primary_model();
    let fallbacks: Vec<String> = loaded
        .resolved
        .pointer("/agents/defaults/model/fallbacks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut rows = vec![];
    for (role, m) in
        std::iter::once(("primary", &primary)).chain(fallbacks.iter().map(|f| ("fallback", f)))
    {
        let mut warnings = vec![];
        let provider = crate::llm::providers::split_ref(m).0;
        let key = match crate::llm::providers::resolve(
            m,
            &loaded.resolved,
            &loaded.env,
            &paths.state_dir,
            &mut warnings,
        ) {
            Ok(t) if t.api_key.is_some() => "key found".to_string(),
            Ok(_) if !crate::llm::providers::needs_key(&provider) => "no key needed".to_string(),
            Ok(_) => format!(
                "no key: set {} (or models.providers.{provider}.apiKeyFile)",
                crate::llm::providers::env_var(&provider)
            ),
            Err(e) => e,
        };
        rows.push(json!({"role": role, "model": m, "auth": key}));
    }
    if as_json {
        print_json(
            &json!({"primary": primary, "fallbacks": fallbacks, "models": rows}),
            false,
        );
    } else {
        for r in &rows {
            println!(
                "{:<8} {}  ({})",
                r["role"].as_str().unwrap_or(""),
                r["model"].as_str().unwrap_or(""),
                r["auth"].as_str().unwrap_or("")
            );
        }
    }
    ExitCode::SUCCESS
}
