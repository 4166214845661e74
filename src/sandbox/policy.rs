//! [`Policy`]: the sandbox settings of one run, read from `agents.defaults.sandbox` (or the
//! agent's own `agents.list[].sandbox`, which replaces the defaults as a whole).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::config::model::{
    Config, DEFAULT_SANDBOX_MODE, DEFAULT_WORKSPACE_ACCESS, SandboxConfig, SandboxDocker,
};

/// What the sandboxed process may do with the workspace (`workspaceAccess`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    #[default]
    None,
    Ro,
    Rw,
}

/// The sandbox settings for one run. `Policy::default()` is "not sandboxed" (mode `off`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// False: the process runs with only the clean environment and process group.
    pub enabled: bool,
    /// Which gateway started the process ([`super::owner_of`]): its shutdown kills only its
    /// own tool processes (tests run several gateways in one process).
    pub owner: u32,
    pub workspace: PathBuf,
    pub workspace_access: Access,
    /// `docker.network` other than `"none"`.
    pub network: bool,
    /// `docker.memory` → RLIMIT_AS (bytes of address space per process).
    pub memory_bytes: Option<u64>,
    /// `docker.cpus` × the run's timeout → RLIMIT_CPU (seconds of CPU time).
    pub cpu_seconds: Option<u64>,
    /// `docker.pidsLimit` → a pids cgroup (or RLIMIT_NPROC when not root).
    pub pids_limit: Option<u64>,
    /// `docker.ulimits` by name (`nofile`, `fsize`, `nproc`, `core`, `stack`, …): (soft, hard).
    pub ulimits: Vec<(String, u64, u64)>,
    /// `docker.binds` whose host path equals the container path: (path, writable).
    pub binds: Vec<(PathBuf, bool)>,
    /// `docker.env`, added to the child's environment.
    pub env: Vec<(String, String)>,
}

/// The sandbox block that applies to `agent_id`: its own, else the defaults.
fn block<'a>(cfg: &'a Config, agent_id: &str) -> Option<&'a SandboxConfig> {
    cfg.agents
        .list
        .iter()
        .find(|a| crate::config::model::normalize_agent_id(&a.id) == agent_id)
        .and_then(|a| a.sandbox.as_ref())
        .or(cfg.agents.defaults.sandbox.as_ref())
}

/// Builds the policy for one run of `session_key` in `workspace`. `timeout` is the run's
/// wall-time limit (the CPU limit is `docker.cpus` × it).
pub fn for_run(
    cfg: &Config,
    session_key: &str,
    workspace: &Path,
    timeout: Duration,
) -> Result<Policy, String> {
    let agent_id = crate::sessions::keys::agent_of_key(cfg, session_key);
    let empty = SandboxConfig::default();
    let sb = block(cfg, &agent_id).unwrap_or(&empty);
    warn_unsupported(sb);
    let mode = sb.mode.as_deref().unwrap_or(DEFAULT_SANDBOX_MODE);
    let enabled = match mode {
        "off" => false,
        "all" => true,
        "non-main" => session_key != crate::sessions::keys::main_key(cfg, &agent_id),
        other => {
            return Err(format!(
                "agents.defaults.sandbox.mode = {other:?} is not off|non-main|all"
            ));
        }
    };
    let workspace_access = match sb
        .workspace_access
        .as_deref()
        .unwrap_or(DEFAULT_WORKSPACE_ACCESS)
    {
        "none" => Access::None,
        "ro" => Access::Ro,
        "rw" => Access::Rw,
        other => {
            return Err(format!(
                "agents.defaults.sandbox.workspaceAccess = {other:?} is not none|ro|rw"
            ));
        }
    };
    let d = &sb.docker;
    let memory_bytes = match &d.memory {
        None => None,
        Some(v) => Some(parse_bytes(v).ok_or_else(|| {
            format!("agents.defaults.sandbox.docker.memory = {v} is not a size like \"512m\"")
        })?),
    };
    let cpu_seconds = d
        .cpus
        .filter(|c| *c > 0.0)
        .map(|c| (c * timeout.as_secs_f64()).ceil().max(1.0) as u64);
    let mut ulimits = Vec::new();
    for (name, v) in &d.ulimits {
        let (soft, hard) = match v {
            serde_json::Value::Number(n) => (n.as_u64(), n.as_u64()),
            serde_json::Value::Object(o) => (
                o.get("soft").and_then(|x| x.as_u64()),
                o.get("hard").and_then(|x| x.as_u64()),
            ),
            _ => (None, None),
        };
        match (soft.or(hard), hard.or(soft)) {
            (Some(s), Some(h)) => ulimits.push((name.clone(), s, h)),
            _ => {
                return Err(format!(
                    "agents.defaults.sandbox.docker.ulimits.{name} = {v} is not a number or {{soft, hard}}"
                ));
            }
        }
    }
    Ok(Policy {
        owner: 0,
        enabled,
        workspace: workspace.to_path_buf(),
        workspace_access,
        network: d.network.as_deref().unwrap_or("none") != "none",
        memory_bytes,
        cpu_seconds,
        pids_limit: d.pids_limit,
        ulimits,
        binds: binds(d),
        env: d.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    })
}

