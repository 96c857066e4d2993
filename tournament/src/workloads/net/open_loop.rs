//! Open-loop (fixed offered rate) echo load with latency measured from each message's
//! **intended** send time: the coordinated-omission correction.
//!
//! ## Why
//!
//! A closed-loop client (the `echo` workload's, and `wrk`) sends a connection's next message
//! only after the previous echo came back. When the server stalls, the client stops sending for
//! as long, so the stall shows up in **one** measured round trip, while every message that a
//! real user would have sent during it (and that would have waited) is never measured: the
//! client has coordinated with the server to omit the bad samples. Gil Tene named this
//! "coordinated omission" ("How NOT to Measure Latency", 2013–2015) and corrected for it in
//! HdrHistogram (`recordValueWithExpectedInterval`) and in `wrk2` (a constant-throughput fork of
//! `wrk` that measures each request from the time it *should* have been sent).
//!
//! ## The model (wrk2's)
//!
//! The offered load is a rate R (messages/s) over C connections. Global message `j` (message
//! `k` of connection `i`, `j = k·C + i`) is **intended** at `j / R` seconds after the start: the
//! sends are spread evenly over time and over connections ([`Schedule`]). Each connection keeps
//! at most one message in flight (so every echoed byte can still be verified in order): a
//! message is sent at its intended time, or — when the previous echo of its connection comes
//! back after that time — at once on that echo ([`OpenLoop::on_echoed`]). Its latency is
//!
//! * **corrected** = echo complete − intended send time (what a user who wanted to send at the
//!   intended time waited), recorded in the workload's histogram, and
//! * **uncorrected** = echo complete − actual send time (what a closed-loop client reports),
//!   kept beside it to show how much the correction adds.
//!
//! A client that sends late because it is itself busy is charged the delay too (it is
//! indistinguishable from a late server from the outside); `send_lag` (actual − intended send
//! time of messages sent on their slot) tells how punctual the client was.
//!
//! Everything here works on nanoseconds since the start of the message phase, so the
//! accounting is a pure function of the event times: the client feeds it real clock readings,
//! the tests a scripted server.

use hdrhistogram::Histogram;

use crate::workloads::latency_histogram;

/// A fixed-rate send schedule over `connections` connections: message `k` of connection `i`
/// (global message `j = k·C + i`) is intended at `j × 10⁹ / rate` ns after the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Connections C (≥ 1).
    pub connections: u64,
    /// Offered rate R, messages per second over all connections (> 0).
    pub rate_per_s: f64,
}

impl Schedule {
    /// A schedule of `rate_per_s` messages/s over `connections` connections.
    ///
    /// # Panics
    /// `connections` is 0, or `rate_per_s` is not a positive finite number.
    pub fn new(rate_per_s: f64, connections: u64) -> Self {
        assert!(connections > 0, "an open-loop schedule needs at least one connection");
        assert!(
            rate_per_s.is_finite() && rate_per_s > 0.0,
            "offered rate must be positive and finite, got {rate_per_s}"
        );
        Schedule { connections, rate_per_s }
    }

    /// Intended send time of global message `slot`, ns after the start.
    pub fn slot_ns(&self, slot: u64) -> u64 {
        (slot as f64 * 1e9 / self.rate_per_s) as u64
    }

    /// Intended send time of message `msg` of connection `conn`, ns after the start.
    pub fn intended_ns(&self, conn: u64, msg: u64) -> u64 {
        self.slot_ns(msg * self.connections + conn)
    }
}

/// One connection's open-loop state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ConnClock {
    /// The message the connection sends next, or has in flight.
    msg: u64,
    /// (intended, actual) send time of the message in flight, ns.
    in_flight: Option<(u64, u64)>,
}

/// The open-loop accounting of one message phase: which connection sends when, and the
/// corrected and uncorrected latency of every echoed message (module docs).
pub struct OpenLoop {
    schedule: Schedule,
    /// Messages per connection.
    messages: u64,
    conns: Vec<ConnClock>,
    /// The next global slot not yet handed out by [`OpenLoop::due_sends`].
    next_slot: u64,
    /// Echo complete − intended send time, ns, per message (coordinated-omission corrected).
    pub corrected: Histogram<u64>,
    /// Echo complete − actual send time, ns, per message (what a closed loop reports).
    pub uncorrected: Histogram<u64>,
    /// Actual − intended send time of the messages sent on their slot (not those sent late on
    /// their predecessor's echo), ns: the client's own punctuality.
    pub send_lag: Histogram<u64>,
}

