//! Bad input to the tools (issue 16, item 4): `report`, `validate`, `compare`, `merge` and
//! `run --resume` on corrupt run folders. Whatever the corruption — truncated or garbled
//! `raw.jsonl` lines, a wrong schema version, NaN, infinite, negative or huge numbers, an
//! `env.json` of another run, missing files, symlink loops, outputs that are symlinks to a file
//! elsewhere — a tool either succeeds (the corruption left a valid run) or fails with a message
//! that names the file (and, for a defect of one `raw.jsonl` line, that line); it never panics,
//! and it never modifies a file it does not write itself (`report` writes `summary.csv`,
//! `verdicts.csv`, `SUMMARY.md` and `plots/`; the others write nothing in the folder).
//!
//! Two layers: a property test over generated corruptions of the small valid fixture run, in
//! process (seeded ChaCha, so a failure names its seed and corruption and replays exactly), and
//! a regression corpus of fixed corruptions through the `tournament` binary, checking exit codes
//! and messages (`compare` exits 2 on unreadable input: 1 is its "regression" verdict).

use std::collections::BTreeMap;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

mod report_fixture;
use report_fixture::*;

/// Files `report` writes (relative to the run folder); every other file must stay as it was.
const REPORT_OUTPUTS: &[&str] = &["summary.csv", "verdicts.csv", "SUMMARY.md", "plots"];

/// What a folder holds: regular files by content, symlinks by target (never followed).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File(Vec<u8>),
    Link(PathBuf),
    Dir,
}

