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
use crate::targets::compose::{kind_text, md_cell};
use crate::targets::{Artifact, Layout, bytes_text, cores_text, sh_quote};

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
    vec![Artifact {
        target: "systemd",
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
        let svc = match run.as_slice() {
            [one] => *one,
            [] => {
                let span = model.services.first().map(|s| s.span)?;
                diags.push(
                    Diag::error(diag::NOT_ALLOWED, "the systemd target has nothing to run: every service is provided by a host unit")
                        .label(span, "all services have `host-unit`")
                        .help("remove `host-unit` from the application service, or disable the target with `target \"systemd\" { enabled #false }`"),
                );
                return None;
            }
            [_, second, ..] => {
                report(intent, diags,
                    Diag::error(diag::NOT_ALLOWED, format!("the systemd target runs one application service, but `{}` is another", second.name))
                        .label(second.span, "a second service without `host-unit`")
                        .help("give the services the host provides a `host-unit \"NAME.service\"`, or disable the target with `target \"systemd\" { enabled #false }`"),
                );
                return None;
            }
        };
        let mut ok = true;
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
        let Some((first, rest)) = svc.command.split_first() else {
            report(intent, diags,
                Diag::error(diag::MISSING_VALUE, format!("service `{}` declares no `command`; the systemd unit needs one to run", svc.name))
                    .label(svc.span, "no command")
                    .help("add `command \"PROGRAM\" \"ARG\"…` (Lucia: `command \"dotnet\" \"lucia.AgentHost.dll\"`)"),
            );
            return None;
        };
        let program = if first == "dotnet" {
            Program::Dotnet
        } else if first.starts_with('/') {
            Program::Absolute(first.clone())
        } else {
            Program::InApp(first.trim_start_matches("./").to_string())
        };
        let plain = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
        };
        let bad_arg = std::iter::once(first).chain(rest).find(|a| !plain(a));
        if let Some(a) = bad_arg {
            report(
                intent,
                diags,
                Diag::error(
                    diag::NOT_ALLOWED,
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

    fn unit(&self) -> String {
        let m = self.model;
        let n = &self.name;
        let mut u = format!(
            "# {n}.service: generated by luciac from lucia.kdl (profile: {}). Do not edit: change the\n\
             # declaration and rebuild, or add a drop-in with `systemctl edit {n}`.\n\
             # install.sh writes {n}.service.d/10-install.conf next to this file with what it found on\n\
             # the host: the dotnet path, the install prefix and the host units to require.\n\
             [Unit]\n",
            m.profile_or_base()
        );
        u.push_str(&format!(
            "Description={}\n",
            unit_text(&format!(
                "{} {}: {} (profile {})",
                m.app.name,
                m.app.version,
                m.app.description,
                m.profile_or_base()
            ))
        ));
        if let Some(home) = &m.app.home {
            u.push_str(&format!("Documentation={}\n", unit_text(home)));
        }
        u.push_str("Wants=network-online.target\n");
        let mut after = vec!["network-online.target".to_string()];
        for (_, units) in &self.host_groups {
            after.extend(units.iter().cloned());
        }
        u.push_str(&format!("After={}\n", after.join(" ")));
        u.push_str("# Restart at most 5 times in 5 minutes (RestartSec x burst stays well below the interval).\n");
        u.push_str("StartLimitIntervalSec=300\nStartLimitBurst=5\n\n[Service]\n");
        u.push_str("# The app never sends READY=1 (no UseSystemd()), so Type=notify would hang; exec reports a failed exec.\n");
        u.push_str("Type=exec\n");
        u.push_str(&format!("User={0}\nGroup={0}\n", self.user));
        u.push_str(&format!(
            "WorkingDirectory={}\n",
            unit_text(&self.app_dir())
        ));
        let words: Vec<String> = std::iter::once(self.wrapper_path())
            .chain(self.exec_words("/usr/bin/dotnet", &self.app_dir()))
            .map(|w| exec_word(&w))
            .collect();
        u.push_str(&format!("ExecStart={}\n", words.join(" ")));
        let start = self
            .svc
            .health
            .as_ref()
            .map(|h| h.start_period)
            .unwrap_or(0);
        u.push_str("Restart=on-failure\nRestartSec=5s\n");
        u.push_str(&format!(
            "# Cold start (JIT, migrations) takes up to {start}s on small hardware.\n"
        ));
        u.push_str(&format!("TimeoutStartSec={}s\n", (start + 60).max(90)));
        u.push_str("# .NET's default shutdown timeout is 30s.\nTimeoutStopSec=45s\n");
        u.push_str(&format!("SyslogIdentifier={n}\n"));
        let mut state = vec![n.clone()];
        state.extend(self.state_links.iter().map(|(_, s)| s.clone()));
        state.extend(self.other_state.iter().map(|(_, s)| s.clone()));
        u.push_str(&format!(
            "StateDirectory={}\nStateDirectoryMode=0750\n",
            state.join(" ")
        ));
        u.push_str(&format!("CacheDirectory={n}\nCacheDirectoryMode=0750\n"));
        u.push_str(&format!(
            "# HOME holds ASP.NET DataProtection keys ({}/.aspnet), so they survive restarts.\n",
            self.state_dir()
        ));
        for (k, v) in self.unit_env() {
            u.push_str(&format!("Environment={}\n", env_assignment(&k, &v)));
        }
        u.push_str(&format!(
            "# Site settings override the defaults above (see {}/{n}.env).\n",
            self.etc()
        ));
        u.push_str(&format!("EnvironmentFile=-{}/{n}.env\n", self.etc()));
        if !self.secrets.is_empty() {
            u.push_str(&format!("# Secrets: files in {}/credentials/, exported by {n}-start as the keys the app reads.\n", self.etc()));
            let mut names: Vec<&str> = self.secrets.iter().map(|(_, s)| s.name.as_str()).collect();
            names.sort();
            names.dedup();
            for s in names {
                u.push_str(&format!(
                    "LoadCredential={s}:{}/credentials/{s}\n",
                    self.etc()
                ));
            }
        }
        let r = &self.svc.resources;
        if let Some(mem) = r.memory_limit.as_ref().or(r.memory.as_ref()) {
            u.push_str(&format!(
                "MemoryMax={}\n",
                bytes_text(mem.value, ["K", "M", "G"])
            ));
        }
        if let Some(cpu) = &r.cpu_limit {
            u.push_str(&format!(
                "# {} CPU(s)\nCPUQuota={}%\n",
                cores_text(cpu.value),
                cpu.value / 10
            ));
        }
        u.push_str(HARDENING);
        u.push_str("\n[Install]\nWantedBy=multi-user.target\n");
        u
    }

    fn sysusers(&self) -> String {
        format!(
            "# sysusers.d(5) for {n}.service: a system user and same-named group, no login shell.\n\
             u {u} - {desc} {home} -\n",
            n = self.name,
            u = self.user,
            desc = unit_quote(&format!("{} service", self.model.app.name)),
            home = self.state_dir()
        )
    }

    fn tmpfiles(&self) -> String {
        format!(
            "# tmpfiles.d(5) for {n}.service. {state} and {cache} belong to StateDirectory=/CacheDirectory=.\n\
             d {etc} 0750 root {u} -\n\
             d {etc}/credentials 0700 root root -\n",
            n = self.name,
            u = self.user,
            etc = self.etc(),
            state = self.state_dir(),
            cache = self.cache_dir()
        )
    }

    fn env_file(&self) -> String {
        let n = &self.name;
        let mut out = format!(
            "# {etc}/{n}.env: site settings for {n}.service (profile {p}).\n\
             # install.sh creates this file once and never overwrites it. The unit already carries every\n\
             # default shown below; uncomment a line and change it to override, then run\n\
             # `systemctl restart {n}`. Secrets never go here: they are credentials (see README.md).\n\
             #\n\
             # Syntax (systemd EnvironmentFile=): KEY=\"VALUE\", one per line. Inside the double quotes\n\
             # write \\\\ \\\" \\$ and \\` for a backslash, double quote, dollar and backquote; `%` is not\n\
             # special here. Lines starting with # are comments.\n",
            etc = self.etc(),
            p = self.model.profile_or_base()
        );
        let mut done: Vec<&str> = Vec::new();
        for p in self.param_order() {
            let keys: Vec<&EnvLine> = self
                .env
                .iter()
                .filter(|e| e.params.contains(&p.name) && !done.contains(&e.key.as_str()))
                .collect();
            out.push('\n');
            out.push_str(&format!("# {}:", p.name));
            let mut desc = p.description.lines();
            match desc.next() {
                Some(first) => out.push_str(&format!(" {first}\n")),
                None => out.push('\n'),
            }
            for line in desc {
                out.push_str(&format!("# {line}\n"));
            }
            let mut kind = kind_text(p);
            if !p.one_of.is_empty() {
                kind.push_str(&format!("; one of: {}", p.one_of.join(", ")));
            }
            out.push_str(&format!(
                "# Type: {kind}. Default: {}\n",
                p.default.replace('\n', "\\n")
            ));
            if keys.is_empty() {
                out.push_str(
                    "# (Not used under systemd: no setting of this service depends on it here.)\n",
                );
            }
            for e in keys {
                out.push_str(&commented_env_line(e));
                done.push(&e.key);
            }
        }
        let fixed: Vec<&EnvLine> = self
            .env
            .iter()
            .filter(|e| !done.contains(&e.key.as_str()))
            .collect();
        if !fixed.is_empty() {
            out.push_str("\n# Fixed by the declaration (host services are on 127.0.0.1). Override only if you know why.\n");
            for e in fixed {
                out.push_str(&commented_env_line(e));
            }
        }
        out
    }

    /// The ExecStart wrapper: credentials → the env keys the app reads, then exec.
    fn wrapper(&self) -> String {
        let n = &self.name;
        let mut sh = format!(
            "#!/bin/sh\n\
             # {n}-start: generated by luciac. Runs as ExecStart of {n}.service.\n\
             # Reads the service's credentials (LoadCredential=, under $CREDENTIALS_DIRECTORY), checks them,\n\
             # exports each as the configuration key the app reads, then execs the program given as\n\
             # arguments. Values never reach the unit, `systemctl show` or any command line (see README.md).\n\
             # A trailing newline is removed.\n\
             set -eu\n\
             die() {{ printf '{n}-start: %s\\n' \"$*\" >&2; exit 1; }}\n\
             [ \"$#\" -ge 1 ] || die 'usage: {n}-start PROGRAM [ARG]...'\n"
        );
        // Non-secret keys systemd cannot set (a `-` in the name): env(1) sets them, values are public.
        let literal: Vec<String> = self
            .env
            .iter()
            .filter(|e| !is_env_name(&e.key))
            .map(|e| sh_quote(&format!("{}={}", e.key, e.value)))
            .collect();
        let env_prefix = if literal.is_empty() {
            String::new()
        } else {
            format!("env {} ", literal.join(" "))
        };
        let odd_secret = self.secrets.iter().any(|(k, _)| !is_env_name(k));
        if !self.secrets.is_empty() {
            sh.push_str(&format!(
                "creds=${{CREDENTIALS_DIRECTORY:-}}\n\
                 [ -n \"$creds\" ] || die 'CREDENTIALS_DIRECTORY is not set: start me through {n}.service'\n\
                 # load NAME: the credential's value in $v; 1 when it is missing or empty.\n\
                 load() {{\n  v=\n  if [ -r \"$creds/$1\" ]; then v=$(cat -- \"$creds/$1\"); fi\n  [ -n \"$v\" ]\n}}\n"
            ));
        }
        if odd_secret {
            sh.push_str(
                "# Keys that are not shell names cannot be exported. They go before `--` as KEY FILE pairs, and\n\
                 # perl or python3 reads the files into the environment before exec'ing the program.\n\
                 set -- -- \"$@\"\n",
            );
        }
        for (key, info) in &self.secrets {
            let name = &info.name;
            let file = format!("{}/credentials/{name}", self.etc());
            sh.push_str(&format!("if load {name}; then\n"));
            if let Some(min) = info.min_length {
                sh.push_str(&format!("  [ \"${{#v}}\" -ge {min} ] || die 'secret {name} is shorter than {min} characters ({file})'\n"));
            }
            if let Some(prefix) = &info.prefix {
                sh.push_str(&format!("  case $v in {}*) ;; *) die 'secret {name} must start with {} ({file})' ;; esac\n", sh_quote(prefix), prefix.replace('\'', "")));
            }
            if is_env_name(key) {
                sh.push_str(&format!("  export {key}=\"$v\"\n"));
            } else {
                sh.push_str(&format!(
                    "  set -- {} \"$creds/{name}\" \"$@\"\n",
                    sh_quote(key)
                ));
            }
            if info.optional {
                sh.push_str("fi\n");
            } else {
                sh.push_str(&format!("else\n  die 'secret {name} is missing or empty: write it to {file} (see README.md)'\nfi\n"));
            }
        }
        if !self.secrets.is_empty() {
            sh.push_str("unset v\n");
        }
        if odd_secret {
            sh.push_str(&format!(
                "if [ \"$1\" = -- ]; then\n  shift\n  exec {env_prefix}\"$@\"\nfi\n\
                 if command -v perl >/dev/null 2>&1; then\n  exec {env_prefix}perl -e {} \"$@\"\nfi\n\
                 if command -v python3 >/dev/null 2>&1; then\n  exec {env_prefix}python3 -c {} \"$@\"\nfi\n\
                 # Last resort: env(1) with KEY=VALUE arguments (visible in ps while env runs).\n\
                 printf '%s\\n' '{n}-start: neither perl nor python3 found; passing keys with a dash through env arguments' >&2\n\
                 count=$#\nk=\nseen=0\n\
                 for a do\n  if [ \"$seen\" = 1 ]; then\n    set -- \"$@\" \"$a\"\n  elif [ \"$a\" = -- ]; then\n    seen=1\n  elif [ -z \"$k\" ]; then\n    k=$a\n  else\n    set -- \"$@\" \"$k=$(cat -- \"$a\")\"\n    k=\n  fi\ndone\nshift \"$count\"\n\
                 exec env {}\"$@\"\n",
                sh_quote(PERL_BRIDGE),
                sh_quote(PYTHON_BRIDGE),
                literal.iter().map(|l| format!("{l} ")).collect::<String>()
            ));
        } else {
            sh.push_str(&format!("exec {env_prefix}\"$@\"\n"));
        }
        sh
    }

    /// install.sh / uninstall.sh: the generated settings block, then the template body.
    fn script(&self, template: &str, install: bool) -> String {
        let mut cfg = String::from("# Generated by luciac for this package.\n");
        let q = |s: &str| sh_quote(s);
        cfg.push_str(&format!("NAME={}\n", q(&self.name)));
        cfg.push_str(&format!("SVC_USER={}\n", q(&self.user)));
        cfg.push_str(&format!("DEFAULT_PREFIX={}\n", q(&self.prefix)));
        if !install {
            return template.replace("# @@CONFIG@@\n", &cfg);
        }
        cfg.push_str(&format!("PROFILE={}\n", q(self.model.profile_or_base())));
        cfg.push_str(&format!("VERSION={}\n", q(&self.model.app.version)));
        let needs_dotnet = self.program == Program::Dotnet;
        cfg.push_str(&format!(
            "NEEDS_DOTNET={}\n",
            if needs_dotnet { 1 } else { 0 }
        ));
        cfg.push_str("# The file that must be in --app DIR.\n");
        let marker = match &self.program {
            Program::InApp(p) => p.clone(),
            _ => self
                .args
                .iter()
                .find(|a| a.ends_with(".dll"))
                .or(self.args.first())
                .cloned()
                .unwrap_or_default(),
        };
        cfg.push_str(&format!("APP_MARKER={}\n", q(&marker)));
        cfg.push_str("# ExecStart words after the wrapper; @DOTNET@ and @APP@ are filled in at install time.\n");
        let words = self.exec_words("@DOTNET@", "@APP@");
        cfg.push_str(&format!("EXEC_WORDS={}\n", q(&words.join(" "))));
        let secrets: Vec<&str> = {
            let mut v: Vec<&str> = self.secrets.iter().map(|(_, s)| s.name.as_str()).collect();
            v.sort();
            v.dedup();
            v
        };
        cfg.push_str(&format!("SECRETS={}\n", q(&secrets.join(" "))));
        cfg.push_str("# Host units, one dependency per line: the service, then candidate units in order of preference.\n");
        cfg.push_str("host_unit_groups() {\n");
        if self.host_groups.is_empty() {
            cfg.push_str("  :\n");
        }
        for (svc, units) in &self.host_groups {
            cfg.push_str(&format!(
                "  echo {}\n",
                q(&format!("{svc} {}", units.join(" ")))
            ));
        }
        cfg.push_str("}\n# Writable app paths: path inside the app dir, then the state directory it links to.\n");
        cfg.push_str("state_links() {\n");
        if self.state_links.is_empty() {
            cfg.push_str("  :\n");
        }
        for (rel, sub) in &self.state_links {
            cfg.push_str(&format!("  echo {}\n", q(&format!("{rel} /var/lib/{sub}"))));
        }
        cfg.push_str("}\n");
        template.replace("# @@CONFIG@@\n", &cfg)
    }

    fn readme(&self, stem: &str) -> String {
        let m = self.model;
        let n = &self.name;
        let etc = self.etc();
        let mut out = format!(
            "# {} {} — systemd package (profile: {})\n\n{}\n\nGenerated by luciac from `lucia.kdl`. Do not edit these files; change the declaration and rebuild.\n\n",
            m.app.name,
            m.app.version,
            m.profile_or_base(),
            m.app.description
        );
        out.push_str("For Debian 12 and RHEL 9 (systemd 252) and Ubuntu 22.04 or newer (systemd 249 or newer).\n\n## Prerequisites\n\n");
        if self.program == Program::Dotnet {
            out.push_str(
                "- The **.NET 10 ASP.NET Core runtime** (`dotnet` outside any home directory):\n  Debian 12: add Microsoft's package repository (https://learn.microsoft.com/dotnet/core/install/linux-debian), then `apt-get install aspnetcore-runtime-10.0`;\n  Ubuntu: `apt-get install aspnetcore-runtime-10.0` (on 22.04 from `ppa:dotnet/backports` or Microsoft's repository);\n  RHEL 9: `dnf install aspnetcore-runtime-10.0`.\n",
            );
        }
        for (svc, units) in &self.host_groups {
            out.push_str(&format!(
                "- `{svc}` from the host: one of {} (the first that exists is required). {}\n",
                units
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                host_hint(units)
            ));
        }
        out.push_str(&format!(
            "- The app's published output (`dotnet publish`, framework-dependent): the directory that contains `{}`.\n\n",
            self.args.first().map(String::as_str).unwrap_or("the app")
        ));
        out.push_str("## Install\n\n```sh\n");
        out.push_str(&format!("tar xzf {stem}.tar.gz\ncd {stem}\nsudo ./install.sh --app /path/to/publish      # --dry-run shows what it would do\n"));
        for s in m
            .secrets
            .iter()
            .filter(|s| self.secrets.iter().any(|(_, x)| x.name == s.name))
        {
            out.push_str(&format!(
                "sudo sh -c 'umask 077; cat > {etc}/credentials/{}'   # paste the value, then Ctrl-D{}\n",
                s.name,
                if s.optional { " (optional)" } else { "" }
            ));
        }
        out.push_str(&format!("sudoedit {etc}/{n}.env                 # optional: site settings\nsudo systemctl enable --now {n}\njournalctl -u {n} -f\n```\n\n"));
        out.push_str(&format!(
            "`install.sh` options: `--app DIR` (required the first time; later runs keep the installed app), `--prefix DIR`\n(default `{}`), `--dotnet PATH` (default: found on the host), `--dry-run`, and `--root DIR` to install into\nanother root directory (DESTDIR-style, used by the tests; no systemctl calls). Running it again with the same\ninputs changes nothing; with a new `--app` it replaces the app and restarts the service if it is running. It\nnever overwrites `{etc}/{n}.env` or anything in `{etc}/credentials/`. On SELinux hosts (RHEL) it runs `restorecon` on\nwhat it installed. The drop-in `Requires=` the host units it found, so stopping or restarting Redis or the store\nstops or restarts {n} too.\n\n",
            self.prefix
        ));
        out.push_str("## What goes where\n\n| Path | What |\n|---|---|\n");
        out.push_str(&format!(
            "| `{UNIT_DIR}/{n}.service` | the unit (this package's `{n}.service`) |\n"
        ));
        out.push_str(&format!("| `{UNIT_DIR}/{n}.service.d/10-install.conf` | written by install.sh: dotnet path, prefix, `Requires=`/`After=` the host units found |\n"));
        out.push_str(&format!("| `{SYSUSERS_DIR}/{n}.conf`, `{TMPFILES_DIR}/{n}.conf` | the `{}` system user; `{etc}` (0750 root:{}) and `{etc}/credentials` (0700 root:root) |\n", self.user, self.user));
        out.push_str(&format!(
            "| `{}` | the app (`--app`), owned by root, read-only for the service |\n",
            self.app_dir()
        ));
        out.push_str(&format!(
            "| `{}` | the credential wrapper (`ExecStart`) |\n",
            self.wrapper_path()
        ));
        out.push_str(&format!("| `{etc}/{n}.env` | site settings (created once from `{n}.env`) |\n| `{etc}/credentials/` | one file per secret |\n"));
        out.push_str(&format!(
            "| `{}` | state: `HOME` (DataProtection keys){} |\n",
            self.state_dir(),
            if self.state_links.is_empty() {
                String::new()
            } else {
                format!(
                    ", {}",
                    self.state_links
                        .iter()
                        .map(|(r, _)| format!("`{r}/`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
        out.push_str(&format!(
            "| `{}` | cache (`XDG_CACHE_HOME`) |\n\n",
            self.cache_dir()
        ));
        for (rel, sub) in &self.state_links {
            out.push_str(&format!("`{}/{rel}` is a symlink to `/var/lib/{sub}`: the app writes there although its own directory is read-only.\n", self.app_dir()));
        }
        for (path, sub) in &self.other_state {
            out.push_str(&format!("The container path `{path}` has no equivalent here; its data belongs in `/var/lib/{sub}`.\n"));
        }
        out.push_str("\n## Secrets (systemd credentials)\n\n");
        out.push_str(&format!(
            "Each secret is a file in `{etc}/credentials/` (directory 0700, files 0600, owned by root).\nThe unit loads them with `LoadCredential=`; at start systemd copies them into a private, non-swappable\ndirectory only the service can read, and `{n}-start` exports each one as the key the app reads before it\nstarts the app. So the values are not in the unit, not in `systemctl show`, not in this package and not\non any command line; they are in the app's environment (`/proc/PID/environ`, readable by root and the\nservice user only), because Lucia reads its configuration only from there. A trailing newline is removed.\ninstall.sh creates every file empty if it is missing; a required secret that is still empty stops the\nservice at start with a message in `journalctl -u {n}`. Use `systemctl restart {n}` after a change.\n\n"
        ));
        let odd: Vec<&str> = self
            .secrets
            .iter()
            .filter(|(k, _)| !is_env_name(k))
            .map(|(k, _)| k.as_str())
            .collect();
        if !odd.is_empty() {
            out.push_str(&format!(
                "Neither systemd nor a POSIX shell can set a variable whose name contains `-`: {}. For {} {n}-start\nexecs a few lines of perl (always there on Debian and Ubuntu) or else python3 (there on RHEL, dnf needs it)\nthat read the credential file into the environment and exec the app, so the value stays off every command\nline. Only on a host with neither does it pass the value as an `env NAME=VALUE` argument (visible in `ps`\nfor the moment `env` runs) and say so in the journal.\n\n",
                odd.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                if odd.len() == 1 { "it" } else { "those" }
            ));
        }
        out.push_str(
            "| File | Required | Becomes | Constraints | What it is |\n|---|---|---|---|---|\n",
        );
        for s in &m.secrets {
            let keys: Vec<String> = self
                .secrets
                .iter()
                .filter(|(_, x)| x.name == s.name)
                .map(|(k, _)| format!("`{k}`"))
                .collect();
            if keys.is_empty() {
                continue;
            }
            let cons = crate::targets::secret_constraints(s);
            out.push_str(&format!(
                "| `credentials/{}` | {} | {} | {} | {} |\n",
                s.name,
                if s.optional {
                    "no (leave empty)"
                } else {
                    "yes"
                },
                keys.join(", "),
                if cons.is_empty() {
                    "-".into()
                } else {
                    cons.join(", ")
                },
                md_cell(&s.description)
            ));
        }
        out.push_str(&format!(
            "\nWhere `systemd-creds` and a TPM2 or host key are available (systemd 250+), you can encrypt a secret at\nrest instead: `systemd-creds encrypt --name=NAME plain.txt {etc}/credentials/NAME.cred` and replace its\n`LoadCredential=` with `LoadCredentialEncrypted=NAME:{etc}/credentials/NAME.cred` in a drop-in\n(`systemctl edit {n}`).\n\n"
        ));
        out.push_str(&format!(
            "## Settings (`{etc}/{n}.env`)\n\n| Param | Setting | Default |\n|---|---|---|\n"
        ));
        for p in self.param_order() {
            let keys: Vec<String> = self
                .env
                .iter()
                .filter(|e| e.params.contains(&p.name))
                .map(|e| format!("`{}`", e.key))
                .collect();
            out.push_str(&format!(
                "| `{}` | {} | `{}` |\n",
                p.name,
                if keys.is_empty() {
                    "not used under systemd".to_string()
                } else {
                    keys.join(", ")
                },
                md_cell(&p.default)
            ));
        }
        let ports: Vec<String> = self
            .svc
            .ports
            .iter()
            .map(|p| {
                let published = listens_on_published(self.svc, &p.name);
                match (&p.publish, published) {
                    (Some(pb), true) => format!(
                        "`{}` on port {} (its published port)",
                        p.name,
                        publish_value(m, pb)
                    ),
                    _ => format!("`{}` on port {} (the app's own setting)", p.name, p.number),
                }
            })
            .collect();
        out.push_str(&format!(
            "\nThere is no port mapping outside containers, so the app listens directly on: {}. Redis and the store are\nreached on 127.0.0.1. Settings Lucia seeds into its store on first start (the `HomeAssistant` section and\nsimilar) follow this file only on the first start; later changes go through the dashboard. Connection\nstrings, `DataProvider`, `Logging` and `ASPNETCORE_*` always follow it.\n\n",
            ports.join(", ")
        ));
        if let Some(h) = &self.svc.health {
            let path = |c: &Check| match c {
                Check::Http { path, .. } => path.clone(),
                Check::Exec(a) => a.join(" "),
            };
            out.push_str(&format!(
                "Health: `{}` (liveness) and `{}` (readiness, checks Redis and the store) over HTTP; a cold start takes up to\n{} s. systemd only knows the process is running (`Type=exec`; the app sends no readiness notification).\n\n",
                path(&h.liveness),
                path(&h.readiness),
                h.start_period
            ));
        }
        out.push_str(&format!(
            "## Hardening\n\n`systemd-analyze security --offline=yes {n}.service` (systemd 252): **Overall exposure level: {EXPOSURE} OK**.\nThe test suite re-measures it for every profile and fails above 2.0.\n\n\
- Own system user, no capabilities (`CapabilityBoundingSet=` empty), `NoNewPrivileges=`, `ProtectSystem=strict`\n  (only the state and cache directories are writable), `ProtectHome=`, private `/tmp` and `/dev`, user,\n  mount and IPC isolation, kernel and clock protection, `ProtectProc=invisible`, native system calls only\n  (`@system-service` minus `@privileged`), `RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK`\n  (netlink for .NET's network-interface queries), `UMask=0077`.\n\
- Not set on purpose: `MemoryDenyWriteExecute=` (it breaks the .NET JIT), `ProcSubset=pid` and a\n  `~@resources` system-call filter (.NET reads `/proc` system files and raises its own limits at start),\n  `PrivateNetwork=` and `IPAddressDeny=` (the app serves the LAN and calls Home Assistant and LLM endpoints).\n\n"
        ));
        out.push_str(&format!(
            "## Uninstall\n\n```sh\nsudo ./uninstall.sh            # stops and disables {n}, removes the unit, app and wrapper\nsudo ./uninstall.sh --purge    # also deletes {etc}, {} and {}\n```\n\nuninstall.sh reads the prefix from the drop-in install.sh wrote (`--prefix DIR` overrides it). Without `--purge` the configuration, credentials and data stay;\nthe `{}` user is never deleted (distribution policy).\n",
            self.state_dir(),
            self.cache_dir(),
            self.user
        ));
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

/// Free text in a unit file (Description=…): `%` doubled, control characters dropped.
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
