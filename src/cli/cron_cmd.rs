//! `clawdbot cron …`: the running gateway's scheduled jobs, over RPC (`cron.*`), with the
//! original's flags. Times: `--at` takes an ISO time, epoch milliseconds or `+20m`;
//! `--every` a duration (`90s`, `10m`, `1h`, `1d`, `500ms`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::ConnectOpts;
use super::client_cmds::{failed, print_json, timeout};
use crate::client;

const EXAMPLES: &str = "Examples:
  clawdbot cron list
  clawdbot cron add --name water --at +20m --system-event 'Water the plants' --delete-after-run
  clawdbot cron add --name brief --cron '0 7 * * *' --tz Europe/Vienna --session isolated \\
      --message 'Summarize my day' --deliver --channel telegram --to 123456
  clawdbot cron add --name ping --every 10m --session isolated --message ping --deliver
  clawdbot cron edit <id> --every 1h
  clawdbot cron run <id> --force    # now, due or not
  clawdbot cron runs <id> --json
  clawdbot cron rm <id>";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CronArgs {
    #[command(subcommand)]
    pub command: CronCommand,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// Whether cron runs, the store path, the job count and the next wake.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The jobs, soonest first.
    List {
        /// Include disabled jobs.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Add a job: a name, one schedule (--at, --every or --cron) and one payload
    /// (--system-event for the main session, --message for an isolated agent turn).
    #[command(after_help = EXAMPLES)]
    Add(JobFlags),
    /// Change a job (only the flags given).
    Edit {
        id: String,
        #[command(flatten)]
        flags: JobFlags,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Remove a job.
    Rm { id: String },
    /// Run a job if it is due (with --force: now, due or not).
    Run {
        id: String,
        #[arg(long)]
        force: bool,
    },
    /// A job's run history.
    Runs {
        id: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args, Default)]
pub struct JobFlags {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Agent id (default: the default agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// main (a system event) or isolated (an agent turn).
    #[arg(long, value_parser = ["main", "isolated"])]
    pub session: Option<String>,
    /// now or next-heartbeat.
    #[arg(long, value_parser = ["now", "next-heartbeat"])]
    pub wake: Option<String>,
    /// Once: an ISO time, epoch ms, or +duration (e.g. +20m).
    #[arg(long, conflicts_with_all = ["every", "cron"])]
    pub at: Option<String>,
    /// Repeat every duration (e.g. 10m, 1h).
    #[arg(long, conflicts_with = "cron")]
    pub every: Option<String>,
    /// Cron expression (5 fields, or 6 with seconds).
    #[arg(long)]
    pub cron: Option<String>,
    /// IANA time zone for --cron.
    #[arg(long)]
    pub tz: Option<String>,
    /// System event text (main session).
    #[arg(long, conflicts_with = "message")]
    pub system_event: Option<String>,
    /// Agent message (isolated session).
    #[arg(long)]
    pub message: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub thinking: Option<String>,
    #[arg(long)]
    pub timeout_seconds: Option<u64>,
    /// Send the agent's answer to a chat.
    #[arg(long)]
    pub deliver: bool,
    /// Delivery channel (telegram, discord, or last).
    #[arg(long)]
    pub channel: Option<String>,
    /// Delivery target (a chat id).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub best_effort_deliver: bool,
    /// Delete a one-shot job after it succeeds.
    #[arg(long)]
    pub delete_after_run: bool,
}

/// `90s`, `10m`, `1h`, `2d`, `500ms`, or bare milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("invalid duration \"{s}\" (e.g. 10m, 1h, 90s)"))?;
    let mul = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "invalid duration unit in \"{s}\" (use ms, s, m, h or d)"
            ));
        }
    };
    Ok(n * mul)
}

