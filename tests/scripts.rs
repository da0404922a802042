//! The operator scripts in `infra/scripts/`: shellcheck-clean POSIX sh, `--help`, usage errors
//! (exit 2), and each one run against fixtures: health-check against a local HTTP server and
//! fake dependency clients, backup-config round trip of a systemd-style tree under `--root`,
//! validate-deployment on the committed `bundles/prod` and on a tampered copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_clean, repo, run, tool};

const SCRIPTS: &[&str] = &[
    "health-check.sh",
    "backup-config.sh",
    "validate-deployment.sh",
];

fn script(name: &str) -> PathBuf {
    repo().join("infra/scripts").join(name)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn scripts_are_executable_posix_sh_and_shellcheck_clean() {
    let paths: Vec<PathBuf> = SCRIPTS.iter().map(|s| script(s)).collect();
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            text.starts_with("#!/bin/sh\n"),
            "{} is not #!/bin/sh",
            p.display()
        );
        assert!(
            text.contains("\nset -eu\n"),
            "{} lacks set -eu",
            p.display()
        );
        let mode = std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{} is not executable", p.display());
    }
    assert_clean(
        "shellcheck -s sh infra/scripts",
        &run(Command::new(tool("shellcheck"))
            .args(["-s", "sh"])
            .args(&paths)),
    );
}

#[test]
fn help_exits_0_and_usage_errors_exit_2() {
    for s in SCRIPTS {
        for flag in ["--help", "-h"] {
            let out = run(Command::new(script(s)).arg(flag));
            assert_eq!(code(&out), 0, "{s} {flag}: {}", describe(&out));
            assert!(
                stdout(&out).starts_with("Usage: "),
                "{s} {flag}: {}",
                describe(&out)
            );
            assert!(out.stderr.is_empty(), "{s} {flag}: {}", describe(&out));
        }
        // No arguments at all, and an unknown option.
        for args in [&[][..], &["--no-such-option"][..]] {
            let out = run(Command::new(script(s)).args(args));
            assert_eq!(code(&out), 2, "{s} {args:?}: {}", describe(&out));
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("--help"),
                "{s} {args:?}: the usage error should point at --help\n{}",
                describe(&out)
            );
        }
    }
    for args in [
        &["--target", "nomad"][..],
        &["--target", "systemd", "--url", "ftp://x"][..],
        &["--target", "systemd", "--timeout", "soon"][..],
        &["--target"][..],
    ] {
        let out = run(Command::new(script("health-check.sh")).args(args));
        assert_eq!(code(&out), 2, "health-check {args:?}: {}", describe(&out));
    }
    for args in [
        &["--target", "nomad"][..],
        &["--restore", "/nonexistent/backup.tar.gz"][..],
        &["--target", "systemd", "--root", "/nonexistent/root"][..],
    ] {
        let out = run(Command::new(script("backup-config.sh")).args(args));
        assert_eq!(code(&out), 2, "backup-config {args:?}: {}", describe(&out));
    }
    let out = run(Command::new(script("validate-deployment.sh")).arg("/nonexistent/bundle"));
    assert_eq!(code(&out), 2, "{}", describe(&out));
}

// ---- health-check -----------------------------------------------------------------------------

