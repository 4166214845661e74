//! The mechanism: everything is prepared in the gateway (Landlock ruleset fd, seccomp BPF,
//! rlimit values, the pids cgroup's `cgroup.procs` fd) so the code that runs in the forked
//! child before `execve` only makes syscalls: no allocation, no locks.
//!
//! Why this and not namespaces/bubblewrap: Landlock + seccomp + rlimits need no privilege
//! and no user namespaces, so they work the same as root on a dev machine and inside our
//! hardened systemd units (`RestrictNamespaces=true`, no `CAP_SYS_ADMIN`); a pids cgroup
//! adds the process cap where the gateway may create one.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope, path_beneath_rules,
};

use super::policy::{Access as Ws, Policy};

/// System paths the sandbox may read and execute. `/etc` is listed entry by entry: the
/// gateway often runs as root, so file modes do not keep `/etc/shadow` or SSH host keys out.
const READ_ONLY: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/nix/store",
    "/run/current-system",
    "/etc/profiles",
    "/etc/static",
    "/etc/alternatives",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/zoneinfo",
    "/etc/mime.types",
    "/etc/terminfo",
    "/etc/protocols",
    "/etc/services",
    "/etc/os-release",
    "/etc/bash.bashrc",
    "/etc/profile",
    "/etc/inputrc",
    "/etc/gitconfig",
    "/etc/magic",
    // Landlock's ptrace scoping hides /proc/<pid> of processes outside the sandbox
    // (environ, mem, fd): only the sandbox's own processes are readable there.
    "/proc",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/dev/full",
];
const READ_WRITE: &[&str] = &["/dev/null", "/dev/tty"];

/// The kernel's Landlock ABI version (0: none).
pub fn landlock_abi() -> i64 {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only
    // returns a number; it takes no pointer it would read.
    #[allow(unsafe_code)]
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    v.max(0)
}

fn abi_of(v: i64) -> ABI {
    match v {
        1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        _ => ABI::V6,
    }
}

const OFF: &str = "or turn the sandbox off with agents.defaults.sandbox.mode = \"off\"";

/// Everything the child applies, built in the parent.
pub struct Prepared {
    ruleset: Option<OwnedFd>,
    seccomp: seccompiler::BpfProgram,
    rlimits: Vec<(libc::__rlimit_resource_t, u64, u64)>,
    cgroup_procs: Option<File>,
}

pub fn prepare(p: &Policy) -> Result<Prepared, String> {
    // A non-dumpable gateway's /proc/<pid> (environ, mem, fd, …) is readable only with
    // CAP_SYS_PTRACE, which the sandboxed child no longer has. Process-wide and sticky.
    // SAFETY: prctl(PR_SET_DUMPABLE) takes integers only.
    #[allow(unsafe_code)]
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(format!(
            "prctl(PR_SET_DUMPABLE) failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    let v = landlock_abi();
    if v < 1 {
        return Err(format!(
            "the sandbox needs Landlock (Linux ≥ 5.13 with lsm=landlock), which this kernel does not offer; enable it {OFF}"
        ));
    }
    if !p.network && v < 4 {
        return Err(format!(
            "Landlock ABI 4 needed for network: \"none\" (this kernel has ABI {v}); allow the network with agents.defaults.sandbox.docker.network, {OFF}"
        ));
    }
    let abi = abi_of(v);
    let ll = |e: landlock::RulesetError| format!("cannot build the Landlock ruleset: {e} ({OFF})");
    let mut rs = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))
        .map_err(ll)?;
    if !p.network {
        rs = rs.handle_access(AccessNet::from_all(ABI::V4)).map_err(ll)?;
    }
    if v >= 6 {
        rs = rs.scope(Scope::from_all(ABI::V6)).map_err(ll)?;
    }
    let exists = |paths: Vec<PathBuf>| -> Vec<PathBuf> {
        paths.into_iter().filter(|p| p.exists()).collect()
    };
    let ro: Vec<PathBuf> = READ_ONLY.iter().map(PathBuf::from).collect();
    let rw: Vec<PathBuf> = READ_WRITE.iter().map(PathBuf::from).collect();
    let mut created = rs
        .create()
        .map_err(ll)?
        .set_compatibility(CompatLevel::BestEffort)
        .add_rules(path_beneath_rules(exists(ro), AccessFs::from_read(abi)))
        .map_err(ll)?
        .add_rules(path_beneath_rules(
            exists(rw),
            AccessFs::from_read(abi) | AccessFs::WriteFile | AccessFs::Truncate,
        ))
        .map_err(ll)?;
    let ws = vec![p.workspace.clone()];
    created = match p.workspace_access {
        Ws::None => created,
        Ws::Ro => created
            .add_rules(path_beneath_rules(exists(ws), AccessFs::from_read(abi)))
            .map_err(ll)?,
        Ws::Rw => created
            .add_rules(path_beneath_rules(exists(ws), AccessFs::from_all(abi)))
            .map_err(ll)?,
    };
    for (path, writable) in &p.binds {
        let acc = if *writable {
            AccessFs::from_all(abi)
        } else {
            AccessFs::from_read(abi)
        };
        created = created
            .add_rules(path_beneath_rules(exists(vec![path.clone()]), acc))
            .map_err(ll)?;
    }
    let ruleset: Option<OwnedFd> = created.into();
    let mut rlimits = vec![(libc::RLIMIT_CORE, 0, 0)];
    if let Some(m) = p.memory_bytes {
        rlimits.push((libc::RLIMIT_AS, m, m));
    }
    if let Some(c) = p.cpu_seconds {
        // Soft limit: SIGXCPU; one second later the hard limit sends SIGKILL.
        rlimits.push((libc::RLIMIT_CPU, c, c + 1));
    }
    for (name, soft, hard) in &p.ulimits {
        let r = match name.as_str() {
            "nofile" => libc::RLIMIT_NOFILE,
            "nproc" => libc::RLIMIT_NPROC,
            "fsize" => libc::RLIMIT_FSIZE,
            "core" => libc::RLIMIT_CORE,
            "stack" => libc::RLIMIT_STACK,
            "cpu" => libc::RLIMIT_CPU,
            "as" => libc::RLIMIT_AS,
            "memlock" => libc::RLIMIT_MEMLOCK,
            "data" => libc::RLIMIT_DATA,
            "sigpending" => libc::RLIMIT_SIGPENDING,
            "msgqueue" => libc::RLIMIT_MSGQUEUE,
            other => {
                return Err(format!(
                    "agents.defaults.sandbox.docker.ulimits.{other} is not a limit this sandbox knows (nofile, nproc, fsize, core, stack, cpu, as, memlock, data, sigpending, msgqueue)"
                ));
            }
        };
        rlimits.push((r, *soft, *hard));
    }
    let mut cgroup_procs = None;
    if let Some(n) = p.pids_limit {
        match super::cgroup::create(n) {
            Ok(f) => cgroup_procs = Some(f),
            // SAFETY: getuid(2) has no preconditions.
            #[allow(unsafe_code)]
            Err(e) if unsafe { libc::getuid() } == 0 => {
                return Err(format!(
                    "docker.pidsLimit needs a pids cgroup when the gateway runs as root (RLIMIT_NPROC does not bind root), and none could be created: {e}; unset pidsLimit {OFF}"
                ));
            }
            Err(_) => {
                // RLIMIT_NPROC counts every process of the uid, the gateway's threads too.
                let n = n + super::cgroup::tasks_of_uid();
                rlimits.push((libc::RLIMIT_NPROC, n, n));
            }
        }
    }
    Ok(Prepared {
        ruleset,
        seccomp: seccomp(p.network)?,
        rlimits,
        cgroup_procs,
    })
}

