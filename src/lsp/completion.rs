//! Completion: node and property names valid where the cursor is, closed sets of values, and
//! the names the project declares (params, secrets, services, images, ports), inside
//! references in strings too. Works on the text being typed, which rarely parses.

use std::collections::BTreeSet;

use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, MarkupContent,
    MarkupKind, TextEdit,
};

use super::index::{self, Symbol};
use super::schema::{self, Context};
use super::world::{File, Project};
use crate::decode::{SERVICE_REMOVABLE, TOP_REMOVABLE};
use crate::syntax::{self, Kind, Node, Token};

/// What the cursor is completing.
struct Site<'a> {
    /// The context new nodes would be children of.
    ctx: Context,
    target: Option<String>,
    /// The enclosing service, for its ports.
    service: Option<String>,
    /// The node on the cursor's line, if the cursor is past its name.
    node: Option<&'a Node>,
    /// The file is a profile: names from the base are offered where it changes them.
    profile: bool,
}

pub fn complete(project: &Project, file: usize, offset: usize) -> Vec<CompletionItem> {
    let Some(f) = project.files.get(file) else {
        return vec![];
    };
    let path = syntax::path_at(&f.tree, offset);
    // Nodes whose children block holds the cursor are parents; a node that merely contains it
    // (the cursor is on its line) is the node being written.
    let parents: Vec<&Node> = path
        .iter()
        .copied()
        .filter(|n| n.block.is_some_and(|(o, c)| o < offset && offset <= c))
        .collect();
    let (ctx, target) = schema::context(&parents);
    let service = parents
        .iter()
        .find(|n| n.name == "service")
        .and_then(|n| n.arg(0))
        .map(|v| v.text.clone());
    let siblings = match parents.last() {
        Some(p) => &p.children,
        None => &f.tree.nodes,
    };
    let tokens = syntax::lex(&f.text);
    let node = siblings
        .iter()
        .find(|n| n.name_token.start <= offset && on_line(&tokens, n.name_token.start, offset));
    let site = Site {
        ctx,
        target,
        service,
        node,
        profile: f.profile.is_some(),
    };
    let token = tokens
        .iter()
        .copied()
        .find(|t| t.start < offset && offset <= t.end);
    let names = Names::of(project);

    if let Some(t) = token.filter(|t| t.kind == Kind::Str)
        && let Some(items) = reference(f, &t, offset, &names)
    {
        return items;
    }
    let Some(node) = site.node else {
        return node_names(&site, f, offset, token);
    };
    if offset <= node.name_token.end {
        return node_names(&site, f, offset, token);
    }
    // In an entry: after `key=`, or a positional argument.
    let entry_index = node
        .entries
        .iter()
        .position(|e| e.start <= offset && offset <= e.end);
    let entry = entry_index.and_then(|i| node.entries.get(i));
    let replace = token
        .filter(|t| matches!(t.kind, Kind::Str | Kind::Word) && t.end >= offset)
        .map(|t| value_range(f, &t, offset));
    if let Some(e) = entry
        && let Some((key, _)) = &e.key
    {
        let values = values(project, &site, &names, node, Some(key), 0);
        return items(values, CompletionItemKind::VALUE, f, replace, offset);
    }
    let arg_index = node
        .entries
        .iter()
        .take(entry_index.unwrap_or(node.entries.len()))
        .filter(|e| e.key.is_none())
        .count();
    let mut out = items(
        values(project, &site, &names, node, None, arg_index),
        CompletionItemKind::VALUE,
        f,
        replace,
        offset,
    );
    if token.is_none_or(|t| t.kind != Kind::Str)
        && let Some(spec) = schema::node(site.ctx, site.target.as_deref(), &node.name)
    {
        for p in spec.props {
            let given = node
                .entries
                .iter()
                .any(|e| e.key.as_ref().is_some_and(|(k, _)| k == p));
            if given {
                continue;
            }
            out.push(CompletionItem {
                label: p.to_string(),
                kind: Some(CompletionItemKind::PROPERTY),
                insert_text: Some(format!("{p}=")),
                documentation: doc(schema::doc(site.ctx, &node.name, Some(p))),
                ..CompletionItem::default()
            });
        }
    }
    out
}

/// Whether `from..to` stays within one node: no line break, `;` or brace outside strings and
/// comments. (A `\` line continuation is not followed; it is rare enough in declarations.)
fn on_line(tokens: &[Token], from: usize, to: usize) -> bool {
    !tokens.iter().any(|t| {
        from <= t.start
            && t.start < to
            && matches!(
                t.kind,
                Kind::Newline | Kind::Semi | Kind::Open | Kind::Close
            )
    })
}

fn doc(text: Option<String>) -> Option<Documentation> {
    text.map(|value| {
        Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        })
    })
}

/// The byte range a value completion replaces: the string's content, or the word, up to the
/// cursor.
fn value_range(f: &File, t: &Token, offset: usize) -> (usize, usize) {
    if t.kind == Kind::Str {
        let (off, _) = syntax::string_content(t.text(&f.text));
        ((t.start + off).min(offset), offset)
    } else {
        (t.start, offset)
    }
}

fn items(
    labels: Vec<String>,
    kind: CompletionItemKind,
    f: &File,
    replace: Option<(usize, usize)>,
    offset: usize,
) -> Vec<CompletionItem> {
    let (start, end) = replace.unwrap_or((offset, offset));
    labels
        .into_iter()
        .map(|label| CompletionItem {
            text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(
                f.range(start, end),
                label.clone(),
            ))),
            label,
            kind: Some(kind),
            ..CompletionItem::default()
        })
        .collect()
}

