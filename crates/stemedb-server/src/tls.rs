//! TLS for the HTTP API and the cluster gateway (`[api] tls_cert`,
//! `tls_key`): rustls with the ring provider, ALPN `h2` and `http/1.1`, and a
//! certificate that SIGHUP reloads without dropping connections (a resolver
//! that swaps an `Arc`; handshakes already done keep their certificate).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// Why a certificate or key could not be used; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable, not PEM, or holds no certificate.
    #[error("TLS certificate {path}: {why}")]
    Cert {
        /// The file (`api.tls_cert`).
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The key file is unreadable, not a PEM private key, or not supported.
    #[error("TLS private key {path}: {why}")]
    Key {
        /// The file (`api.tls_key`).
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM certificate chain and private key and checks that they match.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_err = |why: String| TlsError::Cert {
        path: cert.to_path_buf(),
        why,
    };
    let key_err = |why: String| TlsError::Key {
        path: key.to_path_buf(),
        why,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| cert_err(format!("cannot read: {e}")))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(cert_err("holds no PEM CERTIFICATE block".into()));
    }
    let key_pem = std::fs::read(key).map_err(|e| key_err(format!("cannot read: {e}")))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| key_err(format!("not a PEM private key: {e}")))?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => key_err(format!(
            "does not match the certificate in {}",
            cert.display()
        )),
        other => key_err(format!("unusable: {other}")),
    })
}

/// The server certificate in use; [`CertResolver::reload`] swaps it.
pub struct CertResolver {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl CertResolver {
    /// Loads the certificate and key (start-up: an error stops the server).
    pub fn load(cert: &Path, key: &Path) -> Result<CertResolver, TlsError> {
        let ck = load_certified_key(cert, key)?;
        Ok(CertResolver {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(ck)),
        })
    }

    /// Re-reads both files; on error the old certificate stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let ck = Arc::new(load_certified_key(&self.cert, &self.key)?);
        match self.current.write() {
            Ok(mut g) => *g = ck,
            Err(poisoned) => *poisoned.into_inner() = ck,
        }
        Ok(())
    }

    fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A TLS acceptor offering `h2` and `http/1.1` over the resolver's certificate.
pub fn acceptor(resolver: Arc<CertResolver>) -> Result<TlsAcceptor, TlsError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Reloads the certificate on every SIGHUP until the task is aborted.
pub async fn reload_on_sighup(resolver: Arc<CertResolver>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS certificate reload is off");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match resolver.reload() {
            Ok(()) => tracing::info!(
                cert = %resolver.cert.display(),
                "SIGHUP: TLS certificate reloaded; new handshakes use it"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "SIGHUP: TLS certificate reload failed; still serving the previous certificate"
            ),
        }
    }
}
