//! `clawdbot channels add|list|remove|status|login|logout`: manage channel accounts in the
//! config. Tokens are stored as 0600 files under `<stateDir>/credentials/` and the config
//! points at them (`tokenFile`), so the config never holds a secret. Refused in Nix mode
//! with the option to set instead. `update`: how to update, for the way it was installed.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ConnectOpts;
use crate::channels::kinds::{self, KINDS, Kind};
use crate::paths::{Env, Paths};

/// `--channel`: one of the kinds this build runs (`channels::kinds::KINDS`).
fn channel_arg() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(KINDS.iter().map(|k| k.id))
}

fn kind_of(id: &str) -> &'static Kind {
    // The parser only lets table ids through.
    kinds::kind(id).unwrap_or(KINDS[0])
}

#[derive(Debug, Args)]
pub struct ChannelsArgs {
    #[command(subcommand)]
    pub command: ChannelsCommand,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Add a bot account (its token is stored as a 0600 file, the config points at it).
    #[command(
        after_help = "Examples:\n  clawdbot channels add --channel telegram --token-file ~/.secrets/telegram\n  clawdbot channels add --channel discord --token-file ~/.secrets/discord\n  clawdbot channels add --channel telegram --token \"$TOKEN\" --account work\n\nTelegram tokens come from @BotFather; Discord tokens from the Developer Portal (Applications > your app > Bot > Reset Token; enable the Message Content intent there too)."
    )]
    Add {
        #[arg(long, value_parser = channel_arg())]
        channel: String,
        /// The bot token (prefer --token-file: a flag can show up in shell history).
        #[arg(long, conflicts_with = "token_file")]
        token: Option<String>,
        /// Read the token from this file.
        #[arg(long, value_name = "PATH")]
        token_file: Option<std::path::PathBuf>,
        /// Account id, for a second bot (default: the channel's main account).
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Configured channels and accounts (never the tokens).
    List,
    /// Remove an account from the config and delete its stored token.
    Remove {
        #[arg(long, value_parser = channel_arg())]
        channel: String,
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Live status from the running gateway.
    Status,
    /// Link WhatsApp: shows a QR code to scan with the phone (or a pairing code with
    /// --phone) and stores the linked device under <stateDir>/credentials/whatsapp/.
    #[command(
        after_help = "Examples:\n  clawdbot channels login\n  clawdbot channels login --channel whatsapp --account work\n  clawdbot channels login --phone +15551234567   (pairing code instead of the QR)\n\nWhatsApp through an unofficial client: WhatsApp may restrict accounts that automate. Writes credentials only, never the config (works in Nix mode)."
    )]
    Login {
        /// The channel to link (default: whatsapp; bot-token channels need no login).
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value = "default")]
        account: String,
        /// Link with a pairing code for this phone number instead of the QR.
        #[arg(long, value_name = "E164")]
        phone: Option<String>,
    },
    /// Unlink WhatsApp: removes the linked device's stored credentials.
    Logout {
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value = "default")]
        account: String,
    },
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{e}");
    ExitCode::FAILURE
}

fn base(ch: &Kind, account: &str) -> String {
    crate::channels::accounts::key_of(ch, account)
}

/// The stored token's file name: the kind's credential name (the one the Nix modules
/// and systemd use), with the account id for a second bot.
fn token_name(ch: &Kind, account: &str) -> String {
    if account == "default" {
        ch.credential.to_string()
    } else {
        format!("{}-{account}", ch.credential)
    }
}

