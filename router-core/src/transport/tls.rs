//! TLS for listening endpoints (PEM key and certificates from the node directory) and for
//! outgoing WebSocket connections (public roots plus an optional extra CA file), via rustls.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::transport::config::TlsConfig;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}")]
    Invalid(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    base.join(p)
}

/// Reads every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |message: String| TlsError::File {
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err("no PEM certificate in file".into()));
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// The server config of a TLS listening endpoint. Like Crossbar.io 26 it speaks TLS 1.3 only
/// (`ciphers` and `dhparam` are TLS 1.2 settings and have no effect). With `ca_certificates`,
/// clients must present a certificate that chains to one of them.
pub fn server_config(tls: &TlsConfig, base_dir: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let mut chain = load_certs(&resolve(base_dir, &tls.certificate))?;
    for extra in &tls.chain_certificates {
        chain.extend(load_certs(&resolve(base_dir, extra))?);
    }
    let key = load_key(&resolve(base_dir, &tls.key))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match &tls.ca_certificates {
        Some(cas) if !cas.is_empty() => {
            let mut roots = RootCertStore::empty();
            for ca in cas {
                for cert in load_certs(&resolve(base_dir, ca))? {
                    roots.add(cert)?;
                }
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::Invalid(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    // No ALPN: a client that offers some gets HTTP/1.1 by default, and RawSocket clients
    // offer none.
    Ok(builder.with_single_cert(chain, key)?)
}

/// A client config trusting the public web roots, plus the certificates in `extra_ca` (a PEM
/// file, e.g. a private CA or a self-signed router certificate).
pub fn client_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        for cert in load_certs(path)? {
            roots.add(cert)?;
        }
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}
