//! The package README, with the measured exposure score: `readme.md` beside this module is the
//! skeleton, `readme-*.md` the sections with long fixed prose; what depends on the declaration
//! is built here and passed in as placeholder values.

use super::{
    EXPOSURE, Plan, Program, SYSUSERS_DIR, TMPFILES_DIR, UNIT_DIR, Unit, Word, cap_name, host_hint,
    is_env_name, listens_on_published, publish_value,
};
use crate::model::Check;
use crate::targets::markdown::{self, Table, code_list, notes_section};
use crate::targets::text::{fill, fill_closing};

impl<'a> Plan<'a> {
    /// What a unit gets beyond the common hardening, from the declaration, with its reasons.
    fn host_access(&self) -> String {
        let mut rows = String::new();
        for u in &self.units {
            let s = u.svc;
            let mut items: Vec<String> = Vec::new();
            if let Some(r) = &s.root {
                items.push(format!("runs as root (no `User=`): {r}"));
            }
            for (c, r) in &s.capabilities {
                items.push(format!("`{}` (and `PrivateUsers=no`): {r}", cap_name(c)));
            }
            for d in &s.devices {
                items.push(format!(
                    "`DeviceAllow={} rw` (and `PrivateDevices=no`); words naming `{}` name the host's \
                     node. The `{}` user needs the node's group (often `dialout`): `systemctl edit {}` \
                     and add `SupplementaryGroups=`",
                    d.host, d.path, self.user, u.stem
                ));
            }
            for b in &s.binds {
                items.push(format!(
                    "`{}` at `{}`{}",
                    b.host,
                    b.path,
                    if b.read_only { " (read-only)" } else { "" }
                ));
            }
            if let Some(g) = &s.gpu {
                items.push(format!(
                    "{} {} GPU(s): the unit may open the driver's device nodes (`DeviceAllow=` by \
                     device class, `PrivateDevices=no`); install the driver on the host, and give \
                     the unit's user the nodes' group (`video`/`render`) with \
                     `SupplementaryGroups=` in `systemctl edit`",
                    g.count,
                    g.vendor.name()
                ));
            }
            if let Some(r) = &s.host_network {
                items.push(format!("the host's network, as every unit has: {r}"));
            }
            if !items.is_empty() {
                rows.push_str(&format!(
                    "| `{}.service` | {} |\n",
                    u.stem,
                    markdown::cell(&items.join("; "))
                ));
            }
        }
        if rows.is_empty() {
            return String::new();
        }
        fill(include_str!("readme-host-access.md"), &[("ROWS", &rows)])
    }

    /// The package's README: `readme.md` beside this module, filled from the plan.
    pub(super) fn readme(&self, stem: &str) -> String {
        let m = self.model;
        let etc = self.etc();
        let notes = notes_section(m, "systemd");
        let notes = if notes.is_empty() {
            notes
        } else {
            format!(
                "\n{}",
                notes.replacen("## Notes", "## Notes on the services", 1)
            )
        };
        let settings: String = self.units.iter().map(|u| self.readme_settings(u)).collect();
        let purge: Vec<String> = std::iter::once(etc.clone())
            .chain(
                self.units
                    .iter()
                    .flat_map(|u| [u.state_dir(), u.cache_dir()]),
            )
            .collect();
        let dumps = if m.services.iter().any(|s| s.backup.is_some()) {
            ", the declared dumps"
        } else {
            ""
        };
        fill(
            include_str!("readme.md"),
            &[
                ("NAME", &m.app.name),
                ("VERSION", &m.app.version),
                ("PROFILE", m.profile_or_base()),
                ("DESCRIPTION", &m.app.description),
                ("SOURCE", &m.source_file),
                ("UNITS", &self.readme_units()),
                ("PREREQUISITES", &self.readme_prerequisites()),
                ("NOTES", &notes),
                ("INSTALL", &self.readme_install(stem)),
                ("PATHS", &self.readme_paths()),
                ("SYSUSERS", SYSUSERS_DIR),
                ("TMPFILES", TMPFILES_DIR),
                ("APP", &m.app.name),
                ("USER", &self.user),
                ("ETC", &etc),
                ("RELOCATED", &self.readme_relocated()),
                ("SECRETS", &self.readme_secrets()),
                ("SETTINGS", &settings),
                ("HARDENING", &self.readme_hardening()),
                ("HOSTACCESS", &self.host_access()),
                ("PURGE", &purge.join(", ")),
                ("DUMPS", dumps),
            ],
        )
    }

