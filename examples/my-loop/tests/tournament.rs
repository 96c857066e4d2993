//! The tournament run through the library API with `my-loop` added: the way CI proves an outside
//! loop can be benchmarked (a `--smoke` run, gate included, of `my-loop` beside `baseline`).

use std::fs;
use std::process::{Command, ExitCode};

/// Runs `tournament <args>` in-process with `my-loop` registered.
fn tournament(args: &[&str]) -> ExitCode {
    let argv = std::iter::once("tournament").chain(args.iter().copied());
    tournament::cli::main_with_args(argv, vec![example_loop::contender()])
}

#[test]
fn a_smoke_run_through_the_library_api_measures_my_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let code = tournament(&[
        "run",
        "--smoke",
        "--samples",
        "5",
        "--contenders",
        "my-loop,baseline",
        "--workloads",
        "ping-pong,burst,timer-lateness",
        "--strict",
        "--out",
        out.to_str().unwrap(),
    ]);
    // --strict: exit 3 if any cell failed, was disqualified by the gate or is missing.
    assert_eq!(code, ExitCode::SUCCESS);

    let csv = fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (workload, contender, status) = (col("workload"), col("contender"), col("status"));
    let mine: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[contender] == "my-loop")
        .collect();
    for w in ["ping-pong", "burst"] {
        let rows: Vec<_> = mine.iter().filter(|r| r[workload] == w).collect();
        assert!(!rows.is_empty(), "no my-loop row for {w} in\n{csv}");
        for r in rows {
            assert!(matches!(r[status], "ok" | "unstable"), "{w}: {r:?}");
        }
    }
    // No timers declared: the timer workload is a declared gap, not a measurement.
    let timer: Vec<_> = mine.iter().filter(|r| r[workload] == "timer-lateness").collect();
    assert!(!timer.is_empty(), "{csv}");
    assert!(timer.iter().all(|r| r[status] == "unsupported"), "{timer:?}");
    // The headline is about the first selected contender when `main` is not in the run.
    let env = fs::read_to_string(out.join("env.json")).unwrap();
    assert!(env.contains("\"flagship\": \"my-loop\""), "{env}");
}

#[test]
fn the_example_binary_lists_my_loop_beside_the_built_in_contenders() {
    let o = Command::new(env!("CARGO_BIN_EXE_example-loop")).arg("list").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list = String::from_utf8_lossy(&o.stdout);
    let ids: Vec<&str> = list
        .lines()
        .take_while(|l| !l.starts_with("Workloads"))
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids.first(), Some(&"baseline"), "{list}");
    assert_eq!(ids.last(), Some(&"my-loop"), "{list}");
    assert!(list.contains("internal-priority=no microtasks=no timers=no readiness=no"), "{list}");
}

#[test]
fn a_bad_registration_is_a_usage_error() {
    let twice = tournament::cli::main_with_args(
        ["tournament", "list"],
        vec![example_loop::contender(), example_loop::contender()],
    );
    assert_eq!(twice, ExitCode::from(2));
    let clash = tournament::cli::main_with_args(
        ["tournament", "list"],
        vec![tournament::contender::<example_loop::MyLoop>("baseline", "clashes")],
    );
    assert_eq!(clash, ExitCode::from(2));
    let comma = tournament::cli::main_with_args(
        ["tournament", "list"],
        vec![tournament::contender::<example_loop::MyLoop>("a,b", "unselectable")],
    );
    assert_eq!(comma, ExitCode::from(2));
    // Usage errors come back as a status, never as a process exit.
    assert_eq!(tournament(&["run", "--contenders", "nope"]), ExitCode::from(2));
    assert_eq!(tournament(&["no-such-command"]), ExitCode::from(2));
}
