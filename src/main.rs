//! The `luciac` command line. Exit codes: 0 success, 1 errors in the declaration or stale
//! bundles, 2 usage errors (clap's own code). A panic is a bug.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use luciac::bundle::{self, Bundle, Packer};
use luciac::compile::{self, Project};
use luciac::diag::{self, Diag, Style};
use luciac::model::Model;
use luciac::output::{self, WriteReport};
use luciac::resolve::Strictness;
use luciac::source::Sources;
use luciac::targets::{self, Models, Shared, Target};

#[derive(Parser)]
#[command(
    name = "luciac",
    version,
    about = "Compile lucia.kdl into reproducible Compose, Helm, Kustomize and systemd bundles",
    long_about = "luciac reads one declaration (lucia.kdl) plus an optional profile overlay \
(profiles/<name>.kdl) and writes hash-pinned, byte-reproducible deployment bundles to \
bundles/<profile>/, with a manifest (bundle-manifest.json) and SHA256SUMS. Image pins come from lucia.lock next to the declaration (written by `luciac lock`).\n\n\
Examples:\n  luciac build --profile prod\n  luciac verify bundles/\n  luciac build --all --check     # CI drift check\n  luciac check --profile dev\n  luciac explain E0035"
)]
struct Cli {
    /// The declaration to read.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "lucia.kdl",
        value_name = "FILE"
    )]
    file: PathBuf,
    /// How to print diagnostics and progress: `json` is one JSON object per line on stdout
    /// (docs/message-format.md).
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// Colour in diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// Also list every file written or removed.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    verbose: bool,
    /// Print diagnostics only.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args, Clone)]
