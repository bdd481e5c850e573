//! A private certificate authority made at test time, and server
//! certificates it signs, as rustls server configurations: the one place
//! the tests make certificates (`hostile_tls` builds its lying ones on it).

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::KeyUsagePurpose::{CrlSign, DigitalSignature, KeyCertSign, KeyEncipherment};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA whose certificate is also written, as PEM, to a temporary file
/// (what `TransferConfig::ca_file` takes).
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    /// The CA certificate, PEM.
    pub pem: String,
    /// A file holding [`Ca::pem`].
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Ca {
    /// A fresh CA.
    pub fn new() -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyCertSign, CrlSign, DigitalSignature];
        let name = "resmgr test CA";
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("self-sign CA");
        let pem = cert.pem();
        let dir = super::tempdir();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, &pem).expect("write CA file");
        Ca {
            issuer: Issuer::new(params, key),
            cert_der: cert.der().clone(),
            pem,
            file,
            _dir: dir,
        }
    }

    /// A rustls server configuration presenting a certificate for `names`
    /// (DNS names or IP addresses) signed by this CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let (_, chain) = self.sign(&server_params(&names), &key);
        server_config(chain, key.serialize_der())
    }

    /// Signs the certificate `params` describe, for `key`. Returns it and
    /// the chain a server presents (it, then this CA).
    pub fn sign(
        &self,
        params: &CertificateParams,
        key: &KeyPair,
    ) -> (Certificate, Vec<CertificateDer<'static>>) {
        let cert = params
            .signed_by(key, &self.issuer)
            .expect("sign server certificate");
        let chain = vec![cert.der().clone(), self.cert_der.clone()];
        (cert, chain)
    }
}

/// What a server certificate for `names` (DNS names or IP addresses, at
/// least one) says: the first name as its common name, server use.
pub fn server_params(names: &[String]) -> CertificateParams {
    let mut params = CertificateParams::new(names.to_vec()).expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![DigitalSignature, KeyEncipherment];
    params
}

/// A rustls server configuration presenting `chain` with the PKCS#8 key
/// `key_der`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der));
    super::fault::tls_server_config(chain, key).expect("server certificate")
}
