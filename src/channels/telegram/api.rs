//! The slice of the Telegram Bot API the gateway uses (`getMe`, `getUpdates`,
//! `sendMessage`, `sendChatAction`). Requests go to `<apiRoot>/bot<token>/<method>`;
//! the token is part of the URL, so errors are built here without it and never
//! carry reqwest's URL.

use std::time::Duration;

use serde_json::{Value, json};

use super::decode::{self, Envelope};
use crate::config::secrets::Secret;

/// Seconds a `getUpdates` long poll waits on Telegram's side.
pub const POLL_TIMEOUT_S: u64 = 30;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Telegram answered `ok:false`.
    #[error("Telegram {method} failed ({code}): {description}")]
    Api {
        method: &'static str,
        code: i64,
        description: String,
        retry_after: Option<u64>,
    },
    /// The request did not get an answer (network, timeout, bad JSON).
    #[error("Telegram {method}: {message}")]
    Transport {
        method: &'static str,
        message: String,
    },
}

impl ApiError {
    pub fn code(&self) -> Option<i64> {
        match self {
            ApiError::Api { code, .. } => Some(*code),
            ApiError::Transport { .. } => None,
        }
    }
    /// 401/404 on `getMe`: the token is wrong; retrying will not help.
    pub fn is_bad_token(&self) -> bool {
        matches!(self.code(), Some(401 | 404))
    }
    /// A 400 that says Telegram could not parse our HTML.
    pub fn is_parse_error(&self) -> bool {
        matches!(self, ApiError::Api { code: 400, description, .. }
            if description.contains("can't parse entities") || description.contains("parse"))
    }
}

#[derive(Clone)]
pub struct Bot {
    http: reqwest::Client,
    root: String,
    token: Secret,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot").field("root", &self.root).finish()
    }
}

impl Bot {
    pub fn new(http: reqwest::Client, root: &str, token: Secret) -> Bot {
        Bot {
            http,
            root: root.trim_end_matches('/').to_string(),
            token,
        }
    }

    pub async fn call(
        &self,
        method: &'static str,
        body: Value,
        timeout: Duration,
    ) -> Result<Value, ApiError> {
        let url = format!("{}/bot{}/{method}", self.root, self.token.expose());
        let transport = |e: reqwest::Error| ApiError::Transport {
            method,
            message: if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                format!("cannot connect to {}", self.root)
            } else {
                e.without_url().to_string()
            },
        };
        let resp = self
            .http
            .post(url)
            .json(&body)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let not_json = |e: String| ApiError::Transport {
            method,
            message: format!("HTTP {status} with a body that is not Telegram JSON ({e})"),
        };
        let body = resp
            .bytes()
            .await
            .map_err(|e| not_json(e.without_url().to_string()))?;
        match decode::envelope(status, &body).map_err(not_json)? {
            Envelope::Ok(result) => Ok(result),
            Envelope::Err {
                code,
                description,
                retry_after,
            } => Err(ApiError::Api {
                method,
                code,
                description,
                retry_after,
            }),
        }
    }

    pub async fn get_me(&self) -> Result<Value, ApiError> {
        self.call("getMe", json!({}), Duration::from_secs(20)).await
    }

    pub async fn get_updates(&self, offset: Option<i64>) -> Result<Vec<Value>, ApiError> {
        let mut body = json!({"timeout": POLL_TIMEOUT_S, "allowed_updates": ["message"]});
        if let Some(o) = offset {
            body["offset"] = json!(o);
        }
        let v = self
            .call("getUpdates", body, Duration::from_secs(POLL_TIMEOUT_S + 15))
            .await?;
        Ok(decode::updates(v))
    }

    pub async fn send_message(&self, body: Value) -> Result<Value, ApiError> {
        self.call("sendMessage", body, Duration::from_secs(30))
            .await
    }

    pub async fn send_typing(&self, chat_id: i64) {
        let _ = self
            .call(
                "sendChatAction",
                json!({"chat_id": chat_id, "action": "typing"}),
                Duration::from_secs(10),
            )
            .await;
    }
}
