//! One thread that hashes the full batches of every batched download together, then
//! hands each batch to the blocking pool to be written.
//!
//! Why one thread for all: MD5 lanes (`verify/lanes.rs`) are only fast with many
//! messages at once. With AVX2, eight lanes hash 3.7 GB/s on one core, but a batch of
//! a single segment holds two 4 MiB blocks, and two busy lanes of eight run at a
//! quarter of that, slower than two scalar lanes. The four segments of a download fill
//! their batches at about the same pace, so gathering their batches gives the lanes
//! eight blocks without bigger buffers (32 MiB batches would have done the same with
//! four times the memory).
//!
//! When to hash: as soon as eight ranges wait, or no other batch is being filled, or
//! a segment says it has nothing left to fill while it waits ([`Pending::settle`]).
//! Those three keep every wait short: a segment that waits always hurries first.
//! [`GATHER_WAIT`] caps the wait in any case.

use super::direct::AlignedBuf;
use super::fsio::PosFile;
use super::inline::Batch;
use crate::model::{Md5, Range};
use crate::verify::md5_each;
use crate::{EngineError, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Ranges hashed together at most: the vector lanes (`verify/md5x8.rs`).
const GATHER_RANGES: usize = 8;

/// The longest a full batch waits for others. A safety net: in practice the other
/// rules end the wait first (at 400 MB/s, four segments fill their 8 MiB batches about
/// every 80 ms each, and a segment hurries once its second buffer is full).
const GATHER_WAIT: Duration = Duration::from_millis(100);

/// A full batch, checked and then written: the buffer comes back for reuse, with the
/// ranges whose MD5 was not the expected one and what it was.
pub(crate) type Checked = Result<(AlignedBuf, Vec<(Range, Md5)>)>;

/// A batch queued by [`BatchHasher::check`].
pub(crate) struct Pending {
    result: oneshot::Receiver<Checked>,
    /// Set once the batch is hashed (its write may still run).
    hashed: Arc<AtomicBool>,
}

impl Pending {
    /// Waits for the batch to be hashed and written. A batch still waiting for company
    /// is hashed now: the caller has nothing else to fill meanwhile.
    pub async fn settle(mut self, hasher: &BatchHasher) -> Checked {
        let stopped = || EngineError::Internal("the hashing thread has stopped".into());
        match self.result.try_recv() {
            Ok(checked) => return checked,
            Err(oneshot::error::TryRecvError::Closed) => return Err(stopped()),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        // Once hashed, only its write is left: a hurry would cut the next gather short.
        if !self.hashed.load(Ordering::SeqCst) {
            hasher.hurry();
        }
        self.result.await.unwrap_or_else(|_| Err(stopped()))
    }
}

struct Job {
    buf: AlignedBuf,
    batch: Batch,
    file: PosFile,
    runtime: tokio::runtime::Handle,
    hashed: Arc<AtomicBool>,
    reply: oneshot::Sender<Checked>,
}

enum Msg {
    Job(Job),
    Hurry,
}

/// The hashing thread of a run, started by the first batch.
pub(crate) struct BatchHasher {
    queue: OnceLock<mpsc::Sender<Msg>>,
    /// Batches being filled, across all downloads: more may come soon.
    filling: Arc<AtomicUsize>,
    counts: Arc<Counts>,
    /// [`GATHER_WAIT`], longer in the tests.
    gather_wait: Duration,
}

impl Default for BatchHasher {
    fn default() -> Self {
        BatchHasher::with_gather_wait(GATHER_WAIT)
    }
}

/// How well the gathering worked, for the run log (and the tests).
#[derive(Default, Debug)]
pub(crate) struct Counts {
    /// Times a set of batches was hashed together.
    pub gathers: AtomicU64,
    /// Ranges hashed, over all gathers.
    pub ranges: AtomicU64,
}

/// A batch being filled; counts in [`BatchHasher`] until checked or dropped.
pub(crate) struct Filling {
    count: Arc<AtomicUsize>,
}

impl Drop for Filling {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

impl BatchHasher {
    fn with_gather_wait(gather_wait: Duration) -> Self {
        BatchHasher { queue: OnceLock::new(), filling: Arc::default(), counts: Arc::default(), gather_wait }
    }

    /// Marks the start of filling a batch.
    pub fn filling(&self) -> Filling {
        self.filling.fetch_add(1, Ordering::SeqCst);
        Filling { count: self.filling.clone() }
    }

    /// Queues a full batch: its ranges are hashed together with other full batches,
    /// then the buffer is written to `file` at the batch's offset on the blocking pool.
    /// Must be called from within the tokio runtime.
    pub fn check(&self, filled: Filling, buf: AlignedBuf, batch: Batch, file: PosFile) -> Pending {
        let (reply, result) = oneshot::channel();
        let hashed = Arc::new(AtomicBool::new(false));
        // No longer being filled, before it is sent: the thread may then hash without
        // it, never wait for it.
        drop(filled);
        let runtime = tokio::runtime::Handle::current();
        let job = Job { buf, batch, file, runtime, hashed: hashed.clone(), reply };
        if let Err(mpsc::SendError(Msg::Job(job))) = self.queue().send(Msg::Job(job)) {
            let _ = job.reply.send(Err(EngineError::Internal("the hashing thread has stopped".into())));
        }
        Pending { result, hashed }
    }

    /// Asks for the batches that wait to be hashed now: the caller waits for one.
    fn hurry(&self) {
        let _ = self.queue().send(Msg::Hurry);
    }

    /// Gathers so far and the ranges they hashed.
    pub fn counts(&self) -> (u64, u64) {
        (self.counts.gathers.load(Ordering::Relaxed), self.counts.ranges.load(Ordering::Relaxed))
    }

    fn queue(&self) -> &mpsc::Sender<Msg> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let (filling, counts, wait) = (self.filling.clone(), self.counts.clone(), self.gather_wait);
            // Detached: it ends when the run drops the sender.
            std::thread::Builder::new()
                .name("driverepair-md5".into())
                .spawn(move || hash_loop(&rx, &filling, &counts, wait))
                .expect("spawning the hashing thread");
            tx
        })
    }
}

