//! `clawdbot check-config`: the daemon's own loader and validator, without starting
//! anything. The Nix modules run it at build time with `--no-secrets`, where secret files
//! do not exist yet and no state dir is available.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::config::secrets::{Candidate, Found, SecretMode, lookup};
use crate::paths::{Env, Paths};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config file to check (default: the one the gateway would load).
    pub path: Option<PathBuf>,
    /// Do not read secret files; report them as "will be read at start".
    #[arg(long)]
    pub no_secrets: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CheckArgs, profile: Option<&str>) -> ExitCode {
    let env = Env::from_process();
    let path = args
        .path
        .clone()
        .map(|p| crate::paths::absolute(&p))
        .unwrap_or_else(|| Paths::resolve(&env, profile).config_path);
    let mode = if args.no_secrets {
        SecretMode::Defer
    } else {
        SecretMode::Read
    };
    let report = check(&path, &env, mode);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for w in report["warnings"].as_array().into_iter().flatten() {
            eprintln!("warning: {}", w.as_str().unwrap_or(""));
        }
        for s in report["secrets"].as_array().into_iter().flatten() {
            if s["status"] == "deferred" {
                eprintln!(
                    "note: {} will be read at start",
                    s["source"].as_str().unwrap_or("")
                );
            }
        }
        if report["ok"] == true {
            let exists = if report["exists"] == true {
                ""
            } else {
                " (file does not exist: the built-in defaults apply)"
            };
            println!("config OK: {}{exists}", path.display());
        } else {
            eprintln!("Invalid config at {}:", path.display());
            for e in report["errors"].as_array().into_iter().flatten() {
                eprintln!("  - {}", e.as_str().unwrap_or(""));
            }
        }
    }
    if report["ok"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The check as data (also used by tests): `{ok, path, exists, errors, warnings, secrets}`.
pub fn check(path: &std::path::Path, env: &Env, mode: SecretMode) -> serde_json::Value {
    let loaded = match crate::config::load(path, env) {
        Ok(l) => l,
        Err(e) => {
            return json!({
                "ok": false, "path": path.display().to_string(), "exists": path.exists(),
                "errors": e.problems().iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "warnings": [], "secrets": [],
            });
        }
    };
    let mut errors: Vec<String> = vec![];
    let mut warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let mut secrets = vec![];
    let mut record = |r: Result<Option<Found>, String>, errors: &mut Vec<String>| match r {
        Ok(Some(Found::Value { source, .. })) => {
            secrets.push(json!({"source": source, "status": "ok"}))
        }
        Ok(Some(Found::Deferred { source })) => {
            secrets.push(json!({"source": source, "status": "deferred"}))
        }
        Ok(None) => {}
        Err(e) => errors.push(e),
    };
    let overrides = crate::server::auth::AuthOverrides::default();
    match crate::server::auth::resolve(&loaded.config, &loaded.env, &overrides, mode, &mut warnings)
    {
        Ok((_, found)) => {
            for f in found {
                record(Ok(Some(f)), &mut errors);
            }
        }
        Err(e) => errors.push(e),
    }
    // Every other `...File` secret the config names (channels, providers, ...).
    for (key, file) in crate::config::schema::secret_file_refs(&loaded.resolved) {
        if key.starts_with("gateway.auth.") {
            continue;
        }
        let r = lookup(
            &[Candidate::File {
                key: &key,
                path: Some(&file),
            }],
            &loaded.env,
            mode,
            &mut warnings,
        );
        record(r, &mut errors);
    }
    // Declared cron jobs (cron.jobs), checked as the gateway will parse them at start.
    errors.extend(crate::cron::declared::parse_all(&loaded.resolved, crate::util::now_ms()).1);
    json!({
        "ok": errors.is_empty(), "path": path.display().to_string(), "exists": loaded.exists,
        "errors": errors, "warnings": warnings, "secrets": secrets,
    })
}
