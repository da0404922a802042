//! Decoding `service` blocks and their children.

use crate::parse::{Node, Value};

use super::{Decoder, SERVICE_NODES, SERVICE_REMOVABLE};
use crate::decl::{
    Backup, Bind, Capability, ConfigFile, Device, Env, EnvValue, Gpu, Health, HostFiles, Note,
    Port, Resources, Service, User, Volume,
};
use crate::diag::{self, Diag};
use crate::source::S;

/// The children of `backup`; the language server completes from the same list.
pub const BACKUP_NODES: &[&str] = &["dump", "restore", "host-dump", "host-restore"];

/// The properties of `health`; the language server completes from the same list.
pub const HEALTH_PROPS: &[&str] = &[
    "liveness",
    "tcp",
    "tool",
    "readiness",
    "port",
    "start-period",
    "interval",
    "timeout",
    "retries",
];

impl Decoder<'_> {
    pub(super) fn service(&mut self, node: &Node) -> Option<Service> {
        let usage = "service \"NAME\" { image \"IMAGE\" … }";
        self.check_props(node, &[]);
        self.check_arg_count(node, 1, usage);
        let name = self.arg_str(node, 0, "a name", usage)?;
        let mut s = Service {
            name,
            image: None,
            command: None,
            entrypoint: None,
            host_command: None,
            root: None,
            capabilities: vec![],
            host_network: None,
            configs: vec![],
            binds: vec![],
            devices: vec![],
            gpu: None,
            singleton: None,
            replicas: None,
            user: None,
            read_only_root: None,
            writable: vec![],
            ports: vec![],
            env: vec![],
            health: None,
            volumes: vec![],
            resources: None,
            depends_on: vec![],
            host_unit: None,
            host_files: None,
            backup: None,
            notes: vec![],
            removals: vec![],
            span: self.span(node.span()),
        };
        for child in node.iter_children() {
            match child.name().value() {
                "remove" => s.removals.extend(self.remove(child, SERVICE_REMOVABLE)),
                "image" => {
                    let v = self.single_str(child);
                    let first = s.image.as_ref().map(|x| x.span);
                    self.set_once(&mut s.image, v, child, first);
                }
                "command" | "entrypoint" | "host-command" => self.child_command(child, &mut s),
                "root" | "host-network" => self.child_root(child, &mut s),
                "capability" => self.child_capability(child, &mut s),
                "config" => self.child_config(child, &mut s),
                "bind" => self.child_bind(child, &mut s),
                "device" => self.child_device(child, &mut s),
                "gpu" => self.child_gpu(child, &mut s),
                "singleton" => {
                    let v = self.flag(child);
                    let first = s.singleton.as_ref().map(|x| x.span);
                    self.set_once(&mut s.singleton, v, child, first);
                }
                "read-only-root" => {
                    let v = self.flag(child);
                    let first = s.read_only_root.as_ref().map(|x| x.span);
                    self.set_once(&mut s.read_only_root, v, child, first);
                }
                "replicas" => self.child_replicas(child, &mut s),
                "user" => self.child_user(child, &mut s),
                "writable" => {
                    self.check_props(child, &[]);
                    self.no_children(child);
                    for e in self.args(child) {
                        s.writable.extend(self.str_of(e, "a writable path"));
                    }
                }
                "port" => self.child_port(child, &mut s),
                "env" => self.child_env(child, &mut s),
                "health" => {
                    let h = self.health(child);
                    let first = s.health.as_ref().and_then(|x| x.span);
                    self.set_once(&mut s.health, Some(h), child, first);
                }
                "volume" => self.child_volume(child, &mut s),
                "resources" => self.child_resources(child, &mut s),
                "depends-on" => self.child_depends_on(child, &mut s),
                "host-unit" => self.child_host_unit(child, &mut s),
                "host-files" => self.child_host_files(child, &mut s),
                "backup" => {
                    let v = self.backup(child);
                    let first = s.backup.as_ref().map(|x| x.span);
                    self.set_once(&mut s.backup, Some(v), child, first);
                }
                "notes" => self.child_notes(child, &mut s),
                _ => self.unknown_node(child, SERVICE_NODES, "`service`"),
            }
        }
        Some(s)
    }

    fn child_command(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let word = child.name().value();
        self.check_props(child, &[]);
        self.no_children(child);
        let args = self.spanned_str_args(child, "an argument");
        if args.is_empty() {
            self.missing(
                child,
                "at least one argument",
                &format!("{word} \"PROGRAM\" \"ARG\"…"),
            );
        }
        let slot = match word {
            "command" => &mut s.command,
            "entrypoint" => &mut s.entrypoint,
            _ => &mut s.host_command,
        };
        let first = slot.as_ref().map(|x| x.span);
        self.set_once(slot, Some(S::new(args, cspan)), child, first);
    }

    fn child_root(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let word = child.name().value();
        let usage = format!("{word} reason=\"WHY\"");
        self.check_props(child, &["reason"]);
        self.check_arg_count(child, 0, &usage);
        self.no_children(child);
        let reason = self.prop_str(child, "reason");
        if reason.is_none() {
            self.missing(child, "a reason", &usage);
        }
        let v = reason.map(|r| S::new(r.v, cspan));
        let slot = if word == "root" {
            &mut s.root
        } else {
            &mut s.host_network
        };
        let first = slot.as_ref().map(|x| x.span);
        self.set_once(slot, v, child, first);
    }

    fn child_capability(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "capability \"NET_BIND_SERVICE\" reason=\"WHY\"";
        self.check_props(child, &["reason"]);
        self.check_arg_count(child, 1, usage);
        self.no_children(child);
        let name = self.arg_str(child, 0, "a capability", usage);
        let reason = self.prop_str(child, "reason");
        if reason.is_none() && name.is_some() {
            self.missing(child, "a reason", usage);
        }
        if let Some(name) = name {
            s.capabilities.push(Capability {
                name,
                reason,
                span: cspan,
            });
        }
    }

    fn child_config(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "config \"NAME\" \"/container/path\" file=\"FILE\"  or  content=\"…\"";
        self.check_props(child, &["file", "content"]);
        self.check_arg_count(child, 2, usage);
        self.no_children(child);
        let name = self.arg_str(child, 0, "a config name", usage);
        let path = self.arg_str(child, 1, "a container path", usage);
        let file = self.prop_str(child, "file");
        let content = self.prop_str(child, "content");
        if let (Some(name), Some(path)) = (name, path) {
            s.configs.push(ConfigFile {
                name,
                path,
                file,
                content,
                span: cspan,
            });
        }
    }

    fn child_bind(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "bind \"/host/path\" \"/container/path\" read-only=#true";
        self.check_props(child, &["read-only"]);
        self.check_arg_count(child, 2, usage);
        self.no_children(child);
        let host = self.arg_str(child, 0, "a host path", usage);
        let path = self.arg_str(child, 1, "a container path", usage);
        let read_only = self.prop_bool(child, "read-only");
        if let (Some(host), Some(path)) = (host, path) {
            s.binds.push(Bind {
                host,
                path,
                read_only,
                span: cspan,
            });
        }
    }

    fn child_device(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "device \"/dev/ttyUSB0\" [\"/dev/in-container\"] kubernetes-resource=\"…\"";
        self.check_props(child, &["kubernetes-resource"]);
        self.check_arg_count(child, 2, usage);
        self.no_children(child);
        let host = self.arg_str(child, 0, "a host device path", usage);
        let path = match self.args(child).get(1).copied() {
            Some(e) => self.str_of(e, "a container device path"),
            None => None,
        };
        let kubernetes_resource = self.prop_str(child, "kubernetes-resource");
        if let Some(host) = host {
            s.devices.push(Device {
                host,
                path,
                kubernetes_resource,
                span: cspan,
            });
        }
    }

    fn child_gpu(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "gpu \"nvidia\" count=1";
        self.check_props(child, &["count"]);
        self.check_arg_count(child, 1, usage);
        self.no_children(child);
        let vendor = self.arg_str(child, 0, "a vendor (`nvidia` or `amd`)", usage);
        let count = self.prop_u32(child, "count");
        let v = vendor.map(|vendor| Gpu {
            vendor,
            count,
            span: cspan,
        });
        let first = s.gpu.as_ref().map(|x| x.span);
        self.set_once(&mut s.gpu, v, child, first);
    }

    fn child_replicas(&mut self, child: &Node, s: &mut Service) {
        self.check_props(child, &[]);
        self.check_arg_count(child, 1, "replicas N");
        self.no_children(child);
        let v = match self.args(child).first().copied() {
            Some(e) => self.u32_of(e, "`replicas`"),
            None => {
                self.missing(child, "a number", "replicas N");
                None
            }
        };
        let first = s.replicas.as_ref().map(|x| x.span);
        self.set_once(&mut s.replicas, v, child, first);
    }

    fn child_user(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "user UID group=GID";
        self.check_props(child, &["group"]);
        self.check_arg_count(child, 1, usage);
        self.no_children(child);
        let uid = match self.args(child).first().copied() {
            Some(e) => self.u32_of(e, "the user id"),
            None => {
                self.missing(child, "a numeric user id", usage);
                None
            }
        };
        let gid = self.prop_u32(child, "group");
        let v = uid.map(|uid| User {
            uid,
            gid,
            span: cspan,
        });
        let first = s.user.as_ref().map(|x| x.span);
        self.set_once(&mut s.user, v, child, first);
    }

    fn child_port(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "port \"NAME\" 8080 publish=7233 protocol=\"udp\"";
        self.check_props(child, &["publish", "protocol"]);
        self.check_arg_count(child, 2, usage);
        self.no_children(child);
        let name = self.arg_str(child, 0, "a port name", usage);
        let number = match self.args(child).get(1).copied() {
            Some(e) => self.int_of(e, "the port number"),
            None => {
                self.missing(child, "a port number", usage);
                None
            }
        };
        let publish = match self.prop(child, "publish") {
            Some(e) => self.scalar_of(e, "`publish`"),
            None => None,
        };
        let protocol = self.prop_str(child, "protocol");
        if let (Some(name), Some(number)) = (name, number) {
            s.ports.push(Port {
                name,
                number,
                publish,
                protocol,
                span: cspan,
            });
        }
    }

    fn child_env(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "env \"KEY\" \"VALUE\"  or  env \"KEY\" secret=\"NAME\"";
        self.check_props(child, &["secret"]);
        self.check_arg_count(child, 2, usage);
        self.no_children(child);
        let key = self.arg_str(child, 0, "a key", usage);
        let secret = self.prop_str(child, "secret");
        let text = self.args(child).get(1).copied();
        let value = match (text, secret) {
            (Some(_), Some(sec)) => {
                self.push(
                    Diag::error(
                        diag::EXTRA_ARGUMENT,
                        "an env entry has either a value or a secret, not both",
                    )
                    .label(sec.span, "the secret")
                    .help("remove the literal value or the `secret=` property"),
                );
                None
            }
            (None, Some(sec)) => Some(EnvValue::Secret(sec)),
            (Some(e), None) => match e.value() {
                Value::String(v) => Some(EnvValue::Text(S::new(v.clone(), self.span(e.span())))),
                Value::Integer(_) | Value::Bool(_) | Value::Float(_) => {
                    // Environment values are strings; accept numbers and booleans as written.
                    let text = e.value().to_string();
                    let text = text.trim_start_matches('#').to_string();
                    Some(EnvValue::Text(S::new(text, self.span(e.span()))))
                }
                Value::Null => {
                    self.wrong_type(e, "a string", "an env value");
                    None
                }
            },
            (None, None) => {
                if key.is_some() {
                    self.missing(child, "a value or `secret=`", usage);
                }
                None
            }
        };
        if let (Some(key), Some(value)) = (key, value) {
            s.env.push(Env {
                key,
                value,
                span: cspan,
            });
        }
    }

    fn child_volume(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "volume \"NAME\" \"/container/path\" size=\"1Gi\"";
        self.check_props(child, &["size"]);
        self.check_arg_count(child, 2, usage);
        self.no_children(child);
        let name = self.arg_str(child, 0, "a volume name", usage);
        let path = self.arg_str(child, 1, "a container path", usage);
        let size = self.prop_str(child, "size");
        if let (Some(name), Some(path)) = (name, path) {
            s.volumes.push(Volume {
                name,
                path,
                size,
                span: cspan,
            });
        }
    }

    fn child_resources(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        self.check_props(child, &["cpu", "memory", "cpu-limit", "memory-limit"]);
        self.check_arg_count(
            child,
            0,
            "resources cpu=\"250m\" memory=\"512Mi\" cpu-limit=\"1\" memory-limit=\"1Gi\"",
        );
        self.no_children(child);
        let r = Resources {
            cpu: self.prop_str(child, "cpu"),
            memory: self.prop_str(child, "memory"),
            cpu_limit: self.prop_str(child, "cpu-limit"),
            memory_limit: self.prop_str(child, "memory-limit"),
            span: Some(cspan),
        };
        let first = s.resources.as_ref().and_then(|x| x.span);
        self.set_once(&mut s.resources, Some(r), child, first);
    }

    fn child_depends_on(&mut self, child: &Node, s: &mut Service) {
        self.check_props(child, &[]);
        self.no_children(child);
        let args = self.args(child);
        if args.is_empty() {
            self.missing(child, "a service name", "depends-on \"SERVICE\"…");
        }
        for e in args {
            s.depends_on.extend(self.str_of(e, "a service name"));
        }
    }

    fn child_host_unit(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        self.check_props(child, &[]);
        self.no_children(child);
        let units = self.all_str_args(child, "a systemd unit name");
        if units.is_empty() {
            self.missing(
                child,
                "a unit name",
                "host-unit \"redis-server.service\" \"redis.service\"",
            );
        }
        let first = s.host_unit.as_ref().map(|x| x.span);
        self.set_once(&mut s.host_unit, Some(S::new(units, cspan)), child, first);
    }

    fn child_host_files(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "host-files \"/app\" contains=\"server.dll\"";
        self.check_props(child, &["contains"]);
        self.check_arg_count(child, 1, usage);
        self.no_children(child);
        let v = self
            .arg_str(child, 0, "the container path", usage)
            .map(|path| HostFiles {
                path,
                contains: self.prop_str(child, "contains"),
                span: cspan,
            });
        let first = s.host_files.as_ref().map(|x| x.span);
        self.set_once(&mut s.host_files, v, child, first);
    }

    fn child_notes(&mut self, child: &Node, s: &mut Service) {
        let cspan = self.span(child.span());
        let usage = "notes \"TEXT\"  or  notes \"TEXT\" target=\"systemd\"";
        self.check_props(child, &["target"]);
        self.check_arg_count(child, 1, usage);
        self.no_children(child);
        let text = self.arg_str(child, 0, "the text", usage);
        let target = self.prop_str(child, "target");
        let key = target.as_ref().map(|t| t.v.clone());
        if let Some(first) = s
            .notes
            .iter()
            .find(|n| n.target.as_ref().map(|t| &t.v) == key.as_ref())
        {
            let first = first.span;
            self.push(
                Diag::error(
                    diag::DUPLICATE,
                    match &key {
                        Some(t) => {
                            format!("`notes` for target `{t}` is given twice in this service")
                        }
                        None => {
                            "`notes` for every target is given twice in this service".to_string()
                        }
                    },
                )
                .label(cspan, "given again here")
                .label(first, "first given here")
                .help("join the two texts into one `notes`"),
            );
        } else if let Some(text) = text {
            s.notes.push(Note {
                target,
                text,
                span: cspan,
            });
        }
    }

    fn backup(&mut self, node: &Node) -> Backup {
        let usage = "backup { dump \"PROGRAM\" \"ARG\"…; restore \"PROGRAM\" \"ARG\"… }";
        self.check_props(node, &[]);
        self.check_arg_count(node, 0, usage);
        let mut b = Backup {
            dump: None,
            restore: None,
            host_dump: None,
            host_restore: None,
            host_user: None,
            span: self.span(node.span()),
        };
        for child in node.iter_children() {
            let name = child.name().value();
            if !BACKUP_NODES.contains(&name) {
                self.unknown_node(child, BACKUP_NODES, "`backup`");
                continue;
            }
            let host = name.starts_with("host-");
            self.check_props(child, if host { &["user"] } else { &[] });
            self.no_children(child);
            let args = self.all_str_args(child, "a command argument");
            if args.is_empty() {
                self.missing(child, "a command", &format!("{name} \"PROGRAM\" \"ARG\"…"));
            }
            if host && let Some(u) = self.prop_str(child, "user") {
                // One user for both host commands: the last one given.
                b.host_user = Some(u);
            }
            let v = Some(S::new(args, self.span(child.span())));
            let slot = match name {
                "dump" => &mut b.dump,
                "restore" => &mut b.restore,
                "host-dump" => &mut b.host_dump,
                _ => &mut b.host_restore,
            };
            let first = slot.as_ref().map(|x| x.span);
            self.set_once(slot, v, child, first);
        }
        if b.dump.is_none() {
            self.missing(node, "a `dump` command", usage);
        }
        b
    }

    fn health(&mut self, node: &Node) -> Health {
        self.check_props(node, HEALTH_PROPS);
        self.check_arg_count(
            node,
            0,
            "health liveness=\"/alive\" readiness=\"/health\" port=\"http\" { exec \"CMD\" … }",
        );
        let mut h = Health {
            liveness: self.prop_str(node, "liveness"),
            readiness: self.prop_str(node, "readiness"),
            port: self.prop_str(node, "port"),
            exec: None,
            tcp: self.prop_str(node, "tcp"),
            tool: self.prop_str(node, "tool"),
            start_period: self.prop_str(node, "start-period"),
            interval: self.prop_str(node, "interval"),
            timeout: self.prop_str(node, "timeout"),
            retries: self.prop_u32(node, "retries"),
            span: Some(self.span(node.span())),
        };
        for child in node.iter_children() {
            match child.name().value() {
                "exec" => {
                    self.check_props(child, &[]);
                    self.no_children(child);
                    let args = self.spanned_str_args(child, "a command argument");
                    if args.is_empty() {
                        self.missing(child, "a command", "exec \"PROGRAM\" \"ARG\"…");
                    }
                    let first = h.exec.as_ref().map(|x| x.span);
                    let v = Some(S::new(args, self.span(child.span())));
                    self.set_once(&mut h.exec, v, child, first);
                }
                _ => self.unknown_node(child, &["exec"], "`health`"),
            }
        }
        h
    }
}