/// Gathers full batches, hashes them together, and hands each to the blocking pool to
/// be written.
fn hash_loop(rx: &mpsc::Receiver<Msg>, filling: &AtomicUsize, counts: &Counts, wait: Duration) {
    let mut jobs: Vec<Job> = Vec::new();
    let ranges = |jobs: &[Job]| jobs.iter().map(|j| j.batch.checks.len()).sum::<usize>();
    loop {
        match rx.recv() {
            Ok(Msg::Job(job)) => jobs.push(job),
            // A hurry for batches already hashed.
            Ok(Msg::Hurry) => continue,
            Err(_) => return,
        }
        let deadline = Instant::now() + wait;
        while ranges(&jobs) < GATHER_RANGES && filling.load(Ordering::SeqCst) > 0 {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Msg::Job(job)) => jobs.push(job),
                Ok(Msg::Hurry) | Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        counts.gathers.fetch_add(1, Ordering::Relaxed);
        counts.ranges.fetch_add(ranges(&jobs) as u64, Ordering::Relaxed);
        let bad = hash_together(&jobs);
        for (job, bad) in jobs.drain(..).zip(bad) {
            let Job { buf, batch, file, runtime, hashed, reply } = job;
            hashed.store(true, Ordering::SeqCst);
            runtime.spawn_blocking(move || {
                let written = file.write_aligned_blocking(&buf, batch.offset).map(|()| (buf, bad));
                // The segment may have given up (cancelled or failed): nothing to tell.
                let _ = reply.send(written);
            });
        }
    }
}