struct ProfileArgs {
    /// Overlay profiles/<P>.kdl on the declaration (repeatable). Without it, the base alone.
    #[arg(short, long = "profile", value_name = "P")]
    profile: Vec<String>,
    /// Every profile in profiles/.
    #[arg(long, conflicts_with = "profile")]
    all: bool,
    /// Fail when an image has no pin in lucia.lock, or its pin was made for another reference.
    #[arg(long)]
    locked: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Build bundles into bundles/<profile>/ (or check that the committed ones are current).
    ///
    /// Example: luciac build --profile prod
    Build {
        #[command(flatten)]
        profiles: ProfileArgs,
        /// Rebuild in memory and fail with a per-file diff if the bundles on disk differ.
        #[arg(long)]
        check: bool,
        /// Output directory (default: bundles/ next to the declaration).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Report problems in the declaration without writing anything.
    ///
    /// Example: luciac check --profile dev
    Check {
        #[command(flatten)]
        profiles: ProfileArgs,
    },
    /// Print the service dependency graph as Graphviz DOT.
    ///
    /// Example: luciac graph --profile prod | dot -Tsvg > graph.svg
    Graph {
        /// Overlay profiles/<P>.kdl first.
        #[arg(short, long, value_name = "P")]
        profile: Option<String>,
    },
    /// Write a starter declaration (lucia.kdl and profiles/) into DIR; never overwrites.
    ///
    /// Example: luciac init my-lucia; luciac init --template app-db my-app
    Init {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The starter: `lucia` (Lucia's stack, the default), `blank` (one web service),
        /// `app-db` (a web app with PostgreSQL).
        #[arg(long, value_name = "NAME", default_value = "lucia",
              value_parser = clap::builder::PossibleValuesParser::new(
                  luciac::defaults::TEMPLATES.iter().map(|t| t.name)))]
        template: String,
    },
    /// Write the configuration reference (every param and secret, where it lands per target).
    ///
    /// Example: luciac docs --check
    Docs {
        /// Output file (default: infra/docs/configuration-reference.md next to the declaration).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Fail if the file on disk differs from what would be written.
        #[arg(long)]
        check: bool,
    },
    /// Check bundles offline against SHA256SUMS and bundle-manifest.json, archives entry by entry.
    ///
    /// Example: luciac verify bundles/
    Verify {
        /// A bundle file, a bundle directory, or bundles/.
        path: PathBuf,
    },
    /// Format the declaration and its profiles canonically, keeping every comment.
    ///
    /// Without FILE: the declaration (-f) and every profiles/*.kdl next to it.
    /// Example: luciac fmt --check
    Fmt {
        /// Do not write; print a diff and exit 1 when a file would change.
        #[arg(long)]
        check: bool,
        /// Files to format.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run the language server on stdin/stdout (for editors).
    ///
    /// Example: configure your editor to run `luciac lsp` for *.kdl files; see docs/editors.md.
    Lsp,
    /// Print a shell completion script.
    ///
    /// Example: luciac completions bash > /etc/bash_completion.d/luciac
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff).
    ///
    /// Example: luciac man > /usr/local/share/man/man1/luciac.1
    Man,
    /// Pin every image: ask its registry for the digest behind the tag and write lucia.lock.
    ///
    /// The only command that uses the network. Plain `lock` pins images that have no pin and
    /// keeps the others. Exit codes: 0 done (or, with --check, every pin current), 1 an error
    /// (nothing written), 3 with --check: some tag has moved.
    /// Example: luciac lock --update redis
    Lock {
        /// Re-resolve these images (by name), or every image when none is named.
        #[arg(long, num_args = 0.., value_name = "IMAGE", conflicts_with = "check")]
        update: Option<Vec<String>>,
        /// Report each tag that has moved since it was pinned; write nothing.
        #[arg(long, visible_alias = "outdated")]
        check: bool,
    },
    /// Print the long explanation of a diagnostic code.
    ///
    /// Example: luciac explain E0035
    Explain { code: String },
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// One line of `--message-format json` (docs/message-format.md, the schema beside it).
#[derive(Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
enum Message<'a> {
    /// A diagnostic, the object `luciac::diag::to_json` makes, with the profile whose
    /// compilation reported it ("base" without a profile; absent outside a compilation).
    Diagnostic {
        #[serde(skip_serializing_if = "Option::is_none")]
        profile: Option<&'a str>,
        diagnostic: serde_json::Value,
    },
    /// A file of a bundle directory, after `build` wrote it, found it current, or removed it.
    Artifact {
        profile: &'a str,
        path: String,
        target: Option<Target>,
        state: State,
        #[serde(skip_serializing_if = "Option::is_none")]
        sha256: Option<&'a str>,
    },
    /// The last line of `build` and `check`.
    BuildFinished { success: bool },
    /// The last line of a `lock` that did not fail.
    LockReport {
        mode: &'a str,
        changes: &'a [luciac::lock::resolve::Change],
        resolved: usize,
        written: bool,
    },
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "kebab-case")]
enum State {
    Written,
    Unchanged,
    Removed,
}

