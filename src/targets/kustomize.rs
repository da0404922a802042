//! Kustomize target: `kustomize/base/` from the declaration alone, `kustomize/overlays/<profile>/`
//! holding only what the profile changes, and GitOps wiring (Argo CD, Flux) in
//! `kustomize/gitops/`.
//!
//! Choices a reviewer should know:
//! - **Same objects as the Helm chart.** Objects are built from the shared building blocks in
//!   [`super::k8s`] with the names the chart gives a release called like the app
//!   (`<app>-<service>`, ServiceAccount `<app>`, claims `<app>-<service>-<volume>`), the same
//!   labels (`name`/`instance`/`component` written literally, so selectors stay immutable;
//!   `version`/`part-of` through the `labels:` transformer with `includeSelectors: false`),
//!   the same probes, security contexts, NetworkPolicies and Ingress. A test compares
//!   `kubectl kustomize` with `helm template` object by object.
//! - **Base and overlay.** [`lower_with_base`] builds the objects of the base declaration and
//!   of the profile; the base directory holds the former, and the overlay holds the
//!   difference: objects the profile adds are overlay resources, objects it drops are
//!   `$patch: delete` patches, changed objects are JSON 6902 patches (one per object, each
//!   change one `replace`/`add`/`remove`, guarded by a `test` of the list item's name so a
//!   patch can never silently edit the wrong container). Images are never patched: the
//!   overlay pins every image with the `images:` transformer (tag, and digest when declared).
//!   [`lower`] (what `lower_all` calls) uses the profile model as its own base, which still
//!   gives a complete, valid base and overlay (namespace, images, params).
//! - **Params** become the `configMapGenerator` `<app>-params` (hash suffix: pods roll on
//!   change); an env key that is exactly one param reads it through `configMapKeyRef`. Values
//!   composed from params and other text, and published ports, are resolved at build time and
//!   patched by the overlay when a profile changes them. The overlay's generator repeats every
//!   param with the profile's value (`behavior: merge`), so it is the one place to edit them.
//! - **Secrets** never enter the repository: pods read `secretKeyRef`s into `<app>-secrets`,
//!   a Secret the user creates (the README gives the command).

use crate::diag::{self, Diag};
use crate::model::*;
use crate::pack::{self, FileTree};
use crate::targets::k8s;
use crate::targets::{Artifact, Layout};
use crate::yaml::{self, Yaml};

/// Directory of the artifact inside the bundle.
pub const DIR: &str = "kustomize";

const KUSTOMIZE_API: &str = "kustomize.config.k8s.io/v1beta1";
/// Placeholder repository URL in the GitOps params (the README says to replace it).
pub const REPO_PLACEHOLDER: &str = "https://github.com/CHANGE-ME/CHANGE-ME.git";

/// Lower the (profile-merged) model; it serves as its own base, so the overlay holds the
/// namespace, the images and the params but no patches.
pub fn lower(model: &Model, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    lower_with_base(model, model, diags)
}

/// Lower a profile against the model of the base declaration alone (`lucia.kdl` without the
/// profile): `base/` comes from `base`, `overlays/<profile>/` from the difference.
pub fn lower_with_base(base: &Model, profile: &Model, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    if !carries(profile, diags) || (base != profile && !carries(base, diags)) {
        return Vec::new();
    }
    vec![Artifact {
        target: "kustomize",
        path: DIR.into(),
        layout: Layout::Files,
        tree: tree(base, profile),
    }]
}

/// Characters Kustomize (v5.7) cannot carry: it re-emits U+007F (DEL) raw and then refuses its
/// own output ("control characters are not allowed"), and turns U+0085 (NEL) into a space.
const UNCARRIABLE: [char; 2] = ['\u{7f}', '\u{85}'];

fn has_del(y: &Yaml) -> bool {
    match y {
        Yaml::Str(s) => s.contains(UNCARRIABLE),
        Yaml::Seq(v) => v.iter().any(has_del),
        Yaml::Map(m) => m.iter().any(|(k, v)| k.contains(UNCARRIABLE) || has_del(v)),
        _ => false,
    }
}

