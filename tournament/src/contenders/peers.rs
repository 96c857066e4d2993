//! Registry entries of the peers: the loops a Rust user would pick instead of ours.

use loop_api::LoopConfig;

use super::{
    Contender, async_executor_peer, calloop_net, calloop_peer, crossbeam_worker, entry, libuv_net,
    libuv_peer, libuv_sys, std_mpsc, tokio_ct, tokio_net,
};

/// The peers, in display order.
pub const ENTRIES: &[Contender] = &[
    entry::<tokio_ct::TokioCt>(
        tokio_ct::TokioCt::ID,
        "peer: tokio current-thread runtime (I/O + time drivers), Handle::spawn per task; \
         socket workloads on tokio's own TcpListener",
        LoopConfig::default,
    )
    .with_native_server(tokio_net::start),
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
    entry::<crossbeam_worker::CrossbeamWorker>(
        crossbeam_worker::CrossbeamWorker::ID,
        "peer: one worker thread draining a crossbeam-channel (unbounded) of boxed closures",
        LoopConfig::default,
    ),
    entry::<calloop_peer::CalloopPeer>(
        calloop_peer::CalloopPeer::ID,
        "peer: calloop event loop dispatching its channel source (mpsc + eventfd ping per send); \
         socket workloads on its Generic I/O source",
        LoopConfig::default,
    )
    .with_native_server(calloop_net::start),
    entry::<async_executor_peer::AsyncExecutorPeer>(
        async_executor_peer::AsyncExecutorPeer::ID,
        "peer: async-executor run by futures_lite::future::block_on on the loop thread",
        LoopConfig::default,
    ),
    entry::<libuv_peer::LibuvPeer>(
        libuv_peer::LibuvPeer::ID,
        "peer: the system libuv (Node.js's loop) through FFI: a mutex-protected queue drained on \
         uv_async_send; socket workloads on a native libuv TCP server (uv_listen, uv_read_start, \
         uv_try_write)",
        LoopConfig::default,
    )
    .with_native_server(libuv_net::start)
    .with_requirement(libuv_sys::missing_reason),
];
