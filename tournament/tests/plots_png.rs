//! The plots rendered to PNG with `resvg`, as a person would see them.
//!
//! The assertions are on geometry and colours only (image size, ink, exact fill colours of bars
//! and markers, where markers sit), so they hold with or without fonts installed: without
//! fonts resvg simply draws no text.
//!
//! Dev tool: `PLOTS_PNG_DIR=/tmp/plots cargo test -p tournament --test plots_png -- --nocapture`
//! regenerates the reports of a committed run (`results/calibration/aa-1`, or the folder under
//! `results/` named by `PLOTS_RUN`) in a temporary folder and writes every plot there as a PNG
//! into `$PLOTS_PNG_DIR`, to be looked at.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use resvg::tiny_skia::Pixmap;
use resvg::usvg::{self, fontdb};
use tournament::record::{RawSample, SummaryRow};
use tournament::report::plots::{self, HeadlineBar, RGBColor, contender_colour, headline_chart};

mod report_fixture;
use report_fixture::rec;

/// System fonts, with `sans-serif` mapped to the first common face found (empty when the
/// machine has no fonts: text is then not drawn, which the assertions do not depend on).
fn fonts() -> Arc<fontdb::Database> {
    static DB: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        let families: Vec<String> =
            db.faces().flat_map(|f| f.families.iter().map(|(n, _)| n.clone())).collect();
        if let Some(f) = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial"]
            .into_iter()
            .find(|f| families.iter().any(|n| n == f))
        {
            db.set_sans_serif_family(f);
        }
        Arc::new(db)
    })
    .clone()
}

fn rasterize(svg: &str) -> Pixmap {
    let opt = usvg::Options { fontdb: fonts(), ..Default::default() };
    let tree = usvg::Tree::from_str(svg, &opt).expect("the plot is valid SVG");
    let size = tree.size().to_int_size();
    let mut pm = Pixmap::new(size.width(), size.height()).expect("non-empty image");
    resvg::render(&tree, usvg::Transform::identity(), &mut pm.as_mut());
    pm
}

/// The `width` and `height` attributes of the root `<svg>` element.
fn declared_size(svg: &str) -> (u32, u32) {
    let head = &svg[svg.find("<svg").expect("an <svg> element")..];
    let head = &head[..head.find('>').unwrap()];
    let attr = |name: &str| -> u32 {
        let at = head.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        head[at..at + head[at..].find('"').unwrap()].parse().unwrap()
    };
    (attr("width"), attr("height"))
}

/// Pixels whose colour is exactly `c` (opaque), as `(x, y)`.
fn pixels_of(pm: &Pixmap, c: RGBColor) -> Vec<(u32, u32)> {
    let w = pm.width();
    pm.pixels()
        .iter()
        .enumerate()
        .filter(|(_, p)| p.alpha() == 255 && (p.red(), p.green(), p.blue()) == (c.0, c.1, c.2))
        .map(|(i, _)| (i as u32 % w, i as u32 / w))
        .collect()
}

/// Share of pixels that are not white.
fn ink(pm: &Pixmap) -> f64 {
    let n =
        pm.pixels().iter().filter(|p| (p.red(), p.green(), p.blue()) != (255, 255, 255)).count();
    n as f64 / pm.pixels().len() as f64
}

/// A run of six interleaved samples per cell: one table (`ping-pong n=1000`) with five
/// contenders of very different speed, and a sweep (`cas-contention`, p = 1…8).
fn rows() -> Vec<SummaryRow> {
    let mut v: Vec<RawSample> = Vec::new();
    let table = [
        ("main", 20.0),
        ("tokio-ct", 400.0),
        ("baseline", 90.0),
        ("std-mpsc", 130.0),
        ("floor", 8.0),
    ];
    for s in 0..6u32 {
        let wobble = 1.0 + 0.01 * f64::from(s % 3);
        for (c, ns) in table {
            v.push(rec("ping-pong", "n=1000", c, s, ns * wobble));
        }
    }
    for (p, k) in [("p=1", 1.0), ("p=2", 2.0), ("p=4", 4.0), ("p=8", 8.0)] {
        for s in 0..6u32 {
            let wobble = 1.0 + 0.01 * f64::from(s % 3);
            for (c, ns) in [("main", 30.0), ("tokio-ct", 150.0), ("baseline", 60.0)] {
                v.push(rec("cas-contention", p, c, s, ns * k * wobble));
            }
        }
    }
    tournament::summarize::summarize(&v)
}

fn bar(label: &str, rival: &str, ratio: f64, verdict: &'static str) -> HeadlineBar {
    HeadlineBar {
        label: label.into(),
        rival: rival.into(),
        ratio,
        ci_low: ratio * 0.9,
        ci_high: ratio * 1.1,
        verdict,
    }
}

fn headline_bars() -> Vec<HeadlineBar> {
    vec![
        bar("ping-pong · n=1000", "tokio-ct", 0.05, "faster"),
        bar("ping-pong · n=1000", "baseline", 0.22, "faster"),
        bar("ping-pong · n=1000", "std-mpsc", 1.0, "equivalent"),
        bar("burst · b=10", "tokio-ct", 10.0, "slower"),
        bar("burst · b=10", "baseline", 1.02, "undecided"),
    ]
}

