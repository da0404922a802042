//! The Kubernetes objects both targets deploy, each built once.
//!
//! The shape of every object (its keys, their order, what is a list) is decided here. Where
//! the Helm chart and the Kustomize base differ, a [`Source`] gives the value: Kustomize's is a
//! literal from the model, Helm's a template expression ([`Yaml::Expr`]) or template lines
//! ([`Yaml::Splice`]) over `.Values`. So the chart renders, for the values a profile writes, the
//! objects the overlay of that profile holds, and `tests/kustomize.rs` checks that it does.

use super::{config_data, host_and_config_mounts, host_network, network_rules, probe, probes, web};
use crate::model::{Model, Part, PortInfo, ServiceInfo, VolumeInfo};
use crate::yaml::Yaml;

/// Where the values of an object come from, where the two targets differ.
pub trait Source {
    /// The name of a component's objects (Deployment, Service, NetworkPolicy).
    fn name(&self, component: &str) -> Yaml;
    /// The labels on a component's objects and pods.
    fn labels(&self, component: &str) -> Yaml;
    /// The labels that select a component's pods.
    fn selector(&self, component: &str) -> Yaml;
    /// A comment before a list item: the chart's templates explain themselves; the Kustomize
    /// files carry none (`kubectl kustomize` drops comments when it builds).
    fn comment(&self, text: &str) -> Option<Yaml>;
    /// A templated value of service `own` (command words, exec probes).
    fn value(&self, own: &str, parts: &[Part]) -> Yaml;

    /// The Service's `type`: `ClusterIP` unless a port is published.
    fn service_type(&self, published: bool) -> Yaml;
    /// The port a Service exposes for a container port.
    fn service_port(&self, p: &PortInfo) -> Yaml;

    /// The claim of a volume, as the PVC is named.
    fn claim_name(&self, s: &ServiceInfo, v: &VolumeInfo) -> Yaml;
    /// The claim a pod mounts for a volume (a chart may name an existing one).
    fn claim_ref(&self, s: &ServiceInfo, v: &VolumeInfo) -> Yaml;
    /// Annotations that keep a claim (and its data) when the release or sync goes away.
    fn claim_annotations(&self) -> Yaml;
    /// The claim's spec from `accessModes` on, with its storage class.
    fn claim_storage_class(&self, spec: Yaml) -> Yaml;
    fn claim_size(&self, s: &ServiceInfo, v: &VolumeInfo) -> Yaml;

    /// The Ingress: its name, the host it answers, and its metadata and spec before `rules`.
    fn ingress_name(&self) -> Yaml;
    /// `None`: no Ingress.
    fn ingress_host(&self) -> Option<Yaml>;
    fn ingress_metadata(&self, metadata: Yaml) -> Yaml;
    fn ingress_spec(&self, host: &Yaml) -> Yaml;

    fn config_map_name(&self, component: &str) -> Yaml;

    /// The pod template's annotations, if any.
    fn pod_annotations(&self, s: &ServiceInfo) -> Option<Yaml>;
    fn service_account(&self) -> Yaml;
    fn pod_security(&self, s: &ServiceInfo) -> Yaml;
    fn image(&self, s: &ServiceInfo) -> Yaml;
    fn pull_policy(&self, s: &ServiceInfo) -> Yaml;
    fn env(&self, s: &ServiceInfo) -> Yaml;
    fn resources(&self, s: &ServiceInfo) -> Yaml;
    fn container_security(&self, s: &ServiceInfo) -> Yaml;
    fn empty_dir_limit(&self, s: &ServiceInfo) -> Yaml;
    /// The pod spec with its scheduling entries (node selector, tolerations, affinity).
    fn scheduling(&self, s: &ServiceInfo, pod: Yaml) -> Yaml;
}

fn object(api: &str, kind: &str, metadata: Yaml) -> Yaml {
    Yaml::map()
        .with("apiVersion", api)
        .with("kind", kind)
        .with("metadata", metadata)
}

fn metadata(src: &dyn Source, name: Yaml, component: &str) -> Yaml {
    Yaml::map()
        .with("name", name)
        .with("labels", src.labels(component))
}

fn port_list(ports: &[(&str, &str)]) -> Yaml {
    Yaml::Seq(
        ports
            .iter()
            .map(|(p, proto)| Yaml::map().with("port", *p).with("protocol", *proto))
            .collect(),
    )
}

