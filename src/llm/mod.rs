//! Model providers: the message shapes we keep in transcripts, streaming clients for the
//! Anthropic Messages API and OpenAI-style Chat Completions, credential lookup, and the
//! original's fallback order.
//!
//! Messages use the transcript shape of the original (pi-ai): `user`, `assistant` with
//! `text`/`toolCall` blocks, and `toolResult`, so `chat.history` can return them as stored.

pub mod anthropic;
pub mod credentials;
pub mod fallback;
pub mod openai;
pub mod providers;
pub mod sse;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One block of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Content {
    Text {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: Value,
    },
    /// Anything else a transcript written by another version may hold; kept, not sent.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    #[serde(default)]
    pub input: u64,
    #[serde(default)]
    pub output: u64,
}

/// A transcript message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "role",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Message {
    User {
        content: Vec<Content>,
        #[serde(default)]
        timestamp: i64,
    },
    Assistant {
        content: Vec<Content>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        #[serde(default)]
        timestamp: i64,
    },
    ToolResult {
        tool_call_id: String,
        tool_name: String,
        content: Vec<Content>,
        #[serde(default)]
        is_error: bool,
        #[serde(default)]
        timestamp: i64,
    },
}

impl Message {
    pub fn user(text: &str) -> Message {
        Message::User {
            content: vec![Content::Text { text: text.into() }],
            timestamp: crate::util::now_ms(),
        }
    }

