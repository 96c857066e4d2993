//! Build-time provenance of the `tournament` binary, compiled into it and written to every run's
//! `env.json` (`env::BuildInfo`): what was built, how, and from which sources — as opposed to
//! what happens to be on `PATH` or in the current directory when the binary later runs.
//!
//! * `OUT_DIR/built.rs` (the `built` crate): rustc version, target and host triples, cargo's
//!   `PROFILE`, `OPT_LEVEL` and `DEBUG`, enabled features.
//! * `OUT_DIR/build_extra.rs` (this script): LTO and codegen units of the profile (read from the
//!   workspace manifest's `[profile.*]` tables with cargo's documented defaults and its
//!   `CARGO_PROFILE_<NAME>_*` environment overrides, since cargo does not pass them to build
//!   scripts), `RUSTFLAGS` (`CARGO_ENCODED_RUSTFLAGS`), the git commit and whether the sources
//!   compiled into the binary differed from it, and the locked versions of every direct
//!   dependency of the workspace's crates (from `Cargo.lock`).
//!
//! The script reruns when a source that goes into the binary changes (the crates' `src/` and
//! manifests, `Cargo.lock`), so the recorded dirty flag describes the compiled sources. It does
//! not rerun for a commit that changes no such source: then the recorded commit is the one the
//! sources were compiled at, which still identifies them.

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    built::write_built_file().expect("writing OUT_DIR/built.rs");

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root =
        manifest_dir.parent().expect("tournament/ lives in the workspace root").to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    let sources = source_paths(&root);
    for p in &sources {
        println!("cargo:rerun-if-changed={}", p.display());
    }

    let profile = profile_name(&out_dir);
    let env_key = profile.to_uppercase().replace('-', "_");
    let table = profile_table(&root.join("Cargo.toml"), &profile);
    let lto = env::var(format!("CARGO_PROFILE_{env_key}_LTO"))
        .ok()
        .or_else(|| table.get("lto").cloned())
        .unwrap_or_else(|| "false".to_string());
    let codegen_units = env::var(format!("CARGO_PROFILE_{env_key}_CODEGEN_UNITS"))
        .ok()
        .or_else(|| table.get("codegen-units").cloned())
        // Cargo's defaults: 256 for incremental (dev-like) builds, 16 otherwise.
        .unwrap_or_else(|| {
            if profile == "release" || profile == "bench" { "16" } else { "256" }.into()
        });
    for name in ["LTO", "CODEGEN_UNITS", "OPT_LEVEL"] {
        println!("cargo:rerun-if-env-changed=CARGO_PROFILE_{env_key}_{name}");
    }
    let rustflags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default().replace('\u{1f}', " ");

    let (git_sha, git_dirty, dirty_files) = git_state(&root, &sources);
    let deps = direct_dependency_versions(&root.join("Cargo.lock"));

    let mut s = String::new();
    let q = |v: &str| format!("{v:?}");
    let _ = writeln!(
        s,
        "/// Profile the binary was built with (`release`, `dev`, or a custom profile's name)."
    );
    let _ = writeln!(s, "pub const PROFILE_DIR: &str = {};", q(&profile));
    let _ = writeln!(s, "/// `lto` of that profile (`false`, `thin`, `fat`, `true`, `off`).");
    let _ = writeln!(s, "pub const LTO: &str = {};", q(lto.trim_matches('"')));
    let _ = writeln!(s, "/// `codegen-units` of that profile.");
    let _ = writeln!(s, "pub const CODEGEN_UNITS: &str = {};", q(&codegen_units));
    let _ = writeln!(
        s,
        "/// `RUSTFLAGS` the crate was compiled with (space-separated), empty if none."
    );
    let _ = writeln!(s, "pub const RUSTFLAGS: &str = {};", q(&rustflags));
    let _ = writeln!(s, "/// `git rev-parse HEAD` at build time, or `unknown`.");
    let _ = writeln!(s, "pub const GIT_SHA: &str = {};", q(&git_sha));
    let _ = writeln!(
        s,
        "/// Whether the compiled sources differed from `GIT_SHA`; `None` if git could not tell."
    );
    let _ = writeln!(s, "pub const GIT_DIRTY: Option<bool> = {git_dirty:?};");
    let _ = writeln!(s, "/// `git status --porcelain` lines of the compiled sources (at most 50).");
    let _ = writeln!(s, "pub const GIT_DIRTY_FILES: &[&str] = &{:?};", dirty_files);
    let _ = writeln!(s, "/// The workspace's `Cargo.lock` the versions below were read from.");
    let _ = writeln!(
        s,
        "pub const CARGO_LOCK: &str = {};",
        q(&root.join("Cargo.lock").display().to_string())
    );
    let _ =
        writeln!(s, "/// (crate, locked version) of every direct dependency of a workspace crate.");
    let _ = writeln!(s, "pub const DEPENDENCIES: &[(&str, &str)] = &{:?};", deps);
    fs::write(out_dir.join("build_extra.rs"), s).expect("writing OUT_DIR/build_extra.rs");
}

