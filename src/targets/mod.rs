//! Stage 5: one pure function per target, model → artifacts (virtual file trees).
//!
//! A target never touches the disk and never sees KDL; a construct it cannot express is a
//! diagnostic that points at the model's source span.

pub mod compose;
pub mod helm;
pub mod k8s;
pub mod kustomize;
pub mod markdown;
pub mod privileges;
pub mod scripts;
pub mod systemd;
pub mod text;
pub mod workflow;

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::diag::Diag;
use crate::model::Model;
use crate::pack::{FileTree, Order};

/// What produced an artifact: a target of the declaration, or the files every bundle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Compose,
    Helm,
    Kustomize,
    Systemd,
    /// The operator scripts (`scripts/`), shipped whenever any target is.
    Scripts,
    /// The GitOps workflows (`ci/`).
    Github,
}

impl Target {
    /// The name the bundle manifest and `--message-format json` use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Target::Compose => "compose",
            Target::Helm => "helm",
            Target::Kustomize => "kustomize",
            Target::Systemd => "systemd",
            Target::Scripts => "scripts",
            Target::Github => "github",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Target {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Target {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How an artifact lands in the bundle directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One reproducible `.tar.gz` whose entries sit under `top/`.
    TarGz { top: String, order: Order },
    /// Plain files under `path/` in the bundle directory (GitOps controllers read directories).
    Files,
}

/// One output of a target: a tarball or a set of plain files.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub target: Target,
    /// File name of the archive, or the directory the files go in ("" = the bundle root).
    pub path: String,
    pub layout: Layout,
    pub tree: FileTree,
}

/// The models one bundle is lowered from: the profile's, and the base declaration's alone.
/// Targets whose format separates a base from per-profile changes (the Helm chart, the
/// Kustomize base) build their shared part from `base` only.
#[derive(Debug, Clone, Copy)]
pub struct Models<'a> {
    pub base: &'a Model,
    /// The model being built: the profile's, or the base itself when there is no profile.
    pub profile: &'a Model,
    /// What is made from `base` alone, made once for every profile built over it in a run
    /// (`None`: made again here).
    pub shared: Option<&'a Shared>,
}

impl<'a> Models<'a> {
    /// A build without a profile: the model is its own base.
    pub fn alone(model: &'a Model) -> Models<'a> {
        Models {
            base: model,
            profile: model,
            shared: None,
        }
    }
}

/// What depends on the base model alone: every profile's bundle carries the same Helm chart
/// and the same Kustomize base, so the profiles built in one run (side by side) make them
/// once. Every `Models` given one `Shared` must have the same `base` (the run's).
#[derive(Debug, Default)]
pub struct Shared {
    helm_base: OnceLock<Option<helm::HelmOutput>>,
    kustomize_base: OnceLock<kustomize::Base>,
}

/// What `make` makes: from `cell` when there is one (made there by the first caller), else
/// made here and kept in `own`.
pub(crate) fn shared_or_own<'a, T>(
    cell: Option<&'a OnceLock<T>>,
    own: &'a mut Option<T>,
    make: impl FnOnce() -> T,
) -> &'a T {
    match cell {
        Some(cell) => cell.get_or_init(make),
        None => own.insert(make()),
    }
}

/// Lower the model to every enabled target, with the model as its own base.
pub fn lower_all(model: &Model, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    lower(Models::alone(model), diags)
}

/// One target's lowering: its artifacts, with the diagnostics it reported.
type Lowering<'a> = Box<dyn FnOnce(&mut Vec<Diag>) -> Vec<Artifact> + Send + 'a>;

/// Lower a profile's model to every enabled target.
pub fn lower(models: Models<'_>, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    lower_each(models, diags, |_| ()).0
}

/// [`lower`], calling `then` on each artifact as soon as its target has made it, in the
/// thread that made it (the bundle stage starts packing an archive there while other
/// targets are still lowering); its results come back beside the artifacts, in their order.
///
/// The targets are independent pure functions of the models, so they run side by side, the
/// costliest first; their artifacts and diagnostics are joined in one fixed order (Compose,
/// Helm, Kustomize, systemd), the same whichever finishes first.
pub fn lower_each<P: Send>(
    models: Models<'_>,
    diags: &mut Vec<Diag>,
    then: impl Fn(&Artifact) -> P + Sync,
) -> (Vec<Artifact>, Vec<P>) {
    let Models {
        base,
        profile: model,
        shared,
    } = models;
    let enabled = &model.targets;
    // The same bytes in `scripts/` and in the Compose and systemd tarballs: made once.
    let host_scripts = &scripts::host_scripts(model);
    // (output position, job), costliest first: Kustomize, Helm, systemd, Compose.
    let mut jobs: Vec<(usize, Lowering<'_>)> = Vec::new();
    if enabled.kustomize.enabled {
        let shared = shared.map(|s| &s.kustomize_base);
        jobs.push((
            2,
            Box::new(move |d| kustomize::lower_with_base(base, model, shared, d)),
        ));
    }
    if enabled.helm.enabled {
        let shared = shared.map(|s| &s.helm_base);
        jobs.push((
            1,
            Box::new(move |d| helm::lower_with_base(base, model, shared, d)),
        ));
    }
    if enabled.systemd.enabled {
        jobs.push((3, Box::new(|d| systemd::lower_with(model, host_scripts, d))));
    }
    if enabled.compose.enabled {
        jobs.push((
            0,
            Box::new(|d| {
                compose::lower_with(model, host_scripts, d)
                    .into_iter()
                    .collect()
            }),
        ));
    }
    let mut lowered = crate::par::map(jobs, |(at, job)| {
        let mut d = Vec::new();
        let artifacts = job(&mut d);
        let after: Vec<P> = artifacts.iter().map(&then).collect();
        (at, artifacts, after, d)
    });
    lowered.sort_by_key(|(at, ..)| *at);
    let mut out = Vec::new();
    let mut after = Vec::new();
    for (_, artifacts, done, mut reported) in lowered {
        out.extend(artifacts);
        after.extend(done);
        // Helm and Kustomize share the Kubernetes checks (`k8s::check_host_access`); a
        // problem they both found is reported once.
        reported.retain(|d| !diags.contains(d));
        diags.append(&mut reported);
    }
    if !out.is_empty() {
        let scripts = scripts::lower_with(host_scripts);
        after.push(then(&scripts));
        out.push(scripts);
    }
    // Last: the GitOps workflow checks whatever the other targets produced.
    if let Some(w) = workflow::lower(model, &out) {
        after.push(then(&w));
        out.push(w);
    }
    (out, after)
}
