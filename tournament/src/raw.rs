//! The raw-record format's one owner: `raw.jsonl` is written, read and indexed for `--resume`
//! here and nowhere else.
//!
//! `raw.jsonl` holds one [`RawSample`] per line (schema: [`crate::record`]) and is the authority
//! of a run folder: every other file is regenerated from it. Writers flush each line as soon as
//! it is measured ([`RawWriter`]); readers ([`read_raw`], [`load_run`]) name the file and the
//! 1-based line of any defect; [`ResumeIndex`] says which records an interrupted run already
//! holds.
//!
//! An archived run folder (one committed to a repository) may hold `raw.jsonl.gz` instead, the
//! same bytes gzip-compressed (`gzip -9 raw.jsonl`): every reader takes either ([`raw_path`]);
//! only `--resume` needs the plain file, to append to it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::env::Provenance;
use crate::record::{RAW_SCHEMA_VERSION, RawSample, SampleStatus};
use crate::stats;

/// File name of the raw samples inside a run folder.
pub const RAW_JSONL: &str = "raw.jsonl";

/// File name of the raw samples of an archived run folder: [`RAW_JSONL`] gzip-compressed.
pub const RAW_JSONL_GZ: &str = "raw.jsonl.gz";

/// The raw samples of run folder `dir`: `raw.jsonl` when it exists, else `raw.jsonl.gz` when
/// that exists, else the path of `raw.jsonl` (so a missing file is reported under its usual name).
pub fn raw_path(dir: &Path) -> PathBuf {
    let plain = dir.join(RAW_JSONL);
    let gz = dir.join(RAW_JSONL_GZ);
    if !plain.is_file() && gz.is_file() { gz } else { plain }
}

/// Whether `dir` holds raw samples, plain or compressed.
pub fn has_raw(dir: &Path) -> bool {
    dir.join(RAW_JSONL).is_file() || dir.join(RAW_JSONL_GZ).is_file()
}

/// Reads `raw.jsonl`: one [`RawSample`] per line, blank lines ignored. Every latency histogram is
/// decoded and checked against its summary's count, so a corrupt record is reported here, with
/// its line, rather than later as a wrong number.
///
/// # Errors
/// The file cannot be read; a line is not JSON, has no numeric `schema`, has a schema version
/// other than [`RAW_SCHEMA_VERSION`], does not match the [`RawSample`] schema, or holds a corrupt
/// latency histogram. Messages name the file and the 1-based line number.
pub fn read_raw(path: &Path) -> anyhow::Result<Vec<RawSample>> {
    Ok(read_raw_lines(path)?.into_iter().map(|(_, s)| s).collect())
}

/// [`read_raw`], keeping each record's 1-based line number. A path ending in `.gz` is read
/// through a gzip decoder (line numbers are those of the uncompressed text).
///
/// # Errors
/// As [`read_raw`]; also a corrupt gzip stream.
pub fn read_raw_lines(path: &Path) -> anyhow::Result<Vec<(usize, RawSample)>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        // A corrupt or truncated gzip stream surfaces as a read error of the line it cuts.
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let at = || format!("{}:{n}", path.display());
        let line = line.with_context(|| format!("{}: cannot read line", at()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not valid JSON", at()))?;
        match value.get("schema").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(RAW_SCHEMA_VERSION) => {}
            Some(v) => bail!(
                "{}: raw schema version {v} is not supported (this build reads version \
                 {RAW_SCHEMA_VERSION}); regenerate with the tournament version that wrote it",
                at()
            ),
            None => bail!("{}: record has no numeric \"schema\" field", at()),
        }
        let sample: RawSample = serde_json::from_value(value)
            .with_context(|| format!("{}: record does not match the raw-sample schema", at()))?;
        if let Some(lat) = &sample.latency {
            stats::merge_latencies(&[lat])
                .with_context(|| format!("{}: corrupt latency histogram", at()))?;
        }
        out.push((n, sample));
    }
    Ok(out)
}

/// Consistency checks of a whole run before reporting: one run id, no duplicate record for a
/// (workload, param, contender, sample), no cell with both a gap record and samples.
fn check_consistency(path: &Path, lines: &[(usize, RawSample)]) -> anyhow::Result<()> {
    let Some((first_line, first)) = lines.first() else {
        bail!("{} holds no records", path.display());
    };
    if let Some((n, s)) = lines.iter().find(|(_, s)| s.run_id != first.run_id) {
        let ids: BTreeSet<&str> = lines.iter().map(|(_, s)| s.run_id.as_str()).collect();
        bail!(
            "{}: mixes runs: line {n} has run id {:?} but line {first_line} has {:?} \
             ({} distinct run ids); a report covers exactly one run",
            path.display(),
            s.run_id,
            first.run_id,
            ids.len()
        );
    }
    let mut seen: HashMap<(&str, &str, &str, u32, bool), usize> = HashMap::new();
    let mut kinds: HashMap<(&str, &str, &str), (bool, bool, usize)> = HashMap::new();
    for (n, s) in lines {
        let gap = matches!(s.status, SampleStatus::Unsupported | SampleStatus::Disqualified);
        let key = (s.workload.as_str(), s.param.as_str(), s.contender.as_str(), s.sample, gap);
        if let Some(prev) = seen.insert(key, *n) {
            bail!(
                "{}: line {n} duplicates line {prev} ({} {} {} {} #{})",
                path.display(),
                s.workload,
                s.param,
                s.contender,
                if gap { "gap record" } else { "sample" },
                s.sample
            );
        }
        let k = kinds.entry((key.0, key.1, key.2)).or_insert((false, false, *n));
        if gap {
            k.0 = true
        } else {
            k.1 = true
        }
        if k.0 && k.1 {
            bail!(
                "{}: line {n}: cell {} {} {} has both a gap record and samples (line {})",
                path.display(),
                s.workload,
                s.param,
                s.contender,
                k.2
            );
        }
    }
    Ok(())
}

