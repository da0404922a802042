//! The operator scripts: `health-check.sh` and `backup-config.sh` as luciac generates them from a
//! declaration (Lucia's, and a stack that is not Lucia's), `validate-deployment.sh` from
//! `infra/scripts/`: shellcheck-clean POSIX sh, `--help`, usage errors (exit 2), and each one run
//! against fixtures: health-check against a local HTTP server, a TCP listener and fake clients,
//! backup-config round trips of a systemd-style tree under `--root` and of Compose bundles
//! through a fake docker, validate-deployment on the committed `bundles/prod` and a tampered copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{assert_clean, materialize, model_from, repo, repo_model, run, tool};

const SCRIPTS: &[&str] = &[
    "health-check.sh",
    "backup-config.sh",
    "validate-deployment.sh",
];

/// The scripts of Lucia's prod bundle (`bundles/prod/scripts/`), generated once per run;
/// `validate-deployment.sh` from `infra/scripts/`.
fn script(name: &str) -> PathBuf {
    if name == "validate-deployment.sh" {
        return repo().join("infra/scripts").join(name);
    }
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| generated(&repo_model(Some("prod"))))
        .path()
        .join(name)
}

/// A declaration's generated scripts, written into a fresh directory.
fn generated(model: &luciac::model::Model) -> tempfile::TempDir {
    materialize(&luciac::targets::scripts::lower(model))
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
        "shellcheck -s sh (Lucia's scripts)",
        &run(Command::new(tool("shellcheck"))
            .args(["-s", "sh"])
            .args(&paths)),
    );
    // The scripts of a stack that is not Lucia's, for every target.
    let (model, _) = model_from(HOMELAB, None);
    let dir = generated(&model);
    assert_clean(
        "shellcheck -s sh (homelab's scripts)",
        &run(Command::new(tool("shellcheck"))
            .args(["-s", "sh", "health-check.sh", "backup-config.sh"])
            .current_dir(dir.path())),
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
    let out = health(&["--target", "systemd", "--url", &url, "--http-only"], None);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    assert!(
        s.contains("OK    agenthost /alive (liveness): HTTP 200 Healthy"),
        "{s}"
    );
    assert!(
        s.contains("OK    agenthost /health (readiness): HTTP 200 Healthy"),
        "{s}"
    );
    assert!(s.trim_end().ends_with("HEALTHY"), "{s}");
}

#[test]
fn health_check_reports_an_unhealthy_app_with_exit_1() {
    // A dependency is down: /alive answers, /health is 503 (what ASP.NET Core does).
    let port = serve(&[("/alive", 200, "Healthy"), ("/health", 503, "Unhealthy")]);
    let url = format!("http://127.0.0.1:{port}");
    let out = health(&["--target", "systemd", "--url", &url, "--http-only"], None);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let s = stdout(&out);
    assert!(s.contains("OK    agenthost /alive"), "{s}");
    assert!(
        s.contains("FAIL  agenthost /health (readiness): HTTP 503 Unhealthy"),
        "{s}"
    );
    assert!(s.trim_end().ends_with("(see the bundle README)"), "{s}");

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
    let out = health(&["--target", "systemd", "--url", &url, "--http-only"], None);
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
            "--http-only",
            "--timeout",
            "2",
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(stdout(&out).contains("no answer"), "{}", describe(&out));
}

/// A `systemctl` that knows every unit and finds each active: the unit checks pass wherever
/// the host runs systemd (elsewhere the script says it does not check units).
const SYSTEMCTL: (&str, &str) = (
    "systemctl",
    "case $1 in cat | is-active) exit 0 ;; esac; exit 1",
);

