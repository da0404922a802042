//! Image references, normalised the way Docker does it.
//!
//! `redis:7` is `docker.io/library/redis:7`; `seiggy/app` is `docker.io/seiggy/app:latest`. The
//! first path component names a registry only when it holds a `.` or a `:` or is `localhost`
//! (Docker's rule); `index.docker.io` is `docker.io`, whose API lives at `registry-1.docker.io`.

use std::fmt;

/// A tag reference split into registry, repository and tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    /// As Docker names it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// The repository inside the registry: `library/redis`.
    pub repository: String,
    pub tag: String,
}

pub const DOCKER_HUB: &str = "docker.io";

impl Reference {
    /// Normalise `reference` (as `values::split_image` accepts it: no digest inside).
    pub fn parse(reference: &str) -> Result<Reference, String> {
        let (path, tag) = match crate::values::split_image(reference)? {
            (repo, Some(tag)) => (repo, tag),
            (repo, None) => (repo, "latest".to_string()),
        };
        let (registry, repository) = match path.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), path.clone()),
        };
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty()
            || repository.split('/').any(|c| {
                c.is_empty()
                    || !c.chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch)
                    })
            })
        {
            return Err(format!("`{reference}` has an invalid repository name"));
        }
        Ok(Reference {
            registry,
            repository,
            tag,
        })
    }

    /// The host (and port) that serves the registry's API.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// `registry/repository` without the tag.
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// Whether Docker talks plain HTTP to this registry without configuration: `localhost` and
/// the loopback network 127.0.0.0/8 (with any port).
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host == "localhost" || host == "::1" {
        return true;
    }
    host.parse::<std::net::Ipv4Addr>()
        .map(|a| a.is_loopback())
        .unwrap_or(false)
}

/// Parse `platforms="linux/amd64,linux/arm64"`: `os/arch` or `os/arch/variant`, lowercase,
/// comma-separated, each once.
pub fn platforms(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for p in s.split(',').map(str::trim) {
        let parts: Vec<&str> = p.split('/').collect();
        let ok = (2..=3).contains(&parts.len())
            && parts.iter().all(|x| {
                !x.is_empty()
                    && x.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
        if !ok {
            return Err(format!(
                "`{p}` is not a platform; write `os/arch` or `os/arch/variant`, comma-separated (`linux/amd64,linux/arm64`)"
            ));
        }
        if out.iter().any(|o| o == p) {
            return Err(format!("platform `{p}` is listed twice"));
        }
        out.push(p.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        Reference::parse(s)
            .map(|r| r.to_string())
            .unwrap_or_else(|e| e)
    }

    #[test]
    fn docker_normalisation() {
        assert_eq!(n("redis"), "docker.io/library/redis:latest");
        assert_eq!(n("redis:7.4-alpine"), "docker.io/library/redis:7.4-alpine");
        assert_eq!(n("docker.io/redis:7"), "docker.io/library/redis:7");
        assert_eq!(
            n("index.docker.io/library/redis:7"),
            "docker.io/library/redis:7"
        );
        assert_eq!(n("seiggy/lucia:1"), "docker.io/seiggy/lucia:1");
        assert_eq!(n("ghcr.io/a/b/c:2"), "ghcr.io/a/b/c:2");
        assert_eq!(n("localhost/app"), "localhost/app:latest");
        assert_eq!(n("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app:1");
        assert_eq!(
            Reference::parse("redis").map(|r| r.api_host().to_string()),
            Ok("registry-1.docker.io".into())
        );
        assert!(Reference::parse("a//b").is_err());
    }

    #[test]
    fn platform_lists() {
        assert_eq!(
            platforms("linux/amd64, linux/arm64/v8"),
            Ok(vec![
                "linux/amd64".to_string(),
                "linux/arm64/v8".to_string()
            ])
        );
        assert!(platforms("linux").is_err());
        assert!(platforms("Linux/AMD64").is_err());
        assert!(platforms("linux/amd64,linux/amd64").is_err());
        assert!(platforms("").is_err());
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.3.4.5"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
        assert!(!is_loopback("localhost.example.com"));
        assert!(!is_loopback("docker.io"));
    }
}
