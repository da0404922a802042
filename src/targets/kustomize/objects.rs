//! The Kubernetes objects of a model, as the Helm chart renders them for the same values.

use super::*;

pub(super) fn labels(m: &Model, component: &str) -> Yaml {
    k8s::selector_labels(&m.app.name, &m.app.name, component)
}

pub(super) fn meta(m: &Model, name: &str, component: &str) -> Yaml {
    Yaml::map()
        .with("name", name)
        .with("labels", labels(m, component))
}

pub fn params_name(m: &Model) -> String {
    format!("{}-params", m.app.name)
}

pub fn secret_name(m: &Model) -> String {
    format!("{}-secrets", m.app.name)
}

pub fn namespace(m: &Model) -> String {
    m.targets
        .kustomize
        .namespace
        .clone()
        .or_else(|| m.targets.kubernetes.namespace.clone())
        .unwrap_or_else(|| m.app.name.clone())
}

/// The param an env value is exactly, if it is one.
pub(super) fn sole_param(parts: &[Part]) -> Option<&str> {
    match parts {
        [Part::Param(p)] => Some(p),
        _ => None,
    }
}

/// A templated value of service `own` resolved for Kubernetes: hosts are Services, other
/// services' ports their Service ports, `own`'s ports its container ports (where it listens).
pub(super) fn resolve(m: &Model, own: &str, parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.clone(),
            Part::Param(n) => m.param(n).map(|p| p.default.clone()).unwrap_or_default(),
            Part::Host(svc) => k8s::component_name(&m.app.name, svc),
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
                .map(k8s::service_port)
                .unwrap_or(*number)
                .to_string(),
        })
        .collect()
}

/// Params that reach an env key as its whole value: the keys of the params ConfigMap.
pub fn generated_params(m: &Model) -> Vec<&ParamInfo> {
    m.params
        .iter()
        .filter(|p| {
            m.services.iter().any(|s| {
                s.env.iter().any(|e| {
                    matches!(&e.source, EnvSource::Template(parts) if sole_param(parts) == Some(p.name.as_str()))
                })
            })
        })
        .collect()
}

pub(super) fn env(m: &Model, s: &ServiceInfo) -> Yaml {
    let items = s
        .env
        .iter()
        .map(|e| {
            let item = Yaml::map().with("name", e.key.as_str());
            match &e.source {
                EnvSource::Template(parts) => match sole_param(parts) {
                    Some(p) => item.with(
                        "valueFrom",
                        Yaml::map().with(
                            "configMapKeyRef",
                            Yaml::map().with("name", params_name(m)).with("key", p),
                        ),
                    ),
                    None => item.with("value", resolve(m, &s.name, parts)),
                },
                EnvSource::Secret(name) => {
                    let mut r = Yaml::map()
                        .with("name", secret_name(m))
                        .with("key", name.as_str());
                    if m.secret(name).is_some_and(|x| x.optional) {
                        r.insert("optional", true);
                    }
                    item.with("valueFrom", Yaml::map().with("secretKeyRef", r))
                }
            }
        })
        .collect();
    Yaml::Seq(items)
}

