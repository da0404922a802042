//! The systemd packages under systemd as PID 1 (Podman `--systemd=always`), installed as their
//! READMEs say, with Debian's redis-server as the host's Redis and the MongoDB stand-in as
//! `mongod.service`. The agenthost's files (`install.sh --files agenthost=DIR`) are the stand-in's
//! publish output (`lucia.AgentHost.dll`), and `dotnet`, which install.sh finds on the PATH, is the
//! stand-in runtime.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::repo;
use crate::engine::{Cleanup, assert_secrets_arrived, cmd, engines, ok, output, wait_for};
use crate::systemd_host::Host;

const SECRETS: &[(&str, &str)] = &[
    (
        "ha-token",
        "e2e-systemd-ha-token-0123456789abcdefghijklmnop",
    ),
    (
        "chat-model",
        "Endpoint=http://llm.e2e.invalid/v1;AccessKey=e2e-systemd-key-42;Model=m;Provider=openai",
    ),
];

impl Host {
    /// The published port: the one the unit's ASPNETCORE_URLS names (it differs per profile).
    fn port(&self) -> String {
        let env = self.prop("lucia.service", "Environment");
        env.split_whitespace()
            .find_map(|kv| kv.strip_prefix("ASPNETCORE_URLS=http://+:"))
            .unwrap_or_else(|| panic!("no ASPNETCORE_URLS in {env}"))
            .to_string()
    }

    /// GET on the published port: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        self.http(&self.port(), path)
    }
}

