//! The accept loop that serves an axum `Router` (the API on `api.bind_addr`,
//! the gateway on `cluster.bind_addr`), with or without TLS:
//!
//! - at most `api.max_connections` open connections; over the cap the loop
//!   stops accepting until one closes (new clients wait in the kernel's
//!   listen backlog rather than being refused);
//! - `api.header_read_timeout_ms` bounds the TLS handshake, the first bytes
//!   (HTTP/1.1 or the HTTP/2 preface) and every HTTP/1.1 request head, and
//!   closes idle keep-alive connections: a client sending its headers byte by
//!   byte is disconnected;
//! - `api.body_read_timeout_ms` bounds each wait for the next piece of a
//!   request body (the whole request stays bounded by `api.request_timeout_ms`);
//! - TLS offers ALPN `h2` and `http/1.1`; without TLS the first bytes decide
//!   between HTTP/1.1 and cleartext HTTP/2;
//! - graceful shutdown: the loop stops accepting, in-flight requests finish,
//!   idle connections close; the caller bounds the wait.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::TimeoutBody;
use tower_service::Service;

/// The HTTP/2 connection preface.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How connections are accepted and bounded.
#[derive(Clone)]
pub struct Serving {
    /// TLS, when `api.tls_cert` and `api.tls_key` are set.
    pub tls: Option<TlsAcceptor>,
    /// Handshake, first bytes and HTTP/1.1 request head deadline (also the keep-alive idle limit).
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_read_timeout: Duration,
    /// Most open connections per listener.
    pub max_connections: usize,
}

impl Serving {
    /// `https` with TLS, `http` without.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open
/// connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    serving: Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(serving.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut cap_logged = false;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => {
                cap_logged = false;
                p
            }
            Err(_) => {
                if !cap_logged {
                    tracing::warn!(
                        max_connections = serving.max_connections,
                        "connection cap reached; new connections wait until one closes"
                    );
                    cap_logged = true;
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let watcher = graceful.watcher();
        let app = app.clone();
        let serving = serving.clone();
        tokio::spawn(async move {
            connection(tcp, peer, app, &serving, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    serving: &Serving,
    watcher: Watcher,
) {
    let deadline = serving.header_read_timeout;
    match &serving.tls {
        None => {
            let Some((h2, io)) = detect(tcp, deadline, peer).await else {
                return;
            };
            http(io, h2, peer, app, serving, watcher).await;
        }
        Some(acceptor) => {
            let tls = match tokio::time::timeout(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            match alpn.as_deref() {
                Some(b"h2") => http(Prefixed::new(tls), true, peer, app, serving, watcher).await,
                Some(_) => http(Prefixed::new(tls), false, peer, app, serving, watcher).await,
                None => {
                    let Some((h2, io)) = detect(tls, deadline, peer).await else {
                        return;
                    };
                    http(io, h2, peer, app, serving, watcher).await;
                }
            }
        }
    }
}

/// Reads the first bytes (within `deadline`) to tell HTTP/2's preface from HTTP/1.1.
async fn detect<I: AsyncRead + AsyncWrite + Unpin>(
    mut io: I,
    deadline: Duration,
    peer: SocketAddr,
) -> Option<(bool, Prefixed<I>)> {
    let read = async {
        let mut seen = Vec::with_capacity(H2_PREFACE.len());
        let mut chunk = [0u8; 24];
        while seen.len() < H2_PREFACE.len() {
            let n = io.read(&mut chunk[..H2_PREFACE.len() - seen.len()]).await?;
            if n == 0 {
                return Ok::<_, io::Error>(None);
            }
            seen.extend_from_slice(&chunk[..n]);
            if !H2_PREFACE.starts_with(&seen) {
                return Ok(Some((false, seen)));
            }
        }
        Ok(Some((true, seen)))
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(Ok(Some((h2, seen)))) => Some((
            h2,
            Prefixed {
                prefix: seen,
                pos: 0,
                inner: io,
            },
        )),
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "connection failed before a request");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "no request within api.header_read_timeout_ms; closed");
            None
        }
    }
}

async fn http<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: Prefixed<I>,
    h2: bool,
    peer: SocketAddr,
    app: Router,
    serving: &Serving,
    watcher: Watcher,
) {
    let body_timeout = serving.body_read_timeout;
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let req = req.map(|b| axum::body::Body::new(TimeoutBody::new(body_timeout, b)));
        let mut app = app.clone();
        async move { app.call(req).await }
    });
    let io = TokioIo::new(io);
    let result = if h2 {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new());
        watcher.watch(b.serve_connection(io, svc)).await
    } else {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(serving.header_read_timeout);
        if serving.tls.is_some() {
            // Vectored writes reach rustls as one TLS record per slice (head,
            // body); one flattened buffer is one record: less framing and one
            // AEAD call per response.
            b.writev(false);
        }
        watcher.watch(b.serve_connection(io, svc)).await
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// A stream whose first bytes were already read (to detect the protocol).
struct Prefixed<I> {
    prefix: Vec<u8>,
    pos: usize,
    inner: I,
}

impl<I> Prefixed<I> {
    fn new(inner: I) -> Self {
        Prefixed {
            prefix: Vec::new(),
            pos: 0,
            inner,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let rest = &this.prefix[this.pos..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
