//! Facts about the machine the gateway runs on, for v4's `system.info` (the 2026.9
//! Control UI's Systems page and quick settings: host, CPU, load, memory, the state
//! dir's disk). Read fresh on every call from the kernel (`/proc`, `statvfs`,
//! `getloadavg`), so what the page shows is the machine now; a fact this platform does
//! not expose (no `/proc` on macOS) is left out, and the UI shows it as unknown.

use std::path::Path;

use serde_json::{Map, Value, json};

/// What the running gateway knows about itself, beside the machine's facts.
pub struct Process<'a> {
    pub port: Option<u16>,
    pub state_dir: &'a Path,
    pub uptime_ms: u64,
    pub instance_id: &'a str,
}

/// The `system.info` payload (openclaw's field names; no Node-specific ones such as
/// `nodeVersion` or `eventLoop`, which have no meaning here).
pub fn system_info(p: &Process<'_>) -> Value {
    let host = crate::util::hostname();
    let release = crate::util::kernel_release();
    let mut v = json!({
        "machineName": host,
        "hostname": host,
        "platform": crate::util::platform(),
        "release": release,
        "arch": crate::util::arch(),
        "osLabel": format!("{} {release}", os_name()).trim().to_string(),
        "port": p.port,
        "pid": std::process::id(),
        "processInstanceId": p.instance_id,
        "uptimeMs": p.uptime_ms,
        "cpuCount": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "runtime": format!("clawdbot {}", crate::VERSION),
    });
    let o = v.as_object_mut().expect("object");
    insert(o, "cpuModel", cpu_model().map(Value::from));
    insert(o, "loadAverage", load_average().map(|l| json!(l)));
    if let Some((total, available)) = memory() {
        o.insert("memoryTotalBytes".into(), json!(total));
        o.insert("memoryFreeBytes".into(), json!(available));
    }
    insert(
        o,
        "processMemory",
        rss_bytes().map(|rss| json!({"rssBytes": rss})),
    );
    let dir = p.state_dir.display().to_string();
    if let Some((total, available)) = disk(p.state_dir) {
        o.insert(
            "disks".into(),
            json!([{"path": dir, "totalBytes": total, "availableBytes": available}]),
        );
        o.insert("diskTotalBytes".into(), json!(total));
        o.insert("diskAvailableBytes".into(), json!(available));
    }
    o.insert("diskPath".into(), json!(dir));
    v
}

fn insert(o: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        o.insert(key.into(), v);
    }
}

fn os_name() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        other => other,
    }
}

/// `model name` of the first CPU in `/proc/cpuinfo` (x86; ARM kernels may have none).
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "model name")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The 1, 5 and 15 minute load averages, rounded to two decimals as `/proc/loadavg` has
/// them.
#[allow(unsafe_code)]
fn load_average() -> Option<[f64; 3]> {
    let mut l = [0f64; 3];
    // SAFETY: getloadavg writes at most `nelem` (3) doubles into the array it is given.
    let n = unsafe { libc::getloadavg(l.as_mut_ptr(), 3) };
    (n == 3).then(|| l.map(|x| (x * 100.0).round() / 100.0))
}

/// `MemTotal` and `MemAvailable` from `/proc/meminfo`, in bytes: available, not free,
/// because page cache is memory a process can have.
fn memory() -> Option<(u64, u64)> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// Resident set size from `/proc/self/statm` (pages).
#[allow(unsafe_code)]
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (page > 0).then(|| pages * page as u64)
}

/// Total and available bytes of the filesystem holding `dir` (available to an
/// unprivileged process: `f_bavail`, what is left before the disk is "full" for us).
#[allow(unsafe_code)]
fn disk(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `s` is a valid out-pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frag = s.f_frsize as u64;
    Some((s.f_blocks as u64 * frag, s.f_bavail as u64 * frag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let v = system_info(&Process {
            port: Some(18789),
            state_dir: dir.path(),
            uptime_ms: 5,
            instance_id: "boot",
        });
        assert_eq!(v["pid"], std::process::id());
        assert_eq!(v["port"], 18789);
        assert_eq!(v["diskPath"], dir.path().display().to_string());
        assert!(v["cpuCount"].as_u64().unwrap() >= 1);
        if cfg!(target_os = "linux") {
            let total = v["diskTotalBytes"].as_u64().unwrap();
            let avail = v["diskAvailableBytes"].as_u64().unwrap();
            assert!(total > 0 && avail <= total, "{v}");
            let mem = v["memoryTotalBytes"].as_u64().unwrap();
            assert!(v["memoryFreeBytes"].as_u64().unwrap() <= mem);
            let rss = v["processMemory"]["rssBytes"].as_u64().unwrap();
            assert!(rss > 0 && rss < mem, "{v}");
            assert_eq!(v["loadAverage"].as_array().unwrap().len(), 3);
            assert!(v["osLabel"].as_str().unwrap().starts_with("Linux "));
        }
        // A state dir that is gone has no disk facts, and the rest still answers.
        let gone = dir.path().join("missing");
        let v = system_info(&Process {
            port: None,
            state_dir: &gone,
            uptime_ms: 0,
            instance_id: "boot",
        });
        assert!(v.get("disks").is_none() && v["port"].is_null(), "{v}");
    }
}
