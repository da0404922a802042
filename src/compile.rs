//! The pipeline driver: files on disk → sources → model → bundle file tree.
//!
//! Only [`load`] reads the disk; everything after it is a pure function of the loaded text,
//! which is what makes bundles reproducible and `build --check` possible.

use std::path::{Path, PathBuf};

use crate::decl::Decl;
use crate::diag::{self, Diag};
use crate::model::Model;
use crate::resolve::Strictness;
use crate::source::{FileId, Sources, Span};
use crate::{decode, overlay, parse, resolve};

/// The loaded inputs of one compilation.
#[derive(Debug, Clone)]
pub struct Input {
    pub sources: Sources,
    pub base: FileId,
    /// Profile name and its file.
    pub profile: Option<(String, FileId)>,
    /// `lucia.lock` next to the declaration, when there is one (read here; never the network).
    pub lock: Option<crate::lock::LockFile>,
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

/// Read the declaration and, if asked, `profiles/<profile>.kdl` next to it.
pub fn load(decl_path: &Path, profile: Option<&str>, diags: &mut Vec<Diag>) -> Option<Input> {
    let mut sources = Sources::default();
    let name = decl_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "lucia.kdl".into());
    let shown = decl_path.display().to_string();
    let text = read(decl_path, &shown, diags, &mut sources)?;
    let base = sources.add_shown(name, shown, text);
    load_configs(decl_path, diags, &mut sources);
    let profile = match profile {
        None => None,
        Some(name) => {
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
            let text = read(&path, &shown, diags, &mut sources)?;
            Some((name.to_string(), sources.add_shown(logical, shown, text)))
        }
    };
    let lock = match crate::lock::file::read(decl_path) {
        Ok(lock) => lock,
        Err(e) => {
            diags.push(
                Diag::error(diag::LOCK_UNREADABLE, e)
                    .path(crate::lock::file::path_for(decl_path).display().to_string())
                    .help("restore lucia.lock from version control, or delete it and run `luciac lock`"),
            );
            return None;
        }
    };
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

/// Parse, decode, overlay and resolve. `None` when any error was found (all are in `diags`).
pub fn compile(input: &Input, strict: Strictness, diags: &mut Vec<Diag>) -> Option<Model> {
    let mut decl = merged(input, diags)?;
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
    for d in own.into_iter().filter(Diag::is_error) {
        if !diags.contains(&d) {
            let help = d.help.clone().map_or(String::new(), |h| format!("{h}; "));
            diags.push(d.help(format!(
                "{help}lucia.kdl must be valid on its own, even where a profile overrides it: the Helm chart and the Kustomize base are built from it alone"
            )));
        }
    }
    model
}

/// The declaration with the profile applied, before resolution.
fn merged(input: &Input, diags: &mut Vec<Diag>) -> Option<Decl> {
    let text = input.sources.get(input.base)?.text.clone();
    let base_doc = parse::parse(&text, input.base, diags);
    let profile_doc = input.profile.as_ref().and_then(|(_, id)| {
        let t = input.sources.get(*id)?.text.clone();
        parse::parse(&t, *id, diags).map(|d| (d, *id))
    });
    let base = decode::decode(&base_doc?, input.base, false, diags);
    let decl = match (&input.profile, profile_doc) {
        (Some(_), Some((doc, id))) => {
            let p = decode::decode(&doc, id, true, diags);
            overlay::overlay(base, p, diags)
        }
        (Some(_), None) => return None,
        (None, _) => base,
    };
    Some(decl)
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
