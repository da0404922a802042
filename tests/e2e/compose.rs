//! The Compose bundles under Docker Engine with Compose v2, followed as their READMEs say.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::repo;
use crate::engine::{
    Cleanup, Outside, assert_secrets_arrived, cmd, engines, http_get, ok, output, scratch, sh,
    wait_for,
};

/// Secret values the tests type at the README's prompts. Long enough for every `min-length`.
const SECRETS: &[(&str, &str)] = &[
    (
        "ha-token",
        "e2e-ha-token-0123456789abcdefghijklmnopqrstuvwxyz",
    ),
    (
        "chat-model",
        "Endpoint=http://llm.e2e.invalid/v1;AccessKey=e2e-chat-key-9f8e7d6c;Model=e2e-model;Provider=openai",
    ),
];

/// A profile's Compose bundle, unpacked by following its README's quick start.
pub(crate) struct Stack {
    profile: &'static str,
    dir: PathBuf,
    project: String,
    http_port: u16,
}

impl Stack {
    pub(crate) fn compose(&self, args: &[&str]) -> std::process::Command {
        let mut c = cmd("docker", &["compose", "-p", &self.project]);
        c.args(args).current_dir(&self.dir);
        c
    }

    fn container(&self, service: &str) -> String {
        ok(&mut self.compose(&["ps", "-q", service]))
            .trim()
            .to_string()
    }

    pub(crate) fn inspect(&self, service: &str) -> Value {
        let id = self.container(service);
        let raw = ok(&mut cmd("docker", &["inspect", &id]));
        let v: Value = serde_json::from_str(&raw).expect("docker inspect JSON");
        v[0].clone()
    }

    fn exec(&self, service: &str, args: &[&str]) -> std::process::Output {
        let mut c = self.compose(&["exec", "-T", service]);
        c.args(args);
        output(&mut c)
    }

    fn report(&self) -> Value {
        let (status, body) = http_get(
            &format!("127.0.0.1:{}", self.http_port),
            "/__standin/report",
        )
        .expect("agenthost answers on its published port");
        assert_eq!(status, 200);
        serde_json::from_str(&body).expect("report JSON")
    }

    pub(crate) fn health(&self) -> u16 {
        http_get(&format!("127.0.0.1:{}", self.http_port), "/health")
            .map(|(s, _)| s)
            .unwrap_or(0)
    }

    pub(crate) fn down(&self) {
        let _ = output(&mut self.compose(&["down", "-v", "--remove-orphans", "-t", "5"]));
    }
}

/// The ```sh block under "## Quick start" in the bundle README, up to `docker compose up`, and
/// the secrets it prompts for (`read -r value && printf … > secrets/NAME`).
pub(crate) fn quick_start(readme: &str) -> (String, Vec<String>) {
    let section = readme
        .split("## Quick start")
        .nth(1)
        .expect("README has a Quick start");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("Quick start has an sh block");
    let mut script = String::new();
    let mut prompts = Vec::new();
    for line in block.lines() {
        if line.starts_with("docker compose up") {
            break;
        }
        if line.starts_with("read -r value") {
            let name = line
                .split("secrets/")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .expect("secret name after secrets/");
            prompts.push(name.to_string());
        }
        script.push_str(line);
        script.push('\n');
    }
    (script, prompts)
}

fn unpack(profile: &'static str, root: &Path) -> Stack {
    unpack_from(profile, &repo().join("bundles").join(profile), root)
}

