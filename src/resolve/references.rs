//! References inside strings: `{param.x}`, `{service.host}`, `{service.port.name}`, `{{`.

use std::collections::BTreeMap;

use super::{Resolver, port_range};
use crate::decl;
use crate::diag::{self, Diag};
use crate::model::{ParamInfo, Part};
use crate::source::{S, Span};

impl Resolver<'_> {
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
    pub(super) fn template(
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
                } else if self.invalid_params.contains(*name) {
                    None
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
}
