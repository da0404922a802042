//! The host the systemd e2e tests install packages on: a Podman container with systemd as PID 1
//! (`--systemd=always`), and the commands they run in it.

use std::process::{Command, Output};
use std::time::Duration;

use crate::engine::{cmd, ok, output, wait_for};

/// Debian with systemd, built by `scripts/engines.sh` from `tests/e2e/images/systemd/`.
const IMAGE: &str = "localhost/luciac-e2e/systemd:bookworm";

/// A Podman container running systemd as PID 1: the host a systemd package is installed on.
pub struct Host {
    pub name: String,
}

impl Host {
    /// Boot a fresh container `name` (any old one of that name is removed first) and wait until
    /// systemd reports the system running.
    pub fn boot(name: &str) -> Host {
        let _ = output(&mut cmd("podman", &["rm", "-f", name]));
        ok(&mut cmd(
            "podman",
            &[
                "run",
                "-d",
                "--name",
                name,
                "--systemd=always",
                "--cap-add",
                "SYS_ADMIN",
                // systemd on a real host has every capability. Without CAP_SYS_PTRACE, the
                // /proc that ProtectProc=invisible mounts (hidepid) hides the service from
                // systemd's own user-namespace helper, and PrivateUsers=yes fails with
                // 217/USER "Failed to set up user namespacing: No such file or directory"
                // (Debian's redis-server.service as well). No unit is changed for the test.
                "--cap-add",
                "SYS_PTRACE",
                "--tmpfs",
                "/run:rw,rshared,mode=755",
                "--network",
                "none",
                IMAGE,
                "/lib/systemd/systemd",
            ],
        ));
        let host = Host {
            name: name.to_string(),
        };
        wait_for("systemd to boot", Duration::from_secs(60), || {
            let s = String::from_utf8_lossy(&host.exec(&["systemctl", "is-system-running"]).stdout)
                .trim()
                .to_string();
            matches!(s.as_str(), "running" | "degraded").then_some(())
        });
        host
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        let mut c = cmd("podman", &["exec", &self.name]);
        c.args(args);
        output(&mut c)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let mut c = cmd("podman", &["exec", &self.name]);
        c.args(args);
        ok(&mut c)
    }

    pub fn sh(&self, script: &str) -> String {
        self.ok(&["sh", "-euc", script])
    }

    /// `sh -euc SCRIPT` with `stdin` as its input (what is typed at a prompt), as root with
    /// HOME=/root.
    pub fn sh_input(&self, script: &str, stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new("podman")
            .args([
                "exec",
                "-i",
                "-e",
                "HOME=/root",
                &self.name,
                "sh",
                "-euc",
                script,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("podman exec");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    }

    /// One property of a unit (`systemctl show -p`).
    pub fn prop(&self, unit: &str, p: &str) -> String {
        self.ok(&["systemctl", "show", "-p", p, "--value", unit])
            .trim()
            .to_string()
    }

    pub fn is_active(&self, unit: &str) -> String {
        String::from_utf8_lossy(&self.exec(&["systemctl", "is-active", unit]).stdout)
            .trim()
            .to_string()
    }

    /// GET from inside the container: (status, body); status 0 when nothing answered.
    pub fn http(&self, port: &str, path: &str) -> (u16, String) {
        let url = format!("http://127.0.0.1:{port}{path}");
        let out = self.exec(&[
            "curl",
            "-s",
            "--max-time",
            "10",
            "-o",
            "/dev/stdout",
            "-w",
            "\n%{http_code}",
            &url,
        ]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}
