//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) started by
//! the test with its own config, port and storage under a temporary directory, stopped by pid
//! when dropped. Images are OCI layouts made here (a tiny layer tarball, a config, a manifest,
//! optionally an index with several platforms and an attestation) and pushed with `skopeo`, so
//! no container engine is needed. Also two tiny fake registries for failures real ones do not
//! produce on demand (429 with `Retry-After`, a body that does not match its digest).
//!
//! API (for `tests/lock_registry.rs` and the end-to-end tests that pull pinned images):
//!
//! - [`tools_present`]: `docker-registry`, `skopeo`, `openssl`, `htpasswd` on PATH; when missing,
//!   panics under `LUCIAC_REQUIRE_VALIDATORS=1`, else returns `false` (the caller skips).
//! - [`Registry::start`]`(`[`Options`]`)`: plain HTTP, `tls: true` (a CA made by the test; see
//!   [`Registry::ca`]), [`Auth::Basic`] (htpasswd), [`Auth::Token`] (the registry's
//!   `auth.token` with a token issuer of the test's own, serving anonymous pulls) or
//!   [`Auth::TokenWithCredentials`] (the issuer demands Basic credentials).
//!   [`Registry::host`] is `127.0.0.1:PORT`.
//! - [`Image::single`]`(os, arch, content)` and [`Image::multi`]`(&[(os, arch)], content,
//!   attestation)` build OCI layouts; [`Image::digest`] is the top manifest's (or index's)
//!   digest, which the registry keeps (`--preserve-digests`).
//! - [`Registry::push`]`(&image, "repo:tag")` pushes with skopeo and returns the digest.
//! - [`Registry::registries_config`]`(dir)` writes a `LUCIAC_REGISTRIES` file trusting the CA.
//! - [`FakeRegistry::start`]`(`[`Fault`]`)`: a one-repository registry on 127.0.0.1 serving a
//!   two-platform index as `app:1`, with the chosen fault (429s, an altered body, a schema 1
//!   manifest, a body that is not JSON); [`FakeRegistry::log`] records every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// Whether the registry tools are installed. Missing under `LUCIAC_REQUIRE_VALIDATORS=1` is a
/// failure (panic); otherwise the caller prints why and skips.
pub fn tools_present() -> bool {
    let missing: Vec<&str> = ["docker-registry", "skopeo", "openssl", "htpasswd"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{} not on PATH: scripts/install-validators.sh installs docker-registry skopeo apache2-utils openssl",
        missing.join(", ")
    );
    if std::env::var_os("LUCIAC_REQUIRE_VALIDATORS").is_some_and(|v| v == "1") {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    false
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic {
        user: String,
        password: String,
    },
    Token,
    /// Bearer tokens whose issuer demands these Basic credentials (a private repository).
    TokenWithCredentials {
        user: String,
        password: String,
    },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub tls: bool,
    pub auth: Auth,
}

impl Options {
    pub fn plain() -> Options {
        Options {
            tls: false,
            auth: Auth::None,
        }
    }
}

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
    pub options: Options,
    issuer: Option<TokenIssuer>,
}

