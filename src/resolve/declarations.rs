//! Top-level declarations: the app, images, params, secrets, and what is declared but unused.

use std::collections::BTreeMap;

use super::{Resolver, Strictness, port_range};
use crate::decl::{Decl, ParamType, Scalar};
use crate::diag::{self, Diag};
use crate::model::{AppInfo, ImageRef, ParamInfo, ParamKind, SecretInfo, ServiceInfo};
use crate::source::Span;
use crate::values;

impl Resolver<'_> {
    pub(super) fn app(&mut self, decl: &Decl) -> Option<AppInfo> {
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
            description_span: app.description.as_ref().map(|d| d.span),
            name_span: Some(app.name.span),
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

    pub(super) fn images(
        &mut self,
        decl: &Decl,
        _strict: Strictness,
    ) -> BTreeMap<String, ImageRef> {
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
                        .help(
                            "run `luciac lock` to pin it in lucia.lock instead of typing a digest",
                        ),
                );
            }
            // Unpinned images are reported by `lock::apply`, which knows the lock.
            out.entry(img.name.v.clone()).or_insert(ImageRef {
                name: img.name.v.clone(),
                reference: img.reference.v.clone(),
                repository,
                tag,
                digest: img.digest.as_ref().map(|d| d.v.clone()),
                // Checked (with a located error) by `lock::apply`.
                platforms: img
                    .platforms
                    .as_ref()
                    .and_then(|p| crate::lock::reference::platforms(&p.v).ok())
                    .unwrap_or_default(),
                span: img.span,
            });
        }
        out
    }

    pub(super) fn params(&mut self, decl: &Decl) -> BTreeMap<String, ParamInfo> {
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
                        Diag::error(diag::NOT_FOR_TYPE, "`min`/`max` only apply to `int` params")
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
                self.invalid_params.insert(p.name.v.clone());
                continue;
            };
            let text = default.v.render();
            if let Scalar::Str(v) = &default.v {
                self.credentials(
                    v,
                    default.span,
                    &format!("the default of param `{}`", p.name.v),
                );
            }
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
                    ParamType::Port | ParamType::Int if matches!(&default.v, Scalar::Str(s) if s.trim().parse::<i64>().is_ok()) =>
                    {
                        format!("remove the quotes: default={}", text.trim())
                    }
                    ParamType::Port => "ports run from 1 to 65535".to_string(),
                    _ => format!("change the default or the type (`{}`)", ty.name()),
                };
                self.err(bad(m).help(help));
                self.invalid_params.insert(p.name.v.clone());
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
                span: p.span,
                default_span: default.span,
            });
        }
        out
    }

    pub(super) fn secrets(
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

    pub(super) fn unused(&mut self, decl: &Decl) {
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
}
