//! `cargo bench`: time a full build (parse → resolve → lower → pack → lock) of the
//! repository's `lucia.kdl` and of generated declarations with 10, 100 and 1000 services.
//! Under `cargo test` (no `--bench` argument) it runs each case once as a smoke test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use luciac::compile::compile_str;
use luciac::resolve::Strictness;

fn generated(n: usize) -> String {
    let mut s = String::from("app \"bench\" version=\"1.0.0\" { description \"generated\" }\n");
    s.push_str("image \"app\" \"docker.io/library/busybox:1.36\" digest=\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n");
    s.push_str("param \"log-level\" type=\"enum\" default=\"info\" { one-of \"debug\" \"info\"; description \"level\" }\n");
    s.push_str("secret \"token\" min-length=8 { description \"shared token\" }\n");
    for i in 0..n {
        s.push_str(&format!("service \"svc-{i}\" {{\n    image \"app\"\n    command \"app\" \"serve\"\n    port \"http\" 8080"));
        if i % 10 == 0 {
            s.push_str(&format!(" publish={}", 20000 + i));
        }
        s.push_str("\n    env \"LOG\" \"{param.log-level}\"\n    env \"TOKEN\" secret=\"token\"\n");
        if i > 0 && i % 10 != 0 {
            s.push_str(&format!(
                "    env \"UPSTREAM\" \"http://{{svc-{}.host}}:{{svc-{}.port.http}}\"\n",
                i - 1,
                i - 1
            ));
        }
        // The same declarations as scripts/bench.sh: every tenth service also depends on the
        // one ten before it.
        if i >= 10 && i % 10 == 0 {
            s.push_str(&format!("    depends-on \"svc-{}\"\n", i - 10));
        }
        s.push_str("    health liveness=\"/alive\" readiness=\"/health\" start-period=\"60s\"\n");
        s.push_str("    volume \"data\" \"/data\" size=\"1Gi\"\n    resources cpu=\"100m\" memory=\"128Mi\" memory-limit=\"256Mi\"\n}\n");
    }
    s
}

/// One full in-memory build; returns the total bundle size in bytes.
fn build(base: &str, profile: Option<(&str, &str)>) -> usize {
    let mut diags = Vec::new();
    let (sources, model) = compile_str(base, profile, Strictness::default(), &mut diags);
    let Some(model) = model else {
        panic!("declaration has errors: {diags:?}")
    };
    let artifacts = luciac::targets::lower_all(&model, &mut diags);
    let files =
        luciac::bundle::assemble(&model, &sources, &artifacts).unwrap_or_else(|e| panic!("{e}"));
    files.files.values().map(|f| f.bytes.len()).sum()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let lucia = luciac::defaults::FILES[0].1;
    let prod = luciac::defaults::FILES[2].1;
    let cases: Vec<(String, String, Option<&str>)> = vec![
        (
            "lucia.kdl --profile prod".into(),
            lucia.to_string(),
            Some(prod),
        ),
        ("10 services".into(), generated(10), None),
        ("100 services".into(), generated(100), None),
        ("1000 services".into(), generated(1000), None),
    ];
    println!(
        "{:<26} {:>8} {:>12} {:>12} {:>12}",
        "case", "runs", "median", "min", "bundle"
    );
    for (name, text, profile) in cases {
        let runs = if !bench {
            1
        } else if text.len() > 200_000 {
            5
        } else {
            20
        };
        let mut times: Vec<Duration> = Vec::new();
        let mut size = 0;
        for _ in 0..runs {
            let t = Instant::now();
            size = build(&text, profile.map(|p| ("prod", p)));
            times.push(t.elapsed());
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{name:<26} {runs:>8} {:>10.2}ms {:>10.2}ms {:>10} B",
            median.as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            size
        );
    }
}