#[test]
fn health_check_runs_the_declared_commands_on_a_systemd_host() {
    let port = serve(HEALTHY);
    let url = format!("http://127.0.0.1:{port}");
    // The declaration's own checks, run on the host: `redis-cli ping`, mongosh's ping.
    let good = fake_bin(&[
        ("redis-cli", r#"[ "$*" = "ping" ] && echo PONG"#),
        (
            "mongosh",
            r#"[ "$*" = "--quiet --norc --eval db.adminCommand('ping').ok" ] && echo 1"#,
        ),
        SYSTEMCTL,
    ]);
    let out = health(&["--target", "systemd", "--url", &url], Some(good.path()));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    assert!(s.contains("OK    redis (redis-cli ping): PONG"), "{s}");
    assert!(
        s.contains("OK    mongo (mongosh --quiet --norc --eval db.adminCommand('ping').ok): 1"),
        "{s}"
    );
    if Path::new("/run/systemd/system").is_dir() {
        for unit in ["lucia.service", "mongod.service", "redis-server.service"] {
            assert!(s.contains(&format!("OK    {unit}: active")), "{s}");
        }
    } else {
        assert!(s.contains("this host does not run systemd"), "{s}");
    }

    let down = fake_bin(&[
        (
            "redis-cli",
            "echo 'Could not connect to Redis at 127.0.0.1:6379: Connection refused'; exit 1",
        ),
        ("mongosh", "echo 1"),
        SYSTEMCTL,
    ]);
    let out = health(&["--target", "systemd", "--url", &url], Some(down.path()));
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        stdout(&out).contains("FAIL  redis (redis-cli ping): Could not connect"),
        "{}",
        describe(&out)
    );
}

/// Under systemd the HTTP port is the unit's: the default the bundle was built with, or the
/// one the site's env file sets.
#[test]
fn health_check_reads_the_port_from_the_units_env_file() {
    let text = std::fs::read_to_string(script("health-check.sh")).unwrap_or_default();
    assert!(
        text.contains(
            "base=http://127.0.0.1:$(unit_port /etc/lucia/lucia.env ASPNETCORE_URLS http://+: 7233)"
        ),
        "{text}"
    );
    let dev = generated(&repo_model(Some("dev")));
    let text = std::fs::read_to_string(dev.path().join("health-check.sh")).unwrap_or_default();
    assert!(text.contains("ASPNETCORE_URLS http://+: 7234)"), "{text}");
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
    assert!(
        s.contains(&format!("agenthost: http://127.0.0.1:{port}")),
        "{s}"
    );
    assert!(
        s.contains("OK    redis (docker compose exec redis redis-cli ping): PONG"),
        "{s}"
    );
    assert!(
        s.contains(
            "OK    mongo (docker compose exec mongo mongosh --quiet --norc --eval db.adminCommand('ping').ok): 1"
        ),
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
*" ps -q redis") echo 0123abcd ;;
*" ps -q "*) : ;;
*" stop redis"|*" start redis") echo "$*" >> '{log}.stops' ;;
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
        "run --rm --no-deps -T --entrypoint tar redis -xf - -C /data",
    ] {
        assert!(calls.contains(want), "no `{want}` in:\n{calls}");
    }
    // Redis was running: stopped for its volume, then started again; agenthost was not.
    let stops = std::fs::read_to_string(format!("{}.stops", log.display())).unwrap_or_default();
    assert!(
        stops.contains("stop redis") && stops.contains("start redis"),
        "{stops}"
    );
    assert!(!stops.contains("agenthost"), "{stops}");
}

// ---- a stack that is not Lucia's ----------------------------------------------------------------

/// A web app with a database that has its own dump and a broker with a TCP check; the broker
/// publishes `broker_port`.
fn homelab(broker_port: u16) -> String {
    HOMELAB.replace("publish=1883", &format!("publish={broker_port}"))
}

const HOMELAB: &str = r#"app "homelab" version="0.4.0" { description "A web app, its database and a broker" }
image "web" "docker.io/library/web:1"
image "db" "docker.io/library/postgres:17"
image "broker" "docker.io/library/eclipse-mosquitto:2.0"
param "web-port" type="port" default=18080 { description "The web app's host port" }
secret "db-password" min-length=8 { description "The database password" }
service "db" {
    image "db"
    port "pg" 5432
    volume "data" "/var/lib/postgresql/data"
    env "POSTGRES_PASSWORD" secret="db-password"
    health { exec "pg_isready" "-h" "127.0.0.1" }
    backup {
        dump "pg_dumpall" "-U" "postgres"
        restore "psql" "-U" "postgres" "-f" "-"
    }
    host-unit "postgresql.service"
}
service "broker" {
    image "broker"
    port "mqtt" 1883 publish=1883
    volume "data" "/mosquitto/data"
    health tcp="mqtt" tool="nc"
    host-unit "mosquitto.service"
}
service "web" {
    image "web"
    command "/usr/bin/web-server" "--data" "/srv/files"
    port "http" 8080 publish="{param.web-port}"
    volume "files" "/srv/files"
    env "DATABASE_URL" "postgres://{db.host}:{db.port.pg}/web"
    env "DB_PASSWORD" secret="db-password"
    env "MQTT" "{broker.host}:{broker.port.mqtt}"
    health liveness="/healthz" readiness="/ready" port="http"
}
"#;

