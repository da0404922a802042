//! Stage 4: check the merged declaration and resolve it into the [`Model`].
//!
//! All semantic checks live here: names, types and ranges, references inside strings, the
//! service graph (unknown services, cycles), host-port clashes, singletons. Problems are
//! collected, never returned early; a model is produced only when there are no errors.

use std::collections::{BTreeMap, BTreeSet};

use crate::decl::Decl;
use crate::diag::{self, Diag};
use crate::model::{Model, ParamKind};
use crate::source::{S, Sources, Span};
use crate::values;

mod credentials;
mod declarations;
mod graph;
mod references;
mod runtime;
mod services;
mod settings;
pub use settings::known_settings;

use graph::canonical_order;

/// Options that change what counts as an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Strictness {
    /// `--locked`: an image without a digest is an error, not a warning.
    pub locked: bool,
}

pub fn resolve(
    decl: &Decl,
    profile: Option<&str>,
    sources: &Sources,
    strict: Strictness,
    diags: &mut Vec<Diag>,
) -> Option<Model> {
    let errors_before = diags.iter().filter(|d| d.is_error()).count();
    let mut r = Resolver {
        sources,
        diags,
        used_params: BTreeSet::new(),
        used_secrets: BTreeSet::new(),
        invalid_params: BTreeSet::new(),
    };
    let app = r.app(decl);
    let images = r.images(decl, strict);
    let params = r.params(decl);
    let mut services = r.services(decl, &images, &params);
    r.graph(&mut services);
    r.host_ports(decl, &services);
    let secrets = r.secrets(decl, &services);
    r.unused(decl);
    let targets = r.targets(decl);
    if decl.services.is_empty() {
        r.diags.push(
            Diag::error(diag::MISSING_NODE, "the declaration has no `service`")
                .label(
                    decl.app.as_ref().map(|a| a.span).unwrap_or(Span {
                        file: 0,
                        offset: 0,
                        len: 0,
                    }),
                    "nothing to deploy",
                )
                .help("add `service \"NAME\" { image \"IMAGE\" }`"),
        );
    }
    let errors_after = r.diags.iter().filter(|d| d.is_error()).count();
    if errors_after > errors_before {
        return None;
    }
    let services = canonical_order(services);
    Some(Model {
        app: app?,
        // `compile` sets the real name; this is the default file's.
        source_file: "lucia.kdl".into(),
        profile: profile.map(str::to_string),
        // Declaration order (base first, then what a profile adds): the order users wrote.
        images: in_decl_order(images, decl.images.iter().map(|i| &i.name.v)),
        params: in_decl_order(params, decl.params.iter().map(|p| &p.name.v)),
        secrets,
        services,
        targets,
    })
}

struct Resolver<'a> {
    sources: &'a Sources,
    diags: &'a mut Vec<Diag>,
    used_params: BTreeSet<String>,
    used_secrets: BTreeSet<String>,
    /// Params declared with a missing or invalid default: already reported, so a reference to
    /// one is not reported again as an unknown param.
    invalid_params: BTreeSet<String>,
}

fn port_range(n: i128) -> Result<u16, String> {
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{n} is not a port; ports run from 1 to 65535")),
    }
}

impl Resolver<'_> {
    fn err(&mut self, d: Diag) {
        self.diags.push(d);
    }

    fn name(&mut self, name: &S<String>, what: &str, max: usize) {
        if let Err(m) = values::check_name(&name.v, max) {
            let suggestion = values::suggest_name(&name.v);
            let mut d = Diag::error(diag::BAD_NAME, format!("invalid {what} name: {m}"))
                .label(name.span, "invalid name");
            if !suggestion.is_empty() && values::check_name(&suggestion, max).is_ok() {
                d = d.help(format!("use `{suggestion}`"));
            } else {
                d = d.help(format!("lowercase letters, digits and `-`, starting with a letter, at most {max} characters"));
            }
            self.err(d);
        }
    }

    fn duplicates<'s>(&mut self, items: impl IntoIterator<Item = &'s S<String>>, what: &str) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for n in items {
            if let Some(first) = seen.get(n.v.as_str()) {
                let d = Diag::error(diag::DUPLICATE, format!("{what} `{}` is defined twice", n.v))
                    .label(n.span, "defined again here")
                    .label(*first, "first defined here")
                    .help(format!("rename one of them, or delete the second; a profile changes a {what} by naming it in profiles/<name>.kdl"));
                self.err(d);
            } else {
                seen.insert(&n.v, n.span);
            }
        }
    }
}

fn kind_name(k: ParamKind) -> &'static str {
    match k {
        ParamKind::String => "string",
        ParamKind::Url => "url",
        ParamKind::Int { .. } => "int",
        ParamKind::Port => "port",
        ParamKind::Bool => "bool",
        ParamKind::Enum => "enum",
    }
}

fn in_decl_order<'a, T>(
    mut map: BTreeMap<String, T>,
    order: impl Iterator<Item = &'a String>,
) -> Vec<T> {
    order.filter_map(|name| map.remove(name)).collect()
}
