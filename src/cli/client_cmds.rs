//! Client commands: `health`, `status`, `dashboard`, `devices`, `gateway call`. Each
//! fails with exit 1 and one clear line when the gateway cannot be reached.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ConnectOpts;
use super::gateway::CallArgs;
use crate::client::{self, Target};

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Print the raw health summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Ask for a fresh probe instead of the cached summary.
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the raw status as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(subcommand)]
    pub command: DevicesCommand,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Paired devices and pending pairing requests.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending pairing request.
    Approve { request_id: String },
    /// Reject a pending pairing request.
    Reject { request_id: String },
}

/// One clear line; for anything but "not reachable" (whose line already names the URL) a
/// second line says which gateway and config were used, as the original does.
pub(super) fn failed(what: &str, e: client::ClientError, t: &Target) -> ExitCode {
    eprintln!("{what} failed: {e}");
    if !matches!(e, client::ClientError::Unreachable { .. }) {
        eprintln!(
            "Gateway target: {} ({}) · Config: {}",
            t.url,
            t.source,
            t.config_path.display()
        );
    }
    ExitCode::FAILURE
}

pub(super) fn print_json(v: &Value, compact: bool) {
    let text = if compact {
        v.to_string()
    } else {
        serde_json::to_string_pretty(v).unwrap_or_default()
    };
    println!("{text}");
}

pub(super) fn timeout(c: &ConnectOpts) -> Duration {
    Duration::from_millis(c.timeout.max(1))
}

/// `30m`, `1h`, `2d 3h`: the original's duration rendering.
fn human_ms(ms: u64) -> String {
    if ms == 0 {
        return "disabled".into();
    }
    let parts = [
        (604_800_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    let mut rest = ms;
    let mut out = String::new();
    for (unit, name) in parts {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    if out.is_empty() {
        format!("{ms}ms")
    } else {
        out
    }
}

pub fn health(args: HealthArgs, profile: Option<&str>) -> ExitCode {
    let t = client::resolve_target(&args.conn, profile);
    let params = if args.verbose {
        json!({"probe": true})
    } else {
        Value::Null
    };
    let started = Instant::now();
    let res = super::runtime().block_on(client::call_once(
        &t,
        "cli",
        "health",
        params,
        timeout(&args.conn),
    ));
    let h = match res {
        Ok(v) => v,
        Err(e) => return failed("Health check", e, &t),
    };
    if args.json {
        print_json(&h, false);
        return ExitCode::SUCCESS;
    }
    println!(
        "Gateway: ok · {} · {}ms",
        t.url,
        started.elapsed().as_millis()
    );
    for id in h["channelOrder"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let label = h["channelLabels"][id].as_str().unwrap_or(id);
        let ch = &h["channels"][id];
        let state = if ch["running"] == true {
            "running".to_string()
        } else if ch["configured"] == true {
            format!(
                "configured, not running ({})",
                ch["lastError"].as_str().unwrap_or("stopped")
            )
        } else {
            "not configured".into()
        };
        println!("{label}: {state}");
    }
    let agents: Vec<String> = h["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let id = a["agentId"].as_str().unwrap_or("?");
            if a["isDefault"] == true {
                format!("{id} (default)")
            } else {
                id.to_string()
            }
        })
        .collect();
    println!("Agents: {}", agents.join(", "));
    let hb: Vec<String> = h["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let every = if a["heartbeat"]["enabled"] == true {
                human_ms(a["heartbeat"]["everyMs"].as_u64().unwrap_or(0))
            } else {
                "off".to_string()
            };
            format!("{every} ({})", a["agentId"].as_str().unwrap_or("?"))
        })
        .collect();
    println!("Heartbeat interval: {}", hb.join(", "));
    print_refused(&h["stateFormat"], "State file refused: ");
    for a in h["agents"].as_array().into_iter().flatten() {
        let s = &a["sessions"];
        println!(
            "Session store ({}): {} ({} entries)",
            a["agentId"].as_str().unwrap_or("?"),
            s["path"].as_str().unwrap_or("?"),
            s["count"]
        );
        for r in s["recent"].as_array().into_iter().flatten() {
            println!(
                "- {} ({}m ago)",
                r["key"].as_str().unwrap_or("?"),
                r["age"].as_i64().unwrap_or(0) / 60_000
            );
        }
    }
    ExitCode::SUCCESS
}

