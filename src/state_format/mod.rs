//! Format versions of every file the gateway keeps in its state dir, in one table.
//!
//! Why: a Nix rollback (`home-manager switch --rollback`) brings back the previous binary
//! but not the previous state dir. The state dir must therefore stay readable by the
//! release before this one, and a file written by a release after this one must never be
//! misread, "repaired" or truncated. The rules (docs/state-format.md):
//!
//! 1. every file carries a format version (a field, a header line, or - for the
//!    original's map-shaped files that have no room for one - "no marker = version 1");
//! 2. a release reads every version from `oldest` to `current` of its table row;
//! 3. it writes `current` only, and `current` changes only with a migration that
//!    `clawdbot doctor --migrate` applies; the gateway itself never upgrades a file;
//! 4. a version above `current` is refused for that file alone: the file is left byte
//!    for byte, what depends on it answers with a [`Refusal`] naming file, versions and
//!    the rollback situation, and everything else keeps serving;
//! 5. compatible additions (new optional fields) do not bump the version; readers keep
//!    fields they do not know where the store allows it.
//!
//! Refusals are also kept in a process-wide registry so `status`, `health` and the
//! startup log can list them; [`refusals_under`] filters by state dir, so several
//! in-process gateways (tests) never see each other's.

pub mod scan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

/// Where a file keeps its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A top-level `"version": N` of a JSON object; absent means 1.
    Field,
    /// The original's map files (`{key: entry}`) have no field to spare: a top-level
    /// `"version"` whose value is a number is the marker (entries are objects, so it
    /// cannot be one); absent means 1, and version 1 is written without it.
    MapField,
    /// JSONL whose first line is the header `{"type":"session","version":N,…}`.
    Header,
    /// Append-only JSONL of self-contained lines; a line may carry `"v": N` (absent
    /// means 1). A newer line is skipped, the rest of the file still served.
    PerLine,
    /// Raw bytes (a token, log text): there is no place for a marker. Version 1 is the
    /// only format; a different one must use a different file name.
    Unversioned,
}

/// One row of the table.
#[derive(Debug)]
pub struct Format {
    /// Short name used in messages, `status` and docs.
    pub kind: &'static str,
    /// Path pattern under the state dir.
    pub path: &'static str,
    /// The version this release writes.
    pub current: u32,
    /// The oldest version this release reads.
    pub oldest: u32,
    pub marker: Marker,
    /// Who defined the format: "original" files must stay as the original reads them.
    pub origin: &'static str,
    pub doc: &'static str,
}

macro_rules! row {
    ($kind:literal, $path:literal, $cur:literal, $old:literal, $m:ident, $origin:literal, $doc:literal) => {
        Format {
            kind: $kind,
            path: $path,
            current: $cur,
            oldest: $old,
            marker: Marker::$m,
            origin: $origin,
            doc: $doc,
        }
    };
}

