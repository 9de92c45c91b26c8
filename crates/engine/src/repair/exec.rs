//! The work of one repair item: patch verified ranges into a file, fetch a blob whole
//! into a temp file and rename it over the target, or regenerate a properties or
//! metadata file. Items never touch the repair file; they return [`Outcome`]s that
//! the run loop records.

use super::direct::AlignedBuf;
use super::fsio::{create_parent_dirs, read_small, write_atomically, PosFile, TempFile};
use super::hasher::{BatchHasher, Pending};
use super::inline::{batches, Batch, BATCH_BYTES, MAX_BATCHED_RANGE};
use super::RepairOptions;
use crate::blobstore::retry::with_retry;
use crate::blobstore::{BlobProperties, BlobStore};
use crate::error::StorageError;
use crate::log::RunLog;
use crate::model::{BlobRef, BlobType, Component, ManifestBlob, Md5, Problem, Range};
use crate::paths::{ensure_no_symlink_escape, map_file_path};
use crate::plan::{coalesce, plan_whole_blob, FetchGroup, Segment, Unit, COALESCE_TARGET, MAX_BUFFERED_COMPONENT, SERVICE_MD5_MAX};
use crate::progress::{CancelToken, ProgressTracker};
use crate::properties::{parse_properties_from, render_metadata, render_properties};
use crate::repairfile::DoneHow;
use crate::{EngineError, ErrorKind, Result};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use md5::Digest;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How often a streamed range is re-requested from where it stopped after a
/// transient failure in the middle of the body (the request itself is retried by
/// [`with_retry`]).
const MAX_STREAM_RESTARTS: u32 = 5;

/// Writes of a streamed fetch are gathered to this size.
const WRITE_CHUNK: usize = 4 << 20;

/// Whole-blob downloads checked in batches at once (`inline.rs`). Each holds up to
/// 64 MiB of batch buffers (128 MiB with ranges of up to [`MAX_BATCHED_RANGE`]); two
/// of them keep the requests busy (four each).
const BATCHED_SLOTS: usize = 2;

/// Run-wide counters.
#[derive(Default)]
pub(crate) struct Stats {
    pub checked: AtomicU64,
    pub fetched: AtomicU64,
    pub failed: AtomicU64,
    pub regenerated: AtomicU64,
    pub bytes_fetched: AtomicU64,
    pub bytes_verified: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What became of a unit.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done {
        unit: Unit,
        how: DoneHow,
        bytes: u64,
        /// Ranges whose hash the recheck reads back from the drive.
        recheck: Vec<Range>,
        /// Every range the manifest lists for the blob was hashed in this run and
        /// matched (in the very buffers written to the drive, or found already good on
        /// it), so the verification need not hash them again.
        all_ranges_hashed: bool,
    },
    Failed {
        unit: Unit,
        problem: Problem,
        bytes: u64,
    },
}

/// One item of work for the run loop.
pub(crate) enum Work {
    Ranges { group: FetchGroup, path: PathBuf },
    // Boxed: the run holds one item per pending unit before it starts them.
    Whole { unit: Box<Unit>, props: Box<BlobProperties>, manifest: Option<Box<ManifestBlob>>, refetch: bool },
    Aux { unit: Box<Unit>, props: Option<Box<BlobProperties>> },
}

/// Why fetching failed.
#[derive(Debug)]
pub(crate) enum FetchError {
    Storage(StorageError),
    /// The service sent bytes whose MD5 is not the expected one.
    Mismatch { expected: Md5, actual: Md5 },
    /// No hash to check against and the service gave no MD5.
    Unverifiable,
    Unsafe { reason: String },
    /// Stops the unit, and possibly the run (see [`Cx::problem_or_abort`]).
    Local(EngineError),
}

impl From<EngineError> for FetchError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnsafePath { reason, .. } => FetchError::Unsafe { reason },
            e => FetchError::Local(e),
        }
    }
}

impl From<StorageError> for FetchError {
    fn from(e: StorageError) -> Self {
        FetchError::Storage(e)
    }
}

/// Whether the blob is still the one that was exported.
pub(crate) enum Preflight {
    Unchanged(BlobProperties),
    Changed { detail: String, props: BlobProperties },
    Failed(Problem),
}

/// What every item needs.
pub(crate) struct Cx<'a, S: BlobStore> {
    pub store: &'a S,
    pub opts: &'a RepairOptions,
    pub target: &'a Path,
    pub tracker: &'a ProgressTracker<'a>,
    pub cancel: &'a CancelToken,
    pub log: &'a RunLog,
    /// Bounds the requests in flight.
    pub requests: Semaphore,
    /// Whole-blob downloads whose blocks are checked in batches as they are written,
    /// at most [`BATCHED_SLOTS`] at a time.
    pub batched_slots: Semaphore,
    /// Hashes the full batches of those downloads together.
    pub hasher: BatchHasher,
    /// Set once anything in the target directory was changed: a 403 before that aborts
    /// the run (the drive untouched), after it only fails the unit.
    pub written_any: AtomicBool,
    pub stats: Stats,
}

