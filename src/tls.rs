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
