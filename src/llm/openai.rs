//! OpenAI Chat Completions with streaming (`POST {baseUrl}/chat/completions`), which is
//! also what OpenRouter, Ollama, vLLM, Groq and most "OpenAI-compatible" servers speak.

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{Completion, Content, FailReason, LlmError, Message, Request, Target};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub fn body(target: &Target, req: &Request<'_>) -> Value {
    let mut messages: Vec<Value> = vec![];
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for m in req.messages {
        match m {
            Message::User { .. } => messages.push(json!({"role": "user", "content": m.text()})),
            Message::Assistant { content, .. } => {
                let calls: Vec<Value> = content
                    .iter()
                    .filter_map(|c| match c {
                        Content::ToolCall {
                            id,
                            name,
                            arguments,
                        } => Some(json!({
                            "id": id,
                            "type": "function",
                            "function": {"name": name, "arguments": arguments.to_string()},
                        })),
                        _ => None,
                    })
                    .collect();
                let text = m.text();
                let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
                if !calls.is_empty() {
                    msg["tool_calls"] = json!(calls);
                }
                messages.push(msg);
            }
            Message::ToolResult { tool_call_id, .. } => messages
                .push(json!({"role": "tool", "tool_call_id": tool_call_id, "content": m.text()})),
        }
    }
    let mut body = json!({
        "model": target.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": target.max_tokens,
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect();
    }
    body
}

pub async fn complete(
    http: &reqwest::Client,
    target: &Target,
    req: &Request<'_>,
    on_text: &(dyn Fn(&str) + Send + Sync),
) -> Result<Completion, LlmError> {
    let url = format!("{}/chat/completions", target.base_url.trim_end_matches('/'));
    let mut rb = http.post(&url).header("accept", "text/event-stream");
    match &target.api_key {
        Some(k) => rb = rb.bearer_auth(k.expose()),
        None if super::providers::needs_key(&target.provider) => {
            return Err(super::missing_key(&target.provider));
        }
        None => {}
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

/// More parallel tool calls than any model makes in one turn; an index past it is a
/// broken or hostile endpoint, and growing a table to its size would exhaust memory.
pub const MAX_TOOL_CALLS: usize = 128;

/// The Chat Completions stream, one event at a time: text deltas, tool-call fragments
/// by index, usage, the finish reason, errors sent mid-stream. Apart from the HTTP
/// call so that the fuzzer (`fuzz/fuzz_targets/sse.rs`) drives it.
#[derive(Default)]
pub struct Decoder {
    out: Completion,
    text: String,
    /// By tool-call index: (id, name, arguments JSON so far).
    calls: Vec<(String, String, String)>,
    finished: bool,
}

impl Decoder {
    /// Takes one event; `Ok(true)` at `[DONE]`.
    pub fn event(
        &mut self,
        ev: &SseEvent,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<bool, LlmError> {
        if ev.data.trim() == "[DONE]" {
            self.finished = true;
            return Ok(true);
        }
        let Ok(data) = serde_json::from_str::<Value>(&ev.data) else {
            return Ok(false);
        };
        if let Some(err) = data.get("error") {
            let code = err["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500);
            return Err(LlmError::from_http(
                code,
                &json!({"error": err}).to_string(),
            ));
        }
        let out = &mut self.out;
        if let Some(u) = data.get("usage").filter(|u| u.is_object()) {
            out.usage.input = u["prompt_tokens"].as_u64().unwrap_or(0);
            out.usage.output = u["completion_tokens"].as_u64().unwrap_or(0);
        }
        let Some(choice) = data["choices"].get(0) else {
            return Ok(false);
        };
        let delta = &choice["delta"];
        if let Some(piece) = delta["content"].as_str().filter(|s| !s.is_empty()) {
            self.text.push_str(piece);
            on_text(piece);
        }
        if let Some(tcs) = delta["tool_calls"].as_array() {
            for tc in tcs {
                let calls = &mut self.calls;
                let idx = tc["index"].as_u64().unwrap_or(calls.len() as u64);
                let idx = usize::try_from(idx).ok().filter(|i| *i < MAX_TOOL_CALLS).ok_or_else(|| {
                    LlmError::new(
                        FailReason::Format,
                        format!("tool call index {idx} is out of range (at most {MAX_TOOL_CALLS} calls per turn)"),
                    )
                })?;
                while calls.len() <= idx {
                    calls.push(Default::default());
                }
                let slot = &mut calls[idx];
                if let Some(id) = tc["id"].as_str() {
                    slot.0 = id.into();
                }
                if let Some(n) = tc["function"]["name"].as_str() {
                    slot.1.push_str(n);
                }
                if let Some(a) = tc["function"]["arguments"].as_str() {
                    slot.2.push_str(a);
                }
            }
        }
        if let Some(r) = choice["finish_reason"].as_str() {
            out.stop_reason = match r {
                "tool_calls" | "function_call" => "toolUse",
                "length" => "length",
                _ => "stop",
            }
            .into();
        }
        Ok(false)
    }

    /// The completion, once the stream ended.
    pub fn finish(self) -> Result<Completion, LlmError> {
        let mut out = self.out;
        if !self.finished && out.stop_reason.is_empty() {
            return Err(LlmError::new(
                FailReason::Timeout,
                "the stream ended before the message was complete",
            ));
        }
        if !self.text.is_empty() {
            out.content.push(Content::Text { text: self.text });
        }
        for (i, (id, name, args)) in self.calls.into_iter().enumerate() {
            let arguments = super::tool_arguments(&args, "arguments")?;
            let id = if id.is_empty() {
                format!("call_{i}")
            } else {
                id
            };
            out.content.push(Content::ToolCall {
                id,
                name,
                arguments,
            });
        }
        if out.stop_reason.is_empty() {
            out.stop_reason = "stop".into();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Api;

    fn ev(data: &str) -> SseEvent {
        SseEvent {
            event: String::new(),
            data: data.into(),
        }
    }

    #[test]
    fn a_tool_call_index_past_the_cap_is_a_format_error_not_an_allocation() {
        let mut d = Decoder::default();
        let huge = r#"{"choices":[{"delta":{"tool_calls":[{"index":1000000000000,"function":{"name":"x"}}]}}]}"#;
        let e = d.event(&ev(huge), &|_| {}).unwrap_err();
        assert!(e.message.contains("out of range"), "{}", e.message);
        let mut d = Decoder::default();
        let ok = r#"{"choices":[{"delta":{"tool_calls":[{"index":2,"id":"c","function":{"name":"x","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#;
        assert!(!d.event(&ev(ok), &|_| {}).unwrap());
        assert!(d.event(&ev("[DONE]"), &|_| {}).unwrap());
        let c = d.finish().unwrap();
        assert_eq!(c.tool_calls().len(), 3);
        assert_eq!(c.stop_reason, "toolUse");
    }

    #[test]
    fn tool_calls_and_results_use_the_openai_shape() {
        let target = Target {
            provider: "openai".into(),
            model: "gpt-x".into(),
            api: Api::OpenAiCompletions,
            base_url: DEFAULT_BASE_URL.into(),
            api_key: None,
            headers: vec![],
            max_tokens: 100,
        };
        let msgs = vec![
            Message::user("hi"),
            Message::Assistant {
                content: vec![Content::ToolCall {
                    id: "c1".into(),
                    name: "read".into(),
                    arguments: json!({"path": "a"}),
                }],
                stop_reason: None,
                provider: None,
                model: None,
                usage: None,
                timestamp: 0,
            },
            Message::ToolResult {
                tool_call_id: "c1".into(),
                tool_name: "read".into(),
                content: vec![Content::Text { text: "x".into() }],
                is_error: false,
                timestamp: 0,
            },
        ];
        let b = body(
            &target,
            &Request {
                system: "s",
                messages: &msgs,
                tools: &[],
            },
        );
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(
            b["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"a\"}"
        );
        assert_eq!(b["messages"][2]["content"], Value::Null);
        assert_eq!(b["messages"][3]["role"], "tool");
        assert!(b.get("tools").is_none());
    }
}
