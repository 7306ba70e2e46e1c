//! StemeDB replication: the gRPC record exchange between nodes, per-partition
//! Merkle bucket digests, anti-entropy, and durable hinted handoff
//! (docs/cluster-design.md).
//!
//! # Layout
//! - [`proto`]: code generated from `proto/replication.proto` (service `Replication`).
//! - [`wire`]: packed ids, sparse bucket digests, push statuses, send order.
//! - [`prefix`]: bucket comparison by short id prefixes with a check digest (`MatchPrefixes`, prefix `Fetch`).
//! - [`merkle`]: comparing bucket digests (the store keeps them: `stemedb_storage::digest`).
//! - [`hints`]: [`HintQueue`], the durable hinted-handoff queue under `data_dir/hints`.
//! - [`server`]: [`ReplicationService`] over a store and its digests; [`serve`].
//! - `push`: applying a `Push` (small ones on the calling task, large ones on the blocking pool).
//! - [`client`]: [`Peer`], a lazily connected client with timeouts.
//! - [`sync`]: [`sync_with`] / [`sync_with_mode`] / [`sync_with_options`], one
//!   anti-entropy round with a peer, both ways or push-only ([`SyncMode`]).
//! - `repair`: fetching by prefix and pushing in send order for a round.
//! - [`deliver`]: [`deliver_hints`], pushing a target's hints.
//! - [`metrics`]: metric names.
//! - [`error`]: the error type, [`ReplicationError`].

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod client;
pub mod deliver;
pub mod error;
pub mod hints;
pub mod merkle;
pub mod metrics;
pub mod prefix;
mod push;
mod repair;
pub mod server;
pub mod sync;
pub mod wire;

/// Generated protobuf messages and tonic client/server for `stemedb.replication.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("stemedb.replication.v1");
}

pub use client::{Fetched, Peer, PeerConfig, PeerDigest, PushOutcome, Traffic};
pub use deliver::deliver_hints;
pub use error::{ReplicationError, Result};
pub use hints::HintQueue;
pub use merkle::all_partitions;
pub use server::{PushObserver, ReplicationService, ReplicationState, serve, serve_listener};
pub use sync::{SyncMode, SyncOptions, SyncReport, sync_with, sync_with_mode, sync_with_options};
