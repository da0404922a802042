#!/usr/bin/python3
"""A STAND-IN for Forgejo (codeberg.org/forgejo/forgejo, rootless tags), used only by luciac's
end-to-end tests.

Forgejo is not in Debian and no image can be pulled on the test machines. This program is
installed as /usr/local/bin/forgejo (and gitea): in the forgejo image, whose docker-entrypoint.sh
starts it as `forgejo -c $GITEA_APP_INI web` under dumb-init, and in the systemd image, as the
program `forgejo` a systemd package finds on the PATH (Forgejo's release binary installed by
hand). It keeps Forgejo's contract where a bundle can see it:

- it refuses to run as root, as Forgejo does, and otherwise runs as whichever user starts it
  (the image's git, UID/GID 1000; a systemd unit's own user);
- its paths are Forgejo's: the work path from --work-path/-w, else GITEA_WORK_DIR; the custom
  path from --custom-path/-C, else GITEA_CUSTOM, else WORK/custom; the configuration from
  --config/-c, else CUSTOM/conf/app.ini; temporary files in GITEA_TEMP, else $TMPDIR/forgejo.
  DEVIATION: with no work path given, Forgejo uses the directory of its binary (/usr/local/bin
  here, which a hardened unit cannot write); the stand-in uses its working directory (a unit's
  WorkingDirectory=, its state directory);
- it writes only to the work path, the custom path, the configuration's directory (app.ini,
  written when missing, as the rootless image's docker-setup.sh does; secrets are left out of it
  here), $HOME and the temporary directory, and refuses to start when one of them is not
  writable; the directories it creates are 0700 (docker-setup.sh's `chmod 0700`), the ones that
  exist keep their mode;
- it reads its settings from FORGEJO__section__KEY variables and fails fast when one of the
  FORGEJO__database__* keys it needs is missing (DB_TYPE, HOST, NAME, USER, PASSWD; only
  DB_TYPE=postgres is supported). DEVIATION: Forgejo's `web` reads only app.ini; in the image,
  the entrypoint's environment-to-ini writes these variables into it first. Nothing does that on
  a host, so there the stand-in reads what a real Forgejo would not;
- it serves HTTP on FORGEJO__server__HTTP_PORT (default 3000) on every address;
  GET /api/healthz answers 200 only while PostgreSQL answers `SELECT 1` at the configured
  host:port as the configured user, with the configured password and database (psql with
  PGPASSWORD), else 503, with Forgejo's JSON shape;
- it accepts connections on FORGEJO__server__SSH_LISTEN_PORT (default 2222) and sends an SSH
  identification line, nothing more;
- on its first start it writes a file in its work path, whose content it reports, so that
  a test can tell whether the data survived.

TEST-ONLY (Forgejo has no such endpoint): GET /api/luciac-keys reports the FORGEJO__* keys it
received (secret keys such as PASSWD only as length and SHA-256), its user, capabilities,
whether / is writable, its work path and configuration file, and the content of its
first-start file.
"""
import hashlib
import http.server
import json
import os
import secrets
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

NAME = "forgejo (luciac stand-in)"
REQUIRED = ["DB_TYPE", "HOST", "NAME", "USER", "PASSWD"]
# Keys whose values are secrets in Forgejo's configuration: reported as length and hash only.
SECRET_NAMES = {"PASSWD", "PASSWORD", "SECRET_KEY", "INTERNAL_TOKEN", "JWT_SECRET", "LFS_JWT_SECRET"}
PSQL = "/usr/lib/postgresql/15/bin/psql"


def die(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def setting(section, key, default=None):
    return os.environ.get(f"FORGEJO__{section}__{key}", default)


def is_secret(key):
    return key.rsplit("__", 1)[-1].upper() in SECRET_NAMES


def writable_dir(path):
    try:
        if not os.path.isdir(path):
            os.makedirs(path)
            os.chmod(path, 0o700)
    except OSError as e:
        die(f"{path} is not writable: {e}")
    if not os.access(path, os.W_OK):
        die(f"{path} is not writable")


class Paths:
    """Forgejo's work path, custom path and configuration file (see the header)."""

    def __init__(self, opts):
        env = os.environ.get
        self.work = opts.get("work-path") or env("GITEA_WORK_DIR") or os.getcwd()
        self.work = os.path.abspath(self.work)
        self.custom = os.path.abspath(
            opts.get("custom-path") or env("GITEA_CUSTOM") or os.path.join(self.work, "custom"))
        self.app_ini = os.path.abspath(opts.get("config") or os.path.join(self.custom, "conf", "app.ini"))
        self.temp = env("GITEA_TEMP") or os.path.join(tempfile.gettempdir(), "forgejo")
        self.first_start = os.path.join(self.work, "luciac-first-start")


def setup(paths):
    """What the rootless image's docker-setup.sh and Forgejo do before serving."""
    for d in [paths.work, os.environ.get("HOME") or paths.work, paths.temp, paths.custom,
              os.path.dirname(paths.app_ini)]:
        writable_dir(d)
    if not os.path.exists(paths.app_ini):
        sections = {}
        for k, v in sorted(os.environ.items()):
            parts = k.split("__")
            if len(parts) == 3 and parts[0] == "FORGEJO" and not is_secret(k):
                sections.setdefault(parts[1], []).append(f"{parts[2]} = {v}")
        try:
            with open(paths.app_ini, "w") as f:
                f.write(f"; written by the {NAME} on first start (secrets left out)\n")
                f.write(f"WORK_PATH = {paths.work}\n")
                for s, lines in sections.items():
                    f.write(f"\n[{s}]\n" + "\n".join(lines) + "\n")
        except OSError as e:
            die(f"cannot write {paths.app_ini}: {e}")
    if not os.path.exists(paths.first_start):
        try:
            with open(paths.first_start, "w") as f:
                f.write(f"{secrets.token_hex(16)} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        except OSError as e:
            die(f"cannot write {paths.first_start}: {e}")


def database():
    host = setting("database", "HOST")
    port = "5432"
    if not host.startswith("/") and ":" in host:
        host, _, port = host.rpartition(":")
    return host.strip("[]"), port


def db_check():
    """(ok, message): PostgreSQL answers SELECT 1 with the configured credentials."""
    host, port = database()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PGPASSWORD": setting("database", "PASSWD"),
        "PGCONNECT_TIMEOUT": "3",
        "PGSSLMODE": setting("database", "SSL_MODE", "disable"),
    }
    args = [PSQL, "-X", "-w", "-tA", "-h", host, "-p", port,
            "-U", setting("database", "USER"), "-d", setting("database", "NAME"), "-c", "SELECT 1"]
    try:
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=8)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if r.returncode == 0 and r.stdout.strip() == "1":
        return True, ""
    return False, (r.stderr.strip() or f"psql exited {r.returncode}")