impl Registry {
    /// Start `docker-registry serve` with a fresh config and storage; wait until `/v2/` answers.
    pub fn start(options: Options) -> Registry {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: luciac-test-secret\n",
            d.join("data").display()
        );
        if options.tls {
            make_ca_and_cert(d);
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("server.crt").display(),
                d.join("server.key").display()
            ));
        }
        let mut issuer = None;
        match &options.auth {
            Auth::None => {}
            Auth::Basic { user, password } => {
                let line = run(Command::new("htpasswd").args(["-Bbn", user, password]));
                std::fs::write(d.join("htpasswd"), line.trim()).unwrap_or_else(|e| panic!("{e}"));
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: luciac-test\n    path: {}\n",
                    d.join("htpasswd").display()
                ));
            }
            Auth::Token | Auth::TokenWithCredentials { .. } => {
                let creds = match &options.auth {
                    Auth::TokenWithCredentials { user, password } => {
                        Some((user.clone(), password.clone()))
                    }
                    _ => None,
                };
                let t = TokenIssuer::start(d, creds);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: luciac-test-registry\n    issuer: luciac-test-issuer\n    rootcertbundle: {}\n",
                    t.port,
                    d.join("token.crt").display()
                ));
                issuer = Some(t);
            }
        }
        std::fs::write(d.join("config.yml"), config).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(d.join("registry.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start docker-registry: {e}"));
        let reg = Registry {
            dir,
            port,
            child,
            options,
            issuer,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}: {}",
                std::fs::read_to_string(reg.dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The test CA's certificate (PEM), when the registry serves TLS.
    pub fn ca(&self) -> Option<PathBuf> {
        self.options
            .tls
            .then(|| self.dir.path().join("certs/ca.crt"))
    }

    /// Write a registries file (for `LUCIAC_REGISTRIES`) that trusts the test CA.
    pub fn registries_config(&self, dir: &Path) -> PathBuf {
        let path = dir.join("registries.json");
        let ca = self.ca().map(|c| vec![c]).unwrap_or_default();
        let json = serde_json::json!({ "registries": { self.host(): { "ca": ca } } });
        std::fs::write(&path, json.to_string()).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    /// Push an OCI layout as `repo:tag` with skopeo (all platforms, digests kept).
    pub fn push(&self, image: &Image, repo_tag: &str) -> String {
        let source = format!("oci:{}:latest", image.dir.path().display());
        self.copy(&source, repo_tag, &["--all", "--preserve-digests"]);
        image.digest.clone()
    }

    /// Push any image skopeo can read (`containers-storage:REF` for an engine's image) as
    /// `repo:tag`, with extra skopeo flags (`--format v2s2`); returns the manifest digest.
    pub fn push_from(&self, source: &str, repo_tag: &str, flags: &[&str]) -> String {
        let digest = self.dir.path().join("pushed.digest");
        let mut all = flags.to_vec();
        let digest_arg = format!("--digestfile={}", digest.display());
        all.push(&digest_arg);
        self.copy(source, repo_tag, &all);
        std::fs::read_to_string(digest)
            .unwrap_or_else(|e| panic!("{e}"))
            .trim()
            .to_string()
    }

    fn copy(&self, source: &str, repo_tag: &str, flags: &[&str]) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet"]).args(flags);
        if self.options.tls {
            cmd.arg("--dest-cert-dir")
                .arg(self.dir.path().join("certs"));
        } else {
            cmd.arg("--dest-tls-verify=false");
        }
        if let Auth::Basic { user, password } | Auth::TokenWithCredentials { user, password } =
            &self.options.auth
        {
            cmd.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        cmd.arg(source)
            .arg(format!("docker://{}/{repo_tag}", self.host()))
            .env(
                "REGISTRY_AUTH_FILE",
                self.dir.path().join("skopeo-auth.json"),
            );
        run(&mut cmd);
    }

    /// How many tokens the test's issuer has handed out (0 without `Auth::Token`).
    pub fn tokens_issued(&self) -> usize {
        self.issuer
            .as_ref()
            .map_or(0, |t| t.count.load(Ordering::SeqCst))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it, in `dir`
/// (`certs/ca.crt` is also where skopeo's `--dest-cert-dir` looks).
fn make_ca_and_cert(dir: &Path) {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap_or_else(|e| panic!("{e}"));
    let p = |n: &str| dir.join(n).display().to_string();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=luciac test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &certs.join("ca.crt").display().to_string(),
    ]));
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]));
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &certs.join("ca.crt").display().to_string(),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("server.ext"),
        "-out",
        &p("server.crt"),
    ]));
}

// ---- images --------------------------------------------------------------------------------

/// An OCI image layout on disk, ready for `skopeo copy oci:DIR:latest`.
pub struct Image {
    pub dir: tempfile::TempDir,
    /// The digest of what `latest` names (the index of a multi-platform image).
    pub digest: String,
    /// Per platform (`os/arch`): that manifest's digest.
    pub platforms: Vec<(String, String)>,
}

struct Layout {
    root: PathBuf,
}

impl Layout {
    fn blob(&self, bytes: &[u8]) -> (String, usize) {
        let d = sha256(bytes);
        let path = self.root.join("blobs/sha256").join(&d["sha256:".len()..]);
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
        (d, bytes.len())
    }

    /// A one-layer manifest for a platform; returns (digest, size).
    fn manifest(&self, os: &str, arch: &str, content: &str) -> (String, usize) {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, "hello.txt", content.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let layer = tar.into_inner().unwrap_or_else(|e| panic!("{e}"));
        let (ld, ls) = self.blob(&layer);
        let config = serde_json::json!({
            "architecture": arch, "os": os,
            "rootfs": { "type": "layers", "diff_ids": [ld] },
            "config": {}
        });
        let (cd, cs) = self.blob(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls }]
        });
        self.blob(manifest.to_string().as_bytes())
    }

    fn finish(&self, media_type: &str, digest: &str, size: usize) {
        std::fs::write(
            self.root.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{ "mediaType": media_type, "digest": digest, "size": size,
                "annotations": { "org.opencontainers.image.ref.name": "latest" } }]
        });
        std::fs::write(self.root.join("index.json"), index.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

fn layout() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap_or_else(|e| panic!("{e}"));
    let l = Layout {
        root: dir.path().to_path_buf(),
    };
    (dir, l)
}

