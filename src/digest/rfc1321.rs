//! MD5 (RFC 1321), written for the one thing resmgr does with it: hash
//! every byte it moves, at the speed of the machine's best implementation.
//!
//! Why our own: the md-5 crate, with or without its assembly core, hashes
//! at about 0.84 of `openssl md5` on x86_64 (BENCHMARKS.md, figure 1); this
//! one, in safe Rust, at about 1.08. It is also portable, so no target needs
//! an assembly object (md5-asm's lacked `.note.GNU-stack`).
//!
//! Where the speed comes from: MD5 is one chain of 64 dependent steps per
//! block, so the time per block is the length of that chain. Every term
//! that does not depend on the previous step's result (`a + K + M`, `c ^ d`,
//! `c & !d`, `!d`) is computed off the chain, and round 2's G is written
//! with `+` instead of `|` (its two halves never share a set bit), so the
//! last-arriving `b & d` is one addition away from the rotate.
//!
//! Checked against the RFC's test suite here, and against the md-5 crate
//! over random lengths and split points in tests and in the `md5_stream`
//! fuzz target.

#[inline(always)]
fn step_f(a: u32, b: u32, c: u32, d: u32, mk: u32, s: u32) -> u32 {
    let f = d ^ (b & (c ^ d));
    a.wrapping_add(mk)
        .wrapping_add(f)
        .rotate_left(s)
        .wrapping_add(b)
}
#[inline(always)]
fn step_g(a: u32, b: u32, c: u32, d: u32, mk: u32, s: u32) -> u32 {
    let early = a.wrapping_add(mk).wrapping_add(c & !d);
    early.wrapping_add(b & d).rotate_left(s).wrapping_add(b)
}
#[inline(always)]
fn step_h(a: u32, b: u32, c: u32, d: u32, mk: u32, s: u32) -> u32 {
    a.wrapping_add(mk)
        .wrapping_add((c ^ d) ^ b)
        .rotate_left(s)
        .wrapping_add(b)
}
#[inline(always)]
fn step_i(a: u32, b: u32, c: u32, d: u32, mk: u32, s: u32) -> u32 {
    a.wrapping_add(mk)
        .wrapping_add(c ^ (b | !d))
        .rotate_left(s)
        .wrapping_add(b)
}

const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// Compresses whole 64-byte blocks (`blocks.len()` a multiple of 64) into
/// `state`.
pub fn compress(state: &mut [u32; 4], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % 64, 0);
    let [mut a, mut b, mut c, mut d] = *state;
    // The constants, read through a reference the optimiser cannot see
    // through: as literals, LLVM moves each constant addition to the end of
    // its step's chain, onto the critical path (one more cycle per step).
    let k: &[u32; 64] = core::hint::black_box(&K);
    for block in blocks.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (w, q) in m.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([q[0], q[1], q[2], q[3]]);
        }
        let mk = |i: usize, j: usize| m[j].wrapping_add(k[i]);
        let (aa, bb, cc, dd) = (a, b, c, d);
        macro_rules! r4 {
            ($f:ident, $i:expr, $j0:expr, $j1:expr, $j2:expr, $j3:expr, $s0:expr, $s1:expr, $s2:expr, $s3:expr) => {
                a = $f(a, b, c, d, mk($i, $j0), $s0);
                d = $f(d, a, b, c, mk($i + 1, $j1), $s1);
                c = $f(c, d, a, b, mk($i + 2, $j2), $s2);
                b = $f(b, c, d, a, mk($i + 3, $j3), $s3);
            };
        }
        r4!(step_f, 0, 0, 1, 2, 3, 7, 12, 17, 22);
        r4!(step_f, 4, 4, 5, 6, 7, 7, 12, 17, 22);
        r4!(step_f, 8, 8, 9, 10, 11, 7, 12, 17, 22);
        r4!(step_f, 12, 12, 13, 14, 15, 7, 12, 17, 22);
        r4!(step_g, 16, 1, 6, 11, 0, 5, 9, 14, 20);
        r4!(step_g, 20, 5, 10, 15, 4, 5, 9, 14, 20);
        r4!(step_g, 24, 9, 14, 3, 8, 5, 9, 14, 20);
        r4!(step_g, 28, 13, 2, 7, 12, 5, 9, 14, 20);
        r4!(step_h, 32, 5, 8, 11, 14, 4, 11, 16, 23);
        r4!(step_h, 36, 1, 4, 7, 10, 4, 11, 16, 23);
        r4!(step_h, 40, 13, 0, 3, 6, 4, 11, 16, 23);
        r4!(step_h, 44, 9, 12, 15, 2, 4, 11, 16, 23);
        r4!(step_i, 48, 0, 7, 14, 5, 6, 10, 15, 21);
        r4!(step_i, 52, 12, 3, 10, 1, 6, 10, 15, 21);
        r4!(step_i, 56, 8, 15, 6, 13, 6, 10, 15, 21);
        r4!(step_i, 60, 4, 11, 2, 9, 6, 10, 15, 21);
        a = a.wrapping_add(aa);
        b = b.wrapping_add(bb);
        c = c.wrapping_add(cc);
        d = d.wrapping_add(dd);
    }
    *state = [a, b, c, d];
}

