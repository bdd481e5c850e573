//! The built-in object store over real sockets, in-process with its
//! presigner at hand so expired and forged URLs can be made.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use resmgr_platform::http::Server;
use resmgr_platform::presign::Method;
use resmgr_platform::store::{self, random_credentials, Bucket, ObjectKey, Store};

struct Fixture {
    store: Arc<Store>,
    _server: Server,
    dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let store = Arc::new(Store::open(dir.path(), &base, random_credentials().unwrap()).unwrap());
    let server = store::serve(Arc::clone(&store), listener, None).unwrap();
    Fixture {
        store,
        _server: server,
        dir,
    }
}

fn method_of(m: &str) -> Method {
    match m {
        "PUT" => Method::Put,
        _ => Method::Get,
    }
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(Bucket::Uploads, "P1", "dev1", name).unwrap()
}

impl Fixture {
    fn url(&self, method: &str, name: &str) -> String {
        self.store
            .presign(method_of(method), &key(name), Duration::from_secs(600))
    }

    /// A URL signed 20 minutes ago for 10: expired.
    fn expired_url(&self, method: &str, name: &str) -> String {
        let then = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1200);
        self.store.presigner().presign_at(
            method_of(method),
            &key(name).s3_key(),
            Duration::from_secs(600),
            &then,
        )
    }

    fn stored(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.store.object_path(&key(name))).ok()
    }

    fn tmp_is_empty(&self) -> bool {
        std::fs::read_dir(self.dir.path().join("store/tmp"))
            .unwrap()
            .next()
            .is_none()
    }
}

fn error_code(r: &Resp) -> String {
    let t = r.text();
    let start = t.find("<Code>").expect("an S3 error body") + 6;
    let end = t.find("</Code>").unwrap();
    t[start..end].to_string()
}

