//! Certificates a hostile server presents: signed by a trusted CA but
//! expired or for another host name, or self-signed. Each comes as PEM
//! files (for mosquitto) and as a rustls server configuration (for the
//! fault server). Made with the private CA of [`super::tls`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{date_time_ymd, KeyPair};
use rustls::pki_types::CertificateDer;

use super::tls::{server_config, server_params, Ca};

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
        server_config(self.chain.clone(), self.key_der.clone())
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

/// A CA (its file is [`Ca::file`]) and the lying certificates it signs.
pub struct HostileCa {
    ca: Ca,
    /// The CA certificate file (PEM).
    pub ca_file: PathBuf,
    dir: PathBuf,
}

impl HostileCa {
    /// A fresh CA; the leaf files go into `dir`.
    pub fn new(dir: &Path) -> HostileCa {
        let ca = Ca::new();
        HostileCa {
            ca_file: ca.file.clone(),
            ca,
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
        let mut params = server_params(&names);
        let (from, to) = match bad {
            Bad::Expired => (2019, 2020),
            Bad::NotYetValid => (2090, 2091),
            _ => (2024, 2080),
        };
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(to, 1, 1);
        let (cert, chain) = if bad == Bad::SelfSigned {
            let cert = params.self_signed(&key).expect("self-signed leaf");
            let chain = vec![cert.der().clone()];
            (cert, chain)
        } else {
            self.ca.sign(&params, &key)
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
