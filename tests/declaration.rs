//! The repository's own declaration against what Lucia really reads, and robustness of the
//! front end against arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use luciac::model::EnvSource;
use luciac::resolve::Strictness;
use proptest::prelude::*;

/// Keys Lucia's AgentHost reads (lucia-runtime.md, "Configuration keys the app reads").
const APP_KEYS: &[&str] = &[
    "ASPNETCORE_URLS",
    "ASPNETCORE_ENVIRONMENT",
    "Deployment__Mode",
    "DataProvider__Cache",
    "DataProvider__Store",
    "DataProvider__SqlitePath",
    "ConnectionStrings__redis",
    "ConnectionStrings__luciatraces",
    "ConnectionStrings__luciaconfig",
    "ConnectionStrings__luciatasks",
    "HomeAssistant__BaseUrl",
    "HomeAssistant__AccessToken",
    "ConnectionStrings__chat-model",
    "ConnectionStrings__embeddings",
    "DASHBOARD_API_KEY",
    "LUCIA_HA_API_KEY",
    "InternalAuth__Token",
    "services__registryApi",
    "services__selfUrl",
    "Logging__LogLevel__Default",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "DOTNET_RUNNING_IN_CONTAINER",
    "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT",
];

/// Keys found in Lucia's hand-written infrastructure that nothing reads.
const DEAD_KEYS: &[&str] = &[
    "HomeAssistant__ApiEndpoint",
    "HomeAssistant__ApiToken",
    "Redis__Host",
    "Redis__Port",
    "Redis__ConnectionString",
    "OpenAI__ApiKey",
    "OpenAI__BaseUrl",
    "OpenAI__ModelId",
    "ConnectionStrings__embedding-model",
    "LUCIA_PORT",
    "HOMEASSISTANT_URL",
    "REDIS_CONNECTION_STRING",
];

#[test]
fn every_agenthost_key_is_one_the_app_reads() {
    for profile in [None, Some("dev"), Some("prod")] {
        let model = common::repo_model(profile);
        let app = model
            .service("agenthost")
            .unwrap_or_else(|| panic!("no agenthost"));
        for e in &app.env {
            assert!(
                APP_KEYS.contains(&e.key.as_str()),
                "{profile:?}: `{}` is not a key Lucia reads",
                e.key
            );
            assert!(!DEAD_KEYS.contains(&e.key.as_str()));
        }
        let secret_keys: Vec<&str> = app
            .env
            .iter()
            .filter(|e| matches!(e.source, EnvSource::Secret(_)))
            .map(|e| e.key.as_str())
            .collect();
        for k in [
            "HomeAssistant__AccessToken",
            "ConnectionStrings__chat-model",
            "ConnectionStrings__embeddings",
            "DASHBOARD_API_KEY",
            "LUCIA_HA_API_KEY",
        ] {
            assert!(secret_keys.contains(&k), "{k} must come from a secret");
        }
        let h = app.health.as_ref().unwrap_or_else(|| panic!("no health"));
        assert_eq!(
            h.liveness,
            luciac::model::Check::Http {
                path: "/alive".into(),
                port: "http".into(),
                number: 8080
            }
        );
        assert_eq!(
            h.readiness,
            luciac::model::Check::Http {
                path: "/health".into(),
                port: "http".into(),
                number: 8080
            }
        );
        assert!(h.start_period >= 120);
        assert!(app.singleton && app.replicas == 1);
    }
}

#[test]
fn profiles_differ_as_a_user_expects() {
    let dev = common::repo_model(Some("dev"));
    let prod = common::repo_model(Some("prod"));
    let level = |m: &luciac::model::Model| m.param("log-level").map(|p| p.default.clone());
    assert_eq!(level(&dev).as_deref(), Some("Debug"));
    assert_eq!(level(&prod).as_deref(), Some("Information"));
    assert!(prod.targets.kubernetes.network_policy && !dev.targets.kubernetes.network_policy);
    let port = |m: &luciac::model::Model| m.param("http-port").map(|p| p.default.clone());
    assert_ne!(
        port(&dev),
        port(&prod),
        "dev and prod must be able to run side by side"
    );
}

