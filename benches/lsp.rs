//! `cargo bench --bench lsp`: how long after a change to `lucia.kdl` its diagnostics arrive.
//!
//! The server runs on lsp-server's in-memory connection in its own thread, on a copy of the
//! repository's declaration and profiles. Each run sends `didChange` (the full text, with one
//! reference toggled between right and misspelt so that every check has different text) and
//! waits for `publishDiagnostics` for `lucia.kdl`. Two cases: `lucia.kdl` open alone, and with
//! both profiles open, where a change to the base also re-checks each profile (the time is
//! until the base's own diagnostics arrive). Under `cargo test` it runs each case once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value, json};

fn notify(c: &Connection, method: &str, params: Value) {
    c.sender
        .send(Message::Notification(Notification::new(
            method.into(),
            params,
        )))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Wait for diagnostics for `uri`, skipping everything else.
fn diagnostics(c: &Connection, uri: &str) -> Value {
    loop {
        match c.receiver.recv_timeout(Duration::from_secs(20)) {
            Ok(Message::Notification(n))
                if n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri =>
            {
                return n.params;
            }
            Ok(_) => {}
            Err(e) => panic!("no diagnostics: {e}"),
        }
    }
}

fn case(name: &str, with_profiles: bool, runs: usize) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
    for (rel, text) in luciac::defaults::FILES {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(&root)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
    }
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || luciac::lsp::serve(&server).map_err(|e| e.to_string()));
    client
        .sender
        .send(Message::Request(Request::new(
            RequestId::from(1),
            "initialize".into(),
            json!({"capabilities": {}}),
        )))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = client.receiver.recv();
    notify(&client, "initialized", json!({}));
    let uri = |rel: &str| format!("file://{}/{rel}", root.display());
    let base = luciac::defaults::FILES[0].1;
    notify(
        &client,
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri("lucia.kdl"), "languageId": "kdl", "version": 0, "text": base}}),
    );
    diagnostics(&client, &uri("lucia.kdl"));
    if with_profiles {
        for (rel, text) in &luciac::defaults::FILES[1..] {
            notify(
                &client,
                "textDocument/didOpen",
                json!({"textDocument": {"uri": uri(rel), "languageId": "kdl", "version": 0, "text": text}}),
            );
            diagnostics(&client, &uri(rel));
        }
    }
    let misspelt = base.replace("{param.ha-url}", "{param.ha-ulr}");
    let mut times = Vec::new();
    for i in 0..runs {
        let text = if i % 2 == 0 { &misspelt } else { base };
        let start = Instant::now();
        notify(
            &client,
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri("lucia.kdl"), "version": i + 1}, "contentChanges": [{"text": text}]}),
        );
        diagnostics(&client, &uri("lucia.kdl"));
        times.push(start.elapsed());
        if with_profiles {
            // Drain the profiles' re-checks before the next change.
            for (rel, _) in &luciac::defaults::FILES[1..] {
                diagnostics(&client, &uri(rel));
            }
        }
    }
    client
        .sender
        .send(Message::Request(Request::new(
            RequestId::from(2),
            "shutdown".into(),
            Value::Null,
        )))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = client.receiver.recv();
    notify(&client, "exit", Value::Null);
    let _ = thread.join();
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    println!(
        "{name:<40} {runs:>4} runs  median {:>8.2} ms  max {:>8.2} ms",
        median.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let runs = if bench { 100 } else { 1 };
    case("didChange lucia.kdl → diagnostics", false, runs);
    case("… with dev and prod open", true, runs);
}
