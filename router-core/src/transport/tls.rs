//! TLS for listening endpoints (PEM key and certificates from the node directory), via
//! OpenSSL, and for outgoing WebSocket connections (public roots plus an optional extra CA
//! file), via rustls. Listening endpoints use OpenSSL for the `tls-unique` channel binding of
//! WAMP-cryptosign: the handshake's first Finished message, which rustls does not expose.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

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
    #[error("{context}: {source}")]
    OpenSsl {
        context: String,
        source: openssl::error::ErrorStack,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    base.join(p)
}

/// Reads every certificate in a PEM file.
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
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

/// The acceptor of a TLS listening endpoint. Like Crossbar.io 26 it speaks TLS 1.3 only
/// (`ciphers` and `dhparam` are TLS 1.2 settings and have no effect). With `ca_certificates`,
/// clients must present a certificate that chains to one of them.
pub fn server_acceptor(tls: &TlsConfig, base_dir: &Path) -> Result<SslAcceptor, TlsError> {
    let ossl = |context: String| move |source| TlsError::OpenSsl { context, source };
    let mut b = SslAcceptor::mozilla_modern_v5(SslMethod::tls_server())
        .map_err(ossl("cannot set up TLS".into()))?;
    let read_pem = |p: &Path| {
        std::fs::read(p).map_err(|e| TlsError::File {
            path: p.to_owned(),
            message: e.to_string(),
        })
    };
    let certs = |p: &Path| -> Result<Vec<X509>, TlsError> {
        let certs = X509::stack_from_pem(&read_pem(p)?).map_err(|e| TlsError::File {
            path: p.to_owned(),
            message: format!("not a PEM certificate file: {e}"),
        })?;
        if certs.is_empty() {
            return Err(TlsError::File {
                path: p.to_owned(),
                message: "no certificate in the file".into(),
            });
        }
        Ok(certs)
    };
    let cert_path = resolve(base_dir, &tls.certificate);
    let mut chain = certs(&cert_path)?.into_iter();
    let leaf = chain.next().expect("certs() returns at least one");
    b.set_certificate(&leaf)
        .map_err(ossl(format!("cannot use {}", cert_path.display())))?;
    let extra = tls
        .chain_certificates
        .iter()
        .map(|p| certs(&resolve(base_dir, p)))
        .collect::<Result<Vec<_>, _>>()?;
    for c in chain.chain(extra.into_iter().flatten()) {
        b.add_extra_chain_cert(c)
            .map_err(ossl("cannot add a chain certificate".into()))?;
    }
    let key_path = resolve(base_dir, &tls.key);
    let key = PKey::private_key_from_pem(&read_pem(&key_path)?).map_err(|e| TlsError::File {
        path: key_path.clone(),
        message: format!("not a PEM private key: {e}"),
    })?;
    b.set_private_key(&key)
        .map_err(ossl(format!("cannot use {}", key_path.display())))?;
    b.check_private_key().map_err(|_| {
        TlsError::Invalid(format!(
            "the key {} does not belong to the certificate {}",
            key_path.display(),
            cert_path.display()
        ))
    })?;
    if let Some(cas) = tls.ca_certificates.as_ref().filter(|c| !c.is_empty()) {
        let mut store = X509StoreBuilder::new().map_err(ossl("cannot set up TLS".into()))?;
        for ca in cas {
            for cert in certs(&resolve(base_dir, ca))? {
                store
                    .add_cert(cert)
                    .map_err(ossl(format!("cannot add CA certificate {ca}")))?;
            }
        }
        b.set_verify_cert_store(store.build())
            .map_err(ossl("cannot set up TLS".into()))?;
        b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    // No ALPN: a client that offers some gets HTTP/1.1 by default, and RawSocket clients
    // offer none.
    Ok(b.build())
}

/// The `tls-unique` channel id of an established server connection, as autobahn and
/// Crossbar.io compute it: SHA-256 of the first Finished message of the handshake (the
/// client's in a full handshake, ours in a resumed one).
pub fn channel_id(ssl: &openssl::ssl::SslRef) -> Option<[u8; 32]> {
    use sha2::Digest as _;
    let mut buf = [0u8; 64];
    let n = if ssl.session_reused() {
        ssl.finished(&mut buf)
    } else {
        ssl.peer_finished(&mut buf)
    };
    (n > 0).then(|| sha2::Sha256::digest(&buf[..n.min(buf.len())]).into())
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