/// A value Kustomize would break is a diagnostic, not a broken (or silently changed) bundle.
fn carries(m: &Model, diags: &mut Vec<Diag>) -> bool {
    let mut ok = true;
    for p in m.params.iter().filter(|p| p.default.contains(UNCARRIABLE)) {
        diags.push(del_diag(p.span, &format!("param `{}`", p.name)));
        ok = false;
    }
    for s in &m.services {
        if has_del(&deployment(m, s, "").doc) {
            diags.push(del_diag(s.span, &format!("service `{}`", s.name)));
            ok = false;
        }
    }
    ok
}

fn del_diag(span: crate::source::Span, what: &str) -> Diag {
    Diag::error(
        diag::NOT_ALLOWED,
        format!("the Kustomize target cannot carry U+007F (DEL) or U+0085 (NEL) in {what}"),
    )
    .label(span, "holds U+007F or U+0085")
    .help("kustomize rejects DEL and turns NEL into a space; remove the character or turn the target off (`target \"kustomize\" { enabled #false }`)")
}

/// One Kubernetes object and the file it is written to.
#[derive(Debug, Clone, PartialEq)]
struct Obj {
    api: &'static str,
    kind: &'static str,
    name: String,
    file: String,
    doc: Yaml,
}

impl Obj {
    fn new(api: &'static str, kind: &'static str, name: String, file: String, rest: Yaml) -> Obj {
        let mut doc = Yaml::map().with("apiVersion", api).with("kind", kind);
        if let Yaml::Map(entries) = rest {
            for (k, v) in entries {
                doc.insert(&k, v);
            }
        }
        Obj {
            api,
            kind,
            name,
            file,
            doc,
        }
    }

    fn same(&self, other: &Obj) -> bool {
        self.kind == other.kind && self.name == other.name
    }

    fn target(&self) -> Yaml {
        let (group, version) = match self.api.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api),
        };
        let mut t = Yaml::map();
        if !group.is_empty() {
            t.insert("group", group);
        }
        t.with("version", version)
            .with("kind", self.kind)
            .with("name", self.name.as_str())
    }
}

/// A patch of the overlay, as data (the tests check each one reached the output).
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// Path inside the overlay directory.
    pub file: String,
    pub kind: String,
    pub name: String,
    /// JSON 6902 operations; empty for a delete patch.
    pub ops: Vec<serde_json::Value>,
    /// `$patch: delete` of an object the profile drops.
    pub delete: bool,
}

fn labels(m: &Model, component: &str) -> Yaml {
    k8s::selector_labels(&m.app.name, &m.app.name, component)
}

fn meta(m: &Model, name: &str, component: &str) -> Yaml {
    Yaml::map()
        .with("name", name)
        .with("labels", labels(m, component))
}

fn params_name(m: &Model) -> String {
    format!("{}-params", m.app.name)
}

fn secret_name(m: &Model) -> String {
    format!("{}-secrets", m.app.name)
}

pub fn namespace(m: &Model) -> String {
    m.targets
        .kustomize
        .namespace
        .clone()
        .or_else(|| m.targets.helm.namespace.clone())
        .unwrap_or_else(|| m.app.name.clone())
}

/// The param an env value is exactly, if it is one.
fn sole_param(parts: &[Part]) -> Option<&str> {
    match parts {
        [Part::Param(p)] => Some(p),
        _ => None,
    }
}