/// A service's NetworkPolicy: published ports open to anyone, every port open to the services
/// that depend on it, nothing else.
pub fn network_policy(src: &dyn Source, m: &Model, s: &ServiceInfo) -> Yaml {
    let net = network_rules(m, s);
    let mut rules = Vec::new();
    if !net.published.is_empty() {
        rules.extend(src.comment(
            "Published ports: reachable from anywhere (Ingress controller, LoadBalancer, helm test).",
        ));
        rules.push(Yaml::map().with("ports", port_list(&net.published)));
    }
    if !net.from.is_empty() {
        rules.extend(src.comment("Only the services that depend on this one."));
        let from = net
            .from
            .iter()
            .map(|d| {
                Yaml::map().with(
                    "podSelector",
                    Yaml::map().with("matchLabels", src.selector(d)),
                )
            })
            .collect();
        rules.push(
            Yaml::map()
                .with("from", Yaml::Seq(from))
                .with("ports", port_list(&net.ports)),
        );
    }
    closed_network_policy(src, &s.name, rules)
}

/// A NetworkPolicy admitting only `rules` (none: the pods accept no traffic).
pub fn closed_network_policy(src: &dyn Source, component: &str, rules: Vec<Yaml>) -> Yaml {
    object(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        metadata(src, src.name(component), component),
    )
    .with(
        "spec",
        Yaml::map()
            .with(
                "podSelector",
                Yaml::map().with("matchLabels", src.selector(component)),
            )
            .with("policyTypes", vec!["Ingress"])
            .with("ingress", Yaml::Seq(rules)),
    )
}

pub fn service(src: &dyn Source, s: &ServiceInfo) -> Yaml {
    let ports: Vec<Yaml> = s
        .ports
        .iter()
        .map(|p| {
            Yaml::map()
                .with("name", p.name.as_str())
                .with("port", src.service_port(p))
                .with("targetPort", p.name.as_str())
                .with("protocol", p.protocol.upper())
        })
        .collect();
    let published = s.ports.iter().any(|p| p.publish.is_some());
    object("v1", "Service", metadata(src, src.name(&s.name), &s.name)).with(
        "spec",
        Yaml::map()
            .with("type", src.service_type(published))
            .with("selector", src.selector(&s.name))
            .with("ports", Yaml::Seq(ports)),
    )
}

pub fn config_map(src: &dyn Source, s: &ServiceInfo) -> Yaml {
    object(
        "v1",
        "ConfigMap",
        metadata(src, src.config_map_name(&s.name), &s.name),
    )
    .with("data", config_data(s))
}

pub fn pvc(src: &dyn Source, s: &ServiceInfo, v: &VolumeInfo) -> Yaml {
    let spec = src.claim_storage_class(Yaml::map().with("accessModes", vec!["ReadWriteOnce"]));
    object(
        "v1",
        "PersistentVolumeClaim",
        metadata(src, src.claim_name(s, v), &s.name).with("annotations", src.claim_annotations()),
    )
    .with(
        "spec",
        spec.with(
            "resources",
            Yaml::map().with(
                "requests",
                Yaml::map().with("storage", src.claim_size(s, v)),
            ),
        ),
    )
}

/// The `tls` list of an Ingress: one certificate for its host.
pub fn ingress_tls(host: &Yaml, secret: impl Into<Yaml>) -> Yaml {
    Yaml::Seq(vec![
        Yaml::map()
            .with("hosts", Yaml::Seq(vec![host.clone()]))
            .with("secretName", secret),
    ])
}

/// The Ingress to the web service ([`super::web`]), when there is one and a host to answer.
pub fn ingress(src: &dyn Source, m: &Model) -> Option<Yaml> {
    let (s, p) = web(m)?;
    let host = src.ingress_host()?;
    let backend = Yaml::map().with(
        "service",
        Yaml::map()
            .with("name", src.name(&s.name))
            .with("port", Yaml::map().with("name", p.name.as_str())),
    );
    let path = Yaml::map()
        .with("path", "/")
        .with("pathType", "Prefix")
        .with("backend", backend);
    let rule = Yaml::map()
        .with("host", host.clone())
        .with("http", Yaml::map().with("paths", Yaml::Seq(vec![path])));
    Some(
        object(
            "networking.k8s.io/v1",
            "Ingress",
            src.ingress_metadata(metadata(src, src.ingress_name(), &s.name)),
        )
        .with(
            "spec",
            src.ingress_spec(&host).with("rules", Yaml::Seq(vec![rule])),
        ),
    )
}

