//! [`Host`]: what agent runs need from the process that hosts them, and nothing more.
//! The server builds one and hands it (as an `Arc`) to its methods and to the channels;
//! the agent code never sees the server's own state (connections, auth, devices), so
//! the dependency points one way: server → channels → agent.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::Agents;
use crate::config::Loaded;
use crate::config::live::LiveConfig;
use crate::events::Bus;
use crate::nix::NixMode;
use crate::paths::Paths;

pub struct Host {
    /// Runs, sessions, approvals, the HTTP client.
    pub agents: Agents,
    /// The config in force (reloads swap it).
    pub config: LiveConfig,
    /// Where `agent`, `chat` and approval events go.
    pub bus: Bus,
    pub paths: Paths,
    pub nix: NixMode,
    /// Cancelled once, at shutdown.
    pub cancel: CancellationToken,
    pub started: Instant,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// The config snapshot in force.
    pub fn config(&self) -> std::sync::Arc<Loaded> {
        self.config.get()
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}
