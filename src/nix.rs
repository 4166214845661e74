//! Nix mode: the config belongs to Nix, so the gateway never writes it and every
//! mutation is answered with the Nix option to change instead.
//!
//! On when `CLAWDBOT_NIX_MODE=1` (the original's switch) or when the config path resolves
//! into `/nix/store` (a store path is read-only anyway; failing late with EROFS would be
//! the worst way to learn that).

use std::path::Path;

use crate::paths::Env;

/// Whether and why Nix mode is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixMode {
    pub enabled: bool,
    /// Human reason, for the startup log and `status`.
    pub reason: &'static str,
}

impl NixMode {
    pub fn off() -> NixMode {
        NixMode {
            enabled: false,
            reason: "",
        }
    }

    pub fn detect(env: &Env, config_path: &Path) -> NixMode {
        if env.get("CLAWDBOT_NIX_MODE") == Some("1") {
            return NixMode {
                enabled: true,
                reason: "CLAWDBOT_NIX_MODE=1",
            };
        }
        let resolved = std::fs::canonicalize(config_path).unwrap_or_else(|_| config_path.into());
        if resolved.starts_with("/nix/store") {
            return NixMode {
                enabled: true,
                reason: "config is in /nix/store",
            };
        }
        NixMode::off()
    }
}

const SWITCH: &str = "run `home-manager switch` (or `nixos-rebuild switch`)";

/// The option path of this gateway in the Nix configuration: `services.clawdbot`, or
/// `services.clawdbot.instances.<name>` for an instance (the modules set
/// `CLAWDBOT_NIX_OPTION` for instances, for the service and its admin CLI alike).
pub fn option_path() -> String {
    std::env::var("CLAWDBOT_NIX_OPTION")
        .ok()
        .filter(|o| {
            o.starts_with("services.clawdbot")
                && o.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .unwrap_or_else(|| "services.clawdbot".to_string())
}

/// The message for a refused change of one config key.
pub fn key_remediation(key: &str) -> String {
    if crate::config::schema::is_secret_path(&key.split('.').collect::<Vec<_>>()) {
        return format!(
            "{key} is managed by Nix: secrets are never written into the config; put the value in a file outside the store and point {}.secrets at it (or set {key}File), then {SWITCH}",
            option_path()
        );
    }
    format!(
        "{key} is managed by Nix: set {}.settings.{key} and {SWITCH}",
        option_path()
    )
}

/// The message for a refused action (service install, onboarding, self-update, ...).
pub fn action_refusal(action: &str) -> String {
    format!(
        "{action} is disabled in Nix mode: this gateway is managed by Nix. Change {} in your Nix configuration and {SWITCH}",
        option_path()
    )
}

/// A program a feature needs is missing: in Nix mode the fix is the module's package list,
/// never apt or brew.
pub fn missing_program(program: &str, nix: &NixMode) -> String {
    if nix.enabled {
        format!(
            "`{program}` was not found on the gateway's PATH. Add it to {}.extraPackages (for example `pkgs.{program}`) and {SWITCH}",
            option_path()
        )
    } else {
        format!(
            "`{program}` was not found on PATH. Install it with your package manager and restart the gateway"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        let env = Env::from_pairs([("CLAWDBOT_NIX_MODE", "1")]);
        assert!(NixMode::detect(&env, Path::new("/tmp/x.json")).enabled);
        let env = Env::from_pairs([("CLAWDBOT_NIX_MODE", "true")]);
        assert!(!NixMode::detect(&env, Path::new("/tmp/x.json")).enabled);
        let env = Env::default();
        let m = NixMode::detect(&env, Path::new("/nix/store/abc-clawdbot.json"));
        assert!(m.enabled);
        assert_eq!(m.reason, "config is in /nix/store");
    }

    #[test]
    fn messages_name_the_option() {
        let m = key_remediation("gateway.port");
        assert!(m.contains("services.clawdbot.settings.gateway.port"), "{m}");
        assert!(m.contains("home-manager switch"));
        let m = key_remediation("gateway.auth.token");
        assert!(m.contains("services.clawdbot.secrets"), "{m}");
        let m = missing_program(
            "ffmpeg",
            &NixMode {
                enabled: true,
                reason: "x",
            },
        );
        assert!(m.contains("extraPackages") && m.contains("pkgs.ffmpeg"));
    }
}
