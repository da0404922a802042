//! Credentials written as plain values: a password in a URL or a connection string is an
//! error that points to `secret`; a literal shaped like a well-known token is a warning.
//!
//! Such a value would land in values files, ConfigMaps, READMEs and units, which are meant
//! to be committed and shared. The value itself is redacted from every snippet (see
//! `Diag::redact`): the diagnostic must not repeat what it warns about.

use crate::diag::{self, Diag};
use crate::source::Span;

use super::Resolver;

/// Connection-string keys whose value is a credential (compared case-insensitively, with
/// spaces and `_` removed).
const CREDENTIAL_KEYS: &[&str] = &[
    "password",
    "pwd",
    "accountkey",
    "accesskey",
    "sharedaccesskey",
    "apikey",
];

impl Resolver<'_> {
    /// Check one plain value (`what` names it for the message: "env `KEY`", "param `x`").
    pub(super) fn credentials(&mut self, text: &str, span: Span, what: &str) {
        // A secret spliced into the text is E0032, which says how to fix it.
        if text.contains("{secret.") {
            return;
        }
        if let Some(problem) = url_password(text).or_else(|| keyed_password(text)) {
            self.err(
                Diag::error(
                    diag::CREDENTIAL_IN_VALUE,
                    format!("{what} holds {problem} as plain text"),
                )
                .label(span, "a credential (not shown)")
                .redact(span)
                .help("plain values end up in values files, ConfigMaps, READMEs and units; declare `secret \"NAME\"` and give the whole value with `env \"KEY\" secret=\"NAME\"` (for a URL or connection string, the whole string is the secret)"),
            );
            return;
        }
        if let Some(kind) = token_shape(text) {
            self.err(
                Diag::warning(
                    diag::TOKEN_SHAPED,
                    format!("{what} looks like it holds {kind}"),
                )
                .label(span, "looks like a credential (not shown)")
                .redact(span)
                .help("if it is a real credential, revoke it, declare `secret \"NAME\"` and pass it with `env \"KEY\" secret=\"NAME\"`; if it is not, reword it"),
            );
        }
    }
}

/// `scheme://user:password@host`: userinfo with a password part.
fn url_password(text: &str) -> Option<&'static str> {
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let after = rest.get(i + 3..).unwrap_or("");
        let authority = after
            .split(['/', '?', '#', ' ', '"', '\''])
            .next()
            .unwrap_or("");
        if let Some((userinfo, _host)) = authority.rsplit_once('@')
            && let Some((_user, password)) = userinfo.split_once(':')
            && !password.is_empty()
        {
            return Some("a password in a URL");
        }
        rest = after;
    }
    None
}

/// `Key=Value;…` with a credential key and a non-empty value.
fn keyed_password(text: &str) -> Option<&'static str> {
    text.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        let key: String = k
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        (CREDENTIAL_KEYS.contains(&key.as_str()) && !v.trim().is_empty())
            .then_some("a password or key in a connection string")
    })
}

/// The kind of well-known token a word of `text` looks like.
fn token_shape(text: &str) -> Option<&'static str> {
    let word_char = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    text.split(|c: char| !word_char(c)).find_map(|w| {
        let tail = |prefix: &str, min: usize| {
            w.strip_prefix(prefix).is_some_and(|t| {
                t.len() >= min
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            })
        };
        if tail("sk-", 20) {
            Some("an API secret key (`sk-…`)")
        } else if ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]
            .iter()
            .any(|p| tail(p, 20))
        {
            Some("a GitHub token")
        } else if (w.starts_with("AKIA") || w.starts_with("ASIA"))
            && w.len() == 20
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            Some("an AWS access key")
        } else if is_jwt(w) {
            Some("a JSON Web Token")
        } else {
            None
        }
    })
}

fn is_jwt(w: &str) -> bool {
    let parts: Vec<&str> = w.split('.').collect();
    parts.len() == 3
        && parts.first().is_some_and(|h| h.starts_with("eyJ"))
        && parts.get(1).is_some_and(|p| p.starts_with("eyJ"))
        && parts.iter().all(|p| {
            p.len() >= 8
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_credentials_without_false_positives() {
        assert!(url_password("http://admin:pw@host").is_some());
        assert!(url_password("redis://:secret@redis:6379/0").is_some());
        assert!(url_password("http://user@host").is_none());
        assert!(url_password("http://{redis.host}:{redis.port.redis}").is_none());
        assert!(url_password("http://+:8080").is_none());
        assert!(keyed_password("Server=db;User Id=sa;Password=x;").is_some());
        assert!(keyed_password("Endpoint=https://x;Model=gpt").is_none());
        assert!(keyed_password("Password=;").is_none());
        assert!(token_shape("sk-proj-abcdefghijklmnopqrstuvwxyz").is_some());
        assert!(token_shape("ghp_abcdefghijklmnopqrstuvwxyz0123").is_some());
        assert!(token_shape("AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(token_shape("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk").is_some());
        assert!(token_shape("sk-short").is_none());
        assert!(token_shape("lucia.AgentHost.dll").is_none());
    }
}