impl<'a, S: BlobStore> Cx<'a, S> {
    pub fn new(
        store: &'a S,
        opts: &'a RepairOptions,
        target: &'a Path,
        tracker: &'a ProgressTracker<'a>,
        cancel: &'a CancelToken,
        log: &'a RunLog,
    ) -> Self {
        Cx {
            store,
            opts,
            target,
            tracker,
            cancel,
            log,
            requests: Semaphore::new(opts.concurrency.max(1)),
            batched_slots: Semaphore::new(BATCHED_SLOTS),
            hasher: BatchHasher::default(),
            written_any: AtomicBool::new(false),
            stats: Stats::default(),
        }
    }

    fn wrote(&self) {
        self.written_any.store(true, Ordering::SeqCst);
    }

    /// Maps a drive path into the target directory, refusing anything that would
    /// leave it (also through symbolic links).
    fn safe_path(&self, drive_path: &str) -> Result<PathBuf, FetchError> {
        let p = map_file_path(self.target, drive_path)?;
        ensure_no_symlink_escape(self.target, &p)?;
        Ok(p)
    }

    /// Turns a failure into the unit's problem, or into an error that ends the run:
    /// cancellation, a full disk, and a refused or unreachable account before
    /// anything was written (then the drive is untouched and the user should fix the
    /// credentials first).
    pub fn problem_or_abort(&self, e: FetchError) -> Result<Problem> {
        Ok(match e {
            FetchError::Storage(se) => {
                let fatal = matches!(se, StorageError::Forbidden { .. } | StorageError::Unreachable { .. });
                if fatal && !self.written_any.load(Ordering::SeqCst) {
                    return Err(EngineError::Storage(se));
                }
                Problem::FetchFailed { kind: se.kind(), detail: self.log.redact(&se.to_string()) }
            }
            FetchError::Mismatch { expected, actual } => Problem::FetchFailed {
                kind: ErrorKind::HashMismatch,
                detail: format!(
                    "the storage service sent bytes whose MD5 is {actual}, not the expected {expected}, twice; \
                     nothing was written. The blob may have changed since the export."
                ),
            },
            FetchError::Unverifiable => Problem::FetchFailed {
                kind: ErrorKind::HashMismatch,
                detail: "neither the manifest nor the copy log gives a hash for it and the storage service sent \
                         no MD5, so the bytes could not be checked; nothing was written. Give the drive manifest \
                         (/ManifestFile:) so that it can be checked."
                    .into(),
            },
            FetchError::Unsafe { reason } => Problem::UnsafePath { reason },
            FetchError::Local(e) => match e.kind() {
                ErrorKind::Cancelled | ErrorKind::DiskFull | ErrorKind::RepairFileMismatch | ErrorKind::Internal => {
                    return Err(e)
                }
                kind => Problem::FetchFailed { kind, detail: self.log.redact(&e.to_string()) },
            },
        })
    }

    fn failed_all(&self, units: Vec<Unit>, e: FetchError) -> Result<Vec<Outcome>> {
        let problem = self.problem_or_abort(e)?;
        Ok(units.into_iter().map(|unit| Outcome::Failed { unit, problem: problem.clone(), bytes: 0 }).collect())
    }

    pub async fn run(&self, work: Work) -> Result<Vec<Outcome>> {
        self.cancel.checkpoint_async().await?;
        match work {
            Work::Ranges { group, path } => self.run_ranges(group, &path).await,
            Work::Whole { unit, props, manifest, refetch } => {
                self.tracker.set_current_file(Some(&unit.file_path));
                let unit = *unit;
                if !refetch {
                    if let Some(m) = manifest.as_deref() {
                        if self.already_whole(&unit, m).await? {
                            self.log.info(format!("{}: already complete on the drive; nothing fetched", unit.file_path));
                            return Ok(vec![Outcome::Done {
                                unit,
                                how: DoneHow::AlreadyGood,
                                bytes: 0,
                                recheck: vec![],
                                all_ranges_hashed: true,
                            }]);
                        }
                    }
                }
                match self.fetch_whole(&unit, &props, manifest.as_deref(), refetch).await {
                    Ok(w) => Ok(vec![Outcome::Done {
                        unit,
                        how: if refetch { DoneHow::RefetchedChanged } else { DoneHow::Fetched },
                        bytes: w.bytes,
                        recheck: w.recheck,
                        all_ranges_hashed: w.all_checked,
                    }]),
                    Err(e) => self.failed_all(vec![unit], e),
                }
            }
            Work::Aux { unit, props } => {
                let unit = *unit;
                self.tracker.set_current_file(Some(unit.written_path()));
                match self.regenerate(&unit, props.map(|p| *p)).await {
                    Ok(how) => Ok(vec![Outcome::Done { unit, how, bytes: 0, recheck: vec![], all_ranges_hashed: false }]),
                    Err(e) => self.failed_all(vec![unit], e),
                }
            }
        }
    }

