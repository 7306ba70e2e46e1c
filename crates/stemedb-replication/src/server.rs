//! The gRPC `Replication` service over a [`Store`] and the bucket digests it keeps.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use stemedb_peer_auth::{ClusterSecret, RPC_METADATA_KEY, ReplayGuard};
use stemedb_records::RecordId;
use stemedb_storage::{StorageError, Store, partition};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::error::{ReplicationError, Result};
use crate::merkle::root_of;
use crate::prefix::{BucketPrefixes, answer, encode_answer, pack_groups, unpack_groups_within};
use crate::proto::replication_server::{Replication, ReplicationServer};
use crate::proto::{
    BucketIdList, BucketIdsReply, BucketIdsRequest, DigestsReply, DigestsRequest, FetchPhase,
    FetchReply, FetchRequest, MatchReply, MatchRequest, PartitionDigest, PartitionMatch,
    PartitionPrefixes, PushReply, PushRequest, SubjectRequest,
};
use crate::wire::{is_annotation, pack_buckets, pack_ids, send_order, unpack_ids};

/// Largest gRPC message either side accepts or sends.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// A `Fetch` reply stops adding records past this many bytes and defers the rest.
pub const FETCH_REPLY_BUDGET: usize = 16 * 1024 * 1024;
/// Most ids one `Fetch` may ask for.
pub const MAX_FETCH_IDS: usize = 100_000;
/// Most buckets one `BucketIds`, `MatchPrefixes` or prefix `Fetch` may name.
pub const MAX_BUCKETS_PER_CALL: usize = 8_192;
/// Most id prefixes one `MatchPrefixes` or prefix `Fetch` may carry.
pub const MAX_PREFIXES_PER_CALL: usize = 1 << 20;
/// A `MatchPrefixes` reply stops answering further buckets past this many bytes.
pub const MATCH_REPLY_BUDGET: usize = 8 * 1024 * 1024;

/// What the service needs: the store, its digests, and who to tell about pushed records.
#[derive(Clone)]
pub struct ReplicationState {
    /// The local store (it keeps its own bucket digests).
    pub store: Store,
    /// Told about the records each `Push` created, before the reply.
    pub on_push: Option<Arc<dyn PushObserver>>,
    /// When set, every call must carry a valid one-time token made with it.
    pub secret: Option<Arc<ClusterSecret>>,
    /// Refuse pushed records without a signature (`api.require_signatures`).
    pub require_signatures: bool,
}

impl ReplicationState {
    /// A state with no push observer.
    pub fn new(store: Store) -> ReplicationState {
        ReplicationState {
            store,
            on_push: None,
            secret: None,
            require_signatures: false,
        }
    }
}

/// Learns which records a `Push` created (id and partition) before the
/// pusher is answered, so whatever it records durably (the server: hints for
/// the partition's replicas when this node holds a sloppy-quorum copy) is in
/// place before the pusher counts this copy. An error fails the `Push`.
pub trait PushObserver: Send + Sync {
    /// Called once per `Push` with the records it created.
    fn created(&self, records: &[(RecordId, u16)]) -> std::result::Result<(), String>;

    /// Whether [`PushObserver::created`] may block (disk I/O) for these
    /// records; when not, a small push calls it on the async task. Must be
    /// cheap. The default is `true` (always run it on the blocking pool).
    fn may_block(&self, records: &[(RecordId, u16)]) -> bool {
        let _ = records;
        true
    }
}

/// The tonic service implementation.
#[derive(Clone)]
pub struct ReplicationService {
    state: ReplicationState,
}

impl ReplicationService {
    /// A service over `state`.
    pub fn new(state: ReplicationState) -> Self {
        ReplicationService { state }
    }

    /// The tonic server wrapper with message limits set and, with a
    /// cluster secret, every call authenticated before it reaches the service.
    pub fn into_server(
        self,
    ) -> InterceptedService<ReplicationServer<ReplicationService>, CallAuth> {
        let auth = CallAuth {
            secret: self.state.secret.clone(),
            guard: Arc::new(ReplayGuard::default()),
        };
        let server = ReplicationServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        InterceptedService::new(server, auth)
    }
}

