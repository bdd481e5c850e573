//! `serve --tls`: a private certificate authority kept in `DIR/tls/`
//! (`ca.pem` is what devices trust; `ca.key` stays private) and a server
//! certificate it signs at every start for the names devices use
//! (127.0.0.1, localhost and the public URL's host). The broker reads the
//! PEM files; the store gets a rustls configuration.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::util;

/// The files of `DIR/tls/`.
pub struct TlsFiles {
    /// The CA certificate devices trust.
    pub ca_pem: PathBuf,
    /// The server certificate followed by the CA's (the chain).
    pub server_pem: PathBuf,
    /// The server's private key (PKCS#8).
    pub server_key: PathBuf,
    /// The same, for rustls.
    pub config: Arc<rustls::ServerConfig>,
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "resmgr-platform local CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    params
}

/// Loads the CA of `DIR/tls/` (making one the first time) and issues a
/// server certificate for `names` (DNS names or IP addresses).
pub fn prepare(data: &Path, names: &[String]) -> Result<TlsFiles, String> {
    let dir = data.join("tls");
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ca_pem = dir.join("ca.pem");
    let ca_key_path = dir.join("ca.key");
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    let ca_key = if ca_pem.is_file() && ca_key_path.is_file() {
        let pem = fs::read_to_string(&ca_key_path).map_err(|e| io(&ca_key_path, e))?;
        KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", ca_key_path.display()))?
    } else {
        let key = KeyPair::generate().map_err(|e| format!("cannot make the CA key: {e}"))?;
        let cert = ca_params()
            .self_signed(&key)
            .map_err(|e| format!("cannot make the CA: {e}"))?;
        util::write_atomic_private(&ca_key_path, key.serialize_pem().as_bytes())
            .map_err(|e| io(&ca_key_path, e))?;
        util::write_atomic(&ca_pem, cert.pem().as_bytes()).map_err(|e| io(&ca_pem, e))?;
        key
    };
    let ca_cert_pem = fs::read_to_string(&ca_pem).map_err(|e| io(&ca_pem, e))?;
    let issuer = Issuer::new(ca_params(), ca_key);

    let key = KeyPair::generate().map_err(|e| format!("cannot make the server key: {e}"))?;
    let mut params = CertificateParams::new(names.to_vec())
        .map_err(|e| format!("cannot certify {names:?}: {e}"))?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("localhost"),
    );
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| format!("cannot sign the server certificate: {e}"))?;
    let server_pem = dir.join("server.pem");
    let server_key = dir.join("server.key");
    let chain_pem = format!("{}{}", cert.pem(), ca_cert_pem);
    util::write_atomic(&server_pem, chain_pem.as_bytes()).map_err(|e| io(&server_pem, e))?;
    util::write_atomic_private(&server_key, key.serialize_pem().as_bytes())
        .map_err(|e| io(&server_key, e))?;

    let ca_der = rustls::pki_types::pem::PemObject::from_pem_slice(ca_cert_pem.as_bytes())
        .map_err(|e| format!("{}: {e}", ca_pem.display()))?;
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), ca_der];
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("the server certificate is not usable: {e}"))?;
    Ok(TlsFiles {
        ca_pem,
        server_pem,
        server_key,
        config: Arc::new(config),
    })
}
