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

use std::sync::OnceLock;

use crate::diag::{self, Diag};
use crate::model::Model;
use crate::pack::{self, FileTree};
use crate::targets::{Artifact, Layout};
use crate::yaml::{self, Yaml};

mod docs;
mod objects;
mod patches;

use docs::{gitops, overlay_readme, readme};
use objects::{Literal, base_objects, config_map, deployment};
pub use objects::{generated_params, namespace, params_name, secret_name};
use patches::overlay_parts;
pub use patches::patches;

/// Directory of the artifact inside the bundle.
pub const DIR: &str = "kustomize";

const KUSTOMIZE_API: &str = "kustomize.config.k8s.io/v1beta1";
/// Placeholder repository URL in the GitOps params (the README says to replace it).
pub use crate::targets::k8s::REPO_PLACEHOLDER;

/// Lower the (profile-merged) model; it serves as its own base, so the overlay holds the
/// namespace, the images and the params but no patches.
pub fn lower(model: &Model, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    lower_with_base(model, model, None, diags)
}

/// Lower a profile against the model of the base declaration alone (`lucia.kdl` without the
/// profile): `base/` comes from `base`, `overlays/<profile>/` from the difference.
pub fn lower_with_base(
    base: &Model,
    profile: &Model,
    shared: Option<&OnceLock<Base>>,
    diags: &mut Vec<Diag>,
) -> Vec<Artifact> {
    if !carries(profile, diags) || (base != profile && !carries(base, diags)) {
        return Vec::new();
    }
    let mut own = None;
    let base_part = crate::targets::shared_or_own(shared, &mut own, || Base::of(base));
    vec![Artifact {
        target: crate::targets::Target::Kustomize,
        path: DIR.into(),
        layout: Layout::Files,
        tree: tree(base, profile, base_part),
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
    let mut ok = crate::targets::k8s::check_host_access(m, diags);
    for p in m.params.iter().filter(|p| p.default.contains(UNCARRIABLE)) {
        diags.push(del_diag(p.span, &format!("param `{}`", p.name)));
        ok = false;
    }
    for s in &m.services {
        let src = Literal {
            m,
            image: &|_| String::new(),
        };
        if has_del(&deployment(&src, s).doc) || config_map(&src, s).is_some_and(|c| has_del(&c.doc))
        {
            diags.push(del_diag(s.span, &format!("service `{}`", s.name)));
            ok = false;
        }
    }
    ok
}

fn del_diag(span: crate::source::Span, what: &str) -> Diag {
    Diag::error(
        diag::TARGET_CANNOT_EXPRESS,
        format!("the Kustomize target cannot carry U+007F (DEL) or U+0085 (NEL) in {what}"),
    )
    .label(span, "holds U+007F or U+0085")
    .help("kustomize rejects DEL and turns NEL into a space; remove the character or turn the target off (`target \"kustomize\" { enabled #false }`)")
}

/// One Kubernetes object and the file it is written to.
#[derive(Debug, Clone, PartialEq)]
struct Obj {
    file: String,
    doc: Yaml,
}

/// The string at `key` of a map, or "".
fn str_at<'a>(map: &'a Yaml, key: &str) -> &'a str {
    match map {
        Yaml::Map(entries) => entries
            .iter()
            .find_map(|(k, v)| match v {
                Yaml::Str(s) if k == key => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or_default(),
        _ => "",
    }
}

impl Obj {
    /// The object `doc`, written to `file`.
    fn new(file: String, doc: Yaml) -> Obj {
        Obj { file, doc }
    }

    fn api(&self) -> &str {
        str_at(&self.doc, "apiVersion")
    }

    fn kind(&self) -> &str {
        str_at(&self.doc, "kind")
    }

    fn name(&self) -> &str {
        match &self.doc {
            Yaml::Map(entries) => entries
                .iter()
                .find(|(k, _)| k == "metadata")
                .map_or("", |(_, m)| str_at(m, "name")),
            _ => "",
        }
    }

    fn target(&self) -> Yaml {
        let (group, version) = match self.api().split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api()),
        };
        let mut t = Yaml::map();
        if !group.is_empty() {
            t.insert("group", group);
        }
        t.with("version", version)
            .with("kind", self.kind())
            .with("name", self.name())
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
    /// The `target` selector of a JSON 6902 patch (`None` for a delete patch, which names its
    /// object itself).
    pub target: Option<Yaml>,
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

/// The header of every generated file: names the declaration it came from.
fn generated(m: &Model) -> String {
    format!(
        "# Generated by luciac from {}. Do not edit: change the declaration and rebuild.\n",
        m.source_file
    )
}

/// What every profile's bundle shares: `base/` and the base's objects the overlays are
/// diffed against, made from the base declaration alone.
#[derive(Debug)]
pub struct Base {
    objs: Vec<Obj>,
    files: FileTree,
}

impl Base {
    fn of(base: &Model) -> Base {
        let objs = base_objects(base);
        let mut files = FileTree::new();
        base_files(base, &objs, &mut files);
        Base { objs, files }
    }
}

fn tree(base: &Model, profile: &Model, base_part: &Base) -> FileTree {
    let mut t = base_part.files.clone();
    overlay_files(base, profile, &base_part.objs, &mut t);
    gitops(profile, &mut t);
    t.insert("README.md".into(), pack::text(readme(profile)));
    t
}

/// `base/`: the objects of the base declaration alone and their kustomization.
fn base_files(base: &Model, objs: &[Obj], t: &mut FileTree) {
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
            &format!(
                "{}# The base: {} alone, no namespace, no secrets. Overlays in ../overlays/.\n",
                generated(base),
                base.source_file
            ),
            &kz,
        ),
    );
    for o in objs {
        t.insert(
            format!("base/{}", o.file),
            doc_file(&generated(base), &o.doc),
        );
    }
}