/// Checks each incoming call's cluster-secret token (no secret: lets all through).
#[derive(Clone)]
pub struct CallAuth {
    secret: Option<Arc<ClusterSecret>>,
    guard: Arc<ReplayGuard>,
}

impl Interceptor for CallAuth {
    fn call(&mut self, req: Request<()>) -> std::result::Result<Request<()>, Status> {
        let Some(secret) = &self.secret else {
            return Ok(req);
        };
        let token = req
            .metadata()
            .get(RPC_METADATA_KEY)
            .and_then(|v| v.to_str().ok());
        match secret.check_rpc_token(token, now_ms(), &self.guard) {
            Ok(()) => Ok(req),
            Err(why) => {
                metrics::counter!("stemedb_replication_calls_rejected_total", "reason" => why.as_str())
                    .increment(1);
                let from = req
                    .remote_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "?".into());
                tracing::warn!(%from, reason = %why, "refused a replication call without a valid cluster-secret token");
                Err(Status::unauthenticated(format!(
                    "replication calls need a valid cluster-secret token ({why})"
                )))
            }
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn status_of(e: ReplicationError) -> Status {
    match e {
        ReplicationError::Storage(StorageError::Overloaded(n)) => {
            Status::unavailable(format!("store overloaded ({n} requests queued)"))
        }
        ReplicationError::Storage(StorageError::Closed) => Status::unavailable("store is closed"),
        ReplicationError::Storage(e) if e.is_no_space() => {
            Status::resource_exhausted(e.to_string())
        }
        other => Status::internal(other.to_string()),
    }
}

async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> std::result::Result<T, Status> {
    crate::error::blocking(f).await.map_err(status_of)
}

fn check_partition(p: u32) -> std::result::Result<u16, Status> {
    match u16::try_from(p) {
        Ok(p) if p < partition::PARTITIONS || p == partition::GLOBAL => Ok(p),
        _ => Err(Status::invalid_argument(format!("unknown partition {p}"))),
    }
}

/// Decodes and validates the prefix groups of a request.
fn check_groups(parts: &[PartitionPrefixes]) -> std::result::Result<Vec<BucketPrefixes>, Status> {
    // Limits apply while decoding: bounds the server's memory and counting
    // maps, whatever the message size allows.
    let groups = unpack_groups_within(parts, MAX_BUCKETS_PER_CALL, MAX_PREFIXES_PER_CALL)
        .map_err(|e| Status::invalid_argument(format!("{e} (limits per call: {MAX_BUCKETS_PER_CALL} buckets, {MAX_PREFIXES_PER_CALL} prefixes)")))?;
    // Each bucket is scanned once per call: a repeated bucket would let a
    // small request cost many full scans.
    let mut named = std::collections::HashSet::with_capacity(groups.len());
    for g in &groups {
        check_partition(u32::from(g.partition))?;
        if !named.insert((g.partition, g.bucket)) {
            return Err(Status::invalid_argument(format!(
                "bucket {} of partition {} named twice",
                g.bucket, g.partition
            )));
        }
    }
    Ok(groups)
}

/// The `(partition, bucket)` of each group, for [`Store::bucket_ids_many`].
fn bucket_refs(groups: &[BucketPrefixes]) -> Vec<(u16, u8)> {
    groups.iter().map(|g| (g.partition, g.bucket)).collect()
}

/// Answers the buckets of a `MatchPrefixes` request in order, stopping once
/// the reply passes [`MATCH_REPLY_BUDGET`] (always answering at least one).
fn match_groups(
    store: &Store,
    groups: &[BucketPrefixes],
    with_extras: bool,
) -> Result<Vec<PartitionMatch>> {
    let mut out: Vec<PartitionMatch> = Vec::new();
    let mut bytes = 0usize;
    let listed = store.bucket_ids_many(&bucket_refs(groups))?;
    for (g, ids) in groups.iter().zip(listed) {
        if bytes >= MATCH_REPLY_BUDGET {
            break;
        }
        let a = answer(&ids, g, with_extras);
        if out
            .last()
            .is_none_or(|last| last.partition != u32::from(g.partition))
        {
            out.push(PartitionMatch {
                partition: u32::from(g.partition),
                buckets: Vec::new(),
            });
        }
        if let Some(part) = out.last_mut() {
            let before = part.buckets.len();
            encode_answer(&mut part.buckets, g.bucket, g.len, &a);
            bytes += part.buckets.len() - before;
        }
    }
    Ok(out)
}

#[tonic::async_trait]
impl Replication for ReplicationService {
    async fn push(
        &self,
        req: Request<PushRequest>,
    ) -> std::result::Result<Response<PushReply>, Status> {
        let records = req.into_inner().records;
        let results = crate::push::apply(self.state.clone(), records)
            .await
            .map_err(status_of)?;
        Ok(Response::new(PushReply { results }))
    }

    async fn digests(
        &self,
        req: Request<DigestsRequest>,
    ) -> std::result::Result<Response<DigestsReply>, Status> {
        let req = req.into_inner();
        let digest_len = match req.digest_len {
            0 => 32,
            n @ 16..=32 => n as usize,
            n => {
                return Err(Status::invalid_argument(format!(
                    "digest_len {n} not in 16..=32"
                )));
            }
        };
        let mut partitions = Vec::with_capacity(req.partitions.len());
        for p in req.partitions {
            let p = check_partition(p)?;
            let merkle = self.state.store.digests();
            let unknown = || Status::invalid_argument(format!("unknown partition {p}"));
            // Root and buckets from one snapshot, so they always agree.
            let (root, buckets) = if req.buckets {
                let b = merkle.buckets(p).ok_or_else(unknown)?;
                (root_of(&b), pack_buckets(&b, digest_len))
            } else {
                (merkle.root(p).ok_or_else(unknown)?, Vec::new())
            };
            partitions.push(PartitionDigest {
                partition: u32::from(p),
                root: root.to_vec(),
                buckets,
                // Only meaningful with buckets; zero is not sent, keeping root-only replies small.
                digest_len: if req.buckets { digest_len as u32 } else { 0 },
            });
        }
        Ok(Response::new(DigestsReply { partitions }))
    }

    async fn bucket_ids(
        &self,
        req: Request<BucketIdsRequest>,
    ) -> std::result::Result<Response<BucketIdsReply>, Status> {
        let wanted = req.into_inner().buckets;
        if wanted.len() > MAX_BUCKETS_PER_CALL {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_BUCKETS_PER_CALL} buckets per call"
            )));
        }
        let mut refs = Vec::with_capacity(wanted.len());
        for b in wanted {
            let p = check_partition(b.partition)?;
            let bucket = u8::try_from(b.bucket).map_err(|_| {
                Status::invalid_argument(format!("bucket {} out of range", b.bucket))
            })?;
            refs.push((p, bucket));
        }
        let store = self.state.store.clone();
        let buckets = run(move || {
            let mut out = Vec::with_capacity(refs.len());
            let listed = store.bucket_ids_many(&refs)?;
            for ((p, b), ids) in refs.into_iter().zip(listed) {
                out.push(BucketIdList {
                    partition: u32::from(p),
                    bucket: u32::from(b),
                    ids: pack_ids(&ids),
                });
            }
            Ok(out)
        })
        .await?;
        Ok(Response::new(BucketIdsReply { buckets }))
    }

    async fn match_prefixes(
        &self,
        req: Request<MatchRequest>,
    ) -> std::result::Result<Response<MatchReply>, Status> {
        let req = req.into_inner();
        let groups = check_groups(&req.partitions)?;
        let store = self.state.store.clone();
        let partitions = run(move || match_groups(&store, &groups, req.extras)).await?;
        Ok(Response::new(MatchReply { partitions }))
    }

    async fn fetch(
        &self,
        req: Request<FetchRequest>,
    ) -> std::result::Result<Response<FetchReply>, Status> {
        let req = req.into_inner();
        let phase = FetchPhase::try_from(req.phase).unwrap_or(FetchPhase::All);
        let ids = unpack_ids(&req.ids)
            .ok_or_else(|| Status::invalid_argument("ids must be a multiple of 32 bytes"))?;
        if ids.len() > MAX_FETCH_IDS {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_FETCH_IDS} ids per fetch"
            )));
        }
        let groups = check_groups(&req.prefixes)?;
        let store = self.state.store.clone();
        let reply = run(move || fetch_records(&store, ids, &groups, phase, MAX_FETCH_IDS)).await?;
        Ok(Response::new(reply))
    }

    async fn subject_records(
        &self,
        req: Request<SubjectRequest>,
    ) -> std::result::Result<Response<FetchReply>, Status> {
        let subject = req.into_inner().subject;
        let store = self.state.store.clone();
        let records = run(move || {
            let mut entries: Vec<_> = store
                .subject_entries(&subject, None)?
                .into_iter()
                .map(|e| (send_order(e.kind, e.pos), e.pos))
                .collect();
            entries.sort_unstable();
            entries.dedup();
            let mut out = Vec::with_capacity(entries.len());
            for (_, pos) in entries {
                out.push(store.read_at(pos)?.to_stored());
            }
            Ok(out)
        })
        .await?;
        Ok(Response::new(FetchReply {
            records,
            missing: Vec::new(),
            deferred: Vec::new(),
            deferred_prefixes: Vec::new(),
        }))
    }
}

