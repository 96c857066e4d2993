//! tokio-ct peers (in progress)
