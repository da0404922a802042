//! The overlay as a difference: objects added, removed, and JSON 6902 patches for the rest.

use super::objects::{base_objects, profile_objects};
use super::{Obj, Patch};
use crate::model::Model;
use crate::yaml::{self, Yaml};

pub(super) fn to_json(y: &Yaml) -> serde_json::Value {
    match y {
        // Template parts are Helm's; a Kustomize object never holds one.
        Yaml::Str(s) | Yaml::Expr(s) | Yaml::Splice(s) => serde_json::Value::String(s.clone()),
        Yaml::Int(i) => serde_json::Value::from(*i),
        Yaml::Bool(b) => serde_json::Value::Bool(*b),
        Yaml::Seq(v) => serde_json::Value::Array(v.iter().map(to_json).collect()),
        Yaml::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

pub(super) fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

pub(super) fn op(kind: &str, path: &str, value: Option<&Yaml>) -> Yaml {
    let o = Yaml::map().with("op", kind).with("path", path);
    match value {
        Some(v) => o.with("value", v.clone()),
        None => o,
    }
}

/// JSON 6902 operations turning `a` into `b`. Maps are compared key by key, lists of the same
/// length item by item (a changed item named `name` is guarded by a `test` of its name), and
/// anything else is replaced whole.
pub(super) fn diff(path: &str, a: &Yaml, b: &Yaml, ops: &mut Vec<Yaml>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Yaml::Map(x), Yaml::Map(y)) => {
            for (k, va) in x {
                let p = format!("{path}/{}", pointer_escape(k));
                match y.iter().find(|(kb, _)| kb == k) {
                    Some((_, vb)) => diff(&p, va, vb, ops),
                    None => ops.push(op("remove", &p, None)),
                }
            }
            for (k, vb) in y {
                if !x.iter().any(|(ka, _)| ka == k) {
                    ops.push(op(
                        "add",
                        &format!("{path}/{}", pointer_escape(k)),
                        Some(vb),
                    ));
                }
            }
        }
        (Yaml::Seq(x), Yaml::Seq(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                let p = format!("{path}/{i}");
                let mut sub = Vec::new();
                diff(&p, va, vb, &mut sub);
                if sub.is_empty() {
                    continue;
                }
                if let Yaml::Map(entries) = va
                    && let Some((_, name @ Yaml::Str(_))) =
                        entries.iter().find(|(k, _)| k == "name")
                    && !sub.iter().any(|o| o == &op("replace", &p, Some(vb)))
                {
                    ops.push(op("test", &format!("{p}/name"), Some(name)));
                }
                ops.extend(sub);
            }
        }
        _ => ops.push(op("replace", path, Some(b))),
    }
}

pub(super) fn slug(o: &Obj) -> String {
    format!("{}-{}", o.kind().to_ascii_lowercase(), o.name())
}

/// The overlay's patches: the difference between the base's and the profile's objects.
pub fn patches(base: &Model, profile: &Model) -> Vec<Patch> {
    overlay_parts(base, profile, &base_objects(base)).1
}

/// Objects by kind and name, so the overlay pairs base and profile objects in linear time.
fn index(objs: &[Obj]) -> std::collections::HashMap<(&str, &str), &Obj> {
    objs.iter().map(|o| ((o.kind(), o.name()), o)).collect()
}

/// (objects the profile adds, patches with their YAML text), given the base's objects `b`.
pub(super) fn overlay_parts(
    base: &Model,
    profile: &Model,
    b: &[Obj],
) -> (Vec<Obj>, Vec<Patch>, Vec<String>) {
    let p = profile_objects(base, profile);
    let (in_base, in_profile) = (index(b), index(&p));
    let mut added = Vec::new();
    let mut patches = Vec::new();
    let mut texts = Vec::new();
    for o in &p {
        match in_base.get(&(o.kind(), o.name())) {
            None => added.push(o.clone()),
            Some(old) => {
                let mut ops = Vec::new();
                diff("", &old.doc, &o.doc, &mut ops);
                if ops.is_empty() {
                    continue;
                }
                let file = format!("patches/{}.yaml", slug(o));
                texts.push(format!(
                    "# Profile `{}`: what it changes in {} `{}` (JSON 6902; `test` guards the list item).\n{}",
                    profile.profile_or_base(),
                    o.kind(),
                    o.name(),
                    yaml::to_string(&Yaml::Seq(ops.clone()))
                ));
                patches.push(Patch {
                    file,
                    kind: o.kind().to_string(),
                    name: o.name().to_string(),
                    ops: ops.iter().map(to_json).collect(),
                    delete: false,
                    target: Some(o.target()),
                });
            }
        }
    }
    for o in b {
        if !in_profile.contains_key(&(o.kind(), o.name())) {
            let doc = Yaml::map()
                .with("$patch", "delete")
                .with("apiVersion", o.api())
                .with("kind", o.kind())
                .with("metadata", Yaml::map().with("name", o.name()));
            texts.push(format!(
                "# Profile `{}` drops {} `{}` from the base.\n{}",
                profile.profile_or_base(),
                o.kind(),
                o.name(),
                yaml::to_string(&doc)
            ));
            patches.push(Patch {
                file: format!("patches/delete-{}.yaml", slug(o)),
                kind: o.kind().to_string(),
                name: o.name().to_string(),
                ops: Vec::new(),
                delete: true,
                target: None,
            });
        }
    }
    (added, patches, texts)
}