#[test]
fn every_plot_kind_renders_at_its_declared_size_with_ink() {
    let rows = rows();
    let mut svgs = plots::render_plots(&rows).unwrap();
    let names: Vec<&str> = svgs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "ping-pong__n_1000.svg",
            "cas-contention__p_1.svg",
            "cas-contention__p_2.svg",
            "cas-contention__p_4.svg",
            "cas-contention__p_8.svg",
            "cas-contention__sweep.svg"
        ]
    );
    svgs.push((
        "headline.svg".into(),
        headline_chart("main ÷ each rival", &headline_bars(), 0.03).unwrap(),
    ));
    for (name, svg) in &svgs {
        let (w, h) = declared_size(svg);
        assert!((480..=2000).contains(&w) && (80..=1500).contains(&h), "{name}: {w}×{h}");
        let pm = rasterize(svg);
        assert_eq!((pm.width(), pm.height()), (w, h), "{name}");
        let share = ink(&pm);
        assert!(
            share > 0.02 && share < 0.6,
            "{name}: {:.1}% of the pixels are not white",
            share * 100.0
        );
    }
}

#[test]
fn each_contender_keeps_one_distinct_colour_in_every_plot() {
    let rows = rows();
    let svgs: BTreeMap<String, String> = plots::render_plots(&rows).unwrap().into_iter().collect();
    let table = rasterize(&svgs["ping-pong__n_1000.svg"]);
    let sweep = rasterize(&svgs["cas-contention__sweep.svg"]);
    let head = rasterize(&headline_chart("main ÷ each rival", &headline_bars(), 0.03).unwrap());

    let all = ["main", "tokio-ct", "baseline", "std-mpsc", "floor"];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(contender_colour(a), contender_colour(b), "{a} and {b}");
        }
        // Every bar of the table is filled with its contender's colour.
        let n = pixels_of(&table, contender_colour(a)).len();
        assert!(n >= 100, "{a}: only {n} pixels of its colour in the bar chart");
    }
    for c in ["main", "tokio-ct", "baseline"] {
        let n = pixels_of(&sweep, contender_colour(c)).len();
        assert!(n >= 100, "{c}: only {n} pixels of its colour in the sweep");
    }
    for c in ["tokio-ct", "baseline", "std-mpsc"] {
        let n = pixels_of(&head, contender_colour(c)).len();
        assert!(n >= 100, "{c}: only {n} pixels of its colour in the headline chart");
    }
    // Bars are as long as their medians say, on any scale: 400 ns > 130 > 90 > 20 > 8.
    let len = |c: &str| pixels_of(&table, contender_colour(c)).len();
    assert!(len("tokio-ct") > len("std-mpsc"));
    assert!(len("std-mpsc") > len("baseline"));
    assert!(len("baseline") > len("main"));
    assert!(len("main") > len("floor"));
}

/// Clusters of consecutive pixel rows (y) holding `pixels`, each as (first y, mean x).
fn row_clusters(pixels: &[(u32, u32)]) -> Vec<(u32, f64)> {
    let mut by_y: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (x, y) in pixels {
        by_y.entry(*y).or_default().push(*x);
    }
    let mut out: Vec<(u32, u32, Vec<u32>)> = Vec::new();
    for (y, xs) in by_y {
        match out.last_mut() {
            Some((_, last, all)) if y == *last + 1 => {
                *last = y;
                all.extend(xs);
            }
            _ => out.push((y, y, xs)),
        }
    }
    out.into_iter()
        .map(|(y, _, xs)| (y, xs.iter().map(|x| f64::from(*x)).sum::<f64>() / xs.len() as f64))
        .collect()
}

#[test]
fn headline_markers_sit_left_of_one_when_faster_and_right_when_slower() {
    let bars =
        [bar("a · x=1", "tokio-ct", 0.1, "faster"), bar("b · x=1", "tokio-ct", 10.0, "slower")];
    let pm = rasterize(&headline_chart("t", &bars, 0.03).unwrap());
    let clusters = row_clusters(&pixels_of(&pm, contender_colour("tokio-ct")));
    // The column's colour band, then one cluster per row (whisker and marker).
    assert_eq!(clusters.len(), 3, "{clusters:?}");
    let (band, faster, slower) = (clusters[0].1, clusters[1].1, clusters[2].1);
    assert!(faster < band - 10.0, "faster marker at x̄={faster}, column centre {band}");
    assert!(slower > band + 10.0, "slower marker at x̄={slower}, column centre {band}");
}

/// Dev tool (see the module docs): PNGs of every plot of a committed run.
#[test]
fn write_pngs_of_the_committed_run_when_asked() {
    let Some(out) = std::env::var_os("PLOTS_PNG_DIR") else {
        return;
    };
    let out = Path::new(&out);
    let rel = std::env::var("PLOTS_RUN").unwrap_or_else(|_| "calibration/aa-1".into());
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results").join(rel);
    let tmp = tempfile::tempdir().unwrap();
    // Committed runs hold raw.jsonl.gz; copy whichever form the run has.
    let raw = tournament::raw::raw_path(&run);
    std::fs::copy(&raw, tmp.path().join(raw.file_name().unwrap())).unwrap();
    std::fs::copy(run.join("env.json"), tmp.path().join("env.json")).unwrap();
    if let Err(e) = tournament::report::regenerate(tmp.path()) {
        eprintln!("regenerate reported (plots are written before validation): {e:#}");
    }
    std::fs::create_dir_all(out).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(tmp.path().join(plots::PLOTS_DIR)).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "svg") {
            let pm = rasterize(&std::fs::read_to_string(&p).unwrap());
            let name = format!("{}.png", p.file_stem().unwrap().to_string_lossy());
            pm.save_png(out.join(name)).unwrap();
            n += 1;
        }
    }
    eprintln!("wrote {n} PNGs to {}", out.display());
}
