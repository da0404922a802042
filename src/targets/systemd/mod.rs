//! systemd target: a hardened, installable package for Debian 12, Ubuntu 22.04+ and RHEL 9 hosts
//! (`<instance>-systemd-<version>.tar.gz`): the unit, a credential-bridging start wrapper,
//! sysusers.d and tmpfiles.d files, an env-file template, POSIX `install.sh`/`uninstall.sh` and
//! a README.
//!
//! Choices a reviewer should know:
//! - **Identity:** a static system user from sysusers.d (`u lucia`), not `DynamicUser=`: the UID
//!   stays stable across upgrades and restarts, `/etc/lucia` can be group-owned by it, and the
//!   state directory is a plain `/var/lib/lucia` (not a symlink into `/var/lib/private`).
//! - **Services provided by the host** (a non-empty `host-unit`, here Redis and MongoDB) are not
//!   run by the package: their references become `127.0.0.1` and their port numbers, their own
//!   env keys (container-only, like mongo's `HOME`) are dropped, and the installer writes a
//!   drop-in with `Requires=`/`After=` for the first candidate unit that exists on the host.
//! - **Secrets** are systemd credentials: `LoadCredential=<name>:/etc/lucia/credentials/<name>`.
//!   The app reads configuration only from the environment, so `ExecStart` runs a small POSIX sh
//!   wrapper (`libexec/lucia-start`) that reads `$CREDENTIALS_DIRECTORY/<name>`, checks the
//!   declared constraints and `export`s the key the app reads before `exec`ing dotnet. Values
//!   never appear in the unit, `systemctl show`, the bundle or any command line. systemd and
//!   POSIX sh cannot spell a variable whose name has a `-` (`ConnectionStrings__chat-model`):
//!   for those the wrapper execs a few lines of perl (Debian/Ubuntu always have it) or python3
//!   (RHEL has it for dnf) that read the credential file into the environment and exec the app;
//!   only if neither exists does it fall back to `env NAME=VALUE` (argv), with a warning.
//! - **dotnet path:** found by install.sh (never under /home or /root, which `ProtectHome=`
//!   hides anyway) and written, with the prefix and the host units, into
//!   `lucia.service.d/10-install.conf`; the shipped unit's `ExecStart` is the default
//!   `/usr/bin/dotnet`, overridden there.
//! - **Which declarations get a package:** one application service with a `command`, the others
//!   provided by host units. The target is enabled by default, so a container-only declaration
//!   (no `host-unit` anywhere) that does not fit is skipped without a diagnostic; one that uses
//!   `host-unit` gets errors for what is missing.
//! - **No port mapping** exists outside containers: where a service's environment names one of
//!   its own published ports (`{agenthost.port.http}`), it renders as the published number
//!   (7233) instead of the container port (8080).
//! - **Values** in `Environment=` lines are C-escaped inside double quotes with `%` doubled;
//!   in the env file they are double-quoted with `\`, `"`, `$` and `` ` `` escaped (systemd's
//!   EnvironmentFile rules, where `%` is not special). The unit carries every default, the env
//!   file shows them commented out, so upgrades bring new defaults and never touch user edits.

use crate::diag::{self, Diag};
use crate::model::*;
use crate::pack::{self, FileTree, Order};
use crate::targets::{Artifact, Layout, bytes_text, cores_text, sh_quote};
use crate::targets::{kind_text, md_cell};

mod files;
mod readme;

/// `systemd-analyze security --offline=yes` exposure of the generated unit, measured with
/// systemd 252 (Debian 12). The hardening set is the same for every profile; tests/systemd.rs
/// re-measures it and fails if this number is stale.
pub const EXPOSURE: &str = "1.2";

const INSTALL_SH: &str = include_str!("install.sh");
const UNINSTALL_SH: &str = include_str!("uninstall.sh");

/// The unit directory install.sh writes to (tarball/admin installs; in the default search path).
pub const UNIT_DIR: &str = "/usr/local/lib/systemd/system";
pub const SYSUSERS_DIR: &str = "/usr/local/lib/sysusers.d";
pub const TMPFILES_DIR: &str = "/usr/local/lib/tmpfiles.d";

