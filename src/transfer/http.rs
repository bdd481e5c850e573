//! The HTTP side of transfers: one agent per transfer (so a cancel can shut
//! exactly its connections down), and the mapping of what the store says
//! onto the library's errors and the platform's result codes.

use std::io::Read;
use std::time::Instant;

use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, RustlsConnector};
use ureq::Agent;

use super::socket::SocketConnector;
pub(crate) use super::socket::SocketProbe;
use super::TransferConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::Direction;

/// Longest store error body read, to find its `<Code>`.
const MAX_ERROR_BODY: u64 = 16 * 1024;

/// An attempt's failure and whether trying again may help.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: Error,
    pub transient: bool,
}

impl Failure {
    pub fn fatal(error: Error) -> Self {
        Failure {
            error,
            transient: false,
        }
    }

    pub fn transient(error: Error) -> Self {
        Failure {
            error,
            transient: true,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::fatal(error)
    }
}

/// Loads the trusted roots: the CA file when configured, else webpki's
/// (feature `bundled-roots`) or the system's CA bundle. With none of them,
/// plain `http://` still works and every `https://` certificate is refused.
pub(crate) fn tls_config(config: &TransferConfig) -> Result<TlsConfig> {
    let builder = TlsConfig::builder().unversioned_rustls_crypto_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ));
    let Some(path) = crate::tls::ca_file(config.ca_file.as_deref()) else {
        #[cfg(feature = "bundled-roots")]
        return Ok(builder.root_certs(RootCerts::WebPki).build());
        #[cfg(not(feature = "bundled-roots"))]
        return Ok(builder.root_certs(RootCerts::new_with_certs(&[])).build());
    };
    let pem = std::fs::read(&path).map_err(|e| {
        Error::new(
            ErrorKind::Tls,
            format!("cannot read CA file '{}': {e}", path.display()),
        )
    })?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Tls,
                    format!("CA file '{}' is not valid PEM: {e}", path.display()),
                ))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::new(
            ErrorKind::Tls,
            format!("CA file '{}' holds no certificate", path.display()),
        ));
    }
    Ok(builder
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

/// An agent for one attempt: the configured timeouts, no redirects (a
/// presigned URL never redirects; following one could leave https), store
/// errors returned as responses so their body can be read. Its connections
/// are made by [`SocketConnector`], whose probe (returned too) can ask the
/// kernel about them.
pub(crate) fn agent(
    config: &TransferConfig,
    tls: &TlsConfig,
    deadline: Option<Instant>,
) -> (Agent, SocketProbe) {
    let global = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let agent_config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(concat!("resmgr/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(config.connect_timeout))
        .timeout_per_read(Some(config.idle_timeout))
        .timeout_per_write(Some(config.idle_timeout))
        .timeout_global(global)
        .tls_config(tls.clone())
        .build();
    let sockets = SocketConnector::default();
    let probe = sockets.probe();
    // ureq's default chain, with this module's sockets in place of its own.
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(sockets)
            .chain(RustlsConnector::default());
    let agent = Agent::with_parts(agent_config, connector, DefaultResolver::default());
    (agent, probe)
}

/// Maps a ureq failure (no HTTP status) onto an error; network trouble is
/// transient.
pub(crate) fn request_failure(what: &str, e: ureq::Error) -> Failure {
    use ureq::Error as E;
    let text = e.to_string();
    match e {
        E::Timeout(t) => Failure::transient(Error::new(
            ErrorKind::Timeout,
            format!("{what}: timed out ({t})"),
        )),
        E::Io(io) => io_failure(what, &io),
        E::HostNotFound | E::ConnectionFailed => {
            Failure::transient(Error::new(ErrorKind::Network, format!("{what}: {text}")))
        }
        E::BadUri(_) => {
            Failure::fatal(Error::new(ErrorKind::InvalidUrl, format!("{what}: {text}")))
        }
        E::Tls(_) | E::Pem(_) | E::Rustls(_) => {
            Failure::fatal(Error::new(ErrorKind::Tls, format!("{what}: {text}")))
        }
        E::Protocol(_) => Failure::transient(Error::new(
            ErrorKind::BadResponse,
            format!("{what}: {text}"),
        )),
        _ => Failure::transient(Error::new(ErrorKind::Network, format!("{what}: {text}"))),
    }
}

/// Maps an I/O error of the connection; a TLS verification failure
/// surfaces here too and is not worth retrying.
pub(crate) fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    use std::io::ErrorKind as K;
    let text = e.to_string();
    if crate::tls::is_tls_failure(e) {
        return Failure::fatal(Error::new(
            ErrorKind::Tls,
            format!("{what}: TLS failure: {text}"),
        ));
    }
    let kind = match e.kind() {
        K::TimedOut | K::WouldBlock => ErrorKind::Timeout,
        // Body reads wrap ureq's own timeout in an io::Error.
        _ if wraps_ureq_timeout(e) => ErrorKind::Timeout,
        _ => ErrorKind::Network,
    };
    Failure::transient(Error::new(kind, format!("{what}: {text}")))
}

fn wraps_ureq_timeout(e: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(s) = source {
        if let Some(ureq::Error::Timeout(_)) = s.downcast_ref::<ureq::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// What a store said in its error body, if it is S3/COS-style XML.
pub(crate) fn store_error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body[start..].find("</Code>")?;
    let code = body[start..start + len].trim();
    (!code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_'))
    .then_some(code)
}

/// Reads (a bounded amount of) an error response's body.
pub(crate) fn error_body(response: &mut ureq::http::Response<ureq::Body>) -> String {
    let mut body = String::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(MAX_ERROR_BODY)
        .read_to_string(&mut body);
    body
}

/// Maps a non-success status onto an error: 403/404/400-BadDigest get the
/// platform's specific codes; 408, 429 and 5xx are worth retrying.
pub(crate) fn status_failure(direction: Direction, name: &str, status: u16, body: &str) -> Failure {
    let code = store_error_code(body);
    let detail = match code {
        Some(c) => format!("HTTP {status} {c}"),
        None => format!("HTTP {status}"),
    };
    let message = format!(
        "{} '{}' refused by the store: {detail}",
        direction.as_str(),
        name.escape_debug()
    );
    let (kind, transient) = match (status, code) {
        (403, _) if direction == Direction::Download => (ErrorKind::UrlExpired, false),
        (403, _) => (ErrorKind::SignInvalid, false),
        (404, _) => (ErrorKind::NotFound, false),
        (400, Some("BadDigest" | "InvalidDigest")) => (ErrorKind::Md5Mismatch, false),
        (408 | 429, _) | (500..=599, _) => (ErrorKind::Http, true),
        _ => (ErrorKind::Http, false),
    };
    Failure {
        error: Error::new(kind, message),
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_codes_are_found_and_junk_is_not() {
        let xml =
            "<?xml version=\"1.0\"?><Error><Code>BadDigest</Code><Message>x</Message></Error>";
        assert_eq!(store_error_code(xml), Some("BadDigest"));
        assert_eq!(store_error_code("<Code></Code>"), None);
        assert_eq!(store_error_code("<Code>a b<c</Code>"), None);
        assert_eq!(store_error_code("plain text"), None);
        assert_eq!(store_error_code("<Code>unterminated"), None);
    }

    #[test]
    fn statuses_map_to_platform_codes() {
        let kind = |d, s, body| status_failure(d, "f", s, body).error.kind();
        assert_eq!(kind(Direction::Upload, 403, ""), ErrorKind::SignInvalid);
        assert_eq!(kind(Direction::Download, 403, ""), ErrorKind::UrlExpired);
        assert_eq!(kind(Direction::Upload, 404, ""), ErrorKind::NotFound);
        assert_eq!(
            kind(Direction::Upload, 400, "<Code>BadDigest</Code>"),
            ErrorKind::Md5Mismatch
        );
        assert_eq!(
            kind(Direction::Upload, 400, "<Code>InvalidDigest</Code>"),
            ErrorKind::Md5Mismatch
        );
        assert_eq!(
            kind(Direction::Upload, 400, "<Code>InvalidArgument</Code>"),
            ErrorKind::Http
        );
        assert!(status_failure(Direction::Upload, "f", 503, "").transient);
        assert!(status_failure(Direction::Upload, "f", 429, "").transient);
        assert!(!status_failure(Direction::Upload, "f", 400, "").transient);
        let f = status_failure(
            Direction::Upload,
            "log.bin",
            500,
            "<Error><Code>InternalError</Code></Error>",
        );
        assert_eq!(
            f.error.message(),
            "upload 'log.bin' refused by the store: HTTP 500 InternalError"
        );
    }
}