/// `overlays/<profile>/`: objects the profile adds, patches for what it changes, the images
/// transformer, the params generator and the overlay's README.
fn overlay_files(base: &Model, profile: &Model, base_objs: &[Obj], t: &mut FileTree) {
    let p = profile.profile_or_base();
    let dir = format!("overlays/{p}");
    let (added, patches, texts) = overlay_parts(base, profile, base_objs);
    let mut resources = vec!["../../base".to_string()];
    for o in &added {
        resources.push(o.file.clone());
        t.insert(
            format!("{dir}/{}", o.file),
            doc_file(&generated(profile), &o.doc),
        );
    }
    let mut kz = Yaml::map()
        .with("apiVersion", KUSTOMIZE_API)
        .with("kind", "Kustomization")
        .with("namespace", namespace(profile))
        .with("labels", version_labels(profile))
        .with("resources", Yaml::from(resources));
    let images = image_transforms(base, profile);
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
        kz.insert("patches", patch_entries(&patches));
    }
    for (x, text) in patches.iter().zip(&texts) {
        t.insert(format!("{dir}/{}", x.file), pack::text(text.clone()));
    }
    t.insert(
        format!("{dir}/kustomization.yaml"),
        doc_file(
            &format!("{}# Overlay of profile `{p}` (profiles/{p}.kdl): only what the profile changes. See README.md.\n", generated(profile)),
            &kz,
        ),
    );
    t.insert(
        format!("{dir}/README.md"),
        pack::text(overlay_readme(base, profile, &added, &patches)),
    );
}

/// The `images:` transformer: every image of the profile, named by the base's repository.
fn image_transforms(base: &Model, profile: &Model) -> Vec<Yaml> {
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
    images
}

/// The `patches:` entries: a deleting patch by file, others with the target they apply to.
fn patch_entries(patches: &[Patch]) -> Yaml {
    let items = patches
        .iter()
        .map(|x| {
            Yaml::map()
                .with("path", x.file.as_str())
                .with_opt("target", x.target.clone())
        })
        .collect();
    Yaml::Seq(items)
}

#[cfg(test)]
mod tests {
    use super::patches::{diff, to_json};
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
