//! `lucia.lock` read by `build`, offline: pins reach every target, `digest=` must agree with the
//! lock (E0080), a pin for another reference fails `--locked` (E0081), an unreadable lock is
//! E0082. The registry side is in `tests/lock_registry.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn luciac(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_luciac"));
    c.current_dir(dir);
    c
}

/// A lock pinning the default declaration's three images (to `digest`, redis to `redis`).
fn write_lock(dir: &Path, digest: &str, redis: &str) {
    let pin = |d: &str, name: &str| {
        serde_json::json!({
            "digest": d,
            "media_type": "application/vnd.oci.image.index.v1+json",
            "names": [name],
            "platforms": {
                "linux/amd64": { "digest": d, "media_type": "application/vnd.oci.image.manifest.v1+json" },
                "linux/arm64": { "digest": d, "media_type": "application/vnd.oci.image.manifest.v1+json" }
            }
        })
    };
    let lock = serde_json::json!({
        "images": {
            "docker.io/seiggy/lucia-agenthost:1.2.3": pin(digest, "agenthost"),
            "docker.io/library/redis:7.4-alpine": pin(redis, "redis"),
            "docker.io/library/mongo:8.0": pin(digest, "mongo"),
        },
        "lock_version": 1
    });
    std::fs::write(dir.join("lucia.lock"), lock.to_string()).unwrap_or_else(|e| panic!("{e}"));
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn pins_reach_every_target_and_locked_passes() {
    let p = common::project();
    write_lock(p.path(), A, B);
    let o = common::run(luciac(p.path()).args(["build", "--all", "--locked"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("W0050"), "{}", stderr(&o));
    let values =
        std::fs::read_to_string(p.path().join("bundles/prod/helm/chart/lucia/values.yaml"))
            .unwrap_or_default();
    assert!(
        values.contains("repository: 'docker.io/library/redis'")
            && values.contains("tag: '7.4-alpine'")
            && values.contains(&format!("digest: '{B}'")),
        "Helm: separate repository, tag and digest:\n{values}"
    );
    let kust = std::fs::read_to_string(
        p.path()
            .join("bundles/prod/kustomize/overlays/prod/kustomization.yaml"),
    )
    .unwrap_or_default();
    assert!(kust.contains(&format!("digest: {B}")), "{kust}");
    let sysd = std::fs::read_dir(p.path().join("bundles/prod"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("-systemd-"))
        .unwrap_or_else(|| panic!("no systemd package"));
    let (_, files) = luciac::pack::untar_gz(&std::fs::read(sysd).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let all: String = files
        .values()
        .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
        .collect();
    if all.contains("docker.io/library/redis") {
        assert!(
            all.contains(&format!("docker.io/library/redis:7.4-alpine@{B}")),
            "systemd names the image pinned"
        );
    }
    // The bundle records the pins; the lock itself is not part of the bundle.
    let manifest = std::fs::read_to_string(p.path().join("bundles/prod/bundle-manifest.json"))
        .unwrap_or_default();
    assert!(manifest.contains(B), "{manifest}");
    assert!(!p.path().join("bundles/prod/lucia.lock").exists());
}

#[test]
fn explicit_digest_must_agree_with_the_lock() {
    let p = common::project();
    write_lock(p.path(), A, B);
    let decl = p.path().join("lucia.kdl");
    let text = std::fs::read_to_string(&decl).unwrap_or_default();
    let pinned = text.replace(
        "\"docker.io/library/redis:7.4-alpine\"",
        &format!("\"docker.io/library/redis:7.4-alpine\" digest=\"{B}\""),
    );
    std::fs::write(&decl, &pinned).unwrap_or_else(|e| panic!("{e}"));
    let o = common::run(luciac(p.path()).args(["build", "--profile", "prod", "--locked"]));
    assert!(o.status.success(), "agreeing digest=: {}", stderr(&o));
    let conflicting = text.replace(
        "\"docker.io/library/redis:7.4-alpine\"",
        &format!("\"docker.io/library/redis:7.4-alpine\" digest=\"{A}\""),
    );
    std::fs::write(&decl, &conflicting).unwrap_or_else(|e| panic!("{e}"));
    let o = common::run(luciac(p.path()).args(["check", "--profile", "prod"]));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("E0080") && e.contains(A) && e.contains(B) && e.contains("lucia.kdl:"),
        "{e}"
    );
}

#[test]
fn stale_pin_unpinned_and_unreadable_lock() {
    let p = common::project();
    write_lock(p.path(), A, B);
    let decl = p.path().join("lucia.kdl");
    let text = std::fs::read_to_string(&decl).unwrap_or_default();
    std::fs::write(&decl, text.replace("redis:7.4-alpine", "redis:7.2"))
        .unwrap_or_else(|e| panic!("{e}"));
    // Without --locked: the one warning line.
    let o = common::run(luciac(p.path()).args(["check", "--all"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("W0050").count(), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 image is not pinned"),
        "{}",
        stderr(&o)
    );
    let o = common::run(luciac(p.path()).args(["check", "--all", "--locked"]));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("E0081")
            && e.contains("docker.io/library/redis:7.4-alpine")
            && e.contains("redis:7.2"),
        "{e}"
    );
    std::fs::write(p.path().join("lucia.lock"), "{ not json").unwrap_or_else(|e| panic!("{e}"));
    let o = common::run(luciac(p.path()).args(["build", "--profile", "prod"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("E0082"), "{}", stderr(&o));
}

#[test]
fn declared_platforms_are_checked_against_the_pin_offline() {
    let p = common::project();
    write_lock(p.path(), A, B);
    let lock_path = p.path().join("lucia.lock");
    let mut lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&lock_path).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    if let Some(pl) =
        lock["images"]["docker.io/library/redis:7.4-alpine"]["platforms"].as_object_mut()
    {
        pl.remove("linux/arm64");
    }
    std::fs::write(&lock_path, lock.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let o = common::run(luciac(p.path()).args(["check", "--profile", "prod"]));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("E0089") && e.contains("linux/arm64") && e.contains("lucia.kdl:"),
        "{e}"
    );

    let decl = p.path().join("lucia.kdl");
    let text = std::fs::read_to_string(&decl).unwrap_or_default();
    std::fs::write(
        &decl,
        text.replacen(
            "platforms=\"linux/amd64,linux/arm64\"",
            "platforms=\"amd64\"",
            1,
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = common::run(luciac(p.path()).args(["check"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("E0026") && stderr(&o).contains("`amd64` is not a platform"),
        "{}",
        stderr(&o)
    );
}
