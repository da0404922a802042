//! Delivery: the release workflow and Lucia's image pipeline (infra/docker) pass actionlint
//! (with shellcheck on every run: script), zizmor --offline, hadolint and the GitHub workflow
//! schema; every action is pinned by commit SHA; the release publishes nothing unless the
//! tests passed and two independent bundle builds agreed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use common::{assert_clean, repo, run, tool};

const RELEASE: &str = ".github/workflows/release.yml";
const IMAGE: &str = "infra/docker/docker-build-push.yml";
const DOCKERFILE: &str = "infra/docker/Dockerfile";

fn path(rel: &str) -> PathBuf {
    repo().join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn workflows() -> [PathBuf; 2] {
    [path(RELEASE), path(IMAGE)]
}

#[test]
fn actionlint_with_shellcheck_is_clean() {
    // actionlint runs shellcheck on every run: script only when it finds it on PATH.
    let shellcheck = tool("shellcheck");
    let dir = shellcheck.parent().unwrap_or_else(|| panic!("no parent"));
    let path_var = std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_clean(
        "actionlint",
        &run(Command::new(tool("actionlint"))
            .env("PATH", path_var)
            .args(workflows())),
    );
}

#[test]
fn zizmor_offline_has_no_findings() {
    for wf in workflows() {
        let out = run(Command::new(tool("zizmor")).arg("--offline").arg(&wf));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("No findings"),
            "zizmor {}: {}\n{stdout}{}",
            wf.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn workflows_match_the_github_workflow_schema() {
    let out = run(Command::new(tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(workflows()));
    assert_clean("check-jsonschema", &out);
}

#[test]
fn hadolint_is_clean() {
    let out = run(Command::new(tool("hadolint"))
        .args(["--failure-threshold", "style"])
        .arg(path(DOCKERFILE)));
    assert_clean("hadolint", &out);
    assert!(
        out.stdout.is_empty(),
        "hadolint: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `owner/repo[/path]@<40 hex> # v<version>`: nothing else may follow `uses:`.
fn check_pin(line: &str) -> Result<(), String> {
    let value = line
        .trim_start()
        .trim_start_matches("- ")
        .trim_start()
        .strip_prefix("uses:")
        .ok_or("not a uses: line")?
        .trim();
    let (reference, comment) = value.split_once(" # ").ok_or("no `# vX` version comment")?;
    let (action, sha) = reference.split_once('@').ok_or("no @ref")?;
    let parts: Vec<&str> = action.split('/').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) || action.starts_with('.') {
        return Err(format!("`{action}` is not owner/repo"));
    }
    if sha.len() != 40
        || !sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("`{sha}` is not a full 40-hex commit SHA"));
    }
    let version = comment
        .trim()
        .strip_prefix('v')
        .ok_or("comment is not `vX`")?;
    if version.is_empty()
        || !version
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("`{comment}` is not a version like v4.2.2"));
    }
    Ok(())
}

#[test]
fn pin_checker_rejects_what_it_should() {
    let good = "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
    assert_eq!(check_pin(good), Ok(()));
    for bad in [
        "      - uses: actions/checkout@v4",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af68 # v4.2.2",
        "      - uses: actions/checkout@11BD71901BBE5B1630CEEA73D27597364C9AF683 # v4.2.2",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # main",
        "      - uses: ./local-action",
        "      - uses: docker://alpine:3.21",
    ] {
        assert!(check_pin(bad).is_err(), "accepted: {bad}");
    }
}

#[test]
fn every_action_is_pinned_by_sha_with_a_version_comment() {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rel in [RELEASE, IMAGE] {
        let text = read(rel);
        let mut count = 0;
        for (n, line) in text.lines().enumerate() {
            let t = line.trim_start().trim_start_matches("- ").trim_start();
            if !t.starts_with("uses:") {
                continue;
            }
            count += 1;
            if let Err(e) = check_pin(line) {
                panic!("{rel}:{}: {e}: {line}", n + 1);
            }
            let reference = t["uses:".len()..].trim();
            let (action, rest) = reference.split_once('@').unwrap_or_default();
            seen.entry(action.to_string())
                .or_default()
                .insert(rest.to_string());
        }
        assert!(count > 0, "{rel}: no uses: lines");
    }
    // One pin per action across both workflows.
    for (action, pins) in &seen {
        assert_eq!(pins.len(), 1, "{action} is pinned differently: {pins:?}");
    }
}

/// Top-level `jobs:` of a workflow: job id -> its lines (block YAML as written here).
fn jobs(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut jobs = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_jobs = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_jobs = line.trim_end() == "jobs:";
            current = None;
            continue;
        }
        if !in_jobs {
            continue;
        }
        if let Some(id) = line.strip_prefix("  ")
            && !id.starts_with(' ')
            && !id.starts_with('#')
            && let Some(id) = id.trim_end().strip_suffix(':')
        {
            current = Some(id.to_string());
            jobs.insert(id.to_string(), Vec::new());
            continue;
        }
        if let Some(id) = &current {
            jobs.get_mut(id)
                .unwrap_or_else(|| panic!("job"))
                .push(line.to_string());
        }
    }
    jobs
}

