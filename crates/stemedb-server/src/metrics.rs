//! Prometheus metrics: the recorder (installed once per process), the
//! per-request middleware (`stemedb_http_requests_total{route,method,status}`,
//! `stemedb_http_request_duration_seconds{route}` with the matched route
//! template) and gauges sampled when `/metrics` is scraped.
//!
//! `stemedb_index_lag_records` is always 0 on a single node: the index batch
//! is applied before a write is acknowledged (see `docs/storage.md`).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use stemedb_storage::Store;

use crate::readiness::Readiness;

const LATENCY: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const FSYNC: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Finer below 100 ms, where the replication-lag target (p99 ≤ 50 ms) sits.
const REPLICATION: [f64; 15] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
const BATCH: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0, 16384.0,
];

/// Installs the Prometheus recorder once per process and returns its handle
/// (`None` if another recorder was installed first).
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("stemedb_http_request_duration_seconds".into()),
                    &LATENCY,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("stemedb_log_fsync_seconds".into()),
                        &FSYNC,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("stemedb_group_commit_seconds".into()),
                        &LATENCY,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("stemedb_group_commit_records".into()),
                        &BATCH,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(crate::cluster::REPLICATION_DELAY.into()),
                        &REPLICATION,
                    )
                })
                .and_then(|b| b.install_recorder());
            match built {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// Resident set size of this process in bytes, from `/proc/self/statm`.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096))
}

/// Samples the gauges and renders the Prometheus text exposition:
/// write queue, disk usage (`stemedb_disk_usage_bytes{component="log"|"index"}`
/// and the data directory's file system), readiness, and (in cluster mode)
/// zero-valued series of the counters alerts take `increase()` of.
pub fn render(
    handle: &PrometheusHandle,
    store: &Store,
    readiness: &Readiness,
    cluster: bool,
) -> String {
    metrics::gauge!("stemedb_write_queue_depth").set(store.queued() as f64);
    metrics::gauge!("stemedb_index_lag_records").set(0.0);
    metrics::gauge!("stemedb_records_stored").set(store.approximate_len() as f64);
    metrics::gauge!("stemedb_id_filter_bytes").set(store.id_filter_bytes() as f64);
    if let Some(rss) = resident_memory_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    match store.disk_usage() {
        Ok((log, index)) => {
            metrics::gauge!("stemedb_disk_usage_bytes", "component" => "log").set(log as f64);
            metrics::gauge!("stemedb_disk_usage_bytes", "component" => "index").set(index as f64);
        }
        Err(e) => tracing::debug!(error = %e, "cannot measure disk usage"),
    }
    if let Some((size, avail)) = stemedb_storage::space::filesystem_space(&store.config().data_dir)
    {
        metrics::gauge!("stemedb_filesystem_size_bytes").set(size as f64);
        metrics::gauge!("stemedb_filesystem_avail_bytes").set(avail as f64);
    }
    metrics::gauge!("stemedb_storage_min_free_bytes").set(store.config().min_free_bytes as f64);
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    metrics::gauge!("stemedb_ready").set(flag(readiness.not_ready.is_none()));
    metrics::gauge!("stemedb_read_only").set(flag(readiness.read_only()));
    metrics::gauge!("stemedb_store_failed").set(flag(readiness.store_failed));
    if cluster {
        for outcome in ["ok", "error"] {
            metrics::counter!(stemedb_replication::metrics::AE_ROUNDS, "outcome" => outcome)
                .increment(0);
        }
    }
    handle.run_upkeep();
    handle.render()
}

/// Middleware: counts and times every request by its route template, and logs it.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let uri = req.uri().path().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let secs = started.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    metrics::counter!(
        "stemedb_http_requests_total",
        "route" => route.clone(),
        "method" => method.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("stemedb_http_request_duration_seconds", "route" => route.clone())
        .record(secs);
    tracing::debug!(%method, path = %uri, %route, status, elapsed_ms = secs * 1000.0, "request");
    resp
}
