//! Validation of the values that travel in messages: resource names, URLs
//! and result messages. The same rules apply to what the device sends and
//! to what it receives.

use crate::error::{Error, ErrorKind, Escaped, Result};
use crate::limits::{MAX_NAME_LEN, MAX_RESULT_MSG_LEN, MAX_URL_LEN};
use crate::prelude::*;

/// A resource name: non-empty UTF-8 of at most [`MAX_NAME_LEN`] bytes with no
/// control characters. Whether it is also a safe *file* name is decided
/// where a file is written, not here.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::new(ErrorKind::InvalidName, "resource name is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!(
                "resource name is {} bytes long, the limit is {MAX_NAME_LEN}",
                name.len()
            ),
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!(
                "resource name '{}' contains the control character U+{:04X}",
                Escaped(name),
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// A `result_msg`: at most [`MAX_RESULT_MSG_LEN`] bytes and no NUL (it is
/// handed to C as a NUL-terminated string).
pub fn check_result_msg(msg: &str) -> Result<()> {
    if msg.len() > MAX_RESULT_MSG_LEN {
        return Err(Error::new(
            ErrorKind::InvalidField,
            format!(
                "result_msg is {} bytes long, the limit is {MAX_RESULT_MSG_LEN}",
                msg.len()
            ),
        ));
    }
    if msg.contains('\0') {
        return Err(Error::new(
            ErrorKind::InvalidField,
            "result_msg contains NUL",
        ));
    }
    Ok(())
}

/// The parts of a checked URL that a transport needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// True for `https`.
    pub https: bool,
    /// Host name, IPv4 address, or IPv6 literal without brackets.
    pub host: &'a str,
    /// The explicit port, or the scheme's default (80 / 443).
    pub port: u16,
}

fn url_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidUrl, msg)
}

/// Checks a URL from the platform and returns its parts.
///
/// Accepted: `http://` or `https://`, then a host (name, IPv4, or bracketed
/// IPv6), an optional port 1-65535, and a path/query of visible ASCII.
/// Refused: other schemes, user credentials (`user@host`), empty hosts,
/// spaces, control and non-ASCII bytes, and anything over [`MAX_URL_LEN`].
pub fn check_url(url: &str) -> Result<UrlParts<'_>> {
    if url.is_empty() {
        return Err(url_error("URL is empty"));
    }
    if url.len() > MAX_URL_LEN {
        return Err(url_error(format!(
            "URL is {} bytes long, the limit is {MAX_URL_LEN}",
            url.len()
        )));
    }
    // A branch-free pass over the whole URL (it vectorizes); the offset is
    // looked for only when there is something to report.
    let visible = url
        .bytes()
        .fold(true, |ok, b| ok & (0x21..=0x7e).contains(&b));
    if !visible {
        let pos = url
            .bytes()
            .position(|b| !(0x21..=0x7e).contains(&b))
            .unwrap_or(0);
        return Err(url_error(format!(
            "URL has a space, control or non-ASCII byte at offset {pos}"
        )));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(url_error(
            "URL has no scheme (expected http:// or https://)",
        ));
    };
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return Err(url_error(format!(
            "URL scheme '{}' is not http or https",
            &scheme[..scheme.len().min(32)]
        )));
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(url_error("URL carries user credentials (user@host)"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(url_error("URL has an unterminated IPv6 literal"));
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(url_error("URL has an invalid IPv6 literal"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| url_error("URL has junk after the IPv6 literal"))?,
            ),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(url_error("URL has no host"));
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b'%'))
    {
        return Err(url_error("URL host has characters a host name cannot have"));
    }
    let port = match port {
        None => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) => parse_port(p)?,
    };
    Ok(UrlParts { https, host, port })
}

fn parse_port(p: &str) -> Result<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(url_error(format!("URL port '{p}' is not a number")));
    }
    match p.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(url_error(format!("URL port {p} is outside 1-65535"))),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary: for quoting input in messages and for
/// `result_msg`s within their limit.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_empty_long_or_control_names_fail() {
        for ok in [
            "zxc",
            "firmware v1.2.bin",
            "日本語.txt",
            "a/b",
            &"n".repeat(MAX_NAME_LEN),
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a\nb",
            "a\0b",
            "\u{7f}",
            "tab\there",
            &"n".repeat(MAX_NAME_LEN + 1),
        ] {
            assert_eq!(
                check_name(bad).unwrap_err().kind(),
                ErrorKind::InvalidName,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn http_and_https_urls_with_ports_are_accepted() {
        let p = check_url("https://iothub.cos.ap-guangzhou.myqcloud.com/a/b?sign=x%2Fy").unwrap();
        assert_eq!(
            p,
            UrlParts {
                https: true,
                host: "iothub.cos.ap-guangzhou.myqcloud.com",
                port: 443
            }
        );
        let p = check_url("HTTP://127.0.0.1:9000/bucket/key").unwrap();
        assert_eq!(
            p,
            UrlParts {
                https: false,
                host: "127.0.0.1",
                port: 9000
            }
        );
        let p = check_url("http://[::1]:8080/x").unwrap();
        assert_eq!(
            p,
            UrlParts {
                https: false,
                host: "::1",
                port: 8080
            }
        );
        let p = check_url("https://[2001:db8::1]").unwrap();
        assert_eq!(p.port, 443);
    }

    #[test]
    fn hostile_urls_are_refused_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("ftp://host/x", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("host/x", "no scheme"),
            ("http://user:pw@host/x", "credentials"),
            ("http:///x", "no host"),
            ("http://host:0/x", "outside"),
            ("http://host:65536/x", "outside"),
            ("http://host:/x", "not a number"),
            ("http://host:80a/x", "not a number"),
            ("http://ho st/x", "space"),
            ("http://host/x\ny", "control"),
            ("http://hóst/x", "non-ASCII"),
            ("http://[::1/x", "unterminated"),
            ("http://[zz]/x", "IPv6"),
            ("http://[::1]x/", "junk"),
            ("http://a<b/x", "host"),
        ];
        for (url, why) in cases {
            let e = check_url(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{url}");
            assert!(e.message().contains(why), "{url}: {}", e.message());
        }
        let long = format!("http://h/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long).unwrap_err().message().contains("limit"));
        let longest = format!("http://h/{}", "a".repeat(MAX_URL_LEN - 9));
        assert!(check_url(&longest).is_ok());
    }

    #[test]
    fn result_messages_are_bounded_and_nul_free() {
        assert!(check_result_msg("ok").is_ok());
        assert!(check_result_msg("").is_ok());
        assert_eq!(
            check_result_msg("a\0").unwrap_err().kind(),
            ErrorKind::InvalidField
        );
        assert!(check_result_msg(&"m".repeat(MAX_RESULT_MSG_LEN + 1)).is_err());
    }
}
