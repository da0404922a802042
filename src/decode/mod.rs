//! Stage 2: KDL document → typed [`Decl`].
//!
//! Hand-written rather than derived so that it can report every problem at once, with the
//! exact span, a did-you-mean for every name, and a help line. It checks shape only (which
//! nodes, properties and value types); meaning (references, ranges, cycles) is
//! [`crate::resolve`]'s job.

use crate::parse::{Document, Entry, Node, Value};

use crate::decl::{
    App, Decl, Image, Maintainer, Param, ParamType, Removal, Scalar, Secret, Setting, Target,
};
use crate::diag::{self, Diag};
use crate::source::{FileId, S, Span};

mod service;

pub use service::HEALTH_PROPS;

/// Decode one parsed file. `is_profile` allows `remove` nodes.
pub fn decode(doc: &Document, file: FileId, is_profile: bool, diags: &mut Vec<Diag>) -> Decl {
    let mut d = Decoder {
        file,
        diags,
        is_profile,
    };
    d.document(doc)
}

/// The nodes a declaration holds at its top (the fuzzer builds declarations from these).
pub const TOP_NODES: &[&str] = &[
    "app", "image", "param", "secret", "service", "target", "remove",
];
/// The nodes a `service` holds.
pub const SERVICE_NODES: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "host-command",
    "root",
    "capability",
    "host-network",
    "config",
    "bind",
    "device",
    "gpu",
    "singleton",
    "replicas",
    "user",
    "read-only-root",
    "writable",
    "port",
    "env",
    "health",
    "volume",
    "resources",
    "depends-on",
    "host-unit",
    "host-files",
    "backup",
    "notes",
    "remove",
];
const APP_NODES: &[&str] = &["description", "home", "source", "keyword", "maintainer"];
const PARAM_NODES: &[&str] = &["description", "one-of"];
/// What `remove` may name at the top level and inside a service.
pub const TOP_REMOVABLE: &[&str] = &["image", "param", "secret", "service", "target"];
pub const SERVICE_REMOVABLE: &[&str] = &[
    "port",
    "env",
    "volume",
    "writable",
    "depends-on",
    "health",
    "resources",
    "config",
    "bind",
    "device",
    "capability",
    "gpu",
];

struct Decoder<'a> {
    file: FileId,
    diags: &'a mut Vec<Diag>,
    is_profile: bool,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a decimal number",
        Value::Bool(_) => "a boolean",
        Value::Null => "#null",
    }
}

