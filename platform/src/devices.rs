//! The device registry (`DIR/devices.json`, written by `device add` and
//! `device remove`) and the checks the broker plugin makes with it: the
//! platform's key authentication of a login, and which topics a device may
//! use. Pure functions over the registry, so they are tested here; the
//! mosquitto glue is in [`crate::plugin`].
//!
//! A login: client id `{product}{device}`, username
//! `{product}{device};{sdkappid};{connid};{expiry}` with an expiry not yet
//! passed, password the lowercase hex HMAC-SHA1 or HMAC-SHA256 of the
//! username keyed by the base64-decoded device secret, then `;hmacsha1` or
//! `;hmacsha256` (../shared/protocol.md).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use crate::util;

/// Bytes of a new device secret (before base64).
const SECRET_BYTES: usize = 18;

/// One registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Product id.
    pub product: String,
    /// Device name.
    pub device: String,
    /// The device secret, base64 (what `device add` printed).
    pub secret: String,
    /// When it was registered (Unix ms).
    #[serde(default)]
    pub created_ms: u64,
}

impl Device {
    /// The MQTT client id the device must use.
    pub fn client_id(&self) -> String {
        format!("{}{}", self.product, self.device)
    }

    /// The only topic it may publish to.
    pub fn up_topic(&self) -> String {
        format!("$resource/up/service/{}/{}", self.product, self.device)
    }

    /// The only topic it may subscribe to and receive from.
    pub fn down_topic(&self) -> String {
        format!("$resource/down/service/{}/{}", self.product, self.device)
    }
}

/// The contents of `devices.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    /// Every registered device, in the order of registration.
    #[serde(default)]
    pub devices: Vec<Device>,
}

/// Path of the registry in a data directory.
pub fn registry_path(data: &Path) -> PathBuf {
    data.join("devices.json")
}

impl Registry {
    /// Reads a registry file (empty when there is none yet).
    pub fn load(path: &Path) -> io::Result<Registry> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Registry::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes it atomically, readable by its owner only (it holds secrets).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        util::write_atomic_private(path, &bytes)
    }

    /// The device `product`/`device`.
    pub fn find(&self, product: &str, device: &str) -> Option<&Device> {
        self.devices
            .iter()
            .find(|d| d.product == product && d.device == device)
    }

    /// The device whose client id is `client_id`.
    pub fn by_client_id(&self, client_id: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.client_id() == client_id)
    }

    /// Registers a device with a new random secret and returns it. Refused
    /// when it exists, or when its client id (product and device name
    /// glued together, as the platform's logins are) is another device's.
    pub fn add(&mut self, product: &str, device: &str) -> Result<&Device, String> {
        util::validate_ident("product id", product)?;
        util::validate_ident("device name", device)?;
        if self.find(product, device).is_some() {
            return Err(format!(
                "device {product}/{device} is already registered (remove it first to get a new secret)"
            ));
        }
        let new = Device {
            product: product.to_string(),
            device: device.to_string(),
            secret: String::new(),
            created_ms: util::now_ms(),
        };
        if let Some(other) = self.by_client_id(&new.client_id()) {
            return Err(format!(
                "device {product}/{device} would log in as client id {:?}, which is already {}/{}'s",
                new.client_id(),
                other.product,
                other.device
            ));
        }
        let secret = util::random_bytes(SECRET_BYTES).map_err(|e| format!("no randomness: {e}"))?;
        self.devices.push(Device {
            secret: base64::engine::general_purpose::STANDARD.encode(secret),
            ..new
        });
        Ok(self.devices.last().expect("just pushed"))
    }

    /// Removes a device; false when it was not registered.
    pub fn remove(&mut self, product: &str, device: &str) -> bool {
        let before = self.devices.len();
        self.devices
            .retain(|d| !(d.product == product && d.device == device));
        self.devices.len() != before
    }
}

/// Why a login was refused (for the broker's log; never holds a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No registered device has this client id.
    UnknownDevice,
    /// The username is not `{client id};{sdkappid};{connid};{expiry}`.
    MalformedUsername,
    /// The username's expiry has passed.
    Expired,
    /// The password is not `hex;hmacsha1` or `hex;hmacsha256`.
    MalformedPassword,
    /// The signature does not match the device's secret.
    WrongSignature,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::UnknownDevice => "no registered device has this client id",
            Refused::MalformedUsername => {
                "the username is not {productid}{devicename};{sdkappid};{connid};{expiry}"
            }
            Refused::Expired => "the username's expiry has passed",
            Refused::MalformedPassword => "the password is not HEX;hmacsha1 or HEX;hmacsha256",
            Refused::WrongSignature => "the signature does not match the device secret",
        })
    }
}

fn alnum(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Checks a device's key-authenticated login at Unix time `now`; the device
/// it is on success.
pub fn check_login<'r>(
    registry: &'r Registry,
    client_id: &str,
    username: &str,
    password: &str,
    now: u64,
) -> Result<&'r Device, Refused> {
    let device = registry
        .by_client_id(client_id)
        .ok_or(Refused::UnknownDevice)?;
    let parts: Vec<&str> = username.split(';').collect();
    let [who, sdkappid, connid, expiry] = parts[..] else {
        return Err(Refused::MalformedUsername);
    };
    let expiry = expiry
        .parse::<u64>()
        .ok()
        .filter(|_| who == client_id && alnum(sdkappid) && alnum(connid))
        .ok_or(Refused::MalformedUsername)?;
    if expiry <= now {
        return Err(Refused::Expired);
    }
    let (hex, method) = password
        .rsplit_once(';')
        .ok_or(Refused::MalformedPassword)?;
    let sig = util::unhex(hex).ok_or(Refused::MalformedPassword)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(device.secret.trim())
        .map_err(|_| Refused::WrongSignature)?;
    let ok = match method {
        "hmacsha1" => Hmac::<sha1::Sha1>::new_from_slice(&key)
            .map(|mut m| {
                m.update(username.as_bytes());
                m.verify_slice(&sig).is_ok()
            })
            .unwrap_or(false),
        "hmacsha256" => Hmac::<sha2::Sha256>::new_from_slice(&key)
            .map(|mut m| {
                m.update(username.as_bytes());
                m.verify_slice(&sig).is_ok()
            })
            .unwrap_or(false),
        _ => return Err(Refused::MalformedPassword),
    };
    if ok {
        Ok(device)
    } else {
        Err(Refused::WrongSignature)
    }
}

