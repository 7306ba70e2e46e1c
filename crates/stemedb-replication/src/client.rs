//! [`Peer`]: a lazily connected gRPC client of another node's replication
//! service, with connect and request timeouts and typed methods.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use stemedb_peer_auth::{ClusterSecret, RPC_METADATA_KEY};
use stemedb_records::{RecordId, SignedRecord};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::error::{ReplicationError, Result};
use crate::merkle::{BUCKETS, Digest};
use crate::prefix::{
    BucketAnswer, BucketPrefixes, PrefixFilter, decode_answers, pack_groups, unpack_groups,
};
use crate::proto::replication_client::ReplicationClient;
use crate::proto::{
    BucketIdsRequest, BucketRef, DigestsRequest, FetchPhase, FetchReply, FetchRequest,
    MatchRequest, PushRequest, PushStatus, SubjectRequest,
};
use crate::server::MAX_MESSAGE_BYTES;
use crate::wire::{pack_ids, unpack_buckets, unpack_ids};

/// Timeouts of a [`Peer`].
#[derive(Debug, Clone, Copy)]
pub struct PeerConfig {
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for one call, connection included.
    pub request_timeout: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Protobuf bytes sent to and received from a peer.
#[derive(Debug, Default)]
pub struct Traffic {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Traffic {
    /// Bytes of request messages sent.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes of reply messages received.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// The outcome of one pushed record as the receiver reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// Created, exists, missing_target or invalid.
    pub status: PushStatus,
    /// The id the receiver computed, when the record decoded.
    pub id: Option<RecordId>,
    /// Why, for missing_target and invalid.
    pub error: String,
}

/// Records returned by `Fetch`.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Records, re-hashed locally (ids come from the bytes, never from the wire).
    pub records: Vec<SignedRecord>,
    /// Ids the peer does not hold.
    pub missing: Vec<RecordId>,
    /// Ids the peer left out to bound the reply: ask again.
    pub deferred: Vec<RecordId>,
    /// Prefix buckets the peer did not resolve, to bound the reply: ask again.
    pub deferred_prefixes: Vec<BucketPrefixes>,
}

/// A partition's digests as a peer reported them.
#[derive(Debug, Clone)]
pub struct PeerDigest {
    /// The partition.
    pub partition: u16,
    /// Its root.
    pub root: Digest,
    /// Its bucket digests, when asked for.
    pub buckets: Option<Box<[Digest; BUCKETS]>>,
}

/// Adds the cluster-secret token to every outgoing call (no secret: nothing).
#[derive(Clone)]
pub struct CallToken(Option<Arc<ClusterSecret>>);

impl Interceptor for CallToken {
    fn call(
        &mut self,
        mut req: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if let Some(secret) = &self.0 {
            let token = secret.rpc_token(crate::server::now_ms());
            let value = token
                .parse()
                .map_err(|_| tonic::Status::internal("cluster token is not valid metadata"))?;
            req.metadata_mut().insert(RPC_METADATA_KEY, value);
        }
        Ok(req)
    }
}

/// A client of one peer's replication service. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Peer {
    addr: String,
    client: ReplicationClient<InterceptedService<Channel, CallToken>>,
    traffic: Arc<Traffic>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").field("addr", &self.addr).finish()
    }
}

impl Peer {
    /// A peer at `addr` (`host:port`); nothing connects until the first call.
    pub fn new(addr: &str, cfg: PeerConfig) -> Result<Peer> {
        Peer::with_secret(addr, cfg, None)
    }

