//! The shape of the language for completion and hover: which nodes and properties exist where,
//! which values a property takes, and what the reference says about each.
//!
//! Two sources, each checked against the one that is authoritative:
//! - The node and property names below mirror the decoder and the target settings. The
//!   decoder's own "unknown node/property" diagnostics list what it accepts, and a test
//!   (`tests/lsp.rs`) feeds it an unknown name in every context and compares that list with
//!   this table, so the table cannot drift from `src/decode/`.
//! - The prose is not copied: hover quotes the rows of `docs/language.md`, embedded at build
//!   time and looked up by name, so the reference stays the one place that explains the
//!   language. A test checks that every name here has a row there.

/// Where a node sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Top,
    App,
    Param,
    Secret,
    Service,
    Health,
    Backup,
    /// Inside `target "NAME"`.
    Target,
    /// Inside a node that takes no children.
    None,
}

/// A node valid in a context, its properties and the context of its children.
#[derive(Debug, Clone, Copy)]
pub struct NodeSpec {
    pub name: &'static str,
    pub props: &'static [&'static str],
    pub children: Context,
}

const fn n(name: &'static str, props: &'static [&'static str], children: Context) -> NodeSpec {
    NodeSpec {
        name,
        props,
        children,
    }
}

use Context as C;

use crate::syntax::Node;

const TOP: &[NodeSpec] = &[
    n("app", &["version"], C::App),
    n("image", &["digest", "platforms"], C::None),
    n("param", &["type", "default", "min", "max"], C::Param),
    n("secret", &["min-length", "prefix", "optional"], C::Secret),
    n("service", &[], C::Service),
    n("target", &[], C::Target),
    n("remove", &[], C::None),
];
const APP: &[NodeSpec] = &[
    n("description", &[], C::None),
    n("home", &[], C::None),
    n("source", &[], C::None),
    n("keyword", &[], C::None),
    n("maintainer", &["email", "url"], C::None),
];
const PARAM: &[NodeSpec] = &[n("description", &[], C::None), n("one-of", &[], C::None)];
const SECRET: &[NodeSpec] = &[n("description", &[], C::None)];
const SERVICE: &[NodeSpec] = &[
    n("image", &[], C::None),
    n("command", &[], C::None),
    n("entrypoint", &[], C::None),
    n("host-command", &[], C::None),
    n("root", &["reason"], C::None),
    n("capability", &["reason"], C::None),
    n("host-network", &["reason"], C::None),
    n("config", &["file", "content"], C::None),
    n("bind", &["read-only"], C::None),
    n("device", &["kubernetes-resource"], C::None),
    n("gpu", &["count"], C::None),
    n("singleton", &[], C::None),
    n("replicas", &[], C::None),
    n("user", &["group"], C::None),
    n("read-only-root", &[], C::None),
    n("writable", &[], C::None),
    n("port", &["publish", "protocol"], C::None),
    n("env", &["secret"], C::None),
    n("health", crate::decode::HEALTH_PROPS, C::Health),
    n("volume", &["size"], C::None),
    n(
        "resources",
        &["cpu", "memory", "cpu-limit", "memory-limit"],
        C::None,
    ),
    n("depends-on", &[], C::None),
    n("host-unit", &[], C::None),
    n("host-files", &["contains"], C::None),
    n("backup", &[], C::Backup),
    n("notes", &["target"], C::None),
    n("remove", &[], C::None),
];
const HEALTH: &[NodeSpec] = &[n("exec", &[], C::None)];
const BACKUP: &[NodeSpec] = &[
    n("dump", &[], C::None),
    n("restore", &[], C::None),
    n("host-dump", &["user"], C::None),
    n("host-restore", &["user"], C::None),
];

/// The nodes valid in `ctx` (for a target, the settings of `target`).
pub fn nodes(ctx: Context, target: Option<&str>) -> Vec<NodeSpec> {
    match ctx {
        C::Top => TOP.to_vec(),
        C::App => APP.to_vec(),
        C::Param => PARAM.to_vec(),
        C::Secret => SECRET.to_vec(),
        C::Service => SERVICE.to_vec(),
        C::Health => HEALTH.to_vec(),
        C::Backup => BACKUP.to_vec(),
        C::Target => target_settings(target.unwrap_or(""))
            .iter()
            .map(|s| {
                let props: &'static [&'static str] = if *s == "ingress" {
                    &["host", "class", "tls", "tls-secret"]
                } else {
                    &[]
                };
                n(s, props, C::None)
            })
            .collect(),
        C::None => vec![],
    }
}

/// The context the children of the last node of `path` sit in (`path` outermost first), and
/// the target's name inside `target`.
pub fn context(path: &[&Node]) -> (Context, Option<String>) {
    let mut ctx = C::Top;
    let mut target = None;
    for n in path {
        if ctx == C::Top && n.name == "target" {
            target = n.arg(0).map(|v| v.text.clone());
        }
        ctx = node(ctx, target.as_deref(), &n.name).map_or(C::None, |s| s.children);
    }
    (ctx, target)
}

pub fn node(ctx: Context, target: Option<&str>, name: &str) -> Option<NodeSpec> {
    nodes(ctx, target).into_iter().find(|s| s.name == name)
}

pub const TARGETS: &[&str] = &[
    "compose",
    "kubernetes",
    "helm",
    "kustomize",
    "systemd",
    "github",
];