/// Every file kind the gateway writes (or reads) in the state dir.
pub const FORMATS: &[Format] = &[
    row!(
        "sessions-index",
        "agents/<agentId>/sessions/sessions.json",
        1,
        1,
        MapField,
        "original",
        "`{sessionKey: entry}`; unknown entry fields are kept on rewrite"
    ),
    row!(
        "transcript",
        "agents/<agentId>/sessions/<sessionId>.jsonl",
        3,
        1,
        Header,
        "original",
        "pi-coding-agent JSONL: v1 linear, v2 adds id/parentId, v3 renames role hookMessage to custom; appends never change the header"
    ),
    row!(
        "devices-paired",
        "devices/paired.json",
        1,
        1,
        MapField,
        "original",
        "`{deviceId: PairedDevice}`; unknown fields kept"
    ),
    row!(
        "devices-pending",
        "devices/pending.json",
        1,
        1,
        MapField,
        "original",
        "`{requestId: request}`; unknown fields kept"
    ),
    row!(
        "channel-pairing",
        "credentials/<channel>-pairing.json",
        1,
        1,
        Field,
        "original",
        "`{version, requests:[…]}`"
    ),
    row!(
        "channel-allowfrom",
        "credentials/<channel>-allowFrom.json",
        1,
        1,
        Field,
        "original",
        "`{version, allowFrom:[…]}`"
    ),
    row!(
        "channel-inbox",
        "<channel>/inbox-<account>.json",
        1,
        1,
        Field,
        "clawdbot-rs",
        "`{version, updates, lastUpdateId, recent}`: accepted, unanswered messages"
    ),
    row!(
        "telegram-offset",
        "telegram/update-offset-<account>.json",
        1,
        1,
        Field,
        "original",
        "`{version, lastUpdateId}`; a refused file is neither read nor written, the inbox keeps the offset"
    ),
    row!(
        "cron-jobs",
        "cron/jobs.json",
        1,
        1,
        Field,
        "original",
        "`{version, jobs:[…]}`"
    ),
    row!(
        "cron-runs",
        "cron/runs/<jobId>.jsonl",
        1,
        1,
        PerLine,
        "original",
        "one `finished` entry per line; trimming keeps lines byte for byte"
    ),
    row!(
        "heartbeat-state",
        "heartbeat/state.json",
        1,
        1,
        Field,
        "clawdbot-rs",
        "`{version, agents:{id:{lastRunAtMs}}}`"
    ),
    row!(
        "exec-allowlist",
        "exec-allowlist.json",
        2,
        1,
        Field,
        "clawdbot-rs",
        "v2 adds `commands` and keeps v1's `programs`, so a v1 reader still finds its entries"
    ),
    row!(
        "auth-profiles",
        "agents/<agentId>/agent/auth-profiles.json",
        1,
        1,
        Field,
        "original",
        "read only: written by the original's `models auth`"
    ),
    row!(
        "device-identity",
        "identity/device.json (always under ~/.clawdbot)",
        1,
        1,
        Field,
        "original",
        "the CLI's own key pair `{version, deviceId, publicKeyPem, privateKeyPem, createdAtMs}`"
    ),
    row!(
        "credentials",
        "credentials/<name> (gateway-token, <channel>-token…)",
        1,
        1,
        Unversioned,
        "clawdbot-rs",
        "one secret and a newline"
    ),
    row!(
        "whatsapp-linked",
        "credentials/whatsapp/<account>/linked.json",
        1,
        1,
        Field,
        "clawdbot-rs",
        "who the linked device is `{version, jid, lid, pushName, linkedAt}`"
    ),
    row!(
        "whatsapp-session",
        "credentials/whatsapp/<account>/session.db",
        1,
        1,
        Unversioned,
        "whatsapp-rust",
        "the library's SQLite session; its schema and migrations are the library's"
    ),
    row!(
        "logs",
        "logs/*.log",
        1,
        1,
        Unversioned,
        "clawdbot-rs",
        "text lines, never read back as state"
    ),
];

/// The row of `kind`. Panics on a typo, which every store's unit test would hit.
pub fn format(kind: &str) -> &'static Format {
    FORMATS
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("unknown state file kind {kind}"))
}

/// A file this release must not read or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: PathBuf,
    pub kind: &'static str,
    /// The version found, as written (it need not be a number).
    pub found: String,
    pub oldest: u32,
    pub known: u32,
}

impl Refusal {
    /// Older than anything this release reads (versus newer than it knows).
    pub fn too_old(&self) -> bool {
        self.found
            .parse::<u64>()
            .is_ok_and(|v| v < u64::from(self.oldest))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "path": self.path.display().to_string(),
            "kind": self.kind,
            "foundVersion": self.found,
            "knownVersion": self.known,
            "message": self.to_string(),
        })
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.path.display();
        if self.too_old() {
            write!(
                f,
                "{p}: {} format version {} is older than this clawdbot reads (versions {}..={}); \
                 migrate it with the release that last read it. The file is left untouched.",
                self.kind, self.found, self.oldest, self.known
            )
        } else {
            write!(
                f,
                "{p}: {} format version {} was written by a newer clawdbot (this one knows up to \
                 version {}); roll forward or restore a backup. The file is left untouched and \
                 the rest of the gateway keeps running.",
                self.kind, self.found, self.known
            )
        }
    }
}

/// Why a state file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// A format version outside what this release reads.
    Refused(Refusal),
    /// Unreadable or not JSON (the message names the file).
    Other(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Refused(r) => r.fmt(f),
            ReadError::Other(s) => f.write_str(s),
        }
    }
}

impl From<ReadError> for String {
    fn from(e: ReadError) -> String {
        e.to_string()
    }
}

impl From<Refusal> for std::io::Error {
    fn from(r: Refusal) -> std::io::Error {
        std::io::Error::other(r.to_string())
    }
}

