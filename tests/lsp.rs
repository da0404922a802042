//! Protocol tests for `luciac lsp` over lsp-server's in-memory connection: every request the
//! server answers, with golden responses (insta) on the repository's `lucia.kdl`, a profile and
//! a broken file. The workspace is a copy of the repository's declaration in a temporary
//! directory; its path is replaced by `$ROOT` in the snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

mod common;

use common::{corpus_parts, lsp_position, repo};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use serde_json::{Value, json};

struct Client {
    conn: Connection,
    server: Option<JoinHandle<()>>,
    next: i32,
    /// Notifications received while waiting for responses.
    inbox: Vec<Notification>,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Client {
    /// A server on a copy of the repository's declaration and profiles.
    fn start() -> Client {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("profiles")).expect("mkdir");
        for f in ["lucia.kdl", "profiles/dev.kdl", "profiles/prod.kdl"] {
            std::fs::copy(repo().join(f), root.join(f)).expect("copy");
        }
        let (server, client) = Connection::memory();
        let handle = std::thread::spawn(move || {
            luciac::lsp::serve(&server).expect("server ends cleanly");
        });
        let mut c = Client {
            conn: client,
            server: Some(handle),
            next: 0,
            inbox: vec![],
            root,
            _dir: dir,
        };
        let init = c.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        assert!(init.get("capabilities").is_some(), "{init}");
        c.notify("initialized", json!({}));
        c
    }

    fn uri(&self, rel: &str) -> String {
        format!("file://{}/{rel}", self.root.display())
    }

    fn text(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).expect("read")
    }

    fn notify(&self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Message::Notification(Notification::new(
                method.to_string(),
                params,
            )))
            .expect("send");
    }

    fn send(&mut self, method: &str, params: Value) -> RequestId {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.conn
            .sender
            .send(Message::Request(Request::new(
                id.clone(),
                method.to_string(),
                params,
            )))
            .expect("send");
        id
    }

    fn response(&mut self, id: &RequestId) -> Response {
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(20))
                .expect("a message from the server")
            {
                Message::Response(r) if r.id == *id => return r,
                Message::Notification(n) => self.inbox.push(n),
                _ => {}
            }
        }
    }

    /// A request's result (`null` included); panics on an error response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        match self.response(&id).response_result {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {} {}", e.code, e.message),
        }
    }

    fn open(&mut self, rel: &str, text: &str) {
        let uri = self.uri(rel);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "kdl", "version": 1, "text": text}}),
        );
    }

    fn change(&mut self, rel: &str, text: &str) {
        let uri = self.uri(rel);
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text}]}),
        );
    }

    /// The next diagnostics published for `rel`.
    fn diagnostics(&mut self, rel: &str) -> Value {
        let uri = self.uri(rel);
        let take = |inbox: &mut Vec<Notification>| {
            let i = inbox.iter().position(|n| {
                n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri
            })?;
            Some(inbox.remove(i).params)
        };
        loop {
            if let Some(p) = take(&mut self.inbox) {
                return p["diagnostics"].clone();
            }
            match self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(20))
                .expect("diagnostics")
            {
                Message::Notification(n) => self.inbox.push(n),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// `{"textDocument", "position"}` at the `nth` occurrence of `needle` in the open text,
    /// `delta` characters in.
    fn at(&self, rel: &str, text: &str, needle: &str, delta: usize) -> Value {
        let (line, col) = lsp_position(text, needle, delta);
        json!({"textDocument": {"uri": self.uri(rel)}, "position": {"line": line, "character": col}})
    }

    /// Snapshot text: pretty JSON with the temporary root replaced.
    fn show(&self, v: &Value) -> String {
        serde_json::to_string_pretty(v)
            .expect("json")
            .replace(&self.root.display().to_string(), "$ROOT")
    }

    fn shutdown(mut self) {
        let v = self.request("shutdown", Value::Null);
        assert_eq!(v, Value::Null);
        self.notify("exit", Value::Null);
        if let Some(h) = self.server.take() {
            h.join().expect("server thread");
        }
    }
}

fn labels(items: &Value) -> Vec<String> {
    items
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["label"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn diagnostics_for_the_declaration_a_profile_and_a_broken_file() {
    let mut c = Client::start();
    let base = c.text("lucia.kdl");
    c.open("lucia.kdl", &base);
    let d = c.diagnostics("lucia.kdl");
    insta::assert_snapshot!("diagnostics-lucia", c.show(&d));

    // A profile adding a service without an image (a misspelt name), and publishing a host
    // port the base already publishes: that error's other half is in the base.
    let prod = c.text("profiles/prod.kdl");
    let broken_prod = prod.replace("service \"redis\" {", "service \"rediss\" {")
        + "service \"mongo\" {\n    port \"mongo\" 27017 publish=7233\n}\n";
    c.open("profiles/prod.kdl", &broken_prod);
    let d = c.diagnostics("profiles/prod.kdl");
    insta::assert_snapshot!("diagnostics-prod-broken", c.show(&d));

    // Editing the base re-checks the open profile.
    let broken_base = base.replace("{param.ha-url}", "{param.ha-ulr}");
    c.change("lucia.kdl", &broken_base);
    let d = c.diagnostics("lucia.kdl");
    insta::assert_snapshot!("diagnostics-lucia-misspelt", c.show(&d));
    let _ = c.diagnostics("profiles/prod.kdl");

    // A file that does not parse still gets its syntax errors.
    let broken = base.replace("port \"redis\" 6379", "port \"redis 6379");
    c.change("lucia.kdl", &broken);
    let d = c.diagnostics("lucia.kdl");
    insta::assert_snapshot!("diagnostics-syntax", c.show(&d));
    c.shutdown();
}

#[test]
fn quick_fix_for_did_you_mean() {
    let mut c = Client::start();
    let text = c
        .text("lucia.kdl")
        .replace("{param.ha-url}", "{param.ha-ulr}");
    c.open("lucia.kdl", &text);
    let d = c.diagnostics("lucia.kdl");
    let misspelt: Vec<Value> = d
        .as_array()
        .expect("array")
        .iter()
        .filter(|d| d["code"] == "E0030")
        .cloned()
        .collect();
    assert_eq!(misspelt.len(), 1, "{d}");
    let range = misspelt[0]["range"].clone();
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": c.uri("lucia.kdl")}, "range": range,
               "context": {"diagnostics": misspelt}}),
    );
    insta::assert_snapshot!("code-action", c.show(&actions));
    c.shutdown();
}

