//! Streaming MD5 and the two textual forms the protocol uses: 32 lowercase
//! hex characters in JSON (`md5sum`) and base64 of the 16 raw bytes in the
//! HTTP `Content-MD5` header.

use core::fmt;

use base64::Engine as _;
use md5::Digest as _;

use crate::error::{Error, ErrorKind, Result};
use crate::prelude::*;

/// A 16-byte MD5 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5Digest(pub [u8; 16]);

/// Length of the hex form.
pub const MD5_HEX_LEN: usize = 32;
/// Length of the base64 form (`Content-MD5`).
pub const MD5_BASE64_LEN: usize = 24;

impl Md5Digest {
    /// Parses 32 hex characters, either case.
    pub fn from_hex(hex: &str) -> Result<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != MD5_HEX_LEN {
            return Err(Error::new(
                ErrorKind::InvalidMd5,
                format!(
                    "md5 must be {MD5_HEX_LEN} hex characters, got {} bytes",
                    bytes.len()
                ),
            ));
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(hi), Some(lo)) => out[i] = hi << 4 | lo,
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidMd5,
                        "md5 must contain only hex characters 0-9 a-f",
                    ))
                }
            }
        }
        Ok(Md5Digest(out))
    }

    /// The 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let mut buf = [0u8; MD5_HEX_LEN];
        self.write_hex(&mut buf);
        // Hex digits are ASCII.
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Writes the 32 lowercase hex characters into `out`.
    pub fn write_hex(&self, out: &mut [u8; MD5_HEX_LEN]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(byte >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
    }

    /// Writes the base64 form into `out` (24 bytes), without allocating.
    pub fn write_base64(&self, out: &mut [u8]) {
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(self.0, out)
            .unwrap_or_else(|_| unreachable!("24 bytes hold the base64 of 16"));
        debug_assert_eq!(n, MD5_BASE64_LEN);
    }

    /// Base64 of the raw digest: the value of the HTTP `Content-MD5` header.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

impl fmt::Debug for Md5Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5Digest({})", self.to_hex())
    }
}

impl fmt::Display for Md5Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A streaming MD5 (the md-5 crate): feed bytes in any pieces, read the
/// digest at the end.
#[derive(Clone, Default)]
pub struct Md5Hasher {
    inner: md5::Md5,
    /// Bytes hashed so far: md-5 keeps its count private.
    len: u64,
}

impl Md5Hasher {
    /// A hasher that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `data` to the hashed stream.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len = self.len.wrapping_add(data.len() as u64);
    }

    /// How many bytes have been hashed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no bytes have been hashed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything hashed so far; the hasher starts over.
    pub fn finish_reset(&mut self) -> Md5Digest {
        core::mem::take(self).finish()
    }

    /// The digest of everything hashed.
    pub fn finish(self) -> Md5Digest {
        Md5Digest(self.inner.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_of(data: &[u8]) -> Md5Digest {
        let mut h = Md5Hasher::new();
        h.update(data);
        h.finish()
    }

    #[test]
    fn known_vectors_in_hex_and_base64() {
        let empty = md5_of(b"");
        assert_eq!(empty.to_hex(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(empty.to_base64(), "1B2M2Y8AsgTpgAmY7PhCfg==");
        let abc = md5_of(b"abc");
        assert_eq!(abc.to_hex(), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(abc.to_base64(), "kAFQmDzST7DWlj99KOF/cg==");
    }

    #[test]
    fn streaming_in_pieces_equals_one_shot() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut h = Md5Hasher::new();
        for piece in data.chunks(997) {
            h.update(piece);
        }
        assert_eq!(h.len(), data.len() as u64);
        assert_eq!(h.finish(), md5_of(&data));
    }

    #[test]
    fn rfc_1321_test_suite() {
        let suite: [(&[u8], &str); 7] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in suite {
            assert_eq!(
                md5_of(input).to_hex(),
                want,
                "MD5 of {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Every length around the padding boundaries (55/56/63/64 mod 64), fed
    /// in pieces of every awkward size: the same digest and length as in
    /// one piece.
    #[test]
    fn pieces_equal_one_shot_at_every_boundary_and_split() {
        let data: Vec<u8> = (0..1200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in (0..300).chain(1000..1200) {
            let want = md5_of(&data[..len]);
            for piece in [1usize, 3, 55, 56, 63, 64, 65, 127, 128, 1200] {
                let mut h = Md5Hasher::new();
                for chunk in data[..len].chunks(piece) {
                    h.update(chunk);
                }
                assert_eq!(h.len(), len as u64);
                assert_eq!(h.finish(), want, "length {len}, pieces of {piece}");
            }
        }
    }

    #[test]
    fn hex_round_trips_and_accepts_uppercase() {
        let d = Md5Digest::from_hex("900150983CD24FB0D6963F7D28E17F72").unwrap();
        assert_eq!(d.to_hex(), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn hex_of_wrong_length_or_non_hex_is_rejected() {
        for bad in [
            "",
            "abc",
            "900150983cd24fb0d6963f7d28e17f7",
            "900150983cd24fb0d6963f7d28e17f72a",
        ] {
            assert_eq!(
                Md5Digest::from_hex(bad).unwrap_err().kind(),
                ErrorKind::InvalidMd5,
                "{bad}"
            );
        }
        let e = Md5Digest::from_hex("g00150983cd24fb0d6963f7d28e17f72").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidMd5);
        assert!(e.message().contains("hex"));
    }

    #[test]
    fn finish_reset_starts_over() {
        let mut h = Md5Hasher::new();
        h.update(b"abc");
        assert_eq!(h.finish_reset(), md5_of(b"abc"));
        assert!(h.is_empty());
        assert_eq!(h.finish(), md5_of(b""));
    }
}
