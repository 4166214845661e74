//! Secrets come from files as readily as from inline keys, so a Nix user never has to
//! put one in the store: `<key>File` config keys, `<VAR>_FILE` env vars and systemd
//! credentials (`$CREDENTIALS_DIRECTORY/<name>`).
//!
//! A `Secret` never prints its value (`Debug`/`Display` show a placeholder).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::paths::Env;

/// A secret value. Compare with [`Secret::ct_eq`]; never format it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for the few places that must send it (the WS `connect`, a dashboard URL).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Constant-time comparison (length first, as the original).
    pub fn ct_eq(&self, other: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), other.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Whether secret files are read now, or only checked for shape (build-time
/// `check-config --no-secrets`, where the files do not exist yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMode {
    Read,
    Defer,
}

/// What a secret lookup found.
#[derive(Debug, Clone)]
pub enum Found {
    Value {
        secret: Secret,
        source: String,
    },
    /// Deferred: the file will be read when the gateway starts.
    Deferred {
        source: String,
    },
}

impl Found {
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            Found::Value { secret, .. } => Some(secret),
            Found::Deferred { .. } => None,
        }
    }
    pub fn source(&self) -> &str {
        match self {
            Found::Value { source, .. } | Found::Deferred { source } => source,
        }
    }
}

/// Reads a secret file: trailing newline trimmed, empty is an error, a group- or
/// world-readable file adds a warning. `key` names the setting in messages.
pub fn read_secret_file(
    key: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<Secret, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{key}: secret file {} does not exist; create it (mode 0600) or fix the path",
                path.display()
            ));
        }
        Err(e) => {
            return Err(format!(
                "{key}: cannot read secret file {}: {e}",
                path.display()
            ));
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            // Files under a systemd credentials dir or /run/agenix are managed by the
            // service manager; their mode is its business, but a world-readable secret is
            // worth a warning anywhere.
            if mode & 0o077 != 0 {
                warnings.push(format!(
                    "{key}: secret file {} is readable by group/others (mode {mode:04o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    let value = text.trim_end_matches(['\n', '\r']).to_string();
    if value.trim().is_empty() {
        return Err(format!("{key}: secret file {} is empty", path.display()));
    }
    Ok(Secret(value))
}

/// `$CREDENTIALS_DIRECTORY/<name>` when systemd passed that credential.
pub fn credential_path(env: &Env, name: &str) -> Option<PathBuf> {
    let dir = env.get("CREDENTIALS_DIRECTORY")?;
    let p = Path::new(dir).join(name);
    p.exists().then_some(p)
}

/// One place a secret may come from, in precedence order.
pub enum Candidate<'a> {
    Inline {
        key: &'a str,
        value: Option<&'a str>,
    },
    File {
        key: &'a str,
        path: Option<&'a str>,
    },
    EnvVar {
        name: &'a str,
    },
    EnvFile {
        name: &'a str,
    },
    Credential {
        name: &'a str,
    },
}

/// Walks the candidates and returns the first present one.
pub fn lookup(
    candidates: &[Candidate<'_>],
    env: &Env,
    mode: SecretMode,
    warnings: &mut Vec<String>,
) -> Result<Option<Found>, String> {
    for c in candidates {
        let (key, path): (String, PathBuf) = match c {
            Candidate::Inline { key, value } => {
                if let Some(v) = value.filter(|v| !v.is_empty()) {
                    return Ok(Some(Found::Value {
                        secret: Secret::new(v),
                        source: (*key).to_string(),
                    }));
                }
                continue;
            }
            Candidate::EnvVar { name } => {
                if let Some(v) = env.get(name) {
                    return Ok(Some(Found::Value {
                        secret: Secret::new(v),
                        source: format!("env {name}"),
                    }));
                }
                continue;
            }
            Candidate::File { key, path } => match path.filter(|p| !p.is_empty()) {
                Some(p) => ((*key).to_string(), env.expand_tilde(p)),
                None => continue,
            },
            Candidate::EnvFile { name } => match env.get(name) {
                Some(p) => (format!("env {name}"), env.expand_tilde(p)),
                None => continue,
            },
            Candidate::Credential { name } => match credential_path(env, name) {
                Some(p) => (format!("systemd credential {name}"), p),
                None => continue,
            },
        };
        let source = format!("{key} ({})", path.display());
        if mode == SecretMode::Defer {
            return Ok(Some(Found::Deferred { source }));
        }
        let secret = read_secret_file(&key, &path, warnings)?;
        return Ok(Some(Found::Value { secret, source }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn file_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tok");
        std::fs::write(&p, "s3cret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut w = vec![];
        assert!(read_secret_file("k", &p, &mut w).unwrap().ct_eq("s3cret"));
        assert!(w.is_empty());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        read_secret_file("k", &p, &mut w).unwrap();
        assert!(
            w[0].contains("readable by group/others (mode 0644)"),
            "{w:?}"
        );
        let missing = read_secret_file("gateway.auth.tokenFile", &dir.path().join("nope"), &mut w)
            .unwrap_err();
        assert!(
            missing.starts_with("gateway.auth.tokenFile: secret file"),
            "{missing}"
        );
        assert!(missing.contains("does not exist"));
        std::fs::write(&p, "\n").unwrap();
        assert!(
            read_secret_file("k", &p, &mut w)
                .unwrap_err()
                .contains("is empty")
        );
    }

    #[test]
    fn precedence_and_defer() {
        let dir = tempfile::tempdir().unwrap();
        let cred = dir.path().join("gateway-token");
        std::fs::write(&cred, "fromcred").unwrap();
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = Env::from_pairs([("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())]);
        let mut w = vec![];
        let cands = [
            Candidate::Inline {
                key: "gateway.auth.token",
                value: None,
            },
            Candidate::EnvVar {
                name: "CLAWDBOT_GATEWAY_TOKEN",
            },
            Candidate::Credential {
                name: "gateway-token",
            },
        ];
        let f = lookup(&cands, &env, SecretMode::Read, &mut w)
            .unwrap()
            .unwrap();
        assert!(f.secret().unwrap().ct_eq("fromcred"));
        assert!(f.source().starts_with("systemd credential gateway-token"));
        let cands = [Candidate::File {
            key: "gateway.auth.tokenFile",
            path: Some("/nonexistent/x"),
        }];
        let f = lookup(&cands, &env, SecretMode::Defer, &mut w)
            .unwrap()
            .unwrap();
        assert!(matches!(f, Found::Deferred { .. }));
        assert!(lookup(&cands, &env, SecretMode::Read, &mut w).is_err());
    }

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(s.ct_eq("hunter2") && !s.ct_eq("hunter3") && !s.ct_eq("hunter"));
    }
}
