//! `clawdbot gateway`: start the daemon, or `gateway call` a method on a running one.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::ConnectOpts;
use crate::config::secrets::{Secret, SecretMode};
use crate::nix::NixMode;
use crate::paths::{Env, Paths};
use crate::server::auth::{AuthMode, AuthOverrides};
use crate::server::{BindInfo, Gateway, GatewayInit, ServerOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Bind {
    /// 127.0.0.1 only (default).
    Loopback,
    /// All interfaces (0.0.0.0): Docker, Fly.io, VPS. Needs a token or password.
    Lan,
    /// The tailnet address when present, else loopback. Needs a token or password.
    Tailnet,
    /// Loopback when possible, else all interfaces. Needs a token or password.
    Auto,
    /// gateway.customBindHost. Needs a token or password.
    Custom,
}

impl Bind {
    pub fn as_str(self) -> &'static str {
        match self {
            Bind::Loopback => "loopback",
            Bind::Lan => "lan",
            Bind::Tailnet => "tailnet",
            Bind::Auto => "auto",
            Bind::Custom => "custom",
        }
    }
    fn parse(s: &str) -> Option<Bind> {
        <Bind as ValueEnum>::from_str(s, true).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    Token,
    Password,
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  clawdbot gateway                                   # 127.0.0.1:18789, token generated on first start\n  clawdbot gateway --bind lan --port 3000 --token \"$T\" # Docker / Fly.io / VPS\n  CLAWDBOT_GATEWAY_TOKEN_FILE=/run/secrets/tok clawdbot gateway --bind lan\n  clawdbot gateway call health\n\n\
Port: --port, then CLAWDBOT_GATEWAY_PORT, then gateway.port, then 18789.\n\
Bind: --bind, then CLAWDBOT_GATEWAY_BIND, then gateway.bind, then loopback.\n\
Token: --token, gateway.auth.token(File), CLAWDBOT_GATEWAY_TOKEN(_FILE), systemd credential gateway-token.\n\
Signals: SIGHUP reloads the config; SIGTERM/SIGINT drain clients (5 s) and exit 0."
)]
pub struct GatewayArgs {
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Flags for running the gateway.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Port to listen on.
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Which interfaces to listen on.
    #[arg(long, value_enum)]
    pub bind: Option<Bind>,
    /// Shared token clients must present (prefer a file: gateway.auth.tokenFile).
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Shared password (password auth).
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Auth mode.
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// Start even when gateway.mode is not "local" (accepted for compatibility).
    #[arg(long)]
    pub allow_unconfigured: bool,
    /// Stop a gateway already running on this config and take over.
    #[arg(long)]
    pub force: bool,
    /// Debug logging.
    #[arg(long)]
    pub verbose: bool,
    /// Log JSON lines on the console instead of text.
    #[arg(long)]
    pub json_logs: bool,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Run the gateway (the same as `clawdbot gateway`).
    Run(RunArgs),
    /// Call one RPC method on a running gateway and print the JSON result.
    #[command(
        after_help = "Examples:\n  clawdbot gateway call health\n  clawdbot gateway call config.get --params '{}'\n  clawdbot gateway call device.pair.approve --params '{\"requestId\":\"...\"}'"
    )]
    Call(CallArgs),
    #[command(flatten)]
    Service(super::service::ServiceCommand),
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Method name, e.g. health, status, config.get.
    pub method: String,
    /// Params as JSON.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
    /// Print compact JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

