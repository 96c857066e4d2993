//! `echo-open`: the `echo` server (trait-based, or a peer's native one) under an **open-loop**
//! client: C connections send 64-byte messages at a fixed offered rate, a fraction (the point's
//! load: 25%, 50% or 80%) of a measured closed-loop echo capacity, and every message's latency
//! is counted from its *intended* send time (coordinated-omission corrected, HdrHistogram;
//! [`super::open_loop`] has the model, after Gil Tene and wrk2).
//!
//! ## The capacity the loads are fractions of
//!
//! `tournament run` calls [`calibrate`] at the start of each `echo-open` cell
//! ([`crate::workloads::prepare_cell`]), with every contender measured in it: each runs
//! [`PROBE_SAMPLES`] closed-loop `echo` samples at the cell's C and M (untimed for the report),
//! the median `messages_per_s` of each is its capacity, and the **best contender's** is the
//! reference every contender's offered rate is a fraction of, so all contenders of a run see
//! the same offered load. It is measured once per process and C (the 25/50/80% cells of a full
//! run share it; a resumed run measures it again). A sample run without it (a test, `cargo
//! bench`) measures its own contender's capacity first and offers the fraction of that.
//!
//! ## A sample
//!
//! `ok` as for `echo` (every connection completed every message, every byte verified). Primary
//! metric: the mean corrected latency per message (the sample's "wall" is that mean × the
//! messages, from the histogram at 3 significant digits), so lower is better and the cell's
//! median, CI and verdicts read like every other latency cell; the summary's p50/p99/p99.9 come
//! from the merged corrected histograms. Secondary metrics: `offered_messages_per_s`,
//! `reference_capacity_messages_per_s`, `load_pct`, `messages_per_s` (achieved: messages ÷
//! the message phase), `uncorrected_p99_ns` and `uncorrected_p999_ns` (from the actual send
//! time: what a closed-loop client would have reported), `send_lag_p99_ns` (how late the client
//! itself sent, a check on the load generator), and `echo`'s (failed connections, client CPU,
//! callbacks and syscalls per message).

use std::sync::Mutex;

use loop_api::{Capability, EventLoop, LoopConfig};

use super::client::EchoReport;
use super::echo::{self, drive_with, point, shape};
use super::server::LoopServer;
use super::syscalls::start_counted;
use super::{NativeServerFn, NetServer, Protocol};
use crate::contenders::Contender;
use crate::harness::SampleError;
use crate::stats;
use crate::workloads::{Metric, Mode, Param, SampleOutcome, WorkloadSpec};

/// Registry entry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    id: "echo-open",
    description: "open-loop echo: C connections send 64-byte messages at a fixed offered rate, a \
                  fraction (load=25/50/80%) of the best contender's closed-loop echo capacity \
                  measured at the start of the cell; each message's latency counts from its \
                  intended send time (coordinated-omission corrected)",
    timed_scope: "`go` sent to the connected client → its result line; primary: mean latency \
                  per message from its intended send time; histogram: each message's corrected \
                  latency",
    unit: "ns/message (mean corrected latency)",
    requires: &[Capability::Readiness],
    params,
};

/// Closed-loop `echo` samples per contender in [`calibrate`] (their median is its capacity).
pub const PROBE_SAMPLES: usize = 3;

/// `load=<pct>%` at C connections × M messages.
fn open_point(connections: u64, messages: u64, pct: u32) -> Param {
    let mut p = point(connections, messages).with_load_pct(pct);
    p.id = format!("load={pct}%");
    p
}

fn params(mode: Mode) -> Vec<Param> {
    match mode {
        Mode::Smoke => vec![open_point(10, 20, 80)],
        // One level in quick mode: 20,000 messages (200 beyond the p99).
        Mode::Quick => vec![open_point(100, 200, 80)],
        Mode::Full => [25, 50, 80].into_iter().map(|pct| open_point(100, 500, pct)).collect(),
    }
}

/// The capacity the offered loads of this process's cells are fractions of.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Connections it was measured at.
    pub connections: u64,
    /// Closed-loop echo capacity, messages/s (the best contender's median).
    pub messages_per_s: f64,
    /// The contender it was measured on.
    pub contender: String,
}

static REFERENCE: Mutex<Vec<Reference>> = Mutex::new(Vec::new());

