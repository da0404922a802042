//! The Kubernetes pod specs under `podman kube play`: for each profile, the Kustomize overlay
//! (`kubectl kustomize`) and the Helm chart with the profile's values (`helm template`).
//!
//! What Podman does not do, and how the test stands in for it (each said where it happens):
//! - Services, NetworkPolicies and Ingresses are not enforced. Their checks stay with the
//!   validators (kubernetes-validate, helm lint, checkov in the other test files). So that the
//!   app can find its dependencies, each Service's pod gets the Service's name as a network
//!   alias: what cluster DNS would answer (and every Service here maps a port to itself).
//! - Probes are not run by Podman 4.3 without systemd, and it would run an `httpGet` probe with
//!   curl, which the app's image does not have. The test runs every declared readiness probe
//!   itself, as the kubelet would: exec in the container, GET or TCP to the pod's address.
//! - A Secret is a Podman secret holding the `data` map of the Secret the README's
//!   `kubectl create secret` makes (`--dry-run=client -o json`: no cluster is needed).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::repo;
use crate::engine::{
    Cleanup, assert_secrets_arrived, cmd, engines, http_get, ok, output, scratch, wait_for,
};

pub(crate) const NETWORK: &str = "luciac-e2e-kube";
const SECRETS: &[(&str, &str)] = &[
    ("ha-token", "e2e-kube-ha-token-0123456789abcdefghijklmnop"),
    (
        "chat-model",
        "Endpoint=http://llm.e2e.invalid/v1;AccessKey=e2e-kube-key;Model=m;Provider=openai",
    ),
];

/// The YAML documents of a rendered manifest, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---")
        .filter_map(|d| serde_saphyr::from_str::<Value>(d).ok())
        .filter(|v| v.get("kind").is_some())
        .collect()
}

/// The Secret exactly as the README's command makes it, turned into Podman's secret format.
pub(crate) fn create_secret(name: &str) {
    let mut args = vec![
        "create".to_string(),
        "secret".into(),
        "generic".into(),
        name.into(),
    ];
    for (k, v) in SECRETS {
        args.push(format!("--from-literal={k}={v}"));
    }
    args.extend(["--dry-run=client".into(), "-o".into(), "json".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let secret: Value = serde_json::from_str(&ok(&mut cmd("kubectl", &refs))).expect("secret");
    let data = secret["data"].to_string();
    let _ = output(&mut cmd("podman", &["secret", "rm", name]));
    let mut c = std::process::Command::new("podman");
    c.args(["secret", "create", name, "-"]);
    c.stdin(std::process::Stdio::piped());
    c.stdout(std::process::Stdio::null());
    let mut child = c.spawn().expect("podman secret create");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data.as_bytes())
        .expect("write");
    assert!(
        child.wait().expect("wait").success(),
        "podman secret create"
    );
}

/// What cluster DNS would answer: each Service's name on the pod its selector picks.
fn alias_services(docs: &[Value], pods: &BTreeMap<String, String>) {
    let env_text: String = docs
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .flat_map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["value"].as_str().map(|v| format!("{v}\n")))
        .collect();
    for svc in docs.iter().filter(|d| d["kind"] == "Service") {
        let name = svc["metadata"]["name"].as_str().unwrap_or_default();
        let selector = &svc["spec"]["selector"];
        let deploy = docs
            .iter()
            .filter(|d| d["kind"] == "Deployment")
            .find(|d| {
                let labels = &d["spec"]["template"]["metadata"]["labels"];
                selector
                    .as_object()
                    .is_some_and(|s| s.iter().all(|(k, v)| &labels[k] == v))
            })
            .unwrap_or_else(|| panic!("Service {name} selects no Deployment"));
        // A Service the stack itself connects to must map each port to the same number, or an
        // alias would lie. A named targetPort is the selected container's port of that name.
        let container_ports: Vec<Value> = deploy["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .collect();
        let used = env_text.contains(&format!("{name}:"));
        for p in svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|_| used)
        {
            let target = match &p["targetPort"] {
                Value::String(n) => container_ports
                    .iter()
                    .find(|c| c["name"] == *n.as_str())
                    .map(|c| c["containerPort"].clone())
                    .unwrap_or(Value::Null),
                other => other.clone(),
            };
            assert_eq!(
                p["port"], target,
                "Service {name} maps a port to another: an alias cannot stand in for it"
            );
        }
        let pod = &pods[deploy["metadata"]["name"].as_str().unwrap_or_default()];
        let infra = ok(&mut cmd(
            "podman",
            &["pod", "inspect", pod, "--format", "{{.InfraContainerID}}"],
        ))
        .trim()
        .to_string();
        ok(&mut cmd(
            "podman",
            &["network", "disconnect", NETWORK, &infra],
        ));
        ok(&mut cmd(
            "podman",
            &["network", "connect", "--alias", name, NETWORK, &infra],
        ));
    }
}

