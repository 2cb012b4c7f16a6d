//! WAMP-TLS: a client authenticated by the certificate it presented in the TLS handshake
//! (Crossbar.io's `PendingAuthTLS`), and the certificate's details as autobahn's
//! `peer_certificate_details` gives them to dynamic authenticators (`transport.peer_cert`).
//!
//! The transport asks for client certificates when its endpoint has `tls.ca_certificates`;
//! rustls then accepts only certificates that chain to one of them, so what arrives here is
//! already verified. Static principals name their certificate by its SHA-1 fingerprint.

use std::collections::BTreeMap;

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

use super::config_auth::{Principal, assign};
use super::reason;
use super::{AuthDenied, AuthStep, HelloInfo, Identity};
use crate::value::{Dict, Value};

/// `tls: {type: "static", principals: {<authid>: {certificate-sha1, role?}}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsAuth {
    pub principals: BTreeMap<String, TlsPrincipal>,
    /// The role of principals that have none (Crossbar.io's `default-role`).
    #[serde(
        default,
        rename = "default-role",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_role: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsPrincipal {
    /// The certificate's SHA-1 fingerprint, hex (`AB:CD:…` as autobahn prints it; case and
    /// colons do not matter).
    #[serde(rename = "certificate-sha1")]
    pub certificate_sha1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A fingerprint in autobahn's notation: upper case hex, bytes separated by colons.
fn fingerprint(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// A fingerprint as written in a config, compared without case or colons.
fn normalized(fp: &str) -> String {
    fp.chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `YYYYMMDDhhmmssZ`, as autobahn writes validity dates.
fn asn1_time(t: &ASN1Time) -> String {
    let d = t.to_datetime();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// A name's attributes by OpenSSL short name in lower case (`cn`, `o`, `emailaddress`).
fn name_dict(name: &X509Name<'_>) -> Dict {
    let mut d = Dict::new();
    for attr in name.iter_attributes() {
        let key = x509_parser::objects::oid2abbrev(attr.attr_type(), oid_registry())
            .map(str::to_owned)
            .unwrap_or_else(|_| attr.attr_type().to_id_string());
        let value = attr
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|_| String::from_utf8_lossy(attr.attr_value().data).into_owned());
        d.insert(key.to_lowercase(), Value::from(value));
    }
    d
}

/// An alternative name as OpenSSL prints it (`DNS:localhost`, `IP Address:127.0.0.1`).
fn general_name(gn: &GeneralName<'_>) -> String {
    match gn {
        GeneralName::DNSName(n) => format!("DNS:{n}"),
        GeneralName::RFC822Name(n) => format!("email:{n}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::IPAddress(ip) => match ip.len() {
            4 => format!(
                "IP Address:{}",
                std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])
            ),
            16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(ip);
                format!("IP Address:{}", std::net::Ipv6Addr::from(b))
            }
            _ => "IP Address:<invalid>".to_owned(),
        },
        other => format!("othername:{}", gn_kind(other)),
    }
}

fn gn_kind(gn: &GeneralName<'_>) -> &'static str {
    match gn {
        GeneralName::DirectoryName(_) => "DirName",
        GeneralName::RegisteredID(_) => "Registered ID",
        _ => "<unsupported>",
    }
}

/// The details of a client certificate (DER), with autobahn's keys: `md5`, `sha1`, `sha256`
/// fingerprints, `expired`, `hash` (null: OpenSSL's subject hash), `serial`,
/// `signature_algorithm`, `version`, `not_before`, `not_after`, `subject`, `issuer` and
/// `extensions` (`name`, `value`, `critical`; values are given for alternative names, as
/// OpenSSL prints them, and are null for the others). A certificate that cannot be parsed
/// still gets its fingerprints (the TLS layer accepted it).
pub fn certificate_details(der: &[u8]) -> Dict {
    let mut d = Dict::new();
    d.insert("md5".into(), Value::from(fingerprint(&Md5::digest(der))));
    d.insert("sha1".into(), Value::from(fingerprint(&Sha1::digest(der))));
    d.insert(
        "sha256".into(),
        Value::from(fingerprint(&Sha256::digest(der))),
    );
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return d;
    };
    let validity = cert.validity();
    d.insert(
        "expired".into(),
        Value::Bool(ASN1Time::now() > validity.not_after),
    );
    d.insert("hash".into(), Value::Null);
    let serial = cert.raw_serial();
    let serial = if serial.len() <= 8 {
        let mut b = [0u8; 8];
        b[8 - serial.len()..].copy_from_slice(serial);
        Value::from(u64::from_be_bytes(b))
    } else {
        // Beyond 64 bits: the decimal digits (autobahn gives a Python int).
        Value::from(cert.serial.to_string())
    };
    d.insert("serial".into(), serial);
    let alg = &cert.signature_algorithm.algorithm;
    let alg_name = oid_registry()
        .get(alg)
        .map(|e| e.sn().to_owned())
        .unwrap_or_else(|| alg.to_id_string());
    d.insert("signature_algorithm".into(), Value::from(alg_name));
    d.insert("version".into(), Value::from(cert.version().0));
    d.insert(
        "not_before".into(),
        Value::from(asn1_time(&validity.not_before)),
    );
    d.insert(
        "not_after".into(),
        Value::from(asn1_time(&validity.not_after)),
    );
    d.insert("subject".into(), Value::Dict(name_dict(cert.subject())));
    d.insert("issuer".into(), Value::Dict(name_dict(cert.issuer())));
    let extensions: Vec<Value> = cert
        .extensions()
        .iter()
        .map(|ext| {
            let name = oid_registry()
                .get(&ext.oid)
                .map(|e| e.sn().to_owned())
                .unwrap_or_else(|| ext.oid.to_id_string());
            let value = match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    let names: Vec<String> = san.general_names.iter().map(general_name).collect();
                    Value::from(names.join(", "))
                }
                _ => Value::Null,
            };
            let mut e = Dict::new();
            e.insert("name".into(), Value::from(name));
            e.insert("value".into(), value);
            e.insert("critical".into(), Value::Bool(ext.critical));
            Value::Dict(e)
        })
        .collect();
    d.insert("extensions".into(), Value::List(extensions));
    d
}