pub fn run(args: GatewayArgs, profile: Option<&str>) -> ExitCode {
    match args.command {
        Some(GatewayCommand::Call(call)) => super::client_cmds::call(call, profile),
        Some(GatewayCommand::Run(run)) => start(run, profile),
        Some(GatewayCommand::Service(cmd)) => super::service::run(cmd, profile),
        None => start(args.run, profile),
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::FAILURE
}

/// Everything decided before the socket opens (pure, so it is testable).
struct Plan {
    bind: Bind,
    port: u16,
    host: String,
}

fn plan(args: &RunArgs, env: &Env, cfg: &crate::config::Config) -> Result<Plan, String> {
    let bind = match (args.bind, env.get("CLAWDBOT_GATEWAY_BIND"), cfg.gateway.bind.as_deref()) {
        (Some(b), _, _) => b,
        (None, Some(s), _) => Bind::parse(s).ok_or_else(|| format!("Invalid CLAWDBOT_GATEWAY_BIND={s:?} (use \"loopback\", \"lan\", \"tailnet\", \"auto\", or \"custom\")"))?,
        (None, None, Some(s)) => Bind::parse(s).ok_or_else(|| format!("Invalid gateway.bind {s:?} (use \"loopback\", \"lan\", \"tailnet\", \"auto\", or \"custom\")"))?,
        (None, None, None) => Bind::Loopback,
    };
    let port = match (
        &args.port,
        env.get("CLAWDBOT_GATEWAY_PORT"),
        cfg.gateway.port,
    ) {
        (Some(p), _, _) => parse_port(p, "--port")?,
        (None, Some(p), _) => parse_port(p, "CLAWDBOT_GATEWAY_PORT")?,
        (None, None, Some(p)) => p,
        (None, None, None) => crate::config::model::DEFAULT_PORT,
    };
    let host = match bind {
        Bind::Loopback | Bind::Auto | Bind::Tailnet => "127.0.0.1".to_string(),
        Bind::Lan => "0.0.0.0".to_string(),
        Bind::Custom => cfg
            .gateway
            .custom_bind_host
            .clone()
            .filter(|h| h.parse::<std::net::Ipv4Addr>().is_ok())
            .unwrap_or_else(|| "0.0.0.0".into()),
    };
    Ok(Plan { bind, port, host })
}

fn parse_port(s: &str, from: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("Invalid port {s:?} from {from}: use a number from 1 to 65535"))
}

/// Reads or creates the generated token (64 hex chars, mode 0600, in the state dir).
pub(crate) fn generated_token(paths: &Paths) -> Result<(Secret, bool), String> {
    let p = paths.generated_token_path();
    if p.exists() {
        let mut warnings = vec![];
        let s =
            crate::config::secrets::read_secret_file("generated gateway token", &p, &mut warnings)?;
        for w in warnings {
            tracing::warn!(target: "gateway", "{w}");
        }
        return Ok((s, false));
    }
    let token = crate::util::random_hex(32);
    crate::fsutil::write_atomic(&p, format!("{token}\n").as_bytes(), 0o600)
        .map_err(|e| format!("cannot store the generated token at {}: {e}", p.display()))?;
    Ok((Secret::new(token), true))
}

