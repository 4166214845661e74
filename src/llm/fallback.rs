//! Model fallback in the original's order (requested, then fallbacks, then the primary
//! if not yet tried), advancing only on failover-class errors, with per-provider
//! cooldowns after auth, billing and rate-limit failures.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use super::{FailReason, LlmError};
use crate::util::now_ms;

/// The ordered, de-duplicated candidate list (spec §10.5 `runWithModelFallback`).
/// `allow` is the `agents.defaults.models` allowlist when one is configured; the
/// requested model and the primary are never filtered out.
pub fn candidates(
    requested: &str,
    fallbacks: &[String],
    primary: &str,
    allow: Option<&[String]>,
) -> Vec<String> {
    let norm = |s: &str| {
        let (p, m) = super::providers::split_ref(s);
        format!("{p}/{m}")
    };
    let mut out: Vec<String> = vec![norm(requested)];
    for f in fallbacks {
        let f = norm(f);
        if let Some(list) = allow
            && !list.iter().any(|a| norm(a) == f)
        {
            continue;
        }
        if !out.contains(&f) {
            out.push(f);
        }
    }
    let p = norm(primary);
    if !out.contains(&p) {
        out.push(p);
    }
    out
}

/// Per-provider cooldowns, as the original keeps per auth profile.
#[derive(Debug, Default)]
pub struct Cooldowns {
    map: Mutex<HashMap<String, (i64, u32)>>,
}

impl Cooldowns {
    /// Milliseconds left, if the provider is cooling down.
    pub fn remaining(&self, provider: &str) -> Option<i64> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (until, _) = map.get(provider)?;
        let left = until - now_ms();
        (left > 0).then_some(left)
    }

    /// 1 min, 5 min, 25 min, then 1 h for repeated rate limits; billing and auth
    /// problems do not fix themselves quickly, so they start at 5 minutes.
    pub fn record_failure(&self, provider: &str, reason: FailReason) {
        let base_ms: i64 = match reason {
            FailReason::RateLimit => 60_000,
            FailReason::Auth | FailReason::Billing => 300_000,
            _ => return,
        };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(provider.to_string()).or_insert((0, 0));
        entry.1 = entry.1.saturating_add(1);
        let factor = 5i64.saturating_pow(entry.1.saturating_sub(1).min(4));
        entry.0 = now_ms() + (base_ms.saturating_mul(factor)).min(3_600_000);
    }

    pub fn record_success(&self, provider: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(provider);
    }
}

/// Every candidate failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AllFailed {
    pub message: String,
    /// An abort or a non-failover error stops the chain; this is it.
    pub last_reason: FailReason,
}

/// Runs `call` on each candidate until one succeeds. Returns the winning ref.
pub async fn run<T, F, Fut>(
    candidates: &[String],
    cooldowns: &Cooldowns,
    mut call: F,
) -> Result<(String, T), AllFailed>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, LlmError>>,
{
    let mut attempts: Vec<String> = vec![];
    let mut last_reason = FailReason::Other;
    for model_ref in candidates {
        let (provider, _) = super::providers::split_ref(model_ref);
        if let Some(left) = cooldowns.remaining(&provider) {
            attempts.push(format!(
                "{model_ref}: provider {provider} is cooling down for {}s after earlier failures (rate_limit)",
                (left + 999) / 1000
            ));
            last_reason = FailReason::RateLimit;
            continue;
        }
        match call(model_ref.clone()).await {
            Ok(v) => {
                cooldowns.record_success(&provider);
                return Ok((model_ref.clone(), v));
            }
            Err(e) => {
                tracing::warn!(target: "agent", "model {model_ref} failed: {} ({})", e.message, e.reason.label());
                cooldowns.record_failure(&provider, e.reason);
                last_reason = e.reason;
                if !e.reason.is_failover() {
                    if candidates.len() == 1 || e.reason == FailReason::Aborted {
                        return Err(AllFailed {
                            message: e.message,
                            last_reason,
                        });
                    }
                    attempts.push(format!("{model_ref}: {} ({})", e.message, e.reason.label()));
                    break;
                }
                attempts.push(format!("{model_ref}: {} ({})", e.message, e.reason.label()));
            }
        }
    }
    Err(AllFailed {
        message: format!(
            "All models failed ({}): {}",
            attempts.len(),
            attempts.join(" | ")
        ),
        last_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    #[test]
    fn order_is_requested_fallbacks_primary() {
        let c = candidates(
            "openai/gpt-4o",
            &["anthropic/claude-sonnet-4-5".into(), "openai/gpt-4o".into()],
            "opus",
            None,
        );
        assert_eq!(
            c,
            [
                "openai/gpt-4o",
                "anthropic/claude-sonnet-4-5",
                "anthropic/claude-opus-4-5"
            ]
        );
        let allow = ["openai/gpt-4o".to_string()];
        let c = candidates("opus", &["groq/llama".into()], "opus", Some(&allow));
        assert_eq!(c, ["anthropic/claude-opus-4-5"]);
    }

    #[tokio::test]
    async fn failover_errors_advance_and_others_stop() {
        let cd = Cooldowns::default();
        let tried = StdMutex::new(vec![]);
        let list = vec!["a/1".to_string(), "b/2".into(), "c/3".into()];
        let (won, v) = run(&list, &cd, |m| {
            tried.lock().unwrap().push(m.clone());
            async move {
                match m.as_str() {
                    "a/1" => Err(LlmError::new(FailReason::Overloaded, "HTTP 529")),
                    _ => Ok(7),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!((won.as_str(), v), ("b/2", 7));
        assert_eq!(*tried.lock().unwrap(), ["a/1", "b/2"]);

        let err = run(&list, &cd, |m| async move {
            Err::<(), _>(LlmError::new(
                FailReason::RateLimit,
                format!("429 from {m}"),
            ))
        })
        .await
        .unwrap_err();
        assert!(err.message.starts_with("All models failed (3): a/1: 429 from a/1 (rate_limit) | b/2: 429 from b/2 (rate_limit) | c/3:"), "{}", err.message);
        // Rate limits put the providers in cooldown: the next run skips them unasked.
        let err = run(&list, &cd, |_| async { Ok::<_, LlmError>(1) })
            .await
            .unwrap_err();
        assert!(err.message.contains("cooling down"), "{}", err.message);
    }
}
