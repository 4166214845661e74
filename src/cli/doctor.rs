//! `clawdbot doctor`: every way a setup goes wrong, each finding with a severity and a
//! one-line fix. `--fix` repairs only what is safe (permissions) and never touches a
//! Nix-managed file; `--json` for scripts. Exit 1 when anything is an error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use crate::nix::NixMode;
use crate::paths::{Env, Paths};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  clawdbot doctor\n  clawdbot doctor --fix     # chmod what is too open; nothing else\n  clawdbot doctor --migrate # upgrade old state files where a migration exists (gateway stopped)\n  clawdbot doctor --json\n\nExit status: 1 when a finding is an error, else 0."
)]
pub struct DoctorArgs {
    /// Repair what is safe to repair (file and directory permissions).
    #[arg(long)]
    pub fix: bool,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Rewrite state files in an older format into the current one, where a migration
    /// exists (docs/state-format.md). Each file is backed up first; the gateway must be
    /// stopped. Without it no state file is ever upgraded.
    #[arg(long)]
    pub migrate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fixed: bool,
}

struct Doctor {
    findings: Vec<Finding>,
    fix: bool,
    nix: bool,
}

impl Doctor {
    fn add(
        &mut self,
        check: &'static str,
        severity: Severity,
        message: impl Into<String>,
        fix: Option<String>,
    ) {
        self.findings.push(Finding {
            check,
            severity,
            message: message.into(),
            fix,
            fixed: false,
        });
    }

    /// A path that must not be readable by others: warns, and with --fix chmods it.
    fn private(&mut self, check: &'static str, path: &Path, want: u32) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        let in_store = path.starts_with("/nix/store");
        let fix = format!("chmod {want:o} {}", path.display());
        let mut f = Finding {
            check,
            severity: Severity::Warn,
            message: format!(
                "{} is readable by group/others (mode {mode:04o})",
                path.display()
            ),
            fix: Some(if in_store {
                "it is in the Nix store: keep secrets outside it (services.clawdbot.secrets)".into()
            } else {
                fix
            }),
            fixed: false,
        };
        if self.fix && !in_store && !self.nix_managed(path) {
            f.fixed = std::fs::set_permissions(path, std::fs::Permissions::from_mode(want)).is_ok();
        }
        self.findings.push(f);
    }

    fn nix_managed(&self, path: &Path) -> bool {
        self.nix && std::fs::read_link(path).is_ok_and(|t| t.starts_with("/nix/store"))
    }
}

fn config_checks(d: &mut Doctor, paths: &Paths, env: &Env) -> Option<crate::config::Loaded> {
    match crate::config::load(&paths.config_path, env) {
        Ok(l) => {
            let msg = if l.exists {
                format!("{} is valid", paths.config_path.display())
            } else {
                format!(
                    "no config at {} (built-in defaults)",
                    paths.config_path.display()
                )
            };
            d.add("config", Severity::Ok, msg, None);
            for w in &l.warnings {
                d.add("config", Severity::Info, w.to_string(), None);
            }
            Some(l)
        }
        Err(e) => {
            d.add(
                "config",
                Severity::Error,
                e.to_string(),
                Some(format!(
                    "fix the keys above in {} (`clawdbot check-config` shows the same)",
                    paths.config_path.display()
                )),
            );
            None
        }
    }
}

/// `gateway.controlUi.root` must hold a UI build, or the page is a 404 that says so.
fn control_ui_root(d: &mut Doctor, root: &Path) {
    if root.join("index.html").is_file() {
        d.add(
            "controlUi",
            Severity::Ok,
            format!("Control UI served from {}", root.display()),
            None,
        );
    } else {
        d.add(
            "controlUi",
            Severity::Error,
            format!(
                "gateway.controlUi.root is {}, which has no index.html: the Control UI answers 404",
                root.display()
            ),
            Some("point it at a Control UI build (e.g. openclaw's node_modules/openclaw/dist/control-ui) or remove the key to serve the embedded UI".into()),
        );
    }
}

fn probe(port: u16) -> Result<Option<String>, ()> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return Ok(None);
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or_default();
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v["status"] == "live" => {
            Ok(Some(v["version"].as_str().unwrap_or("?").to_string()))
        }
        _ => Err(()),
    }
}

fn disk_free_mb(path: &Path) -> Option<u64> {
    let out = Command::new("df").args(["-Pk"]).arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse::<u64>()
        .ok()
        .map(|k| k / 1024)
}

