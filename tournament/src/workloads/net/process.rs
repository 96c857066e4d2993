//! A load-generator child process (the echo client, `wrk`) with bounded waits: its stdout lines
//! arrive on a channel (read by a helper thread), its stderr is kept for error messages, and it
//! is killed if it is still running when the handle is dropped (a sample that failed or timed
//! out never leaves a client behind).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::SampleError;

/// Bytes of the child's stderr kept for error messages (the tail).
const STDERR_KEPT: usize = 4096;

/// A running child process.
pub struct ChildProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl ChildProcess {
    /// Spawns `program args` with piped stdin, stdout and stderr. `name` labels errors.
    ///
    /// # Errors
    /// The program could not be started.
    pub fn spawn(name: &str, program: &Path, args: &[String]) -> Result<Self, SampleError> {
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // The child must not inherit the harness's descriptors (loops' eventfds and epoll fds,
        // sockets of earlier samples): besides leaking them, they push the child's own fds up,
        // and wrk sizes its event loop for 10 + 3 × connections descriptors, so at `-c4` an
        // inherited fd 3–21 made every one of its connects fail ("connect 4" socket errors).
        // SAFETY: runs in the forked child before exec; close_range(2) is async-signal-safe and
        // touches nothing but the descriptor table. CLOSE_RANGE_CLOEXEC marks fds ≥ 3
        // close-on-exec instead of closing them, so std's own exec-error pipe keeps working.
        unsafe {
            cmd.pre_exec(|| {
                const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
                let r = libc::syscall(libc::SYS_close_range, 3_u32, u32::MAX, CLOSE_RANGE_CLOEXEC);
                // Kernels before 5.11 lack the flag: fds stay inherited, as before.
                let _ = r;
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            SampleError(format!("cannot start {name} ({}): {e}", program.display()))
        })?;
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout is piped");
        thread::Builder::new()
            .name(format!("{name}-stdout"))
            .spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| SampleError(format!("spawning a reader thread: {e}")))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr is piped");
        let keep = Arc::clone(&stderr);
        thread::Builder::new()
            .name(format!("{name}-stderr"))
            .spawn(move || {
                let mut buf = [0_u8; 1024];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut s = keep.lock().unwrap_or_else(|e| e.into_inner());
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if s.len() > 2 * STDERR_KEPT {
                        let cut = s.len() - STDERR_KEPT;
                        let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                        s.drain(..cut);
                    }
                }
            })
            .map_err(|e| SampleError(format!("spawning a reader thread: {e}")))?;
        let stdin = child.stdin.take();
        Ok(ChildProcess { name: name.to_string(), child, stdin, lines, stderr })
    }

    /// The tail of what the child wrote on stderr, trimmed.
    pub fn stderr_tail(&self) -> String {
        let s = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let t = s.trim();
        let start = t.len().saturating_sub(STDERR_KEPT);
        let start = (start..t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(0);
        t[start..].to_string()
    }

    fn why_gone(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!("exited with {s}"),
            Ok(None) => "closed its stdout".to_string(),
            Err(e) => format!("cannot be waited for: {e}"),
        };
        let err = self.stderr_tail();
        if err.is_empty() { status } else { format!("{status}; stderr: {err}") }
    }

    /// The next stdout line, waiting at most `bound`.
    ///
    /// # Errors
    /// No line within `bound`, or the child closed stdout (exited) first; the message includes
    /// its exit status and stderr.
    pub fn next_line(&mut self, bound: Duration, waiting_for: &str) -> Result<String, SampleError> {
        match self.lines.recv_timeout(bound) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err(SampleError(format!(
                "{} printed no {waiting_for} within {bound:?} (killed){}",
                self.name,
                match self.stderr_tail() {
                    s if s.is_empty() => String::new(),
                    s => format!("; stderr: {s}"),
                }
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                // The reader saw EOF: give the process a moment to be reapable for its status.
                let _ = self.wait_exit(Duration::from_secs(1));
                let why = self.why_gone();
                Err(SampleError(format!(
                    "{} ended before printing {waiting_for}: {why}",
                    self.name
                )))
            }
        }
    }

    /// Reads every remaining stdout line until the child closes stdout, waiting at most `bound`.
    ///
    /// # Errors
    /// The child did not close stdout within `bound`.
    pub fn read_to_end(&mut self, bound: Duration) -> Result<Vec<String>, SampleError> {
        let deadline = Instant::now() + bound;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => out.push(l),
                Err(RecvTimeoutError::Disconnected) => return Ok(out),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(SampleError(format!(
                        "{} did not finish within {bound:?} (killed)",
                        self.name
                    )));
                }
            }
        }
    }

    /// Writes one line to the child's stdin.
    ///
    /// # Errors
    /// The pipe is closed (the child exited).
    pub fn send_line(&mut self, line: &str) -> Result<(), SampleError> {
        let stdin =
            self.stdin.as_mut().ok_or_else(|| SampleError("child stdin already closed".into()))?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| SampleError(format!("writing to {}: {e}", self.name)))
    }

    /// Waits for the child to exit, at most `bound` (polling `try_wait`: `std` has no bounded
    /// wait; only used after the child closed its stdout, i.e. while it is exiting).
    ///
    /// # Errors
    /// Still running after `bound`.
    pub fn wait_exit(&mut self, bound: Duration) -> Result<ExitStatus, SampleError> {
        self.stdin = None;
        let deadline = Instant::now() + bound;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return Ok(s),
                Ok(None) if Instant::now() < deadline => thread::yield_now(),
                Ok(None) => {
                    return Err(SampleError(format!(
                        "{} did not exit within {bound:?} (killed)",
                        self.name
                    )));
                }
                Err(e) => return Err(SampleError(format!("waiting for {}: {e}", self.name))),
            }
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
