//! Per-producer FIFO order.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use loop_api::EventLoop;

use super::run_check;
use crate::outcome::{CheckContext, Report, Violation};
use crate::support::{Tally, lock};

/// Observes sequence numbers per producer on the loop thread.
struct Tracker {
    next: Box<[AtomicU64]>,
    out_of_order: AtomicU64,
    first: Mutex<Option<String>>,
    done: Tally,
}

impl Tracker {
    fn new(producers: usize) -> Arc<Self> {
        Arc::new(Self {
            next: (0..producers).map(|_| AtomicU64::new(0)).collect(),
            out_of_order: AtomicU64::new(0),
            first: Mutex::new(None),
            done: Tally::new(),
        })
    }

    fn observe(&self, queue: &str, producer: usize, seq: u64) {
        let expected = self.next[producer].load(Ordering::SeqCst);
        if expected != seq {
            self.out_of_order.fetch_add(1, Ordering::SeqCst);
            lock(&self.first).get_or_insert_with(|| {
                format!("{queue} task {seq} of producer {producer} ran when {expected} was expected next")
            });
        }
        self.next[producer].store(seq + 1, Ordering::SeqCst);
        self.done.add(1);
    }
}

/// **fifo_per_producer**: P producers, released together, each submit sequence-numbered tasks;
/// on the loop thread every producer's tasks must arrive in submission order. The same holds for
/// the internal queue: each producer also submits every 10th sequence number through
/// `submit_internal` (its own sequence), which must be FIFO per producer too.
///
/// External: P × per = 10 × 10,000, internal 10 × 1,000; quick: 4 × 1,000 and 4 × 100. Any
/// out-of-order arrival is a violation naming the first one seen.
pub fn check_fifo_per_producer<L: EventLoop>(ctx: &CheckContext) -> Result<Report, Violation> {
    run_check(ctx, "fifo_per_producer", |c| {
        let (producers, per) = (c.n(10, 4), c.n(10_000, 1_000));
        let per_internal = per / 10;
        c.phase(format!("{producers} producers × {per} sequenced tasks"));
        let lp = c.new_loop::<L>()?;
        let mut lt = c.start(&lp)?;
        let ext = Tracker::new(producers);
        let int = Tracker::new(producers);
        let (l, e, i) = (lp.clone(), ext.clone(), int.clone());
        let results = c.parallel("producer", producers, move |k| {
            for seq in 0..per as u64 {
                let t = e.clone();
                if let Err(r) = l.submit(move || t.observe("external", k, seq)) {
                    return Err(format!("producer {k}: submit #{seq} rejected: {}", r.reason));
                }
                if seq % 10 == 0 {
                    let t = i.clone();
                    let iseq = seq / 10;
                    if let Err(r) = l.submit_internal(move || t.observe("internal", k, iseq)) {
                        return Err(format!(
                            "producer {k}: submit_internal #{iseq} rejected: {}",
                            r.reason
                        ));
                    }
                }
            }
            Ok(())
        })?;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(c.fail(e));
        }
        let (n_ext, n_int) = ((producers * per) as u64, (producers * per_internal) as u64);
        ext.done.wait_for(n_ext, &c.deadline()).map_err(|seen| {
            c.timeout(format!("only {seen} of {n_ext} external sequenced tasks ran"))
        })?;
        int.done.wait_for(n_int, &c.deadline()).map_err(|seen| {
            c.timeout(format!("only {seen} of {n_int} internal sequenced tasks ran"))
        })?;
        c.stop(&mut lt)?;
        for (name, t) in [("external", &ext), ("internal", &int)] {
            let bad = t.out_of_order.load(Ordering::SeqCst);
            if bad > 0 {
                let first = lock(&t.first).clone().unwrap_or_default();
                return Err(c.fail(format!(
                    "{bad} {name} tasks ran out of per-producer order; first: {first}"
                )));
            }
        }
        c.count("external.in_order", n_ext);
        c.count("internal.in_order", n_int);
        c.note(format!(
            "{producers} producers: {n_ext} external and {n_int} internal tasks all ran in \
             per-producer order"
        ));
        Ok(())
    })
}
