//! `luciac lock` against real registries: Debian's `docker-registry` in four configurations
//! (plain HTTP on 127.0.0.1, TLS with a CA made by the test, htpasswd Basic auth, bearer tokens
//! from a token issuer of the test's own), images pushed with skopeo, credentials from a
//! temporary `DOCKER_CONFIG` (`auths` and a `docker-credential-*` helper script on PATH), and
//! two broken fake registries (429 then 200; a body that does not match its digest).
//!
//! Without the tools these tests print why and pass; under `LUCIAC_REQUIRE_VALIDATORS=1` (what
//! `scripts/test.sh` sets) that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::{Auth, FakeRegistry, Fault, Image, Options, Registry, tools_present};

/// The default declaration with its images moved to `host` (same repositories and tags);
/// mongo requires only linux/amd64 (it is pushed single-platform), the others amd64 and arm64.
fn project_on(host: &str) -> tempfile::TempDir {
    let p = common::project();
    let path = p.path().join("lucia.kdl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let mongo = "\"docker.io/library/mongo:8.0\" platforms=\"linux/amd64,linux/arm64\"";
    assert!(
        text.contains("\"docker.io/") && text.contains(mongo),
        "the default declaration changed its images"
    );
    let text = text.replace(
        mongo,
        "\"docker.io/library/mongo:8.0\" platforms=\"linux/amd64\"",
    );
    std::fs::write(&path, text.replace("\"docker.io/", &format!("\"{host}/")))
        .unwrap_or_else(|e| panic!("{e}"));
    p
}

/// The three images of the default declaration, pushed: agenthost and redis as two-platform
/// indexes (with an attestation), mongo single-platform. Returns the pushed images by name.
fn push_stack(reg: &Registry, salt: &str) -> Vec<(&'static str, Image)> {
    let plats = [("linux", "amd64"), ("linux", "arm64")];
    let images = vec![
        (
            "agenthost",
            Image::multi(&plats, &format!("agenthost {salt}"), true),
        ),
        (
            "redis",
            Image::multi(&plats, &format!("redis {salt}"), false),
        ),
        (
            "mongo",
            Image::single("linux", "amd64", &format!("mongo {salt}")),
        ),
    ];
    for (name, img) in &images {
        let tag = match *name {
            "agenthost" => "seiggy/lucia-agenthost:1.2.3",
            "redis" => "library/redis:7.4-alpine",
            _ => "library/mongo:8.0",
        };
        reg.push(img, tag);
    }
    images
}

/// `luciac` with a private HOME, DOCKER_CONFIG and registries file (nothing of the machine's).
fn luciac(dir: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_luciac"));
    c.current_dir(dir)
        .env("HOME", dir.join(".home"))
        .env("DOCKER_CONFIG", dir.join(".docker"))
        .env("LUCIAC_REGISTRIES", dir.join(".registries.json"))
        .env_remove("XDG_CONFIG_HOME");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn out(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn lock_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("lucia.lock")).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn pin<'a>(lock: &'a serde_json::Value, host: &str, repo_tag: &str) -> &'a serde_json::Value {
    &lock["images"][format!("{host}/{repo_tag}")]
}

