//! Anthropic Messages API with streaming (`POST {baseUrl}/v1/messages`, SSE).

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{Completion, Content, FailReason, LlmError, Message, Request, Target};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The request body: tool results become `tool_result` blocks of a user turn, and
/// consecutive results share one turn, as the API requires.
pub fn body(target: &Target, req: &Request<'_>) -> Value {
    let mut messages: Vec<Value> = vec![];
    for m in req.messages {
        let (role, blocks) = match m {
            Message::User { content, .. } => ("user", text_blocks(content)),
            Message::Assistant { content, .. } => {
                let blocks: Vec<Value> = content
                    .iter()
                    .filter_map(|c| match c {
                        Content::Text { text } if !text.is_empty() => {
                            Some(json!({"type": "text", "text": text}))
                        }
                        Content::ToolCall {
                            id,
                            name,
                            arguments,
                        } => Some(
                            json!({"type": "tool_use", "id": id, "name": name, "input": arguments}),
                        ),
                        _ => None,
                    })
                    .collect();
                ("assistant", blocks)
            }
            Message::ToolResult {
                tool_call_id,
                is_error,
                ..
            } => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": tool_call_id,
                    "content": m.text(),
                    "is_error": is_error,
                })],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(arr) = last["content"].as_array_mut() {
                    arr.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }
    let mut body = json!({
        "model": target.model,
        "max_tokens": target.max_tokens,
        "stream": true,
        "messages": messages,
    });
    if !req.system.is_empty() {
        body["system"] = json!(req.system);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    body
}

fn text_blocks(content: &[Content]) -> Vec<Value> {
    content
        .iter()
        .filter_map(|c| match c {
            Content::Text { text } if !text.is_empty() => {
                Some(json!({"type": "text", "text": text}))
            }
            _ => None,
        })
        .collect()
}

pub async fn complete(
    http: &reqwest::Client,
    target: &Target,
    req: &Request<'_>,
    on_text: &(dyn Fn(&str) + Send + Sync),
) -> Result<Completion, LlmError> {
    let Some(key) = &target.api_key else {
        return Err(super::missing_key(&target.provider));
    };
    let url = format!("{}/v1/messages", target.base_url.trim_end_matches('/'));
    let mut rb = http
        .post(&url)
        .header("anthropic-version", "2023-06-01")
        .header("accept", "text/event-stream");
    // Setup tokens from `claude setup-token` are OAuth bearer tokens, not API keys.
    if key.expose().starts_with("sk-ant-oat") {
        rb = rb
            .bearer_auth(key.expose())
            .header("anthropic-beta", "oauth-2025-04-20");
    } else {
        rb = rb.header("x-api-key", key.expose());
    }
    let mut sse = super::open_stream(rb, target, &body(target, req)).await?;
    let mut dec = Decoder::default();
    while let Some(ev) = sse.next().await {
        if dec.event(&ev?, on_text)? {
            break;
        }
    }
    dec.finish()
}

/// The Messages API stream, one event at a time: text and tool-use blocks, usage, the
/// stop reason, and errors sent mid-stream. Apart from the HTTP call so that the
/// fuzzer (`fuzz/fuzz_targets/sse.rs`) drives it with arbitrary events.
#[derive(Default)]
pub struct Decoder {
    out: Completion,
    /// Per content-block index: text so far, or (id, name, partial JSON).
    blocks: Vec<Block>,
}

