//! Where tool processes run. Every process a tool starts goes through [`command`]: the
//! exec policy decides *what* runs (an absolute program, an argv, a complete environment)
//! and this module decides *where and within which limits* it runs.
//!
//! A sandboxed process (see [`Policy`], built by [`for_run`] from
//! `agents.defaults.sandbox`) gets, in the forked child before `execve` ([`child`]):
//! PR_SET_PDEATHSIG, a pids cgroup (`docker.pidsLimit`), rlimits (`docker.memory` → AS,
//! `docker.cpus` → CPU seconds, `docker.ulimits`, core 0), no_new_privs, a Landlock domain
//! (read-only system paths, the workspace per `workspaceAccess`, nothing else; TCP
//! bind/connect denied when `docker.network` is `"none"`; signals and abstract sockets
//! scoped) and a seccomp filter (no non-unix sockets without network; no setsid/setpgid,
//! so the process-group kill of the exec tool reaches every descendant).

mod cgroup;
pub mod child;
mod groups;
mod policy;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

pub use child::{describe, landlock_abi};
pub use groups::kill_all;
pub use policy::{Access, Policy, for_run, parse_bytes};

/// One process to start, exactly as it will run (nothing is inherited from the gateway).
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Absolute path of the program, already resolved and judged by the exec policy.
    pub program: PathBuf,
    /// argv[1..].
    pub args: Vec<OsString>,
    /// The complete environment of the child.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory (the agent's workspace).
    pub cwd: PathBuf,
}

/// A command ready to spawn (its process group is remembered for [`kill_all`]): stdin null, stdout/stderr piped, its own process group,
/// killed on drop, environment cleared and replaced by `inv.env` (plus `docker.env`), and
/// when `policy.enabled` confined as described in the module doc. Fails, naming the
/// missing kernel feature and the setting that turns the sandbox off, rather than run
/// unconfined.
/// A tag for the gateway at `host` (its address), for [`Policy::owner`] and [`kill_all`].
pub fn owner_of<T>(host: &T) -> u32 {
    let a = host as *const T as usize as u64;
    (a ^ (a >> 32)) as u32
}

pub fn command(inv: &Invocation, policy: &Policy) -> Result<tokio::process::Command, String> {
    let mut cmd = tokio::process::Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&inv.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    groups::prune();
    let report = groups::report_fd();
    let owner = policy.owner;
    let prepared = if policy.enabled {
        cmd.envs(policy.env.iter().map(|(k, v)| (k, v)));
        Some(child::prepare(policy)?)
    } else {
        None
    };
    // SAFETY: the closure only makes syscalls on values prepared above (no allocation, no
    // locks), which is what is allowed between fork and exec.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = report {
                groups::report_self(fd, owner);
            }
            match &prepared {
                Some(p) => child::apply(p),
                None => Ok(()),
            }
        });
    }
    Ok(cmd)
}
