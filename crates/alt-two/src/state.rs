//! The lifecycle record, guarded by one mutex: phase, stop/close flags, and whether the
//! shutdown drain completed. Only lifecycle calls (`run`, `shutdown`, `close`, the end of a
//! drain) take this lock; submissions never do.

/// Where the loop is in its life. Moves only forward: `Idle` → `Running` → `Stopped`, or
/// `Idle` → `Stopped` (closed before it ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Created, `run` not called yet. Submissions are queued.
    Idle,
    /// A thread is inside `run`.
    Running,
    /// `run` finished, or `close` was called before `run`.
    Stopped,
}

#[derive(Debug)]
pub(crate) struct Life {
    pub(crate) phase: Phase,
    /// `shutdown` was called: foreign submissions are refused; drain, then stop.
    pub(crate) stop_requested: bool,
    /// `close` was called: nothing is accepted, nothing more runs.
    pub(crate) closed: bool,
    /// The shutdown drain completed: `shutdown` callers return `Ok`.
    pub(crate) drained: bool,
}

impl Life {
    pub(crate) fn new() -> Self {
        Self { phase: Phase::Idle, stop_requested: false, closed: false, drained: false }
    }
}