/// Reads the requested records of `phase` in send order, within the reply
/// budget: the given ids plus the ids the prefix groups resolve to. Groups are
/// resolved in order until `max_ids` ids are wanted (at least one group when
/// no ids are given); the rest come back as `deferred_prefixes`.
fn fetch_records(
    store: &Store,
    mut ids: Vec<RecordId>,
    groups: &[BucketPrefixes],
    phase: FetchPhase,
    max_ids: usize,
) -> Result<FetchReply> {
    let explicit = ids.len();
    let mut deferred_groups: &[BucketPrefixes] = &[];
    let listed = if explicit >= max_ids {
        Vec::new()
    } else {
        store.bucket_ids_many(&bucket_refs(groups))?
    };
    for (i, (g, ours)) in groups.iter().zip(&listed).enumerate() {
        // The first group is always resolved unless explicit ids already fill the call.
        if i > 0 && ids.len() >= max_ids {
            deferred_groups = &groups[i..];
            break;
        }
        ids.extend(g.resolve(ours));
    }
    if explicit >= max_ids {
        deferred_groups = groups;
    }
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match store.locate(*id)? {
            // Resolved ids were just read from the index; only asked-for ids are reported missing.
            None if i < explicit => missing.push(*id),
            None => {}
            Some((kind, pos)) => {
                let wanted = match phase {
                    FetchPhase::All => true,
                    FetchPhase::Base => !is_annotation(kind),
                    FetchPhase::Annotations => is_annotation(kind),
                };
                if wanted {
                    found.push((send_order(kind, pos), pos, *id));
                }
            }
        }
    }
    found.sort_unstable();
    // An id may be both asked for and resolved from a prefix.
    found.dedup();
    let mut records = Vec::with_capacity(found.len());
    let mut deferred = Vec::new();
    let mut bytes = 0usize;
    for (_, pos, id) in found {
        if bytes >= FETCH_REPLY_BUDGET {
            deferred.push(id);
            continue;
        }
        let stored = store.read_at(pos)?.to_stored();
        bytes += stored.len();
        records.push(stored);
    }
    Ok(FetchReply {
        records,
        missing: pack_ids(&missing),
        deferred: pack_ids(&deferred),
        deferred_prefixes: pack_groups(deferred_groups),
    })
}

