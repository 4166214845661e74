//! The gateway's shared state: one `Arc<Gateway>` handed to every connection and task.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::{AuthOverrides, ResolvedAuth};
use super::events::Bus;
use super::health::HealthCache;
use super::pairing::PairingStore;
use super::presence::Presence;
use crate::config::Loaded;
use crate::config::secrets::{Secret, SecretMode};
use crate::nix::NixMode;
use crate::paths::{Env, Paths};
use crate::util::now_ms;

/// Timings, configurable so tests need not wait for production intervals.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub handshake_timeout: Duration,
    pub tick_interval: Duration,
    pub health_interval: Duration,
    pub drain_deadline: Duration,
    /// How often the config files are checked for changes (0 = never).
    pub reload_poll: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            handshake_timeout: Duration::from_millis(crate::protocol::HANDSHAKE_TIMEOUT_MS),
            tick_interval: Duration::from_millis(crate::protocol::TICK_INTERVAL_MS),
            health_interval: Duration::from_secs(60),
            drain_deadline: Duration::from_secs(5),
            reload_poll: Duration::from_secs(1),
        }
    }
}

/// Everything derived from one successfully loaded config.
#[derive(Debug)]
pub struct Runtime {
    pub loaded: Loaded,
    pub auth: ResolvedAuth,
}

/// Where the gateway listens (set once the socket is bound).
#[derive(Debug, Clone)]
pub struct BindInfo {
    pub mode: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Starting = 0,
    Ready = 1,
    Draining = 2,
}

/// The outcome of the last reload, shown by `status`.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub last_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub reloads: u64,
}

pub struct Gateway {
    pub opts: ServerOptions,
    pub paths: Paths,
    pub nix: NixMode,
    /// The process environment at start (the config's `env` block is overlaid per load).
    pub env: Env,
    pub overrides: AuthOverrides,
    /// A token we generated because none was configured.
    pub generated_token: Option<Secret>,
    pub started: Instant,
    pub started_ms: i64,
    runtime: RwLock<Arc<Runtime>>,
    pub pairing: Mutex<PairingStore>,
    pub presence: Mutex<Presence>,
    pub bus: Bus,
    pub health: HealthCache,
    phase: AtomicU8,
    pub reload: Mutex<ReloadStatus>,
    pub bind: OnceLock<BindInfo>,
    pub log_file: Option<PathBuf>,
    /// Cancelled once, at shutdown; every task and connection watches it.
    pub cancel: CancellationToken,
    /// Every connection and background task, awaited at shutdown.
    pub tasks: TaskTracker,
    pub notifier: crate::sdnotify::Notifier,
    /// Agent runs, sessions, approvals.
    pub agents: crate::agent::Agents,
    /// Channel accounts (Telegram) and their live status.
    pub channels: crate::channels::Registry,
    /// Connection counts and caps (resolved at start).
    pub limits: Arc<super::limits::ConnLimits>,
    /// Failed-authentication throttle per source address.
    pub throttle: super::throttle::Throttle,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

/// What the gateway needs to start.
pub struct GatewayInit {
    pub opts: ServerOptions,
    pub paths: Paths,
    pub nix: NixMode,
    pub env: Env,
    pub overrides: AuthOverrides,
    pub loaded: Loaded,
    pub auth: ResolvedAuth,
    pub generated_token: Option<Secret>,
    pub log_file: Option<PathBuf>,
    pub notifier: crate::sdnotify::Notifier,
}

impl Gateway {
    pub fn new(init: GatewayInit) -> (Arc<Gateway>, Vec<String>) {
        let (pairing, warnings) = PairingStore::load(&init.paths.devices_dir());
        let max_concurrent = init
            .loaded
            .resolved
            .pointer("/agents/defaults/maxConcurrent")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(4) as usize;
        let agents = crate::agent::Agents::new(&init.paths.state_dir, max_concurrent);
        let nofile = super::limits::raise_nofile();
        let limits = super::limits::ConnLimits::new(super::limits::Settings::resolve(
            &init.loaded.config.gateway.limits,
            nofile,
        ));
        let gw = Arc::new(Gateway {
            opts: init.opts,
            paths: init.paths,
            nix: init.nix,
            env: init.env,
            overrides: init.overrides,
            generated_token: init.generated_token,
            started: Instant::now(),
            started_ms: now_ms(),
            runtime: RwLock::new(Arc::new(Runtime {
                loaded: init.loaded,
                auth: init.auth,
            })),
            pairing: Mutex::new(pairing),
            presence: Mutex::new(Presence::new()),
            bus: Bus::default(),
            health: HealthCache::default(),
            phase: AtomicU8::new(Phase::Starting as u8),
            reload: Mutex::new(ReloadStatus::default()),
            bind: OnceLock::new(),
            log_file: init.log_file,
            cancel: CancellationToken::new(),
            limits,
            throttle: Default::default(),
            tasks: TaskTracker::new(),
            notifier: init.notifier,
            agents,
            channels: crate::channels::Registry::default(),
        });
        (gw, warnings)
    }