/// Unpack the Compose tarball of a bundle directory, following its README's quick start.
pub(crate) fn unpack_from(profile: &'static str, bundle: &Path, root: &Path) -> Stack {
    let tarball = std::fs::read_dir(bundle)
        .expect("bundle dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.to_string_lossy().contains("-compose-") && p.extension().is_some_and(|e| e == "gz")
        })
        .expect("a compose tarball");
    let work = root.join(profile);
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(&tarball, work.join(tarball.file_name().unwrap())).unwrap();
    // The README is read from the tarball itself, exactly as a user sees it.
    let name = tarball
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tar.gz", "");
    let readme = ok(&mut cmd(
        "tar",
        &[
            "-xzOf",
            &tarball.to_string_lossy(),
            &format!("{name}/README.md"),
        ],
    ));
    let (script, prompts) = quick_start(&readme);
    let answers: String = prompts
        .iter()
        .map(|p| {
            let v = SECRETS
                .iter()
                .find(|(n, _)| n == p)
                .unwrap_or_else(|| {
                    panic!("the quick start asks for secret {p} the test has no value for")
                })
                .1;
            format!("{v}\n")
        })
        .collect();
    let out = sh(&work, &script, &answers);
    assert!(
        out.status.success(),
        "quick start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = work.join(&name);
    let compose = std::fs::read_to_string(dir.join("compose.yaml")).unwrap();
    let project = compose
        .lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("compose.yaml names its project")
        .to_string();
    let env = std::fs::read_to_string(dir.join(".env")).unwrap();
    let http_port = env
        .lines()
        .find_map(|l| l.strip_prefix("HTTP_PORT="))
        .and_then(|v| v.trim().parse().ok())
        .expect(".env sets HTTP_PORT");
    Stack {
        profile,
        dir,
        project,
        http_port,
    }
}