impl Decoder {
    /// Takes one event; `Ok(true)` at `message_stop`. Events that are not JSON are
    /// skipped (pings, comments), as the original does.
    pub fn event(
        &mut self,
        ev: &SseEvent,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<bool, LlmError> {
        let (out, blocks) = (&mut self.out, &mut self.blocks);
        let data: Value = match serde_json::from_str(&ev.data) {
            Ok(v) => v,
            Err(_) => return Ok(false),
        };
        let kind = data["type"].as_str().unwrap_or(ev.event.as_str());
        match kind {
            "message_start" => {
                out.usage.input = data["message"]["usage"]["input_tokens"]
                    .as_u64()
                    .unwrap_or(0);
            }
            "content_block_start" => {
                let cb = &data["content_block"];
                let block = match cb["type"].as_str() {
                    Some("tool_use") => Block::Tool {
                        id: cb["id"].as_str().unwrap_or_default().into(),
                        name: cb["name"].as_str().unwrap_or_default().into(),
                        json: String::new(),
                    },
                    Some("text") => Block::Text(cb["text"].as_str().unwrap_or_default().into()),
                    _ => Block::Ignored,
                };
                blocks.push(block);
            }
            "content_block_delta" => {
                let d = &data["delta"];
                match (blocks.last_mut(), d["type"].as_str()) {
                    (Some(Block::Text(t)), Some("text_delta")) => {
                        let piece = d["text"].as_str().unwrap_or_default();
                        t.push_str(piece);
                        on_text(piece);
                    }
                    (Some(Block::Tool { json, .. }), Some("input_json_delta")) => {
                        json.push_str(d["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = data["delta"]["stop_reason"].as_str() {
                    out.stop_reason = map_stop(r).into();
                }
                if let Some(n) = data["usage"]["output_tokens"].as_u64() {
                    out.usage.output = n;
                }
            }
            "error" => {
                let e = &data["error"];
                let kind = e["type"].as_str().unwrap_or("error");
                let reason = match kind {
                    "overloaded_error" => FailReason::Overloaded,
                    "rate_limit_error" => FailReason::RateLimit,
                    "authentication_error" | "permission_error" => FailReason::Auth,
                    "api_error" => FailReason::Server,
                    _ => FailReason::Other,
                };
                return Err(LlmError::new(
                    reason,
                    format!("{kind}: {}", e["message"].as_str().unwrap_or("")),
                ));
            }
            "message_stop" => return Ok(true),
            _ => {}
        }
        Ok(false)
    }

    /// The completion, once the stream ended.
    pub fn finish(self) -> Result<Completion, LlmError> {
        let mut out = self.out;
        for b in self.blocks {
            match b {
                Block::Text(text) if !text.is_empty() => out.content.push(Content::Text { text }),
                Block::Tool { id, name, json } => {
                    let arguments = super::tool_arguments(&json, "input")?;
                    out.content.push(Content::ToolCall {
                        id,
                        name,
                        arguments,
                    });
                }
                _ => {}
            }
        }
        if out.stop_reason.is_empty() {
            return Err(LlmError::new(
                FailReason::Timeout,
                "the stream ended before the message was complete",
            ));
        }
        Ok(out)
    }
}

enum Block {
    Text(String),
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Ignored,
}

/// Stop reasons in the original's vocabulary.
fn map_stop(r: &str) -> &'static str {
    match r {
        "tool_use" => "toolUse",
        "max_tokens" => "length",
        "end_turn" | "stop_sequence" => "stop",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Api, ToolSpec};

    #[test]
    fn tool_results_merge_into_one_user_turn() {
        let target = Target {
            provider: "anthropic".into(),
            model: "claude-x".into(),
            api: Api::AnthropicMessages,
            base_url: DEFAULT_BASE_URL.into(),
            api_key: None,
            headers: vec![],
            max_tokens: 1024,
        };
        let msgs = vec![
            Message::user("list"),
            Message::Assistant {
                content: vec![
                    Content::ToolCall {
                        id: "a".into(),
                        name: "ls".into(),
                        arguments: json!({}),
                    },
                    Content::ToolCall {
                        id: "b".into(),
                        name: "ls".into(),
                        arguments: json!({"path": "x"}),
                    },
                ],
                stop_reason: Some("toolUse".into()),
                provider: None,
                model: None,
                usage: None,
                timestamp: 0,
            },
            Message::ToolResult {
                tool_call_id: "a".into(),
                tool_name: "ls".into(),
                content: vec![Content::Text { text: "1".into() }],
                is_error: false,
                timestamp: 0,
            },
            Message::ToolResult {
                tool_call_id: "b".into(),
                tool_name: "ls".into(),
                content: vec![Content::Text { text: "2".into() }],
                is_error: true,
                timestamp: 0,
            },
        ];
        let tools = [ToolSpec {
            name: "ls".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }];
        let b = body(
            &target,
            &Request {
                system: "sys",
                messages: &msgs,
                tools: &tools,
            },
        );
        let m = b["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[2]["role"], "user");
        assert_eq!(m[2]["content"][1]["tool_use_id"], "b");
        assert_eq!(m[2]["content"][1]["is_error"], true);
        assert_eq!(b["system"], "sys");
        assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
    }
}
