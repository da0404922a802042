//! The pipeline driver: files on disk → sources → model → bundle file tree.
//!
//! Only [`load`] and [`Project`] read the disk; everything after them is a pure function of
//! the loaded text, which is what makes bundles reproducible and `build --check` possible.
//!
//! A run over several profiles (`build --all`) reads, parses and decodes `lucia.kdl` once
//! ([`Project`]), compiles the base model once, and each profile then parses only its own file
//! and overlays it on a copy of the decoded base.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::decl::Decl;
use crate::diag::{self, Diag};
use crate::lock::LockFile;
use crate::model::Model;
use crate::resolve::Strictness;
use crate::source::{FileId, SourceFile, Sources, Span};
use crate::{decode, overlay, parse, resolve};

/// The loaded inputs of one compilation.
#[derive(Debug, Clone)]
pub struct Input {
    pub sources: Sources,
    pub base: FileId,
    /// Profile name and its file.
    pub profile: Option<(String, FileId)>,
    /// `lucia.lock` next to the declaration, when there is one (read here; never the network).
    pub lock: Option<LockFile>,
}

/// Profiles that exist next to the declaration, sorted.
pub fn list_profiles(decl_path: &Path) -> Vec<String> {
    let dir = decl_path
        .parent()
        .map(|p| p.join("profiles"))
        .unwrap_or_else(|| PathBuf::from("profiles"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".kdl"))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn read(path: &Path, shown: &str, diags: &mut Vec<Diag>, sources: &mut Sources) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                let id = sources.add(shown, "");
                diags.push(
                    Diag::error(diag::READ_FILE, format!("`{shown}` is not UTF-8 text"))
                        .label(
                            Span {
                                file: id,
                                offset: 0,
                                len: 0,
                            },
                            "here",
                        )
                        .help("save the file as UTF-8"),
                );
                None
            }
        },
        Err(e) => {
            let id = sources.add(shown, "");
            diags.push(
                Diag::error(
                    diag::READ_FILE,
                    format!("cannot read `{shown}`: {}", e.kind()),
                )
                .label(
                    Span {
                        file: id,
                        offset: 0,
                        len: 0,
                    },
                    "",
                )
                .help(if e.kind() == std::io::ErrorKind::NotFound {
                    "run `luciac init` to start from the default declaration, or pass `-f FILE`"
                        .to_string()
                } else {
                    "check the file's permissions".to_string()
                }),
            );
            None
        }
    }
}

/// Read the declaration into `sources`.
fn read_base(decl_path: &Path, sources: &mut Sources, diags: &mut Vec<Diag>) -> Option<FileId> {
    let name = decl_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "lucia.kdl".into());
    let shown = decl_path.display().to_string();
    let text = read(decl_path, &shown, diags, sources)?;
    Some(sources.add_shown(name, shown, text))
}

/// Read `profiles/<name>.kdl` next to the declaration into `sources`; an unknown name is
/// E0003, with the profiles that exist.
fn read_profile(
    decl_path: &Path,
    name: &str,
    sources: &mut Sources,
    diags: &mut Vec<Diag>,
) -> Option<FileId> {
    let known = list_profiles(decl_path);
    if !known.iter().any(|k| k == name) {
        let help = if known.is_empty() {
            "no profiles exist: create profiles/NAME.kdl next to the declaration, or build without --profile".to_string()
        } else {
            let mut h = format!("profiles that exist: {}", known.join(", "));
            if let Some(s) = diag::did_you_mean(name, known.iter().map(String::as_str)) {
                h = format!("did you mean `{s}`? {h}");
            }
            h
        };
        diags.push(
            Diag::error(
                diag::UNKNOWN_PROFILE,
                format!("there is no profile `{name}`"),
            )
            .help(help),
        );
        return None;
    }
    let path = decl_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("profiles")
        .join(format!("{name}.kdl"));
    let logical = format!("profiles/{name}.kdl");
    let shown = path.display().to_string();
    let text = read(&path, &shown, diags, sources)?;
    Some(sources.add_shown(logical, shown, text))
}

