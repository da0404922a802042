//! A stack that is not Lucia's under systemd as PID 1: the git-forge example's prod systemd
//! package (committed under examples/git-forge/bundles/prod) in a Podman container with
//! `--systemd=always`, followed as its README says: `install.sh`, the credential typed at its
//! prompt, the role and database its note asks the host's PostgreSQL for, `systemctl enable
//! --now forge`, then its operator scripts and `uninstall.sh`. PostgreSQL is Debian's real
//! PostgreSQL 15 as the host's `postgresql.service`; Forgejo is the stand-in
//! (`tests/e2e/images/standins/forgejo.py`) installed as the program `forgejo` on the PATH, whose
//! `/api/healthz` runs a real query with the credentials it received (image
//! `tests/e2e/images/systemd/`).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::repo;
use crate::engine::{Cleanup, cmd, engines, ok, output, record, sha256, wait_for};
use crate::systemd_host::Host;

const NAME: &str = "luciac-e2e-forge-systemd";
/// The value written to `credentials/db-password` and given to `createuser --pwprompt`.
const DB_PASSWORD: &str = "e2e-forge-systemd-db-password-5b1e0c";
const UNIT_DIR: &str = "/usr/local/lib/systemd/system";

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what} exited {}:\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn package() -> PathBuf {
    std::fs::read_dir(repo().join("examples/git-forge/bundles/prod"))
        .expect("examples/git-forge/bundles/prod")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("forge-prod-systemd-") && n.ends_with(".tar.gz")
        })
        .expect("forge-prod-systemd-*.tar.gz")
}

/// The README, read from the tarball itself, as a user sees it.
fn readme(tarball: &Path) -> String {
    let name = tarball.file_name().unwrap().to_string_lossy().to_string();
    ok(&mut cmd(
        "tar",
        &[
            "-xzOf",
            &tarball.to_string_lossy(),
            &format!("{}/README.md", name.replace(".tar.gz", "")),
        ],
    ))
}

/// The ```sh block under "## Install".
fn install_block(readme: &str) -> Vec<String> {
    readme
        .split("## Install")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|b| b.split("```").next())
        .expect("README has an Install block")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The commands the note on `postgres` gives in backquotes (the role and the database).
fn postgres_note(readme: &str) -> Vec<String> {
    let note = readme
        .split("### `postgres`")
        .nth(1)
        .and_then(|s| s.split("\n#").next())
        .expect("README has a note on postgres");
    note.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("sudo "))
        .map(str::to_string)
        .collect()
}

/// Run the README's Install lines one by one (`cd` carries over) up to `systemctl enable`;
/// returns the directory change and that line, which the caller runs once PostgreSQL has the
/// role.
fn install(host: &Host, tarball: &Path, readme: &str) -> (String, String) {
    let name = tarball.file_name().unwrap().to_string_lossy().to_string();
    ok(&mut cmd(
        "podman",
        &[
            "cp",
            &tarball.to_string_lossy(),
            &format!("{}:/root/{name}", host.name),
        ],
    ));
    let mut cwd = String::from("cd /root");
    let mut enable = None;
    let mut prompts = Vec::new();
    for line in install_block(readme) {
        if let Some(dir) = line.strip_prefix("cd ") {
            cwd = format!("{cwd} && cd {}", dir.trim());
            continue;
        }
        if line.starts_with("sudo systemctl enable") {
            enable = Some(line.clone());
            continue;
        }
        // `sudoedit` is optional (the unit's defaults stay); `journalctl -f` never ends.
        if line.starts_with("sudoedit") || line.starts_with("journalctl") {
            continue;
        }
        // A secret, typed at its prompt, then Ctrl-D (a trailing newline, as a terminal sends).
        let input = match line.split("/etc/forge/credentials/").nth(1) {
            Some(rest) => {
                let secret = rest.split(['\'', ' ']).next().unwrap_or_default();
                prompts.push(secret.to_string());
                format!("{DB_PASSWORD}\n")
            }
            None => String::new(),
        };
        let out = host.sh_input(&format!("{cwd} && {line}"), &input);
        assert!(out.status.success(), "{}", describe(&line, &out));
    }
    assert_eq!(
        prompts,
        ["db-password"],
        "the Install block writes the one declared secret"
    );
    (cwd, enable.expect("the Install block enables the unit"))
}

