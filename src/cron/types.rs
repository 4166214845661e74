//! The original's cron job shapes (src/cron/types.ts), serialized exactly as it stores
//! and answers them: camelCase keys, absent optionals left out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Schedule {
    #[serde(rename_all = "camelCase")]
    At { at_ms: i64 },
    #[serde(rename_all = "camelCase")]
    Every {
        every_ms: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchor_ms: Option<i64>,
    },
    Cron {
        expr: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tz: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Payload {
    SystemEvent {
        text: String,
    },
    #[serde(rename_all = "camelCase")]
    AgentTurn {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thinking: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_seconds: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow_unsafe_external_content: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deliver: Option<bool>,
        /// A channel id or `"last"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        best_effort_deliver: Option<bool>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at_ms: Option<i64>,
    /// `ok` | `error` | `skipped`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_run: Option<bool>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub schedule: Schedule,
    /// `main` | `isolated`
    pub session_target: String,
    /// `next-heartbeat` | `now`
    pub wake_mode: String,
    pub payload: Payload,
    /// `{postToMainPrefix?, postToMainMode?, postToMainMaxChars?}`, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Value>,
    #[serde(default)]
    pub state: JobState,
}

impl Job {
    /// The original's rule: main jobs carry a system event, isolated ones an agent turn.
    pub fn check_spec(&self) -> Result<(), String> {
        match (self.session_target.as_str(), &self.payload) {
            ("main", Payload::SystemEvent { .. }) | ("isolated", Payload::AgentTurn { .. }) => {
                Ok(())
            }
            ("main", _) => Err("main cron jobs require payload.kind=\"systemEvent\"".into()),
            ("isolated", _) => Err("isolated cron jobs require payload.kind=\"agentTurn\"".into()),
            (t, _) => Err(format!(
                "invalid sessionTarget \"{t}\" (use \"main\" or \"isolated\")"
            )),
        }
    }
}

/// The store file, `{version:1, jobs:[…]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreFile {
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default)]
    pub jobs: Vec<Job>,
}

impl Default for StoreFile {
    fn default() -> StoreFile {
        StoreFile {
            version: 1,
            jobs: vec![],
        }
    }
}

fn one() -> u32 {
    1
}