fn pod_ip(pod: &str) -> String {
    let infra = ok(&mut cmd(
        "podman",
        &["pod", "inspect", pod, "--format", "{{.InfraContainerID}}"],
    ))
    .trim()
    .to_string();
    let raw = ok(&mut cmd("podman", &["inspect", &infra]));
    let v: Value = serde_json::from_str(&raw).expect("inspect");
    v[0]["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
        .as_str()
        .expect("pod IP")
        .to_string()
}

/// Run one declared probe as the kubelet would.
fn probe_passes(probe: &Value, container: &str, ip: &str, ports: &Value) -> bool {
    let port_of = |p: &Value| -> u64 {
        p.as_u64().unwrap_or_else(|| {
            ports
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| x["name"] == *p)
                .and_then(|x| x["containerPort"].as_u64())
                .unwrap_or(0)
        })
    };
    if let Some(exec) = probe.get("exec") {
        let args: Vec<&str> = exec["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut c = cmd("podman", &["exec", container]);
        c.args(args);
        output(&mut c).status.success()
    } else if let Some(get) = probe.get("httpGet") {
        let addr = format!("{ip}:{}", port_of(&get["port"]));
        let path = get["path"].as_str().unwrap_or("/");
        matches!(http_get(&addr, path), Ok((200..=399, _)))
    } else if let Some(tcp) = probe.get("tcpSocket") {
        std::net::TcpStream::connect(format!("{ip}:{}", port_of(&tcp["port"]))).is_ok()
    } else {
        panic!("unknown probe {probe}")
    }
}

pub(crate) fn play(what: &str, manifest: &str, work: &Path, profile: &str, pull: &[&str]) {
    let file = work.join(format!("{what}.yaml"));
    std::fs::write(&file, manifest).unwrap();
    let file = file.to_string_lossy().to_string();
    let docs = documents(manifest);
    let deployments: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    assert!(!deployments.is_empty(), "{what}: no Deployment");
    let _down = Cleanup(|| {
        let _ = output(&mut cmd("podman", &["kube", "down", &file]));
        let _ = output(&mut cmd("podman", &["volume", "prune", "-f"]));
    });
    let start = Instant::now();
    let mut args = vec!["kube", "play", "--network", NETWORK];
    args.extend_from_slice(pull);
    args.push(&file);
    ok(&mut cmd("podman", &args));
    let mut pods = BTreeMap::new();
    for d in &deployments {
        let name = d["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        pods.insert(name.clone(), format!("{name}-pod-0"));
    }
    alias_services(&docs, &pods);

    for d in &deployments {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        let pod = &pods[name];
        let status = ok(&mut cmd(
            "podman",
            &["pod", "inspect", pod, "--format", "{{.State}}"],
        ));
        assert_eq!(status.trim(), "Running", "{what}: pod {pod}");
        let ip = pod_ip(pod);
        let spec = &d["spec"]["template"]["spec"];
        for c in spec["containers"].as_array().into_iter().flatten() {
            let cname = c["name"].as_str().unwrap_or_default();
            let container = format!("{pod}-{cname}");
            if let Some(probe) = c.get("readinessProbe") {
                wait_for(
                    &format!("{what}: {container} ready"),
                    Duration::from_secs(90),
                    || probe_passes(probe, &container, &ip, &c["ports"]).then_some(()),
                );
            }
            // Users and read-only roots, as declared.
            let i: Value = serde_json::from_str(&ok(&mut cmd("podman", &["inspect", &container])))
                .expect("inspect");
            let sc = &c["securityContext"];
            if let Some(uid) = sc["runAsUser"].as_u64() {
                let id = ok(&mut cmd("podman", &["exec", &container, "id", "-u"]));
                assert_eq!(id.trim(), uid.to_string(), "{what}: {container} user");
            }
            if sc["readOnlyRootFilesystem"] == true {
                assert_eq!(
                    i[0]["HostConfig"]["ReadonlyRootfs"], true,
                    "{what}: {container}"
                );
                let touch = output(&mut cmd("podman", &["exec", &container, "touch", "/e2e"]));
                assert!(
                    !touch.status.success(),
                    "{what}: {container} root is writable"
                );
            }
            let status = ok(&mut cmd(
                "podman",
                &["exec", &container, "cat", "/proc/1/status"],
            ));
            let caps = status
                .lines()
                .find(|l| l.starts_with("CapEff:"))
                .unwrap_or_default();
            assert!(
                caps.ends_with("0000000000000000"),
                "{what}: {container} {caps}"
            );
        }
    }
    crate::engine::record(&format!(
        "e2e kube play {what}: every pod Running and ready in {:.1} s",
        start.elapsed().as_secs_f64()
    ));

    // The keys the app received.
    let agent = pods
        .iter()
        .find(|(k, _)| k.ends_with("-agenthost"))
        .map(|(_, v)| v.clone())
        .expect("an agenthost pod");
    let (status, body) =
        http_get(&format!("{}:8080", pod_ip(&agent)), "/__standin/report").expect("report");
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&body).expect("report JSON");
    let env = &report["env"];
    let prefix = agent.trim_end_matches("-agenthost-pod-0");
    assert_eq!(
        env["ConnectionStrings__redis"]["value"],
        format!("{prefix}-redis:6379")
    );
    assert_eq!(
        env["ConnectionStrings__luciaconfig"]["value"],
        format!("mongodb://{prefix}-mongo:27017/luciaconfig")
    );
    assert_eq!(env["ASPNETCORE_URLS"]["value"], "http://+:8080");
    let level = if profile == "dev" {
        "Debug"
    } else {
        "Information"
    };
    assert_eq!(env["Logging__LogLevel__Default"]["value"], level, "{what}");
    assert_secrets_arrived(env, SECRETS, what);
    assert_eq!(report["uid"], 1100);
    assert_eq!(report["root_writable"], false);
    assert_eq!(report["writable"]["/tmp"], true);
    assert_eq!(
        report["writable"]["models"], true,
        "{what}: the PVC is writable"
    );
}

#[test]
fn kubernetes_pod_specs_run_under_kube_play() {
    let Some(_engines) = engines("kubernetes_pod_specs_run_under_kube_play") else {
        return;
    };
    let work = scratch("kube");
    let _ = output(&mut cmd("podman", &["network", "rm", "-f", NETWORK]));
    ok(&mut cmd("podman", &["network", "create", NETWORK]));
    let _net = Cleanup(|| {
        let _ = output(&mut cmd("podman", &["network", "rm", "-f", NETWORK]));
        let _ = output(&mut cmd("podman", &["secret", "rm", "lucia-secrets"]));
    });
    create_secret("lucia-secrets");
    for profile in ["prod", "dev"] {
        let bundle = repo().join("bundles").join(profile);
        let kustomized = ok(&mut cmd(
            "kubectl",
            &[
                "kustomize",
                &bundle
                    .join("kustomize/overlays")
                    .join(profile)
                    .to_string_lossy(),
            ],
        ));
        play(
            &format!("kustomize-{profile}"),
            &kustomized,
            work.path(),
            profile,
            &[],
        );

        let chart = std::fs::read_dir(&bundle)
            .expect("bundle")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "tgz"))
            .expect("chart");
        let values = bundle.join(format!("values-{profile}.yaml"));
        let rendered = ok(&mut cmd(
            "helm",
            &[
                "template",
                "lucia",
                &chart.to_string_lossy(),
                "--skip-tests",
                "-f",
                &values.to_string_lossy(),
                "--set",
                "secrets.existingSecret=lucia-secrets",
            ],
        ));
        play(
            &format!("helm-{profile}"),
            &rendered,
            work.path(),
            profile,
            &[],
        );
    }
}
