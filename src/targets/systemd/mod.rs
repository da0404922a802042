//! systemd target: a hardened, installable package for Debian 12, Ubuntu 22.04+ and RHEL 9 hosts
//! (`<instance>-systemd-<version>.tar.gz`): one unit per service the host runs, each with a
//! credential-bridging start wrapper and an env-file template, one sysusers.d and one tmpfiles.d
//! file, POSIX `install.sh`/`uninstall.sh` and a README.
//!
//! Choices a reviewer should know:
//! - **Which services get a unit:** every service without `host-unit` runs its `command` as its
//!   own unit. The unit is `<app>.service` when the package runs one service (the program is the
//!   app, as a distribution names a daemon's unit after it) and `<app>-<service>.service` when
//!   it runs several; every per-unit path (wrapper, env file, state and cache directory) carries
//!   the same stem. A service without a `command` cannot run on a host: the target is enabled
//!   by default, so a container-only declaration (no `host-unit` anywhere) with such a service
//!   gets no package and no diagnostic, and one that uses `host-unit` gets E0058 for it.
//! - **The program:** an absolute program is used as is; a bare name (`redis-server`, or Lucia's
//!   `dotnet`) is found on the host's `PATH` by install.sh (never under /home or /root, which
//!   `ProtectHome=` hides) and recorded in the unit's drop-in, `<stem>.service.d/10-install.conf`;
//!   a relative path is inside the service's `host-files`. Nothing here knows any runtime: what
//!   a program needs from the host is the declaration's `notes`.
//! - **Files:** `host-files "/app" contains="x"` says the image's `/app` comes, on a host, from a
//!   directory the operator gives (`install.sh --files SERVICE=DIR`), installed read-only under
//!   `<prefix>/<service>`; command words under `/app` point there, and volumes under `/app`
//!   become symlinks into the state directory. Services without it work in their state directory.
//! - **Identity:** one static system user for the package from sysusers.d, not `DynamicUser=`:
//!   the UID stays stable across upgrades and restarts, `/etc/<app>` can be group-owned by it,
//!   and state directories are plain `/var/lib/<stem>` (not symlinks into `/var/lib/private`).
//! - **Services provided by the host** (a non-empty `host-unit`) are not run by the package:
//!   their references become `127.0.0.1` and their port numbers, their own env keys
//!   (container-only) are dropped, and the installer writes `Requires=`/`After=` for the first
//!   candidate unit that exists into the drop-in of each unit that depends on them. A unit that
//!   depends on another unit of the package `Requires=` it in the unit itself.
//! - **Secrets** are systemd credentials, one file per secret in `/etc/<app>/credentials/`, shared
//!   by every unit that receives it: `LoadCredential=<name>:/etc/<app>/credentials/<name>`.
//!   `ExecStart` runs a small POSIX sh wrapper (`libexec/<stem>-start`) that reads
//!   `$CREDENTIALS_DIRECTORY/<name>`, checks the declared constraints and `export`s the key the
//!   program reads before `exec`ing it. Values never appear in the unit, `systemctl show`, the
//!   bundle or any command line. systemd and POSIX sh cannot spell a variable whose name has a
//!   `-` (`ConnectionStrings__chat-model`): for those the wrapper execs a few lines of perl
//!   (Debian/Ubuntu always have it) or python3 (RHEL has it for dnf) that read the credential
//!   file into the environment and exec the program; only if neither exists does it fall back
//!   to `env NAME=VALUE` (argv), with a warning.
//! - **No port mapping** exists outside containers: where a service's environment names one of
//!   its own published ports (`{agenthost.port.http}`), it renders as the published number
//!   instead of the container port.
//! - **Values** in `Environment=` lines are C-escaped inside double quotes with `%` doubled;
//!   in the env file they are double-quoted with `\`, `"`, `$` and `` ` `` escaped (systemd's
//!   EnvironmentFile rules, where `%` is not special). The unit carries every default, the env
//!   file shows them commented out, so upgrades bring new defaults and never touch user edits.

