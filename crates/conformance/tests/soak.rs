//! The soak accounts for every closure: clean on the correct reference loop through all three
//! endings, and it finds the losses of deliberately broken flavors.

mod support;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use loop_api::LoopConfig;
use loop_conformance::soak::{Ending, SoakSettings, SoakTotals, soak};
use support::*;

/// Six rounds (every ending twice) of 5,000 tasks from 2 producers.
fn six_rounds<L: loop_api::EventLoop>() -> SoakTotals {
    rounds::<L>(6)
}

/// `count` rounds of 5,000 tasks from 2 producers; the duration is an hour so the round count,
/// not the clock, decides (`stop` ends it after round `count`).
fn rounds<L: loop_api::EventLoop>(count: u64) -> SoakTotals {
    let settings = SoakSettings {
        duration: Duration::from_secs(3600),
        producers: 2,
        tasks_per_round: 5_000,
        wait_bound: Duration::from_secs(10),
    };
    let stop = AtomicBool::new(false);
    soak::<L>(&LoopConfig::default(), &settings, &stop, |t| {
        if t.rounds >= count {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    })
}

#[test]
fn endings_cycle_drained_shutdown_race_close_race() {
    assert_eq!(Ending::of_round(0), Ending::Drained);
    assert_eq!(Ending::of_round(1), Ending::ShutdownRace);
    assert_eq!(Ending::of_round(2), Ending::CloseRace);
    assert_eq!(Ending::of_round(3), Ending::Drained);
}

#[test]
fn correct_reference_soaks_clean() {
    let t = six_rounds::<RefLoop<Correct>>();
    println!("{t}");
    assert!(t.clean(), "{t}\n{:#?}", t.findings);
    assert_eq!(t.rounds, 6);
    // Drained rounds accept all 5,000 (and the follow-ups, microtasks and timers); the racing
    // rounds accept at least half.
    assert!(t.accepted >= 2 * 5_000 + 4 * 2_500, "{t}");
    assert!(t.rejected > 0, "the racing endings must reject some submissions: {t}");
    assert_eq!(t.lost, 0, "{t}");
    // Only timers still pending when a drain ended may be dropped uncounted.
    assert!(t.ran + t.dropped_by_close <= t.accepted, "{t}");
    assert!(t.ran + t.dropped_by_close + 6 * 313 >= t.accepted, "{t}");
    assert!(t.findings.is_empty(), "{:#?}", t.findings);
    // The reference declares readiness: each drained round's check needs at least one call of
    // the first callback (bytes were written by then) and one of the re-registered one; racing
    // rounds may stop before any call.
    assert!(t.fd_callbacks >= 4, "readiness callbacks did not run in the drained rounds: {t}");
    assert_eq!((t.unread_bytes, t.calls_after_unregister), (0, 0), "{t}");
}

#[test]
fn a_loop_without_readiness_soaks_clean_without_a_pipe() {
    let t = six_rounds::<RefLoop<SubmitOnly>>();
    assert!(t.clean(), "{t}\n{:#?}", t.findings);
    assert_eq!(t.fd_callbacks, 0, "{t}");
}

#[test]
fn soak_finds_an_unregister_that_keeps_the_callback() {
    let t = six_rounds::<RefLoop<UnregisterIgnored>>();
    assert!(!t.clean(), "a loop whose unregister is ignored soaked clean: {t}");
    assert!(t.findings.iter().any(|f| f.contains("after unregister")), "{:#?}", t.findings);
}

#[test]
fn soak_finds_a_stale_callback_on_fd_reuse() {
    let t = six_rounds::<RefLoop<StaleCallbackOnReuse>>();
    assert!(t.calls_after_unregister > 0, "the old callback of a reused fd went unnoticed: {t}");
    assert!(!t.clean(), "{t}");
}

#[test]
fn soak_finds_silently_dropped_submissions() {
    let t = six_rounds::<RefLoop<DropEvery1000th>>();
    assert!(!t.clean(), "a loop that drops every 1000th submission soaked clean: {t}");
    assert!(t.lost >= 6, "{t}");
    assert!(
        t.findings.iter().any(|f| f.contains("neither ran nor were dropped")),
        "{:#?}",
        t.findings
    );
}

#[test]
fn soak_finds_a_shutdown_that_discards_queued_tasks() {
    // Whether a drained round meets a backlog at its shutdown depends on the timing of 5,000
    // quick submissions, so give the defect more rounds to show itself.
    let t = rounds::<RefLoop<NoShutdownConservation>>(15);
    assert!(t.lost > 0 || t.failed_rounds > 0, "a shutdown without conservation soaked clean: {t}");
}