#[test]
fn another_stacks_scripts_know_its_services_and_nothing_of_lucias() {
    let (mut model, _) = model_from(&homelab(1883), None);
    model.source_file = "homelab.kdl".into();
    let dir = generated(&model);
    for name in [
        "health-check.sh",
        "backup-config.sh",
        "validate-deployment.sh",
    ] {
        let text = std::fs::read_to_string(dir.path().join(name))
            .unwrap_or_default()
            .replace("luciac", "");
        for word in common::LUCIA_WORDS.iter().chain(&["mongo", "redis"]) {
            assert!(!text.contains(word), "{name} holds `{word}`");
        }
    }
    let help = run(Command::new(dir.path().join("health-check.sh")).arg("--help"));
    let s = stdout(&help);
    for needle in [
        "Check homelab (profile base):",
        "db: pg_isready -h 127.0.0.1",
        "broker: TCP connect to port mqtt",
        "web: HTTP /healthz on port http, HTTP /ready on port http",
        "--target T       compose, kubernetes (Helm or Kustomize) or systemd",
        "--release NAME   kubernetes: Helm release or object prefix (default homelab)",
    ] {
        assert!(s.contains(needle), "missing `{needle}` in:\n{s}");
    }
    let help = run(Command::new(dir.path().join("backup-config.sh")).arg("--help"));
    let s = stdout(&help);
    for needle in [
        "the dumps of db",
        "the volumes broker /mosquitto/data, web /srv/files",
        "/etc/homelab, /var/lib/homelab, /usr/local/lib/systemd/system/homelab.service.d; the dumps of db (run on this host)",
        "(the data of broker, which the host provides, is the host's to back up)",
    ] {
        assert!(s.contains(needle), "missing `{needle}` in:\n{s}");
    }
}

#[test]
fn another_stacks_health_check_asks_its_endpoints_ports_and_commands() {
    let broker = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let broker_port = broker.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let web = serve(&[("/healthz", 200, "ok"), ("/ready", 200, "ready")]);
    let (model, _) = model_from(&homelab(broker_port), None);
    let dir = generated(&model);
    let bundle = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bundle.path().join("compose.yaml"), "name: homelab\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bundle.path().join(".env"), format!("WEB_PORT={web}\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let docker = r#"case "$*" in
*"exec -T db pg_isready -h 127.0.0.1") echo '127.0.0.1:5432 - accepting connections' ;;
*) echo "unexpected: $*" >&2; exit 1 ;;
esac"#;
    let bin = fake_bin(&[("docker", docker)]);
    let check = || {
        run(Command::new(dir.path().join("health-check.sh"))
            .env("PATH", path_with(bin.path()))
            .args(["--target", "compose", "--dir"])
            .arg(bundle.path()))
    };
    let out = check();
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    for needle in [
        "homelab health (compose, profile base)".to_string(),
        format!("web: http://127.0.0.1:{web}"),
        "OK    web /healthz (liveness): HTTP 200 ok".to_string(),
        "OK    web /ready (readiness): HTTP 200 ready".to_string(),
        format!("OK    broker (TCP port mqtt): 127.0.0.1:{broker_port} accepts connections"),
        "OK    db (docker compose exec db pg_isready -h 127.0.0.1): 127.0.0.1:5432 - accepting connections".to_string(),
        "HEALTHY".to_string(),
    ] {
        assert!(s.contains(&needle), "missing `{needle}` in:\n{s}");
    }
    // The broker goes away: unhealthy, and it says which port.
    drop(broker);
    let out = check();
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        stdout(&out).contains(&format!(
            "FAIL  broker (TCP port mqtt): nothing accepts connections on 127.0.0.1:{broker_port}"
        )),
        "{}",
        describe(&out)
    );
    // --url without a service names the only one with HTTP checks; a wrong name is refused.
    let out = run(Command::new(dir.path().join("health-check.sh")).args([
        "--target",
        "systemd",
        "--url",
        &format!("http://127.0.0.1:{web}"),
        "--http-only",
    ]));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let out = run(Command::new(dir.path().join("health-check.sh")).args([
        "--target",
        "systemd",
        "--url",
        "db=http://127.0.0.1:1",
    ]));
    assert_eq!(code(&out), 2, "{}", describe(&out));
}