#[test]
fn hover() {
    let mut c = Client::start();
    let text = c.text("lucia.kdl");
    c.open("lucia.kdl", &text);
    let cases = [
        ("param-declaration", "param \"ha-url\"", 8),
        ("param-reference", "{param.log-level}", 8),
        ("secret", "secret=\"ha-token\"", 9),
        ("image", "image \"redis\"\n    command", 8),
        ("service-reference", "{redis.host}", 2),
        ("port-reference", "{redis.port.redis}", 14),
        ("node", "health liveness", 2),
        ("property", "start-period=\"120s\"", 2),
        ("param-property", "type=\"url\"", 1),
    ];
    let mut out = String::new();
    for (name, needle, delta) in cases {
        let v = c.request(
            "textDocument/hover",
            c.at("lucia.kdl", &text, needle, delta),
        );
        out.push_str(&format!("== {name}\n{}\n", c.show(&v)));
    }
    insta::assert_snapshot!("hover", out);
    // An image with a digest shows its pin.
    let pinned = text.replace(
        "image \"redis\" \"docker.io/library/redis:7.4-alpine\"",
        &format!(
            "image \"redis\" \"docker.io/library/redis:7.4-alpine\" digest=\"sha256:{}\"",
            "a".repeat(64)
        ),
    );
    c.change("lucia.kdl", &pinned);
    let v = c.request(
        "textDocument/hover",
        c.at("lucia.kdl", &pinned, "image \"redis\"\n    command", 8),
    );
    assert!(v.to_string().contains("Pinned: `sha256:aaaa"), "{v}");
    c.shutdown();
}

