//! The stacks in `examples/`: each compiles for both profiles, its committed bundles are
//! current (`build --check`), every bundle passes the real validators (docker-compose and the
//! Compose schema, helm lint and template, kubectl kustomize, kubernetes-validate, shellcheck),
//! and no stack but Lucia's carries Lucia's words.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_clean, checkov, kube_validate, luciac, repo, run, tool};

/// Every example directory (`examples/<name>/stack.kdl`), sorted.
fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap_or_else(|e| panic!("examples/: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("stack.kdl").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 3, "examples/ holds {dirs:?}");
    dirs
}

fn name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// The examples that are not Lucia's stack: their bundles must not mention it.
const NOT_LUCIA: &[&str] = &["git-forge", "home-automation"];

/// A copy of the committed bundle directory with every archive unpacked beside it.
fn unpacked(bundle: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = run(Command::new("cp")
        .arg("-R")
        .arg(format!("{}/.", bundle.display()))
        .arg(dir.path()));
    assert_clean("cp", &out);
    for entry in std::fs::read_dir(dir.path()).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let file = path.to_string_lossy().to_string();
        if file.ends_with(".tar.gz") || file.ends_with(".tgz") {
            let out = run(Command::new("tar")
                .arg("-xzf")
                .arg(&path)
                .arg("-C")
                .arg(dir.path()));
            assert_clean(&format!("tar -xzf {file}"), &out);
        }
    }
    dir
}

/// Files under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap_or_else(|e| panic!("{e}")).path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The one directory in `dir` whose name ends with `suffix` (an unpacked archive).
fn unpacked_dir(dir: &Path, suffix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir() && p.to_string_lossy().contains(suffix))
}

