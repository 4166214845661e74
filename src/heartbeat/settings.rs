//! Which agents beat, how often, and what a reply means: the original's rules, pure, so
//! `health`, `status` and the runner agree and the unit tests need no clock.
//!
//! - `agents.list[].heartbeat` is laid over `agents.defaults.heartbeat` key by key; when
//!   any agent has its own block, only those agents beat, else only the default agent.
//! - `every` is a duration (`30m`; bare numbers are minutes); `0`/`off` disables.
//! - `activeHours {start, end, timezone}`: beats only inside `[start, end)` local time
//!   (an end before the start wraps past midnight; equal or unparsable bounds: always).
//! - A reply that starts or ends with `HEARTBEAT_OK` (also wrapped in `**…**` or tags) is
//!   an acknowledgement when what is left is at most `ackMaxChars` (300) characters.

use chrono::{TimeZone, Timelike};
use serde_json::{Value, json};

use crate::config::Config;
use crate::config::model::{
    ActiveHours, DEFAULT_HEARTBEAT_ACK_MAX_CHARS, DEFAULT_HEARTBEAT_EVERY,
    DEFAULT_HEARTBEAT_PROMPT, Heartbeat, normalize_agent_id, parse_duration_ms,
};

pub const TOKEN: &str = "HEARTBEAT_OK";

/// One agent's effective heartbeat settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub agent_id: String,
    pub enabled: bool,
    pub every: String,
    pub every_ms: u64,
    pub prompt: String,
    pub target: String,
    pub to: Option<String>,
    pub account_id: Option<String>,
    pub model: Option<String>,
    pub session: Option<String>,
    pub ack_max_chars: u64,
    pub active_hours: Option<ActiveHours>,
}

impl Settings {
    /// The `heartbeat` object of a `health` agent entry.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "enabled": self.enabled,
            "every": self.every,
            "everyMs": self.every_ms,
            "prompt": self.prompt,
            "target": self.target,
            "ackMaxChars": self.ack_max_chars,
        });
        if let Some(m) = &self.model {
            v["model"] = json!(m);
        }
        v
    }
}

fn merged(defaults: Option<&Heartbeat>, own: Option<&Heartbeat>) -> Heartbeat {
    let d = defaults.cloned().unwrap_or_default();
    let Some(o) = own else { return d };
    Heartbeat {
        every: o.every.clone().or(d.every),
        active_hours: o.active_hours.clone().or(d.active_hours),
        model: o.model.clone().or(d.model),
        session: o.session.clone().or(d.session),
        target: o.target.clone().or(d.target),
        to: o.to.clone().or(d.to),
        account_id: o.account_id.clone().or(d.account_id),
        prompt: o.prompt.clone().or(d.prompt),
        ack_max_chars: o.ack_max_chars.or(d.ack_max_chars),
        include_reasoning: o.include_reasoning.or(d.include_reasoning),
    }
}

/// Every configured agent's settings (disabled ones included, for the summaries).
pub fn all(cfg: &Config) -> Vec<Settings> {
    let explicit = cfg.agents.list.iter().any(|a| a.heartbeat.is_some());
    let default_id = cfg.default_agent_id();
    cfg.agent_ids()
        .into_iter()
        .map(|id| {
            let entry = cfg
                .agents
                .list
                .iter()
                .find(|a| normalize_agent_id(&a.id) == id);
            let own = entry.and_then(|a| a.heartbeat.as_ref());
            let hb = merged(cfg.agents.defaults.heartbeat.as_ref(), own);
            let every = hb
                .every
                .clone()
                .unwrap_or_else(|| DEFAULT_HEARTBEAT_EVERY.into());
            let every_ms = parse_duration_ms(&every).unwrap_or(0);
            let chosen = if explicit {
                own.is_some()
            } else {
                id == default_id
            };
            Settings {
                enabled: chosen && every_ms > 0,
                every,
                every_ms,
                prompt: hb
                    .prompt
                    .filter(|p| !p.trim().is_empty())
                    .unwrap_or_else(|| DEFAULT_HEARTBEAT_PROMPT.into()),
                target: hb.target.unwrap_or_else(|| "last".into()),
                to: hb.to,
                account_id: hb.account_id,
                model: hb.model,
                session: hb.session.filter(|s| s != "main"),
                ack_max_chars: hb.ack_max_chars.unwrap_or(DEFAULT_HEARTBEAT_ACK_MAX_CHARS),
                active_hours: hb.active_hours,
                agent_id: id,
            }
        })
        .collect()
}