#[test]
fn completion() {
    let mut c = Client::start();
    let base = c.text("lucia.kdl");
    // Typing a reference: the string is not closed yet, so the file does not parse.
    let typing = base.replace(
        "    env \"Deployment__Mode\" \"standalone\"\n",
        "    env \"X\" \"{param.\n    env \"Y\" \"{redis.port.\n    env \"Z\" secret=\"\n    depends-on \"\n    hea\n    resources cpu=\"1\" \n    env \"W\" \"{redis.host}\" \n",
    );
    c.open("lucia.kdl", &typing);
    let at = |c: &Client, needle: &str, delta: usize| c.at("lucia.kdl", &typing, needle, delta);
    let mut out = String::new();
    for (name, needle, delta) in [
        ("param-reference", "{param.\n", 7),
        ("port-reference", "{redis.port.\n", 12),
        ("secret", "secret=\"\n", 8),
        ("depends-on", "depends-on \"\n", 12),
        ("node-name", "    hea\n", 7),
        ("property", "cpu=\"1\" \n", 8),
        ("property-after-a-reference", "{redis.host}\" \n", 14),
        ("top-level", "// lucia.kdl", 0),
        ("param-type", "type=\"url\"", 7),
        ("enum-default", "default=\"Production\"", 10),
    ] {
        let v = c.request("textDocument/completion", at(&c, needle, delta));
        out.push_str(&format!("== {name}\n{:?}\n", labels(&v)));
    }
    insta::assert_snapshot!("completion", out);
    // The full item, text edit included, for the reference case.
    let v = c.request("textDocument/completion", at(&c, "{param.\n", 7));
    insta::assert_snapshot!("completion-param-items", c.show(&v));

    // In a profile: names from the base.
    let prod = c.text("profiles/prod.kdl") + "param \"\nservice \"agenthost\" {\n    env \"\n}\n";
    c.open("profiles/prod.kdl", &prod);
    let mut out = String::new();
    for (name, needle, delta) in [
        ("param-name", "param \"\n", 7),
        ("env-key", "    env \"\n", 9),
    ] {
        let v = c.request(
            "textDocument/completion",
            c.at("profiles/prod.kdl", &prod, needle, delta),
        );
        out.push_str(&format!("== {name}\n{:?}\n", labels(&v)));
    }
    insta::assert_snapshot!("completion-profile", out);
    c.shutdown();
}

#[test]
fn definition_references_and_rename_across_files() {
    let mut c = Client::start();
    let base = c.text("lucia.kdl");
    let prod = c.text("profiles/prod.kdl");
    c.open("lucia.kdl", &base);
    c.open("profiles/prod.kdl", &prod);
    let mut out = String::new();
    // From the profile's `param "log-level"` to the base's declaration.
    let v = c.request(
        "textDocument/definition",
        c.at("profiles/prod.kdl", &prod, "param \"log-level\"", 8),
    );
    out.push_str(&format!(
        "== definition of log-level from prod\n{}\n",
        c.show(&v)
    ));
    let v = c.request(
        "textDocument/definition",
        c.at("lucia.kdl", &base, "{mongo.port.mongo}", 13),
    );
    out.push_str(&format!("== definition of port mongo\n{}\n", c.show(&v)));
    let mut refs = c.at("lucia.kdl", &base, "service \"redis\"", 10);
    refs["context"] = json!({"includeDeclaration": true});
    let v = c.request("textDocument/references", refs);
    out.push_str(&format!("== references of redis\n{}\n", c.show(&v)));
    insta::assert_snapshot!("navigation", out);

    let v = c.request(
        "textDocument/prepareRename",
        c.at("lucia.kdl", &base, "param \"log-level\"", 8),
    );
    assert!(v.get("start").is_some(), "{v}");
    let mut rename = c.at("lucia.kdl", &base, "param \"log-level\"", 8);
    rename["newName"] = json!("verbosity");
    let v = c.request("textDocument/rename", rename);
    insta::assert_snapshot!("rename", c.show(&v));

    // Refused: not a valid name, a name that exists, nothing renamable here.
    let mut out = String::new();
    for (needle, new) in [
        ("param \"log-level\"", "Log_Level"),
        ("param \"log-level\"", "ha-url"),
        ("description \"Home", "x"),
    ] {
        let mut p = c.at("lucia.kdl", &base, needle, 8);
        p["newName"] = json!(new);
        let id = c.send("textDocument/rename", p);
        let r = c.response(&id);
        let e = r.response_result.expect_err("refused");
        out.push_str(&format!("{new}: {} {}\n", e.code, e.message));
    }
    insta::assert_snapshot!("rename-refused", out);
    c.shutdown();
}