pub fn run(args: DoctorArgs, profile: Option<&str>) -> ExitCode {
    let env = Env::from_process();
    let paths = Paths::resolve(&env, profile);
    let nix = NixMode::detect(&env, &paths.config_path);
    let mut d = Doctor {
        findings: vec![],
        fix: args.fix,
        nix: nix.enabled,
    };

    let loaded = config_checks(&mut d, &paths, &env);

    // State dir and secrets.
    if paths.state_dir.is_dir() {
        d.add(
            "state",
            Severity::Ok,
            format!("state dir {}", paths.state_dir.display()),
            None,
        );
        d.private("state", &paths.state_dir, 0o700);
        let creds = paths.state_dir.join("credentials");
        d.private("secrets", &creds, 0o700);
        if let Ok(rd) = std::fs::read_dir(&creds) {
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for f in files {
                d.private("secrets", &f, 0o600);
            }
        }
        if paths.config_path.exists() && !d.nix_managed(&paths.config_path) {
            d.private("config", &paths.config_path, 0o600);
        }
    } else {
        d.add(
            "state",
            Severity::Info,
            format!("state dir {} does not exist yet", paths.state_dir.display()),
            Some("`clawdbot onboard` or a first `clawdbot gateway` creates it".into()),
        );
    }
    state_formats(&mut d, &paths, &env, loaded.as_ref(), args.migrate);
    if let Some(root) = loaded
        .as_ref()
        .and_then(|l| l.config.gateway.control_ui.root.clone())
        .filter(|r| !r.trim().is_empty())
    {
        control_ui_root(&mut d, &env.expand_tilde(&root));
    }
    if let Some(l) = &loaded {
        let mut files = vec![(
            "gateway.auth.tokenFile".to_string(),
            l.resolved
                .pointer("/gateway/auth/tokenFile")
                .and_then(Value::as_str)
                .map(String::from),
        )];
        // Every channel account of every kind: its token file, and whether a token is
        // there at all (and looks like one).
        for kind in crate::channels::kinds::KINDS
            .iter()
            .filter(|k| !k.linked_device)
        {
            for a in crate::channels::accounts::accounts(&l.resolved, &l.env, kind) {
                let key = a.key();
                files.push((
                    format!("{key}.tokenFile"),
                    a.section
                        .get("tokenFile")
                        .and_then(Value::as_str)
                        .map(String::from),
                ));
                if !a.enabled {
                    continue;
                }
                match &a.token {
                    Ok(Some(t)) => {
                        if let Err(e) = (kind.check_token)(t.expose()) {
                            d.add(
                                "channels",
                                Severity::Warn,
                                format!("{key}: {e}"),
                                Some(format!("get a new token {}", kind.token_hint)),
                            );
                        }
                        if a.section.contains_key(kind.inline_token_key) {
                            d.add("channels", Severity::Warn, format!("{key}.{} holds the token in the config", kind.inline_token_key), Some(format!("move it to a file: clawdbot channels add --channel {} --token-file PATH", kind.id)));
                        }
                    }
                    Ok(None) => d.add(
                        "channels",
                        Severity::Warn,
                        format!(
                            "{key}: no bot token, so the {} bot does not start",
                            kind.label
                        ),
                        Some(format!(
                            "clawdbot channels add --channel {} --token-file PATH (or set {})",
                            kind.id, kind.token_env
                        )),
                    ),
                    // A missing or unreadable token file is reported below, by path.
                    Err(_) if a.section.contains_key("tokenFile") => {}
                    Err(e) => d.add("channels", Severity::Error, format!("{key}: {e}"), None),
                }
            }
        }
        for (key, path) in files {
            if let Some(p) = path {
                let p = env.expand_tilde(&p);
                if p.exists() {
                    d.private("secrets", &p, 0o600);
                } else {
                    d.add(
                        "secrets",
                        Severity::Error,
                        format!("{key} points at {}, which does not exist", p.display()),
                        Some("create the file (mode 0600) or fix the path".into()),
                    );
                }
            }
        }
        // Token strength.
        let token = l
            .resolved
            .pointer("/gateway/auth/token")
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| env.get("CLAWDBOT_GATEWAY_TOKEN").map(String::from));
        match token {
            Some(t) if t.len() < 24 => d.add(
                "token",
                Severity::Warn,
                format!("the gateway token is short ({} characters)", t.len()),
                Some("use 32+ random characters: `openssl rand -hex 32`, in a token file".into()),
            ),
            Some(_) => d.add("token", Severity::Ok, "gateway token is long enough", None),
            None => d.add(
                "token",
                Severity::Ok,
                "token from a file or generated (64 hex characters)",
                None,
            ),
        }
    }

    // Port, lock, running gateway.
    let port = env
        .get("CLAWDBOT_GATEWAY_PORT")
        .and_then(|p| p.parse().ok())
        .or_else(|| loaded.as_ref().and_then(|l| l.config.gateway.port))
        .unwrap_or(crate::config::model::DEFAULT_PORT);
    let holder = crate::lock::read_holder(&paths.lock_path());
    let held = paths.lock_path().exists()
        && matches!(
            crate::lock::GatewayLock::acquire(&paths.lock_path()),
            Err(crate::lock::LockError::Held(..))
        );
    match probe(port) {
        Ok(Some(v)) => d.add("gateway", Severity::Ok, format!("a gateway (version {v}) answers on 127.0.0.1:{port}"), None),
        Ok(None) if held => d.add("gateway", Severity::Warn, format!("the lock {} is held (pid {}) but nothing answers on port {port}", paths.lock_path().display(), holder.map(|h| h.pid.to_string()).unwrap_or_else(|| "?".into())), Some("it may be starting or listening on another port; `clawdbot gateway --force` takes over".into())),
        Ok(None) => d.add("gateway", Severity::Info, format!("no gateway is running (port {port} is free)"), Some("start it: `clawdbot gateway` or `clawdbot gateway start`".into())),
        Err(()) => d.add("gateway", Severity::Error, format!("port {port} is taken by something that is not a clawdbot gateway"), Some(format!("stop that program, or set gateway.port (`clawdbot config set gateway.port {}`)", port + 1))),
    }

    // Service.
    let manager = super::service::Manager::detect();
    let svc = super::service::service(&env, &paths, manager);
    let st = super::service::status(&svc);
    if nix.enabled {
        if st.installed {
            d.add("nix", Severity::Warn, format!("Nix mode, but a hand-installed service exists ({})", svc.file.display()), Some("the Nix module provides the service: `clawdbot gateway uninstall` with CLAWDBOT_NIX_MODE unset, or remove the file".into()));
        } else {
            d.add(
                "nix",
                Severity::Ok,
                "Nix mode: config and service come from the Nix module",
                None,
            );
        }
    } else if !st.installed {
        d.add(
            "service",
            Severity::Info,
            "no user service installed",
            Some("`clawdbot gateway install` runs it at login and restarts it on failure".into()),
        );
    } else {
        let current = st.exec.as_deref().map(Path::new) == Some(svc.exe.as_path());
        if current {
            d.add(
                "service",
                Severity::Ok,
                format!("{} runs this binary", svc.name),
                None,
            );
        } else {
            d.add(
                "service",
                Severity::Error,
                format!(
                    "{} runs {}, not this binary ({})",
                    svc.name,
                    st.exec.clone().unwrap_or_default(),
                    svc.exe.display()
                ),
                Some(
                    "`clawdbot gateway install` rewrites it; then `clawdbot gateway restart`"
                        .into(),
                ),
            );
        }
        if manager == super::service::Manager::Systemd && super::service::linger() == Some(false) {
            let user = env.get("USER").unwrap_or("$USER");
            d.add(
                "service",
                Severity::Warn,
                "lingering is off: the gateway stops when you log out",
                Some(format!("sudo loginctl enable-linger {user}")),
            );
        }
    }

    // Clock and disk.
    if let Ok(out) = Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        && out.status.success()
    {
        match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => d.add("clock", Severity::Ok, "the clock is NTP-synchronized", None),
            _ => d.add(
                "clock",
                Severity::Warn,
                "the clock is not NTP-synchronized (device signatures allow 10 minutes of skew)",
                Some("enable time sync: `sudo timedatectl set-ntp true`".into()),
            ),
        }
    }
    // What openclaw did to this state dir, if it ran here (src/cli/doctor_openclaw.rs).
    for n in super::doctor_openclaw::findings(&paths, &env) {
        d.add("openclaw", n.severity, n.message, n.fix);
    }
    let probe_dir = if paths.state_dir.exists() {
        paths.state_dir.clone()
    } else {
        env.home()
    };
    match disk_free_mb(&probe_dir) {
        Some(mb) if mb < 50 => d.add(
            "disk",
            Severity::Error,
            format!("only {mb} MB free for {}", probe_dir.display()),
            Some("free space: transcripts and logs cannot be written".into()),
        ),
        Some(mb) if mb < 500 => d.add(
            "disk",
            Severity::Warn,
            format!("{mb} MB free for {}", probe_dir.display()),
            Some("free some space soon".into()),
        ),
        Some(mb) => d.add("disk", Severity::Ok, format!("{mb} MB free"), None),
        None => {}
    }

    let worst = d
        .findings
        .iter()
        .filter(|f| !f.fixed)
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"ok": worst < Severity::Error, "findings": d.findings})
            )
            .unwrap_or_default()
        );
    } else {
        for f in &d.findings {
            let tag = match (f.severity, f.fixed) {
                (_, true) => "FIXED",
                (Severity::Ok, _) => "ok",
                (Severity::Info, _) => "info",
                (Severity::Warn, _) => "WARN",
                (Severity::Error, _) => "ERROR",
            };
            println!("{tag:<6} {:<8} {}", f.check, f.message);
            if let (Some(fix), false) = (&f.fix, f.fixed || f.severity == Severity::Ok) {
                println!("       {:<8} fix: {fix}", "");
            }
        }
    }
    if worst >= Severity::Error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// State-file format versions (docs/state-format.md): refused files are errors, older
