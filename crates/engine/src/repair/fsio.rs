//! Small file-system helpers for the executor: positional reads and writes off the
//! async threads, temporary files that vanish unless kept, and atomic replacement.

use crate::{EngineError, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(unix)]
fn write_all_at(f: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(buf, offset)
}

#[cfg(windows)]
fn write_all_at(f: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = f.seek_write(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = f.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Starts writing a range of dirty pages to disk without waiting for it (Linux's
/// `sync_file_range`; elsewhere nothing: the fsync does it all). Only a hint: errors
/// are left for the fsync to report.
#[cfg(target_os = "linux")]
fn start_writeback(f: &File, offset: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a plain system call on an open descriptor; it reads no memory of ours.
    unsafe {
        let (offset, len) = (offset as libc::off64_t, len as libc::off64_t);
        libc::sync_file_range(f.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_f: &File, _offset: u64, _len: u64) {}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking_io<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(format!("file worker failed: {e}")))?
}

/// A file opened for positional I/O from async code.
#[derive(Clone)]
pub(crate) struct PosFile {
    file: Arc<File>,
    path: Arc<PathBuf>,
}

impl PosFile {
    /// Opens an existing file for reading and writing, never creating or truncating it.
    pub async fn open_existing(path: &Path) -> Result<PosFile> {
        let p = path.to_path_buf();
        let file = blocking_io(move || {
            File::options().read(true).write(true).open(&p).map_err(|e| EngineError::io("open", &p, e))
        })
        .await?;
        Ok(PosFile { file: Arc::new(file), path: Arc::new(path.to_path_buf()) })
    }

    pub async fn open_read(path: &Path) -> Result<PosFile> {
        let p = path.to_path_buf();
        let file = blocking_io(move || File::open(&p).map_err(|e| EngineError::io("open", &p, e))).await?;
        Ok(PosFile { file: Arc::new(file), path: Arc::new(path.to_path_buf()) })
    }

    /// Creates (or truncates) a file of `len` bytes, all zeros.
    pub async fn create_sized(path: &Path, len: u64) -> Result<PosFile> {
        let p = path.to_path_buf();
        let file = blocking_io(move || {
            let f = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&p)
                .map_err(|e| EngineError::io("create", &p, e))?;
            f.set_len(len).map_err(|e| EngineError::io("size", &p, e))?;
            Ok(f)
        })
        .await?;
        Ok(PosFile { file: Arc::new(file), path: Arc::new(path.to_path_buf()) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn write_at(&self, buf: Vec<u8>, offset: u64) -> Result<()> {
        let (f, p) = (self.file.clone(), self.path.clone());
        blocking_io(move || write_all_at(&f, &buf, offset).map_err(|e| EngineError::io("write", p.as_path(), e))).await
    }

    /// Starts writing `buf` at `offset` on the blocking pool at once (not when first
    /// polled), so the caller can go on receiving while it is written, and asks the
    /// system to start putting those bytes on disk (so the final fsync has little left
    /// to do). The future gives the buffer back, emptied, for reuse.
    pub fn start_write_at(&self, mut buf: Vec<u8>, offset: u64) -> impl std::future::Future<Output = Result<Vec<u8>>> {
        let (f, p) = (self.file.clone(), self.path.clone());
        let task = tokio::task::spawn_blocking(move || {
            write_all_at(&f, &buf, offset).map_err(|e| EngineError::io("write", p.as_path(), e))?;
            start_writeback(&f, offset, buf.len() as u64);
            buf.clear();
            Ok(buf)
        });
        async move { task.await.map_err(|e| EngineError::Internal(format!("file worker failed: {e}")))? }
    }

    /// MD5 of `[offset, offset+len)`, read in pieces so memory stays small.
    pub async fn md5_of(&self, offset: u64, len: u64) -> Result<crate::model::Md5> {
        let (f, p) = (self.file.clone(), self.path.clone());
        blocking_io(move || {
            use md5::Digest;
            let mut h = md5::Md5::new();
            let mut buf = vec![0u8; (len.min(4 << 20)) as usize];
            let mut at = offset;
            while at < offset + len {
                let n = ((offset + len - at) as usize).min(buf.len());
                read_exact_at(&f, &mut buf[..n], at).map_err(|e| EngineError::io("read", p.as_path(), e))?;
                h.update(&buf[..n]);
                at += n as u64;
            }
            Ok(crate::model::Md5(h.finalize().into()))
        })
        .await
    }

    /// Copies `[from, from+len)` of `src` to `to` in this file.
    pub async fn copy_from(&self, src: &PosFile, from: u64, len: u64, to: u64) -> Result<()> {
        let (f, p) = (self.file.clone(), self.path.clone());
        let (s, sp) = (src.file.clone(), src.path.clone());
        blocking_io(move || {
            let mut buf = vec![0u8; (len.min(4 << 20)) as usize];
            let mut done = 0;
            while done < len {
                let n = ((len - done) as usize).min(buf.len());
                read_exact_at(&s, &mut buf[..n], from + done).map_err(|e| EngineError::io("read", sp.as_path(), e))?;
                write_all_at(&f, &buf[..n], to + done).map_err(|e| EngineError::io("write", p.as_path(), e))?;
                done += n as u64;
            }
            Ok(())
        })
        .await
    }

    pub async fn sync(&self) -> Result<()> {
        let (f, p) = (self.file.clone(), self.path.clone());
        blocking_io(move || f.sync_all().map_err(|e| EngineError::io("flush to disk", p.as_path(), e))).await
    }
}

/// A temporary file next to its target (same directory, so the final rename is
/// atomic), removed on drop unless [`TempFile::keep`] was called.
pub(crate) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// `.<name>.<suffix>` beside `target`.
    pub fn beside(target: &Path, suffix: &str) -> TempFile {
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let path = target.with_file_name(format!(".{name}.{suffix}"));
        TempFile { path, armed: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temp file over `target` (after the caller synced it) and syncs the
    /// directory, so the new name survives a crash.
    pub async fn commit(mut self, target: &Path) -> Result<()> {
        let (from, to) = (self.path.clone(), target.to_path_buf());
        blocking_io(move || {
            std::fs::rename(&from, &to).map_err(|e| EngineError::io("rename", &to, e))?;
            sync_dir(&to);
            Ok(())
        })
        .await?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Makes a rename durable. Best effort: not every platform or file system allows
/// opening a directory.
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `bytes` to `target` atomically: a synced temp file renamed over it.
pub(crate) async fn write_atomically(target: &Path, bytes: Vec<u8>) -> Result<()> {
    let tmp = TempFile::beside(target, "driverepair-partial");
    let f = PosFile::create_sized(tmp.path(), 0).await?;
    f.write_at(bytes, 0).await?;
    f.sync().await?;
    drop(f);
    tmp.commit(target).await
}

pub(crate) async fn create_parent_dirs(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        let d = dir.to_path_buf();
        blocking_io(move || std::fs::create_dir_all(&d).map_err(|e| EngineError::io("create directory", &d, e))).await?;
    }
    Ok(())
}

/// The file's length, or `None` if it does not exist.
pub(crate) async fn file_len(path: &Path) -> Result<Option<u64>> {
    let p = path.to_path_buf();
    blocking_io(move || match std::fs::metadata(&p) {
        Ok(m) if m.is_file() => Ok(Some(m.len())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EngineError::io("stat", &p, e)),
    })
    .await
}

/// Reads a small file (a properties file), `None` if missing or too large to be one.
pub(crate) async fn read_small(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let p = path.to_path_buf();
    blocking_io(move || {
        Ok(match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.len() <= limit => std::fs::read(&p).ok(),
            _ => None,
        })
    })
    .await
    .ok()
    .flatten()
}