    /// The units table's rows: what the package runs and what the host provides.
    fn readme_units(&self) -> String {
        let m = self.model;
        let mut out = String::new();
        for u in &self.units {
            let from = match &u.program {
                Program::OnPath(p) => format!(" (`{p}` from the host's `PATH`)"),
                Program::Word(Word::Files(_)) => " (a program among its files)".to_string(),
                Program::Word(Word::Lit(_)) => String::new(),
            };
            let files = match u.files {
                Some(f) => format!(
                    "`--files {}=DIR`{}, installed in `{}`",
                    u.svc.name,
                    f.contains
                        .as_ref()
                        .map(|c| format!(" (a directory that contains `{c}`)"))
                        .unwrap_or_default(),
                    u.files_dir(&self.prefix)
                ),
                None => "-".to_string(),
            };
            out.push_str(&format!(
                "| `{}.service` | `{}` | `{}`{from} | {files} |\n",
                u.stem,
                u.svc.name,
                markdown::cell(&u.exec_words(&self.prefix, &u.program_name()).join(" "))
            ));
        }
        for s in m.services.iter().filter(|s| !s.host_unit.is_empty()) {
            out.push_str(&format!(
                "| {} | `{}` | the host's own unit | - |\n",
                code_list(&s.host_unit).replace(", ", " or "),
                s.name
            ));
        }
        out
    }

    /// The prerequisites' items: programs on the host's PATH, files, host units.
    fn readme_prerequisites(&self) -> String {
        let m = self.model;
        let mut out = String::new();
        for u in &self.units {
            if let Program::OnPath(p) = &u.program {
                out.push_str(&format!(
                    "- `{}`: the program `{p}` on the host's `PATH`, outside any home directory (or name it with `--program {p}=PATH`).\n",
                    u.svc.name
                ));
            }
            if let Program::Word(Word::Lit(p)) = &u.program {
                out.push_str(&format!("- `{}`: the program `{p}`.\n", u.svc.name));
            }
            if let Some(f) = u.files {
                out.push_str(&format!(
                    "- `{}`: its files, what the image holds at `{}`{}: `install.sh --files {}=DIR` installs them.\n",
                    u.svc.name,
                    f.path,
                    f.contains
                        .as_ref()
                        .map(|c| format!(" (a directory that contains `{c}`)"))
                        .unwrap_or_default(),
                    u.svc.name
                ));
            }
        }
        for s in m.services.iter().filter(|s| !s.host_unit.is_empty()) {
            out.push_str(&format!(
                "- `{}` from the host: one of {} (the first that exists is required). {}\n",
                s.name,
                code_list(&s.host_unit),
                host_hint(&s.host_unit)
            ));
        }
        out
    }

    /// The install steps, literally runnable, and the options of `install.sh`.
    fn readme_install(&self, stem: &str) -> String {
        let m = self.model;
        let etc = self.etc();
        let stems: Vec<&str> = self.units.iter().map(|u| u.stem.as_str()).collect();
        let files_args: String = self
            .units
            .iter()
            .filter(|u| u.files.is_some())
            .map(|u| format!(" --files {0}=/path/to/{0}-files", u.svc.name))
            .collect();
        let mut credentials = String::new();
        for s in m
            .secrets
            .iter()
            .filter(|s| self.secret_names().contains(&s.name.as_str()))
        {
            credentials.push_str(&format!(
                "sudo sh -c 'umask 077; cat > {etc}/credentials/{}'   # paste the value, then Ctrl-D{}\n",
                s.name,
                if s.optional { " (optional)" } else { "" }
            ));
        }
        let env_files: String = self
            .units
            .iter()
            .map(|u| {
                format!(
                    "sudoedit {}                 # optional: site settings\n",
                    self.env_path(u)
                )
            })
            .collect();
        let journal: String = stems.iter().map(|s| format!(" -u {s}")).collect();
        fill(
            include_str!("readme-install.md"),
            &[
                ("STEM", stem),
                ("FILESARGS", &files_args),
                ("CREDENTIALS", &credentials),
                ("ENVFILES", &env_files),
                ("STEMS", &stems.join(" ")),
                ("JOURNAL", &journal),
                ("PREFIX", &self.prefix),
                ("ETC", &etc),
            ],
        )
    }