/// Minutes after midnight of `HH:MM` (`24:00` only where `allow24`).
fn minutes(s: &str, allow24: bool) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if allow24 => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// The minute of the day at `now_ms` in `tz` (`None`/`local`/`user`: the host's zone).
fn minute_of_day(now_ms: i64, tz: Option<&str>) -> Option<u32> {
    let utc = chrono::Utc.timestamp_millis_opt(now_ms).single()?;
    let (h, m) = match tz.map(str::trim) {
        None | Some("" | "local" | "user") => {
            let t = utc.with_timezone(&chrono::Local);
            (t.hour(), t.minute())
        }
        Some(name) => {
            let zone: chrono_tz::Tz = name.parse().ok()?;
            let t = utc.with_timezone(&zone);
            (t.hour(), t.minute())
        }
    };
    Some(h * 60 + m)
}

/// Whether a beat at `now_ms` falls inside the active hours.
pub fn within_active_hours(active: Option<&ActiveHours>, now_ms: i64) -> bool {
    let Some(a) = active else { return true };
    let (Some(start), Some(end)) = (
        a.start.as_deref().and_then(|s| minutes(s, false)),
        a.end.as_deref().and_then(|s| minutes(s, true)),
    ) else {
        return true;
    };
    if start == end {
        return true;
    }
    let Some(now) = minute_of_day(now_ms, a.timezone.as_deref()) else {
        return true;
    };
    if end > start {
        now >= start && now < end
    } else {
        now >= start || now < end
    }
}

/// A `HEARTBEAT.md` with nothing to do: blank lines, headings, empty list items.
pub fn effectively_empty(content: &str) -> bool {
    content.lines().all(|l| {
        let t = l.trim();
        if t.is_empty() {
            return true;
        }
        let hashes = t.len() - t.trim_start_matches('#').len();
        if hashes > 0 && t[hashes..].chars().next().is_none_or(char::is_whitespace) {
            return true;
        }
        let rest = t.trim_start_matches(['-', '*', '+']);
        rest.len() < t.len() && matches!(rest.trim(), "" | "[ ]" | "[]" | "[x]" | "[X]")
    })
}

/// What a heartbeat reply asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Nothing (empty).
    Empty,
    /// An acknowledgement: not delivered.
    Ack,
    /// Deliver this text.
    Deliver(String),
}

