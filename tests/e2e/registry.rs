//! Pinned images pulled by digest: Debian's `docker-registry` on 127.0.0.1 with TLS (a CA this
//! test makes) and htpasswd auth (the fixture in `tests/common/registry.rs`); the test images
//! pushed to it with skopeo; a declaration whose images point there, pinned by `luciac lock`
//! with the credentials `docker login` stored; its Compose bundle under Docker Engine and its
//! Kubernetes pod specs under `podman kube play`, both pulling by digest. Then the tag moves:
//! `lock --check` reports it, `lock --update` takes it, and the bundles change only in digests.
//!
//! Podman verifies the registry's certificate with the test's CA (`--cert-dir`). Docker Engine
//! treats registries on 127.0.0.0/8 as insecure by default and does not verify them; it still
//! speaks TLS and authenticates, and pulls by digest, which is what the bundle controls.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::registry::{Auth, Options, Registry};
use crate::common::repo;
use crate::compose::{unpack_from, up_wait};
use crate::engine::{Cleanup, cmd, engines, ok, output, scratch};
use crate::kube::{NETWORK, create_secret, play};

const USER: &str = "luciac-e2e";

fn luciac(decl: &Path, args: &[&str], registries: &Path) -> std::process::Output {
    output(
        Command::new(env!("CARGO_BIN_EXE_luciac"))
            .args(args)
            .current_dir(decl)
            .env("LUCIAC_REGISTRIES", registries),
    )
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
    // The test images are built for this machine only; the declaration asks for what they are.
    let text = text.replace(
        "platforms=\"linux/amd64,linux/arm64\"",
        &format!(
            "platforms=\"linux/{}\"",
            if cfg!(target_arch = "aarch64") {
                "arm64"
            } else {
                "amd64"
            }
        ),
    );
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

fn compose_file(bundle: &Path) -> String {
    let tarball = std::fs::read_dir(bundle)
        .expect("bundle")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("-compose-"))
        .expect("compose tarball");
    ok(&mut cmd(
        "tar",
        &[
            "-xzOf",
            &tarball.to_string_lossy(),
            "--wildcards",
            "*/compose.yaml",
        ],
    ))
}

#[test]
fn pinned_images_pull_by_digest_from_a_tls_registry() {
    let Some(_engines) = engines("pinned_images_pull_by_digest_from_a_tls_registry") else {
        return;
    };
    let work = scratch("registry");
    let password = format!("pw-{}", std::process::id());
    let registry = Registry::start(Options {
        tls: true,
        auth: Auth::Basic {
            user: USER.into(),
            password: password.clone(),
        },
    });
    let host = registry.host();
    let registries = registry.registries_config(work.path());
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
    let mut moves = Vec::new();
    let mut pinned_refs = Vec::new();
    for (local, repo_tag) in images {
        let digest = registry.push_from(&format!("containers-storage:{local}"), repo_tag, &[]);
        assert!(digest.starts_with("sha256:"), "{digest}");
        pinned_refs.push(format!("{host}/{repo_tag}@{digest}"));
        moves.push((local, format!("\"{host}/{repo_tag}\"")));
    }
    let decl = pinned_declaration(work.path(), &moves);

    // `docker login` stores the credentials luciac lock and Compose both use.
    let login = Command::new("docker")
        .args(["login", &host, "-u", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(password.as_bytes())?;
            c.wait_with_output()
        })
        .expect("docker login");
    assert!(
        login.status.success(),
        "docker login: {}",
        String::from_utf8_lossy(&login.stderr)
    );
    let _logout = Cleanup(|| {
        let _ = output(&mut cmd("docker", &["logout", &host]));
    });
    let lock = luciac(&decl, &["lock"], &registries);
    assert!(
        lock.status.success(),
        "luciac lock: {}",
        String::from_utf8_lossy(&lock.stderr)
    );
    let lockfile = std::fs::read_to_string(decl.join("lucia.lock")).expect("lucia.lock");
    assert!(!lockfile.contains(&password), "a credential in lucia.lock");
    for r in &pinned_refs {
        assert!(
            lockfile.contains(r.rsplit('@').next().unwrap_or_default()),
            "{r} not in lucia.lock"
        );
    }
    let out = decl.join("bundles");
    let out_arg = out.to_string_lossy().to_string();
    let build_locked = || {
        luciac(
            &decl,
            &["build", "--locked", "--profile", "prod", "--out", &out_arg],
            &registries,
        )
    };
    let build = build_locked();
    assert!(
        build.status.success(),
        "build --locked: {}",
        String::from_utf8_lossy(&build.stderr)
    );

    // Compose pulls by digest.
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
    let creds = format!("{USER}:{password}");
    let certs = registry
        .dir
        .path()
        .join("certs")
        .to_string_lossy()
        .to_string();
    play(
        "registry-kustomize-prod",
        &manifest,
        work.path(),
        "prod",
        &["--creds", &creds, "--cert-dir", &certs],
    );

    // The tag moves (the same image pushed again as a Docker schema-2 manifest: a new digest).
    let before = compose_file(&out.join("prod"));
    let (local, repo_tag) = images[1];
    let moved = registry.push_from(
        &format!("containers-storage:{local}"),
        repo_tag,
        &["--format", "v2s2"],
    );
    let old = pinned_refs[1]
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_ne!(moved, old, "the re-push has a new digest");
    let check = luciac(&decl, &["lock", "--check"], &registries);
    assert_eq!(
        check.status.code(),
        Some(3),
        "lock --check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let said = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(
        said.contains(&old) && said.contains(&moved),
        "lock --check names old and new:\n{said}"
    );
    let update = luciac(&decl, &["lock", "--update"], &registries);
    assert!(
        update.status.success(),
        "lock --update: {}",
        String::from_utf8_lossy(&update.stderr)
    );
    let build = build_locked();
    assert!(
        build.status.success(),
        "rebuild: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let after = compose_file(&out.join("prod"));
    assert_ne!(before, after);
    assert_eq!(
        before.replace(&old, &moved),
        after,
        "the bundle changed beyond the digest"
    );
}
