//! Every name a project declares or uses, with where it is written.
//!
//! Built from the outline trees of the base and its profiles, so it works on files that do
//! not parse. A profile's `param "x" …` at the top level (or a `port "http"` in a profile's
//! `service`) changes the base's definition, so it counts as a declaration of the same symbol:
//! go-to-definition prefers the base's, references and rename include both.

use super::world::Project;
use crate::syntax::{self, Kind, Node, Value};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Symbol {
    Param(String),
    Secret(String),
    Service(String),
    Image(String),
    /// A port of a service.
    Port {
        service: String,
        name: String,
    },
}

impl Symbol {
    pub fn name(&self) -> &str {
        match self {
            Symbol::Param(n) | Symbol::Secret(n) | Symbol::Service(n) | Symbol::Image(n) => n,
            Symbol::Port { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Symbol::Param(_) => "param",
            Symbol::Secret(_) => "secret",
            Symbol::Service(_) => "service",
            Symbol::Image(_) => "image",
            Symbol::Port { .. } => "port",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub symbol: Symbol,
    /// Index into `Project::files`.
    pub file: usize,
    /// The name's bytes (inside the quotes).
    pub start: usize,
    pub end: usize,
    pub is_decl: bool,
}

pub fn occurrences(project: &Project) -> Vec<Occurrence> {
    let mut out = Vec::new();
    for (file, f) in project.files.iter().enumerate() {
        let mut c = Collector {
            src: &f.text,
            file,
            out: &mut out,
        };
        for node in &f.tree.nodes {
            c.top(node);
        }
    }
    out
}

/// The occurrence under the cursor (the cursor may sit just after the name).
pub fn at(occ: &[Occurrence], file: usize, offset: usize) -> Option<&Occurrence> {
    occ.iter()
        .find(|o| o.file == file && o.start <= offset && offset <= o.end)
}

struct Collector<'a> {
    src: &'a str,
    file: usize,
    out: &'a mut Vec<Occurrence>,
}

/// The byte range of a value's text: inside the quotes for a string.
pub fn name_range(v: &Value, src: &str) -> (usize, usize) {
    if v.token.kind == Kind::Str {
        let (off, content) = syntax::string_content(v.token.text(src));
        let start = v.token.start + off;
        (start, start + content.len())
    } else {
        (v.token.start, v.token.end)
    }
}

impl Collector<'_> {
    fn push(&mut self, symbol: Symbol, v: &Value, is_decl: bool) {
        if v.text.is_empty() {
            return;
        }
        let (start, end) = name_range(v, self.src);
        self.out.push(Occurrence {
            symbol,
            file: self.file,
            start,
            end,
            is_decl,
        });
    }

    fn reference(&mut self, symbol: Symbol, start: usize, end: usize) {
        if start < end {
            self.out.push(Occurrence {
                symbol,
                file: self.file,
                start,
                end,
                is_decl: false,
            });
        }
    }

    /// References inside every string of `node` and its children.
    fn strings(&mut self, node: &Node) {
        for e in &node.entries {
            let Some(v) = &e.value else { continue };
            for r in syntax::references(&v.token, self.src) {
                match r.segments.as_slice() {
                    [(p, ..), (name, s, e)] if p == "param" => {
                        self.reference(Symbol::Param(name.clone()), *s, *e);
                    }
                    [(svc, s, e), rest @ ..]
                        if !rest.is_empty() && svc != "param" && svc != "secret" =>
                    {
                        self.reference(Symbol::Service(svc.clone()), *s, *e);
                        if let [(kw, ..), (port, ps, pe)] = rest
                            && kw == "port"
                        {
                            let sym = Symbol::Port {
                                service: svc.clone(),
                                name: port.clone(),
                            };
                            self.reference(sym, *ps, *pe);
                        }
                    }
                    _ => {}
                }
            }
        }
        for c in &node.children {
            self.strings(c);
        }
    }

    fn top(&mut self, node: &Node) {
        self.strings(node);
        let name = node.arg(0);
        match (node.name.as_str(), name) {
            ("param", Some(v)) => self.push(Symbol::Param(v.text.clone()), v, true),
            ("secret", Some(v)) => self.push(Symbol::Secret(v.text.clone()), v, true),
            ("image", Some(v)) => self.push(Symbol::Image(v.text.clone()), v, true),
            ("service", Some(v)) => {
                self.push(Symbol::Service(v.text.clone()), v, true);
                for child in &node.children {
                    self.service_child(&v.text, child);
                }
            }
            ("remove", Some(kind)) => {
                if let Some(target) = node.arg(1)
                    && let Some(sym) = removed(&kind.text, &target.text, None)
                {
                    self.push(sym, target, false);
                }
            }
            _ => {}
        }
    }

    fn service_child(&mut self, service: &str, node: &Node) {
        match node.name.as_str() {
            "image" => {
                if let Some(v) = node.arg(0) {
                    self.push(Symbol::Image(v.text.clone()), v, false);
                }
            }
            "port" => {
                if let Some(v) = node.arg(0) {
                    let sym = Symbol::Port {
                        service: service.to_string(),
                        name: v.text.clone(),
                    };
                    self.push(sym, v, true);
                }
            }
            "env" => {
                if let Some(v) = node.prop("secret") {
                    self.push(Symbol::Secret(v.text.clone()), v, false);
                }
            }
            "depends-on" => {
                for v in node.args() {
                    self.push(Symbol::Service(v.text.clone()), v, false);
                }
            }
            "health" => {
                if let Some(v) = node.prop("port") {
                    let sym = Symbol::Port {
                        service: service.to_string(),
                        name: v.text.clone(),
                    };
                    self.push(sym, v, false);
                }
            }
            "remove" => {
                if let (Some(kind), Some(target)) = (node.arg(0), node.arg(1))
                    && let Some(sym) = removed(&kind.text, &target.text, Some(service))
                {
                    self.push(sym, target, false);
                }
            }
            _ => {}
        }
    }
}

/// What `remove KIND NAME` names (at the top level, or inside `service`).
fn removed(kind: &str, name: &str, service: Option<&str>) -> Option<Symbol> {
    let name = name.to_string();
    Some(match (service, kind) {
        (None, "param") => Symbol::Param(name),
        (None, "secret") => Symbol::Secret(name),
        (None, "image") => Symbol::Image(name),
        (None, "service") => Symbol::Service(name),
        (Some(s), "port") => Symbol::Port {
            service: s.to_string(),
            name,
        },
        (Some(_), "depends-on") => Symbol::Service(name),
        _ => return None,
    })
}