    // ---- blob state ----------------------------------------------------------------

    pub async fn properties(&self, blob: &BlobRef) -> Result<BlobProperties, StorageError> {
        let _permit = self.requests.acquire().await.expect("semaphore never closed");
        let what = format!("get the properties of {blob}");
        with_retry(&self.opts.retry, &what, |_| self.store.properties(blob)).await
    }

    /// Gets the blob's properties and compares them with what the export saw: the
    /// copy log's `LastModified`, the drive's properties file `Etag`, and the length.
    pub async fn preflight(&self, unit: &Unit, manifest: Option<&ManifestBlob>) -> Result<Preflight> {
        let props = match self.properties(&unit.blob).await {
            Ok(p) => p,
            Err(e) => return Ok(Preflight::Failed(self.problem_or_abort(FetchError::Storage(e))?)),
        };
        let mut reasons = Vec::new();
        if let (Some(then), Some(now)) = (unit.last_modified.as_deref(), props.last_modified.as_deref()) {
            if let (Some(t), Some(n)) = (parse_time(then), parse_time(now)) {
                if n > t {
                    reasons.push(format!("it was modified at {now}, after the exported copy of {then}"));
                }
            }
        }
        let props_path = manifest
            .and_then(|m| m.properties.as_ref().map(|p| p.path.clone()))
            .unwrap_or_else(|| format!("{}.properties", unit.file_path));
        if let (Some(now), Ok(p)) = (props.etag.as_deref(), map_file_path(self.target, &props_path)) {
            if let Some(bytes) = read_small(&p, 1 << 20).await {
                if let Some(then) = parse_properties_from(std::io::Cursor::new(bytes), p.clone()).ok().and_then(|f| f.etag) {
                    if norm_etag(&then) != norm_etag(now) {
                        reasons.push(format!("its ETag is now {now}, the drive's properties file says {then}"));
                    }
                }
            }
        }
        if let Some(len) = unit.blob_length.or(manifest.map(|m| m.length)) {
            if len != props.length {
                reasons.push(format!("it is now {} bytes long, the exported copy was {len}", props.length));
            }
        }
        Ok(if reasons.is_empty() {
            Preflight::Unchanged(props)
        } else {
            Preflight::Changed { detail: reasons.join("; "), props }
        })
    }

    // ---- ranges --------------------------------------------------------------------

    async fn run_ranges(&self, group: FetchGroup, path: &Path) -> Result<Vec<Outcome>> {
        let file_path = group.units[0].file_path.clone();
        self.tracker.set_current_file(Some(&file_path));
        let file = match self.open_for_patch(path).await {
            Ok(f) => f,
            Err(e) => return self.failed_all(group.units, e),
        };
        // Bytes already good on the drive are never replaced (and need no fetch).
        let mut out = Vec::new();
        let mut todo = Vec::new();
        for u in group.units {
            let (offset, length) = u.range().expect("range unit");
            if let Some(expected) = u.expected {
                if let Ok(actual) = file.md5_of(offset, length).await {
                    Stats::add(&self.stats.checked, 1);
                    if actual == expected {
                        self.log.info(format!("{} {}: already good on the drive (MD5 {actual})", u.file_path, u.component));
                        out.push(Outcome::Done { unit: u, how: DoneHow::AlreadyGood, bytes: 0, recheck: vec![], all_ranges_hashed: false });
                        continue;
                    }
                }
            }
            todo.push(u);
        }
        for g in coalesce(todo, COALESCE_TARGET) {
            self.cancel.checkpoint_async().await?;
            let units = g.units.clone();
            match self.patch_group(&file, g).await {
                Ok(mut o) => out.append(&mut o),
                Err(e) => out.extend(self.failed_all(units, e)?),
            }
        }
        Ok(out)
    }

    async fn open_for_patch(&self, path: &Path) -> Result<PosFile, FetchError> {
        ensure_no_symlink_escape(self.target, path)?;
        Ok(PosFile::open_existing(path).await?)
    }