/// The client's certificate, or Crossbar.io's denial when it sent none.
pub(crate) fn peer_cert(hello: &HelloInfo) -> Result<&Dict, AuthDenied> {
    hello.transport.peer_cert.as_deref().ok_or_else(|| {
        AuthDenied::new(
            reason::NOT_AUTHORIZED,
            "client did not send a TLS client certificate",
        )
    })
}

/// A static WAMP-TLS principal database, by certificate fingerprint.
pub(crate) struct TlsDb {
    by_sha1: BTreeMap<String, (String, Principal)>,
    default_role: Option<String>,
}

impl TlsDb {
    pub(crate) fn new(config: &TlsAuth) -> TlsDb {
        let by_sha1 = config
            .principals
            .iter()
            .map(|(authid, p)| {
                let principal = Principal {
                    realm: None,
                    role: p.role.clone(),
                };
                (normalized(&p.certificate_sha1), (authid.clone(), principal))
            })
            .collect();
        TlsDb {
            by_sha1,
            default_role: config.default_role.clone(),
        }
    }

    /// Answers a HELLO for `tls`: welcomed by certificate, or Crossbar.io's denial.
    pub(crate) fn hello(&self, hello: &HelloInfo) -> AuthStep {
        let step = || -> Result<AuthStep, AuthDenied> {
            let cert = peer_cert(hello)?;
            let sha1 = cert.get("sha1").and_then(Value::as_str).unwrap_or_default();
            let Some((authid, principal)) = self.by_sha1.get(&normalized(sha1)) else {
                return Err(AuthDenied::new(
                    reason::NOT_AUTHORIZED,
                    format!("no principal with authid \"{sha1}\" exists"),
                ));
            };
            let (realm, authrole) = assign(hello, authid, principal, self.default_role.as_deref())?;
            Ok(AuthStep::Welcome(Identity {
                realm,
                authid: authid.clone(),
                authrole,
                authmethod: "tls".into(),
                authprovider: "static".into(),
                authextra: Dict::new(),
            }))
        };
        step().unwrap_or_else(AuthStep::Deny)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "client-a");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let d = certificate_details(cert.der());
        let sha1 = d["sha1"].as_str().unwrap();
        assert_eq!(sha1.len(), 59, "{sha1}");
        assert_eq!(sha1, fingerprint(&Sha1::digest(cert.der())));
        let subject = match &d["subject"] {
            Value::Dict(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(subject["cn"].as_str(), Some("client-a"));
        assert_eq!(subject["o"].as_str(), Some("Example"));
        assert_eq!(d["version"].as_u64(), Some(2));
        assert_eq!(d["expired"], Value::Bool(false));
        assert_eq!(d["not_after"].as_str().map(str::len), Some(15));
        let Value::List(ext) = &d["extensions"] else {
            panic!("extensions")
        };
        assert!(
            ext.iter().any(|e| matches!(e, Value::Dict(e)
                if e["value"].as_str() == Some("DNS:localhost"))),
            "{ext:?}"
        );
        assert_eq!(normalized("ab:cd:EF"), "ABCDEF");
    }

    #[test]
    fn garbage_still_has_fingerprints() {
        let d = certificate_details(b"not a certificate");
        assert!(d.get("sha256").is_some() && d.get("subject").is_none());
    }
}
