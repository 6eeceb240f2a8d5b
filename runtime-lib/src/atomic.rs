//! Output files that appear whole or not at all.
//!
//! Invariant: until [`AtomicFile::commit`], the data lives in a hidden temporary file in the
//! destination's directory, removed if the `AtomicFile` is dropped; `commit` renames it onto
//! the destination in one step, so a failed command never leaves a partial file behind.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A file being written to a temporary name, renamed into place on commit.
pub struct AtomicFile {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    mode: u32,
}

impl AtomicFile {
    /// Starts writing `path`, creating its directory if needed; the file gets permission
    /// bits `mode` when committed. Fails at once if `path` cannot be written.
    pub fn create(path: &Path, mode: u32) -> io::Result<AtomicFile> {
        if path.is_dir() {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory"));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).tempfile_in(dir)?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, mode })
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes to disk and renames onto the destination.
    pub fn commit(self) -> io::Result<()> {
        let f: &File = self.tmp.as_file();
        f.set_permissions(std::fs::Permissions::from_mode(self.mode))?;
        f.sync_all()?;
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
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
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(AtomicFile::create(dir.path(), 0o644).is_err());
    }
}
