//! The gateway server: HTTP and WebSocket on one port.
//!
//! [`serve`] takes a bound listener and a shutdown future, so tests start it on port 0.
//! One cancellation token stops everything; every connection and background task is
//! tracked and awaited, within the drain deadline.

mod accept;
pub mod auth;
pub mod channels;
mod conn;
pub mod connect_params;
pub mod frame;
pub mod handshake;
pub mod handshake_v4;
pub mod health;
mod http;
pub mod limits;
mod machine;
mod methods;
mod methods_v4;
mod origin;
pub mod pairing;
pub mod presence;
pub mod state;
pub mod throttle;
pub mod ui;
mod ui_root;

use std::future::Future;
use std::sync::Arc;

use serde_json::json;

pub use state::{BindInfo, Gateway, GatewayInit, Phase, ServerOptions};

/// Rebuilds the health summary in the background (one refresh at a time) and broadcasts
/// it when it changed, or always when `force_broadcast`.
pub fn refresh_health(gw: &Arc<Gateway>, force_broadcast: bool) {
    if !gw.health.begin_refresh() {
        return;
    }
    let gw2 = gw.clone();
    gw.tasks.spawn_blocking(move || {
        let summary = health::build(&gw2);
        let changed = gw2.health.store(summary);
        gw2.health.end_refresh();
        if changed || force_broadcast {
            broadcast_health(&gw2);
        }
    });
}

pub fn broadcast_health(gw: &Gateway) {
    let (summary, _) = gw.health.current();
    let presence_version = gw.presence.lock().map(|p| p.version).unwrap_or(1);
    gw.host.bus.send(
        "health",
        (*summary).clone(),
        Some(json!({"presence": presence_version, "health": gw.health.version()})),
        false,
    );
}

/// Runs until `shutdown` resolves (or `gw.host.cancel` is cancelled), then drains.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gw: Arc<Gateway>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let _ = gw.bind.set(BindInfo {
        mode: gw
            .bind
            .get()
            .map(|b| b.mode.clone())
            .unwrap_or_else(|| "custom".into()),
        host: local.ip().to_string(),
        port: local.port(),
    });
    // The first health snapshot, so hello-ok carries a real one.
    gw.health.store(health::build(&gw));
    spawn_maintenance(&gw);
    crate::channels::start(&gw.channels);
    gw.heartbeats.start();
    crate::cron::start(&gw.cron);
    let app = http::router(gw.clone());
    let cancel = gw.host.cancel.clone();
    let limits = gw.limits.clone();
    let server = tokio::spawn(accept::run(listener, app, limits, cancel.clone()));
    gw.set_phase(Phase::Ready);

    tokio::select! {
        _ = shutdown => {}
        _ = cancel.cancelled() => {}
    }
    drain(&gw).await;
    let _ = tokio::time::timeout(gw.opts.drain_deadline, server).await;
    Ok(())
}

/// Broadcasts `shutdown`, closes every client with 1012 and waits for all tasks, at most
/// the drain deadline.
async fn drain(gw: &Arc<Gateway>) {
    gw.set_phase(Phase::Draining);
    gw.notifier.stopping("shutting down").ok();
    gw.host.bus.send(
        "shutdown",
        json!({"reason": "gateway stopping", "restartExpectedMs": null}),
        None,
        false,
    );
    gw.host.cancel.cancel();
    // No tool process outlives the gateway (they cannot leave their process groups).
    let killed = crate::sandbox::kill_all(crate::sandbox::owner_of(&*gw.host));
    if killed > 0 {
        tracing::info!(target: "sandbox", "killed {killed} tool process group(s) on shutdown");
    }
    gw.tasks.close();
    if tokio::time::timeout(gw.opts.drain_deadline, gw.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(target: "gateway", "shutdown timed out after {:?}; exiting without waiting for every client", gw.opts.drain_deadline);
    }
    if let Err(e) = gw.pairing.lock().unwrap_or_else(|p| p.into_inner()).flush() {
        tracing::warn!(target: "gateway", "could not save device token usage: {e}");
    }
}