#[test]
fn presigned_put_then_get() {
    let f = fixture();
    let data = b"hello, object store".to_vec();
    let r = put(&f.url("PUT", "a.bin"), &data);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("ETag"),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    assert_eq!(f.stored("a.bin").as_deref(), Some(&data[..]));

    let r = get(&f.url("GET", "a.bin"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(
        r.header("Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));

    let r = raw(&f.url("GET", "a.bin"), "HEAD", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(
        r.header("Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert!(f.tmp_is_empty());
}

#[test]
fn names_with_spaces_and_utf8() {
    let f = fixture();
    let name = "firmware v2 — größe.bin";
    let url = f.url("PUT", name);
    assert!(
        url.contains("/resmgr/uploads/P1/dev1/firmware%20v2%20%E2%80%94%20gr%C3%B6%C3%9Fe.bin?"),
        "{url}"
    );
    assert_eq!(put(&url, b"x").status, 200);
    assert_eq!(get(&f.url("GET", name)).body, b"x");
}

#[test]
fn a_second_put_replaces_the_object() {
    let f = fixture();
    assert_eq!(put(&f.url("PUT", "a"), b"first").status, 200);
    assert_eq!(put(&f.url("PUT", "a"), b"second!").status, 200);
    assert_eq!(get(&f.url("GET", "a")).body, b"second!");
}

#[test]
fn wrong_content_md5_is_bad_digest_and_stores_nothing() {
    let f = fixture();
    let r = raw(
        &f.url("PUT", "a"),
        "PUT",
        &[
            ("Content-Length", "5".into()),
            ("Content-MD5", md5_b64(b"other")),
        ],
        b"hello",
    );
    assert_eq!(r.status, 400);
    assert_eq!(error_code(&r), "BadDigest");
    assert_eq!(f.stored("a"), None);
    assert!(f.tmp_is_empty());
}

#[test]
fn malformed_content_md5_is_invalid_digest() {
    let f = fixture();
    for bad in ["not base64!", "aGVsbG8=", &md5_hex(b"hello")] {
        let r = raw(
            &f.url("PUT", "a"),
            "PUT",
            &[
                ("Content-Length", "5".into()),
                ("Content-MD5", bad.to_string()),
            ],
            b"hello",
        );
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(error_code(&r), "InvalidDigest", "{bad}");
    }
    assert_eq!(f.stored("a"), None);
}

#[test]
fn missing_content_md5_is_refused() {
    let f = fixture();
    let r = raw(
        &f.url("PUT", "a"),
        "PUT",
        &[("Content-Length", "5".into())],
        b"hello",
    );
    assert_eq!(r.status, 400);
    assert_eq!(f.stored("a"), None);
}

#[test]
fn missing_content_length_is_411() {
    let f = fixture();
    let r = raw(
        &f.url("PUT", "a"),
        "PUT",
        &[("Content-MD5", md5_b64(b"hello"))],
        b"",
    );
    assert_eq!(r.status, 411);
    assert_eq!(error_code(&r), "MissingContentLength");
    assert_eq!(f.stored("a"), None);
}

#[test]
fn chunked_put_is_refused() {
    let f = fixture();
    let r = raw(
        &f.url("PUT", "a"),
        "PUT",
        &[
            ("Transfer-Encoding", "chunked".into()),
            ("Content-MD5", md5_b64(b"hello")),
        ],
        b"5\r\nhello\r\n0\r\n\r\n",
    );
    assert!(r.status >= 400, "{}", r.status);
    assert_eq!(f.stored("a"), None);
}

#[test]
fn expect_100_continue_is_honoured() {
    let f = fixture();
    let r = raw(
        &f.url("PUT", "a"),
        "PUT",
        &[
            ("Content-Length", "5".into()),
            ("Content-MD5", md5_b64(b"hello")),
            ("Expect", "100-continue".into()),
        ],
        b"hello",
    );
    assert_eq!(r.status, 200);
    assert_eq!(f.stored("a").as_deref(), Some(&b"hello"[..]));
}

#[test]
fn expired_url_is_403_request_has_expired() {
    let f = fixture();
    let put_url = f.expired_url("PUT", "a");
    let r = put(&put_url, b"hello");
    assert_eq!(r.status, 403);
    assert_eq!(error_code(&r), "AccessDenied");
    assert!(r.text().contains("<Message>Request has expired</Message>"));
    assert_eq!(f.stored("a"), None);

    assert_eq!(put(&f.url("PUT", "a"), b"hello").status, 200);
    let r = get(&f.expired_url("GET", "a"));
    assert_eq!(r.status, 403);
    assert_eq!(error_code(&r), "AccessDenied");
}

#[test]
fn bad_signature_or_method_is_403_signature_does_not_match() {
    let f = fixture();
    assert_eq!(put(&f.url("PUT", "a"), b"hello").status, 200);

    let url = f.url("GET", "a");
    let sig_at = url.find("X-Amz-Signature=").unwrap() + 16;
    let mut forged = url.clone();
    let flipped = if &url[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    forged.replace_range(sig_at..sig_at + 1, flipped);
    let r = get(&forged);
    assert_eq!(r.status, 403);
    assert_eq!(error_code(&r), "SignatureDoesNotMatch");

    // A GET URL does not allow a PUT, nor another object, nor a later expiry.
    let r = put(&url, b"evil!");
    assert_eq!(r.status, 403);
    assert_eq!(error_code(&r), "SignatureDoesNotMatch");
    assert_eq!(f.stored("a").as_deref(), Some(&b"hello"[..]));
    let r = get(&url.replace("/a?", "/b?"));
    assert_eq!(error_code(&r), "SignatureDoesNotMatch");
    let later = url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000");
    assert_ne!(later, url);
    assert_eq!(error_code(&get(&later)), "SignatureDoesNotMatch");

    // Credentials of another serve run sign nothing here.
    let other = Store::open(
        f.dir.path(),
        &url::Url::parse(&f.store.base_url()).unwrap(),
        random_credentials().unwrap(),
    )
    .unwrap();
    let foreign = other.presign(Method::Get, &key("a"), Duration::from_secs(600));
    assert_eq!(error_code(&get(&foreign)), "SignatureDoesNotMatch");

    let bare = url.split('?').next().unwrap().to_string();
    let r = get(&bare);
    assert_eq!(r.status, 403);
    assert_eq!(error_code(&r), "AccessDenied");
}

#[test]
fn missing_object_is_404_no_such_key() {
    let f = fixture();
    let r = get(&f.url("GET", "nothing here"));
    assert_eq!(r.status, 404);
    assert_eq!(error_code(&r), "NoSuchKey");
}

#[test]
fn ranges_are_206_with_exact_content_range() {
    let f = fixture();
    let data: Vec<u8> = (0..100u8).collect();
    assert_eq!(put(&f.url("PUT", "r"), &data).status, 200);
    let url = f.url("GET", "r");
    let ranged = |spec: &str| raw(&url, "GET", &[("Range", spec.to_string())], b"");

    let r = ranged("bytes=40-");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 40-99/100"));
    assert_eq!(r.header("Content-Length"), Some("60"));
    assert_eq!(r.body, &data[40..]);

    let r = ranged("bytes=10-19");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/100"));
    assert_eq!(r.body, &data[10..20]);

    let r = ranged("bytes=90-1000");
    assert_eq!(r.header("Content-Range"), Some("bytes 90-99/100"));
    assert_eq!(r.body, &data[90..]);

    let r = ranged("bytes=-5");
    assert_eq!(r.header("Content-Range"), Some("bytes 95-99/100"));
    assert_eq!(r.body, &data[95..]);

    let r = ranged("bytes=99-");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[99..]);
}

#[test]
fn unsatisfiable_range_is_416() {
    let f = fixture();
    assert_eq!(put(&f.url("PUT", "r"), &[7u8; 100]).status, 200);
    for spec in ["bytes=100-", "bytes=500-600"] {
        let r = raw(&f.url("GET", "r"), "GET", &[("Range", spec.into())], b"");
        assert_eq!(r.status, 416, "{spec}");
        assert_eq!(error_code(&r), "InvalidRange");
        assert_eq!(r.header("Content-Range"), Some("bytes */100"));
    }
}

#[test]
fn malformed_range_is_ignored() {
    let f = fixture();
    let data = [3u8; 50];
    assert_eq!(put(&f.url("PUT", "r"), &data).status, 200);
    for spec in ["bytes=abc", "bytes=30-10", "lines=1-2", "bytes=0-1,5-6"] {
        let r = raw(&f.url("GET", "r"), "GET", &[("Range", spec.into())], b"");
        assert_eq!(r.status, 200, "{spec}");
        assert_eq!(r.body, data);
        assert_eq!(r.header("Content-Range"), None);
    }
}

#[test]
fn a_put_cut_short_stores_nothing() {
    let f = fixture();
    let full = vec![9u8; 100_000];
    put_cut_short(
        &f.url("PUT", "cut"),
        full.len(),
        &full[..1000],
        &md5_b64(&full),
    );
    // The server finished with the connection once ours closed: poll the
    // tmp directory rather than sleeping a fixed time.
    wait_until("the partial upload to be discarded", || f.tmp_is_empty());
    assert_eq!(f.stored("cut"), None);
    assert_eq!(get(&f.url("GET", "cut")).status, 404);

    // Over an existing object, a cut upload leaves the old bytes in place.
    assert_eq!(put(&f.url("PUT", "cut"), b"old").status, 200);
    put_cut_short(
        &f.url("PUT", "cut"),
        full.len(),
        &full[..10],
        &md5_b64(&full),
    );
    wait_until("the partial upload to be discarded", || f.tmp_is_empty());
    assert_eq!(get(&f.url("GET", "cut")).body, b"old");
}

#[test]
fn large_objects_stream_through() {
    let f = fixture();
    let data: Vec<u8> = (0..6 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    assert_eq!(put(&f.url("PUT", "big"), &data).status, 200);
    let r = get(&f.url("GET", "big"));
    assert_eq!(r.status, 200);
    assert_eq!(md5_hex(&r.body), md5_hex(&data));
    let r = raw(
        &f.url("GET", "big"),
        "GET",
        &[("Range", "bytes=5000000-".into())],
        b"",
    );
    assert_eq!(r.body, &data[5_000_000..]);
}

#[test]
fn garbage_requests_get_400_and_the_server_survives() {
    use std::io::{Read, Write};
    let f = fixture();
    let (addr, _) = split_url(&format!("{}/", f.store.base_url()));
    let mut s = std::net::TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"this is not HTTP\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(put(&f.url("PUT", "a"), b"still fine").status, 200);
}
