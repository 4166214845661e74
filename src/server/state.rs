//! The gateway's shared state: one `Arc<Gateway>` handed to every connection and task.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::{AuthOverrides, ResolvedAuth};
use super::health::HealthCache;
use super::pairing::PairingStore;
use super::presence::Presence;
use crate::config::Loaded;
use crate::config::live::LiveConfig;
use crate::config::secrets::{Secret, SecretMode};
use crate::events::Bus;
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
    /// The same snapshot the agents read through [`crate::agent::Host::config`].
    pub loaded: Arc<Loaded>,
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
    /// What agent runs (and the channels) get: agents, the live config, the event bus,
    /// paths, the shutdown token. The rest of this struct is the server's own.
    pub host: Arc<crate::agent::Host>,
    /// The process environment at start (the config's `env` block is overlaid per load).
    pub env: Env,
    pub overrides: AuthOverrides,
    /// A token we generated because none was configured.
    pub generated_token: Option<Secret>,
    pub started_ms: i64,
    runtime: RwLock<Arc<Runtime>>,
    pub pairing: Mutex<PairingStore>,
    pub presence: Mutex<Presence>,
    pub health: HealthCache,
    phase: AtomicU8,
    pub reload: Mutex<ReloadStatus>,
    pub bind: OnceLock<BindInfo>,
    pub log_file: Option<PathBuf>,
    /// Every connection and background task, awaited at shutdown.
    pub tasks: TaskTracker,
    pub notifier: crate::sdnotify::Notifier,
    /// The channels handle: accounts' live status, the runners' task tracker.
    pub channels: Arc<crate::channels::Channels>,
    /// The heartbeat timer, its pause switch and its last event.
    pub heartbeats: Arc<crate::heartbeat::Heartbeats>,
    /// Scheduled jobs (`cron.*`), with the narrow channels handle.
    pub cron: Arc<crate::cron::Cron>,
    /// Connection counts and caps (resolved at start).
    pub limits: Arc<super::limits::ConnLimits>,
    /// Failed-authentication throttle per source address.
    pub throttle: super::throttle::Throttle,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("paths", &self.host.paths)
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
        // Every state file but the transcripts (checked as each is opened), so `status`
        // lists a file written by a newer release before anything asks for it.
        let _ = crate::state_format::scan::scan(&init.paths.state_dir, &[], false);
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
        let loaded = Arc::new(init.loaded);
        let host = Arc::new(crate::agent::Host {
            agents,
            config: LiveConfig::new(loaded.clone()),
            bus: Bus::default(),
            paths: init.paths,
            nix: init.nix,
            cancel: CancellationToken::new(),
            started: Instant::now(),
        });
        let tasks = TaskTracker::new();
        let channels = Arc::new(crate::channels::Channels {
            host: host.clone(),
            status: crate::channels::Registry::default(),
            tasks: tasks.clone(),
            env: init.env.clone(),
        });
        let heartbeats = crate::heartbeat::Heartbeats::new(channels.clone());
        let cron = crate::cron::Cron::new(channels.clone());
        let gw = Arc::new(Gateway {
            opts: init.opts,
            host,
            env: init.env,
            overrides: init.overrides,
            generated_token: init.generated_token,
            started_ms: now_ms(),
            runtime: RwLock::new(Arc::new(Runtime {
                loaded,
                auth: init.auth,
            })),
            pairing: Mutex::new(pairing),
            presence: Mutex::new(Presence::new()),
            health: HealthCache::default(),
            phase: AtomicU8::new(Phase::Starting as u8),
            reload: Mutex::new(ReloadStatus::default()),
            bind: OnceLock::new(),
            log_file: init.log_file,
            limits,
            throttle: Default::default(),
            tasks,
            notifier: init.notifier,
            channels,
            heartbeats,
            cron,
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
        self.host.uptime_ms()
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
                self.host.config.set(rt.loaded.clone());
                match self.runtime.write() {
                    Ok(mut g) => *g = Arc::new(rt),
                    Err(p) => *p.into_inner() = Arc::new(rt),
                }
                status.last_error = None;
                status.reloads += 1;
                tracing::info!(target: "reload", "config reloaded ({why})");
                // Declared cron jobs follow the config (the store is async-locked).
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let cron = self.cron.clone();
                    let _guard = rt.enter();
                    self.tasks
                        .spawn(async move { cron.reconcile_declared().await });
                }
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
        let loaded = crate::config::load(&self.host.paths.config_path, &self.env)
            .map_err(|e| e.to_string())?;
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
        Ok(Runtime {
            loaded: Arc::new(loaded),
            auth,
        })
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
