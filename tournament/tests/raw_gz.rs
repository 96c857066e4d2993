//! Archived run folders: `raw.jsonl.gz` in place of `raw.jsonl` reads back to the same samples,
//! regenerates the same report byte for byte and validates; a damaged archive is an error naming
//! the file, never a panic.

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use tournament::merge::is_run_dir;
use tournament::raw::{self, RAW_JSONL, RAW_JSONL_GZ};
use tournament::report::{regenerate, validate};

mod report_fixture;
use report_fixture::*;

/// Replaces `dir/raw.jsonl` by `dir/raw.jsonl.gz` (as `gzip -9 raw.jsonl` does).
fn archive(dir: &Path) {
    let plain = fs::read(dir.join(RAW_JSONL)).unwrap();
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&plain).unwrap();
    fs::write(dir.join(RAW_JSONL_GZ), gz.finish().unwrap()).unwrap();
    fs::remove_file(dir.join(RAW_JSONL)).unwrap();
}

fn report_files(dir: &Path) -> Vec<Vec<u8>> {
    ["summary.csv", "SUMMARY.md", "verdicts.csv"]
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect()
}

#[test]
fn an_archived_run_reads_regenerates_and_validates_like_the_plain_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_run(dir, &valid_samples());
    regenerate(dir).unwrap();
    let before = report_files(dir);
    let (samples_plain, _) = raw::load_run(dir).unwrap();

    archive(dir);
    assert_eq!(raw::raw_path(dir), dir.join(RAW_JSONL_GZ));
    assert!(is_run_dir(dir), "a folder with env.json and raw.jsonl.gz is a run folder");
    let (samples_gz, _) = raw::load_run(dir).unwrap();
    assert_eq!(samples_gz.len(), samples_plain.len());
    assert_eq!(
        serde_json::to_string(&samples_gz).unwrap(),
        serde_json::to_string(&samples_plain).unwrap()
    );

    regenerate(dir).unwrap();
    assert_eq!(report_files(dir), before, "the archive regenerates the same report");
    let v = validate::validate_dir(dir).unwrap();
    assert!(v.is_empty(), "{}", validate::format_violations(&v));
}

#[test]
fn the_plain_file_wins_when_both_exist() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path(), &valid_samples());
    fs::write(tmp.path().join(RAW_JSONL_GZ), b"not gzip").unwrap();
    assert_eq!(raw::raw_path(tmp.path()), tmp.path().join(RAW_JSONL));
    raw::load_run(tmp.path()).unwrap();
}

#[test]
fn a_truncated_or_garbled_archive_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_run(dir, &valid_samples());
    archive(dir);
    let gz = fs::read(dir.join(RAW_JSONL_GZ)).unwrap();

    fs::write(dir.join(RAW_JSONL_GZ), &gz[..gz.len() / 2]).unwrap();
    let e = format!("{:#}", raw::load_run(dir).unwrap_err());
    assert!(e.contains(RAW_JSONL_GZ), "{e}");

    fs::write(dir.join(RAW_JSONL_GZ), b"\x1f\x8b garbage that is not a gzip stream").unwrap();
    let e = format!("{:#}", raw::load_run(dir).unwrap_err());
    assert!(e.contains(RAW_JSONL_GZ), "{e}");
}
