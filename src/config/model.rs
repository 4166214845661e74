//! The typed view of the keys this gateway acts on. Validation has already run against the
//! full schema, so these structs are lenient (`default`, unknown keys ignored): they only
//! pick out what the code reads.

use serde::Deserialize;

/// The default port of the original (spec §5.2).
pub const DEFAULT_PORT: u16 = 18789;
/// The original's default model when none is configured.
pub const DEFAULT_MODEL: &str = "anthropic/claude-opus-4-5";
pub const DEFAULT_CONTEXT_TOKENS: u64 = 200_000;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    pub gateway: Gateway,
    pub agents: Agents,
    pub session: Session,
    pub logging: Logging,
    pub tools: Tools,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Tools {
    pub exec: ExecTool,
    pub web: ToolsWeb,
}

/// `tools.exec` (the original's keys, plus `env`: variables given to every tool process).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExecTool {
    pub security: Option<String>,
    pub ask: Option<String>,
    pub safe_bins: Vec<String>,
    pub path_prepend: Vec<String>,
    pub timeout_sec: Option<u64>,
    pub env: std::collections::BTreeMap<String, String>,
}

impl ExecTool {
    /// `deny` | `allowlist` | `full`.
    pub fn security(&self) -> &str {
        self.security.as_deref().unwrap_or("allowlist")
    }
    /// `off` | `on-miss` | `always`.
    pub fn ask(&self) -> &str {
        self.ask.as_deref().unwrap_or("on-miss")
    }
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_sec.unwrap_or(120))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Gateway {
    pub port: Option<u16>,
    pub mode: Option<String>,
    pub bind: Option<String>,
    pub custom_bind_host: Option<String>,
    pub auth: GatewayAuth,
    pub control_ui: ControlUi,
    pub trusted_proxies: Vec<String>,
    pub remote: Remote,
    pub limits: Limits,
}

