//! Test certificates written as PEM files: a CA, a server certificate for `localhost` and
//! client certificates, the way an operator's private PKI would issue them.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A certificate authority that issues certificates into a directory.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

/// The files of one issued certificate.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA with common name `cn`; its certificate is written to `<dir>/<file>.pem`.
    pub fn new(dir: &Path, file: &str, cn: &str) -> TestCa {
        let name = file;
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            dir: dir.to_owned(),
        }
    }

    /// Issues a certificate with common name `cn` (and `localhost` as its DNS name) to
    /// `<dir>/<file>.pem` and `<dir>/<file>.key`.
    pub fn issue(&self, file: &str, cn: &str) -> Issued {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let issued = Issued {
            cert: self.dir.join(format!("{file}.pem")),
            key: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&issued.cert, cert.pem()).unwrap();
        std::fs::write(&issued.key, key.serialize_pem()).unwrap();
        issued
    }
}
