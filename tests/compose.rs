//! The Compose target, validated with Docker Compose v2 itself (`docker-compose config`, no
//! daemon needed) and the compose-spec JSON schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{artifact, assert_clean, materialize, model_from, repo_model, run, tool};

/// `docker-compose config` prints a model that is itself valid Compose, so it writes a
/// literal `$` as `$$` again; the container receives the unescaped value.
fn unescape(s: &str) -> String {
    s.replace("$$", "$")
}

fn compose_config(dir: &std::path::Path, json: bool) -> std::process::Output {
    let mut cmd = Command::new(tool("docker-compose"));
    cmd.current_dir(dir)
        .env_remove("COMPOSE_PROJECT_NAME")
        .args(["-f", "compose.yaml", "config"]);
    if json {
        cmd.args(["--format", "json"]);
    } else {
        cmd.arg("-q");
    }
    run(&mut cmd)
}

#[test]
fn both_profiles_are_accepted_by_docker_compose_and_the_schema() {
    for profile in ["dev", "prod"] {
        let model = repo_model(Some(profile));
        let dir = materialize(&artifact(&model, "compose"));
        assert_clean(
            &format!("docker-compose config -q ({profile})"),
            &compose_config(dir.path(), false),
        );
        let out = run(Command::new(tool("check-jsonschema"))
            .current_dir(dir.path())
            .args(["--builtin-schema", "vendor.compose-spec", "compose.yaml"]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn compose_files_snapshot() {
    for profile in ["dev", "prod"] {
        let a = artifact(&repo_model(Some(profile)), "compose");
        for file in ["compose.yaml", ".env.example"] {
            let text = String::from_utf8_lossy(&a.tree[file].bytes).to_string();
            insta::assert_snapshot!(format!("{profile}-{}", file.trim_start_matches('.')), text);
        }
    }
}

#[test]
fn wiring_matches_the_app() {
    let a = artifact(&repo_model(Some("prod")), "compose");
    let dir = materialize(&a);
    let out = compose_config(dir.path(), true);
    assert_clean("docker-compose config --format json", &out);
    let cfg: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let app = &cfg["services"]["agenthost"];
    let env = &app["environment"];
    assert_eq!(env["ConnectionStrings__redis"], "redis:6379");
    assert_eq!(
        env["ConnectionStrings__luciaconfig"],
        "mongodb://mongo:27017/luciaconfig"
    );
    assert_eq!(env["ASPNETCORE_URLS"], "http://+:8080");
    assert_eq!(env["Logging__LogLevel__Default"], "Information");
    // Secrets never appear as environment values in the file.
    assert!(env.get("HomeAssistant__AccessToken").is_none());
    assert_eq!(app["depends_on"]["redis"]["condition"], "service_healthy");
    assert_eq!(app["depends_on"]["mongo"]["condition"], "service_healthy");
    assert_eq!(app["read_only"], true);
    assert_eq!(app["cap_drop"][0], "ALL");
    let test = app["healthcheck"]["test"].to_string();
    assert!(
        test.contains("/dev/tcp/127.0.0.1/8080") && test.contains("GET /health "),
        "{test}"
    );
    assert!(!test.contains("curl") && !test.contains("wget"));
    assert_eq!(app["ports"][0]["published"], "7233");
    // Redis and Mongo are never published and sit on the internal network only.
    for svc in ["redis", "mongo"] {
        assert!(
            cfg["services"][svc].get("ports").is_none(),
            "{svc} is published"
        );
        assert_eq!(
            cfg["services"][svc]["networks"]
                .as_object()
                .map(|m| m.len()),
            Some(1)
        );
    }
    assert_eq!(cfg["networks"]["backend"]["internal"], true);
    assert_eq!(cfg["name"], "lucia-prod");
    for svc in cfg["services"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        assert!(svc.get("container_name").is_none());
    }
}

const HOSTILE: &[&str] = &[
    "$HOME and ${PATH} and $$",
    "100% sure",
    "{{ .Values.x }}",
    "it's \"quoted\"",
    "back\\slash\\n",
    "line1\nline2\n",
    "  leading and trailing  ",
    "yes",
    "on",
    "0755",
    "1e3",
    "~",
    "null",
    "#not a comment",
    "ünïcödé ✓ 日本",
    "a: b",
    "- x",
];

#[test]
fn hostile_values_arrive_unchanged() {
    let mut kdl = String::from(
        "app \"t\" version=\"1.0.0\"\nimage \"i\" \"docker.io/library/busybox:1\" digest=\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    kdl.push_str("param \"p\" default=\"a$b $c 50% {{x 'q' \\\"dq\\\" yes\"\n");
    kdl.push_str("service \"s\" {\n    image \"i\"\n    env \"FROM_PARAM\" \"{param.p}\"\n");
    for (i, v) in HOSTILE.iter().enumerate() {
        let literal = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace('{', "{{")
            .replace('}', "}}");
        kdl.push_str(&format!("    env \"V{i}\" \"{literal}\"\n"));
    }
    kdl.push_str("}\n");
    let (model, _) = model_from(&kdl, None);
    let dir = materialize(&artifact(&model, "compose"));
    let out = compose_config(dir.path(), true);
    assert_clean("docker-compose config --format json", &out);
    let cfg: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let env = &cfg["services"]["s"]["environment"];
    for (i, v) in HOSTILE.iter().enumerate() {
        assert_eq!(
            env[format!("V{i}")].as_str().map(unescape).as_deref(),
            Some(*v),
            "value {i} changed"
        );
    }
    assert_eq!(
        env["FROM_PARAM"].as_str().map(unescape).as_deref(),
        Some("a$b $c 50% {{x 'q' \"dq\" yes")
    );
}

#[test]
fn secret_wrapper_exports_each_file_as_its_key() {
    let a = artifact(&repo_model(Some("prod")), "compose");
    let dir = materialize(&a);
    let out = compose_config(dir.path(), true);
    let cfg: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let entry = &cfg["services"]["agenthost"]["entrypoint"];
    assert_eq!(entry[0], "/bin/sh");
    let script = unescape(entry[2].as_str().unwrap_or_else(|| panic!("no script")));
    // Run the real script against a directory that stands in for /run/secrets.
    let secrets = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let token = "t0k3n with spaces, 'quotes', \"dq\", $dollar and `ticks` -- long enough";
    std::fs::write(secrets.path().join("ha-token"), format!("{token}\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        secrets.path().join("chat-model"),
        "Endpoint=http://x/v1;AccessKey=k;Model=m;Provider=openai",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(secrets.path().join("dashboard-key"), "").unwrap_or_else(|e| panic!("{e}"));
    let local = script.replace("/run/secrets/", &format!("{}/", secrets.path().display()));
    let out = run(Command::new("sh")
        .args(["-c", &local, "luciac-secrets", "env"])
        .env_clear());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        env.lines()
            .any(|l| l == format!("HomeAssistant__AccessToken={token}")),
        "{env}"
    );
    assert!(env.lines().any(|l| l == "ConnectionStrings__chat-model=Endpoint=http://x/v1;AccessKey=k;Model=m;Provider=openai"), "{env}");
    assert!(
        !env.contains("DASHBOARD_API_KEY"),
        "an empty optional secret must not be exported"
    );
    // A missing required secret stops the container with a clear message.
    std::fs::remove_file(secrets.path().join("chat-model")).unwrap_or_else(|e| panic!("{e}"));
    let out = run(Command::new("sh")
        .args(["-c", &local, "luciac-secrets", "env"])
        .env_clear());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("secrets/chat-model is missing"));
    // The wrapper is clean POSIX sh.
    let f = secrets.path().join("wrapper.sh");
    std::fs::write(&f, format!("#!/bin/sh\n{script}")).unwrap_or_else(|e| panic!("{e}"));
    assert_clean(
        "shellcheck",
        &run(Command::new(tool("shellcheck")).args(["-s", "sh"]).arg(&f)),
    );
}

#[test]
fn a_param_default_compose_cannot_express_is_a_diagnostic() {
    let kdl = "app \"t\" version=\"1.0.0\"\nimage \"i\" \"docker.io/library/busybox:1\" digest=\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\nparam \"p\" default=\"a}b\"\nservice \"s\" {\n    image \"i\"\n    env \"X\" \"{param.p}\"\n}\n";
    let (model, _) = model_from(kdl, None);
    let mut diags = Vec::new();
    luciac::targets::lower_all(&model, &mut diags);
    assert!(
        diags
            .iter()
            .any(|d| d.is_error() && d.message.contains("contains `}`")),
        "{diags:?}"
    );
}

/// The value a container would receive for `key` in `docker-compose config --format json`.
fn compose_env(dir: &std::path::Path, key: &str) -> Option<String> {
    let out = compose_config(dir, true);
    assert_clean("docker-compose config --format json", &out);
    let cfg: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    cfg["services"]["s"]["environment"][key]
        .as_str()
        .map(unescape)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// For any string, as a param default and as an env literal: either docker-compose hands
    /// the container exactly that string (with no `.env`, and after the README's
    /// `cp .env.example .env`), or luciac refuses it with a located diagnostic.
    #[test]
    fn compose_round_trip_is_exact_or_refused(v in common::hostile_string()) {
        let kdl = format!(
            "app \"t\" version=\"1.0.0\"\nimage \"i\" \"docker.io/library/busybox:1\" digest=\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\nparam \"p\" default=\"{}\"\nservice \"s\" {{\n    image \"i\"\n    env \"FROM_PARAM\" \"{{param.p}}\"\n    env \"LIT\" \"{}\"\n}}\n",
            common::kdl_plain(&v),
            common::kdl_literal(&v)
        );
        let Ok((_, arts)) = common::lower_or_refuse(&kdl) else {
            return Ok(());
        };
        let a = arts
            .into_iter()
            .find(|a| a.target == "compose")
            .unwrap_or_else(|| panic!("no compose artifact"));
        let dir = materialize(&a);
        proptest::prop_assert_eq!(compose_env(dir.path(), "LIT"), Some(v.clone()));
        proptest::prop_assert_eq!(compose_env(dir.path(), "FROM_PARAM"), Some(v.clone()));
        std::fs::copy(dir.path().join(".env.example"), dir.path().join(".env"))
            .unwrap_or_else(|e| panic!("{e}"));
        proptest::prop_assert_eq!(compose_env(dir.path(), "FROM_PARAM"), Some(v));
    }
}

/// One secret given to two services (a database password for the database and the app) is one
/// Compose secret, mounted in each.
#[test]
fn one_secret_shared_by_two_services() {
    let kdl = r#"app "t" version="1.0.0"
image "db" "docker.io/library/postgres:17" digest="sha256:0000000000000000000000000000000000000000000000000000000000000000"
image "app" "docker.io/library/busybox:1" digest="sha256:1111111111111111111111111111111111111111111111111111111111111111"
secret "db-password"
service "db" {
    image "db"
    command "postgres"
    env "POSTGRES_PASSWORD" secret="db-password"
}
service "app" {
    image "app"
    command "app"
    env "DB_PASSWORD" secret="db-password"
    depends-on "db"
}
"#;
    let (model, _) = model_from(kdl, None);
    let dir = materialize(&artifact(&model, "compose"));
    let out = compose_config(dir.path(), true);
    assert_clean("docker-compose config --format json", &out);
    let cfg: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg["secrets"].as_object().map(|m| m.len()), Some(1));
    for svc in ["db", "app"] {
        assert_eq!(
            cfg["services"][svc]["secrets"][0]["source"], "db-password",
            "{svc}"
        );
    }
}