    /// The concatenated text blocks.
    pub fn text(&self) -> String {
        let blocks = match self {
            Message::User { content, .. }
            | Message::Assistant { content, .. }
            | Message::ToolResult { content, .. } => content,
        };
        let parts: Vec<&str> = blocks
            .iter()
            .filter_map(|b| match b {
                Content::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        parts.join("\n")
    }

    pub fn role(&self) -> &'static str {
        match self {
            Message::User { .. } => "user",
            Message::Assistant { .. } => "assistant",
            Message::ToolResult { .. } => "toolResult",
        }
    }

    /// A rough token estimate (4 characters per token), used to bound history.
    pub fn estimate_tokens(&self) -> u64 {
        let chars = serde_json::to_string(self).map(|s| s.len()).unwrap_or(0);
        (chars as u64).div_ceil(4)
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// What one model call produced.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub content: Vec<Content>,
    pub stop_reason: String,
    pub usage: Usage,
}

impl Completion {
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|c| match c {
                Content::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
    pub fn tool_calls(&self) -> Vec<(String, String, Value)> {
        self.content
            .iter()
            .filter_map(|c| match c {
                Content::ToolCall {
                    id,
                    name,
                    arguments,
                } => Some((id.clone(), name.clone(), arguments.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Why a call failed; the failover classes advance to the next model (spec §10.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    Auth,
    RateLimit,
    Billing,
    Overloaded,
    Timeout,
    Server,
    Format,
    Aborted,
    Other,
}

impl FailReason {
    pub fn is_failover(self) -> bool {
        !matches!(self, FailReason::Aborted | FailReason::Other)
    }
    pub fn label(self) -> &'static str {
        match self {
            FailReason::Auth => "auth",
            FailReason::RateLimit => "rate_limit",
            FailReason::Billing => "billing",
            FailReason::Overloaded => "overloaded",
            FailReason::Timeout => "timeout",
            FailReason::Server => "server_error",
            FailReason::Format => "format",
            FailReason::Aborted => "aborted",
            FailReason::Other => "unknown",
        }
    }
    /// Classifies an HTTP status the way the original's failover classifier does.
    pub fn from_status(status: u16) -> FailReason {
        match status {
            401 | 403 => FailReason::Auth,
            402 => FailReason::Billing,
            408 => FailReason::Timeout,
            429 => FailReason::RateLimit,
            503 | 529 => FailReason::Overloaded,
            400 | 404 | 422 => FailReason::Format,
            s if s >= 500 => FailReason::Server,
            _ => FailReason::Other,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct LlmError {
    pub reason: FailReason,
    pub message: String,
}

impl LlmError {
    pub fn new(reason: FailReason, message: impl Into<String>) -> LlmError {
        LlmError {
            reason,
            message: message.into(),
        }
    }

    /// An HTTP error body from either API: `{error:{type,message}}` or `{error:"..."}`.
    pub fn from_http(status: u16, body: &str) -> LlmError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let detail = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => {
                    let kind = other.get("type").and_then(Value::as_str).unwrap_or("");
                    let msg = other.get("message").and_then(Value::as_str).unwrap_or("");
                    format!("{kind} {msg}").trim().to_string()
                }
            })
            .unwrap_or_else(|| body.chars().take(200).collect());
        let mut reason = FailReason::from_status(status);
        let lower = detail.to_lowercase();
        if lower.contains("overloaded") {
            reason = FailReason::Overloaded;
        } else if lower.contains("credit balance") || lower.contains("insufficient_quota") {
            reason = FailReason::Billing;
        }
        LlmError::new(reason, format!("HTTP {status}: {detail}"))
    }

    pub fn from_transport(e: &reqwest::Error) -> LlmError {
        let reason = if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() {
            FailReason::Timeout
        } else {
            FailReason::Other
        };
        // reqwest's Display includes the URL, which may carry a key for some providers;
        // strip it.
        let mut msg = e.to_string();
        if let Some(url) = e.url() {
            msg = msg
                .replace(&format!(" ({url})"), "")
                .replace(url.as_str(), "<url>");
        }
        LlmError::new(reason, format!("request failed: {msg}"))
    }
}

/// A resolved model call target.
#[derive(Debug, Clone)]
pub struct Target {
    pub provider: String,
    pub model: String,
    pub api: Api,
    pub base_url: String,
    pub api_key: Option<crate::config::secrets::Secret>,
    pub headers: Vec<(String, String)>,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    AnthropicMessages,
    OpenAiCompletions,
}

/// One model call's inputs.
pub struct Request<'a> {
    pub system: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
}

/// How long a stream may stay silent before the call counts as timed out.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Streams one completion; `on_text` gets each text delta as it arrives.
pub async fn complete(
    http: &reqwest::Client,
    target: &Target,
    req: &Request<'_>,
    on_text: &(dyn Fn(&str) + Send + Sync),
) -> Result<Completion, LlmError> {
    match target.api {
        Api::AnthropicMessages => anthropic::complete(http, target, req, on_text).await,
        Api::OpenAiCompletions => openai::complete(http, target, req, on_text).await,
    }
}

/// The HTTP client shared by every provider and channel: rustls with the webpki roots, so
/// the binary needs no system certificate store (a DynamicUser sandbox has none).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("clawdbot-rs/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .build()
        .unwrap_or_default()
}

/// The error for a provider without a key, naming every place one can come from.
/// A tool call's streamed JSON (`{}` when the model sent none). `field` is what the
/// provider calls it (Anthropic `input`, OpenAI `arguments`), for the error.
pub(crate) fn tool_arguments(raw: &str, field: &str) -> Result<Value, LlmError> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(raw)
        .map_err(|e| LlmError::new(FailReason::Format, format!("bad tool {field} JSON: {e}")))
}

pub(crate) fn missing_key(provider: &str) -> LlmError {
    LlmError::new(
        FailReason::Auth,
        format!(
            "No API key found for provider \"{provider}\"; set {env} (or {env}_FILE), models.providers.{provider}.apiKeyFile, a systemd credential {provider}-api-key, or run `clawdbot onboard`",
            env = providers::env_var(provider)
        ),
    )
}

/// Adds the target's extra headers, sends `body` and returns the event stream; a non-2xx
/// answer becomes an [`LlmError`] classified by status (what fallback decides on).
pub(crate) async fn open_stream(
    mut rb: reqwest::RequestBuilder,
    target: &Target,
    body: &Value,
) -> Result<sse::SseReader, LlmError> {
    for (k, v) in &target.headers {
        rb = rb.header(k, v);
    }
    let resp = rb
        .json(body)
        .send()
        .await
        .map_err(|e| LlmError::from_transport(&e))?;
    let status = resp.status().as_u16();
    if status >= 300 {
        let text = resp.text().await.unwrap_or_default();
        return Err(LlmError::from_http(status, &text));
    }
    Ok(sse::SseReader::new(resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transcript_shape_matches_the_original() {
        let m = Message::Assistant {
            content: vec![
                Content::Text { text: "hi".into() },
                Content::ToolCall {
                    id: "t1".into(),
                    name: "ls".into(),
                    arguments: json!({}),
                },
            ],
            stop_reason: Some("toolUse".into()),
            provider: Some("anthropic".into()),
            model: Some("claude".into()),
            usage: None,
            timestamp: 5,
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["stopReason"], "toolUse");
        assert_eq!(v["content"][1]["type"], "toolCall");
        let r: Message = serde_json::from_value(json!({"role": "toolResult", "toolCallId": "t1", "toolName": "ls", "content": [{"type": "text", "text": "a"}, {"type": "image", "data": "x"}], "isError": true})).unwrap();
        assert!(matches!(r, Message::ToolResult { is_error: true, .. }));
        assert_eq!(r.text(), "a");
    }

    #[test]
    fn http_errors_are_classified() {
        let e = LlmError::from_http(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(e.reason, FailReason::Overloaded);
        assert_eq!(e.message, "HTTP 529: overloaded_error Overloaded");
        assert_eq!(LlmError::from_http(429, "{}").reason, FailReason::RateLimit);
        assert_eq!(LlmError::from_http(401, "nope").reason, FailReason::Auth);
        assert!(FailReason::Server.is_failover() && !FailReason::Aborted.is_failover());
    }

    #[tokio::test]
    async fn a_provider_without_a_key_fails_as_auth_and_says_where_keys_come_from() {
        let target = Target {
            provider: "openrouter".into(),
            model: "m".into(),
            api: Api::OpenAiCompletions,
            base_url: "http://127.0.0.1:9".into(),
            api_key: None,
            headers: vec![],
            max_tokens: 10,
        };
        let req = Request {
            system: "",
            messages: &[],
            tools: &[],
        };
        let e = complete(&http_client(), &target, &req, &|_| {})
            .await
            .unwrap_err();
        assert_eq!(e.reason, FailReason::Auth);
        for part in [
            "OPENROUTER_API_KEY",
            "OPENROUTER_API_KEY_FILE",
            "models.providers.openrouter.apiKeyFile",
            "openrouter-api-key",
            "clawdbot onboard",
        ] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
    }
}
