//! The reader and the hashing workers behind [`super::verify_blobs`]; the design is
//! described in the parent module.

use super::lanes::md5_each;
use super::readat::read_full_at;
use super::{add_totals, range_bytes, Clock, VerifyOptions, VerifyReport};
use crate::model::{BlobRef, BlobType, Component, ComponentIssue, ManifestBlob, Md5, Problem, Range};
use crate::paths::map_file_path;
use crate::progress::{CancelToken, Event, ProgressTracker};
use crate::{EngineError, Result};
use md5::Digest;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

/// Caps the components of one buffer, so that zero-length components cannot make a
/// batch (and its item list) grow without bound.
const MAX_ITEMS_PER_BATCH: usize = 4096;
/// Smaller chunks than this only add overhead.
const MIN_CHUNK_SIZE: usize = 4096;
/// Buffers beyond one per worker: one being filled by the reader, one queued.
const SPARE_BUFFERS: usize = 2;

/// A blob's identity, shared by the work items of its components.
struct BlobCtx {
    blob: BlobRef,
    file_path: String,
    /// Position in the manifest, for sorting issues.
    index: u64,
}

/// Where an issue sorts: by blob, then by slot within the blob (0 = the file itself,
/// 1 + i = range i, then properties, then metadata).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct IssueKey {
    blob: u64,
    slot: u64,
}

/// One component to hash, and how to name it if it is bad.
struct Target {
    blob: Arc<BlobCtx>,
    slot: u64,
    component: Component,
    expected: Option<Md5>,
    /// Blocks and page ranges count towards `bytes_done`; properties and metadata do not.
    is_range: bool,
}

/// A component packed into a batch buffer at `start..start + len`.
struct Item {
    start: usize,
    len: usize,
    target: Target,
}

/// A pooled buffer holding whole components, with the list of them.
struct Batch {
    buf: Vec<u8>,
    items: Vec<Item>,
}

/// A component larger than a chunk: one worker reads and hashes it piece by piece.
struct LargeJob {
    file: Arc<File>,
    offset: u64,
    len: u64,
    target: Target,
}

enum Job {
    Batch(Batch),
    Large(LargeJob),
}

/// What the reader and the workers share.
struct Shared<'a> {
    progress: &'a ProgressTracker<'a>,
    cancel: &'a CancelToken,
    chunk: usize,
    issues: Mutex<Vec<(IssueKey, ComponentIssue)>>,
    components: AtomicU64,
    bytes_hashed: AtomicU64,
    /// Set when the run stops with an error: workers drop what is queued.
    aborted: AtomicBool,
}

impl Shared<'_> {
    fn stopped(&self) -> bool {
        self.aborted.load(Ordering::Relaxed) || self.cancel.is_cancelled()
    }

    /// Records an issue covering `covers` components (at least one is counted failed).
    fn report(&self, blob: &BlobCtx, slot: u64, component: Component, problem: Problem, covers: u64) {
        let issue = ComponentIssue {
            blob: blob.blob.clone(),
            file_path: blob.file_path.clone(),
            component,
            problem,
        };
        self.progress.counters.add_failed(covers.max(1));
        self.progress.event(Event::Issue { issue: issue.clone() });
        let key = IssueKey { blob: blob.index, slot };
        self.issues.lock().unwrap().push((key, issue));
    }

    /// Counts components finished (good or bad) and the range bytes they account for.
    fn done(&self, components: u64, range_bytes: u64) {
        self.components.fetch_add(components, Ordering::Relaxed);
        self.progress.counters.add_done(components);
        self.progress.counters.add_bytes(range_bytes);
    }

    /// Reports the target if its hash differs from the expected one.
    fn compare(&self, target: &Target, actual: Md5) {
        if let Some(expected) = target.expected {
            if expected != actual {
                let problem = Problem::HashMismatch { expected, actual };
                self.report(&target.blob, target.slot, target.component.clone(), problem, 1);
            }
        }
    }

    /// Reports a target that could not be read, and counts it done.
    fn unreadable(&self, target: Target, detail: String) {
        let bytes = if target.is_range { range_len(&target.component) } else { 0 };
        self.report(&target.blob, target.slot, target.component, Problem::Unreadable { detail }, 1);
        self.done(1, bytes);
    }
}