/// Every entry under `root`, without following symlinks.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let Ok(meta) = fs::symlink_metadata(&p) else { continue };
            if meta.file_type().is_symlink() {
                out.insert(rel, Entry::Link(fs::read_link(&p).unwrap_or_default()));
            } else if meta.is_dir() {
                out.insert(rel, Entry::Dir);
                stack.push(p);
            } else {
                out.insert(rel, Entry::File(fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

/// Entries that differ between two snapshots, excluding `allowed` top-level names.
fn changed(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
    allowed: &[&str],
) -> Vec<String> {
    let ok = |p: &Path| {
        let top = p.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
        top.is_some_and(|t| allowed.iter().any(|a| *a == t || t == format!(".{a}.tmp")))
    };
    let mut out = Vec::new();
    for (p, e) in before {
        if !ok(p) && after.get(p) != Some(e) {
            out.push(format!("{} changed or removed", p.display()));
        }
    }
    for p in after.keys() {
        if !ok(p) && !before.contains_key(p) {
            out.push(format!("{} created", p.display()));
        }
    }
    out
}

/// One corruption of the fixture run: what was done, and the `raw.jsonl` line it broke (if the
/// defect is confined to one line, a message must name that line when the tools refuse it).
#[derive(Debug, Clone)]
struct Corruption {
    what: String,
    line: Option<usize>,
}

/// A replacement for a number: JSON text, possibly not valid JSON (NaN).
const WILD_NUMBERS: &[&str] = &[
    "NaN",
    "Infinity",
    "-Infinity",
    "-1",
    "-0",
    "0",
    "1.5",
    "1e308",
    "-1e308",
    "1e400",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "4294967296",
    "340282366920938463463374607431768211456",
    "\"12\"",
    "null",
    "[]",
    "{}",
    "true",
];

/// Paths (object keys / array indices) of every number in `v`.
fn number_paths(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Number(_) => out.push(path.clone()),
        Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                number_paths(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                number_paths(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k).unwrap(),
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        _ => unreachable!("a number path goes through objects and arrays"),
    })
}

/// Applies one randomly chosen corruption to the run folder `dir` (a copy of the valid run);
/// `other` is a second, valid run folder of another run id (for a foreign env.json).
fn corrupt(rng: &mut ChaCha8Rng, dir: &Path, other: &Path) -> Corruption {
    let raw_path = dir.join("raw.jsonl");
    let text = fs::read_to_string(&raw_path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = rng.random_range(0..lines.len());
    let line_no = n + 1;
    let write_lines = |lines: &[String], trailing_newline: bool| {
        let mut t = lines.join("\n");
        if trailing_newline {
            t.push('\n');
        }
        fs::write(&raw_path, t).unwrap();
    };
    let kind = rng.random_range(0..14);
    match kind {
        0 => {
            // Truncated line (an interrupted write), last or in the middle.
            let cut = rng.random_range(0..lines[n].len());
            lines[n].truncate(cut);
            let last = rng.random_bool(0.5);
            if last {
                lines.truncate(n + 1);
            }
            write_lines(&lines, !last);
            Corruption { what: format!("line {line_no} cut at byte {cut}"), line: Some(line_no) }
        }
        1 => {
            // Garbled bytes (possibly invalid UTF-8, NUL).
            let mut bytes = lines[n].clone().into_bytes();
            let at = rng.random_range(0..bytes.len());
            let len = rng.random_range(1..=8.min(bytes.len() - at));
            for b in &mut bytes[at..at + len] {
                *b = rng.random();
            }
            let mut all = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                all.extend_from_slice(if i == n { &bytes } else { l.as_bytes() });
                all.push(b'\n');
            }
            fs::write(&raw_path, all).unwrap();
            // Random bytes may still form a valid record (a digit for a digit): the line is
            // named only if the tools refuse it.
            Corruption {
                what: format!("line {line_no}: {len} bytes at {at} garbled"),
                line: Some(line_no),
            }
        }
        2 => {
            // Wrong schema version, or no schema.
            let mut v: Value = serde_json::from_str(&lines[n]).unwrap();
            let choice = rng.random_range(0..5);
            let new = match choice {
                0 => Value::from(0),
                1 => Value::from(u64::from(tournament::record::RAW_SCHEMA_VERSION) + 1),
                2 => Value::from("1"),
                3 => Value::Null,
                _ => {
                    v.as_object_mut().unwrap().remove("schema");
                    Value::Null
                }
            };
            if choice < 4 {
                v["schema"] = new.clone();
            }
            lines[n] = serde_json::to_string(&v).unwrap();
            write_lines(&lines, true);
            Corruption {
                what: format!("line {line_no}: schema {new} ({choice})"),
                line: Some(line_no),
            }
        }
        3..=5 => {
            // A wild number (NaN, infinities, negatives, huge, wrong type) in a numeric field.
            let mut v: Value = serde_json::from_str(&lines[n]).unwrap();
            let mut paths = Vec::new();
            number_paths(&v, &mut Vec::new(), &mut paths);
            let path = &paths[rng.random_range(0..paths.len())];
            let wild = WILD_NUMBERS[rng.random_range(0..WILD_NUMBERS.len())];
            *at_path(&mut v, path) = Value::from("@@WILD@@");
            lines[n] = serde_json::to_string(&v).unwrap().replace("\"@@WILD@@\"", wild);
            write_lines(&lines, true);
            Corruption {
                what: format!("line {line_no}: {} = {wild}", path.join(".")),
                line: Some(line_no),
            }
        }
        6 => {
            let op = rng.random_range(0..5);
            let what = match op {
                0 => {
                    lines.insert(n, lines[n].clone());
                    "duplicated"
                }
                1 => {
                    lines.remove(n);
                    "deleted"
                }
                2 => {
                    let m = rng.random_range(0..lines.len());
                    lines.swap(n, m);
                    "swapped with another"
                }
                3 => {
                    let next = lines.get(n + 1).cloned().unwrap_or_default();
                    lines[n].push_str(&next);
                    if n + 1 < lines.len() {
                        lines.remove(n + 1);
                    }
                    "joined with the next"
                }
                _ => {
                    lines.insert(n, ["{}", "[]", "null", "{\"schema\":1}", " \t"][n % 5].into());
                    "preceded by a stray JSON value"
                }
            };
            write_lines(&lines, true);
            Corruption { what: format!("line {line_no} {what}"), line: None }
        }
        7 => {
            // A record of another run in the middle.
            let mut v: Value = serde_json::from_str(&lines[n]).unwrap();
            v["run_id"] = Value::from("20990101T000000Z-other");
            lines[n] = serde_json::to_string(&v).unwrap();
            write_lines(&lines, true);
            Corruption { what: format!("line {line_no}: run id of another run"), line: None }
        }
        8 => {
            fs::copy(other.join("env.json"), dir.join("env.json")).unwrap();
            Corruption { what: "env.json of another run".into(), line: None }
        }
        9 => {
            let victim = ["env.json", "raw.jsonl"][rng.random_range(0..2)];
            fs::remove_file(dir.join(victim)).unwrap();
            Corruption { what: format!("{victim} missing"), line: None }
        }
        10 => {
            // env.json truncated, or a wild number in it.
            let p = dir.join("env.json");
            let t = fs::read_to_string(&p).unwrap();
            if rng.random_bool(0.5) {
                let cut = rng.random_range(0..t.len());
                fs::write(&p, &t[..cut]).unwrap();
                Corruption { what: format!("env.json cut at byte {cut}"), line: None }
            } else {
                let mut v: Value = serde_json::from_str(&t).unwrap();
                let mut paths = Vec::new();
                number_paths(&v, &mut Vec::new(), &mut paths);
                let path = &paths[rng.random_range(0..paths.len())];
                let wild = WILD_NUMBERS[rng.random_range(0..WILD_NUMBERS.len())];
                *at_path(&mut v, path) = Value::from("@@WILD@@");
                let t = serde_json::to_string(&v).unwrap().replace("\"@@WILD@@\"", wild);
                fs::write(&p, t).unwrap();
                Corruption { what: format!("env.json: {} = {wild}", path.join(".")), line: None }
            }
        }
        11 => {
            // A symlink loop where a file should be.
            let victim = ["env.json", "raw.jsonl"][rng.random_range(0..2)];
            fs::remove_file(dir.join(victim)).unwrap();
            std::os::unix::fs::symlink(victim, dir.join(victim)).unwrap();
            Corruption { what: format!("{victim} is a symlink to itself"), line: None }
        }
        12 => {
            // Binary garbage, or an empty file.
            if rng.random_bool(0.5) {
                let junk: Vec<u8> = (0..rng.random_range(1..512)).map(|_| rng.random()).collect();
                fs::write(&raw_path, junk).unwrap();
                Corruption { what: "raw.jsonl is binary garbage".into(), line: None }
            } else {
                fs::write(&raw_path, "").unwrap();
                Corruption { what: "raw.jsonl is empty".into(), line: None }
            }
        }
        _ => {
            // The report's own outputs are symlinks to files elsewhere (which must survive),
            // plus a wild number so that some of these runs also fail.
            let outside = dir.parent().unwrap().join("outside");
            fs::create_dir_all(&outside).unwrap();
            for name in ["summary.csv", "SUMMARY.md", "verdicts.csv"] {
                let target = outside.join(name);
                fs::write(&target, format!("not the report's {name}")).unwrap();
                let _ = fs::remove_file(dir.join(name));
                std::os::unix::fs::symlink(&target, dir.join(name)).unwrap();
                let tmp = dir.join(format!(".{name}.tmp"));
                std::os::unix::fs::symlink(&target, &tmp).unwrap();
            }
            if rng.random_bool(0.5) {
                // plots/ a symlink to a folder elsewhere holding .svg files of its own, which
                // the report's pruning of stale plots must not reach.
                let theirs = outside.join("plots");
                fs::create_dir_all(&theirs).unwrap();
                fs::write(theirs.join("theirs.svg"), "<svg/>").unwrap();
                fs::write(theirs.join("burst.svg"), "<svg/>").unwrap();
                fs::remove_dir_all(dir.join("plots")).unwrap();
                std::os::unix::fs::symlink(&theirs, dir.join("plots")).unwrap();
            }
            Corruption {
                what: "report outputs and their temporaries symlinked outside".into(),
                line: None,
            }
        }
    }
}

/// Copies the regular files and directories of `from` into `to` (the fixture has no links).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A second valid run with another run id (a foreign env.json, a valid `compare`/`merge` peer).
fn other_run(dir: &Path) {
    let mut s = valid_samples();
    for r in &mut s {
        r.run_id = "20260202T000000Z-def5678".into();
    }
    write_run(dir, &s);
    let mut prov = provenance();
    prov.run_id = "20260202T000000Z-def5678".into();
    prov.write_json(dir).unwrap();
}

/// Runs `f` and turns a panic into a test failure naming the case.
fn no_panic<T>(case: &str, tool: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{case}: {tool} panicked: {msg}")
        }
    }
}

