//! Kubernetes building blocks shared by the Helm and Kustomize targets.
//!
//! Both targets must deploy the same objects with the same specs (a test compares
//! `helm template` with `kubectl kustomize` object by object), so every decision about the
//! shape of a Kubernetes object that does not depend on the output format lives here: security
//! contexts, resources, probe timings, labels, names, ports, NetworkPolicy rules. The Helm
//! target turns them into template text and values; the Kustomize target into plain YAML.

use crate::model::*;
use crate::yaml::Yaml;

/// `sizeLimit` of the emptyDir behind each writable path.
pub const EMPTY_DIR_SIZE_LIMIT: &str = "256Mi";
pub const REVISION_HISTORY_LIMIT: u32 = 3;
pub const TERMINATION_GRACE_SECONDS: u32 = 30;
/// Home-lab clusters run offline; a digest pins what a tag cannot.
pub const PULL_POLICY: &str = "IfNotPresent";

/// Kubernetes names: at most 63 characters, no trailing `-` (Helm's `trunc 63 | trimSuffix "-"`).
pub fn trunc63(name: &str) -> String {
    let cut: String = name.chars().take(63).collect();
    cut.strip_suffix('-').map(str::to_string).unwrap_or(cut)
}

/// `<fullname>-<component>`: the name of a component's objects.
pub fn component_name(fullname: &str, component: &str) -> String {
    trunc63(&format!("{fullname}-{component}"))
}

/// `<fullname>-<service>-<volume>`: the claim of a declared volume.
pub fn claim_name(fullname: &str, service: &str, volume: &str) -> String {
    trunc63(&format!("{}-{volume}", component_name(fullname, service)))
}

/// The immutable label subset used in selectors; the component keeps Services apart.
pub fn selector_labels(name: &str, instance: &str, component: &str) -> Yaml {
    Yaml::map()
        .with("app.kubernetes.io/name", name)
        .with("app.kubernetes.io/instance", instance)
        .with("app.kubernetes.io/component", component)
}

pub fn resources(r: &ResourceInfo) -> Yaml {
    let mut requests = Yaml::map();
    if let Some(c) = &r.cpu {
        requests.insert("cpu", c.text.as_str());
    }
    if let Some(m) = &r.memory {
        requests.insert("memory", m.text.as_str());
    }
    let mut limits = Yaml::map();
    if let Some(c) = &r.cpu_limit {
        limits.insert("cpu", c.text.as_str());
    }
    if let Some(m) = r.memory_limit.as_ref().or(r.memory.as_ref()) {
        limits.insert("memory", m.text.as_str());
    }
    let mut out = Yaml::map();
    if !requests.is_empty() {
        out.insert("requests", requests);
    }
    if !limits.is_empty() {
        out.insert("limits", limits);
    }
    out
}

/// Pod security context (Pod Security Standards "restricted").
pub fn pod_security(s: &ServiceInfo) -> Yaml {
    let mut m = Yaml::map().with("runAsNonRoot", true);
    if let Some(u) = s.uid {
        m.insert("runAsUser", u);
    }
    if let Some(g) = s.gid.or(s.uid) {
        m.insert("runAsGroup", g);
        m.insert("fsGroup", g);
        m.insert("fsGroupChangePolicy", "OnRootMismatch");
    }
    m.with("seccompProfile", Yaml::map().with("type", "RuntimeDefault"))
}

/// Container security context (Pod Security Standards "restricted").
pub fn container_security(s: &ServiceInfo) -> Yaml {
    let mut m = Yaml::map()
        .with("allowPrivilegeEscalation", false)
        .with("privileged", false)
        .with("readOnlyRootFilesystem", s.read_only_root)
        .with("runAsNonRoot", true);
    if let Some(u) = s.uid {
        m.insert("runAsUser", u);
    }
    if let Some(g) = s.gid.or(s.uid) {
        m.insert("runAsGroup", g);
    }
    m.with("capabilities", Yaml::map().with("drop", vec!["ALL"]))
        .with("seccompProfile", Yaml::map().with("type", "RuntimeDefault"))
}

/// Period, timeout and failure threshold of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    pub period: u64,
    pub timeout: u64,
    pub failures: u64,
}