fn range_len(component: &Component) -> u64 {
    match component {
        Component::Block { length, .. } | Component::PageRange { length, .. } => *length,
        _ => 0,
    }
}

fn range_component(blob_type: BlobType, r: &Range) -> Component {
    match blob_type {
        BlobType::Block => Component::Block { offset: r.offset, length: r.length },
        BlobType::Page => Component::PageRange { offset: r.offset, length: r.length },
    }
}

fn read_error_detail(e: std::io::Error) -> String {
    format!("reading failed: {e}")
}

const ENDED_EARLY: &str =
    "the file ended early while being read; it may have changed during the check, so run the check again";

pub(super) fn run<I: Iterator<Item = Result<ManifestBlob>>>(
    target: &Path,
    drive_id: &str,
    blobs: I,
    opts: &VerifyOptions,
    progress: &ProgressTracker,
    cancel: &CancelToken,
    grow_totals: bool,
) -> Result<VerifyReport> {
    let clock = Clock::start();
    let threads = opts.threads.max(1);
    let shared = Shared {
        progress,
        cancel,
        chunk: opts.chunk_size.max(MIN_CHUNK_SIZE),
        issues: Mutex::new(Vec::new()),
        components: AtomicU64::new(0),
        bytes_hashed: AtomicU64::new(0),
        aborted: AtomicBool::new(false),
    };
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    // Only the workers hold the receiving end: should they all die (a bug), the reader's
    // next send fails instead of waiting forever.
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (free_tx, free_rx) = channel::<Batch>();

    let blob_count = std::thread::scope(|s| {
        for _ in 0..threads {
            let (shared, job_rx, free_tx) = (&shared, Arc::clone(&job_rx), free_tx.clone());
            s.spawn(move || worker(shared, &job_rx, free_tx));
        }
        drop((free_tx, job_rx));
        let reader = Reader {
            shared: &shared,
            target,
            jobs: job_tx,
            free: free_rx,
            buffers_left: threads + SPARE_BUFFERS,
            cur: Batch { buf: Vec::new(), items: Vec::new() },
            used: 0,
            grow_totals,
        };
        // `run` consumes the reader, closing the job channel, so the workers end.
        let result = reader.run(blobs);
        if result.is_err() {
            shared.aborted.store(true, Ordering::Relaxed);
        }
        result
    })?;
    // Workers skip what is queued once cancelled; a cancel that came after the reader's
    // last check must not pass for a complete report.
    if cancel.is_cancelled() {
        return Err(EngineError::Cancelled);
    }

    progress.set_current_file(None);
    progress.emit();
    let mut keyed = shared.issues.into_inner().unwrap_or_else(|e| e.into_inner());
    keyed.sort_by_key(|(key, _)| *key);
    Ok(VerifyReport {
        drive_id: drive_id.to_string(),
        blobs: blob_count,
        components_checked: shared.components.into_inner(),
        bytes_checked: shared.bytes_hashed.into_inner(),
        issues: keyed.into_iter().map(|(_, issue)| issue).collect(),
        elapsed_seconds: clock.seconds(),
    })
}

fn worker(shared: &Shared, jobs: &Mutex<Receiver<Job>>, free: Sender<Batch>) {
    // For components larger than a chunk; allocated only if one comes.
    let mut private = Vec::new();
    loop {
        // The guard is a temporary of this statement: it is released before hashing.
        let job = match jobs.lock().unwrap().recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        match job {
            Job::Batch(mut batch) => {
                if !shared.stopped() {
                    hash_batch(shared, &batch);
                }
                batch.items.clear();
                // The reader may have finished already; then the buffer is simply freed.
                let _ = free.send(batch);
            }
            Job::Large(job) => {
                if !shared.stopped() {
                    hash_large(shared, job, &mut private);
                }
            }
        }
        shared.progress.tick();
    }
}

