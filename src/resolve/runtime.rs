//! What a service runs and what it may touch: its program (`entrypoint`, `command`), root and
//! capabilities, host networking, config files, bind mounts, devices and GPUs.
//!
//! Everything that loosens the defaults every target applies (non-root, all capabilities
//! dropped, a private network, nothing from the host) needs a written reason or an explicit
//! node, so a reviewer of the declaration sees it and every target can say what it grants.

use std::collections::BTreeMap;

use super::Resolver;
use super::services::Ctx;
use crate::decl;
use crate::diag::{self, Diag};
use crate::model::{BindInfo, ConfigInfo, DeviceInfo, GpuInfo, GpuVendor, Template};
use crate::source::{S, Span};

/// Linux capabilities by name, without `CAP_` (capabilities(7)).
const CAPABILITIES: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// The largest config file shipped in a bundle: configuration, not data.
const MAX_CONFIG_BYTES: usize = 1 << 20;

pub(super) struct Program {
    pub command: Vec<Template>,
    pub entrypoint: Vec<Template>,
    pub host_command: Vec<Template>,
}

pub(super) struct Runtime {
    pub root: Option<String>,
    pub capabilities: Vec<(String, String)>,
    pub host_network: Option<String>,
    pub host_network_span: Option<Span>,
    pub configs: Vec<ConfigInfo>,
    pub binds: Vec<BindInfo>,
    pub devices: Vec<DeviceInfo>,
    pub gpu: Option<GpuInfo>,
}