/// Read `lucia.lock` next to the declaration (`Ok(None)` when there is none).
fn read_lock(decl_path: &Path, diags: &mut Vec<Diag>) -> Result<Option<LockFile>, ()> {
    crate::lock::file::read(decl_path).map_err(|e| {
        diags.push(
            Diag::error(diag::LOCK_UNREADABLE, e)
                .path(crate::lock::file::path_for(decl_path).display().to_string())
                .help(
                    "restore lucia.lock from version control, or delete it and run `luciac lock`",
                ),
        );
    })
}

/// Read the declaration and, if asked, `profiles/<profile>.kdl` next to it.
pub fn load(decl_path: &Path, profile: Option<&str>, diags: &mut Vec<Diag>) -> Option<Input> {
    let mut sources = Sources::default();
    let base = read_base(decl_path, &mut sources, diags)?;
    load_configs(decl_path, diags, &mut sources);
    let profile = match profile {
        None => None,
        Some(name) => Some((
            name.to_string(),
            read_profile(decl_path, name, &mut sources, diags)?,
        )),
    };
    let lock = read_lock(decl_path, diags).ok()?;
    Some(Input {
        sources,
        base,
        profile,
        lock,
    })
}

/// At most this many files are read from `configs/`, each at most 1 MiB (the resolver refuses
/// larger ones with a diagnostic; reading stops a little above so it can say so).
const MAX_CONFIG_FILES: usize = 256;
const MAX_CONFIG_READ: u64 = (1 << 20) + 1;

/// Every regular file in `configs/` next to the declaration (not recursive), in name order, as
/// sources named `configs/NAME`: `config … file="configs/NAME"` reads them, and as sources they
/// are inputs hashed into the bundle manifest. A missing directory is no error.
fn load_configs(decl_path: &Path, diags: &mut Vec<Diag>, sources: &mut Sources) {
    use std::io::Read;
    let dir = decl_path.parent().unwrap_or(Path::new(".")).join("configs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .collect();
    files.sort();
    for (name, path) in files.into_iter().take(MAX_CONFIG_FILES) {
        let shown = path.display().to_string();
        let mut bytes = Vec::new();
        let read = std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_CONFIG_READ).read_to_end(&mut bytes));
        match read.map(|_| String::from_utf8(bytes)) {
            Ok(Ok(text)) => {
                sources.add_shown(format!("configs/{name}"), shown, text);
            }
            Ok(Err(_)) => diags.push(
                Diag::error(diag::CONFIG_FILE, format!("`{shown}` is not UTF-8 text"))
                    .path(shown.clone())
                    .help("config files are text; keep binary files out of configs/ (use a volume or a bind mount)"),
            ),
            Err(e) => diags.push(
                Diag::error(diag::READ_FILE, format!("cannot read `{shown}`: {}", e.kind()))
                    .path(shown.clone())
                    .help("check the file's permissions"),
            ),
        }
    }
}

/// `lucia.kdl` after the front end (parsed and decoded), with the diagnostics each step
/// reported: computed once and shared by the base model and every profile compiled over it.
#[derive(Debug, Clone)]
pub struct Front {
    /// The base file's id and text in the inputs this was made from.
    file: FileId,
    text: Arc<String>,
    parse_diags: Vec<Diag>,
    /// `None` when the base did not parse.
    decl: Option<Decl>,
    decode_diags: Vec<Diag>,
}

impl Front {
    /// Parse and decode the base declaration of `input`.
    pub fn new(input: &Input) -> Front {
        let text = input
            .sources
            .get(input.base)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let mut parse_diags = Vec::new();
        let doc = parse::parse(&text, input.base, &mut parse_diags);
        let mut decode_diags = Vec::new();
        let decl = doc.map(|d| decode::decode(&d, input.base, false, &mut decode_diags));
        Front {
            file: input.base,
            text,
            parse_diags,
            decl,
            decode_diags,
        }
    }

