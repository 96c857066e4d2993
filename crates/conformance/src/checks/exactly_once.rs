//! Exactly-once execution of every accepted task.

use std::time::Instant;

use loop_api::EventLoop;

use super::{Check, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::ProbeSet;

/// **exactly_once_burst**: bursts of N tasks submitted back to back from one thread to a running
/// loop; each task's id is counted, so a lost, duplicated or misplaced task is named.
///
/// N = 1,000 and 10,000 (a fresh loop each); quick: 1,000. Every submit must be accepted, every
/// task must run exactly once on the loop thread (checked again after `shutdown`, to catch late
/// duplicates), within the wait bound. Ports the Go `TestExternalBurst1000/10000`.
pub fn check_exactly_once_burst<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "exactly_once_burst", |c| {
        let sizes: &[usize] = if c.ctx.is_quick() { &[1_000] } else { &[1_000, 10_000] };
        for &n in sizes {
            burst::<L>(c, n)?;
        }
        Ok(())
    })
}

fn burst<L: EventLoop>(c: &mut Check, n: usize) -> Result<(), Violation> {
    c.phase(format!("burst of {n} tasks"));
    let lp = c.new_loop::<L>()?;
    let mut lt = c.start(&lp)?;
    let probes = ProbeSet::new(n);
    let t0 = Instant::now();
    for id in 0..n {
        if let Err(r) = lp.submit(probes.task(id)) {
            return Err(c.fail(format!("submit #{id} of a {n}-task burst rejected: {}", r.reason)));
        }
    }
    probes.wait_ran(n as u64, &c.deadline()).map_err(|seen| {
        c.timeout(format!("only {seen} of {n} burst tasks ran ({} missing)", n as u64 - seen))
    })?;
    let took = t0.elapsed();
    c.stop(&mut lt)?;
    probes.verify_ran_once(0..n, Some(lt.thread_id())).map_err(|e| c.fail(e))?;
    drop(lp);
    drop(lt);
    probes.verify_dropped_once().map_err(|e| c.fail(e))?;
    c.count(format!("burst_{n}.executed"), probes.ran_count());
    c.timing(format!("burst_{n}"), took);
    c.note(format!("burst of {n}: every task ran exactly once on the loop thread in {took:.2?}"));
    Ok(())
}

/// **exactly_once_multi_producer**: P producer threads released together each submit `per`
/// id-tagged tasks; every one of the P × per tasks must run exactly once, on the loop thread.
///
/// P × per = 10 × 10,000; quick: 4 × 1,000. Ports the Go `TestMultiProducerStress`
/// (executed == 100,000, rejected == 0).
pub fn check_exactly_once_multi_producer<L: EventLoop>(
    ctx: &CheckContext,
) -> Result<Report, Violation> {
    run_check(ctx, "exactly_once_multi_producer", |c| {
        let (producers, per) = (c.n(10, 4), c.n(10_000, 1_000));
        let total = producers * per;
        c.phase(format!("{producers} producers × {per} tasks"));
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let probes = ProbeSet::new(total);
        let t0 = Instant::now();
        let (l, p) = (lp.clone(), probes.clone());
        let results = c.parallel("producer", producers, move |k| {
            for i in 0..per {
                if let Err(r) = l.submit(p.task(k * per + i)) {
                    return Err(format!("producer {k}: submit #{i} rejected: {}", r.reason));
                }
            }
            Ok(())
        })?;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(c.fail(e));
        }
        probes.wait_ran(total as u64, &c.deadline()).map_err(|seen| {
            c.timeout(format!(
                "only {seen} of {total} tasks from {producers} producers ran ({} missing)",
                total as u64 - seen
            ))
        })?;
        let took = t0.elapsed();
        c.stop(&mut lt)?;
        probes.verify_ran_once(0..total, Some(lt.thread_id())).map_err(|e| c.fail(e))?;
        drop(lp);
        drop(lt);
        probes.verify_dropped_once().map_err(|e| c.fail(e))?;
        c.count("executed", probes.ran_count());
        c.count("rejected", 0);
        c.timing("all_ran", took);
        c.note(format!(
            "{producers} producers × {per}: all {total} tasks ran exactly once on the loop thread"
        ));
        Ok(())
    })
}