impl Image {
    /// A single-platform image whose one file holds `content` (different content, different
    /// digest).
    pub fn single(os: &str, arch: &str, content: &str) -> Image {
        let (dir, l) = layout();
        let (d, s) = l.manifest(os, arch, content);
        l.finish("application/vnd.oci.image.manifest.v1+json", &d, s);
        Image {
            dir,
            digest: d.clone(),
            platforms: vec![(format!("{os}/{arch}"), d)],
        }
    }

    /// A multi-platform OCI index; with `attestation`, plus an `unknown/unknown` attestation
    /// manifest as BuildKit adds.
    pub fn multi(platforms: &[(&str, &str)], content: &str, attestation: bool) -> Image {
        let (dir, l) = layout();
        let mut entries = Vec::new();
        let mut pins = Vec::new();
        for (os, arch) in platforms {
            let (d, s) = l.manifest(os, arch, &format!("{content} {os}/{arch}"));
            pins.push((format!("{os}/{arch}"), d.clone()));
            entries.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": s,
                "platform": { "os": os, "architecture": arch }
            }));
        }
        if attestation {
            let (d, s) = l.manifest("unknown", "unknown", "in-toto attestation");
            let of = pins.first().map(|p| p.1.clone()).unwrap_or_default();
            entries.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": s,
                "platform": { "os": "unknown", "architecture": "unknown" },
                "annotations": { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": of }
            }));
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries
        });
        let (d, s) = l.blob(index.to_string().as_bytes());
        l.finish("application/vnd.oci.image.index.v1+json", &d, s);
        Image {
            dir,
            digest: d,
            platforms: pins,
        }
    }
}

// ---- tiny HTTP servers ---------------------------------------------------------------------

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
    })
}

fn respond(
    mut stream: &TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
    head: bool,
) {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
    if !head {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
}

/// Serve `handle` on a fresh port in a thread until `stop` is set (checked per connection).
fn serve(handle: impl Fn(&Request, &TcpStream) + Send + 'static) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if s.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            if let Some(req) = read_request(&stream) {
                handle(&req, &stream);
            }
        }
    });
    (port, stop)
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token issuer for the registry's `auth.token`: RS256 JWTs with the signing certificate in
/// `x5c` (the registry trusts it through `rootcertbundle`), granting what each scope asks.
struct TokenIssuer {
    port: u16,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
}

