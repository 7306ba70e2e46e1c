//! The gRPC `Replication` service over a [`Store`] and its [`MerkleIndex`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use stemedb_records::{RecordId, SignedRecord};
use stemedb_storage::{StorageError, Store, partition};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::error::{ReplicationError, Result};
use crate::merkle::{MerkleIndex, Placement, root_of};
use crate::proto::replication_server::{Replication, ReplicationServer};
use crate::proto::{
    BucketIdList, BucketIdsReply, BucketIdsRequest, DigestsReply, DigestsRequest, FetchPhase,
    FetchReply, FetchRequest, PartitionDigest, PushReply, PushRequest, PushResult, PushStatus,
    SubjectRequest,
};
use crate::wire::{is_annotation, pack_buckets, pack_ids, push_result, send_order, unpack_ids};

/// Largest gRPC message either side accepts or sends.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// A `Fetch` reply stops adding records past this many bytes and defers the rest.
pub const FETCH_REPLY_BUDGET: usize = 16 * 1024 * 1024;
/// Most ids one `Fetch` may ask for.
pub const MAX_FETCH_IDS: usize = 100_000;
/// Most buckets one `BucketIds` may ask for.
pub const MAX_BUCKETS_PER_CALL: usize = 8_192;

/// What the service needs: the store and its digests.
#[derive(Clone)]
pub struct ReplicationState {
    /// The local store.
    pub store: Store,
    /// Bucket digests of the local store, updated for every record the service creates.
    pub merkle: Arc<MerkleIndex>,
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

    /// The tonic server wrapper with message limits set.
    pub fn into_server(self) -> ReplicationServer<ReplicationService> {
        ReplicationServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

fn status_of(e: ReplicationError) -> Status {
    match e {
        ReplicationError::Storage(StorageError::Overloaded(n)) => {
            Status::unavailable(format!("store overloaded ({n} requests queued)"))
        }
        ReplicationError::Storage(StorageError::Closed) => Status::unavailable("store is closed"),
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

/// Decodes, appends and digests pushed records; one result per input, in order.
pub(crate) fn apply_push(state: &ReplicationState, raw: &[Vec<u8>]) -> Result<Vec<PushResult>> {
    let mut results: Vec<Option<PushResult>> = Vec::with_capacity(raw.len());
    let mut valid: Vec<SignedRecord> = Vec::with_capacity(raw.len());
    for bytes in raw {
        match SignedRecord::from_stored(bytes) {
            Ok(rec) => {
                results.push(None);
                valid.push(rec);
            }
            Err(e) => results.push(Some(PushResult {
                status: PushStatus::Invalid as i32,
                id: Vec::new(),
                error: e.to_string(),
            })),
        }
    }
    let ids: Vec<RecordId> = valid.iter().map(SignedRecord::id).collect();
    let outcomes = if valid.is_empty() {
        Vec::new()
    } else {
        append_noting(state, valid)?
    };
    let mut it = ids.into_iter().zip(outcomes);
    Ok(results
        .into_iter()
        .map(|slot| match slot {
            Some(r) => r,
            None => match it.next() {
                Some((id, outcome)) => push_result(Some(id), &outcome),
                None => PushResult {
                    status: PushStatus::Invalid as i32,
                    id: Vec::new(),
                    error: "lost in append".into(),
                },
            },
        })
        .collect())
}

/// Appends records and folds every created one into the Merkle index.
pub(crate) fn append_noting(
    state: &ReplicationState,
    records: Vec<SignedRecord>,
) -> Result<Vec<stemedb_storage::ItemResult>> {
    let places: Vec<Placement> = records.iter().map(Placement::of).collect();
    let outcomes = state.store.append(records)?;
    for (place, outcome) in places.into_iter().zip(&outcomes) {
        if let Ok(a) = outcome
            && a.status == stemedb_storage::AppendStatus::Created
        {
            state
                .merkle
                .note_appended(place.resolve(&state.store)?, a.id);
        }
    }
    Ok(outcomes)
}

#[tonic::async_trait]
impl Replication for ReplicationService {
    async fn push(
        &self,
        req: Request<PushRequest>,
    ) -> std::result::Result<Response<PushReply>, Status> {
        let records = req.into_inner().records;
        let state = self.state.clone();
        let results = run(move || apply_push(&state, &records)).await?;
        Ok(Response::new(PushReply { results }))
    }

    async fn digests(
        &self,
        req: Request<DigestsRequest>,
    ) -> std::result::Result<Response<DigestsReply>, Status> {
        let req = req.into_inner();
        let mut partitions = Vec::with_capacity(req.partitions.len());
        for p in req.partitions {
            let p = check_partition(p)?;
            let merkle = &self.state.merkle;
            let unknown = || Status::invalid_argument(format!("unknown partition {p}"));
            // Root and buckets from one snapshot, so they always agree.
            let (root, buckets) = if req.buckets {
                let b = merkle.buckets(p).ok_or_else(unknown)?;
                (root_of(&b), pack_buckets(&b))
            } else {
                (merkle.root(p).ok_or_else(unknown)?, Vec::new())
            };
            partitions.push(PartitionDigest {
                partition: u32::from(p),
                root: root.to_vec(),
                buckets,
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
            for (p, b) in refs {
                let ids = store.bucket_ids(p, b)?;
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
        let store = self.state.store.clone();
        let reply = run(move || fetch_records(&store, &ids, phase)).await?;
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
        }))
    }
}

/// Reads the requested records of `phase` in send order, within the reply budget.
fn fetch_records(store: &Store, ids: &[RecordId], phase: FetchPhase) -> Result<FetchReply> {
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match store.locate(*id)? {
            None => missing.push(*id),
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
