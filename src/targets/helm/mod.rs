//! Helm target: a chart `.tgz` in Helm's own layout plus the profile's values file.
//!
//! Choices a reviewer should know:
//! - **Profiles.** Everything in the chart but `values.yaml` (Chart.yaml, templates, schema,
//!   README) is generated from the model's structure only (services, ports, env keys,
//!   volumes, health checks), never from values a profile changes. So [`lower_with_base`]
//!   ships the base declaration's chart in every profile's bundle (the same bytes) and puts
//!   every value the profile changes into `values-<profile>.yaml`, for `helm -f`, Flux
//!   `valuesFrom` or Argo CD `valueFiles`; a test renders both ways and compares. A profile
//!   that changes the structure gets its own chart with the profile's defaults.
//! - **Declared text never becomes template text.** Every literal from the declaration that
//!   lands in a template is a Go string literal (with `{` and `}` escaped as `\u007b`/`\u007d`)
//!   piped through `quote`, or plain double-quoted YAML when it holds nothing that Go
//!   templates or YAML would read. Values files are emitted by `yaml::to_string`, which
//!   quotes YAML 1.1 specials.
//! - **Secrets** never enter the chart. Each env key that reads a secret is a `secretKeyRef`
//!   into `secrets.existingSecret` (key names configurable under `secrets.keys`), or into a
//!   Secret the chart creates only from `secrets.values` given at install time. No
//!   `randAlphaNum`, no `lookup`: `helm template` (Argo CD, Flux) renders the same bytes.
//! - Every service is a `Deployment` with `strategy: Recreate` (singletons and services with
//!   `ReadWriteOnce` volumes must never run twice) plus one PVC per volume
//!   (`existingClaim` supported, `helm.sh/resource-policy: keep`).

mod values;

use std::sync::OnceLock;

use serde_json::json;

use crate::diag::{self, Diag};
use crate::model::{Model, ParamInfo, ParamKind, SecretInfo, ServiceInfo};
use crate::pack::{self, FileTree, Order};
use crate::targets::k8s::{self, container_security, pod_security, resources, web};
use crate::targets::{Artifact, Layout};
use crate::yaml::{self, Yaml};
use values::{Entry, leaf, node};

mod gitops;
mod render;
mod templates;

use crate::targets::markdown::{self, Table, notes_section};
use gitops::add_unpacked;
use templates::Tpl;

/// Top-level values keys the chart itself uses; a service's values live under its own name.
const RESERVED_KEYS: &[&str] = &[
    "global",
    "nameOverride",
    "fullnameOverride",
    "params",
    "secrets",
    "serviceAccount",
    "service",
    "ingress",
    "networkPolicy",
    "persistence",
];

/// What the Helm target produces: the packaged chart, and the plain files beside it (the
/// profile's values file, then the unpacked chart and the GitOps manifests).
#[derive(Debug)]
pub struct HelmOutput {
    pub chart: Artifact,
    pub files: Artifact,
}

impl HelmOutput {
    pub fn into_artifacts(self) -> Vec<Artifact> {
        vec![self.chart, self.files]
    }
}

/// Lower a profile with its base: when the profile changes only values (not the chart's
/// structure), the chart is the base declaration's, byte-identical for every profile, and
/// `values-<profile>.yaml` carries every value the profile changes. The base's chart is
/// built once in `shared` when there is one (every profile of a run uses the same).
pub fn lower_with_base(
    base: &Model,
    model: &Model,
    shared: Option<&OnceLock<Option<HelmOutput>>>,
    diags: &mut Vec<Diag>,
) -> Vec<Artifact> {
    // The profile's own chart is first built without its values: they are only written when
    // its structure differs from the base's.
    let Some((mut out, tree)) = structure(model, diags) else {
        return Vec::new();
    };
    let mut own = None;
    let base_out = if base == model {
        None
    } else {
        crate::targets::shared_or_own(shared, &mut own, || build(base, &mut Vec::new())).as_ref()
    };
    match base_out {
        Some(b) if same_structure(&b.chart, &out.chart) => {
            let text = profile_values_over(model, &tree, Some(&values_tree(base)));
            out.chart = b.chart.clone();
            out.files.tree.insert(
                format!("values-{}.yaml", model.profile_or_base()),
                pack::text(text),
            );
        }
        _ => add_values(model, &tree, &mut out),
    }
    add_unpacked(model, &mut out);
    out.into_artifacts()
}

