//! Logging as the original prints it: `<ISO time> [<subsystem>] <message>` on the console
//! (warnings and errors on stderr), plus one JSON object per line in a dated file under
//! `<stateDir>/logs/` that the `logs.tail` RPC serves. The subsystem is the tracing target.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::util::{date_from_ms, iso_from_ms, now_ms};

/// Maps the original's `logging.level` names onto tracing levels.
pub fn level_from_config(level: &str) -> &'static str {
    match level {
        "silent" => "off",
        "fatal" | "error" => "error",
        "warn" => "warn",
        "debug" => "debug",
        "trace" => "trace",
        _ => "info",
    }
}

/// Largest size of one day's log file; past it the file moves to `<name>.1` (replacing
/// an older `.1`) and a fresh one starts, so a day costs at most twice this on disk
/// however noisy a peer is.
pub const MAX_LOG_BYTES: u64 = 10 * 1024 * 1024;

struct FileSink {
    dir: PathBuf,
    date: String,
    file: Option<std::fs::File>,
    /// Bytes in the current file.
    size: u64,
    cap: u64,
}

impl FileSink {
    fn new(dir: &Path, cap: u64) -> FileSink {
        FileSink {
            dir: dir.to_path_buf(),
            date: String::new(),
            file: None,
            size: 0,
            cap,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(format!("clawdbot-{}.log", self.date))
    }

    fn open(&mut self) {
        let path = self.path();
        self.file = open_log(&path).ok();
        self.size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    }

    fn write(&mut self, ms: i64, line: &str) {
        let date = date_from_ms(ms);
        if self.file.is_none() || date != self.date {
            self.date = date;
            self.open();
        }
        let n = line.len() as u64 + 1;
        if self.size > 0 && self.size + n > self.cap {
            let path = self.path();
            let mut rotated = path.clone().into_os_string();
            rotated.push(".1");
            self.file = None;
            let _ = std::fs::rename(&path, rotated);
            self.open();
        }
        if let Some(f) = &mut self.file
            && writeln!(f, "{line}").is_ok()
        {
            self.size += n;
        }
    }
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        crate::fsutil::create_private_dir(dir)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// The dated log file for "now" in `dir`.
pub fn current_file(dir: &Path) -> PathBuf {
    dir.join(format!("clawdbot-{}.log", date_from_ms(now_ms())))
}

struct GatewayLayer {
    file: Option<Mutex<FileSink>>,
    json_console: bool,
}

#[derive(Default)]
struct Fields {
    message: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.extra
                .push((field.name().to_string(), value.to_string()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.extra
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
}

fn subsystem(target: &str) -> &str {
    let t = target.strip_prefix("clawdbot::").unwrap_or(target);
    t.strip_prefix("gateway/")
        .or_else(|| t.strip_prefix("channels/"))
        .unwrap_or(t)
}

impl<S: Subscriber> Layer<S> for GatewayLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let mut message = f.message;
        for (k, v) in &f.extra {
            message.push_str(&format!(" {k}={v}"));
        }
        let meta = event.metadata();
        let level = *meta.level();
        let sub = subsystem(meta.target());
        let ms = now_ms();
        let time = iso_from_ms(ms);
        let record = json!({"time": time, "level": level.as_str().to_lowercase(), "subsystem": sub, "message": message});
        let console = if self.json_console {
            record.to_string()
        } else {
            format!("{time} [{sub}] {message}")
        };
        if level <= Level::WARN {
            let _ = writeln!(std::io::stderr(), "{console}");
        } else {
            let _ = writeln!(std::io::stdout(), "{console}");
        }
        if let Some(sink) = &self.file
            && let Ok(mut s) = sink.lock()
        {
            s.write(ms, &record.to_string());
        }
    }
}

/// Installs the global subscriber. `directive` is an EnvFilter string (e.g. "info");
/// `CLAWDBOT_LOG` overrides it. Safe to call once; later calls are ignored.
pub fn init(directive: &str, file_dir: Option<&Path>, json_console: bool) {
    let filter = std::env::var("CLAWDBOT_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(directive).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let layer = GatewayLayer {
        file: file_dir.map(|d| Mutex::new(FileSink::new(d, MAX_LOG_BYTES))),
        json_console,
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

/// `logs.tail`: lines from byte `cursor` on (or the last `max_bytes` when there is no
/// cursor, the file shrank, or too much is new), at most `limit` lines.
pub fn tail(
    file: &Path,
    cursor: Option<u64>,
    limit: usize,
    max_bytes: u64,
) -> Result<Value, String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let path = if file.exists() {
        file.to_path_buf()
    } else {
        newest_log(dir).unwrap_or_else(|| file.to_path_buf())
    };
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(
                json!({"file": path.display().to_string(), "cursor": 0, "size": 0, "lines": []}),
            );
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let size = f.metadata().map(|m| m.len()).map_err(|e| e.to_string())?;
    let (start, reset) = match cursor {
        Some(c) if c <= size && size - c <= max_bytes => (c, false),
        Some(_) => (size.saturating_sub(max_bytes), true),
        None => (size.saturating_sub(max_bytes), false),
    };
    f.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    f.take(size - start)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    // When starting mid-file, the first line is probably partial.
    if start > 0 && cursor != Some(start) && !lines.is_empty() {
        lines.remove(0);
    }
    let truncated = lines.len() > limit;
    if truncated {
        lines.drain(..lines.len() - limit);
    }
    let mut out =
        json!({"file": path.display().to_string(), "cursor": size, "size": size, "lines": lines});
    if truncated {
        out["truncated"] = json!(true);
    }
    if reset {
        out["reset"] = json!(true);
    }
    Ok(out)
}

fn newest_log(dir: &Path) -> Option<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("clawdbot-") && n.ends_with(".log"))
        })
        .collect();
    logs.sort();
    logs.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_file_is_capped_and_rotated_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path(), 1000);
        let line = "x".repeat(99);
        for _ in 0..600 {
            sink.write(now_ms(), &line);
        }
        let cur = current_file(dir.path());
        let mut old = cur.clone().into_os_string();
        old.push(".1");
        let (a, b) = (
            std::fs::metadata(&cur).unwrap().len(),
            std::fs::metadata(&old).unwrap().len(),
        );
        assert!(a <= 1000 && b <= 1000 && a > 0 && b > 0, "{a} {b}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        // tail reads the live file, not the rotated one.
        assert_eq!(newest_log(dir.path()).unwrap(), cur);
    }

    #[test]
    fn tail_with_cursor_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("clawdbot-2026-01-01.log");
        std::fs::write(&p, "a\nb\nc\n").unwrap();
        let t = tail(&p, None, 2, 1000).unwrap();
        assert_eq!(t["lines"], json!(["b", "c"]));
        assert_eq!(t["truncated"], json!(true));
        let cursor = t["cursor"].as_u64().unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"d\n")
            .unwrap();
        let t = tail(&p, Some(cursor), 10, 1000).unwrap();
        assert_eq!(t["lines"], json!(["d"]));
        let t = tail(&p, Some(1_000_000), 10, 1000).unwrap();
        assert_eq!(t["reset"], json!(true));
    }
}