    /// Fetches one group, checks each component, writes the good ones, fsyncs.
    async fn patch_group(&self, file: &PosFile, g: FetchGroup) -> Result<Vec<Outcome>, FetchError> {
        let single = g.units.len() == 1;
        if single && (g.units[0].expected.is_none() || g.length > MAX_BUFFERED_COMPONENT) {
            return self.patch_single_large_or_unhashed(file, g.units.into_iter().next().expect("one unit")).await;
        }
        let data = self.read_all(&g.units[0].blob, g.offset, g.length).await?;
        Stats::add(&self.stats.bytes_fetched, g.length);
        let mut out = Vec::new();
        let mut good: Vec<(u64, Vec<u8>, Unit)> = Vec::new();
        for u in g.units {
            let (offset, length) = u.range().expect("range unit");
            let expected = u.expected.expect("joined units are hashed");
            let at = (offset - g.offset) as usize;
            let mut bytes = data[at..at + length as usize].to_vec();
            let mut actual = Md5::of(&bytes);
            if actual != expected {
                // Once more on its own: a corrupted transfer should not fail the unit.
                self.log.warn(format!("{} {}: MD5 {actual} from the service, expected {expected}; fetching it again", u.file_path, u.component));
                bytes = self.read_all(&u.blob, offset, length).await?;
                Stats::add(&self.stats.bytes_fetched, length);
                actual = Md5::of(&bytes);
            }
            if actual == expected {
                good.push((offset, bytes, u));
            } else {
                out.push(Outcome::Failed {
                    problem: self.problem_or_abort(FetchError::Mismatch { expected, actual })?,
                    unit: u,
                    bytes: length,
                });
            }
        }
        if !good.is_empty() {
            for (offset, bytes, _) in &mut good {
                let buf = std::mem::take(bytes);
                file.write_at(buf, *offset).await?;
                self.wrote();
            }
            file.sync().await?;
        }
        for (_, _, u) in good {
            let (offset, length) = u.range().expect("range unit");
            Stats::add(&self.stats.bytes_verified, length);
            let recheck = vec![Range { offset, length, hash: u.expected }];
            out.push(Outcome::Done { unit: u, how: DoneHow::Fetched, bytes: length, recheck, all_ranges_hashed: false });
        }
        Ok(out)
    }

    /// A unit without an expected hash (checked piecewise with the service's MD5), or
    /// one too big to hold in memory (streamed through a spill file while hashed).
    async fn patch_single_large_or_unhashed(&self, file: &PosFile, u: Unit) -> Result<Vec<Outcome>, FetchError> {
        let (offset, length) = u.range().expect("range unit");
        let target = file.path().to_path_buf();
        let outcome = if length <= MAX_BUFFERED_COMPONENT {
            let bytes = self.read_service_checked(&u.blob, offset, length).await?;
            file.write_at(bytes, offset).await?;
            self.wrote();
            file.sync().await?;
            Outcome::Done { unit: u, how: DoneHow::Fetched, bytes: length, recheck: vec![], all_ranges_hashed: false }
        } else {
            let spill = TempFile::beside(&target, "driverepair-range");
            let sf = PosFile::create_sized(spill.path(), length).await?;
            match u.expected {
                Some(expected) => {
                    let check = [Range { offset, length, hash: Some(expected) }];
                    self.stream_checked(&u.blob, &sf, offset, length, &check, offset, false).await?;
                }
                None => {
                    let mut at = offset;
                    while at < offset + length {
                        let n = SERVICE_MD5_MAX.min(offset + length - at);
                        let bytes = self.read_service_checked(&u.blob, at, n).await?;
                        sf.write_at(bytes, at - offset).await?;
                        at += n;
                    }
                }
            }
            file.copy_from(&sf, 0, length, offset).await?;
            self.wrote();
            file.sync().await?;
            Stats::add(&self.stats.bytes_verified, length);
            let recheck = u.expected.map(|h| vec![Range { offset, length, hash: Some(h) }]).unwrap_or_default();
            Outcome::Done { unit: u, how: DoneHow::Fetched, bytes: length, recheck, all_ranges_hashed: false }
        };
        Ok(vec![outcome])
    }

    /// Reads a range into memory (bounded by the caller), re-requesting after
    /// transient failures.
    async fn read_all(&self, blob: &BlobRef, offset: u64, length: u64) -> Result<Vec<u8>, FetchError> {
        let mut reader = RangeReader::open(self, blob, offset, length).await;
        let mut buf = Vec::with_capacity(length as usize);
        while let Some(chunk) = reader.next().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    }

    /// Reads `length` bytes in pieces of at most 4 MiB, each checked against the
    /// MD5 the service computes for it (tried twice on a mismatch).
    async fn read_service_checked(&self, blob: &BlobRef, offset: u64, length: u64) -> Result<Vec<u8>, FetchError> {
        let mut out = Vec::with_capacity(length as usize);
        let mut at = offset;
        while at < offset + length {
            let n = SERVICE_MD5_MAX.min(offset + length - at);
            let mut tries = 0;
            loop {
                tries += 1;
                match self.read_with_service_md5(blob, at, n).await {
                    Ok(bytes) => {
                        out.extend_from_slice(&bytes);
                        break;
                    }
                    Err(FetchError::Mismatch { .. }) if tries < 2 => continue,
                    Err(e) => return Err(e),
                }
            }
            at += n;
        }
        Stats::add(&self.stats.bytes_verified, length);
        Ok(out)
    }