/// socket() of any family but AF_UNIX fails with EACCES when the network is off (Landlock
/// only knows TCP; this covers UDP, raw, netlink, …); setsid/setpgid fail with EPERM so
/// every descendant stays in the process group the gateway kills.
fn seccomp(network: bool) -> Result<seccompiler::BpfProgram, String> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };
    let e = |e: seccompiler::Error| format!("cannot build the seccomp filter: {e}");
    let mut rules = std::collections::BTreeMap::new();
    rules.insert(libc::SYS_setsid, vec![]);
    rules.insert(libc::SYS_setpgid, vec![]);
    if !network {
        let cond = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )
        .map_err(|x| e(x.into()))?;
        rules.insert(
            libc::SYS_socket,
            vec![SeccompRule::new(vec![cond]).map_err(|x| e(x.into()))?],
        );
    }
    let arch: seccompiler::TargetArch = std::env::consts::ARCH.try_into().map_err(|_| {
        format!(
            "seccomp filter: unsupported architecture {}",
            std::env::consts::ARCH
        )
    })?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|x| e(x.into()))?;
    filter
        .try_into()
        .map_err(|x: seccompiler::BackendError| e(x.into()))
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Runs in the forked child, before execve: syscalls only.
pub fn apply(p: &Prepared) -> std::io::Result<()> {
    let err = std::io::Error::last_os_error;
    #[allow(unsafe_code)]
    // SAFETY: plain syscalls on values prepared in the parent; nothing here allocates or
    // takes a lock, so it is safe between fork and exec of a multithreaded process.
    unsafe {
        // The direct child dies with the gateway's thread that spawned it.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err(err());
        }
        if let Some(f) = &p.cgroup_procs
            && libc::write(f.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1
        {
            return Err(err());
        }
        for (r, soft, hard) in &p.rlimits {
            let lim = libc::rlimit {
                rlim_cur: *soft,
                rlim_max: *hard,
            };
            if libc::setrlimit(*r, &lim) != 0 {
                return Err(err());
            }
        }
        // No capabilities, now or after execve (root included): an empty bounding set,
        // no ambient set, securebits that stop uid 0 from regaining them, and capset(0).
        for cap in 0..64 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        libc::prctl(libc::PR_SET_SECUREBITS, 0x2f, 0, 0, 0);
        let hdr = CapHeader {
            version: 0x2008_0522,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        if libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) != 0 {
            return Err(err());
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(err());
        }
        if let Some(fd) = &p.ruleset
            && libc::syscall(libc::SYS_landlock_restrict_self, fd.as_raw_fd(), 0u32) != 0
        {
            return Err(err());
        }
    }
    seccompiler::apply_filter(&p.seccomp).map_err(|_| err())
}

/// One line for the startup log.
pub fn describe() -> String {
    match landlock_abi() {
        0 => "sandbox: Landlock unavailable on this kernel; sandboxed tool calls will be refused"
            .into(),
        v => format!(
            "sandbox: Landlock ABI {v} (filesystem{}{}) + seccomp + rlimits{}",
            if v >= 4 { ", TCP" } else { "" },
            if v >= 6 {
                ", signal/abstract-socket scoping"
            } else {
                ""
            },
            if super::cgroup::root().is_some() {
                " + pids cgroup"
            } else {
                ""
            }
        ),
    }
}