pub fn lower(model: &Model, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    let Some(plan) = Plan::new(model, diags) else {
        return Vec::new();
    };
    let stem = format!("{}-systemd-{}", model.instance_name(), model.app.version);
    let n = &plan.name;
    let mut tree = FileTree::new();
    tree.insert(format!("{n}.service"), pack::text(plan.unit()));
    tree.insert(format!("{n}.sysusers"), pack::text(plan.sysusers()));
    tree.insert(format!("{n}.tmpfiles"), pack::text(plan.tmpfiles()));
    tree.insert(format!("{n}.env"), pack::text(plan.env_file()));
    tree.insert(format!("{n}-start"), pack::script(plan.wrapper()));
    tree.insert(
        "install.sh".into(),
        pack::script(plan.script(INSTALL_SH, true)),
    );
    tree.insert(
        "uninstall.sh".into(),
        pack::script(plan.script(UNINSTALL_SH, false)),
    );
    tree.insert("README.md".into(), pack::text(plan.readme(&stem)));
    crate::targets::scripts::add_host_scripts(&mut tree);
    vec![Artifact {
        target: crate::targets::Target::Systemd,
        path: format!("{stem}.tar.gz"),
        layout: Layout::TarGz {
            top: stem,
            order: Order::Sorted,
        },
        tree,
    }]
}

/// How `ExecStart` names the program.
#[derive(Debug, Clone, PartialEq)]
enum Program {
    /// `dotnet`: the installer finds it.
    Dotnet,
    /// An absolute path, used as is.
    Absolute(String),
    /// Relative to the app directory.
    InApp(String),
}

/// A non-secret env key with its default value and the params it derives from.
struct EnvLine {
    key: String,
    value: String,
    params: Vec<String>,
}

struct Plan<'a> {
    model: &'a Model,
    svc: &'a ServiceInfo,
    name: String,
    prefix: String,
    user: String,
    program: Program,
    args: Vec<String>,
    /// One group per host-provided dependency: candidate unit names, preferred first.
    host_groups: Vec<(String, Vec<String>)>,
    env: Vec<EnvLine>,
    /// (env key, secret)
    secrets: Vec<(String, &'a SecretInfo)>,
    /// (path relative to the app dir, state subdirectory) for volumes under `/app/`.
    state_links: Vec<(String, String)>,
    /// Volumes elsewhere: only a state directory.
    other_state: Vec<(String, String)>,
}

/// A name systemd accepts in `Environment=` and POSIX sh in `export`.
pub fn is_env_name(k: &str) -> bool {
    let mut c = k.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn is_unit_name(u: &str) -> bool {
    let ok_chars = !u.is_empty()
        && u.len() <= 255
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":_.\\@-".contains(c));
    let ok_suffix = [
        ".service", ".socket", ".target", ".mount", ".path", ".timer",
    ]
    .iter()
    .any(|s| u.len() > s.len() && u.ends_with(s));
    ok_chars && ok_suffix
}

/// Paths written into units and scripts: absolute, no whitespace, no characters that need quoting.
fn is_plain_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() > 1
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
        && !p.split('/').any(|s| s == "..")
}

/// A gap the systemd target cannot bridge: an error when the declaration meant to run on a host.
fn report(intent: bool, diags: &mut Vec<Diag>, d: Diag) {
    if intent {
        diags.push(d);
    }
}