    async fn read_with_service_md5(&self, blob: &BlobRef, offset: u64, length: u64) -> Result<Vec<u8>, FetchError> {
        let _permit = self.requests.acquire().await.expect("semaphore never closed");
        self.cancel.checkpoint_async().await?;
        let what = format!("read {blob} at {offset} (+{length})");
        let store = self.store;
        let (bytes, service) = with_retry(&self.opts.retry, &what, |_| async move {
            let body = store.read_range(blob, offset, length, true).await?;
            let mut chunks = body.chunks;
            let mut buf = Vec::with_capacity(length as usize);
            while let Some(c) = chunks.next().await {
                buf.extend_from_slice(&c?);
            }
            if buf.len() as u64 != length {
                return Err(StorageError::Network {
                    blob: blob.to_string(),
                    attempts: 1,
                    detail: format!("the service sent {} of {length} bytes", buf.len()),
                });
            }
            Ok((buf, body.content_md5))
        })
        .await?;
        Stats::add(&self.stats.bytes_fetched, length);
        let Some(expected) = service else { return Err(FetchError::Unverifiable) };
        let actual = Md5::of(&bytes);
        if actual != expected {
            self.log.warn(format!("{blob} at {offset} (+{length}): MD5 {actual}, the service says {expected}"));
            return Err(FetchError::Mismatch { expected, actual });
        }
        Ok(bytes)
    }

    /// Streams `[offset, offset+length)` into `out` at `offset - base`, hashing the
    /// `checks` ranges (contiguous from `offset`) as the bytes pass. With `progress`,
    /// the bytes count towards the phase's progress as they arrive.
    #[allow(clippy::too_many_arguments)]
    async fn stream_checked(
        &self,
        blob: &BlobRef,
        out: &PosFile,
        offset: u64,
        length: u64,
        checks: &[Range],
        base: u64,
        progress: bool,
    ) -> Result<(), FetchError> {
        let mut reader = RangeReader::open(self, blob, offset, length).await;
        let mut ci = 0;
        let mut hasher = md5::Md5::new();
        let mut pos = offset;
        let mut pending: Vec<u8> = Vec::with_capacity(WRITE_CHUNK.min(length as usize));
        let mut pending_at = offset;
        while let Some(chunk) = reader.next().await? {
            let mut c = &chunk[..];
            while !c.is_empty() {
                let take = match checks.get(ci) {
                    Some(r) if pos >= r.offset => ((r.end() - pos) as usize).min(c.len()),
                    Some(r) => ((r.offset - pos) as usize).min(c.len()),
                    None => c.len(),
                };
                let in_check = checks.get(ci).is_some_and(|r| pos >= r.offset);
                if in_check {
                    hasher.update(&c[..take]);
                }
                pending.extend_from_slice(&c[..take]);
                pos += take as u64;
                c = &c[take..];
                if let Some(r) = checks.get(ci).filter(|r| in_check && pos == r.end()) {
                    let actual = Md5(std::mem::take(&mut hasher).finalize().into());
                    let expected = r.hash.expect("checked ranges carry hashes");
                    if actual != expected {
                        self.log.warn(format!("{blob} at {} (+{}): MD5 {actual}, expected {expected}", r.offset, r.length));
                        return Err(FetchError::Mismatch { expected, actual });
                    }
                    Stats::add(&self.stats.bytes_verified, r.length);
                    ci += 1;
                }
            }
            Stats::add(&self.stats.bytes_fetched, chunk.len() as u64);
            if progress {
                self.tracker.counters.add_bytes(chunk.len() as u64);
            }
            if pending.len() >= WRITE_CHUNK {
                out.write_at(std::mem::take(&mut pending), pending_at - base).await?;
                pending_at = pos;
            }
        }
        if !pending.is_empty() {
            out.write_at(pending, pending_at - base).await?;
        }
        Ok(())
    }

    // ---- whole blobs ---------------------------------------------------------------