    /// The config snapshot in force (cheap: an `Arc` clone).
    pub fn runtime(&self) -> Arc<Runtime> {
        match self.runtime.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Release);
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Re-reads and re-validates the config. On success the new snapshot is in force;
    /// on failure the old one stays and the error is recorded for `status`.
    pub fn reload_config(&self, why: &str) -> Result<(), String> {
        self.notifier.reloading().ok();
        let result = self.load_runtime();
        let mut status = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        status.last_at_ms = Some(now_ms());
        let out = match result {
            Ok(rt) => {
                let old = self.runtime();
                warn_restart_only_changes(&old.loaded.config, &rt.loaded.config);
                for w in &rt.loaded.warnings {
                    tracing::warn!(target: "reload", "config: {w}");
                }
                match self.runtime.write() {
                    Ok(mut g) => *g = Arc::new(rt),
                    Err(p) => *p.into_inner() = Arc::new(rt),
                }
                status.last_error = None;
                status.reloads += 1;
                tracing::info!(target: "reload", "config reloaded ({why})");
                Ok(())
            }
            Err(e) => {
                tracing::error!(target: "reload", "config reload failed ({why}); keeping the previous config:\n{e}");
                status.last_error = Some(e.clone());
                Err(e)
            }
        };
        drop(status);
        let line = match &out {
            Ok(()) => "config reloaded".to_string(),
            Err(_) => "config reload failed; running on the previous config".to_string(),
        };
        self.notifier.ready(&self.status_line(&line)).ok();
        out
    }

    fn load_runtime(&self) -> Result<Runtime, String> {
        let loaded =
            crate::config::load(&self.paths.config_path, &self.env).map_err(|e| e.to_string())?;
        let mut warnings = vec![];
        let (mut auth, _) = super::auth::resolve(
            &loaded.config,
            &loaded.env,
            &self.overrides,
            SecretMode::Read,
            &mut warnings,
        )
        .map_err(|e| format!("Invalid config at {}:\n  - {e}", loaded.path.display()))?;
        for w in warnings {
            tracing::warn!(target: "reload", "{w}");
        }
        if auth.token.is_none() && auth.password.is_none() {
            auth.token = self.generated_token.clone();
            auth.generated = auth.token.is_some();
            auth.source = Some("generated token".into());
        }
        Ok(Runtime { loaded, auth })
    }

    /// A one-line human status for systemd's `STATUS=`.
    pub fn status_line(&self, what: &str) -> String {
        match self.bind.get() {
            Some(b) => format!("{what}; listening on {}:{}", b.host, b.port),
            None => what.to_string(),
        }
    }
}

/// Keys that only take effect on restart: say so instead of silently ignoring them.
fn warn_restart_only_changes(old: &crate::config::Config, new: &crate::config::Config) {
    let (o, n) = (&old.gateway, &new.gateway);
    if o.port != n.port {
        tracing::warn!(target: "reload", "gateway.port changed; restart the gateway to listen on the new port");
    }
    if o.bind != n.bind || o.custom_bind_host != n.custom_bind_host {
        tracing::warn!(target: "reload", "gateway.bind changed; restart the gateway to apply it");
    }
}
