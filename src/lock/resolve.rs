//! `luciac lock`, `lock --update [IMAGE…]` and `lock --check`: every image of the declaration,
//! in the base and every profile, resolved against its registry.
//!
//! Plain `lock` resolves the references that have no pin and keeps the others; `--update`
//! re-resolves the named images (or all); `--check` resolves everything and writes nothing.
//! Each tag is resolved twice; any failure leaves the lock file untouched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::config::Config;
use super::file::{self, LockFile};
use super::reference::Reference;
use super::registry::{Failure, Registry};
use crate::diag::{self, Diag};
use crate::resolve::Strictness;
use crate::source::{Sources, Span};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Pin what has no pin.
    Lock,
    /// Re-resolve these images (by name), or all when empty.
    Update(Vec<String>),
    /// Report moved tags; write nothing.
    Check,
}

/// A tag whose digest changed (or was pinned for the first time: `old` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub images: Vec<String>,
    pub reference: String,
    pub old: Option<String>,
    pub new: String,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// Diagnostics with the sources they point into (one entry per compiled profile).
    pub reports: Vec<(Sources, Vec<Diag>)>,
    pub failed: bool,
    pub changes: Vec<Change>,
    /// Whether `lucia.lock` was written.
    pub written: bool,
    pub resolved: usize,
}

struct Use {
    reference: Reference,
    names: BTreeSet<String>,
    /// Platforms required by any declaration of it (base or profile).
    platforms: BTreeSet<String>,
    /// The first place it is declared: (report index, span).
    at: (usize, Span),
}

/// Collect every image use of the base and all profiles.
fn collect(decl: &Path, out: &mut Outcome) -> Option<BTreeMap<String, Use>> {
    let mut uses: BTreeMap<String, Use> = BTreeMap::new();
    let profiles =
        std::iter::once(None).chain(crate::compile::list_profiles(decl).into_iter().map(Some));
    let mut ok = true;
    for profile in profiles {
        let mut diags = Vec::new();
        let Some(input) = crate::compile::load(decl, profile.as_deref(), &mut diags) else {
            out.reports.push((Sources::default(), diags));
            ok = false;
            continue;
        };
        let model = crate::compile::compile(&input, Strictness::default(), &mut diags);
        diags.retain(|d| d.is_error());
        let idx = out.reports.len();
        if let Some(model) = model.filter(|_| diags.is_empty()) {
            for img in &model.images {
                match Reference::parse(&img.reference) {
                    Ok(r) => {
                        let u = uses.entry(r.to_string()).or_insert_with(|| Use {
                            reference: r,
                            names: BTreeSet::new(),
                            platforms: BTreeSet::new(),
                            at: (idx, img.span),
                        });
                        u.names.insert(img.name.clone());
                        u.platforms.extend(img.platforms.iter().cloned());
                    }
                    Err(m) => diags.push(Diag::error(diag::BAD_IMAGE, m).label(img.span, "here")),
                }
            }
        }
        ok &= diags.is_empty();
        out.reports.push((input.sources, diags));
    }
    ok.then_some(uses)
}

