//! Measures the CPU time an idle `MainLoop` thread uses (the issue's bar: < 1% of a core): runs
//! one task (so the loop has just been busy and starts its spin), leaves it idle for 1 s and
//! reads the loop thread's utime + stime from `/proc/self/task/<tid>/stat` (10 ms ticks).
//!
//! ```text
//! cargo run --release -p loop-main --example idle_cpu
//! ```
//! A measurement, not a test: it prints the share of one core the idle loop used.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use loop_api::{EventLoop, LoopConfig};
use loop_main::MainLoop;

/// utime + stime of thread `tid` of this process, in clock ticks (fields 14 and 15 of stat).
fn thread_cpu_ticks(tid: i64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    // after_comm starts at field 3 (state); utime is field 14, stime 15.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn main() {
    for (name, config) in [
        ("main", LoopConfig::default()),
        ("main/always-epoll", LoopConfig { always_poll: true, ..LoopConfig::default() }),
    ] {
        let lp = Arc::new(MainLoop::new(&config).unwrap());
        let (tid_tx, tid_rx) = mpsc::channel();
        let runner = {
            let lp = lp.clone();
            std::thread::spawn(move || lp.run().unwrap())
        };
        lp.submit(move || {
            // The loop thread's kernel thread id, through /proc (no libc needed).
            let link = std::fs::read_link("/proc/thread-self").unwrap();
            let tid: i64 = link.file_name().unwrap().to_str().unwrap().parse().unwrap();
            tid_tx.send(tid).unwrap();
        })
        .unwrap_or_else(|r| panic!("{r}"));
        let tid = tid_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let before = thread_cpu_ticks(tid);
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs(1)); // a measurement window, not synchronisation
        let used = thread_cpu_ticks(tid) - before;
        let wall = start.elapsed();
        let ticks_per_s = 100.0; // USER_HZ on Linux
        let share = used as f64 / ticks_per_s / wall.as_secs_f64() * 100.0;
        let stats = lp.stats();
        println!(
            "{name}: idle loop thread used {used} ticks (10 ms each) in {wall:?} = {share:.2}% of a core; sleeps={} polls={}",
            stats.sleeps, stats.polls
        );
        lp.shutdown(Duration::from_secs(5)).unwrap();
        runner.join().unwrap();
    }
}