/// What `agenthost` must receive: every key lucia.kdl gives it, with the profile's values.
fn expected_keys(profile: &str) -> BTreeMap<String, String> {
    let (env, level) = match profile {
        "dev" => ("Development", "Debug"),
        _ => ("Production", "Information"),
    };
    let mut m: BTreeMap<String, String> = [
        ("ASPNETCORE_URLS", "http://+:8080"),
        ("ASPNETCORE_ENVIRONMENT", env),
        ("Deployment__Mode", "standalone"),
        ("DataProvider__Cache", "Redis"),
        ("DataProvider__Store", "MongoDB"),
        ("ConnectionStrings__redis", "redis:6379"),
        ("HomeAssistant__BaseUrl", "http://homeassistant.local:8123"),
        ("Logging__LogLevel__Default", level),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for db in ["luciatraces", "luciaconfig", "luciatasks"] {
        m.insert(
            format!("ConnectionStrings__{db}"),
            format!("mongodb://mongo:27017/{db}"),
        );
    }
    m
}

fn assert_keys(stack: &Stack) {
    let report = stack.report();
    let env = &report["env"];
    for (k, v) in expected_keys(stack.profile) {
        assert_eq!(
            env[k.as_str()]["value"],
            Value::String(v),
            "{}: {k}",
            stack.profile
        );
    }
    assert_secrets_arrived(env, SECRETS, stack.profile);
    // Optional secrets left empty are not set at all.
    for key in [
        "ConnectionStrings__embeddings",
        "DASHBOARD_API_KEY",
        "LUCIA_HA_API_KEY",
    ] {
        assert!(
            env.get(key).is_none(),
            "{}: {key} set from an empty file",
            stack.profile
        );
    }
    assert_eq!(report["uid"], 1100);
    assert_eq!(report["gid"], 1100);
    assert_eq!(report["cap_eff"], "0000000000000000");
    assert_eq!(report["root_writable"], false);
    assert_eq!(report["writable"]["/tmp"], true);
    assert_eq!(report["writable"]["models"], true);
    assert_eq!(report["writable"]["plugins"], true);
}

/// Secret values appear neither in `docker inspect` nor in `docker compose config`.
fn assert_no_secret_leaks(stack: &Stack) {
    let mut seen = String::new();
    for svc in ["agenthost", "redis", "mongo"] {
        seen.push_str(&stack.inspect(svc).to_string());
    }
    seen.push_str(&ok(&mut stack.compose(&["config"])));
    for (name, value) in SECRETS {
        assert!(
            !seen.contains(value),
            "{}: secret {name} visible in inspect/config",
            stack.profile
        );
    }
}

/// Every container runs as its declared user, read-only, with no capabilities.
fn assert_hardening(stack: &Stack) {
    for (svc, user) in [
        ("agenthost", "1100:1100"),
        ("redis", "999:1000"),
        ("mongo", "999:999"),
    ] {
        let i = stack.inspect(svc);
        assert_eq!(i["Config"]["User"], user, "{svc}");
        assert_eq!(i["HostConfig"]["ReadonlyRootfs"], true, "{svc}");
        let status = stack.exec(svc, &["cat", "/proc/1/status"]);
        let status = String::from_utf8_lossy(&status.stdout);
        let caps = status
            .lines()
            .find(|l| l.starts_with("CapEff:"))
            .unwrap_or_default();
        assert!(caps.ends_with("0000000000000000"), "{svc}: {caps}");
        let id = String::from_utf8_lossy(&stack.exec(svc, &["id", "-u"]).stdout)
            .trim()
            .to_string();
        assert_eq!(Some(id.as_str()), user.split(':').next(), "{svc}");
        let touch = stack.exec(svc, &["touch", "/luciac-e2e-probe"]);
        assert!(
            !touch.status.success(),
            "{svc}: root filesystem is writable"
        );
    }
}

/// Redis and the store: not published on the host, and no route out of their internal network:
/// they cannot reach a listener behind the host (`Outside`), which `agenthost`, on the default
/// network, reaches (the control). Docker 20.10 still gives internal networks a default route,
/// so the routing table proves nothing there; the forwarding path does.
fn assert_backend_isolated(stack: &Stack, outside: &Outside) {
    for svc in ["redis", "mongo"] {
        let i = stack.inspect(svc);
        let ports = &i["NetworkSettings"]["Ports"];
        let published = ports
            .as_object()
            .map(|m| m.values().any(|v| !v.is_null()))
            .unwrap_or(false);
        assert!(!published, "{svc} publishes a port: {ports}");
    }
    let probe = format!("exec 3<>/dev/tcp/{}/{}", outside.addr, outside.port);
    let reach = stack.exec("agenthost", &["timeout", "5", "bash", "-c", &probe]);
    assert!(
        reach.status.success(),
        "agenthost cannot reach the outside listener (control)"
    );
    let port = outside.port.to_string();
    let redis = stack.exec(
        "redis",
        &[
            "timeout",
            "5",
            "redis-cli",
            "-h",
            &outside.addr,
            "-p",
            &port,
            "ping",
        ],
    );
    assert!(
        !redis.status.success(),
        "redis reached the outside listener"
    );
    let mongo = stack.exec(
        "mongo",
        &[
            "timeout",
            "5",
            "mongosh",
            "--host",
            &outside.addr,
            "--port",
            &port,
            "--eval",
            "db.adminCommand('ping').ok",
        ],
    );
    assert!(
        !mongo.status.success(),
        "mongo reached the outside listener"
    );
}

fn redis_cli(stack: &Stack, args: &[&str]) -> String {
    let mut all = vec!["redis-cli"];
    all.extend_from_slice(args);
    String::from_utf8_lossy(&stack.exec("redis", &all).stdout)
        .trim()
        .to_string()
}

/// Kill Redis's process (not `docker kill`, which counts as a manual stop): it restarts, and
/// agenthost is healthy again.
fn assert_restart(stack: &Stack) {
    let pid = stack.inspect("redis")["State"]["Pid"]
        .as_i64()
        .expect("redis pid");
    ok(&mut cmd("kill", &["-9", &pid.to_string()]));
    wait_for("redis to come back", Duration::from_secs(60), || {
        let i = stack.inspect("redis");
        let pid2 = i["State"]["Pid"].as_i64().unwrap_or(0);
        (pid2 != 0 && pid2 != pid && i["State"]["Health"]["Status"] == "healthy").then_some(())
    });
    wait_for(
        "agenthost /health after the restart",
        Duration::from_secs(30),
        || (stack.health() == 200).then_some(()),
    );
}

pub(crate) fn up_wait(stack: &Stack) -> Duration {
    let start = Instant::now();
    ok(&mut stack.compose(&["up", "-d", "--wait"]));
    start.elapsed()
}

#[test]
fn compose_bundles_run_side_by_side() {
    let Some(_engines) = engines("compose_bundles_run_side_by_side") else {
        return;
    };
    let root = scratch("compose");
    let stacks = [unpack("prod", root.path()), unpack("dev", root.path())];
    let _down = Cleanup(|| stacks.iter().for_each(Stack::down));
    let outside = Outside::new();

    for stack in &stacks {
        let took = up_wait(stack);
        crate::engine::record(&format!(
            "e2e compose {}: up -d --wait to all healthy in {:.1} s",
            stack.profile,
            took.as_secs_f64()
        ));
    }
    // Both profiles are up at once from here on.
    for stack in &stacks {
        assert_eq!(stack.health(), 200, "{}", stack.profile);
        assert_eq!(
            http_get(&format!("127.0.0.1:{}", stack.http_port), "/alive")
                .unwrap()
                .0,
            200
        );
        assert_keys(stack);
        assert_no_secret_leaks(stack);
        assert_hardening(stack);
        assert_backend_isolated(stack, &outside);
    }
    let prod = &stacks[0];
    assert_restart(prod);

    // Data survives `down` then `up`.
    assert_eq!(redis_cli(prod, &["SET", "e2e-key", "kept"]), "OK");
    ok(&mut prod.compose(&["down", "-t", "10"]));
    up_wait(prod);
    assert_eq!(redis_cli(prod, &["GET", "e2e-key"]), "kept");

    // The shipped operator scripts.
    let health = output(cmd("./health-check.sh", &["--target", "compose"]).current_dir(&prod.dir));
    assert!(
        health.status.success(),
        "health-check.sh: {}",
        String::from_utf8_lossy(&health.stdout)
    );
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let backup = output(
        cmd("./backup-config.sh", &["--target", "compose"])
            .current_dir(&prod.dir)
            .env("HOME", &home),
    );
    assert!(
        backup.status.success(),
        "backup-config.sh: {}{}",
        String::from_utf8_lossy(&backup.stdout),
        String::from_utf8_lossy(&backup.stderr)
    );
    let archive = std::fs::read_dir(&home)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("backup archive in $HOME");
    assert_eq!(redis_cli(prod, &["DEL", "e2e-key"]), "1");
    let restore = output(
        cmd(
            "./backup-config.sh",
            &["--restore", &archive.to_string_lossy()],
        )
        .current_dir(&prod.dir)
        .env("HOME", &home),
    );
    assert!(
        restore.status.success(),
        "restore: {}{}",
        String::from_utf8_lossy(&restore.stdout),
        String::from_utf8_lossy(&restore.stderr)
    );
    ok(&mut prod.compose(&["up", "-d", "--wait"]));
    assert_eq!(
        redis_cli(prod, &["GET", "e2e-key"]),
        "kept",
        "the restore brought the key back"
    );

    ok(&mut prod.compose(&["stop", "redis"]));
    let health = output(cmd("./health-check.sh", &["--target", "compose"]).current_dir(&prod.dir));
    assert_eq!(
        health.status.code(),
        Some(1),
        "health-check.sh with Redis stopped: {}",
        String::from_utf8_lossy(&health.stdout)
    );
}

#[test]
fn compose_refuses_missing_or_short_secrets() {
    let Some(_engines) = engines("compose_refuses_missing_or_short_secrets") else {
        return;
    };
    let root = scratch("compose-secrets");
    let mut stack = unpack("prod", root.path());
    stack.project = "lucia-e2e-secrets".to_string();
    // Other host ports, so this runs beside anything else.
    std::fs::write(
        stack.dir.join(".env"),
        "HTTP_PORT=17233\nWYOMING_PORT=20400\n",
    )
    .unwrap();
    let _down = Cleanup(|| stack.down());
    for (file, value, message) in [
        (
            "ha-token",
            "too-short",
            "secret ha-token is shorter than 32 characters",
        ),
        (
            "chat-model",
            "",
            "secret file secrets/chat-model is missing or empty",
        ),
    ] {
        let restore = std::fs::read_to_string(stack.dir.join("secrets").join(file)).unwrap();
        std::fs::write(stack.dir.join("secrets").join(file), value).unwrap();
        let up = output(&mut stack.compose(&["up", "-d", "--wait"]));
        assert!(
            !up.status.success(),
            "up --wait succeeded with a bad {file}"
        );
        let logs = ok(&mut stack.compose(&["logs", "--no-log-prefix", "agenthost"]));
        assert!(
            logs.contains(message),
            "agenthost logs lack {message:?}:\n{logs}"
        );
        for (_, v) in SECRETS {
            assert!(!logs.contains(v), "a secret value in the logs");
        }
        std::fs::write(stack.dir.join("secrets").join(file), restore).unwrap();
        stack.down();
    }
}
