//! Writes that bypass the page cache, for whole-blob downloads.
//!
//! Why: on the development machine, putting 1 GiB through the page cache and fsyncing
//! it cost about 4 s of system time (`dd conv=fsync`: 5.2 s wall), while the same bytes
//! written with `O_DIRECT` took 1.4 s wall and 0.3 s of CPU. A repair is CPU-bound on a
//! small machine (the storage emulator or the TLS stack shares the cores), so the page
//! cache was the largest cost of a download. Direct writes need the memory address,
//! the file offset and the length aligned to the device's logical block; [`PAGE`]
//! (4 KiB) satisfies every common device.
//!
//! A buffer's bytes are placed so that file offsets and memory addresses agree modulo
//! [`PAGE`]: then the whole pages of any buffer can go out directly, and only the
//! partial pages at its two ends go through the cache. Two neighbouring buffers may
//! share such a partial page, and both write it through the cache, so no page is ever
//! written both ways. Where direct I/O is unavailable (not Linux, or a file system
//! that refuses it, such as tmpfs or some FUSE mounts) everything goes through the
//! cache, as before.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fs::File;
use std::path::Path;
use std::ptr::NonNull;

/// Alignment of direct I/O: memory, file offsets and lengths.
pub(crate) const PAGE: usize = 4096;

/// A byte buffer whose memory is [`PAGE`]-aligned, holding bytes meant for one file
/// offset (see [`AlignedBuf::reset`]).
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    cap: usize,
    /// Where the bytes start in the allocation: the file offset modulo [`PAGE`].
    lead: usize,
    len: usize,
}

// SAFETY: the buffer owns its allocation outright, like a `Vec<u8>`.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access is read-only (`bytes`), as for `&Vec<u8>`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A buffer that can hold `len` bytes for any file offset.
    pub fn for_len(len: usize) -> AlignedBuf {
        let cap = (len + 2 * PAGE).next_multiple_of(PAGE);
        let layout = Layout::from_size_align(cap, PAGE).expect("a sane buffer size");
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout));
        AlignedBuf { ptr, cap, lead: 0, len: 0 }
    }

    /// Empties the buffer for bytes that belong at `offset` in the file.
    pub fn reset(&mut self, offset: u64) {
        self.lead = (offset % PAGE as u64) as usize;
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends `data`.
    ///
    /// # Panics
    /// If the bytes do not fit: callers size buffers for their batches.
    pub fn extend(&mut self, data: &[u8]) {
        assert!(self.lead + self.len + data.len() <= self.cap, "aligned buffer overflow");
        // SAFETY: in bounds (checked above); `data` cannot alias memory we own exclusively.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(self.lead + self.len), data.len());
        }
        self.len += data.len();
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `lead..lead+len` was written by `extend` and lies inside the allocation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(self.lead), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `for_len` with this very layout.
        unsafe { dealloc(self.ptr.as_ptr(), Layout::from_size_align_unchecked(self.cap, PAGE)) }
    }
}

/// How a buffer written at `offset` splits: `[head, pages, tail]`, the whole pages in
/// the middle (direct) and the partial pages at either end (through the cache), as
/// `(start, end)` file offsets. Empty parts have `start == end`.
pub(crate) fn split(offset: u64, len: u64) -> [(u64, u64); 3] {
    let end = offset + len;
    let page = PAGE as u64;
    let first = offset.next_multiple_of(page);
    let last = end / page * page;
    if first >= last {
        // No whole page: everything through the cache.
        return [(offset, end), (end, end), (end, end)];
    }
    [(offset, first), (first, last), (last, end)]
}

/// Opens `path` a second time for direct writes, or `None` where the system or the
/// file system does not allow it.
pub(crate) fn open_direct(path: &Path) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        File::options().write(true).custom_flags(libc::O_DIRECT).open(path).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

/// Whether a direct write failed because of the file system (alignment rules or no
/// support), not because of the disk: then the write is done through the cache.
pub(crate) fn direct_refused(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EOPNOTSUPP))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_keep_the_file_offsets_alignment_in_memory() {
        let mut b = AlignedBuf::for_len(3 * PAGE);
        for offset in [0u64, 1, 4095, 4096, 4097, 12_345_678] {
            b.reset(offset);
            b.extend(&[1, 2, 3]);
            b.extend(&vec![7; 3 * PAGE - 3]);
            assert_eq!(b.len(), 3 * PAGE);
            assert_eq!(&b.bytes()[..4], &[1, 2, 3, 7]);
            let addr = b.bytes().as_ptr() as usize;
            assert_eq!(addr % PAGE, (offset % PAGE as u64) as usize, "offset {offset}");
        }
    }

    #[test]
    #[should_panic(expected = "overflow")]
    fn overfilling_panics_instead_of_writing_past_the_end() {
        let mut b = AlignedBuf::for_len(10);
        b.reset(PAGE as u64 - 1);
        b.extend(&vec![0; 3 * PAGE]);
    }

    #[test]
    fn split_sends_only_whole_pages_direct() {
        let p = PAGE as u64;
        assert_eq!(split(0, 4 * p), [(0, 0), (0, 4 * p), (4 * p, 4 * p)]);
        assert_eq!(split(100, 4 * p), [(100, p), (p, 4 * p), (4 * p, 4 * p + 100)]);
        // Less than one whole page: all through the cache.
        assert_eq!(split(100, p), [(100, p + 100), (p + 100, p + 100), (p + 100, p + 100)]);
        assert_eq!(split(p, 50), [(p, p + 50), (p + 50, p + 50), (p + 50, p + 50)]);
        // The tail of a file.
        assert_eq!(split(8 * p, p + 10), [(8 * p, 8 * p), (8 * p, 9 * p), (9 * p, 9 * p + 10)]);
    }
}