    /// Whether `input`'s base is the file this was made from.
    fn fits(&self, input: &Input) -> bool {
        self.file == input.base
            && input
                .sources
                .get(input.base)
                .is_some_and(|f| Arc::ptr_eq(&f.text, &self.text) || f.text == self.text)
    }
}

/// Parse, decode, overlay and resolve. `None` when any error was found (all are in `diags`).
pub fn compile(input: &Input, strict: Strictness, diags: &mut Vec<Diag>) -> Option<Model> {
    let mut front = Front::new(input);
    let decl = front.decl.take();
    compile_with(&front, decl, input, strict, diags)
}

/// [`compile`] over a base already parsed and decoded (`decl` is `front`'s, or a copy).
///
/// Diagnostics come in the order of a compilation from scratch: the base's syntax errors, the
/// profile's, the base's decoding errors, the profile's, then overlay, pins and resolution.
fn compile_with(
    front: &Front,
    decl: Option<Decl>,
    input: &Input,
    strict: Strictness,
    diags: &mut Vec<Diag>,
) -> Option<Model> {
    diags.extend(front.parse_diags.iter().cloned());
    let profile_doc = input.profile.as_ref().and_then(|(_, id)| {
        let t = input.sources.get(*id)?.text.clone();
        parse::parse(&t, *id, diags).map(|d| (d, *id))
    });
    let base = decl?;
    diags.extend(front.decode_diags.iter().cloned());
    let mut decl = match (&input.profile, profile_doc) {
        (Some(_), Some((doc, id))) => {
            let p = decode::decode(&doc, id, true, diags);
            overlay::overlay(base, p, diags)
        }
        (Some(_), None) => return None,
        (None, _) => base,
    };
    crate::lock::apply(&mut decl, input.lock.as_ref(), strict, diags);
    let mut model = resolve::resolve(
        &decl,
        input.profile.as_ref().map(|(n, _)| n.as_str()),
        &input.sources,
        strict,
        diags,
    )?;
    if let Some(f) = input.sources.get(input.base) {
        model.source_file = f.name.clone();
    }
    Some(model)
}

/// The model of the base declaration alone, which the shared artifacts (the Helm chart, the
/// Kustomize base) are built from when a profile is given; `None` without a profile (the
/// profile-less model is the base) or when the base has errors.
///
/// The base must be valid by itself even when every profile repairs it: otherwise the shared
/// artifacts would have to come from some profile's model and differ between bundles. Its
/// errors are added to `diags`, except those the profile's compilation reported already (a
/// base error the profile does not touch appears there too, with the same span). Warnings are
/// left to the profile's compilation, and the base is compiled without `--locked`: a profile
/// may pin images by digest that the base leaves open.
pub fn compile_base(input: &Input, diags: &mut Vec<Diag>) -> Option<Model> {
    input.profile.as_ref()?;
    let base_only = Input {
        sources: input.sources.clone(),
        base: input.base,
        profile: None,
        lock: input.lock.clone(),
    };
    let mut own = Vec::new();
    let model = compile(&base_only, Strictness::default(), &mut own);
    add_base_errors(&own, diags);
    model
}

/// The base's own errors that the profile's compilation has not reported, each with a note
/// on why the base must be valid alone.
fn add_base_errors(own: &[Diag], diags: &mut Vec<Diag>) {
    for d in own.iter().filter(|d| d.is_error()) {
        if !diags.contains(d) {
            let help = d.help.clone().map_or(String::new(), |h| format!("{h}; "));
            diags.push(d.clone().help(format!(
                "{help}lucia.kdl must be valid on its own, even where a profile overrides it: the Helm chart and the Kustomize base are built from it alone"
            )));
        }
    }
}