use crate::diag::{self, Diag};
use crate::model::{
    EnvSource, GpuVendor, HostFiles, Model, ParamInfo, Part, PortInfo, Publish, SecretInfo,
    ServiceInfo,
};
use crate::pack::{self, FileTree, Order};
use crate::targets::{Artifact, Layout};

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
    lower_with(model, &crate::targets::scripts::host_scripts(model), diags)
}

/// [`lower`] with the host scripts (`scripts::host_scripts`) already made.
pub fn lower_with(model: &Model, host: &FileTree, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    let Some(plan) = Plan::new(model, diags) else {
        return Vec::new();
    };
    let stem = format!("{}-systemd-{}", model.instance_name(), model.app.version);
    let app = &model.app.name;
    let mut tree = FileTree::new();
    for u in &plan.units {
        let n = &u.stem;
        tree.insert(format!("{n}.service"), pack::text(plan.unit(u)));
        tree.insert(format!("{n}.env"), pack::text(plan.env_file(u)));
        tree.insert(format!("{n}-start"), pack::script(plan.wrapper(u)));
        for c in &u.svc.configs {
            tree.insert(
                format!("config/{}/{}", u.svc.name, c.name),
                pack::text(c.content.clone()),
            );
        }
    }
    tree.insert(format!("{app}.sysusers"), pack::text(plan.sysusers()));
    tree.insert(format!("{app}.tmpfiles"), pack::text(plan.tmpfiles()));
    tree.insert("install.sh".into(), pack::script(plan.install_sh()));
    tree.insert("uninstall.sh".into(), pack::script(plan.uninstall_sh()));
    tree.insert("README.md".into(), pack::text(plan.readme(&stem)));
    tree.extend(host.iter().map(|(k, v)| (k.clone(), v.clone())));
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

/// Where the systemd package puts a service, for the configuration reference and the
/// operator scripts; `None` when the declaration gets no systemd package.
pub fn layout(model: &Model) -> Option<HostLayout> {
    if !model.targets.systemd.enabled {
        return None;
    }
    let plan = Plan::new(model, &mut Vec::new())?;
    Some(HostLayout {
        etc: plan.etc(),
        units: plan
            .units
            .iter()
            .map(|u| HostUnit {
                service: u.svc.name.clone(),
                unit: format!("{}.service", u.stem),
                env_file: plan.env_path(u),
                state_dir: u.state_dir(),
                dropin_dir: format!("{UNIT_DIR}/{}.service.d", u.stem),
                ports: u
                    .svc
                    .ports
                    .iter()
                    .map(|p| HostPort {
                        name: p.name.clone(),
                        number: host_port(model, u.svc, p),
                        setting: port_setting(u.svc, &p.name),
                    })
                    .collect(),
            })
            .collect(),
        host_services: model
            .services
            .iter()
            .filter(|s| !s.host_unit.is_empty())
            .map(|s| (s.name.clone(), s.host_unit.clone()))
            .collect(),
    })
}

/// The systemd package's layout (see [`layout`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HostLayout {
    /// `/etc/<app>`: env files and `credentials/`.
    pub etc: String,
    pub units: Vec<HostUnit>,
    /// Services the host provides: name and candidate units, preferred first.
    pub host_services: Vec<(String, Vec<String>)>,
}

/// One service the package runs.
#[derive(Debug, Clone, PartialEq)]
pub struct HostUnit {
    pub service: String,
    /// `lucia.service`
    pub unit: String,
    /// `/etc/<app>/<stem>.env`
    pub env_file: String,
    /// `/var/lib/<stem>`
    pub state_dir: String,
    /// The drop-in directory install.sh writes.
    pub dropin_dir: String,
    pub ports: Vec<HostPort>,
}

/// A port of a service the package runs, as it listens on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPort {
    pub name: String,
    /// The default: the published port where the service's own environment says where it
    /// listens, else the container port (the program's own setting).
    pub number: u16,
    /// The env key that sets it and the literal text before the number in its value
    /// (`ASPNETCORE_URLS`, `http://+:`), so a script can read a changed port from the env file.
    pub setting: Option<(String, String)>,
}

