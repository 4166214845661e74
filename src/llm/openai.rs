//! OpenAI Chat Completions with streaming (`POST {baseUrl}/chat/completions`), which is
//! also what OpenRouter, Ollama, vLLM, Groq and most "OpenAI-compatible" servers speak.

use serde_json::{Value, json};

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
    let mut out = Completion::default();
    let mut text = String::new();
    // By tool-call index: (id, name, arguments JSON so far).
    let mut calls: Vec<(String, String, String)> = vec![];
    let mut finished = false;
    while let Some(ev) = sse.next().await {
        let ev = ev?;
        if ev.data.trim() == "[DONE]" {
            finished = true;
            break;
        }
        let Ok(data) = serde_json::from_str::<Value>(&ev.data) else {
            continue;
        };
        if let Some(err) = data.get("error") {
            return Err(LlmError::from_http(
                err["code"].as_u64().unwrap_or(500) as u16,
                &json!({"error": err}).to_string(),
            ));
        }
        if let Some(u) = data.get("usage").filter(|u| u.is_object()) {
            out.usage.input = u["prompt_tokens"].as_u64().unwrap_or(0);
            out.usage.output = u["completion_tokens"].as_u64().unwrap_or(0);
        }
        let Some(choice) = data["choices"].get(0) else {
            continue;
        };
        let delta = &choice["delta"];
        if let Some(piece) = delta["content"].as_str().filter(|s| !s.is_empty()) {
            text.push_str(piece);
            on_text(piece);
        }
        if let Some(tcs) = delta["tool_calls"].as_array() {
            for tc in tcs {
                let idx = tc["index"].as_u64().unwrap_or(calls.len() as u64) as usize;
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
    }
    if !finished && out.stop_reason.is_empty() {
        return Err(LlmError::new(
            FailReason::Timeout,
            "the stream ended before the message was complete",
        ));
    }
    if !text.is_empty() {
        out.content.push(Content::Text { text });
    }
    for (i, (id, name, args)) in calls.into_iter().enumerate() {
        let arguments = if args.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&args).map_err(|e| {
                LlmError::new(FailReason::Format, format!("bad tool arguments JSON: {e}"))
            })?
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Api;

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