/// What a client asks the broker for (mosquitto's `MOSQ_ACL_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Receive a message on a topic.
    Read,
    /// Publish to a topic.
    Write,
    /// Subscribe to a filter.
    Subscribe,
    /// Unsubscribe from a filter.
    Unsubscribe,
}

/// May `device` do `access` on `topic`? Exactly its own topics: it
/// publishes to its up topic and subscribes to (and receives from) its
/// down topic; no wildcard reaches anything else.
pub fn allowed(device: &Device, topic: &str, access: Access) -> bool {
    match access {
        Access::Write => topic == device.up_topic(),
        Access::Read | Access::Subscribe => topic == device.down_topic(),
        Access::Unsubscribe => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(secret_b64: &str, username: &str, sha256: bool) -> String {
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret_b64)
            .unwrap();
        if sha256 {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
            m.update(username.as_bytes());
            format!("{};hmacsha256", util::hex(&m.finalize().into_bytes()))
        } else {
            let mut m = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
            m.update(username.as_bytes());
            format!("{};hmacsha1", util::hex(&m.finalize().into_bytes()))
        }
    }

    #[test]
    fn logins() {
        let mut reg = Registry::default();
        let secret = reg.add("PROD1", "dev1").unwrap().secret.clone();
        let user = "PROD1dev1;12010126;Ab3x9;2000";
        for sha256 in [true, false] {
            let pw = login(&secret, user, sha256);
            assert!(check_login(&reg, "PROD1dev1", user, &pw, 1999).is_ok());
            assert_eq!(
                check_login(&reg, "PROD1dev1", user, &pw, 2000).unwrap_err(),
                Refused::Expired
            );
            assert_eq!(
                check_login(&reg, "PROD1dev2", user, &pw, 1).unwrap_err(),
                Refused::UnknownDevice
            );
        }
        let pw = login(&secret, user, true);
        let other = "PROD1dev1;12010126;Ab3x9;2001";
        assert_eq!(
            check_login(&reg, "PROD1dev1", other, &pw, 1).unwrap_err(),
            Refused::WrongSignature
        );
        let wrong = login("AAAAAAAA", user, true);
        assert_eq!(
            check_login(&reg, "PROD1dev1", user, &wrong, 1).unwrap_err(),
            Refused::WrongSignature
        );
        for bad_user in [
            "PROD1dev1;12010126;Ab3x9",
            "PROD1devX;12010126;Ab3x9;2000",
            "PROD1dev1;;Ab3x9;2000",
            "PROD1dev1;1;a-b;2000",
            "PROD1dev1;1;ab;soon",
        ] {
            assert_eq!(
                check_login(&reg, "PROD1dev1", bad_user, &pw, 1).unwrap_err(),
                Refused::MalformedUsername,
                "{bad_user}"
            );
        }
        for bad_pw in ["", "abc", "zz;hmacsha256", &pw.replace("sha256", "md5")] {
            assert!(check_login(&reg, "PROD1dev1", user, bad_pw, 1).is_err());
        }
    }

    #[test]
    fn registry_rules() {
        let mut reg = Registry::default();
        reg.add("P1", "dev").unwrap();
        assert!(reg.add("P1", "dev").is_err(), "twice");
        assert!(reg.add("P1d", "ev").is_err(), "same client id");
        assert!(reg.add("P/1", "dev").is_err());
        assert!(reg.add("P1", "").is_err());
        let s1 = reg.add("P1", "dev2").unwrap().secret.clone();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&s1)
                .unwrap()
                .len(),
            SECRET_BYTES
        );
        assert!(reg.remove("P1", "dev"));
        assert!(!reg.remove("P1", "dev"));
        let dir = tempfile::tempdir().unwrap();
        let path = registry_path(dir.path());
        reg.save(&path).unwrap();
        assert_eq!(Registry::load(&path).unwrap(), reg);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "secrets are not readable by others");
    }

    #[test]
    fn topics() {
        let d = Device {
            product: "P".into(),
            device: "a".into(),
            secret: String::new(),
            created_ms: 0,
        };
        assert!(allowed(&d, "$resource/up/service/P/a", Access::Write));
        assert!(!allowed(&d, "$resource/down/service/P/a", Access::Write));
        assert!(!allowed(&d, "$resource/up/service/P/b", Access::Write));
        assert!(allowed(&d, "$resource/down/service/P/a", Access::Subscribe));
        assert!(allowed(&d, "$resource/down/service/P/a", Access::Read));
        for f in [
            "$resource/down/service/P/b",
            "$resource/down/service/P/+",
            "$resource/#",
            "#",
            "$resource/up/service/P/a",
        ] {
            assert!(!allowed(&d, f, Access::Subscribe), "{f}");
            assert!(!allowed(&d, f, Access::Read), "{f}");
        }
    }
}