fn start(args: RunArgs, profile: Option<&str>) -> ExitCode {
    let env = Env::from_process();
    let paths = Paths::resolve(&env, profile);
    // A bind-mounted directory the gateway's uid cannot write: say which chown fixes it.
    if let Err(e) = crate::ownership::check_dir(
        "state directory",
        &paths.state_dir,
        env.get("CLAWDBOT_HOST_CONFIG_DIR"),
    ) {
        return fail(format!("Gateway failed to start: {e}"));
    }
    let loaded = match crate::config::load(&paths.config_path, &env) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let cfg = &loaded.config;
    let workspace = crate::agent::workspace::dir(&loaded.resolved, &env, &cfg.default_agent_id());
    if let Err(e) = crate::ownership::check_dir(
        "workspace",
        &workspace,
        env.get("CLAWDBOT_HOST_WORKSPACE_DIR"),
    ) {
        return fail(format!("Gateway failed to start: {e}"));
    }
    if cfg.gateway.mode.as_deref() == Some("remote") && !args.allow_unconfigured {
        return fail(format!(
            "Gateway start blocked: gateway.mode is \"remote\" in {} (this machine is configured as a client of another gateway).\nSet gateway.mode=local, or pass --allow-unconfigured.",
            paths.config_path.display()
        ));
    }
    let level = if args.verbose {
        "debug"
    } else {
        crate::logging::level_from_config(cfg.logging.level.as_deref().unwrap_or("info"))
    };
    let log_dir = match cfg.logging.file.as_deref() {
        Some(f) => env.expand_tilde(f).parent().map(|p| p.to_path_buf()),
        None => Some(paths.logs_dir()),
    };
    crate::logging::init(level, log_dir.as_deref(), args.json_logs);
    let nix = NixMode::detect(&env, &paths.config_path);
    for w in &loaded.warnings {
        tracing::warn!(target: "config", "{w}");
    }
    let overrides = AuthOverrides {
        token: args.token.clone(),
        password: args.password.clone(),
        mode: args.auth.map(|a| match a {
            AuthArg::Token => AuthMode::Token,
            AuthArg::Password => AuthMode::Password,
        }),
    };
    let mut warnings = vec![];
    let (mut auth, _) = match crate::server::auth::resolve(
        cfg,
        &loaded.env,
        &overrides,
        SecretMode::Read,
        &mut warnings,
    ) {
        Ok(a) => a,
        Err(e) => {
            return fail(format!(
                "Invalid config at {}:\n  - {e}",
                paths.config_path.display()
            ));
        }
    };
    for w in warnings {
        tracing::warn!(target: "gateway", "{w}");
    }
    let plan = match plan(&args, &loaded.env, cfg) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if plan.bind != Bind::Loopback && !auth.is_configured() {
        return fail(format!(
            "Refusing to bind gateway to {} without auth.\nSet a token first: gateway.auth.token or gateway.auth.tokenFile in {}, or CLAWDBOT_GATEWAY_TOKEN (or CLAWDBOT_GATEWAY_TOKEN_FILE), or pass --token. (A password works too: gateway.auth.password / CLAWDBOT_GATEWAY_PASSWORD / --password.)",
            plan.bind.as_str(),
            paths.config_path.display()
        ));
    }
    let lock_path = paths.lock_path();
    let lock = if args.force {
        crate::lock::GatewayLock::acquire_force(&lock_path, Duration::from_secs(5))
    } else {
        crate::lock::GatewayLock::acquire(&lock_path)
    };
    let mut lock = match lock {
        Ok(l) => l,
        Err(e) => return fail(format!("Gateway failed to start: {e}")),
    };
    let mut generated = None;
    if auth.token.is_none() && auth.password.is_none() {
        match generated_token(&paths) {
            Ok((tok, created)) => {
                let p = paths.generated_token_path();
                if created {
                    tracing::info!(target: "gateway", "no token configured: generated one and stored it in {} (mode 0600)", p.display());
                } else {
                    tracing::info!(target: "gateway", "no token configured: using the generated token in {}", p.display());
                }
                tracing::info!(target: "gateway", "open the Control UI with: clawdbot dashboard");
                auth.token = Some(tok.clone());
                auth.generated = true;
                auth.source = Some(format!("generated ({})", p.display()));
                generated = Some(tok);
            }
            Err(e) => return fail(e),
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(async move {
        let addr: SocketAddr = match format!("{}:{}", plan.host, plan.port).parse() {
            Ok(a) => a,
            Err(e) => return fail(format!("invalid listen address {}:{}: {e}", plan.host, plan.port)),
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return fail(format!("Gateway failed to start: another gateway instance is already listening on ws://{}:{}", plan.host, plan.port));
            }
            Err(e) => return fail(format!("Gateway failed to start: failed to bind gateway socket on ws://{}:{}: {e}", plan.host, plan.port)),
        };
        let _ = lock.write_holder(&crate::lock::Holder {
            pid: std::process::id(),
            port: plan.port,
            config_path: paths.config_path.display().to_string(),
            created_at: crate::util::iso_now(),
        });
        let model = cfg_model(&loaded);
        let (gw, pairing_warnings) = Gateway::new(GatewayInit {
            opts: ServerOptions::default(),
            paths: paths.clone(),
            nix: nix.clone(),
            env: env.clone(),
            overrides,
            loaded,
            auth,
            generated_token: generated,
            log_file: log_dir.as_ref().map(|d| crate::logging::current_file(d)),
            notifier: crate::sdnotify::Notifier::from_env(),
        });
        for w in pairing_warnings {
            tracing::warn!(target: "gateway", "{w}");
        }
        if let Some(raw) = &gw.notifier.unsupported {
            tracing::warn!(target: "gateway", "NOTIFY_SOCKET={raw:?} has a form this gateway cannot use (only absolute paths and @abstract names); systemd will not see readiness");
        }
        let _ = gw.bind.set(BindInfo { mode: plan.bind.as_str().into(), host: plan.host.clone(), port: plan.port });
        let signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => return fail(format!("cannot install signal handlers: {e}")),
        };
        if nix.enabled {
            tracing::info!(target: "gateway", "running in Nix mode (config managed by Nix: {})", paths.config_path.display());
        }
        tracing::info!(target: "gateway", "agent model: {model}");
        tracing::info!(target: "gateway", "listening on ws://{}:{} (PID {})", plan.host, plan.port, std::process::id());
        tracing::info!(target: "sandbox", "{}", crate::sandbox::describe());
        if let Some(d) = &log_dir {
            tracing::info!(target: "gateway", "log file: {}", crate::logging::current_file(d).display());
        }
        let shutdown = signals.run(gw.clone());
        let gw2 = gw.clone();
        let serving = tokio::spawn(crate::server::serve(listener, gw2, shutdown));
        gw.notifier.ready(&gw.status_line("ready")).ok();
        match serving.await {
            Ok(Ok(())) => {
                tracing::info!(target: "gateway", "stopped");
                drop(lock);
                ExitCode::SUCCESS
            }
            Ok(Err(e)) => fail(format!("gateway error: {e}")),
            Err(e) => fail(format!("gateway task failed: {e}")),
        }
    })
}

