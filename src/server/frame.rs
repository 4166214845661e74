//! A request frame after the handshake: the checks every frame passes before a method
//! sees it (JSON, the frame shape in AJV's wording, `connect` only first, the caller's
//! role and scopes). Pure, with no gateway state, so that the fuzzer
//! (`fuzz/fuzz_targets/frame.rs`) drives exactly the code a peer reaches, and the
//! connection loop parses each frame once.

use serde_json::Value;

use crate::protocol::{self, RpcError};

/// A well-formed request from an authorized caller.
#[derive(Debug)]
pub struct Request {
    pub id: String,
    pub method: String,
    pub params: Option<Value>,
}

/// Why a frame is refused: the id to answer under (`invalid` when it has none) and
/// the error.
#[derive(Debug)]
pub struct Refusal {
    pub id: String,
    pub error: Box<RpcError>,
}

impl Refusal {
    /// The `res` frame that answers it.
    pub fn frame(&self) -> String {
        protocol::res_err(&self.id, &self.error)
    }
}

/// Methods that may wait (for a run, a Telegram send, a session to go idle): they run
/// beside the connection's loop; everything else is answered in order.
pub const WAITING: &[&str] = &["agent", "agent.wait", "send", "sessions.delete"];

/// Whether `method` runs beside the connection's loop (see [`WAITING`]).
pub fn waits(method: &str) -> bool {
    WAITING.contains(&method)
}

/// Parses and checks one text frame from a connected caller.
pub fn parse(text: &str, role: &str, scopes: &[String]) -> Result<Request, Refusal> {
    let frame: Value = serde_json::from_str(text).map_err(|e| Refusal {
        id: "invalid".into(),
        error: Box::new(RpcError::invalid(format!("invalid request frame: {e}"))),
    })?;
    let id = valid_request(&frame).map_err(|msg| Refusal {
        id: frame
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("invalid")
            .to_string(),
        error: Box::new(RpcError::invalid(format!("invalid request frame: {msg}"))),
    })?;
    let Value::Object(mut obj) = frame else {
        unreachable!("valid_request accepts objects only")
    };
    let method = obj
        .remove("method")
        .and_then(|m| m.as_str().map(str::to_string))
        .unwrap_or_default();
    let refuse = |msg: String| Refusal {
        id: id.clone(),
        error: Box::new(RpcError::invalid(msg)),
    };
    if method == "connect" {
        return Err(refuse("connect is only valid as the first request".into()));
    }
    protocol::authorize_method(&method, role, scopes).map_err(refuse)?;
    Ok(Request {
        id,
        method,
        params: obj.remove("params"),
    })
}

/// The first frame of a connection, which must be `connect`.
#[derive(Debug)]
pub enum First {
    Connect {
        id: String,
        params: Option<Value>,
    },
    /// Not JSON: the connection closes without a word (1000), as the original does.
    NotJson,
    /// JSON but not a request frame: closes with 1008 "invalid request frame".
    Invalid,
    /// A request for another method: answered with an error, then 1008.
    NotConnect {
        id: String,
    },
}

/// Classifies the first frame (the handshake itself is `server::handshake`).
pub fn first(text: &str) -> First {
    let Ok(mut frame) = serde_json::from_str::<Value>(text) else {
        return First::NotJson;
    };
    let Ok(id) = valid_request(&frame) else {
        return First::Invalid;
    };
    if frame["method"] != "connect" {
        return First::NotConnect { id };
    }
    First::Connect {
        id,
        params: frame.get_mut("params").map(Value::take),
    }
}

/// `Ok(id)` for a well-formed request frame; `Err(message)` in AJV form otherwise.
fn valid_request(frame: &Value) -> Result<String, String> {
    let Some(obj) = frame.as_object() else {
        return Err("at root: must be object".into());
    };
    let mut errs = vec![];
    for k in obj.keys() {
        if !["type", "id", "method", "params"].contains(&k.as_str()) {
            errs.push(format!("at root: unexpected property '{k}'"));
        }
    }
    if obj.get("type").and_then(Value::as_str) != Some("req") {
        errs.push("at /type: must be equal to constant".into());
    }
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if id.is_none() {
        errs.push("at /id: must be non-empty string".into());
    }
    if obj
        .get("method")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errs.push("at /method: must be non-empty string".into());
    }
    match (id, errs.is_empty()) {
        (Some(id), true) => Ok(id.to_string()),
        _ => Err(errs.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Vec<String> {
        vec!["operator.admin".into()]
    }

    #[test]
    fn a_request_passes_with_its_params() {
        let r = parse(
            r#"{"type":"req","id":"1","method":"health","params":{"a":1}}"#,
            "operator",
            &admin(),
        )
        .unwrap();
        assert_eq!((r.id.as_str(), r.method.as_str()), ("1", "health"));
        assert_eq!(r.params.unwrap()["a"], 1);
    }

    #[test]
    fn refusals_name_the_problem_and_keep_the_id() {
        let e = parse("{", "operator", &admin()).unwrap_err();
        assert_eq!(e.id, "invalid");
        assert!(
            e.error.message.starts_with("invalid request frame:"),
            "{e:?}"
        );
        let e = parse(
            r#"{"type":"event","id":"7","method":"x","extra":1}"#,
            "operator",
            &admin(),
        )
        .unwrap_err();
        assert_eq!(e.id, "7");
        assert!(e.error.message.contains("unexpected property 'extra'"));
        assert!(e.error.message.contains("at /type"));
        let e = parse(
            r#"{"type":"req","id":"8","method":"connect"}"#,
            "operator",
            &admin(),
        )
        .unwrap_err();
        assert_eq!(
            e.error.message,
            "connect is only valid as the first request"
        );
    }

    #[test]
    fn the_first_frame_must_be_connect() {
        assert!(matches!(first("nope"), First::NotJson));
        assert!(matches!(first("[]"), First::Invalid));
        assert!(
            matches!(first(r#"{"type":"req","id":"1","method":"health"}"#), First::NotConnect { id } if id == "1")
        );
        match first(r#"{"type":"req","id":"c","method":"connect","params":{"x":1}}"#) {
            First::Connect { id, params } => {
                assert_eq!((id.as_str(), params.unwrap()["x"].as_i64()), ("c", Some(1)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn waiting_methods_are_the_ones_that_block() {
        assert!(waits("agent.wait") && waits("send") && !waits("health"));
    }
}
