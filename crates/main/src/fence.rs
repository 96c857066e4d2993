//! Asymmetric fences: a cheap *light* fence for the loop thread's hot path and an expensive
//! *heavy* fence for the rare thread that must synchronise with it (`close` taking the consumer
//! token), as user-space RCU and folly's `asymmetric_thread_fence_{light,heavy}` pair them.
//!
//! The guarantee is that of two sequentially consistent fences (Dekker): if thread L does
//! `store(a); light(); load(b)` and thread H does `store(b); heavy(); load(a)`, at least one of
//! the loads sees the other thread's store. On Linux the heavy side is `membarrier(2)` with
//! `MEMBARRIER_CMD_PRIVATE_EXPEDITED`, which makes every running thread of the process execute
//! a full memory barrier before it returns (a thread that is not running passes one on its
//! next context switch), so the light side needs only to keep the *compiler* from reordering:
//! no instruction at all. Where membarrier is unavailable (other systems, kernels before 4.14,
//! Miri) both sides are `fence(SeqCst)`, which gives the same guarantee at the usual
//! price.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{compiler_fence, fence};

/// Which fences a [`Fences`] value uses; chosen once per loop (see [`Fences::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fences {
    /// Light: compiler fence; heavy: `membarrier(PRIVATE_EXPEDITED)`.
    Membarrier,
    /// Both: `fence(SeqCst)`.
    Symmetric,
}

impl Fences {
    /// [`Fences::Membarrier`] if this process is registered for private expedited membarrier
    /// (registering on first use, once per process), else [`Fences::Symmetric`].
    pub(crate) fn new() -> Self {
        if membarrier::registered() { Fences::Membarrier } else { Fences::Symmetric }
    }

    /// The loop thread's side: between its store and its load of the Dekker pair.
    #[inline]
    pub(crate) fn light(self) {
        match self {
            Fences::Membarrier => compiler_fence(SeqCst),
            Fences::Symmetric => fence(SeqCst),
        }
    }

    /// The other side: between its store and its load of the Dekker pair. Costs a system call
    /// (inter-processor interrupts to the CPUs running this process's threads) with membarrier.
    pub(crate) fn heavy(self) {
        fence(SeqCst);
        if self == Fences::Membarrier {
            membarrier::private_expedited();
        }
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
mod membarrier {
    use std::sync::OnceLock;

    /// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (`include/uapi/linux/membarrier.h`, Linux 4.14).
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    /// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED` (same header).
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn membarrier(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier takes two integers and touches no user memory.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long, 0 as libc::c_long) }
    }

    /// Registers the process (once; later calls return the first answer).
    pub(super) fn registered() -> bool {
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        *REGISTERED.get_or_init(|| membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
    }

    /// Runs a full memory barrier on every running thread of this process.
    ///
    /// # Panics
    /// If the kernel refuses it after registration succeeded (it documents no such case).
    pub(super) fn private_expedited() {
        let rc = membarrier(CMD_PRIVATE_EXPEDITED);
        assert_eq!(rc, 0, "membarrier(PRIVATE_EXPEDITED) failed after registration: {rc}");
    }
}

#[cfg(not(all(target_os = "linux", not(miri))))]
mod membarrier {
    pub(super) fn registered() -> bool {
        false
    }

    pub(super) fn private_expedited() {
        unreachable!("membarrier is never registered on this target");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_of_fence_can_be_issued() {
        for f in [Fences::new(), Fences::Symmetric] {
            f.light();
            f.heavy();
        }
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn linux_kernels_since_4_14_register_membarrier() {
        // The reference machines run far newer kernels; if this fails the loop still works
        // (symmetric fences), but the measurements would not describe the design.
        assert_eq!(Fences::new(), Fences::Membarrier);
    }
}
