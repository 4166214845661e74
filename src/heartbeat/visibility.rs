//! What a heartbeat may show on a channel (the original's `heartbeat` blocks under
//! `channels.defaults`, `channels.<channel>` and `channels.<channel>.accounts.<id>`, most
//! specific first): `showOk` (send `HEARTBEAT_OK` to the chat, default off),
//! `showAlerts` (send the model's alert, default on), `useIndicator` (put an
//! `indicatorType` on the `heartbeat` event, default on).
//!
//! And the original's duplicate rule: an alert whose text equals the last one delivered
//! from that session within 24 hours is not sent again (the model repeating the same
//! items every half hour is nagging, not news).

use serde_json::Value;

/// The window in which the same alert text is not sent twice.
pub const DUPLICATE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visibility {
    pub show_ok: bool,
    pub show_alerts: bool,
    pub use_indicator: bool,
}

impl Default for Visibility {
    fn default() -> Visibility {
        Visibility {
            show_ok: false,
            show_alerts: true,
            use_indicator: true,
        }
    }
}

impl Visibility {
    /// Nothing to show and nothing to indicate: the beat is not worth a model call.
    pub fn nothing(&self) -> bool {
        !self.show_ok && !self.show_alerts && !self.use_indicator
    }
}

/// The visibility for `channel`/`account` (None: no target, the defaults).
pub fn resolve(resolved: &Value, target: Option<(&str, &str)>) -> Visibility {
    let d = Visibility::default();
    let Some((channel, account)) = target else {
        return d;
    };
    let layers = [
        resolved.pointer(&format!("/channels/{channel}/accounts/{account}/heartbeat")),
        resolved.pointer(&format!("/channels/{channel}/heartbeat")),
        resolved.pointer("/channels/defaults/heartbeat"),
    ];
    let pick = |key: &str, default: bool| {
        layers
            .iter()
            .flatten()
            .find_map(|l| l.get(key).and_then(Value::as_bool))
            .unwrap_or(default)
    };
    Visibility {
        show_ok: pick("showOk", d.show_ok),
        show_alerts: pick("showAlerts", d.show_alerts),
        use_indicator: pick("useIndicator", d.use_indicator),
    }
}

/// Whether `text` repeats the session's last delivered heartbeat (its
/// `lastHeartbeatText` / `lastHeartbeatSentAt`) within the window, at `now`.
pub fn is_duplicate(entry: Option<&serde_json::Map<String, Value>>, text: &str, now: i64) -> bool {
    let Some(e) = entry else { return false };
    let prev = e
        .get("lastHeartbeatText")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    let at = e.get("lastHeartbeatSentAt").and_then(Value::as_i64);
    !prev.is_empty() && prev == text.trim() && at.is_some_and(|t| now - t < DUPLICATE_WINDOW_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_most_specific_layer_wins_key_by_key() {
        let cfg = json!({"channels": {
            "defaults": {"heartbeat": {"showOk": true, "useIndicator": false}},
            "telegram": {"heartbeat": {"showAlerts": false},
                         "accounts": {"work": {"heartbeat": {"showOk": false}}}},
        }});
        assert_eq!(
            resolve(&cfg, Some(("telegram", "work"))),
            Visibility {
                show_ok: false,
                show_alerts: false,
                use_indicator: false
            }
        );
        assert_eq!(
            resolve(&cfg, Some(("telegram", "default"))),
            Visibility {
                show_ok: true,
                show_alerts: false,
                use_indicator: false
            }
        );
        assert_eq!(
            resolve(&cfg, Some(("discord", "default"))),
            Visibility {
                show_ok: true,
                show_alerts: true,
                use_indicator: false
            }
        );
        assert_eq!(resolve(&cfg, None), Visibility::default());
        assert!(
            Visibility {
                show_ok: false,
                show_alerts: false,
                use_indicator: false
            }
            .nothing()
        );
    }

    #[test]
    fn the_same_alert_within_a_day_is_a_duplicate() {
        let e = json!({"lastHeartbeatText": "Rent is due", "lastHeartbeatSentAt": 1_000})
            .as_object()
            .unwrap()
            .clone();
        assert!(is_duplicate(Some(&e), " Rent is due\n", 2_000));
        assert!(!is_duplicate(
            Some(&e),
            "Rent is due",
            1_000 + DUPLICATE_WINDOW_MS
        ));
        assert!(!is_duplicate(Some(&e), "Rent is overdue", 2_000));
        assert!(!is_duplicate(None, "Rent is due", 2_000));
        let empty = json!({"lastHeartbeatText": "", "lastHeartbeatSentAt": 1_000});
        assert!(!is_duplicate(empty.as_object(), "", 2_000));
    }
}
