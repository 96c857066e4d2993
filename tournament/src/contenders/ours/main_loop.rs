//! `main` and its ablations: the same loop with one mechanism switched off each, so a SUMMARY can
//! say which mechanism a win comes from.

use std::time::Duration;

use loop_api::LoopConfig;

use crate::contenders::{Contender, entry};

/// `main/no-spin`: sleep as soon as the queues are empty (no bounded spin).
fn no_spin() -> LoopConfig {
    LoopConfig { spin_before_sleep: Duration::ZERO, ..LoopConfig::default() }
}

/// `main/always-epoll`: always sleep in epoll, woken by an eventfd write, even with no fd
/// registered (instead of a futex park).
fn always_epoll() -> LoopConfig {
    LoopConfig { always_poll: true, ..LoopConfig::default() }
}

/// `main/boxed`: box every closure (no inline task storage).
fn boxed() -> LoopConfig {
    LoopConfig { inline_tasks: false, ..LoopConfig::default() }
}

/// Registry entries.
pub const ENTRIES: &[Contender] = &[
    entry::<loop_main::MainLoop>(
        "main",
        "ours: flagship — lock-free segmented MPSC with inline 24-byte closures, wake only on the \
         sleeping transition, adaptive spin (at most 20 µs), futex park (epoll when fds are \
         registered)",
        LoopConfig::default,
    ),
    entry::<loop_main::MainLoop>(
        "main/no-spin",
        "ablation of main: no spin before sleeping (spin_before_sleep = 0)",
        no_spin,
    ),
    entry::<loop_main::MainLoop>(
        "main/always-epoll",
        "ablation of main: always sleep in epoll with eventfd wake-ups (always_poll = true)",
        always_epoll,
    ),
    entry::<loop_main::MainLoop>(
        "main/boxed",
        "ablation of main: every closure boxed (inline_tasks = false)",
        boxed,
    ),
];