/// The three probes of a health check, in the order they appear in a container:
/// `startupProbe` and `livenessProbe` on the liveness check, `readinessProbe` on the readiness
/// check. Startup allows twice the declared start period, so a cold start on small hardware
/// (JIT, migrations) is never mistaken for a hang; liveness takes over afterwards.
pub fn probes(h: &HealthInfo) -> [(&'static str, &Check, ProbeTiming); 3] {
    let startup_period = 10;
    let timeout = h.timeout.max(1);
    let retries = u64::from(h.retries.max(1));
    [
        (
            "startupProbe",
            &h.liveness,
            ProbeTiming {
                period: startup_period,
                timeout,
                failures: (2 * h.start_period).div_ceil(startup_period).max(3),
            },
        ),
        (
            "livenessProbe",
            &h.liveness,
            ProbeTiming {
                period: h.interval.max(1),
                timeout,
                failures: retries,
            },
        ),
        (
            "readinessProbe",
            &h.readiness,
            ProbeTiming {
                period: h.interval.clamp(1, 10),
                timeout,
                failures: retries,
            },
        ),
    ]
}

/// One probe as a YAML map (`httpGet` on a named port, or `exec`).
pub fn probe(check: &Check, t: ProbeTiming) -> Yaml {
    let mut m = match check {
        Check::Http { path, port, .. } => Yaml::map().with(
            "httpGet",
            Yaml::map()
                .with("path", path.as_str())
                .with("port", port.as_str()),
        ),
        Check::Exec(args) => Yaml::map().with(
            "exec",
            Yaml::map().with("command", Yaml::from(args.clone())),
        ),
    };
    m.insert("periodSeconds", Yaml::Int(t.period as i64));
    m.insert("timeoutSeconds", Yaml::Int(t.timeout as i64));
    m.insert("failureThreshold", Yaml::Int(t.failures as i64));
    m
}

/// The port a Service exposes for a container port: the published port when there is one.
pub fn service_port(p: &PortInfo) -> u16 {
    p.publish
        .as_ref()
        .map(Publish::default_port)
        .unwrap_or(p.number)
}

/// The service and port the Ingress (and the `helm test` hook) reach: the first service whose
/// readiness check is HTTP on a published port, else the first published port.
pub fn web(model: &Model) -> Option<(&ServiceInfo, &PortInfo)> {
    for s in &model.services {
        if let Some(HealthInfo {
            readiness: Check::Http { port, .. },
            ..
        }) = &s.health
            && let Some(p) = s
                .ports
                .iter()
                .find(|p| &p.name == port && p.publish.is_some())
        {
            return Some((s, p));
        }
    }
    model
        .services
        .iter()
        .find_map(|s| s.ports.iter().find(|p| p.publish.is_some()).map(|p| (s, p)))
}

/// Services that depend on `s`.
pub fn dependents<'a>(model: &'a Model, s: &ServiceInfo) -> Vec<&'a ServiceInfo> {
    model
        .services
        .iter()
        .filter(|o| o.depends_on.contains(&s.name))
        .collect()
}

/// The ingress rules of a service's NetworkPolicy: published ports are open to anyone;
/// every port is open to the services that depend on this one; nothing else.
pub struct NetworkRules<'a> {
    /// Names of the published ports.
    pub published: Vec<&'a str>,
    /// Components allowed in (empty when none depends on the service or it has no port).
    pub from: Vec<&'a str>,
    /// Names of every port, for the `from` rule.
    pub ports: Vec<&'a str>,
}

pub fn network_rules<'a>(model: &'a Model, s: &'a ServiceInfo) -> NetworkRules<'a> {
    let published = s
        .ports
        .iter()
        .filter(|p| p.publish.is_some())
        .map(|p| p.name.as_str())
        .collect();
    let from = if s.ports.is_empty() {
        Vec::new()
    } else {
        dependents(model, s)
            .into_iter()
            .map(|d| d.name.as_str())
            .collect()
    };
    NetworkRules {
        published,
        from,
        ports: s.ports.iter().map(|p| p.name.as_str()).collect(),
    }
}

/// The placeholder repository URL of the GitOps manifests; the READMEs say to replace it.
pub const REPO_PLACEHOLDER: &str = "https://github.com/CHANGE-ME/CHANGE-ME.git";

/// An Argo CD `Application` for a path of the Git repository that holds `bundles/`, with an
/// optional `helm:` block for chart sources.
pub fn argo_application(
    name: &str,
    path: &str,
    namespace: &str,
    helm: Option<Yaml>,
    sync: Vec<&str>,
) -> Yaml {
    let source = Yaml::map()
        .with("repoURL", REPO_PLACEHOLDER)
        .with("targetRevision", "main")
        .with("path", path)
        .with_opt("helm", helm);
    Yaml::map()
        .with("apiVersion", "argoproj.io/v1alpha1")
        .with("kind", "Application")
        .with(
            "metadata",
            Yaml::map().with("name", name).with("namespace", "argocd"),
        )
        .with(
            "spec",
            Yaml::map()
                .with("project", "default")
                .with("source", source)
                .with(
                    "destination",
                    Yaml::map()
                        .with("server", "https://kubernetes.default.svc")
                        .with("namespace", namespace),
                )
                .with(
                    "syncPolicy",
                    Yaml::map()
                        .with(
                            "automated",
                            Yaml::map().with("prune", true).with("selfHeal", true),
                        )
                        .with("syncOptions", sync),
                ),
        )
}

/// A Flux `GitRepository` for the repository that holds `bundles/`.
pub fn flux_git_repository(name: &str) -> Yaml {
    Yaml::map()
        .with("apiVersion", "source.toolkit.fluxcd.io/v1")
        .with("kind", "GitRepository")
        .with(
            "metadata",
            Yaml::map()
                .with("name", name)
                .with("namespace", "flux-system"),
        )
        .with(
            "spec",
            Yaml::map()
                .with("interval", "5m")
                .with("url", REPO_PLACEHOLDER)
                .with("ref", Yaml::map().with("branch", "main")),
        )
}

/// The `kubectl create secret` command that makes the Secret the pods read: required keys as
/// literals to fill in, optional ones listed.
pub fn create_secret_command(m: &Model, namespace: &str, secret: &str) -> String {
    let mut out = format!(
        "kubectl create namespace {namespace}\nkubectl --namespace {namespace} create secret generic {secret}"
    );
    for s in m.secrets.iter().filter(|s| !s.optional) {
        out.push_str(&format!(" \\\n  --from-literal={}='…'", s.name));
    }
    let optional: Vec<&str> = m
        .secrets
        .iter()
        .filter(|s| s.optional)
        .map(|s| s.name.as_str())
        .collect();
    if !optional.is_empty() {
        out.push_str(&format!(
            "\n# optional keys, add --from-literal=KEY='…' for those you use: {}",
            optional.join(", ")
        ));
    }
    out
}