/// A tiny HTTP/1.1 server on 127.0.0.1: path → (status, body); anything else is 404.
fn serve(routes: &[(&str, u16, &str)]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let routes: BTreeMap<String, (u16, String)> = routes
        .iter()
        .map(|(p, s, b)| ((*p).to_string(), (*s, (*b).to_string())))
        .collect();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Skip the headers.
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line == "\r\n" || line == "\n" => break,
                    Ok(_) => {}
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = routes
                .get(path)
                .cloned()
                .unwrap_or((404, "not found".to_string()));
            let reason = match status {
                200 => "OK",
                503 => "Service Unavailable",
                _ => "Not Found",
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A directory of fake programs (shell scripts) to put first on PATH.
fn fake_bin(programs: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, body) in programs {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).unwrap_or_else(|e| panic!("{e}"))
}

fn health(args: &[&str], bin: Option<&Path>) -> Output {
    let mut cmd = Command::new(script("health-check.sh"));
    cmd.args(args);
    if let Some(dir) = bin {
        cmd.env("PATH", path_with(dir));
    }
    run(&mut cmd)
}

const HEALTHY: &[(&str, u16, &str)] = &[("/alive", 200, "Healthy"), ("/health", 200, "Healthy")];

#[test]
fn health_check_reports_a_healthy_app_with_exit_0() {
    let port = serve(HEALTHY);
    let url = format!("http://127.0.0.1:{port}");
    let out = health(&["--target", "systemd", "--url", &url, "--skip-deps"], None);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    assert!(
        s.contains("OK    /alive (liveness): HTTP 200 Healthy"),
        "{s}"
    );
    assert!(
        s.contains("OK    /health (readiness): HTTP 200 Healthy"),
        "{s}"
    );
    assert!(s.trim_end().ends_with("HEALTHY"), "{s}");
}

#[test]
fn health_check_reports_an_unhealthy_app_with_exit_1() {
    // A dependency is down: /alive answers, /health is 503 (what ASP.NET Core does).
    let port = serve(&[("/alive", 200, "Healthy"), ("/health", 503, "Unhealthy")]);
    let url = format!("http://127.0.0.1:{port}");
    let out = health(&["--target", "systemd", "--url", &url, "--skip-deps"], None);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let s = stdout(&out);
    assert!(s.contains("OK    /alive"), "{s}");
    assert!(
        s.contains("FAIL  /health (readiness): HTTP 503 Unhealthy"),
        "{s}"
    );
    assert!(s.trim_end().ends_with("troubleshooting.md)"), "{s}");

    // The dashboard's SPA fallback answers 200 with HTML for unknown paths: not healthy.
    let port = serve(&[
        ("/alive", 200, "Healthy"),
        (
            "/health",
            200,
            "<!DOCTYPE html><html><body>Lucia</body></html>",
        ),
    ]);
    let url = format!("http://127.0.0.1:{port}");
    let out = health(&["--target", "systemd", "--url", &url, "--skip-deps"], None);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(stdout(&out).contains("an HTML page"), "{}", describe(&out));

    // Nothing listens.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = closed.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}");
    let out = health(
        &[
            "--target",
            "systemd",
            "--url",
            &url,
            "--skip-deps",
            "--timeout",
            "2",
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(stdout(&out).contains("no answer"), "{}", describe(&out));
}

#[test]
fn health_check_asks_redis_and_mongo_on_a_systemd_host() {
    let port = serve(HEALTHY);
    let url = format!("http://127.0.0.1:{port}");
    let good = fake_bin(&[
        (
            "redis-cli",
            r#"[ "$*" = "-h 127.0.0.1 -p 6379 ping" ] && echo PONG"#,
        ),
        ("mongosh", r#"echo 1"#),
    ]);
    let out = health(&["--target", "systemd", "--url", &url], Some(good.path()));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    assert!(
        s.contains("OK    redis (127.0.0.1:6379, redis-cli ping): PONG"),
        "{s}"
    );
    assert!(
        s.contains("OK    mongo (mongodb://127.0.0.1:27017, mongosh ping): 1"),
        "{s}"
    );

    let down = fake_bin(&[
        (
            "redis-cli",
            "echo 'Could not connect to Redis at 127.0.0.1:6379: Connection refused'; exit 1",
        ),
        ("mongosh", "echo 1"),
    ]);
    let out = health(&["--target", "systemd", "--url", &url], Some(down.path()));
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        stdout(&out).contains("FAIL  redis (127.0.0.1:6379, redis-cli ping): Could not connect"),
        "{}",
        describe(&out)
    );
}

#[test]
fn health_check_reads_the_compose_port_from_env_and_execs_into_the_services() {
    let port = serve(HEALTHY);
    let bundle = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bundle.path().join("compose.yaml"), "name: lucia-prod\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        bundle.path().join(".env"),
        format!("# a comment\nHTTP_PORT={port}\nLOG_LEVEL=Debug\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // A fake docker that answers `docker compose … exec -T SERVICE …` as the real services do.
    let log = bundle.path().join("docker.log");
    let docker = format!(
        r#"printf '%s\n' "$*" >> '{}'
case "$*" in
*"exec -T redis redis-cli ping"*) echo PONG ;;
*"exec -T mongo mongosh --quiet --norc --eval"*) echo 1 ;;
*) echo "unexpected: $*" >&2; exit 1 ;;
esac"#,
        log.display()
    );
    let bin = fake_bin(&[("docker", &docker)]);
    let dir = bundle.path().to_string_lossy().into_owned();
    let out = health(&["--target", "compose", "--dir", &dir], Some(bin.path()));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    assert!(s.contains(&format!("URL: http://127.0.0.1:{port}")), "{s}");
    assert!(
        s.contains("OK    redis (docker compose exec redis redis-cli ping): PONG"),
        "{s}"
    );
    assert!(
        s.contains("OK    mongo (docker compose exec mongo mongosh ping): 1"),
        "{s}"
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        calls.contains(&format!(
            "compose --project-directory {dir} -f {dir}/compose.yaml exec -T redis redis-cli ping"
        )),
        "{calls}"
    );
}

// ---- backup-config ----------------------------------------------------------------------------

/// What a systemd install leaves on a host (see the systemd bundle's README), with its modes.
const TREE: &[(&str, u32, Option<&str>)] = &[
    ("etc/lucia", 0o750, None),
    (
        "etc/lucia/lucia.env",
        0o640,
        Some("Logging__LogLevel__Default=\"Debug\"\n"),
    ),
    ("etc/lucia/credentials", 0o700, None),
    (
        "etc/lucia/credentials/ha-token",
        0o600,
        Some("0123456789abcdef0123456789abcdef"),
    ),
    (
        "etc/lucia/credentials/chat-model",
        0o600,
        Some("Endpoint=http://ollama:11434;AccessKey=ollama;Model=llama3.2;Provider=ollama"),
    ),
    ("etc/lucia/credentials/dashboard-key", 0o600, Some("")),
    ("var/lib/lucia", 0o750, None),
    ("var/lib/lucia/.aspnet", 0o700, None),
    ("var/lib/lucia/.aspnet/DataProtection-Keys", 0o700, None),
    (
        "var/lib/lucia/.aspnet/DataProtection-Keys/key-1.xml",
        0o600,
        Some("<key/>"),
    ),
    ("var/lib/lucia/models", 0o750, None),
    ("var/lib/lucia/models/voice.onnx", 0o640, Some("model")),
    ("var/lib/lucia/plugins", 0o750, None),
    ("usr/local/lib/systemd/system/lucia.service.d", 0o755, None),
    (
        "usr/local/lib/systemd/system/lucia.service.d/10-install.conf",
        0o644,
        Some("[Service]\n"),
    ),
];

fn make_tree(root: &Path) {
    for (rel, _, content) in TREE {
        let p = root.join(rel);
        match content {
            None => std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}")),
            Some(text) => std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}")),
        }
    }
    // Modes last, deepest first, so a 0700 directory does not block its own children.
    for (rel, mode, _) in TREE.iter().rev() {
        std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(*mode))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Every path under `root`, with its mode and (for files) its content.