/// The profile's name, from the target directory cargo builds it in (`target/<dir>/build/…/out`):
/// `debug` stands for `dev` (and `test`), `release` for `release` (and `bench`, which builds in
/// the same directory).
fn profile_name(out_dir: &Path) -> String {
    // OUT_DIR = <target>/<profile-dir>/build/<pkg-hash>/out, possibly with a <triple>/ level.
    let dir = out_dir
        .ancestors()
        .nth(3)
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| env::var("PROFILE").unwrap_or_default());
    if dir == "debug" { "dev".to_string() } else { dir }
}

/// The `key = value` lines of `[profile.<name>]` in a manifest (values with quotes stripped), a
/// minimal reader sufficient for the scalar keys read here. A custom profile's `inherits` is not
/// followed; built-in profiles fall back to cargo's defaults for absent keys.
fn profile_table(manifest: &Path, name: &str) -> BTreeMap<String, String> {
    let text = fs::read_to_string(manifest).unwrap_or_default();
    let header = format!("[profile.{name}]");
    let mut inside = false;
    let mut map = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                let v = v.split('#').next().unwrap_or("").trim().trim_matches('"');
                map.insert(k.trim().to_string(), v.to_string());
            }
        }
    }
    map
}

/// The paths whose contents go into the binary: the workspace manifest and lock, and each
/// workspace crate's manifest, `src/` and `build.rs`.
fn source_paths(root: &Path) -> Vec<PathBuf> {
    let mut paths = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    let mut crates: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    crates.sort();
    crates.push(root.join("tournament"));
    for c in crates {
        for item in ["Cargo.toml", "src", "build.rs"] {
            let p = c.join(item);
            if p.exists() {
                paths.push(p);
            }
        }
    }
    paths
}

/// (HEAD or `unknown`, dirty flag of `paths`, the first 50 porcelain lines), from the git CLI;
/// `--no-optional-locks` so the probe never writes to the repository.
fn git_state(root: &Path, paths: &[PathBuf]) -> (String, Option<bool>, Vec<String>) {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let Some(sha) = git(&["rev-parse", "HEAD"]).map(|s| s.trim().to_string()) else {
        return ("unknown".to_string(), None, Vec::new());
    };
    let mut args = vec!["--no-optional-locks", "status", "--porcelain", "--"];
    let rel: Vec<String> = paths
        .iter()
        .filter_map(|p| p.strip_prefix(root).ok())
        .map(|p| p.display().to_string())
        .collect();
    args.extend(rel.iter().map(String::as_str));
    match git(&args) {
        Some(text) => {
            let lines: Vec<String> =
                text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
            (sha, Some(!lines.is_empty()), lines.into_iter().take(50).collect())
        }
        None => (sha, None, Vec::new()),
    }
}

/// (name, version) of every package a workspace crate depends on directly, from `Cargo.lock`:
/// workspace crates are the `[[package]]` entries without a `source`; their `dependencies`
/// lists name the others (`"name"` or `"name version"` when several versions are locked).
fn direct_dependency_versions(lock: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(lock).unwrap_or_default();
    struct Pkg {
        name: String,
        version: String,
        local: bool,
        deps: Vec<String>,
    }
    let mut pkgs: Vec<Pkg> = Vec::new();
    let mut in_deps = false;
    for line in text.lines().map(str::trim) {
        if line == "[[package]]" {
            pkgs.push(Pkg {
                name: String::new(),
                version: String::new(),
                local: true,
                deps: Vec::new(),
            });
            in_deps = false;
            continue;
        }
        let Some(p) = pkgs.last_mut() else { continue };
        if in_deps {
            if line.starts_with(']') {
                in_deps = false;
            } else {
                p.deps.push(line.trim_end_matches(',').trim_matches('"').to_string());
            }
        } else if let Some(v) = line.strip_prefix("name = ") {
            p.name = v.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("version = ") {
            p.version = v.trim_matches('"').to_string();
        } else if line.starts_with("source = ") {
            p.local = false;
        } else if line.starts_with("dependencies = [") {
            in_deps = !line.ends_with(']');
        }
    }
    let local: Vec<&str> = pkgs.iter().filter(|p| p.local).map(|p| p.name.as_str()).collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in pkgs.iter().filter(|p| p.local) {
        for d in &p.deps {
            let (name, version) = match d.split_once(' ') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (d.clone(), None),
            };
            if local.contains(&name.as_str()) {
                continue;
            }
            let version = version.or_else(|| {
                pkgs.iter().find(|q| q.name == name && !q.local).map(|q| q.version.clone())
            });
            if let Some(v) = version {
                let list = out.entry(name).or_default();
                if !list.contains(&v) {
                    list.push(v);
                }
            }
        }
    }
    out.into_iter().map(|(k, v)| (k, v.join(", "))).collect()
}