/// A word of `ExecStart=`: as written, or a path inside the service's installed files.
#[derive(Debug, Clone, PartialEq)]
enum Word {
    Lit(String),
    /// Relative to `<prefix>/<service>` (empty: the directory itself).
    Files(String),
}

/// How `ExecStart` names the program.
#[derive(Debug, Clone, PartialEq)]
enum Program {
    /// A bare name: install.sh finds it on the host's PATH.
    OnPath(String),
    Word(Word),
}

/// A non-secret env key with its default value and the params it derives from.
struct EnvLine {
    key: String,
    value: String,
    params: Vec<String>,
}

/// One unit: a service the package runs.
struct Unit<'a> {
    svc: &'a ServiceInfo,
    /// The unit's name without `.service`: the app's, or `<app>-<service>`.
    stem: String,
    program: Program,
    args: Vec<Word>,
    /// `host-files`: the container path and the file install.sh checks for.
    files: Option<&'a HostFiles>,
    /// One group per host-provided dependency: service, then candidate units, preferred first.
    host_groups: Vec<(String, Vec<String>)>,
    /// Stems of the package's own units this one depends on.
    requires: Vec<String>,
    env: Vec<EnvLine>,
    /// (env key, secret)
    secrets: Vec<(String, &'a SecretInfo)>,
    /// (path relative to the files, volume) for volumes inside the `host-files` path.
    state_links: Vec<(String, String)>,
    /// Volumes elsewhere: (container path, volume), a state subdirectory only.
    other_state: Vec<(String, String)>,
}

struct Plan<'a> {
    model: &'a Model,
    prefix: String,
    user: String,
    units: Vec<Unit<'a>>,
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

/// On a host, every unit (and every service a host unit provides) listens in one network
/// namespace: two services on one port and protocol cannot both start. Compose and Kubernetes
/// give each service its own address, so only this target reports it (through `gate`: a
/// declaration written for containers alone just gets no systemd package).
fn no_shared_ports(model: &Model, gate: &mut Gate, diags: &mut Vec<Diag>) {
    let mut first: std::collections::BTreeMap<(u16, &str), (&str, crate::source::Span)> =
        std::collections::BTreeMap::new();
    for s in &model.services {
        for p in &s.ports {
            let key = (p.number, p.protocol.upper());
            match first.get(&key) {
                Some((other, span)) if *other != s.name => {
                    // Named and labelled in the order they are written.
                    let (a, b) = if (span.file, span.offset) <= (p.span.file, p.span.offset) {
                        ((*other, *span), (s.name.as_str(), p.span))
                    } else {
                        ((s.name.as_str(), p.span), (*other, *span))
                    };
                    gate.cannot(
                        diags,
                        Diag::error(
                            diag::TARGET_CANNOT_EXPRESS,
                            format!(
                                "the systemd target cannot run `{}` and `{}` on one host: both listen on {} port {}",
                                a.0, b.0, key.1, p.number
                            ),
                        )
                        .label(a.1, "taken here")
                        .label(b.1, "the same port on the same host")
                        .help("a host has one network: give one of them another port (and the program the matching setting), or disable the target with `target \"systemd\" { enabled #false }`"),
                    );
                }
                Some(_) => {}
                None => {
                    first.insert(key, (&s.name, p.span));
                }
            }
        }
    }
}

/// Where a systemd setting is written, else the app's name its default comes from, as the
/// place a diagnostic about the setting points at, with its label.
fn setting_label(
    written: Option<crate::source::Span>,
    key: &str,
    model: &Model,
    anchor: crate::source::Span,
) -> (crate::source::Span, String) {
    match (written, model.app.name_span) {
        (Some(span), _) => (span, format!("the `{key}` setting")),
        (None, Some(span)) => (
            span,
            format!("the default `{key}` comes from the app's name"),
        ),
        (None, None) => (anchor, format!("the default `{key}`")),
    }
}

/// Paths written into units and scripts: absolute, no whitespace, no characters that need quoting.
fn is_plain_path(p: &str) -> bool {
    is_path_of(p, "/._-+")
}

