//! Contenders: the registry of stable ids and one adapter file per peer.
pub mod std_mpsc;
pub mod tokio_ct;
