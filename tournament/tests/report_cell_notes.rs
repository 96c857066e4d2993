//! The notes under a result table: the flagship's tail paired by sample, and the client-bound
//! warning of closed-loop network cells. Hand-built runs.

use tournament::record::{RawMetric, RawSample};
use tournament::report::render_markdown;
use tournament::summarize;
use tournament::verdict::{self, Role, Verdict};

mod report_fixture;
use report_fixture::*;

/// A latency sample: `n` latencies of `base` ns, except `slow` (more than 1% of `n`, less
/// than half) of `tail` ns, so the sample's own p99 is `tail` and its p50 is `base`.
fn with_latencies(mut s: RawSample, n: u64, base: u64, tail: u64, slow: u64) -> RawSample {
    s.latency = Some(lat((0..n).map(|i| if i < slow { tail } else { base })));
    s
}

/// Sixteen samples each of `main` and `calloop` on `echo-open`: main's own p99 is half the
/// rival's in every sample, but one sample of main stalled (a fifth of its latencies at 100×
/// the others' p99), which sets the pooled p99 of main's whole cell.
fn tail_samples() -> Vec<RawSample> {
    let mut v = Vec::new();
    for s in 0..16u32 {
        let (main_tail, main_slow) = if s == 3 { (50_000_000, 200) } else { (500_000, 20) };
        v.push(with_latencies(
            rec("echo-open", "load=80%", "main", s, 40_000.0),
            1000,
            30_000,
            main_tail,
            main_slow,
        ));
        v.push(with_latencies(
            rec("echo-open", "load=80%", "calloop", s, 41_000.0),
            1000,
            30_000,
            1_000_000,
            20,
        ));
    }
    v
}

#[test]
fn tail_pairs_each_samples_own_p99_so_one_stall_does_not_decide() {
    let v = tail_samples();
    let rows = summarize::summarize(&v);
    let main = row(&rows, "echo-open", "load=80%", "main");
    let calloop = row(&rows, "echo-open", "load=80%", "calloop");
    assert!(
        main.p99_ns.unwrap() > calloop.p99_ns.unwrap(),
        "the fixture's point: the stalled sample makes main's pooled p99 the higher ({:?} vs {:?})",
        main.p99_ns,
        calloop.p99_ns
    );
    let comps = verdict::compare_tails(&v, &rows, "main", verdict::DEFAULT_MARGIN);
    assert_eq!(comps.len(), 1);
    let c = &comps[0];
    assert_eq!(
        (c.other.as_str(), c.role, c.pairs, c.unit.as_str()),
        ("calloop", Role::Rival, 16, "p99 ns")
    );
    let p = c.paired.expect("16 pairs give an interval");
    // 15 pairs at exactly 0.5 and one at 50: the Hodges–Lehmann estimate and both ends of the
    // interval stay at 0.5 (the outlier's 16 Walsh averages are fewer than the interval's rank).
    assert!((p.ratio - 0.5).abs() < 0.01, "typical p99 ratio {}", p.ratio);
    assert_eq!(c.verdict, Verdict::Faster);

    let md = render_markdown(&rows, &provenance(), &v);
    let note = md.lines().find(|l| l.starts_with("Tail, paired by sample")).expect("a tail note");
    assert!(note.contains("`calloop` 0.50×") && note.contains("**lower**"), "{note}");
}

#[test]
fn tail_leaves_out_samples_too_small_for_a_p99_and_tables_without_latencies() {
    // 99 latencies per sample: below TAIL_MIN_LATENCIES, no sample has its own p99.
    let mut v = Vec::new();
    for s in 0..8u32 {
        v.push(with_latencies(
            rec("ping-pong-latency", "n=1", "main", s, 10.0),
            99,
            1_000,
            2_000,
            2,
        ));
        v.push(with_latencies(
            rec("ping-pong-latency", "n=1", "tokio-ct", s, 12.0),
            99,
            1_000,
            4_000,
            2,
        ));
    }
    // A table without latencies: no tail comparison at all.
    for s in 0..8u32 {
        v.push(rec("burst", "b=100", "main", s, 10.0));
        v.push(rec("burst", "b=100", "tokio-ct", s, 12.0));
    }
    let rows = summarize::summarize(&v);
    let comps = verdict::compare_tails(&v, &rows, "main", verdict::DEFAULT_MARGIN);
    assert_eq!(comps.len(), 1, "only the latency table: {comps:?}");
    assert_eq!((comps[0].workload.as_str(), comps[0].pairs), ("ping-pong-latency", 0));
    assert_eq!(comps[0].verdict, Verdict::Undecided);
    assert!(comps[0].paired.is_none());
    // The primary verdicts still exist for both tables.
    assert_eq!(verdict::compare_all(&v, &rows, "main", verdict::DEFAULT_MARGIN).len(), 2);
}

/// An `echo` sample whose client spent `client_share` of the wall time busy.
fn echo(contender: &str, sample: u32, ns_per_message: f64, client_share: f64) -> RawSample {
    let mut s = rec("echo", "c=100", contender, sample, ns_per_message);
    s.metrics.push(RawMetric {
        name: "client_cpu_ns_per_message".into(),
        unit: "ns/message".into(),
        value: ns_per_message * client_share,
    });
    s
}

fn client_bound_line(v: &[RawSample]) -> Option<String> {
    let rows = summarize::summarize(v);
    let md = render_markdown(&rows, &provenance(), v);
    md.lines().find(|l| l.starts_with("**Client-bound:**")).map(str::to_string)
}

#[test]
fn client_bound_when_the_closed_loop_client_is_busy_in_every_cell() {
    let mut v = Vec::new();
    for s in 0..8u32 {
        v.push(echo("main", s, 5_000.0, 0.97));
        v.push(echo("calloop", s, 5_500.0, 0.92));
    }
    let line = client_bound_line(&v).expect("both cells' clients were ≥ 90% busy");
    let rows = summarize::summarize(&v);
    let md = render_markdown(&rows, &provenance(), &v);
    let headline = md.lines().find(|l| l.starts_with("**Client-bound tables:**"));
    assert!(headline.is_some_and(|l| l.contains("`echo` · `c=100`")), "{headline:?}");
    assert!(line.contains("busy 92–97%"), "{line}");
    // The lowest client CPU per message: main's, 0.97 × 5,000.
    assert!(line.contains("below about 4,850 ns/message"), "{line}");
}

#[test]
fn not_client_bound_when_one_cell_left_the_client_idle_or_the_client_is_not_closed_loop() {
    let mut v = Vec::new();
    for s in 0..8u32 {
        v.push(echo("main", s, 5_000.0, 0.97));
        // A slow server: the client waits half the time.
        v.push(echo("calloop", s, 10_000.0, 0.50));
    }
    assert_eq!(client_bound_line(&v), None);
    let md = render_markdown(&summarize::summarize(&v), &provenance(), &v);
    assert!(!md.contains("Client-bound tables"), "no client-bound table, no headline line");

    // The same shares on the open-loop workload, whose client spins by design: no note.
    let open: Vec<RawSample> = v
        .iter()
        .cloned()
        .map(|mut s| {
            s.workload = "echo-open".into();
            s.metrics[0].value = s.primary_ns().unwrap();
            s
        })
        .collect();
    assert_eq!(client_bound_line(&open), None);
}