struct Reporter {
    format: MessageFormat,
    verbosity: Verbosity,
    style: Style,
    /// Images reported unpinned (W0050 warnings), shown as one line by [`Reporter::finish`].
    unpinned: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Reporter {
    fn report(&self, diags: &[Diag], sources: &Sources) {
        self.report_for(None, diags, sources);
    }

    /// Report the diagnostics of one profile's compilation (`profile` as the bundle is named:
    /// "base" without one).
    fn report_for(&self, profile: Option<&str>, diags: &[Diag], sources: &Sources) {
        match self.format {
            MessageFormat::Human => {
                // People get one line for all unpinned images; JSON keeps each, located.
                let diags: Vec<Diag> = diags
                    .iter()
                    .filter(|d| {
                        let unpinned = d.code == diag::UNPINNED_IMAGE && !d.is_error();
                        if unpinned {
                            self.unpinned.borrow_mut().insert(d.message.clone());
                        }
                        !unpinned
                    })
                    .cloned()
                    .collect();
                if !diags.is_empty() {
                    eprint!("{}", diag::render_human(&diags, sources, self.style));
                }
            }
            MessageFormat::Json => {
                for d in diags {
                    self.json(&Message::Diagnostic {
                        profile,
                        diagnostic: diag::to_json(d, sources),
                    });
                }
            }
        }
    }

    /// The one warning line for unpinned images, after everything else.
    fn finish(&self) {
        let n = self.unpinned.borrow().len();
        if n > 0 {
            let what = if n == 1 {
                "1 image is".to_string()
            } else {
                format!("{n} images are")
            };
            let them = if n == 1 { "it" } else { "them" };
            eprintln!(
                "warning[{}]: {what} not pinned by digest; run `luciac lock` to pin {them} in lucia.lock",
                diag::UNPINNED_IMAGE.id
            );
        }
    }

    /// Report one failure that has no place in the declaration (a file of the bundle).
    fn fail(&self, d: Diag) {
        self.report(&[d], &Sources::default());
    }

    /// One JSON line on stdout.
    fn json(&self, m: &Message<'_>) {
        if let Ok(line) = serde_json::to_string(m) {
            println!("{line}");
        }
    }

    /// A progress line, cargo's way: the verb right-aligned in 12 columns (bold green in
    /// colour). Not with `-q` or JSON.
    fn status(&self, verb: &str, msg: &str) {
        if self.format == MessageFormat::Human && self.verbosity >= Verbosity::Normal {
            self.status_line(verb, msg);
        }
    }

    /// A progress line only `-v` shows.
    fn verbose(&self, verb: &str, msg: &str) {
        if self.format == MessageFormat::Human && self.verbosity >= Verbosity::Verbose {
            self.status_line(verb, msg);
        }
    }

    fn status_line(&self, verb: &str, msg: &str) {
        if self.style.color {
            eprintln!("\x1b[1m\x1b[32m{verb:>12}\x1b[0m {msg}");
        } else {
            eprintln!("{verb:>12} {msg}");
        }
    }

    /// A line for people; not with `-q` or JSON.
    fn note(&self, msg: &str) {
        if self.format == MessageFormat::Human && self.verbosity >= Verbosity::Normal {
            eprintln!("{msg}");
        }
    }

    /// The detail of a diagnostic just reported (a stale file's diff): for people, even
    /// with `-q`; JSON consumers have the diagnostic.
    fn detail(&self, msg: &str) {
        if self.format == MessageFormat::Human {
            eprintln!("{msg}");
        }
    }

    /// The last line of `build` and `check` in JSON.
    fn finished(&self, success: bool) {
        if self.format == MessageFormat::Json {
            self.json(&Message::BuildFinished { success });
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let unicode = std::io::stderr().is_terminal() || color;
    let reporter = Reporter {
        format: cli.message_format,
        verbosity: if cli.quiet {
            Verbosity::Quiet
        } else if cli.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        },
        style: Style {
            color,
            unicode,
            width: 100,
        },
        unpinned: Default::default(),
    };
    let code = run(cli, &reporter);
    reporter.finish();
    code
}

fn run(cli: Cli, reporter: &Reporter) -> ExitCode {
    match cli.command {
        Command::Build {
            profiles,
            check,
            out,
        } => build(&cli.file, &profiles, check, out.as_deref(), reporter),
        Command::Check { profiles } => check_only(&cli.file, &profiles, reporter),
        Command::Graph { profile } => graph(&cli.file, profile.as_deref(), reporter),
        Command::Init { dir, template } => init(&dir, &template, reporter),
        Command::Docs { out, check } => docs(&cli.file, out.as_deref(), check, reporter),
        Command::Verify { path } => {
            let mut diags = Vec::new();
            let rep = luciac::verify::verify(&path, &mut diags);
            reporter.report(&diags, &Sources::default());
            if diags.iter().any(Diag::is_error) {
                ExitCode::FAILURE
            } else {
                reporter.status(
                    "Verified",
                    &format!(
                        "{}: {} bundle(s), {} file(s)",
                        path.display(),
                        rep.bundles,
                        rep.files
                    ),
                );
                ExitCode::SUCCESS
            }
        }
        Command::Lsp => match luciac::lsp::run_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("luciac lsp: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "luciac", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("luciac: cannot write the manual page: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Fmt { check, files } => fmt(&cli.file, &files, check, reporter),
        Command::Lock { update, check } => {
            let mode = match (update, check) {
                (_, true) => luciac::lock::resolve::Mode::Check,
                (Some(names), false) => luciac::lock::resolve::Mode::Update(names),
                (None, false) => luciac::lock::resolve::Mode::Lock,
            };
            lock(&cli.file, &mode, reporter)
        }
        Command::Explain { code } => match diag::find_code(&code) {
            Some(c) => {
                println!("{}: {}\n\n{}", c.id, c.title, c.explain);
                ExitCode::SUCCESS
            }
            None => {
                eprintln!(
                    "luciac: no diagnostic code `{code}`; codes run from E0001 (see docs/language.md)"
                );
                ExitCode::from(2)
            }
        },
    }
}

fn selected(file: &Path, p: &ProfileArgs) -> Vec<Option<String>> {
    if p.all {
        compile::list_profiles(file).into_iter().map(Some).collect()
    } else if p.profile.is_empty() {
        vec![None]
    } else {
        p.profile.iter().cloned().map(Some).collect()
    }
}

/// Exit status for a run that may have failed somewhere.
fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One profile compiled and lowered (or the base alone), with every diagnostic of its run.
struct Unit {
    diags: Vec<Diag>,
    /// What the diagnostics point into (none when the inputs could not be read).
    sources: Sources,
    /// `None` when there was any error.
    built: Option<Built>,
}

struct Built {
    model: Model,
    /// With `build`: the bundle, and what became of it on disk.
    delivered: Option<Delivered>,
}

/// What `build` does with each bundle, in the thread that made it: write it into
/// `<dir>/<profile>/`, or compare it with what is there (`--check`).
#[derive(Clone, Copy)]
enum Deliver<'a> {
    Write(&'a Path),
    Check(&'a Path),
}

struct Delivered {
    dir: PathBuf,
    /// The bundle and what writing or checking it found, or why it could not be packed.
    bundle: Result<(Bundle, Disk), String>,
}

enum Disk {
    Written(std::io::Result<WriteReport>),
    /// Each stale file with its diff (none: up to date).
    Checked(Vec<(String, String)>),
}

impl Unit {
    /// The bundle's name: the profile, or "base".
    fn name<'a>(&'a self, asked: &'a Option<String>) -> &'a str {
        match &self.built {
            Some(b) => b.model.profile_or_base(),
            None => asked.as_deref().unwrap_or("base"),
        }
    }
}

/// Load the declaration once, then compile and lower every selected profile side by side,
/// and with `deliver` pack each one's bundle (archives that bundles share are packed once)
/// and write or check it. `Err` holds what stopped the declaration from being read.
fn compile_all(
    file: &Path,
    profiles: &[Option<String>],
    strict: Strictness,
    deliver: Option<Deliver<'_>>,
) -> Result<Vec<Unit>, Vec<Diag>> {
    let mut diags = Vec::new();
    let Some(project) = Project::load(file, &mut diags) else {
        return Err(diags);
    };
    let packer = Packer::default();
    let deliver = deliver.map(|d| (&packer, d));
    let shared = Shared::default();
    Ok(luciac::par::map(profiles.iter().collect(), |p| {
        compile_one(&project, &shared, p.as_deref(), strict, deliver)
    }))
}

/// Compile and lower one profile; with `deliver`, pack its bundle and write or check it.
/// With a profile, the shared artifacts come from the base's own model, never the
/// profile's: a base with errors fails the build instead of borrowing one. Each profile's
/// bundle is its own directory, so writing it here, beside the other profiles, changes
/// nothing a failed build leaves on disk; what happened is reported later, in order.
fn compile_one(
    project: &Project,
    shared: &Shared,
    profile: Option<&str>,
    strict: Strictness,
    deliver: Option<(&Packer, Deliver<'_>)>,
) -> Unit {
    let mut diags = Vec::new();
    let Some(input) = project.input(profile, &mut diags) else {
        return Unit {
            diags,
            sources: Sources::default(),
            built: None,
        };
    };
    let model = project.compile(&input, strict, &mut diags);
    let base = project.compile_base(&input, &mut diags);
    let models = match (&model, &input.profile, base) {
        (Some(m), None, _) => Some(Models::alone(m)),
        (Some(m), Some(_), Some(b)) => Some(Models {
            base: b,
            profile: m,
            shared: Some(shared),
        }),
        _ => None,
    };
    // For build, each archive starts being packed as soon as its target has made it.
    let lowered = models.map(|models| match deliver {
        Some((packer, _)) => targets::lower_each(models, &mut diags, |a| packer.prepare(a)),
        None => (targets::lower(models, &mut diags), Vec::new()),
    });
    let ok = !diags.iter().any(Diag::is_error);
    let sources = input.sources.clone();
    let built = match (ok, model, lowered) {
        (true, Some(model), Some((artifacts, prepared))) => {
            let delivered = deliver.map(|(packer, deliver)| {
                let job = bundle::Job {
                    model: &model,
                    sources: &input.sources,
                    artifacts,
                };
                let (Deliver::Write(out) | Deliver::Check(out)) = deliver;
                let dir = out.join(model.profile_or_base());
                let bundle = packer
                    .assemble_prepared(job, prepared)
                    .map_err(|e| e.to_string())
                    .map(|b| {
                        let disk = match deliver {
                            Deliver::Write(_) => {
                                Disk::Written(output::write_bundle(&dir, &b.files))
                            }
                            Deliver::Check(_) => {
                                Disk::Checked(output::check_bundle(&dir, &b.files))
                            }
                        };
                        (b, disk)
                    });
                Delivered { dir, bundle }
            });
            Some(Built { model, delivered })
        }
        _ => None,
    };
    Unit {
        diags,
        sources,
        built,
    }
}

/// Load, compile and lower one profile, reporting every diagnostic of the run at once.
/// `None` when there was any error.
fn pipeline(file: &Path, profile: Option<&str>, strict: Strictness, r: &Reporter) -> Option<Built> {
    let asked = profile.map(str::to_string);
    let unit = match compile_all(file, std::slice::from_ref(&asked), strict, None) {
        Ok(mut units) => units.pop()?,
        Err(diags) => {
            r.report(&diags, &Sources::default());
            return None;
        }
    };
    r.report_for(Some(unit.name(&asked)), &unit.diags, &unit.sources);
    unit.built
}

fn check_only(file: &Path, p: &ProfileArgs, r: &Reporter) -> ExitCode {
    let profiles = selected(file, p);
    let failed = match compile_all(file, &profiles, Strictness { locked: p.locked }, None) {
        Err(diags) => {
            r.report(&diags, &Sources::default());
            true
        }
        Ok(units) => {
            let mut failed = false;
            for (unit, asked) in units.iter().zip(&profiles) {
                r.report_for(Some(unit.name(asked)), &unit.diags, &unit.sources);
                failed |= unit.built.is_none();
            }
            failed
        }
    };
    r.finished(!failed);
    exit(failed)
}

fn build(file: &Path, p: &ProfileArgs, check: bool, out: Option<&Path>, r: &Reporter) -> ExitCode {
    let out_dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).join("bundles"));
    let profiles = selected(file, p);
    let deliver = if check {
        Deliver::Check(&out_dir)
    } else {
        Deliver::Write(&out_dir)
    };
    let strict = Strictness { locked: p.locked };
    let units = match compile_all(file, &profiles, strict, Some(deliver)) {
        Ok(units) => units,
        Err(diags) => {
            r.report(&diags, &Sources::default());
            r.finished(false);
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for (unit, asked) in units.iter().zip(&profiles) {
        let name = unit.name(asked);
        r.report_for(Some(name), &unit.diags, &unit.sources);
        let Some((built, d)) = unit
            .built
            .as_ref()
            .and_then(|b| b.delivered.as_ref().map(|d| (b, d)))
        else {
            failed = true;
            continue;
        };
        let ok = match &d.bundle {
            Err(e) => {
                pack_failed(name, &d.dir, e, r);
                false
            }
            Ok((bundle, Disk::Written(Ok(rep)))) => {
                report_bundle(name, &d.dir, bundle, rep, r);
                true
            }
            Ok((_, Disk::Written(Err(e)))) => {
                write_failed(Some(name), &d.dir, e, r);
                false
            }
            Ok((bundle, Disk::Checked(stale))) => {
                let profile = built.model.profile.as_deref();
                report_check(name, profile, &d.dir, bundle, stale, r)
            }
        };
        failed |= !ok;
    }
    r.finished(!failed);
    exit(failed)
}

fn pack_failed(name: &str, dir: &Path, e: &str, r: &Reporter) {
    let d = Diag::error(
        diag::WRITE_FAILED,
        format!("cannot pack the bundle for {}: {e}", dir.display()),
    )
    .path(dir.display().to_string());
    r.report_for(Some(name), &[d], &Sources::default());
}

/// Report a bundle compared with what is on disk (`build --check`); `false` when stale.
fn report_check(
    name: &str,
    profile: Option<&str>,
    dir: &Path,
    bundle: &Bundle,
    stale: &[(String, String)],
    r: &Reporter,
) -> bool {
    if stale.is_empty() {
        r.status(
            "Checked",
            &format!(
                "{name}: {} files up to date in {}",
                bundle.files.len(),
                dir.display()
            ),
        );
        return true;
    }
    let rebuild = match profile {
        Some(p) => format!("luciac build --profile {p}"),
        None => "luciac build".to_string(),
    };
    let diags: Vec<Diag> = stale
        .iter()
        .map(|(path, _)| {
            let file = dir.join(path);
            Diag::error(
                diag::STALE,
                format!("{} is stale: it differs from a fresh build", file.display()),
            )
            .path(file.display().to_string())
            .help(format!("run `{rebuild}` and commit the result"))
        })
        .collect();
    r.report_for(Some(name), &diags, &Sources::default());
    // The diffs themselves are for people; JSON consumers get one record per stale file.
    for (path, diff) in stale {
        r.detail(&format!("--- {path}\n{diff}"));
    }
    false
}

/// Report a bundle directory written: one summary line, with `-v` one line per file too,
/// and in JSON one `artifact` message per file.
fn report_bundle(name: &str, dir: &Path, bundle: &Bundle, rep: &WriteReport, r: &Reporter) {
    report_written(dir, rep, r);
    if r.format == MessageFormat::Json {
        // The bundle's files by path, then what was removed.
        let written: std::collections::BTreeSet<&String> = rep.written.iter().collect();
        for (path, info) in &bundle.info {
            r.json(&Message::Artifact {
                profile: name,
                path: dir.join(path).display().to_string(),
                target: info.target,
                state: if written.contains(path) {
                    State::Written
                } else {
                    State::Unchanged
                },
                sha256: Some(&info.sha256),
            });
        }
        for path in &rep.removed {
            r.json(&Message::Artifact {
                profile: name,
                path: dir.join(path).display().to_string(),
                target: None,
                state: State::Removed,
                sha256: None,
            });
        }
    }
    r.status("Finished", &format!("{name}: {}", summary(rep, dir)));
}

/// "12 written, 52 unchanged in bundles/prod" (and how many were removed, if any).
fn summary(rep: &WriteReport, dir: &Path) -> String {
    let removed = if rep.removed.is_empty() {
        String::new()
    } else {
        format!(", {} removed", rep.removed.len())
    };
    format!(
        "{} written, {} unchanged{removed} in {}",
        rep.written.len(),
        rep.unchanged.len(),
        dir.display()
    )
}

/// `-v`: each file written or removed.
fn report_written(dir: &Path, rep: &WriteReport, r: &Reporter) {
    for w in &rep.written {
        r.verbose("Wrote", &dir.join(w).display().to_string());
    }
    for w in &rep.removed {
        r.verbose("Removed", &dir.join(w).display().to_string());
    }
}

/// A bundle (the profile's, `Some`) or another file that could not be written.
fn write_failed(profile: Option<&str>, dir: &Path, e: &std::io::Error, r: &Reporter) {
    let d = Diag::error(
        diag::WRITE_FAILED,
        format!("cannot write {}: {e}", dir.display()),
    )
    .path(dir.display().to_string())
    .help("check that the directory is writable; bundles already there were left as they were");
    r.report_for(profile, &[d], &Sources::default());
}

fn docs(file: &Path, out: Option<&Path>, check: bool, r: &Reporter) -> ExitCode {
    // The base alone, then every profile, compiled side by side; the first failure stops.
    let profiles: Vec<Option<String>> = std::iter::once(None)
        .chain(compile::list_profiles(file).into_iter().map(Some))
        .collect();
    let units = match compile_all(file, &profiles, Strictness::default(), None) {
        Ok(units) => units,
        Err(diags) => {
            r.report(&diags, &Sources::default());
            return ExitCode::FAILURE;
        }
    };
    let mut models = Vec::new();
    for (unit, asked) in units.into_iter().zip(&profiles) {
        r.report_for(Some(unit.name(asked)), &unit.diags, &unit.sources);
        let Some(built) = unit.built else {
            return ExitCode::FAILURE;
        };
        models.push((asked.clone(), built.model));
    }
    let mut models = models.into_iter();
    let Some((_, base)) = models.next() else {
        return ExitCode::FAILURE;
    };
    let profiles: Vec<(String, Model)> = models
        .filter_map(|(name, m)| name.map(|n| (n, m)))
        .collect();
    let text = luciac::docs::configuration_reference(&base, &profiles);
    let path = out.map(Path::to_path_buf).unwrap_or_else(|| {
        file.parent()
            .unwrap_or(Path::new("."))
            .join("infra/docs/configuration-reference.md")
    });
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            r.status("Checked", &format!("{}: up to date", path.display()));
            return ExitCode::SUCCESS;
        }
        let diff = similar::TextDiff::from_lines(&current, &text)
            .unified_diff()
            .header("on disk", "generated")
            .to_string();
        r.fail(
            Diag::error(
                diag::STALE,
                format!(
                    "{} is stale: it differs from a fresh `luciac docs`",
                    path.display()
                ),
            )
            .path(path.display().to_string())
            .help("run `luciac docs` and commit the result"),
        );
        r.detail(&diff);
        return ExitCode::FAILURE;
    }
    let mut files = luciac::pack::FileTree::new();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    files.insert(name, luciac::pack::text(text));
    let dir = path.parent().unwrap_or(Path::new("."));
    match output::write_bundle(dir, &files) {
        Ok(rep) => {
            report_written(dir, &rep, r);
            r.status("Finished", &format!("docs: {}", summary(&rep, dir)));
            ExitCode::SUCCESS
        }
        Err(e) => {
            write_failed(None, dir, &e, r);
            ExitCode::FAILURE
        }
    }
}

fn graph(file: &Path, profile: Option<&str>, r: &Reporter) -> ExitCode {
    let Some(built) = pipeline(file, profile, Strictness::default(), r) else {
        return ExitCode::FAILURE;
    };
    print!("{}", luciac::graph::dot(&built.model));
    ExitCode::SUCCESS
}

fn init(dir: &Path, template: &str, reporter: &Reporter) -> ExitCode {
    let mut failed = false;
    // clap has checked the name against the same list.
    let files = luciac::defaults::template(template).map_or(luciac::defaults::FILES, |t| t.files);
    for (rel, text) in files {
        let path = dir.join(rel);
        if path.exists() {
            reporter.status(
                "Kept",
                &format!("{} (exists; luciac init never overwrites)", path.display()),
            );
            continue;
        }
        let res = path
            .parent()
            .map(std::fs::create_dir_all)
            .unwrap_or(Ok(()))
            .and_then(|_| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            });
        match res {
            Ok(()) => reporter.status("Wrote", &path.display().to_string()),
            Err(e) => {
                reporter.fail(
                    Diag::error(
                        diag::WRITE_FAILED,
                        format!("cannot write {}: {e}", path.display()),
                    )
                    .path(path.display().to_string()),
                );
                failed = true;
            }
        }
    }
    if !failed {
        reporter.note(&format!(
            "next: edit {}, then `luciac build --profile prod`",
            dir.join("lucia.kdl").display()
        ));
    }
    exit(failed)
}

fn fmt(decl: &Path, files: &[PathBuf], check: bool, r: &Reporter) -> ExitCode {
    let files: Vec<PathBuf> = if files.is_empty() {
        let dir = decl.parent().unwrap_or(Path::new("."));
        std::iter::once(decl.to_path_buf())
            .chain(
                compile::list_profiles(decl)
                    .into_iter()
                    .map(|p| dir.join("profiles").join(format!("{p}.kdl"))),
            )
            .collect()
    } else {
        files.to_vec()
    };
    let mut failed = false;
    for path in &files {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "luciac: error[{}]: cannot read {shown}: {e}",
                    diag::READ_FILE.id
                );
                failed = true;
                continue;
            }
        };
        let mut sources = Sources::default();
        let id = sources.add(shown.clone(), text.clone());
        let formatted = match luciac::fmt::format(&text, id) {
            Ok(f) => f,
            Err(luciac::fmt::FmtError::Syntax(diags)) => {
                r.report(&diags, &sources);
                failed = true;
                continue;
            }
            Err(luciac::fmt::FmtError::Unstable) => {
                eprintln!(
                    "luciac: error: formatting {shown} would change its meaning; left unchanged (a bug in luciac fmt: please report it)"
                );
                failed = true;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if check {
            let diff = similar::TextDiff::from_lines(&text, &formatted)
                .unified_diff()
                .header(&shown, &format!("{shown} (formatted)"))
                .to_string();
            print!("{diff}");
            failed = true;
        } else {
            let tmp = path.with_extension("kdl.fmt-tmp");
            if let Err(e) =
                std::fs::write(&tmp, &formatted).and_then(|_| std::fs::rename(&tmp, path))
            {
                let _ = std::fs::remove_file(&tmp);
                eprintln!(
                    "luciac: error[{}]: cannot write {shown}: {e}",
                    diag::WRITE_FAILED.id
                );
                failed = true;
            } else {
                r.status("Formatted", &shown);
            }
        }
    }
    if check && failed {
        r.note("help: run `luciac fmt` to format these files");
    }
    exit(failed)
}

fn lock(file: &Path, mode: &luciac::lock::resolve::Mode, r: &Reporter) -> ExitCode {
    use luciac::lock::resolve::Mode;
    let out = luciac::lock::resolve::run(file, mode);
    for (sources, diags) in &out.reports {
        r.report(diags, sources);
    }
    if out.failed {
        r.note("luciac lock: nothing was written; lucia.lock is as it was");
        return ExitCode::FAILURE;
    }
    match r.format {
        MessageFormat::Json => r.json(&Message::LockReport {
            mode: match mode {
                Mode::Check => "check",
                Mode::Update(_) => "update",
                Mode::Lock => "lock",
            },
            changes: &out.changes,
            resolved: out.resolved,
            written: out.written,
        }),
        MessageFormat::Human => {
            for c in &out.changes {
                let verb = if *mode == Mode::Check {
                    "has moved"
                } else {
                    "pinned"
                };
                println!(
                    "{} {} {verb}: {} -> {}",
                    c.images.join(","),
                    c.reference,
                    c.old.as_deref().unwrap_or("(none)"),
                    c.new
                );
            }
            let lock_path = luciac::lock::file::path_for(file);
            r.note(&match (mode, out.written) {
                (Mode::Check, _) if out.changes.is_empty() => {
                    format!("{} resolved; every pin is current", out.resolved)
                }
                (Mode::Check, _) => format!(
                    "{} tag(s) moved; run `luciac lock --update` to take them",
                    out.changes.len()
                ),
                (_, true) => format!("wrote {} ({} resolved)", lock_path.display(), out.resolved),
                (_, false) => format!(
                    "{} is up to date ({} resolved)",
                    lock_path.display(),
                    out.resolved
                ),
            });
        }
    }
    if *mode == Mode::Check && !out.changes.is_empty() {
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}