/// An ISO time, epoch ms, or `+duration` from now.
pub fn parse_at(s: &str, now_ms: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Some(d) = s.strip_prefix('+') {
        return Ok(now_ms + parse_duration_ms(d)?);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    parse_duration_ms(s).map(|d| now_ms + d).map_err(|_| {
        format!(
            "invalid --at \"{s}\" (use an ISO time like 2026-01-01T07:00:00Z, epoch ms, or +20m)"
        )
    })
}

impl JobFlags {
    fn schedule(&self) -> Result<Option<Value>, String> {
        let now = crate::util::now_ms();
        Ok(if let Some(at) = &self.at {
            Some(json!({"kind": "at", "atMs": parse_at(at, now)?}))
        } else if let Some(e) = &self.every {
            Some(json!({"kind": "every", "everyMs": parse_duration_ms(e)?}))
        } else if let Some(c) = &self.cron {
            let mut s = json!({"kind": "cron", "expr": c});
            if let Some(tz) = self.tz.as_deref().filter(|t| !t.is_empty()) {
                s["tz"] = json!(tz);
            }
            Some(s)
        } else {
            None
        })
    }

    fn payload(&self) -> Option<Value> {
        if let Some(t) = &self.system_event {
            return Some(json!({"kind": "systemEvent", "text": t}));
        }
        let mut p = Map::new();
        p.insert("kind".into(), json!("agentTurn"));
        if let Some(m) = &self.message {
            p.insert("message".into(), json!(m));
        }
        for (k, v) in [
            ("model", &self.model),
            ("thinking", &self.thinking),
            ("channel", &self.channel),
            ("to", &self.to),
        ] {
            if let Some(v) = v {
                p.insert(k.into(), json!(v));
            }
        }
        if let Some(t) = self.timeout_seconds {
            p.insert("timeoutSeconds".into(), json!(t));
        }
        if self.deliver {
            p.insert("deliver".into(), json!(true));
        }
        if self.best_effort_deliver {
            p.insert("bestEffortDeliver".into(), json!(true));
        }
        (p.len() > 1).then_some(Value::Object(p))
    }

    fn add_params(&self) -> Result<Value, String> {
        let name = self.name.clone().ok_or("--name is required")?;
        let schedule = self
            .schedule()?
            .ok_or("one of --at, --every or --cron is required")?;
        let payload = self
            .payload()
            .ok_or("one of --system-event or --message is required")?;
        let session = self.session.clone().unwrap_or_else(|| {
            if payload["kind"] == "agentTurn" {
                "isolated"
            } else {
                "main"
            }
            .into()
        });
        let mut p = json!({
            "name": name, "schedule": schedule, "sessionTarget": session,
            "wakeMode": self.wake.clone().unwrap_or_else(|| "next-heartbeat".into()),
            "payload": payload,
        });
        if let Some(d) = &self.description {
            p["description"] = json!(d);
        }
        if let Some(a) = &self.agent {
            p["agentId"] = json!(a);
        }
        if self.delete_after_run {
            p["deleteAfterRun"] = json!(true);
        }
        Ok(p)
    }

    fn patch(&self, enable: bool, disable: bool) -> Result<Value, String> {
        let mut p = Map::new();
        for (k, v) in [
            ("name", &self.name),
            ("description", &self.description),
            ("agentId", &self.agent),
            ("sessionTarget", &self.session),
            ("wakeMode", &self.wake),
        ] {
            if let Some(v) = v {
                p.insert(k.into(), json!(v));
            }
        }
        if let Some(s) = self.schedule()? {
            p.insert("schedule".into(), s);
        }
        if let Some(pl) = self.payload() {
            p.insert("payload".into(), pl);
        }
        if enable || disable {
            p.insert("enabled".into(), json!(enable));
        }
        if self.delete_after_run {
            p.insert("deleteAfterRun".into(), json!(true));
        }
        if p.is_empty() {
            return Err("nothing to change: give at least one flag (see --help)".into());
        }
        Ok(Value::Object(p))
    }
}

pub fn run(args: CronArgs, profile: Option<&str>) -> ExitCode {
    let (method, params) = match build(&args.command) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let t = client::resolve_target(&args.conn, profile);
    let v = match super::runtime().block_on(client::call_once(
        &t,
        "cli",
        method,
        params,
        timeout(&args.conn),
    )) {
        Ok(v) => v,
        Err(e) => return failed("Cron", e, &t),
    };
    match &args.command {
        CronCommand::List { json: false, .. } => {
            let jobs = v["jobs"].as_array().cloned().unwrap_or_default();
            if jobs.is_empty() {
                println!("No cron jobs.");
            }
            for j in &jobs {
                println!(
                    "{}  {}  {}  {}  next {}  last {}",
                    j["id"].as_str().unwrap_or("?"),
                    j["name"].as_str().unwrap_or("?"),
                    describe(&j["schedule"]),
                    j["sessionTarget"].as_str().unwrap_or("?"),
                    when(&j["state"]["nextRunAtMs"]),
                    j["state"]["lastStatus"].as_str().unwrap_or("-"),
                );
            }
        }
        CronCommand::Runs { json: false, .. } => {
            for e in v["entries"].as_array().cloned().unwrap_or_default() {
                println!(
                    "{}  {}  {}ms  {}",
                    when(&e["runAtMs"]),
                    e["status"].as_str().unwrap_or("?"),
                    e["durationMs"],
                    e["error"].as_str().or(e["summary"].as_str()).unwrap_or("")
                );
            }
        }
        _ => print_json(&v, false),
    }
    ExitCode::SUCCESS
}

fn build(cmd: &CronCommand) -> Result<(&'static str, Value), String> {
    Ok(match cmd {
        CronCommand::Status { .. } => ("cron.status", json!({})),
        CronCommand::List { all, .. } => ("cron.list", json!({"includeDisabled": all})),
        CronCommand::Add(f) => ("cron.add", f.add_params()?),
        CronCommand::Edit {
            id,
            flags,
            enable,
            disable,
        } => (
            "cron.update",
            json!({"id": id, "patch": flags.patch(*enable, *disable)?}),
        ),
        CronCommand::Rm { id } => ("cron.remove", json!({"id": id})),
        CronCommand::Run { id, force } => (
            "cron.run",
            json!({"id": id, "mode": if *force { "force" } else { "due" }}),
        ),
        CronCommand::Runs { id, limit, .. } => ("cron.runs", json!({"id": id, "limit": limit})),
    })
}

fn describe(s: &Value) -> String {
    match s["kind"].as_str() {
        Some("at") => format!("at {}", when(&s["atMs"])),
        Some("every") => format!("every {}ms", s["everyMs"]),
        Some("cron") => format!(
            "cron '{}'{}",
            s["expr"].as_str().unwrap_or(""),
            s["tz"]
                .as_str()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        ),
        _ => "?".into(),
    }
}

fn when(ms: &Value) -> String {
    ms.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration_ms("10m"), Ok(600_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert!(parse_duration_ms("10y").unwrap_err().contains("unit"));
        assert_eq!(parse_at("+1h", 1000), Ok(3_601_000));
        assert_eq!(parse_at("2024-01-15T10:00:00Z", 0), Ok(1_705_312_800_000));
        assert!(parse_at("tomorrow", 0).unwrap_err().contains("--at"));
    }

    #[test]
    fn add_builds_the_original_shape() {
        let f = JobFlags {
            name: Some("brief".into()),
            cron: Some("0 7 * * *".into()),
            tz: Some("Europe/Vienna".into()),
            message: Some("hi".into()),
            deliver: true,
            channel: Some("telegram".into()),
            to: Some("42".into()),
            ..Default::default()
        };
        let p = f.add_params().unwrap();
        assert_eq!(p["sessionTarget"], "isolated");
        assert_eq!(
            p["schedule"],
            json!({"kind": "cron", "expr": "0 7 * * *", "tz": "Europe/Vienna"})
        );
        assert_eq!(
            p["payload"],
            json!({"kind": "agentTurn", "message": "hi", "channel": "telegram", "to": "42", "deliver": true})
        );
        assert!(
            JobFlags::default()
                .add_params()
                .unwrap_err()
                .contains("--name")
        );
    }
}