impl<'a> Plan<'a> {
    fn new(model: &'a Model, diags: &mut Vec<Diag>) -> Option<Plan<'a>> {
        let settings = &model.targets.systemd;
        let name = model.app.name.clone();
        // A declaration written for containers only (no `host-unit` anywhere) that systemd cannot
        // run (several application services, no `command`) gets no systemd package and no error:
        // every declaration enables the target by default. One that uses `host-unit` meant to
        // be installed on a host, so there the same gaps are errors.
        let intent = model.services.iter().any(|s| !s.host_unit.is_empty());

        let run: Vec<&ServiceInfo> = model
            .services
            .iter()
            .filter(|s| s.host_unit.is_empty())
            .collect();
        let mut multiple = false;
        let svc = match run.as_slice() {
            [one] => *one,
            [] => {
                let span = model.services.first().map(|s| s.span)?;
                diags.push(
                    Diag::error(diag::TARGET_CANNOT_EXPRESS, "the systemd target has nothing to run: every service is provided by a host unit")
                        .label(span, "all services have `host-unit`")
                        .help("remove `host-unit` from the application service, or disable the target with `target \"systemd\" { enabled #false }`"),
                );
                return None;
            }
            [first, second, ..] => {
                if !intent {
                    return None;
                }
                report(intent, diags,
                    Diag::error(diag::TARGET_CANNOT_EXPRESS, format!("the systemd target runs one application service, but `{}` is another", second.name))
                        .label(second.span, "a second service without `host-unit`")
                        .help("give the services the host provides a `host-unit \"NAME.service\"`, or disable the target with `target \"systemd\" { enabled #false }`"),
                );
                // Keep checking the first one: every problem of the target in one report.
                multiple = true;
                *first
            }
        };
        let mut ok = !multiple;
        if !is_plain_path(&settings.prefix) {
            diags.push(
                Diag::error(diag::BAD_PATH, format!("systemd prefix `{}` must be an absolute path of letters, digits and `/._-+`", settings.prefix))
                    .label(svc.span, "installed under this prefix")
                    .help("use a path such as `/opt/lucia`"),
            );
            ok = false;
        }
        let user_ok = settings.user.len() <= 31
            && settings
                .user
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && settings
                .user
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !user_ok {
            diags.push(
                Diag::error(diag::BAD_NAME, format!("systemd user `{}` is not a valid system user name", settings.user))
                    .label(svc.span, "runs as this user")
                    .help("lowercase letters, digits, `_` and `-`, starting with a letter or `_`, at most 31 characters"),
            );
            ok = false;
        }
        let command = svc.command.split_first();
        if command.is_none() {
            if !intent {
                return None;
            }
            report(intent, diags,
                Diag::error(diag::MISSING_VALUE, format!("service `{}` declares no `command`; the systemd unit needs one to run", svc.name))
                    .label(svc.span, "no command")
                    .help("add `command \"PROGRAM\" \"ARG\"…` (Lucia: `command \"dotnet\" \"lucia.AgentHost.dll\"`)"),
            );
            ok = false;
        }
        let (first, rest) = command.map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
        // `Description=` is one line; dropping a break would join the lines silently.
        if model.app.description.chars().any(char::is_control) {
            diags.push(
                Diag::error(
                    diag::TARGET_CANNOT_EXPRESS,
                    "the systemd unit's `Description=` cannot carry the app description: it holds a line break or control character",
                )
                .label(
                    model.app.description_span.unwrap_or(svc.span),
                    "holds a line break or control character",
                )
                .help("write the description as one line; or disable the target with `target \"systemd\" { enabled #false }`"),
            );
            ok = false;
        }
        let program = if first == "dotnet" {
            Program::Dotnet
        } else if first.starts_with('/') {
            Program::Absolute(first.to_string())
        } else {
            Program::InApp(first.trim_start_matches("./").to_string())
        };
        let plain = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
        };
        let words = command
            .iter()
            .flat_map(|_| std::iter::once(first).chain(rest.iter().map(String::as_str)));
        for a in words.filter(|a| !plain(a)) {
            report(
                intent,
                diags,
                Diag::error(
                    diag::TARGET_CANNOT_EXPRESS,
                    format!("command word `{a}` cannot be used by the systemd target"),
                )
                .label(svc.span, "in this service's command")
                .help("use words of letters, digits and `/._-+=:,@` only"),
            );
            ok = false;
        }
        let mut host_groups = Vec::new();
        for d in &svc.depends_on {
            let Some(dep) = model.service(d) else {
                continue;
            };
            if dep.host_unit.is_empty() {
                continue;
            }
            for u in &dep.host_unit {
                if !is_unit_name(u) {
                    diags.push(
                        Diag::error(diag::BAD_NAME, format!("`{u}` is not a systemd unit name"))
                            .label(dep.span, "in this service's `host-unit`")
                            .help("write the full unit name, such as `redis-server.service`"),
                    );
                    ok = false;
                }
            }
            host_groups.push((dep.name.clone(), dep.host_unit.clone()));
        }
        let mut env = Vec::new();
        let mut secrets = Vec::new();
        for e in &svc.env {
            match &e.source {
                EnvSource::Template(parts) => {
                    let (value, params) = render(model, svc, parts);
                    env.push(EnvLine {
                        key: e.key.clone(),
                        value,
                        params,
                    });
                }
                EnvSource::Secret(s) => {
                    if let Some(info) = model.secret(s) {
                        secrets.push((e.key.clone(), info));
                    }
                }
            }
        }
        let mut state_links = Vec::new();
        let mut other_state = Vec::new();
        for v in &svc.volumes {
            let sub = format!("{name}/{}", v.name);
            match v.path.strip_prefix("/app/") {
                Some(rel) if is_plain_path(&format!("/{rel}")) => {
                    state_links.push((rel.trim_end_matches('/').to_string(), sub))
                }
                _ => other_state.push((v.path.clone(), sub)),
            }
        }
        if !ok {
            return None;
        }
        Some(Plan {
            model,
            svc,
            name,
            prefix: settings.prefix.trim_end_matches('/').to_string(),
            user: settings.user.clone(),
            program,
            args: rest.to_vec(),
            host_groups,
            env,
            secrets,
            state_links,
            other_state,
        })
    }

