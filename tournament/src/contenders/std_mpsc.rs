//! std-mpsc peer (in progress)
