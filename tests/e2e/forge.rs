//! A stack that is not Lucia's: the git-forge example's prod Compose bundle (Forgejo with
//! PostgreSQL, committed under examples/git-forge/bundles/prod) under Docker Engine with Compose
//! v2, followed as its README's quick start says. PostgreSQL is Debian's real PostgreSQL 15
//! behind the official image's contract; Forgejo is a stand-in whose health endpoint runs a real
//! query against it (`tests/e2e/images/standins/forgejo.py`).

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::repo;
use crate::compose::quick_start;
use crate::engine::{
    Cleanup, cmd, engines, http_get, ok, output, record, scratch, sh, sha256, wait_for,
};

/// The value typed at the README's prompt for `db-password` (min-length 16).
const DB_PASSWORD: &str = "e2e-forge-db-password-7f3a9c41d2";
/// What the test writes into `.env` ("then edit .env"): ports of its own, and a domain.
const HTTP_PORT: u16 = 13000;
const SSH_PORT: u16 = 12222;
const DOMAIN: &str = "git.e2e.test";

struct Forge {
    dir: PathBuf,
    project: String,
}

impl Forge {
    fn compose(&self, args: &[&str]) -> std::process::Command {
        let mut c = cmd("docker", &["compose", "-p", &self.project]);
        c.args(args).current_dir(&self.dir);
        c
    }

    fn inspect(&self, service: &str) -> Value {
        let id = ok(&mut self.compose(&["ps", "-q", service]))
            .trim()
            .to_string();
        assert!(!id.is_empty(), "{service} has no container");
        let raw = ok(&mut cmd("docker", &["inspect", &id]));
        let v: Value = serde_json::from_str(&raw).expect("docker inspect JSON");
        v[0].clone()
    }

    fn exec(&self, service: &str, args: &[&str]) -> std::process::Output {
        let mut c = self.compose(&["exec", "-T", service]);
        c.args(args);
        output(&mut c)
    }

