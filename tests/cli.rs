//! The command line end to end: build, drift check, --locked, profiles, init, graph, and the
//! reproducibility of bundles across working directories, umask, TZ, locale and mtimes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::registry::{FakeRegistry, Fault};
use common::{luciac, project, repo, run, tool};

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .map(|r| r.to_string_lossy().to_string())
                    .unwrap_or_default();
                out.push((rel, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_bundles_are_current() {
    let out = run(luciac()
        .current_dir(repo())
        .args(["build", "--all", "--check"]));
    assert!(
        out.status.success(),
        "bundles/ is stale: run `cargo run -- build --all`\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn build_writes_bundle_lock_and_sums_and_check_detects_drift() {
    let p = project();
    let out = run(luciac()
        .current_dir(p.path())
        .args(["build", "--profile", "prod"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = p.path().join("bundles/prod");
    assert!(dir.join("bundle-manifest.json").is_file() && dir.join("SHA256SUMS").is_file());
    // sha256sum accepts the sums file.
    let sums = run(std::process::Command::new("sha256sum")
        .current_dir(&dir)
        .args(["-c", "--strict", "SHA256SUMS"]));
    assert!(
        sums.status.success(),
        "{}",
        String::from_utf8_lossy(&sums.stdout)
    );
    // The lock: sorted keys, no timestamps, images marked unpinned.
    let lock: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("bundle-manifest.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lock["profile"], "prod");
    assert_eq!(lock["images"]["agenthost"]["digest"], "unpinned");
    assert!(lock["inputs"]["files"]["profiles/prod.kdl"].is_string());
    let art = lock["artifacts"]
        .as_object()
        .and_then(|m| m.values().find(|a| a["target"] == "compose"))
        .unwrap_or_else(|| panic!("no artifact"));
    assert!(
        art["files"]["compose.yaml"]["sha256"]
            .as_str()
            .is_some_and(|s| s.len() == 64)
    );
    let keys: Vec<&String> = lock
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // A second build changes nothing.
    let out = run(luciac()
        .current_dir(p.path())
        .args(["build", "--profile", "prod"]));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("    Finished prod: 0 written, 65 unchanged in bundles/prod\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Up to date, then stale after an edit, with a diff that names the file and the change.
    assert!(
        run(luciac()
            .current_dir(p.path())
            .args(["build", "--profile", "prod", "--check"]))
        .status
        .success()
    );
    let prod = p.path().join("profiles/prod.kdl");
    let text = std::fs::read_to_string(&prod)
        .unwrap_or_default()
        .replace("default=\"Information\"", "default=\"Warning\"");
    std::fs::write(&prod, text).unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac()
        .current_dir(p.path())
        .args(["build", "--profile", "prod", "--check"]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("compose.yaml")
            && err.contains("+      Logging__LogLevel__Default: ${LOG_LEVEL:-Warning}"),
        "{err}"
    );
}

#[test]
fn a_failed_build_leaves_previous_bundles_intact() {
    let p = project();
    assert!(
        run(luciac()
            .current_dir(p.path())
            .args(["build", "--profile", "dev"]))
        .status
        .success()
    );
    let before = read_tree(&p.path().join("bundles"));
    std::fs::write(
        p.path().join("profiles/dev.kdl"),
        "service \"agenthost\" { replicas 2 }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac()
        .current_dir(p.path())
        .args(["build", "--profile", "dev"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0037"));
    assert_eq!(before, read_tree(&p.path().join("bundles")));
}

#[test]
fn unwritable_output_is_a_diagnostic_not_a_panic() {
    let p = project();
    std::fs::write(
        p.path().join("blocker"),
        "a file where a directory should be",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac()
        .current_dir(p.path())
        .args(["build", "--out", "blocker/x"]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("E0060") && !err.contains("panicked"), "{err}");
}

#[test]
fn locked_turns_unpinned_images_into_errors() {
    let p = project();
    let out = run(luciac()
        .current_dir(p.path())
        .args(["check", "--profile", "prod"]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("W0050"));
    let out = run(luciac()
        .current_dir(p.path())
        .args(["build", "--profile", "prod", "--locked"]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for img in ["agenthost", "redis", "mongo"] {
        assert!(err.contains(&format!("image `{img}`")), "{err}");
    }
    assert!(!p.path().join("bundles").exists());
}

#[test]
fn usage_errors_exit_2_and_missing_files_exit_1() {
    let out = run(luciac().args(["build", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac().current_dir(dir.path()).arg("check"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("luciac init"));
    let out = run(luciac().arg("--help"));
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["build", "check", "graph", "init", "explain"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = run(luciac().args(["build", "--help"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Example: luciac build --profile prod"));
    assert!(run(luciac().arg("--version")).status.success());
}

#[test]
fn init_writes_a_working_declaration_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("profiles/dev.kdl"), "// mine\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac().arg("init").arg(dir.path()));
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("profiles/dev.kdl")).unwrap_or_default(),
        "// mine\n"
    );
    assert!(
        dir.path().join("lucia.kdl").is_file() && dir.path().join("profiles/prod.kdl").is_file()
    );
    let out = run(luciac()
        .current_dir(dir.path())
        .args(["check", "--profile", "prod"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn graph_is_dot_in_dependency_order() {
    let out = run(luciac()
        .current_dir(repo())
        .args(["graph", "--profile", "prod"]));
    assert!(out.status.success());
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph \"lucia-prod\""));
    assert!(
        dot.contains("\"agenthost\" -> \"mongo\";") && dot.contains("\"agenthost\" -> \"redis\";"),
        "{dot}"
    );
}

/// Same inputs, byte-identical bundles: different working directory, umask, TZ, locale and
/// input file mtimes.
#[test]
fn bundles_are_reproducible_across_environments() {
    let a = project();
    let b = project();
    // Different mtimes on the inputs of b.
    for rel in ["lucia.kdl", "profiles/prod.kdl"] {
        let f = std::fs::File::options()
            .append(true)
            .open(b.path().join(rel))
            .unwrap_or_else(|e| panic!("{e}"));
        f.set_modified(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let bin = env!("CARGO_BIN_EXE_luciac");
    let build = |dir: &Path, umask: &str, tz: &str, lang: &str| {
        let out = run(std::process::Command::new("sh")
            .current_dir(dir)
            .env("TZ", tz)
            .env("LANG", lang)
            .env("LC_ALL", lang)
            .args([
                "-c",
                &format!("umask {umask} && exec \"$0\" build --all"),
                bin,
            ]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    build(a.path(), "022", "UTC", "C");
    build(b.path(), "077", "Asia/Tokyo", "C.UTF-8");
    let ta = read_tree(&a.path().join("bundles"));
    let tb = read_tree(&b.path().join("bundles"));
    assert!(!ta.is_empty());
    assert_eq!(ta, tb);
    // And identical to the committed bundles.
    assert_eq!(ta, read_tree(&repo().join("bundles")));
}

#[test]
fn diagnostics_show_the_path_given_and_the_lock_a_relative_name() {
    let p = project();
    std::fs::create_dir_all(p.path().join("deploy/profiles")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        p.path().join("deploy/lucia.kdl"),
        luciac::defaults::FILES[0]
            .1
            .replace("    singleton\n", "    singleton\n    replicas 2\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac()
        .current_dir(p.path())
        .args(["check", "-f", "deploy/lucia.kdl"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[deploy/lucia.kdl:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out =
        run(luciac()
            .current_dir(p.path())
            .args(["build", "-f", "lucia.kdl", "--profile", "dev"]));
    assert!(out.status.success());
    let lock = std::fs::read_to_string(p.path().join("bundles/dev/bundle-manifest.json"))
        .unwrap_or_default();
    assert!(
        lock.contains("\"lucia.kdl\"") && lock.contains("\"profiles/dev.kdl\""),
        "{lock}"
    );
    assert!(
        !lock.contains(&p.path().display().to_string()),
        "the lock must not hold machine paths"
    );
}

/// Stale bundles and write failures are diagnostics like any other: under
/// `--message-format json` they are JSON lines with a code and the file concerned.
#[test]
fn stale_bundles_and_write_failures_are_json_diagnostics() {
    let p = project();
    assert!(
        run(luciac()
            .current_dir(p.path())
            .args(["build", "--profile", "prod"]))
        .status
        .success()
    );
    let prod = p.path().join("profiles/prod.kdl");
    let text = std::fs::read_to_string(&prod)
        .unwrap_or_default()
        .replace("default=\"Information\"", "default=\"Warning\"");
    std::fs::write(&prod, text).unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac().current_dir(p.path()).args([
        "--message-format",
        "json",
        "build",
        "--profile",
        "prod",
        "--check",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|v| v["reason"] == "diagnostic"
            && v["profile"] == "prod"
            && v["diagnostic"]["code"] == "luciac::E0061"
            && v["diagnostic"]["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("compose-1.2.3.tar.gz") || f.contains("prod"))),
        "{stdout}"
    );
    assert_eq!(
        lines.last(),
        Some(&serde_json::json!({"reason": "build-finished", "success": false}))
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "JSON mode printed on stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(p.path().join("blocker"), "not a directory").unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac().current_dir(p.path()).args([
        "--message-format",
        "json",
        "build",
        "--out",
        "blocker/x",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("\"luciac::E0060\"") && l.contains("blocker")),
        "{stdout}"
    );
}

/// The base declaration is checked on its own even when every profile overrides its mistake:
/// the Helm chart and the Kustomize base are built from it alone.
#[test]
fn a_base_error_that_profiles_repair_still_fails() {
    let p = project();
    let base = p.path().join("lucia.kdl");
    // Mongo's limit, which both profiles override.
    let text = std::fs::read_to_string(&base).unwrap_or_default().replace(
        "memory=\"512Mi\" memory-limit=\"1Gi\"",
        "memory=\"512Mi\" memory-limit=\"1GB\"",
    );
    assert!(text.contains("1GB"));
    std::fs::write(&base, &text).unwrap_or_else(|e| panic!("{e}"));
    for args in [
        vec!["check"],
        vec!["check", "--profile", "prod"],
        vec!["build", "--all"],
    ] {
        let out = run(luciac().current_dir(p.path()).args(&args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("E0021"), "{args:?}: {err}");
    }
}

/// The shared artifacts come from the base declaration alone: the Helm chart (archive and
/// unpacked) and the Kustomize base are the same bytes in every profile's bundle.
#[test]
fn shared_artifacts_are_the_same_bytes_in_every_profile() {
    let p = project();
    let out = run(luciac().current_dir(p.path()).args(["build", "--all"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dev = read_tree(&p.path().join("bundles/dev"));
    let prod = read_tree(&p.path().join("bundles/prod"));
    let shared = |path: &str| {
        path.ends_with(".tgz")
            || path.starts_with("kustomize/base/")
            || path.starts_with("helm/chart/")
    };
    let pick = |t: &[(String, Vec<u8>)]| {
        t.iter()
            .filter(|(k, _)| shared(k))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        pick(&dev).len() > 10,
        "{:?}",
        dev.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert_eq!(pick(&dev), pick(&prod));
    let values = dev
        .iter()
        .find(|(k, _)| k == "helm/chart/lucia/values.yaml")
        .map(|(_, v)| String::from_utf8_lossy(v).to_string())
        .unwrap_or_default();
    assert!(values.contains("(profile: base)"), "{values}");
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `build` says one line per bundle, as cargo does; `-v` adds a line per file written or
/// removed; `-q` leaves only the diagnostics.
#[test]
fn build_prints_one_line_per_profile_more_with_v_only_diagnostics_with_q() {
    let p = project();
    let build = |args: &[&str]| {
        let out = run(luciac().current_dir(p.path()).args(args));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stderr(&out)
    };
    let unpinned = "warning[W0050]: 3 images are not pinned by digest; run `luciac lock` to pin them in lucia.lock\n";
    assert_eq!(
        build(&["build", "--all"]),
        format!(
            "    Finished dev: 61 written, 0 unchanged in bundles/dev\n    Finished prod: 65 written, 0 unchanged in bundles/prod\n{unpinned}"
        )
    );
    let err = build(&["build", "--all", "--check"]);
    assert_eq!(
        err,
        format!(
            "     Checked dev: 61 files up to date in bundles/dev\n     Checked prod: 65 files up to date in bundles/prod\n{unpinned}"
        )
    );
    // A changed param rewrites some files; -v names them, and what a build no longer makes.
    let prod = p.path().join("profiles/prod.kdl");
    let text = std::fs::read_to_string(&prod).unwrap_or_default();
    std::fs::write(
        &prod,
        format!("{text}target \"github\" {{ enabled #false }}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = build(&["build", "--profile", "prod", "-v"]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.contains(&"       Wrote bundles/prod/SHA256SUMS")
            && lines.contains(&"     Removed bundles/prod/ci/luciac-prod.yml")
            && lines
                .iter()
                .any(|l| l.starts_with("    Finished prod: ")
                    && l.ends_with(" removed in bundles/prod")),
        "{err}"
    );
    assert!(!err.contains("Wrote bundles/prod/lucia-1.2.3.tgz"), "{err}");
    std::fs::write(&prod, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(build(&["-q", "build", "--all"]), unpinned);
    assert_eq!(build(&["build", "--all", "--quiet", "--check"]), unpinned);
    // Quiet keeps every diagnostic.
    std::fs::write(&prod, "service \"agenthost\" { replicas 2 }\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac()
        .current_dir(p.path())
        .args(["build", "--all", "-q"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("E0037") && !err.contains("Finished"), "{err}");
    let out = run(luciac().current_dir(p.path()).args(["build", "-v", "-q"]));
    assert_eq!(out.status.code(), Some(2), "-v and -q exclude each other");
}

/// Every line of `--message-format json` is an object that `docs/message-format.schema.json`
/// accepts (checked with check-jsonschema), on builds that succeed and fail, drift checks,
/// write failures, `check`, `verify` and `lock`; and the messages say what happened.
#[test]
fn json_messages_follow_the_documented_schema() {
    let schema = repo().join("docs/message-format.schema.json");
    let out = run(std::process::Command::new(tool("check-jsonschema"))
        .arg("--check-metaschema")
        .arg(&schema));
    assert!(
        out.status.success(),
        "the schema is not valid draft 2020-12: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let p = project();
    let mut lines: Vec<String> = Vec::new();
    let mut json = |args: &[&str], code: i32| -> Vec<serde_json::Value> {
        let out = run(luciac()
            .current_dir(p.path())
            .args(["--message-format", "json"])
            .args(args));
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).is_empty(),
            "{args:?} printed on stderr: {}",
            stderr(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        lines.extend(stdout.lines().map(str::to_string));
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
            .collect()
    };
    let finished = |ok: bool| serde_json::json!({"reason": "build-finished", "success": ok});

    // A build that writes everything, then one that finds everything current.
    for (round, state) in [(0, "written"), (1, "unchanged")] {
        let msgs = json(&["build", "--all"], 0);
        assert_eq!(msgs.last(), Some(&finished(true)), "round {round}");
        let artifacts: Vec<&serde_json::Value> =
            msgs.iter().filter(|m| m["reason"] == "artifact").collect();
        assert_eq!(artifacts.len(), 61 + 65, "round {round}");
        for a in &artifacts {
            assert_eq!(a["state"], state, "{a}");
            let path = p.path().join(a["path"].as_str().unwrap_or(""));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                a["sha256"],
                luciac::pack::sha256_hex(&bytes).as_str(),
                "{a}"
            );
        }
        let target = |path: &str| {
            artifacts
                .iter()
                .find(|a| a["path"] == path)
                .map(|a| a["target"].clone())
                .unwrap_or_else(|| panic!("no artifact {path}"))
        };
        assert_eq!(
            target("bundles/prod/lucia-prod-compose-1.2.3.tar.gz"),
            "compose"
        );
        assert_eq!(target("bundles/dev/lucia-1.2.3.tgz"), "helm");
        assert_eq!(
            target("bundles/dev/kustomize/base/kustomization.yaml"),
            "kustomize"
        );
        assert_eq!(target("bundles/prod/SHA256SUMS"), serde_json::Value::Null);
        // Diagnostics (the unpinned images) carry the profile whose compilation found them.
        assert!(
            msgs.iter().any(|m| m["reason"] == "diagnostic"
                && m["profile"] == "dev"
                && m["diagnostic"]["code"] == "luciac::W0050"),
            "round {round}"
        );
    }
    // A file the build no longer makes.
    let prod = p.path().join("profiles/prod.kdl");
    let text = std::fs::read_to_string(&prod).unwrap_or_default();
    std::fs::write(
        &prod,
        format!("{text}target \"github\" {{ enabled #false }}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let msgs = json(&["build", "--profile", "prod"], 0);
    assert!(
        msgs.iter().any(|m| m["state"] == "removed"
            && m["path"] == "bundles/prod/ci/luciac-prod.yml"
            && m.get("sha256").is_none()),
        "{msgs:?}"
    );
    // A drift check that finds the removed file missing, then a broken profile.
    std::fs::write(&prod, &text).unwrap_or_else(|e| panic!("{e}"));
    let msgs = json(&["build", "--profile", "prod", "--check"], 1);
    assert_eq!(msgs.last(), Some(&finished(false)));
    std::fs::write(&prod, "service \"agenthost\" { replicas 2 }\n")
        .unwrap_or_else(|e| panic!("{e}"));
    for args in [&["build", "--all"][..], &["check", "--profile", "prod"]] {
        let msgs = json(args, 1);
        assert!(
            msgs.iter()
                .any(|m| m["profile"] == "prod" && m["diagnostic"]["code"] == "luciac::E0037"),
            "{args:?}: {msgs:?}"
        );
        assert_eq!(msgs.last(), Some(&finished(false)), "{args:?}");
    }
    std::fs::write(&prod, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json(&["check", "--all"], 0).last(), Some(&finished(true)));
    // A write failure, an unknown profile, a missing declaration, a tampered bundle.
    std::fs::write(p.path().join("blocker"), "not a directory").unwrap_or_else(|e| panic!("{e}"));
    let msgs = json(&["build", "--out", "blocker/x"], 1);
    assert!(
        msgs.iter()
            .any(|m| m["profile"] == "base" && m["diagnostic"]["code"] == "luciac::E0060"),
        "{msgs:?}"
    );
    json(&["build", "--profile", "staging"], 1);
    json(&["-f", "nowhere.kdl", "check"], 1);
    let values = p.path().join("bundles/dev/values-dev.yaml");
    std::fs::write(&values, "tampered\n").unwrap_or_else(|e| panic!("{e}"));
    json(&["verify", "bundles"], 1);

    // `lock` against a registry on 127.0.0.1 serving every image of the declaration.
    let fake = FakeRegistry::start(Fault::RateLimit(0));
    let decl = p.path().join("lucia.kdl");
    let kdl = std::fs::read_to_string(&decl).unwrap_or_default();
    let host = fake.host();
    let kdl = [
        "docker.io/seiggy/lucia-agenthost:1.2.3",
        "docker.io/library/redis:7.4-alpine",
        "docker.io/library/mongo:8.0",
    ]
    .iter()
    .fold(kdl, |k, img| k.replace(img, &format!("{host}/app:1")));
    std::fs::write(&decl, kdl).unwrap_or_else(|e| panic!("{e}"));
    let home = p.path().join(".home");
    let lock = |args: &[&str], lines: &mut Vec<String>| {
        let out = run(luciac()
            .current_dir(p.path())
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("LUCIAC_REGISTRIES", home.join("registries.json"))
            .env_remove("XDG_CONFIG_HOME")
            .args(["--message-format", "json", "lock"])
            .args(args));
        assert!(out.status.success(), "lock {args:?}: {}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        lines.extend(stdout.lines().map(str::to_string));
        stdout
    };
    let report: serde_json::Value = serde_json::from_str(&lock(&[], &mut lines))
        .unwrap_or_else(|e| panic!("one JSON line: {e}"));
    assert_eq!(report["reason"], "lock-report");
    assert_eq!(report["written"], true);
    lock(&["--check"], &mut lines);

    // Every line, one instance file each, through check-jsonschema.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut files = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let f = dir.path().join(format!("line-{i:04}.json"));
        std::fs::write(&f, line).unwrap_or_else(|e| panic!("{e}"));
        files.push(f);
    }
    let reasons: std::collections::BTreeSet<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["reason"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        reasons.into_iter().collect::<Vec<_>>(),
        ["artifact", "build-finished", "diagnostic", "lock-report"]
    );
    let out = run(std::process::Command::new(tool("check-jsonschema"))
        .arg("--schemafile")
        .arg(&schema)
        .args(&files));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
