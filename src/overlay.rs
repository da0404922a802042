//! Stage 3: apply a profile onto the base declaration.
//!
//! Things merge by identity: an image, param, secret, service or target by name; inside a
//! service a port by name, an env entry by key, a volume by name, a writable path by path.
//! Single-valued fields in the profile replace the base's; `health` and `resources` merge
//! property by property so a profile can change one limit. `remove KIND NAME` deletes.

use crate::decl::{Decl, EnvValue, Health, Removal, Resources, Service};
use crate::diag::{self, Diag};
use crate::source::S;

pub fn overlay(mut base: Decl, profile: Decl, diags: &mut Vec<Diag>) -> Decl {
    if let Some(p) = profile.app {
        match &mut base.app {
            Some(b) => {
                b.name = p.name;
                set(&mut b.version, p.version);
                set(&mut b.description, p.description);
                set(&mut b.home, p.home);
                if !p.sources.is_empty() {
                    b.sources = p.sources;
                }
                if !p.keywords.is_empty() {
                    b.keywords = p.keywords;
                }
                if !p.maintainers.is_empty() {
                    b.maintainers = p.maintainers;
                }
            }
            None => base.app = Some(p),
        }
    }
    for img in profile.images {
        upsert(&mut base.images, img, |i| &i.name.v, |b, p| *b = p);
    }
    for param in profile.params {
        upsert(
            &mut base.params,
            param,
            |p| &p.name.v,
            |b, p| {
                set(&mut b.ty, p.ty);
                set(&mut b.default, p.default);
                set(&mut b.description, p.description);
                set(&mut b.one_of, p.one_of);
                set(&mut b.min, p.min);
                set(&mut b.max, p.max);
            },
        );
    }
    for secret in profile.secrets {
        upsert(
            &mut base.secrets,
            secret,
            |s| &s.name.v,
            |b, p| {
                set(&mut b.description, p.description);
                set(&mut b.min_length, p.min_length);
                set(&mut b.prefix, p.prefix);
                set(&mut b.optional, p.optional);
            },
        );
    }
    let base_services: Vec<String> = base.services.iter().map(|s| s.name.v.clone()).collect();
    for svc in profile.services {
        // A profile may add a service, but one without an `image` can only be meant as a
        // change to a base service: a misspelt name, reported as such rather than as a new
        // service that lacks an image.
        if svc.image.is_none() && !base_services.contains(&svc.name.v) {
            diags.push(
                Diag::error(
                    diag::UNKNOWN_SERVICE,
                    format!(
                        "the profile changes service `{}`, which lucia.kdl does not define",
                        svc.name.v
                    ),
                )
                .label(svc.name.span, "not a service of the base declaration")
                .help(format!(
                    "{} (to add a new service instead, give it an `image`)",
                    diag::unknown_help(
                        "service",
                        &svc.name.v,
                        base_services.iter().map(String::as_str)
                    )
                )),
            );
            continue;
        }
        let mut removals = Vec::new();
        upsert(
            &mut base.services,
            svc,
            |s| &s.name.v,
            |b, p| {
                merge_service(b, p, &mut removals, diags);
            },
        );
        for (svc_name, r) in removals {
            if let Some(b) = base.services.iter_mut().find(|s| s.name.v == svc_name) {
                remove_in_service(b, &r, diags);
            }
        }
    }
    for t in profile.targets {
        upsert(
            &mut base.targets,
            t,
            |t| &t.name.v,
            |b, p| b.settings.extend(p.settings),
        );
    }
    for r in profile.removals {
        // The decoder accepts only the kinds below, so an unknown one cannot reach here.
        let removed = match TopKind::of(&r.kind.v) {
            Some(TopKind::Image) => remove_by(&mut base.images, |i| i.name.v == r.name.v),
            Some(TopKind::Param) => remove_by(&mut base.params, |i| i.name.v == r.name.v),
            Some(TopKind::Secret) => remove_by(&mut base.secrets, |i| i.name.v == r.name.v),
            Some(TopKind::Service) => remove_by(&mut base.services, |i| i.name.v == r.name.v),
            Some(TopKind::Target) => remove_by(&mut base.targets, |i| i.name.v == r.name.v),
            None => true,
        };
        if !removed {
            nothing_to_remove(&r, diags);
        }
    }
    base
}

/// What a top-level `remove KIND NAME` deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopKind {
    Image,
    Param,
    Secret,
    Service,
    Target,
}

