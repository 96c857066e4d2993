//! Declared capabilities match behaviour.

use std::sync::Arc;
use std::time::Duration;

use loop_api::{Capability, EventLoop, OpError, RejectReason};

use super::{Check, run_check};
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Pipe, ProbeSet};

/// **capabilities_declared**: `capabilities()` returns `CAPABILITIES`, and every optional
/// operation behaves as declared. A declared gap must reject with `Unsupported(<capability>)`,
/// handing the closure back alive (`cancel_timer` / `unregister` return
/// `Err(OpError::Unsupported)`); a declared capability must accept on a running loop (the
/// microtask runs, the timer fires, the fd registers and unregisters). `submit_internal` is
/// accepted and runs either way. Same in quick mode.
pub fn check_capabilities_declared<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "capabilities_declared", |c| {
        let caps = L::CAPABILITIES;
        let lp = c.new_loop::<L>()?;
        if lp.capabilities() != caps {
            return Err(c.fail(format!(
                "capabilities() returned {:?} but CAPABILITIES is {caps:?}",
                lp.capabilities()
            )));
        }
        let mut lt = c.start(&lp)?;
        let probes = ProbeSet::new(8);
        let mut expect_ran = 0_u64;

        c.phase("submit_internal");
        lp.submit_internal(probes.task(0))
            .map_err(|r| c.fail(format!("submit_internal rejected: {}", r.reason)))?;
        expect_ran += 1;

        c.phase("schedule_microtask");
        match lp.schedule_microtask(probes.task(1)) {
            Ok(()) if caps.microtasks => expect_ran += 1,
            Ok(()) => {
                return Err(c.fail(
                    "schedule_microtask accepted although microtasks are declared unsupported",
                ));
            }
            Err(r) => unsupported(
                c,
                &probes,
                1,
                caps.microtasks,
                Capability::Microtasks,
                r.reason,
                r.task,
            )?,
        }

        c.phase("schedule_timer / cancel_timer");
        match lp.schedule_timer(Duration::ZERO, probes.task(2)) {
            Ok(_) if caps.timers => expect_ran += 1,
            Ok(_) => {
                return Err(
                    c.fail("schedule_timer accepted although timers are declared unsupported")
                );
            }
            Err(r) => {
                unsupported(c, &probes, 2, caps.timers, Capability::Timers, r.reason, r.task)?
            }
        }
        if !caps.timers {
            let r = lp.cancel_timer(loop_api::TimerId(1));
            if r != Err(OpError::Unsupported(Capability::Timers)) {
                return Err(c.fail(format!("cancel_timer without the timers capability returned {r:?}; expected Err(Unsupported(Timers))")));
            }
        }

        c.phase("register_readable / unregister");
        let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?;
        let p = probes.probe(3);
        let cb = move || {
            let _keep = &p;
        };
        match lp.register_readable(pipe.read_fd, cb) {
            Ok(()) if caps.readiness => {
                lp.unregister(pipe.read_fd).map_err(|e| {
                    c.fail(format!("unregister after a successful register failed: {e}"))
                })?;
            }
            Ok(()) => {
                return Err(c.fail(
                    "register_readable accepted although readiness is declared unsupported",
                ));
            }
            Err(r) => {
                if caps.readiness {
                    return Err(c.fail(format!(
                        "register_readable on a pipe rejected although readiness is declared: {}",
                        r.reason
                    )));
                }
                if r.reason != RejectReason::Unsupported(Capability::Readiness) {
                    return Err(c.fail(format!("register_readable without the readiness capability rejected with `{}`; expected Unsupported(readiness)", r.reason)));
                }
                if probes.drops_of(3) != 0 {
                    return Err(c.fail(
                        "the rejected readiness callback was dropped instead of handed back",
                    ));
                }
                drop(r);
                let u = lp.unregister(pipe.read_fd);
                if u != Err(OpError::Unsupported(Capability::Readiness)) {
                    return Err(c.fail(format!("unregister without the readiness capability returned {u:?}; expected Err(Unsupported(Readiness))")));
                }
            }
        }

        probes.wait_ran(expect_ran, &c.deadline()).map_err(|seen| {
            c.timeout(format!("only {seen} of {expect_ran} accepted optional callbacks ran"))
        })?;
        c.stop(&mut lt)?;
        drop(pipe);
        c.note(format!("declared {caps:?}: every optional operation behaved as declared"));
        Ok(())
    })
}

fn unsupported<F>(
    c: &Check,
    probes: &Arc<ProbeSet>,
    id: usize,
    declared: bool,
    cap: Capability,
    reason: RejectReason,
    task: F,
) -> Result<(), Violation> {
    if declared {
        return Err(
            c.fail(format!("{cap} declared supported but the operation was rejected: {reason}"))
        );
    }
    if reason != RejectReason::Unsupported(cap) {
        return Err(c.fail(format!("{cap} declared unsupported but the rejection reason was `{reason}`; expected Unsupported({cap})")));
    }
    if probes.drops_of(id) != 0 || probes.runs_of(id) != 0 {
        return Err(c.fail(format!(
            "the closure rejected as unsupported ({cap}) was run or dropped instead of handed back"
        )));
    }
    drop(task);
    if probes.drops_of(id) != 1 {
        return Err(c.fail(format!("the closure handed back for {cap} is not the one given")));
    }
    Ok(())
}