/// The reference capacity recorded for `connections` in this process, if any.
pub fn reference(connections: u64) -> Option<Reference> {
    let refs = REFERENCE.lock().unwrap_or_else(|e| e.into_inner());
    refs.iter().find(|r| r.connections == connections).cloned()
}

/// Records `r` as the reference for its connection count (replacing an earlier one).
pub fn set_reference(r: Reference) {
    let mut refs = REFERENCE.lock().unwrap_or_else(|e| e.into_inner());
    refs.retain(|x| x.connections != r.connections);
    refs.push(r);
}

/// The closed-loop `echo` point a capacity is measured at: the open point's C and M.
pub fn probe_param(param: &Param) -> Param {
    let (c, m) = shape(param);
    point(c, m)
}

/// Median `messages_per_s` of `samples` closed-loop echo samples taken by `sample`.
///
/// # Errors
/// Any sample failed, or reported no rate.
pub fn measure_capacity(
    samples: usize,
    mut sample: impl FnMut() -> Result<SampleOutcome, SampleError>,
) -> Result<f64, SampleError> {
    let mut rates = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        let out = sample()?;
        let rate = out.metrics.iter().find(|m| m.name == "messages_per_s").map(|m| m.value);
        rates.push(rate.ok_or_else(|| SampleError("echo reported no messages_per_s".into()))?);
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// Measures the reference capacity for `param`'s connection count on `contenders` (module
/// docs) unless this process already has one; prints what it found on stderr. A contender
/// whose probe fails is left out (its `echo-open` samples will fail or be gaps on their own);
/// if every probe fails, no reference is set and each sample falls back to its own capacity.
pub fn calibrate(param: &Param, contenders: &[&Contender]) {
    let (c, _) = shape(param);
    if reference(c).is_some() {
        return;
    }
    let probe = probe_param(param);
    let mut best: Option<Reference> = None;
    for con in contenders {
        let config = (con.config)();
        match measure_capacity(PROBE_SAMPLES, || con.sample("echo", &probe, &config)) {
            Ok(rate) => {
                eprintln!("echo-open: capacity of {} at c={c}: {rate:.0} messages/s", con.id);
                if best.as_ref().is_none_or(|b| rate > b.messages_per_s) {
                    best = Some(Reference {
                        connections: c,
                        messages_per_s: rate,
                        contender: con.id.to_string(),
                    });
                }
            }
            Err(e) => eprintln!("echo-open: capacity probe of {} failed: {e}", con.id),
        }
    }
    match best {
        Some(r) => {
            eprintln!(
                "echo-open: offered loads are fractions of {:.0} messages/s ({}, best at c={c})",
                r.messages_per_s, r.contender
            );
            set_reference(r);
        }
        None => eprintln!("echo-open: no capacity probe succeeded; samples use their own"),
    }
}

/// The reference capacity for `param`, or (none recorded) the one `own` measures.
fn capacity(
    param: &Param,
    own: impl FnMut() -> Result<SampleOutcome, SampleError>,
) -> Result<f64, SampleError> {
    match reference(shape(param).0) {
        Some(r) => Ok(r.messages_per_s),
        None => measure_capacity(1, own)
            .map_err(|e| SampleError(format!("measuring the echo capacity: {e}"))),
    }
}

/// The offered rate of `param` against `capacity`, messages/s.
///
/// # Errors
/// `param` has no load, or the rate is not a positive finite number.
pub fn offered_rate(param: &Param, capacity: f64) -> Result<f64, SampleError> {
    let pct = param
        .load_pct
        .ok_or_else(|| SampleError(format!("point {} has no offered load", param.id)))?;
    let rate = capacity * f64::from(pct) / 100.0;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(SampleError(format!("offered rate {rate} messages/s is not positive")))
    }
}

/// One sample against contender `L`'s loop.
///
/// # Errors
/// The capacity could not be measured, or the sample failed as an `echo` sample does.
pub fn run<L: EventLoop>(param: &Param, config: &LoopConfig) -> Result<SampleOutcome, SampleError> {
    let cap = capacity(param, || echo::run::<L>(&probe_param(param), config))?;
    let config = config.clone();
    let (server, counter) = start_counted(move || {
        Ok(Box::new(LoopServer::<L>::start(&config, Protocol::Echo)?) as Box<dyn NetServer>)
    })?;
    let rate = offered_rate(param, cap)?;
    let (outcome, report) = drive_with(server, counter.as_ref(), param, Some(rate))?;
    open_outcome(outcome, &report, param, cap)
}