    /// A peer whose calls carry a one-time token made with `secret` (when set).
    pub fn with_secret(
        addr: &str,
        cfg: PeerConfig,
        secret: Option<Arc<ClusterSecret>>,
    ) -> Result<Peer> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|source| ReplicationError::Transport {
                peer: addr.to_string(),
                source,
            })?
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .tcp_nodelay(true);
        let client =
            ReplicationClient::with_interceptor(endpoint.connect_lazy(), CallToken(secret))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Peer {
            addr: addr.to_string(),
            client,
            traffic: Arc::new(Traffic::default()),
        })
    }

    /// The peer's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Bytes exchanged through this handle (and clones made by `clone`).
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// A handle sharing the connection but counting traffic separately.
    pub fn with_fresh_traffic(&self) -> Peer {
        Peer {
            addr: self.addr.clone(),
            client: self.client.clone(),
            traffic: Arc::new(Traffic::default()),
        }
    }

    /// Drops returned and deferred ids that were not asked for (a peer cannot
    /// make us store or chase records outside the request).
    fn keep_asked(&self, fetched: &mut Fetched, asked: impl Fn(&RecordId) -> bool) {
        let before = fetched.records.len() + fetched.deferred.len();
        fetched.records.retain(|r| asked(&r.id()));
        fetched.deferred.retain(|id| asked(id));
        let dropped = before - fetched.records.len() - fetched.deferred.len();
        if dropped > 0 {
            tracing::warn!(peer = %self.addr, dropped, "Fetch returned ids that were not asked for; ignored");
        }
    }

    /// One unary call: sends `req` through `f`, maps a gRPC error to
    /// [`ReplicationError::Rpc`] naming `method`, and counts the bytes both ways.
    async fn call<Req, Rep, F, Fut>(&self, method: &'static str, req: Req, f: F) -> Result<Rep>
    where
        Req: Message,
        Rep: Message,
        F: FnOnce(ReplicationClient<InterceptedService<Channel, CallToken>>, Req) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<Rep>, tonic::Status>>,
    {
        let sent = req.encoded_len();
        let reply = f(self.client.clone(), req)
            .await
            .map_err(|s| self.rpc_error(method, s))?
            .into_inner();
        self.count(method, sent, reply.encoded_len());
        Ok(reply)
    }

    fn rpc_error(&self, method: &'static str, status: tonic::Status) -> ReplicationError {
        ReplicationError::Rpc {
            peer: self.addr.clone(),
            method,
            status: Box::new(status),
        }
    }

    fn protocol(&self, reason: impl Into<String>) -> ReplicationError {
        ReplicationError::Protocol {
            peer: self.addr.clone(),
            reason: reason.into(),
        }
    }

    fn count(&self, method: &'static str, sent: usize, received: usize) {
        metrics::counter!(crate::metrics::RPC_BYTES, "method" => method, "direction" => "sent")
            .increment(sent as u64);
        metrics::counter!(crate::metrics::RPC_BYTES, "method" => method, "direction" => "received")
            .increment(received as u64);
        self.traffic.sent.fetch_add(sent as u64, Ordering::Relaxed);
        self.traffic
            .received
            .fetch_add(received as u64, Ordering::Relaxed);
    }

    /// Pushes records (storage framing); one outcome per record, in order.
    pub async fn push(&self, records: &[SignedRecord]) -> Result<Vec<PushOutcome>> {
        let req = PushRequest {
            records: records.iter().map(SignedRecord::to_stored).collect(),
        };
        let reply = self
            .call("Push", req, |mut c, r| async move { c.push(r).await })
            .await?;
        if reply.results.len() != records.len() {
            return Err(self.protocol(format!(
                "Push: {} results for {} records",
                reply.results.len(),
                records.len()
            )));
        }
        let mut out = Vec::with_capacity(records.len());
        for (rec, r) in records.iter().zip(reply.results) {
            let status = PushStatus::try_from(r.status).unwrap_or(PushStatus::Unspecified);
            let id = unpack_ids(&r.id).and_then(|v| v.first().copied());
            if let Some(got) = id
                && got != rec.id()
            {
                return Err(
                    self.protocol(format!("Push: receiver computed {got} for {}", rec.id()))
                );
            }
            out.push(PushOutcome {
                status,
                id,
                error: r.error,
            });
        }
        Ok(out)
    }

    /// Root digests of `partitions`, with full bucket digests when `buckets` is set.
    pub async fn digests(&self, partitions: &[u16], buckets: bool) -> Result<Vec<PeerDigest>> {
        self.digests_with(partitions, buckets.then_some(32)).await
    }

    /// Root digests of `partitions`, with the last `len` bytes (16..=32) of
    /// each bucket digest when `bucket_len` is set; the other bytes of the
    /// returned bucket digests are zero.
    pub async fn digests_with(
        &self,
        partitions: &[u16],
        bucket_len: Option<usize>,
    ) -> Result<Vec<PeerDigest>> {
        let len = bucket_len.unwrap_or(32);
        let req = DigestsRequest {
            partitions: partitions.iter().map(|p| u32::from(*p)).collect(),
            buckets: bucket_len.is_some(),
            digest_len: bucket_len.map_or(0, |l| l as u32),
        };
        let reply = self
            .call("Digests", req, |mut c, r| async move { c.digests(r).await })
            .await?;
        let mut out = Vec::with_capacity(reply.partitions.len());
        for d in reply.partitions {
            let partition = u16::try_from(d.partition)
                .map_err(|_| self.protocol(format!("Digests: partition {}", d.partition)))?;
            let root: Digest = d
                .root
                .as_slice()
                .try_into()
                .map_err(|_| self.protocol("Digests: root is not 32 bytes"))?;
            let buckets = if bucket_len.is_some() {
                let got = if d.digest_len == 0 {
                    32
                } else {
                    d.digest_len as usize
                };
                if got != len {
                    return Err(self.protocol(format!(
                        "Digests: {got}-byte bucket digests, asked for {len}"
                    )));
                }
                Some(
                    unpack_buckets(&d.buckets, len)
                        .ok_or_else(|| self.protocol("Digests: malformed buckets"))?,
                )
            } else {
                None
            };
            out.push(PeerDigest {
                partition,
                root,
                buckets,
            });
        }
        Ok(out)
    }

    /// Ids held in each `(partition, bucket)`.
    pub async fn bucket_ids(
        &self,
        buckets: &[(u16, u8)],
    ) -> Result<Vec<((u16, u8), Vec<RecordId>)>> {
        let req = BucketIdsRequest {
            buckets: buckets
                .iter()
                .map(|(p, b)| BucketRef {
                    partition: u32::from(*p),
                    bucket: u32::from(*b),
                })
                .collect(),
        };
        let reply = self
            .call(
                "BucketIds",
                req,
                |mut c, r| async move { c.bucket_ids(r).await },
            )
            .await?;
        let mut out = Vec::with_capacity(reply.buckets.len());
        for l in reply.buckets {
            let (Ok(p), Ok(b)) = (u16::try_from(l.partition), u8::try_from(l.bucket)) else {
                return Err(self.protocol("BucketIds: bucket reference out of range"));
            };
            let ids =
                unpack_ids(&l.ids).ok_or_else(|| self.protocol("BucketIds: malformed ids"))?;
            out.push(((p, b), ids));
        }
        Ok(out)
    }

    /// Compares our id prefixes of some buckets with the peer's ids there
    /// (see [`crate::prefix`]); returns the answers for a prefix of `asked`, in
    /// order (the peer may stop early to bound its reply). `extras` asks for
    /// the peer's prefixes we lack too.
    pub async fn match_prefixes(
        &self,
        asked: &[BucketPrefixes],
        extras: bool,
    ) -> Result<Vec<BucketAnswer>> {
        let req = MatchRequest {
            partitions: pack_groups(asked),
            extras,
        };
        let reply = self
            .call("MatchPrefixes", req, |mut c, r| async move {
                c.match_prefixes(r).await
            })
            .await?;
        decode_answers(&reply.partitions, asked)
            .map_err(|e| self.protocol(format!("MatchPrefixes: {e}")))
    }

    /// Every record the peer holds whose id has one of the prefixes of `groups`.
    pub async fn fetch_prefixes(&self, groups: &[BucketPrefixes]) -> Result<Fetched> {
        let req = FetchRequest {
            ids: Vec::new(),
            phase: FetchPhase::All as i32,
            prefixes: pack_groups(groups),
        };
        let reply = self
            .call("Fetch", req, |mut c, r| async move { c.fetch(r).await })
            .await?;
        let mut fetched = self.decode_records("Fetch", reply)?;
        // Deferred buckets must be ones asked for, or a peer could keep a round going forever.
        let asked: std::collections::HashSet<&BucketPrefixes> = groups.iter().collect();
        if fetched.deferred_prefixes.len() >= groups.len().max(1)
            || !fetched.deferred_prefixes.iter().all(|g| asked.contains(g))
        {
            return Err(
                self.protocol("Fetch: deferred prefixes that were not asked for, or all of them")
            );
        }
        // Deferred ids must come from the prefixes asked for, like returned records.
        let filter = PrefixFilter::new(groups);
        self.keep_asked(&mut fetched, |id| filter.accepts(id));
        Ok(fetched)
    }

    /// Records by id, restricted to `phase`.
    pub async fn fetch(&self, ids: &[RecordId], phase: FetchPhase) -> Result<Fetched> {
        let req = FetchRequest {
            ids: pack_ids(ids),
            phase: phase as i32,
            prefixes: Vec::new(),
        };
        let reply = self
            .call("Fetch", req, |mut c, r| async move { c.fetch(r).await })
            .await?;
        let wanted: std::collections::HashSet<RecordId> = ids.iter().copied().collect();
        let mut fetched = self.decode_records("Fetch", reply)?;
        self.keep_asked(&mut fetched, |id| wanted.contains(id));
        Ok(fetched)
    }

    /// Every record the peer holds about `subject`, targets before annotations.
    pub async fn subject_records(&self, subject: &str) -> Result<Vec<SignedRecord>> {
        let req = SubjectRequest {
            subject: subject.to_string(),
        };
        let reply = self
            .call("SubjectRecords", req, |mut c, r| async move {
                c.subject_records(r).await
            })
            .await?;
        Ok(self.decode_records("SubjectRecords", reply)?.records)
    }

    fn decode_records(&self, method: &str, reply: FetchReply) -> Result<Fetched> {
        let mut records = Vec::with_capacity(reply.records.len());
        for bytes in &reply.records {
            let rec = SignedRecord::from_stored(bytes)
                .map_err(|e| self.protocol(format!("{method}: undecodable record: {e}")))?;
            records.push(rec);
        }
        Ok(Fetched {
            records,
            missing: unpack_ids(&reply.missing)
                .ok_or_else(|| self.protocol(format!("{method}: malformed missing ids")))?,
            deferred: unpack_ids(&reply.deferred)
                .ok_or_else(|| self.protocol(format!("{method}: malformed deferred ids")))?,
            deferred_prefixes: unpack_groups(&reply.deferred_prefixes)
                .map_err(|e| self.protocol(format!("{method}: deferred prefixes: {e}")))?,
        })
    }
}