fn spawn_maintenance(gw: &Arc<Gateway>) {
    // tick every 30 s (drop-if-slow)
    let g = gw.clone();
    gw.tasks.spawn(async move {
        let mut every = tokio::time::interval(g.opts.tick_interval);
        every.tick().await;
        loop {
            tokio::select! {
                _ = every.tick() => g.host.bus.send("tick", json!({"ts": crate::util::now_ms()}), None, true),
                _ = g.host.cancel.cancelled() => break,
            }
        }
    });
    // health every 60 s, broadcast like the original's maintenance timer
    let g = gw.clone();
    gw.tasks.spawn(async move {
        let mut every = tokio::time::interval(g.opts.health_interval);
        every.tick().await;
        loop {
            tokio::select! {
                _ = every.tick() => refresh_health(&g, true),
                _ = g.host.cancel.cancelled() => break,
            }
        }
    });
    // systemd watchdog at half WATCHDOG_USEC
    if let Some(period) = gw.notifier.watchdog_interval() {
        let g = gw.clone();
        gw.tasks.spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = every.tick() => { g.notifier.watchdog().ok(); }
                    _ = g.host.cancel.cancelled() => break,
                }
            }
        });
    }
    // skills.load.watch: skill directory changes announced as `skills.changed`
    gw.tasks.spawn(watch_skills(gw.clone()));
    // config file changes (edits, or home-manager re-pointing a symlink)
    if !gw.opts.reload_poll.is_zero() {
        let g = gw.clone();
        gw.tasks.spawn(async move {
            let mut last = g.runtime().loaded.fingerprint.clone();
            let mut every = tokio::time::interval(g.opts.reload_poll);
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        let files = g.runtime().loaded.files.clone();
                        let g2 = g.clone();
                        let Ok(now) = tokio::task::spawn_blocking(move || crate::config::fingerprint(&files)).await else { continue };
                        // In force already (a SIGHUP or config.set got there first)?
                        if now == g2.runtime().loaded.fingerprint {
                            last = now;
                        } else if now != last {
                            // `last` also remembers a failed attempt, so a broken file is
                            // reported once, not every second.
                            last = now;
                            let g3 = g2.clone();
                            let _ = tokio::task::spawn_blocking(move || g3.reload_config("config file changed")).await;
                        }
                    }
                    _ = g.host.cancel.cancelled() => break,
                }
            }
        });
    }
}

/// Polls the skill directories (while `skills.load.watch` is on) and announces a
/// settled change as a `skills.changed` event (src/agent/skills/watch.rs says why a poll).
async fn watch_skills(g: Arc<Gateway>) {
    use crate::agent::skills::watch;
    let look = |g: &Arc<Gateway>| {
        let loaded = g.host.config();
        let sd = g.host.paths.state_dir.clone();
        let (on, debounce) = watch::settings(&loaded.resolved);
        let snap = tokio::task::spawn_blocking(move || watch::snapshot(&watch::dirs(&loaded, &sd)));
        (on, debounce, snap)
    };
    let Ok(first) = look(&g).2.await else { return };
    let mut seen = watch::Debouncer::new(first);
    let mut every = tokio::time::interval(watch::POLL);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = g.host.cancel.cancelled() => break,
        }
        let (on, debounce, snap) = look(&g);
        let Ok(snap) = snap.await else { continue };
        if !on {
            seen = watch::Debouncer::new(snap);
            continue;
        }
        if let Some(path) = seen.observe(snap, std::time::Instant::now(), debounce) {
            tracing::info!(target: "skills", "skills changed ({})", path.display());
            g.host.bus.send(
                "skills.changed",
                serde_json::json!({"reason": "watch", "changedPath": path.display().to_string()}),
                None,
                false,
            );
        }
    }
}