/// A declaration and its lock, read, parsed and decoded once for every profile compiled
/// over it; the base model, which every profile's shared artifacts come from, is compiled
/// once too, on first use. Shared between threads, one per profile.
#[derive(Debug)]
pub struct Project {
    path: PathBuf,
    /// The declaration, as every input built from here carries it (file 0).
    base: SourceFile,
    /// The files of `configs/`, read once, after the declaration in every input.
    configs: Vec<SourceFile>,
    lock: Option<LockFile>,
    front: Front,
    base_model: OnceLock<(Option<Model>, Vec<Diag>)>,
}

impl Project {
    /// Read the declaration and `lucia.lock` next to it, and parse and decode the declaration.
    /// `None` when a file cannot be read (reported in `diags`).
    pub fn load(decl_path: &Path, diags: &mut Vec<Diag>) -> Option<Project> {
        let mut sources = Sources::default();
        let id = read_base(decl_path, &mut sources, diags)?;
        load_configs(decl_path, diags, &mut sources);
        let lock = read_lock(decl_path, diags).ok()?;
        let base = sources.get(id)?.clone();
        let configs = sources.files.iter().skip(id + 1).cloned().collect();
        let input = Input {
            sources,
            base: id,
            profile: None,
            lock,
        };
        let front = Front::new(&input);
        Some(Project {
            path: decl_path.to_path_buf(),
            base,
            configs,
            lock: input.lock,
            front,
            base_model: OnceLock::new(),
        })
    }

    /// The path of the declaration.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The inputs of one compilation: the declaration and, if asked, `profiles/<profile>.kdl`
    /// (read here).
    pub fn input(&self, profile: Option<&str>, diags: &mut Vec<Diag>) -> Option<Input> {
        let mut sources = Sources::default();
        sources.files.push(self.base.clone());
        sources.files.extend(self.configs.iter().cloned());
        let profile = match profile {
            None => None,
            Some(name) => Some((
                name.to_string(),
                read_profile(&self.path, name, &mut sources, diags)?,
            )),
        };
        Some(Input {
            sources,
            base: 0,
            profile,
            lock: self.lock.clone(),
        })
    }

    /// [`compile`] an input made by [`Project::input`], from the decoded base.
    pub fn compile(
        &self,
        input: &Input,
        strict: Strictness,
        diags: &mut Vec<Diag>,
    ) -> Option<Model> {
        if !self.front.fits(input) {
            return compile(input, strict, diags);
        }
        compile_with(&self.front, self.front.decl.clone(), input, strict, diags)
    }

    /// [`compile_base`] for an input made by [`Project::input`], from the base model compiled
    /// once: `None` without a profile or when the base has errors (added to `diags` as there).
    pub fn compile_base(&self, input: &Input, diags: &mut Vec<Diag>) -> Option<&Model> {
        input.profile.as_ref()?;
        let (model, own) = self.base_model.get_or_init(|| {
            let mut own = Vec::new();
            let model = self
                .input(None, &mut own)
                .and_then(|alone| self.compile(&alone, Strictness::default(), &mut own));
            (model, own)
        });
        add_base_errors(own, diags);
        model.as_ref()
    }
}

/// Compile a declaration held in memory (tests, benchmarks, `luciac init` self-check).
pub fn compile_str(
    base: &str,
    profile: Option<(&str, &str)>,
    strict: Strictness,
    diags: &mut Vec<Diag>,
) -> (Sources, Option<Model>) {
    let mut sources = Sources::default();
    let b = sources.add("lucia.kdl", base);
    let p = profile.map(|(name, text)| {
        (
            name.to_string(),
            sources.add(format!("profiles/{name}.kdl"), text),
        )
    });
    let input = Input {
        sources,
        base: b,
        profile: p,
        lock: None,
    };
    let model = compile(&input, strict, diags);
    (input.sources, model)
}
