//! AWS SigV4 query-string presigning (`X-Amz-SignedHeaders=host`,
//! `UNSIGNED-PAYLOAD`) for the s3s-fs object store: shared by the transfer
//! tests (tests/support/s3.rs) and the benchmarks (bench/src/s3.rs includes
//! this file with `#[path]`), checked here against AWS's documented example.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What to presign.
pub struct Presign<'a> {
    pub method: &'a str,
    /// `host:port` as the client sends it in `Host`.
    pub authority: &'a str,
    /// The path, unencoded, starting with `/`.
    pub path: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub expires: Duration,
    pub at: SystemTime,
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, the
/// rest is %XX (uppercase); `/` stays when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `(YYYYMMDD, YYYYMMDDTHHMMSSZ)` of `t`, UTC.
pub fn amz_dates(t: SystemTime) -> (String, String) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .expect("time after 1970")
        .as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let stamp = format!("{date}T{h:02}{m:02}{s:02}Z");
    (date, stamp)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An AWS SigV4 presigned URL (query-string authentication,
/// `X-Amz-SignedHeaders=host`, `UNSIGNED-PAYLOAD`).
pub fn presign(p: &Presign<'_>) -> String {
    let (date, stamp) = amz_dates(p.at);
    let scope = format!("{date}/{}/s3/aws4_request", p.region);
    let credential = format!("{}/{scope}", p.access_key);
    let mut query = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("X-Amz-Credential", credential),
        ("X-Amz-Date", stamp.clone()),
        ("X-Amz-Expires", p.expires.as_secs().to_string()),
        ("X-Amz-SignedHeaders", "host".to_owned()),
    ];
    query.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_path = uri_encode(p.path, true);
    let canonical_request = format!(
        "{}\n{canonical_path}\n{canonical_query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
        p.method, p.authority
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{}", p.secret_key).as_bytes(), date.as_bytes());
    for part in [p.region, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    format!(
        "http://{}{canonical_path}?{canonical_query}&X-Amz-Signature={signature}",
        p.authority
    )
}

#[test]
fn amz_dates_are_civil_utc() {
    let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
    assert_eq!(amz_dates(t), ("20130524".into(), "20130524T000000Z".into()));
    let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661); // 2000-02-29T01:01:01Z
    assert_eq!(amz_dates(t), ("20000229".into(), "20000229T010101Z".into()));
}

#[test]
fn presigning_matches_the_aws_example() {
    // The GET example of AWS's "Authenticating Requests: Using Query
    // Parameters" page.
    let url = presign(&Presign {
        method: "GET",
        authority: "examplebucket.s3.amazonaws.com",
        path: "/test.txt",
        access_key: "AKIAIOSFODNN7EXAMPLE",
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
        expires: Duration::from_secs(86_400),
        at: UNIX_EPOCH + Duration::from_secs(1_369_353_600),
    });
    assert!(
        url.ends_with(
            "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        ),
        "{url}"
    );
}