    /// Params in the order the service's env keys use them, then the unused ones: the env file and
    /// README follow the declaration's env block.
    fn param_order(&self) -> Vec<&'a ParamInfo> {
        let mut out: Vec<&'a ParamInfo> = Vec::new();
        for e in &self.env {
            for name in &e.params {
                if let Some(p) = self.model.param(name)
                    && !out.iter().any(|x| x.name == p.name)
                {
                    out.push(p);
                }
            }
        }
        for p in &self.model.params {
            if !out.iter().any(|x| x.name == p.name) {
                out.push(p);
            }
        }
        out
    }

    fn state_dir(&self) -> String {
        format!("/var/lib/{}", self.name)
    }

    fn cache_dir(&self) -> String {
        format!("/var/cache/{}", self.name)
    }

    fn etc(&self) -> String {
        format!("/etc/{}", self.name)
    }

    fn app_dir(&self) -> String {
        format!("{}/app", self.prefix)
    }

    fn wrapper_path(&self) -> String {
        format!("{}/libexec/{}-start", self.prefix, self.name)
    }

    /// The `ExecStart=` words after the wrapper, with `dotnet` at `dotnet`.
    fn exec_words(&self, dotnet: &str, app_dir: &str) -> Vec<String> {
        let prog = match &self.program {
            Program::Dotnet => dotnet.to_string(),
            Program::Absolute(p) => p.clone(),
            Program::InApp(p) => format!("{app_dir}/{p}"),
        };
        std::iter::once(prog)
            .chain(self.args.iter().cloned())
            .collect()
    }

    fn unit_env(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let declared = |k: &str| self.env.iter().any(|e| e.key == k);
        if !declared("HOME") {
            out.push(("HOME".to_string(), self.state_dir()));
        }
        if !declared("XDG_CACHE_HOME") {
            out.push(("XDG_CACHE_HOME".to_string(), self.cache_dir()));
        }
        for e in self.env.iter().filter(|e| is_env_name(&e.key)) {
            out.push((e.key.clone(), e.value.clone()));
        }
        out
    }
}

fn host_hint(units: &[String]) -> &'static str {
    let first = units.first().map(String::as_str).unwrap_or("");
    if first.starts_with("redis") || first.starts_with("valkey") {
        "Debian/Ubuntu: `apt-get install redis-server`; RHEL 9: `dnf install redis`."
    } else if first.starts_with("mongod") {
        "MongoDB is not in the distribution repositories: add MongoDB's repository (https://www.mongodb.com/docs/manual/administration/install-on-linux/) and install `mongodb-org`."
    } else if first.starts_with("postgresql") {
        "Debian/Ubuntu: `apt-get install postgresql`; RHEL 9: `dnf install postgresql-server` and `postgresql-setup --initdb`."
    } else {
        "Install the package that provides it."
    }
}

fn publish_value(model: &Model, p: &Publish) -> String {
    match p {
        Publish::Fixed(n) => n.to_string(),
        Publish::Param { name, default } => model
            .param(name)
            .map(|x| x.default.clone())
            .unwrap_or_else(|| default.to_string()),
    }
}