impl OpenLoop {
    /// An open loop over `schedule` in which each connection sends `messages` messages.
    pub fn new(schedule: Schedule, messages: u64) -> Self {
        OpenLoop {
            schedule,
            messages,
            conns: vec![ConnClock::default(); schedule.connections as usize],
            next_slot: 0,
            corrected: latency_histogram(),
            uncorrected: latency_histogram(),
            send_lag: latency_histogram(),
        }
    }

    /// The schedule.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Hands out every slot intended at or before `now_ns` and not handed out yet: appends to
    /// `out` (in slot order) the connections that must send their next message now, and marks
    /// that message in flight (sent at `now_ns`). A slot whose connection still waits for its
    /// previous echo is passed over: that connection sends on the echo
    /// ([`OpenLoop::on_echoed`]).
    pub fn due_sends(&mut self, now_ns: u64, out: &mut Vec<usize>) {
        let total = self.messages * self.schedule.connections;
        while self.next_slot < total {
            let intended = self.schedule.slot_ns(self.next_slot);
            if intended > now_ns {
                break;
            }
            let conn = (self.next_slot % self.schedule.connections) as usize;
            let msg = self.next_slot / self.schedule.connections;
            let c = &mut self.conns[conn];
            if c.in_flight.is_none() && c.msg == msg {
                c.in_flight = Some((intended, now_ns));
                self.send_lag.saturating_record((now_ns - intended).max(1));
                out.push(conn);
            }
            self.next_slot += 1;
        }
    }

    /// Connection `conn`'s message in flight was completely echoed at `now_ns`: records its
    /// corrected and uncorrected latency (returned, in that order, ns) and moves the connection
    /// to its next message. `send_next` is `true` when that next message's slot has already
    /// been handed out while this one was in flight: it is late, and is now in flight (sent at
    /// `now_ns`), so the caller must write it at once.
    ///
    /// # Panics
    /// `conn` has no message in flight (the caller's bookkeeping is broken).
    pub fn on_echoed(&mut self, conn: usize, now_ns: u64) -> Echoed {
        let c = &mut self.conns[conn];
        let (intended, sent) = c.in_flight.take().expect("an echo completes a message in flight");
        let corrected = now_ns.saturating_sub(intended).max(1);
        let uncorrected = now_ns.saturating_sub(sent).max(1);
        self.corrected.saturating_record(corrected);
        self.uncorrected.saturating_record(uncorrected);
        c.msg += 1;
        let next_slot = c.msg * self.schedule.connections + conn as u64;
        let send_next = c.msg < self.messages && next_slot < self.next_slot;
        if send_next {
            c.in_flight = Some((self.schedule.slot_ns(next_slot), now_ns));
        }
        Echoed { corrected, uncorrected, send_next }
    }

    /// When the next slot not yet handed out is intended, ns after the start; `None` once every
    /// slot was handed out.
    pub fn next_slot_ns(&self) -> Option<u64> {
        (self.next_slot < self.messages * self.schedule.connections)
            .then(|| self.schedule.slot_ns(self.next_slot))
    }
}

