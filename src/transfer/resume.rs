//! The resume state of a partial download: a small JSON file beside the
//! partial file, saying which resource it holds and how many of its bytes
//! are durably written. A partial file whose state does not match the task
//! (name, size, MD5) is never resumed.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Md5Digest;
use crate::error::{Error, ErrorKind, Result};

/// Largest state file read; a real one is under 400 bytes.
pub const MAX_STATE_LEN: u64 = 4096;

const VERSION: u32 = 1;

/// What a state file records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeState {
    /// The resource name.
    pub name: String,
    /// The resource size.
    pub size: u64,
    /// The resource MD5.
    pub md5: Md5Digest,
    /// Bytes of the partial file known to be on disk.
    pub offset: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk<'a> {
    version: u32,
    #[serde(borrow)]
    name: Cow<'a, str>,
    size: u64,
    #[serde(borrow)]
    md5: Cow<'a, str>,
    offset: u64,
}

impl ResumeState {
    /// Parses a state file's bytes, checking every field.
    pub fn parse(bytes: &[u8]) -> Result<ResumeState> {
        let bad = |why: String| Error::new(ErrorKind::InvalidField, format!("resume state: {why}"));
        if bytes.len() as u64 > MAX_STATE_LEN {
            return Err(bad(format!("{} bytes is too large", bytes.len())));
        }
        let disk: OnDisk<'_> = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if disk.version != VERSION {
            return Err(bad(format!("version {} is not {VERSION}", disk.version)));
        }
        crate::protocol::fields::check_name(&disk.name)?;
        if disk.offset > disk.size {
            return Err(bad(format!(
                "offset {} is beyond size {}",
                disk.offset, disk.size
            )));
        }
        Ok(ResumeState {
            name: disk.name.into_owned(),
            size: disk.size,
            md5: Md5Digest::from_hex(&disk.md5)?,
            offset: disk.offset,
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let md5 = self.md5.to_hex();
        serde_json::to_vec(&OnDisk {
            version: VERSION,
            name: Cow::Borrowed(&self.name),
            size: self.size,
            md5: Cow::Borrowed(&md5),
            offset: self.offset,
        })
        .expect("state serializes")
    }

    /// Reads the state at `path`; `None` when there is none or it is
    /// unreadable or invalid (the partial file is then started over).
    pub fn load(path: &Path) -> Option<ResumeState> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags_nofollow()
            .open(path)
            .ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_STATE_LEN + 1).read_to_end(&mut bytes).ok()?;
        ResumeState::parse(&bytes).ok()
    }

    /// Writes the state durably and atomically: a temporary file, synced,
    /// then renamed over the old state.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        // `<state>.tmp`: a name only the library uses.
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        // A leftover (or planted symlink) is removed, never followed.
        let _ = fs::remove_file(&tmp);
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&self.to_bytes())?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, path));
        if written.is_err() {
            // A full disk must not leave a half-written file behind.
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

/// Opening without following a symlink at the last path component.
pub(crate) trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            self.custom_flags(libc::O_NOFOLLOW)
        }
        #[cfg(not(unix))]
        {
            self
        }
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// disk, without waiting for them. A hint: the next checkpoint's
/// `fdatasync` then finds most of the data already written instead of
/// stalling the download while all of it goes to disk (BENCHMARKS.md,
/// figure 3). Linux only; elsewhere it does nothing.
#[allow(unsafe_code)]
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: sync_file_range takes integers only and touches no memory
        // of ours; the descriptor stays open while `file` is borrowed. The
        // result is ignored on purpose: a failed hint costs nothing, and
        // the checkpoint's fdatasync reports every real write error.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
    }
}

/// Syncs a directory so a rename in it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ResumeState {
        ResumeState {
            name: "fw \"v2\".bin".into(),
            size: 1 << 40,
            md5: Md5Digest::from_hex("900150983cd24fb0d6963f7d28e17f72").unwrap(),
            offset: 12345,
        }
    }

    #[test]
    fn state_round_trips() {
        assert_eq!(ResumeState::parse(&state().to_bytes()).unwrap(), state());
    }

    #[test]
    fn broken_or_hostile_states_are_refused() {
        let ok = String::from_utf8(state().to_bytes()).unwrap();
        let cases = [
            ok.replace("\"version\":1", "\"version\":2"),
            ok.replace("\"offset\":12345", "\"offset\":1099511627777"),
            ok.replace("900150983cd24fb0d6963f7d28e17f72", "xyz"),
            ok.replace("fw \\\"v2\\\".bin", ""),
            ok.replace("}", ",\"extra\":1}"),
            ok[..ok.len() - 1].to_string(),
            "[]".into(),
            " ".repeat(MAX_STATE_LEN as usize + 1),
        ];
        for c in cases {
            assert!(ResumeState::parse(c.as_bytes()).is_err(), "{c}");
        }
    }

    #[test]
    fn save_replaces_atomically_and_load_reads_it_back() {
        let dir = std::env::temp_dir().join(format!("resmgr-resume-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".x.resmgr-state");
        let mut s = state();
        s.save(&path).unwrap();
        s.offset = 99;
        s.save(&path).unwrap();
        assert_eq!(ResumeState::load(&path), Some(s));
        fs::write(&path, b"garbage").unwrap();
        assert_eq!(ResumeState::load(&path), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_state_is_not_followed() {
        let dir = std::env::temp_dir().join(format!("resmgr-resume-link-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target.json");
        fs::write(&target, state().to_bytes()).unwrap();
        let link = dir.join(".x.resmgr-state");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(ResumeState::load(&link), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