#[test]
fn document_symbols_and_formatting() {
    let mut c = Client::start();
    let prod = c.text("profiles/prod.kdl");
    c.open("profiles/prod.kdl", &prod);
    let v = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": c.uri("profiles/prod.kdl")}}),
    );
    insta::assert_snapshot!("symbols-prod", c.show(&v));
    let base = c.text("lucia.kdl");
    c.open("lucia.kdl", &base);
    let v = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": c.uri("lucia.kdl")}}),
    );
    let names: Vec<&str> = v
        .as_array()
        .expect("symbols")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        names.contains(&"service agenthost") && names.contains(&"param ha-url"),
        "{names:?}"
    );

    let fmt = json!({"textDocument": {"uri": c.uri("profiles/prod.kdl")}, "options": {"tabSize": 4, "insertSpaces": true}});
    // Already formatted: no edits.
    assert_eq!(c.request("textDocument/formatting", fmt.clone()), json!([]));
    c.change(
        "profiles/prod.kdl",
        "param   \"log-level\"  default=\"Debug\"; target \"compose\" {log-max-files 5}",
    );
    let v = c.request("textDocument/formatting", fmt.clone());
    insta::assert_snapshot!("formatting", c.show(&v));
    assert_eq!(
        v[0]["newText"].as_str(),
        luciac::fmt::format(
            "param   \"log-level\"  default=\"Debug\"; target \"compose\" {log-max-files 5}",
            0
        )
        .ok()
        .as_deref()
    );
    // A file that does not parse is left alone.
    c.change("profiles/prod.kdl", "param \"x");
    assert_eq!(c.request("textDocument/formatting", fmt), Value::Null);
    c.shutdown();
}

#[test]
fn bad_input_cancellation_and_shutdown() {
    let mut c = Client::start();
    // Garbage everywhere: the server answers and keeps going.
    c.notify("textDocument/didOpen", json!({"nonsense": 1}));
    c.notify("textDocument/didChange", json!(null));
    let id = c.send("textDocument/hover", json!({"what": true}));
    assert!(c.response(&id).response_result.err().is_some());
    let id = c.send("no/such/method", json!({}));
    assert_eq!(
        c.response(&id).response_result.err().map(|e| e.code),
        Some(-32601)
    );
    let v = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": "untitled:x"}, "position": {"line": 0, "character": 0}}),
    );
    assert_eq!(v, Value::Null);
    // Positions past the end, a file full of noise, hover and completion everywhere in it.
    let noise = "}}} {{ \"\\\n/* /- = = ( ) \u{1F600} #\"x\n service { port \"{a.{b}.c\n";
    c.open("lucia.kdl", noise);
    let _ = c.diagnostics("lucia.kdl");
    for line in 0..5 {
        for character in 0..30 {
            let p = json!({"textDocument": {"uri": c.uri("lucia.kdl")}, "position": {"line": line, "character": character}});
            for m in [
                "textDocument/hover",
                "textDocument/completion",
                "textDocument/definition",
            ] {
                let id = c.send(m, p.clone());
                assert!(
                    c.response(&id).response_result.err().is_none(),
                    "{m} at {line}:{character}"
                );
            }
        }
    }
    // A request cancelled while still queued is answered with RequestCancelled.
    let p = c.at("lucia.kdl", noise, "service", 0);
    let first = c.send("textDocument/hover", p.clone());
    let second = c.send("textDocument/hover", p);
    c.notify("$/cancelRequest", json!({"id": c.next}));
    let r1 = c.response(&first);
    let r2 = c.response(&second);
    // Whether the cancel arrives before the server takes up the second request is a race, so
    // both outcomes are allowed; what matters is that it is answered exactly once.
    assert!(r1.response_result.is_ok());
    assert!(
        r2.response_result
            .as_ref()
            .err()
            .is_none_or(|e| e.code == -32800),
        "{r2:?}"
    );
    c.shutdown();
}