/// The value of a job-level key (`    key: value`), without a trailing comment.
fn job_key<'a>(body: &'a [String], key: &str) -> Option<(usize, &'a str)> {
    body.iter().enumerate().find_map(|(i, l)| {
        let v = l
            .strip_prefix("    ")?
            .strip_prefix(key)?
            .strip_prefix(':')?;
        (!l.starts_with("     ")).then(|| (i, v.split(" #").next().unwrap_or("").trim()))
    })
}

fn needs(body: &[String]) -> BTreeSet<String> {
    let Some((i, v)) = job_key(body, "needs") else {
        return BTreeSet::new();
    };
    if v.is_empty() {
        return body[i + 1..]
            .iter()
            .map_while(|l| l.strip_prefix("      - ").map(|s| s.trim().to_string()))
            .collect();
    }
    v.trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `permissions:` of a job as scope -> level ("{}" gives an empty map; None if absent).
fn permissions(body: &[String]) -> Option<BTreeMap<String, String>> {
    let (i, v) = job_key(body, "permissions")?;
    if v == "{}" {
        return Some(BTreeMap::new());
    }
    assert!(v.is_empty(), "permissions: {v}");
    Some(
        body[i + 1..]
            .iter()
            .map_while(|l| l.strip_prefix("      ").filter(|s| !s.starts_with(' ')))
            .map(|s| {
                let s = s.split(" #").next().unwrap_or("");
                let (k, v) = s.split_once(':').unwrap_or_else(|| panic!("{s}"));
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect(),
    )
}

/// Every job that `job` needs, directly or not.
fn ancestors(graph: &BTreeMap<String, BTreeSet<String>>, job: &str, seen: &mut BTreeSet<String>) {
    for n in graph.get(job).unwrap_or_else(|| panic!("no job {job}")) {
        if seen.insert(n.clone()) {
            ancestors(graph, n, seen);
        }
    }
}

fn common_hygiene(rel: &str) {
    let text = read(rel);
    assert!(!text.contains("pull_request_target"), "{rel}");
    assert!(
        text.lines().any(|l| l.trim_end() == "permissions: {}"),
        "{rel}: top-level permissions: {{}}"
    );
    assert!(!text.contains("secrets: inherit"), "{rel}");
    let checkouts = text.matches("uses: actions/checkout@").count();
    assert_eq!(
        text.matches("persist-credentials: false").count(),
        checkouts,
        "{rel}: every checkout sets persist-credentials: false"
    );
    // No ${{ }} inside run: scripts (values reach scripts through env:).
    let mut in_run: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(ri) = in_run {
            if line.trim().is_empty() || indent > ri {
                assert!(
                    !line.contains("${{"),
                    "{rel}:{}: expression in a run: script",
                    n + 1
                );
                continue;
            }
            in_run = None;
        }
        let t = line.trim_start().trim_start_matches("- ");
        if let Some(v) = t.strip_prefix("run:") {
            assert!(!v.contains("${{"), "{rel}:{}: expression in run:", n + 1);
            in_run = Some(indent);
        }
    }
    for (id, body) in jobs(&text) {
        assert!(
            permissions(&body).is_some(),
            "{rel}: job {id} has no permissions:"
        );
        assert!(
            job_key(&body, "timeout-minutes").is_some(),
            "{rel}: job {id} has no timeout-minutes"
        );
    }
}

#[test]
fn release_tests_first_and_publishes_only_after_everything_passed() {
    let rel = RELEASE;
    common_hygiene(rel);
    let text = read(rel);
    assert!(
        text.contains("on:\n  push:\n    tags: [\"v*\"]\n"),
        "{rel}: runs on v* tags only"
    );
    let jobs = jobs(&text);
    for id in [
        "test",
        "binaries",
        "bundles",
        "reproducible",
        "assemble",
        "attest",
        "publish",
    ] {
        assert!(jobs.contains_key(id), "{rel}: no job {id}");
    }
    assert!(
        jobs["test"]
            .iter()
            .any(|l| l.contains("run: ./scripts/test.sh")),
        "{rel}: the test job runs the README's test command"
    );
    let graph: BTreeMap<String, BTreeSet<String>> = jobs
        .iter()
        .map(|(id, body)| (id.clone(), needs(body)))
        .collect();
    assert!(
        graph["publish"].contains("test"),
        "{rel}: the publish job needs the test job"
    );
    for id in jobs.keys().filter(|id| *id != "test") {
        let mut up = BTreeSet::new();
        ancestors(&graph, id, &mut up);
        assert!(
            up.contains("test"),
            "{rel}: job {id} can run before the tests"
        );
    }
    let mut up = BTreeSet::new();
    ancestors(&graph, "publish", &mut up);
    for id in ["binaries", "bundles", "reproducible", "assemble", "attest"] {
        assert!(up.contains(id), "{rel}: publish does not wait for {id}");
    }
    // Least privilege: write scopes only where they are used.
    for (id, body) in &jobs {
        let perms = permissions(body).unwrap_or_default();
        let writes: BTreeSet<&str> = perms
            .iter()
            .filter(|(_, v)| *v == "write")
            .map(|(k, _)| k.as_str())
            .collect();
        let expected: BTreeSet<&str> = match id.as_str() {
            "publish" => ["contents"].into(),
            "attest" => ["attestations", "id-token"].into(),
            _ => BTreeSet::new(),
        };
        assert_eq!(writes, expected, "{rel}: job {id} write permissions");
    }
    // The steps that make the release what it claims to be.
    let body = |id: &str| jobs[id].join("\n");
    assert!(body("binaries").contains("cargo build --release --locked"));
    assert!(body("binaries").contains("ubuntu-24.04-arm") && body("binaries").contains("aarch64"));
    let bundles = body("bundles");
    assert!(bundles.contains("build --all") && bundles.contains("verify bundles/"));
    assert!(bundles.contains("builder: a") && bundles.contains("builder: b"));
    assert!(body("reproducible").contains("SHA256SUMS") && body("reproducible").contains("exit 1"));
    assert!(body("assemble").contains("sha256sum"));
    assert!(body("attest").contains("uses: actions/attest-build-provenance@"));
    assert!(body("publish").contains("gh release create"));
    assert!(
        !text.contains("actions/cache@"),
        "{rel}: no cache in a release"
    );
}

#[test]
fn image_workflow_tests_before_push_and_pushes_only_from_default_branch_and_tags() {
    let rel = IMAGE;
    common_hygiene(rel);
    let text = read(rel);
    let jobs = jobs(&text);
    let graph: BTreeMap<String, BTreeSet<String>> = jobs
        .iter()
        .map(|(id, body)| (id.clone(), needs(body)))
        .collect();
    assert!(jobs["test"].iter().any(|l| l.contains("dotnet test")));
    assert!(graph["image"].contains("test"), "{rel}: image needs test");
    let image = jobs["image"].join("\n");
    for want in [
        "uses: docker/setup-qemu-action@",
        "uses: docker/setup-buildx-action@",
        "uses: docker/metadata-action@",
        "uses: docker/login-action@",
        "uses: docker/build-push-action@",
        "platforms: linux/amd64,linux/arm64",
        "sbom: true",
        "provenance: mode=max",
        "type=semver,pattern={{version}}",
        "type=sha",
        "push: ${{ env.PUSH == 'true' }}",
        "github.event_name == 'push' && (github.ref == format('refs/heads/{0}', github.event.repository.default_branch) || startsWith(github.ref, 'refs/tags/v'))",
    ] {
        assert!(image.contains(want), "{rel}: image job lacks {want}");
    }
    assert!(
        text.contains("tags: [\"v*\"]") && text.contains("pull_request:"),
        "{rel}: triggers"
    );
    for (id, body) in &jobs {
        let writes: BTreeSet<String> = permissions(body)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, v)| v == "write")
            .map(|(k, _)| k)
            .collect();
        let expected: BTreeSet<String> = match id.as_str() {
            "attest" => ["attestations".to_string(), "id-token".to_string()].into(),
            _ => BTreeSet::new(),
        };
        assert_eq!(writes, expected, "{rel}: job {id} write permissions");
    }
}

