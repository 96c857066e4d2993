//! Registry entries of the peers: the loops a Rust user would pick instead of ours.

use loop_api::LoopConfig;

use super::{Contender, entry, std_mpsc, tokio_ct};

/// The peers, in display order.
pub const ENTRIES: &[Contender] = &[
    entry::<tokio_ct::TokioCt>(
        tokio_ct::TokioCt::ID,
        "peer: tokio current-thread runtime (I/O + time drivers), Handle::spawn per task",
        LoopConfig::default,
    ),
    entry::<tokio_ct::TokioCtNoIo>(
        tokio_ct::TokioCtNoIo::ID,
        "peer: tokio current-thread runtime without the I/O driver (park/unpark wake-ups)",
        LoopConfig::default,
    ),
    entry::<std_mpsc::StdMpsc>(
        std_mpsc::StdMpsc::ID,
        "peer: one worker thread draining a std::sync::mpsc channel of boxed closures",
        LoopConfig::default,
    ),
];