/// A refusal message must name the file it is about, and the line when the defect is one line.
fn check_message(case: &str, tool: &str, c: &Corruption, dir: &Path, msg: &str) {
    let names_file = ["raw.jsonl", "env.json"].iter().any(|f| msg.contains(f))
        || msg.contains(&dir.display().to_string());
    assert!(names_file, "{case}: {tool} refused without naming the file: {msg}");
    if let Some(line) = c.line {
        let named = msg.contains(&format!("raw.jsonl:{line}"));
        // A defect on one line may instead surface as a whole-run inconsistency naming that
        // line (duplicate, mixed run ids).
        let as_pair = msg.contains(&format!("line {line}"));
        assert!(named || as_pair, "{case}: {tool} did not name line {line}: {msg}");
    }
}

#[test]
fn generated_corruptions_never_panic_nor_touch_foreign_files() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = tmp.path().join("valid");
    fs::create_dir_all(&valid).unwrap();
    valid_run(&valid);
    let other = tmp.path().join("other");
    fs::create_dir_all(&other).unwrap();
    other_run(&other);
    let cases: u64 =
        std::env::var("CORRUPT_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(120);
    let seed0: u64 = std::env::var("CORRUPT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let (mut refused, mut accepted) = (0, 0);
    for k in 0..cases {
        let seed = seed0.wrapping_mul(1_000_003).wrapping_add(k);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let root = tmp.path().join(format!("case{k}"));
        let dir = root.join("run");
        copy_dir(&valid, &dir);
        let c = corrupt(&mut rng, &dir, &other);
        let case = format!("seed {seed} ({})", c.what);
        let outside = root.join("outside");
        let outside_before = snapshot(&outside);
        let before = snapshot(&dir);

        // Readers: nothing in the folder may change.
        let v = no_panic(&case, "validate", || tournament::report::validate::validate_dir(&dir));
        if let Err(e) = &v {
            check_message(&case, "validate", &c, &dir, &format!("{e:#}"));
        }
        let m = no_panic(&case, "merge", || {
            tournament::merge::merge_dirs(&[valid.clone(), dir.clone()])
        });
        if let Err(e) = &m {
            check_message(&case, "merge", &c, &dir, &format!("{e:#}"));
        }
        for (old, new) in [(&valid, &dir), (&dir, &valid)] {
            let r = no_panic(&case, "compare", || {
                tournament::compare::compare_dirs(old, new, 0.05, true)
            });
            if let Err(e) = &r {
                check_message(&case, "compare", &c, &dir, &e.to_string());
            }
        }
        let after = snapshot(&dir);
        let diff = changed(&before, &after, &[]);
        assert!(diff.is_empty(), "{case}: validate/merge/compare modified the folder: {diff:?}");

        // report: only its own outputs may change, and nothing at all when it refuses.
        let r = no_panic(&case, "report", || tournament::report::regenerate(&dir));
        let after = snapshot(&dir);
        match &r {
            Ok(_) => {
                accepted += 1;
                let diff = changed(&before, &after, REPORT_OUTPUTS);
                assert!(diff.is_empty(), "{case}: report modified foreign files: {diff:?}");
            }
            Err(e) => {
                refused += 1;
                let msg = format!("{e:#}");
                check_message(&case, "report", &c, &dir, &msg);
                // A run that does not load must not have been written to at all; one that
                // loads but is refused later (validation of the regenerated files, a plots/
                // symlink) may have written its own outputs, and nothing else.
                let allowed =
                    if tournament::raw::load_run(&dir).is_err() { &[][..] } else { REPORT_OUTPUTS };
                let diff = changed(&before, &after, allowed);
                assert!(diff.is_empty(), "{case}: report refused but wrote: {diff:?}");
            }
        }
        assert_eq!(snapshot(&outside), outside_before, "{case}: a file outside the run changed");
        fs::remove_dir_all(&root).unwrap();
    }
    eprintln!("{cases} corruptions: {refused} refused, {accepted} still valid runs");
    assert!(refused > cases / 2, "most corruptions must be refused ({refused} of {cases})");
}

// ---- Regression corpus: the binary's exit codes and messages on fixed corruptions. ----

fn tournament(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tournament")).args(args).output().expect("runs the binary")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fixed corruption: name, how to apply it, the exit code of report/validate/merge (compare:
/// 2), and what the message must contain.
struct Fixed {
    name: &'static str,
    apply: fn(&Path),
    needle: &'static str,
}

/// Replaces line `n` (1-based) of raw.jsonl with `f(line)`.
fn edit_line(dir: &Path, n: usize, f: impl Fn(&str) -> String) {
    let p = dir.join("raw.jsonl");
    let t = fs::read_to_string(&p).unwrap();
    let out: Vec<String> =
        t.lines().enumerate().map(|(i, l)| if i + 1 == n { f(l) } else { l.to_owned() }).collect();
    fs::write(&p, out.join("\n") + "\n").unwrap();
}

const CORPUS: &[Fixed] = &[
    Fixed {
        name: "truncated line 3",
        apply: |d| edit_line(d, 3, |l| l[..l.len() / 2].to_owned()),
        needle: "raw.jsonl:3: not valid JSON",
    },
    Fixed {
        name: "NaN wall time on line 2",
        apply: |d| edit_line(d, 2, |l| l.replacen("\"wall_ns\":", "\"wall_ns\":NaN,\"x\":", 1)),
        needle: "raw.jsonl:2",
    },
    Fixed {
        name: "u64 overflow on line 4",
        apply: |d| {
            edit_line(d, 4, |l| {
                l.replacen("\"tasks\":", "\"tasks\":18446744073709551616,\"x\":", 1)
            })
        },
        needle: "raw.jsonl:4",
    },
    Fixed {
        name: "schema version 99 on line 5",
        apply: |d| edit_line(d, 5, |l| l.replacen("\"schema\":", "\"schema\":99,\"x\":", 1)),
        needle: "raw.jsonl:5: raw schema version 99 is not supported",
    },
    Fixed {
        name: "invalid UTF-8 on line 6",
        apply: |d| {
            let p = d.join("raw.jsonl");
            let mut b = fs::read(&p).unwrap();
            let starts: Vec<usize> = std::iter::once(0)
                .chain(b.iter().enumerate().filter(|(_, c)| **c == b'\n').map(|(i, _)| i + 1))
                .collect();
            b[starts[5] + 3] = 0xff;
            fs::write(&p, b).unwrap();
        },
        needle: "raw.jsonl:6",
    },
    Fixed {
        name: "env.json of another run",
        apply: |d| {
            let mut prov = provenance();
            prov.run_id = "20990101T000000Z-other".into();
            prov.write_json(d).unwrap();
        },
        needle: "env.json belongs to run",
    },
    Fixed {
        name: "env.json missing",
        apply: |d| fs::remove_file(d.join("env.json")).unwrap(),
        needle: "env.json",
    },
    Fixed {
        name: "raw.jsonl a symlink loop",
        apply: |d| {
            fs::remove_file(d.join("raw.jsonl")).unwrap();
            std::os::unix::fs::symlink("raw.jsonl", d.join("raw.jsonl")).unwrap();
        },
        needle: "raw.jsonl",
    },
];

#[test]
fn corpus_exits_1_naming_file_and_line_and_compare_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = tmp.path().join("valid");
    fs::create_dir_all(&valid).unwrap();
    valid_run(&valid);
    let vs = valid.to_str().unwrap();
    for f in CORPUS {
        let dir = tmp.path().join(f.name.replace(' ', "_"));
        copy_dir(&valid, &dir);
        (f.apply)(&dir);
        let ds = dir.to_str().unwrap();
        let before = snapshot(&dir);
        for args in [
            vec!["report", ds],
            vec!["validate", ds],
            vec!["merge", vs, ds],
            vec!["compare", vs, ds],
            vec!["compare", ds, vs, "--descriptive"],
        ] {
            let o = tournament(&args);
            let want = if args[0] == "compare" { 2 } else { 1 };
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(want), "{}: {args:?}: {err}", f.name);
            assert!(!err.contains("panicked"), "{}: {args:?} panicked: {err}", f.name);
            assert!(err.contains(f.needle), "{}: {args:?}: {err:?} lacks {:?}", f.name, f.needle);
        }
        assert_eq!(snapshot(&dir), before, "{}: a tool modified the folder", f.name);
    }
}