/// Two charts that differ at most in `values.yaml` (which either may not have yet).
fn same_structure(a: &Artifact, b: &Artifact) -> bool {
    fn others(t: &FileTree) -> impl Iterator<Item = (&String, &pack::File)> {
        t.iter().filter(|(k, _)| k.as_str() != "values.yaml")
    }
    a.path == b.path && others(&a.tree).eq(others(&b.tree))
}

/// The chart and its values file for one model, on its own (no unpacked chart, no GitOps).
pub fn lower(model: &Model, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    build(model, diags)
        .map(HelmOutput::into_artifacts)
        .unwrap_or_default()
}

fn build(model: &Model, diags: &mut Vec<Diag>) -> Option<HelmOutput> {
    let (mut out, tree) = structure(model, diags)?;
    add_values(model, &tree, &mut out);
    Some(out)
}

/// The chart's `values.yaml` and the profile's values file.
fn add_values(model: &Model, tree: &[Entry], out: &mut HelmOutput) {
    let mut vals = String::from("# yaml-language-server: $schema=values.schema.json\n");
    vals.push_str(&format!(
        "# Default values of the {} chart, generated by luciac from {} (profile: {}).\n# Do not edit: change the declaration and rebuild.\n\n",
        model.app.name,
        model.source_file,
        model.profile_or_base()
    ));
    values::emit(tree, 0, &mut vals);
    out.chart
        .tree
        .insert("values.yaml".into(), pack::text(vals));
    out.files.tree.insert(
        format!("values-{}.yaml", model.profile_or_base()),
        pack::text(profile_values(model, tree)),
    );
}

/// The chart without its values (`values.yaml`, the profile's values file), and the values
/// tree they are written from.
fn structure(model: &Model, diags: &mut Vec<Diag>) -> Option<(HelmOutput, Vec<Entry>)> {
    let mut clash = false;
    for s in &model.services {
        let key = camel(&s.name);
        if RESERVED_KEYS.contains(&key.as_str()) || s.name == "test" {
            diags.push(
                Diag::error(
                    diag::RESERVED_NAME,
                    format!("the Helm chart cannot name a service `{}`", s.name),
                )
                .label(
                    s.span,
                    "clashes with the chart's own values or object names",
                )
                .help(format!(
                    "rename the service; the chart reserves {} and `test`",
                    RESERVED_KEYS.join(", ")
                )),
            );
            clash = true;
        }
    }
    if !k8s::check_host_access(model, diags) || clash {
        return None;
    }
    let name = model.app.name.clone();
    let tree = values_tree(model);
    let mut chart = FileTree::new();
    chart.insert("Chart.yaml".into(), pack::text(chart_yaml(model)));
    chart.insert(
        "values.schema.json".into(),
        pack::text(values::schema_document(
            &format!("{name} chart values"),
            &tree,
        )),
    );
    chart.insert(".helmignore".into(), pack::text(include_str!("helmignore")));
    chart.insert("README.md".into(), pack::text(readme(model)));
    let t = Tpl::new(model);
    chart.insert("templates/_helpers.tpl".into(), pack::text(t.helpers()));
    chart.insert("templates/NOTES.txt".into(), pack::text(t.notes()));
    chart.insert(
        "templates/serviceaccount.yaml".into(),
        pack::text(t.service_account()),
    );
    if !model.secrets.is_empty() {
        chart.insert("templates/secret.yaml".into(), pack::text(t.secret()));
    }
    for s in &model.services {
        chart.insert(
            format!("templates/{}-deployment.yaml", s.name),
            pack::text(t.deployment(s)),
        );
        if !s.ports.is_empty() {
            chart.insert(
                format!("templates/{}-service.yaml", s.name),
                pack::text(t.service(s)),
            );
        }
        if !s.configs.is_empty() {
            chart.insert(
                format!("templates/{}-configmap.yaml", s.name),
                pack::text(t.config_map(s)),
            );
        }
        for v in &s.volumes {
            chart.insert(
                format!("templates/{}-{}-pvc.yaml", s.name, v.name),
                pack::text(t.pvc(s, v)),
            );
        }
        chart.insert(
            format!("templates/{}-networkpolicy.yaml", s.name),
            pack::text(t.network_policy(s)),
        );
    }
    if web(model).is_some() {
        chart.insert("templates/ingress.yaml".into(), pack::text(t.ingress()));
    }
    if let Some(test) = t.test_pod() {
        chart.insert(
            "templates/tests/test-connection.yaml".into(),
            pack::text(test),
        );
        chart.insert(
            "templates/test-networkpolicy.yaml".into(),
            pack::text(t.test_network_policy()),
        );
    }
    let out = HelmOutput {
        chart: Artifact {
            target: crate::targets::Target::Helm,
            path: format!("{name}-{}.tgz", model.app.version),
            layout: Layout::TarGz {
                top: name.clone(),
                order: Order::Helm,
            },
            tree: chart,
        },
        files: Artifact {
            target: crate::targets::Target::Helm,
            path: String::new(),
            layout: Layout::Files,
            tree: FileTree::new(),
        },
    };
    Some((out, tree))
}

