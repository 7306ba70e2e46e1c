//! Metric names (recorded through the `metrics` facade).

/// Gauge: age in seconds of the oldest undelivered hint.
pub const REPLICATION_LAG: &str = "replication_lag_seconds";
/// Gauge: hints waiting for delivery, all targets.
pub const HINTS_PENDING: &str = "stemedb_hints_pending";
/// Counter: anti-entropy rounds run (label `outcome`: `ok` or `error`).
pub const AE_ROUNDS: &str = "stemedb_anti_entropy_rounds_total";
/// Counter: records repaired by anti-entropy (label `direction`: `fetched` or `pushed`).
pub const RECORDS_REPAIRED: &str = "stemedb_records_repaired_total";
/// Counter: protobuf bytes sent and received by anti-entropy.
pub const AE_BYTES: &str = "stemedb_anti_entropy_bytes_total";
/// Counter: protobuf bytes of replication calls this node made, by gRPC
/// `method` (`Push` carries replica writes and hint deliveries) and
/// `direction` (`sent` requests, `received` replies).
pub const RPC_BYTES: &str = "stemedb_replication_bytes_total";