impl Resolver<'_> {
    /// `entrypoint` and `command`, with references resolved in every argument.
    pub(super) fn program(
        &mut self,
        s: &decl::Service,
        ctx: &Ctx<'_>,
        refs: &mut Vec<(String, Span)>,
    ) -> Program {
        let mut words = |list: &Option<S<Vec<S<String>>>>, what: &str| -> Vec<Template> {
            let mut out = Vec::new();
            for a in list.iter().flat_map(|l| &l.v) {
                self.credentials(&a.v, a.span, &format!("the {what} of `{}`", s.name.v));
                if a.v.contains('\0') {
                    self.err(
                        Diag::error(diag::WRONG_TYPE, "an argument cannot hold a NUL character")
                            .label(a.span, "contains \\0"),
                    );
                }
                out.push(self.service_template(s, a, ctx, refs));
            }
            out
        };
        Program {
            command: words(&s.command, "command"),
            entrypoint: words(&s.entrypoint, "entrypoint"),
            host_command: words(&s.host_command, "host command"),
        }
    }

    pub(super) fn runtime(&mut self, s: &decl::Service) -> Runtime {
        Runtime {
            root: self.root(s),
            capabilities: self.capabilities(s),
            host_network: s.host_network.as_ref().map(|r| r.v.clone()),
            host_network_span: s.host_network.as_ref().map(|r| r.span),
            configs: self.configs(s),
            binds: self.binds(s),
            devices: self.devices(s),
            gpu: self.gpu(s),
        }
    }

    /// `user 0` is root: it must say why, like `root` does, because every target otherwise
    /// promises a non-root process (Kubernetes would refuse the pod outright).
    fn root(&mut self, s: &decl::Service) -> Option<String> {
        let uid = s.user.as_ref().map(|u| &u.uid);
        match (&s.root, uid) {
            (None, Some(u)) if u.v == 0 => {
                self.err(
                    Diag::error(
                        diag::ROOT_WITHOUT_REASON,
                        format!("`{}` runs as root (user 0) without saying why", s.name.v),
                    )
                    .label(u.span, "user 0 is root")
                    .help("use the image's non-root user; or, if it must start as root, replace `user 0` with `root reason=\"…\"`"),
                );
                None
            }
            (Some(r), Some(u)) if u.v != 0 => {
                self.err(
                    Diag::error(
                        diag::ROOT_WITHOUT_REASON,
                        format!("`{}` declares both `root` and user {}", s.name.v, u.v),
                    )
                    .label(r.span, "root")
                    .label(u.span, "a non-root user")
                    .help("keep `user` if the service runs as that user, or `root` if it must start as root"),
                );
                None
            }
            (Some(r), _) => Some(r.v.clone()),
            (None, _) => None,
        }
    }

    fn capabilities(&mut self, s: &decl::Service) -> Vec<(String, String)> {
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        let mut out = Vec::new();
        for c in &s.capabilities {
            let upper = c.name.v.to_ascii_uppercase();
            let name = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
            if !CAPABILITIES.contains(&name.as_str()) {
                self.err(
                    Diag::error(
                        diag::NOT_ALLOWED,
                        format!("`{}` is not a Linux capability", c.name.v),
                    )
                    .label(c.name.span, "unknown capability")
                    .help(diag::unknown_help(
                        "capability",
                        &name,
                        CAPABILITIES.iter().copied(),
                    )),
                );
                continue;
            }
            if let Some(first) = seen.insert(name.clone(), c.span) {
                self.err(
                    Diag::error(
                        diag::DUPLICATE,
                        format!("capability `{name}` is given twice"),
                    )
                    .label(c.span, "given again here")
                    .label(first, "first given here")
                    .help("keep one of them"),
                );
                continue;
            }
            out.push((
                name,
                c.reason.as_ref().map(|r| r.v.clone()).unwrap_or_default(),
            ));
        }
        out.sort();
        out
    }

    fn configs(&mut self, s: &decl::Service) -> Vec<ConfigInfo> {
        self.duplicates(s.configs.iter().map(|c| &c.name), "config");
        let mut out = Vec::new();
        for c in &s.configs {
            // A file name: the ConfigMap key and the file in the Compose tarball.
            let n = &c.name.v;
            if n.is_empty()
                || n.len() > 63
                || n.starts_with('.')
                || !n
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
            {
                self.err(
                    Diag::error(diag::BAD_NAME, format!("invalid config name: `{n}`"))
                        .label(c.name.span, "invalid name")
                        .help("a file name of letters, digits, `.`, `_` and `-`, not starting with `.`, at most 63 characters"),
                );
            }
            self.path(&c.path);
            let content = match (&c.file, &c.content) {
                (Some(f), Some(t)) => {
                    self.err(
                        Diag::error(
                            diag::EXTRA_ARGUMENT,
                            "a config has `file=` or `content=`, not both",
                        )
                        .label(f.span, "from a file")
                        .label(t.span, "inline")
                        .help("keep one of them"),
                    );
                    continue;
                }
                (None, None) => {
                    self.err(
                        Diag::error(diag::MISSING_VALUE, format!("config `{}` has no content", c.name.v))
                            .label(c.span, "no `file=` or `content=`")
                            .help("add file=\"configs/NAME\" (a file in the `configs/` directory next to the declaration) or content=\"…\""),
                    );
                    continue;
                }
                (None, Some(t)) => t.v.clone(),
                (Some(f), None) => match self.sources.files.iter().find(|x| x.name == f.v) {
                    Some(file) => file.text.to_string(),
                    None => {
                        let known: Vec<&str> = self
                            .sources
                            .files
                            .iter()
                            .map(|x| x.name.as_str())
                            .filter(|n| n.starts_with("configs/"))
                            .collect();
                        self.err(
                            Diag::error(diag::CONFIG_FILE, format!("no config file `{}`", f.v))
                                .label(f.span, "not found in configs/")
                                .help(if known.is_empty() {
                                    "config files live in the `configs/` directory next to the declaration (UTF-8 text, up to 1 MiB each); name one as file=\"configs/NAME\"".to_string()
                                } else {
                                    diag::unknown_help("config file", &f.v, known)
                                }),
                        );
                        continue;
                    }
                },
            };
            if content.len() > MAX_CONFIG_BYTES {
                self.err(
                    Diag::error(
                        diag::CONFIG_FILE,
                        format!("config `{}` is larger than 1 MiB", c.name.v),
                    )
                    .label(c.span, "too large")
                    .help("ship configuration, not data: use a volume for large files"),
                );
                continue;
            }
            out.push(ConfigInfo {
                name: c.name.v.clone(),
                path: c.path.v.clone(),
                content,
            });
        }
        out
    }

    fn binds(&mut self, s: &decl::Service) -> Vec<BindInfo> {
        let mut out = Vec::new();
        for b in &s.binds {
            self.path(&b.host);
            self.path(&b.path);
            out.push(BindInfo {
                host: b.host.v.clone(),
                path: b.path.v.clone(),
                read_only: b.read_only.as_ref().map(|r| r.v).unwrap_or(false),
                span: b.span,
            });
        }
        out
    }

    fn devices(&mut self, s: &decl::Service) -> Vec<DeviceInfo> {
        let mut out = Vec::new();
        for d in &s.devices {
            for p in [Some(&d.host), d.path.as_ref()].into_iter().flatten() {
                if !p.v.starts_with("/dev/") {
                    self.err(
                        Diag::error(diag::BAD_PATH, format!("`{}` is not a device path", p.v))
                            .label(p.span, "not under /dev/")
                            .help("name the device node, like `/dev/ttyUSB0` or `/dev/serial/by-id/…`"),
                    );
                } else {
                    self.path(p);
                }
            }
            out.push(DeviceInfo {
                host: d.host.v.clone(),
                path: d.path.as_ref().unwrap_or(&d.host).v.clone(),
                kubernetes_resource: d.kubernetes_resource.as_ref().map(|r| r.v.clone()),
                span: d.span,
            });
        }
        out
    }

    fn gpu(&mut self, s: &decl::Service) -> Option<GpuInfo> {
        let g = s.gpu.as_ref()?;
        let vendor = match g.vendor.v.as_str() {
            "nvidia" => GpuVendor::Nvidia,
            "amd" => GpuVendor::Amd,
            other => {
                self.err(
                    Diag::error(
                        diag::NOT_ALLOWED,
                        format!("`{other}` is not a GPU vendor luciac knows"),
                    )
                    .label(g.vendor.span, "unknown vendor")
                    .help("write `gpu \"nvidia\"` or `gpu \"amd\"`"),
                );
                return None;
            }
        };
        let count = g.count.as_ref().map(|c| c.v).unwrap_or(1);
        if count == 0 {
            if let Some(c) = &g.count {
                self.err(
                    Diag::error(diag::OUT_OF_RANGE, "`count=0` asks for no GPU")
                        .label(c.span, "zero")
                        .help("remove the `gpu` node, or ask for at least one"),
                );
            }
            return None;
        }
        Some(GpuInfo {
            vendor,
            count,
            span: g.span,
        })
    }
}
