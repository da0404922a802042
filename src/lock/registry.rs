//! A small blocking client for the OCI distribution API, enough to resolve a tag.
//!
//! `GET /v2/` first (it decides HTTPS or, where allowed, HTTP, and brings the auth challenge),
//! then `HEAD` the tag (registries count manifest GETs against rate limits, not HEADs), then
//! `GET` by digest only what must be read: the index, or a single manifest and its config (for
//! its platform). Every body fetched by digest is hashed and compared. 429 is retried as
//! `Retry-After` says, a bounded number of times.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use ureq::Agent;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

use super::auth::{self, Credentials, Source};
use super::config::RegistryConfig;
use super::file::{Pin, PlatformPin};
use super::reference::{self, Reference};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
const MAX_BODY: u64 = 4 << 20;
/// Tries per request when the registry answers 429.
pub const MAX_TRIES: u32 = 4;
/// The longest single wait for `Retry-After`.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Why a resolution failed. Messages never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Unreachable(String),
    Denied {
        status: u16,
        source: String,
    },
    /// Docker's config file or a credential helper failed (no secret in the message).
    Credentials(String),
    NotFound(String),
    RateLimited(String),
    DigestMismatch {
        expected: String,
        actual: String,
    },
    BadManifest(String),
    PlatformMissing(String),
    Unstable {
        first: String,
        second: String,
    },
}

impl Failure {
    pub fn code(&self) -> crate::diag::Code {
        use crate::diag;
        match self {
            Failure::Unreachable(_) => diag::REGISTRY_UNREACHABLE,
            Failure::Denied { .. } | Failure::Credentials(_) => diag::REGISTRY_DENIED,
            Failure::NotFound(_) => diag::IMAGE_NOT_FOUND,
            Failure::RateLimited(_) => diag::RATE_LIMITED,
            Failure::DigestMismatch { .. } => diag::DIGEST_MISMATCH,
            Failure::BadManifest(_) => diag::BAD_MANIFEST,
            Failure::PlatformMissing(_) => diag::PLATFORM_MISSING,
            Failure::Unstable { .. } => diag::RESOLVE_UNSTABLE,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Unreachable(m)
            | Failure::NotFound(m)
            | Failure::RateLimited(m)
            | Failure::BadManifest(m)
            | Failure::PlatformMissing(m) => m.clone(),
            Failure::Credentials(m) => format!("cannot get credentials: {m}"),
            Failure::Denied { status, source } => {
                format!("the registry answered {status}; credentials tried: {source}")
            }
            Failure::DigestMismatch { expected, actual } => {
                format!("the manifest's SHA-256 is {actual}, but the registry announced {expected}")
            }
            Failure::Unstable { first, second } => {
                format!("resolved twice to different digests: {first}, then {second}")
            }
        }
    }
}

struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// One registry connection: scheme, TLS roots, credentials and the current token.
pub struct Registry {
    agent: Agent,
    base: String,
    registry: String,
    credentials: Option<Credentials>,
    source: Source,
    authorization: Option<String>,
}

fn agent(roots: Option<RootCerts>, loopback: bool) -> Agent {
    let mut tls = TlsConfig::builder();
    if let Some(r) = roots {
        tls = tls.root_certs(r);
    }
    let mut b = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .user_agent(concat!("luciac/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build());
    if loopback {
        b = b.proxy(None);
    }
    b.build().into()
}

fn roots(files: &[std::path::PathBuf]) -> Result<Option<RootCerts>, Failure> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut certs = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| {
            Failure::Unreachable(format!("cannot read CA file {}: {}", f.display(), e.kind()))
        })?;
        for item in ureq::tls::parse_pem(&bytes) {
            if let Ok(PemItem::Certificate(c)) = item {
                certs.push(c);
            }
        }
    }
    if certs.is_empty() {
        return Err(Failure::Unreachable(
            "the configured CA files hold no PEM certificate".into(),
        ));
    }
    Ok(Some(RootCerts::new_with_certs(&certs)))
}

fn describe(e: &ureq::Error) -> String {
    // ureq's errors name hosts and causes, never request headers.
    e.to_string()
}