/// `psql` as forgejo over TCP with `password`, which goes in on stdin (never a command line).
fn psql(host: &Host, password: &str, sql: &str) -> Output {
    let script = format!(
        "read -r PGPASSWORD; export PGPASSWORD; \
         exec psql -X -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -U forgejo -d forgejo -tA -c \"{sql}\""
    );
    host.sh_input(&script, &format!("{password}\n"))
}

/// `psql` with the right password, which must succeed; its trimmed output.
fn psql_ok(host: &Host, sql: &str) -> String {
    let out = psql(host, DB_PASSWORD, sql);
    assert!(out.status.success(), "{}", describe(sql, &out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// PostgreSQL checks the password over TCP: the one in the credential file is accepted for the
/// role the note created, another is not.
fn assert_password_enforced(host: &Host) {
    let query = "SELECT current_user || current_database()";
    assert_eq!(psql_ok(host, query), "forgejoforgejo");
    let wrong = psql(host, "not-the-db-password", query);
    assert!(!wrong.status.success(), "a wrong password was accepted");
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("password authentication failed"),
        "wrong password: {err}"
    );
}

/// Forgejo received every key the unit gives it, with the declaration's defaults, and the
/// password from the credential (its trailing newline removed); it runs as `forge`.
fn assert_keys_and_user(host: &Host, port: &str) {
    let (status, body) = host.http(port, "/api/luciac-keys");
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).expect("report JSON");
    let keys = report["keys"].as_object().expect("keys");
    let expected = [
        ("FORGEJO__database__DB_TYPE", "postgres"),
        ("FORGEJO__database__HOST", "127.0.0.1:5432"),
        ("FORGEJO__database__NAME", "forgejo"),
        ("FORGEJO__database__USER", "forgejo"),
        ("FORGEJO__server__DOMAIN", "git.home.arpa"),
        ("FORGEJO__server__HTTP_PORT", "3000"),
        ("FORGEJO__server__SSH_LISTEN_PORT", "2222"),
        ("FORGEJO__server__SSH_PORT", "2222"),
    ];
    for (k, v) in expected {
        assert_eq!(keys[k]["value"], v, "{k}");
    }
    let passwd = &keys["FORGEJO__database__PASSWD"];
    assert_eq!(passwd["secret"], true);
    assert_eq!(
        passwd["sha256"],
        sha256(DB_PASSWORD),
        "the password arrived"
    );
    assert_eq!(passwd["length"], DB_PASSWORD.len(), "no trailing newline");
    assert_eq!(keys.len(), expected.len() + 1, "no other keys: {keys:?}");

    let uid = host.ok(&["id", "-u", "forge"]).trim().to_string();
    let gid = host.ok(&["id", "-g", "forge"]).trim().to_string();
    assert_eq!(report["uid"].to_string(), uid, "the stand-in's uid");
    assert_eq!(report["gid"].to_string(), gid, "the stand-in's gid");
    assert_eq!(report["cap_eff"], "0000000000000000");
    assert_eq!(report["root_writable"], false);
    // Its first-start file is in the state directory (backed up, kept by uninstall.sh).
    let work = report["work_path"].as_str().unwrap_or_default();
    assert_eq!(work, "/var/lib/forge/data", "work path (--work-path)");
    assert!(report["first_start"].is_string(), "no first-start file");

    // The unit's main process (forgejo itself: forge-start execs it) runs as forge, every id.
    let pid = host.prop("forge.service", "MainPID");
    assert_ne!(pid, "0", "forge.service has no main process");
    let user = host.ok(&["ps", "-o", "user=", "-p", &pid]);
    assert_eq!(user.trim(), "forge", "the user of pid {pid}");
    let status = host.ok(&[
        "grep",
        "-E",
        "^(Uid|Gid|CapEff):",
        &format!("/proc/{pid}/status"),
    ]);
    for line in status.lines() {
        let values: Vec<&str> = line.split_whitespace().skip(1).collect();
        let want = match line.split(':').next() {
            Some("Uid") => uid.as_str(),
            Some("Gid") => gid.as_str(),
            _ => "0000000000000000",
        };
        assert!(values.iter().all(|v| *v == want), "pid {pid}: {line}");
    }
    let cmdline = host.ok(&["sh", "-c", &format!("tr '\\0' ' ' </proc/{pid}/cmdline")]);
    assert!(
        cmdline.contains("/usr/local/bin/forgejo web"),
        "the program install.sh found: {cmdline}"
    );
}

/// The password is in no `systemctl show`, unit file, drop-in, env file, wrapper, command line,
/// journal or PostgreSQL log.
fn assert_no_secret_leaks(host: &Host) {
    let mut seen = host.ok(&["systemctl", "show", "forge.service"]);
    seen += &host.sh("cat /usr/local/lib/systemd/system/forge.service \
         /usr/local/lib/systemd/system/forge.service.d/*.conf /etc/forge/forge.env \
         /opt/forge/libexec/forge-start /opt/forge/share/forge.env.example");
    seen += &host.ok(&["ps", "-eo", "args"]);
    seen += &host.ok(&["journalctl", "--no-pager", "-o", "cat"]);
    seen += &host.sh("cat /var/log/postgresql/*.log 2>/dev/null; :");
    assert!(
        !seen.contains(DB_PASSWORD),
        "the password leaked into show, units, ps, the journal or PostgreSQL's log"
    );
}

/// The live unit's exposure, as the README quotes it.
fn exposure(host: &Host) -> f64 {
    let sec = String::from_utf8_lossy(
        &host
            .exec(&["systemd-analyze", "security", "forge.service"])
            .stdout,
    )
    .to_string();
    sec.lines()
        .find_map(|l| l.strip_prefix("→ Overall exposure level for forge.service: "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score:\n{sec}"))
}

/// The README's "Operations": health-check.sh exits 0 while healthy and non-zero once the
/// database is gone (the cluster stopped behind an active `postgresql.service`, then
/// `postgresql.service` itself); backup-config.sh writes an archive holding a pg_dump, and
/// `--restore` puts a changed row back. Returns
/// what failed, so that the rest of the test still runs. Leaves everything running.
fn operator_scripts(host: &Host, dir: &str, port: &str) -> Vec<String> {
    let mut defects = Vec::new();
    let health = || {
        host.sh_input(
            &format!("cd {dir} && ./health-check.sh --target systemd"),
            "",
        )
    };
    let healthy = health();
    if !healthy.status.success() {
        defects.push(describe(
            "health-check.sh --target systemd (the forge healthy)",
            &healthy,
        ));
    }

    psql_ok(
        host,
        "CREATE TABLE e2e_kept (v text); INSERT INTO e2e_kept VALUES ('kept')",
    );
    let backup = host.sh_input(
        &format!("cd {dir} && sudo ./backup-config.sh --target systemd"),
        "",
    );
    let archive = host.sh("ls /root/forge-backup-systemd-*.tar.gz 2>/dev/null | head -n 1; :");
    let archive = archive.trim();
    if !backup.status.success() || archive.is_empty() {
        defects.push(describe(
            &format!("sudo ./backup-config.sh --target systemd (archive in /root: {archive:?})"),
            &backup,
        ));
    } else {
        let listing = host.ok(&["tar", "-tvzf", archive]);
        let dump = host.sh(&format!(
            "tar -xzOf {archive} forge-backup/data/postgres.dump | head -c 4096"
        ));
        if !dump.contains("PostgreSQL database dump") {
            defects.push(format!(
                "backup-config.sh: {archive} has no pg_dump in forge-backup/data/postgres.dump:\n{listing}"
            ));
        }
        let credential = listing
            .lines()
            .find(|l| l.ends_with("forge-backup/files/etc/forge/credentials/db-password"));
        if !credential.is_some_and(|l| l.starts_with("-rw------- root/root")) {
            defects.push(format!(
                "backup-config.sh: {archive} lacks the credential as a 0600 root file:\n{listing}"
            ));
        }
        if !listing.contains("forge-backup/files/var/lib/forge/data/luciac-first-start") {
            defects.push(format!(
                "backup-config.sh: {archive} lacks forgejo's state:\n{listing}"
            ));
        }
        // The restore, as its --help says for systemd: stop the units, restore, start them.
        psql_ok(host, "UPDATE e2e_kept SET v = 'changed'");
        host.ok(&["systemctl", "stop", "forge"]);
        let restore = host.sh_input(
            &format!("cd {dir} && sudo ./backup-config.sh --restore {archive}"),
            "",
        );
        let value = psql_ok(host, "SELECT v FROM e2e_kept");
        if !restore.status.success() || value != "kept" {
            defects.push(describe(
                &format!("sudo ./backup-config.sh --restore {archive} (e2e_kept.v is {value:?})"),
                &restore,
            ));
        }
        host.ok(&["systemctl", "start", "forge"]);
        wait_for(
            "healthz 200 after the restore",
            Duration::from_secs(60),
            || (host.http(port, "/api/healthz").0 == 200).then_some(()),
        );
    }

    // The cluster stops, postgresql.service (Debian's umbrella unit) stays active: healthz
    // follows the database, and so must the health check.
    host.ok(&["systemctl", "stop", "postgresql@15-main"]);
    wait_for(
        "healthz 503 with the cluster stopped",
        Duration::from_secs(30),
        || (host.http(port, "/api/healthz").0 == 503).then_some(()),
    );
    let down = health();
    if down.status.code() != Some(1) {
        defects.push(describe(
            "health-check.sh --target systemd (PostgreSQL's cluster stopped; 1 expected)",
            &down,
        ));
    }
    host.ok(&["systemctl", "start", "postgresql@15-main"]);
    wait_for(
        "healthz 200 with the cluster back",
        Duration::from_secs(60),
        || (host.http(port, "/api/healthz").0 == 200).then_some(()),
    );

    // postgresql.service stopped: forge.service Requires= it, so it stops too (README).
    host.ok(&["systemctl", "stop", "postgresql"]);
    assert_eq!(
        host.is_active("forge.service"),
        "inactive",
        "forge after postgresql stopped"
    );
    let stopped = health();
    if stopped.status.code() != Some(1) {
        defects.push(describe(
            "health-check.sh --target systemd (postgresql.service stopped; 1 expected)",
            &stopped,
        ));
    }
    host.ok(&["systemctl", "start", "postgresql"]);
    defects
}

#[test]
fn forge_systemd_package_runs_under_systemd() {
    let Some(_engines) = engines("forge_systemd_package_runs_under_systemd") else {
        return;
    };
    let host = Host::boot(NAME);
    let _rm = Cleanup(|| {
        let _ = output(&mut cmd("podman", &["rm", "-f", "-t", "0", NAME]));
    });
    host.ok(&[
        "systemctl",
        "is-active",
        "postgresql.service",
        "postgresql@15-main.service",
    ]);

    let tarball = package();
    let readme = readme(&tarball);
    let (cwd, enable) = install(&host, &tarball, &readme);
    // Where the Install block unpacked the package (its scripts run from there).
    let dir = format!(
        "/root/{}",
        tarball
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".tar.gz", "")
    );

    // The note on postgres: the role (its password typed twice at createuser's prompt) and the
    // database, before the unit starts.
    let note = postgres_note(&readme);
    assert_eq!(
        note.len(),
        2,
        "the note names the role and the database: {note:?}"
    );
    for line in &note {
        let input = if line.contains("--pwprompt") {
            format!("{DB_PASSWORD}\n{DB_PASSWORD}\n")
        } else {
            String::new()
        };
        let out = host.sh_input(&format!("cd / && {line}"), &input);
        assert!(out.status.success(), "{}", describe(line, &out));
    }

    let port = "3000";
    let start = Instant::now();
    let out = host.sh_input(&format!("{cwd} && {enable}"), "");
    assert!(out.status.success(), "{}", describe(&enable, &out));
    wait_for("forgejo /api/healthz 200", Duration::from_secs(60), || {
        (host.http(port, "/api/healthz").0 == 200).then_some(())
    });
    record(&format!(
        "e2e systemd forge prod (examples/git-forge): enable --now to /api/healthz 200 in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    assert_eq!(host.is_active("forge.service"), "active");
    assert_eq!(host.is_active("postgresql.service"), "active");
    assert_eq!(host.prop("forge.service", "UnitFileState"), "enabled");
    let requires = host.prop("forge.service", "Requires");
    assert!(
        requires.contains("postgresql.service"),
        "Requires={requires}"
    );
    let (_, body) = host.http(port, "/api/healthz");
    let health: Value = serde_json::from_str(&body).expect("healthz JSON");
    assert_eq!(health["status"], "pass", "{body}");

    assert_keys_and_user(&host, port);
    assert_password_enforced(&host);
    assert_no_secret_leaks(&host);
    let score = exposure(&host);
    record(&format!(
        "e2e systemd forge prod (examples/git-forge): live exposure {score}"
    ));
    assert!(score <= 2.0, "exposure {score} > 2.0");

    let script_defects = operator_scripts(&host, &dir, port);

    // Back from postgresql's stop: `systemctl start` to healthy, timed; a restart of the host
    // unit restarts forge (Requires=).
    let start = Instant::now();
    host.ok(&["systemctl", "start", "forge"]);
    wait_for("forgejo healthy again", Duration::from_secs(60), || {
        (host.http(port, "/api/healthz").0 == 200).then_some(())
    });
    record(&format!(
        "e2e systemd forge prod (examples/git-forge): systemctl start to /api/healthz 200 in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    let pid = host.prop("forge.service", "MainPID");
    host.ok(&["systemctl", "restart", "postgresql"]);
    wait_for(
        "forge restarted with postgresql",
        Duration::from_secs(60),
        || {
            let p = host.prop("forge.service", "MainPID");
            (p != pid && p != "0" && host.http(port, "/api/healthz").0 == 200).then_some(())
        },
    );
    assert_no_secret_leaks(&host);

    // Reinstalling changes nothing; uninstall.sh removes the units and keeps the data and the
    // credential; --purge removes those.
    let installed = installed_tree(&host);
    let again = host.sh(&format!("cd {dir} && ./install.sh"));
    assert!(again.contains("nothing to do"), "reinstall: {again}");
    assert_eq!(
        installed_tree(&host),
        installed,
        "a reinstall changed the tree"
    );
    let out = host.sh(&format!("cd {dir} && ./uninstall.sh"));
    assert_eq!(host.is_active("forge.service"), "inactive", "{out}");
    assert_eq!(
        host.prop("forge.service", "LoadState"),
        "not-found",
        "{out}"
    );
    let left = installed_tree(&host);
    for gone in [
        format!("{UNIT_DIR}/forge.service "),
        format!("{UNIT_DIR}/forge.service.d"),
        "/opt/forge".to_string(),
    ] {
        assert!(!left.contains(&gone), "uninstall left {gone}:\n{left}");
    }
    for kept in [
        "/etc/forge/credentials/db-password 600 root:root f",
        // The work path the unit passes (`--work-path`, the image's /var/lib/gitea).
        "/var/lib/forge/data/luciac-first-start",
    ] {
        assert!(left.contains(kept), "uninstall removed {kept}:\n{left}");
    }
    assert_eq!(
        host.is_active("postgresql.service"),
        "active",
        "the host's unit stays"
    );
    host.sh(&format!("cd {dir} && ./uninstall.sh --purge"));
    assert_eq!(installed_tree(&host).trim(), "", "purge left files");

    assert!(
        script_defects.is_empty(),
        "the package's operator scripts (its README's \"Operations\") fail on this stack:\n{}",
        script_defects.join("\n")
    );
}

/// Every path the package installs or creates, with mode and owner.
fn installed_tree(host: &Host) -> String {
    host.sh(
        "for d in /opt/forge /etc/forge /var/lib/forge /var/cache/forge \
         /usr/local/lib/systemd/system/forge.service /usr/local/lib/systemd/system/forge.service.d \
         /usr/local/lib/sysusers.d/forge.conf /usr/local/lib/tmpfiles.d/forge.conf; do \
         [ -e \"$d\" ] && find \"$d\" -printf '%p %m %u:%g %y\\n'; done | sort; :",
    )
}
