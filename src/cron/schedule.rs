//! When a schedule fires next (the original's src/cron/schedule.ts).
//!
//! Cron expressions go through `croner`: it is what the original uses (the JS `croner`,
//! whose Rust port keeps its syntax: 5 fields, or 6 with seconds first, `L`, `#`, names),
//! and it computes on any chrono time zone, so `chrono-tz` gives it the IANA `tz`.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};

use super::types::Schedule;

/// Checks a schedule once, when a job is added or patched, so the timer never meets a
/// bad one. The error names the key and the fix.
pub fn validate(s: &Schedule) -> Result<(), String> {
    match s {
        Schedule::At { at_ms } if *at_ms <= 0 => {
            Err("schedule.atMs must be a positive epoch-milliseconds time".into())
        }
        Schedule::Every { every_ms, .. } if *every_ms < 1 => {
            Err("schedule.everyMs must be at least 1".into())
        }
        Schedule::Cron { expr, tz } => {
            parse_expr(expr)?;
            if let Some(tz) = tz.as_deref().filter(|t| !t.trim().is_empty()) {
                parse_tz(tz)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn parse_expr(expr: &str) -> Result<croner::Cron, String> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err("schedule.expr is empty (e.g. \"0 7 * * *\")".into());
    }
    croner::Cron::from_str(expr).map_err(|e| format!("schedule.expr \"{expr}\" is invalid: {e}"))
}

fn parse_tz(tz: &str) -> Result<chrono_tz::Tz, String> {
    tz.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!("schedule.tz \"{tz}\" is not an IANA time zone (e.g. \"Europe/Vienna\")")
    })
}

/// The first fire time strictly after `now_ms`, or None (an `at` in the past, a bad
/// expression).
pub fn next_run_at(s: &Schedule, now_ms: i64) -> Option<i64> {
    match s {
        Schedule::At { at_ms } => (*at_ms > now_ms).then_some(*at_ms),
        Schedule::Every {
            every_ms,
            anchor_ms,
        } => {
            let every = (*every_ms).max(1);
            let anchor = anchor_ms.unwrap_or(now_ms).max(0);
            if now_ms < anchor {
                return Some(anchor);
            }
            let elapsed = now_ms - anchor;
            let steps = ((elapsed + every - 1) / every).max(1);
            Some(anchor + steps * every)
        }
        Schedule::Cron { expr, tz } => {
            let cron = parse_expr(expr).ok()?;
            let now = DateTime::<Utc>::from_timestamp_millis(now_ms)?;
            match tz.as_deref().filter(|t| !t.trim().is_empty()) {
                Some(tz) => next_in(&cron, &now.with_timezone(&parse_tz(tz).ok()?)),
                None => next_in(&cron, &now),
            }
        }
    }
}

fn next_in<Z: TimeZone>(cron: &croner::Cron, now: &DateTime<Z>) -> Option<i64> {
    cron.find_next_occurrence(now, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(every_ms: i64, anchor_ms: Option<i64>) -> Schedule {
        Schedule::Every {
            every_ms,
            anchor_ms,
        }
    }

    #[test]
    fn every_counts_whole_steps_from_the_anchor() {
        // Before the anchor: the anchor itself.
        assert_eq!(next_run_at(&every(1000, Some(5000)), 1000), Some(5000));
        // On a slot: the next one (strictly after).
        assert_eq!(next_run_at(&every(1000, Some(5000)), 5000), Some(6000));
        // Between slots: the next slot on the anchor's grid, not now + every.
        assert_eq!(next_run_at(&every(1000, Some(5000)), 7250), Some(8000));
        // No anchor: one period from now.
        assert_eq!(next_run_at(&every(60_000, None), 10), Some(60_010));
    }

    #[test]
    fn at_in_the_past_never_fires_again() {
        assert_eq!(next_run_at(&Schedule::At { at_ms: 500 }, 1000), None);
        assert_eq!(next_run_at(&Schedule::At { at_ms: 1000 }, 1000), None);
        assert_eq!(next_run_at(&Schedule::At { at_ms: 2000 }, 1000), Some(2000));
    }

    #[test]
    fn cron_expressions_follow_the_time_zone() {
        // 2024-01-15T10:00:00Z
        let now = 1_705_312_800_000;
        let utc = Schedule::Cron {
            expr: "0 7 * * *".into(),
            tz: None,
        };
        // Next 07:00 UTC is the following day.
        assert_eq!(next_run_at(&utc, now), Some(1_705_388_400_000));
        let vienna = Schedule::Cron {
            expr: "0 7 * * *".into(),
            tz: Some("Europe/Vienna".into()),
        };
        // 07:00 in Vienna (UTC+1 in January) is 06:00Z.
        assert_eq!(next_run_at(&vienna, now), Some(1_705_384_800_000));
        // Six fields: seconds first.
        let secs = Schedule::Cron {
            expr: "*/10 * * * * *".into(),
            tz: None,
        };
        assert_eq!(next_run_at(&secs, now + 1), Some(now + 10_000));
    }

    #[test]
    fn bad_schedules_name_the_key() {
        let bad = Schedule::Cron {
            expr: "nope".into(),
            tz: None,
        };
        assert!(validate(&bad).unwrap_err().contains("schedule.expr"));
        let tz = Schedule::Cron {
            expr: "0 7 * * *".into(),
            tz: Some("Mars/Base".into()),
        };
        assert!(validate(&tz).unwrap_err().contains("schedule.tz"));
        assert!(validate(&every(0, None)).unwrap_err().contains("everyMs"));
    }
}