fn strip_edges(s: &str) -> Option<String> {
    let mut text = s.trim().to_string();
    let mut stripped = false;
    loop {
        let t = text.trim();
        if let Some(rest) = t.strip_prefix(TOKEN) {
            text = rest.trim_start().to_string();
        } else if let Some(rest) = t.strip_suffix(TOKEN) {
            text = rest.trim_end().to_string();
        } else {
            break;
        }
        stripped = true;
    }
    stripped.then(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Light markup around the token (`**HEARTBEAT_OK**`, `<b>HEARTBEAT_OK</b>`) still counts.
fn unmarked(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .trim()
        .trim_matches(['*', '`', '~', '_'])
        .to_string()
}

pub fn classify(reply: &str, ack_max_chars: u64) -> Reply {
    let t = reply.trim();
    if t.is_empty() {
        return Reply::Empty;
    }
    let rest = strip_edges(t).or_else(|| strip_edges(&unmarked(t)));
    match rest {
        None => Reply::Deliver(t.to_string()),
        Some(r) if r.chars().count() as u64 <= ack_max_chars => Reply::Ack,
        Some(r) => Reply::Deliver(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_the_default_agent_or_the_explicit_ones_beat() {
        let s = all(&cfg(json!({})));
        assert_eq!(s.len(), 1);
        assert!(s[0].enabled);
        assert_eq!(
            (s[0].every_ms, s[0].target.as_str(), s[0].ack_max_chars),
            (1_800_000, "last", 300)
        );
        let s = all(&cfg(
            json!({"agents": {"defaults": {"heartbeat": {"every": "0m"}}}}),
        ));
        assert!(!s[0].enabled);
        let s = all(&cfg(json!({"agents": {
            "defaults": {"heartbeat": {"every": "2h", "target": "telegram", "to": "42"}},
            "list": [{"id": "main", "default": true}, {"id": "ops", "heartbeat": {"every": "5m", "prompt": "check"}}]}})));
        assert!(!s[0].enabled);
        assert!(s[1].enabled);
        assert_eq!(
            (s[1].every_ms, s[1].prompt.as_str(), s[1].to.as_deref()),
            (300_000, "check", Some("42"))
        );
        let off = all(&cfg(
            json!({"agents": {"defaults": {"heartbeat": {"every": "off"}}}}),
        ));
        assert!(!off[0].enabled);
    }

    #[test]
    fn active_hours_in_a_zone_and_across_midnight() {
        let at = |h: u32, m: u32| {
            chrono::Utc
                .with_ymd_and_hms(2026, 6, 1, h, m, 0)
                .unwrap()
                .timestamp_millis()
        };
        let ah = |s: &str, e: &str, tz: &str| ActiveHours {
            start: Some(s.into()),
            end: Some(e.into()),
            timezone: Some(tz.into()),
        };
        let day = ah("08:00", "24:00", "UTC");
        assert!(within_active_hours(Some(&day), at(8, 0)));
        assert!(within_active_hours(Some(&day), at(23, 59)));
        assert!(!within_active_hours(Some(&day), at(7, 59)));
        let night = ah("22:00", "06:00", "UTC");
        assert!(within_active_hours(Some(&night), at(23, 0)));
        assert!(within_active_hours(Some(&night), at(5, 0)));
        assert!(!within_active_hours(Some(&night), at(12, 0)));
        // Berlin is UTC+2 in June: 06:30 UTC is 08:30 there.
        let berlin = ah("08:00", "09:00", "Europe/Berlin");
        assert!(within_active_hours(Some(&berlin), at(6, 30)));
        assert!(!within_active_hours(Some(&berlin), at(8, 30)));
        for broken in [
            ah("25:00", "09:00", "UTC"),
            ah("08:00", "08:00", "UTC"),
            ah("08:00", "09:00", "Mars/Olympus"),
        ] {
            assert!(within_active_hours(Some(&broken), at(3, 0)));
        }
        assert!(within_active_hours(None, at(3, 0)));
    }

    #[test]
    fn heartbeat_md_and_replies() {
        assert!(effectively_empty("# Checklist\n\n- [ ]\n* \n## more"));
        assert!(!effectively_empty("# Checklist\n- look at the inbox"));
        assert!(!effectively_empty("#hashtag"));
        assert_eq!(classify("HEARTBEAT_OK", 300), Reply::Ack);
        assert_eq!(classify("  **HEARTBEAT_OK**  ", 300), Reply::Ack);
        assert_eq!(classify("<b>HEARTBEAT_OK</b>", 300), Reply::Ack);
        assert_eq!(classify("All quiet. HEARTBEAT_OK", 300), Reply::Ack);
        assert_eq!(
            classify("HEARTBEAT_OK all good", 3),
            Reply::Deliver("all good".into())
        );
        assert_eq!(
            classify("You have 3 unread mails.", 300),
            Reply::Deliver("You have 3 unread mails.".into())
        );
        assert_eq!(
            classify("ping HEARTBEAT_OK pong", 300),
            Reply::Deliver("ping HEARTBEAT_OK pong".into())
        );
        assert_eq!(classify("  ", 300), Reply::Empty);
    }
}