/// What [`OpenLoop::on_echoed`] recorded and decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echoed {
    /// Echo complete − intended send time, ns.
    pub corrected: u64,
    /// Echo complete − actual send time, ns.
    pub uncorrected: u64,
    /// The connection's next message is due already and is now in flight: write it at once.
    pub send_next: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives an [`OpenLoop`] against a scripted server in virtual time: the server echoes each
    /// message `service_ns` after it was sent, except that nothing is echoed during
    /// `[stall_from, stall_to)` (echoes due then all complete at `stall_to`). Returns the loop.
    fn simulate(
        rate: f64,
        conns: u64,
        messages: u64,
        service_ns: u64,
        stall: (u64, u64),
    ) -> OpenLoop {
        let mut ol = OpenLoop::new(Schedule::new(rate, conns), messages);
        // (echo time, conn) of the messages in flight.
        let mut pending: Vec<(u64, usize)> = Vec::new();
        let echo_at = |sent: u64| {
            let t = sent + service_ns;
            if t >= stall.0 && t < stall.1 { stall.1 } else { t }
        };
        let mut out = Vec::new();
        loop {
            let next_echo = pending.iter().map(|p| p.0).min();
            let next = match (ol.next_slot_ns(), next_echo) {
                (None, None) => break,
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap(),
            };
            // Echoes first at equal times (a connection sending on its slot must be free).
            if next_echo == Some(next) {
                let i = pending.iter().position(|p| p.0 == next).unwrap();
                let (_, conn) = pending.swap_remove(i);
                if ol.on_echoed(conn, next).send_next {
                    pending.push((echo_at(next), conn));
                }
                continue;
            }
            out.clear();
            ol.due_sends(next, &mut out);
            for &conn in &out {
                pending.push((echo_at(next), conn));
            }
        }
        ol
    }

    #[test]
    fn the_schedule_spreads_sends_over_time_and_connections() {
        let s = Schedule::new(1e6, 4); // one message per µs over 4 connections
        assert_eq!(s.intended_ns(0, 0), 0);
        assert_eq!(s.intended_ns(3, 0), 3_000);
        assert_eq!(s.intended_ns(0, 1), 4_000);
        assert_eq!(s.intended_ns(2, 5), 22_000);
    }

    #[test]
    fn a_fast_server_has_equal_corrected_and_uncorrected_latency() {
        let ol = simulate(100_000.0, 4, 250, 2_000, (0, 0));
        assert_eq!(ol.corrected.len(), 1_000);
        assert_eq!(ol.corrected.max(), 2_000);
        assert_eq!(ol.uncorrected.max(), 2_000);
        assert_eq!(ol.send_lag.max(), 1, "every send on its slot");
    }

    #[test]
    fn a_stalled_server_shows_in_the_corrected_tail_only() {
        // 1 message per 10 µs on one connection, 2 µs service, and a 10 ms stall at 20 ms:
        // ~1,000 intended sends fall into the stall.
        let ol = simulate(100_000.0, 1, 10_000, 2_000, (20_000_000, 30_000_000));
        assert_eq!(ol.corrected.len(), 10_000);
        assert_eq!(ol.uncorrected.len(), 10_000);
        // Closed-loop view: a single message waited out the stall; p99 is the service time.
        assert_eq!(ol.uncorrected.value_at_quantile(0.99), 2_000);
        assert!(ol.uncorrected.max() >= 9_990_000, "{}", ol.uncorrected.max());
        // Corrected: every message intended during the stall waited for its end (and the
        // backlog after it), so about 10% of them exceed 2 ms and p99 is in milliseconds.
        let p99 = ol.corrected.value_at_quantile(0.99);
        assert!(p99 > 8_000_000, "corrected p99 {p99} ns");
        // The ~1,000 intended during the stall, and ~125 of those intended while the backlog
        // drained (catching up at 2 µs per message against 10 µs per new slot takes 2.5 ms).
        let over_1ms: u64 = ol
            .corrected
            .iter_recorded()
            .filter(|v| v.value_iterated_to() > 1_000_000)
            .map(|v| v.count_at_value())
            .sum();
        assert!((1_050..=1_200).contains(&over_1ms), "{over_1ms} messages waited > 1 ms");
        let closed: u64 = ol
            .uncorrected
            .iter_recorded()
            .filter(|v| v.value_iterated_to() > 1_000_000)
            .map(|v| v.count_at_value())
            .sum();
        assert_eq!(closed, 1, "the closed-loop view sees one slow message");
        assert!(ol.corrected.max() >= ol.uncorrected.max());
    }

    #[test]
    fn a_late_connection_sends_on_its_echo_and_catches_up() {
        let mut ol = OpenLoop::new(Schedule::new(1e6, 1), 3); // slots at 0, 1000, 2000 ns
        let mut out = Vec::new();
        ol.due_sends(0, &mut out);
        assert_eq!(out, [0]);
        out.clear();
        ol.due_sends(2_500, &mut out); // slots 1 and 2 due while message 0 is in flight
        assert!(out.is_empty());
        let e = ol.on_echoed(0, 3_000);
        assert_eq!((e.corrected, e.uncorrected, e.send_next), (3_000, 3_000, true));
        let e = ol.on_echoed(0, 3_100); // message 1: intended 1000, sent 3000
        assert_eq!((e.corrected, e.uncorrected, e.send_next), (2_100, 100, true));
        let e = ol.on_echoed(0, 3_200); // message 2: intended 2000
        assert_eq!((e.corrected, e.send_next), (1_200, false));
        assert_eq!(ol.next_slot_ns(), None);
    }
}