/// One sample against a contender's native server.
///
/// # Errors
/// As [`run`].
pub fn run_native(native: NativeServerFn, param: &Param) -> Result<SampleOutcome, SampleError> {
    let cap = capacity(param, || echo::run_native(native, &probe_param(param)))?;
    let (server, counter) = start_counted(move || native(Protocol::Echo))?;
    let rate = offered_rate(param, cap)?;
    let (outcome, report) = drive_with(server, counter.as_ref(), param, Some(rate))?;
    open_outcome(outcome, &report, param, cap)
}

/// Turns an open-loop `echo` outcome into this workload's: the primary metric becomes the mean
/// corrected latency (module docs) and the open-loop metrics are added.
///
/// # Errors
/// The client ran closed-loop (no open-loop report), or its histograms are unreadable.
pub fn open_outcome(
    mut outcome: SampleOutcome,
    report: &EchoReport,
    param: &Param,
    capacity: f64,
) -> Result<SampleOutcome, SampleError> {
    let open = report
        .open_loop
        .as_ref()
        .ok_or_else(|| SampleError("echo-client ran closed-loop (no open-loop report)".into()))?;
    let decode = |b64: &str| {
        stats::decode_histogram(b64).map_err(|e| SampleError(format!("echo-client: {e:#}")))
    };
    let uncorrected = decode(&open.uncorrected_v2_base64)?;
    let lag = decode(&open.send_lag_v2_base64)?;
    let corrected = outcome.latency.as_ref().ok_or_else(|| SampleError("no histogram".into()))?;
    outcome.measured.wall_ns = (corrected.mean() * corrected.len() as f64).round() as u64;
    let m = |name, unit, value| Metric { name, unit, value };
    outcome.metrics.extend([
        m("offered_messages_per_s", "messages/s", open.offered_per_s),
        m("reference_capacity_messages_per_s", "messages/s", capacity),
        m("load_pct", "%", f64::from(param.load_pct.unwrap_or(0))),
        m("uncorrected_p99_ns", "ns", uncorrected.value_at_quantile(0.99) as f64),
        m("uncorrected_p999_ns", "ns", uncorrected.value_at_quantile(0.999) as f64),
        m("send_lag_p99_ns", "ns", lag.value_at_quantile(0.99) as f64),
    ]);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_carry_their_load_and_the_echo_shape() {
        for mode in [Mode::Smoke, Mode::Quick, Mode::Full] {
            for p in params(mode) {
                let pct = p.load_pct.expect("every point has a load");
                assert_eq!(p.id, format!("load={pct}%"));
                let (c, m) = shape(&p);
                assert_eq!(probe_param(&p), point(c, m));
            }
        }
        let full: Vec<_> = params(Mode::Full).iter().map(|p| p.load_pct.unwrap()).collect();
        assert_eq!(full, [25, 50, 80]);
        assert_eq!(params(Mode::Quick)[0].load_pct, Some(80));
    }

    #[test]
    fn the_offered_rate_is_the_fraction_of_the_capacity() {
        let p = open_point(100, 10, 80);
        assert_eq!(offered_rate(&p, 100_000.0).unwrap(), 80_000.0);
        assert!(offered_rate(&point(100, 10), 1.0).is_err(), "a point without a load");
        assert!(offered_rate(&p, 0.0).is_err());
    }

    #[test]
    fn the_capacity_is_the_median_probe() {
        let mut rates = [30.0, 10.0, 20.0].into_iter();
        let got = measure_capacity(3, || {
            let mut o = fake_outcome();
            o.metrics.push(Metric {
                name: "messages_per_s",
                unit: "messages/s",
                value: rates.next().unwrap(),
            });
            Ok(o)
        });
        assert_eq!(got.unwrap(), 20.0);
        assert!(measure_capacity(1, || Ok(fake_outcome())).is_err(), "no rate reported");
    }

    fn fake_outcome() -> SampleOutcome {
        SampleOutcome {
            tasks: 1,
            ops: Some(1),
            measured: crate::workloads::NO_TIME,
            wake_syscalls: None,
            latency: None,
            allocs: None,
            alloc_bytes: None,
            metrics: Vec::new(),
        }
    }
}