    /// Whether the file on the drive already has the blob's length and every range
    /// the manifest's hash (then a copy log's "failed" was about something else, and
    /// a download would only replace good bytes with the same). Stops at the first
    /// bad range, so a damaged file costs little to look at.
    async fn already_whole(&self, unit: &Unit, m: &ManifestBlob) -> Result<bool> {
        if m.ranges.is_empty() || m.ranges.iter().any(|r| r.hash.is_none()) {
            return Ok(false);
        }
        let Ok(path) = self.safe_path(&unit.file_path) else { return Ok(false) };
        let Ok(Some(len)) = super::fsio::file_len(&path).await else { return Ok(false) };
        if len != m.length {
            return Ok(false);
        }
        let Ok(file) = PosFile::open_read(&path).await else { return Ok(false) };
        for r in &m.ranges {
            self.cancel.checkpoint_async().await?;
            match file.md5_of(r.offset, r.length).await {
                Ok(h) if Some(h) == r.hash => Stats::add(&self.stats.checked, 1),
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Downloads a blob into `.<name>.driverepair-partial` beside the target, fsyncs it
    /// and renames it over the target once every byte is checked. With the manifest's
    /// hashes, the blocks are checked in batches in the buffers that are written
    /// (`inline.rs`), with the whole pages written past the page cache (`direct.rs`); a
    /// bad block is fetched again on its own and checked as it arrives. Returns the
    /// bytes fetched, the ranges to recheck (those not checked in batches), and whether
    /// every manifest range was checked in batches and matched.
    async fn fetch_whole(
        &self,
        unit: &Unit,
        props: &BlobProperties,
        manifest: Option<&ManifestBlob>,
        refetch: bool,
    ) -> Result<WholeFetched, FetchError> {
        let path = self.safe_path(&unit.file_path)?;
        let props_type = if props.is_page_blob { BlobType::Page } else { BlobType::Block };
        let (length, blob_type, ranges) = if refetch {
            // The blob changed: its current content is wanted, the manifest no longer applies.
            (props.length, props_type, None)
        } else {
            (
                unit.blob_length.or(manifest.map(|m| m.length)).unwrap_or(props.length),
                unit.blob_type.or(manifest.map(|m| m.blob_type)).unwrap_or(props_type),
                manifest.map(|m| m.ranges.as_slice()),
            )
        };
        let content_md5 = props.content_md5.as_deref().and_then(Md5::parse_base64);
        let plan = plan_whole_blob(length, blob_type, ranges, content_md5, self.opts.whole_blob_range);

        create_parent_dirs(&path).await?;
        ensure_no_symlink_escape(self.target, &path)?;
        let tmp = TempFile::beside(&path, "driverepair-partial");
        let mut file = PosFile::create_sized(tmp.path(), length).await?;
        let checks: Vec<Range> = plan.segments.iter().flat_map(|s| s.checks.iter().copied()).collect();
        // Batches need a free slot (they bound the memory of the buffers) and ranges
        // small enough to buffer; otherwise the blocks are hashed as they arrive and
        // read back in the recheck.
        let batchable = !checks.is_empty() && checks.iter().all(|r| r.length <= MAX_BATCHED_RANGE);
        let slot = if batchable { self.batched_slots.try_acquire().ok() } else { None };
        let direct = slot.is_some() && file.open_direct().await;
        self.log.info(format!(
            "{}: fetching {} ({length} bytes, {} requests{}) into {}",
            unit.file_path,
            unit.blob,
            plan.segments.len(),
            if direct { ", written past the page cache" } else { "" },
            tmp.path().display()
        ));
        let in_flight = self.opts.concurrency.clamp(1, 4);
        let (blob, file_ref, batched) = (&unit.blob, &file, slot.is_some());
        // Owned segments: a closure over references here would make the run's future
        // lose `Send` (a higher-ranked lifetime limitation of the compiler).
        let mut segments = futures::stream::iter(plan.segments)
            .map(move |seg| self.fetch_segment(blob, file_ref, seg, batched))
            .buffer_unordered(in_flight);
        let mut fetched = 0;
        let mut bad = Vec::new();
        while let Some(r) = segments.next().await {
            let (n, mut b) = r?;
            fetched += n;
            bad.append(&mut b);
        }
        drop(segments);
        let mut recheck = Vec::new();
        if slot.is_some() {
            bad.sort_by_key(|r| r.offset);
            let bad_bytes: u64 = bad.iter().map(|r| r.length).sum();
            Stats::add(&self.stats.checked, (checks.len() - bad.len()) as u64);
            Stats::add(&self.stats.bytes_verified, checks.iter().map(|r| r.length).sum::<u64>() - bad_bytes);
            for group in group_ranges(&bad, self.opts.whole_blob_range) {
                let (offset, len) = (group[0].offset, group.iter().map(|r| r.length).sum::<u64>());
                self.log.warn(format!(
                    "{}: {} block(s) at {offset} (+{len}) did not match the manifest as they arrived; \
                     fetching them again",
                    unit.file_path,
                    group.len()
                ));
                self.stream_checked(blob, &file, offset, len, &group, 0, false).await?;
                fetched += len;
                // Checked once, as they arrived: the recheck reads them from the drive.
                recheck.extend(group);
            }
        } else {
            recheck = checks.clone();
        }
        drop(slot);
        if let Some(expected) = plan.whole_md5 {
            let actual = file.md5_of(0, length).await?;
            if actual != expected {
                return Err(FetchError::Mismatch { expected, actual });
            }
            Stats::add(&self.stats.bytes_verified, length);
        }
        file.sync().await?;
        drop(file);
        ensure_no_symlink_escape(self.target, &path)?;
        tmp.commit(&path).await?;
        self.wrote();
        // `checks` come from the manifest only when not refetching.
        let all_checked = !checks.is_empty() && recheck.is_empty();
        Ok(WholeFetched { bytes: fetched, recheck, all_checked })
    }

    /// Fetches one segment of a whole blob; returns its length and, when `batched`, the
    /// ranges that did not match. Otherwise a bad range fails it.
    async fn fetch_segment(
        &self,
        blob: &BlobRef,
        file: &PosFile,
        seg: Segment,
        batched: bool,
    ) -> Result<(u64, Vec<Range>), FetchError> {
        if batched && !seg.service_md5 && !seg.checks.is_empty() {
            let bad = self.stream_batched(blob, file, &seg).await?;
            return Ok((seg.length, bad));
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let r = if seg.service_md5 {
                match self.read_service_checked(blob, seg.offset, seg.length).await {
                    Ok(bytes) => {
                        self.tracker.counters.add_bytes(seg.length);
                        file.write_at(bytes, seg.offset).await.map_err(FetchError::from)
                    }
                    Err(e) => Err(e),
                }
            } else {
                self.stream_checked(blob, file, seg.offset, seg.length, &seg.checks, 0, true).await
            };
            match r {
                Ok(()) => return Ok((seg.length, Vec::new())),
                Err(FetchError::Mismatch { .. }) if tries < 2 => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Streams a segment into the file in batches of whole ranges (`inline.rs`): while
    /// one batch is hashed (`hasher.rs`) and written, the next arrives in a second
    /// buffer. Returns (and logs) the ranges whose MD5 did not match.
    async fn stream_batched(&self, blob: &BlobRef, out: &PosFile, seg: &Segment) -> Result<Vec<Range>, FetchError> {
        /// Waits for the batch being hashed and written; gives its buffer back for reuse.
        async fn settle(
            hasher: &BatchHasher,
            writing: Option<Pending>,
            bad: &mut Vec<(Range, Md5)>,
        ) -> Result<Option<AlignedBuf>, FetchError> {
            let Some(pending) = writing else { return Ok(None) };
            let (buf, mut b) = pending.settle(hasher).await?;
            bad.append(&mut b);
            Ok(Some(buf))
        }
        let hasher = &self.hasher;
        let batches = batches(&seg.checks, BATCH_BYTES);
        let cap = batches.iter().map(|b| b.length).max().unwrap_or(0) as usize;
        let mut batches = batches.into_iter();
        // The batch being filled, in a reused buffer when one is free.
        let start = |b: Batch, spare: Option<AlignedBuf>| {
            let mut buf = spare.unwrap_or_else(|| AlignedBuf::for_len(cap));
            buf.reset(b.offset);
            (b, buf, hasher.filling())
        };
        let mut current = batches.next().map(|b| start(b, None));
        let mut spare: Option<AlignedBuf> = None;
        let mut reader = RangeReader::open(self, blob, seg.offset, seg.length).await;
        let mut bad = Vec::new();
        let mut writing: Option<Pending> = None;
        while let Some(chunk) = reader.next().await? {
            Stats::add(&self.stats.bytes_fetched, chunk.len() as u64);
            self.tracker.counters.add_bytes(chunk.len() as u64);
            let mut c = &chunk[..];
            while !c.is_empty() {
                let Some((batch, buf, _)) = current.as_mut() else {
                    return Err(FetchError::Local(EngineError::Internal(format!("{blob}: more bytes than the segment holds"))));
                };
                let take = (batch.length as usize - buf.len()).min(c.len());
                buf.extend(&c[..take]);
                c = &c[take..];
                if buf.len() as u64 == batch.length {
                    let (done, full, filled) = current.take().expect("matched above");
                    let queued = hasher.check(filled, full, done, out.clone());
                    spare = settle(hasher, writing.replace(queued), &mut bad).await?.or(spare);
                    // A buffer for the next batch only if there is one.
                    current = batches.next().map(|b| start(b, spare.take()));
                }
            }
        }
        settle(hasher, writing, &mut bad).await?;
        Ok(bad
            .into_iter()
            .map(|(r, actual)| {
                let expected = r.hash.expect("checked ranges carry hashes");
                self.log.warn(format!("{blob} at {} (+{}): MD5 {actual}, expected {expected}", r.offset, r.length));
                r
            })
            .collect())
    }

    // ---- properties and metadata -----------------------------------------------------

    /// Rewrites a properties or metadata file from the blob's current state. The
    /// result is "verified" only if its bytes happen to have the manifest's hash.
    async fn regenerate(&self, unit: &Unit, props: Option<BlobProperties>) -> Result<DoneHow, FetchError> {
        let props = match props {
            Some(p) => p,
            None => self.properties(&unit.blob).await?,
        };
        let text = match unit.component {
            Component::Metadata => render_metadata(&props.metadata)?,
            _ => render_properties(&props),
        };
        let bytes = text.into_bytes();
        let path = self.safe_path(unit.written_path())?;
        create_parent_dirs(&path).await?;
        ensure_no_symlink_escape(self.target, &path)?;
        let same = unit.expected == Some(Md5::of(&bytes));
        write_atomically(&path, bytes).await?;
        self.wrote();
        Ok(if same { DoneHow::Fetched } else { DoneHow::Regenerated })
    }
}

/// What a whole-blob download did.
pub(crate) struct WholeFetched {
    pub bytes: u64,
    /// Ranges not checked in batches (or fetched a second time): the recheck reads
    /// them back from the drive.
    pub recheck: Vec<Range>,
    /// Every manifest range was checked in batches and matched.
    pub all_checked: bool,
}

/// Sorted ranges in groups of adjacent ones, each at most `max` bytes long (a single
/// longer range forms a group alone).
fn group_ranges(ranges: &[Range], max: u64) -> Vec<Vec<Range>> {
    let mut groups: Vec<Vec<Range>> = Vec::new();
    for r in ranges {
        if let Some(g) = groups.last_mut() {
            let (end, len) = (g.last().expect("groups are never empty").end(), g.iter().map(|x| x.length).sum::<u64>());
            if end == r.offset && len + r.length <= max {
                g.push(*r);
                continue;
            }
        }
        groups.push(vec![*r]);
    }
    groups
}

fn norm_etag(s: &str) -> &str {
    s.trim().trim_start_matches("W/").trim_matches('"')
}

/// Parses RFC 3339 (copy logs) or the HTTP date form (`Last-Modified`).
pub(crate) fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::{Rfc2822, Rfc3339};
    let s = s.trim();
    time::OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(s, &Rfc2822))
        .ok()
}

/// Reads a blob range as a stream of chunks, holding one request permit. A body that
/// breaks off with a transient error is re-requested from where it stopped.
struct RangeReader<'c, 'a, S: BlobStore> {
    cx: &'c Cx<'a, S>,
    blob: &'c BlobRef,
    pos: u64,
    end: u64,
    body: Option<BoxStream<'static, Result<Bytes, StorageError>>>,
    restarts: u32,
    _permit: SemaphorePermit<'c>,
}

impl<'c, 'a, S: BlobStore> RangeReader<'c, 'a, S> {
    async fn open(cx: &'c Cx<'a, S>, blob: &'c BlobRef, offset: u64, length: u64) -> Self {
        let permit = cx.requests.acquire().await.expect("semaphore never closed");
        RangeReader { cx, blob, pos: offset, end: offset + length, body: None, restarts: 0, _permit: permit }
    }

    async fn next(&mut self) -> Result<Option<Bytes>, FetchError> {
        loop {
            if self.pos >= self.end {
                return Ok(None);
            }
            self.cx.cancel.checkpoint_async().await?;
            if self.body.is_none() {
                let (pos, len, blob, store) = (self.pos, self.end - self.pos, self.blob, self.cx.store);
                let what = format!("read {blob} at {pos} (+{len})");
                let body = with_retry(&self.cx.opts.retry, &what, |_| store.read_range(blob, pos, len, false)).await?;
                self.body = Some(body.chunks);
            }
            let next = self.body.as_mut().expect("opened above").next().await;
            match next {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    let room = (self.end - self.pos) as usize;
                    // More than asked for is cut off; the hashes judge what is kept.
                    let chunk = if chunk.len() > room { chunk.slice(..room) } else { chunk };
                    self.pos += chunk.len() as u64;
                    // Every chunk gives the tracker its (throttled) chance to report, so
                    // the snapshot goes out while a long range arrives, also for callers
                    // that count bytes only once their range is checked.
                    self.cx.tracker.tick();
                    return Ok(Some(chunk));
                }
                Some(Err(e)) => self.restart(e).await?,
                None => {
                    let e = StorageError::Network {
                        blob: self.blob.to_string(),
                        attempts: self.restarts + 1,
                        detail: format!("the service ended the response {} bytes early", self.end - self.pos),
                    };
                    self.restart(e).await?
                }
            }
        }
    }

    async fn restart(&mut self, e: StorageError) -> Result<(), FetchError> {
        self.body = None;
        if e.is_transient() && self.restarts < MAX_STREAM_RESTARTS {
            self.restarts += 1;
            self.cx.log.warn(format!("{} at {}: {e}; asking again from there", self.blob, self.pos));
            tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(self.restarts))).await;
            Ok(())
        } else {
            Err(FetchError::Storage(e))
        }
    }
}
