//! Linking a device, for `clawdbot channels login` and `web.login.start`/`wait`: a
//! client on an empty session shows rotating QR codes (or a pairing code for a phone
//! number) until the phone scans one; then `linked.json` records who it is and the
//! session is closed cleanly so the runner (or the next gateway) picks it up from the
//! credentials directory.
//!
//! The flow reads the library's own events ([`Event::PairingQrCode`],
//! [`Event::PairSuccess`], …) from a channel, so a test can drive it with events built
//! from the library's types, and the live path is the same code behind [`start`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use whatsapp_rust::bot::BotHandle;
use whatsapp_rust::types::events::Event;

use super::client::{self, Options};
use super::creds::Creds;

/// How long a link attempt may take to show its first code before it is given up as
/// unreachable (no network, a proxy eating WebSockets).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a link attempt stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Starting,
    /// A QR code to show (the library rotates it; each one replaces the last).
    Qr(String),
    /// The 8-character code to type on the phone (WhatsApp > Linked devices > Link
    /// with phone number).
    PairCode(String),
    Linked {
        jid: String,
    },
    Failed(String),
}

impl State {
    pub fn done(&self) -> bool {
        matches!(self, State::Linked { .. } | State::Failed(_))
    }
}

/// A running link attempt: its state, and the client to close when it ends.
pub struct Linking {
    pub state: watch::Receiver<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Linking {
    /// Waits for a state satisfying `pred`, or `timeout`; the state then.
    pub async fn wait(&mut self, timeout: Duration, pred: impl Fn(&State) -> bool) -> State {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.state.borrow_and_update().clone();
            if pred(&s) || s.done() {
                return s;
            }
            match tokio::time::timeout_at(deadline, self.state.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.state.borrow().clone(),
            }
        }
    }

    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for Linking {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts linking `creds` against WhatsApp at `url` (pairing code when `pair_phone`).
pub async fn start(
    creds: Creds,
    url: &str,
    http: reqwest::Client,
    pair_phone: Option<String>,
) -> Result<Linking, String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let bot = client::build(
        &creds,
        Options {
            url: url.to_string(),
            http,
            events: tx,
            hook: None,
            pair_phone,
        },
    )
    .await?;
    let handle = bot.spawn();
    Ok(drive(creds, rx, Some(handle), url.to_string()))
}

/// Runs the link flow over a stream of library events (`handle`: the client to shut
/// down at the end; None when a test feeds the events).
pub fn drive(
    creds: Creds,
    mut rx: mpsc::UnboundedReceiver<Arc<Event>>,
    handle: Option<BotHandle>,
    url: String,
) -> Linking {
    let (st, state) = watch::channel(State::Starting);
    let task = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let mut shown = false;
        let mut linked: Option<String> = None;
        let end = loop {
            let wait = if linked.is_some() {
                // Linked: the library reconnects logged in; give it a moment to say so
                // (and to write the session) before closing.
                Duration::from_secs(15)
            } else if shown {
                Duration::from_secs(600)
            } else {
                deadline.saturating_duration_since(tokio::time::Instant::now())
            };
            let ev = match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) | Err(_) => {
                    break match &linked {
                        Some(jid) => State::Linked { jid: jid.clone() },
                        None if shown => {
                            State::Failed("the login ended before the phone scanned a code".into())
                        }
                        None => State::Failed(format!(
                            "cannot reach WhatsApp Web at {url} within {}s (no network, or a proxy or firewall in the way)",
                            CONNECT_TIMEOUT.as_secs()
                        )),
                    };
                }
            };
            match &*ev {
                Event::PairingQrCode(q) => {
                    shown = true;
                    let _ = st.send(State::Qr(q.code.clone()));
                }
                Event::PairingCode(c) => {
                    shown = true;
                    let _ = st.send(State::PairCode(c.code.clone()));
                }
                Event::PairSuccess(p) => {
                    let jid = p.id.to_non_ad_string();
                    if let Err(e) =
                        creds.mark_linked(&jid, &p.lid.to_non_ad_string(), &p.business_name)
                    {
                        break State::Failed(e);
                    }
                    linked = Some(jid);
                }
                Event::Connected(_) if linked.is_some() => {
                    break State::Linked {
                        jid: linked.clone().unwrap_or_default(),
                    };
                }
                Event::PairError(e) => break State::Failed(format!("pairing failed: {}", e.error)),
                Event::PairingCodeError(e) => {
                    break State::Failed(format!("the pairing code was refused: {e:?}"));
                }
                Event::PairingQrCodesExhausted(_) => {
                    break State::Failed(
                        "no QR code was scanned in time; run the login again".into(),
                    );
                }
                Event::QrScannedWithoutMultidevice(_) => {
                    break State::Failed(
                        "the phone scanned the code without multi-device; update WhatsApp on the phone"
                            .into(),
                    );
                }
                Event::LoggedOut(_) if linked.is_none() => {
                    break State::Failed("WhatsApp refused the login (logged out)".into());
                }
                Event::ClientOutdated(_) => {
                    break State::Failed("WhatsApp refused this client version".into());
                }
                Event::Disconnected(d) if !shown && linked.is_none() => {
                    break State::Failed(format!(
                        "cannot reach WhatsApp Web at {url}: {}",
                        d.reason
                    ));
                }
                _ => {}
            }
        };
        if let Some(h) = handle {
            let _ = tokio::time::timeout(Duration::from_secs(10), h.shutdown()).await;
        }
        if !matches!(end, State::Linked { .. }) && linked.is_none() && !creds.is_linked() {
            // Nothing was linked: leave no half-made session behind.
            let _ = creds.remove();
        }
        let _ = st.send(end);
    });
    Linking { state, task }
}
