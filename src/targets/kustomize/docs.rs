//! The GitOps manifests and the READMEs of the base and the overlay.

use super::objects::{generated_params, namespace, params_name, secret_name};
use super::{DIR, KUSTOMIZE_API, Obj, Patch, doc_file, generated};
use crate::model::Model;
use crate::pack::FileTree;
use crate::targets::k8s::REPO_PLACEHOLDER;
use crate::targets::markdown::{self, Table, notes_section};
use crate::yaml::Yaml;

pub(super) fn gitops(m: &Model, t: &mut FileTree) {
    let p = m.profile_or_base();
    let inst = m.instance_name();
    let ns = namespace(m);
    let path = format!("bundles/{p}/{DIR}/overlays/{p}");
    let app = crate::targets::k8s::argo_application(
        &inst,
        &path,
        &ns,
        None,
        vec!["CreateNamespace=true", "PruneLast=true"],
        crate::targets::k8s::namespace_security_level(m),
    );
    let repo = crate::targets::k8s::flux_git_repository(&inst);
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
        "{}# GitOps wiring of profile `{p}`: set repoURL, revision (a branch) and path below, then\n# `kubectl apply -k` this directory (the params ConfigMap is local-config and never applied).\n",
        generated(m)
    );
    t.insert("gitops/kustomization.yaml".into(), doc_file(&head, &kz));
    t.insert(
        "gitops/argocd-application.yaml".into(),
        doc_file(&generated(m), &app),
    );
    t.insert(
        "gitops/flux-gitrepository.yaml".into(),
        doc_file(&generated(m), &repo),
    );
    t.insert(
        "gitops/flux-kustomization.yaml".into(),
        doc_file(&generated(m), &ks),
    );
}

pub(super) fn secret_command(m: &Model) -> String {
    crate::targets::k8s::create_secret_command(m, &namespace(m), &secret_name(m))
}

/// The overlay's README: `overlay-readme.md` beside this module, filled from the profile.
pub(super) fn overlay_readme(base: &Model, m: &Model, added: &[Obj], patches: &[Patch]) -> String {
    let generated = generated_params(m);
    let mut t = Table::new(&["Param", "Base default", "This profile", "Where it lands"]);
    for prm in &m.params {
        let base_default = base
            .param(&prm.name)
            .map(|b| format!("`{}`", markdown::cell(&b.default)))
            .unwrap_or_else(|| "—".into());
        let lands = if generated.iter().any(|g| g.name == prm.name) {
            format!("`{}` key `{}`", params_name(m), prm.name)
        } else {
            "resolved into the objects".to_string()
        };
        t.row(&[
            format!("`{}`", prm.name),
            base_default,
            format!("`{}`", markdown::cell(&prm.default)),
            lands,
        ]);
    }
    let images: String = m
        .images
        .iter()
        .map(|i| format!("- `{}`: `{}`\n", i.name, i.pinned()))
        .collect();
    crate::targets::text::fill_closing(
        include_str!("overlay-readme.md"),
        &[
            ("NAME", &m.app.name),
            ("VERSION", &m.app.version),
            ("P", m.profile_or_base()),
            ("SOURCE", &m.source_file),
            ("SECRETCOMMAND", &secret_command(m)),
            ("SECRET", &secret_name(m)),
            ("NAMESPACE", &namespace(m)),
            ("SECRETKEYS", &markdown::secret_keys(m)),
            ("PARAMSNAME", &params_name(m)),
            ("PARAMS", &t.finish()),
            ("IMAGES", &images),
            ("CHANGES", &changes(added, patches)),
        ],
    )
}

/// What the profile adds, removes and patches, one line each.
fn changes(added: &[Obj], patches: &[Patch]) -> String {
    let mut out = String::new();
    if added.is_empty() && patches.is_empty() {
        out.push_str("Nothing beyond the namespace, images and params above.\n");
    }
    for o in added {
        out.push_str(&format!(
            "- adds {} `{}` (`{}`)\n",
            o.kind(),
            o.name(),
            o.file
        ));
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

pub(super) fn readme(m: &Model) -> String {
    let p = m.profile_or_base();
    let n = &m.app.name;
    let mut out = format!(
        "# {n} {} — Kustomize\n\n{}\n\nGenerated by luciac from `{}`. Do not edit; change the declaration and rebuild.\n\n",
        m.app.version, m.app.description, m.source_file
    );
    out.push_str(&crate::targets::text::fill(
        include_str!("readme.md"),
        &[
            ("F", &m.source_file),
            ("P", p),
            ("DIR", DIR),
            ("REPO", REPO_PLACEHOLDER),
        ],
    ));
    out.push_str(&crate::targets::privileges::section(
        m,
        crate::targets::privileges::Flavor::Kubernetes,
    ));
    let notes = notes_section(m, "kustomize");
    if !notes.is_empty() {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&notes);
    }
    out
}