/// Run `lock` in `mode` for the declaration at `decl`.
pub fn run(decl: &Path, mode: &Mode) -> Outcome {
    let mut out = Outcome::default();
    let Some(uses) = collect(decl, &mut out) else {
        out.failed = true;
        return out;
    };
    let old = match file::read(decl) {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => {
            out.reports.push((
                Sources::default(),
                vec![
                    Diag::error(diag::LOCK_UNREADABLE, e)
                        .path(file::path_for(decl).display().to_string()),
                ],
            ));
            out.failed = true;
            return out;
        }
    };
    if let Mode::Update(names) = mode {
        let known: BTreeSet<&str> = uses
            .values()
            .flat_map(|u| u.names.iter().map(String::as_str))
            .collect();
        let unknown: Vec<Diag> = names
            .iter()
            .filter(|n| !known.contains(n.as_str()))
            .map(|n| {
                Diag::error(
                    diag::UNKNOWN_IMAGE,
                    format!("there is no image `{n}` to update"),
                )
                .help(diag::unknown_help("image", n, known.iter().copied()))
            })
            .collect();
        if !unknown.is_empty() {
            out.reports.push((Sources::default(), unknown));
            out.failed = true;
            return out;
        }
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            out.reports.push((
                Sources::default(),
                vec![Diag::error(
                    diag::REGISTRY_UNREACHABLE,
                    format!("the registries file: {e}"),
                )],
            ));
            out.failed = true;
            return out;
        }
    };
    let mut registries: BTreeMap<String, Registry> = BTreeMap::new();
    let mut new = LockFile::default();
    for (key, u) in &uses {
        let existing = old.images.get(key);
        let resolve = match mode {
            // A pin that lacks a platform the declaration now requires is resolved again.
            Mode::Lock => {
                existing.is_none_or(|p| u.platforms.iter().any(|q| !p.platforms.contains_key(q)))
            }
            Mode::Update(names) => names.is_empty() || names.iter().any(|n| u.names.contains(n)),
            Mode::Check => true,
        };
        if !resolve {
            if let Some(p) = existing {
                let mut p = p.clone();
                p.names = u.names.clone();
                new.images.insert(key.clone(), p);
            }
            continue;
        }
        let required: Vec<String> = u.platforms.iter().cloned().collect();
        let result = resolve_one(&mut registries, &config, &u.reference, &required);
        match result {
            Ok(mut pin) => {
                out.resolved += 1;
                pin.names = u.names.clone();
                if existing.map(|p| &p.digest) != Some(&pin.digest) {
                    out.changes.push(Change {
                        images: u.names.iter().cloned().collect(),
                        reference: key.clone(),
                        old: existing.map(|p| p.digest.clone()),
                        new: pin.digest.clone(),
                    });
                }
                new.images.insert(key.clone(), pin);
            }
            Err(f) => {
                let names: Vec<&str> = u.names.iter().map(String::as_str).collect();
                let d = Diag::error(
                    f.code(),
                    format!("image `{}` ({key}): {}", names.join("`, `"), f.message()),
                )
                .label(u.at.1, "resolving this image")
                .help(help_for(&f));
                out.reports[u.at.0].1.push(d);
                out.failed = true;
            }
        }
    }
    if out.failed || *mode == Mode::Check {
        return out;
    }
    match file::write(decl, &new) {
        Ok(w) => out.written = w,
        Err(e) => {
            out.reports.push((
                Sources::default(),
                vec![Diag::error(
                    diag::WRITE_FAILED,
                    format!("cannot write {}: {e}", file::path_for(decl).display()),
                )],
            ));
            out.failed = true;
        }
    }
    out
}

fn help_for(f: &Failure) -> &'static str {
    match f {
        Failure::Unreachable(_) => {
            "check the registry's name and your network; a private CA, a mirror or an insecure registry is set in the registries file (docs/language.md, \"Pinning images\")"
        }
        Failure::Credentials(_) => {
            "fix Docker's config.json or the credential helper it names (`docker login REGISTRY` rewrites the entry)"
        }
        Failure::Denied { .. } => {
            "log in with `docker login REGISTRY` (or configure a credential helper), then run `luciac lock` again"
        }
        Failure::NotFound(_) => "check the repository and tag in the declaration",
        Failure::RateLimited(_) => {
            "wait and run `luciac lock` again, or log in: anonymous pulls have lower limits"
        }
        Failure::DigestMismatch { .. } => {
            "the registry or a proxy altered the manifest; nothing was written"
        }
        Failure::BadManifest(_) => "the tag must name an OCI or Docker schema 2 manifest or index",
        Failure::PlatformMissing(_) => {
            "choose a tag that provides every platform the image declares"
        }
        Failure::Unstable { .. } => {
            "the tag moved while luciac resolved it; run `luciac lock` again"
        }
    }
}

/// Resolve one reference, twice, on a cached connection to its registry.
fn resolve_one(
    registries: &mut BTreeMap<String, Registry>,
    config: &Config,
    r: &Reference,
    required: &[String],
) -> Result<super::file::Pin, Failure> {
    let reg = match registries.entry(r.registry.clone()) {
        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(Registry::connect(r, &config.for_registry(&r.registry))?)
        }
    };
    let pin = reg.resolve(r, required)?;
    let (again, _) = reg.head_tag(r)?;
    if again != pin.digest {
        return Err(Failure::Unstable {
            first: pin.digest,
            second: again,
        });
    }
    Ok(pin)
}
