//! What the gateway reads out of Bot API bytes, kept apart from what it does with them:
//! the response envelope (`{ok, result}` / `{ok:false, error_code, description,
//! parameters.retry_after}`), and from one update the message fields the access policy
//! and routing need. Every field may be missing or of the wrong type: a stranger can
//! send anything, and a proxy in front of Telegram can answer anything. Pure, so the
//! fuzzer (`fuzz/fuzz_targets/telegram.rs`) drives exactly this code.

use serde_json::Value;

/// The envelope of one Bot API answer, from its HTTP status and body.
#[derive(Debug, PartialEq)]
pub enum Envelope {
    Ok(Value),
    Err {
        code: i64,
        description: String,
        retry_after: Option<u64>,
    },
}

/// Decodes an answer; `Err` when the body is not Telegram JSON (a proxy's HTML page).
pub fn envelope(status: u16, body: &[u8]) -> Result<Envelope, String> {
    let mut v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if v["ok"] == Value::Bool(true) {
        return Ok(Envelope::Ok(
            v.get_mut("result").map(Value::take).unwrap_or_default(),
        ));
    }
    Ok(Envelope::Err {
        code: v["error_code"].as_i64().unwrap_or(status as i64),
        // An empty description (found by fuzzing) would make an error line that ends in
        // a colon and says nothing.
        description: v["description"]
            .as_str()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .unwrap_or("no description")
            .to_string(),
        retry_after: v["parameters"]["retry_after"].as_u64(),
    })
}

/// The updates in a `getUpdates` result (anything but an array is none).
pub fn updates(result: Value) -> Vec<Value> {
    match result {
        Value::Array(a) => a,
        _ => vec![],
    }
}

/// The chat an update belongs to (0 when it has none), for the per-chat queue.
pub fn chat_of(update: &Value) -> i64 {
    update
        .pointer("/message/chat/id")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A text message, as the access policy and routing see it.
#[derive(Debug)]
pub struct Message<'a> {
    pub update_id: i64,
    pub message_id: Option<i64>,
    pub chat_id: i64,
    /// A private chat (DM); everything else is handled as a group.
    pub is_dm: bool,
    pub chat_title: Option<&'a str>,
    /// The sender object as sent (for allowlists and pairing metadata).
    pub from: &'a Value,
    /// The sender's numeric id as text ("" when absent).
    pub sender: String,
    pub first_name: Option<&'a str>,
    /// The text, or a media caption.
    pub text: &'a str,
    /// The id of the sender of the message this one replies to.
    pub reply_to_from: Option<&'a Value>,
}

impl Message<'_> {
    /// The sender, as the shared access rules see it.
    pub fn sender(&self) -> crate::channels::conversation::Sender {
        crate::channels::conversation::Sender {
            id: self.sender.clone(),
            username: self.from["username"].as_str().map(String::from),
            display: self.first_name.map(String::from),
        }
    }
}

/// The message in an update, or `None` when it has no text worth answering.
pub fn message(update: &Value) -> Option<Message<'_>> {
    let msg = update.get("message")?;
    let text = msg["text"]
        .as_str()
        .or_else(|| msg["caption"].as_str())
        .unwrap_or_default();
    if text.trim().is_empty() {
        return None;
    }
    let from = &msg["from"];
    Some(Message {
        update_id: update["update_id"].as_i64().unwrap_or_default(),
        message_id: msg["message_id"].as_i64(),
        chat_id: msg["chat"]["id"].as_i64().unwrap_or_default(),
        is_dm: msg["chat"]["type"].as_str() == Some("private"),
        chat_title: msg["chat"]["title"].as_str(),
        from,
        sender: from["id"]
            .as_i64()
            .map(|i| i.to_string())
            .unwrap_or_default(),
        first_name: from["first_name"].as_str(),
        text,
        reply_to_from: msg.pointer("/reply_to_message/from/id"),
    })
}

/// Whether `text` mentions `@bot_username` (any case), and the text with the first
/// mention removed. A bot without a username is never mentioned.
pub fn mention(text: &str, bot_username: &str) -> (bool, String) {
    if bot_username.is_empty() {
        return (false, text.to_string());
    }
    let handle = format!("@{}", bot_username.to_ascii_lowercase());
    // ASCII lowercasing keeps every byte offset, so `i` is a boundary in `text` too.
    match text.to_ascii_lowercase().find(&handle) {
        Some(i) => {
            let mut out = text.to_string();
            out.replace_range(i..i + handle.len(), "");
            (true, out)
        }
        None => (false, text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_ok_err_and_not_json() {
        assert_eq!(
            envelope(200, br#"{"ok":true,"result":[1]}"#).unwrap(),
            Envelope::Ok(json!([1]))
        );
        assert_eq!(
            envelope(
                429,
                br#"{"ok":false,"description":"Too Many Requests","parameters":{"retry_after":3}}"#
            )
            .unwrap(),
            Envelope::Err {
                code: 429,
                description: "Too Many Requests".into(),
                retry_after: Some(3)
            }
        );
        assert!(envelope(502, b"<html>Bad Gateway</html>").is_err());
        assert_eq!(
            envelope(400, br#"{"ok":false,"description":" "}"#).unwrap(),
            Envelope::Err {
                code: 400,
                description: "no description".into(),
                retry_after: None
            }
        );
    }

    #[test]
    fn message_fields_of_any_type() {
        let u = json!({"update_id": 5, "message": {"message_id": 9, "text": "hi",
            "chat": {"id": -3, "type": "group", "title": "T"}, "from": {"id": 7, "first_name": "Ann"},
            "reply_to_message": {"from": {"id": 42}}}});
        let m = message(&u).unwrap();
        assert_eq!(
            (m.update_id, m.chat_id, m.is_dm, m.sender.as_str()),
            (5, -3, false, "7")
        );
        assert_eq!(m.reply_to_from, Some(&json!(42)));
        assert!(message(&json!({"message": {"text": "  "}})).is_none());
        assert!(message(&json!({"message": "nonsense"})).is_none());
        let weird = json!({"message": {"caption": "c", "chat": {"id": "x"}, "from": 3}});
        let m = message(&weird).unwrap();
        assert_eq!((m.chat_id, m.sender.as_str(), m.text), (0, "", "c"));
    }

    #[test]
    fn mention_any_case_removed_once() {
        assert_eq!(
            mention("Hey @MyBot hi @mybot", "mybot"),
            (true, "Hey  hi @mybot".into())
        );
        assert_eq!(mention("héllo @bot", "Bot"), (true, "héllo ".into()));
        assert_eq!(mention("@bot", ""), (false, "@bot".into()));
        assert!(!mention("@bo", "bot").0);
    }
}