/// A templated value of service `own` resolved for Kubernetes: hosts are Services, other
/// services' ports their Service ports, `own`'s ports its container ports (where it listens).
fn resolve(m: &Model, own: &str, parts: &[Part]) -> String {
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
fn generated_params(m: &Model) -> Vec<&ParamInfo> {
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

fn env(m: &Model, s: &ServiceInfo) -> Yaml {
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

fn deployment(m: &Model, s: &ServiceInfo, image: &str) -> Obj {
    let name = k8s::component_name(&m.app.name, &s.name);
    let mut c = Yaml::map()
        .with("name", s.name.as_str())
        .with("image", image)
        .with("imagePullPolicy", k8s::PULL_POLICY);
    if !s.command.is_empty() {
        c.insert("command", s.command.clone());
    }
    if !s.ports.is_empty() {
        let ports: Vec<Yaml> = s
            .ports
            .iter()
            .map(|p| {
                Yaml::map()
                    .with("name", p.name.as_str())
                    .with("containerPort", p.number)
                    .with("protocol", "TCP")
            })
            .collect();
        c.insert("ports", Yaml::Seq(ports));
    }
    if !s.env.is_empty() {
        c.insert("env", env(m, s));
    }
    if let Some(h) = &s.health {
        for (key, check, timing) in k8s::probes(h) {
            c.insert(key, k8s::probe(check, timing));
        }
    }
    c.insert("resources", k8s::resources(&s.resources));
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

fn service(m: &Model, s: &ServiceInfo) -> Obj {
    let name = k8s::component_name(&m.app.name, &s.name);
    let ports: Vec<Yaml> = s
        .ports
        .iter()
        .map(|p| {
            Yaml::map()
                .with("name", p.name.as_str())
                .with("port", k8s::service_port(p))
                .with("targetPort", p.name.as_str())
                .with("protocol", "TCP")
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

fn pvc(m: &Model, s: &ServiceInfo, v: &VolumeInfo) -> Obj {
    let name = k8s::claim_name(&m.app.name, &s.name, &v.name);
    let mut spec = Yaml::map().with("accessModes", vec!["ReadWriteOnce"]);
    match m.targets.helm.storage_class.as_deref() {
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

fn network_policy(m: &Model, s: &ServiceInfo) -> Obj {
    let name = k8s::component_name(&m.app.name, &s.name);
    let net = k8s::network_rules(m, s);
    let port_list = |names: &[&str]| {
        Yaml::Seq(
            names
                .iter()
                .map(|p| Yaml::map().with("port", *p).with("protocol", "TCP"))
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

fn ingress(m: &Model) -> Option<Obj> {
    let h = &m.targets.helm;
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
fn objects(m: &Model, image: &dyn Fn(&ImageRef) -> String) -> Vec<Obj> {
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
        if !s.ports.is_empty() {
            out.push(service(m, s));
        }
        for v in &s.volumes {
            out.push(pvc(m, s, v));
        }
        if m.targets.helm.network_policy {
            out.push(network_policy(m, s));
        }
    }
    out.extend(ingress(m));
    out
}

fn base_objects(base: &Model) -> Vec<Obj> {
    objects(base, &|i: &ImageRef| i.reference.clone())
}

fn profile_objects(base: &Model, profile: &Model) -> Vec<Obj> {
    objects(profile, &|i: &ImageRef| {
        base.images
            .iter()
            .find(|b| b.name == i.name)
            .unwrap_or(i)
            .reference
            .clone()
    })
}

fn to_json(y: &Yaml) -> serde_json::Value {
    match y {
        Yaml::Str(s) => serde_json::Value::String(s.clone()),
        Yaml::Int(i) => serde_json::Value::from(*i),
        Yaml::Bool(b) => serde_json::Value::Bool(*b),
        Yaml::Seq(v) => serde_json::Value::Array(v.iter().map(to_json).collect()),
        Yaml::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn op(kind: &str, path: &str, value: Option<&Yaml>) -> Yaml {
    let o = Yaml::map().with("op", kind).with("path", path);
    match value {
        Some(v) => o.with("value", v.clone()),
        None => o,
    }
}

/// JSON 6902 operations turning `a` into `b`. Maps are compared key by key, lists of the same
/// length item by item (a changed item named `name` is guarded by a `test` of its name), and
/// anything else is replaced whole.
fn diff(path: &str, a: &Yaml, b: &Yaml, ops: &mut Vec<Yaml>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Yaml::Map(x), Yaml::Map(y)) => {
            for (k, va) in x {
                let p = format!("{path}/{}", pointer_escape(k));
                match y.iter().find(|(kb, _)| kb == k) {
                    Some((_, vb)) => diff(&p, va, vb, ops),
                    None => ops.push(op("remove", &p, None)),
                }
            }
            for (k, vb) in y {
                if !x.iter().any(|(ka, _)| ka == k) {
                    ops.push(op(
                        "add",
                        &format!("{path}/{}", pointer_escape(k)),
                        Some(vb),
                    ));
                }
            }
        }
        (Yaml::Seq(x), Yaml::Seq(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                let p = format!("{path}/{i}");
                let mut sub = Vec::new();
                diff(&p, va, vb, &mut sub);
                if sub.is_empty() {
                    continue;
                }
                if let Yaml::Map(entries) = va
                    && let Some((_, name @ Yaml::Str(_))) =
                        entries.iter().find(|(k, _)| k == "name")
                    && !sub.iter().any(|o| o == &op("replace", &p, Some(vb)))
                {
                    ops.push(op("test", &format!("{p}/name"), Some(name)));
                }
                ops.extend(sub);
            }
        }
        _ => ops.push(op("replace", path, Some(b))),
    }
}

fn slug(o: &Obj) -> String {
    format!("{}-{}", o.kind.to_ascii_lowercase(), o.name)
}

/// The overlay's patches: the difference between the base's and the profile's objects.
pub fn patches(base: &Model, profile: &Model) -> Vec<Patch> {
    overlay_parts(base, profile).1
}

/// (objects the profile adds, patches with their YAML text).
fn overlay_parts(base: &Model, profile: &Model) -> (Vec<Obj>, Vec<Patch>, Vec<String>) {
    let b = base_objects(base);
    let p = profile_objects(base, profile);
    let mut added = Vec::new();
    let mut patches = Vec::new();
    let mut texts = Vec::new();
    for o in &p {
        match b.iter().find(|x| x.same(o)) {
            None => added.push(o.clone()),
            Some(old) => {
                let mut ops = Vec::new();
                diff("", &old.doc, &o.doc, &mut ops);
                if ops.is_empty() {
                    continue;
                }
                let file = format!("patches/{}.yaml", slug(o));
                texts.push(format!(
                    "# Profile `{}`: what it changes in {} `{}` (JSON 6902; `test` guards the list item).\n{}",
                    profile.profile_or_base(),
                    o.kind,
                    o.name,
                    yaml::to_string(&Yaml::Seq(ops.clone()))
                ));
                patches.push(Patch {
                    file,
                    kind: o.kind.to_string(),
                    name: o.name.clone(),
                    ops: ops.iter().map(to_json).collect(),
                    delete: false,
                });
            }
        }
    }
    for o in &b {
        if !p.iter().any(|x| x.same(o)) {
            let doc = Yaml::map()
                .with("$patch", "delete")
                .with("apiVersion", o.api)
                .with("kind", o.kind)
                .with("metadata", Yaml::map().with("name", o.name.as_str()));
            texts.push(format!(
                "# Profile `{}` drops {} `{}` from the base.\n{}",
                profile.profile_or_base(),
                o.kind,
                o.name,
                yaml::to_string(&doc)
            ));
            patches.push(Patch {
                file: format!("patches/delete-{}.yaml", slug(o)),
                kind: o.kind.to_string(),
                name: o.name.clone(),
                ops: Vec::new(),
                delete: true,
            });
        }
    }
    (added, patches, texts)
}

/// A generator literal `key=value` that kustomize reads back as exactly `value` (it strips one
/// pair of matching outer quotes, so such a value gets one more pair).
fn literal(key: &str, value: &str) -> String {
    let quoted = value.len() >= 2
        && (value.starts_with('"') && value.ends_with('"')
            || value.starts_with('\'') && value.ends_with('\''));
    if quoted {
        format!("{key}=\"{value}\"")
    } else {
        format!("{key}={value}")
    }
}

fn version_labels(m: &Model) -> Yaml {
    Yaml::Seq(vec![
        Yaml::map()
            .with(
                "pairs",
                Yaml::map()
                    .with("app.kubernetes.io/version", m.app.version.as_str())
                    .with("app.kubernetes.io/part-of", m.app.name.as_str()),
            )
            .with("includeSelectors", false)
            .with("includeTemplates", true),
    ])
}

fn doc_file(header: &str, doc: &Yaml) -> pack::File {
    pack::text(format!("{header}{}", yaml::to_string(doc)))
}

const GENERATED: &str =
    "# Generated by luciac from lucia.kdl. Do not edit: change the declaration and rebuild.\n";

fn tree(base: &Model, profile: &Model) -> FileTree {
    let mut t = FileTree::new();
    let p = profile.profile_or_base();
    // base/
    let objs = base_objects(base);
    let mut kz = Yaml::map()
        .with("apiVersion", KUSTOMIZE_API)
        .with("kind", "Kustomization")
        .with("labels", version_labels(base))
        .with(
            "resources",
            Yaml::from(objs.iter().map(|o| o.file.clone()).collect::<Vec<_>>()),
        );
    let gen_params = generated_params(base);
    if !gen_params.is_empty() {
        kz.insert(
            "configMapGenerator",
            Yaml::Seq(vec![
                Yaml::map().with("name", params_name(base)).with(
                    "literals",
                    Yaml::from(
                        gen_params
                            .iter()
                            .map(|x| literal(&x.name, &x.default))
                            .collect::<Vec<_>>(),
                    ),
                ),
            ]),
        );
    }
    t.insert(
        "base/kustomization.yaml".into(),
        doc_file(
            &format!("{GENERATED}# The base: lucia.kdl alone, no namespace, no secrets. Overlays in ../overlays/.\n"),
            &kz,
        ),
    );
    for o in &objs {
        t.insert(format!("base/{}", o.file), doc_file(GENERATED, &o.doc));
    }
    // overlays/<profile>/
    let dir = format!("overlays/{p}");
    let (added, patches, texts) = overlay_parts(base, profile);
    let mut resources = vec!["../../base".to_string()];
    for o in &added {
        resources.push(o.file.clone());
        t.insert(format!("{dir}/{}", o.file), doc_file(GENERATED, &o.doc));
    }
    let mut kz = Yaml::map()
        .with("apiVersion", KUSTOMIZE_API)
        .with("kind", "Kustomization")
        .with("namespace", namespace(profile))
        .with("labels", version_labels(profile))
        .with("resources", Yaml::from(resources));
    let mut images = Vec::new();
    let mut seen = Vec::new();
    for s in &profile.services {
        let i = &s.image;
        if seen.contains(&&i.name) {
            continue;
        }
        seen.push(&i.name);
        let from = base.images.iter().find(|b| b.name == i.name).unwrap_or(i);
        let mut e = Yaml::map().with("name", from.repository.as_str());
        if from.repository != i.repository {
            e.insert("newName", i.repository.as_str());
        }
        if let Some(tag) = &i.tag {
            e.insert("newTag", tag.as_str());
        }
        if let Some(d) = &i.digest {
            e.insert("digest", d.as_str());
        }
        images.push(e);
    }
    if !images.is_empty() {
        kz.insert("images", Yaml::Seq(images));
    }
    let prof_params = generated_params(profile);
    if !prof_params.is_empty() {
        let in_base = !generated_params(base).is_empty();
        let mut g = Yaml::map().with("name", params_name(profile));
        if in_base {
            g.insert("behavior", "merge");
        }
        g.insert(
            "literals",
            Yaml::from(
                prof_params
                    .iter()
                    .map(|x| literal(&x.name, &x.default))
                    .collect::<Vec<_>>(),
            ),
        );
        kz.insert("configMapGenerator", Yaml::Seq(vec![g]));
    }
    if !patches.is_empty() {
        let items = patches
            .iter()
            .map(|x| {
                let e = Yaml::map().with("path", x.file.as_str());
                if x.delete {
                    e
                } else {
                    let obj = profile_objects(base, profile)
                        .into_iter()
                        .find(|o| o.kind == x.kind && o.name == x.name);
                    match obj {
                        Some(o) => e.with("target", o.target()),
                        None => e,
                    }
                }
            })
            .collect();
        kz.insert("patches", Yaml::Seq(items));
    }
    for (x, text) in patches.iter().zip(&texts) {
        t.insert(format!("{dir}/{}", x.file), pack::text(text.clone()));
    }
    t.insert(
        format!("{dir}/kustomization.yaml"),
        doc_file(
            &format!("{GENERATED}# Overlay of profile `{p}` (profiles/{p}.kdl): only what the profile changes. See README.md.\n"),
            &kz,
        ),
    );
    t.insert(
        format!("{dir}/README.md"),
        pack::text(overlay_readme(base, profile, &added, &patches)),
    );
    // gitops/
    gitops(profile, &mut t);
    t.insert("README.md".into(), pack::text(readme(profile)));
    t
}

fn gitops(m: &Model, t: &mut FileTree) {
    let p = m.profile_or_base();
    let inst = m.instance_name();
    let ns = namespace(m);
    let path = format!("bundles/{p}/{DIR}/overlays/{p}");
    let app = Yaml::map()
        .with("apiVersion", "argoproj.io/v1alpha1")
        .with("kind", "Application")
        .with(
            "metadata",
            Yaml::map()
                .with("name", inst.as_str())
                .with("namespace", "argocd"),
        )
        .with(
            "spec",
            Yaml::map()
                .with("project", "default")
                .with(
                    "source",
                    Yaml::map()
                        .with("repoURL", REPO_PLACEHOLDER)
                        .with("targetRevision", "main")
                        .with("path", path.as_str()),
                )
                .with(
                    "destination",
                    Yaml::map()
                        .with("server", "https://kubernetes.default.svc")
                        .with("namespace", ns.as_str()),
                )
                .with(
                    "syncPolicy",
                    Yaml::map()
                        .with(
                            "automated",
                            Yaml::map().with("prune", true).with("selfHeal", true),
                        )
                        .with(
                            "syncOptions",
                            vec!["CreateNamespace=true", "PruneLast=true"],
                        ),
                ),
        );
    let repo = Yaml::map()
        .with("apiVersion", "source.toolkit.fluxcd.io/v1")
        .with("kind", "GitRepository")
        .with(
            "metadata",
            Yaml::map()
                .with("name", inst.as_str())
                .with("namespace", "flux-system"),
        )
        .with(
            "spec",
            Yaml::map()
                .with("interval", "5m")
                .with("url", REPO_PLACEHOLDER)
                .with("ref", Yaml::map().with("branch", "main")),
        );
    let ks = Yaml::map()
        .with("apiVersion", "kustomize.toolkit.fluxcd.io/v1")
        .with("kind", "Kustomization")
        .with(
            "metadata",
            Yaml::map()
                .with("name", inst.as_str())
                .with("namespace", "flux-system"),
        )
        .with(
            "spec",
            Yaml::map()
                .with("interval", "10m")
                .with("retryInterval", "2m")
                .with("timeout", "10m")
                .with(
                    "sourceRef",
                    Yaml::map()
                        .with("kind", "GitRepository")
                        .with("name", inst.as_str()),
                )
                .with("path", path.as_str())
                .with("prune", true)
                .with("wait", true)
                .with("targetNamespace", ns.as_str()),
        );
    let target = |kind: &str, name: &str, paths: Vec<&str>| {
        Yaml::map()
            .with("select", Yaml::map().with("kind", kind).with("name", name))
            .with("fieldPaths", Yaml::from(paths))
    };
    let replacement = |key: &str, targets: Vec<Yaml>| {
        Yaml::map()
            .with(
                "source",
                Yaml::map()
                    .with("kind", "ConfigMap")
                    .with("name", "gitops-params")
                    .with("fieldPath", format!("data.{key}")),
            )
            .with("targets", Yaml::Seq(targets))
    };
    let kz = Yaml::map()
        .with("apiVersion", KUSTOMIZE_API)
        .with("kind", "Kustomization")
        .with(
            "resources",
            vec![
                "argocd-application.yaml",
                "flux-gitrepository.yaml",
                "flux-kustomization.yaml",
            ],
        )
        .with(
            "configMapGenerator",
            Yaml::Seq(vec![
                Yaml::map()
                    .with("name", "gitops-params")
                    .with(
                        "literals",
                        vec![
                            format!("repoURL={REPO_PLACEHOLDER}"),
                            "revision=main".to_string(),
                            format!("path={path}"),
                        ],
                    )
                    .with(
                        "options",
                        Yaml::map().with("disableNameSuffixHash", true).with(
                            "annotations",
                            Yaml::map().with("config.kubernetes.io/local-config", "true"),
                        ),
                    ),
            ]),
        )
        .with(
            "replacements",
            Yaml::Seq(vec![
                replacement(
                    "repoURL",
                    vec![
                        target("Application", &inst, vec!["spec.source.repoURL"]),
                        target("GitRepository", &inst, vec!["spec.url"]),
                    ],
                ),
                replacement(
                    "revision",
                    vec![
                        target("Application", &inst, vec!["spec.source.targetRevision"]),
                        target("GitRepository", &inst, vec!["spec.ref.branch"]),
                    ],
                ),
                replacement(
                    "path",
                    vec![
                        target("Application", &inst, vec!["spec.source.path"]),
                        target("Kustomization", &inst, vec!["spec.path"]),
                    ],
                ),
            ]),
        );
    let head = format!(
        "{GENERATED}# GitOps wiring of profile `{p}`: set repoURL, revision (a branch) and path below, then\n# `kubectl apply -k` this directory (the params ConfigMap is local-config and never applied).\n"
    );
    t.insert("gitops/kustomization.yaml".into(), doc_file(&head, &kz));
    t.insert(
        "gitops/argocd-application.yaml".into(),
        doc_file(GENERATED, &app),
    );
    t.insert(
        "gitops/flux-gitrepository.yaml".into(),
        doc_file(GENERATED, &repo),
    );
    t.insert(
        "gitops/flux-kustomization.yaml".into(),
        doc_file(GENERATED, &ks),
    );
}

fn md(s: &str) -> String {
    crate::targets::compose::md_cell(s)
}

fn secret_command(m: &Model) -> String {
    let ns = namespace(m);
    let mut out = format!(
        "kubectl create namespace {ns}\nkubectl --namespace {ns} create secret generic {}",
        secret_name(m)
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

fn overlay_readme(base: &Model, m: &Model, added: &[Obj], patches: &[Patch]) -> String {
    let p = m.profile_or_base();
    let n = &m.app.name;
    let mut out = format!(
        "# {n} {} — Kustomize overlay `{p}`\n\nGenerated by luciac from `lucia.kdl` and `profiles/{p}.kdl`. Do not edit; change the declaration and rebuild.\n\n",
        m.app.version
    );
    out.push_str(&format!(
        "## Deploy\n\n```sh\n{}\nkubectl apply -k .\n```\n\nOr point Argo CD / Flux at this directory: see `../../gitops/`.\n\n",
        secret_command(m)
    ));
    out.push_str(&format!(
        "## Secrets\n\nNothing secret is in the repository. The pods read the Secret `{}` (namespace `{}`), which you\ncreate (above) or manage with SOPS, Sealed Secrets or External Secrets under that name:\n\n| Secret key | Env key | Required |\n|---|---|---|\n",
        secret_name(m),
        namespace(m)
    ));
    for s in &m.secrets {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            s.name,
            s.keys
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if s.optional { "no" } else { "yes" }
        ));
    }
    out.push_str("\nAfter changing the Secret, run `kubectl rollout restart deployment` (the pods do not watch it).\n\n");
    let generated = generated_params(m);
    out.push_str(&format!(
        "## Params\n\nParams that reach the app's environment are the `configMapGenerator` `{}` in `kustomization.yaml`\n(`behavior: merge` over the base's). Edit a `literals` line (`name=value`, taken verbatim) and\nre-apply: the ConfigMap's name carries a hash of its content, so the pods roll by themselves.\nPublished ports and values built from several parts are resolved at build time; the profile's\nchanges to them are patches (below).\n\n| Param | Base default | This profile | Where it lands |\n|---|---|---|---|\n",
        params_name(m)
    ));
    for prm in &m.params {
        let base_default = base
            .param(&prm.name)
            .map(|b| format!("`{}`", md(&b.default)))
            .unwrap_or_else(|| "—".into());
        let lands = if generated.iter().any(|g| g.name == prm.name) {
            format!("`{}` key `{}`", params_name(m), prm.name)
        } else {
            "resolved into the objects".to_string()
        };
        out.push_str(&format!(
            "| `{}` | {base_default} | `{}` | {lands} |\n",
            prm.name,
            md(&prm.default)
        ));
    }
    out.push_str("\n## Images\n\nPinned by the `images:` transformer (digest where the declaration has one):\n\n");
    for i in &m.images {
        out.push_str(&format!("- `{}`: `{}`\n", i.name, i.pinned()));
    }
    out.push_str("\n## What this profile changes\n\n");
    if added.is_empty() && patches.is_empty() {
        out.push_str("Nothing beyond the namespace, images and params above.\n");
    }
    for o in added {
        out.push_str(&format!("- adds {} `{}` (`{}`)\n", o.kind, o.name, o.file));
    }
    for x in patches {
        if x.delete {
            out.push_str(&format!(
                "- removes {} `{}` (`{}`)\n",
                x.kind, x.name, x.file
            ));
        } else {
            out.push_str(&format!(
                "- patches {} `{}` (`{}`): {}\n",
                x.kind,
                x.name,
                x.file,
                x.ops
                    .iter()
                    .filter(|o| o["op"] != "test")
                    .map(|o| format!("`{}`", o["path"].as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    out
}

fn readme(m: &Model) -> String {
    let p = m.profile_or_base();
    let n = &m.app.name;
    let mut out = format!(
        "# {n} {} — Kustomize\n\n{}\n\nGenerated by luciac from `lucia.kdl`. Do not edit; change the declaration and rebuild.\n\n",
        m.app.version, m.app.description
    );
    out.push_str(&format!(
        "## Layout\n\n- `base/`: the objects of `lucia.kdl` alone (no namespace, no secrets, params at their base\n  defaults). `kubectl kustomize base` builds on its own.\n- `overlays/{p}/`: only what profile `{p}` changes: namespace, pinned images, params, added\n  objects and patches. Deploy this one (`kubectl apply -k overlays/{p}`); its README lists everything.\n- `gitops/`: Argo CD `Application` and Flux `GitRepository` + `Kustomization` pointing at\n  `bundles/{p}/{DIR}/overlays/{p}`.\n\nThe objects are the ones the Helm chart renders for the same profile (same names, labels,\nselectors, probes, security contexts, NetworkPolicies); the test suite compares them.\n\n"
    ));
    out.push_str(&format!(
        "## GitOps\n\nEdit the `gitops-params` literals in `gitops/kustomization.yaml`:\n\n| Literal | Meaning | Default |\n|---|---|---|\n| `repoURL` | Git repository holding `bundles/` | `{REPO_PLACEHOLDER}` (replace it) |\n| `revision` | Branch to follow (Argo CD `targetRevision`, Flux `ref.branch`) | `main` |\n| `path` | The overlay inside the repository | `bundles/{p}/{DIR}/overlays/{p}` |\n\nThen apply the wiring (the params ConfigMap is `local-config`, never sent to the cluster):\n\n```sh\nkubectl apply -k gitops/   # needs the Argo CD and/or Flux CRDs; delete the file of the tool you do not run\n```\n\nArgo CD: automated sync with prune and self-heal, `CreateNamespace=true`, `PruneLast=true` (old\nhashed ConfigMaps are pruned last). Flux: `prune: true`, `wait: true`, `targetNamespace`.\nPersistentVolumeClaims carry `argocd.argoproj.io/sync-options: Prune=false` and\n`kustomize.toolkit.fluxcd.io/prune: disabled`: data is never pruned. Create the Secret named in the\noverlay README before the first sync. No Flux `postBuild` substitution is used, so `${{…}}` in\nvalues is never expanded.\n\n"
    ));
    out.push_str("## Security scan (checkov) exceptions\n\nThe same as the Helm chart's: `CKV_K8S_15` (pull policy Always; pin digests instead),\n`CKV_K8S_35` (secrets as env: the app reads only its environment), `CKV_K8S_21` (the base has no\nnamespace by design), `CKV_K8S_11` (CPU limits only where declared), `CKV2_K8S_6` when the profile\nturns NetworkPolicy off, `CKV_K8S_43` while images have no digest, `CKV_K8S_40` for images that\nown their files as a UID below 10000.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_survive_kustomizes_quote_stripping() {
        assert_eq!(literal("a", "x"), "a=x");
        assert_eq!(literal("a", "'q'"), "a=\"'q'\"");
        assert_eq!(literal("a", "\"q\""), "a=\"\"q\"\"");
        assert_eq!(literal("a", "\""), "a=\"");
        assert_eq!(literal("a", "'x\""), "a='x\"");
        assert_eq!(literal("a", "k=v"), "a=k=v");
    }

    #[test]
    fn diff_is_minimal_and_guards_named_list_items() {
        let a = Yaml::map().with(
            "c",
            Yaml::Seq(vec![
                Yaml::map()
                    .with("name", "x")
                    .with("r", Yaml::map().with("m", "1").with("gone", "g")),
            ]),
        );
        let b = Yaml::map()
            .with(
                "c",
                Yaml::Seq(vec![
                    Yaml::map()
                        .with("name", "x")
                        .with("r", Yaml::map().with("m", "2")),
                ]),
            )
            .with("a/b~c", true);
        let mut ops = Vec::new();
        diff("", &a, &b, &mut ops);
        let ops: Vec<serde_json::Value> = ops.iter().map(to_json).collect();
        assert_eq!(
            ops,
            vec![
                serde_json::json!({"op": "test", "path": "/c/0/name", "value": "x"}),
                serde_json::json!({"op": "replace", "path": "/c/0/r/m", "value": "2"}),
                serde_json::json!({"op": "remove", "path": "/c/0/r/gone"}),
                serde_json::json!({"op": "add", "path": "/a~1b~0c", "value": true}),
            ]
        );
        let mut none = Vec::new();
        diff("", &a, &a, &mut none);
        assert!(none.is_empty());
    }
}
