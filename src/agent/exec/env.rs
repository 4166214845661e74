//! The complete environment of a tool process. Nothing of the gateway's environment is
//! passed on except locale and terminal settings: provider keys, channel tokens,
//! `CLAWDBOT_GATEWAY_TOKEN` and `CREDENTIALS_DIRECTORY` never reach a child.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

/// Whether a gateway variable is copied as is (locale, terminal, time zone).
fn passed_through(name: &str) -> bool {
    matches!(name, "LANG" | "LANGUAGE" | "TERM" | "TZ") || name.starts_with("LC_")
}

/// `PATH` (the exec PATH), `HOME` (the workspace), locale/terminal from `gateway`, then
/// the operator's `tools.exec.env` (which may set anything but `PATH`: the program was
/// resolved through the exec PATH, and the child sees that same PATH).
pub fn build(
    path_var: &str,
    home: &Path,
    gateway: impl IntoIterator<Item = (OsString, OsString)>,
    extra: &BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    for (k, v) in gateway {
        if k.to_str().is_some_and(passed_through) {
            env.insert(k, v);
        }
    }
    env.insert("HOME".into(), home.as_os_str().to_owned());
    for (k, v) in extra {
        if k != "PATH" {
            env.insert(k.into(), v.into());
        }
    }
    env.insert("PATH".into(), path_var.into());
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_path_home_locale_and_the_operators_list() {
        let host: Vec<(OsString, OsString)> = [
            ("ANTHROPIC_API_KEY", "sk-ant-secret"),
            ("CLAWDBOT_GATEWAY_TOKEN", "host-secret"),
            ("CREDENTIALS_DIRECTORY", "/run/credentials/x"),
            ("TELEGRAM_BOT_TOKEN", "1:abc"),
            ("LD_PRELOAD", "/tmp/x.so"),
            ("PATH", "/gateway/path"),
            ("HOME", "/home/host"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("TERM", "xterm"),
            ("TZ", "UTC"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let extra = BTreeMap::from([
            ("GIT_AUTHOR_NAME".to_string(), "Claw".to_string()),
            ("PATH".to_string(), "/evil".to_string()),
        ]);
        let env = build("/exec/path", Path::new("/ws"), host, &extra);
        let got: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        let want: Vec<(String, String)> = [
            ("GIT_AUTHOR_NAME", "Claw"),
            ("HOME", "/ws"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("PATH", "/exec/path"),
            ("TERM", "xterm"),
            ("TZ", "UTC"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
