//! Kubernetes building blocks shared by the Helm and Kustomize targets.
//!
//! Both targets must deploy the same objects with the same specs (a test compares
//! `helm template` with `kubectl kustomize` object by object), so every decision about the
//! shape of a Kubernetes object that does not depend on the output format lives here: security
//! contexts, resources, probe timings, labels, names, ports, NetworkPolicy rules. The objects
//! themselves are built once, in [`objects`]; the Helm target supplies `.Values` expressions
//! for them and the Kustomize target literals.

use crate::model::{Check, HealthInfo, Model, Part, PortInfo, Publish, ServiceInfo};
use crate::yaml::Yaml;

pub mod objects;

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

/// A templated value of service `own` resolved for Kubernetes: hosts are Services, other
/// services' ports their Service ports, `own`'s ports its container ports (where it listens).
pub fn resolve(m: &Model, own: &str, parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.clone(),
            Part::Param(n) => m.param(n).map(|p| p.default.clone()).unwrap_or_default(),
            Part::Host(svc) => component_name(&m.app.name, svc),
            Part::Port {
                service, number, ..
            } if service == own => number.to_string(),
            Part::Port {
                service,
                port,
                number,
            } => m
                .service(service)
                .and_then(|s| s.ports.iter().find(|p| &p.name == port))
                .map(service_port)
                .unwrap_or(*number)
                .to_string(),
        })
        .collect()
}

/// Requests and limits: CPU and memory as declared, plus the device-plugin resources that
/// grant GPUs and host devices (limits only: extended resources cannot be overcommitted).
pub fn resources(s: &ServiceInfo) -> Yaml {
    let r = &s.resources;
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
    for (resource, count) in device_resources(s) {
        limits.insert(&resource, count);
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

/// Device-plugin resources the service needs, with counts: its GPUs, and one of each host
/// device's declared resource. Devices without one cannot be granted (the targets report it).
pub fn device_resources(s: &ServiceInfo) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    let wanted = s
        .gpu
        .iter()
        .map(|g| (g.vendor.kubernetes_resource().to_string(), g.count))
        .chain(
            s.devices
                .iter()
                .filter_map(|d| d.kubernetes_resource.clone().map(|r| (r, 1))),
        );
    for (r, n) in wanted {
        match out.iter_mut().find(|(x, _)| *x == r) {
            Some((_, total)) => *total += n,
            None => out.push((r, n)),
        }
    }
    out.sort();
    out
}

/// `<component>-config`: the ConfigMap holding a service's config files.
pub fn config_map_name(fullname: &str, component: &str) -> String {
    trunc63(&format!("{}-config", component_name(fullname, component)))
}

/// The ConfigMap's `data`: one key per config file.
pub fn config_data(s: &ServiceInfo) -> Yaml {
    let mut data = Yaml::map();
    for c in &s.configs {
        data.insert(&c.name, c.content.as_str());
    }
    data
}

/// Mounts and pod volumes for config files (`subPath` mounts of the service's ConfigMap, so a
/// file lands beside what the image already has) and host paths (`hostPath`). `config_map`
/// is the ConfigMap's name as the target writes it.
pub fn host_and_config_mounts(s: &ServiceInfo, config_map: Yaml) -> (Vec<Yaml>, Vec<Yaml>) {
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for c in &s.configs {
        mounts.push(
            Yaml::map()
                .with("name", "config")
                .with("mountPath", c.path.as_str())
                .with("subPath", c.name.as_str())
                .with("readOnly", true),
        );
    }
    if !s.configs.is_empty() {
        volumes.push(
            Yaml::map()
                .with("name", "config")
                .with("configMap", Yaml::map().with("name", config_map)),
        );
    }
    for (i, b) in s.binds.iter().enumerate() {
        let name = format!("host-{i}");
        let mut m = Yaml::map()
            .with("name", name.as_str())
            .with("mountPath", b.path.as_str());
        if b.read_only {
            m.insert("readOnly", true);
        }
        mounts.push(m);
        volumes.push(
            Yaml::map()
                .with("name", name)
                .with("hostPath", Yaml::map().with("path", b.host.as_str())),
        );
    }
    (mounts, volumes)
}

/// Pod-level settings for host networking (`hostNetwork`, and the DNS policy that keeps
/// cluster names resolvable from the host's network namespace).
pub fn host_network(s: &ServiceInfo) -> Vec<(&'static str, Yaml)> {
    if s.host_network.is_none() {
        return Vec::new();
    }
    vec![
        ("hostNetwork", Yaml::Bool(true)),
        ("dnsPolicy", Yaml::from("ClusterFirstWithHostNet")),
    ]
}

/// What Kubernetes cannot grant as declared, and what ties a pod to its node: errors for
/// host devices with no device plugin, warnings for host paths and host networking. Both
/// Kubernetes targets report them the same way.
pub fn check_host_access(model: &Model, diags: &mut Vec<crate::diag::Diag>) -> bool {
    use crate::diag::{self, Diag};
    let mut ok = true;
    // Kustomize asks for the base and the profile, which share services: report each once
    // (`targets::lower` joins what Helm and Kustomize both found).
    let mut push = |d: Diag| {
        if !diags.contains(&d) {
            diags.push(d);
        }
    };
    for s in &model.services {
        for d in s.devices.iter().filter(|d| d.kubernetes_resource.is_none()) {
            push(
                Diag::error(diag::TARGET_CANNOT_EXPRESS, format!("Kubernetes cannot give `{}` the host device `{}`", s.name, d.host))
                    .label(d.span, "no device plugin named")
                    .help("a pod reaches a host device through a device plugin: add kubernetes-resource=\"…\" naming the resource it advertises (for example `squat.ai/serial` from generic-device-plugin), or disable the Kubernetes targets"),
            );
            ok = false;
        }
        if let Some(span) = s.host_network_span {
            push(
                Diag::warning(diag::HOST_BOUND, format!("`{}` uses the host's network: on Kubernetes its ports are those of whichever node runs it", s.name))
                    .label(span, "`hostNetwork` on Kubernetes")
                    .help("two pods of it cannot share a node, and its ports must be free there; the pod needs the `privileged` Pod Security level"),
            );
        }
        for b in &s.binds {
            push(
                Diag::warning(diag::HOST_BOUND, format!("`{}` mounts the host path `{}`: on Kubernetes it needs that path on whichever node runs it", s.name, b.host))
                    .label(b.span, "a hostPath volume on Kubernetes")
                    .help("pin the pod to the node with a nodeSelector, or use a volume; the pod needs the `privileged` Pod Security level"),
            );
        }
    }
    ok
}

/// Capabilities the Pod Security Standards' "baseline" level allows a container to add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The Pod Security Standards level a service's pod needs: `restricted` unless the declaration
/// asks for root, capabilities, host paths or the host's network, each with a reason.
pub fn pod_security_level(s: &ServiceInfo) -> &'static str {
    let caps_beyond = |allowed: &[&str]| {
        s.capabilities
            .iter()
            .any(|(c, _)| !allowed.contains(&c.as_str()))
    };
    if s.host_network.is_some() || !s.binds.is_empty() || caps_beyond(BASELINE_CAPABILITIES) {
        "privileged"
    } else if s.root.is_some() || caps_beyond(&["NET_BIND_SERVICE"]) {
        "baseline"
    } else {
        "restricted"
    }
}

