//! Services: image, ports, env, health, volumes, resources, singleton and dependencies.

use std::collections::BTreeMap;

use super::*;

/// The targets a service's `notes` may be meant for (`kubernetes` is Helm and Kustomize).
pub const NOTE_TARGETS: &[&str] = &["compose", "kubernetes", "helm", "kustomize", "systemd"];

impl Resolver<'_> {
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

    pub(super) fn services(
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
                        // Still check `publish` (and count its param as used): one mistake,
                        // one diagnostic, not a spurious "never used" as well.
                        if let Some(pb) = &p.publish {
                            self.publish(pb, params);
                        }
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
                        self.credentials(&t.v, t.span, &format!("env `{}`", e.key.v));
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
                                // A service naming its own host or port is not a dependency.
                                Part::Host(svc) | Part::Port { service: svc, .. }
                                    if *svc != s.name.v =>
                                {
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
                    Diag::error(diag::OUT_OF_RANGE, "`replicas 0` deploys nothing")
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
            let host_files = s.host_files.as_ref().map(|h| {
                self.path(&h.path);
                if let Some(c) = &h.contains
                    && (c.v.is_empty()
                        || c.v.starts_with('/')
                        || c.v.split('/').any(|seg| seg == ".." || seg == "."))
                {
                    self.err(
                        Diag::error(
                            diag::BAD_PATH,
                            format!("`{}` is not a path inside the files", c.v),
                        )
                        .label(c.span, "invalid path")
                        .help("write a relative path without `.` or `..`, like `server.dll` or `bin/server`"),
                    );
                }
                HostFiles {
                    path: h.path.v.trim_end_matches('/').to_string(),
                    contains: h.contains.as_ref().map(|c| c.v.clone()),
                }
            });
            let backup = s.backup.as_ref().map(|b| BackupInfo {
                dump: b.dump.as_ref().map(|d| d.v.clone()).unwrap_or_default(),
                restore: b.restore.as_ref().map(|d| d.v.clone()).unwrap_or_default(),
            });
            let mut notes = Vec::new();
            for n in &s.notes {
                if let Some(t) = &n.target
                    && !NOTE_TARGETS.contains(&t.v.as_str())
                {
                    self.err(
                        Diag::error(
                            diag::UNKNOWN_TARGET,
                            format!("`notes` names unknown target `{}`", t.v),
                        )
                        .label(t.span, "no such target")
                        .help(diag::unknown_help(
                            "target",
                            &t.v,
                            NOTE_TARGETS.iter().copied(),
                        )),
                    );
                    continue;
                }
                notes.push(Note {
                    target: n.target.as_ref().map(|t| t.v.clone()),
                    text: n.text.v.trim_end().to_string(),
                });
            }
            if let Some(c) = &s.command {
                for word in &c.v {
                    self.credentials(word, c.span, &format!("the command of `{}`", s.name.v));
                }
            }
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
                    host_files,
                    backup,
                    notes,
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
                            None if self.invalid_params.contains(name) => None,
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
                Diag::error(diag::OUT_OF_RANGE, "`retries` must be at least 1")
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
}
