//! Certificates a hostile server presents: signed by a trusted CA but
//! expired or for another host name, or self-signed. Each comes as PEM
//! files (for mosquitto) and as a rustls server configuration (for the
//! fault server). Included by the hostile tests with
//! `#[path = "support/hostile_tls.rs"] mod hostile_tls;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A server certificate and its key, on disk and in memory.
pub struct Leaf {
    /// Certificate chain, PEM (leaf first, then the CA unless self-signed).
    pub cert_file: PathBuf,
    /// Private key, PEM (PKCS#8).
    pub key_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl Leaf {
    /// A rustls server configuration presenting this certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(self.chain.clone(), key)
                .expect("server certificate"),
        )
    }
}

/// Which lie a certificate tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// Valid: signed by the CA, for 127.0.0.1, in date.
    None,
    /// Signed by the CA, for 127.0.0.1, but expired in 2020.
    Expired,
    /// Signed by the CA, in date, but for `example.com` only.
    WrongHost,
    /// For 127.0.0.1, in date, signed by its own key (not the CA).
    SelfSigned,
    /// Signed by the CA, for 127.0.0.1, but not valid before 2090.
    NotYetValid,
}

/// A CA written to `dir/ca.pem`.
pub struct HostileCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    /// The CA certificate file (PEM).
    pub ca_file: PathBuf,
    dir: PathBuf,
}

impl HostileCa {
    /// A fresh CA whose files go into `dir`.
    pub fn new(dir: &Path) -> HostileCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "resmgr hostile test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign CA");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write CA");
        HostileCa {
            issuer: Issuer::new(params, key),
            cert_der: cert.der().clone(),
            ca_file,
            dir: dir.to_owned(),
        }
    }

    /// A server certificate telling lie `bad`, files named after `tag`.
    pub fn leaf(&self, bad: Bad, tag: &str) -> Leaf {
        let names: Vec<String> = match bad {
            Bad::WrongHost => vec!["example.com".into()],
            _ => vec!["127.0.0.1".into(), "localhost".into()],
        };
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        match bad {
            Bad::Expired => {
                params.not_before = date_time_ymd(2019, 1, 1);
                params.not_after = date_time_ymd(2020, 1, 1);
            }
            Bad::NotYetValid => {
                params.not_before = date_time_ymd(2090, 1, 1);
                params.not_after = date_time_ymd(2091, 1, 1);
            }
            _ => {
                params.not_before = date_time_ymd(2024, 1, 1);
                params.not_after = date_time_ymd(2080, 1, 1);
            }
        }
        let (cert, chain) = if bad == Bad::SelfSigned {
            let cert = params.self_signed(&key).expect("self-signed leaf");
            let chain = vec![cert.der().clone()];
            (cert, chain)
        } else {
            let cert = params.signed_by(&key, &self.issuer).expect("signed leaf");
            let chain = vec![cert.der().clone(), self.cert_der.clone()];
            (cert, chain)
        };
        let cert_file = self.dir.join(format!("{tag}.pem"));
        let key_file = self.dir.join(format!("{tag}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write leaf");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        Leaf {
            cert_file,
            key_file,
            chain,
            key_der: key.serialize_der(),
        }
    }
}