fn hash_batch(shared: &Shared, batch: &Batch) {
    let slices: Vec<&[u8]> = batch.items.iter().map(|it| &batch.buf[it.start..it.start + it.len]).collect();
    md5_each(&slices, |i, actual| shared.compare(&batch.items[i].target, actual));
    let (mut hashed, mut range_bytes) = (0u64, 0u64);
    for item in &batch.items {
        hashed += item.len as u64;
        if item.target.is_range {
            range_bytes += item.len as u64;
        }
    }
    shared.bytes_hashed.fetch_add(hashed, Ordering::Relaxed);
    shared.done(batch.items.len() as u64, range_bytes);
}

fn hash_large(shared: &Shared, job: LargeJob, buf: &mut Vec<u8>) {
    if buf.len() < shared.chunk {
        buf.resize(shared.chunk, 0);
    }
    let mut hasher = md5::Md5::new();
    let end = job.offset + job.len;
    let mut offset = job.offset;
    let counters = &shared.progress.counters;
    while offset < end {
        // Honours pause; on cancel the reader stops the run, this piece is simply dropped.
        if shared.cancel.checkpoint().is_err() || shared.aborted.load(Ordering::Relaxed) {
            return;
        }
        let n = (end - offset).min(shared.chunk as u64) as usize;
        let failure = match read_full_at(&job.file, &mut buf[..n], offset) {
            Ok(got) if got == n => None,
            Ok(_) => Some(ENDED_EARLY.to_string()),
            Err(e) => Some(read_error_detail(e)),
        };
        if let Some(detail) = failure {
            if job.target.is_range {
                // The bytes already hashed were counted; `unreadable` adds the whole range.
                counters.bytes_done.fetch_sub(offset - job.offset, Ordering::Relaxed);
            }
            shared.unreadable(job.target, detail);
            return;
        }
        hasher.update(&buf[..n]);
        offset += n as u64;
        shared.bytes_hashed.fetch_add(n as u64, Ordering::Relaxed);
        if job.target.is_range {
            counters.add_bytes(n as u64);
        }
        shared.progress.tick();
    }
    shared.compare(&job.target, Md5(hasher.finalize().into()));
    shared.done(1, 0);
}

/// A stretch of one file read with one `pread` into the current buffer: consecutive
/// components that are contiguous in the file.
struct Run {
    file_offset: u64,
    buf_offset: usize,
    len: usize,
    /// The first of the current batch's items that this read fills.
    first_item: usize,
}

struct Reader<'s, 'a> {
    shared: &'s Shared<'a>,
    target: &'s Path,
    jobs: SyncSender<Job>,
    free: Receiver<Batch>,
    /// Buffers that may still be allocated before the reader must wait for a free one.
    buffers_left: usize,
    /// The batch being filled (an empty placeholder until the first buffer is taken).
    cur: Batch,
    used: usize,
    grow_totals: bool,
}

impl Reader<'_, '_> {
    fn run<I: Iterator<Item = Result<ManifestBlob>>>(mut self, blobs: I) -> Result<u64> {
        self.cur = self.take_buffer()?;
        let mut count = 0u64;
        for blob in blobs {
            self.shared.cancel.checkpoint()?;
            let blob = blob?;
            if self.grow_totals {
                add_totals(&self.shared.progress.counters, &blob);
            }
            self.blob(count, blob)?;
            count += 1;
        }
        self.dispatch(true)?;
        Ok(count)
    }

    fn take_buffer(&mut self) -> Result<Batch> {
        if self.buffers_left > 0 {
            self.buffers_left -= 1;
            return Ok(Batch { buf: vec![0; self.shared.chunk], items: Vec::new() });
        }
        self.free.recv().map_err(|_| workers_gone())
    }

