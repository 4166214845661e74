//! The WhatsApp boundary for tests: the live service cannot be reached from here, so
//! tests build the library's own event and message values (`whatsapp_rust::types`)
//! and record what the adapter sends through its `WaSend` interface, with the
//! library's protobuf types as they would go out.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clawdbot::channels::whatsapp::send::WaSend;
use tokio::sync::watch;
use whatsapp_rust::Jid;
use whatsapp_rust::features::ChatStateType;
use whatsapp_rust::types::events::{BatchOrigin, Event, InboundMessage, MessageBatch};
use whatsapp_rust::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::wacore::proto_helpers::{MessageBuilderExt, MessageExt};
use whatsapp_rust::waproto::whatsapp as wa;

/// The linked device's own number in these tests.
pub const ME: &str = "15550009999@s.whatsapp.net";
pub const ME_LID: &str = "99887766@lid";

/// One thing the adapter sent.
#[derive(Debug, Clone)]
pub enum Sent {
    Message {
        to: String,
        message: Box<wa::Message>,
    },
    State {
        to: String,
        state: ChatStateType,
    },
    Read {
        chat: String,
        sender: Option<String>,
        id: String,
    },
}

impl Sent {
    /// The text of a sent message (None for reactions, states and receipts).
    pub fn text(&self) -> Option<String> {
        match self {
            Sent::Message { message, .. } => message.text_content().map(String::from),
            _ => None,
        }
    }
    pub fn reaction(&self) -> Option<String> {
        match self {
            Sent::Message { message, .. } => message
                .reaction_message
                .as_option()
                .and_then(|r| r.text.clone()),
            _ => None,
        }
    }
    pub fn to(&self) -> &str {
        match self {
            Sent::Message { to, .. } | Sent::State { to, .. } => to,
            Sent::Read { chat, .. } => chat,
        }
    }
}

/// Records every call; clones share the record.
#[derive(Clone)]
pub struct Recorder {
    log: Arc<Mutex<Vec<Sent>>>,
    tick: Arc<watch::Sender<usize>>,
    /// Fail sends with this message (a dropped socket).
    pub fail: Arc<Mutex<Option<String>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            log: Arc::default(),
            tick: Arc::new(watch::channel(0).0),
            fail: Arc::default(),
        }
    }
}

impl Recorder {
    fn push(&self, s: Sent) {
        self.log.lock().unwrap().push(s);
        self.tick.send_modify(|n| *n += 1);
    }

    pub fn all(&self) -> Vec<Sent> {
        self.log.lock().unwrap().clone()
    }

    pub fn texts(&self) -> Vec<(String, String)> {
        self.all()
            .iter()
            .filter_map(|s| Some((s.to().to_string(), s.text()?)))
            .collect()
    }

    /// Waits until `pred` holds over the record (or panics after `secs`).
    pub async fn wait(&self, secs: u64, what: &str, pred: impl Fn(&[Sent]) -> bool) -> Vec<Sent> {
        let mut rx = self.tick.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            rx.borrow_and_update();
            let all = self.all();
            if pred(&all) {
                return all;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!("timed out waiting for {what}; sent so far: {all:#?}");
            }
        }
    }
}

impl WaSend for Recorder {
    async fn send_message(&self, to: Jid, message: wa::Message) -> Result<String, String> {
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        self.push(Sent::Message {
            to: to.to_string(),
            message: Box::new(message),
        });
        Ok(format!("SENT{}", self.all().len()))
    }

    async fn chat_state(&self, to: Jid, state: ChatStateType) {
        self.push(Sent::State {
            to: to.to_string(),
            state,
        });
    }

    async fn mark_as_read(&self, chat: Jid, sender: Option<Jid>, id: String) {
        self.push(Sent::Read {
            chat: chat.to_string(),
            sender: sender.map(|s| s.to_string()),
            id,
        });
    }
}

/// A decrypted inbound message as the library hands it over.
pub fn inbound(chat: &str, sender: &str, id: &str, message: wa::Message) -> InboundMessage {
    let chat: Jid = chat.parse().unwrap();
    let info = MessageInfo {
        source: MessageSource {
            is_group: chat.to_string().ends_with("@g.us"),
            chat,
            sender: sender.parse().unwrap(),
            is_from_me: false,
            ..Default::default()
        },
        id: id.into(),
        push_name: "Ann".into(),
        timestamp: whatsapp_rust::chrono::Utc::now(),
        ..Default::default()
    };
    InboundMessage::builder()
        .message(Arc::new(message))
        .info(Arc::new(info))
        .build()
}

pub fn text(t: &str) -> wa::Message {
    wa::Message::text(t)
}

/// A text that mentions `jids` (how WhatsApp marks an @mention).
pub fn mentioning(t: &str, jids: &[&str]) -> wa::Message {
    wa::Message::text_with_context(
        t,
        wa::ContextInfo {
            mentioned_jid: jids.iter().map(|j| j.to_string()).collect(),
            ..Default::default()
        },
    )
}

/// `Event::Messages` for a live batch that no durability hook committed.
pub fn messages(msgs: Vec<InboundMessage>) -> Event {
    Event::Messages(
        MessageBatch::builder()
            .messages(Arc::from(msgs))
            .origin(BatchOrigin::Live)
            .build(),
    )
}