fn package(profile: &str) -> PathBuf {
    std::fs::read_dir(repo().join("bundles").join(profile))
        .expect("bundle dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("-systemd-"))
        .expect("a systemd package")
}

/// The README's install block: every line until `systemctl enable`, secrets typed at prompts.
fn install(host: &Host, tarball: &Path) {
    let name = tarball.file_name().unwrap().to_string_lossy().to_string();
    ok(&mut cmd(
        "podman",
        &[
            "cp",
            &tarball.to_string_lossy(),
            &format!("{}:/root/{name}", host.name),
        ],
    ));
    let readme = ok(&mut cmd(
        "tar",
        &[
            "-xzOf",
            &tarball.to_string_lossy(),
            &format!("{}/README.md", name.replace(".tar.gz", "")),
        ],
    ));
    let block = readme
        .split("## Install")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|b| b.split("```").next())
        .expect("README has an Install block");
    // Each line runs on its own (a secret is typed at its own prompt); `cd`s carry over.
    let mut cwd = String::from("cd /root");
    for line in block.lines() {
        let line = line.replace("sudo ", "");
        if let Some(dir) = line.strip_prefix("cd ") {
            cwd = format!("{cwd} && cd {}", dir.trim());
            continue;
        }
        if line.starts_with("systemctl enable")
            || line.starts_with("journalctl")
            || line.starts_with("sudoedit")
        {
            continue;
        }
        let line = line.replace(
            "--files agenthost=/path/to/agenthost-files",
            "--files agenthost=/srv/lucia-publish",
        );
        let input = SECRETS
            .iter()
            .find(|(n, _)| line.contains(&format!("credentials/{n}'")))
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let out = host.sh_input(&format!("{cwd} && {line}"), &input);
        assert!(
            out.status.success(),
            "{line}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn main_pid(host: &Host) -> String {
    host.prop("lucia.service", "MainPID")
}

fn run_profile(profile: &str) {
    let name = format!("luciac-e2e-systemd-{profile}");
    let host = Host::boot(&name);
    let _rm = Cleanup(|| {
        let _ = output(&mut cmd("podman", &["rm", "-f", "-t", "0", &name]));
    });
    host.ok(&[
        "systemctl",
        "is-active",
        "redis-server.service",
        "mongod.service",
    ]);
    let tarball = package(profile);
    install(&host, &tarball);

    let start = Instant::now();
    host.ok(&["systemctl", "enable", "--now", "lucia"]);
    wait_for("lucia /health", Duration::from_secs(60), || {
        (host.get("/health").0 == 200).then_some(())
    });
    crate::engine::record(&format!(
        "e2e systemd {profile}: enable --now to /health 200 in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    assert_eq!(host.prop("lucia.service", "ActiveState"), "active");
    assert_eq!(host.get("/alive").0, 200);

    // The credentials arrive as the keys the app reads; the rest of the unit's environment too.
    let report: Value = serde_json::from_str(&host.get("/__standin/report").1).expect("report");
    let env = &report["env"];
    assert_secrets_arrived(env, SECRETS, profile);
    assert_eq!(env["ConnectionStrings__redis"]["value"], "127.0.0.1:6379");
    let port = if profile == "dev" { "7234" } else { "7233" };
    assert_eq!(env["ASPNETCORE_URLS"]["value"], format!("http://+:{port}"));
    let level = if profile == "dev" {
        "Debug"
    } else {
        "Information"
    };
    assert_eq!(env["Logging__LogLevel__Default"]["value"], level);
    assert_eq!(report["cap_eff"], "0000000000000000");
    assert_eq!(report["root_writable"], false);
    assert_eq!(
        report["writable"]["models"], true,
        "models is writable through its symlink"
    );

    // No secret value in `systemctl show`, the unit files or the journal.
    let mut seen = host.ok(&["systemctl", "show", "lucia.service"]);
    seen += &host.sh("cat /usr/local/lib/systemd/system/lucia.service /usr/local/lib/systemd/system/lucia.service.d/*.conf /etc/lucia/lucia.env");
    seen += &host.ok(&["journalctl", "--no-pager", "-o", "cat"]);
    for (n, v) in SECRETS {
        assert!(!seen.contains(v), "{profile}: secret {n} leaked");
    }

    // The live unit's exposure.
    let sec = String::from_utf8_lossy(
        &host
            .exec(&["systemd-analyze", "security", "lucia.service"])
            .stdout,
    )
    .to_string();
    let score: f64 = sec
        .lines()
        .find_map(|l| l.strip_prefix("→ Overall exposure level for lucia.service: "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score:\n{sec}"));
    crate::engine::record(&format!("e2e systemd {profile}: live exposure {score}"));
    assert!(score <= 2.0, "{profile}: exposure {score} > 2.0");

    // kill -9 → restart; stop within the stop timeout.
    let pid = main_pid(&host);
    host.ok(&["kill", "-9", &pid]);
    wait_for("lucia to restart", Duration::from_secs(30), || {
        let p = main_pid(&host);
        (p != pid && p != "0" && host.get("/alive").0 == 200).then_some(())
    });
    let stop = Instant::now();
    host.ok(&["systemctl", "stop", "lucia"]);
    assert!(
        stop.elapsed() < Duration::from_secs(45),
        "stop took {:?}",
        stop.elapsed()
    );
    host.ok(&["systemctl", "start", "lucia"]);
    wait_for("lucia /health again", Duration::from_secs(60), || {
        (host.get("/health").0 == 200).then_some(())
    });

    // The shipped operator scripts, from the unpacked package.
    let dir = format!(
        "/root/{}",
        tarball
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".tar.gz", "")
    );
    let health = host.exec(&[
        "sh",
        "-c",
        &format!("cd {dir} && ./health-check.sh --target systemd"),
    ]);
    assert!(
        health.status.success(),
        "health-check.sh: {}",
        String::from_utf8_lossy(&health.stdout)
    );
    host.ok(&["systemctl", "stop", "redis-server"]);
    let health = host.exec(&[
        "sh",
        "-c",
        &format!("cd {dir} && ./health-check.sh --target systemd"),
    ]);
    assert_eq!(
        health.status.code(),
        Some(1),
        "health-check.sh with Redis stopped"
    );
    host.ok(&["systemctl", "start", "redis-server", "lucia"]);
    host.sh("mongosh --quiet --eval \"db.standin.put('e2e', 'kept')\"");
    host.sh(&format!(
        "cd {dir} && HOME=/root ./backup-config.sh --target systemd"
    ));
    host.sh("mongosh --quiet --eval \"db.standin.put('e2e', 'changed')\"");
    host.sh("systemctl stop lucia");
    host.sh(&format!(
        "cd {dir} && ./backup-config.sh --restore /root/lucia-backup-systemd-*.tar.gz"
    ));
    assert_eq!(
        host.sh("mongosh --quiet --eval \"db.standin.get('e2e')\"")
            .trim(),
        "kept"
    );
    host.sh("systemctl start lucia");

    // The lifecycle: reinstall changes nothing; upgrade replaces the app; uninstall; purge.
    let installed = installed_tree(&host);
    host.sh(&format!("cd {dir} && ./install.sh"));
    assert_eq!(
        installed_tree(&host),
        installed,
        "{profile}: a reinstall changed the tree"
    );
    host.sh("mkdir -p /srv/lucia-publish-2 && cp -a /srv/lucia-publish/. /srv/lucia-publish-2/ && echo 2 > /srv/lucia-publish-2/version.txt");
    host.sh(&format!(
        "cd {dir} && ./install.sh --files agenthost=/srv/lucia-publish-2"
    ));
    assert_eq!(host.sh("cat /opt/lucia/agenthost/version.txt").trim(), "2");
    wait_for("lucia after the upgrade", Duration::from_secs(60), || {
        (host.get("/health").0 == 200).then_some(())
    });
    host.sh(&format!("cd {dir} && ./uninstall.sh"));
    let after_uninstall = installed_tree(&host);
    assert!(
        !after_uninstall.contains("/opt/lucia"),
        "{profile}: uninstall left the app:\n{after_uninstall}"
    );
    assert!(
        after_uninstall.contains("/etc/lucia/credentials/ha-token"),
        "{profile}: uninstall removed credentials"
    );
    host.sh(&format!("cd {dir} && ./uninstall.sh --purge"));
    // Only the shared directories install.sh may have created stay, empty.
    assert_eq!(
        installed_tree(&host).trim(),
        "/usr/local/lib/systemd/system 755 root:root d\n/usr/local/lib/sysusers.d 755 root:root d\n\
         /usr/local/lib/tmpfiles.d 755 root:root d",
        "{profile}: purge left files"
    );
}

#[test]
fn systemd_packages_run_under_systemd() {
    let Some(_engines) = engines("systemd_packages_run_under_systemd") else {
        return;
    };
    for profile in ["prod", "dev"] {
        run_profile(profile);
    }
}

/// Every installed path with its mode and owner: the file tree a lifecycle step leaves.
fn installed_tree(host: &Host) -> String {
    host.sh(
        "for d in /opt/lucia /etc/lucia /usr/local/lib/systemd/system /usr/local/lib/sysusers.d \
         /usr/local/lib/tmpfiles.d /var/lib/lucia /var/cache/lucia; do \
         [ -e \"$d\" ] && find \"$d\" -printf '%p %m %u:%g %y\\n'; done | sort; :",
    )
}
