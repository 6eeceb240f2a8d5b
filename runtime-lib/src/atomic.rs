//! Output files that appear whole or not at all.
//!
//! Invariant: until [`AtomicFile::commit`], the data lives in a hidden temporary file in the
//! destination's directory, removed if the `AtomicFile` is dropped; `commit` renames it onto
//! the destination in one step, so a failed command never leaves a partial file behind.
//! A destination that exists and is not a regular file (`/dev/null`, a FIFO, a terminal) is
//! written in place: renaming onto it would replace the device with a regular file.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file being written to a temporary name, renamed into place on commit.
pub struct AtomicFile {
    path: PathBuf,
    out: Out,
    mode: u32,
}

enum Out {
    /// A temporary file beside the destination.
    Temp(tempfile::NamedTempFile),
    /// The destination itself: a device, FIFO or socket that exists already.
    Special(File),
}

/// Whether `path` exists and is a character or block device, a FIFO or a socket.
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| {
        let t = m.file_type();
        t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket()
    })
}

impl AtomicFile {
    /// Starts writing `path`, creating its directory if needed; the file gets permission
    /// bits `mode` when committed. Fails at once if `path` cannot be written.
    pub fn create(path: &Path, mode: u32) -> io::Result<AtomicFile> {
        if path.is_dir() {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory"));
        }
        if is_special(path) {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            return Ok(AtomicFile { path: path.to_path_buf(), out: Out::Special(f), mode });
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).tempfile_in(dir)?;
        Ok(AtomicFile { path: path.to_path_buf(), out: Out::Temp(tmp), mode })
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes to disk and renames onto the destination.
    pub fn commit(self) -> io::Result<()> {
        match self.out {
            Out::Temp(tmp) => {
                let f: &File = tmp.as_file();
                f.set_permissions(std::fs::Permissions::from_mode(self.mode))?;
                f.sync_all()?;
                tmp.persist(&self.path).map_err(|e| e.error)?;
            }
            Out::Special(mut f) => f.flush()?,
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Out::Temp(t) => t.write(buf),
            Out::Special(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Out::Temp(t) => t.flush(),
            Out::Special(f) => f.flush(),
        }
    }
}

/// Writes `path` whole with `f`, or leaves it untouched if anything fails.
pub fn write_atomically<T>(
    path: &Path,
    mode: u32,
    f: impl FnOnce(&mut io::BufWriter<AtomicFile>) -> io::Result<T>,
) -> io::Result<T> {
    let mut w = io::BufWriter::new(AtomicFile::create(path, mode)?);
    let value = f(&mut w)?;
    w.into_inner().map_err(|e| e.into_error())?.commit()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit_and_nothing_stays_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.bin");
        let mut a = AtomicFile::create(&path, 0o644).unwrap();
        a.write_all(b"hello").unwrap();
        assert!(!path.exists());
        a.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");

        let r: io::Result<()> = write_atomically(&path, 0o644, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        let leftovers = std::fs::read_dir(dir.path().join("sub")).unwrap().count();
        assert_eq!(leftovers, 1, "temporary file was not removed");
    }

    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let null = Path::new("/dev/null");
        assert!(std::fs::metadata(null).unwrap().file_type().is_char_device(), "this machine's /dev/null is not a device");
        let mut a = AtomicFile::create(null, 0o644).unwrap();
        a.write_all(b"discarded").unwrap();
        a.commit().unwrap();
        assert!(std::fs::metadata(null).unwrap().file_type().is_char_device(), "/dev/null was replaced");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(AtomicFile::create(dir.path(), 0o644).is_err());
    }
}
