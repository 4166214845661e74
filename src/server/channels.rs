//! Channel status for `channels.status` and `health`: every configured channel account,
//! with the live state its runner reports into the [`Registry`]. A configured channel
//! this gateway does not run yet (Discord) is reported honestly as not running, with
//! the reason, instead of being hidden.

use serde_json::{Map, Value, json};

use crate::channels::Registry;
use crate::util::now_ms;

/// Channels this gateway knows, in display order, with their labels.
const KNOWN: &[(&str, &str)] = &[("telegram", "Telegram"), ("discord", "Discord")];
/// Channels with a runner in this build.
const RUNNING: &[&str] = &["telegram"];

const NOT_YET: &str = "channel not implemented by this gateway yet";

fn configured_channels(resolved: &Value) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let Some(channels) = resolved.get("channels").and_then(Value::as_object) else {
        return vec![];
    };
    KNOWN
        .iter()
        .filter_map(|(id, label)| {
            let section = channels.get(*id)?;
            if section.get("enabled") == Some(&Value::Bool(false)) {
                return None;
            }
            let listed = section.get("accounts").and_then(Value::as_object);
            let mut accounts = vec![];
            if listed.is_none_or(|a| a.is_empty() || a.contains_key("default"))
                || section.get("botToken").is_some()
                || section.get("tokenFile").is_some()
            {
                accounts.push("default".to_string());
            }
            if let Some(acc) = listed {
                accounts.extend(acc.keys().filter(|k| *k != "default").cloned());
            }
            Some((*id, *label, accounts))
        })
        .collect()
}

/// One account's snapshot: the runner's live state, or why there is none.
fn account(channel: &str, id: &str, registry: &Registry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("accountId".into(), json!(id));
    m.insert("enabled".into(), json!(true));
    m.insert("configured".into(), json!(true));
    match registry.get(channel, id) {
        Some(live) => m.extend(live.to_json()),
        None => {
            m.insert("running".into(), json!(false));
            m.insert("connected".into(), json!(false));
            let why = if RUNNING.contains(&channel) {
                "not started (no bot token, or CLAWDBOT_SKIP_CHANNELS=1)"
            } else {
                NOT_YET
            };
            m.insert("lastError".into(), json!(why));
        }
    }
    m
}

/// `(channels, channelOrder, channelLabels)` for the health summary.
pub fn health_channels(resolved: &Value, registry: &Registry) -> (Value, Value, Value) {
    let mut channels = Map::new();
    let mut order = vec![];
    let mut labels = Map::new();
    for (id, label, accounts) in configured_channels(resolved) {
        let accs: Map<String, Value> = accounts
            .iter()
            .map(|a| (a.clone(), Value::Object(account(id, a, registry))))
            .collect();
        let mut summary = accs
            .values()
            .next()
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        summary.insert("accounts".into(), Value::Object(accs));
        channels.insert(id.into(), Value::Object(summary));
        order.push(Value::from(id));
        labels.insert(id.into(), Value::from(label));
    }
    (
        Value::Object(channels),
        Value::Array(order),
        Value::Object(labels),
    )
}

/// The `channels.status` result (spec §3.2).
pub fn status(resolved: &Value, registry: &Registry) -> Value {
    let mut channels = Map::new();
    let mut accounts = Map::new();
    let mut defaults = Map::new();
    let mut labels = Map::new();
    let mut order = vec![];
    let mut meta = vec![];
    for (id, label, accs) in configured_channels(resolved) {
        order.push(Value::from(id));
        labels.insert(id.into(), Value::from(label));
        meta.push(json!({"id": id, "label": label, "detailLabel": label}));
        let snaps: Vec<Map<String, Value>> =
            accs.iter().map(|a| account(id, a, registry)).collect();
        let first = snaps.first().cloned().unwrap_or_default();
        let mut summary = Map::new();
        summary.insert("configured".into(), json!(true));
        for k in [
            "running",
            "connected",
            "lastError",
            "bot",
            "mode",
            "lastStartAt",
            "lastInboundAt",
            "lastOutboundAt",
        ] {
            if let Some(v) = first.get(k) {
                summary.insert(k.into(), v.clone());
            }
        }
        channels.insert(id.into(), Value::Object(summary));
        accounts.insert(
            id.into(),
            Value::Array(snaps.into_iter().map(Value::Object).collect()),
        );
        defaults.insert(
            id.into(),
            Value::from(accs.first().cloned().unwrap_or_else(|| "default".into())),
        );
    }
    json!({
        "ts": now_ms(),
        "channelOrder": order,
        "channelLabels": labels,
        "channelMeta": meta,
        "channels": channels,
        "channelAccounts": accounts,
        "channelDefaultAccountId": defaults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_channels_report_live_state_or_the_reason() {
        let cfg = json!({"channels": {"telegram": {"botToken": "x", "accounts": {"work": {}}}, "discord": {"token": "y"}}});
        let reg = Registry::default();
        reg.update("telegram", "work", |s| {
            s.running = true;
            s.connected = true;
        });
        let s = status(&cfg, &reg);
        assert_eq!(s["channelOrder"], json!(["telegram", "discord"]));
        let tg = s["channelAccounts"]["telegram"].as_array().unwrap();
        assert_eq!(tg.len(), 2);
        assert_eq!(tg[0]["running"], json!(false));
        assert_eq!(tg[1]["accountId"], json!("work"));
        assert_eq!(tg[1]["running"], json!(true));
        assert_eq!(s["channels"]["discord"]["lastError"], json!(NOT_YET));
        let (h, order, _) = health_channels(&json!({}), &reg);
        assert_eq!(h, json!({}));
        assert_eq!(order, json!([]));
    }
}
