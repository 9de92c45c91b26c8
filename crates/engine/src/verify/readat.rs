//! Positional reads (`pread`): several threads may read one open file at different
//! offsets without sharing a cursor, and bytes land straight in the caller's buffer.

use std::fs::File;
use std::io;

/// Reads into `buf` from `offset` until `buf` is full or the file ends. Returns how
/// many bytes were read (less than `buf.len()` only at end of file).
pub(super) fn read_full_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<usize> {
    let mut total = 0;
    while !buf.is_empty() {
        match read_at(file, buf, offset) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                offset += n as u64;
                buf = &mut buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    // Moves the file cursor too, which nothing here relies on.
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}
