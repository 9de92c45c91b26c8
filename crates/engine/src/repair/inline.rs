//! Checks the blocks of a whole-blob download in the very buffers that are written to
//! the partial file, off the async threads.
//!
//! A segment of the download is cut into batches of whole manifest ranges (about
//! [`BATCH_BYTES`]). A batch's bytes gather in an aligned buffer; when it is full, the
//! run's hashing thread (`hasher.rs`) hashes its ranges in lanes together with the
//! full batches of the other segments (`verify/lanes.rs`: several independent MD5s at
//! once), and then the blocking pool writes the buffer, its whole pages directly to the
//! disk (`direct.rs`). Meanwhile the next batch arrives in a second buffer. The file
//! is the temporary partial file, renamed over the target only when every range
//! matched, so writing a bad range here replaces nothing; it is fetched again.
//!
//! This replaced reading each block back from the page cache after writing it: that
//! cost a copy into the cache, a copy out of it, and the fsync of a gigabyte of dirty
//! pages, which together were most of the CPU time of a download. The bytes hashed are
//! the bytes handed to the disk.

use crate::model::Range;

/// A batch's target size: two 4 MiB blocks; the four segments of a download give the
/// hashing thread eight blocks, one per vector lane. A segment holds two batch
/// buffers (one filling, one being hashed and written), so a download of four segments
/// holds 64 MiB (twice that when its ranges are [`MAX_BATCHED_RANGE`] long,
/// since a batch holds at least one whole range).
pub(crate) const BATCH_BYTES: u64 = 8 << 20;

/// Ranges longer than this are not checked in batches (their buffers would be too
/// large); such segments are hashed as they arrive and read back in the recheck.
pub(crate) const MAX_BATCHED_RANGE: u64 = 16 << 20;

/// Whole ranges of a segment, fetched and checked together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub offset: u64,
    pub length: u64,
    pub checks: Vec<Range>,
}

/// Cuts contiguous, sorted `checks` into batches of at most `target` bytes (a longer
/// range forms a batch alone).
pub(crate) fn batches(checks: &[Range], target: u64) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    for r in checks {
        if let Some(b) = out.last_mut() {
            if b.offset + b.length == r.offset && b.length + r.length <= target {
                b.length += r.length;
                b.checks.push(*r);
                continue;
            }
        }
        out.push(Batch { offset: r.offset, length: r.length, checks: vec![*r] });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(offset: u64, length: u64) -> Range {
        Range { offset, length, hash: None }
    }

    #[test]
    fn batches_hold_whole_ranges_up_to_the_target() {
        let checks = [r(0, 4), r(4, 4), r(8, 4), r(12, 10), r(22, 2)];
        let b = batches(&checks, 8);
        let spans: Vec<(u64, u64, usize)> = b.iter().map(|b| (b.offset, b.length, b.checks.len())).collect();
        // The 10-byte range is longer than the target and stands alone.
        assert_eq!(spans, vec![(0, 8, 2), (8, 4, 1), (12, 10, 1), (22, 2, 1)]);
    }

    #[test]
    fn a_gap_between_ranges_starts_a_new_batch() {
        // Page blobs: only the listed ranges are fetched.
        let b = batches(&[r(0, 4), r(8, 4)], 100);
        assert_eq!(b.len(), 2);
        assert_eq!((b[1].offset, b[1].length), (8, 4));
    }
}