fn snapshot(root: &Path) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Option<Vec<u8>>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{e}"));
            let rel = p
                .strip_prefix(root)
                .unwrap_or_else(|e| panic!("{e}"))
                .to_string_lossy()
                .into_owned();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (mode, None));
                walk(root, &p, out);
            } else {
                out.insert(
                    rel,
                    (
                        mode,
                        Some(std::fs::read(&p).unwrap_or_else(|e| panic!("{e}"))),
                    ),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn backup_and_restore_round_trip_a_systemd_tree_with_its_modes() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = tmp.path().join("src");
    let out_dir = tmp.path().join("out");
    let dst = tmp.path().join("dst");
    for d in [&src, &out_dir, &dst] {
        std::fs::create_dir(d).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    make_tree(&src);
    let before = snapshot(&src);

    let out = run(Command::new(script("backup-config.sh")).args([
        "--target",
        "systemd",
        "--root",
        &src.to_string_lossy(),
        "--out",
        &out_dir.to_string_lossy(),
    ]));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));

    // One archive, named lucia-backup-systemd-<UTC time>.tar.gz, private.
    let archives: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}");
    let archive = &archives[0];
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = name
        .strip_prefix("lucia-backup-systemd-")
        .and_then(|s| s.strip_suffix("Z.tar.gz"))
        .unwrap_or_else(|| panic!("archive name {name}"));
    assert!(
        stamp.len() == 15
            && stamp.as_bytes()[8] == b'T'
            && stamp
                .chars()
                .enumerate()
                .all(|(i, c)| i == 8 || c.is_ascii_digit()),
        "archive name {name}"
    );
    let mode = std::fs::metadata(archive)
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the archive holds credentials");

    // Restore into an empty root: the same files, contents and modes; the root itself untouched.
    let out = run(Command::new(script("backup-config.sh")).args([
        "--restore",
        &archive.to_string_lossy(),
        "--root",
        &dst.to_string_lossy(),
    ]));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let mut after = snapshot(&dst);
    // Parents the tree needs (etc, var, var/lib, usr/…) are created 0755 by the restore.
    for parent in [
        "etc",
        "var",
        "var/lib",
        "usr",
        "usr/local",
        "usr/local/lib",
        "usr/local/lib/systemd",
        "usr/local/lib/systemd/system",
    ] {
        let (mode, _) = after
            .remove(parent)
            .unwrap_or_else(|| panic!("restore did not create {parent}"));
        assert_eq!(mode, 0o755, "{parent}");
    }
    let mut expected = before.clone();
    for parent in [
        "etc",
        "var",
        "var/lib",
        "usr",
        "usr/local",
        "usr/local/lib",
        "usr/local/lib/systemd",
        "usr/local/lib/systemd/system",
    ] {
        expected.remove(parent);
    }
    assert_eq!(after, expected, "restored tree differs");
    let root_mode = std::fs::metadata(&dst)
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions()
        .mode();
    assert_eq!(
        root_mode & 0o777,
        0o755,
        "restore must not change the root's mode"
    );

    // Restoring over an existing install puts changed files back.
    std::fs::write(dst.join("etc/lucia/lucia.env"), "broken\n").unwrap_or_else(|e| panic!("{e}"));
    let out = run(Command::new(script("backup-config.sh")).args([
        "--restore",
        &archive.to_string_lossy(),
        "--root",
        &dst.to_string_lossy(),
    ]));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(dst.join("etc/lucia/lucia.env")).unwrap_or_default(),
        "Logging__LogLevel__Default=\"Debug\"\n"
    );

    // A tarball that is not a backup is refused, and nothing is written.
    let bogus = tmp.path().join("bogus.tar.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg("tar -cf - -C \"$1\" etc | gzip -n > \"$2\"")
        .arg("sh")
        .arg(&src)
        .arg(&bogus)
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap_or_else(|e| panic!("{e}"));
    let out = run(Command::new(script("backup-config.sh")).args([
        "--restore",
        &bogus.to_string_lossy(),
        "--root",
        &empty.to_string_lossy(),
    ]));
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(snapshot(&empty).is_empty());
}