impl TokenIssuer {
    fn start(dir: &Path, credentials: Option<(String, String)>) -> TokenIssuer {
        let expected = credentials.map(|(u, p)| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let key = dir.join("token.key");
        let crt = dir.join("token.crt");
        run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=luciac token issuer",
            "-keyout",
            &key.display().to_string(),
            "-out",
            &crt.display().to_string(),
        ]));
        let der_path = dir.join("token.der");
        run(Command::new("openssl").args([
            "x509",
            "-in",
            &crt.display().to_string(),
            "-outform",
            "DER",
            "-out",
            &der_path.display().to_string(),
        ]));
        let der = std::fs::read(&der_path).unwrap_or_else(|e| panic!("{e}"));
        let x5c = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(der)
        };
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let key = key.display().to_string();
        let (port, stop) = serve(move |req, stream| {
            if req.method != "GET" || !req.path.starts_with("/token") {
                respond(stream, "404 Not Found", &[], b"", false);
                return;
            }
            if let Some(want) = &expected {
                let given = req
                    .headers
                    .iter()
                    .find(|(k, _)| k == "authorization")
                    .map(|(_, v)| v.as_str());
                if given != Some(want.as_str()) {
                    respond(stream, "401 Unauthorized", &[], b"", false);
                    return;
                }
            }
            let query = req.path.split_once('?').map(|q| q.1).unwrap_or("");
            let mut access = Vec::new();
            for kv in query.split('&') {
                if let Some(scope) = kv.strip_prefix("scope=") {
                    let scope = scope
                        .replace("%3A", ":")
                        .replace("%2C", ",")
                        .replace("%2F", "/");
                    let parts: Vec<&str> = scope.split(':').collect();
                    if parts.len() == 3 {
                        access.push(serde_json::json!({
                            "type": parts[0], "name": parts[1],
                            "actions": parts[2].split(',').collect::<Vec<_>>()
                        }));
                    }
                }
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5c": [x5c] });
            let n = c.fetch_add(1, Ordering::SeqCst);
            let claims = serde_json::json!({
                "iss": "luciac-test-issuer", "sub": "", "aud": "luciac-test-registry",
                "exp": now + 600, "nbf": now - 60, "iat": now, "jti": format!("t{n}"),
                "access": access
            });
            let signing = format!(
                "{}.{}",
                b64url(header.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            );
            let mut child = match Command::new("openssl")
                .args(["dgst", "-sha256", "-sign", &key])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
            {
                Ok(c) => c,
                Err(_) => return respond(stream, "500 Internal Server Error", &[], b"", false),
            };
            if let Some(mut i) = child.stdin.take() {
                let _ = i.write_all(signing.as_bytes());
            }
            let sig = child
                .wait_with_output()
                .map(|o| o.stdout)
                .unwrap_or_default();
            let token = format!("{signing}.{}", b64url(&sig));
            let body =
                serde_json::json!({ "token": token, "access_token": token, "expires_in": 600 });
            respond(
                stream,
                "200 OK",
                &[("Content-Type", "application/json".into())],
                body.to_string().as_bytes(),
                false,
            );
        });
        TokenIssuer { port, stop, count }
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// What a [`FakeRegistry`] does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The first `n` manifest requests answer 429 with `Retry-After: 1`.
    RateLimit(usize),
    /// The manifest body is altered after its digest was announced.
    TamperBody,
    /// The tag is a Docker schema 1 manifest (unsupported).
    SchemaV1,
    /// The "index" is not JSON (its digest matches the bytes sent).
    Garbage,
}

/// A registry on 127.0.0.1 that serves `app:1` as a two-platform OCI index (the platform
/// manifests themselves are not served: resolving does not read them), with a fault.
pub struct FakeRegistry {
    pub port: u16,
    /// The index's true digest.
    pub digest: String,
    stop: Arc<AtomicBool>,
    /// Requests answered 429 so far.
    pub limited: Arc<AtomicUsize>,
    /// Every request as `METHOD PATH`, in order.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeRegistry {
    pub fn start(fault: Fault) -> FakeRegistry {
        let m = |n: &str| {
            let b = format!("{{\"n\":\"{n}\"}}");
            sha256(b.as_bytes())
        };
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m("amd64"), "size": 10,
                  "platform": { "os": "linux", "architecture": "amd64" } },
                { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m("arm64"), "size": 10,
                  "platform": { "os": "linux", "architecture": "arm64" } }
            ]
        })
        .to_string()
        .into_bytes();
        let digest = sha256(&index);
        let limited = Arc::new(AtomicUsize::new(0));
        let l = limited.clone();
        let d = digest.clone();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let lg = log.clone();
        let (port, stop) = serve(move |req, stream| {
            if let Ok(mut v) = lg.lock() {
                v.push(format!("{} {}", req.method, req.path));
            }
            let head = req.method == "HEAD";
            if req.path == "/v2/" {
                return respond(stream, "200 OK", &[], b"{}", head);
            }
            if !req.path.starts_with("/v2/app/manifests/") {
                return respond(stream, "404 Not Found", &[], b"", head);
            }
            if let Fault::RateLimit(n) = fault
                && l.load(Ordering::SeqCst) < n
            {
                l.fetch_add(1, Ordering::SeqCst);
                return respond(
                    stream,
                    "429 Too Many Requests",
                    &[("Retry-After", "1".into())],
                    b"",
                    head,
                );
            }
            let mut body = index.clone();
            let mut media = "application/vnd.oci.image.index.v1+json";
            let mut digest = d.clone();
            match fault {
                Fault::TamperBody if !head => {
                    body = String::from_utf8_lossy(&body)
                        .replace("arm64", "s390x")
                        .into_bytes();
                }
                Fault::SchemaV1 => {
                    body = br#"{"schemaVersion":1,"name":"app","tag":"1"}"#.to_vec();
                    media = "application/vnd.docker.distribution.manifest.v1+prettyjws";
                    digest = sha256(&body);
                }
                Fault::Garbage => {
                    body = b"this is not a manifest".to_vec();
                    digest = sha256(&body);
                }
                _ => {}
            }
            respond(
                stream,
                "200 OK",
                &[
                    ("Content-Type", media.into()),
                    ("Docker-Content-Digest", digest),
                ],
                &body,
                head,
            );
        });
        FakeRegistry {
            port,
            digest,
            stop,
            limited,
            log,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
