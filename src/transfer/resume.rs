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
        let file = open_in_dir(OpenOptions::new().read(true), path).ok()?;
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
        let written = open_in_dir(OpenOptions::new().write(true).create_new(true), &tmp)
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

/// Opens `path`, a file of the download directory, with `options`: never
/// through a symlink at its last component (`O_NOFOLLOW`), never blocking
/// (`O_NONBLOCK`: opening a FIFO would wait for a writer, reading one for
/// data, before any timeout or cancel applies), and only a regular file
/// (anything else is refused with `InvalidInput`). Files in the download
/// directory can be planted by anyone who can write to it.
pub(crate) fn open_in_dir(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Syncs a directory so a rename in it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
            .open(dir)?
            .sync_all()
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
