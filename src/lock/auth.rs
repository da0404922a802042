//! Registry credentials, found the way the Docker CLI finds them, and auth challenges.
//!
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `credHelpers[registry]`, else
//! `credsStore` (both run `docker-credential-NAME get` with the server URL on stdin), else
//! `auths[registry]` (`auth` is base64 `user:password`). Secrets stay in [`Credentials`],
//! whose `Debug` hides them; diagnostics name only the [`Source`].

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

/// A user name and a password or token.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, secret: <hidden> }}",
            self.username
        )
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Where credentials came from (what a diagnostic may show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Anonymous,
    Auths(PathBuf),
    Helper { name: String, config: PathBuf },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Anonymous => write!(
                f,
                "no credentials (anonymous; no entry in Docker's config.json)"
            ),
            Source::Auths(p) => write!(f, "`auths` in {}", p.display()),
            Source::Helper { name, config } => {
                write!(
                    f,
                    "credential helper `docker-credential-{name}` (from {})",
                    config.display()
                )
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// The key Docker stores a registry's credentials under.
fn server_url(registry: &str) -> String {
    if registry == super::reference::DOCKER_HUB {
        "https://index.docker.io/v1/".into()
    } else {
        registry.into()
    }
}

/// `https://host/v1/` → `host`, for comparing `auths` keys.
fn bare_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => super::reference::DOCKER_HUB,
        k => k,
    }
}

/// The credentials for `registry` (as Docker names it: `docker.io`, `host:port`).
pub fn lookup(registry: &str) -> Result<(Option<Credentials>, Source), String> {
    let Some(path) = docker_config_path() else {
        return Ok((None, Source::Anonymous));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, Source::Anonymous)),
        Err(e) => return Err(format!("cannot read {}: {}", path.display(), e.kind())),
    };
    let config: DockerConfig = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    let helper = config
        .cred_helpers
        .iter()
        .find(|(k, _)| bare_host(k) == registry)
        .map(|(_, v)| v.clone())
        .or(config.creds_store.clone());
    if let Some(name) = helper {
        let source = Source::Helper {
            name: name.clone(),
            config: path.clone(),
        };
        return run_helper(&name, &server_url(registry)).map(|c| (c, source));
    }
    let entry = config.auths.iter().find(|(k, _)| bare_host(k) == registry);
    let Some((_, entry)) = entry else {
        return Ok((None, Source::Anonymous));
    };
    let source = Source::Auths(path.clone());
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok((
            Some(Credentials {
                username: u.clone(),
                secret: p.clone(),
            }),
            source,
        ));
    }
    let Some(auth) = &entry.auth else {
        return Ok((None, source));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':').map(|(u, p)| Credentials {
                username: u.to_string(),
                secret: p.to_string(),
            })
        });
    match decoded {
        Some(c) => Ok((Some(c), source)),
        None => Err(format!(
            "the `auth` entry for {registry} in {} is not base64 `user:password`",
            path.display()
        )),
    }
}

/// Run `docker-credential-NAME get`. "Not found" is no credentials; other failures are errors
/// that name the helper and its exit status, never its output (it may hold a secret).
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>, String> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {}", e.kind()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{program}` failed: {}", e.kind()))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase()
            + &String::from_utf8_lossy(&out.stderr).to_lowercase();
        if text.contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("`{program} get` failed ({})", out.status));
    }
    let reply: HelperReply = serde_json::from_slice(&out.stdout)
        .map_err(|_| format!("`{program} get` did not print the JSON credential helpers print"))?;
    Ok(Some(Credentials {
        username: reply.username,
        secret: reply.secret,
    }))
}

/// A `WWW-Authenticate` challenge: its scheme and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Parse `Bearer realm="…",service="…",scope="repository:a:pull,push"` (quoted values may hold
/// commas).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.push((key.trim().to_string(), value));
    }
    if scheme.is_empty() {
        return None;
    }
    Some(Challenge {
        scheme: scheme.to_string(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull,push""#,
        );
        let c = c.unwrap_or_else(|| panic!("no challenge"));
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("scope"), Some("repository:library/redis:pull,push"));
        let b = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(b.map(|b| b.scheme), Some("Basic".into()));
    }

    #[test]
    fn hosts_and_secrets() {
        assert_eq!(bare_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(bare_host("127.0.0.1:5000"), "127.0.0.1:5000");
        let c = Credentials {
            username: "u".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