/// One line per state file the gateway refuses (docs/state-format.md).
fn print_refused(state_format: &Value, prefix: &str) {
    for r in state_format["refused"].as_array().into_iter().flatten() {
        println!("{prefix}{}", r["message"].as_str().unwrap_or("?"));
    }
}

pub fn status(args: StatusArgs, profile: Option<&str>) -> ExitCode {
    let t = client::resolve_target(&args.conn, profile);
    let to = timeout(&args.conn);
    let started = Instant::now();
    let res = super::runtime().block_on(async {
        let mut c = client::Client::connect(&t, "probe", to).await?;
        let reach = started.elapsed().as_millis();
        let status = c.call("status", Value::Null).await?;
        let channels = c.call("channels.status", json!({"probe": false})).await?;
        let devices = c.call("device.pair.list", Value::Null).await.ok();
        let hello = c.hello.clone();
        c.close().await;
        Ok::<_, client::ClientError>((reach, status, channels, devices, hello))
    });
    let (reach, s, ch, devices, hello) = match res {
        Ok(v) => v,
        Err(e) => return failed("Status", e, &t),
    };
    if args.json {
        print_json(
            &json!({"gateway": {"url": t.url, "source": t.source, "reachableMs": reach, "server": hello["server"]}, "status": s, "channels": ch, "devices": devices}),
            false,
        );
        return ExitCode::SUCCESS;
    }
    let g = &s["gateway"];
    let up = human_ms(g["uptimeMs"].as_u64().unwrap_or(0) / 1000 * 1000);
    println!(
        "Gateway   {} ({}) · reachable {reach}ms · v{} · pid {} · up {up}",
        t.url,
        t.source,
        g["version"].as_str().unwrap_or("?"),
        g["pid"]
    );
    println!(
        "Listen    {}:{} (bind {})",
        g["host"].as_str().unwrap_or("?"),
        g["port"],
        g["bind"].as_str().unwrap_or("?")
    );
    println!(
        "Auth      {} ({})",
        g["auth"]["mode"].as_str().unwrap_or("?"),
        g["auth"]["source"].as_str().unwrap_or("?")
    );
    let nix = if g["nixMode"] == true {
        " · Nix mode (read-only)"
    } else {
        ""
    };
    println!("Config    {}{nix}", g["configPath"].as_str().unwrap_or("?"));
    let reload = &g["configReload"];
    if reload["ok"] == false {
        println!(
            "Reload    FAILED: {} (running on the previous config)",
            reload["lastError"]
                .as_str()
                .unwrap_or("?")
                .lines()
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    for w in g["warnings"].as_array().into_iter().flatten() {
        println!("Warning   {}", w.as_str().unwrap_or(""));
    }
    print_refused(&s["stateFormat"], "State     ");
    let sessions = &s["sessions"];
    println!(
        "Agents    {} · default {} · model {}",
        s["heartbeat"]["agents"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0),
        s["heartbeat"]["defaultAgentId"].as_str().unwrap_or("main"),
        sessions["defaults"]["model"].as_str().unwrap_or("?")
    );
    println!(
        "Sessions  {} · {} ctx",
        sessions["count"], sessions["defaults"]["contextTokens"]
    );
    let order: Vec<&str> = ch["channelOrder"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if order.is_empty() {
        println!("Channels  none configured");
    }
    for id in order {
        let c = &ch["channels"][id];
        let state = if c["running"] == true {
            "running".to_string()
        } else {
            format!(
                "not running ({})",
                c["lastError"].as_str().unwrap_or("stopped")
            )
        };
        println!(
            "Channels  {}: {state}",
            ch["channelLabels"][id].as_str().unwrap_or(id)
        );
    }
    if let Some(d) = devices {
        println!(
            "Devices   {} paired · {} pending",
            d["paired"].as_array().map(|a| a.len()).unwrap_or(0),
            d["pending"].as_array().map(|a| a.len()).unwrap_or(0)
        );
    }
    ExitCode::SUCCESS
}

pub fn dashboard(args: DashboardArgs, profile: Option<&str>) -> ExitCode {
    let t = client::resolve_target(&args.conn, profile);
    let http = t
        .url
        .replacen("ws://", "http://", 1)
        .replacen("wss://", "https://", 1);
    let base = if http.ends_with('/') {
        http
    } else {
        format!("{http}/")
    };
    match &t.token {
        Some(tok) => println!("{base}#token={tok}"),
        None => {
            println!("{base}");
            eprintln!(
                "(no token found: start the gateway once so it generates one, or set gateway.auth.token)"
            );
        }
    }
    ExitCode::SUCCESS
}

pub fn devices(args: DevicesArgs, profile: Option<&str>) -> ExitCode {
    let t = client::resolve_target(&args.conn, profile);
    let (method, params) = match &args.command {
        DevicesCommand::List { .. } => ("device.pair.list", Value::Null),
        DevicesCommand::Approve { request_id } => {
            ("device.pair.approve", json!({"requestId": request_id}))
        }
        DevicesCommand::Reject { request_id } => {
            ("device.pair.reject", json!({"requestId": request_id}))
        }
    };
    let v = match super::runtime().block_on(client::call_once(
        &t,
        "cli",
        method,
        params,
        timeout(&args.conn),
    )) {
        Ok(v) => v,
        Err(e) => return failed("Devices", e, &t),
    };
    match args.command {
        DevicesCommand::List { json: true } => print_json(&v, false),
        DevicesCommand::List { json: false } => {
            let pending = v["pending"].as_array().cloned().unwrap_or_default();
            println!("Pending ({}):", pending.len());
            for p in &pending {
                println!(
                    "  {}  device {}  {} {}  from {}",
                    p["requestId"].as_str().unwrap_or("?"),
                    short(p["deviceId"].as_str()),
                    p["clientId"].as_str().unwrap_or("?"),
                    p["platform"].as_str().unwrap_or(""),
                    p["remoteIp"].as_str().unwrap_or("?")
                );
            }
            let paired = v["paired"].as_array().cloned().unwrap_or_default();
            println!("Paired ({}):", paired.len());
            for d in &paired {
                println!(
                    "  {}  {} {}  roles {}",
                    short(d["deviceId"].as_str()),
                    d["clientId"].as_str().unwrap_or("?"),
                    d["platform"].as_str().unwrap_or(""),
                    d["roles"]
                );
            }
            if !pending.is_empty() {
                println!("Approve with: clawdbot devices approve <requestId>");
            }
        }
        DevicesCommand::Approve { .. } => println!(
            "Approved device {}",
            v["device"]["deviceId"].as_str().unwrap_or("?")
        ),
        DevicesCommand::Reject { .. } => {
            println!("Rejected device {}", v["deviceId"].as_str().unwrap_or("?"))
        }
    }
    ExitCode::SUCCESS
}

fn short(id: Option<&str>) -> String {
    id.map(|s| s.chars().take(12).collect())
        .unwrap_or_else(|| "?".into())
}

pub fn call(args: CallArgs, profile: Option<&str>) -> ExitCode {
    let params = match args.params.as_deref().map(serde_json::from_str::<Value>) {
        None => Value::Null,
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            eprintln!("--params is not valid JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let t = client::resolve_target(&args.conn, profile);
    match super::runtime().block_on(client::call_once(
        &t,
        "cli",
        &args.method,
        params,
        timeout(&args.conn),
    )) {
        Ok(v) => {
            print_json(&v, args.json);
            ExitCode::SUCCESS
        }
        Err(e) => failed("Gateway call", e, &t),
    }
}