fn node_names(site: &Site, f: &File, offset: usize, token: Option<Token>) -> Vec<CompletionItem> {
    let replace = token
        .filter(|t| t.kind == Kind::Word)
        .map(|t| (t.start, offset));
    let mut out = items(
        schema::nodes(site.ctx, site.target.as_deref())
            .into_iter()
            .filter(|s| s.name != "remove" || f.profile.is_some())
            .map(|s| s.name.to_string())
            .collect(),
        CompletionItemKind::KEYWORD,
        f,
        replace,
        offset,
    );
    for item in &mut out {
        item.documentation = doc(schema::doc(site.ctx, &item.label, None));
    }
    out
}

/// Every name the project declares, base and profiles together.
struct Names {
    decls: BTreeSet<Symbol>,
}

impl Names {
    fn of(project: &Project) -> Names {
        Names {
            decls: index::occurrences(project)
                .into_iter()
                .filter(|o| o.is_decl)
                .map(|o| o.symbol)
                .collect(),
        }
    }

    fn of_kind(&self, kind: &str) -> Vec<String> {
        self.decls
            .iter()
            .filter(|s| s.kind() == kind && !matches!(s, Symbol::Port { .. }))
            .map(|s| s.name().to_string())
            .collect()
    }

    fn ports(&self, service: &str) -> Vec<String> {
        self.decls
            .iter()
            .filter_map(|s| match s {
                Symbol::Port { service: svc, name } if svc == service => Some(name.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Completion inside `{…` in a string: `param.`, services, `host`, `port.`, port names.
fn reference(f: &File, t: &Token, offset: usize, names: &Names) -> Option<Vec<CompletionItem>> {
    let r = syntax::references(t, &f.text)
        .into_iter()
        .find(|r| r.start < offset && (offset < r.end || !r.closed))?;
    let typed = f.text.get(r.start + 1..offset)?;
    let segs: Vec<&str> = typed.split('.').collect();
    let last = segs.last().copied().unwrap_or("");
    let start = offset - last.len();
    let labels: Vec<String> = match segs.as_slice() {
        [_] => std::iter::once("param".to_string())
            .chain(names.of_kind("service"))
            .collect(),
        ["param", _] => names.of_kind("param"),
        ["secret", _] => vec![],
        [_, _] => vec!["host".into(), "port".into()],
        [svc, "port", _] => names.ports(svc),
        _ => vec![],
    };
    Some(items(
        labels,
        CompletionItemKind::VARIABLE,
        f,
        Some((start, offset)),
        offset,
    ))
}

/// Values for a property `key` of `node`, or for its `arg`-th argument.
fn values(
    project: &Project,
    site: &Site,
    names: &Names,
    node: &Node,
    key: Option<&str>,
    arg: usize,
) -> Vec<String> {
    let fixed: Vec<String> = schema::enum_values(&node.name, key)
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !fixed.is_empty() {
        return fixed;
    }
    match (site.ctx, node.name.as_str(), key, arg) {
        (Context::Service, "image", None, 0) => names.of_kind("image"),
        (Context::Service, "depends-on", None, _) => names
            .of_kind("service")
            .into_iter()
            .filter(|s| Some(s) != site.service.as_ref())
            .collect(),
        (Context::Service, "env", Some("secret"), _) => names.of_kind("secret"),
        (Context::Service, "health", Some("port"), _) => site
            .service
            .as_deref()
            .map(|s| names.ports(s))
            .unwrap_or_default(),
        (Context::Service, "remove", None, 0) => to_vec(SERVICE_REMOVABLE),
        (Context::Service, "remove", None, 1) => match node.arg(0).map(|v| v.text.as_str()) {
            Some("port") => site
                .service
                .as_deref()
                .map(|s| names.ports(s))
                .unwrap_or_default(),
            Some("depends-on") => names.of_kind("service"),
            Some("env") => env_keys(project, site.service.as_deref()),
            _ => vec![],
        },
        (Context::Service, "port", None, 0) => site
            .service
            .as_deref()
            .map(|s| names.ports(s))
            .unwrap_or_default(),
        (Context::Service, "env", None, 0) => env_keys(project, site.service.as_deref()),
        (Context::Top, "remove", None, 0) => to_vec(TOP_REMOVABLE),
        (Context::Top, "remove", None, 1) => match node.arg(0) {
            Some(k) => names.of_kind(&k.text),
            None => vec![],
        },
        (Context::Top, "param", Some("default"), _) => one_of(project, node),
        // In a profile, a top-level node names what it changes in the base.
        (Context::Top, kind @ ("param" | "secret" | "service" | "image"), None, 0)
            if site.profile =>
        {
            names.of_kind(kind)
        }
        _ => vec![],
    }
}

fn to_vec(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// The env keys the service sets in any file (for a profile's `env` and `remove "env"`).
fn env_keys(project: &Project, service: Option<&str>) -> Vec<String> {
    let Some(service) = service else {
        return vec![];
    };
    let mut keys = BTreeSet::new();
    for f in &project.files {
        for n in &f.tree.nodes {
            if n.name == "service" && n.arg(0).is_some_and(|v| v.text == service) {
                for c in n.children.iter().filter(|c| c.name == "env") {
                    keys.extend(c.arg(0).map(|v| v.text.clone()).filter(|k| !k.is_empty()));
                }
            }
        }
    }
    keys.into_iter().collect()
}

/// The `one-of` values of the param `node` declares or changes.
fn one_of(project: &Project, node: &Node) -> Vec<String> {
    let Some(name) = node.arg(0) else {
        return vec![];
    };
    project
        .files
        .iter()
        .flat_map(|f| f.tree.nodes.iter())
        .filter(|n| n.name == "param" && n.arg(0).is_some_and(|v| v.text == name.text))
        .find_map(|n| n.child("one-of"))
        .map(|o| o.args().map(|v| v.text.clone()).collect())
        .unwrap_or_default()
}