/// Render a template for a host install: host services at 127.0.0.1, params at their value.
/// Outside containers there is no port mapping, so a port the service itself publishes is
/// served on its published number: `{agenthost.port.http}` in the app's own environment
/// renders as the published port (7233), where a container would use 8080.
fn render(model: &Model, svc: &ServiceInfo, parts: &[Part]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut params = Vec::new();
    let use_param = |name: &String, params: &mut Vec<String>| {
        if !params.contains(name) {
            params.push(name.clone());
        }
    };
    for p in parts {
        match p {
            Part::Lit(s) => out.push_str(s),
            Part::Param(name) => {
                match model.param(name) {
                    Some(p) => out.push_str(&p.default),
                    None => out.push_str(name),
                }
                use_param(name, &mut params);
            }
            Part::Host(_) => out.push_str("127.0.0.1"),
            Part::Port {
                service,
                port,
                number,
            } => match own_publish(svc, service, port) {
                Some(pb) => {
                    if let Publish::Param { name, .. } = pb {
                        use_param(name, &mut params);
                    }
                    out.push_str(&publish_value(model, pb));
                }
                None => out.push_str(&number.to_string()),
            },
        }
    }
    (out, params)
}

/// The publish setting of `port` when it is one of `svc`'s own published ports.
fn own_publish<'a>(svc: &'a ServiceInfo, service: &str, port: &str) -> Option<&'a Publish> {
    if service != svc.name {
        return None;
    }
    svc.ports
        .iter()
        .find(|p| p.name == port)
        .and_then(|p| p.publish.as_ref())
}

/// Whether the service's own environment says where it listens for `port` (then it listens
/// on the published number under systemd).
fn listens_on_published(svc: &ServiceInfo, port: &str) -> bool {
    svc.env.iter().any(|e| match &e.source {
        EnvSource::Template(parts) => parts.iter().any(|p| matches!(p, Part::Port { service, port: q, .. } if *service == svc.name && q == port)),
        EnvSource::Secret(_) => false,
    })
}

/// Reads `KEY FILE … --` pairs into the environment (trailing newlines removed, like `$(cat)`),
/// then execs the rest: values never appear on a command line.
const PERL_BRIDGE: &str = r#"while (@ARGV) { my $k = shift @ARGV; last if $k eq "--"; my $f = shift @ARGV; open(my $h, "<", $f) or die "$f: $!\n"; local $/; my $v = <$h>; close $h; $v = "" unless defined $v; $v =~ s/\n+\z//; $ENV{$k} = $v; } exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";"#;

/// The same in Python, for hosts without perl (RHEL minimal installs have python3 for dnf).
const PYTHON_BRIDGE: &str = r#"import os, sys
a = sys.argv[1:]
while a:
    k = a.pop(0)
    if k == "--":
        break
    with open(a.pop(0), "rb") as f:
        os.environb[k.encode()] = f.read().rstrip(b"\n")
os.execvp(a[0], a)
"#;

const HARDENING: &str = "\
# Hardening (measured exposure: see README.md). MemoryDenyWriteExecute= is left out on purpose:
# it breaks the .NET JIT.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
PrivateUsers=yes
PrivateMounts=yes
ProtectHostname=yes
ProtectClock=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
KeyringMode=private
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
UMask=0077
";

/// Free text in a unit file (Description=…): `%` doubled, control characters dropped (a
/// description holding any is refused before it gets here).
fn unit_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .replace('%', "%%")
}

/// A word in `ExecStart=`: `%` and `$` doubled (paths are checked to need no quoting).
fn exec_word(s: &str) -> String {
    s.replace('%', "%%").replace('$', "$$")
}

/// Double-quoted, C-escaped string for unit files (sysusers GECOS uses the same rules).
fn unit_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `Environment=` argument: `"KEY=VALUE"` C-escaped, `%` doubled (specifiers are expanded after
/// unquoting, so `%` must stay a literal `%%`; `$` is not expanded in `Environment=`).
pub fn env_assignment(key: &str, value: &str) -> String {
    unit_quote(&format!("{key}={value}")).replace('%', "%%")
}

/// A value for an `EnvironmentFile=`: double quotes, with `\ " $ `` ` escaped; newlines kept.
pub fn env_file_value(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn commented_env_line(e: &EnvLine) -> String {
    if e.value.contains('\n') || e.value.contains('\r') {
        format!(
            "# {}: the default contains a line break; see {}'s Environment= line.\n",
            e.key, "the unit"
        )
    } else if !is_env_name(&e.key) {
        format!(
            "# {} is set by the start wrapper (systemd cannot spell this name): {}\n",
            e.key, e.value
        )
    } else {
        format!("#{}={}\n", e.key, env_file_value(&e.value))
    }
}
