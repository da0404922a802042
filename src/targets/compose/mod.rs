//! Docker Compose target: `compose.yaml` (Compose Specification), `.env.example`, the secret
//! file layout and a README, in one reproducible tarball.
//!
//! Choices a reviewer should know:
//! - Every literal string has `$` doubled, because Compose interpolates every value; params
//!   become `${NAME:-default}` so a missing `.env` still gives the declared default.
//! - Secrets are Compose file secrets under `./secrets/`, mounted at `/run/secrets/`. Lucia
//!   reads configuration only from the environment, so an entrypoint wrapper (POSIX sh, from
//!   the image) exports each file as the key the app reads and then `exec`s the declared
//!   command. Values never appear in `compose.yaml`, `docker inspect` or the bundle.
//! - HTTP health checks use bash's `/dev/tcp` because the AgentHost image has no curl or wget.
//! - Services that publish nothing and are only used by others (Redis, Mongo) live on an
//!   `internal` network with no route out; no fixed subnet and no `container_name`, so
//!   several profiles can run side by side.

use crate::diag::{self, Diag};
use crate::model::{
    Check, ComposeSettings, ConfigInfo, EnvSource, GpuInfo, GpuVendor, Model, ParamInfo, Part,
    ProbeTool, Publish, ServiceInfo, Template,
};
use crate::pack::{self, FileTree, Order};
use crate::targets::markdown::{self, Table, kind_and_choices, notes_section};
use crate::targets::text::{self, bytes_text, cores_text, sh_quote};
use crate::targets::{Artifact, Layout, privileges};
use crate::yaml::{self, Yaml};

const BACKEND: &str = "backend";
/// The probe interval during a start period (Docker Engine 25+), in seconds: Docker's default.
const START_INTERVAL: u64 = 5;

pub fn lower(model: &Model, diags: &mut Vec<Diag>) -> Option<Artifact> {
    lower_with(model, &crate::targets::scripts::host_scripts(model), diags)
}

/// [`lower`] with the host scripts (`scripts::host_scripts`) already made.
pub fn lower_with(model: &Model, host: &FileTree, diags: &mut Vec<Diag>) -> Option<Artifact> {
    let stem = format!("{}-compose-{}", model.instance_name(), model.app.version);
    let mut tree = FileTree::new();
    let compose = compose_file(model, diags)?;
    tree.insert("compose.yaml".into(), pack::text(compose));
    for s in &model.services {
        for c in &s.configs {
            tree.insert(config_file(s, c), pack::text(c.content.clone()));
        }
    }
    tree.insert(".env.example".into(), pack::text(env_example(model)));
    tree.insert("README.md".into(), pack::text(readme(model, &stem)));
    tree.insert(
        "secrets/README.md".into(),
        pack::text(secrets_readme(model)),
    );
    tree.extend(host.iter().map(|(k, v)| (k.clone(), v.clone())));
    tree.insert(
        ".gitignore".into(),
        pack::text(".env\nsecrets/*\n!secrets/README.md\n"),
    );
    Some(Artifact {
        target: crate::targets::Target::Compose,
        path: format!("{stem}.tar.gz"),
        layout: Layout::TarGz {
            top: stem,
            order: Order::Sorted,
        },
        tree,
    })
}

/// Escape a literal for Compose interpolation.
fn lit(s: &str) -> String {
    s.replace('$', "$$")
}

/// `${NAME:-default}` for a param, with the default escaped for interpolation.
fn param_ref(p: &ParamInfo) -> String {
    format!("${{{}:-{}}}", p.env_name, lit(&p.default))
}

fn render(model: &Model, parts: &[Part]) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Lit(s) => out.push_str(&lit(s)),
            Part::Param(name) => match model.param(name) {
                Some(p) => out.push_str(&param_ref(p)),
                None => out.push_str(&lit(name)),
            },
            Part::Host(svc) => out.push_str(svc),
            Part::Port { number, .. } => out.push_str(&number.to_string()),
        }
    }
    out
}

/// Services used by others that publish nothing: they need no route out.
fn is_internal(model: &Model, s: &ServiceInfo) -> bool {
    let published = s.ports.iter().any(|p| p.publish.is_some());
    let used = model
        .services
        .iter()
        .any(|o| o.depends_on.contains(&s.name));
    used && !published
}