impl Decoder<'_> {
    fn span(&self, s: miette::SourceSpan) -> Span {
        Span::new(self.file, s)
    }

    fn name_span(&self, node: &Node) -> Span {
        self.span(node.name().span())
    }

    fn push(&mut self, d: Diag) {
        self.diags.push(d);
    }

    fn args<'n>(&self, node: &'n Node) -> Vec<&'n Entry> {
        node.entries()
            .iter()
            .filter(|e| e.name().is_none())
            .collect()
    }

    /// Report properties that `node` does not take, and properties given twice.
    fn check_props(&mut self, node: &Node, allowed: &[&str]) {
        self.check_props_except(node, allowed, &[]);
    }

    /// Like [`Self::check_props`], but silent about `reported` (already diagnosed by the caller).
    fn check_props_except(&mut self, node: &Node, allowed: &[&str], reported: &[&str]) {
        let mut seen: Vec<&str> = Vec::new();
        for e in node.entries() {
            let Some(name) = e.name() else { continue };
            let key = name.value();
            if reported.contains(&key) {
                continue;
            }
            if !allowed.contains(&key) {
                let help = if allowed.is_empty() {
                    format!("`{}` takes no properties", node.name().value())
                } else {
                    diag::unknown_help("property", key, allowed.iter().copied())
                };
                self.push(
                    Diag::error(
                        diag::UNKNOWN_PROPERTY,
                        format!("`{}` has no property `{key}`", node.name().value()),
                    )
                    .label(self.span(e.span()), "unknown property")
                    .help(help),
                );
            } else if seen.contains(&key) {
                self.push(
                    Diag::error(diag::DUPLICATE, format!("property `{key}` is given twice"))
                        .label(self.span(e.span()), "given again here")
                        .help("KDL keeps only the last one; remove one of them"),
                );
            } else {
                seen.push(key);
            }
        }
    }

    fn check_arg_count(&mut self, node: &Node, max: usize, usage: &str) {
        for e in self.args(node).into_iter().skip(max) {
            self.push(
                Diag::error(
                    diag::EXTRA_ARGUMENT,
                    format!("`{}` takes at most {max} argument(s)", node.name().value()),
                )
                .label(self.span(e.span()), "unexpected argument")
                .help(format!("usage: {usage}")),
            );
        }
    }

    fn no_children(&mut self, node: &Node) {
        if let Some(children) = node.children()
            && let Some(first) = children.nodes().first()
        {
            self.push(
                Diag::error(
                    diag::UNKNOWN_NODE,
                    format!("`{}` takes no child nodes", node.name().value()),
                )
                .label(self.span(first.span()), "unexpected child node")
                .help("remove the `{ … }` block"),
            );
        }
    }

    fn unknown_node(&mut self, node: &Node, known: &[&str], parent: &str) {
        let name = node.name().value();
        self.push(
            Diag::error(
                diag::UNKNOWN_NODE,
                format!("unknown node `{name}` in {parent}"),
            )
            .label(self.name_span(node), "not known here")
            .help(diag::unknown_help("node", name, known.iter().copied())),
        );
    }

    fn wrong_type(&mut self, e: &Entry, want: &str, what: &str) {
        let mut d = Diag::error(
            diag::WRONG_TYPE,
            format!("{what} must be {want}, found {}", type_name(e.value())),
        )
        .label(self.span(e.span()), format!("expected {want}"));
        d = match (want, e.value()) {
            ("a string", Value::Integer(i)) => d.help(format!("quote it: \"{i}\"")),
            ("an integer", Value::String(s)) if s.parse::<i128>().is_ok() => {
                d.help(format!("remove the quotes: {s}"))
            }
            ("a boolean", Value::String(s)) if s == "true" || s == "false" => {
                d.help(format!("KDL v2 writes booleans as `#{s}`"))
            }
            _ => d,
        };
        self.push(d);
    }

    fn str_of(&mut self, e: &Entry, what: &str) -> Option<S<String>> {
        match e.value() {
            Value::String(s) => Some(S::new(s.clone(), self.span(e.span()))),
            _ => {
                self.wrong_type(e, "a string", what);
                None
            }
        }
    }

    fn int_of(&mut self, e: &Entry, what: &str) -> Option<S<i128>> {
        match e.value() {
            Value::Integer(i) => Some(S::new(*i, self.span(e.span()))),
            _ => {
                self.wrong_type(e, "an integer", what);
                None
            }
        }
    }

    fn u32_of(&mut self, e: &Entry, what: &str) -> Option<S<u32>> {
        let i = self.int_of(e, what)?;
        match u32::try_from(i.v) {
            Ok(v) => Some(S::new(v, i.span)),
            Err(_) => {
                self.push(
                    Diag::error(
                        diag::WRONG_TYPE,
                        format!("{what} must be between 0 and {}", u32::MAX),
                    )
                    .label(i.span, "out of range"),
                );
                None
            }
        }
    }

    fn bool_of(&mut self, e: &Entry, what: &str) -> Option<S<bool>> {
        match e.value() {
            Value::Bool(b) => Some(S::new(*b, self.span(e.span()))),
            _ => {
                self.wrong_type(e, "a boolean", what);
                None
            }
        }
    }

    fn scalar_of(&mut self, e: &Entry, what: &str) -> Option<S<Scalar>> {
        let v = match e.value() {
            Value::String(s) => Scalar::Str(s.clone()),
            Value::Integer(i) => Scalar::Int(*i),
            Value::Bool(b) => Scalar::Bool(*b),
            _ => {
                self.wrong_type(e, "a string, an integer or a boolean", what);
                return None;
            }
        };
        Some(S::new(v, self.span(e.span())))
    }

    fn prop<'n>(&self, node: &'n Node, key: &str) -> Option<&'n Entry> {
        node.entries()
            .iter()
            .rev()
            .find(|e| e.name().map(|n| n.value()) == Some(key))
    }

    fn prop_str(&mut self, node: &Node, key: &str) -> Option<S<String>> {
        let e = self.prop(node, key)?;
        self.str_of(e, &format!("`{key}`"))
    }

    fn prop_bool(&mut self, node: &Node, key: &str) -> Option<S<bool>> {
        let e = self.prop(node, key)?;
        self.bool_of(e, &format!("`{key}`"))
    }

    fn prop_u32(&mut self, node: &Node, key: &str) -> Option<S<u32>> {
        let e = self.prop(node, key)?;
        self.u32_of(e, &format!("`{key}`"))
    }

    /// The `idx`-th argument as a string; reports it when missing.
    fn arg_str(&mut self, node: &Node, idx: usize, what: &str, usage: &str) -> Option<S<String>> {
        match self.args(node).get(idx).copied() {
            Some(e) => self.str_of(e, what),
            None => {
                self.missing(node, what, usage);
                None
            }
        }
    }

    fn missing(&mut self, node: &Node, what: &str, usage: &str) {
        self.push(
            Diag::error(
                diag::MISSING_VALUE,
                format!("`{}` needs {what}", node.name().value()),
            )
            .label(self.name_span(node), format!("{what} missing"))
            .help(format!("usage: {usage}")),
        );
    }

    /// All arguments as strings (for `command`, `exec`, `one-of`…).
    fn all_str_args(&mut self, node: &Node, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.args(node) {
            if let Some(s) = self.str_of(e, what) {
                out.push(s.v);
            }
        }
        out
    }

    /// All arguments as strings with their own spans (arguments that may hold references).
    fn spanned_str_args(&mut self, node: &Node, what: &str) -> Vec<S<String>> {
        let mut out = Vec::new();
        for e in self.args(node) {
            out.extend(self.str_of(e, what));
        }
        out
    }

    /// A flag node: `singleton` alone means true; `singleton #false` turns it off.
    fn flag(&mut self, node: &Node) -> Option<S<bool>> {
        self.check_props(node, &[]);
        self.check_arg_count(node, 1, &format!("{} [#true|#false]", node.name().value()));
        self.no_children(node);
        match self.args(node).first().copied() {
            None => Some(S::new(true, self.span(node.span()))),
            Some(e) => self.bool_of(e, &format!("`{}`", node.name().value())),
        }
    }

    /// A node holding one string argument, like `description "…"`.
    fn single_str(&mut self, node: &Node) -> Option<S<String>> {
        let name = node.name().value().to_string();
        self.check_props(node, &[]);
        self.check_arg_count(node, 1, &format!("{name} \"…\""));
        self.no_children(node);
        self.arg_str(node, 0, "a string argument", &format!("{name} \"…\""))
    }

    /// Set a singular field, reporting a second occurrence in the same block.
    fn set_once<T>(
        &mut self,
        slot: &mut Option<T>,
        value: Option<T>,
        node: &Node,
        first: Option<Span>,
    ) {
        if slot.is_some() {
            let mut d = Diag::error(
                diag::DUPLICATE,
                format!("`{}` is given twice in this block", node.name().value()),
            )
            .label(self.name_span(node), "given again here");
            if let Some(f) = first {
                d = d.label(f, "first given here");
            }
            self.push(d.help("keep one of them"));
        } else {
            *slot = value;
        }
    }

    fn remove(&mut self, node: &Node, allowed: &[&str]) -> Option<Removal> {
        let usage = "remove KIND \"NAME\"";
        if !self.is_profile {
            self.push(
                Diag::error(diag::UNKNOWN_NODE, "`remove` is only allowed in a profile")
                    .label(self.name_span(node), "in the base declaration")
                    .help("delete the definition itself instead of removing it"),
            );
            return None;
        }
        self.check_props(node, &[]);
        self.check_arg_count(node, 2, usage);
        self.no_children(node);
        let kind = self.arg_str(node, 0, "the kind of thing to remove", usage)?;
        if !allowed.contains(&kind.v.as_str()) {
            self.push(
                Diag::error(
                    diag::NOT_ALLOWED,
                    format!("cannot remove a `{}` here", kind.v),
                )
                .label(kind.span, "not removable here")
                .help(diag::unknown_help(
                    "removable kind",
                    &kind.v,
                    allowed.iter().copied(),
                )),
            );
            return None;
        }
        // `health`, `resources` and `gpu` exist once per service, so they need no name.
        let name = if ["health", "resources", "gpu"].contains(&kind.v.as_str()) {
            kind.clone()
        } else {
            self.arg_str(node, 1, "the name of what to remove", usage)?
        };
        Some(Removal {
            kind,
            name,
            span: self.span(node.span()),
        })
    }

    // ---- top level ---------------------------------------------------------------------

    fn document(&mut self, doc: &Document) -> Decl {
        let mut decl = Decl::default();
        for node in doc.nodes() {
            match node.name().value() {
                "app" => {
                    let first = decl.app.as_ref().map(|a| a.span);
                    let app = self.app(node);
                    self.set_once(&mut decl.app, app, node, first);
                }
                "image" => decl.images.extend(self.image(node)),
                "param" => decl.params.extend(self.param(node)),
                "secret" => decl.secrets.extend(self.secret(node)),
                "service" => decl.services.extend(self.service(node)),
                "target" => decl.targets.extend(self.target(node)),
                "remove" => decl.removals.extend(self.remove(node, TOP_REMOVABLE)),
                _ => self.unknown_node(node, TOP_NODES, "the declaration"),
            }
        }
        decl
    }

    fn app(&mut self, node: &Node) -> Option<App> {
        let usage = "app \"NAME\" version=\"X.Y.Z\" { description \"…\" }";
        self.check_props(node, &["version"]);
        self.check_arg_count(node, 1, usage);
        let name = self.arg_str(node, 0, "a name", usage);
        let version = self.prop_str(node, "version");
        let mut app = App {
            name: name?,
            version,
            description: None,
            home: None,
            sources: vec![],
            keywords: vec![],
            maintainers: vec![],
            span: self.span(node.span()),
        };
        for child in node.iter_children() {
            match child.name().value() {
                "description" => {
                    let v = self.single_str(child);
                    let first = app.description.as_ref().map(|d| d.span);
                    self.set_once(&mut app.description, v, child, first);
                }
                "home" => {
                    let v = self.single_str(child);
                    let first = app.home.as_ref().map(|d| d.span);
                    self.set_once(&mut app.home, v, child, first);
                }
                "source" => app.sources.extend(self.single_str(child)),
                "keyword" => {
                    self.check_props(child, &[]);
                    self.no_children(child);
                    for e in self.args(child) {
                        app.keywords.extend(self.str_of(e, "a keyword"));
                    }
                }
                "maintainer" => {
                    let usage = "maintainer \"NAME\" email=\"…\" url=\"…\"";
                    self.check_props(child, &["email", "url"]);
                    self.check_arg_count(child, 1, usage);
                    self.no_children(child);
                    let name = self.arg_str(child, 0, "a name", usage);
                    let email = self.prop_str(child, "email");
                    let url = self.prop_str(child, "url");
                    if let Some(name) = name {
                        app.maintainers.push(Maintainer { name, email, url });
                    }
                }
                _ => self.unknown_node(child, APP_NODES, "`app`"),
            }
        }
        Some(app)
    }

    fn image(&mut self, node: &Node) -> Option<Image> {
        let usage = "image \"NAME\" \"REGISTRY/REPOSITORY:TAG\" digest=\"sha256:…\"";
        self.check_props(node, &["digest", "platforms"]);
        self.check_arg_count(node, 2, usage);
        self.no_children(node);
        let name = self.arg_str(node, 0, "a name", usage);
        let reference = self.arg_str(node, 1, "an image reference", usage);
        let digest = self.prop_str(node, "digest");
        let platforms = self.prop_str(node, "platforms");
        Some(Image {
            name: name?,
            reference: reference?,
            digest,
            platforms,
            span: self.span(node.span()),
        })
    }

    fn param(&mut self, node: &Node) -> Option<Param> {
        let usage =
            "param \"NAME\" type=\"string|url|int|port|bool|enum\" default=… { description \"…\" }";
        self.check_props(node, &["type", "default", "min", "max"]);
        self.check_arg_count(node, 1, usage);
        let name = self.arg_str(node, 0, "a name", usage);
        let ty = match self.prop_str(node, "type") {
            Some(t) => match ParamType::parse(&t.v) {
                Some(pt) => Some(S::new(pt, t.span)),
                None => {
                    self.push(
                        Diag::error(diag::NOT_ALLOWED, format!("unknown param type `{}`", t.v))
                            .label(t.span, "not a param type")
                            .help(diag::unknown_help(
                                "type",
                                &t.v,
                                ParamType::NAMES.iter().copied(),
                            )),
                    );
                    None
                }
            },
            None => None,
        };
        let default = match self.prop(node, "default") {
            Some(e) => self.scalar_of(e, "`default`"),
            None => None,
        };
        let min = match self.prop(node, "min") {
            Some(e) => self.int_of(e, "`min`"),
            None => None,
        };
        let max = match self.prop(node, "max") {
            Some(e) => self.int_of(e, "`max`"),
            None => None,
        };
        let mut p = Param {
            name: name?,
            ty,
            default,
            description: None,
            one_of: None,
            min,
            max,
            span: self.span(node.span()),
        };
        for child in node.iter_children() {
            match child.name().value() {
                "description" => {
                    let v = self.single_str(child);
                    let first = p.description.as_ref().map(|d| d.span);
                    self.set_once(&mut p.description, v, child, first);
                }
                "one-of" => {
                    self.check_props(child, &[]);
                    self.no_children(child);
                    let vals = self.all_str_args(child, "a `one-of` value");
                    let v = Some(S::new(vals, self.span(child.span())));
                    let first = p.one_of.as_ref().map(|d| d.span);
                    self.set_once(&mut p.one_of, v, child, first);
                }
                _ => self.unknown_node(child, PARAM_NODES, "`param`"),
            }
        }
        Some(p)
    }

    fn secret(&mut self, node: &Node) -> Option<Secret> {
        let usage =
            "secret \"NAME\" min-length=32 prefix=\"…\" optional=#true { description \"…\" }";
        let name_text = self
            .args(node)
            .first()
            .map(|a| a.value().to_string())
            .unwrap_or_default();
        // A value written into a secret is refused with its place, but the value itself is
        // redacted from every snippet of the run (see `Diag::redact`) and never named in a
        // message.
        for e in node.entries() {
            let key = e.name().map(|n| n.value());
            let (what, hidden) = match key {
                Some(k @ ("value" | "default")) => {
                    (format!("a `{k}` property"), self.value_part(e))
                }
                None if self.args(node).first().is_some_and(|a| std::ptr::eq(*a, e)) => continue,
                None => ("a value argument".to_string(), self.span(e.span())),
                Some(_) => continue,
            };
            self.secret_value(&name_text, &what, hidden);
        }
        for child in node.iter_children() {
            if child.name().value() != "description" {
                let whole = self.span(child.span());
                let name_end = child.name().span().offset() + child.name().span().len();
                let hidden = Span {
                    file: self.file,
                    offset: name_end,
                    len: (whole.offset + whole.len).saturating_sub(name_end),
                };
                let child_name = child.name().value();
                if child_name == "value" || child_name == "default" {
                    let what = format!("a `{child_name}` child node");
                    self.secret_value(&name_text, &what, hidden);
                } else {
                    // Most likely a misspelt `description`, but whatever it holds might be
                    // the value: it is redacted all the same.
                    self.push(
                        Diag::error(
                            diag::UNKNOWN_NODE,
                            format!("unknown node `{child_name}` in `secret`"),
                        )
                        .label(self.name_span(child), "not known here")
                        .redact(hidden)
                        .help(diag::unknown_help(
                            "node",
                            child_name,
                            ["description"],
                        )),
                    );
                }
            }
        }
        self.check_props_except(
            node,
            &["min-length", "prefix", "optional"],
            &["value", "default"],
        );
        let name = self.arg_str(node, 0, "a name", usage);
        let min_length = self.prop_u32(node, "min-length");
        let prefix = self.prop_str(node, "prefix");
        let optional = self.prop_bool(node, "optional");
        let mut s = Secret {
            name: name?,
            description: None,
            min_length,
            prefix,
            optional,
            span: self.span(node.span()),
        };
        // Other children were reported above, with their values redacted.
        for child in node.iter_children() {
            if child.name().value() == "description" {
                let v = self.single_str(child);
                let first = s.description.as_ref().map(|d| d.span);
                self.set_once(&mut s.description, v, child, first);
            }
        }
        Some(s)
    }

    /// The part of a property entry after `key=`: what a redaction must cover.
    fn value_part(&self, e: &Entry) -> Span {
        let whole = self.span(e.span());
        let Some(name) = e.name() else { return whole };
        let value_start = name.span().offset() + name.span().len() + 1;
        Span {
            file: self.file,
            offset: value_start.max(whole.offset),
            len: (whole.offset + whole.len).saturating_sub(value_start),
        }
    }

    fn secret_value(&mut self, name: &str, what: &str, hidden: Span) {
        self.push(
            Diag::error(
                diag::SECRET_VALUE,
                format!("secret `{name}` has {what}: a secret cannot have a value in the declaration"),
            )
            .label(hidden, "a value (not shown)")
            .redact(hidden)
            .help("secrets are supplied at deploy time and never stored in the declaration or a bundle; delete it (and rotate the secret if it was real), then see the bundle README for where the value goes"),
        );
    }

    fn target(&mut self, node: &Node) -> Option<Target> {
        let usage = "target \"compose|helm|kustomize|systemd\" { … }";
        self.check_props(node, &[]);
        self.check_arg_count(node, 1, usage);
        let name = self.arg_str(node, 0, "a target name", usage)?;
        let mut settings = Vec::new();
        for child in node.iter_children() {
            self.no_children(child);
            let mut args = Vec::new();
            let mut props = Vec::new();
            for e in child.entries() {
                let Some(v) = self.scalar_of(e, "a target setting") else {
                    continue;
                };
                match e.name() {
                    Some(n) => props.push((S::new(n.value().to_string(), self.span(n.span())), v)),
                    None => args.push(v),
                }
            }
            settings.push(Setting {
                name: S::new(child.name().value().to_string(), self.name_span(child)),
                args,
                props,
                span: self.span(child.span()),
            });
        }
        Some(Target {
            name,
            settings,
            span: self.span(node.span()),
        })
    }
}
