//! Streaming MD5 for C: firmware may hash data it holds in flash or RAM.

use core::ffi::c_char;

#[cfg(feature = "std")]
use super::boundary::str_arg;
use super::boundary::{bytes_arg, mut_arg, status_call, value_call};
use super::status::resmgr_status;
use crate::digest::{Md5Digest, Md5Hasher, MD5_HEX_LEN};
use crate::prelude::*;

/// Bytes needed for the hex form of an MD5 with its NUL.
pub const RESMGR_MD5_HEX_SIZE: usize = 33;
/// Bytes needed for the base64 form of an MD5 with its NUL.
pub const RESMGR_MD5_BASE64_SIZE: usize = 25;

/// A streaming MD5 hasher. Create with `resmgr_md5_new`, free with
/// `resmgr_md5_free`. Not for concurrent use from several threads.
pub struct resmgr_md5 {
    hasher: Md5Hasher,
}

/// An MD5 digest in the three forms the protocol uses.
#[repr(C)]
pub struct resmgr_digest {
    /// The 16 raw bytes.
    pub bytes: [u8; 16],
    /// 32 lowercase hex characters and a NUL: the `md5sum` of messages.
    pub hex: [c_char; RESMGR_MD5_HEX_SIZE],
    /// 24 base64 characters and a NUL: the HTTP `Content-MD5` value.
    pub base64: [c_char; RESMGR_MD5_BASE64_SIZE],
}

pub(crate) fn fill_digest(out: &mut resmgr_digest, d: &Md5Digest) {
    out.bytes = d.0;
    let mut hex = [0u8; MD5_HEX_LEN];
    d.write_hex(&mut hex);
    for (dst, src) in out.hex.iter_mut().zip(hex.iter().chain(&[0])) {
        *dst = *src as c_char;
    }
    for (dst, src) in out.base64.iter_mut().zip(d.to_base64().bytes().chain([0])) {
        *dst = src as c_char;
    }
}

/// A new hasher that has seen no bytes; NULL only if allocation failed.
/// Free it with `resmgr_md5_free`.
#[no_mangle]
pub extern "C" fn resmgr_md5_new() -> *mut resmgr_md5 {
    value_call(|| {
        Box::into_raw(Box::new(resmgr_md5 {
            hasher: Md5Hasher::new(),
        }))
    })
}

/// Adds `len` bytes at `data` to the hash. `data` may be NULL when `len` is
/// 0.
///
/// # Safety
/// `md5` is NULL or a live hasher; `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn resmgr_md5_update(
    md5: *mut resmgr_md5,
    data: *const u8,
    len: usize,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let md5 = unsafe { mut_arg(md5, "md5") }?;
        // SAFETY: per this function's contract.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        md5.hasher.update(data);
        Ok(())
    })
}

/// Writes the digest of everything hashed so far to `*out` and resets the
/// hasher, which can then be reused.
///
/// Errors: RESMGR_ERR_NULL_ARG when `md5` or `out` is NULL.
///
/// # Safety
/// `md5` is NULL or a live hasher; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn resmgr_md5_finish(
    md5: *mut resmgr_md5,
    out: *mut resmgr_digest,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let md5 = unsafe { mut_arg(md5, "md5") }?;
        // SAFETY: per this function's contract.
        let out = unsafe { mut_arg(out, "out") }?;
        fill_digest(out, &md5.hasher.finish_reset());
        Ok(())
    })
}

/// Frees a hasher. NULL is a no-op.
///
/// # Safety
/// `md5` is NULL or a hasher from `resmgr_md5_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn resmgr_md5_free(md5: *mut resmgr_md5) {
    value_call(|| {
        if !md5.is_null() {
            // SAFETY: created by Box::into_raw in resmgr_md5_new, freed once.
            drop(unsafe { Box::from_raw(md5) });
        }
    })
}

/// Hashes the file at `path` in constant memory. On success writes the
/// digest to `*out` and, when `size_out` is not NULL, the file's size.
/// Errors: RESMGR_ERR_IO (with the path and the OS reason in the last
/// error).
///
/// # Safety
/// `path` is a NUL-terminated string; `out` is writable; `size_out` is NULL
/// or writable.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn resmgr_md5_file(
    path: *const c_char,
    out: *mut resmgr_digest,
    size_out: *mut u64,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let path = unsafe { str_arg(path, "path") }?;
        // SAFETY: per this function's contract.
        let out = unsafe { mut_arg(out, "out") }?;
        let (size, digest) = crate::device::md5_file(std::path::Path::new(path))?;
        fill_digest(out, &digest);
        // SAFETY: NULL or writable per the contract.
        if let Some(s) = unsafe { size_out.as_mut() } {
            *s = size;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::MD5_BASE64_LEN;

    #[test]
    fn c_buffer_sizes_fit_the_text_forms_and_their_nul() {
        assert_eq!(RESMGR_MD5_HEX_SIZE, MD5_HEX_LEN + 1);
        assert_eq!(RESMGR_MD5_BASE64_SIZE, MD5_BASE64_LEN + 1);
    }
}