fn duration(secs: u64) -> String {
    if secs > 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

fn check_test(model: &Model, check: &Check, tool: ProbeTool) -> Yaml {
    let cmd = |words: &[&str]| Yaml::from(words.iter().map(|w| w.to_string()).collect::<Vec<_>>());
    match (check, tool) {
        (Check::Exec(args), _) => {
            let mut v = vec![Yaml::from("CMD")];
            v.extend(args.iter().map(|a| Yaml::from(render(model, a))));
            Yaml::Seq(v)
        }
        (Check::Http { path, number, .. }, ProbeTool::Curl) => cmd(&[
            "CMD",
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            &lit(&format!("http://127.0.0.1:{number}{path}")),
        ]),
        (Check::Http { path, number, .. }, ProbeTool::Wget) => cmd(&[
            "CMD",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            &lit(&format!("http://127.0.0.1:{number}{path}")),
        ]),
        (Check::Http { path, number, .. }, _) => {
            // No curl or wget needed: speak HTTP/1.0 over bash's /dev/tcp and accept 200.
            let script = format!(
                "exec 3<>/dev/tcp/127.0.0.1/{number} && printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r status <&3 && case \"$status\" in *' 200 '*) exit 0;; esac; exit 1"
            );
            cmd(&["CMD", "bash", "-c", &lit(&script)])
        }
        (Check::Tcp { number, .. }, ProbeTool::Nc) => {
            cmd(&["CMD", "nc", "-z", "127.0.0.1", &number.to_string()])
        }
        (Check::Tcp { number, .. }, _) => cmd(&[
            "CMD",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/127.0.0.1/{number}"),
        ]),
    }
}

/// The entrypoint wrapper that turns secret files into the environment keys the app reads.
fn secret_wrapper(model: &Model, s: &ServiceInfo) -> String {
    let mut sh = String::from("set -eu\n");
    for (key, name) in s.secrets() {
        let Some(info) = model.secret(name) else {
            continue;
        };
        let file = format!("/run/secrets/{name}");
        if !info.optional {
            sh.push_str(&format!(
                "[ -s {file} ] || {{ echo \"{svc}: secret file secrets/{name} is missing or empty (see README.md)\" >&2; exit 1; }}\n",
                svc = s.name
            ));
        }
        sh.push_str(&format!("if [ -s {file} ]; then\n"));
        sh.push_str(&format!("  v=\"$(cat {file})\"\n"));
        if let Some(min) = info.min_length {
            sh.push_str(&format!(
                "  if [ \"${{#v}}\" -lt {min} ]; then echo \"{svc}: secret {name} is shorter than {min} characters\" >&2; exit 1; fi\n",
                svc = s.name
            ));
        }
        if let Some(prefix) = &info.prefix {
            sh.push_str(&format!(
                "  case \"$v\" in {p}*) ;; *) echo \"{svc}: secret {name} must start with {prefix}\" >&2; exit 1;; esac\n",
                p = sh_quote(prefix),
                svc = s.name
            ));
        }
        sh.push_str(&format!("  set -- {}=\"$v\" \"$@\"\nfi\n", sh_quote(key)));
    }
    sh.push_str("exec env \"$@\"\n");
    sh
}

/// Params whose defaults Compose's interpolation cannot carry; `false` when any was reported.
fn check_params(model: &Model, diags: &mut Vec<Diag>) -> bool {
    let mut ok = true;
    for p in &model.params {
        // `${NAME:-default}` ends at the first `}`; Compose has no escape for it.
        if p.default.contains('}') {
            diags.push(
                Diag::error(diag::TARGET_CANNOT_EXPRESS, format!("Compose cannot express the default of param `{}`: it contains `}}`", p.name))
                    .label(p.default_span, "holds `}`")
                    .help("Compose's `${VAR:-default}` ends at the first `}`; choose a default without `}` (deployers can still set any value in .env)"),
            );
            ok = false;
        }
        // Compose refuses a line break inside `${VAR:-default}` ("invalid interpolation
        // format"), and other control characters do not survive its .env reader.
        if p.default.chars().any(|c| c.is_control() && c != '\t') {
            diags.push(
                Diag::error(diag::TARGET_CANNOT_EXPRESS, format!("Compose cannot express the default of param `{}`: it holds a line break or control character", p.name))
                    .label(p.default_span, "holds a line break or control character")
                    .help("write the default on one line; or disable the target with `target \"compose\" { enabled #false }`"),
            );
            ok = false;
        }
        // In `.env`, `'…\'` reads the backslash as escaping the closing quote, so after
        // `cp .env.example .env` Compose cannot read the file.
        if p.default.ends_with('\\') {
            diags.push(
                Diag::error(diag::TARGET_CANNOT_EXPRESS, format!("Compose cannot express the default of param `{}`: it ends with `\\`", p.name))
                    .label(p.default_span, "ends with a backslash")
                    .help("Compose's .env reader takes a final `\\` as escaping the closing quote; drop the trailing backslash (paths work without it)"),
            );
            ok = false;
        }
    }
    ok
}

/// The top-level maps the services add to as they are lowered.
struct TopLevel {
    volumes: Yaml,
    secrets: Yaml,
    configs: Yaml,
}

/// `config` files travel in the tarball under `configs/`, named `<service>-<config>`.
fn config_file(s: &ServiceInfo, c: &ConfigInfo) -> String {
    format!("configs/{}-{}", s.name, c.name)
}

fn compose_file(model: &Model, diags: &mut Vec<Diag>) -> Option<String> {
    let mut ok = check_params(model, diags);
    let mut services = Yaml::map();
    let mut top = TopLevel {
        volumes: Yaml::map(),
        secrets: Yaml::map(),
        configs: Yaml::map(),
    };
    let any_internal = model.services.iter().any(|s| is_internal(model, s));
    for s in &model.services {
        match service(model, s, any_internal, &mut top, diags) {
            Some(svc) => services.insert(&s.name, svc),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let mut doc = Yaml::map()
        .with("name", model.instance_name())
        .with("services", services);
    if any_internal {
        doc.insert(
            "networks",
            Yaml::map()
                .with("default", Yaml::map())
                .with(BACKEND, Yaml::map().with("internal", true)),
        );
    }
    for (key, map) in [
        ("volumes", top.volumes),
        ("secrets", top.secrets),
        ("configs", top.configs),
    ] {
        if !map.is_empty() {
            doc.insert(key, map);
        }
    }
    let header = format!(
        "# Generated by luciac from {} (profile: {}). Do not edit: change the declaration and rebuild.\n",
        model.source_file,
        model.profile_or_base()
    );
    Some(header + &yaml::to_string(&doc))
}

/// One service's entry; `None` (with a diagnostic) when Compose cannot run it as declared.
fn service(
    model: &Model,
    s: &ServiceInfo,
    any_internal: bool,
    top: &mut TopLevel,
    diags: &mut Vec<Diag>,
) -> Option<Yaml> {
    let settings = &model.targets.compose;
    let mut svc = Yaml::map()
        .with("image", s.image.pinned())
        .with("pull_policy", "missing");
    program(model, s, &mut svc, diags)?;
    if let Some(uid) = s.uid {
        let user = match s.gid {
            Some(g) => format!("{uid}:{g}"),
            None => uid.to_string(),
        };
        svc.insert("user", user);
    }
    svc.insert("restart", "unless-stopped");
    if s.read_only_root {
        svc.insert("read_only", true);
    }
    if !s.writable.is_empty() {
        svc.insert("tmpfs", s.writable.clone());
    }
    svc.insert("cap_drop", vec!["ALL"]);
    if !s.capabilities.is_empty() {
        let add: Vec<&str> = s.capabilities.iter().map(|(c, _)| c.as_str()).collect();
        svc.insert("cap_add", add);
    }
    svc.insert("security_opt", vec!["no-new-privileges:true"]);
    if s.host_network.is_some() {
        // The host's network: ports are the host's own, and no Compose network applies.
        svc.insert("network_mode", "host");
    } else {
        let ports = ports(model, s, settings);
        if !ports.is_empty() {
            svc.insert("ports", Yaml::Seq(ports));
        }
    }
    let env: Vec<(String, Yaml)> = s
        .env
        .iter()
        .filter_map(|e| match &e.source {
            EnvSource::Template(parts) => Some((e.key.clone(), Yaml::Str(render(model, parts)))),
            EnvSource::Secret(_) => None,
        })
        .collect();
    if !env.is_empty() {
        svc.insert("environment", Yaml::Map(env));
    }
    if s.secrets().next().is_some() {
        let mut names: Vec<&str> = s.secrets().map(|(_, n)| n).collect();
        names.sort();
        names.dedup();
        for n in &names {
            top.secrets
                .insert(n, Yaml::map().with("file", format!("./secrets/{n}")));
        }
        svc.insert(
            "secrets",
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        );
    }
    if !s.configs.is_empty() {
        let mut list = Vec::new();
        for c in &s.configs {
            let key = format!("{}-{}", s.name, c.name);
            top.configs.insert(
                &key,
                Yaml::map().with("file", format!("./{}", config_file(s, c))),
            );
            list.push(
                Yaml::map()
                    .with("source", key.as_str())
                    .with("target", c.path.as_str()),
            );
        }
        svc.insert("configs", Yaml::Seq(list));
    }
    let mounts = mounts(s, &mut top.volumes);
    if !mounts.is_empty() {
        svc.insert("volumes", Yaml::Seq(mounts));
    }
    let devices = devices(s);
    if !devices.is_empty() {
        svc.insert("devices", devices);
    }
    if let Some(h) = &s.health {
        let mut hc = Yaml::map()
            .with("test", check_test(model, &h.readiness, h.tool))
            .with("interval", duration(h.interval))
            .with("timeout", duration(h.timeout))
            .with("retries", h.retries);
        if h.start_period > 0 {
            hc.insert("start_period", duration(h.start_period));
            // Probe often while the service starts, so `up --wait` returns as soon as it is
            // ready rather than one full interval later. Engines before Docker 25 ignore it
            // (Compose drops it for their API), where the declared interval decides.
            hc.insert("start_interval", duration(h.interval.min(START_INTERVAL)));
        }
        svc.insert("healthcheck", hc);
    }
    if !s.depends_on.is_empty() {
        let mut deps = Yaml::map();
        for d in &s.depends_on {
            let healthy = model
                .service(d)
                .map(|x| x.health.is_some())
                .unwrap_or(false);
            let cond = if healthy {
                "service_healthy"
            } else {
                "service_started"
            };
            deps.insert(d, Yaml::map().with("condition", cond).with("restart", true));
        }
        svc.insert("depends_on", deps);
    }
    if let Some(deploy) = deploy(s) {
        svc.insert("deploy", deploy);
    }
    svc.insert(
        "logging",
        Yaml::map().with("driver", "json-file").with(
            "options",
            Yaml::map()
                .with("max-size", lit(&settings.log_max_size))
                .with("max-file", settings.log_max_files.to_string()),
        ),
    );
    svc.insert("stop_grace_period", "30s");
    if any_internal && s.host_network.is_none() {
        let nets = if is_internal(model, s) {
            vec![BACKEND]
        } else {
            vec!["default", BACKEND]
        };
        svc.insert("networks", nets);
    }
    Some(svc)
}

/// `entrypoint` and `command`, one meaning in every target: `entrypoint` replaces the image's
/// ENTRYPOINT, `command` its CMD. Secrets need a wrapper that runs first and then `exec`s the
/// program, so the wrapper becomes the entrypoint and the declared words its arguments.
fn program(model: &Model, s: &ServiceInfo, svc: &mut Yaml, diags: &mut Vec<Diag>) -> Option<()> {
    let words = |list: &[Template]| -> Vec<Yaml> {
        list.iter().map(|a| Yaml::from(render(model, a))).collect()
    };
    if s.secrets().next().is_none() {
        if !s.entrypoint.is_empty() {
            svc.insert("entrypoint", Yaml::Seq(words(&s.entrypoint)));
        }
        if !s.command.is_empty() {
            svc.insert("command", Yaml::Seq(words(&s.command)));
        }
        return Some(());
    }
    if s.entrypoint.is_empty() && s.command.is_empty() {
        diags.push(
            Diag::error(diag::MISSING_VALUE, format!("service `{}` receives secrets but declares no program", s.name))
                .label(s.span, "secrets need a wrapper that then runs the program")
                .help("the wrapper replaces the image's ENTRYPOINT: declare it with `entrypoint \"PROGRAM\" \"ARG\"…` (and the image's CMD with `command`, if it has one)"),
        );
        return None;
    }
    svc.insert(
        "entrypoint",
        vec![
            "/bin/sh".to_string(),
            "-c".into(),
            lit(&secret_wrapper(model, s)),
            "luciac-secrets".into(),
        ],
    );
    // The wrapper `exec`s its arguments: the declared entrypoint, then the command.
    let mut all = words(&s.entrypoint);
    all.extend(words(&s.command));
    svc.insert("command", Yaml::Seq(all));
    Some(())
}

fn ports(model: &Model, s: &ServiceInfo, settings: &ComposeSettings) -> Vec<Yaml> {
    s.ports
        .iter()
        .filter_map(|p| {
            let published = match p.publish.as_ref()? {
                Publish::Fixed(n) => n.to_string(),
                Publish::Param { name, .. } => model.param(name).map(param_ref).unwrap_or_default(),
            };
            let mut m = Yaml::map()
                .with("name", p.name.as_str())
                .with("target", p.number)
                .with("published", published)
                .with("protocol", p.protocol.lower());
            if let Some(addr) = &settings.bind_address {
                m.insert("host_ip", lit(addr));
            }
            Some(m)
        })
        .collect()
}

/// Named volumes (added to the top-level map) and bind mounts of host paths.
fn mounts(s: &ServiceInfo, volumes: &mut Yaml) -> Vec<Yaml> {
    let mut list = Vec::new();
    for v in &s.volumes {
        let vname = format!("{}-{}", s.name, v.name);
        list.push(
            Yaml::map()
                .with("type", "volume")
                .with("source", vname.as_str())
                .with("target", v.path.as_str()),
        );
        volumes.insert(&vname, Yaml::map());
    }
    for b in &s.binds {
        let mut m = Yaml::map()
            .with("type", "bind")
            .with("source", lit(&b.host))
            .with("target", b.path.as_str());
        if b.read_only {
            m.insert("read_only", true);
        }
        // A missing host path is an error, not an empty directory Docker creates as root.
        m.insert("bind", Yaml::map().with("create_host_path", false));
        list.push(m);
    }
    list
}

/// Host devices, and AMD GPUs (which ROCm reaches through `/dev/kfd` and `/dev/dri`).
fn devices(s: &ServiceInfo) -> Vec<String> {
    let mut list: Vec<String> = s
        .devices
        .iter()
        .map(|d| format!("{}:{}", lit(&d.host), lit(&d.path)))
        .collect();
    if let Some(GpuInfo {
        vendor: GpuVendor::Amd,
        ..
    }) = &s.gpu
    {
        list.push("/dev/kfd:/dev/kfd".into());
        list.push("/dev/dri:/dev/dri".into());
    }
    list
}

/// `deploy.resources`: memory and CPU limits, memory reservations, NVIDIA GPUs.
fn deploy(s: &ServiceInfo) -> Option<Yaml> {
    let r = &s.resources;
    let mut limits = Yaml::map();
    // CPU requests have no Compose equivalent worth having; only an explicit limit caps CPU.
    if let Some(c) = &r.cpu_limit {
        limits.insert("cpus", cores_text(c.value));
    }
    if let Some(m) = r.memory_limit.as_ref().or(r.memory.as_ref()) {
        limits.insert("memory", bytes_text(m.value, ["k", "m", "g"]));
    }
    let mut reservations = Yaml::map();
    if let Some(m) = &r.memory {
        reservations.insert("memory", bytes_text(m.value, ["k", "m", "g"]));
    }
    if let Some(GpuInfo {
        vendor: GpuVendor::Nvidia,
        count,
        ..
    }) = &s.gpu
    {
        reservations.insert(
            "devices",
            Yaml::Seq(vec![
                Yaml::map()
                    .with("driver", "nvidia")
                    .with("count", *count)
                    .with("capabilities", vec!["gpu"]),
            ]),
        );
    }
    if limits.is_empty() && reservations.is_empty() {
        return None;
    }
    let mut res = Yaml::map();
    if !limits.is_empty() {
        res.insert("limits", limits);
    }
    if !reservations.is_empty() {
        res.insert("reservations", reservations);
    }
    Some(Yaml::map().with("resources", res))
}

/// A `.env` value: bare when safe, single-quoted otherwise (no interpolation inside `'…'`).
fn env_value(v: &str) -> Option<String> {
    if v.contains('\'') || v.contains('\n') || v.contains('\r') {
        return None;
    }
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./:@+,".contains(c))
    {
        Some(v.to_string())
    } else {
        Some(format!("'{v}'"))
    }
}

fn env_example(model: &Model) -> String {
    let mut out = String::from(
        "# Copy to .env next to compose.yaml and edit. Every variable is optional: compose.yaml\n# falls back to the default shown here. Secrets do not go here: see secrets/README.md.\n",
    );
    for p in &model.params {
        out.push('\n');
        for line in p.description.lines() {
            out.push_str(&format!("# {line}\n"));
        }
        let kind = kind_and_choices(p);
        out.push_str(&format!(
            "# Type: {kind}. Default: {}\n",
            p.default.replace('\n', "\\n")
        ));
        match env_value(&p.default) {
            Some(v) => out.push_str(&format!("{}={v}\n", p.env_name)),
            None => out.push_str(&format!(
                "# {}=  (the default cannot be written in a .env file; see compose.yaml)\n",
                p.env_name
            )),
        }
    }
    out
}

/// `secrets/README.md`: `secrets-readme.md` beside this module, with the table of files.
fn secrets_readme(model: &Model) -> String {
    let mut t = Table::new(&["File", "Required", "Becomes", "Constraints", "What it is"]);
    for s in &model.secrets {
        t.row(&[
            format!("`secrets/{}`", s.name),
            (if s.optional {
                "no (leave the file empty)"
            } else {
                "yes"
            })
            .to_string(),
            markdown::code_list(&s.keys),
            markdown::constraints(s),
            markdown::cell(&s.description),
        ]);
    }
    text::fill_closing(include_str!("secrets-readme.md"), &[("FILES", &t.finish())])
}

/// The bundle's README: `readme.md` beside this module, filled from the model.
fn readme(model: &Model, stem: &str) -> String {
    let app = &model.app;
    let mut secret_files = String::new();
    for s in model.secrets.iter().filter(|s| !s.optional) {
        secret_files.push_str(&format!(
            "read -r value && printf '%s' \"$value\" > secrets/{}    # paste the value, Enter\n",
            s.name
        ));
    }
    for s in model.secrets.iter().filter(|s| s.optional) {
        secret_files.push_str(&format!(
            ": > secrets/{}    # optional: empty means not set\n",
            s.name
        ));
    }
    let mut params = Table::new(&["Variable", "Default", "Description"]);
    for p in &model.params {
        params.row(&[
            format!("`{}`", p.env_name),
            format!("`{}`", markdown::cell(&p.default)),
            markdown::cell(&p.description),
        ]);
    }
    let privileges = privileges::section(model, privileges::Flavor::Compose);
    // The privileges section ends with a blank line; without it, the notes need one.
    let mut notes = notes_section(model, "compose");
    if !notes.is_empty() && privileges.is_empty() {
        notes.insert(0, '\n');
    }
    text::fill_closing(
        include_str!("readme.md"),
        &[
            ("NAME", &app.name),
            ("VERSION", &app.version),
            ("PROFILE", model.profile_or_base()),
            ("DESCRIPTION", &app.description),
            ("SOURCE", &model.source_file),
            ("STEM", stem),
            ("SECRETFILES", &secret_files),
            ("SERVICES", &services_table(model)),
            ("PARAMS", &params.finish()),
            ("PRIVILEGES", &privileges),
            ("NOTES", &notes),
        ],
    )
}

/// `| Service | Image | Published | Health | Depends on |`.
fn services_table(model: &Model) -> String {
    let mut t = Table::new(&["Service", "Image", "Published", "Health", "Depends on"]);
    for s in &model.services {
        let published: Vec<String> = s
            .ports
            .iter()
            .filter_map(|p| {
                p.publish.as_ref().map(|pb| match pb {
                    Publish::Fixed(n) => format!("{n} → {} ({})", p.number, p.name),
                    Publish::Param { name, default } => format!(
                        "${{{}:-{default}}} → {} ({})",
                        model.param(name).map(|x| x.env_name.as_str()).unwrap_or(""),
                        p.number,
                        p.name
                    ),
                })
            })
            .collect();
        let health = match &s.health {
            Some(h) => match &h.readiness {
                Check::Http { path, number, .. } => format!("HTTP `{path}` on {number}"),
                Check::Tcp { number, .. } => format!("TCP connect to {number}"),
                // As the container runs it: references resolved, `$$` back to `$`.
                Check::Exec(args) => format!(
                    "`{}`",
                    args.iter()
                        .map(|a| render(model, a).replace("$$", "$"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            },
            None => "-".into(),
        };
        t.row(&[
            s.name.clone(),
            format!("`{}`", s.image.pinned()),
            if published.is_empty() {
                "no (internal)".into()
            } else {
                published.join(", ")
            },
            health,
            if s.depends_on.is_empty() {
                "-".into()
            } else {
                s.depends_on.join(", ")
            },
        ]);
    }
    t.finish()
}
