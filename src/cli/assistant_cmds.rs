//! `clawdbot pairing …` (channel senders waiting for access) and `clawdbot approvals …`
//! (exec commands waiting for a yes/no). Both talk to the running gateway, which owns
//! the files, so an approval takes effect at once.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ConnectOpts;
use super::client_cmds::{failed, print_json, timeout};
use crate::client;

#[derive(Debug, Args)]
pub struct PairingArgs {
    #[command(subcommand)]
    pub command: PairingCommand,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// Senders waiting for access (codes expire after an hour).
    List {
        /// The channel (`telegram`, `discord`).
        #[arg(default_value = "telegram")]
        channel: String,
        /// Print the gateway's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Let a sender in: its id joins the channel's stored allowlist.
    Approve {
        /// The channel the code came from (`telegram`, `discord`).
        channel: String,
        /// The 8-character code the bot sent to the sender.
        code: String,
    },
}

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    pub command: ApprovalsCommand,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Commands the agent wants to run and that wait for a decision.
    List {
        /// Print the gateway's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the command (once, or with --always: this exact program file and argv from now on).
    Approve {
        /// The approval id from `clawdbot approvals list`.
        id: String,
        /// Remember the program: later calls run without asking.
        #[arg(long)]
        always: bool,
    },
    /// Refuse the command; the agent is told it was denied.
    Deny { id: String },
}

fn call(
    conn: &ConnectOpts,
    profile: Option<&str>,
    what: &str,
    method: &str,
    params: Value,
) -> Result<Value, ExitCode> {
    let t = client::resolve_target(conn, profile);
    super::runtime()
        .block_on(client::call_once(&t, "cli", method, params, timeout(conn)))
        .map_err(|e| failed(what, e, &t))
}

pub fn pairing(args: PairingArgs, profile: Option<&str>) -> ExitCode {
    match &args.command {
        PairingCommand::List { channel, json } => {
            let v = match call(
                &args.conn,
                profile,
                "Pairing list",
                "pairing.list",
                json!({"channel": channel}),
            ) {
                Ok(v) => v,
                Err(code) => return code,
            };
            if *json {
                print_json(&v, false);
                return ExitCode::SUCCESS;
            }
            let reqs = v["requests"].as_array().cloned().unwrap_or_default();
            println!("Pending {channel} pairing requests ({}):", reqs.len());
            for r in &reqs {
                let who = r["meta"]["username"]
                    .as_str()
                    .map(|u| format!(" @{u}"))
                    .unwrap_or_default();
                println!(
                    "  {}  sender {}{who}  since {}",
                    r["code"].as_str().unwrap_or("?"),
                    r["id"].as_str().unwrap_or("?"),
                    r["createdAt"].as_str().unwrap_or("?")
                );
            }
            if !reqs.is_empty() {
                println!("Approve with: clawdbot pairing approve {channel} <code>");
            }
            ExitCode::SUCCESS
        }
        PairingCommand::Approve { channel, code } => {
            match call(
                &args.conn,
                profile,
                "Pairing approve",
                "pairing.approve",
                json!({"channel": channel, "code": code}),
            ) {
                Ok(v) => {
                    println!(
                        "Approved {channel} sender {}; they can message the bot now.",
                        v["id"].as_str().unwrap_or("?")
                    );
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
    }
}

pub fn approvals(args: ApprovalsArgs, profile: Option<&str>) -> ExitCode {
    let (what, method, params) = match &args.command {
        ApprovalsCommand::List { .. } => ("Approvals list", "exec.approval.list", Value::Null),
        ApprovalsCommand::Approve { id, always } => (
            "Approve",
            "exec.approval.resolve",
            json!({"id": id, "decision": if *always { "allow-always" } else { "allow-once" }}),
        ),
        ApprovalsCommand::Deny { id } => (
            "Deny",
            "exec.approval.resolve",
            json!({"id": id, "decision": "deny"}),
        ),
    };
    let v = match call(&args.conn, profile, what, method, params) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match &args.command {
        ApprovalsCommand::List { json: true } => print_json(&v, false),
        ApprovalsCommand::List { json: false } => {
            let pending = v["pending"].as_array().cloned().unwrap_or_default();
            println!("Waiting for approval ({}):", pending.len());
            for p in &pending {
                let r = &p["request"];
                println!(
                    "  {}  {}  (agent {}, in {})",
                    p["id"].as_str().unwrap_or("?"),
                    r["command"].as_str().unwrap_or("?"),
                    r["agentId"].as_str().unwrap_or("?"),
                    r["cwd"].as_str().unwrap_or("?"),
                );
                if let Some(argv) = r["argv"].as_array() {
                    let words: Vec<&str> = argv.iter().filter_map(Value::as_str).collect();
                    println!("      runs exactly: {}", shell_words::join(words));
                }
                if let Some(why) = r["reason"].as_str() {
                    println!("      through /bin/sh: the command contains {why}");
                }
            }
            if !pending.is_empty() {
                println!(
                    "Decide with: clawdbot approvals approve <id> [--always] | clawdbot approvals deny <id>"
                );
            }
        }
        ApprovalsCommand::Approve { id, always } => {
            println!(
                "Approved {id}{}",
                if *always { " (and remembered)" } else { "" }
            )
        }
        ApprovalsCommand::Deny { id } => println!("Denied {id}"),
    }
    ExitCode::SUCCESS
}