/// `run --resume` on a real (smoke) run whose raw.jsonl was then corrupted: exit 1 naming the
/// line, before measuring anything, and neither raw.jsonl nor env.json is touched — also when
/// the command would extend the run (more --samples), which rewrites env.json only once the
/// records have been read.
#[test]
fn resume_refuses_a_corrupt_run_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let outs = out.to_str().unwrap();
    let plan = ["--smoke", "--no-gate", "--contenders", "baseline", "--workloads", "burst"];
    let mut first = vec!["run"];
    first.extend(plan);
    first.extend(["--samples", "1", "--out", outs]);
    let o = tournament(&first);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let n = fs::read_to_string(out.join("raw.jsonl")).unwrap().lines().count();
    assert!(n >= 1);
    edit_line(&out, n, |l| format!("{}\u{0}garbage", &l[..l.len() / 3]));
    let before = snapshot(&out);
    for samples in ["1", "3"] {
        let mut resume = vec!["run"];
        resume.extend(plan);
        resume.extend(["--samples", samples, "--resume", outs]);
        let o = tournament(&resume);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "--samples {samples}: {err}");
        assert!(err.contains(&format!("raw.jsonl:{n}")), "--samples {samples}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(snapshot(&out), before, "--samples {samples}: resume wrote to a corrupt run");
    }
}