    /// Hands the current batch to the workers; takes a fresh buffer unless `last`.
    fn dispatch(&mut self, last: bool) -> Result<()> {
        if self.cur.items.is_empty() {
            self.used = 0;
            return Ok(());
        }
        self.shared.cancel.checkpoint()?;
        if let Some(item) = self.cur.items.last() {
            self.shared.progress.set_current_file(Some(&item.target.blob.file_path));
        }
        let full = std::mem::replace(&mut self.cur, Batch { buf: Vec::new(), items: Vec::new() });
        self.used = 0;
        self.jobs.send(Job::Batch(full)).map_err(|_| workers_gone())?;
        self.shared.progress.tick();
        if !last {
            self.cur = self.take_buffer()?;
        }
        Ok(())
    }

    /// Makes room for `len` more bytes (and one more item) in the current batch.
    fn reserve(&mut self, len: usize) -> Result<()> {
        if self.used + len > self.shared.chunk || self.cur.items.len() >= MAX_ITEMS_PER_BATCH {
            self.dispatch(false)?;
        }
        Ok(())
    }

    fn send_large(&mut self, file: &Arc<File>, offset: u64, len: u64, target: Target) -> Result<()> {
        self.shared.progress.set_current_file(Some(&target.blob.file_path));
        let job = LargeJob { file: Arc::clone(file), offset, len, target };
        self.jobs.send(Job::Large(job)).map_err(|_| workers_gone())
    }

    fn blob(&mut self, index: u64, mb: ManifestBlob) -> Result<()> {
        let ManifestBlob { blob, file_path, length, blob_type, ranges, properties, metadata, .. } = mb;
        let ctx = Arc::new(BlobCtx { blob, file_path, index });
        self.data_file(&ctx, length, blob_type, &ranges)?;
        let after_ranges = ranges.len() as u64 + 1;
        if let Some(aux) = properties {
            self.aux_file(&ctx, after_ranges, Component::Properties, &aux.path, aux.hash)?;
        }
        if let Some(aux) = metadata {
            self.aux_file(&ctx, after_ranges + 1, Component::Metadata, &aux.path, aux.hash)?;
        }
        Ok(())
    }