// ---- validate-deployment ----------------------------------------------------------------------

fn validate(args: &[&Path]) -> Output {
    for t in [
        "docker-compose",
        "helm",
        "kubernetes-validate",
        "systemd-analyze",
        "shellcheck",
    ] {
        tool(t);
    }
    run(Command::new(script("validate-deployment.sh")).args(args))
}

#[test]
fn validate_deployment_passes_the_committed_prod_bundle() {
    let out = validate(&[&repo().join("bundles/prod")]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    for check in [
        "PASS  sha256sums",
        "PASS  compose lucia-prod-compose-1.2.3: docker-compose config -q",
        "PASS  helm lucia-1.2.3 with values-prod.yaml: helm lint --strict",
        "PASS  helm lucia-1.2.3 with values-prod.yaml: kubernetes-validate --strict -k 1.25",
        "PASS  helm lucia-1.2.3 with values-prod.yaml: kubernetes-validate --strict -k 1.30",
        "PASS  systemd lucia-prod-systemd-1.2.3: systemd-analyze security lucia.service: 1.2 OK",
        "PASS  shellcheck systemd lucia-prod-systemd-1.2.3: backup-config.sh health-check.sh install.sh lucia-start uninstall.sh",
        "PASS  kustomize kustomize/overlays/prod: kubectl kustomize",
    ] {
        assert!(s.contains(check), "missing `{check}` in:\n{s}");
    }
    assert!(s.contains(" passed, 0 failed"), "{s}");
}

/// Unpack a tarball, let `edit` change the tree, pack it again in place.
fn repack(tarball: &Path, edit: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ok.success());
    edit(dir.path());
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(tarball)
        .arg("-C")
        .arg(dir.path())
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ok.success());
}