#[test]
fn schema_matches_the_decoder_and_the_reference() {
    use luciac::lsp::schema::{self, Context};
    // For each node, an unknown property makes the decoder list the ones it accepts.
    for (ctx, target, node, prop) in schema::all_names() {
        // `remove` is refused in a base before its properties are looked at.
        if prop.is_some() || ctx == Context::Target || node == "remove" {
            continue;
        }
        let spec = schema::node(ctx, target, node).expect("spec");
        let snippet = wrap(ctx, &format!("{node} zzz-unknown=1"));
        let help = help_for(&snippet, "E0011", "zzz-unknown");
        let mut want: Vec<&str> = spec.props.to_vec();
        want.sort();
        let mut got = backticked(&help);
        got.sort();
        if want.is_empty() {
            assert!(help.contains("takes no properties"), "{node}: {help}");
        } else {
            assert_eq!(got, want, "properties of `{node}` in {ctx:?}");
        }
    }
    // Every context's node list, from the decoder's unknown-node help.
    for ctx in [
        Context::Top,
        Context::App,
        Context::Param,
        Context::Secret,
        Context::Service,
        Context::Health,
        Context::Backup,
    ] {
        let help = help_for(&wrap(ctx, "zzz-unknown"), "E0010", "zzz-unknown");
        let mut got = backticked(&help);
        got.sort();
        let mut want: Vec<String> = schema::nodes(ctx, None)
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        want.sort();
        assert_eq!(got, want, "nodes in {ctx:?}");
    }
    for t in schema::TARGETS {
        let help = help_for(
            &format!("{}target \"{t}\" {{ zzz-unknown 1 }}\n", minimal()),
            "E0010",
            "zzz-unknown",
        );
        let mut got = backticked(&help);
        got.sort();
        let mut want: Vec<String> = schema::target_settings(t)
            .iter()
            .map(|s| s.to_string())
            .collect();
        want.sort();
        assert_eq!(got, want, "settings of target {t}");
    }
    // Every node and property has a row in docs/language.md.
    for (ctx, target, node, prop) in schema::all_names() {
        let _ = target;
        assert!(
            schema::doc(ctx, node, prop).is_some(),
            "no reference row for {ctx:?} {node} {prop:?}"
        );
    }
}

fn minimal() -> &'static str {
    "app \"a\" version=\"1.0.0\"\nimage \"i\" \"docker.io/library/i:1\"\nservice \"s\" {\n    image \"i\"\n}\n"
}

fn wrap(ctx: luciac::lsp::schema::Context, line: &str) -> String {
    use luciac::lsp::schema::Context as C;
    let m = minimal();
    match ctx {
        C::Top => format!("{m}{line}\n"),
        C::App => format!(
            "app \"a\" version=\"1.0.0\" {{\n    {line}\n}}\n{}",
            m.split_once('\n').map_or("", |x| x.1)
        ),
        C::Param => format!("{m}param \"p\" default=\"x\" {{\n    {line}\n}}\n"),
        C::Secret => format!("{m}secret \"p\" {{\n    {line}\n}}\n"),
        C::Service => format!("{m}service \"t\" {{\n    image \"i\"\n    {line}\n}}\n"),
        C::Health => format!(
            "{m}service \"t\" {{\n    image \"i\"\n    health {{\n        {line}\n    }}\n}}\n"
        ),
        C::Backup => format!(
            "{m}service \"t\" {{\n    image \"i\"\n    backup {{\n        dump \"d\"\n        {line}\n    }}\n}}\n"
        ),
        _ => m.to_string(),
    }
}

fn help_for(base: &str, code: &str, name: &str) -> String {
    let mut diags = Vec::new();
    let _ = luciac::compile::compile_str(base, None, Default::default(), &mut diags);
    diags
        .iter()
        .find(|d| d.code.id == code && d.message.contains(name))
        .and_then(|d| d.help.clone())
        .unwrap_or_else(|| panic!("no {code} for {name} in\n{base}\n{diags:#?}"))
}

fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Every did-you-mean in the diagnostics corpus comes with a quick fix whose edit turns the
/// misspelt name into the suggestion.
#[test]
fn every_did_you_mean_in_the_corpus_has_a_quick_fix() {
    use luciac::lsp::{diagnostics, world::World};
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/corpus"))
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    let mut fixes = 0;
    for p in paths {
        let text = std::fs::read_to_string(&p).expect("read");
        let dir = tempfile::tempdir().expect("tempdir");
        let (base, profile) = corpus_parts(&text);
        let profile = profile.and_then(|(name, body)| Some((name, body?)));
        let mut world = World::default();
        let base_path = dir.path().join("lucia.kdl");
        world.open.insert(base_path.clone(), base);
        let target = match profile {
            Some((name, body)) => {
                let pp = dir.path().join("profiles").join(format!("{name}.kdl"));
                world.open.insert(pp.clone(), body);
                pp
            }
            None => base_path,
        };
        let project = world.project(&target);
        let (idx, file) = project.file(&target).expect("file in project");
        for d in diagnostics::check(&project, idx).diagnostics {
            let Some(suggestion) = d
                .message
                .split("did you mean `")
                .nth(1)
                .and_then(|s| s.split('`').next())
            else {
                continue;
            };
            let data = d
                .data
                .unwrap_or_else(|| panic!("{}: no quick fix for {}", p.display(), d.message));
            let range: lsp_types::Range =
                serde_json::from_value(data["range"].clone()).expect("range");
            let (s, e) = (file.lines.offset(range.start), file.lines.offset(range.end));
            let title = data["title"].as_str().unwrap_or("");
            let misspelt = title.split('`').nth(1).unwrap_or("");
            assert_eq!(&file.text[s..e], misspelt, "{}: {title}", p.display());
            assert_eq!(data["new_text"], suggestion);
            fixes += 1;
        }
    }
    assert!(fixes >= 5, "only {fixes} quick fixes in the corpus");
}