/// The settings of a `target` block: the resolver's own table.
pub fn target_settings(target: &str) -> &'static [&'static str] {
    crate::resolve::known_settings(target).unwrap_or(&[])
}

/// The fixed values a property or argument takes, when it has a closed set.
pub fn enum_values(node: &str, key: Option<&str>) -> &'static [&'static str] {
    match (node, key) {
        ("param", Some("type")) => crate::decl::ParamType::NAMES,
        ("secret", Some("optional")) | ("ingress", Some("tls")) => &["#true", "#false"],
        ("singleton" | "read-only-root" | "enabled" | "network-policy", None) => {
            &["#true", "#false"]
        }
        ("target", None) => TARGETS,
        _ => &[],
    }
}

// ---- the reference ---------------------------------------------------------------------

const LANGUAGE_MD: &str = include_str!("../../docs/language.md");

/// The reference's table row for a node or property in a context, as Markdown: the form and
/// its meaning. Looked up in the section of `docs/language.md` that documents the context.
pub fn doc(ctx: Context, node: &str, prop: Option<&str>) -> Option<String> {
    // A property is documented in its node's row, except `param`'s and `secret`'s, which have
    // a row each.
    let (section, name) = match (ctx, node, prop) {
        (C::Top, "param", Some(p)) => ("### `param`", p),
        (C::Top, "secret", Some(p)) => ("### `secret`", p),
        (C::Top, n, _) => ("## Top-level nodes", n),
        (C::App, n, _) => ("### `app` children", n),
        (C::Param, n, _) => ("### `param`", n),
        (C::Secret, n, _) => ("### `secret`", n),
        (C::Service, n, _) => ("## `service` children", n),
        (C::Health, _, _) => ("## `service` children", "health"),
        (C::Backup, _, _) => ("## `service` children", "backup"),
        (C::Target, n, _) => ("## `target` settings", n),
        (C::None, ..) => return None,
    };
    let rows = section_rows(section);
    let mut found: Vec<String> = Vec::new();
    for (i, cells) in rows.iter().enumerate() {
        let key_cell = if section == "## `target` settings" {
            cells.get(1)
        } else {
            cells.first()
        };
        if key_cell.is_some_and(|c| cell_names(c).iter().any(|n| n == name)) {
            found.push(render_row(section, cells));
            // A row with an empty first cell continues the one above (another form).
            for more in rows.iter().skip(i + 1) {
                if more.first().is_some_and(|c| c.trim().is_empty()) {
                    found.push(render_row(section, more));
                } else {
                    break;
                }
            }
        }
    }
    if found.is_empty() {
        return None;
    }
    let mut out = found.join("\n\n");
    if section == "## `service` children" && DURATION_NODES.contains(&name) {
        out.push_str("\n\nDurations are whole numbers with `ms`, `s`, `m` or `h`.");
    }
    Some(out)
}

const DURATION_NODES: &[&str] = &["health"];

/// The rows of the first table after `heading`, split into cells.
fn section_rows(heading: &str) -> Vec<Vec<String>> {
    let Some(start) = LANGUAGE_MD.find(heading) else {
        return vec![];
    };
    let body = &LANGUAGE_MD[start + heading.len()..];
    let body = body.split("\n#").next().unwrap_or("");
    body.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .skip(1)
        .map(split_row)
        .collect()
}

/// Split a Markdown table row on `|`, except `\|` and `|` inside backticks.
fn split_row(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut in_code = false;
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cur.push('|');
                chars.next();
            }
            '`' => {
                in_code = !in_code;
                cur.push(c);
            }
            '|' if !in_code => cells.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        cells.push(cur.trim().to_string());
    }
    cells
}

/// The names a key cell documents: the leading word of each code span
/// (`` `min`, `max` `` → min, max; `` `min-length=N` `` → min-length).
pub fn cell_names(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| {
            let word: String = code
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!word.is_empty()).then_some(word)
        })
        .collect()
}

fn render_row(section: &str, cells: &[String]) -> String {
    match section {
        "## Top-level nodes" | "## `service` children" => {
            let form = cells.get(1).map(String::as_str).unwrap_or("");
            let meaning = cells.get(2).map(String::as_str).unwrap_or("");
            format!("{form}\n\n{meaning}").trim().to_string()
        }
        "## `target` settings" => format!(
            "{} (target: {})\n\n{}",
            cells.get(1).map(String::as_str).unwrap_or(""),
            cells.first().map(String::as_str).unwrap_or(""),
            cells.get(2).map(String::as_str).unwrap_or("")
        ),
        _ => cells.join(": "),
    }
}

/// Every (context, node, property) the table above knows, for the consistency tests.
pub fn all_names() -> Vec<(
    Context,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
)> {
    let mut out = Vec::new();
    for ctx in [
        C::Top,
        C::App,
        C::Param,
        C::Secret,
        C::Service,
        C::Health,
        C::Backup,
    ] {
        for spec in nodes(ctx, None) {
            out.push((ctx, None, spec.name, None));
            for p in spec.props {
                out.push((ctx, None, spec.name, Some(*p)));
            }
        }
    }
    for t in TARGETS {
        for spec in nodes(C::Target, Some(t)) {
            out.push((C::Target, Some(*t), spec.name, None));
        }
    }
    out
}
