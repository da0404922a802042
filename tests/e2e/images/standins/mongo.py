#!/usr/bin/python3
"""A STAND-IN for MongoDB (docker.io/library/mongo), used only by luciac's end-to-end tests.

MongoDB is not in Debian and no image can be pulled on the test machines. This one file is
installed as `mongod`, `mongosh`, `mongodump` and `mongorestore` and keeps the official image's
contract where a bundle can see it:

- `mongod` listens on 27017 on every address (the official entrypoint adds --bind_ip_all) and
  speaks enough of the wire protocol (OP_MSG with BSON) for `hello` and `ping`; it runs as
  whichever user starts it (the image's `mongodb`, UID/GID 999), keeps its data under
  /data/db (--dbpath), and refuses to start when that is not writable, as mongod does;
- `mongosh [URI] --quiet --norc --eval EXPR` prints `1` and exits 0 for a ping, and on a
  refused connection prints MongoNetworkError and exits 1, like mongosh;
- `mongodump --archive[=FILE]` and `mongorestore --drop --archive[=FILE]` move the stored
  documents (stand-in commands over the same protocol; the archive is JSON, not MongoDB's).
It stores a small key/value map, enough for backup and restore to be checked.
"""
import json
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading

OP_MSG = 2013


# ---- BSON: the handful of types these commands use ----
def bson_encode(doc):
    out = b""
    for k, v in doc.items():
        key = k.encode() + b"\0"
        if isinstance(v, bool):
            out += b"\x08" + key + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x12" + key + struct.pack("<q", v)
        elif isinstance(v, float):
            out += b"\x01" + key + struct.pack("<d", v)
        elif isinstance(v, str):
            b = v.encode()
            out += b"\x02" + key + struct.pack("<i", len(b) + 1) + b + b"\0"
        elif isinstance(v, dict):
            out += b"\x03" + key + bson_encode(v)
        elif v is None:
            out += b"\x0a" + key
        else:
            raise TypeError(type(v))
    return struct.pack("<i", len(out) + 5) + out + b"\0"


def bson_decode(data):
    doc, i, end = {}, 4, struct.unpack_from("<i", data)[0] - 1
    while i < end:
        t = data[i]
        j = data.index(b"\0", i + 1)
        key = data[i + 1 : j].decode()
        i = j + 1
        if t == 0x01:
            doc[key] = struct.unpack_from("<d", data, i)[0]; i += 8
        elif t == 0x02:
            n = struct.unpack_from("<i", data, i)[0]
            doc[key] = data[i + 4 : i + 3 + n].decode(); i += 4 + n
        elif t in (0x03, 0x04):
            n = struct.unpack_from("<i", data, i)[0]
            doc[key] = bson_decode(data[i : i + n]); i += n
        elif t == 0x08:
            doc[key] = data[i] == 1; i += 1
        elif t == 0x10:
            doc[key] = struct.unpack_from("<i", data, i)[0]; i += 4
        elif t == 0x12:
            doc[key] = struct.unpack_from("<q", data, i)[0]; i += 8
        elif t == 0x0A:
            doc[key] = None
        else:
            raise ValueError(f"unsupported BSON type {t:#x}")
    return doc


def read_msg(f):
    head = f.read(16)
    if len(head) < 16:
        return None, None
    length, req_id, _, opcode = struct.unpack("<iiii", head)
    body = f.read(length - 16)
    if opcode != OP_MSG or body[4] != 0:
        raise ValueError("only OP_MSG with a body section is supported")
    return req_id, bson_decode(body[5:])


def write_msg(sock, doc, req_id=1, response_to=0):
    body = struct.pack("<I", 0) + b"\0" + bson_encode(doc)
    sock.sendall(struct.pack("<iiii", 16 + len(body), req_id, response_to, OP_MSG) + body)


