//! Structure-aware: a declaration (and a profile) built from luciac's own vocabulary of nodes,
//! properties and values, so that most inputs get past the parser and exercise decode,
//! overlay, resolve, every target and the packer. Any panic is a bug.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod luciac_fuzz_common;

/// Node names: every node the decoder knows at the top and in a service (a new node is fuzzed
/// as soon as the decoder has it), then the nodes inside `app`, `backup`, `health`, `param` and
/// `target`.
static NODES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    luciac::decode::TOP_NODES
        .iter()
        .chain(luciac::decode::SERVICE_NODES)
        .chain(INNER_NODES)
        .copied()
        .collect()
});

const INNER_NODES: &[&str] = &[
    "description",
    "home",
    "source",
    "keyword",
    "maintainer",
    "dump",
    "restore",
    "exec",
    "one-of",
    "enabled",
    "bind-address",
    "ingress",
    "storage-class",
    "network-policy",
    "namespace",
    "prefix",
    "luciac-repository",
    "branch",
    "log-max-size",
    "log-max-files",
    "value",
];

const PROPS: &[&str] = &[
    "version",
    "digest",
    "type",
    "default",
    "min",
    "max",
    "min-length",
    "prefix",
    "optional",
    "publish",
    "secret",
    "liveness",
    "readiness",
    "port",
    "start-period",
    "interval",
    "timeout",
    "retries",
    "size",
    "cpu",
    "memory",
    "cpu-limit",
    "memory-limit",
    "group",
    "host",
    "class",
    "tls",
    "tls-secret",
    "email",
    "url",
    "value",
    "protocol",
    "tcp",
    "tool",
    "reason",
    "file",
    "content",
    "read-only",
    "kubernetes-resource",
    "count",
    "contains",
    "target",
];

const WORDS: &[&str] = &[
    "web",
    "redis",
    "db",
    "http",
    "p",
    "s",
    "t",
    "i",
    "compose",
    "helm",
    "kustomize",
    "systemd",
    "github",
    "kubernetes",
    "string",
    "url",
    "int",
    "port",
    "bool",
    "enum",
    "250m",
    "1Gi",
    "1GB",
    "30s",
    "/data",
    "/app/x",
    "docker.io/library/redis:7",
    "1.0.0",
    "http://x:8080",
    "http://u:pw@x",
    "Password=x",
    "{param.p}",
    "{web.host}",
    "{web.port.http}",
    "{{",
    "}}",
    "{secret.s}",
    "redis-server.service",
    "udp",
    "curl",
    "nc",
    "NET_ADMIN",
    "nvidia",
    "amd",
    "/dev/ttyUSB0",
    "configs/x.conf",
    "x.conf",
    "owner/name",
    "main",
    "$HOME",
    "100%",
    "a\nb",
    "c:\\",
    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
];

#[derive(Arbitrary, Debug)]
enum Word {
    Known(u8),
    Any(String),
}

#[derive(Arbitrary, Debug)]
enum Val {
    Str(Word),
    Int(i64),
    Bool(bool),
    Null,
}

#[derive(Arbitrary, Debug)]
struct Node {
    name: Word,
    args: Vec<Val>,
    props: Vec<(u8, Val)>,
    children: Vec<Node>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0: nothing; 1: an app and an image; 2: and a service using it (so that most inputs
    /// reach resolve and the targets).
    prelude: u8,
    base: Vec<Node>,
    profile: Option<Vec<Node>>,
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list.get(usize::from(i) % list.len())
        .copied()
        .unwrap_or("x")
}

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() || !c.is_ascii() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn word(w: &Word, vocab: &[&str]) -> String {
    match w {
        Word::Known(i) => quoted(pick(vocab, *i)),
        Word::Any(s) => quoted(s),
    }
}

fn val(v: &Val) -> String {
    match v {
        Val::Str(w) => word(w, WORDS),
        Val::Int(i) => i.to_string(),
        Val::Bool(b) => format!("#{b}"),
        Val::Null => "#null".into(),
    }
}

fn render(nodes: &[Node], depth: usize, out: &mut String) {
    for n in nodes {
        out.push_str(&"    ".repeat(depth));
        out.push_str(&word(&n.name, &NODES));
        for a in &n.args {
            out.push(' ');
            out.push_str(&val(a));
        }
        for (k, v) in &n.props {
            out.push(' ');
            out.push_str(&quoted(pick(PROPS, *k)));
            out.push('=');
            out.push_str(&val(v));
        }
        if !n.children.is_empty() {
            out.push_str(" {\n");
            render(&n.children, depth + 1, out);
            out.push_str(&"    ".repeat(depth));
            out.push('}');
        }
        out.push('\n');
    }
}

fuzz_target!(|input: Input| {
    let mut base = String::new();
    if input.prelude % 3 >= 1 {
        base.push_str("app \"t\" version=\"1.0.0\"\nimage \"i\" \"docker.io/library/busybox:1\"\n");
    }
    if input.prelude % 3 == 2 {
        base.push_str("service \"web\" {\n    image \"i\"\n    port \"http\" 8080\n}\n");
    }
    render(&input.base, 0, &mut base);
    let profile = input.profile.as_ref().map(|p| {
        let mut s = String::new();
        render(p, 0, &mut s);
        s
    });
    luciac_fuzz_common::run(&base, profile.as_deref().map(|p| ("fuzz", p)));
});