pub(super) fn deployment(m: &Model, s: &ServiceInfo, image: &str) -> Obj {
    let name = k8s::component_name(&m.app.name, &s.name);
    let mut c = Yaml::map()
        .with("name", s.name.as_str())
        .with("image", image)
        .with("imagePullPolicy", k8s::PULL_POLICY);
    // `entrypoint` replaces the image's ENTRYPOINT (`command` here), `command` its CMD (`args`).
    for (key, words) in [("command", &s.entrypoint), ("args", &s.command)] {
        if !words.is_empty() {
            let words: Vec<String> = words.iter().map(|a| resolve(m, &s.name, a)).collect();
            c.insert(key, words);
        }
    }
    if !s.ports.is_empty() {
        let ports: Vec<Yaml> = s
            .ports
            .iter()
            .map(|p| {
                Yaml::map()
                    .with("name", p.name.as_str())
                    .with("containerPort", p.number)
                    .with("protocol", p.protocol.upper())
            })
            .collect();
        c.insert("ports", Yaml::Seq(ports));
    }
    if !s.env.is_empty() {
        c.insert("env", env(m, s));
    }
    if let Some(h) = &s.health {
        for (key, check, timing) in k8s::probes(h) {
            c.insert(key, k8s::probe(check, timing, &|a| resolve(m, &s.name, a)));
        }
    }
    c.insert("resources", k8s::resources(s));
    c.insert("securityContext", k8s::container_security(s));
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for (i, w) in s.writable.iter().enumerate() {
        let vname = format!("writable-{i}");
        mounts.push(
            Yaml::map()
                .with("name", vname.as_str())
                .with("mountPath", w.as_str()),
        );
        volumes.push(Yaml::map().with("name", vname).with(
            "emptyDir",
            Yaml::map().with("sizeLimit", k8s::EMPTY_DIR_SIZE_LIMIT),
        ));
    }
    for v in &s.volumes {
        let vname = format!("data-{}", v.name);
        mounts.push(
            Yaml::map()
                .with("name", vname.as_str())
                .with("mountPath", v.path.as_str()),
        );
        volumes.push(Yaml::map().with("name", vname).with(
            "persistentVolumeClaim",
            Yaml::map().with("claimName", k8s::claim_name(&m.app.name, &s.name, &v.name)),
        ));
    }
    let config_map = k8s::config_map_name(&m.app.name, &s.name);
    let (extra_mounts, extra_volumes) = k8s::host_and_config_mounts(s, Yaml::from(config_map));
    mounts.extend(extra_mounts);
    volumes.extend(extra_volumes);
    if !mounts.is_empty() {
        c.insert("volumeMounts", Yaml::Seq(mounts));
    }
    let mut pod = Yaml::map()
        .with("serviceAccountName", m.app.name.as_str())
        .with("automountServiceAccountToken", false)
        .with("enableServiceLinks", false)
        .with(
            "terminationGracePeriodSeconds",
            k8s::TERMINATION_GRACE_SECONDS,
        )
        .with("securityContext", k8s::pod_security(s))
        .with("containers", Yaml::Seq(vec![c]));
    for (key, value) in k8s::host_network(s) {
        pod.insert(key, value);
    }
    if !volumes.is_empty() {
        pod.insert("volumes", Yaml::Seq(volumes));
    }
    let replicas = if s.singleton { 1 } else { s.replicas.max(1) };
    let spec = Yaml::map()
        .with("replicas", replicas)
        .with("revisionHistoryLimit", k8s::REVISION_HISTORY_LIMIT)
        .with("strategy", Yaml::map().with("type", "Recreate"))
        .with(
            "selector",
            Yaml::map().with("matchLabels", labels(m, &s.name)),
        )
        .with(
            "template",
            Yaml::map()
                .with("metadata", Yaml::map().with("labels", labels(m, &s.name)))
                .with("spec", pod),
        );
    Obj::new(
        "apps/v1",
        "Deployment",
        name.clone(),
        format!("{}-deployment.yaml", s.name),
        Yaml::map()
            .with("metadata", meta(m, &name, &s.name))
            .with("spec", spec),
    )
}

pub(super) fn service(m: &Model, s: &ServiceInfo) -> Obj {
    let name = k8s::component_name(&m.app.name, &s.name);
    let ports: Vec<Yaml> = s
        .ports
        .iter()
        .map(|p| {
            Yaml::map()
                .with("name", p.name.as_str())
                .with("port", k8s::service_port(p))
                .with("targetPort", p.name.as_str())
                .with("protocol", p.protocol.upper())
        })
        .collect();
    Obj::new(
        "v1",
        "Service",
        name.clone(),
        format!("{}-service.yaml", s.name),
        Yaml::map().with("metadata", meta(m, &name, &s.name)).with(
            "spec",
            Yaml::map()
                .with("type", "ClusterIP")
                .with("selector", labels(m, &s.name))
                .with("ports", Yaml::Seq(ports)),
        ),
    )
}

pub(super) fn config_map(m: &Model, s: &ServiceInfo) -> Option<Obj> {
    if s.configs.is_empty() {
        return None;
    }
    let name = k8s::config_map_name(&m.app.name, &s.name);
    Some(Obj::new(
        "v1",
        "ConfigMap",
        name.clone(),
        format!("{}-configmap.yaml", s.name),
        Yaml::map()
            .with("metadata", meta(m, &name, &s.name))
            .with("data", k8s::config_data(s)),
    ))
}

pub(super) fn pvc(m: &Model, s: &ServiceInfo, v: &VolumeInfo) -> Obj {
    let name = k8s::claim_name(&m.app.name, &s.name, &v.name);
    let mut spec = Yaml::map().with("accessModes", vec!["ReadWriteOnce"]);
    match m.targets.kubernetes.storage_class.as_deref() {
        Some("-") => spec.insert("storageClassName", ""),
        Some(c) if !c.is_empty() => spec.insert("storageClassName", c),
        _ => {}
    }
    spec.insert(
        "resources",
        Yaml::map().with(
            "requests",
            Yaml::map().with(
                "storage",
                v.size_text.clone().unwrap_or_else(|| "1Gi".into()),
            ),
        ),
    );
    // GitOps controllers must never prune a claim: the data outlives the deployment.
    let metadata = meta(m, &name, &s.name).with(
        "annotations",
        Yaml::map()
            .with("argocd.argoproj.io/sync-options", "Prune=false")
            .with("kustomize.toolkit.fluxcd.io/prune", "disabled"),
    );
    Obj::new(
        "v1",
        "PersistentVolumeClaim",
        name,
        format!("{}-{}-pvc.yaml", s.name, v.name),
        Yaml::map().with("metadata", metadata).with("spec", spec),
    )
}

