//! `clawdbot skills list|info|check`: the skills report (`skills.status`) built offline
//! from the config file and the skill folders, as the gateway would see them for the
//! default agent. No gateway needs to run. Output texts and `--json` shapes are the
//! original's.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::nix::NixMode;
use crate::paths::{Env, Paths};

#[derive(Debug, Args)]
pub struct SkillsArgs {
    #[command(subcommand)]
    pub command: SkillsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// List every skill with its status (ready, disabled, missing).
    List {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
        /// Show only eligible (ready to use) skills.
        #[arg(long)]
        eligible: bool,
        /// Show more details including missing requirements.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Show one skill: source, path, requirements and what is missing.
    Info {
        /// The skill's name (or its skills.entries key).
        name: String,
        /// Output as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Summarise which skills are ready and which miss requirements.
    Check {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub const AFTER: &str = "Skills are <workspace>/skills/<name>/SKILL.md, ~/.clawdbot/skills/<name>/SKILL.md (managed) and skills.load.extraDirs.\n\nExamples:\n  clawdbot skills list\n  clawdbot skills list --eligible\n  clawdbot skills list --json\n  clawdbot skills info github\n  clawdbot skills check";

fn report(profile: Option<&str>) -> Result<Value, String> {
    let env = Env::from_process();
    let paths = Paths::resolve(&env, profile);
    let loaded = crate::config::load(&paths.config_path, &env).map_err(|e| e.to_string())?;
    let nix = NixMode::detect(&env, &paths.config_path);
    let agent = loaded.config.default_agent_id();
    let ws = crate::agent::workspace::dir(&loaded.resolved, &loaded.env, &agent);
    Ok(crate::agent::skills::Context::new(&ws, &paths.state_dir, &loaded, &nix).status())
}

pub fn run(args: SkillsArgs, profile: Option<&str>) -> ExitCode {
    let report = match report(profile) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (text, ok) = match args.command {
        SkillsCommand::List {
            json,
            eligible,
            verbose,
        } => (list(&report, json, eligible, verbose), true),
        SkillsCommand::Info { name, json } => info(&report, &name, json),
        SkillsCommand::Check { json } => (check(&report, json), true),
    };
    println!("{text}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn skills(report: &Value) -> Vec<&Value> {
    report["skills"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn emoji(s: &Value) -> &str {
    s["emoji"].as_str().unwrap_or("📦")
}

fn status_word(s: &Value) -> &'static str {
    if s["eligible"] == true {
        "✓ ready"
    } else if s["disabled"] == true {
        "⏸ disabled"
    } else if s["blockedByAllowlist"] == true {
        "🚫 blocked"
    } else {
        "✗ missing"
    }
}

/// `bins: a, b; env: X` as the original summarises `missing`.
fn missing_summary(s: &Value) -> String {
    ["bins", "anyBins", "env", "config", "os"]
        .iter()
        .filter_map(|k| {
            let v = strs(&s["missing"][k]);
            (!v.is_empty()).then(|| format!("{k}: {}", v.join(", ")))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn list(report: &Value, json_out: bool, eligible_only: bool, verbose: bool) -> String {
    let shown: Vec<&Value> = skills(report)
        .into_iter()
        .filter(|s| !eligible_only || s["eligible"] == true)
        .collect();
    if json_out {
        let items: Vec<Value> = shown
            .iter()
            .map(|s| {
                json!({
                    "name": s["name"], "description": s["description"], "emoji": s["emoji"],
                    "eligible": s["eligible"], "disabled": s["disabled"],
                    "blockedByAllowlist": s["blockedByAllowlist"], "source": s["source"],
                    "primaryEnv": s["primaryEnv"], "homepage": s["homepage"], "missing": s["missing"],
                })
            })
            .collect();
        let out = json!({
            "workspaceDir": report["workspaceDir"],
            "managedSkillsDir": report["managedSkillsDir"],
            "skills": items,
        });
        return serde_json::to_string_pretty(&out).unwrap_or_default();
    }
    if shown.is_empty() {
        return if eligible_only {
            "No eligible skills found. Run `clawdbot skills list` to see all skills.".into()
        } else {
            "No skills found.".into()
        };
    }
    let ready = shown.iter().filter(|s| s["eligible"] == true).count();
    let mut lines = vec![
        format!("Skills ({ready}/{} ready)", shown.len()),
        String::new(),
    ];
    for s in &shown {
        let mut line = format!(
            "{:<12} {} {:<24} {}  [{}]",
            status_word(s),
            emoji(s),
            s["name"].as_str().unwrap_or_default(),
            s["description"].as_str().unwrap_or_default(),
            s["source"].as_str().unwrap_or_default(),
        );
        let missing = missing_summary(s);
        if verbose && !missing.is_empty() {
            line.push_str(&format!("  (missing {missing})"));
        }
        lines.push(line);
        if verbose {
            for r in strs(&s["reasons"]) {
                lines.push(format!("      {r}"));
            }
        }
    }
    lines.join("\n")
}

pub fn info(report: &Value, name: &str, json_out: bool) -> (String, bool) {
    let Some(s) = skills(report)
        .into_iter()
        .find(|s| s["name"] == name || s["skillKey"] == name)
    else {
        if json_out {
            let v = json!({"error": "not found", "skill": name});
            return (serde_json::to_string_pretty(&v).unwrap_or_default(), false);
        }
        return (
            format!(
                "Skill \"{name}\" not found. Run `clawdbot skills list` to see available skills."
            ),
            false,
        );
    };
    if json_out {
        return (serde_json::to_string_pretty(s).unwrap_or_default(), true);
    }
    let status = if s["eligible"] == true {
        "✓ Ready"
    } else if s["disabled"] == true {
        "⏸ Disabled"
    } else {
        "✗ Missing requirements"
    };
    let mut lines = vec![
        format!(
            "{} {} {status}",
            emoji(s),
            s["name"].as_str().unwrap_or_default()
        ),
        String::new(),
        s["description"].as_str().unwrap_or_default().to_string(),
        String::new(),
        "Details:".into(),
        format!("  Source: {}", s["source"].as_str().unwrap_or_default()),
        format!("  Path: {}", s["filePath"].as_str().unwrap_or_default()),
    ];
    if let Some(h) = s["homepage"].as_str() {
        lines.push(format!("  Homepage: {h}"));
    }
    if let Some(p) = s["primaryEnv"].as_str() {
        lines.push(format!("  Primary env: {p}"));
    }
    let labels = [
        ("bins", "Binaries"),
        ("anyBins", "Any binaries"),
        ("env", "Environment"),
        ("config", "Config"),
        ("os", "OS"),
    ];
    let any_req = labels
        .iter()
        .any(|(k, _)| !strs(&s["requirements"][k]).is_empty());
    if any_req {
        lines.push(String::new());
        lines.push("Requirements:".into());
        for (k, label) in labels {
            let req = strs(&s["requirements"][k]);
            if req.is_empty() {
                continue;
            }
            let missing = strs(&s["missing"][k]);
            let marks: Vec<String> = req
                .iter()
                .map(|r| {
                    let bad = if k == "anyBins" {
                        !missing.is_empty()
                    } else {
                        missing.contains(r)
                    };
                    format!("{} {r}", if bad { "✗" } else { "✓" })
                })
                .collect();
            lines.push(format!("  {label}: {}", marks.join(", ")));
        }
    }
    let reasons = strs(&s["reasons"]);
    if !reasons.is_empty() {
        lines.push(String::new());
        lines.push("Why not ready:".into());
        lines.extend(reasons.iter().map(|r| format!("  - {r}")));
    }
    (lines.join("\n"), true)
}

pub fn check(report: &Value, json_out: bool) -> String {
    let all = skills(report);
    let names = |f: &dyn Fn(&Value) -> bool| -> Vec<&Value> {
        all.iter().copied().filter(|s| f(s)).collect()
    };
    let eligible = names(&|s| s["eligible"] == true);
    let disabled = names(&|s| s["disabled"] == true);
    let blocked = names(&|s| s["blockedByAllowlist"] == true && s["disabled"] != true);
    let missing = names(&|s| {
        s["eligible"] != true && s["disabled"] != true && s["blockedByAllowlist"] != true
    });
    if json_out {
        let n = |v: &[&Value]| -> Vec<Value> { v.iter().map(|s| s["name"].clone()).collect() };
        let out = json!({
            "summary": {
                "total": all.len(), "eligible": eligible.len(), "disabled": disabled.len(),
                "blocked": blocked.len(), "missingRequirements": missing.len(),
            },
            "eligible": n(&eligible),
            "disabled": n(&disabled),
            "blocked": n(&blocked),
            "missingRequirements": missing.iter().map(|s| json!({
                "name": s["name"], "missing": s["missing"], "install": s["install"],
            })).collect::<Vec<_>>(),
        });
        return serde_json::to_string_pretty(&out).unwrap_or_default();
    }
    let mut lines = vec![
        "Skills Status Check".to_string(),
        String::new(),
        format!("Total: {}", all.len()),
        format!("✓ Eligible: {}", eligible.len()),
        format!("⏸ Disabled: {}", disabled.len()),
        format!("🚫 Blocked by allowlist: {}", blocked.len()),
        format!("✗ Missing requirements: {}", missing.len()),
    ];
    if !eligible.is_empty() {
        lines.push(String::new());
        lines.push("Ready to use:".into());
        for s in &eligible {
            lines.push(format!(
                "  {} {}",
                emoji(s),
                s["name"].as_str().unwrap_or_default()
            ));
        }
    }
    if !missing.is_empty() {
        lines.push(String::new());
        lines.push("Missing requirements:".into());
        for s in &missing {
            lines.push(format!(
                "  {} {} ({})",
                emoji(s),
                s["name"].as_str().unwrap_or_default(),
                missing_summary(s)
            ));
        }
    }
    lines.join("\n")
}