/// `host:container[:ro|rw]` → the host path when it is also the container path (we have no
/// mount namespace to move it); other binds are warned about and dropped (never widened).
fn binds(d: &SandboxDocker) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    for b in &d.binds {
        let parts: Vec<&str> = b.split(':').collect();
        let (host, cont, mode) = match parts.as_slice() {
            [h] => (*h, *h, "rw"),
            [h, c] => (*h, *c, "rw"),
            [h, c, m] => (*h, *c, *m),
            _ => ("", "x", ""),
        };
        if host != cont || !host.starts_with('/') {
            warn_once(
                &format!("docker.binds {b}"),
                "only binds with the same host and sandbox path (\"/p:/p[:ro]\") can be honoured without Docker; ignored",
            );
            continue;
        }
        out.push((PathBuf::from(host), !mode.split(',').any(|m| m == "ro")));
    }
    out
}

/// `512m`, `1g`, `1024k`, `1073741824` or a number.
pub fn parse_bytes(v: &serde_json::Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n > 0.0).then_some((n * mult as f64) as u64)
}

fn warn_once(key: &str, why: &str) {
    static SEEN: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let mut g = seen.lock().unwrap_or_else(|p| p.into_inner());
    if g.insert(key.to_string()) {
        tracing::warn!(target: "sandbox", "agents.defaults.sandbox.{key}: {why}");
    }
}

/// The original's Docker-only keys have no meaning for a sandbox without containers.
fn warn_unsupported(sb: &SandboxConfig) {
    for k in sb.other.keys() {
        warn_once(
            k,
            "is a Docker-only setting of the original and is ignored here",
        );
    }
    for k in sb.docker.other.keys() {
        warn_once(
            &format!("docker.{k}"),
            "is a Docker-only setting of the original and is ignored here",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn modes_and_limits() {
        let t = Duration::from_secs(10);
        let ws = Path::new("/w");
        let c = Config::default();
        assert!(!for_run(&c, "agent:main:main", ws, t).unwrap().enabled);
        let p = for_run(&c, "agent:main:telegram:dm:42", ws, t).unwrap();
        assert!(p.enabled && !p.network && p.workspace_access == Access::None);
        let c = cfg(
            json!({"agents": {"defaults": {"sandbox": {"mode": "all", "workspaceAccess": "rw",
            "docker": {"network": "bridge", "memory": "512m", "cpus": 0.5, "pidsLimit": 20,
                       "ulimits": {"nofile": {"soft": 64, "hard": 128}, "fsize": 1000},
                       "binds": ["/srv/data:/srv/data:ro", "/a:/b"], "env": {"X": "1"}, "image": "x"}}}}}),
        );
        let p = for_run(&c, "agent:main:main", ws, t).unwrap();
        assert!(p.enabled && p.network && p.workspace_access == Access::Rw);
        assert_eq!(p.memory_bytes, Some(512 << 20));
        assert_eq!(p.cpu_seconds, Some(5));
        assert_eq!(p.pids_limit, Some(20));
        assert_eq!(
            p.ulimits,
            vec![("fsize".into(), 1000, 1000), ("nofile".into(), 64, 128)]
        );
        assert_eq!(p.binds, vec![(PathBuf::from("/srv/data"), false)]);
        assert_eq!(p.env, vec![("X".into(), "1".into())]);
        let c = cfg(json!({"agents": {"defaults": {"sandbox": {"mode": "off"}},
            "list": [{"id": "main"}, {"id": "work", "sandbox": {"mode": "all"}}]}}));
        assert!(!for_run(&c, "agent:main:x", ws, t).unwrap().enabled);
        assert!(for_run(&c, "agent:work:main", ws, t).unwrap().enabled);
        let c = cfg(json!({"agents": {"defaults": {"sandbox": {"mode": "sometimes"}}}}));
        assert!(for_run(&c, "x", ws, t).is_err());
    }
}