    /// The rows of the table of where every installed file lands, unit by unit.
    fn readme_paths(&self) -> String {
        let etc = self.etc();
        let mut out = String::new();
        for u in &self.units {
            let files = match u.files {
                Some(_) => format!(
                    "| `{}` | the files of `{}` (`--files`), owned by root, read-only for the service |\n",
                    u.files_dir(&self.prefix),
                    u.svc.name
                ),
                None => String::new(),
            };
            let state_dirs = format!(
                "{}{}",
                if u.files.is_some() {
                    " is the files"
                } else {
                    ""
                },
                u.state_links
                    .iter()
                    .chain(u.other_state.iter())
                    .map(|(_, v)| format!(", `{v}/`"))
                    .collect::<String>()
            );
            let configs: String = u
                .svc
                .configs
                .iter()
                .map(|c| {
                    format!(
                        "| `{etc}/{}/{}` | config file of `{}` (read at `{}` in a container; from the \
                         declaration: install.sh replaces it, so change the declaration) |\n",
                        u.svc.name, c.name, u.svc.name, c.path
                    )
                })
                .collect();
            out.push_str(&fill_closing(
                include_str!("readme-unit-paths.md"),
                &[
                    ("UNITDIR", UNIT_DIR),
                    ("UNIT", &u.stem),
                    ("SERVICE", &u.svc.name),
                    ("FILES", &files),
                    ("WRAPPER", &self.wrapper_path(u)),
                    ("ENV", &self.env_path(u)),
                    ("STATE", &u.state_dir()),
                    ("STATEDIRS", &state_dirs),
                    ("CACHE", &u.cache_dir()),
                    ("CONFIGS", &configs),
                ],
            ));
        }
        out
    }

    /// The directories a unit writes in that are elsewhere than in a container.
    fn readme_relocated(&self) -> String {
        let mut out = String::new();
        for u in &self.units {
            for (rel, v) in &u.state_links {
                out.push_str(&format!(
                    "`{}/{rel}` is a symlink to `{}/{v}`: the service writes there although its \
                     files are read-only.\n",
                    u.files_dir(&self.prefix),
                    u.state_dir()
                ));
            }
            for (path, v) in &u.other_state {
                out.push_str(&format!(
                    "The container path `{path}` of `{}` is `{}/{v}` here: the command's words and \
                     the env values that name it are rewritten.\n",
                    u.svc.name,
                    u.state_dir()
                ));
            }
        }
        out
    }

    /// Secrets as systemd credentials.
    fn readme_secrets(&self) -> String {
        let m = self.model;
        let etc = self.etc();
        let several = self.units.len() > 1;
        let odd: Vec<&str> = self
            .units
            .iter()
            .flat_map(|u| u.secrets.iter())
            .filter(|(k, _)| !is_env_name(k))
            .map(|(k, _)| k.as_str())
            .collect();
        let names = if odd.is_empty() {
            String::new()
        } else {
            // A paragraph of its own: a blank line before the table.
            let which = if odd.len() == 1 { "it" } else { "those" };
            let text = fill(
                include_str!("readme-secret-names.md"),
                &[("KEYS", &code_list(&odd)), ("WHICH", which)],
            );
            format!("{text}\n")
        };
        let mut t = Table::new(&["File", "Required", "Becomes", "Constraints", "What it is"]);
        for s in &m.secrets {
            let keys: Vec<String> = self
                .units
                .iter()
                .flat_map(|u| u.secrets.iter().map(move |(k, x)| (u, k, x)))
                .filter(|(_, _, x)| x.name == s.name)
                .map(|(u, k, _)| {
                    if several {
                        format!("`{k}` ({})", u.stem)
                    } else {
                        format!("`{k}`")
                    }
                })
                .collect();
            if keys.is_empty() {
                continue;
            }
            t.row(&[
                format!("`credentials/{}`", s.name),
                (if s.optional {
                    "no (leave empty)"
                } else {
                    "yes"
                })
                .to_string(),
                keys.join(", "),
                markdown::constraints(s),
                markdown::cell(&s.description),
            ]);
        }
        fill(
            include_str!("readme-secrets.md"),
            &[("ETC", &etc), ("NAMES", &names), ("TABLE", &t.finish())],
        )
    }

