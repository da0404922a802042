//! Services: image, ports, env, health, volumes, resources, singleton and dependencies.

use std::collections::BTreeMap;

use super::{Resolver, kind_name, port_range};
use crate::decl::{self, Decl, EnvValue, Scalar};
use crate::diag::{self, Diag};
use crate::model::{
    BackupInfo, Check, EnvSource, EnvVar, HealthInfo, HostFiles, ImageRef, Note, ParamInfo,
    ParamKind, Part, PortInfo, ProbeTool, Protocol, Publish, Quantity, ResourceInfo, ServiceInfo,
    Template, VolumeInfo,
};
use crate::source::{S, Span};
use crate::values;

/// What every per-service check needs to see of the whole declaration.
pub(super) struct Ctx<'a> {
    pub decl: &'a Decl,
    pub by_name: &'a BTreeMap<String, &'a decl::Service>,
    pub params: &'a BTreeMap<String, ParamInfo>,
}

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

    pub(super) fn path(&mut self, p: &S<String>) {
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
        let ctx = Ctx {
            decl,
            by_name: &by_name,
            params,
        };
        let mut out = Vec::new();
        for s in &decl.services {
            self.name(&s.name, "service", 40);
            let image = self.service_image(s, images, decl);
            let ports = self.ports(s, params);
            // Services this one names in a reference or `depends-on`, with where.
            let mut refs: Vec<(String, Span)> = Vec::new();
            let env = self.env(s, &ctx, &mut refs);
            let program = self.program(s, &ctx, &mut refs);
            let health = s
                .health
                .as_ref()
                .and_then(|h| self.health(s, h, &ports, &ctx, &mut refs));
            let volumes = self.volumes(s);
            let resources = self.resources(s);
            let (singleton, replicas) = self.replicas(s);
            let runtime = self.runtime(s);
            self.dependencies(s, &by_name, &mut refs);
            self.removals_of_new_service(s);
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
                host_dump: b
                    .host_dump
                    .as_ref()
                    .map(|d| d.v.clone())
                    .unwrap_or_default(),
                host_restore: b
                    .host_restore
                    .as_ref()
                    .map(|d| d.v.clone())
                    .unwrap_or_default(),
                host_user: b.host_user.as_ref().map(|u| u.v.clone()),
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
            out.push((
                ServiceInfo {
                    name: s.name.v.clone(),
                    image,
                    command: program.command,
                    entrypoint: program.entrypoint,
                    host_command: program.host_command,
                    root: runtime.root,
                    capabilities: runtime.capabilities,
                    host_network: runtime.host_network,
                    host_network_span: runtime.host_network_span,
                    configs: runtime.configs,
                    binds: runtime.binds,
                    devices: runtime.devices,
                    gpu: runtime.gpu,
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
                    host_unit_span: s.host_unit.as_ref().map(|h| h.span),
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

    fn service_image(
        &mut self,
        s: &decl::Service,
        images: &BTreeMap<String, ImageRef>,
        decl: &Decl,
    ) -> Option<ImageRef> {
        match &s.image {
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
                            Diag::error(diag::UNKNOWN_IMAGE, format!("unknown image `{}`", i.v))
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
        }
    }

    fn ports(&mut self, s: &decl::Service, params: &BTreeMap<String, ParamInfo>) -> Vec<PortInfo> {
        self.duplicates(s.ports.iter().map(|p| &p.name), "port");
        let mut ports = Vec::new();
        // A TCP and a UDP port may share a number (DNS, QUIC); two of one protocol may not.
        let mut numbers: BTreeMap<(u16, Protocol), Span> = BTreeMap::new();
        for p in &s.ports {
            self.name(&p.name, "port", 15);
            let protocol = match &p.protocol {
                None => Protocol::Tcp,
                Some(x) if x.v == "tcp" => Protocol::Tcp,
                Some(x) if x.v == "udp" => Protocol::Udp,
                Some(x) => {
                    self.err(
                        Diag::error(diag::NOT_ALLOWED, format!("`{}` is not a protocol", x.v))
                            .label(x.span, "not tcp or udp")
                            .help("write protocol=\"udp\", or leave it out for TCP"),
                    );
                    Protocol::Tcp
                }
            };
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
            if let Some(first) = numbers.get(&(number, protocol)) {
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
            numbers.insert((number, protocol), p.number.span);
            let publish = p.publish.as_ref().and_then(|pb| self.publish(pb, params));
            ports.push(PortInfo {
                name: p.name.v.clone(),
                number,
                publish,
                protocol,
                span: p.number.span,
            });
        }
        ports
    }

    fn env(
        &mut self,
        s: &decl::Service,
        ctx: &Ctx<'_>,
        refs: &mut Vec<(String, Span)>,
    ) -> Vec<EnvVar> {
        self.duplicates(s.env.iter().map(|e| &e.key), "env key");
        let mut env = Vec::new();
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
                    if !ctx.decl.secrets.iter().any(|x| x.name.v == name.v) {
                        self.err(
                            Diag::error(
                                diag::UNKNOWN_REFERENCE,
                                format!("unknown secret `{}`", name.v),
                            )
                            .label(name.span, "no such secret")
                            .help(diag::unknown_help(
                                "secret",
                                &name.v,
                                ctx.decl.secrets.iter().map(|x| x.name.v.as_str()),
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
                    EnvSource::Template(self.service_template(s, t, ctx, refs))
                }
            };
            env.push(EnvVar {
                key: e.key.v.clone(),
                source,
                span: e.span,
            });
        }
        env
    }

    /// A string with references, recording the services it names as dependencies.
    pub(super) fn service_template(
        &mut self,
        s: &decl::Service,
        t: &S<String>,
        ctx: &Ctx<'_>,
        refs: &mut Vec<(String, Span)>,
    ) -> Template {
        let parts = self.template(t, ctx.by_name, ctx.params);
        for p in &parts {
            match p {
                // A service naming its own host or port is not a dependency.
                Part::Host(svc) | Part::Port { service: svc, .. } if *svc != s.name.v => {
                    refs.push((svc.clone(), t.span))
                }
                _ => {}
            }
        }
        parts
    }

    fn volumes(&mut self, s: &decl::Service) -> Vec<VolumeInfo> {
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
        volumes
    }

    fn resources(&mut self, s: &decl::Service) -> ResourceInfo {
        let Some(r) = &s.resources else {
            return ResourceInfo::default();
        };
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

    /// `(singleton, replicas)`.
    fn replicas(&mut self, s: &decl::Service) -> (bool, u32) {
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
        (singleton, replicas)
    }

    fn dependencies(
        &mut self,
        s: &decl::Service,
        by_name: &BTreeMap<String, &decl::Service>,
        refs: &mut Vec<(String, Span)>,
    ) {
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
    }

    /// A profile's `remove` inside a service the base does not have (the overlay removed
    /// what it could; anything left that was not reported names nothing).
    fn removals_of_new_service(&mut self, s: &decl::Service) {
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
        ctx: &Ctx<'_>,
        refs: &mut Vec<(String, Span)>,
    ) -> Option<HealthInfo> {
        let span = h.span.unwrap_or(s.name.span);
        let http = h.liveness.is_some() || h.readiness.is_some();
        if !self.one_check_kind(h) {
            return None;
        }
        let tool = self.probe_tool(h, http);
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
            let mut args = Vec::new();
            for a in &exec.v {
                self.credentials(&a.v, a.span, &format!("the health check of `{}`", s.name.v));
                args.push(self.service_template(s, a, ctx, refs));
            }
            (Check::Exec(args.clone()), Check::Exec(args))
        } else if let Some(tcp) = &h.tcp {
            let port = self.check_port(s, Some(tcp), ports, span, "TCP")?;
            let check = Check::Tcp {
                port: port.name,
                number: port.number,
            };
            (check.clone(), check)
        } else if http {
            let port = self.check_port(s, h.port.as_ref(), ports, span, "HTTP")?;
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
            self.err(Diag::error(diag::MISSING_VALUE, "`health` needs a check").label(span, "no check").help("add liveness=\"/alive\" readiness=\"/health\", tcp=\"PORT\", or a child `exec \"CMD\" …`"));
            return None;
        };
        Some(HealthInfo {
            liveness,
            readiness,
            start_period,
            interval,
            timeout,
            retries,
            tool,
        })
    }

    /// `tool=`: what the image probes with, checked against the kind of check.
    fn probe_tool(&mut self, h: &decl::Health, http: bool) -> ProbeTool {
        match &h.tool {
            None => ProbeTool::default(),
            Some(t) => match ProbeTool::parse(&t.v) {
                Some(tool) => {
                    let fits = match tool {
                        ProbeTool::Bash => http || h.tcp.is_some(),
                        ProbeTool::Curl | ProbeTool::Wget => http,
                        ProbeTool::Nc => h.tcp.is_some(),
                    };
                    if !fits {
                        self.err(
                            Diag::error(
                                diag::NOT_ALLOWED,
                                format!("`tool=\"{}\"` cannot run this health check", t.v),
                            )
                            .label(t.span, "does not fit the check")
                            .help("HTTP checks take bash, curl or wget; TCP checks take bash or nc; a command check runs itself"),
                        );
                    }
                    tool
                }
                None => {
                    self.err(
                        Diag::error(diag::NOT_ALLOWED, format!("`{}` is not a probe tool", t.v))
                            .label(t.span, "unknown tool")
                            .help(diag::unknown_help(
                                "tool",
                                &t.v,
                                ProbeTool::NAMES.iter().copied(),
                            )),
                    );
                    ProbeTool::default()
                }
            },
        }
    }

    /// At most one kind of check: HTTP paths, a TCP port, or a command.
    fn one_check_kind(&mut self, h: &decl::Health) -> bool {
        // At most one kind of check: HTTP paths, a TCP port, or a command.
        let kinds: Vec<(Span, &str)> = [
            h.liveness
                .as_ref()
                .or(h.readiness.as_ref())
                .map(|x| (x.span, "HTTP check")),
            h.tcp.as_ref().map(|x| (x.span, "TCP check")),
            h.exec.as_ref().map(|x| (x.span, "command check")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if kinds.len() > 1 {
            let mut d = Diag::error(
                diag::HEALTH_CONFLICT,
                "a health check is HTTP, TCP or a command, only one of them",
            );
            for (sp, what) in &kinds {
                d = d.label(*sp, *what);
            }
            self.err(d.help("keep `liveness`/`readiness` for an HTTP service, `tcp=\"PORT\"` for a plain TCP one, or `exec` for a command"));
            return false;
        }
        true
    }

    /// The TCP port an HTTP or TCP check probes: the named one, or the first.
    fn check_port(
        &mut self,
        s: &decl::Service,
        named: Option<&S<String>>,
        ports: &[PortInfo],
        span: Span,
        kind: &str,
    ) -> Option<PortInfo> {
        let port = match named {
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
            None => match ports.iter().find(|p| p.protocol == Protocol::Tcp) {
                Some(x) => x.clone(),
                None => {
                    self.err(
                        Diag::error(
                            diag::UNKNOWN_PORT,
                            format!(
                                "service `{}` has an {kind} health check but no TCP port",
                                s.name.v
                            ),
                        )
                        .label(span, format!("{kind} check without a port"))
                        .help("declare `port \"http\" 8080` in the service"),
                    );
                    return None;
                }
            },
        };
        if port.protocol == Protocol::Udp {
            self.err(
                Diag::error(
                    diag::HEALTH_CONFLICT,
                    format!(
                        "port `{}` is UDP; an {kind} check needs a TCP port",
                        port.name
                    ),
                )
                .label(named.map(|n| n.span).unwrap_or(span), "a UDP port")
                .help("name a TCP port, or check the service with `exec`"),
            );
            return None;
        }
        Some(port)
    }
}