fn cfg_model(l: &crate::config::Loaded) -> String {
    l.config.primary_model()
}

/// Signal streams, registered before the gateway says it is listening, so a SIGHUP or
/// SIGTERM that arrives right after can never hit the default action (terminate).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Resolves on SIGTERM/SIGINT; SIGHUP reloads the config in place.
    async fn run(mut self, gw: Arc<Gateway>) {
        loop {
            tokio::select! {
                _ = self.term.recv() => { tracing::info!(target: "gateway", "received SIGTERM; shutting down"); return; }
                _ = self.int.recv() => { tracing::info!(target: "gateway", "received SIGINT; shutting down"); return; }
                _ = self.hup.recv() => {
                    tracing::info!(target: "gateway", "received SIGHUP; reloading config");
                    let g = gw.clone();
                    let _ = tokio::task::spawn_blocking(move || g.reload_config("SIGHUP")).await;
                }
                _ = gw.host.cancel.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> RunArgs {
        let mut v = vec!["clawdbot", "gateway"];
        v.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(v).command {
            crate::cli::Command::Gateway(g) => g.run,
            _ => unreachable!(),
        }
    }

    #[test]
    fn port_and_bind_precedence() {
        let cfg: crate::config::Config =
            serde_json::from_value(serde_json::json!({"gateway": {"port": 4000, "bind": "lan"}}))
                .unwrap();
        let env = Env::from_pairs([
            ("CLAWDBOT_GATEWAY_PORT", "5000"),
            ("CLAWDBOT_GATEWAY_BIND", "auto"),
        ]);
        let p = plan(&args(&["--port", "3000"]), &env, &cfg).unwrap();
        assert_eq!((p.port, p.bind), (3000, Bind::Auto));
        let p = plan(&args(&[]), &Env::default(), &cfg).unwrap();
        assert_eq!(
            (p.port, p.bind, p.host.as_str()),
            (4000, Bind::Lan, "0.0.0.0")
        );
        let p = plan(
            &args(&[]),
            &Env::default(),
            &crate::config::Config::default(),
        )
        .unwrap();
        assert_eq!(
            (p.port, p.bind, p.host.as_str()),
            (18789, Bind::Loopback, "127.0.0.1")
        );
        let e = plan(&args(&["--port", "0"]), &Env::default(), &cfg)
            .err()
            .unwrap();
        assert!(e.contains("Invalid port"), "{e}");
    }

    #[test]
    fn deployment_guide_command_lines_parse() {
        let a = args(&[
            "--bind",
            "lan",
            "--port",
            "3000",
            "--allow-unconfigured",
            "--token",
            "x",
        ]);
        assert_eq!(a.bind, Some(Bind::Lan));
        assert!(a.allow_unconfigured);
    }
}
