//! `clawdbot channels login|logout` for WhatsApp: link this gateway as a device of the
//! phone (QR in the terminal, refreshed as WhatsApp rotates it, or a pairing code for
//! `--phone`), or forget the link. Only the credentials directory is written, never the
//! config, so both work in Nix mode; a running gateway whose config names the account
//! (a `channels.whatsapp` section) picks a new link up by itself within seconds.

use std::process::ExitCode;

use crate::channels::whatsapp::{self, creds::Creds};
use crate::paths::{Env, Paths};

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{e}");
    ExitCode::FAILURE
}

/// The account's credentials and WebSocket URL, from the config when it loads (an
/// unloadable config still lets a default link happen).
fn target(paths: &Paths, env: &Env, account: &str) -> (Creds, String) {
    let resolved = crate::config::load(&paths.config_path, env)
        .map(|l| l.resolved)
        .unwrap_or_default();
    let sec = crate::channels::accounts::current_section(&resolved, &whatsapp::KIND, account)
        .unwrap_or_default();
    let home = env.get("HOME").map(std::path::PathBuf::from);
    let creds = Creds::for_account(
        &paths.state_dir,
        home.as_deref(),
        account,
        sec.get("authDir").and_then(|v| v.as_str()),
    );
    let url = sec
        .get("apiRoot")
        .and_then(|v| v.as_str())
        .unwrap_or(whatsapp::WS_URL)
        .to_string();
    (creds, url)
}

#[cfg(feature = "whatsapp")]
fn account_flag(account: &str) -> String {
    if account == "default" {
        String::new()
    } else {
        format!(" --account {account}")
    }
}

/// `channels logout`: removes the linked device's credentials.
pub fn logout(paths: &Paths, env: &Env, account: &str) -> ExitCode {
    let (creds, _) = target(paths, env, account);
    match creds.remove() {
        Ok(true) => {
            println!(
                "WhatsApp account {account} unlinked: removed the credentials in {}.\nAlso remove \"clawdbot\" under WhatsApp > Settings > Linked devices on the phone, and restart a running gateway (clawdbot gateway restart).",
                creds.dir.display()
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!(
                "WhatsApp account {account} is not linked (nothing in {}).",
                creds.dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("WhatsApp logout failed: {e}")),
    }
}

/// `channels login`: links the phone; waits until it is linked or the attempt fails.
#[cfg(feature = "whatsapp")]
pub fn login(paths: &Paths, env: &Env, account: &str, phone: Option<String>) -> ExitCode {
    use crate::channels::whatsapp::login::{self, State};
    let (creds, url) = target(paths, env, account);
    if let Some(l) = creds.linked().filter(|_| creds.is_linked()) {
        let who = whatsapp::creds::self_e164(&l).unwrap_or_else(|| l["jid"].to_string());
        println!(
            "WhatsApp account {account} is already linked ({who}). To link again: clawdbot channels logout --channel whatsapp{0} && clawdbot channels login --channel whatsapp{0}",
            account_flag(account)
        );
        return ExitCode::SUCCESS;
    }
    let phone = match phone.map(|p| whatsapp::settings::e164(&p).ok_or(p)) {
        None => None,
        Some(Ok(n)) => Some(n[1..].to_string()),
        Some(Err(p)) => {
            return fail(format!(
                "WhatsApp login: --phone {p:?} is not a phone number (use the international form, +15551234567)"
            ));
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(format!(
                "WhatsApp login: cannot start the async runtime: {e}"
            ));
        }
    };
    rt.block_on(async move {
        let http = reqwest::Client::new();
        let mut linking = match login::start(creds.clone(), &url, http, phone.clone()).await {
            Ok(l) => l,
            Err(e) => return fail(format!("WhatsApp login failed: {e}")),
        };
        println!("Connecting to WhatsApp…");
        let mut last = State::Starting;
        loop {
            let s = linking
                .wait(std::time::Duration::from_secs(3600), |s| *s != last)
                .await;
            match &s {
                State::Qr(code) if phone.is_none() => match whatsapp::qr::terminal(code) {
                    Ok(q) => {
                        use std::io::Write;
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(
                            out,
                            "\n{q}Scan this QR with WhatsApp on the phone: Settings > Linked devices > Link a device.\n(It refreshes every ~20 seconds; a new one is printed each time.)"
                        );
                        let _ = out.flush();
                    }
                    Err(e) => return fail(format!("WhatsApp login failed: {e}")),
                },
                State::Qr(_) => {}
                State::PairCode(code) => {
                    println!(
                        "\nPairing code: {code}\nOn the phone: WhatsApp > Settings > Linked devices > Link a device > Link with phone number instead, then type the code."
                    );
                }
                State::Linked { jid } => {
                    let who = whatsapp::settings::e164(jid).unwrap_or_else(|| jid.clone());
                    println!(
                        "✅ Linked as {who}. Credentials stored in {} (0700/0600).\nA running gateway whose config has a channels.whatsapp section picks the link up within seconds; otherwise restart it (clawdbot gateway restart) or start it (clawdbot gateway)",
                        creds.dir.display()
                    );
                    return ExitCode::SUCCESS;
                }
                State::Failed(e) => return fail(format!("WhatsApp login failed: {e}")),
                State::Starting => {}
            }
            last = s;
        }
    })
}

#[cfg(not(feature = "whatsapp"))]
pub fn login(_: &Paths, _: &Env, _: &str, _: Option<String>) -> ExitCode {
    fail(format!("WhatsApp login: {}", whatsapp::NO_FEATURE))
}
