//! The product never cites a path outside its own repository: no source file, doc or script may
//! send a reader to a sibling checkout or a planning folder. Design background lives in `docs/`
//! (`docs/ARCHITECTURE.md`, `docs/MEASUREMENT.md`, `docs/REFERENCE-MACHINE.md`,
//! `docs/HISTORY.md`); this test keeps it that way.

use std::fs;
use std::path::{Path, PathBuf};

/// Markers of a reference to something outside the repository. Spelled in pieces so this file
/// does not match itself.
fn forbidden() -> Vec<String> {
    [
        ["../", "shared"].concat(),
        ["shared", "/reference"].concat(),
        ["shared", "/DESIGN"].concat(),
        ["planning ", "repository"].concat(),
        ["DESIGN", ".md"].concat(),
        ["anchors", ".md"].concat(),
        ["contenders", ".md"].concat(),
        ["benchmarks", ".md"].concat(),
    ]
    .into_iter()
    .collect()
}

/// Text files under `dir`, skipping build output and hidden folders.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&p, out);
            }
        } else if ["rs", "md", "toml", "sh", "yml"].iter().any(|x| name.ends_with(&format!(".{x}")))
            || name == "Makefile"
        {
            out.push(p);
        }
    }
}

#[test]
fn no_reference_leaves_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let mut files = Vec::new();
    for d in ["crates", "tournament", "docs", "scripts", "examples", ".github", ".ci"] {
        walk(&root.join(d), &mut files);
    }
    for f in ["README.md", "REPRODUCIBILITY.md", "Makefile", "Cargo.toml", "results/SCHEMA.md"] {
        files.push(root.join(f));
    }
    assert!(
        files.iter().any(|f| f.ends_with("docs/ARCHITECTURE.md")),
        "docs/ARCHITECTURE.md is missing"
    );
    let needles = forbidden();
    let mut hits = Vec::new();
    for f in &files {
        let Ok(text) = fs::read_to_string(f) else { continue };
        for (i, line) in text.lines().enumerate() {
            if let Some(n) = needles.iter().find(|n| line.contains(n.as_str())) {
                let rel = f.strip_prefix(root).unwrap_or(f);
                hits.push(format!("{}:{}: `{n}` in: {}", rel.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "references to paths outside the repository (point to docs/ instead):\n{}",
        hits.join("\n")
    );
}