#[test]
fn validate_deployment_fails_a_tampered_bundle_and_a_missing_validator() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = tmp.path().join("prod");
    std::fs::create_dir(&bundle).unwrap_or_else(|e| panic!("{e}"));
    for e in std::fs::read_dir(repo().join("bundles/prod")).unwrap_or_else(|e| panic!("{e}")) {
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        if e.path().is_file() {
            std::fs::copy(e.path(), bundle.join(e.file_name())).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    // Strip the unit's hardening and break a script: the validators must say so.
    repack(&bundle.join("lucia-prod-systemd-1.2.3.tar.gz"), |dir| {
        let unit = dir.join("lucia-prod-systemd-1.2.3/lucia.service");
        let text = std::fs::read_to_string(&unit).unwrap_or_else(|e| panic!("{e}"));
        let weakened: String = text
            .lines()
            .filter(|l| {
                ![
                    "Protect",
                    "Private",
                    "SystemCall",
                    "Restrict",
                    "Capability",
                    "NoNewPrivileges",
                ]
                .iter()
                .any(|k| l.starts_with(k))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&unit, weakened).unwrap_or_else(|e| panic!("{e}"));
        let install = dir.join("lucia-prod-systemd-1.2.3/install.sh");
        let mut text = std::fs::read_to_string(&install).unwrap_or_else(|e| panic!("{e}"));
        text.push_str("echo $UNQUOTED_AND_UNSET\n");
        std::fs::write(&install, text).unwrap_or_else(|e| panic!("{e}"));
    });
    let out = validate(&[&bundle]);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let s = stdout(&out);
    for check in [
        "FAIL  sha256sums",
        "FAIL  systemd lucia-prod-systemd-1.2.3: systemd-analyze security lucia.service (threshold 2.0)",
        "FAIL  shellcheck systemd lucia-prod-systemd-1.2.3",
        "PASS  compose lucia-prod-compose-1.2.3",
    ] {
        assert!(s.contains(check), "missing `{check}` in:\n{s}");
    }

    // A validator that is missing is a failure, never a skip: a PATH with only the basic
    // commands the script itself uses.
    let basic = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for cmd in [
        "sh", "mktemp", "rm", "dirname", "sed", "grep", "head", "cat", "tar", "gzip",
    ] {
        std::os::unix::fs::symlink(tool(cmd), basic.path().join(cmd))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let out = run(Command::new(tool("sh"))
        .env("PATH", basic.path())
        .arg(script("validate-deployment.sh"))
        .arg(repo().join("bundles/prod/lucia-1.2.3.tgz")));
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        stdout(&out).contains("validator 'helm' is not installed"),
        "{}",
        describe(&out)
    );
}

/// A minimal Kustomize bundle (a base and one overlay), until the Kustomize target lands.
fn kustomize_fixture(dir: &Path, overlay_resources: &str) {
    let files = [
        (
            "kustomize/base/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - configmap.yaml\n".to_string(),
        ),
        (
            "kustomize/base/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lucia-params\ndata:\n  LOG_LEVEL: Information\n".to_string(),
        ),
        (
            "kustomize/overlays/prod/kustomization.yaml",
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: lucia\nresources:\n{overlay_resources}"
            ),
        ),
    ];
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(dir)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn validate_deployment_builds_every_kustomize_overlay() {
    tool("kubectl");
    let good = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    kustomize_fixture(good.path(), "  - ../../base\n");
    let out = validate(&[good.path()]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    for check in [
        "PASS  kustomize kustomize/overlays/prod: kubectl kustomize",
        "PASS  kustomize kustomize/overlays/prod: kubernetes-validate --strict -k 1.30",
        "PASS  kustomize kustomize/base: kubectl kustomize",
    ] {
        assert!(s.contains(check), "missing `{check}` in:\n{s}");
    }

    let bad = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    kustomize_fixture(bad.path(), "  - ../../base\n  - missing.yaml\n");
    let out = validate(&[bad.path()]);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        stdout(&out).contains("FAIL  kustomize kustomize/overlays/prod: kubectl kustomize"),
        "{}",
        describe(&out)
    );
}

#[test]
fn backup_and_restore_a_compose_bundle_through_docker_compose() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = tmp.path().join("lucia-prod-compose-1.2.3");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(bundle.join("secrets")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(&out_dir).unwrap_or_else(|e| panic!("{e}"));
    let files: &[(&str, u32, &str)] = &[
        ("compose.yaml", 0o644, "name: lucia-prod\n"),
        (".env", 0o600, "HTTP_PORT=7233\n"),
        (
            "secrets/ha-token",
            0o644,
            "0123456789abcdef0123456789abcdef",
        ),
        ("secrets/dashboard-key", 0o644, ""),
    ];
    for (rel, mode, text) in files {
        let p = bundle.join(rel);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::set_permissions(
        bundle.join("secrets"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let log = tmp.path().join("docker.log");
    let restored = tmp.path().join("mongorestore.stdin");
    let docker = format!(
        r#"printf '%s\n' "$*" >> '{log}'
case "$*" in
*"exec -T mongo mongodump --quiet --archive") printf 'MONGO-ARCHIVE' ;;
*"exec -T mongo mongorestore --quiet --drop --archive") cat > '{restored}' ;;
*"exec -T redis redis-cli BGREWRITEAOF"|*"exec -T redis sh -c "*|*" stop redis"|*" start redis") : ;;
*"exec -T redis tar -cf - -C /data .") printf 'REDIS-VOLUME' ;;
*"exec -T agenthost tar -cf - -C /app/"*) printf 'AGENT-VOLUME' ;;
*"run --rm --no-deps -T --entrypoint "*) cat >> '{restored}.volumes' ;;
*) echo "unexpected: $*" >&2; exit 1 ;;
esac"#,
        log = log.display(),
        restored = restored.display()
    );
    let bin = fake_bin(&[("docker", &docker)]);
    let dir = bundle.to_string_lossy().into_owned();
    let out = run(Command::new(script("backup-config.sh"))
        .env("PATH", path_with(bin.path()))
        .args(["--target", "compose", "--dir", &dir, "--out"])
        .arg(&out_dir));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let archive = std::fs::read_dir(&out_dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .unwrap_or_else(|| panic!("no archive"));
    assert!(
        archive.to_string_lossy().contains("/lucia-backup-compose-"),
        "{}",
        archive.display()
    );
    let before = snapshot(&bundle);

    // Lose the configuration, then restore it.
    std::fs::remove_file(bundle.join(".env")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(bundle.join("secrets")).unwrap_or_else(|e| panic!("{e}"));
    let out = run(Command::new(script("backup-config.sh"))
        .env("PATH", path_with(bin.path()))
        .args(["--dir", &dir, "--restore"])
        .arg(&archive));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(snapshot(&bundle), before, "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(&restored).unwrap_or_default(),
        "MONGO-ARCHIVE"
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read_to_string(format!("{}.volumes", restored.display())).unwrap_or_default(),
        "REDIS-VOLUMEAGENT-VOLUMEAGENT-VOLUME",
        "the volumes went back through one-off containers"
    );
    for want in [
        "exec -T mongo mongodump --quiet --archive",
        "exec -T redis tar -cf - -C /data .",
        "exec -T agenthost tar -cf - -C /app/models .",
        "exec -T agenthost tar -cf - -C /app/plugins .",
        "exec -T mongo mongorestore --quiet --drop --archive",
        "run --rm --no-deps -T --entrypoint tar agenthost -xf - -C /app/plugins",
    ] {
        assert!(calls.contains(want), "no `{want}` in:\n{calls}");
    }
}
