//! The engines the tests run on, and small helpers around their command lines.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One stack at a time on a 2-core machine (see the crate docs).
static ENGINE_LOCK: Mutex<()> = Mutex::new(());

/// The engines `scripts/engines.sh start` started: `LUCIAC_E2E_RUN` names its run directory,
/// and `DOCKER_HOST`, `CONTAINERS_CONF` and `CONTAINERS_STORAGE_CONF` point into it.
pub struct Engines {
    #[allow(dead_code)]
    pub run: PathBuf,
    _lock: MutexGuard<'static, ()>,
}

/// The engines, or `None` (with a note) when they were not started and not required.
pub fn engines(test: &str) -> Option<Engines> {
    let run = std::env::var_os("LUCIAC_E2E_RUN").map(PathBuf::from);
    let required = std::env::var("LUCIAC_REQUIRE_ENGINES").is_ok_and(|v| v == "1");
    match run {
        Some(run) if run.join("docker/docker.sock").exists() => {
            let lock = ENGINE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            Some(Engines { run, _lock: lock })
        }
        _ if required => panic!(
            "{test}: the engines are not running (LUCIAC_E2E_RUN is unset or has no docker.sock); \
             ./scripts/test.sh installs and starts them"
        ),
        _ => {
            eprintln!(
                "{test}: skipped, the engines are not running (./scripts/test.sh starts them)"
            );
            None
        }
    }
}

/// A command with the engines' environment (inherited from `scripts/test.sh`).
pub fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Run and return the output; never panics on a non-zero exit.
pub fn output(c: &mut Command) -> Output {
    c.stdin(Stdio::null());
    c.output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"))
}

/// Run, require success, return stdout.
pub fn ok(c: &mut Command) -> String {
    let out = output(c);
    assert!(
        out.status.success(),
        "{c:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a shell script in `dir` with `stdin` as its input.
pub fn sh(dir: &Path, script: &str, stdin: &str) -> Output {
    let mut child = Command::new("sh")
        .arg("-euc")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for sh")
}

/// Poll `f` every half second until it returns `Some`, or panic after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A plain HTTP/1.0 GET: (status, body). Only ever to loopback or a container network.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs a closure when dropped, so that a failing test still cleans up what it started.
pub struct Cleanup<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for Cleanup<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// A scratch directory the test owns; removed on drop.
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("luciac-e2e-{name}-"))
        .tempdir()
        .expect("tempdir")
}

/// A host "outside" this machine's container networks: a network namespace of the test's own,
/// behind a veth pair, with a TCP listener. Traffic to it takes the path traffic to the outside
/// world takes (forwarded by the host), so "no route out" is proved without ever contacting an
/// address outside this machine. Removed on drop.
pub struct Outside {
    ns: String,
    veth: String,
    pub addr: String,
    pub port: u16,
    listener: std::process::Child,
}

impl Outside {
    pub fn new() -> Outside {
        let id = std::process::id() % 10_000;
        let ns = format!("luciac-e2e-out-{id}");
        let veth = format!("lce2e{id}");
        let peer = format!("lce2e{id}p");
        let (host_ip, addr, port) = ("10.213.77.1", "10.213.77.2", 18081_u16);
        let _ = output(&mut cmd("ip", &["netns", "del", &ns]));
        let _ = output(&mut cmd("ip", &["link", "del", &veth]));
        for args in [
            vec!["netns", "add", &ns],
            vec!["link", "add", &veth, "type", "veth", "peer", "name", &peer],
            vec!["link", "set", &peer, "netns", &ns],
            vec!["addr", "add", &format!("{host_ip}/30"), "dev", &veth],
            vec!["link", "set", &veth, "up"],
            vec![
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/30"),
                "dev",
                &peer,
            ],
            vec!["-n", &ns, "link", "set", &peer, "up"],
            vec!["-n", &ns, "link", "set", "lo", "up"],
        ] {
            ok(&mut cmd("ip", &args));
        }
        let script = format!(
            "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('{addr}', {port}))\ns.listen(16)\nprint('ready', flush=True)\nwhile True:\n    c, _ = s.accept()\n    c.close()\n"
        );
        let mut listener = Command::new("ip")
            .args(["netns", "exec", &ns, "python3", "-c", &script])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("listener in the netns");
        let mut ready = [0u8; 5];
        if let Some(out) = listener.stdout.as_mut() {
            let _ = out.read_exact(&mut ready);
        }
        assert_eq!(&ready, b"ready", "the outside listener did not start");
        Outside {
            ns,
            veth,
            addr: addr.to_string(),
            port,
            listener,
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.listener.kill();
        let _ = self.listener.wait();
        let _ = output(&mut cmd("ip", &["link", "del", &self.veth]));
        let _ = output(&mut cmd("ip", &["netns", "del", &self.ns]));
    }
}

/// Record a measured figure: printed (visible with --nocapture) and appended to
/// `target/e2e-timings.txt`, which `scripts/test.sh` prints at the end of a run.
pub fn record(line: &str) {
    eprintln!("{line}");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-timings.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

pub fn sha256(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The app received each required secret under the key it reads; the stand-in reports a
/// secret only as its length and SHA-256, which is all a test may compare.
pub fn assert_secrets_arrived(env: &serde_json::Value, secrets: &[(&str, &str)], what: &str) {
    for (secret, key) in [
        ("ha-token", "HomeAssistant__AccessToken"),
        ("chat-model", "ConnectionStrings__chat-model"),
    ] {
        let value = secrets
            .iter()
            .find(|(n, _)| *n == secret)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("the test gives no value for {secret}"));
        assert_eq!(env[key]["sha256"], sha256(value), "{what}: {key}");
        assert_eq!(env[key]["length"], value.len(), "{what}: {key}");
    }
}