/// A host path a unit names in `DeviceAllow=` or `BindPaths=` (by-path names hold `:`).
fn is_device_path(p: &str) -> bool {
    is_path_of(p, "/._-+:")
}

/// An absolute path of letters, digits and `others`, with no `.` or `..` segment.
fn is_path_of(p: &str, others: &str) -> bool {
    p.starts_with('/')
        && p.len() > 1
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || others.contains(c))
        && !p.split('/').any(|s| s == ".." || s == ".")
}

/// A command word systemd and the scripts carry without quoting.
fn is_plain_word(p: &str) -> bool {
    !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
}

/// `word` as a path inside the files at `path`, when it is one.
fn in_files(files: Option<&HostFiles>, word: &str) -> Option<String> {
    let path = &files?.path;
    if word == path {
        return Some(String::new());
    }
    word.strip_prefix(path.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .map(|r| r.trim_end_matches('/').to_string())
}

/// Whether a gap systemd cannot fill is an error: only when the declaration uses `host-unit`
/// (it was meant for a host); a container-only declaration just gets no systemd package.
struct Gate {
    intent: bool,
    skipped: bool,
}

impl Gate {
    fn cannot(&mut self, diags: &mut Vec<Diag>, d: Diag) {
        if self.intent {
            diags.push(d);
        }
        self.skipped = true;
    }
}

/// The unit of one service the package runs: its program, host paths, dependencies, env and
/// secrets; `None` when systemd cannot run it (reported through `gate`).
fn unit<'a>(
    model: &'a Model,
    svc: &'a ServiceInfo,
    stem_of: &dyn Fn(&ServiceInfo) -> String,
    gate: &mut Gate,
    diags: &mut Vec<Diag>,
) -> Option<Unit<'a>> {
    let files = svc.host_files.as_ref();
    if let Some(f) = files
        && !is_plain_path(&f.path)
    {
        gate.cannot(
            diags,
            Diag::error(
                diag::SYSTEMD_CANNOT_RUN,
                format!(
                    "the systemd target cannot install the files of `{}` at `{}`",
                    svc.name, f.path
                ),
            )
            .label(svc.span, "in this service's `host-files`")
            .help("use a path of letters, digits and `/._-+` below `/`, such as `/app`"),
        );
    }
    if let Some(c) = files.and_then(|f| f.contains.as_deref())
        && !is_plain_path(&format!("/{c}"))
    {
        gate.cannot(
            diags,
            Diag::error(
                diag::SYSTEMD_CANNOT_RUN,
                format!("install.sh cannot check for `{c}`"),
            )
            .label(svc.span, "in this service's `host-files contains=`")
            .help("use a relative path of letters, digits and `/._-+`"),
        );
    }
    // The program is `host-command`, or else the entrypoint's words, then the command's
    // (as a container runs them); references resolve as on a host.
    let container_words = svc.entrypoint.iter().chain(&svc.command);
    let words: Vec<String> = if svc.host_command.is_empty() {
        container_words.map(|a| render(model, svc, a).0).collect()
    } else {
        svc.host_command
            .iter()
            .map(|a| render(model, svc, a).0)
            .collect()
    };
    let Some((first, rest)) = words.split_first() else {
        gate.cannot(
                diags,
                Diag::error(diag::SYSTEMD_CANNOT_RUN, format!("the systemd target cannot run `{}`: it has no `entrypoint` or `command`", svc.name))
                    .label(svc.span, "no program to run on the host")
                    .help("add `entrypoint \"PROGRAM\" \"ARG\"…` (or `command`) with the program the host runs, or `host-unit \"NAME.service\"` when the host provides the service; or disable the target with `target \"systemd\" { enabled #false }`"),
            );
        return None;
    };
    for a in words.iter().filter(|a| !is_plain_word(a)) {
        gate.cannot(
            diags,
            Diag::error(
                diag::TARGET_CANNOT_EXPRESS,
                format!("command word `{a}` cannot be used by the systemd target"),
            )
            .label(svc.span, "in this service's entrypoint or command")
            .help("use words of letters, digits and `/._-+=:,@` only"),
        );
    }
    let program = if !first.contains('/') {
        Program::OnPath(first.clone())
    } else if let Some(rel) = in_files(files, first) {
        Program::Word(Word::Files(rel))
    } else if first.starts_with('/') {
        Program::Word(Word::Lit(first.clone()))
    } else if files.is_some() {
        let rel = first.trim_start_matches("./").to_string();
        Program::Word(Word::Files(rel))
    } else {
        gate.cannot(
                diags,
                Diag::error(diag::SYSTEMD_CANNOT_RUN, format!("the systemd target cannot find `{first}` of `{}`: a relative program needs `host-files`", svc.name))
                    .label(svc.span, "a program relative to the image's working directory")
                    .help("add `host-files \"/DIR\"` (the image's directory the operator supplies on a host), or give an absolute program or a name found on the host's PATH"),
            );
        return None;
    };
    let stem = stem_of(svc);
    let (state_links, other_state, host_paths) = host_paths(model, svc, files, &stem);
    let on_host = |word: &str| -> Option<String> {
        host_paths.iter().find_map(|(path, host)| {
            let rest = word.strip_prefix(path.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{host}{rest}"))
        })
    };
    check_host_access(svc, gate, diags);
    let program = match program {
        Program::Word(Word::Lit(p)) => Program::Word(Word::Lit(on_host(&p).unwrap_or(p))),
        other => other,
    };
    let args = rest
        .iter()
        .map(|a| match in_files(files, a) {
            Some(rel) => Word::Files(rel),
            None => Word::Lit(on_host(a).unwrap_or_else(|| a.clone())),
        })
        .collect();
    let (host_groups, requires) = dependencies(model, svc, stem_of);
    let mut env = Vec::new();
    let mut secrets = Vec::new();
    for e in &svc.env {
        match &e.source {
            EnvSource::Template(parts) => {
                let (value, params) = render(model, svc, parts);
                let value = on_host(&value).unwrap_or(value);
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
    Some(Unit {
        svc,
        stem,
        program,
        args,
        files,
        host_groups,
        requires,
        env,
        secrets,
        state_links,
        other_state,
    })
}

/// What a unit waits for: the host units of dependencies the host provides (by service), and
/// the units of dependencies the package runs.
fn dependencies(
    model: &Model,
    svc: &ServiceInfo,
    stem_of: &dyn Fn(&ServiceInfo) -> String,
) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let mut host_groups = Vec::new();
    let mut requires = Vec::new();
    for d in &svc.depends_on {
        let Some(dep) = model.service(d) else {
            continue;
        };
        if dep.host_unit.is_empty() {
            requires.push(stem_of(dep));
            continue;
        }
        host_groups.push((dep.name.clone(), dep.host_unit.clone()));
    }
    (host_groups, requires)
}

/// Pairs of paths or names, in the order they were found.
type Pairs = Vec<(String, String)>;

/// Where the service's container paths are on the host: volumes inside its files (state
/// links), other volumes (state subdirectories), devices (the host's node) and config files
/// (installed in /etc). The words and whole env values that name a container path name these.
/// `/etc/<app>`: the package's env files, credentials and config files.
fn etc_dir(model: &Model) -> String {
    format!("/etc/{}", model.app.name)
}

/// `/var/lib/<unit stem>`: a unit's state directory.
fn state_dir(stem: &str) -> String {
    format!("/var/lib/{stem}")
}

fn host_paths(
    model: &Model,
    svc: &ServiceInfo,
    files: Option<&HostFiles>,
    stem: &str,
) -> (Pairs, Pairs, Pairs) {
    let mut state_links = Vec::new();
    let mut other_state = Vec::new();
    for v in &svc.volumes {
        match in_files(files, &v.path) {
            Some(rel) if !rel.is_empty() && is_plain_path(&format!("/{rel}")) => {
                state_links.push((rel, v.name.clone()))
            }
            _ => other_state.push((v.path.clone(), v.name.clone())),
        }
    }
    let etc = etc_dir(model);
    let mut host_paths: Vec<(String, String)> = other_state
        .iter()
        .map(|(path, vol)| {
            (
                path.trim_end_matches('/').to_string(),
                format!("{}/{vol}", state_dir(stem)),
            )
        })
        .collect();
    host_paths.extend(svc.devices.iter().map(|d| (d.path.clone(), d.host.clone())));
    host_paths.extend(
        svc.configs
            .iter()
            .map(|c| (c.path.clone(), format!("{etc}/{}/{}", svc.name, c.name))),
    );
    (state_links, other_state, host_paths)
}

/// Devices, bind mounts and config files the unit cannot name.
fn check_host_access(svc: &ServiceInfo, gate: &mut Gate, diags: &mut Vec<Diag>) {
    for d in &svc.devices {
        if !is_device_path(&d.host) {
            gate.cannot(
                diags,
                Diag::error(
                    diag::TARGET_CANNOT_EXPRESS,
                    format!("the systemd unit cannot name the device `{}`", d.host),
                )
                .label(d.span, "in `DeviceAllow=`")
                .help("use a path under /dev of letters, digits and `/._-+:`"),
            );
        }
    }
    for b in &svc.binds {
        if !is_device_path(&b.host) || !is_device_path(&b.path) {
            gate.cannot(
                diags,
                Diag::error(
                    diag::TARGET_CANNOT_EXPRESS,
                    format!("the systemd unit cannot bind `{}` at `{}`", b.host, b.path),
                )
                .label(b.span, "in `BindPaths=`")
                .help("use absolute paths of letters, digits and `/._-+:`"),
            );
        }
    }
    for c in &svc.configs {
        if !is_plain_path(&format!("/{}", c.name)) || c.name.contains('/') {
            gate.cannot(
                diags,
                Diag::error(
                    diag::TARGET_CANNOT_EXPRESS,
                    format!("install.sh cannot install the config file `{}`", c.name),
                )
                .label(svc.span, "a config file of this service")
                .help("name it with letters, digits and `._-+`"),
            );
        }
    }
}

impl<'a> Plan<'a> {
    fn new(model: &'a Model, diags: &mut Vec<Diag>) -> Option<Plan<'a>> {
        let settings = &model.targets.systemd;
        // A declaration written for containers only (no `host-unit` anywhere) that systemd cannot
        // run gets no systemd package and no error: every declaration enables the target by
        // default. One that uses `host-unit` meant to be installed on a host, so there the same
        // gaps are errors.
        let intent = model.services.iter().any(|s| !s.host_unit.is_empty());
        let mut ok = true;
        let mut gate = Gate {
            intent,
            skipped: false,
        };
        let run: Vec<&ServiceInfo> = model
            .services
            .iter()
            .filter(|s| s.host_unit.is_empty())
            .collect();
        let first_span = model.services.first().map(|s| s.span)?;
        if run.is_empty() {
            diags.push(
                Diag::error(diag::SYSTEMD_CANNOT_RUN, "the systemd target has nothing to run: every service is provided by a host unit")
                    .label(first_span, "all services have `host-unit`")
                    .help("remove `host-unit` from a service the package should run, or disable the target with `target \"systemd\" { enabled #false }`"),
            );
            return None;
        }
        let anchor = run.first().map_or(first_span, |s| s.span);
        no_shared_ports(model, &mut gate, diags);
        let prefix_at = setting_label(settings.prefix_span, "prefix", model, anchor);
        let user_at = setting_label(settings.user_span, "user", model, anchor);
        if !is_plain_path(&settings.prefix) {
            diags.push(
                Diag::error(diag::BAD_PATH, format!("systemd prefix `{}` must be an absolute path of letters, digits and `/._-+`", settings.prefix))
                    .label(prefix_at.0, prefix_at.1)
                    .help(format!("use a path such as `/opt/{}`", model.app.name)),
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
                    .label(user_at.0, user_at.1)
                    .help("lowercase letters, digits, `_` and `-`, starting with a letter or `_`, at most 31 characters"),
            );
            ok = false;
        }
        // `Description=` is one line; dropping a break would join the lines silently.
        if model.app.description.chars().any(char::is_control) {
            diags.push(
                Diag::error(
                    diag::TARGET_CANNOT_EXPRESS,
                    "the systemd unit's `Description=` cannot carry the app description: it holds a line break or control character",
                )
                .label(
                    model.app.description_span.unwrap_or(anchor),
                    "holds a line break or control character",
                )
                .help("write the description as one line; or disable the target with `target \"systemd\" { enabled #false }`"),
            );
            ok = false;
        }
        let stem_of = |svc: &ServiceInfo| {
            if run.len() == 1 {
                model.app.name.clone()
            } else {
                format!("{}-{}", model.app.name, svc.name)
            }
        };
        // Every host unit name, whether or not a unit of the package depends on it.
        for dep in model.services.iter().filter(|s| !s.host_unit.is_empty()) {
            for u in dep.host_unit.iter().filter(|u| !is_unit_name(u)) {
                diags.push(
                    Diag::error(diag::BAD_NAME, format!("`{u}` is not a systemd unit name"))
                        .label(dep.host_unit_span.unwrap_or(dep.span), "not a unit name")
                        .help("write the full unit name, such as `redis-server.service`"),
                );
                ok = false;
            }
        }
        let mut units = Vec::new();
        for svc in &run {
            if let Some(u) = unit(model, svc, &stem_of, &mut gate, diags) {
                units.push(u);
            }
        }
        if !ok || gate.skipped {
            return None;
        }
        Some(Plan {
            model,
            prefix: settings.prefix.trim_end_matches('/').to_string(),
            user: settings.user.clone(),
            units,
        })
    }

    /// Params in the order the unit's env keys use them; for the first unit, then the params
    /// no unit uses (so the env files and README follow the declaration's env blocks).
    fn param_order(&self, u: &Unit<'a>) -> Vec<&'a ParamInfo> {
        let mut out: Vec<&'a ParamInfo> = Vec::new();
        for e in &u.env {
            for name in &e.params {
                if let Some(p) = self.model.param(name)
                    && !out.iter().any(|x| x.name == p.name)
                {
                    out.push(p);
                }
            }
        }
        let first = self.units.first().is_some_and(|f| f.stem == u.stem);
        if first {
            for p in &self.model.params {
                let used = self
                    .units
                    .iter()
                    .any(|x| x.env.iter().any(|e| e.params.contains(&p.name)));
                if !used && !out.iter().any(|x| x.name == p.name) {
                    out.push(p);
                }
            }
        }
        out
    }

    fn etc(&self) -> String {
        etc_dir(self.model)
    }

    fn env_path(&self, u: &Unit) -> String {
        format!("{}/{}.env", self.etc(), u.stem)
    }

    fn wrapper_path(&self, u: &Unit) -> String {
        format!("{}/libexec/{}-start", self.prefix, u.stem)
    }

    /// The secrets of every unit, by name, each once.
    fn secret_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .units
            .iter()
            .flat_map(|u| u.secrets.iter().map(|(_, s)| s.name.as_str()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Unit<'_> {
    /// The program as the declaration names it (`dotnet`, `/usr/bin/x`, `bin/x`).
    fn program_name(&self) -> String {
        match &self.program {
            Program::OnPath(p) | Program::Word(Word::Lit(p)) => p.clone(),
            Program::Word(Word::Files(r)) => r.clone(),
        }
    }

    fn state_dir(&self) -> String {
        state_dir(&self.stem)
    }

    fn cache_dir(&self) -> String {
        format!("/var/cache/{}", self.stem)
    }

    /// `<prefix>/<service>`, where install.sh puts the service's files.
    fn files_dir(&self, prefix: &str) -> String {
        format!("{prefix}/{}", self.svc.name)
    }

    /// The unit's working directory: its files, else its state directory.
    fn workdir(&self, prefix: &str) -> String {
        match self.files {
            Some(_) => self.files_dir(prefix),
            None => self.state_dir(),
        }
    }

    /// The `ExecStart=` words after the wrapper, with the program as `program` when it is
    /// found on the host and the files under `prefix`.
    fn exec_words(&self, prefix: &str, program: &str) -> Vec<String> {
        let word = |w: &Word| match w {
            Word::Lit(s) => s.clone(),
            Word::Files(r) if r.is_empty() => self.files_dir(prefix),
            Word::Files(r) => format!("{}/{r}", self.files_dir(prefix)),
        };
        let prog = match &self.program {
            Program::OnPath(_) => program.to_string(),
            Program::Word(w) => word(w),
        };
        std::iter::once(prog)
            .chain(self.args.iter().map(word))
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
    } else if first.starts_with("mosquitto") {
        "Debian/Ubuntu: `apt-get install mosquitto`; RHEL 9: `dnf install mosquitto` (EPEL)."
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

/// The port a service the package runs listens on by default (see [`HostPort::number`]).
fn host_port(model: &Model, svc: &ServiceInfo, p: &PortInfo) -> u16 {
    match &p.publish {
        Some(pb) if listens_on_published(svc, &p.name) => {
            publish_value(model, pb).parse().unwrap_or(p.number)
        }
        _ => p.number,
    }
}

/// The env key (one systemd can set) whose value names `port` of the service itself, and the
/// literal text before the number.
fn port_setting(svc: &ServiceInfo, port: &str) -> Option<(String, String)> {
    for e in svc.env.iter().filter(|e| is_env_name(&e.key)) {
        let EnvSource::Template(parts) = &e.source else {
            continue;
        };
        let mut prefix = String::new();
        for p in parts {
            match p {
                Part::Lit(s) => prefix.push_str(s),
                Part::Port {
                    service, port: q, ..
                } if *service == svc.name && q == port => return Some((e.key.clone(), prefix)),
                _ => break,
            }
        }
    }
    None
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
# it breaks programs that compile code at run time (JIT compilers).
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

/// `CAP_NET_RAW` for `NET_RAW` (either spelling may be declared).
fn cap_name(c: &str) -> String {
    let c = c.to_ascii_uppercase();
    if c.starts_with("CAP_") {
        c
    } else {
        format!("CAP_{c}")
    }
}

/// The hardening block of a unit: the same for every unit, except what the service declares it
/// needs (capabilities, devices).
fn hardening(svc: &ServiceInfo) -> String {
    let mut h = HARDENING.to_string();
    if !svc.capabilities.is_empty() {
        let caps: Vec<String> = svc.capabilities.iter().map(|(c, _)| cap_name(c)).collect();
        h = h.replace(
            "CapabilityBoundingSet=\nAmbientCapabilities=\n",
            &format!(
                "# Only the capabilities the declaration grants, with its reasons (see README.md).\nCapabilityBoundingSet={c}\nAmbientCapabilities={c}\n",
                c = caps.join(" ")
            ),
        );
        h = h.replace(
            "PrivateUsers=yes\n",
            "# A private user namespace would confine the capabilities to itself.\nPrivateUsers=no\n",
        );
    }
    if !svc.devices.is_empty() || svc.gpu.is_some() {
        let mut allow: String = svc
            .devices
            .iter()
            .map(|d| format!("DeviceAllow={} rw\n", d.host))
            .collect();
        // GPUs by their drivers' device classes (/proc/devices), so every card the driver
        // created is allowed whatever its minor number: NVIDIA's /dev/nvidia* and
        // /dev/nvidia-uvm, AMD's /dev/kfd and /dev/dri/*.
        match svc.gpu.as_ref().map(|g| g.vendor) {
            Some(GpuVendor::Nvidia) => allow
                .push_str("DeviceAllow=char-nvidia-frontend rw\nDeviceAllow=char-nvidia-uvm rw\n"),
            Some(GpuVendor::Amd) => {
                allow.push_str("DeviceAllow=/dev/kfd rw\nDeviceAllow=char-drm rw\n")
            }
            None => {}
        }
        h = h.replace(
            "PrivateDevices=yes\nDevicePolicy=closed\n",
            &format!("# The declared devices and the basic nodes (/dev/null…), nothing else.\nPrivateDevices=no\nDevicePolicy=closed\n{allow}"),
        );
    }
    h
}

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
    format!("\"{}\"", crate::targets::text::dq(value))
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
