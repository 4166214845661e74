//! The slice of the Discord REST API (v10) the gateway uses: who am I, where is the
//! Gateway, send a message, show "typing…", open a DM.
//!
//! Unlike Telegram the token travels in the `Authorization` header, not the URL, but
//! errors are still built here (reqwest's text stripped of its URL, server text scrubbed
//! of the token) so that nothing this module returns can carry the secret. Rate limits
//! are reported, never slept on: the caller knows whether a reply is still worth sending.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::secrets::Secret;

pub const DEFAULT_API_ROOT: &str = "https://discord.com/api/v10";

/// Largest response body read; Discord's answers for these routes are a few KiB, so
/// anything bigger is a broken or hostile server, not data worth buffering.
const MAX_BODY: usize = 1 << 20;
/// Whole-request deadline: a stuck connection must not hold a reply forever.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Discord asks bots to identify themselves this way (anything else may be blocked).
fn user_agent() -> String {
    format!(
        "DiscordBot (https://github.com/clawdbot, {})",
        env!("CARGO_PKG_VERSION")
    )
}

#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    root: String,
    token: Secret,
}

impl fmt::Debug for Rest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rest").field("root", &self.root).finish()
    }
}

/// A failed REST call. `status` is None when no HTTP answer arrived (network, timeout)
/// or the request was refused before sending (`refused`).
#[derive(Debug, Clone)]
pub struct RestError {
    pub status: Option<u16>,
    /// Discord's JSON error code (50013 Missing Permissions, …), when the body had one.
    pub code: Option<i64>,
    pub message: String,
    /// Seconds to wait before retrying, from a 429's body or `Retry-After` header.
    pub retry_after: Option<f64>,
    /// Refused locally (e.g. a channel id that is not a snowflake): nothing was sent,
    /// and retrying cannot help.
    pub refused: bool,
}

impl RestError {
    fn refused(message: String) -> RestError {
        RestError {
            status: None,
            code: None,
            message,
            retry_after: None,
            refused: true,
        }
    }
    fn transport(message: String) -> RestError {
        RestError {
            status: None,
            code: None,
            message,
            retry_after: None,
            refused: false,
        }
    }
    /// 401: the token is wrong or revoked; no retry will fix it.
    pub fn is_bad_token(&self) -> bool {
        self.status == Some(401)
    }
    /// Worth retrying later: no answer at all, a server error, or a rate limit.
    pub fn transient(&self) -> bool {
        match self.status {
            None => !self.refused,
            Some(s) => s == 429 || (500..600).contains(&s),
        }
    }
}

impl fmt::Display for RestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.status, self.code) {
            (Some(s), Some(c)) => write!(f, "Discord API {s} (code {c}): {}", self.message),
            (Some(s), None) => write!(f, "Discord API {s}: {}", self.message),
            (None, _) => write!(f, "Discord API: {}", self.message),
        }
    }
}

impl std::error::Error for RestError {}

/// A path segment must be a snowflake (1–20 ASCII digits): a hostile id such as
/// `../../x` or `1?x` would otherwise rewrite the request URL.
pub fn check_snowflake<'a>(what: &str, id: &'a str) -> Result<&'a str, RestError> {
    if (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(RestError::refused(format!(
            "{what} is not a Discord snowflake id ({} chars)",
            id.len()
        )))
    }
}

impl Rest {
    pub fn new(http: reqwest::Client, api_root: &str, token: Secret) -> Rest {
        Rest {
            http,
            root: api_root.trim_end_matches('/').to_string(),
            token,
        }
    }

    /// `GET /users/@me`: the bot user (id, username, …); a cheap token check.
    pub async fn me(&self) -> Result<Value, RestError> {
        self.call(reqwest::Method::GET, "/users/@me", None).await
    }

    /// `GET /gateway/bot` → its `url` (e.g. `wss://gateway.discord.gg`).
    pub async fn gateway_url(&self) -> Result<String, RestError> {
        let v = self
            .call(reqwest::Method::GET, "/gateway/bot", None)
            .await?;
        match v.get("url").and_then(Value::as_str) {
            Some(u) if u.starts_with("ws://") || u.starts_with("wss://") => Ok(u.to_string()),
            _ => Err(RestError::transport(
                "GET /gateway/bot answered without a ws(s):// url".into(),
            )),
        }
    }

    /// `POST /channels/{id}/messages` with `body` (`content`, `message_reference`, …);
    /// the created message object.
    pub async fn create_message(&self, channel_id: &str, body: &Value) -> Result<Value, RestError> {
        let id = check_snowflake("channel id", channel_id)?;
        let path = format!("/channels/{id}/messages");
        self.call(reqwest::Method::POST, &path, Some(body)).await
    }

    /// `POST /channels/{id}/typing` (204): "typing…" for ~10 s or until we send.
    pub async fn typing(&self, channel_id: &str) -> Result<(), RestError> {
        let id = check_snowflake("channel id", channel_id)?;
        let path = format!("/channels/{id}/typing");
        self.call(reqwest::Method::POST, &path, None)
            .await
            .map(|_| ())
    }