    /// Maps, opens and measures a file. `Err` is the problem to report for it.
    fn open(&self, file_path: &str) -> std::result::Result<(File, u64), Problem> {
        let path = match map_file_path(self.target, file_path) {
            Ok(path) => path,
            Err(EngineError::UnsafePath { reason, .. }) => return Err(Problem::UnsafePath { reason }),
            Err(e) => return Err(Problem::Unreadable { detail: e.to_string() }),
        };
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Problem::MissingFile,
            _ => Problem::Unreadable { detail: format!("opening failed: {e}") },
        })?;
        let meta = file
            .metadata()
            .map_err(|e| Problem::Unreadable { detail: format!("reading its size failed: {e}") })?;
        if !meta.is_file() {
            let detail = "it is not a regular file (a directory or a device is in its place)".to_string();
            return Err(Problem::Unreadable { detail });
        }
        Ok((file, meta.len()))
    }

    fn data_file(&mut self, ctx: &Arc<BlobCtx>, length: u64, blob_type: BlobType, ranges: &[Range]) -> Result<()> {
        let shared = self.shared;
        let (file, file_len) = match self.open(&ctx.file_path) {
            Ok(opened) => opened,
            Err(problem) => {
                let count = ranges.len() as u64;
                shared.report(ctx, 0, Component::File, problem, count);
                shared.done(count, range_bytes(ranges));
                return Ok(());
            }
        };
        let short = file_len < length;
        if short {
            let folded = ranges.iter().filter(|r| r.offset.saturating_add(r.length) > file_len).count() as u64;
            let problem = Problem::ShortFile { actual_length: file_len, expected_length: length };
            shared.report(ctx, 0, Component::File, problem, folded);
        } else if file_len > length {
            let problem = Problem::LongFile { actual_length: file_len, expected_length: length };
            shared.report(ctx, 0, Component::File, problem, 0);
        }

        let file = Arc::new(file);
        let mut run: Option<Run> = None;
        for (i, r) in ranges.iter().enumerate() {
            let target = Target {
                blob: Arc::clone(ctx),
                slot: 1 + i as u64,
                component: range_component(blob_type, r),
                expected: r.hash,
                is_range: true,
            };
            // Saturating: a range past u64::MAX is simply past the end of the file.
            if r.offset.saturating_add(r.length) > file_len {
                if !short {
                    // The file has the blob's length but the range reaches past it:
                    // the manifest is inconsistent; name the range.
                    let expected_length = r.offset.saturating_add(r.length);
                    let problem = Problem::ShortFile { actual_length: file_len, expected_length };
                    shared.report(ctx, target.slot, target.component, problem, 1);
                }
                // Otherwise folded into the file's ShortFile issue.
                shared.done(1, r.length);
                continue;
            }
            if r.length > shared.chunk as u64 {
                self.read_run(&file, run.take());
                self.send_large(&file, r.offset, r.length, target)?;
                continue;
            }
            let len = r.length as usize;
            if self.used + len > shared.chunk || self.cur.items.len() >= MAX_ITEMS_PER_BATCH {
                self.read_run(&file, run.take());
                self.dispatch(false)?;
            }
            // Within one run, items are appended back to back, so the buffer side is
            // contiguous by construction; only the file side needs checking.
            let contiguous = run.as_ref().is_some_and(|run| run.file_offset + run.len as u64 == r.offset);
            if !contiguous {
                self.read_run(&file, run.take());
                run = Some(Run {
                    file_offset: r.offset,
                    buf_offset: self.used,
                    len: 0,
                    first_item: self.cur.items.len(),
                });
            }
            if let Some(run) = run.as_mut() {
                run.len += len;
            }
            self.cur.items.push(Item { start: self.used, len, target });
            self.used += len;
        }
        self.read_run(&file, run.take());
        Ok(())
    }

    fn aux_file(
        &mut self,
        ctx: &Arc<BlobCtx>,
        slot: u64,
        component: Component,
        path: &str,
        expected: Option<Md5>,
    ) -> Result<()> {
        let (file, len) = match self.open(path) {
            Ok(opened) => opened,
            Err(problem) => {
                self.shared.report(ctx, slot, component, problem, 1);
                self.shared.done(1, 0);
                return Ok(());
            }
        };
        let target = Target { blob: Arc::clone(ctx), slot, component, expected, is_range: false };
        if len > self.shared.chunk as u64 {
            return self.send_large(&Arc::new(file), 0, len, target);
        }
        let len = len as usize;
        self.reserve(len)?;
        let run = Run { file_offset: 0, buf_offset: self.used, len, first_item: self.cur.items.len() };
        self.cur.items.push(Item { start: self.used, len, target });
        self.used += len;
        self.read_run(&file, Some(run));
        Ok(())
    }

    /// Reads a run into the current buffer. Components the read did not fill are
    /// reported unreadable and taken out of the batch.
    fn read_run(&mut self, file: &File, run: Option<Run>) {
        let Some(run) = run else { return };
        let buf = &mut self.cur.buf[run.buf_offset..run.buf_offset + run.len];
        let (got, error) = match read_full_at(file, buf, run.file_offset) {
            Ok(got) => (got, None),
            Err(e) => (0, Some(e)),
        };
        if got == run.len {
            return;
        }
        let filled_end = run.buf_offset + got;
        let items = &self.cur.items[run.first_item..];
        let first_bad = run.first_item
            + items.iter().position(|it| it.start + it.len > filled_end).unwrap_or(items.len());
        let detail = error.map_or_else(|| ENDED_EARLY.to_string(), read_error_detail);
        let bad: Vec<Item> = self.cur.items.drain(first_bad..).collect();
        for item in bad {
            self.shared.unreadable(item.target, detail.clone());
        }
    }
}

fn workers_gone() -> EngineError {
    EngineError::Internal("the hashing workers stopped unexpectedly".into())
}
