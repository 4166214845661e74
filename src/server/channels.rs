//! Channel status for `channels.status` and `health`: every configured channel account,
//! with the live state its runner reports into the [`Registry`]. A configured channel
//! this gateway does not run is reported honestly as not running, with the reason,
//! instead of being hidden.

use serde_json::{Map, Value, json};

use crate::channels::Registry;
use crate::channels::accounts;
use crate::channels::kinds::KINDS;
use crate::util::now_ms;

const NOT_YET: &str = "channel not implemented by this gateway yet";

/// A configured channel: (id, label, account ids, runs in this build).
type Configured = (String, String, Vec<String>, bool);

/// Every `channels.<id>` section that is not disabled: the kinds this build runs (in
/// [`KINDS`] order, their accounts as the runners see them), then any other channel
/// the config names, reported as not running so it is not silently ignored.
fn configured_channels(resolved: &Value, registry: &Registry) -> Vec<Configured> {
    let empty = Map::new();
    let channels = resolved
        .get("channels")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let on = |id: &str| {
        channels
            .get(id)
            .is_some_and(|s| s.get("enabled") != Some(&Value::Bool(false)))
    };
    let mut out: Vec<Configured> = KINDS
        .iter()
        .filter_map(|k| {
            let mut ids: Vec<String> = if on(k.id) {
                accounts::sections(resolved, k)
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect()
            } else {
                vec![]
            };
            // Started from the environment alone (`DISCORD_BOT_TOKEN`, no section).
            if !channels.contains_key(k.id) {
                ids.extend(registry.accounts_of(k.id));
            }
            (!ids.is_empty()).then(|| (k.id.to_string(), k.label.to_string(), ids, true))
        })
        .collect();
    for id in channels.keys() {
        if id != "defaults" && on(id) && !KINDS.iter().any(|k| k.id == id) {
            out.push((id.clone(), id.clone(), vec!["default".into()], false));
        }
    }
    out
}

/// One account's snapshot: the runner's live state, or why there is none.
fn account(channel: &str, id: &str, runs: bool, registry: &Registry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("accountId".into(), json!(id));
    m.insert("enabled".into(), json!(true));
    m.insert("configured".into(), json!(true));
    match registry.get(channel, id) {
        Some(live) => m.extend(live.to_json()),
        None => {
            m.insert("running".into(), json!(false));
            m.insert("connected".into(), json!(false));
            let why = if runs {
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
    for (id, label, accounts, runs) in configured_channels(resolved, registry) {
        let accs: Map<String, Value> = accounts
            .iter()
            .map(|a| (a.clone(), Value::Object(account(&id, a, runs, registry))))
            .collect();
        let mut summary = accs
            .values()
            .next()
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        summary.insert("accounts".into(), Value::Object(accs));
        channels.insert(id.clone(), Value::Object(summary));
        order.push(Value::from(id.clone()));
        labels.insert(id, Value::from(label));
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
    for (id, label, accs, runs) in configured_channels(resolved, registry) {
        order.push(Value::from(id.clone()));
        labels.insert(id.clone(), Value::from(label.clone()));
        meta.push(json!({"id": id, "label": label, "detailLabel": label}));
        let snaps: Vec<Map<String, Value>> = accs
            .iter()
            .map(|a| account(&id, a, runs, registry))
            .collect();
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
        channels.insert(id.clone(), Value::Object(summary));
        accounts.insert(
            id.clone(),
            Value::Array(snaps.into_iter().map(Value::Object).collect()),
        );
        defaults.insert(
            id,
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
        let cfg = json!({"channels": {"telegram": {"botToken": "x", "accounts": {"work": {}}}, "matrix": {"token": "y"}}});
        let reg = Registry::default();
        reg.update("telegram", "work", |s| {
            s.running = true;
            s.connected = true;
        });
        let s = status(&cfg, &reg);
        assert_eq!(s["channelOrder"], json!(["telegram", "matrix"]));
        let tg = s["channelAccounts"]["telegram"].as_array().unwrap();
        assert_eq!(tg.len(), 2);
        assert_eq!(tg[0]["running"], json!(false));
        assert_eq!(tg[1]["accountId"], json!("work"));
        assert_eq!(tg[1]["running"], json!(true));
        assert_eq!(s["channels"]["matrix"]["lastError"], json!(NOT_YET));
        let (h, order, _) = health_channels(&json!({}), &Registry::default());
        assert_eq!(h, json!({}));
        assert_eq!(order, json!([]));
        // An account started from the environment alone (no section) is still shown.
        let (h, order, _) = health_channels(&json!({}), &reg);
        assert_eq!(order, json!(["telegram"]));
        assert_eq!(h["telegram"]["accounts"]["work"]["running"], json!(true));
    }
}