/// ones are listed with their migration; `--migrate` applies the migrations first.
fn state_formats(
    d: &mut Doctor,
    paths: &Paths,
    env: &Env,
    loaded: Option<&crate::config::Loaded>,
    migrate: bool,
) {
    use crate::state_format::scan::{State, migrate as run_migrations, scan};
    let cron_store = crate::cron::store::resolve_path(
        &paths.state_dir,
        loaded
            .and_then(|l| l.resolved.pointer("/cron/store"))
            .and_then(Value::as_str),
        env,
    );
    let extra = [("cron-jobs", cron_store)];
    if migrate && !paths.state_dir.is_dir() {
        d.add(
            "formats",
            Severity::Ok,
            "--migrate: no state dir, nothing to migrate",
            None,
        );
    } else if migrate {
        // Never under a running gateway: it holds the files open and would not see it.
        match crate::lock::GatewayLock::acquire(&paths.lock_path()) {
            Ok(_lock) => {
                let done = run_migrations(&paths.state_dir, &extra);
                if done.is_empty() {
                    d.add("formats", Severity::Ok, "--migrate: nothing to migrate", None);
                }
                for m in done {
                    match m.result {
                        Ok(bak) => d.add("formats", Severity::Ok, format!("migrated {} ({}); the old file is kept as {}", m.path.display(), m.name, bak.display()), None),
                        Err(e) => d.add("formats", Severity::Error, format!("migration failed for {} ({}): {e}", m.path.display(), m.name), Some("the file is unchanged; free space or fix permissions and run `clawdbot doctor --migrate` again".into())),
                    }
                }
            }
            Err(e) => d.add("formats", Severity::Error, format!("--migrate not run: {e}"), Some("stop the gateway first (`clawdbot gateway stop`), then run `clawdbot doctor --migrate`".into())),
        }
    }
    let reports = scan(&paths.state_dir, &extra, true);
    let mut fine = 0;
    for r in &reports {
        let at = r.path.display();
        match &r.state {
            State::Current => fine += 1,
            State::Older { migration: Some(m) } => d.add("formats", Severity::Info, format!("{at}: {} format version {} is read as is; a migration exists: {m}", r.kind, r.version.unwrap_or(1)), Some("optional: `clawdbot doctor --migrate` (backs the file up first)".into())),
            State::Older { migration: None } => {
                fine += 1;
            }
            State::Refused(refusal) => d.add("formats", Severity::Error, refusal.to_string(), Some("roll forward to the clawdbot that wrote it, or restore this file from a backup; it is never modified".into())),
            State::Unreadable(e) => d.add("formats", Severity::Warn, e.clone(), Some("the store that reads it reports it too; fix it or move it aside".into())),
        }
        if let Some(n) = &r.note {
            d.add("formats", Severity::Info, format!("{at}: {n}"), None);
        }
    }
    if !reports.is_empty() {
        d.add(
            "formats",
            Severity::Ok,
            format!(
                "{fine} of {} state file(s) in formats this release reads and writes",
                reports.len()
            ),
            None,
        );
    }
}
