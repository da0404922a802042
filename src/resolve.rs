//! Stage 4: check the merged declaration and resolve it into the [`Model`].
//!
//! All semantic checks live here: names, types and ranges, references inside strings, the
//! service graph (unknown services, cycles), host-port clashes, singletons. Problems are
//! collected, never returned early; a model is produced only when there are no errors.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::decl::{self, Decl, EnvValue, ParamType, Scalar};
use crate::diag::{self, Diag};
use crate::model::*;
use crate::source::{S, Sources, Span};
use crate::values;

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
    };
    let app = r.app(decl);
    let images = r.images(decl, strict);
    let params = r.params(decl);
    let mut services = r.services(decl, &images, &params);
    r.graph(decl, &mut services);
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
        profile: profile.map(str::to_string),
        images: images.into_values().collect(),
        params: params.into_values().collect(),
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

    fn app(&mut self, decl: &Decl) -> Option<AppInfo> {
        let Some(app) = &decl.app else {
            self.err(
                Diag::error(diag::MISSING_NODE, "the declaration has no `app` node")
                    .label(
                        Span {
                            file: 0,
                            offset: 0,
                            len: 0,
                        },
                        "expected `app \"NAME\" version=\"X.Y.Z\"` at the top",
                    )
                    .help("add `app \"lucia\" version=\"1.2.3\" { description \"…\" }`"),
            );
            return None;
        };
        self.name(&app.name, "app", 40);
        let version = match &app.version {
            Some(v) => {
                let ok = !v.v.is_empty()
                    && v.v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
                    && v.v
                        .split(['-', '+'])
                        .next()
                        .map(|core| {
                            core.split('.').count() == 3
                                && core.split('.').all(|p| p.parse::<u64>().is_ok())
                        })
                        .unwrap_or(false);
                if !ok {
                    self.err(
                        Diag::error(
                            diag::WRONG_TYPE,
                            format!("`{}` is not a semantic version", v.v),
                        )
                        .label(v.span, "not MAJOR.MINOR.PATCH")
                        .help(
                            "write it like `1.2.3` or `1.2.3-preview.1` (Helm requires SemVer 2)",
                        ),
                    );
                }
                v.v.clone()
            }
            None => {
                self.err(
                    Diag::error(diag::MISSING_VALUE, "`app` needs a `version`")
                        .label(app.name.span, "no version")
                        .help(format!(
                            "add version=\"1.0.0\": `app \"{}\" version=\"1.0.0\"`",
                            app.name.v
                        )),
                );
                String::new()
            }
        };
        for u in app.home.iter().chain(app.sources.iter()) {
            if let Err(m) = values::check_url(&u.v) {
                self.err(
                    Diag::error(diag::BAD_URL, m)
                        .label(u.span, "not a URL")
                        .help("write an absolute https:// URL"),
                );
            }
        }
        Some(AppInfo {
            name: app.name.v.clone(),
            version,
            description: app
                .description
                .as_ref()
                .map(|d| d.v.clone())
                .unwrap_or_default(),
            home: app.home.as_ref().map(|h| h.v.clone()),
            sources: app.sources.iter().map(|s| s.v.clone()).collect(),
            keywords: app.keywords.iter().map(|s| s.v.clone()).collect(),
            maintainers: app
                .maintainers
                .iter()
                .map(|m| {
                    (
                        m.name.v.clone(),
                        m.email.as_ref().map(|e| e.v.clone()),
                        m.url.as_ref().map(|e| e.v.clone()),
                    )
                })
                .collect(),
        })
    }

    fn images(&mut self, decl: &Decl, strict: Strictness) -> BTreeMap<String, ImageRef> {
        self.duplicates(decl.images.iter().map(|i| &i.name), "image");
        let mut out = BTreeMap::new();
        for img in &decl.images {
            self.name(&img.name, "image", 63);
            let (repository, tag) = match values::split_image(&img.reference.v) {
                Ok(x) => x,
                Err(m) => {
                    self.err(Diag::error(diag::BAD_IMAGE, m).label(img.reference.span, "invalid reference").help("write `registry/repository:tag` and put a digest in `digest=\"sha256:…\"`"));
                    continue;
                }
            };
            if let Some(d) = &img.digest
                && let Err(m) = values::check_digest(&d.v)
            {
                self.err(
                    Diag::error(diag::BAD_IMAGE, m)
                        .label(d.span, "invalid digest")
                        .help("copy the digest from `docker buildx imagetools inspect IMAGE`"),
                );
            }
            if img.digest.is_none() {
                let msg = format!(
                    "image `{}` ({}) is not pinned by digest",
                    img.name.v, img.reference.v
                );
                let d = if strict.locked {
                    Diag::error(diag::UNPINNED_IMAGE, msg)
                } else {
                    Diag::warning(diag::UNPINNED_IMAGE, msg)
                };
                self.err(
                    d.label(img.reference.span, "tag only; the image behind it can change")
                        .help("add digest=\"sha256:…\" (from `docker buildx imagetools inspect`); --locked makes this an error"),
                );
            }
            out.entry(img.name.v.clone()).or_insert(ImageRef {
                name: img.name.v.clone(),
                reference: img.reference.v.clone(),
                repository,
                tag,
                digest: img.digest.as_ref().map(|d| d.v.clone()),
                span: img.span,
            });
        }
        out
    }

    fn params(&mut self, decl: &Decl) -> BTreeMap<String, ParamInfo> {
        self.duplicates(decl.params.iter().map(|i| &i.name), "param");
        let mut out = BTreeMap::new();
        for p in &decl.params {
            self.name(&p.name, "param", 63);
            let ty = p.ty.as_ref().map(|t| t.v).unwrap_or(ParamType::String);
            let one_of: Vec<String> = p.one_of.as_ref().map(|o| o.v.clone()).unwrap_or_default();
            if ty == ParamType::Enum && one_of.is_empty() {
                self.err(
                    Diag::error(
                        diag::MISSING_VALUE,
                        format!("enum param `{}` lists no values", p.name.v),
                    )
                    .label(p.name.span, "no `one-of`")
                    .help("add `one-of \"A\" \"B\"` inside the param's block"),
                );
            }
            if ty != ParamType::Int {
                for m in p.min.iter().chain(p.max.iter()) {
                    self.err(
                        Diag::error(diag::NOT_ALLOWED, "`min`/`max` only apply to `int` params")
                            .label(m.span, "not an int param")
                            .help("remove it, or set type=\"int\""),
                    );
                }
            }
            let Some(default) = &p.default else {
                self.err(
                    Diag::error(diag::MISSING_VALUE, format!("param `{}` has no default", p.name.v))
                        .label(p.name.span, "no `default=`")
                        .help("every param needs a default so every bundle builds; deployers override it per target"),
                );
                continue;
            };
            let text = default.v.render();
            let bad = |m: String| {
                Diag::error(diag::BAD_DEFAULT, m)
                    .label(default.span, format!("not a valid {}", ty.name()))
            };
            let check = match (ty, &default.v) {
                (ParamType::String, Scalar::Str(_)) => Ok(()),
                (ParamType::Url, Scalar::Str(s)) => values::check_url(s),
                (ParamType::Int, Scalar::Int(i)) => {
                    let lo = p.min.as_ref().map(|m| m.v);
                    let hi = p.max.as_ref().map(|m| m.v);
                    if lo.is_some_and(|lo| *i < lo) || hi.is_some_and(|hi| *i > hi) {
                        Err(format!("default {i} is outside min/max"))
                    } else {
                        Ok(())
                    }
                }
                (ParamType::Port, Scalar::Int(i)) => port_range(*i).map(|_| ()),
                (ParamType::Bool, Scalar::Bool(_)) => Ok(()),
                (ParamType::Enum, Scalar::Str(s)) => {
                    if one_of.is_empty() || one_of.contains(s) {
                        Ok(())
                    } else {
                        Err(format!(
                            "`{s}` is not one of {}",
                            one_of
                                .iter()
                                .map(|v| format!("`{v}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    }
                }
                (t, v) => Err(format!(
                    "a {} param needs a {} default, found {}",
                    t.name(),
                    match t {
                        ParamType::Int | ParamType::Port => "number",
                        ParamType::Bool => "boolean (#true/#false)",
                        _ => "string",
                    },
                    match v {
                        Scalar::Str(_) => "a string",
                        Scalar::Int(_) => "a number",
                        Scalar::Bool(_) => "a boolean",
                    }
                )),
            };
            if let Err(m) = check {
                let help = match ty {
                    ParamType::Url => {
                        "write an absolute URL such as `http://homeassistant.local:8123`"
                            .to_string()
                    }
                    ParamType::Enum => format!("use one of: {}", one_of.join(", ")),
                    ParamType::Port => "ports run from 1 to 65535".to_string(),
                    _ => format!("change the default or the type (`{}`)", ty.name()),
                };
                self.err(bad(m).help(help));
                continue;
            }
            let kind = match ty {
                ParamType::String => ParamKind::String,
                ParamType::Url => ParamKind::Url,
                ParamType::Int => ParamKind::Int {
                    min: p.min.as_ref().map(|m| m.v),
                    max: p.max.as_ref().map(|m| m.v),
                },
                ParamType::Port => ParamKind::Port,
                ParamType::Bool => ParamKind::Bool,
                ParamType::Enum => ParamKind::Enum,
            };
            out.entry(p.name.v.clone()).or_insert(ParamInfo {
                name: p.name.v.clone(),
                kind,
                default: text,
                description: p
                    .description
                    .as_ref()
                    .map(|d| d.v.clone())
                    .unwrap_or_default(),
                one_of,
                env_name: values::env_name(&p.name.v),
            });
        }
        out
    }

    /// Sub-span of the `i`-th byte of a string value, when the source spells the string
    /// plainly (no escapes); otherwise the whole value's span.
    fn sub_span(&self, whole: Span, value: &str, start: usize, len: usize) -> Span {
        let text = self
            .sources
            .get(whole.file)
            .map(|f| f.text.as_str())
            .unwrap_or("");
        let src = text
            .get(whole.offset..whole.offset + whole.len)
            .unwrap_or("");
        let quoted = format!("\"{value}\"");
        if let Some(pos) = src.rfind(&quoted) {
            return Span {
                file: whole.file,
                offset: whole.offset + pos + 1 + start,
                len,
            };
        }
        whole
    }

    /// Parse `{…}` references in a string into parts.
    fn template(
        &mut self,
        s: &S<String>,
        services: &BTreeMap<String, &decl::Service>,
        params: &BTreeMap<String, ParamInfo>,
    ) -> Vec<Part> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let text = &s.v;
        let mut i = 0;
        let bytes = text.as_bytes();
        while i < bytes.len() {
            let c = bytes[i];
            if c == b'{' && bytes.get(i + 1) == Some(&b'{') {
                lit.push('{');
                i += 2;
            } else if c == b'}' && bytes.get(i + 1) == Some(&b'}') {
                lit.push('}');
                i += 2;
            } else if c == b'{' {
                let Some(end) = text[i + 1..].find('}').map(|e| e + i + 1) else {
                    let span = self.sub_span(s.span, text, i, 1);
                    self.err(
                        Diag::error(diag::BAD_REFERENCE, "unclosed `{` in a string")
                            .label(span, "opened here")
                            .help("close the reference with `}`, or write `{{` for a literal `{`"),
                    );
                    return parts;
                };
                let inner = &text[i + 1..end];
                let span = self.sub_span(s.span, text, i, end + 1 - i);
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                if let Some(p) = self.reference(inner, span, services, params) {
                    parts.push(p);
                }
                i = end + 1;
            } else if c == b'}' {
                let span = self.sub_span(s.span, text, i, 1);
                self.err(
                    Diag::error(diag::BAD_REFERENCE, "unmatched `}` in a string")
                        .label(span, "no `{` before it")
                        .help("write `}}` for a literal `}`"),
                );
                i += 1;
            } else {
                // Push the whole UTF-8 character.
                let ch_len = text[i..].chars().next().map(char::len_utf8).unwrap_or(1);
                lit.push_str(&text[i..i + ch_len]);
                i += ch_len;
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        parts
    }

    fn reference(
        &mut self,
        inner: &str,
        span: Span,
        services: &BTreeMap<String, &decl::Service>,
        params: &BTreeMap<String, ParamInfo>,
    ) -> Option<Part> {
        let segs: Vec<&str> = inner.split('.').collect();
        let forms = "`{param.NAME}`, `{SERVICE.host}` or `{SERVICE.port.PORT}`";
        match segs.as_slice() {
            ["param", name] => {
                self.used_params.insert(name.to_string());
                if params.contains_key(*name) {
                    Some(Part::Param(name.to_string()))
                } else {
                    self.err(
                        Diag::error(diag::UNKNOWN_REFERENCE, format!("unknown param `{name}`"))
                            .label(span, "no such param")
                            .help(diag::unknown_help(
                                "param",
                                name,
                                params.keys().map(String::as_str),
                            )),
                    );
                    None
                }
            }
            ["secret", name] => {
                self.used_secrets.insert(name.to_string());
                self.err(
                    Diag::error(
                        diag::SECRET_IN_STRING,
                        format!("secret `{name}` cannot be spliced into a string"),
                    )
                    .label(span, "secret reference")
                    .help(format!(
                        "make the whole value the secret: `env \"KEY\" secret=\"{name}\"`"
                    )),
                );
                None
            }
            [svc, rest @ ..] if !rest.is_empty() => {
                let Some(service) = services.get(*svc) else {
                    self.err(
                        Diag::error(
                            diag::UNKNOWN_REFERENCE,
                            format!("unknown service `{svc}` in a reference"),
                        )
                        .label(span, "no such service")
                        .help(diag::unknown_help(
                            "service",
                            svc,
                            services.keys().map(String::as_str),
                        )),
                    );
                    return None;
                };
                match rest {
                    ["host"] => Some(Part::Host(svc.to_string())),
                    ["port", port] => match service.ports.iter().find(|p| p.name.v == *port) {
                        Some(p) => port_range(p.number.v).ok().map(|number| Part::Port {
                            service: svc.to_string(),
                            port: port.to_string(),
                            number,
                        }),
                        None => {
                            self.err(
                                Diag::error(
                                    diag::UNKNOWN_PORT,
                                    format!("service `{svc}` has no port `{port}`"),
                                )
                                .label(span, "no such port")
                                .help(diag::unknown_help(
                                    "port",
                                    port,
                                    service.ports.iter().map(|p| p.name.v.as_str()),
                                )),
                            );
                            None
                        }
                    },
                    _ => {
                        self.err(
                            Diag::error(
                                diag::BAD_REFERENCE,
                                format!("`{{{inner}}}` is not a reference form"),
                            )
                            .label(span, "unknown form")
                            .help(format!("use {forms}; write `{{{{` for a literal brace")),
                        );
                        None
                    }
                }
            }
            _ => {
                self.err(
                    Diag::error(
                        diag::BAD_REFERENCE,
                        format!("`{{{inner}}}` is not a reference"),
                    )
                    .label(span, "unknown form")
                    .help(format!("use {forms}; write `{{{{` for a literal brace")),
                );
                None
            }
        }
    }

    fn duration(&mut self, v: &Option<S<String>>, default: u64) -> u64 {
        match v {
            Some(d) => match values::parse_duration(&d.v) {
                Ok(s) => s,
                Err(m) => {
                    self.err(
                        Diag::error(diag::BAD_DURATION, m)
                            .label(d.span, "invalid duration")
                            .help("durations are a whole number with `ms`, `s`, `m` or `h`"),
                    );
                    default
                }
            },
            None => default,
        }
    }

    fn quantity(&mut self, v: &Option<S<String>>, cpu: bool) -> Option<Quantity> {
        let q = v.as_ref()?;
        let parsed = if cpu {
            values::parse_cpu(&q.v)
        } else {
            values::parse_bytes(&q.v)
        };
        match parsed {
            Ok(value) => Some(Quantity {
                value,
                text: q.v.clone(),
            }),
            Err(m) => {
                let help = if cpu {
                    "CPU: `250m`, `1`, `1.5`"
                } else {
                    "memory: `512Mi`, `1Gi`"
                };
                self.err(
                    Diag::error(diag::BAD_QUANTITY, m)
                        .label(q.span, "invalid quantity")
                        .help(help),
                );
                None
            }
        }
    }

    fn path(&mut self, p: &S<String>) {
        if !p.v.starts_with('/')
            || p.v.split('/').any(|seg| seg == "..")
            || p.v.contains(':')
            || p.v.contains(',')
        {
            self.err(
                Diag::error(
                    diag::BAD_PATH,
                    format!("`{}` is not an absolute container path", p.v),
                )
                .label(p.span, "invalid path")
                .help("write an absolute path without `..`, `:` or `,`, like `/data`"),
            );
        }
    }

    fn services(
        &mut self,
        decl: &Decl,
        images: &BTreeMap<String, ImageRef>,
        params: &BTreeMap<String, ParamInfo>,
    ) -> Vec<(ServiceInfo, Vec<(String, Span)>)> {
        self.duplicates(decl.services.iter().map(|s| &s.name), "service");
        let by_name: BTreeMap<String, &decl::Service> = decl
            .services
            .iter()
            .map(|s| (s.name.v.clone(), s))
            .collect();
        let mut out = Vec::new();
        for s in &decl.services {
            self.name(&s.name, "service", 40);
            let image = match &s.image {
                None => {
                    self.err(
                        Diag::error(
                            diag::MISSING_VALUE,
                            format!("service `{}` has no image", s.name.v),
                        )
                        .label(s.name.span, "no `image`")
                        .help(
                            diag::unknown_help("image", "", images.keys().map(String::as_str))
                                .replace("known images:", "add `image \"NAME\"` naming one of:"),
                        ),
                    );
                    None
                }
                Some(i) => match images.get(&i.v) {
                    Some(img) => Some(img.clone()),
                    None => {
                        if !decl.images.iter().any(|d| d.name.v == i.v) {
                            self.err(
                                Diag::error(
                                    diag::UNKNOWN_IMAGE,
                                    format!("unknown image `{}`", i.v),
                                )
                                .label(i.span, "not declared")
                                .help(diag::unknown_help(
                                    "image",
                                    &i.v,
                                    images.keys().map(String::as_str),
                                )),
                            );
                        }
                        None
                    }
                },
            };
            // Ports.
            self.duplicates(s.ports.iter().map(|p| &p.name), "port");
            let mut ports = Vec::new();
            let mut numbers: BTreeMap<u16, Span> = BTreeMap::new();
            for p in &s.ports {
                self.name(&p.name, "port", 15);
                let number = match port_range(p.number.v) {
                    Ok(n) => n,
                    Err(m) => {
                        self.err(
                            Diag::error(diag::BAD_PORT, m)
                                .label(p.number.span, "out of range")
                                .help("ports run from 1 to 65535"),
                        );
                        continue;
                    }
                };
                if let Some(first) = numbers.get(&number) {
                    self.err(
                        Diag::error(
                            diag::DUPLICATE_CONTAINER_PORT,
                            format!("port {number} is declared twice in `{}`", s.name.v),
                        )
                        .label(p.number.span, "declared again")
                        .label(*first, "first declared here")
                        .help("give each port its own number"),
                    );
                }
                numbers.insert(number, p.number.span);
                let publish = p.publish.as_ref().and_then(|pb| self.publish(pb, params));
                ports.push(PortInfo {
                    name: p.name.v.clone(),
                    number,
                    publish,
                });
            }
            // Env.
            self.duplicates(s.env.iter().map(|e| &e.key), "env key");
            let mut env = Vec::new();
            let mut refs: Vec<(String, Span)> = Vec::new();
            for e in &s.env {
                if e.key.v.is_empty()
                    || e.key
                        .v
                        .chars()
                        .any(|c| c == '=' || c.is_whitespace() || c == '\0')
                {
                    self.err(Diag::error(diag::BAD_ENV_KEY, format!("`{}` is not an environment key", e.key.v)).label(e.key.span, "invalid key").help("keys are non-empty, without `=` or whitespace; `__` separates configuration sections"));
                }
                let source = match &e.value {
                    EnvValue::Secret(name) => {
                        self.used_secrets.insert(name.v.clone());
                        if !decl.secrets.iter().any(|x| x.name.v == name.v) {
                            self.err(
                                Diag::error(
                                    diag::UNKNOWN_REFERENCE,
                                    format!("unknown secret `{}`", name.v),
                                )
                                .label(name.span, "no such secret")
                                .help(diag::unknown_help(
                                    "secret",
                                    &name.v,
                                    decl.secrets.iter().map(|x| x.name.v.as_str()),
                                )),
                            );
                        }
                        EnvSource::Secret(name.v.clone())
                    }
                    EnvValue::Text(t) => {
                        if t.v.contains('\0') {
                            self.err(
                                Diag::error(
                                    diag::WRONG_TYPE,
                                    "an environment value cannot hold a NUL character",
                                )
                                .label(t.span, "contains \\0"),
                            );
                        }
                        let parts = self.template(t, &by_name, params);
                        for p in &parts {
                            match p {
                                Part::Host(svc) | Part::Port { service: svc, .. } => {
                                    refs.push((svc.clone(), e.span))
                                }
                                _ => {}
                            }
                        }
                        EnvSource::Template(parts)
                    }
                };
                env.push(EnvVar {
                    key: e.key.v.clone(),
                    source,
                    span: e.span,
                });
            }
            // Health.
            let health = s.health.as_ref().and_then(|h| self.health(s, h, &ports));
            // Volumes and paths.
            self.duplicates(s.volumes.iter().map(|v| &v.name), "volume");
            let mut volumes = Vec::new();
            for v in &s.volumes {
                self.name(&v.name, "volume", 40);
                self.path(&v.path);
                let size = self.quantity(&v.size, false);
                volumes.push(VolumeInfo {
                    name: v.name.v.clone(),
                    path: v.path.v.clone(),
                    size: size.as_ref().map(|q| q.value),
                    size_text: size.map(|q| q.text),
                });
            }
            for w in &s.writable {
                self.path(w);
            }
            // Resources.
            let resources = match &s.resources {
                Some(r) => {
                    let info = ResourceInfo {
                        cpu: self.quantity(&r.cpu, true),
                        memory: self.quantity(&r.memory, false),
                        cpu_limit: self.quantity(&r.cpu_limit, true),
                        memory_limit: self.quantity(&r.memory_limit, false),
                    };
                    for (req, lim, reqs, lims) in [
                        (&info.cpu, &info.cpu_limit, &r.cpu, &r.cpu_limit),
                        (&info.memory, &info.memory_limit, &r.memory, &r.memory_limit),
                    ] {
                        if let (Some(a), Some(b), Some(sa), Some(sb)) = (req, lim, reqs, lims)
                            && a.value > b.value
                        {
                            self.err(
                                Diag::error(
                                    diag::REQUEST_OVER_LIMIT,
                                    format!("request `{}` is above limit `{}`", a.text, b.text),
                                )
                                .label(sa.span, "request")
                                .label(sb.span, "limit")
                                .help("raise the limit or lower the request"),
                            );
                        }
                    }
                    info
                }
                None => ResourceInfo::default(),
            };
            // Singleton.
            let singleton = s.singleton.as_ref().map(|x| x.v).unwrap_or(false);
            let replicas = s.replicas.as_ref().map(|r| r.v).unwrap_or(1);
            if let (Some(sg), Some(r)) = (&s.singleton, &s.replicas)
                && sg.v
                && r.v > 1
            {
                self.err(
                    Diag::error(diag::SINGLETON_REPLICAS, format!("`{}` is a singleton but asks for {} replicas", s.name.v, r.v))
                        .label(r.span, "more than one replica")
                        .label(sg.span, "declared a singleton here")
                        .help("remove `replicas`, or remove `singleton` if the service can really run as several instances"),
                );
            }
            if replicas == 0
                && let Some(r) = &s.replicas
            {
                self.err(
                    Diag::error(diag::NOT_ALLOWED, "`replicas 0` deploys nothing")
                        .label(r.span, "zero")
                        .help("remove the service with a profile's `remove \"service\" …` instead"),
                );
            }
            // Dependencies.
            for d in &s.depends_on {
                if by_name.contains_key(&d.v) {
                    refs.push((d.v.clone(), d.span));
                } else {
                    self.err(
                        Diag::error(
                            diag::UNKNOWN_SERVICE,
                            format!("`{}` depends on unknown service `{}`", s.name.v, d.v),
                        )
                        .label(d.span, "no such service")
                        .help(diag::unknown_help(
                            "service",
                            &d.v,
                            by_name.keys().map(String::as_str),
                        )),
                    );
                }
            }
            for r in &s.removals {
                if !self
                    .diags
                    .iter()
                    .any(|d| d.labels.first().map(|l| l.span) == Some(r.name.span))
                {
                    self.err(
                        Diag::error(
                            diag::NOTHING_TO_REMOVE,
                            format!(
                                "service `{}` is new in this profile; there is nothing to remove",
                                s.name.v
                            ),
                        )
                        .label(r.span, "nothing to remove")
                        .help("delete this `remove`"),
                    );
                }
            }
            let Some(image) = image else { continue };
            let mut depends_on: Vec<String> = refs
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| *n != s.name.v)
                .collect();
            depends_on.sort();
            depends_on.dedup();
            out.push((
                ServiceInfo {
                    name: s.name.v.clone(),
                    image,
                    command: s.command.as_ref().map(|c| c.v.clone()).unwrap_or_default(),
                    singleton,
                    replicas,
                    uid: s.user.as_ref().map(|u| u.uid.v),
                    gid: s.user.as_ref().and_then(|u| u.gid.as_ref().map(|g| g.v)),
                    read_only_root: s.read_only_root.as_ref().map(|x| x.v).unwrap_or(false),
                    writable: s.writable.iter().map(|w| w.v.clone()).collect(),
                    ports,
                    env,
                    health,
                    volumes,
                    resources,
                    depends_on,
                    host_unit: s
                        .host_unit
                        .as_ref()
                        .map(|h| h.v.clone())
                        .unwrap_or_default(),
                    span: s.span,
                },
                refs,
            ));
        }
        out
    }

    fn publish(&mut self, pb: &S<Scalar>, params: &BTreeMap<String, ParamInfo>) -> Option<Publish> {
        match &pb.v {
            Scalar::Int(n) => match port_range(*n) {
                Ok(p) => Some(Publish::Fixed(p)),
                Err(m) => {
                    self.err(
                        Diag::error(diag::BAD_PORT, m)
                            .label(pb.span, "out of range")
                            .help("ports run from 1 to 65535"),
                    );
                    None
                }
            },
            Scalar::Str(s) => {
                let name = s.strip_prefix("{param.").and_then(|r| r.strip_suffix('}'));
                match name {
                    Some(name) => {
                        self.used_params.insert(name.to_string());
                        match params.get(name) {
                            Some(p) if p.kind == ParamKind::Port => {
                                p.default.parse().ok().map(|default| Publish::Param {
                                    name: name.to_string(),
                                    default,
                                })
                            }
                            Some(p) => {
                                self.err(Diag::error(diag::WRONG_TYPE, format!("param `{name}` is a {}, not a port", kind_name(p.kind))).label(pb.span, "needs a port param").help(format!("declare it with type=\"port\": `param \"{name}\" type=\"port\" default=…`")));
                                None
                            }
                            None => {
                                self.err(
                                    Diag::error(
                                        diag::UNKNOWN_REFERENCE,
                                        format!("unknown param `{name}`"),
                                    )
                                    .label(pb.span, "no such param")
                                    .help(diag::unknown_help(
                                        "param",
                                        name,
                                        params.keys().map(String::as_str),
                                    )),
                                );
                                None
                            }
                        }
                    }
                    None => {
                        self.err(
                            Diag::error(
                                diag::WRONG_TYPE,
                                "`publish` takes a port number or `\"{param.NAME}\"`",
                            )
                            .label(pb.span, "neither a number nor a param reference")
                            .help("write publish=7233 or publish=\"{param.http-port}\""),
                        );
                        None
                    }
                }
            }
            Scalar::Bool(_) => {
                self.err(
                    Diag::error(
                        diag::WRONG_TYPE,
                        "`publish` takes a port number or `\"{param.NAME}\"`",
                    )
                    .label(pb.span, "a boolean")
                    .help("write publish=7233"),
                );
                None
            }
        }
    }

    fn health(
        &mut self,
        s: &decl::Service,
        h: &decl::Health,
        ports: &[PortInfo],
    ) -> Option<HealthInfo> {
        let span = h.span.unwrap_or(s.name.span);
        let http = h.liveness.is_some() || h.readiness.is_some();
        if let (true, Some(exec)) = (http, &h.exec) {
            self.err(
                Diag::error(
                    diag::HEALTH_CONFLICT,
                    "a health check is either HTTP or a command, not both",
                )
                .label(exec.span, "command check")
                .label(
                    h.liveness
                        .as_ref()
                        .or(h.readiness.as_ref())
                        .map(|x| x.span)
                        .unwrap_or(span),
                    "HTTP check",
                )
                .help("keep `liveness`/`readiness` for an HTTP service, or `exec` for a command"),
            );
            return None;
        }
        let start_period = self.duration(&h.start_period, 0);
        let interval = self.duration(&h.interval, 30);
        let timeout = self.duration(&h.timeout, 5);
        let retries = h.retries.as_ref().map(|r| r.v).unwrap_or(3);
        if let Some(r) = &h.retries
            && r.v == 0
        {
            self.err(
                Diag::error(diag::NOT_ALLOWED, "`retries` must be at least 1")
                    .label(r.span, "zero")
                    .help("use retries=3"),
            );
        }
        for (v, name) in [(&h.interval, "interval"), (&h.timeout, "timeout")] {
            if let Some(v) = v
                && values::parse_duration(&v.v) == Ok(0)
            {
                self.err(
                    Diag::error(diag::BAD_DURATION, format!("`{name}` must be at least 1s"))
                        .label(v.span, "zero")
                        .help("use at least `1s`"),
                );
            }
        }
        let (liveness, readiness) = if let Some(exec) = &h.exec {
            (Check::Exec(exec.v.clone()), Check::Exec(exec.v.clone()))
        } else if http {
            let port = match &h.port {
                Some(p) => match ports.iter().find(|x| x.name == p.v) {
                    Some(x) => x.clone(),
                    None => {
                        self.err(
                            Diag::error(
                                diag::UNKNOWN_PORT,
                                format!("service `{}` has no port `{}`", s.name.v, p.v),
                            )
                            .label(p.span, "no such port")
                            .help(diag::unknown_help(
                                "port",
                                &p.v,
                                ports.iter().map(|x| x.name.as_str()),
                            )),
                        );
                        return None;
                    }
                },
                None => match ports.first() {
                    Some(x) => x.clone(),
                    None => {
                        self.err(
                            Diag::error(
                                diag::UNKNOWN_PORT,
                                format!(
                                    "service `{}` has an HTTP health check but no port",
                                    s.name.v
                                ),
                            )
                            .label(span, "HTTP check without a port")
                            .help("declare `port \"http\" 8080` in the service"),
                        );
                        return None;
                    }
                },
            };
            for p in [&h.liveness, &h.readiness].into_iter().flatten() {
                if !p.v.starts_with('/') || p.v.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    self.err(
                        Diag::error(diag::BAD_PATH, format!("`{}` is not an HTTP path", p.v))
                            .label(p.span, "invalid path")
                            .help("write an absolute path like `/health`"),
                    );
                }
            }
            let live = h
                .liveness
                .as_ref()
                .or(h.readiness.as_ref())
                .map(|p| p.v.clone())
                .unwrap_or_default();
            let ready = h
                .readiness
                .as_ref()
                .or(h.liveness.as_ref())
                .map(|p| p.v.clone())
                .unwrap_or_default();
            (
                Check::Http {
                    path: live,
                    port: port.name.clone(),
                    number: port.number,
                },
                Check::Http {
                    path: ready,
                    port: port.name,
                    number: port.number,
                },
            )
        } else {
            self.err(Diag::error(diag::MISSING_VALUE, "`health` needs a check").label(span, "no check").help("add liveness=\"/alive\" readiness=\"/health\", or a child `exec \"CMD\" …`"));
            return None;
        };
        Some(HealthInfo {
            liveness,
            readiness,
            start_period,
            interval,
            timeout,
            retries,
        })
    }

    /// Cycles in the service graph, each reported once with a label per edge.
    fn graph(&mut self, _decl: &Decl, services: &mut [(ServiceInfo, Vec<(String, Span)>)]) {
        let mut g: DiGraph<String, Span> = DiGraph::new();
        let mut idx: BTreeMap<String, NodeIndex> = BTreeMap::new();
        let mut names: Vec<&str> = services.iter().map(|(s, _)| s.name.as_str()).collect();
        names.sort();
        for n in names {
            idx.insert(n.to_string(), g.add_node(n.to_string()));
        }
        let mut sorted: Vec<&(ServiceInfo, Vec<(String, Span)>)> = services.iter().collect();
        sorted.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        for (s, refs) in sorted {
            let mut refs = refs.clone();
            refs.sort();
            refs.dedup_by(|a, b| a.0 == b.0);
            for (to, span) in refs {
                if let (Some(a), Some(b)) = (idx.get(&s.name), idx.get(&to)) {
                    g.add_edge(*a, *b, span);
                }
            }
        }
        for scc in tarjan_scc(&g) {
            let self_loop = scc.len() == 1 && g.find_edge(scc[0], scc[0]).is_some();
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let Some(start) = scc.iter().copied().min_by(|a, b| g[*a].cmp(&g[*b])) else {
                continue;
            };
            let path = cycle_path(&g, start, &members);
            let names: Vec<&str> = path
                .iter()
                .map(|(n, _)| g[*n].as_str())
                .chain(std::iter::once(g[start].as_str()))
                .collect();
            let mut d = Diag::error(
                diag::CYCLE,
                format!("dependency cycle: {}", names.join(" -> ")),
            );
            let n = path.len();
            for (i, (node, span)) in path.iter().enumerate() {
                let next = if i + 1 < n {
                    g[path[i + 1].0].as_str()
                } else {
                    g[start].as_str()
                };
                let text = if i + 1 == n {
                    format!("`{}` needs `{next}`, closing the cycle", g[*node])
                } else {
                    format!("`{}` needs `{next}`", g[*node])
                };
                d = d.label(*span, text);
            }
            self.err(d.help("services start in dependency order; remove one of these edges"));
        }
    }

    fn host_ports(&mut self, decl: &Decl, services: &[(ServiceInfo, Vec<(String, Span)>)]) {
        let mut seen: BTreeMap<u16, Span> = BTreeMap::new();
        for s in &decl.services {
            if !services.iter().any(|(x, _)| x.name == s.name.v) {
                continue;
            }
            for p in &s.ports {
                let Some(pb) = &p.publish else { continue };
                let Some(info) = services
                    .iter()
                    .find(|(x, _)| x.name == s.name.v)
                    .and_then(|(x, _)| x.ports.iter().find(|q| q.name == p.name.v))
                else {
                    continue;
                };
                let Some(publish) = &info.publish else {
                    continue;
                };
                let host = publish.default_port();
                if let Some(first) = seen.get(&host) {
                    self.err(
                        Diag::error(
                            diag::HOST_PORT_CONFLICT,
                            format!("host port {host} is published twice"),
                        )
                        .label(pb.span, "published again here")
                        .label(*first, "first published here")
                        .help("choose another host port for one of them"),
                    );
                } else {
                    seen.insert(host, pb.span);
                }
                if host < 1024 {
                    self.err(
                        Diag::warning(diag::LOW_HOST_PORT, format!("host port {host} is below 1024"))
                            .label(pb.span, "privileged port")
                            .help("rootless Docker and Podman cannot bind it without extra setup; prefer a port above 1024"),
                    );
                }
            }
        }
    }

    fn secrets(
        &mut self,
        decl: &Decl,
        services: &[(ServiceInfo, Vec<(String, Span)>)],
    ) -> Vec<SecretInfo> {
        self.duplicates(decl.secrets.iter().map(|i| &i.name), "secret");
        let mut out: Vec<SecretInfo> = Vec::new();
        for s in &decl.secrets {
            self.name(&s.name, "secret", 63);
            if out.iter().any(|x| x.name == s.name.v) {
                continue;
            }
            let mut keys: Vec<String> = services
                .iter()
                .flat_map(|(svc, _)| {
                    svc.secrets()
                        .filter(|(_, n)| *n == s.name.v)
                        .map(|(k, _)| k.to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            keys.sort();
            keys.dedup();
            out.push(SecretInfo {
                name: s.name.v.clone(),
                description: s
                    .description
                    .as_ref()
                    .map(|d| d.v.clone())
                    .unwrap_or_default(),
                min_length: s.min_length.as_ref().map(|m| m.v),
                prefix: s.prefix.as_ref().map(|m| m.v.clone()),
                optional: s.optional.as_ref().map(|m| m.v).unwrap_or(false),
                keys,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn unused(&mut self, decl: &Decl) {
        for p in &decl.params {
            if !self.used_params.contains(&p.name.v) {
                self.err(
                    Diag::warning(diag::UNUSED, format!("param `{}` is never used", p.name.v))
                        .label(p.name.span, "declared here")
                        .help(format!(
                            "use it in an env value as `{{param.{}}}`, or remove it",
                            p.name.v
                        )),
                );
            }
        }
        for s in &decl.secrets {
            if !self.used_secrets.contains(&s.name.v) {
                self.err(
                    Diag::warning(diag::UNUSED, format!("secret `{}` is never used", s.name.v))
                        .label(s.name.span, "declared here")
                        .help(format!(
                            "hand it to a service with `env \"KEY\" secret=\"{}\"`, or remove it",
                            s.name.v
                        )),
                );
            }
        }
    }

    fn targets(&mut self, decl: &Decl) -> TargetSettings {
        let mut t = TargetSettings {
            compose: ComposeSettings {
                enabled: true,
                bind_address: None,
                log_max_size: "10m".into(),
                log_max_files: 3,
            },
            helm: HelmSettings {
                enabled: true,
                network_policy: false,
                ..Default::default()
            },
            kustomize: KustomizeSettings {
                enabled: true,
                namespace: None,
            },
            systemd: SystemdSettings {
                enabled: true,
                prefix: "/opt/lucia".into(),
                user: "lucia".into(),
            },
        };
        const NAMES: &[&str] = &["compose", "helm", "kustomize", "systemd"];
        for target in &decl.targets {
            let known: &[&str] = match target.name.v.as_str() {
                "compose" => &["enabled", "bind-address", "log-max-size", "log-max-files"],
                "helm" => &[
                    "enabled",
                    "ingress",
                    "storage-class",
                    "network-policy",
                    "namespace",
                ],
                "kustomize" => &["enabled", "namespace"],
                "systemd" => &["enabled", "prefix", "user"],
                other => {
                    self.err(
                        Diag::error(diag::UNKNOWN_TARGET, format!("unknown target `{other}`"))
                            .label(target.name.span, "no such target")
                            .help(diag::unknown_help("target", other, NAMES.iter().copied())),
                    );
                    continue;
                }
            };
            for s in &target.settings {
                if !known.contains(&s.name.v.as_str()) {
                    self.err(
                        Diag::error(
                            diag::UNKNOWN_NODE,
                            format!("target `{}` has no setting `{}`", target.name.v, s.name.v),
                        )
                        .label(s.name.span, "unknown setting")
                        .help(diag::unknown_help(
                            "setting",
                            &s.name.v,
                            known.iter().copied(),
                        )),
                    );
                    continue;
                }
                self.setting(&mut t, &target.name.v, s);
            }
        }
        t
    }

    fn setting(&mut self, t: &mut TargetSettings, target: &str, s: &decl::Setting) {
        let key = s.name.v.as_str();
        if key == "ingress" {
            for (k, v) in &s.props {
                match (k.v.as_str(), &v.v) {
                    ("host", Scalar::Str(h)) => t.helm.ingress_host = Some(h.clone()),
                    ("class", Scalar::Str(c)) => t.helm.ingress_class = Some(c.clone()),
                    ("tls", Scalar::Bool(b)) => t.helm.ingress_tls = *b,
                    ("tls-secret", Scalar::Str(c)) => t.helm.ingress_tls_secret = Some(c.clone()),
                    ("host" | "class" | "tls-secret", _) => self.err(
                        Diag::error(diag::WRONG_TYPE, format!("`{}` must be a string", k.v))
                            .label(v.span, "expected a string"),
                    ),
                    ("tls", _) => self.err(
                        Diag::error(diag::WRONG_TYPE, "`tls` must be #true or #false")
                            .label(v.span, "expected a boolean"),
                    ),
                    (other, _) => self.err(
                        Diag::error(
                            diag::UNKNOWN_PROPERTY,
                            format!("`ingress` has no property `{other}`"),
                        )
                        .label(k.span, "unknown property")
                        .help(diag::unknown_help(
                            "property",
                            other,
                            ["host", "class", "tls", "tls-secret"],
                        )),
                    ),
                }
            }
            return;
        }
        if !s.props.is_empty() || s.args.len() != 1 {
            self.err(
                Diag::error(
                    diag::MISSING_VALUE,
                    format!("`{key}` takes exactly one value"),
                )
                .label(s.span, "expected one value")
                .help(format!("write `{key} VALUE`")),
            );
            return;
        }
        let v = &s.args[0];
        let want_bool = matches!(key, "enabled" | "network-policy");
        let want_int = key == "log-max-files";
        match (&v.v, want_bool, want_int) {
            (Scalar::Bool(b), true, _) => match (target, key) {
                (_, "enabled") => match target {
                    "compose" => t.compose.enabled = *b,
                    "helm" => t.helm.enabled = *b,
                    "kustomize" => t.kustomize.enabled = *b,
                    _ => t.systemd.enabled = *b,
                },
                _ => t.helm.network_policy = *b,
            },
            (Scalar::Int(n), _, true) if *n >= 1 && *n <= 100 => {
                t.compose.log_max_files = *n as u32
            }
            (Scalar::Str(text), false, false) => {
                let text = text.clone();
                match (target, key) {
                    ("compose", "bind-address") => t.compose.bind_address = Some(text),
                    ("compose", "log-max-size") => t.compose.log_max_size = text,
                    ("helm", "storage-class") => t.helm.storage_class = Some(text),
                    ("helm", "namespace") => t.helm.namespace = Some(text),
                    ("kustomize", "namespace") => t.kustomize.namespace = Some(text),
                    ("systemd", "prefix") => {
                        if !text.starts_with('/') || text.contains(char::is_whitespace) {
                            self.err(
                                Diag::error(
                                    diag::BAD_PATH,
                                    format!("`{text}` is not an absolute path"),
                                )
                                .label(v.span, "invalid prefix")
                                .help("use an absolute path such as `/opt/lucia`"),
                            );
                        }
                        t.systemd.prefix = text;
                    }
                    ("systemd", "user") => t.systemd.user = text,
                    _ => {}
                }
            }
            _ => {
                let want = if want_bool {
                    "#true or #false"
                } else if want_int {
                    "a number from 1 to 100"
                } else {
                    "a string"
                };
                self.err(
                    Diag::error(diag::WRONG_TYPE, format!("`{key}` must be {want}"))
                        .label(v.span, format!("expected {want}")),
                );
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

/// A cycle through `start` inside one strongly connected component, visiting neighbours in
/// name order so the report is the same whatever order the file lists services in.
fn cycle_path(
    g: &DiGraph<String, Span>,
    start: NodeIndex,
    members: &BTreeSet<NodeIndex>,
) -> Vec<(NodeIndex, Span)> {
    fn dfs(
        g: &DiGraph<String, Span>,
        at: NodeIndex,
        start: NodeIndex,
        members: &BTreeSet<NodeIndex>,
        seen: &mut BTreeSet<NodeIndex>,
        path: &mut Vec<(NodeIndex, Span)>,
    ) -> bool {
        let mut edges: Vec<(NodeIndex, Span)> = g
            .edges(at)
            .map(|e| (petgraph::visit::EdgeRef::target(&e), *e.weight()))
            .filter(|(t, _)| members.contains(t))
            .collect();
        edges.sort_by(|a, b| g[a.0].cmp(&g[b.0]));
        for (to, span) in edges {
            path.push((at, span));
            if to == start {
                return true;
            }
            if seen.insert(to) && dfs(g, to, start, members, seen, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    let mut seen = BTreeSet::from([start]);
    dfs(g, start, start, members, &mut seen, &mut path);
    path
}

/// Kahn's algorithm with a min-heap on names: dependencies first, ties by name.
fn canonical_order(services: Vec<(ServiceInfo, Vec<(String, Span)>)>) -> Vec<ServiceInfo> {
    let mut by_name: BTreeMap<String, ServiceInfo> = services
        .into_iter()
        .map(|(s, _)| (s.name.clone(), s))
        .collect();
    let mut indeg: BTreeMap<String, usize> = by_name
        .iter()
        .map(|(n, s)| {
            (
                n.clone(),
                s.depends_on
                    .iter()
                    .filter(|d| by_name.contains_key(*d))
                    .count(),
            )
        })
        .collect();
    let mut heap: BinaryHeap<Reverse<String>> = indeg
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| Reverse(n.clone()))
        .collect();
    let mut order = Vec::new();
    while let Some(Reverse(n)) = heap.pop() {
        for (m, s) in by_name.iter() {
            if s.depends_on.contains(&n)
                && let Some(d) = indeg.get_mut(m)
            {
                *d -= 1;
                if *d == 0 {
                    heap.push(Reverse(m.clone()));
                }
            }
        }
        order.push(n);
    }
    // A cycle was reported already; keep any leftovers in name order rather than dropping them.
    for n in by_name.keys() {
        if !order.contains(n) {
            order.push(n.clone());
        }
    }
    order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect()
}