    /// `exec` that must succeed; its trimmed stdout.
    fn exec_ok(&self, service: &str, args: &[&str]) -> String {
        let out = self.exec(service, args);
        assert!(
            out.status.success(),
            "{service}: {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn psql(&self, sql: &str) -> String {
        self.exec_ok(
            "postgres",
            &[
                "psql",
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "--username=forgejo",
                "--dbname=forgejo",
                "-tA",
                "-c",
                sql,
            ],
        )
    }

    fn healthz(&self) -> u16 {
        http_get(&format!("127.0.0.1:{HTTP_PORT}"), "/api/healthz")
            .map(|(s, _)| s)
            .unwrap_or(0)
    }

    /// The stand-in's test-only report of what it received.
    fn keys(&self) -> Value {
        let (status, body) = http_get(&format!("127.0.0.1:{HTTP_PORT}"), "/api/luciac-keys")
            .expect("forgejo answers on its published port");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("report JSON")
    }

    fn logs(&self) -> String {
        let out = output(&mut self.compose(&["logs", "--no-color"]));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// `up -d --wait` as the README's `up -d` then "wait for healthy"; the services' logs when
    /// it fails.
    fn up_wait(&self) -> Duration {
        let start = Instant::now();
        let out = output(&mut self.compose(&["up", "-d", "--wait"]));
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "docker compose up -d --wait failed:\n{}\n--- logs ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        took
    }

    fn down(&self) {
        let _ = output(&mut self.compose(&["down", "-v", "--remove-orphans", "-t", "10"]));
    }
}

/// Unpack the prod Compose tarball into `root` by running the README's quick start, then edit
/// `.env` as it says.
fn unpack(root: &Path) -> Forge {
    let bundle = repo().join("examples/git-forge/bundles/prod");
    let tarball = std::fs::read_dir(&bundle)
        .expect("examples/git-forge/bundles/prod")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("forge-prod-compose-") && n.ends_with(".tar.gz")
        })
        .expect("forge-prod-compose-*.tar.gz");
    std::fs::copy(&tarball, root.join(tarball.file_name().unwrap())).unwrap();
    let name = tarball
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tar.gz", "");
    // The README is read from the tarball itself, as a user sees it.
    let readme = ok(&mut cmd(
        "tar",
        &[
            "-xzOf",
            &tarball.to_string_lossy(),
            &format!("{name}/README.md"),
        ],
    ));
    let (script, prompts) = quick_start(&readme);
    assert_eq!(
        prompts,
        ["db-password"],
        "the quick start asks for exactly the declared secret"
    );
    let out = sh(root, &script, &format!("{DB_PASSWORD}\n"));
    assert!(
        out.status.success(),
        "quick start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = root.join(&name);
    assert_eq!(
        std::fs::read_to_string(dir.join("secrets/db-password")).unwrap(),
        DB_PASSWORD,
        "the quick start wrote the secret file"
    );

    // "then edit .env": the variables it documents, with the test's values.
    let env_path = dir.join(".env");
    let env = std::fs::read_to_string(&env_path).expect(".env copied from .env.example");
    let mut edited = String::new();
    let mut set = Vec::new();
    for line in env.lines() {
        let new = [
            ("HTTP_PORT=", HTTP_PORT.to_string()),
            ("SSH_PORT=", SSH_PORT.to_string()),
            ("DOMAIN=", DOMAIN.to_string()),
        ]
        .into_iter()
        .find(|(k, _)| line.starts_with(k))
        .map(|(k, v)| {
            set.push(k);
            format!("{k}{v}")
        });
        edited.push_str(new.as_deref().unwrap_or(line));
        edited.push('\n');
    }
    set.sort_unstable();
    assert_eq!(
        set,
        ["DOMAIN=", "HTTP_PORT=", "SSH_PORT="],
        ".env.example documents every param"
    );
    std::fs::write(&env_path, edited).unwrap();

    let compose = std::fs::read_to_string(dir.join("compose.yaml")).unwrap();
    let project = compose
        .lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("compose.yaml names its project")
        .to_string();
    Forge { dir, project }
}

/// Forgejo received every key stack.kdl gives it, with `.env`'s values, and the password.
fn assert_keys(forge: &Forge) {
    let report = forge.keys();
    let keys = report["keys"].as_object().expect("keys");
    let expected = [
        ("FORGEJO__database__DB_TYPE", "postgres"),
        ("FORGEJO__database__HOST", "postgres:5432"),
        ("FORGEJO__database__NAME", "forgejo"),
        ("FORGEJO__database__USER", "forgejo"),
        ("FORGEJO__server__DOMAIN", DOMAIN),
        ("FORGEJO__server__HTTP_PORT", "3000"),
        ("FORGEJO__server__SSH_LISTEN_PORT", "2222"),
        ("FORGEJO__server__SSH_PORT", &SSH_PORT.to_string()),
    ];
    for (k, v) in expected {
        assert_eq!(keys[k]["value"], v, "{k}");
    }
    let passwd = &keys["FORGEJO__database__PASSWD"];
    assert_eq!(passwd["secret"], true);
    assert_eq!(
        passwd["sha256"],
        sha256(DB_PASSWORD),
        "FORGEJO__database__PASSWD"
    );
    assert_eq!(
        passwd["length"],
        DB_PASSWORD.len(),
        "FORGEJO__database__PASSWD"
    );
    assert_eq!(
        keys.len(),
        expected.len() + 1,
        "no other FORGEJO__ keys: {keys:?}"
    );
}

/// PostgreSQL checks the password over the network: the one forgejo received (read from its
/// PID 1's environment, where the bundle's secrets wrapper put it) is accepted, another is not.
fn assert_password_enforced(forge: &Forge) {
    let ready = forge.exec_ok(
        "postgres",
        &[
            "pg_isready",
            "--username=forgejo",
            "--dbname=forgejo",
            "--host=127.0.0.1",
        ],
    );
    assert!(ready.contains("accepting connections"), "{ready}");
    let query = "PGPASSWORD=\"$(tr '\\0' '\\n' </proc/1/environ | sed -n 's/^FORGEJO__database__PASSWD=//p')\"; \
                 export PGPASSWORD; \
                 exec psql -X -w -h postgres -p 5432 -U forgejo -d forgejo -tA \
                 -c 'SELECT current_user || current_database()'";
    assert_eq!(
        forge.exec_ok("forgejo", &["sh", "-c", query]),
        "forgejoforgejo"
    );
    let wrong = forge.exec(
        "forgejo",
        &[
            "env",
            "PGPASSWORD=not-the-db-password",
            "psql",
            "-X",
            "-w",
            "-h",
            "postgres",
            "-U",
            "forgejo",
            "-d",
            "forgejo",
            "-c",
            "SELECT 1",
        ],
    );
    assert!(!wrong.status.success(), "a wrong password was accepted");
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("password authentication failed"),
        "wrong password: {err}"
    );
}