    /// A unit's settings: params, ports and health.
    fn readme_settings(&self, u: &Unit<'a>) -> String {
        let m = self.model;
        let mut out = String::new();
        out.push_str(&format!(
            "## Settings of `{}.service` (`{}`)\n\n",
            u.stem,
            self.env_path(u)
        ));
        let params = self.param_order(u);
        if params.is_empty() {
            out.push_str("No param reaches this unit; the env file lists its fixed settings.\n");
        }
        let mut t = Table::new(&["Param", "Setting", "Default"]);
        let any = !params.is_empty();
        for p in params {
            let keys: Vec<String> = u
                .env
                .iter()
                .filter(|e| e.params.contains(&p.name))
                .map(|e| format!("`{}`", e.key))
                .collect();
            t.row(&[
                format!("`{}`", p.name),
                if keys.is_empty() {
                    "not used under systemd".to_string()
                } else {
                    keys.join(", ")
                },
                format!("`{}`", markdown::cell(&p.default)),
            ]);
        }
        if any {
            out.push_str(&t.finish());
        }
        let ports: Vec<String> = u
            .svc
            .ports
            .iter()
            .map(|p| {
                let published = listens_on_published(u.svc, &p.name);
                match (&p.publish, published) {
                    (Some(pb), true) => format!(
                        "`{}` on port {} (its published port)",
                        p.name,
                        publish_value(m, pb)
                    ),
                    _ => format!(
                        "`{}` on port {} (the program's own setting)",
                        p.name, p.number
                    ),
                }
            })
            .collect();
        let mut about = Vec::new();
        if !ports.is_empty() {
            about.push(format!(
                "There is no port mapping outside containers, so `{}` listens directly on: {}.",
                u.svc.name,
                ports.join(", ")
            ));
        }
        let hosted: Vec<&str> = u.host_groups.iter().map(|(s, _)| s.as_str()).collect();
        if !hosted.is_empty() {
            about.push(format!(
                "The host's {} {} reached on 127.0.0.1.",
                code_list(&hosted),
                if hosted.len() == 1 { "is" } else { "are" }
            ));
        }
        if !about.is_empty() {
            out.push_str(&format!("\n{}\n", about.join(" ")));
        }
        out.push('\n');
        if let Some(h) = &u.svc.health {
            let check = |c: &Check| match c {
                Check::Http { path, .. } => format!("`{path}` over HTTP"),
                Check::Tcp { port, .. } => format!("a TCP connect to `{port}`"),
                c @ Check::Exec(_) => format!("`{}`", c.describe()),
            };
            let start = if h.start_period > 0 {
                format!("; the declared start period is {} s", h.start_period)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "Health: {} (liveness) and {} (readiness){start}. systemd only knows the process is\nrunning (`Type=exec`); `health-check.sh --target systemd` asks the checks.\n\n",
                check(&h.liveness),
                check(&h.readiness),
            ));
        }
        out
    }

    /// The hardening every unit gets, with the measured exposure score.
    fn readme_hardening(&self) -> String {
        let units: Vec<String> = self
            .units
            .iter()
            .map(|u| format!("{}.service", u.stem))
            .collect();
        let each = if self.units.len() > 1 {
            " for each unit"
        } else {
            ""
        };
        fill(
            include_str!("readme-hardening.md"),
            &[
                ("UNITS", &units.join(" ")),
                ("EXPOSURE", EXPOSURE),
                ("EACH", each),
            ],
        )
    }
}