/// `gateway.limits.*` (extension keys); unset means the defaults in
/// `server::limits`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Limits {
    pub header_read_timeout_ms: Option<u64>,
    pub max_pre_auth_per_address: Option<usize>,
    pub max_in_flight_per_connection: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewayAuth {
    pub mode: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ControlUi {
    pub enabled: Option<bool>,
    pub base_path: Option<String>,
    pub allow_insecure_auth: Option<bool>,
    pub dangerously_disable_device_auth: Option<bool>,
    pub allowed_origins: Vec<String>,
    /// openclaw's key: a directory holding a Control UI build to serve instead of the
    /// embedded one (src/server/ui_root.rs).
    pub root: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Remote {
    pub url: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Agents {
    pub defaults: AgentDefaults,
    pub list: Vec<AgentEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AgentDefaults {
    pub model: Option<ModelSpec>,
    pub heartbeat: Option<Heartbeat>,
    pub context_tokens: Option<u64>,
    pub workspace: Option<String>,
    pub sandbox: Option<SandboxConfig>,
}

/// `agents.defaults.sandbox` / `agents.list[].sandbox`, the original's keys. The original
/// runs tools in Docker; we read the same keys as the limits of a Landlock + seccomp +
/// rlimit sandbox (see `crate::sandbox`). Keys with no meaning without Docker land in
/// `other` and are warned about once, by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SandboxConfig {
    /// `off` | `non-main` | `all`; default [`DEFAULT_SANDBOX_MODE`].
    pub mode: Option<String>,
    /// `none` | `ro` | `rw`; default [`DEFAULT_WORKSPACE_ACCESS`].
    pub workspace_access: Option<String>,
    /// `session` | `agent` | `shared`: which runs share one container in the original.
    /// Every run gets its own sandbox here, so every scope is honoured (as `session`).
    pub scope: Option<String>,
    pub docker: SandboxDocker,
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Ours: non-main sessions are sandboxed (the original defaults to `off`).
pub const DEFAULT_SANDBOX_MODE: &str = "non-main";
/// Ours and the original's: the sandbox sees no workspace unless granted.
pub const DEFAULT_WORKSPACE_ACCESS: &str = "none";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SandboxDocker {
    /// `none` (default) or anything else (`bridge`, `host`): network allowed.
    pub network: Option<String>,
    pub pids_limit: Option<u64>,
    /// `512m`, `1g`, or bytes.
    pub memory: Option<serde_json::Value>,
    pub cpus: Option<f64>,
    /// `{nofile: 1024}` or `{nofile: {soft, hard}}`.
    pub ulimits: std::collections::BTreeMap<String, serde_json::Value>,
    pub env: std::collections::BTreeMap<String, String>,
    /// `host:container[:ro|rw]`; only `host == container` can be honoured without a mount.
    pub binds: Vec<String>,
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `agents.defaults.heartbeat` / `agents.list[].heartbeat` (the per-agent block is laid
/// over the defaults key by key; see `crate::heartbeat::settings`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Heartbeat {
    /// Duration (`30m`, `1h`, bare minutes); `0`/`off` disables. Default
    /// [`DEFAULT_HEARTBEAT_EVERY`].
    pub every: Option<String>,
    pub active_hours: Option<ActiveHours>,
    pub model: Option<String>,
    /// `main` (default) or an explicit session key.
    pub session: Option<String>,
    /// `last` (default), `none`, or a channel id.
    pub target: Option<String>,
    pub to: Option<String>,
    pub account_id: Option<String>,
    pub prompt: Option<String>,
    /// Default [`DEFAULT_HEARTBEAT_ACK_MAX_CHARS`].
    pub ack_max_chars: Option<u64>,
    pub include_reasoning: Option<bool>,
}

pub const DEFAULT_HEARTBEAT_EVERY: &str = "30m";
pub const DEFAULT_HEARTBEAT_ACK_MAX_CHARS: u64 = 300;
pub const DEFAULT_HEARTBEAT_PROMPT: &str = "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. Do not infer or repeat old tasks from prior chats. If nothing needs attention, reply HEARTBEAT_OK.";

/// `heartbeat.activeHours`: `HH:MM` start (inclusive) and end (exclusive, `24:00`
/// allowed), in `timezone` (an IANA name, `UTC`, or `local`/`user`: the host's).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ActiveHours {
    pub start: Option<String>,
    pub end: Option<String>,
    pub timezone: Option<String>,
}

/// A model ref, or `{primary, fallbacks}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ModelSpec {
    Ref(String),
    Detailed {
        #[serde(default)]
        primary: Option<String>,
        #[serde(default)]
        fallbacks: Option<Vec<String>>,
    },
}

impl ModelSpec {
    pub fn primary(&self) -> Option<&str> {
        match self {
            ModelSpec::Ref(s) => Some(s),
            ModelSpec::Detailed { primary, .. } => primary.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AgentEntry {
    pub id: String,
    pub default: Option<bool>,
    pub name: Option<String>,
    pub model: Option<ModelSpec>,
    pub identity: Option<serde_json::Value>,
    pub sandbox: Option<SandboxConfig>,
    pub heartbeat: Option<Heartbeat>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Session {
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Logging {
    pub level: Option<String>,
    pub file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ToolsWeb {
    pub fetch: WebFetch,
}

/// `tools.web.fetch`: the original's keys, plus `allowPrivateHosts` (ours): host names,
/// IPs or CIDR blocks, each optionally `:port`, that `web_fetch` may reach although they
/// are loopback, private or link-local.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WebFetch {
    pub enabled: Option<bool>,
    pub max_chars: Option<u64>,
    pub timeout_seconds: Option<u64>,
    pub max_redirects: Option<u32>,
    pub user_agent: Option<String>,
    pub allow_private_hosts: Vec<String>,
}

impl WebFetch {
    pub fn max_chars(&self) -> u64 {
        self.max_chars.unwrap_or(50_000)
    }
    pub fn timeout_seconds(&self) -> u64 {
        self.timeout_seconds.unwrap_or(30)
    }
    /// The original's default (`DEFAULT_FETCH_MAX_REDIRECTS = 3`).
    pub fn max_redirects(&self) -> u32 {
        self.max_redirects.unwrap_or(3)
    }
    pub fn user_agent(&self) -> String {
        self.user_agent
            .clone()
            .unwrap_or_else(|| concat!("clawdbot-rs/", env!("CARGO_PKG_VERSION")).to_string())
    }
}

/// Built-in model aliases of the original (spec §6.4).
pub fn resolve_model_alias(model: &str) -> &str {
    match model {
        "opus" => "anthropic/claude-opus-4-5",
        "sonnet" => "anthropic/claude-sonnet-4-5",
        "gpt" => "openai/gpt-5.2",
        "gpt-mini" => "openai/gpt-5-mini",
        "gemini" => "google/gemini-3-pro-preview",
        "gemini-flash" => "google/gemini-3-flash-preview",
        other => other,
    }
}

/// Agent ids are normalised to `[a-z0-9][a-z0-9_-]{0,63}` (spec §6.4).
pub fn normalize_agent_id(id: &str) -> String {
    let mut out: String = id
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    out = out.trim_start_matches(['-', '_']).to_string();
    out.truncate(64);
    if out.is_empty() {
        "main".to_string()
    } else {
        out
    }
}

impl Config {
    /// The default agent: first with `default: true`, else the first, else `main`.
    pub fn default_agent_id(&self) -> String {
        let list = &self.agents.list;
        list.iter()
            .find(|a| a.default == Some(true))
            .or_else(|| list.first())
            .map(|a| normalize_agent_id(&a.id))
            .unwrap_or_else(|| "main".to_string())
    }

    /// Every configured agent id (at least the default).
    pub fn agent_ids(&self) -> Vec<String> {
        if self.agents.list.is_empty() {
            return vec!["main".to_string()];
        }
        self.agents
            .list
            .iter()
            .map(|a| normalize_agent_id(&a.id))
            .collect()
    }

    /// `provider/model` of the default agent.
    pub fn primary_model(&self) -> String {
        self.agent_model(&self.default_agent_id())
    }

    /// `provider/model` of agent `id`: its own `model`, else `agents.defaults.model`.
    pub fn agent_model(&self, id: &str) -> String {
        let from_agent = self
            .agents
            .list
            .iter()
            .find(|a| normalize_agent_id(&a.id) == id)
            .and_then(|a| a.model.as_ref())
            .and_then(ModelSpec::primary);
        let from_defaults = self
            .agents
            .defaults
            .model
            .as_ref()
            .and_then(ModelSpec::primary);
        resolve_model_alias(from_agent.or(from_defaults).unwrap_or(DEFAULT_MODEL)).to_string()
    }

    pub fn heartbeat_every(&self) -> String {
        self.agents
            .defaults
            .heartbeat
            .as_ref()
            .and_then(|h| h.every.clone())
            .unwrap_or_else(|| DEFAULT_HEARTBEAT_EVERY.to_string())
    }

    pub fn context_tokens(&self) -> u64 {
        self.agents
            .defaults
            .context_tokens
            .unwrap_or(DEFAULT_CONTEXT_TOKENS)
    }

    pub fn session_scope(&self) -> &str {
        self.session.scope.as_deref().unwrap_or("per-sender")
    }
}

/// Parses durations like `30m`, `1h`, `90s`, `1h30m`, `500ms`, or a bare number of
/// minutes (the original's heartbeat convention). `0` and `off` mean disabled.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s == "0" || s.eq_ignore_ascii_case("off") {
        return Some(0);
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(n * 60_000);
    }
    let mut total = 0u64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let value: f64 = num.parse().ok()?;
        num.clear();
        let factor = match unit.as_str() {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            "w" => 604_800_000.0,
            _ => return None,
        };
        total += (value * factor) as u64;
    }
    if !num.is_empty() {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30m"), Some(1_800_000));
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("45"), Some(2_700_000));
        assert_eq!(parse_duration_ms("off"), Some(0));
        assert_eq!(parse_duration_ms("3 parsecs"), None);
    }

    #[test]
    fn default_agent_and_model() {
        let c: Config = serde_json::from_value(serde_json::json!({
            "agents": {"defaults": {"model": {"primary": "sonnet"}},
                       "list": [{"id": "Work"}, {"id": "home", "default": true}]}
        }))
        .unwrap();
        assert_eq!(c.default_agent_id(), "home");
        assert_eq!(c.agent_ids(), vec!["work", "home"]);
        assert_eq!(c.primary_model(), "anthropic/claude-sonnet-4-5");
        let empty = Config::default();
        assert_eq!(empty.default_agent_id(), "main");
        assert_eq!(empty.primary_model(), DEFAULT_MODEL);
    }
}
