//! Recognising certificate and handshake failures (features `http` and
//! `mqtt`): both HTTP and MQTT clients hand them over wrapped in an
//! `io::Error`, where they must not be mistaken for a network hiccup that
//! a retry could cure.

/// True when `e` carries a rustls error somewhere in its source chain.
pub(crate) fn is_tls_failure(e: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(s) = source {
        if s.is::<rustls::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Where the CA bundle of the system is, on the distributions and embedded
/// Linux builds (Buildroot, Yocto) that ship one; the first that exists is
/// trusted when no CA file is configured and the roots are not bundled.
#[cfg(not(feature = "bundled-roots"))]
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Buildroot, Yocto
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7+
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, BSDs
];

/// The CA file to trust: the configured one, else (without the
/// `bundled-roots` feature) the system's bundle, if there is one.
#[cfg(not(feature = "bundled-roots"))]
pub(crate) fn ca_file(configured: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
    match configured {
        Some(path) => Some(path.to_owned()),
        None => SYSTEM_CA_FILES
            .iter()
            .map(std::path::Path::new)
            .find(|p| p.is_file())
            .map(std::path::Path::to_owned),
    }
}

/// The CA file to trust: the configured one, else none (the bundled roots).
#[cfg(feature = "bundled-roots")]
pub(crate) fn ca_file(configured: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
    configured.map(std::path::Path::to_owned)
}