pub(super) fn network_policy(m: &Model, s: &ServiceInfo) -> Obj {
    let name = k8s::component_name(&m.app.name, &s.name);
    let net = k8s::network_rules(m, s);
    let port_list = |names: &[(&str, &str)]| {
        Yaml::Seq(
            names
                .iter()
                .map(|(p, proto)| Yaml::map().with("port", *p).with("protocol", *proto))
                .collect(),
        )
    };
    let mut rules = Vec::new();
    if !net.published.is_empty() {
        rules.push(Yaml::map().with("ports", port_list(&net.published)));
    }
    if !net.from.is_empty() {
        let from = net
            .from
            .iter()
            .map(|d| Yaml::map().with("podSelector", Yaml::map().with("matchLabels", labels(m, d))))
            .collect();
        rules.push(
            Yaml::map()
                .with("from", Yaml::Seq(from))
                .with("ports", port_list(&net.ports)),
        );
    }
    Obj::new(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        name.clone(),
        format!("{}-networkpolicy.yaml", s.name),
        Yaml::map().with("metadata", meta(m, &name, &s.name)).with(
            "spec",
            Yaml::map()
                .with(
                    "podSelector",
                    Yaml::map().with("matchLabels", labels(m, &s.name)),
                )
                .with("policyTypes", vec!["Ingress"])
                .with("ingress", Yaml::Seq(rules)),
        ),
    )
}

pub(super) fn ingress(m: &Model) -> Option<Obj> {
    let h = &m.targets.kubernetes;
    let host = h.ingress_host.as_deref()?;
    let (s, p) = k8s::web(m)?;
    let mut spec = Yaml::map();
    if let Some(class) = h.ingress_class.as_deref().filter(|c| !c.is_empty()) {
        spec.insert("ingressClassName", class);
    }
    if h.ingress_tls {
        let secret = h
            .ingress_tls_secret
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{}-tls", m.app.name));
        spec.insert(
            "tls",
            Yaml::Seq(vec![
                Yaml::map()
                    .with("hosts", vec![host])
                    .with("secretName", secret),
            ]),
        );
    }
    let backend = Yaml::map().with(
        "service",
        Yaml::map()
            .with("name", k8s::component_name(&m.app.name, &s.name))
            .with("port", Yaml::map().with("name", p.name.as_str())),
    );
    spec.insert(
        "rules",
        Yaml::Seq(vec![Yaml::map().with("host", host).with(
            "http",
            Yaml::map().with(
                "paths",
                Yaml::Seq(vec![
                    Yaml::map()
                        .with("path", "/")
                        .with("pathType", "Prefix")
                        .with("backend", backend),
                ]),
            ),
        )]),
    );
    Some(Obj::new(
        "networking.k8s.io/v1",
        "Ingress",
        m.app.name.clone(),
        "ingress.yaml".into(),
        Yaml::map()
            .with("metadata", meta(m, &m.app.name, &s.name))
            .with("spec", spec),
    ))
}

/// Every object of a model. `image` names the reference written into each container (the
/// base declaration's, so the overlay changes images only through the `images:` transformer).
pub(super) fn objects(m: &Model, image: &dyn Fn(&ImageRef) -> String) -> Vec<Obj> {
    let mut out = vec![Obj::new(
        "v1",
        "ServiceAccount",
        m.app.name.clone(),
        "serviceaccount.yaml".into(),
        Yaml::map()
            .with("metadata", meta(m, &m.app.name, &m.app.name))
            .with("automountServiceAccountToken", false),
    )];
    for s in &m.services {
        out.push(deployment(m, s, &image(&s.image)));
        out.extend(config_map(m, s));
        if !s.ports.is_empty() {
            out.push(service(m, s));
        }
        for v in &s.volumes {
            out.push(pvc(m, s, v));
        }
        if m.targets.kubernetes.network_policy {
            out.push(network_policy(m, s));
        }
    }
    out.extend(ingress(m));
    out
}

pub(super) fn base_objects(base: &Model) -> Vec<Obj> {
    objects(base, &|i: &ImageRef| i.reference.clone())
}

pub(super) fn profile_objects(base: &Model, profile: &Model) -> Vec<Obj> {
    objects(profile, &|i: &ImageRef| {
        base.images
            .iter()
            .find(|b| b.name == i.name)
            .unwrap_or(i)
            .reference
            .clone()
    })
}