#[test]
fn another_stacks_backup_saves_its_dump_and_volumes_and_puts_them_back() {
    let (model, _) = model_from(&homelab(1883), None);
    let dir = generated(&model);
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = tmp.path().join("homelab-compose-0.4.0");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(bundle.join("secrets")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(&out_dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bundle.join("compose.yaml"), "name: homelab\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bundle.join(".env"), "WEB_PORT=18080\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bundle.join("secrets/db-password"), "s3cret-s3cret")
        .unwrap_or_else(|e| panic!("{e}"));
    let log = tmp.path().join("docker.log");
    let docker = format!(
        r#"printf '%s\n' "$*" >> '{log}'
case "$*" in
*"exec -T db pg_dumpall -U postgres") printf 'SQL-DUMP' ;;
*"exec -T db psql -U postgres -f -") cat > '{log}.restored-db' ;;
*"exec -T broker tar -cf - -C /mosquitto/data .") printf 'BROKER-DATA' ;;
*"exec -T web tar -cf - -C /srv/files .") printf 'WEB-FILES' ;;
*" ps -q "*) : ;;
*"run --rm --no-deps -T --entrypoint tar "*) cat >> '{log}.restored-volumes' ;;
*) echo "unexpected: $*" >&2; exit 1 ;;
esac"#,
        log = log.display()
    );
    let bin = fake_bin(&[("docker", &docker)]);
    let out = run(Command::new(dir.path().join("backup-config.sh"))
        .env("PATH", path_with(bin.path()))
        .args(["--target", "compose", "--dir"])
        .arg(&bundle)
        .arg("--out")
        .arg(&out_dir));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let s = stdout(&out);
    for needle in [
        "saved  db (its dump: pg_dumpall -U postgres)",
        "saved  volume broker /mosquitto/data",
        "saved  volume web /srv/files",
    ] {
        assert!(s.contains(needle), "missing `{needle}` in:\n{s}");
    }
    let archive = std::fs::read_dir(&out_dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .unwrap_or_else(|| panic!("no archive"));
    assert!(
        archive
            .to_string_lossy()
            .contains("/homelab-backup-compose-"),
        "{}",
        archive.display()
    );
    // The database's data is its dump, never its files.
    let listing = run(Command::new("tar").arg("-tzf").arg(&archive));
    let names = stdout(&listing);
    assert!(names.contains("homelab-backup/data/db.dump"), "{names}");
    assert!(!names.contains("db/data.tar"), "{names}");

    std::fs::remove_file(bundle.join(".env")).unwrap_or_else(|e| panic!("{e}"));
    let out = run(Command::new(dir.path().join("backup-config.sh"))
        .env("PATH", path_with(bin.path()))
        .arg("--dir")
        .arg(&bundle)
        .arg("--restore")
        .arg(&archive));
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(bundle.join(".env")).unwrap_or_default(),
        "WEB_PORT=18080\n"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{}.restored-db", log.display())).unwrap_or_default(),
        "SQL-DUMP"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{}.restored-volumes", log.display())).unwrap_or_default(),
        "BROKER-DATAWEB-FILES"
    );
}

/// An exec check names another service's port as that service is reached where the check
/// runs: its container port beside it under Compose, its Service port (the published one) on
/// Kubernetes, and the port its unit listens on under systemd (here the published one, which
/// its own environment sets), as env values are resolved in each target.
#[test]
fn exec_checks_name_ports_as_each_place_reaches_them() {
    let kdl = r#"app "t" version="1.0.0"
image "i" "docker.io/library/busybox:1"
service "api" {
    image "i"
    command "api"
    port "http" 8080 publish=9000
    env "LISTEN" "0.0.0.0:{api.port.http}"
    health liveness="/alive" readiness="/ready"
}
service "probe" {
    image "i"
    command "probe"
    depends-on "api"
    health { exec "check" "{api.host}:{api.port.http}" }
}
"#;
    let (model, _) = model_from(kdl, None);
    let dir = generated(&model);
    let text = std::fs::read_to_string(dir.path().join("health-check.sh")).unwrap_or_default();
    for want in [
        "dc exec -T probe check api:8080",
        "check t-api:9000",
        "host_cmd 'probe (check 127.0.0.1:9000)'",
    ] {
        assert!(text.contains(want), "no `{want}` in:\n{text}");
    }
}