/// Hashes the ranges of all `jobs` in one set of lanes; returns, per job, its ranges
/// whose MD5 is not the expected one.
fn hash_together(jobs: &[Job]) -> Vec<Vec<(Range, Md5)>> {
    let mut owners = Vec::new();
    let mut slices: Vec<&[u8]> = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        let bytes = job.buf.bytes();
        debug_assert_eq!(bytes.len() as u64, job.batch.length);
        for (k, r) in job.batch.checks.iter().enumerate() {
            let at = (r.offset - job.batch.offset) as usize;
            slices.push(&bytes[at..at + r.length as usize]);
            owners.push((j, k));
        }
    }
    let mut bad = vec![Vec::new(); jobs.len()];
    md5_each(&slices, |i, actual| {
        let (j, k) = owners[i];
        let r = jobs[j].batch.checks[k];
        if r.hash != Some(actual) {
            bad[j].push((r, actual));
        }
    });
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repair::fsio::PosFile;

    /// A batch of `blocks` ranges of `len` bytes at `offset`, with the data's hashes
    /// (the range at `corrupt`, if any, expects another hash).
    fn batch_of(data: &[u8], offset: u64, blocks: usize, len: u64, corrupt: Option<usize>) -> (Batch, AlignedBuf) {
        let checks: Vec<Range> = (0..blocks)
            .map(|k| {
                let at = offset + k as u64 * len;
                let bytes = &data[at as usize..(at + len) as usize];
                let hash = if corrupt == Some(k) { Md5::of(b"something else") } else { Md5::of(bytes) };
                Range { offset: at, length: len, hash: Some(hash) }
            })
            .collect();
        let length = blocks as u64 * len;
        let mut buf = AlignedBuf::for_len(length as usize);
        buf.reset(offset);
        buf.extend(&data[offset as usize..(offset + length) as usize]);
        (Batch { offset, length, checks }, buf)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_of_four_segments_are_hashed_together_and_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let (len, per_batch) = (65_536u64, 2usize);
        let bytes = data(4 * per_batch * len as usize);
        let file = PosFile::create_sized(&path, bytes.len() as u64).await.unwrap();
        let hasher = BatchHasher::with_gather_wait(Duration::from_secs(60));
        // Four segments start filling; their batches arrive one after another, while
        // more are being filled: eight ranges, not the end of the filling, end the wait.
        let _more = hasher.filling();
        let marks: Vec<Filling> = (0..4).map(|_| hasher.filling()).collect();
        let mut pending = Vec::new();
        for (seg, mark) in marks.into_iter().enumerate() {
            let offset = (seg * per_batch) as u64 * len;
            let (batch, buf) = batch_of(&bytes, offset, per_batch, len, (seg == 2).then_some(1));
            pending.push(hasher.check(mark, buf, batch, file.clone()));
        }
        let mut bad = Vec::new();
        for p in pending {
            let (_buf, mut b) = p.result.await.expect("a reply").expect("written");
            bad.append(&mut b);
        }
        assert_eq!(hasher.counts(), (1, 8), "all eight blocks in one gather");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0.offset, 5 * len, "the corrupted block of the third segment");
        assert_eq!(bad[0].1, Md5::of(&bytes[5 * len as usize..6 * len as usize]), "with the MD5 it has");
        // Every batch, the bad one included (it is the partial file), was written.
        file.sync().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_segment_hurries_its_batch_past_others_still_filling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let bytes = data(2 * 4096);
        let file = PosFile::create_sized(&path, bytes.len() as u64).await.unwrap();
        let hasher = BatchHasher::with_gather_wait(Duration::from_secs(60));
        // Another segment is filling a batch and never finishes it (a slow network).
        let _slow = hasher.filling();
        let (batch, buf) = batch_of(&bytes, 0, 2, 4096, None);
        let mut pending = hasher.check(hasher.filling(), buf, batch, file.clone());
        // Not hashed at once: it waits for company.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(pending.result.try_recv().is_err(), "hashed without waiting for the other segment");
        assert!(!pending.hashed.load(Ordering::SeqCst));
        // The segment now waits for it, with nothing else to fill.
        let (_, bad) = pending.settle(&hasher).await.unwrap();
        assert!(bad.is_empty());
        assert_eq!(hasher.counts(), (1, 2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_with_no_other_filling_is_hashed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = PosFile::create_sized(&dir.path().join("blob"), 8192).await.unwrap();
        let bytes = data(8192);
        // Were it to wait for company, it would wait a minute.
        let hasher = BatchHasher::with_gather_wait(Duration::from_secs(60));
        let (batch, buf) = batch_of(&bytes, 0, 2, 4096, None);
        let started = Instant::now();
        let (_, bad) = hasher.check(hasher.filling(), buf, batch, file).result.await.unwrap().unwrap();
        assert!(bad.is_empty());
        assert!(started.elapsed() < Duration::from_secs(30), "waited for batches no one was filling");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_fails_comes_back_as_the_batch_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let file = PosFile::create_sized(&path, 8192).await.unwrap();
        let bytes = data(8192);
        let hasher = BatchHasher::default();
        let (batch, buf) = batch_of(&bytes, 0, 2, 4096, None);
        // A read-only descriptor: the write fails as a full or read-only disk would.
        let read_only = PosFile::open_read(&path).await.unwrap();
        drop(file);
        let Err(err) = hasher.check(hasher.filling(), buf, batch, read_only).settle(&hasher).await else {
            panic!("a write through a read-only descriptor succeeded");
        };
        assert!(err.to_string().contains("blob"), "names the file: {err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_batch_is_hashed_after_the_safety_cap() {
        // A filling that neither ends nor hurries (which the executor never leaves
        // behind) delays a batch by the cap, not forever.
        let dir = tempfile::tempdir().unwrap();
        let file = PosFile::create_sized(&dir.path().join("blob"), 8192).await.unwrap();
        let bytes = data(8192);
        let hasher = BatchHasher::with_gather_wait(Duration::from_millis(50));
        let _stuck = hasher.filling();
        let (batch, buf) = batch_of(&bytes, 0, 2, 4096, None);
        let pending = hasher.check(hasher.filling(), buf, batch, file).result;
        let (_, bad) = tokio::time::timeout(Duration::from_secs(30), pending).await.expect("hashed").unwrap().unwrap();
        assert!(bad.is_empty());
    }
}
