//! Thread affinity: every callback runs on the loop thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use loop_api::EventLoop;

use super::run_check;
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Pipe, Tally, drain_fd, lock};

/// Compares the current thread with the loop thread for each callback.
struct Recorder {
    loop_thread: ThreadId,
    seen: Tally,
    wrong: AtomicU64,
    first_wrong: Mutex<Option<String>>,
}

impl Recorder {
    fn observe(&self, source: &str) {
        let me = thread::current().id();
        if me != self.loop_thread {
            self.wrong.fetch_add(1, Ordering::SeqCst);
            lock(&self.first_wrong).get_or_insert_with(|| {
                format!(
                    "a callback from {source} ran on thread {me:?} ({:?}), not on the loop thread {:?}",
                    thread::current().name(),
                    self.loop_thread
                )
            });
        }
        self.seen.add(1);
    }

    fn task(self: &Arc<Self>, source: &'static str) -> impl FnOnce() + Send + 'static + use<> {
        let r = self.clone();
        move || r.observe(source)
    }
}

/// **thread_affinity**: every callback observes the loop thread's id, whoever submitted it
/// (regression test for the historical Main bug that ran `SubmitInternal` tasks on the caller's
/// goroutine). Sources, all checked:
///
/// * the check's thread: 100 `submit` + 100 `submit_internal`;
/// * 4 producer threads released together: 50 `submit` + 50 `submit_internal` each;
/// * inside 50 tasks: one `submit` and one `submit_internal` each;
/// * microtasks (if supported): 50 from a foreign thread, 50 from inside tasks;
/// * timers (if supported): 20 from a foreign thread (0–2 ms), 20 from inside a task;
/// * a readiness callback (if supported).
///
/// Same N in quick mode.
pub fn check_thread_affinity<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "thread_affinity", |c| {
        let caps = L::CAPABILITIES;
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let rec = Arc::new(Recorder {
            loop_thread: lt.thread_id(),
            seen: Tally::new(),
            wrong: AtomicU64::new(0),
            first_wrong: Mutex::new(None),
        });
        let mut expected = 0_u64;
        let reject = |what: &str, e: String| c.fail(format!("{what} rejected: {e}"));

        c.phase("from the check's thread");
        for _ in 0..100 {
            lp.submit(rec.task("submit (check thread)"))
                .map_err(|r| reject("submit", r.reason.to_string()))?;
            lp.submit_internal(rec.task("submit_internal (check thread)"))
                .map_err(|r| reject("submit_internal", r.reason.to_string()))?;
            expected += 2;
        }

        c.phase("from 4 producer threads");
        let (l, r) = (lp.clone(), rec.clone());
        let results = c.parallel("producer", 4, move |_| {
            for _ in 0..50 {
                l.submit(r.task("submit (producer thread)")).map_err(|e| e.reason.to_string())?;
                l.submit_internal(r.task("submit_internal (producer thread)"))
                    .map_err(|e| e.reason.to_string())?;
            }
            Ok::<(), String>(())
        })?;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(reject("a producer's submission", e));
        }
        expected += 4 * 100;

        c.phase("from inside tasks");
        let problems = Arc::new(Mutex::new(Vec::<String>::new()));
        for _ in 0..50 {
            let (l, r, p) = (lp.clone(), rec.clone(), problems.clone());
            lp.submit(move || {
                if let Err(e) = l.submit(r.task("submit (inside a task)")) {
                    lock(&p).push(format!("submit inside a task rejected: {}", e.reason));
                }
                if let Err(e) = l.submit_internal(r.task("submit_internal (inside a task)")) {
                    lock(&p).push(format!("submit_internal inside a task rejected: {}", e.reason));
                }
            })
            .map_err(|r| reject("submit", r.reason.to_string()))?;
            expected += 2;
        }

        if caps.microtasks {
            c.phase("microtasks");
            for _ in 0..50 {
                lp.schedule_microtask(rec.task("schedule_microtask (foreign thread)"))
                    .map_err(|r| reject("schedule_microtask", r.reason.to_string()))?;
                let (l, r, p) = (lp.clone(), rec.clone(), problems.clone());
                lp.submit(move || {
                    if let Err(e) =
                        l.schedule_microtask(r.task("schedule_microtask (inside a task)"))
                    {
                        lock(&p).push(format!(
                            "schedule_microtask inside a task rejected: {}",
                            e.reason
                        ));
                    }
                })
                .map_err(|r| reject("submit", r.reason.to_string()))?;
                expected += 2;
            }
        }

        if caps.timers {
            c.phase("timers");
            for k in 0..20_u64 {
                lp.schedule_timer(
                    Duration::from_micros(k * 100),
                    rec.task("schedule_timer (foreign thread)"),
                )
                .map_err(|r| reject("schedule_timer", r.reason.to_string()))?;
            }
            let (l, r, p) = (lp.clone(), rec.clone(), problems.clone());
            lp.submit(move || {
                for k in 0..20_u64 {
                    if let Err(e) = l.schedule_timer(
                        Duration::from_micros(k * 100),
                        r.task("schedule_timer (inside a task)"),
                    ) {
                        lock(&p)
                            .push(format!("schedule_timer inside a task rejected: {}", e.reason));
                    }
                }
            })
            .map_err(|r| reject("submit", r.reason.to_string()))?;
            expected += 40;
        }

        let mut _pipe = None;
        if caps.readiness {
            c.phase("readiness callback");
            let pipe = Pipe::new().map_err(|e| c.setup(format!("pipe2 failed: {e}")))?;
            let (fd, r) = (pipe.read_fd, rec.clone());
            lp.register_readable(fd, move || {
                if drain_fd(fd) > 0 {
                    r.observe("register_readable callback");
                }
            })
            .map_err(|r| reject("register_readable", r.reason.to_string()))?;
            pipe.write(1).map_err(|e| c.setup(format!("write to pipe failed: {e}")))?;
            expected += 1;
            _pipe = Some(pipe);
        }

        c.phase("waiting for every callback");
        rec.seen
            .wait_for(expected, &c.deadline())
            .map_err(|seen| c.timeout(format!("only {seen} of {expected} callbacks ran")))?;
        if let Some(p) = lock(&problems).first() {
            return Err(c.fail(p.clone()));
        }
        if let Some(pipe) = &_pipe {
            lp.unregister(pipe.read_fd).map_err(|e| c.fail(format!("unregister failed: {e}")))?;
        }
        c.stop(&mut lt)?;
        let wrong = rec.wrong.load(Ordering::SeqCst);
        if wrong > 0 {
            let first = lock(&rec.first_wrong).clone().unwrap_or_default();
            return Err(c.fail(format!(
                "{wrong} of {expected} callbacks ran off the loop thread; first: {first}"
            )));
        }
        c.count("callbacks", expected);
        c.note(format!("all {expected} callbacks from every source ran on the loop thread"));
        Ok(())
    })
}