/// A streaming MD5 over [`compress`].
#[derive(Clone, Debug)]
pub struct Md5 {
    /// The chaining value A, B, C, D.
    state: [u32; 4],
    /// Bytes of an incomplete block, waiting for the rest.
    buf: [u8; 64],
    buf_len: usize,
    /// Bytes hashed so far (mod 2^64, as the padding wants).
    len: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Md5 {
            state: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476],
            buf: [0; 64],
            buf_len: 0,
            len: 0,
        }
    }
}

impl Md5 {
    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Adds `data` to the hashed stream.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let n = (64 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&data[..n]);
            self.buf_len += n;
            data = &data[n..];
            if self.buf_len < 64 {
                return;
            }
            let block = self.buf;
            compress(&mut self.state, &block);
            self.buf_len = 0;
        }
        let whole = data.len() - data.len() % 64;
        let (blocks, rest) = data.split_at(whole);
        compress(&mut self.state, blocks);
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// The digest; the hasher starts over.
    pub fn finalize_reset(&mut self) -> [u8; 16] {
        core::mem::take(self).finalize()
    }

    /// The digest.
    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let mut pad = [0u8; 72];
        pad[0] = 0x80;
        let pad_len = if self.buf_len < 56 {
            56 - self.buf_len
        } else {
            120 - self.buf_len
        };
        self.update(&pad[..pad_len]);
        self.update(&bits.to_le_bytes());
        debug_assert_eq!(self.buf_len, 0);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(data: &[u8]) -> String {
        let mut h = Md5::default();
        h.update(data);
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
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
                hex(input),
                want,
                "MD5 of {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Every length around the padding boundaries (55/56/63/64 mod 64), fed
    /// in pieces of every awkward size, against the md-5 crate.
    #[test]
    fn equals_the_md5_crate_at_every_boundary_and_split() {
        use ::md5::Digest as _;
        let data: Vec<u8> = (0..1200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in (0..300).chain(1000..1200) {
            let want: [u8; 16] = ::md5::Md5::digest(&data[..len]).into();
            for piece in [1usize, 3, 55, 56, 63, 64, 65, 127, 128, 1200] {
                let mut h = Md5::default();
                for chunk in data[..len].chunks(piece) {
                    h.update(chunk);
                }
                assert_eq!(h.len(), len as u64);
                assert_eq!(h.finalize(), want, "length {len}, pieces of {piece}");
            }
        }
    }

    #[test]
    fn finalize_reset_starts_over() {
        let mut h = Md5::default();
        h.update(b"something else first");
        let _ = h.finalize_reset();
        assert_eq!(h.len(), 0);
        h.update(b"abc");
        let mut fresh = Md5::default();
        fresh.update(b"abc");
        assert_eq!(h.finalize_reset(), fresh.finalize());
    }
}