pub fn run(args: ChannelsArgs, profile: Option<&str>) -> ExitCode {
    let env = Env::from_process();
    let paths = Paths::resolve(&env, profile);
    let creds = paths.state_dir.join("credentials");
    match args.command {
        ChannelsCommand::Add {
            channel,
            token,
            token_file,
            account,
        } => {
            let channel = kind_of(&channel);
            if channel.linked_device {
                return fail(format!(
                    "{} has no bot token: link the phone with `clawdbot channels login --channel {}`",
                    channel.label, channel.id
                ));
            }
            if !valid_account_id(&account) {
                return fail(format!(
                    "invalid --account {account:?}: use letters, digits, - and _ (it names a config key and a file)"
                ));
            }
            let nix = crate::nix::NixMode::detect(&env, &paths.config_path);
            if nix.enabled {
                return fail(crate::nix::key_remediation(&format!(
                    "{}.tokenFile",
                    base(channel, &account)
                )));
            }
            let token = match (token, token_file) {
                (Some(t), _) => {
                    eprintln!(
                        "warning: a token on the command line can end up in your shell history; prefer --token-file"
                    );
                    t.trim().to_string()
                }
                (None, Some(f)) => {
                    match crate::config::secrets::read_secret_file("--token-file", &f, &mut vec![])
                    {
                        Ok(s) => s.expose().to_string(),
                        Err(e) => return fail(e),
                    }
                }
                (None, None) => return fail("pass --token-file PATH (or --token TOKEN)"),
            };
            if let Err(e) = (channel.check_token)(&token) {
                return fail(e);
            }
            if let Err(e) = crate::fsutil::create_private_dir(&paths.state_dir)
                .and_then(|_| crate::fsutil::create_private_dir(&creds))
            {
                return fail(format!("cannot create {}: {e}", creds.display()));
            }
            let file = creds.join(token_name(channel, &account));
            if let Err(e) =
                crate::fsutil::write_atomic(&file, format!("{token}\n").as_bytes(), 0o600)
            {
                return fail(format!("cannot write {}: {e}", file.display()));
            }
            let key = format!("{}.tokenFile", base(channel, &account));
            match super::config_cmd::edit_config(
                &paths,
                &env,
                &[(key.as_str(), Some(json!(file.display().to_string())))],
            ) {
                Ok(_) => {
                    println!(
                        "Added {} account {account}: token stored in {} (0600), {key} points at it.",
                        channel.id,
                        file.display()
                    );
                    println!(
                        "Restart the gateway to start the bot: clawdbot gateway restart (then: clawdbot channels status)"
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&file);
                    fail(e)
                }
            }
        }
        ChannelsCommand::List => {
            let loaded = match crate::config::load(&paths.config_path, &env) {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            let Some(chans) = loaded
                .resolved
                .get("channels")
                .and_then(Value::as_object)
                .filter(|c| !c.is_empty())
            else {
                println!(
                    "No channels configured. Add one: clawdbot channels add --channel {} --token-file PATH",
                    kinds::ids().replace(", ", "|")
                );
                return ExitCode::SUCCESS;
            };
            for (id, sec) in chans {
                let enabled = sec.get("enabled") != Some(&json!(false));
                let source = |s: &Value| {
                    if let Some(f) = s.get("tokenFile").and_then(Value::as_str) {
                        format!("tokenFile {f}")
                    } else if s.get("botToken").is_some() || s.get("token").is_some() {
                        "inline token (move it to a file: clawdbot channels add … --token-file)"
                            .into()
                    } else {
                        "no token".into()
                    }
                };
                println!(
                    "{id}{}: default account, {}",
                    if enabled { "" } else { " (disabled)" },
                    source(sec)
                );
                if let Some(accts) = sec.get("accounts").and_then(Value::as_object) {
                    for (a, s) in accts {
                        println!("  account {a}: {}", source(s));
                    }
                }
            }
            ExitCode::SUCCESS
        }
        ChannelsCommand::Remove { channel, account } => {
            let channel = kind_of(&channel);
            let key = base(channel, &account);
            match super::config_cmd::edit_config(&paths, &env, &[(key.as_str(), None)]) {
                Ok(false) => fail(format!(
                    "{key} is not in the config (see `clawdbot channels list`)"
                )),
                Ok(true) => {
                    let file = creds.join(token_name(channel, &account));
                    if std::fs::remove_file(&file).is_ok() {
                        println!("Removed {key} and its stored token {}.", file.display());
                    } else {
                        println!("Removed {key}.");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        ChannelsCommand::Status => {
            let t = crate::client::resolve_target(&args.conn, profile);
            let timeout = std::time::Duration::from_millis(args.conn.timeout.max(1));
            match super::runtime().block_on(crate::client::call_once(
                &t,
                "cli",
                "channels.status",
                Value::Null,
                timeout,
            )) {
                Ok(v) => {
                    let accts = v["channelAccounts"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    if accts.is_empty() {
                        println!("No channels configured.");
                    }
                    for (ch, list) in accts {
                        for a in list.as_array().cloned().unwrap_or_default() {
                            let state = if a["connected"] == true {
                                "connected"
                            } else if a["running"] == true {
                                "running"
                            } else {
                                "stopped"
                            };
                            let bot = a["bot"]["username"]
                                .as_str()
                                .map(|u| format!(" @{u}"))
                                .unwrap_or_default();
                            let err = a["lastError"]
                                .as_str()
                                .map(|e| format!(" — {e}"))
                                .unwrap_or_default();
                            println!(
                                "{ch}/{}: {state}{bot}{err}",
                                a["accountId"].as_str().unwrap_or("?")
                            );
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("Channel status failed: {e}")),
            }
        }
        ChannelsCommand::Login {
            channel,
            account,
            phone,
        } => match linked_kind(channel.as_deref(), &account) {
            Err(e) => fail(e),
            Ok(()) => super::whatsapp_cmd::login(&paths, &env, &account, phone),
        },
        ChannelsCommand::Logout { channel, account } => {
            match linked_kind(channel.as_deref(), &account) {
                Err(e) => fail(e),
                Ok(()) => super::whatsapp_cmd::logout(&paths, &env, &account),
            }
        }
    }
}

/// `--channel` of login/logout: a linked-device channel (WhatsApp, the default); a
/// bot-token channel gets the command that sets it up instead.
fn linked_kind(channel: Option<&str>, account: &str) -> Result<(), String> {
    let id = channel.unwrap_or("whatsapp");
    match kinds::kind(id) {
        Some(k) if k.linked_device => {}
        Some(k) => {
            return Err(format!(
                "No login needed for {}: it uses a bot token (`clawdbot channels add --channel {} --token-file PATH`).",
                k.label, k.id
            ));
        }
        None => return Err(kinds::unknown(id)),
    }
    if !valid_account_id(account) {
        return Err(format!(
            "invalid --account {account:?}: use letters, digits, - and _ (it names a directory)"
        ));
    }
    Ok(())
}

/// An account id becomes a config key and part of a file name: no dots, slashes or
/// spaces.
fn valid_account_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `clawdbot update`: says how to update, for the way this binary was installed.
pub fn update() -> ExitCode {
    let exe = std::env::current_exe().unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    let how = if exe.starts_with("/nix/store") {
        "This binary comes from Nix. Update the flake input and switch:\n  nix flake update clawdbot   (in your system or home flake)\n  home-manager switch   or   sudo nixos-rebuild switch\nRoll back with `home-manager switch --rollback` / `nixos-rebuild switch --rollback`."
            .to_string()
    } else if Path::new("/.dockerenv").exists() || std::env::var("CLAWDBOT_IMAGE").is_ok() {
        "This runs in a container. On the host, in the directory with docker-compose.yml:\n  git pull && docker compose build && docker compose up -d clawdbot-gateway\nThen check: docker compose run --rm clawdbot-cli health".to_string()
    } else if !home.is_empty() && exe.starts_with(Path::new(&home).join(".cargo/bin")) {
        "Installed with cargo. In your checkout:\n  git pull && cargo install --locked --path .\nThen: clawdbot gateway restart && clawdbot health".to_string()
    } else {
        format!(
            "Installed at {}. Replace it with a newer build (`cargo install --locked --path .` from a checkout), then:\n  clawdbot gateway restart && clawdbot health",
            exe.display()
        )
    };
    println!("clawdbot {}\n{how}", crate::VERSION);
    ExitCode::SUCCESS
}