static REFUSED: Mutex<BTreeMap<PathBuf, Refusal>> = Mutex::new(BTreeMap::new());

fn registry() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, Refusal>> {
    REFUSED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Logs a refusal once per path and keeps it for `status`/`health`.
fn record(r: &Refusal) {
    let fresh = registry().insert(r.path.clone(), r.clone()).as_ref() != Some(r);
    if fresh {
        tracing::error!(target: "state", "{r}");
    }
}

/// A file that reads fine again (restored from a backup) is no longer listed.
fn clear(path: &Path) {
    let mut reg = registry();
    if !reg.is_empty() {
        reg.remove(path);
    }
}

/// The refusals met so far for files under `state_dir`, by path.
pub fn refusals_under(state_dir: &Path) -> Vec<Refusal> {
    refusals_of(state_dir, &[])
}

/// Those under `state_dir` plus the files `also` names (a `cron.store` outside it).
pub fn refusals_of(state_dir: &Path, also: &[&Path]) -> Vec<Refusal> {
    registry()
        .values()
        .filter(|r| r.path.starts_with(state_dir) || also.contains(&r.path.as_path()))
        .cloned()
        .collect()
}

/// Whether `path` was refused (and not read fine since): a writer that does not read
/// first (an offset file written after each batch) checks this instead.
pub fn is_refused(path: &Path) -> bool {
    registry().contains_key(path)
}

/// `{"ok", "refused": [...]}` for `status` and `health`.
pub fn summary_json(state_dir: &Path, also: &[&Path]) -> Value {
    let refused: Vec<Value> = refusals_of(state_dir, also)
        .iter()
        .map(Refusal::to_json)
        .collect();
    json!({"ok": refused.is_empty(), "refused": refused})
}

/// The version a value carries under `marker` (`"1"` when there is no marker).
fn version_in(marker: Marker, v: &Value) -> String {
    let field = match marker {
        Marker::Field | Marker::Header => v.get("version"),
        Marker::MapField => v.get("version").filter(|x| x.is_number()),
        Marker::PerLine => v.get("v"),
        Marker::Unversioned => None,
    };
    match field {
        None | Some(Value::Null) => "1".into(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Checks the version `v` carries against the row of `kind`; records or clears the
/// refusal. Returns the version read.
pub fn check_value(kind: &str, path: &Path, v: &Value) -> Result<u32, Refusal> {
    let f = format(kind);
    let found = version_in(f.marker, v);
    match found.parse::<u32>() {
        Ok(n) if (f.oldest..=f.current).contains(&n) => {
            clear(path);
            Ok(n)
        }
        _ => {
            let r = Refusal {
                path: path.to_path_buf(),
                kind: f.kind,
                found,
                oldest: f.oldest,
                known: f.current,
            };
            record(&r);
            Err(r)
        }
    }
}

/// Reads a JSON state file of `kind`: `Ok(None)` when missing, a [`ReadError::Refused`]
/// for a version this release does not read. A map file's marker is removed from the
/// value returned, so callers see entries only.
pub fn read_json(kind: &str, path: &Path) -> Result<Option<Value>, ReadError> {
    let Some(mut v) = crate::fsutil::read_json(path).map_err(ReadError::Other)? else {
        clear(path);
        return Ok(None);
    };
    check_value(kind, path, &v).map_err(ReadError::Refused)?;
    if format(kind).marker == Marker::MapField
        && let Some(m) = v.as_object_mut()
        && m.get("version").is_some_and(Value::is_number)
    {
        m.remove("version");
    }
    Ok(Some(v))
}

/// Checks a JSONL transcript's header line (`first` is its first line; a file without a
/// header is version 1, as pi-coding-agent's oldest files are).
pub fn check_header(kind: &str, path: &Path, first: &str) -> Result<u32, Refusal> {
    let header = serde_json::from_str::<Value>(first.trim())
        .ok()
        .filter(|v| v.get("type").and_then(Value::as_str) == Some("session"))
        .unwrap_or(Value::Null);
    check_value(kind, path, &header)
}

/// Whether one line of a [`Marker::PerLine`] file is in a version this release reads.
pub fn line_readable(kind: &str, line: &Value) -> bool {
    let f = format(kind);
    version_in(f.marker, line)
        .parse::<u32>()
        .is_ok_and(|n| (f.oldest..=f.current).contains(&n))
}

#[cfg(test)]
mod tests;