impl TopKind {
    const ALL: [(&'static str, TopKind); 5] = [
        ("image", TopKind::Image),
        ("param", TopKind::Param),
        ("secret", TopKind::Secret),
        ("service", TopKind::Service),
        ("target", TopKind::Target),
    ];

    fn of(kind: &str) -> Option<TopKind> {
        Self::ALL.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
    }
}

/// What a `remove KIND NAME` inside a service deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceKind {
    Port,
    Env,
    Volume,
    Writable,
    DependsOn,
    Health,
    Resources,
    Config,
    Bind,
    Device,
    Capability,
    Gpu,
}

impl ServiceKind {
    const ALL: [(&'static str, ServiceKind); 12] = [
        ("port", ServiceKind::Port),
        ("env", ServiceKind::Env),
        ("volume", ServiceKind::Volume),
        ("writable", ServiceKind::Writable),
        ("depends-on", ServiceKind::DependsOn),
        ("health", ServiceKind::Health),
        ("resources", ServiceKind::Resources),
        ("config", ServiceKind::Config),
        ("bind", ServiceKind::Bind),
        ("device", ServiceKind::Device),
        ("capability", ServiceKind::Capability),
        ("gpu", ServiceKind::Gpu),
    ];

    fn of(kind: &str) -> Option<ServiceKind> {
        Self::ALL.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

/// Merge `item` into the entry of `list` with the same key, or append it.
fn upsert<T>(
    list: &mut Vec<T>,
    item: T,
    key: impl Fn(&T) -> &String,
    merge: impl FnOnce(&mut T, T),
) {
    let k = key(&item).clone();
    match list.iter_mut().find(|x| *key(x) == k) {
        Some(existing) => merge(existing, item),
        None => list.push(item),
    }
}

fn remove_by<T>(list: &mut Vec<T>, pred: impl Fn(&T) -> bool) -> bool {
    let before = list.len();
    list.retain(|x| !pred(x));
    list.len() != before
}

fn nothing_to_remove(r: &Removal, diags: &mut Vec<Diag>) {
    diags.push(
        Diag::error(
            diag::NOTHING_TO_REMOVE,
            format!("there is no {} `{}` to remove", r.kind.v, r.name.v),
        )
        .label(r.name.span, "not defined in the base declaration")
        .help("check the name against lucia.kdl, or delete this `remove`"),
    );
}

fn merge_service(
    b: &mut Service,
    p: Service,
    removals: &mut Vec<(String, Removal)>,
    diags: &mut Vec<Diag>,
) {
    set(&mut b.image, p.image);
    set(&mut b.command, p.command);
    set(&mut b.entrypoint, p.entrypoint);
    set(&mut b.host_command, p.host_command);
    set(&mut b.root, p.root);
    set(&mut b.host_network, p.host_network);
    set(&mut b.gpu, p.gpu);
    for c in p.capabilities {
        upsert(&mut b.capabilities, c, |x| &x.name.v, |b, p| *b = p);
    }
    for c in p.configs {
        upsert(&mut b.configs, c, |x| &x.name.v, |b, p| *b = p);
    }
    for m in p.binds {
        upsert(&mut b.binds, m, |x| &x.path.v, |b, p| *b = p);
    }
    for d in p.devices {
        upsert(&mut b.devices, d, |x| &x.host.v, |b, p| *b = p);
    }
    set(&mut b.singleton, p.singleton);
    set(&mut b.replicas, p.replicas);
    set(&mut b.user, p.user);
    set(&mut b.read_only_root, p.read_only_root);
    set(&mut b.host_unit, p.host_unit);
    set(&mut b.host_files, p.host_files);
    set(&mut b.backup, p.backup);
    for note in p.notes {
        let key = note.target.as_ref().map(|t| t.v.clone());
        match b
            .notes
            .iter_mut()
            .find(|n| n.target.as_ref().map(|t| &t.v) == key.as_ref())
        {
            Some(n) => *n = note,
            None => b.notes.push(note),
        }
    }
    for w in p.writable {
        if !b.writable.iter().any(|x| x.v == w.v) {
            b.writable.push(w);
        }
    }
    for port in p.ports {
        upsert(&mut b.ports, port, |x| &x.name.v, |b, p| *b = p);
    }
    for env in p.env {
        // A key the base binds to a secret must not get a literal in a profile: the literal
        // would be written into every bundle of that profile.
        // (A `{secret.…}` inside the text is E0032's to report, with its own fix.)
        if let (Some(base), EnvValue::Text(t)) =
            (b.env.iter().find(|x| x.key.v == env.key.v), &env.value)
            && let EnvValue::Secret(secret) = &base.value
            && !t.v.contains("{secret.")
        {
            diags.push(
                Diag::error(
                    diag::CREDENTIAL_IN_VALUE,
                    format!(
                        "env `{}` is bound to secret `{}` in lucia.kdl; the profile gives it a plain value",
                        env.key.v, secret.v
                    ),
                )
                .label(t.span, "a plain value (not shown)")
                .redact(t.span)
                .label(base.span, "bound to a secret here")
                .help(format!(
                    "remove this line, or bind the key to another secret: `env \"{}\" secret=\"NAME\"`",
                    env.key.v
                )),
            );
            continue;
        }
        upsert(&mut b.env, env, |x| &x.key.v, |b, p| *b = p);
    }
    for vol in p.volumes {
        upsert(&mut b.volumes, vol, |x| &x.name.v, |b, p| *b = p);
    }
    for dep in p.depends_on {
        if !b.depends_on.iter().any(|x| x.v == dep.v) {
            b.depends_on.push(dep);
        }
    }
    if let Some(ph) = p.health {
        let h = b.health.get_or_insert_with(Health::default);
        set(&mut h.liveness, ph.liveness);
        set(&mut h.readiness, ph.readiness);
        set(&mut h.port, ph.port);
        set(&mut h.exec, ph.exec);
        set(&mut h.tcp, ph.tcp);
        set(&mut h.tool, ph.tool);
        set(&mut h.start_period, ph.start_period);
        set(&mut h.interval, ph.interval);
        set(&mut h.timeout, ph.timeout);
        set(&mut h.retries, ph.retries);
        set(&mut h.span, ph.span);
    }
    if let Some(pr) = p.resources {
        let r = b.resources.get_or_insert_with(Resources::default);
        set(&mut r.cpu, pr.cpu);
        set(&mut r.memory, pr.memory);
        set(&mut r.cpu_limit, pr.cpu_limit);
        set(&mut r.memory_limit, pr.memory_limit);
        set(&mut r.span, pr.span);
    }
    for r in p.removals {
        removals.push((b.name.v.clone(), r));
    }
}

fn remove_in_service(b: &mut Service, r: &Removal, diags: &mut Vec<Diag>) {
    let n = &r.name.v;
    let removed = match ServiceKind::of(&r.kind.v) {
        Some(ServiceKind::Port) => remove_by(&mut b.ports, |x| &x.name.v == n),
        Some(ServiceKind::Env) => remove_by(&mut b.env, |x| &x.key.v == n),
        Some(ServiceKind::Volume) => remove_by(&mut b.volumes, |x| &x.name.v == n),
        Some(ServiceKind::Writable) => remove_by(&mut b.writable, |x: &S<String>| &x.v == n),
        Some(ServiceKind::DependsOn) => remove_by(&mut b.depends_on, |x: &S<String>| &x.v == n),
        Some(ServiceKind::Health) => b.health.take().is_some(),
        Some(ServiceKind::Resources) => b.resources.take().is_some(),
        Some(ServiceKind::Config) => remove_by(&mut b.configs, |x| &x.name.v == n),
        Some(ServiceKind::Bind) => remove_by(&mut b.binds, |x| &x.path.v == n),
        Some(ServiceKind::Device) => remove_by(&mut b.devices, |x| &x.host.v == n),
        Some(ServiceKind::Capability) => remove_by(&mut b.capabilities, |x| &x.name.v == n),
        Some(ServiceKind::Gpu) => b.gpu.take().is_some(),
        None => true,
    };
    if !removed {
        nothing_to_remove(r, diags);
    }
}

#[cfg(test)]
mod tests {
    use super::{ServiceKind, TopKind};
    use crate::decode::{SERVICE_REMOVABLE, TOP_REMOVABLE};

    /// The kinds the decoder accepts are exactly the kinds the overlay knows how to remove.
    #[test]
    fn removal_kinds_match_the_decoder() {
        let top: Vec<&str> = TopKind::ALL.iter().map(|(k, _)| *k).collect();
        assert_eq!(top, TOP_REMOVABLE);
        let service: Vec<&str> = ServiceKind::ALL.iter().map(|(k, _)| *k).collect();
        assert_eq!(service, SERVICE_REMOVABLE);
    }
}