/// Reads a run folder's `raw.jsonl` (or `raw.jsonl.gz`, [`raw_path`]) and `env.json` and checks that they belong together.
///
/// # Errors
/// `raw.jsonl` is unreadable or corrupt (see [`read_raw`]); it is empty, mixes run ids, repeats
/// a sample or has a cell with both a gap record and samples; `env.json` is missing or corrupt,
/// or belongs to another run (its run id differs from `raw.jsonl`'s).
pub fn load_run(dir: &Path) -> anyhow::Result<(Vec<RawSample>, Provenance)> {
    let raw_path = raw_path(dir);
    let lines = read_raw_lines(&raw_path)?;
    check_consistency(&raw_path, &lines)?;
    let prov = Provenance::read_json(dir)?;
    let run_id = &lines[0].1.run_id;
    if &prov.run_id != run_id {
        bail!(
            "{}/env.json belongs to run {:?} but {} holds run {:?}; refusing to mix provenance",
            dir.display(),
            prov.run_id,
            raw_path.display(),
            run_id
        );
    }
    Ok((lines.into_iter().map(|(_, s)| s).collect(), prov))
}

/// Appends raw records to `raw.jsonl`, flushing each line so a crash loses nothing written.
pub struct RawWriter {
    out: BufWriter<File>,
}

impl RawWriter {
    /// Creates (truncates) `path` for writing.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { out: BufWriter::new(f) })
    }

    /// Opens an existing `raw.jsonl` for appending. Refuses a file whose last line is cut off
    /// (an interrupted write): appending after it would corrupt the next record too.
    ///
    /// # Errors
    /// The file cannot be opened or read, or its last line is partial.
    pub fn append(path: &Path) -> anyhow::Result<Self> {
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {} to resume", path.display()))?;
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                bail!(
                    "{} ends with a partial line (an interrupted write); delete that last \
                     line, then resume",
                    path.display()
                );
            }
        }
        Ok(Self { out: BufWriter::new(f) })
    }

    /// Writes one record as a JSON line and flushes it.
    ///
    /// # Errors
    /// Serialisation or I/O failure.
    pub fn write(&mut self, rec: &RawSample) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, rec)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }
}

/// The records an interrupted run already holds, by stable id, so `--resume` measures only
/// what is missing.
#[derive(Debug, Default)]
pub struct ResumeIndex {
    /// (workload, param, contender, sample) of every ok or failed sample.
    samples: HashSet<(String, String, String, u32)>,
    /// (workload, param, contender) of every gap record (unsupported or disqualified).
    gaps: HashSet<(String, String, String)>,
}

impl ResumeIndex {
    /// Indexes `records` (all of one run).
    pub fn new(records: &[RawSample]) -> Self {
        let mut index = Self::default();
        for s in records {
            let key = (s.workload.clone(), s.param.clone(), s.contender.clone());
            match s.status {
                SampleStatus::Ok | SampleStatus::Failed => {
                    index.samples.insert((key.0, key.1, key.2, s.sample));
                }
                SampleStatus::Unsupported | SampleStatus::Disqualified => {
                    index.gaps.insert(key);
                }
            }
        }
        index
    }

    fn key(w: &str, p: &str, c: &str) -> (String, String, String) {
        (w.to_string(), p.to_string(), c.to_string())
    }

    /// Whether sample `s` of the cell is already recorded (ok or failed).
    pub fn has_sample(&self, w: &str, p: &str, c: &str, s: u32) -> bool {
        let (w, p, c) = Self::key(w, p, c);
        self.samples.contains(&(w, p, c, s))
    }

    /// Whether any sample of the cell is recorded.
    pub fn has_any_sample(&self, w: &str, p: &str, c: &str) -> bool {
        self.samples.iter().any(|(a, b, d, _)| a == w && b == p && d == c)
    }

    /// Whether the cell has a gap record.
    pub fn has_gap(&self, w: &str, p: &str, c: &str) -> bool {
        self.gaps.contains(&Self::key(w, p, c))
    }

    /// Number of sample records indexed.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Number of gap records indexed.
    pub fn gap_count(&self) -> usize {
        self.gaps.len()
    }
}