impl Registry {
    /// Connect to `reference`'s registry (or its mirror): ping `/v2/` and authenticate.
    pub fn connect(reference: &Reference, config: &RegistryConfig) -> Result<Registry, Failure> {
        let host = config
            .mirror
            .clone()
            .unwrap_or_else(|| reference.api_host().to_string());
        let loopback = reference::is_loopback(&host);
        // A mirror is another registry: its own credentials.
        let cred_key = config.mirror.as_deref().unwrap_or(&reference.registry);
        let (credentials, source) = auth::lookup(cred_key).map_err(Failure::Credentials)?;
        let agent = agent(roots(&config.ca_files(&host))?, loopback);
        let mut reg = Registry {
            agent,
            base: format!("https://{host}"),
            registry: reference.registry.clone(),
            credentials,
            source,
            authorization: None,
        };
        let (ping, tls_error) = match reg.send("GET", "/v2/", None) {
            Ok(r) => (r, None),
            Err(Failure::Unreachable(tls)) if loopback || config.insecure => {
                reg.base = format!("http://{host}");
                let r = reg.send("GET", "/v2/", None).map_err(|e| match e {
                    Failure::Unreachable(plain) => Failure::Unreachable(format!(
                        "{host}: HTTPS failed ({tls}); plain HTTP failed ({plain})"
                    )),
                    e => e,
                })?;
                (r, Some(tls))
            }
            Err(e) => return Err(e),
        };
        if ping.status != 200 && ping.status != 401 {
            // Not the registry API: a TLS port spoken to in plain HTTP answers 400, for example.
            return Err(Failure::Unreachable(match tls_error {
                Some(tls) => format!(
                    "{host}: HTTPS failed ({tls}); plain HTTP answered {}",
                    ping.status
                ),
                None => format!(
                    "{host} does not serve the registry API (/v2/ answered {})",
                    ping.status
                ),
            }));
        }
        if ping.status == 401 {
            reg.authenticate(&ping, &reference.repository)?;
        }
        Ok(reg)
    }

    fn denied(&self, status: u16) -> Failure {
        Failure::Denied {
            status,
            source: self.source.to_string(),
        }
    }