/// `ha-url` → `haUrl`: values keys are camelCase (Helm convention).
pub fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in name.chars() {
        if c == '-' || c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A Go template string literal for any text: JSON-style escapes (valid Go), plus `{`/`}` as
/// `\u007b`/`\u007d` so no delimiter can ever appear, and controls as `\U…`.
pub fn go_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '{' => out.push_str("\\u007b"),
            '}' => out.push_str("\\u007d"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{feff}' => {
                out.push_str(&format!("\\U{:08x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text that may stand in template text as it is: printable ASCII without quotes, backslashes
/// and braces (no template action can start, and no quoting rule but YAML's applies).
pub(crate) fn yaml_safe(s: &str) -> bool {
    s.chars()
        .all(|c| (' '..='~').contains(&c) && !"\"\\{}".contains(c))
}

/// A YAML scalar (in template text) that arrives as exactly `s`: plain double quotes when
/// the text is printable ASCII without `"`, `\`, `{`, `}`; otherwise a quoted Go literal.
pub fn yq(s: &str) -> String {
    if yaml_safe(s) {
        format!("\"{s}\"")
    } else {
        format!("{{{{ {} | quote }}}}", go_str(s))
    }
}

fn param_value(p: &ParamInfo) -> Yaml {
    match p.kind {
        ParamKind::Int { .. } | ParamKind::Port => p
            .default
            .parse::<i64>()
            .map(Yaml::Int)
            .unwrap_or_else(|_| Yaml::Str(p.default.clone())),
        ParamKind::Bool => match p.default.as_str() {
            "true" => Yaml::Bool(true),
            "false" => Yaml::Bool(false),
            other => Yaml::Str(other.to_string()),
        },
        _ => Yaml::Str(p.default.clone()),
    }
}

fn param_schema(p: &ParamInfo) -> serde_json::Value {
    match p.kind {
        ParamKind::String => json!({}),
        ParamKind::Url => json!({ "format": "uri", "minLength": 1 }),
        ParamKind::Enum => json!({ "enum": p.one_of }),
        ParamKind::Int { min, max } => {
            let mut m = serde_json::Map::new();
            if let Some(a) = min.and_then(|a| i64::try_from(a).ok()) {
                m.insert("minimum".into(), json!(a));
            }
            if let Some(b) = max.and_then(|b| i64::try_from(b).ok()) {
                m.insert("maximum".into(), json!(b));
            }
            serde_json::Value::Object(m)
        }
        ParamKind::Port => json!({ "minimum": 1, "maximum": 65535 }),
        ParamKind::Bool => json!({}),
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\^$.|?*+()[]{}/-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn secret_schema(s: &SecretInfo) -> serde_json::Value {
    let mut given = serde_json::Map::new();
    if let Some(m) = s.min_length {
        given.insert("minLength".into(), json!(m));
    }
    if let Some(p) = &s.prefix {
        given.insert("pattern".into(), json!(format!("^{}", regex_escape(p))));
    }
    if given.is_empty() {
        json!({})
    } else {
        json!({ "anyOf": [{ "maxLength": 0 }, given] })
    }
}

const DIGEST_PATTERN: &str = "^(sha256:[a-f0-9]{64})?$";

fn service_values(model: &Model, s: &ServiceInfo) -> Entry {
    let img = &s.image;
    let mut children = vec![
        node(
            "image",
            format!("Container image of {} (declared as {}).", s.name, img.reference),
            vec![
                leaf("repository", "Registry and repository, without tag or digest.", img.repository.as_str()).schema(json!({ "minLength": 1 })),
                leaf("tag", "Image tag; empty uses the digest (or `latest`, which you should not).", img.tag.clone().unwrap_or_default()),
                leaf("digest", "`sha256:…` digest; when set it pins the image whatever the tag says.", img.digest.clone().unwrap_or_default())
                    .schema(json!({ "pattern": DIGEST_PATTERN })),
                leaf("pullPolicy", "Image pull policy. IfNotPresent suits offline clusters; a digest cannot be retagged.", "IfNotPresent")
                    .schema(json!({ "enum": ["IfNotPresent", "Always", "Never"] })),
            ],
        ),
        leaf("resources", "CPU and memory requests and limits (from the declaration).", resources(s)),
        leaf("podSecurityContext", "Pod security context (Pod Security Standards \"restricted\").", pod_security(s)),
        leaf("containerSecurityContext", "Container security context (Pod Security Standards \"restricted\").", container_security(s)),
    ];
    if !s.writable.is_empty() {
        children.push(leaf(
            "emptyDirSizeLimit",
            "Size limit of each writable emptyDir (the declaration's `writable` paths).",
            k8s::EMPTY_DIR_SIZE_LIMIT,
        ));
    }
    if !s.volumes.is_empty() {
        let vols = s
            .volumes
            .iter()
            .map(|v| {
                node(
                    &camel(&v.name),
                    format!("Volume `{}` mounted at {}.", v.name, v.path),
                    vec![
                        leaf(
                            "size",
                            "Requested size of the PersistentVolumeClaim.",
                            v.size_text.clone().unwrap_or_else(|| "1Gi".into()),
                        )
                        .schema(json!({ "minLength": 1 })),
                        leaf(
                            "existingClaim",
                            "Use this existing PersistentVolumeClaim instead of creating one.",
                            "",
                        ),
                    ],
                )
            })
            .collect();
        children.push(node(
            "persistence",
            format!("Persistent volumes of {}.", s.name),
            vols,
        ));
    }
    children.push(
        leaf("podAnnotations", "Extra pod annotations.", Yaml::map())
            .schema(json!({ "additionalProperties": { "type": "string" } })),
    );
    children.push(leaf(
        "nodeSelector",
        "Node selector for the pod.",
        Yaml::map(),
    ));
    children.push(leaf(
        "tolerations",
        "Tolerations for the pod.",
        Yaml::Seq(vec![]),
    ));
    children.push(leaf("affinity", "Affinity rules for the pod.", Yaml::map()));
    let what = if s.singleton {
        " (a singleton: always one replica)"
    } else {
        ""
    };
    let _ = model;
    node(
        &camel(&s.name),
        format!("Service `{}`{what}.", s.name),
        children,
    )
}

fn values_tree(model: &Model) -> Vec<Entry> {
    let h = &model.targets.kubernetes;
    let mut tree = vec![
        leaf(
            "global",
            "Global values shared with parent charts (Helm injects this key).",
            Yaml::map(),
        ),
        leaf(
            "nameOverride",
            "Replaces the chart name in object names.",
            "",
        ),
        leaf(
            "fullnameOverride",
            "Replaces the full `<release>-<chart>` prefix of object names.",
            "",
        ),
    ];
    let params: Vec<Entry> = model
        .params
        .iter()
        .map(|p| {
            let mut doc = p.description.clone();
            if doc.trim().is_empty() {
                doc = format!("Param `{}`.", p.name);
            }
            leaf(&camel(&p.name), doc, param_value(p)).schema(param_schema(p))
        })
        .collect();
    tree.push(node(
        "params",
        format!(
            "Install-time settings declared as `param` in {}.",
            model.source_file
        ),
        params,
    ));
    if !model.secrets.is_empty() {
        let keys = model
            .secrets
            .iter()
            .map(|s| {
                leaf(
                    &camel(&s.name),
                    format!("Key of `{}` in the Secret.", s.name),
                    s.name.as_str(),
                )
                .schema(json!({ "minLength": 1 }))
            })
            .collect();
        let vals = model
            .secrets
            .iter()
            .map(|s| {
                let req = if s.optional { "optional" } else { "required" };
                leaf(
                    &camel(&s.name),
                    format!(
                        "{} ({req}; only used when existingSecret is empty).",
                        s.description
                            .lines()
                            .next()
                            .unwrap_or("")
                            .trim_end_matches('.')
                    ),
                    "",
                )
                .schema(secret_schema(s))
            })
            .collect();
        tree.push(node(
            "secrets",
            "Secrets never ship in the chart. Point existingSecret at a Secret you manage (primary path),\nor leave it empty and pass secrets.values at install time so the chart creates one.",
            vec![
                leaf("existingSecret", "Name of an existing Secret holding the keys below; empty = `<fullname>-secrets`.", ""),
                node("keys", "Key names inside the Secret.", keys),
                node("values", "Secret values given at install time (--set / a private values file); never commit them.", vals),
            ],
        ));
    }
    tree.push(node(
        "serviceAccount",
        "The pods' dedicated ServiceAccount (no API token is mounted; the app never calls the Kubernetes API).",
        vec![
            leaf("create", "Create the ServiceAccount.", true),
            leaf("name", "Its name; empty = the full name of the release.", ""),
            leaf("annotations", "Annotations of the ServiceAccount.", Yaml::map()),
        ],
    ));
    tree.push(node(
        "service",
        "Services of the components that publish ports (the others are always ClusterIP).",
        vec![leaf("type", "Service type: ClusterIP, or LoadBalancer (k3s ServiceLB) to publish the ports on the nodes.", "ClusterIP")
            .schema(json!({ "enum": ["ClusterIP", "LoadBalancer", "NodePort"] }))],
    ));
    if web(model).is_some() {
        tree.push(node(
            "ingress",
            "Ingress (networking.k8s.io/v1) to the web UI and API.",
            vec![
                leaf("enabled", "Create the Ingress.", h.ingress_host.is_some()),
                leaf("className", "IngressClass name; empty = the cluster default (k3s: traefik, microk8s: public).", h.ingress_class.clone().unwrap_or_default()),
                leaf("host", "Host name the Ingress answers (required when enabled).", h.ingress_host.clone().unwrap_or_default()),
                leaf("annotations", "Ingress annotations (e.g. cert-manager.io/cluster-issuer).", Yaml::map()),
                node(
                    "tls",
                    "TLS for the host.",
                    vec![
                        leaf("enabled", "Terminate TLS at the Ingress.", h.ingress_tls),
                        leaf("secretName", "TLS Secret; empty = `<fullname>-tls`. Nothing in the chart creates it: create it, or let cert-manager do so through an annotation.", h.ingress_tls_secret.clone().unwrap_or_default()),
                    ],
                ),
            ],
        ));
    }
    tree.push(node(
        "networkPolicy",
        "NetworkPolicies: each internal service accepts traffic only from the services that depend on it.",
        vec![leaf("enabled", "Create the NetworkPolicies (enforced by k3s out of the box; ignored by flannel-only clusters).", h.network_policy)],
    ));
    tree.push(node(
        "persistence",
        "Settings shared by every PersistentVolumeClaim.",
        vec![leaf("storageClass", "StorageClass; empty = the cluster default, `-` = storageClassName \"\" (no dynamic provisioning).", h.storage_class.clone().unwrap_or_default())],
    ));
    for s in &model.services {
        tree.push(service_values(model, s));
    }
    tree
}

/// The keys a profile sets, as a values file of their own.
fn profile_values(model: &Model, tree: &[Entry]) -> String {
    profile_values_over(model, tree, None)
}

/// The leaves of `p` whose value differs from (or is missing in) `b`.
fn changed(p: &[Entry], b: &[Entry]) -> Vec<Entry> {
    let mut out = Vec::new();
    for e in p {
        match (b.iter().find(|x| x.key == e.key), &e.val) {
            (None, _) => out.push(e.clone()),
            (Some(be), values::Val::Node(children)) => {
                if let values::Val::Node(bc) = &be.val {
                    let kept = changed(children, bc);
                    if !kept.is_empty() {
                        out.push(Entry {
                            val: values::Val::Node(kept),
                            ..e.clone()
                        });
                    }
                } else {
                    out.push(e.clone());
                }
            }
            (Some(be), values::Val::Leaf(v)) => {
                if !matches!(&be.val, values::Val::Leaf(bv) if bv == v) {
                    out.push(e.clone());
                }
            }
        }
    }
    out
}

/// `a` with the entries of `extra` merged in by key (nodes recursively), in `full`'s order.
fn union(a: &[Entry], extra: &[Entry], full: &[Entry]) -> Vec<Entry> {
    let mut out = Vec::new();
    for f in full {
        let x = a.iter().find(|e| e.key == f.key);
        let y = extra.iter().find(|e| e.key == f.key);
        match (x, y) {
            (None, None) => {}
            (Some(e), None) | (None, Some(e)) => out.push(e.clone()),
            (Some(e), Some(g)) => match (&e.val, &g.val, &f.val) {
                (values::Val::Node(ec), values::Val::Node(gc), values::Val::Node(fc)) => {
                    out.push(Entry {
                        val: values::Val::Node(union(ec, gc, fc)),
                        ..f.clone()
                    })
                }
                _ => out.push(f.clone()),
            },
        }
    }
    out
}

/// The profile's values file: the keys a profile usually sets (params, resources,
/// persistence, ingress, NetworkPolicy) plus, when the chart next to it carries the base's
/// defaults (`base` is given), every other value the profile changes.
fn profile_values_over(model: &Model, tree: &[Entry], base: Option<&Vec<Entry>>) -> String {
    let mut subset = Vec::new();
    let services: Vec<String> = model.services.iter().map(|s| camel(&s.name)).collect();
    for e in tree {
        if ["params", "ingress", "networkPolicy", "persistence"].contains(&e.key.as_str()) {
            subset.push(e.clone());
        } else if services.contains(&e.key)
            && let values::Val::Node(children) = &e.val
        {
            let keep: Vec<Entry> = children
                .iter()
                .filter(|c| c.key == "resources" || c.key == "persistence")
                .cloned()
                .collect();
            subset.push(Entry {
                val: values::Val::Node(keep),
                ..e.clone()
            });
        }
    }
    let chart = match base {
        None => {
            "The chart next to this file already defaults to them; pass this file explicitly (helm -f,\n# Flux valuesFrom, Argo CD valueFiles) to pin the profile."
        }
        Some(_) => {
            "The chart next to this file is the same for every profile and defaults to @FILE@ alone:\n# pass this file (helm -f, Flux valuesFrom, Argo CD valueFiles) to deploy the profile."
        }
    }
    .replace("@FILE@", &model.source_file);
    let mut out = format!(
        "# Values of the `{p}` profile, generated by luciac from {f} and profiles/{p}.kdl.\n# {chart} Secrets never go here.\n# Install: helm install {n} ./{n}-{v}.tgz --namespace {ns} -f values-{p}.yaml\n\n",
        p = model.profile_or_base(),
        f = model.source_file,
        n = model.app.name,
        v = model.app.version,
        ns = model
            .targets
            .kubernetes
            .namespace
            .as_deref()
            .unwrap_or(&model.app.name),
    );
    if let Some(b) = base {
        subset = union(&subset, &changed(tree, b), tree);
    }
    values::emit(&subset, 0, &mut out);
    out
}

fn chart_yaml(model: &Model) -> String {
    let app = &model.app;
    let mut doc = Yaml::map()
        .with("apiVersion", "v2")
        .with("name", app.name.as_str())
        .with("description", app.description.as_str())
        .with("type", "application")
        .with("version", app.version.as_str())
        .with("appVersion", app.version.as_str())
        .with("kubeVersion", ">=1.25.0-0");
    if let Some(h) = &app.home {
        doc.insert("home", h.as_str());
    }
    if !app.sources.is_empty() {
        doc.insert("sources", app.sources.clone());
    }
    if !app.keywords.is_empty() {
        doc.insert("keywords", app.keywords.clone());
    }
    let maintainers: Vec<Yaml> = if app.maintainers.is_empty() {
        vec![
            Yaml::map()
                .with("name", app.name.as_str())
                .with_opt("url", app.home.as_deref()),
        ]
    } else {
        app.maintainers
            .iter()
            .map(|(n, email, url)| {
                Yaml::map()
                    .with("name", n.as_str())
                    .with_opt("email", email.as_deref())
                    .with_opt("url", url.as_deref())
            })
            .collect()
    };
    doc.insert("maintainers", Yaml::Seq(maintainers));
    // Nothing profile-specific here: two profiles' charts differ only in values.yaml.
    format!(
        "# Generated by luciac from {}. Do not edit: change the declaration and rebuild.\n{}",
        model.source_file,
        yaml::to_string(&doc)
    )
}

/// The chart's README: `readme.md` beside this module, filled from the model.
fn readme(model: &Model) -> String {
    let app = &model.app;
    let n = &app.name;
    let mut params = Table::new(&["Value", "Type", "Description"]);
    for prm in &model.params {
        params.row(&[
            format!("`params.{}`", camel(&prm.name)),
            markdown::cell(&markdown::param_type(prm)),
            markdown::cell(&prm.description),
        ]);
    }
    let notes = notes_section(model, "helm");
    let notes = if notes.is_empty() {
        notes
    } else {
        format!("\n{notes}")
    };
    let mut exceptions = String::new();
    if model.images.iter().any(|i| i.digest.is_none()) {
        exceptions.push_str("- `CKV_K8S_43` (image by digest): some images are not pinned yet (luciac warns; `--locked`\n  refuses): run `luciac lock` next to the declaration and rebuild, or set `<service>.image.digest`.\n");
    }
    let mut low: Vec<u32> = model
        .services
        .iter()
        .filter_map(|s| s.uid)
        .filter(|u| *u < 10000)
        .collect();
    low.sort_unstable();
    low.dedup();
    if !low.is_empty() {
        let uids: Vec<String> = low.iter().map(u32::to_string).collect();
        exceptions.push_str(&format!("- `CKV_K8S_40` (UID >= 10000): the images own their files as their declared UID ({}).\n", uids.join(", ")));
    }
    // Profile-independent on purpose: values-<profile>.yaml names the profile's namespace, so
    // the commands install into a namespace named after the app.
    crate::targets::text::fill_closing(
        include_str!("readme.md"),
        &[
            ("NAME", n),
            ("VERSION", &app.version),
            ("DESCRIPTION", &app.description),
            ("SOURCE", &model.source_file),
            (
                "SECRETCOMMAND",
                &k8s::create_secret_command(model, n, &format!("{n}-secrets")),
            ),
            ("SECRETKEYS", &markdown::secret_keys(model)),
            ("PARAMS", &params.finish()),
            ("NOTES", &notes),
            ("EXCEPTIONS", &exceptions),
            (
                "PRIVILEGES",
                &crate::targets::privileges::section(
                    model,
                    crate::targets::privileges::Flavor::Kubernetes,
                ),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppInfo, TargetSettings};

    #[test]
    fn go_literals_never_hold_a_delimiter_or_a_raw_line_break() {
        let s = go_str("{{ .Release.Name }}\n\"q\"\\ \u{1}\u{2028}");
        assert_eq!(
            s,
            r#""\u007b\u007b .Release.Name \u007d\u007d\n\"q\"\\ \U00000001\U00002028""#
        );
        assert_eq!(yq("http://+:8080"), "\"http://+:8080\"");
        assert_eq!(yq("a\"b"), "{{ \"a\\\"b\" | quote }}");
        assert_eq!(yq("ünï"), "{{ \"ünï\" | quote }}");
    }

    #[test]
    fn placeholders_are_substituted_once() {
        let model = Model {
            app: AppInfo {
                name: "c".into(),
                version: "1.0.0".into(),
                description: String::new(),
                description_span: None,
                name_span: None,
                home: None,
                sources: vec![],
                keywords: vec![],
                maintainers: vec![],
            },
            source_file: "c.kdl".into(),
            profile: None,
            images: vec![],
            params: vec![],
            secrets: vec![],
            services: vec![],
            targets: TargetSettings::default(),
        };
        let t = Tpl::new(&model);
        assert_eq!(
            t.t("@N@ @A@ @B@ @x@ a@b", &[("A", "@B@"), ("B", "@N@")]),
            "c @B@ @N@ @x@ a@b"
        );
    }

    #[test]
    fn camel_case_keys() {
        assert_eq!(camel("ha-url"), "haUrl");
        assert_eq!(camel("agenthost"), "agenthost");
        assert_eq!(camel("a-b-c"), "aBC");
    }
}