def capabilities():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return line.split()[1]
    except OSError:
        pass
    return None


def root_writable():
    try:
        with open("/.luciac-standin-probe", "w") as f:
            f.write("x")
        os.unlink("/.luciac-standin-probe")
        return True
    except OSError:
        return False


def report(paths):
    keys = {}
    for k, v in sorted(os.environ.items()):
        if not k.startswith("FORGEJO__"):
            continue
        if is_secret(k):
            keys[k] = {"secret": True, "length": len(v), "sha256": hashlib.sha256(v.encode()).hexdigest()}
        else:
            keys[k] = {"secret": False, "value": v}
    try:
        with open(paths.first_start) as f:
            first_start = f.read().strip()
    except OSError:
        first_start = None
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cap_eff": capabilities(),
        "root_writable": root_writable(),
        "first_start": first_start,
        "work_path": paths.work,
        "config": paths.app_ini,
        "keys": keys,
    }


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "Forgejo-standin"
    sys_version = ""

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body, sort_keys=True).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/api/healthz":
            ok, msg = db_check()
            check = {"componentID": "postgres", "status": "pass" if ok else "fail"}
            if not ok:
                check["output"] = msg
            self.reply(200 if ok else 503, {
                "status": "pass" if ok else "fail",
                "description": "Forgejo: Beyond coding. We Forge.",
                "checks": {"database:ping": [check]},
            })
        elif path == "/api/luciac-keys":
            self.reply(200, report(self.server.paths))
        else:
            self.reply(404, {"message": "not found (stand-in)"})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def ssh(port):
    try:
        srv = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    except OSError as e:
        die(f"cannot listen on the SSH port {port}: {e}")
    while True:
        conn, _ = srv.accept()
        try:
            conn.sendall(b"SSH-2.0-Forgejo-luciac-standin\r\n")
        except OSError:
            pass
        conn.close()


# Forgejo's global options that take a value, long and short.
OPTIONS = {"--config": "config", "-c": "config", "--work-path": "work-path", "-w": "work-path",
           "--custom-path": "custom-path", "-C": "custom-path"}


def parse(args):
    """(options, words): Forgejo's options, before or after the command, as --opt V or --opt=V."""
    opts, words, i = {}, [], 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if a in OPTIONS and i + 1 < len(args):
            opts[OPTIONS[a]] = args[i + 1]
            i += 2
            continue
        if eq and name.startswith("--") and name in OPTIONS:
            opts[OPTIONS[name]] = value
        else:
            words.append(a)
        i += 1
    return opts, words


def main():
    opts, words = parse(sys.argv[1:])
    if words != ["web"]:
        die("usage: forgejo [-c APP_INI] [-w WORK_PATH] [-C CUSTOM_PATH] web (this stand-in only serves)")
    if os.getuid() == 0:
        die("Forgejo is not supposed to be run as root. Sorry. If you need to use privileged TCP "
            "ports please instead use setcap and the `cap_net_bind_service` permission")
    missing = [f"FORGEJO__database__{k}" for k in REQUIRED if not setting("database", k)]
    if missing:
        die("required configuration missing: " + ", ".join(missing))
    if setting("database", "DB_TYPE") != "postgres":
        die(f"DB_TYPE {setting('database', 'DB_TYPE')!r}: this stand-in supports only postgres")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    paths = Paths(opts)
    setup(paths)
    http_port = int(setting("server", "HTTP_PORT", "3000"))
    ssh_port = int(setting("server", "SSH_LISTEN_PORT", "2222"))
    try:
        server = Server(("::", http_port), Handler)
    except OSError as e:
        die(f"cannot listen on {http_port}: {e}")
    server.paths = paths
    threading.Thread(target=ssh, args=(ssh_port,), daemon=True).start()
    print(f"{NAME}: keys received: " + ", ".join(sorted(k for k in os.environ if k.startswith("FORGEJO__"))), flush=True)
    print(f"{NAME}: work path {paths.work}, configuration {paths.app_ini}", flush=True)
    print(f"{NAME}: listening on http://[::]:{http_port}, SSH on {ssh_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