/// Serves the replication service on `addr` until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    state: ReplicationState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        ReplicationError::Task(format!("cannot bind replication listener on {addr}: {e}"))
    })?;
    serve_listener(listener, state, shutdown).await
}

/// Serves the replication service on an already bound listener until `shutdown` completes.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: ReplicationState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    tracing::info!(%addr, "replication service listening");
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(ReplicationService::new(state).into_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|source| ReplicationError::Transport { peer: addr, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prefix::unpack_groups;
    use stemedb_records::{Assertion, Lifecycle, Object, Record, SignedRecord};
    use stemedb_storage::StoreConfig;

    fn assertion(n: u64) -> SignedRecord {
        let rec = Record::Assertion(Assertion {
            subject: "s".into(),
            predicate: "p".into(),
            object: Object::Number(n as f64),
            agent: "a".into(),
            confidence: 1.0,
            timestamp: 1_700_000_000_000 + n as i64,
            source: None,
            valid_from: None,
            valid_to: None,
            lifecycle: Lifecycle::Proposed,
            parent: None,
            epoch: None,
        });
        SignedRecord::new(rec, None).expect("valid assertion")
    }

    #[test]
    fn repeated_buckets_and_bad_partitions_are_refused() {
        let ids: Vec<RecordId> = (1..=4u8).map(|n| RecordId([n; 32])).collect();
        let g = |p: u16, b: u8| BucketPrefixes::of_ids(p, b, 1, &ids);
        let ok = check_groups(&pack_groups(&[g(3, 7), g(3, 8), g(4, 7)]));
        assert_eq!(ok.map(|v| v.len()).ok(), Some(3));
        let twice = check_groups(&pack_groups(&[g(3, 7), g(3, 8), g(3, 7)]));
        assert!(twice.is_err_and(|s| s.message().contains("named twice")));
        assert!(check_groups(&pack_groups(&[g(partition::PARTITIONS, 1)])).is_err());
    }

    #[test]
    fn prefix_fetch_resolves_in_order_and_defers_the_rest() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = StoreConfig::new(dir.path());
        cfg.fsync = false;
        let store = Store::open(cfg)?;
        let recs: Vec<SignedRecord> = (0..3).map(assertion).collect();
        for r in store.append(recs.clone())? {
            assert!(r.is_ok());
        }
        let p = partition::of_subject("s");
        let groups: Vec<BucketPrefixes> = recs
            .iter()
            .map(|r| BucketPrefixes::of_ids(p, r.id().0[0], 4, &[r.id()]))
            .collect();
        // One id per call: the first group is resolved, the others deferred as given.
        let reply = fetch_records(&store, Vec::new(), &groups, FetchPhase::All, 1)?;
        assert_eq!(reply.records.len(), 1);
        assert_eq!(
            SignedRecord::from_stored(&reply.records[0]).map(|r| r.id()),
            Ok(recs[0].id())
        );
        assert_eq!(
            unpack_groups(&reply.deferred_prefixes),
            Ok(groups[1..].to_vec())
        );
        // Without the limit everything comes back, each record once even if asked twice.
        let twice: Vec<BucketPrefixes> = groups.iter().chain(&groups).cloned().collect();
        let reply = fetch_records(&store, vec![recs[2].id()], &twice, FetchPhase::All, 100)?;
        assert_eq!(reply.records.len(), 3);
        assert!(reply.deferred_prefixes.is_empty() && reply.missing.is_empty());
        // A prefix nothing has resolves to nothing, and is not "missing".
        let none = BucketPrefixes {
            partition: p,
            bucket: recs[0].id().0[0],
            len: crate::prefix::FULL_LEN,
            prefixes: vec![0u8; 31],
        };
        let reply = fetch_records(&store, Vec::new(), &[none], FetchPhase::All, 100)?;
        assert!(reply.records.is_empty() && reply.missing.is_empty());
        Ok(())
    }
}
