//! Pinned images pulled by digest: Debian's `docker-registry` on 127.0.0.1 with TLS (a CA this
//! test makes) and htpasswd auth; the test images pushed to it with skopeo; a declaration whose
//! images point there with `digest=`; its Compose bundle under Docker Engine and its Kubernetes
//! pod specs under `podman kube play`, both pulling by digest.
//!
//! Podman verifies the registry's certificate with the test's CA (`--cert-dir`). Docker Engine
//! treats registries on 127.0.0.0/8 as insecure by default and does not verify them; it still
//! speaks TLS and authenticates, and pulls by digest, which is what the bundle controls.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::repo;
use crate::compose::{unpack_from, up_wait};
use crate::engine::{Cleanup, cmd, engines, ok, output, scratch, wait_for};
use crate::kube::{NETWORK, create_secret, play};

const USER: &str = "luciac-e2e";

/// A registry daemon of the test's own; killed by pid on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    pub password: String,
    /// A directory holding `ca.crt`, for `--cert-dir` / `--dest-cert-dir`.
    pub certs: PathBuf,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let sh = |script: &str| {
            let out = output(Command::new("sh").args(["-euc", script]).current_dir(dir));
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out certs/ca.crt -days 2 \
              -subj /CN=luciac-e2e-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
            openssl x509 -req -in server.csr -CA certs/ca.crt -CAkey ca.key -CAcreateserial \
              -out server.crt -days 2 -extfile san.ext 2>/dev/null");
        // A password made here, used only for this run.
        let password = format!("pw-{}-{}", std::process::id(), dir.to_string_lossy().len());
        sh(&format!("htpasswd -Bbn {USER} {password} > htpasswd"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let addr = format!("127.0.0.1:{port}");
        let d = dir.display();
        std::fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {d}/storage\n\
                 http:\n  addr: {addr}\n  tls:\n    certificate: {d}/server.crt\n    key: {d}/server.key\n\
                 auth:\n  htpasswd:\n    realm: luciac-e2e\n    path: {d}/htpasswd\n"
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", &dir.join("config.yml").to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry (scripts/engines.sh install installs it)");
        let registry = Registry {
            child,
            addr,
            password,
            certs,
        };
        wait_for("the registry to listen", Duration::from_secs(30), || {
            TcpStream::connect(&registry.addr).ok().map(|_| ())
        });
        registry
    }

    /// Push a local image (Podman's storage) as `REPO:TAG`; returns its manifest digest.
    pub fn push(&self, local: &str, repo_tag: &str, dir: &Path) -> String {
        let digest_file = dir.join("digest");
        ok(&mut cmd(
            "skopeo",
            &[
                "copy",
                "--quiet",
                "--dest-cert-dir",
                &self.certs.to_string_lossy(),
                "--dest-creds",
                &format!("{USER}:{}", self.password),
                "--digestfile",
                &digest_file.to_string_lossy(),
                &format!("containers-storage:{local}"),
                &format!("docker://{}/{repo_tag}", self.addr),
            ],
        ));
        std::fs::read_to_string(digest_file)
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository's declaration with its images moved to the registry and pinned.
fn pinned_declaration(dir: &Path, pins: &[(&str, String)]) -> PathBuf {
    let decl = dir.join("decl");
    std::fs::create_dir_all(decl.join("profiles")).unwrap();
    let mut text = std::fs::read_to_string(repo().join("lucia.kdl")).unwrap();
    for (from, to) in pins {
        let old = format!("\"{from}\"");
        assert!(text.contains(&old), "lucia.kdl names {from}");
        text = text.replace(&old, to);
    }
    std::fs::write(decl.join("lucia.kdl"), text).unwrap();
    for p in ["dev", "prod"] {
        std::fs::copy(
            repo().join("profiles").join(format!("{p}.kdl")),
            decl.join("profiles").join(format!("{p}.kdl")),
        )
        .unwrap();
    }
    decl
}

#[test]
fn pinned_images_pull_by_digest_from_a_tls_registry() {
    let Some(_engines) = engines("pinned_images_pull_by_digest_from_a_tls_registry") else {
        return;
    };
    let work = scratch("registry");
    let registry = Registry::start(work.path());
    let images = [
        (
            "docker.io/seiggy/lucia-agenthost:1.2.3",
            "seiggy/lucia-agenthost:1.2.3",
        ),
        (
            "docker.io/library/redis:7.4-alpine",
            "library/redis:7.4-alpine",
        ),
        ("docker.io/library/mongo:8.0", "library/mongo:8.0"),
    ];
    let mut pins = Vec::new();
    let mut pinned_refs = Vec::new();
    for (local, repo_tag) in images {
        let digest = registry.push(local, repo_tag, work.path());
        assert!(digest.starts_with("sha256:"), "{digest}");
        let remote = format!("{}/{repo_tag}", registry.addr);
        pinned_refs.push(format!("{remote}@{digest}"));
        pins.push((local, format!("\"{remote}\" digest=\"{digest}\"")));
    }
    let decl = pinned_declaration(work.path(), &pins);
    let out = decl.join("bundles");
    ok(Command::new(env!("CARGO_BIN_EXE_luciac"))
        .args(["build", "--locked", "--profile", "prod", "--out"])
        .arg(&out)
        .current_dir(&decl));

    // Compose: log in as the README of a private registry would say, then up by digest.
    let login = Command::new("docker")
        .args(["login", &registry.addr, "-u", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(registry.password.as_bytes())?;
            c.wait_with_output()
        })
        .expect("docker login");
    assert!(
        login.status.success(),
        "docker login: {}",
        String::from_utf8_lossy(&login.stderr)
    );
    let _logout = Cleanup(|| {
        let _ = output(&mut cmd("docker", &["logout", &registry.addr]));
    });
    let stack = unpack_from("prod", &out.join("prod"), work.path());
    let _down = Cleanup(|| {
        stack.down();
        for r in &pinned_refs {
            let _ = output(&mut cmd("docker", &["rmi", "-f", r]));
        }
    });
    let took = up_wait(&stack);
    crate::engine::record(&format!(
        "e2e registry compose prod: pulled by digest and healthy in {:.1} s",
        took.as_secs_f64()
    ));
    assert_eq!(stack.health(), 200);
    for (svc, want) in ["agenthost", "redis", "mongo"].iter().zip(&pinned_refs) {
        let image = stack.inspect(svc)["Config"]["Image"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let digest = want.rsplit('@').next().unwrap_or_default();
        assert!(
            image.ends_with(&format!("@{digest}")),
            "{svc} runs {image}, not {want}"
        );
    }
    stack.down();

    // kube play: Podman pulls by digest, verifying the registry with the test's CA.
    let _ = output(&mut cmd("podman", &["network", "rm", "-f", NETWORK]));
    ok(&mut cmd("podman", &["network", "create", NETWORK]));
    let _net = Cleanup(|| {
        let _ = output(&mut cmd("podman", &["network", "rm", "-f", NETWORK]));
        let _ = output(&mut cmd("podman", &["secret", "rm", "lucia-secrets"]));
        for r in &pinned_refs {
            let _ = output(&mut cmd("podman", &["rmi", "-f", r]));
        }
    });
    create_secret("lucia-secrets");
    let manifest = ok(&mut cmd(
        "kubectl",
        &[
            "kustomize",
            &out.join("prod/kustomize/overlays/prod").to_string_lossy(),
        ],
    ));
    for r in &pinned_refs {
        assert!(
            manifest.contains(r.rsplit('@').next().unwrap_or_default()),
            "{r} not pinned in the overlay"
        );
    }
    let creds = format!("{USER}:{}", registry.password);
    let certs = registry.certs.to_string_lossy().to_string();
    play(
        "registry-kustomize-prod",
        &manifest,
        work.path(),
        "prod",
        &["--creds", &creds, "--cert-dir", &certs],
    );
}