    /// `POST /users/@me/channels {"recipient_id"}` → the DM channel's id (Discord
    /// returns the existing DM if there is one).
    pub async fn open_dm(&self, user_id: &str) -> Result<String, RestError> {
        let id = check_snowflake("user id", user_id)?;
        let v = self
            .call(
                reqwest::Method::POST,
                "/users/@me/channels",
                Some(&json!({"recipient_id": id})),
            )
            .await?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| RestError::transport("DM channel answer without an id".into()))
    }

    /// Removes the token from text that came from elsewhere (a server message, a
    /// library error), in case it was echoed.
    fn scrub(&self, s: String) -> String {
        let t = self.token.expose();
        if t.is_empty() || !s.contains(t) {
            s
        } else {
            s.replace(t, "***")
        }
    }

    /// One request; 2xx → the JSON body (Null for an empty 204), else a [`RestError`].
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        let what = format!("{method} {path}");
        let transport = |e: reqwest::Error| {
            RestError::transport(self.scrub(if e.is_timeout() {
                format!("{what}: timed out")
            } else if e.is_connect() {
                format!("{what}: cannot connect to {}", self.root)
            } else {
                format!("{what}: {}", e.without_url())
            }))
        };
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.root))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Bot {}", self.token.expose()),
            )
            .header(reqwest::header::USER_AGENT, user_agent())
            .timeout(TIMEOUT);
        req = match body {
            Some(b) => req.json(b),
            // Discord wants a length on bodiless POSTs (411 otherwise on some fronts).
            None if method == reqwest::Method::POST => {
                req.header(reqwest::header::CONTENT_LENGTH, "0")
            }
            None => req,
        };
        let mut resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let header_retry = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(self.too_big(&what, status));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(self.too_big(&what, status));
            }
            bytes.extend_from_slice(&chunk);
        }
        let parsed: Option<Value> = if bytes.is_empty() {
            None
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        if (200..300).contains(&status) {
            return match (parsed, bytes.is_empty()) {
                (Some(v), _) => Ok(v),
                (None, true) => Ok(Value::Null),
                (None, false) => Err(RestError {
                    status: Some(status),
                    code: None,
                    message: format!("{what}: answer is not JSON"),
                    retry_after: None,
                    refused: false,
                }),
            };
        }
        let j = parsed.unwrap_or(Value::Null);
        let message = j
            .get("message")
            .and_then(Value::as_str)
            .map(|m| self.scrub(m.chars().take(300).collect()))
            .unwrap_or_else(|| {
                format!(
                    "{what}: HTTP {status}{}",
                    if bytes.is_empty() {
                        ""
                    } else {
                        " (body not Discord JSON)"
                    }
                )
            });
        Err(RestError {
            status: Some(status),
            code: j.get("code").and_then(Value::as_i64),
            message,
            retry_after: j
                .get("retry_after")
                .and_then(Value::as_f64)
                .or(header_retry)
                .filter(|s| s.is_finite() && *s >= 0.0),
            refused: false,
        })
    }

    fn too_big(&self, what: &str, status: u16) -> RestError {
        RestError {
            status: Some(status),
            code: None,
            message: format!("{what}: answer larger than {MAX_BODY} bytes"),
            retry_after: None,
            refused: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_only_digits_1_to_20() {
        assert!(check_snowflake("id", "123456789012345678").is_ok());
        assert!(check_snowflake("id", "1").is_ok());
        assert!(check_snowflake("id", &"9".repeat(20)).is_ok());
        for bad in ["", "../../x", "1?x", "12/3", "１２", "1 2", &"9".repeat(21)] {
            let e = check_snowflake("id", bad).unwrap_err();
            assert!(e.refused && !e.transient(), "{bad:?}");
            assert!(!e.message.contains(bad) || bad.is_empty());
        }
    }

    #[test]
    fn display_and_classes() {
        let e = RestError {
            status: Some(403),
            code: Some(50013),
            message: "Missing Permissions".into(),
            retry_after: None,
            refused: false,
        };
        assert_eq!(
            e.to_string(),
            "Discord API 403 (code 50013): Missing Permissions"
        );
        assert!(!e.transient() && !e.is_bad_token());
        let mut e2 = e.clone();
        e2.status = Some(401);
        assert!(e2.is_bad_token());
        e2.status = Some(429);
        assert!(e2.transient());
        e2.status = Some(502);
        assert!(e2.transient());
        assert!(RestError::transport("x".into()).transient());
    }

    #[test]
    fn debug_hides_token() {
        let r = Rest::new(
            reqwest::Client::new(),
            "http://x/api/v10/",
            Secret::new("SEKRIT.token"),
        );
        assert!(!format!("{r:?}").contains("SEKRIT"));
        assert_eq!(r.root, "http://x/api/v10");
        assert_eq!(r.scrub("a SEKRIT.token b".into()), "a *** b");
    }
}
