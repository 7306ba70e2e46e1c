//! The StemeDB test kit: what integration tests in every crate share.
//! Tests drive real components — `stemedb-api` processes, clusters in
//! network namespaces, a real tmpfs that fills up — so a failure here is one a
//! user would see.
//!
//! # Layout
//! - [`binary`]: where the `stemedb-api` binary under test is.
//! - [`server`]: one server process with its own data directory, a client
//!   bound to it, request bodies.
//! - [`cluster`]: a set of nodes with generated configs, started, stopped,
//!   killed, partitioned; waiting until they form and converge.
//! - [`netns`], [`tmpfs`]: network namespaces with `iptables` partitions; a
//!   small file system that really fills up (both need root).
//! - [`chaos`]: randomized fault injection with an independent checker.
//! - [`ops`]: the repository's `deploy/` and the external tools its tests run.
//! - [`records`], [`store`]: records of every kind; stores on temporary
//!   directories.
//! - [`http`], [`net`], [`poll`], [`rng`]: a client that reports instead of
//!   failing, free ports, waiting with a deadline, a seeded generator.
//!
//! Fixtures that need the crate under test itself (the CLI runner, the
//! replication crate's gRPC server, lens candidates) stay with that crate's
//! tests and build on this kit.
//!
//! Panicking is how a test fails, so this crate uses `expect` freely; it is a
//! dev-dependency only and never part of a shipped binary.

pub mod binary;
pub mod chaos;
pub mod cluster;
pub mod http;
pub mod net;
pub mod netns;
pub mod ops;
pub mod poll;
pub mod records;
pub mod rng;
pub mod server;
pub mod store;
pub mod tmpfs;

pub use cluster::{Nodes, assertion, replicas_of};
pub use http::{call, call_raw, json_of};
pub use net::{free_base, free_port, ports_free};
pub use poll::eventually;
