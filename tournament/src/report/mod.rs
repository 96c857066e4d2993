//! Reports: render a run folder's rows and verdicts as `summary.csv`, `SUMMARY.md` and
//! `plots/`, and validate the folder. Only rendering lives here: the raw-record format is owned
//! by [`crate::raw`], the reduction to rows by [`crate::summarize`], the paired comparisons and
//! verdicts by [`crate::verdict`].
//!
//! Reports are regenerated from `raw.jsonl` (the authority) and `env.json` (provenance) alone —
//! [`regenerate`] — never from the memory of a run, and the output is byte-identical for the
//! same input.

mod cell_notes;
mod csv;
pub mod headline;
pub mod headline_plot;
mod markdown;
pub mod plots;
pub mod text;
pub mod validate;
pub mod verdicts_csv;

use std::fs;
use std::path::Path;

use anyhow::Context;

pub use self::csv::{
    HEADER as SUMMARY_COLUMNS, SUMMARY_CSV, has_memory_columns, header as summary_header,
    render_csv, row_fields, write_csv,
};
pub use self::markdown::{SUMMARY_MD, render_markdown, write_markdown};
use crate::raw::load_run;
use crate::record::CellStatus;
use crate::summarize::summarize_for;

/// Regenerates `summary.csv`, `SUMMARY.md` and `plots/` in a run folder from its `raw.jsonl`
/// and `env.json`, then validates the folder ([`validate::validate_dir`]). Idempotent: the same
/// inputs give byte-identical files. `raw.jsonl` and `env.json` are only read.
///
/// # Errors
/// The inputs cannot be loaded ([`load_run`](crate::raw::load_run)); an output cannot be written; or the written
/// folder fails validation (the error lists every violation — e.g. a planned cell with neither
/// samples nor a declared gap). The files are written before validating, so they can be
/// inspected.
pub fn regenerate(dir: &Path) -> anyhow::Result<Outcome> {
    let (samples, prov) = load_run(dir)?;
    let rows = summarize_for(&samples, Some(&prov));
    let (flagship, margin) = crate::verdict::settings(&prov);
    let comps = crate::verdict::compare_all(&samples, &rows, &flagship, margin);
    write_csv(dir, &rows)?;
    verdicts_csv::write(dir, &comps, margin)?;
    plots::write_plots(dir, &rows, &prov)?;
    headline_plot::write(dir, &comps, &flagship, margin)?;
    write_atomic(
        dir,
        SUMMARY_MD,
        markdown::render_with(&rows, &prov, &samples, &comps, &flagship, margin).as_bytes(),
    )?;
    validate::ensure_valid(dir)?;
    let summary = dir.join(SUMMARY_MD).display().to_string();
    Ok(Outcome {
        headline: headline::terminal(&comps, &flagship, margin, &summary),
        failed_cells: rows
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    CellStatus::Failed | CellStatus::Disqualified | CellStatus::Missing
                )
            })
            .map(|r| {
                format!("{} · {} · {}: {}", r.workload, r.param, r.contender, r.status.as_str())
            })
            .collect(),
    })
}

/// What [`regenerate`] tells its caller besides the files it wrote.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The headline as plain text for the terminal ([`headline::terminal`]).
    pub headline: String,
    /// Every cell that failed, was disqualified or is missing, as `workload · param ·
    /// contender: status` (what `run --strict` exits non-zero on).
    pub failed_cells: Vec<String>,
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so a reader never sees
/// a half-written report. Never writes through a symlink: a stale temporary (or a link planted
/// in its place) is removed and the temporary created anew, and the rename replaces a link at
/// `dir/name` itself, not the file it points to.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    if fs::symlink_metadata(&tmp).is_ok() {
        fs::remove_file(&tmp)
            .with_context(|| format!("removing the stale temporary {}", tmp.display()))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, &path).with_context(|| format!("renaming {} into place", tmp.display()))
}

/// Creates the report's own folder `dir` (e.g. `plots/`) if needed, refusing one that is a
/// symlink: the report writes and prunes files there, and must not do so in a folder elsewhere.
///
/// # Errors
/// `dir` is a symlink, or cannot be created.
pub(crate) fn own_dir(dir: &Path) -> anyhow::Result<()> {
    if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        anyhow::bail!(
            "{} is a symlink; refusing to write (and prune) report files through it",
            dir.display()
        );
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}