#[test]
fn plain_http_lock_then_hermetic_locked_build() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start(Options::plain());
    let host = reg.host();
    let images = push_stack(&reg, "v1");
    let p = project_on(&host);
    let dir = p.path();

    // Before: one warning line for the unpinned images, and --locked refuses.
    let o = out(luciac(dir, &[]).args(["check", "--all"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(stderr.matches("W0050").count(), 1, "{stderr}");
    assert!(
        stderr.contains("3 images are not pinned") && stderr.contains("luciac lock"),
        "{stderr}"
    );
    let o = out(luciac(dir, &[]).args(["build", "--all", "--locked"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let o = out(luciac(dir, &[]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    let lock = lock_json(dir);
    let bytes = std::fs::read(dir.join("lucia.lock")).unwrap_or_default();
    let agent = pin(&lock, &host, "seiggy/lucia-agenthost:1.2.3");
    let (_, multi) = &images[0];
    assert_eq!(agent["digest"], multi.digest.as_str());
    assert_eq!(
        agent["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(agent["names"], serde_json::json!(["agenthost"]));
    let plats = agent["platforms"]
        .as_object()
        .unwrap_or_else(|| panic!("{agent}"));
    assert_eq!(
        plats.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"],
        "attestation skipped"
    );
    for (key, d) in &multi.platforms {
        assert_eq!(plats[key]["digest"], d.as_str());
    }
    let mongo = pin(&lock, &host, "library/mongo:8.0");
    assert_eq!(mongo["digest"], images[2].1.digest.as_str());
    assert_eq!(
        mongo["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        mongo["platforms"]["linux/amd64"]["digest"],
        images[2].1.digest.as_str()
    );

    // Locking again changes nothing (stable bytes, no network needed for pinned images).
    let o = out(luciac(dir, &[]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(dir.join("lucia.lock")).unwrap_or_default(),
        bytes
    );

    // The registry goes away: build reads the lock only.
    drop(reg);
    let o = out(luciac(dir, &[]).args(["build", "--all", "--locked"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("W0050"),
        "{}",
        text(&o)
    );
    let values =
        std::fs::read_to_string(dir.join("bundles/prod/values-prod.yaml")).unwrap_or_default();
    let chart = std::fs::read_to_string(dir.join("bundles/prod/helm/chart/lucia/values.yaml"))
        .unwrap_or_default();
    let redis = images[1].1.digest.as_str();
    assert!(
        chart.contains(redis) || values.contains(redis),
        "Helm values carry the digest:\n{chart}\n{values}"
    );
    let kust = std::fs::read_to_string(
        dir.join("bundles/prod/kustomize/overlays/prod/kustomization.yaml"),
    )
    .unwrap_or_default();
    assert!(kust.contains(&format!("digest: {redis}")), "{kust}");
    let compose = compose_yaml(&dir.join("bundles/prod"));
    assert!(
        compose.contains(&format!("{host}/library/redis:7.4-alpine@{redis}")),
        "{compose}"
    );
    // The bundle's own record is another file; the image lock is not in the bundle.
    assert!(dir.join("bundles/prod/bundle-manifest.json").is_file());
    assert!(!dir.join("bundles/prod/lucia.lock").exists());

    // The tag changes in the declaration: --locked names the stale pin, offline.
    let decl = dir.join("lucia.kdl");
    let t = std::fs::read_to_string(&decl).unwrap_or_default();
    std::fs::write(&decl, t.replace("redis:7.4-alpine", "redis:7.2"))
        .unwrap_or_else(|e| panic!("{e}"));
    let o = out(luciac(dir, &[]).args([
        "build",
        "--profile",
        "prod",
        "--locked",
        "--message-format",
        "json",
    ]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("E0081") && stdout.contains("lucia.kdl"),
        "{stdout}"
    );
}

fn compose_yaml(bundle: &Path) -> String {
    let tgz = std::fs::read_dir(bundle)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().contains("-compose-"))
        .unwrap_or_else(|| panic!("no compose tarball"));
    let (_, files) = luciac::pack::untar_gz(&std::fs::read(tgz).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    files
        .iter()
        .find(|(p, _)| p.ends_with("compose.yaml"))
        .map(|(_, f)| String::from_utf8_lossy(&f.bytes).into_owned())
        .unwrap_or_default()
}

/// The end-to-end piece: a tag moves; `--check` reports it (exit 3, JSON); `--update` takes
/// it; the rebuilt bundles differ from the old ones only in the digests.
#[test]
fn moved_tag_check_update_and_bundles_change_only_in_digests() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start(Options::plain());
    let host = reg.host();
    let v1 = push_stack(&reg, "v1");
    let p = project_on(&host);
    let dir = p.path();
    let t = std::time::Instant::now();
    let o = out(luciac(dir, &[]).arg("lock"));
    let lock_ms = t.elapsed().as_millis();
    assert!(o.status.success(), "{}", text(&o));
    let o = out(luciac(dir, &[]).args(["build", "--all", "--locked", "--out", "old"]));
    assert!(o.status.success(), "{}", text(&o));

    let t = std::time::Instant::now();
    let o = out(luciac(dir, &[]).args(["lock", "--check"]));
    eprintln!(
        "lock (3 images, 2 indexes + 1 manifest, resolved twice): {lock_ms} ms; lock --check: {} ms",
        t.elapsed().as_millis()
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let redis2 = Image::multi(&[("linux", "amd64"), ("linux", "arm64")], "redis v2", false);
    reg.push(&redis2, "library/redis:7.4-alpine");
    let before = std::fs::read(dir.join("lucia.lock")).unwrap_or_default();
    let o = out(luciac(dir, &[]).args(["lock", "--check", "--message-format", "json"]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(
        report["changes"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["changes"][0]["images"], serde_json::json!(["redis"]));
    assert_eq!(report["changes"][0]["old"], v1[1].1.digest.as_str());
    assert_eq!(report["changes"][0]["new"], redis2.digest.as_str());
    assert_eq!(
        std::fs::read(dir.join("lucia.lock")).unwrap_or_default(),
        before,
        "--check writes nothing"
    );

    // --update of another image keeps redis's pin.
    let o = out(luciac(dir, &[]).args(["lock", "--update", "mongo"]));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        pin(&lock_json(dir), &host, "library/redis:7.4-alpine")["digest"],
        v1[1].1.digest.as_str()
    );
    let o = out(luciac(dir, &[]).args(["lock", "--update", "nosuch"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let o = out(luciac(dir, &[]).args(["lock", "--update"]));
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&v1[1].1.digest) && stdout.contains(&redis2.digest),
        "{stdout}"
    );
    assert_eq!(
        pin(&lock_json(dir), &host, "library/redis:7.4-alpine")["digest"],
        redis2.digest.as_str()
    );

    let o = out(luciac(dir, &[]).args(["build", "--all", "--locked", "--out", "new"]));
    assert!(o.status.success(), "{}", text(&o));
    for profile in ["dev", "prod"] {
        let old = tree(&dir.join("old").join(profile));
        let new = tree(&dir.join("new").join(profile));
        assert_eq!(
            old.keys().collect::<Vec<_>>(),
            new.keys().collect::<Vec<_>>()
        );
        let strip = |s: &str| {
            s.replace(&v1[1].1.digest, "DIGEST")
                .replace(&redis2.digest, "DIGEST")
        };
        for (path, a) in &old {
            let b = &new[path];
            if path.ends_with(".tar.gz")
                || path.ends_with(".tgz")
                || path == "SHA256SUMS"
                || path == "bundle-manifest.json"
            {
                continue; // archives and hashes follow from their contents
            }
            assert_eq!(
                strip(a),
                strip(b),
                "{profile}/{path} changed beyond the digest"
            );
        }
        let changed: Vec<&String> = old
            .iter()
            .filter(|(k, v)| new[*k] != **v)
            .map(|(k, _)| k)
            .collect();
        assert!(!changed.is_empty(), "the digest must change something");
    }
}

/// Every file of a bundle directory (archives unpacked as `ARCHIVE!member`) as lossy text.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(base: &Path, d: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
                continue;
            }
            let rel = p
                .strip_prefix(base)
                .map(|r| r.display().to_string())
                .unwrap_or_default();
            let bytes = std::fs::read(&p).unwrap_or_default();
            if (rel.ends_with(".tar.gz") || rel.ends_with(".tgz"))
                && let Ok((_, files)) = luciac::pack::untar_gz(&bytes)
            {
                for (m, f) in files {
                    out.insert(
                        format!("{rel}!{m}"),
                        String::from_utf8_lossy(&f.bytes).into_owned(),
                    );
                }
            }
            out.insert(rel, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    walk(dir, dir, &mut out);
    out
}

#[test]
fn tls_with_the_test_ca() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start(Options {
        tls: true,
        auth: Auth::None,
    });
    let host = reg.host();
    let img = Image::multi(&[("linux", "amd64"), ("linux", "arm64")], "tls", false);
    let p = project_on(&host);
    let dir = p.path();
    push_all_as(&reg, &img);
    // Without the CA: HTTPS fails verification, plain HTTP meets TLS; nothing written.
    let o = out(luciac(dir, &[]).arg("lock"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("E0083") && e.contains("HTTPS"), "{}", text(&o));
    assert!(!dir.join("lucia.lock").exists());
    // With the CA in the registries file.
    let cfg = reg.registries_config(dir);
    assert_eq!(cfg, dir.join("registries.json"));
    std::fs::rename(&cfg, dir.join(".registries.json")).unwrap_or_else(|e| panic!("{e}"));
    let o = out(luciac(dir, &[]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        pin(&lock_json(dir), &host, "library/mongo:8.0")["digest"],
        img.digest.as_str()
    );
}

/// Push one image under all three tags of the default declaration.
fn push_all_as(reg: &Registry, img: &Image) {
    for t in [
        "seiggy/lucia-agenthost:1.2.3",
        "library/redis:7.4-alpine",
        "library/mongo:8.0",
    ] {
        reg.push(img, t);
    }
}

fn write_docker_config(dir: &Path, json: serde_json::Value) {
    std::fs::create_dir_all(dir.join(".docker")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join(".docker/config.json"), json.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn htpasswd_basic_auth_from_auths_and_from_a_credential_helper() {
    if !tools_present() {
        return;
    }
    let password = "s3cret-registry-password";
    let reg = Registry::start(Options {
        tls: false,
        auth: Auth::Basic {
            user: "lucia".into(),
            password: password.into(),
        },
    });
    let host = reg.host();
    let img = Image::multi(&[("linux", "amd64"), ("linux", "arm64")], "basic", false);
    push_all_as(&reg, &img);
    let p = project_on(&host);
    let dir = p.path();

    // Anonymous: 401, naming the source tried.
    let o = out(luciac(dir, &[]).arg("lock"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("E0084") && e.contains("401") && e.contains("anonymous"),
        "{e}"
    );

    // A wrong password in `auths`: still refused, the password never printed.
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    write_docker_config(
        dir,
        serde_json::json!({ "auths": { &host: { "auth": b64("lucia:wrong-password") } } }),
    );
    let o = out(luciac(dir, &[]).arg("lock"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("E0084") && e.contains("`auths` in"), "{e}");
    assert!(!e.contains("wrong-password"), "{e}");

    write_docker_config(
        dir,
        serde_json::json!({ "auths": { &host: { "auth": b64(&format!("lucia:{password}")) } } }),
    );
    let o = out(luciac(dir, &[]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    let lock = std::fs::read_to_string(dir.join("lucia.lock")).unwrap_or_default();
    assert!(!lock.contains(password) && !lock.contains(&b64(&format!("lucia:{password}"))));
    assert!(!text(&o).contains(password));

    // credsStore: a docker-credential-* helper script on PATH.
    std::fs::remove_file(dir.join("lucia.lock")).unwrap_or_else(|e| panic!("{e}"));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    let helper = bin.join("docker-credential-luciactest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r server\necho \"$server\" >> \"{}\"\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"lucia\",\"Secret\":\"{password}\"}}\\n' \"$server\"\n",
            dir.join("helper.log").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    set_exec(&helper);
    write_docker_config(dir, serde_json::json!({ "credsStore": "luciactest" }));
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap_or_default();
    let o = out(luciac(dir, &[("PATH", path.as_os_str())]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("helper.log"))
            .unwrap_or_default()
            .lines()
            .next(),
        Some(host.as_str()),
        "the helper is asked for the registry's host"
    );
    // credHelpers wins over credsStore: a helper that fails is reported by name.
    write_docker_config(
        dir,
        serde_json::json!({ "credsStore": "luciactest", "credHelpers": { &host: "missinghelper" } }),
    );
    let o = out(luciac(dir, &[("PATH", path.as_os_str())]).args(["lock", "--update"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("docker-credential-missinghelper"),
        "{}",
        text(&o)
    );
}

fn set_exec(p: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn bearer_token_flow_with_the_tests_own_issuer() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start(Options {
        tls: false,
        auth: Auth::Token,
    });
    let host = reg.host();
    let img = Image::multi(&[("linux", "amd64"), ("linux", "arm64")], "token", true);
    push_all_as(&reg, &img);
    let issued = reg.tokens_issued();
    let p = project_on(&host);
    let dir = p.path();
    let o = out(luciac(dir, &[]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        reg.tokens_issued() > issued,
        "luciac asked the issuer for tokens"
    );
    assert_eq!(
        pin(&lock_json(dir), &host, "library/redis:7.4-alpine")["digest"],
        img.digest.as_str()
    );
    // A missing tag behind the token flow is a 404, located at the image.
    let decl = dir.join("lucia.kdl");
    let t = std::fs::read_to_string(&decl).unwrap_or_default();
    std::fs::write(&decl, t.replace("mongo:8.0", "mongo:9.9")).unwrap_or_else(|e| panic!("{e}"));
    let before = std::fs::read(dir.join("lucia.lock")).unwrap_or_default();
    let o = out(luciac(dir, &[]).args(["lock", "--message-format", "json"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("E0085") && s.contains("lucia.kdl"), "{s}");
    assert_eq!(
        std::fs::read(dir.join("lucia.lock")).unwrap_or_default(),
        before,
        "nothing written on failure"
    );
}

fn fake_project(fake: &FakeRegistry) -> tempfile::TempDir {
    let p = common::project();
    let path = p.path().join("lucia.kdl");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let host = fake.host();
    let text = text
        .replace(
            "docker.io/seiggy/lucia-agenthost:1.2.3",
            &format!("{host}/app:1"),
        )
        .replace(
            "docker.io/library/redis:7.4-alpine",
            &format!("{host}/app:1"),
        )
        .replace("docker.io/library/mongo:8.0", &format!("{host}/app:1"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    p
}

#[test]
fn rate_limited_then_served_and_always_rate_limited() {
    let fake = FakeRegistry::start(Fault::RateLimit(2));
    let p = fake_project(&fake);
    let o = out(luciac(p.path(), &[]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fake.limited.load(std::sync::atomic::Ordering::SeqCst), 2);
    let lock = lock_json(p.path());
    assert_eq!(
        lock["images"][format!("{}/app:1", fake.host())]["digest"],
        fake.digest.as_str()
    );
    // HEAD first: the tag is never fetched with GET, only the index by its digest, once.
    let log = fake.log.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(
        !log.iter().any(|l| l == "GET /v2/app/manifests/1"),
        "{log:?}"
    );
    let by_digest = format!("GET /v2/app/manifests/{}", fake.digest);
    assert_eq!(
        log.iter().filter(|l| **l == by_digest).count(),
        1,
        "{log:?}"
    );
    assert!(
        log.iter()
            .filter(|l| *l == "HEAD /v2/app/manifests/1")
            .count()
            >= 2,
        "resolved twice: {log:?}"
    );

    let fake = FakeRegistry::start(Fault::RateLimit(100));
    let p = fake_project(&fake);
    let o = out(luciac(p.path(), &[]).arg("lock"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("E0086"),
        "{}",
        text(&o)
    );
    assert_eq!(
        fake.limited.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "bounded: 4 tries"
    );
    assert!(!p.path().join("lucia.lock").exists());
}

#[test]
fn altered_manifest_body_is_refused() {
    let fake = FakeRegistry::start(Fault::TamperBody);
    let p = fake_project(&fake);
    let o = out(luciac(p.path(), &[]).arg("lock"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("E0087") && e.contains(&fake.digest), "{e}");
    assert!(!p.path().join("lucia.lock").exists());
}

#[test]
fn unreachable_registry_is_located() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    let p = project_on(&format!("127.0.0.1:{port}"));
    let o = out(luciac(p.path(), &[]).args(["lock", "--message-format", "json"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("E0083") && s.contains("lucia.kdl"), "{s}");
}

#[test]
fn required_platforms_are_enforced_with_the_images_span() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start(Options::plain());
    let host = reg.host();
    let both = [("linux", "amd64"), ("linux", "arm64")];
    reg.push(
        &Image::multi(&[("linux", "amd64")], "amd64 only", true),
        "seiggy/lucia-agenthost:1.2.3",
    );
    reg.push(
        &Image::single("linux", "amd64", "single"),
        "library/redis:7.4-alpine",
    );
    reg.push(&Image::multi(&both, "mongo", false), "library/mongo:8.0");
    let p = project_on(&host);
    let dir = p.path();
    let o = out(luciac(dir, &[]).args(["lock", "--message-format", "json"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = s.lines().filter(|l| l.contains("E0089")).collect();
    assert_eq!(lines.len(), 2, "{s}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("agenthost") && l.contains("linux/arm64")),
        "{s}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("redis") && l.contains("single-platform")),
        "{s}"
    );
    assert!(lines.iter().all(|l| l.contains("lucia.kdl")), "{s}");
    assert!(!dir.join("lucia.lock").exists(), "nothing written");
}

/// Air-gapped use: Docker Hub references resolved through a mirror set in the registries
/// file; the lock records the original `docker.io/library/…` references.
#[test]
fn docker_hub_references_through_a_configured_mirror() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start(Options::plain());
    let img = Image::multi(&[("linux", "amd64"), ("linux", "arm64")], "mirror", true);
    push_all_as(&reg, &img);
    let p = common::project();
    let dir = p.path();
    let cfg = serde_json::json!({ "registries": { "docker.io": { "mirror": reg.host() } } });
    std::fs::write(dir.join(".registries.json"), cfg.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let o = out(luciac(dir, &[]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    let lock = lock_json(dir);
    for r in [
        "docker.io/seiggy/lucia-agenthost:1.2.3",
        "docker.io/library/redis:7.4-alpine",
        "docker.io/library/mongo:8.0",
    ] {
        assert_eq!(
            lock["images"][r]["digest"],
            img.digest.as_str(),
            "{r}: {lock}"
        );
    }
    assert!(
        !std::fs::read_to_string(dir.join("lucia.lock"))
            .unwrap_or_default()
            .contains(&reg.host())
    );
}

#[test]
fn unsupported_and_malformed_manifests_are_refused() {
    for (fault, needle) in [
        (Fault::SchemaV1, "manifest.v1+prettyjws"),
        (Fault::Garbage, "not valid"),
    ] {
        let fake = FakeRegistry::start(fault);
        let p = fake_project(&fake);
        let o = out(luciac(p.path(), &[]).args(["lock", "--message-format", "json"]));
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(
            s.contains("E0088") && s.contains(needle) && s.contains("lucia.kdl"),
            "{fault:?}: {s}"
        );
        assert!(!p.path().join("lucia.lock").exists());
    }
}

/// A private repository behind the bearer-token flow: the token service wants Basic
/// credentials, which come from `auths` in DOCKER_CONFIG.
#[test]
fn bearer_token_flow_with_credentials_from_docker_config() {
    if !tools_present() {
        return;
    }
    let password = "token-issuer-password";
    let reg = Registry::start(Options {
        tls: false,
        auth: Auth::TokenWithCredentials {
            user: "lucia".into(),
            password: password.into(),
        },
    });
    let host = reg.host();
    let img = Image::multi(&[("linux", "amd64"), ("linux", "arm64")], "private", false);
    push_all_as(&reg, &img);
    let p = project_on(&host);
    let dir = p.path();
    let o = out(luciac(dir, &[]).arg("lock"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("E0084") && e.contains("anonymous"), "{e}");
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("lucia:{password}"));
    write_docker_config(
        dir,
        serde_json::json!({ "auths": { &host: { "auth": auth } } }),
    );
    let o = out(luciac(dir, &[]).arg("lock"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(password));
    assert_eq!(
        pin(&lock_json(dir), &host, "library/redis:7.4-alpine")["digest"],
        img.digest.as_str()
    );
}
