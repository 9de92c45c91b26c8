//! Small file-system helpers for the executor: positional reads and writes off the
//! async threads, temporary files that vanish unless kept, and atomic replacement.

use crate::{EngineError, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use super::direct::{self, AlignedBuf};

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
    /// A second descriptor that bypasses the page cache (see `direct.rs`), once
    /// [`PosFile::open_direct`] found it allowed; dropped after the file system
    /// refused a direct write.
    direct: Option<Arc<DirectFd>>,
}

/// The direct descriptor of a [`PosFile`].
struct DirectFd {
    file: File,
    /// Set when the file system refused a direct write.
    refused: AtomicBool,
}

impl PosFile {
    /// Opens an existing file for reading and writing, never creating or truncating it.
    pub async fn open_existing(path: &Path) -> Result<PosFile> {
        let p = path.to_path_buf();
        let file = blocking_io(move || {
            File::options().read(true).write(true).open(&p).map_err(|e| EngineError::io("open", &p, e))
        })
        .await?;
        Ok(PosFile { file: Arc::new(file), path: Arc::new(path.to_path_buf()), direct: None })
    }

    pub async fn open_read(path: &Path) -> Result<PosFile> {
        let p = path.to_path_buf();
        let file = blocking_io(move || File::open(&p).map_err(|e| EngineError::io("open", &p, e))).await?;
        Ok(PosFile { file: Arc::new(file), path: Arc::new(path.to_path_buf()), direct: None })
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
        Ok(PosFile { file: Arc::new(file), path: Arc::new(path.to_path_buf()), direct: None })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the second, direct descriptor where the system allows it; whether it did.
    pub async fn open_direct(&mut self) -> bool {
        let p = self.path.to_path_buf();
        let direct = blocking_io(move || Ok(direct::open_direct(&p))).await.ok().flatten();
        self.direct = direct.map(|file| Arc::new(DirectFd { file, refused: AtomicBool::new(false) }));
        self.direct.is_some()
    }

    /// Writes `buf`, whose first byte belongs at `offset`, on the calling thread (a
    /// blocking one): its whole pages directly when a direct descriptor is open, the
    /// rest through the cache.
    pub fn write_aligned_blocking(&self, buf: &AlignedBuf, offset: u64) -> Result<()> {
        let bytes = buf.bytes();
        let io_err = |e| EngineError::io("write", self.path.as_path(), e);
        let Some(direct) = &self.direct else {
            return write_all_at(&self.file, bytes, offset).map_err(io_err);
        };
        let part = |(start, end): (u64, u64)| (&bytes[(start - offset) as usize..(end - offset) as usize], start);
        let cached = |(data, at): (&[u8], u64)| write_all_at(&self.file, data, at).map_err(io_err);
        let [head, pages, tail] = direct::split(offset, bytes.len() as u64).map(part);
        cached(head)?;
        if !direct.refused.load(Ordering::Relaxed) {
            match write_all_at(&direct.file, pages.0, pages.1) {
                Ok(()) => return cached(tail),
                // The file system turned out not to take direct writes (or not at this
                // alignment): this and later writes go through the cache.
                Err(e) if direct::direct_refused(&e) => direct.refused.store(true, Ordering::Relaxed),
                Err(e) => return Err(io_err(e)),
            }
        }
        cached(pages)?;
        cached(tail)
    }

    pub async fn write_at(&self, buf: Vec<u8>, offset: u64) -> Result<()> {
        let (f, p) = (self.file.clone(), self.path.clone());
        blocking_io(move || write_all_at(&f, &buf, offset).map_err(|e| EngineError::io("write", p.as_path(), e))).await
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes buffers at page-aligned and unaligned offsets, out of order, and checks
    /// the file byte for byte.
    async fn write_scattered(dir: &Path, direct: bool) -> bool {
        let path = dir.join("partial");
        let len = 5 * direct::PAGE as u64 * 7 + 333;
        let want: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut f = PosFile::create_sized(&path, len).await.unwrap();
        let opened = direct && f.open_direct().await;
        let cuts = [0, 100, 4096, 4096 * 3 + 5, 4096 * 9, 4096 * 9 + 4095, 4096 * 20, len];
        let mut pieces: Vec<(u64, u64)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
        pieces.reverse();
        for (start, end) in pieces {
            let mut buf = AlignedBuf::for_len((end - start) as usize);
            buf.reset(start);
            buf.extend(&want[start as usize..end as usize]);
            f.write_aligned_blocking(&buf, start).unwrap();
        }
        f.sync().await.unwrap();
        assert!(std::fs::read(&path).unwrap() == want, "the file differs (direct {opened})");
        opened
    }

    #[tokio::test]
    async fn aligned_writes_land_at_their_offsets_with_and_without_direct_io() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!write_scattered(dir.path(), false).await);
        let opened = write_scattered(dir.path(), true).await;
        // Where the machine's temp folder is on ext4, direct I/O must have been used.
        #[cfg(target_os = "linux")]
        {
            // SAFETY: statfs writes only the struct it is given.
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            let c = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
            if unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 && st.f_type == 0xEF53 {
                assert!(opened, "ext4 allows O_DIRECT");
            }
        }
        let _ = opened;
    }

    #[tokio::test]
    async fn a_file_system_without_direct_io_gets_the_same_bytes_through_the_cache() {
        // tmpfs refuses O_DIRECT on older kernels and takes it on newer ones; either
        // way the bytes must arrive.
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() {
            return;
        }
        let dir = tempfile::tempdir_in(shm).unwrap();
        write_scattered(dir.path(), true).await;
    }
}
