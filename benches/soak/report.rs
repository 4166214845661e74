//! Samples of the gateway process (from /proc), the sample table, least-squares slopes
//! and the verdict. The gateway exposes no tokio task count, so threads stand in for it.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::load::Shared;

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Duration,
    pub rss_kb: u64,
    pub fds: usize,
    pub threads: u64,
    /// `status.tasks`: the tasks the gateway tracks (connections, runs, workers),
    /// counted over one extra connection of the sampler's own.
    pub tasks: u64,
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn sample(pid: u32, at: Duration) -> Sample {
    Sample {
        at,
        rss_kb: status_field(pid, "VmRSS:"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0),
        threads: status_field(pid, "Threads:"),
        tasks: 0,
    }
}

/// Tasks that may still be winding down after the drain (chat workers idle, a
/// connection closing); a leak grows past it with the load.
const TASK_MARGIN: u64 = 16;

pub fn header() {
    println!(
        "| t (s) | RSS (KB) | fds | threads | tasks | held up | connects | calls | messages | replies | timeouts | errors |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
}

pub fn row(s: &Sample, sh: &Shared) {
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        s.at.as_secs(),
        s.rss_kb,
        s.fds,
        s.threads,
        s.tasks,
        sh.held_up.load(Relaxed),
        sh.connects.load(Relaxed),
        sh.calls.load(Relaxed),
        sh.messages.load(Relaxed),
        sh.replies.load(Relaxed),
        sh.timeouts.load(Relaxed),
        sh.client_errors.load(Relaxed),
    );
}

/// Least-squares slope of `y` over time, per hour.
fn slope_per_hour(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

fn slopes(samples: &[Sample]) -> (f64, f64, f64, f64) {
    let h = |s: &Sample| s.at.as_secs_f64() / 3600.0;
    let of = |f: &dyn Fn(&Sample) -> f64| {
        slope_per_hour(&samples.iter().map(|s| (h(s), f(s))).collect::<Vec<_>>())
    };
    (
        of(&|s| s.rss_kb as f64),
        of(&|s| s.fds as f64),
        of(&|s| s.threads as f64),
        of(&|s| s.tasks as f64),
    )
}

pub struct Final<'a> {
    pub samples: &'a [Sample],
    pub last: &'a Sample,
    pub shared: &'a Shared,
    pub injected: BTreeMap<String, u64>,
    pub served: BTreeMap<&'static str, u64>,
    pub load_secs: f64,
    pub drained: bool,
    pub died: bool,
    pub fd_limit: usize,
}

/// Prints slopes, counts and the verdict; true on PASS.
pub fn summary(f: Final) -> bool {
    let s = f.shared;
    // Under load (the baseline sample is before it), and once warmed up (second half).
    let loaded = &f.samples[1.min(f.samples.len() - 1)..];
    let (r, d, t, k) = slopes(loaded);
    println!(
        "slopes under load ({} samples): RSS {r:+.0} KB/h, fds {d:+.1}/h, threads {t:+.1}/h, tasks {k:+.1}/h",
        loaded.len()
    );
    let half = &loaded[loaded.len() / 2..];
    let (r2, d2, t2, k2) = slopes(half);
    println!(
        "slopes, second half ({} samples): RSS {r2:+.0} KB/h, fds {d2:+.1}/h, threads {t2:+.1}/h, tasks {k2:+.1}/h",
        half.len()
    );
    let (unanswered, dups) = s.unanswered_and_duplicates();
    let faults: u64 = f.injected.values().sum();
    println!(
        "load {:.0}s: client connects {}, calls {}, client errors {}; telegram messages {}, replies {} (answered {}, model timeouts {}, other failures {}), late (>90s) {}, model requests {}",
        f.load_secs,
        s.connects.load(Relaxed),
        s.calls.load(Relaxed),
        s.client_errors.load(Relaxed),
        s.messages.load(Relaxed),
        s.replies.load(Relaxed),
        s.answered.load(Relaxed),
        s.timeouts.load(Relaxed),
        s.failed.load(Relaxed),
        s.late.load(Relaxed),
        s.model_requests.load(Relaxed),
    );
    println!("injected telegram faults {faults}: {:?}", f.injected);
    println!("model replies served from the mix: {:?}", f.served);
    for e in s.first_errors.lock().unwrap().iter() {
        println!("client error: {e}");
    }
    let mut why = vec![];
    if f.died {
        why.push("the gateway exited".to_string());
    }
    if s.panics.load(Relaxed) > 0 {
        why.push(format!(
            "{} panic line(s) in the gateway log",
            s.panics.load(Relaxed)
        ));
    }
    if !f.drained || unanswered > 0 {
        why.push(format!(
            "{unanswered} message(s) unanswered after the drain"
        ));
    }
    if dups > 0 {
        why.push(format!("{dups} message(s) answered more than once"));
    }
    let strays = s.strays.load(Relaxed);
    if strays > 0 {
        why.push(format!("{strays} reply(ies) to no message sent"));
    }
    if s.client_errors.load(Relaxed) > 0 {
        why.push(format!("{} client error(s)", s.client_errors.load(Relaxed)));
    }
    if f.last.fds > f.fd_limit {
        why.push(format!(
            "{} fds open after the clients left (baseline + margin {})",
            f.last.fds, f.fd_limit
        ));
    }
    // The sampler's own connection is one task in both counts.
    let task_limit = f.samples[0].tasks + TASK_MARGIN;
    if f.last.tasks > task_limit {
        why.push(format!(
            "{} gateway tasks after the clients left (baseline + margin {task_limit})",
            f.last.tasks
        ));
    }
    if s.answered.load(Relaxed) == 0 {
        why.push("no chat message was answered by the model".to_string());
    }
    if why.is_empty() {
        println!(
            "verdict: PASS — {} messages each answered exactly once, {} client connects without an error, fds {} and tasks {} after the clients left (limits {}, {task_limit}), {} faults injected",
            s.messages.load(Relaxed),
            s.connects.load(Relaxed),
            f.last.fds,
            f.last.tasks,
            f.fd_limit,
            faults
        );
        true
    } else {
        println!("verdict: FAIL — {}", why.join("; "));
        false
    }
}