#[test]
fn dockerfile_is_multi_arch_non_root_and_needs_no_curl() {
    let text = read(DOCKERFILE);
    let instr: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let has = |p: &str| instr.iter().any(|l| l.trim_start().starts_with(p));
    assert!(has(
        "FROM --platform=$BUILDPLATFORM ${DOTNET_SDK_IMAGE} AS publish"
    ));
    assert!(text.contains("ARG DOTNET_SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0"));
    assert!(text.contains("ARG DOTNET_RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0"));
    assert!(has("FROM ${DOTNET_RUNTIME_IMAGE} AS runtime"));
    assert!(has("ARG TARGETARCH"));
    assert!(text.contains("amd64) rid=linux-x64") && text.contains("arm64) rid=linux-arm64"));
    assert!(has("USER 1100:1100"));
    assert!(text.contains("--uid 1100"));
    assert!(has("EXPOSE 8080 10400"));
    assert!(has("ENV ASPNETCORE_URLS=http://+:8080 \\"));
    assert!(!text.contains("https://+:"));
    assert!(has("VOLUME [\"/app/models\", \"/app/plugins\"]"));
    assert!(has("ENTRYPOINT [\"dotnet\", \"lucia.AgentHost.dll\"]"));
    let health: String = instr
        .iter()
        .skip_while(|l| !l.starts_with("HEALTHCHECK"))
        .take(2)
        .copied()
        .collect();
    assert!(health.contains("/dev/tcp/127.0.0.1/8080") && health.contains("GET /alive"));
    for banned in ["curl", "wget"] {
        assert!(
            !instr.iter().any(|l| l.contains(banned)),
            "Dockerfile uses {banned}"
        );
    }
}