/// The password appears in no `docker inspect`, not in `docker compose config`, not in the logs.
fn assert_no_secret_leaks(forge: &Forge) {
    for svc in ["postgres", "forgejo"] {
        assert!(
            !forge.inspect(svc).to_string().contains(DB_PASSWORD),
            "the password is in docker inspect {svc}"
        );
    }
    assert!(
        !ok(&mut forge.compose(&["config"])).contains(DB_PASSWORD),
        "the password is in docker compose config"
    );
    assert!(
        !forge.logs().contains(DB_PASSWORD),
        "the password is in the logs"
    );
}

/// Every process of each service runs as its declared user, with no capabilities, on a
/// read-only root; PostgreSQL is not published on the host.
fn assert_hardening(forge: &Forge) {
    for (svc, uid) in [("postgres", "999"), ("forgejo", "1000")] {
        let i = forge.inspect(svc);
        assert_eq!(i["Config"]["User"], format!("{uid}:{uid}"), "{svc}");
        assert_eq!(i["HostConfig"]["ReadonlyRootfs"], true, "{svc}");
        assert_eq!(
            i["HostConfig"]["CapDrop"],
            serde_json::json!(["ALL"]),
            "{svc}"
        );
        let status = forge.exec_ok(
            svc,
            &[
                "sh",
                "-c",
                "grep -sH -E '^(Uid|Gid|CapEff):' /proc/[0-9]*/status; true",
            ],
        );
        let mut pids = std::collections::BTreeSet::new();
        for line in status.lines() {
            let (file, field) = line.split_once(':').expect("grep -H output");
            pids.insert(file.to_string());
            let values: Vec<&str> = field.split_whitespace().skip(1).collect();
            if field.starts_with("CapEff") {
                assert_eq!(values, ["0000000000000000"], "{svc}: {line}");
            } else {
                assert!(values.iter().all(|v| *v == uid), "{svc}: {line}");
            }
        }
        // PID 1 and its children, beside the probe's own sh and grep.
        assert!(pids.len() >= 3, "{svc}: processes seen: {pids:?}");
        let touch = forge.exec(svc, &["touch", "/luciac-e2e-probe"]);
        assert!(
            !touch.status.success(),
            "{svc}: root filesystem is writable"
        );
    }
    let report = forge.keys();
    assert_eq!(report["uid"], 1000);
    assert_eq!(report["gid"], 1000);
    assert_eq!(report["cap_eff"], "0000000000000000");
    assert_eq!(report["root_writable"], false);
    let ports = &forge.inspect("postgres")["NetworkSettings"]["Ports"];
    let published = ports
        .as_object()
        .is_some_and(|m| m.values().any(|v| !v.is_null()));
    assert!(!published, "postgres publishes a port: {ports}");
}

/// Forgejo's SSH listener answers on the published port with an identification line.
fn assert_ssh() {
    let mut s = TcpStream::connect(("127.0.0.1", SSH_PORT)).expect("SSH port published");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut banner = [0u8; 8];
    s.read_exact(&mut banner)
        .expect("an SSH identification line");
    assert_eq!(&banner, b"SSH-2.0-");
}

/// /api/healthz follows the database: 503 while PostgreSQL is stopped, 200 once it is back.
fn assert_healthz_follows_database(forge: &Forge) {
    let id = ok(&mut forge.compose(&["ps", "-q", "postgres"]))
        .trim()
        .to_string();
    ok(&mut cmd("docker", &["stop", "-t", "30", &id]));
    wait_for(
        "healthz 503 with PostgreSQL stopped",
        Duration::from_secs(30),
        || (forge.healthz() == 503).then_some(()),
    );
    ok(&mut cmd("docker", &["start", &id]));
    wait_for(
        "healthz 200 with PostgreSQL back",
        Duration::from_secs(60),
        || (forge.healthz() == 200).then_some(()),
    );
}