/// The least restrictive level any pod of the model needs: what the namespace must allow.
pub fn namespace_security_level(model: &Model) -> &'static str {
    let levels: Vec<&str> = model.services.iter().map(pod_security_level).collect();
    ["privileged", "baseline"]
        .into_iter()
        .find(|l| levels.contains(l))
        .unwrap_or("restricted")
}

/// Pod security context (Pod Security Standards "restricted" unless the service says why not).
pub fn pod_security(s: &ServiceInfo) -> Yaml {
    let mut m = Yaml::map().with("runAsNonRoot", s.root.is_none());
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
        .with("runAsNonRoot", s.root.is_none());
    if let Some(u) = s.uid {
        m.insert("runAsUser", u);
    }
    if let Some(g) = s.gid.or(s.uid) {
        m.insert("runAsGroup", g);
    }
    let mut caps = Yaml::map().with("drop", vec!["ALL"]);
    if !s.capabilities.is_empty() {
        let add: Vec<&str> = s.capabilities.iter().map(|(c, _)| c.as_str()).collect();
        caps.insert("add", add);
    }
    m.with("capabilities", caps)
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

/// One probe as a YAML map (`httpGet` or `tcpSocket` on a named port, or `exec` with its
/// arguments rendered by the target).
pub fn probe(check: &Check, t: ProbeTiming, render: &dyn Fn(&[Part]) -> Yaml) -> Yaml {
    let mut m = match check {
        Check::Http { path, port, .. } => Yaml::map().with(
            "httpGet",
            Yaml::map()
                .with("path", path.as_str())
                .with("port", port.as_str()),
        ),
        Check::Tcp { port, .. } => {
            Yaml::map().with("tcpSocket", Yaml::map().with("port", port.as_str()))
        }
        Check::Exec(args) => Yaml::map().with(
            "exec",
            Yaml::map().with(
                "command",
                Yaml::Seq(args.iter().map(|a| render(a)).collect()),
            ),
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
    /// Names and protocols (`TCP`, `UDP`) of the published ports.
    pub published: Vec<(&'a str, &'static str)>,
    /// Components allowed in (empty when none depends on the service or it has no port).
    pub from: Vec<&'a str>,
    /// Names and protocols of every port, for the `from` rule.
    pub ports: Vec<(&'a str, &'static str)>,
}

pub fn network_rules<'a>(model: &'a Model, s: &'a ServiceInfo) -> NetworkRules<'a> {
    let published = s
        .ports
        .iter()
        .filter(|p| p.publish.is_some())
        .map(|p| (p.name.as_str(), p.protocol.upper()))
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
        ports: s
            .ports
            .iter()
            .map(|p| (p.name.as_str(), p.protocol.upper()))
            .collect(),
    }
}

/// The placeholder repository URL of the GitOps manifests; the READMEs say to replace it.
pub const REPO_PLACEHOLDER: &str = "https://github.com/CHANGE-ME/CHANGE-ME.git";

/// An Argo CD `Application` for a path of the Git repository that holds `bundles/`, with an
/// optional `helm:` block for chart sources.
/// `security_level` is the Pod Security level the namespace must admit
/// ([`namespace_security_level`]): when it is not `restricted`, the namespace Argo CD creates is
/// labelled to enforce it, so a cluster that defaults to `restricted` still runs the pods.
pub fn argo_application(
    name: &str,
    path: &str,
    namespace: &str,
    helm: Option<Yaml>,
    sync: Vec<&str>,
    security_level: &str,
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
                .with("syncPolicy", {
                    let mut policy = Yaml::map()
                        .with(
                            "automated",
                            Yaml::map().with("prune", true).with("selfHeal", true),
                        )
                        .with("syncOptions", sync);
                    if security_level != "restricted" {
                        policy.insert(
                            "managedNamespaceMetadata",
                            Yaml::map().with(
                                "labels",
                                Yaml::map()
                                    .with("pod-security.kubernetes.io/enforce", security_level),
                            ),
                        );
                    }
                    policy
                }),
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
