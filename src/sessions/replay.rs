//! What a run sees of its session: the transcript regrouped by idempotency key.
//!
//! Several chats can share one session (`agent:main:main` gets every DM by default), and
//! a crash leaves turns half done: one chat's message stored without an answer, another's
//! answered after it. So a run never trusts "the last user turn". It looks its own key
//! up: answered already → that answer (deliver it, do not ask the model again); stored but
//! unanswered → answer it without storing it again; unknown → a new message. The model's
//! context is every *answered* turn in order, each as one user message and the attempt
//! that answered it, then the run's own message last — never another chat's unanswered
//! message, never a half-finished tool call.

use crate::llm::{Content, Message};

use super::transcript::Stored;

/// One run's view of the transcript.
#[derive(Debug, Default)]
pub struct View {
    /// The stored final answer to this run's message, if it was answered before.
    pub answer: Option<String>,
    /// The message is already in the transcript (do not append it again).
    pub stored: bool,
    /// The model's context: answered turns, then this run's message when `stored`.
    pub history: Vec<Message>,
}

struct Turn {
    key: Option<String>,
    user: Message,
    /// Everything written after the user message for this key, with its run id.
    rest: Vec<(Option<String>, Message)>,
}

fn is_final(m: &Message) -> bool {
    matches!(m, Message::Assistant { content, .. }
        if !content.iter().any(|c| matches!(c, Content::ToolCall { .. })))
}

impl Turn {
    /// The answering attempt: its messages up to and including its final answer.
    fn answered(&self) -> Option<Vec<&Message>> {
        let (run, _) = self.rest.iter().rev().find(|(_, m)| is_final(m))?;
        let mut out = vec![];
        for (r, m) in &self.rest {
            if r.is_none() || r == run {
                out.push(m);
                if is_final(m) && r == run {
                    break;
                }
            }
        }
        Some(out)
    }
}

/// Groups `stored` into turns. A message with a key joins that key's turn wherever it
/// sits; one without (older transcripts keyed only the user message) joins the turn
/// before it. A second user message with a known key is a duplicate and is ignored.
fn turns(stored: Vec<Stored>) -> Vec<Turn> {
    let mut turns: Vec<Turn> = vec![];
    for s in stored {
        let is_user = matches!(s.message, Message::User { .. });
        let at = match &s.idempotency_key {
            Some(k) => turns.iter().position(|t| t.key.as_deref() == Some(k)),
            None if is_user => None,
            None => turns.len().checked_sub(1),
        };
        match (at, is_user) {
            (Some(_), true) => {}
            (Some(i), false) => turns[i].rest.push((s.run_id, s.message)),
            (None, true) => turns.push(Turn {
                key: s.idempotency_key,
                user: s.message,
                rest: vec![],
            }),
            // An answer whose message was never stored whole: nothing to attach it to.
            (None, false) => {}
        }
    }
    turns
}

/// The view of a run answering the message with idempotency `key` (None: a message
/// without one, always new).
pub fn view(stored: Vec<Stored>, key: Option<&str>) -> View {
    let mut v = View::default();
    let mut own = None;
    for t in turns(stored) {
        let mine = key.is_some() && t.key.as_deref() == key;
        match t.answered() {
            Some(msgs) if mine => {
                v.answer = msgs.last().map(|m| m.text());
            }
            Some(msgs) => {
                v.history.push(t.user.clone());
                v.history.extend(msgs.into_iter().cloned());
            }
            None if mine => own = Some(t.user),
            // Someone else's unanswered message: their own run answers it.
            None => {}
        }
        if mine {
            v.stored = true;
        }
    }
    v.history.extend(own);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(t: &str, k: &str) -> Stored {
        Stored {
            message: Message::user(t),
            idempotency_key: Some(k.into()),
            run_id: Some(format!("run-{k}")),
        }
    }

    fn assistant(t: &str, k: Option<&str>, run: Option<&str>, tool: bool) -> Stored {
        let mut content = vec![Content::Text { text: t.into() }];
        if tool {
            content.push(Content::ToolCall {
                id: "t1".into(),
                name: "exec".into(),
                arguments: serde_json::json!({}),
            });
        }
        Stored {
            message: Message::Assistant {
                content,
                stop_reason: None,
                provider: None,
                model: None,
                usage: None,
                timestamp: 0,
            },
            idempotency_key: k.map(String::from),
            run_id: run.map(String::from),
        }
    }

    fn texts(h: &[Message]) -> Vec<String> {
        h.iter().map(Message::text).collect()
    }

    #[test]
    fn interleaved_chats_each_find_their_own_turn() {
        // A stored, crash; B stored and answered; then A's replay runs.
        let s = vec![
            user("A?", "a"),
            user("B?", "b"),
            assistant("B!", Some("b"), Some("run-b"), false),
        ];
        let a = view(s.clone(), Some("a"));
        assert!(a.stored && a.answer.is_none());
        assert_eq!(texts(&a.history), ["B?", "B!", "A?"]);
        let b = view(s.clone(), Some("b"));
        assert_eq!(b.answer.as_deref(), Some("B!"));
        // A new message C sees only answered turns: not A's unanswered question.
        let c = view(s, Some("c"));
        assert!(!c.stored && c.answer.is_none());
        assert_eq!(texts(&c.history), ["B?", "B!"]);
    }

    #[test]
    fn an_answer_later_in_the_file_still_belongs_to_its_message() {
        let s = vec![
            user("A?", "a"),
            user("B?", "b"),
            assistant("B!", Some("b"), Some("run-b"), false),
            assistant("A!", Some("a"), Some("run-a2"), false),
            user("A?", "a"),
        ];
        assert_eq!(view(s.clone(), Some("a")).answer.as_deref(), Some("A!"));
        let c = view(s, Some("c"));
        // The duplicate user line is ignored; A's turn sits where it was asked.
        assert_eq!(texts(&c.history), ["A?", "A!", "B?", "B!"]);
    }

    #[test]
    fn an_interrupted_attempt_is_left_out() {
        let s = vec![
            user("A?", "a"),
            assistant("calling", Some("a"), Some("run-1"), true),
            assistant("done", Some("a"), Some("run-2"), false),
        ];
        let c = view(s.clone(), Some("c"));
        assert_eq!(texts(&c.history), ["A?", "done"]);
        let mid = view(s[..2].to_vec(), Some("a"));
        assert!(mid.stored && mid.answer.is_none());
        assert_eq!(texts(&mid.history), ["A?"]);
    }

    #[test]
    fn older_transcripts_keyed_only_on_the_user_message() {
        let s = vec![
            user("A?", "a"),
            assistant("A!", None, None, false),
            Stored {
                message: Message::user("plain"),
                idempotency_key: None,
                run_id: None,
            },
            assistant("ok", None, None, false),
        ];
        assert_eq!(view(s.clone(), Some("a")).answer.as_deref(), Some("A!"));
        assert_eq!(texts(&view(s, None).history), ["A?", "A!", "plain", "ok"]);
    }
}
