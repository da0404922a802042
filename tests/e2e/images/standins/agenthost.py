#!/usr/bin/python3
"""A STAND-IN for Lucia's AgentHost, used only by luciac's end-to-end tests.

The real image (docker.io/seiggy/lucia-agenthost) cannot be pulled on the test machines, so this
program reproduces the app at its process boundary, as described by Lucia's own source
(see infra/docs and the keys in lucia.kdl):

- it is started as `dotnet lucia.AgentHost.dll` from the app directory (this file is installed
  as the `dotnet` executable; like dotnet it refuses a missing .dll);
- it reads its configuration only from the environment, and fails fast with a message when a
  required key is missing (the cache and store keys follow DataProvider__Cache/__Store);
- it listens where ASPNETCORE_URLS says (default http://+:8080) and on the Wyoming port 10400;
- `/alive` always answers 200; `/health` answers 200 only while Redis answers PING at
  ConnectionStrings__redis and the store's TCP port answers, else 503; any other path answers
  200, like the app's SPA fallback;
- it never needs a writable root: it writes only to /tmp and to its models/plugins directories.

For the tests it also answers GET /__standin/report with what it received: every key's name,
non-secret values in full, and secret values only as length and SHA-256.
It is started without a shell in between, so keys whose names contain '-' arrive intact.
"""
import hashlib
import http.server
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import urllib.parse

NAME = "agenthost (luciac stand-in)"
# Keys Lucia treats as secrets (shared/lucia-runtime.md): reported as length and hash only.
SECRET_KEYS = {
    "HomeAssistant__AccessToken",
    "ConnectionStrings__chat-model",
    "ConnectionStrings__embeddings",
    "DASHBOARD_API_KEY",
    "LUCIA_HA_API_KEY",
    "InternalAuth__Token",
}
MONGO_KEYS = ["ConnectionStrings__luciatraces", "ConnectionStrings__luciaconfig", "ConnectionStrings__luciatasks"]


def die(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def env(key):
    # Configuration keys are case-insensitive in .NET.
    for k, v in os.environ.items():
        if k.lower() == key.lower():
            return v
    return None


def required_keys():
    keys = ["HomeAssistant__BaseUrl", "HomeAssistant__AccessToken", "ConnectionStrings__chat-model"]
    if (env("DataProvider__Cache") or "Redis").lower() == "redis":
        keys.append("ConnectionStrings__redis")
    store = (env("DataProvider__Store") or "MongoDB").lower()
    if store == "mongodb":
        keys += MONGO_KEYS
    return keys


def redis_endpoint():
    raw = env("ConnectionStrings__redis") or ""
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    host, port, password = None, 6379, None
    for p in parts:
        if "=" in p:
            k, _, v = p.partition("=")
            if k.strip().lower() == "password":
                password = v
        elif host is None:
            host, _, prt = p.rpartition(":") if ":" in p else (p, "", "")
            port = int(prt) if prt else 6379
    return host, port, password


def redis_ping():
    host, port, password = redis_endpoint()
    if not host:
        return True  # InMemory cache
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            f = s.makefile("rb")
            if password:
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password.encode()), password.encode()))
                if not f.readline().startswith(b"+OK"):
                    return False
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return f.readline().strip() == b"+PONG"
    except OSError:
        return False


def store_endpoints():
    store = (env("DataProvider__Store") or "MongoDB").lower()
    out = []
    if store == "mongodb":
        for k in MONGO_KEYS:
            u = urllib.parse.urlsplit(env(k) or "")
            for hp in (u.netloc.rpartition("@")[2] or "").split(","):
                if hp:
                    h, _, p = hp.rpartition(":") if ":" in hp else (hp, "", "")
                    out.append((h, int(p) if p else 27017))
    elif store == "postgresql":
        for k in MONGO_KEYS:
            kv = dict(x.split("=", 1) for x in (env(k) or "").split(";") if "=" in x)
            kv = {a.strip().lower(): b for a, b in kv.items()}
            if "host" in kv:
                out.append((kv["host"], int(kv.get("port", "5432"))))
    return sorted(set(out))


