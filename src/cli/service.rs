//! `clawdbot gateway install|uninstall|start|stop|restart|status`: the gateway as a
//! systemd *user* service (Linux) or a launchd agent (macOS), pointing at this binary,
//! this profile's state dir and config. The token is never put in the unit: the gateway
//! reads it from its state dir (generated on first start) or from a token file.
//! Refused in Nix mode: there the module owns the service.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Args, Subcommand, ValueEnum};

use crate::nix::NixMode;
use crate::paths::{Env, Paths};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Manager {
    Systemd,
    Launchd,
}

impl Manager {
    pub fn detect() -> Manager {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Install the gateway as a user service and start it (at login, and now).
    #[command(
        after_help = "Examples:\n  clawdbot gateway install\n  clawdbot --profile work gateway install --port 19001\n  clawdbot gateway install --dry-run        # print the unit and the commands"
    )]
    Install(InstallArgs),
    /// Stop and remove the user service.
    Uninstall(ManagerArgs),
    /// Start the installed service.
    Start(ManagerArgs),
    /// Stop the installed service.
    Stop(ManagerArgs),
    /// Restart the installed service (after an update, say).
    Restart(ManagerArgs),
    /// Is the service installed, enabled, running, and pointing at this binary?
    Status(ManagerArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ManagerArgs {
    /// Service manager (normally detected: systemd on Linux, launchd on macOS).
    #[arg(long, value_enum)]
    pub manager: Option<Manager>,
    /// Print what would be written and run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub common: ManagerArgs,
    /// Port for the service (written as --port; default: the config's, or 18789).
    #[arg(long)]
    pub port: Option<u16>,
    /// Write the unit but do not enable or start it.
    #[arg(long)]
    pub no_start: bool,
}

/// Names and files of this profile's service.
pub struct Service {
    pub manager: Manager,
    pub name: String,
    pub file: PathBuf,
    pub exe: PathBuf,
}

pub fn service(env: &Env, paths: &Paths, manager: Manager) -> Service {
    let suffix = paths
        .profile
        .as_deref()
        .map(|p| format!("-{p}"))
        .unwrap_or_default();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("clawdbot"));
    match manager {
        Manager::Systemd => {
            let name = format!("clawdbot-gateway{suffix}.service");
            let dir = env
                .get("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| env.home().join(".config"))
                .join("systemd/user");
            Service {
                manager,
                file: dir.join(&name),
                name,
                exe,
            }
        }
        Manager::Launchd => {
            let name = format!("com.clawdbot.gateway{}", suffix.replace('-', "."));
            let file = env
                .home()
                .join("Library/LaunchAgents")
                .join(format!("{name}.plist"));
            Service {
                manager,
                name,
                file,
                exe,
            }
        }
    }
}

fn args_for(paths: &Paths, exe: &Path, port: Option<u16>) -> Vec<String> {
    let mut a = vec![exe.display().to_string()];
    if let Some(p) = &paths.profile {
        a.extend(["--profile".into(), p.clone()]);
    }
    a.push("gateway".into());
    if let Some(p) = port {
        a.extend(["--port".into(), p.to_string()]);
    }
    a
}

/// systemd quoting for ExecStart words.
fn sd_quote(w: &str) -> String {
    if w.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        w.to_string()
    } else {
        format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

pub fn render_unit(paths: &Paths, exe: &Path, port: Option<u16>) -> String {
    let exec: Vec<String> = args_for(paths, exe, port)
        .iter()
        .map(|w| sd_quote(w))
        .collect();
    format!(
        "# Written by `clawdbot gateway install`; remove with `clawdbot gateway uninstall`.\n\
[Unit]\n\
Description=clawdbot gateway{profile}\n\
Documentation=https://github.com/clawdbot/clawdbot\n\
After=network-online.target\n\
Wants=network-online.target\n\
\n\
[Service]\n\
Type=notify\n\
NotifyAccess=main\n\
ExecStart={exec}\n\
ExecReload=/bin/kill -HUP $MAINPID\n\
Restart=on-failure\n\
RestartSec=2\n\
WatchdogSec=30\n\
TimeoutStopSec=15\n\
LimitNOFILE={nofile}\n\
Environment=\"CLAWDBOT_STATE_DIR={state}\"\n\
Environment=\"CLAWDBOT_CONFIG_PATH={config}\"\n\
UMask=0077\n\
NoNewPrivileges=yes\n\
LockPersonality=yes\n\
RestrictRealtime=yes\n\
RestrictSUIDSGID=yes\n\
SystemCallArchitectures=native\n\
# The tool sandbox (Landlock + seccomp, set up in each tool process) needs these.\n\
SystemCallFilter=@system-service landlock_create_ruleset landlock_add_rule landlock_restrict_self seccomp\n\
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n\
# Mount-namespace options (ProtectSystem=, PrivateTmp=) are left out: a user manager\n\
# without unprivileged user namespaces refuses to start units that use them, and the\n\
# agent's tools must reach your files.\n\
\n\
[Install]\n\
WantedBy=default.target\n",
        profile = paths
            .profile
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default(),
        exec = exec.join(" "),
        nofile = crate::server::limits::UNIT_NOFILE,
        state = paths.state_dir.display(),
        config = paths.config_path.display(),
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render_plist(paths: &Paths, label: &str, exe: &Path, port: Option<u16>) -> String {
    let args: String = args_for(paths, exe, port)
        .iter()
        .map(|a| format!("    <string>{}</string>\n", xml(a)))
        .collect();
    let logs = paths.state_dir.join("logs");
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{label}</string>
  <key>ProgramArguments</key>
  <array>
{args}  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ProcessType</key>
  <string>Background</string>
  <key>EnvironmentVariables</key>
  <dict>
    <key>CLAWDBOT_STATE_DIR</key>
    <string>{state}</string>
    <key>CLAWDBOT_CONFIG_PATH</key>
    <string>{config}</string>
  </dict>
  <key>StandardOutPath</key>
  <string>{out}</string>
  <key>StandardErrorPath</key>
  <string>{err}</string>
</dict>
</plist>
"#,
        label = xml(label),
        state = xml(&paths.state_dir.display().to_string()),
        config = xml(&paths.config_path.display().to_string()),
        out = xml(&logs.join("gateway.log").display().to_string()),
        err = xml(&logs.join("gateway.err.log").display().to_string()),
    )
}

fn uid() -> String {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The commands that act on the service, per manager and action.
fn commands(svc: &Service, action: &str) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match svc.manager {
        Manager::Systemd => {
            let ctl = |a: &str| s(&["systemctl", "--user", a, &svc.name]);
            match action {
                "install" => vec![
                    s(&["systemctl", "--user", "daemon-reload"]),
                    s(&["systemctl", "--user", "enable", "--now", &svc.name]),
                ],
                "uninstall" => vec![s(&["systemctl", "--user", "disable", "--now", &svc.name])],
                "after-uninstall" => vec![s(&["systemctl", "--user", "daemon-reload"])],
                a => vec![ctl(a)],
            }
        }
        Manager::Launchd => {
            let target = format!("gui/{}", uid());
            let file = svc.file.display().to_string();
            match action {
                "install" | "start" => vec![s(&["launchctl", "bootstrap", &target, &file])],
                "uninstall" | "stop" => vec![s(&[
                    "launchctl",
                    "bootout",
                    &format!("{target}/{}", svc.name),
                ])],
                "restart" => vec![s(&[
                    "launchctl",
                    "kickstart",
                    "-k",
                    &format!("{target}/{}", svc.name),
                ])],
                _ => vec![],
            }
        }
    }
}

fn run_all(cmds: &[Vec<String>], dry: bool, tolerate: bool) -> Result<(), String> {
    for c in cmds {
        if dry {
            println!("would run: {}", c.join(" "));
            continue;
        }
        let st = Command::new(&c[0])
            .args(&c[1..])
            .status()
            .map_err(|e| format!("cannot run {}: {e}", c[0]))?;
        if !st.success() && !tolerate {
            return Err(format!("`{}` failed ({st})", c.join(" ")));
        }
    }
    Ok(())
}

/// Linux: whether the user manager keeps running without a session.
pub fn linger() -> Option<bool> {
    let user = std::env::var("USER").ok()?;
    let out = Command::new("loginctl")
        .args(["show-user", &user, "-p", "Linger", "--value"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim() == "yes")
}

pub fn run(cmd: ServiceCommand, profile: Option<&str>) -> ExitCode {
    let env = Env::from_process();
    let paths = Paths::resolve(&env, profile);
    let nix = NixMode::detect(&env, &paths.config_path);
    let common = match &cmd {
        ServiceCommand::Install(a) => a.common.clone(),
        ServiceCommand::Uninstall(a)
        | ServiceCommand::Start(a)
        | ServiceCommand::Stop(a)
        | ServiceCommand::Restart(a)
        | ServiceCommand::Status(a) => a.clone(),
    };
    let svc = service(&env, &paths, common.manager.unwrap_or_else(Manager::detect));
    let fail = |e: String| {
        eprintln!("{e}");
        ExitCode::FAILURE
    };
    if nix.enabled && !matches!(cmd, ServiceCommand::Status(_)) {
        return fail(crate::nix::action_refusal("Managing the gateway service"));
    }
    match cmd {
        ServiceCommand::Install(a) => {
            let text = match svc.manager {
                Manager::Systemd => render_unit(&paths, &svc.exe, a.port),
                Manager::Launchd => render_plist(&paths, &svc.name, &svc.exe, a.port),
            };
            if common.dry_run {
                println!("would write {}:\n{text}", svc.file.display());
            } else {
                if let Some(dir) = svc.file.parent()
                    && let Err(e) = std::fs::create_dir_all(dir)
                {
                    return fail(format!("cannot create {}: {e}", dir.display()));
                }
                if svc.manager == Manager::Launchd {
                    let _ = crate::fsutil::create_private_dir(&paths.state_dir.join("logs"));
                }
                if let Err(e) = crate::fsutil::write_atomic(&svc.file, text.as_bytes(), 0o644) {
                    return fail(format!("cannot write {}: {e}", svc.file.display()));
                }
                println!("Wrote {}", svc.file.display());
            }
            if !a.no_start
                && let Err(e) = run_all(&commands(&svc, "install"), common.dry_run, false)
            {
                return fail(format!(
                    "{e}\nThe unit is written; start it with `clawdbot gateway start` once the service manager is available."
                ));
            }
            if svc.manager == Manager::Systemd && linger() == Some(false) {
                let user = std::env::var("USER").unwrap_or_else(|_| "$USER".into());
                eprintln!(
                    "Note: lingering is off for {user}: the gateway stops when you log out. Keep it running with:\n  sudo loginctl enable-linger {user}"
                );
            }
            if !common.dry_run {
                println!("Check it with: clawdbot gateway status   (and clawdbot health)");
            }
            ExitCode::SUCCESS
        }
        ServiceCommand::Uninstall(_) => {
            if !svc.file.exists() {
                println!("Not installed ({} does not exist).", svc.file.display());
                return ExitCode::SUCCESS;
            }
            let _ = run_all(&commands(&svc, "uninstall"), common.dry_run, true);
            if common.dry_run {
                println!("would remove {}", svc.file.display());
            } else if let Err(e) = std::fs::remove_file(&svc.file) {
                return fail(format!("cannot remove {}: {e}", svc.file.display()));
            } else {
                println!("Removed {}", svc.file.display());
            }
            let _ = run_all(&commands(&svc, "after-uninstall"), common.dry_run, true);
            ExitCode::SUCCESS
        }
        ServiceCommand::Start(_) | ServiceCommand::Stop(_) | ServiceCommand::Restart(_) => {
            let action = match cmd {
                ServiceCommand::Start(_) => "start",
                ServiceCommand::Stop(_) => "stop",
                _ => "restart",
            };
            if !svc.file.exists() {
                return fail(format!(
                    "The gateway service is not installed ({} missing). Install it with `clawdbot gateway install`.",
                    svc.file.display()
                ));
            }
            match run_all(&commands(&svc, action), common.dry_run, false) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        ServiceCommand::Status(_) => {
            let st = status(&svc);
            for (k, v) in &st.lines {
                println!("{k:<12} {v}");
            }
            if nix.enabled {
                println!(
                    "{:<12} Nix mode: the service comes from the Nix module (services.clawdbot)",
                    "managed"
                );
            }
            if st.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

pub struct Status {
    pub installed: bool,
    pub ok: bool,
    /// The binary the unit runs, when installed.
    pub exec: Option<String>,
    pub lines: Vec<(String, String)>,
}

/// Reads the unit/plist and asks the manager; `ok` when installed, running and current.
pub fn status(svc: &Service) -> Status {
    let mut lines = vec![
        ("service".to_string(), svc.name.clone()),
        ("file".into(), svc.file.display().to_string()),
    ];
    let Ok(text) = std::fs::read_to_string(&svc.file) else {
        lines.push(("installed".into(), "no (clawdbot gateway install)".into()));
        return Status {
            installed: false,
            ok: false,
            exec: None,
            lines,
        };
    };
    let exec = match svc.manager {
        Manager::Systemd => text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .and_then(|l| l.split_whitespace().next())
            .map(|s| s.trim_matches('"').to_string()),
        Manager::Launchd => text
            .split("<string>")
            .nth(2)
            .and_then(|s| s.split("</string>").next())
            .map(String::from),
    };
    let current = exec.as_deref().map(|e| Path::new(e) == svc.exe.as_path());
    lines.push(("installed".into(), "yes".into()));
    lines.push((
        "binary".into(),
        match current {
            Some(true) => format!("{} (this binary)", svc.exe.display()),
            Some(false) => format!(
                "{} — not this binary ({}); reinstall with `clawdbot gateway install`",
                exec.clone().unwrap_or_default(),
                svc.exe.display()
            ),
            None => "unknown".into(),
        },
    ));
    let query = |what: &str| -> Option<String> {
        let out = Command::new("systemctl")
            .args(["--user", what, &svc.name])
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!s.is_empty()).then_some(s)
    };
    let mut running = None;
    if svc.manager == Manager::Systemd {
        let enabled = query("is-enabled").unwrap_or_else(|| "unknown (no user systemd)".into());
        let active = query("is-active").unwrap_or_else(|| "unknown (no user systemd)".into());
        running = Some(active == "active");
        lines.push(("enabled".into(), enabled));
        lines.push(("active".into(), active));
    }
    let ok = current == Some(true) && running != Some(false);
    Status {
        installed: true,
        ok,
        exec,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_and_plist_carry_the_profile_paths_and_no_token() {
        let env = Env::from_pairs([("HOME", "/home/ada")]);
        let paths = Paths::resolve(&env, Some("work"));
        let svc = service(&env, &paths, Manager::Systemd);
        assert_eq!(svc.name, "clawdbot-gateway-work.service");
        assert!(
            svc.file
                .ends_with(".config/systemd/user/clawdbot-gateway-work.service")
        );
        let unit = render_unit(&paths, Path::new("/opt/clawdbot bin/clawdbot"), Some(19001));
        assert!(
            unit.contains(
                "ExecStart=\"/opt/clawdbot bin/clawdbot\" --profile work gateway --port 19001"
            ),
            "{unit}"
        );
        assert!(unit.contains("Environment=\"CLAWDBOT_STATE_DIR=/home/ada/.clawdbot-work\""));
        assert!(!unit.to_lowercase().contains("token"));
        let l = service(&env, &paths, Manager::Launchd);
        assert_eq!(l.name, "com.clawdbot.gateway.work");
        let plist = render_plist(&paths, &l.name, Path::new("/usr/local/bin/clawdbot"), None);
        assert!(plist.contains("<string>com.clawdbot.gateway.work</string>"));
        assert!(plist.contains("/home/ada/.clawdbot-work/logs/gateway.log"));
    }
}
