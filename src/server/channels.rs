//! Channel status. Channels themselves (Telegram, Discord) arrive with the assistant
//! work; until then a configured channel is reported honestly as configured but not
//! running, with the reason, instead of being hidden.

use serde_json::{Map, Value, json};

use crate::util::now_ms;

/// Channels this gateway knows, in display order, with their labels.
const KNOWN: &[(&str, &str)] = &[("telegram", "Telegram"), ("discord", "Discord")];

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
            let mut accounts = vec!["default".to_string()];
            if let Some(acc) = section.get("accounts").and_then(Value::as_object) {
                accounts.extend(acc.keys().filter(|k| *k != "default").cloned());
            }
            Some((*id, *label, accounts))
        })
        .collect()
}

/// `(channels, channelOrder, channelLabels)` for the health summary.
pub fn health_channels(resolved: &Value) -> (Value, Value, Value) {
    let mut channels = Map::new();
    let mut order = vec![];
    let mut labels = Map::new();
    for (id, label, accounts) in configured_channels(resolved) {
        let accs: Map<String, Value> = accounts
            .iter()
            .map(|a| (a.clone(), json!({"accountId": a, "configured": true, "running": false, "lastError": NOT_YET})))
            .collect();
        channels.insert(
            id.into(),
            json!({"accountId": "default", "configured": true, "running": false, "lastError": NOT_YET, "accounts": accs}),
        );
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
pub fn status(resolved: &Value) -> Value {
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
        channels.insert(
            id.into(),
            json!({"configured": true, "running": false, "lastError": NOT_YET}),
        );
        accounts.insert(
            id.into(),
            Value::Array(
                accs.iter()
                    .map(|a| json!({"accountId": a, "enabled": true, "configured": true, "running": false, "connected": false, "lastError": NOT_YET}))
                    .collect(),
            ),
        );
        defaults.insert(id.into(), Value::from("default"));
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
    fn configured_channels_are_reported_not_running() {
        let cfg = json!({"channels": {"telegram": {"botToken": "x", "accounts": {"work": {}}}, "discord": {"enabled": false}}});
        let s = status(&cfg);
        assert_eq!(s["channelOrder"], json!(["telegram"]));
        assert_eq!(
            s["channelAccounts"]["telegram"].as_array().unwrap().len(),
            2
        );
        assert_eq!(s["channels"]["telegram"]["running"], json!(false));
        let (h, order, _) = health_channels(&json!({}));
        assert_eq!(h, json!({}));
        assert_eq!(order, json!([]));
    }
}
