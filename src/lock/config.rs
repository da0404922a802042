//! Per-registry settings for `luciac lock`: extra CA certificates, mirrors, insecure registries.
//!
//! Read from `$LUCIAC_REGISTRIES` if set, else `$XDG_CONFIG_HOME/luciac/registries.json`
//! (`~/.config/luciac/registries.json`). It is machine configuration, not part of the
//! declaration, and is never committed:
//!
//! ```json
//! { "registries": {
//!     "registry.home.lan:5000": { "ca": ["/etc/ssl/home-ca.pem"] },
//!     "docker.io": { "mirror": "mirror.home.lan:5000" },
//!     "10.0.0.5:5000": { "insecure": true } } }
//! ```
//!
//! Without `ca`, the PEM files `*.crt` in Docker's `/etc/docker/certs.d/HOST/` are used when
//! that directory exists, else Mozilla's roots (webpki-roots). Plain HTTP is used only for
//! `localhost` and 127.0.0.0/8 (as Docker allows without configuration) or `insecure: true`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// PEM files of CA certificates to trust for this registry (instead of the default roots).
    #[serde(default)]
    pub ca: Vec<PathBuf>,
    /// Ask this host instead (same repository path); the lock still records the original.
    pub mirror: Option<String>,
    /// Allow plain HTTP to this registry.
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryConfig>,
}

impl Config {
    /// The configuration file's path, if any location applies.
    pub fn path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("LUCIAC_REGISTRIES") {
            return Some(PathBuf::from(p));
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
        Some(base.join("luciac/registries.json"))
    }

    /// Load the configuration; a missing file is an empty configuration.
    pub fn load() -> Result<Config, String> {
        let Some(path) = Config::path() else {
            return Ok(Config::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("cannot read {}: {}", path.display(), e.kind())),
        }
    }

    pub fn for_registry(&self, registry: &str) -> RegistryConfig {
        self.registries.get(registry).cloned().unwrap_or_default()
    }
}

impl RegistryConfig {
    /// The CA files for `host`: configured ones, else Docker's `certs.d` directory.
    pub fn ca_files(&self, host: &str) -> Vec<PathBuf> {
        if !self.ca.is_empty() {
            return self.ca.clone();
        }
        let dir = Path::new("/etc/docker/certs.d").join(host);
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}