#[test]
fn committed_bundles_are_current() {
    for dir in examples() {
        let out =
            run(luciac()
                .current_dir(&dir)
                .args(["build", "-f", "stack.kdl", "--all", "--check"]));
        // Warnings (unpinned images, host paths) go to stderr; drift is a failure.
        assert!(
            out.status.success(),
            "luciac build --all --check ({}):\n{}",
            name(&dir),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn compose_bundles_pass_docker_compose_and_the_schema() {
    for dir in examples() {
        check_compose(&dir, &name(&dir));
    }
}

/// docker-compose and the Compose schema on `dir/bundles/{dev,prod}`.
fn check_compose(dir: &Path, stack: &str) {
    {
        for profile in ["dev", "prod"] {
            let what = format!("{stack} {profile}");
            let tmp = unpacked(&dir.join("bundles").join(profile));
            let compose = unpacked_dir(tmp.path(), &format!("-{profile}-compose-"))
                .unwrap_or_else(|| panic!("no Compose bundle ({what})"));
            let out = run(Command::new(tool("docker-compose"))
                .current_dir(&compose)
                .env_remove("COMPOSE_PROJECT_NAME")
                .args(["-f", "compose.yaml", "config", "-q"]));
            assert_clean(&format!("docker-compose config -q ({what})"), &out);
            let out = run(Command::new(tool("check-jsonschema"))
                .current_dir(&compose)
                .args(["--builtin-schema", "vendor.compose-spec", "compose.yaml"]));
            assert!(
                out.status.success(),
                "compose schema ({what}): {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

#[test]
fn helm_charts_lint_and_render_valid_objects() {
    for dir in examples() {
        check_helm(&dir, &name(&dir));
    }
}

/// helm lint and template, and kubernetes-validate, on `dir/bundles/{dev,prod}`.
fn check_helm(dir: &Path, stack: &str) {
    {
        for profile in ["dev", "prod"] {
            let what = format!("{stack} {profile}");
            let bundle = dir.join("bundles").join(profile);
            let chart = files(&bundle)
                .into_iter()
                .find(|p| {
                    p.parent() == Some(bundle.as_path())
                        && p.extension().is_some_and(|e| e == "tgz")
                })
                .unwrap_or_else(|| panic!("no chart ({what})"));
            let values = bundle.join(format!("values-{profile}.yaml"));
            let (chart, values) = (chart.to_string_lossy(), values.to_string_lossy());
            let out =
                run(Command::new(tool("helm")).args(["lint", "--strict", &chart, "-f", &values]));
            assert_clean(&format!("helm lint --strict ({what})"), &out);
            // A chart with secrets renders with an existing Secret named instead of values.
            let listing = run(Command::new("tar").arg("-tzf").arg(chart.as_ref()));
            let has_secrets =
                String::from_utf8_lossy(&listing.stdout).contains("templates/secret.yaml");
            let mut args = vec!["template", "release", &chart, "-f", &values];
            if has_secrets {
                args.extend(["--set", "secrets.existingSecret=external"]);
            }
            let out = run(Command::new(tool("helm")).args(&args));
            assert_clean(&format!("helm template ({what})"), &out);
            kube_validate(
                &String::from_utf8_lossy(&out.stdout),
                &format!("helm {what}"),
            );
        }
    }
}

#[test]
fn kustomize_overlays_build_valid_objects() {
    for dir in examples() {
        check_kustomize(&dir, &name(&dir));
    }
}

/// kubectl kustomize and kubernetes-validate on each profile's overlay.
fn check_kustomize(dir: &Path, stack: &str) {
    {
        for profile in ["dev", "prod"] {
            let what = format!("{stack} {profile}");
            let overlay = dir
                .join("bundles")
                .join(profile)
                .join("kustomize/overlays")
                .join(profile);
            let out = run(Command::new(tool("kubectl")).arg("kustomize").arg(&overlay));
            assert_clean(&format!("kubectl kustomize ({what})"), &out);
            kube_validate(
                &String::from_utf8_lossy(&out.stdout),
                &format!("kustomize {what}"),
            );
        }
    }
}

#[test]
fn shell_scripts_pass_shellcheck() {
    for dir in examples() {
        for profile in ["dev", "prod"] {
            let tmp = unpacked(&dir.join("bundles").join(profile));
            let scripts: Vec<PathBuf> = files(tmp.path())
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "sh"))
                .collect();
            assert!(!scripts.is_empty(), "no scripts in {}", name(&dir));
            let out = run(Command::new(tool("shellcheck")).args(&scripts));
            assert_clean(&format!("shellcheck ({} {profile})", name(&dir)), &out);
        }
    }
}

/// Issue: bundles of other stacks carried Lucia's defaults, comments, scripts and port.
#[test]
fn no_lucia_words_in_other_stacks_bundles() {
    let mut found = Vec::new();
    for dir in examples()
        .into_iter()
        .filter(|d| NOT_LUCIA.contains(&name(d).as_str()))
    {
        for profile in ["dev", "prod"] {
            let tmp = unpacked(&dir.join("bundles").join(profile));
            for file in files(tmp.path()) {
                let bytes = std::fs::read(&file).unwrap_or_default();
                // The compiler's own names are not Lucia's: luciac, luciac-<profile>.yml, and the
                // lock file it keeps next to any declaration, lucia.lock (src/lock/file.rs).
                let text = String::from_utf8_lossy(&bytes)
                    .replace("luciac", "")
                    .replace(luciac::lock::file::LOCK_FILE, "");
                for word in common::LUCIA_WORDS {
                    if let Some(line) = text.lines().find(|l| l.contains(word)) {
                        found.push(format!(
                            "{} {profile}: {}: `{word}` in: {}",
                            name(&dir),
                            file.strip_prefix(tmp.path()).unwrap_or(&file).display(),
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "Lucia's words in other stacks:\n{}",
        found.join("\n")
    );
}

/// `luciac init --template NAME` writes a declaration that builds for both profiles into
/// bundles the real validators accept.
#[test]
fn init_templates_build_and_pass_the_validators() {
    for template in ["lucia", "blank", "app-db"] {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().join(template);
        let out = run(luciac()
            .arg("init")
            .arg("--template")
            .arg(template)
            .arg(&dir));
        assert!(out.status.success(), "init --template {template}");
        let out = run(luciac().current_dir(&dir).args(["build", "--all"]));
        assert!(
            out.status.success(),
            "build ({template}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let what = format!("template {template}");
        check_compose(&dir, &what);
        check_helm(&dir, &what);
        check_kustomize(&dir, &what);
    }
}

/// checkov on each example's chart finds nothing but what the declaration grants with a
/// reason (root, capabilities, the host's network, a writable root) and the exceptions the
/// Lucia chart documents (`tests/helm.rs`): the grant is the declaration's decision, written
/// into the chart's README; anything else is a finding.
#[test]
fn checkov_finds_only_what_the_declarations_grant() {
    for dir in examples() {
        let stack = name(&dir);
        let mut skips = vec![
            // Documented for every chart (tests/helm.rs, the chart README).
            "CKV_K8S_15",
            "CKV_K8S_21",
            "CKV_K8S_35",
            "CKV_K8S_11",
            // No digests until `luciac lock` runs where the registries are reachable.
            "CKV_K8S_43",
            // Images that own their files as a UID below 10000 (999, 1000, 1883).
            "CKV_K8S_40",
            // checkov renders the chart's defaults, where NetworkPolicy is off (profiles turn
            // it on in their values file).
            "CKV2_K8S_6",
        ];
        // What the declaration grants, read from its model (the base: the chart's defaults).
        let mut diags = Vec::new();
        let model = luciac::compile::load(&dir.join("stack.kdl"), None, &mut diags)
            .and_then(|input| luciac::compile::compile(&input, Default::default(), &mut diags))
            .unwrap_or_else(|| panic!("{stack}: {diags:?}"));
        let grants = [
            (
                model.services.iter().any(|s| s.host_network.is_some()),
                "CKV_K8S_19",
            ),
            (
                model.services.iter().any(|s| !s.capabilities.is_empty()),
                "CKV_K8S_25",
            ),
            (
                model.services.iter().any(|s| s.root.is_some()),
                "CKV_K8S_23",
            ),
            (
                model.services.iter().any(|s| !s.read_only_root),
                "CKV_K8S_22",
            ),
        ];
        skips.extend(
            grants
                .iter()
                .filter(|(granted, _)| *granted)
                .map(|(_, c)| *c),
        );
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bundle = dir.join("bundles/prod");
        let chart = files(&bundle)
            .into_iter()
            .find(|p| {
                p.parent() == Some(bundle.as_path()) && p.extension().is_some_and(|e| e == "tgz")
            })
            .unwrap_or_else(|| panic!("no chart ({stack})"));
        let out = run(Command::new("tar")
            .arg("-xzf")
            .arg(&chart)
            .arg("-C")
            .arg(tmp.path()));
        assert_clean("tar", &out);
        checkov("helm", tmp.path(), &skips, &stack);
    }
}