fn compile_any(base: &str, profile: Option<&str>) {
    let mut diags = Vec::new();
    let (_, model) = luciac::compile::compile_str(
        base,
        profile.map(|p| ("p", p)),
        Strictness::default(),
        &mut diags,
    );
    if let Some(m) = model {
        let mut d = Vec::new();
        luciac::targets::lower_all(&m, &mut d);
    }
    // Rendering must not panic either.
    let mut sources = luciac::source::Sources::default();
    sources.add("lucia.kdl", base);
    let _ = luciac::diag::render_human(&diags, &sources, luciac::diag::Style::PLAIN);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary text never panics the front end.
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        compile_any(&s, None);
    }

    /// Mutations of the real declaration (a byte range replaced by arbitrary KDL-ish text)
    /// never panic, with or without a profile.
    #[test]
    fn mutated_declaration_never_panics(at in 0usize..6000, len in 0usize..40, junk in "[ -~\\n{}\"=#]{0,30}") {
        let base = luciac::defaults::FILES[0].1;
        let mut at = at.min(base.len());
        while !base.is_char_boundary(at) { at -= 1; }
        let mut end = (at + len).min(base.len());
        while !base.is_char_boundary(end) { end -= 1; }
        let mutated = format!("{}{}{}", &base[..at], junk, &base[end..]);
        compile_any(&mutated, Some(luciac::defaults::FILES[2].1));
        compile_any(base, Some(&mutated));
    }
}

#[test]
fn profiles_overlay_by_identity_and_remove_explicitly() {
    let base = r#"app "t" version="1.0.0"
image "i" "docker.io/library/busybox:1" digest="sha256:0000000000000000000000000000000000000000000000000000000000000000"
param "level" default="info"
service "db" {
    image "i"
    port "db" 5432
}
service "web" {
    image "i"
    port "http" 8080 publish=8080
    env "A" "1"
    env "B" "{param.level}"
    env "DB" "{db.host}:{db.port.db}"
    health liveness="/alive" readiness="/ready" start-period="10s"
    resources cpu="100m" memory="64Mi"
}
"#;
    let profile = r#"param "level" default="debug"
service "web" {
    env "A" "2"
    env "C" "3"
    remove "env" "B"
    health start-period="90s"
    resources memory="128Mi"
}
service "cache" {
    image "i"
}
"#;
    let (model, diags) = common::model_from(base, Some(("p", profile)));
    assert!(diags.iter().all(|d| !d.is_error()));
    let web = model.service("web").unwrap_or_else(|| panic!("no web"));
    let env: Vec<(String, String)> = web
        .env
        .iter()
        .map(|e| (e.key.clone(), format!("{:?}", e.source)))
        .collect();
    assert_eq!(
        env.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["A", "DB", "C"],
        "keys keep base order, new ones last"
    );
    assert!(env[0].1.contains("\"2\""));
    assert_eq!(web.ports.len(), 1);
    let h = web.health.as_ref().unwrap_or_else(|| panic!("no health"));
    assert_eq!(h.start_period, 90);
    assert_eq!(
        h.readiness,
        luciac::model::Check::Http {
            path: "/ready".into(),
            port: "http".into(),
            number: 8080
        }
    );
    assert_eq!(web.resources.cpu.as_ref().map(|q| q.value), Some(100));
    assert_eq!(
        web.resources.memory.as_ref().map(|q| q.value),
        Some(128 << 20)
    );
    assert_eq!(
        model.param("level").map(|p| p.default.as_str()),
        Some("debug")
    );
    // Dependencies first, then by name: db before web; cache anywhere by name.
    let order: Vec<&str> = model.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["cache", "db", "web"]);
}