    /// Answer a 401 challenge: a bearer token from the realm, or Basic credentials.
    fn authenticate(&mut self, reply: &Reply, repository: &str) -> Result<(), Failure> {
        let challenge = reply
            .headers
            .get("www-authenticate")
            .and_then(|h| auth::parse_challenge(h))
            .ok_or_else(|| self.denied(401))?;
        if challenge.scheme.eq_ignore_ascii_case("basic") {
            let c = self.credentials.as_ref().ok_or_else(|| self.denied(401))?;
            self.authorization = Some(c.basic_header());
            return Ok(());
        }
        if !challenge.scheme.eq_ignore_ascii_case("bearer") {
            return Err(Failure::Unreachable(format!(
                "{}: unsupported authentication scheme `{}`",
                self.registry, challenge.scheme
            )));
        }
        let realm = challenge.param("realm").ok_or_else(|| self.denied(401))?;
        let mut url = format!("{realm}?scope=repository:{repository}:pull");
        if let Some(s) = challenge.param("service") {
            url.push_str("&service=");
            url.push_str(&s.replace(' ', "%20"));
        }
        if !realm.starts_with("https://") && !realm.starts_with("http://") {
            return Err(Failure::Unreachable(format!(
                "{}: the token realm is not an http(s) URL",
                self.registry
            )));
        }
        let mut req = self.agent.get(&url);
        // Credentials go to the token service only over HTTPS (or on this machine).
        let realm_host = realm
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        if let Some(c) = &self.credentials
            && (realm.starts_with("https://") || reference::is_loopback(realm_host))
        {
            req = req.header("Authorization", &c.basic_header());
        }
        let resp = req
            .call()
            .map_err(|e| Failure::Unreachable(format!("token service: {}", describe(&e))))?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(self.denied(status));
        }
        if status != 200 {
            return Err(Failure::Unreachable(format!(
                "the token service answered {status}"
            )));
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = resp
            .into_body()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| Failure::Unreachable(format!("token service: {}", describe(&e))))?;
        let t: Token = serde_json::from_slice(&body)
            .map_err(|_| Failure::Unreachable("the token service did not answer JSON".into()))?;
        let token = t
            .token
            .or(t.access_token)
            .ok_or_else(|| Failure::Unreachable("the token service sent no token".into()))?;
        self.authorization = Some(format!("Bearer {token}"));
        Ok(())
    }

    /// One request, retried on 429 as `Retry-After` says (at most [`MAX_TRIES`]).
    fn send(&self, method: &str, path: &str, accept: Option<&str>) -> Result<Reply, Failure> {
        let url = format!("{}{path}", self.base);
        let mut tries = 0;
        loop {
            tries += 1;
            let mut req = ureq::http::Request::builder().method(method).uri(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(a) = &self.authorization {
                req = req.header("Authorization", a);
            }
            let req = req
                .body(())
                .map_err(|_| Failure::Unreachable(format!("`{url}` is not a valid URL")))?;
            let resp = self.agent.run(req).map_err(|e| {
                Failure::Unreachable(format!("{}: {}", self.registry, describe(&e)))
            })?;
            let status = resp.status().as_u16();
            let headers: BTreeMap<String, String> = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().ok()?.to_string(),
                    ))
                })
                .collect();
            if status == 429 {
                if tries >= MAX_TRIES {
                    return Err(Failure::RateLimited(format!(
                        "{}: still 429 Too Many Requests after {tries} tries",
                        self.registry
                    )));
                }
                let wait = headers
                    .get("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(Duration::from_secs(1))
                    .min(MAX_WAIT);
                std::thread::sleep(wait);
                continue;
            }
            let body = if method == "HEAD" {
                Vec::new()
            } else {
                resp.into_body()
                    .with_config()
                    .limit(MAX_BODY)
                    .read_to_vec()
                    .map_err(|e| {
                        Failure::Unreachable(format!("{}: {}", self.registry, describe(&e)))
                    })?
            };
            return Ok(Reply {
                status,
                headers,
                body,
            });
        }
    }

    /// A request on a repository path, re-authenticating once on 401 (a token's scope).
    fn fetch(
        &mut self,
        method: &str,
        repository: &str,
        what: &str,
        accept: Option<&str>,
    ) -> Result<Reply, Failure> {
        let path = format!("/v2/{repository}/{what}");
        let mut reply = self.send(method, &path, accept)?;
        if reply.status == 401 {
            // No credentials sent yet, or a bearer token scoped to another repository: answer
            // the challenge (a HEAD carries it too) and try once more.
            self.authenticate(&reply, repository)?;
            reply = self.send(method, &path, accept)?;
        }
        match reply.status {
            200..=299 => Ok(reply),
            401 | 403 => Err(self.denied(reply.status)),
            404 => Err(Failure::NotFound(format!(
                "{}/{repository}: {} not found (404)",
                self.registry,
                what.trim_start_matches("manifests/")
            ))),
            s => Err(Failure::Unreachable(format!(
                "{}: {method} {path} answered {s}",
                self.registry
            ))),
        }
    }

    /// GET by digest and check the body's SHA-256 against it.
    fn get_verified(
        &mut self,
        repository: &str,
        kind: &str,
        digest: &str,
    ) -> Result<Reply, Failure> {
        let reply = self.fetch("GET", repository, &format!("{kind}/{digest}"), Some(ACCEPT))?;
        let actual = format!("sha256:{}", crate::pack::sha256_hex(&reply.body));
        if actual != digest {
            return Err(Failure::DigestMismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(reply)
    }

    /// The tag's digest and media type, from a HEAD (or a GET when the HEAD lacks them).
    pub fn head_tag(&mut self, r: &Reference) -> Result<(String, String), Failure> {
        let what = format!("manifests/{}", r.tag);
        let reply = self.fetch("HEAD", &r.repository, &what, Some(ACCEPT))?;
        let media = reply
            .headers
            .get("content-type")
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
        if let (Some(d), Some(m)) = (reply.headers.get("docker-content-digest"), media)
            && crate::values::check_digest(d).is_ok()
        {
            return Ok((d.clone(), m));
        }
        let reply = self.fetch("GET", &r.repository, &what, Some(ACCEPT))?;
        let actual = format!("sha256:{}", crate::pack::sha256_hex(&reply.body));
        if let Some(d) = reply.headers.get("docker-content-digest")
            && *d != actual
        {
            return Err(Failure::DigestMismatch {
                expected: d.clone(),
                actual,
            });
        }
        let media = manifest_media_type(&reply)?;
        Ok((actual, media))
    }

    /// Resolve a tag to a pin. `required`: platforms the image must provide.
    pub fn resolve(&mut self, r: &Reference, required: &[String]) -> Result<Pin, Failure> {
        let (digest, media_type) = self.head_tag(r)?;
        let mut platforms = BTreeMap::new();
        match media_type.as_str() {
            OCI_INDEX | DOCKER_LIST => {
                let reply = self.get_verified(&r.repository, "manifests", &digest)?;
                let index: Index = serde_json::from_slice(&reply.body).map_err(|e| {
                    Failure::BadManifest(format!("{r}: the index is not valid: {e}"))
                })?;
                for m in index.manifests {
                    let Some(p) = m.platform else { continue };
                    let attestation = m
                        .annotations
                        .get("vnd.docker.reference.type")
                        .is_some_and(|t| t == "attestation-manifest");
                    if p.os == "unknown" || p.architecture == "unknown" || attestation {
                        continue;
                    }
                    crate::values::check_digest(&m.digest).map_err(|e| {
                        Failure::BadManifest(format!("{r}: an index entry has a bad digest: {e}"))
                    })?;
                    platforms.insert(
                        p.key(),
                        PlatformPin {
                            digest: m.digest,
                            media_type: m.media_type,
                        },
                    );
                }
                if let Some(missing) = required.iter().find(|p| !platforms.contains_key(*p)) {
                    let have: Vec<&str> = platforms.keys().map(String::as_str).collect();
                    return Err(Failure::PlatformMissing(format!(
                        "{r} provides no {missing} (it has {})",
                        if have.is_empty() {
                            "none".into()
                        } else {
                            have.join(", ")
                        }
                    )));
                }
            }
            OCI_MANIFEST | DOCKER_MANIFEST => {
                if required.len() > 1 {
                    return Err(Failure::PlatformMissing(format!(
                        "{r} is a single-platform manifest, but {} are required",
                        required.join(", ")
                    )));
                }
                let reply = self.get_verified(&r.repository, "manifests", &digest)?;
                let m: Manifest = serde_json::from_slice(&reply.body).map_err(|e| {
                    Failure::BadManifest(format!("{r}: the manifest is not valid: {e}"))
                })?;
                crate::values::check_digest(&m.config.digest).map_err(|e| {
                    Failure::BadManifest(format!("{r}: the config digest is bad: {e}"))
                })?;
                let blob = self.get_verified(&r.repository, "blobs", &m.config.digest)?;
                let p: Platform = serde_json::from_slice(&blob.body).map_err(|e| {
                    Failure::BadManifest(format!("{r}: the image config is not valid: {e}"))
                })?;
                if let Some(missing) = required.iter().find(|q| **q != p.key()) {
                    return Err(Failure::PlatformMissing(format!(
                        "{r} is a {} image, not {missing}",
                        p.key()
                    )));
                }
                platforms.insert(
                    p.key(),
                    PlatformPin {
                        digest: digest.clone(),
                        media_type: media_type.clone(),
                    },
                );
            }
            other => {
                return Err(Failure::BadManifest(format!(
                    "{r}: unsupported manifest media type `{other}`"
                )));
            }
        }
        Ok(Pin {
            digest,
            media_type,
            names: Default::default(),
            platforms,
        })
    }
}

fn manifest_media_type(reply: &Reply) -> Result<String, Failure> {
    #[derive(Deserialize)]
    struct Peek {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let from_header = reply
        .headers
        .get("content-type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| !c.is_empty() && c != "application/json");
    let peek: Peek = serde_json::from_slice(&reply.body)
        .map_err(|_| Failure::BadManifest("the manifest is not JSON".into()))?;
    from_header
        .or(peek.media_type)
        .ok_or_else(|| Failure::BadManifest("the manifest has no media type".into()))
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    platform: Option<Platform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(alias = "os")]
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Platform {
    fn key(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{v}", self.os, self.architecture),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Deserialize)]
struct Manifest {
    config: ConfigRef,
}

#[derive(Deserialize)]
struct ConfigRef {
    digest: String,
}