/// The real binary over stdio: malformed frames are skipped, the session goes on, and
/// `shutdown` + `exit` end it with status 0.
#[test]
fn stdio_survives_malformed_messages() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let frame = |body: &str| format!("Content-Length: {}\r\n\r\n{body}", body.len());
    let mut input = String::new();
    input.push_str(&frame("{not json"));
    input.push_str(&frame(r#"{"neither":"request nor notification"}"#));
    input.push_str("no colon here\r\n\r\n");
    input.push_str(&frame(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#,
    ));
    input.push_str(&frame(
        r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
    ));
    input.push_str(&frame("\u{1F600}"));
    input.push_str(&frame(r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#));
    input.push_str(&frame(
        r#"{"jsonrpc":"2.0","id":3,"method":"textDocument/hover","params":{}}"#,
    ));
    input.push_str(&frame(r#"{"jsonrpc":"2.0","method":"exit"}"#));
    let mut child = Command::new(env!("CARGO_BIN_EXE_luciac"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start luciac lsp");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"capabilities\""), "{stdout}");
    assert!(stdout.contains(r#""id":2,"result":null"#), "{stdout}");
    // After `shutdown`, requests are refused (InvalidRequest) until `exit`.
    assert!(
        stdout.contains(r#""id":3,"error":{"code":-32600"#),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("luciac lsp: ignored").count(), 4, "{stderr}");
}

/// Every feature, on a project whose base is `text`, at `pos`; none may panic.
fn every_feature(text: &str, profile: Option<&str>, line: u32, character: u32) {
    use luciac::lsp::{completion, diagnostics, hover, navigation, symbols, world::World};
    let dir = PathBuf::from("/nonexistent-luciac-fuzz");
    let mut world = World::default();
    world.open.insert(dir.join("lucia.kdl"), text.to_string());
    let mut paths = vec![dir.join("lucia.kdl")];
    if let Some(p) = profile {
        world.open.insert(dir.join("profiles/p.kdl"), p.to_string());
        paths.push(dir.join("profiles/p.kdl"));
    }
    for path in paths {
        let project = world.project(&path);
        let (i, f) = project.file(&path).expect("open file is in its project");
        let off = f.lines.offset(lsp_types::Position::new(line, character));
        let _ = hover::hover(&project, i, off);
        let _ = completion::complete(&project, i, off);
        let _ = navigation::definition(&project, i, off);
        let _ = navigation::references(&project, i, off, true);
        let _ = navigation::prepare_rename(&project, i, off);
        let _ = navigation::rename(&project, i, off, "renamed");
        let _ = symbols::outline(f);
        let _ = diagnostics::check(&project, i);
        let _ = luciac::fmt::format(&f.text, 0);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// The declaration with a byte range replaced by KDL-ish junk, as a base and as a profile.
    #[test]
    fn features_never_panic_on_mutated_declarations(
        at in 0usize..6000,
        len in 0usize..40,
        junk in "[ -~\\n{}\"=#.\\\\/*-]{0,30}",
        line in 0u32..130,
        character in 0u32..90,
    ) {
        let base = luciac::defaults::FILES[0].1;
        let mut at = at.min(base.len());
        while !base.is_char_boundary(at) { at -= 1; }
        let mut end = (at + len).min(base.len());
        while !base.is_char_boundary(end) { end -= 1; }
        let mutated = format!("{}{junk}{}", &base[..at], &base[end..]);
        every_feature(&mutated, None, line, character);
        every_feature(base, Some(&mutated), line, character);
    }

    /// Arbitrary text.
    #[test]
    fn features_never_panic_on_arbitrary_text(text in "\\PC{0,300}", line in 0u32..8, character in 0u32..60) {
        every_feature(&text, Some(&text), line, character);
    }
}

/// Hover in a profile; hover, definition, references, symbols and completion where the file
/// does not parse (an unclosed string and an unclosed block).
#[test]
fn requests_on_a_broken_file_and_a_profile() {
    let mut c = Client::start();
    // The profile first, while the base on disk compiles.
    let prod = c.text("profiles/prod.kdl");
    c.open("profiles/prod.kdl", &prod);
    let mut out = String::new();
    for (name, needle, delta) in [
        ("param", "param \"environment\"", 8),
        ("property", "default=\"Production\"", 2),
        ("service", "service \"mongo\"", 10),
        ("target setting", "ingress host", 2),
    ] {
        let v = c.request(
            "textDocument/hover",
            c.at("profiles/prod.kdl", &prod, needle, delta),
        );
        out.push_str(&format!(
            "== {name}\n{}\n",
            v["contents"]["value"].as_str().unwrap_or("null")
        ));
    }
    insta::assert_snapshot!("hover-profile", out);
    let base = c.text("lucia.kdl");
    let broken = base
        .replace("port \"redis\" 6379", "port \"redis 6379")
        .replace(
            "depends-on \"redis\" \"mongo\"\n}",
            "depends-on \"redis\" \"mongo\"\n",
        );
    c.open("lucia.kdl", &broken);
    let d = c.diagnostics("lucia.kdl");
    assert!(d.as_array().is_some_and(|a| !a.is_empty()), "{d}");
    let mut out = String::new();
    let at = |c: &Client, needle: &str, delta: usize| c.at("lucia.kdl", &broken, needle, delta);
    for (name, method, needle, delta) in [
        (
            "hover param reference",
            "textDocument/hover",
            "{param.ha-url}",
            8,
        ),
        ("hover node", "textDocument/hover", "volume \"models\"", 2),
        (
            "definition of a service",
            "textDocument/definition",
            "{mongo.host}",
            2,
        ),
        (
            "references of a secret",
            "textDocument/references",
            "secret \"ha-token\"",
            9,
        ),
        (
            "completion of a port",
            "textDocument/completion",
            "{redis.port.redis}",
            12,
        ),
    ] {
        let mut p = at(&c, needle, delta);
        if method == "textDocument/references" {
            p["context"] = json!({"includeDeclaration": true});
        }
        let v = c.request(method, p);
        let shown = if method == "textDocument/completion" {
            format!("{:?}", labels(&v))
        } else {
            c.show(&v)
        };
        out.push_str(&format!("== {name}\n{shown}\n"));
    }
    let v = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": c.uri("lucia.kdl")}}),
    );
    let names: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.push_str(&format!("== outline\n{names:?}\n"));
    insta::assert_snapshot!("broken-file", out);

    c.shutdown();
}