def store_answers():
    for h, p in store_endpoints():
        try:
            socket.create_connection((h, p), timeout=2).close()
        except OSError:
            return False
    return True


def capabilities():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return line.split()[1]
    except OSError:
        pass
    return None


def writable(path):
    probe = os.path.join(path, ".standin-probe")
    try:
        with open(probe, "w") as f:
            f.write("x")
        os.unlink(probe)
        return True
    except OSError:
        return False


def report():
    keys = {}
    for k, v in sorted(os.environ.items()):
        if k in SECRET_KEYS:
            keys[k] = {"secret": True, "length": len(v), "sha256": hashlib.sha256(v.encode()).hexdigest()}
        else:
            keys[k] = {"secret": False, "value": v}
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": sorted(os.getgroups()),
        "cap_eff": capabilities(),
        "cwd": os.getcwd(),
        "argv": sys.argv[1:],
        "root_writable": writable("/"),
        "writable": {p: writable(p) for p in ["/tmp", "models", "plugins"] if os.path.isdir(p)},
        "env": keys,
    }


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "Kestrel"
    sys_version = ""

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/alive":
            self.reply(200, "Healthy")
        elif path == "/health":
            ok = redis_ping() and store_answers()
            self.reply(200 if ok else 503, "Healthy" if ok else "Unhealthy")
        elif path == "/__standin/report":
            self.reply(200, json.dumps(report(), sort_keys=True), "application/json")
        else:
            self.reply(200, "<!doctype html><title>Lucia</title>", "text/html")

    do_HEAD = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def http_ports():
    urls = env("ASPNETCORE_URLS")
    if not urls:
        return [int(env("ASPNETCORE_HTTP_PORTS") or 8080)]
    ports = []
    for u in urls.split(";"):
        u = u.strip()
        if not u.startswith("http://"):
            die(f"ASPNETCORE_URLS entry {u!r} is not http:// (no certificate is configured)")
        port = u.rsplit(":", 1)[-1].strip("/")
        if not port.isdigit():
            die(f"ASPNETCORE_URLS entry {u!r} has no port")
        ports.append(int(port))
    return ports


def wyoming(port):
    try:
        srv = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    except OSError as e:
        die(f"cannot listen on the Wyoming port {port}: {e}")
    while True:
        conn, _ = srv.accept()
        conn.close()


def runtime_info():
    base = os.path.dirname(os.path.realpath(__file__))
    print(f"Microsoft.AspNetCore.App 10.0.0 [{base}/shared/Microsoft.AspNetCore.App]")
    print(f"Microsoft.NETCore.App 10.0.0 [{base}/shared/Microsoft.NETCore.App]")


def main():
    args = sys.argv[1:]
    if args[:1] in (["--list-runtimes"], ["--info"]):
        runtime_info()
        return
    if not args or not args[0].endswith(".dll"):
        die("usage: dotnet APP.dll (this stand-in only runs lucia.AgentHost.dll)")
    if not os.path.isfile(args[0]):
        print(f"The application '{args[0]}' does not exist.", file=sys.stderr)
        sys.exit(1)
    missing = [k for k in required_keys() if not env(k)]
    if missing:
        die("required configuration missing: " + ", ".join(missing))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"{NAME}: keys received: " + ", ".join(sorted(os.environ)), flush=True)
    ports = http_ports()
    servers = []
    for p in ports:
        try:
            servers.append(Server(("::", p), Handler))
        except OSError as e:
            die(f"cannot listen on {p}: {e}")
    threading.Thread(target=wyoming, args=(int(env("Wyoming__Port") or 10400),), daemon=True).start()
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(f"{NAME}: Now listening on: " + ", ".join(f"http://[::]:{p}" for p in ports), flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
