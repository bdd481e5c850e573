//! The two MQTT topics of a device, built from validated identifiers.

use crate::error::{Error, ErrorKind, Escaped, Result};
use crate::limits::{MAX_DEVICE_NAME_LEN, MAX_PRODUCT_ID_LEN};
use crate::prelude::*;

/// A device's up topic (it publishes) and down topic (it subscribes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    up: String,
    down: String,
    /// Bytes of the product id, which starts `up` after [`UP_PREFIX`].
    product_len: usize,
}

const UP_PREFIX: &str = "$resource/up/service/";

impl Topics {
    /// Builds the topics after checking both identifiers.
    pub fn new(product_id: &str, device_name: &str) -> Result<Self> {
        check_id("product id", product_id, MAX_PRODUCT_ID_LEN)?;
        check_id("device name", device_name, MAX_DEVICE_NAME_LEN)?;
        Ok(Topics {
            up: format!("{UP_PREFIX}{product_id}/{device_name}"),
            down: format!("$resource/down/service/{product_id}/{device_name}"),
            product_len: product_id.len(),
        })
    }

    /// The product id the topics were built from.
    pub fn product_id(&self) -> &str {
        &self.up[UP_PREFIX.len()..UP_PREFIX.len() + self.product_len]
    }

    /// The device name the topics were built from.
    pub fn device_name(&self) -> &str {
        &self.up[UP_PREFIX.len() + self.product_len + 1..]
    }

    /// `$resource/up/service/{productid}/{devicename}`.
    pub fn up(&self) -> &str {
        &self.up
    }

    /// `$resource/down/service/{productid}/{devicename}`.
    pub fn down(&self) -> &str {
        &self.down
    }

    /// Accepts only this device's down topic, byte for byte.
    pub fn check_down(&self, topic: &[u8]) -> Result<()> {
        if topic == self.down.as_bytes() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::WrongTopic,
            format!(
                "message on topic '{}' is not for this device (expected '{}')",
                Escaped(&String::from_utf8_lossy(&topic[..topic.len().min(200)])),
                self.down
            ),
        ))
    }
}

/// Product ids and device names: the platform's characters only, so they can
/// never smuggle MQTT wildcards (`+`, `#`), level separators (`/`) or NUL
/// into a topic. `.`, `:` and `@` are accepted because the platform allows
/// them in device names.
fn check_id(what: &str, id: &str, max: usize) -> Result<()> {
    if id.is_empty() {
        return Err(Error::new(ErrorKind::InvalidId, format!("{what} is empty")));
    }
    if id.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidId,
            format!("{what} is {} characters long, the limit is {max}", id.len()),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@')))
    {
        return Err(Error::new(
            ErrorKind::InvalidId,
            format!(
                "{what} '{}' contains '{}': only A-Z a-z 0-9 _ - . : @ are allowed",
                Escaped(id),
                Escaped(c.encode_utf8(&mut [0; 4]))
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identifiers_come_back_as_given() {
        let t = Topics::new("PROD_1", "dev-1.a:b@c").unwrap();
        assert_eq!(t.product_id(), "PROD_1");
        assert_eq!(t.device_name(), "dev-1.a:b@c");
    }

    #[test]
    fn topics_follow_the_platform_layout() {
        let t = Topics::new("ABCDEF1234", "dev_01").unwrap();
        assert_eq!(t.up(), "$resource/up/service/ABCDEF1234/dev_01");
        assert_eq!(t.down(), "$resource/down/service/ABCDEF1234/dev_01");
    }

    #[test]
    fn identifiers_with_wildcards_separators_or_nul_are_rejected() {
        for bad in ["a/b", "a+", "#", "a\0b", "a b", "é"] {
            assert_eq!(
                Topics::new(bad, "dev").unwrap_err().kind(),
                ErrorKind::InvalidId,
                "{bad:?}"
            );
            assert_eq!(
                Topics::new("P1", bad).unwrap_err().kind(),
                ErrorKind::InvalidId,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn identifiers_must_be_non_empty_and_within_platform_lengths() {
        assert_eq!(
            Topics::new("", "d").unwrap_err().kind(),
            ErrorKind::InvalidId
        );
        assert_eq!(
            Topics::new("p", "").unwrap_err().kind(),
            ErrorKind::InvalidId
        );
        assert!(Topics::new(
            &"p".repeat(MAX_PRODUCT_ID_LEN),
            &"d".repeat(MAX_DEVICE_NAME_LEN)
        )
        .is_ok());
        assert!(Topics::new(&"p".repeat(MAX_PRODUCT_ID_LEN + 1), "d").is_err());
        assert!(Topics::new("p", &"d".repeat(MAX_DEVICE_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn only_this_devices_down_topic_is_accepted() {
        let t = Topics::new("P1", "dev").unwrap();
        assert!(t.check_down(b"$resource/down/service/P1/dev").is_ok());
        for other in [
            &b"$resource/down/service/P1/dev2"[..],
            b"$resource/up/service/P1/dev",
            b"$resource/down/service/P1/dev/",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(
                t.check_down(other).unwrap_err().kind(),
                ErrorKind::WrongTopic
            );
        }
    }
}