# ---- mongod ----
class Store:
    def __init__(self, path):
        self.path = os.path.join(path, "standin-store.json")
        self.lock = threading.Lock()
        try:
            with open(self.path) as f:
                self.data = json.load(f)
        except FileNotFoundError:
            self.data = {}

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def mongod(args):
    dbpath, port = "/data/db", 27017
    it = iter(args)
    for a in it:
        if a == "--dbpath":
            dbpath = next(it, dbpath)
        elif a == "--port":
            port = int(next(it, port))
    try:
        with open(os.path.join(dbpath, "mongod.lock"), "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as e:
        print(f'{{"s":"E","c":"STORAGE","msg":"Unable to create/open the lock file","attr":{{"error":"{e}","dbpath":"{dbpath}"}}}}', file=sys.stderr, flush=True)
        sys.exit(100)
    store = Store(dbpath)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            while True:
                try:
                    req_id, cmd = read_msg(self.rfile)
                except (ValueError, IndexError, struct.error):
                    return
                if cmd is None:
                    return
                name = next(iter(cmd), "")
                if name in ("hello", "isMaster", "ismaster"):
                    reply = {"isWritablePrimary": True, "maxWireVersion": 21, "minWireVersion": 0, "ok": 1.0}
                elif name == "ping":
                    reply = {"ok": 1.0}
                elif name == "standinPut":
                    with store.lock:
                        store.data[cmd["key"]] = cmd["value"]
                        store.save()
                    reply = {"ok": 1.0}
                elif name == "standinDump":
                    with store.lock:
                        reply = {"data": json.dumps(store.data, sort_keys=True), "ok": 1.0}
                elif name == "standinRestore":
                    with store.lock:
                        store.data = json.loads(cmd["data"])
                        store.save()
                    reply = {"ok": 1.0}
                else:
                    reply = {"ok": 0.0, "errmsg": f"no such command: '{name}'", "code": 59}
                write_msg(self.connection, reply, response_to=req_id)

    class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = socket.AF_INET6

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    srv = Server(("::", port), Handler)
    print(f'{{"s":"I","c":"NETWORK","msg":"Waiting for connections","attr":{{"port":{port}}}}}', flush=True)
    srv.serve_forever()


# ---- clients ----
def endpoint(uri):
    m = re.match(r"^mongodb://(?:[^@/]*@)?([^/:,?]+)(?::(\d+))?", uri or "")
    if not m:
        return "127.0.0.1", 27017
    return m.group(1), int(m.group(2) or 27017)


def command(uri, doc):
    host, port = endpoint(uri)
    try:
        sock = socket.create_connection((host, port), timeout=5)
    except OSError as e:
        code = "ECONNREFUSED" if isinstance(e, ConnectionRefusedError) else "ETIMEDOUT"
        print(f"MongoNetworkError: connect {code} {host}:{port}", file=sys.stderr)
        sys.exit(1)
    with sock:
        write_msg(sock, doc)
        _, reply = read_msg(sock.makefile("rb"))
    if not reply or reply.get("ok") != 1.0:
        print(f"MongoServerError: {reply.get('errmsg') if reply else 'no reply'}", file=sys.stderr)
        sys.exit(1)
    return reply


def client_args(args):
    uri, opts, it = None, {}, iter(args)
    for a in it:
        if a in ("--eval", "--uri", "--host", "--port"):
            opts[a] = next(it, "")
        elif a.startswith("--archive"):
            opts["--archive"] = a.partition("=")[2]
        elif a.startswith("--uri="):
            opts["--uri"] = a.partition("=")[2]
        elif a.startswith("mongodb://"):
            uri = a
        elif not a.startswith("-"):
            uri = "mongodb://" + a
    uri = opts.get("--uri", uri)
    if "--host" in opts:
        uri = f"mongodb://{opts['--host']}:{opts.get('--port', 27017)}"
    return uri, opts


def mongosh(args):
    uri, opts = client_args(args)
    expr = opts.get("--eval")
    if expr is None:
        print("stand-in mongosh: only --eval is supported", file=sys.stderr)
        sys.exit(1)
    if re.fullmatch(r"\s*db\.adminCommand\(\s*(?:'ping'|\"ping\"|\{\s*ping\s*:\s*1\s*\})\s*\)\.ok\s*;?\s*", expr):
        command(uri, {"ping": 1, "$db": "admin"})
        print(1)
        return
    m = re.fullmatch(r"\s*db\.standin\.put\(\s*'([^']*)'\s*,\s*'([^']*)'\s*\)\s*", expr)
    if m:
        command(uri, {"standinPut": 1, "key": m.group(1), "value": m.group(2), "$db": "admin"})
        return
    m = re.fullmatch(r"\s*db\.standin\.get\(\s*'([^']*)'\s*\)\s*", expr)
    if m:
        data = json.loads(command(uri, {"standinDump": 1, "$db": "admin"})["data"])
        print(data.get(m.group(1), "null"))
        return
    print(f"stand-in mongosh: unsupported expression: {expr}", file=sys.stderr)
    sys.exit(1)


def mongodump(args):
    uri, opts = client_args(args)
    data = command(uri, {"standinDump": 1, "$db": "admin"})["data"]
    path = opts.get("--archive", "")
    if path:
        with open(path, "w") as f:
            f.write(data)
    else:
        sys.stdout.write(data)


def mongorestore(args):
    uri, opts = client_args(args)
    path = opts.get("--archive", "")
    data = open(path).read() if path else sys.stdin.read()
    json.loads(data)
    command(uri, {"standinRestore": 1, "data": data, "$db": "admin"})


if __name__ == "__main__":
    tool = os.path.basename(sys.argv[0])
    {"mongod": mongod, "mongosh": mongosh, "mongodump": mongodump, "mongorestore": mongorestore}.get(
        tool, lambda _: sys.exit(f"stand-in mongo: unknown tool {tool}")
    )(sys.argv[1:])