pub fn deployment(src: &dyn Source, s: &ServiceInfo) -> Yaml {
    let c = &s.name;
    let mut pod = Yaml::map()
        .with("serviceAccountName", src.service_account())
        .with("automountServiceAccountToken", false)
        .with("enableServiceLinks", false)
        .with(
            "terminationGracePeriodSeconds",
            super::TERMINATION_GRACE_SECONDS,
        );
    for (key, value) in host_network(s) {
        pod.insert(key, value);
    }
    let (mounts, volumes) = mounts_and_volumes(src, s);
    pod = pod
        .with("securityContext", src.pod_security(s))
        .with("containers", Yaml::Seq(vec![container(src, s, mounts)]));
    if !volumes.is_empty() {
        pod.insert("volumes", Yaml::Seq(volumes));
    }
    let pod = src.scheduling(s, pod);
    let template_metadata = Yaml::map()
        .with("labels", src.labels(c))
        .with_opt("annotations", src.pod_annotations(s));
    let replicas = if s.singleton { 1 } else { s.replicas.max(1) };
    object("apps/v1", "Deployment", metadata(src, src.name(c), c)).with(
        "spec",
        Yaml::map()
            .with("replicas", replicas)
            .with("revisionHistoryLimit", super::REVISION_HISTORY_LIMIT)
            .with("strategy", Yaml::map().with("type", "Recreate"))
            .with("selector", Yaml::map().with("matchLabels", src.selector(c)))
            .with(
                "template",
                Yaml::map()
                    .with("metadata", template_metadata)
                    .with("spec", pod),
            ),
    )
}

fn container(src: &dyn Source, s: &ServiceInfo, mounts: Vec<Yaml>) -> Yaml {
    let c = &s.name;
    let mut out = Yaml::map()
        .with("name", c.as_str())
        .with("image", src.image(s))
        .with("imagePullPolicy", src.pull_policy(s));
    // `entrypoint` replaces the image's ENTRYPOINT (`command` here), `command` its CMD
    // (`args`): one meaning in every target.
    for (key, words) in [("command", &s.entrypoint), ("args", &s.command)] {
        if !words.is_empty() {
            out.insert(
                key,
                Yaml::Seq(words.iter().map(|w| src.value(c, w)).collect()),
            );
        }
    }
    if !s.ports.is_empty() {
        let ports = s
            .ports
            .iter()
            .map(|p| {
                Yaml::map()
                    .with("name", p.name.as_str())
                    .with("containerPort", p.number)
                    .with("protocol", p.protocol.upper())
            })
            .collect();
        out.insert("ports", Yaml::Seq(ports));
    }
    if !s.env.is_empty() {
        out.insert("env", src.env(s));
    }
    if let Some(h) = &s.health {
        for (key, check, timing) in probes(h) {
            out.insert(key, probe(check, timing, &|a| src.value(c, a)));
        }
    }
    out.insert("resources", src.resources(s));
    out.insert("securityContext", src.container_security(s));
    if !mounts.is_empty() {
        out.insert("volumeMounts", Yaml::Seq(mounts));
    }
    out
}

/// The container's mounts and the pod's volumes: an emptyDir per writable path, a claim per
/// volume, then config files and host paths.
fn mounts_and_volumes(src: &dyn Source, s: &ServiceInfo) -> (Vec<Yaml>, Vec<Yaml>) {
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    let mut mount = |name: String, path: &str, volume: (&str, Yaml)| {
        mounts.push(
            Yaml::map()
                .with("name", name.as_str())
                .with("mountPath", path),
        );
        volumes.push(Yaml::map().with("name", name).with(volume.0, volume.1));
    };
    for (i, w) in s.writable.iter().enumerate() {
        mount(
            format!("writable-{i}"),
            w,
            (
                "emptyDir",
                Yaml::map().with("sizeLimit", src.empty_dir_limit(s)),
            ),
        );
    }
    for v in &s.volumes {
        mount(
            format!("data-{}", v.name),
            &v.path,
            (
                "persistentVolumeClaim",
                Yaml::map().with("claimName", src.claim_ref(s, v)),
            ),
        );
    }
    let (extra_mounts, extra_volumes) = host_and_config_mounts(s, src.config_map_name(&s.name));
    mounts.extend(extra_mounts);
    volumes.extend(extra_volumes);
    (mounts, volumes)
}