fn describe(what: &str, out: &std::process::Output) -> String {
    format!(
        "{what} exited {}:\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The README's "Operations": `health-check.sh` exits 0 while the forge is healthy and 1 with
/// PostgreSQL stopped; `backup-config.sh` writes an archive into `$HOME`. Returns what failed,
/// so that the rest of the test still runs. Leaves PostgreSQL stopped.
fn operator_scripts(forge: &Forge, root: &Path) -> Vec<String> {
    let mut defects = Vec::new();
    let health =
        || output(cmd("./health-check.sh", &["--target", "compose"]).current_dir(&forge.dir));
    let healthy = health();
    if !healthy.status.success() {
        defects.push(describe(
            "health-check.sh --target compose (the forge healthy)",
            &healthy,
        ));
    }
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let backup = output(
        cmd("./backup-config.sh", &["--target", "compose"])
            .current_dir(&forge.dir)
            .env("HOME", &home),
    );
    let archive = std::fs::read_dir(&home)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.path().to_string_lossy().ends_with(".tar.gz"));
    if !backup.status.success() || !archive {
        defects.push(describe(
            &format!("backup-config.sh --target compose (archive in $HOME: {archive})"),
            &backup,
        ));
    }
    ok(&mut forge.compose(&["stop", "postgres"]));
    let stopped = health();
    if stopped.status.code() != Some(1) {
        defects.push(describe(
            "health-check.sh --target compose (PostgreSQL stopped; 1 expected)",
            &stopped,
        ));
    }
    defects
}

#[test]
fn forge_compose_runs_end_to_end() {
    let Some(_engines) = engines("forge_compose_runs_end_to_end") else {
        return;
    };
    let root = scratch("forge");
    let forge = unpack(root.path());
    let _down = Cleanup(|| forge.down());

    let took = forge.up_wait();
    record(&format!(
        "e2e compose forge prod (examples/git-forge): up -d --wait to all healthy in {:.1} s",
        took.as_secs_f64()
    ));
    assert_eq!(forge.healthz(), 200, "forgejo /api/healthz");
    assert_keys(&forge);
    assert_password_enforced(&forge);
    assert_no_secret_leaks(&forge);
    assert_hardening(&forge);
    assert_ssh();
    assert_healthz_follows_database(&forge);

    // Data survives `down` then `up`: forgejo's first-start file and a table in PostgreSQL.
    let first_start = forge.keys()["first_start"]
        .as_str()
        .expect("forgejo wrote its first-start file")
        .to_string();
    forge.psql("CREATE TABLE e2e_kept (v text); INSERT INTO e2e_kept VALUES ('kept')");
    ok(&mut forge.compose(&["down", "-t", "30"]));
    forge.up_wait();
    assert_eq!(forge.healthz(), 200, "forgejo /api/healthz after down/up");
    assert_eq!(
        forge.keys()["first_start"],
        first_start.as_str(),
        "forgejo's data volume survived down/up"
    );
    assert_eq!(
        forge.psql("SELECT v FROM e2e_kept"),
        "kept",
        "PostgreSQL's data volume survived down/up"
    );
    assert!(
        !forge.logs().contains("init process complete"),
        "PostgreSQL initialised its data directory again"
    );

    let script_defects = operator_scripts(&forge, root.path());

    // `down -v` leaves nothing of the project.
    ok(&mut forge.compose(&["down", "-v", "-t", "10"]));
    let left = ok(&mut cmd(
        "docker",
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", forge.project),
        ],
    ));
    assert!(left.trim().is_empty(), "containers left: {left}");
    let volumes = ok(&mut cmd(
        "docker",
        &[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", forge.project),
        ],
    ));
    assert!(volumes.trim().is_empty(), "volumes left: {volumes}");
    assert!(
        script_defects.is_empty(),
        "the bundle's operator scripts (its README's \"Operations\") fail on this stack:\n{}",
        script_defects.join("\n")
    );
}
