//! The platform's key authentication for built-in MQTT.
//!
//! client id `{productid}{devicename}`, username
//! `{productid}{devicename};{sdkappid};{connid};{expiry}`, password the
//! lowercase hex HMAC of the username keyed by the base64-decoded device
//! secret, followed by `;hmacsha1` or `;hmacsha256`. The secret is never
//! put into an error message or a `Debug` output, and every buffer of ours
//! that held the decoded key or the password is zeroed before it is freed.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, ErrorKind, Result};

/// The SDK app id the platform's documentation uses.
pub const DEFAULT_SDK_APP_ID: &str = "12010126";

/// Which HMAC signs the username.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMethod {
    /// HMAC-SHA1, password suffix `;hmacsha1`.
    HmacSha1,
    /// HMAC-SHA256, password suffix `;hmacsha256`.
    HmacSha256,
}

/// What an MQTT CONNECT carries to identify the device.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// MQTT client id.
    pub client_id: String,
    /// MQTT username.
    pub username: String,
    /// MQTT password (a signature, or a plain password).
    pub password: String,
}

/// The password is a login until the username's expiry: wiped on drop.
impl Drop for Credentials {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The inputs of a key-authenticated login. `connid` and `expiry` are
/// normally random and now + validity; tests fix them to compare against
/// an independent implementation.
pub struct KeyAuth<'a> {
    /// Product id.
    pub product_id: &'a str,
    /// Device name.
    pub device_name: &'a str,
    /// The device secret, base64, as the platform issues it.
    pub secret_base64: &'a str,
    /// HMAC algorithm.
    pub method: SignMethod,
    /// The SDK app id put into the username.
    pub sdk_app_id: &'a str,
    /// 5 alphanumerics; `None` for random.
    pub connid: Option<&'a str>,
    /// Unix time the login expires; `None` for now + `valid_for_s`.
    pub expiry: Option<u64>,
    /// Seconds the login stays valid when `expiry` is `None`.
    pub valid_for_s: u64,
}

/// Builds the credentials of a key-authenticated device.
pub fn key_credentials(auth: &KeyAuth<'_>) -> Result<Credentials> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(auth.secret_base64.trim())
        .map(Zeroizing::new)
        .map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "device secret is not valid base64",
            )
        })?;
    if key.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "device secret is empty",
        ));
    }
    if auth.sdk_app_id.is_empty() || !auth.sdk_app_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "sdk app id must be non-empty alphanumerics",
        ));
    }
    let connid = match auth.connid {
        Some(c) if c.len() == 5 && c.bytes().all(|b| b.is_ascii_alphanumeric()) => c.to_owned(),
        Some(_) => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "connid must be 5 alphanumerics",
            ))
        }
        None => random_connid(),
    };
    let expiry = auth.expiry.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + auth.valid_for_s
    });
    let client_id = format!("{}{}", auth.product_id, auth.device_name);
    let username = format!("{client_id};{};{connid};{expiry}", auth.sdk_app_id);
    let (digest, suffix) = match auth.method {
        SignMethod::HmacSha1 => (hmac_sha1(&key, &username), "hmacsha1"),
        SignMethod::HmacSha256 => (hmac_sha256(&key, &username), "hmacsha256"),
    };
    // Sized up front: the password is written once, never reallocated.
    let mut password = String::with_capacity(digest.len() * 2 + suffix.len() + 1);
    for b in digest.iter() {
        use fmt::Write as _;
        let _ = write!(password, "{b:02x}");
    }
    password.push(';');
    password.push_str(suffix);
    Ok(Credentials {
        client_id,
        username,
        password,
    })
}

fn hmac_sha1(key: &[u8], message: &str) -> Zeroizing<Vec<u8>> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

fn hmac_sha256(key: &[u8], message: &str) -> Zeroizing<Vec<u8>> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

fn random_connid() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut jitter = crate::backoff::Jitter::new();
    (0..5)
        .map(|_| ALPHABET[(jitter.next_u64() % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(method: SignMethod) -> KeyAuth<'static> {
        KeyAuth {
            product_id: "ABCDEFGHIJ",
            device_name: "dev1",
            secret_base64: "c2VjcmV0LWtleS1mb3ItdGVzdHM=",
            method,
            sdk_app_id: DEFAULT_SDK_APP_ID,
            connid: Some("a1B2c"),
            expiry: Some(1_900_000_000),
            valid_for_s: 0,
        }
    }

    #[test]
    fn username_and_client_id_follow_the_platform_layout() {
        let c = key_credentials(&auth(SignMethod::HmacSha256)).unwrap();
        assert_eq!(c.client_id, "ABCDEFGHIJdev1");
        assert_eq!(c.username, "ABCDEFGHIJdev1;12010126;a1B2c;1900000000");
        assert!(c.password.ends_with(";hmacsha256"));
        assert_eq!(c.password.len(), 64 + ";hmacsha256".len());
        let c = key_credentials(&auth(SignMethod::HmacSha1)).unwrap();
        assert!(c.password.ends_with(";hmacsha1"));
        assert_eq!(c.password.len(), 40 + ";hmacsha1".len());
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let d = hmac_sha256(b"Jefe", "what do ya want for nothing?");
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn random_connids_are_five_alphanumerics() {
        let mut a = auth(SignMethod::HmacSha1);
        a.connid = None;
        let c = key_credentials(&a).unwrap();
        let connid = c.username.split(';').nth(2).unwrap();
        assert_eq!(connid.len(), 5);
        assert!(connid.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn bad_secrets_are_refused_without_echoing_them() {
        let mut a = auth(SignMethod::HmacSha1);
        a.secret_base64 = "not*base64!secret";
        let e = key_credentials(&a).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(!e.message().contains("not*base64!secret"));
        let c = key_credentials(&auth(SignMethod::HmacSha1)).unwrap();
        assert!(!format!("{c:?}").contains(&c.password));
    }
}
