#!/usr/bin/python3
"""A STAND-IN for Forgejo (codeberg.org/forgejo/forgejo, rootless tags), used only by luciac's
end-to-end tests.

Forgejo is not in Debian and no image can be pulled on the test machines. This program is
installed as /usr/local/bin/forgejo (and gitea), which the image's docker-entrypoint.sh starts as
`forgejo -c $GITEA_APP_INI web` under dumb-init, and keeps the rootless image's contract where a
bundle can see it:

- it runs as whichever user starts it (the image's git, UID/GID 1000) and writes only to
  /var/lib/gitea (GITEA_WORK_DIR), /etc/gitea (app.ini, written when missing, as the image's
  docker-setup.sh does; secrets are left out of it here), $HOME and $GITEA_TEMP, and refuses to
  start when one of them is not writable;
- it reads its settings from FORGEJO__section__KEY variables and fails fast when one of the
  FORGEJO__database__* keys it needs is missing (DB_TYPE, HOST, NAME, USER, PASSWD; only
  DB_TYPE=postgres is supported);
- it serves HTTP on FORGEJO__server__HTTP_PORT (default 3000) on every address;
  GET /api/healthz answers 200 only while PostgreSQL answers `SELECT 1` at the configured
  host:port as the configured user, with the configured password and database (psql with
  PGPASSWORD), else 503, with Forgejo's JSON shape;
- it accepts connections on FORGEJO__server__SSH_LISTEN_PORT (default 2222) and sends an SSH
  identification line, nothing more;
- on its first start it writes a file under /var/lib/gitea, whose content it reports, so that
  a test can tell whether the data volume survived.

TEST-ONLY (Forgejo has no such endpoint): GET /api/luciac-keys reports the FORGEJO__* keys it
received (secret keys such as PASSWD only as length and SHA-256), its user, capabilities,
whether / is writable, and the content of its first-start file.
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
import threading
import time

NAME = "forgejo (luciac stand-in)"
REQUIRED = ["DB_TYPE", "HOST", "NAME", "USER", "PASSWD"]
# Keys whose values are secrets in Forgejo's configuration: reported as length and hash only.
SECRET_NAMES = {"PASSWD", "PASSWORD", "SECRET_KEY", "INTERNAL_TOKEN", "JWT_SECRET", "LFS_JWT_SECRET"}
WORK_DIR = os.environ.get("GITEA_WORK_DIR", "/var/lib/gitea")
FIRST_START = os.path.join(WORK_DIR, "luciac-first-start")
PSQL = "/usr/lib/postgresql/15/bin/psql"


def die(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def setting(section, key, default=None):
    return os.environ.get(f"FORGEJO__{section}__{key}", default)


def is_secret(key):
    return key.rsplit("__", 1)[-1].upper() in SECRET_NAMES


def writable_dir(path, mode):
    try:
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)
    except OSError as e:
        die(f"{path} is not writable: {e}")
    if not os.access(path, os.W_OK):
        die(f"{path} is not writable")


def setup(app_ini):
    """What the rootless image's docker-setup.sh and Forgejo do before serving."""
    writable_dir(os.environ.get("HOME", "/var/lib/gitea/git"), 0o700)
    writable_dir(os.environ.get("GITEA_TEMP", "/tmp/gitea"), 0o700)
    writable_dir(os.environ.get("GITEA_CUSTOM", os.path.join(WORK_DIR, "custom")), 0o700)
    if not os.path.exists(app_ini):
        sections = {}
        for k, v in sorted(os.environ.items()):
            parts = k.split("__")
            if len(parts) == 3 and parts[0] == "FORGEJO" and not is_secret(k):
                sections.setdefault(parts[1], []).append(f"{parts[2]} = {v}")
        try:
            with open(app_ini, "w") as f:
                f.write(f"; written by the {NAME} on first start (secrets left out)\n")
                for s, lines in sections.items():
                    f.write(f"\n[{s}]\n" + "\n".join(lines) + "\n")
        except OSError as e:
            die(f"cannot write {app_ini}: {e}")
    if not os.path.exists(FIRST_START):
        try:
            with open(FIRST_START, "w") as f:
                f.write(f"{secrets.token_hex(16)} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        except OSError as e:
            die(f"cannot write {FIRST_START}: {e}")


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


def report():
    keys = {}
    for k, v in sorted(os.environ.items()):
        if not k.startswith("FORGEJO__"):
            continue
        if is_secret(k):
            keys[k] = {"secret": True, "length": len(v), "sha256": hashlib.sha256(v.encode()).hexdigest()}
        else:
            keys[k] = {"secret": False, "value": v}
    try:
        with open(FIRST_START) as f:
            first_start = f.read().strip()
    except OSError:
        first_start = None
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cap_eff": capabilities(),
        "root_writable": root_writable(),
        "first_start": first_start,
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
            self.reply(200, report())
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


def main():
    args = sys.argv[1:]
    app_ini = os.environ.get("GITEA_APP_INI", "/etc/gitea/app.ini")
    if args[:1] == ["-c"] and len(args) > 1:
        app_ini, args = args[1], args[2:]
    if args != ["web"]:
        die("usage: forgejo [-c APP_INI] web (this stand-in only serves)")
    missing = [f"FORGEJO__database__{k}" for k in REQUIRED if not setting("database", k)]
    if missing:
        die("required configuration missing: " + ", ".join(missing))
    if setting("database", "DB_TYPE") != "postgres":
        die(f"DB_TYPE {setting('database', 'DB_TYPE')!r}: this stand-in supports only postgres")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    setup(app_ini)
    http_port = int(setting("server", "HTTP_PORT", "3000"))
    ssh_port = int(setting("server", "SSH_LISTEN_PORT", "2222"))
    try:
        server = Server(("::", http_port), Handler)
    except OSError as e:
        die(f"cannot listen on {http_port}: {e}")
    threading.Thread(target=ssh, args=(ssh_port,), daemon=True).start()
    print(f"{NAME}: keys received: " + ", ".join(sorted(k for k in os.environ if k.startswith("FORGEJO__"))), flush=True)
    print(f"{NAME}: listening on http://[::]:{http_port}, SSH on {ssh_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
