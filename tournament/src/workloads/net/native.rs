//! Support for native servers ([`super::NativeServerFn`]): a server running its own runtime on
//! a dedicated thread, stopped through a callback, joined with a bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use loop_api::LoopStats;

use super::server::wait_closed;
use super::{NetServer, ServerCounters};
use crate::harness::{SampleError, pin_harness_thread, place_loop_thread};

/// A native server on its own thread. Build it with [`ThreadServer::spawn`].
pub struct ThreadServer {
    addr: SocketAddr,
    counters: Arc<ServerCounters>,
    stop: Option<Box<dyn FnOnce() + Send>>,
    done: Receiver<Result<(), String>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// What the server thread's body gets: where to report that it is serving.
pub struct Started(mpsc::Sender<Result<Box<dyn FnOnce() + Send>, String>>);

impl Started {
    /// Reports that the server is accepting connections; `stop`, called from another thread,
    /// must make the body return.
    pub fn serving(&self, stop: Box<dyn FnOnce() + Send>) {
        let _ = self.0.send(Ok(stop));
    }

    /// Reports that the server could not start.
    pub fn failed(&self, why: String) {
        let _ = self.0.send(Err(why));
    }
}

/// How long a native server may take to start or to stop.
const BOUND: Duration = Duration::from_secs(10);

impl ThreadServer {
    /// Runs `body` on a thread named `name`; waits (bounded) until it called
    /// [`Started::serving`]. `body` returns when its stop callback was called.
    ///
    /// # Errors
    /// The thread could not be spawned or placed, reported a failure, or did not start in time.
    pub fn spawn<B>(
        name: &str,
        addr: SocketAddr,
        counters: Arc<ServerCounters>,
        body: B,
    ) -> Result<Self, SampleError>
    where
        B: FnOnce(Started) -> Result<(), String> + Send + 'static,
    {
        // Placed like a loop thread (`harness::Placement`): the harness (and the client
        // process it spawns later) on its CPU, the server thread on the loop's.
        pin_harness_thread()?;
        let (started_tx, started_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let r = body(Started(started_tx.clone()));
                if let Err(e) = &r {
                    let _ = started_tx.send(Err(e.clone()));
                }
                let _ = done_tx.send(r);
            })
            .map_err(|e| SampleError(format!("spawning {name}: {e}")))?;
        let stop = match started_rx.recv_timeout(BOUND) {
            Ok(Ok(stop)) => stop,
            Ok(Err(e)) => return Err(SampleError(format!("{name} failed to start: {e}"))),
            Err(_) => return Err(SampleError(format!("{name} did not start within {BOUND:?}"))),
        };
        let placed = place_loop_thread(&thread);
        let server = ThreadServer { addr, counters, stop: Some(stop), done, thread: Some(thread) };
        placed?; // on error `server` drops here: stopped and joined
        Ok(server)
    }

    fn stop_and_join(&mut self) -> Result<(), SampleError> {
        let Some(stop) = self.stop.take() else { return Ok(()) };
        stop();
        match self.done.recv_timeout(BOUND) {
            Ok(r) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                r.map_err(|e| SampleError(format!("native server failed: {e}")))
            }
            Err(_) => {
                self.thread.take(); // detached: joining could hang the run
                Err(SampleError(format!("native server did not stop within {BOUND:?}")))
            }
        }
    }
}

impl NetServer for ThreadServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn counters(&self) -> &ServerCounters {
        &self.counters
    }

    fn loop_stats(&self) -> Option<LoopStats> {
        None
    }

    fn wake_accounting(&self) -> bool {
        false
    }

    fn finish(mut self: Box<Self>, bound: Duration) -> Result<(), SampleError> {
        let open = wait_closed(&self.counters, bound);
        self.stop_and_join()?;
        match open {
            0 => Ok(()),
            n => Err(SampleError(format!(
                "{n} server connections were still open {bound:?} after the client finished"
            ))),
        }
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}
