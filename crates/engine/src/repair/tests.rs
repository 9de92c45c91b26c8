//! Executor tests against an in-memory blob store that misbehaves on request. The real
//! Azurite runs are in the CLI's integration suite; these pin the executor's rules.

use super::inputs::DriveInputs;
use super::*;
use crate::blobstore::{BlobListing, RangeBody};
use crate::error::StorageError;
use crate::model::{
    AuxFile, BlobType, JobKind, LogAuxFile, LogBlob, LogRange, LogSummary, ManifestBlob, Md5, Range,
};
use crate::progress::{NoReporter, Progress, Reporter};
use crate::repairfile::UnitCounts;
use crate::secret::Secret;
use crate::status::{BlobStatus, FileStatus, RangeStatus};
use crate::verify::VerifyReport;
use crate::ErrorKind;
use bytes::Bytes;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

// ---- an in-memory blob store --------------------------------------------------------

struct MemBlob {
    data: Vec<u8>,
    props: BlobProperties,
}

#[derive(Default)]
struct MemStore {
    blobs: Mutex<HashMap<String, MemBlob>>,
    /// Flip a byte in every range sent.
    corrupt: AtomicBool,
    /// Flip a byte in the range sent at this offset, once.
    corrupt_once_at: Mutex<Option<u64>>,
    forbidden: AtomicBool,
    /// Never send a Content-MD5.
    no_md5: AtomicBool,
    /// The next N range requests fail with a 503.
    transient_failures: AtomicU32,
    /// The next N bodies break off after their first chunk.
    broken_bodies: AtomicU32,
    /// Cancel this token once this many range requests were made.
    cancel_after: Mutex<Option<(u32, CancelToken)>>,
    /// A non-retryable error whose text carries secrets.
    leaky_error: Mutex<Option<String>>,
    reads: AtomicU32,
    property_calls: AtomicU32,
    chunk: usize,
    /// Bodies being read now, and the most at once.
    active: Arc<AtomicU32>,
    max_active: Arc<AtomicU32>,
}

/// Counts a body as active until it is dropped.
struct ActiveGuard(Arc<AtomicU32>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MemStore {
    fn new() -> Self {
        MemStore { chunk: 1000, ..Default::default() }
    }

    fn put(&self, path: &str, data: Vec<u8>, page: bool) {
        let props = BlobProperties {
            length: data.len() as u64,
            etag: Some("\"0x8D0AAAA\"".into()),
            last_modified: Some("Tue, 18 Sep 2012 23:47:08 GMT".into()),
            content_type: Some("image/jpeg".into()),
            is_page_blob: page,
            metadata: vec![("camera".into(), "x100".into())],
            ..Default::default()
        };
        self.blobs.lock().unwrap().insert(path.into(), MemBlob { data, props });
    }

    fn set_props(&self, path: &str, f: impl FnOnce(&mut BlobProperties)) {
        f(&mut self.blobs.lock().unwrap().get_mut(path).unwrap().props);
    }

    fn reads(&self) -> u32 {
        self.reads.load(Ordering::SeqCst)
    }
}

impl BlobStore for MemStore {
    async fn check_access(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn properties(&self, blob: &BlobRef) -> Result<BlobProperties, StorageError> {
        self.property_calls.fetch_add(1, Ordering::SeqCst);
        if self.forbidden.load(Ordering::SeqCst) {
            return Err(StorageError::Forbidden { blob: blob.to_string() });
        }
        match self.blobs.lock().unwrap().get(&blob.path) {
            Some(b) => Ok(b.props.clone()),
            None => Err(StorageError::NotFound { blob: blob.to_string() }),
        }
    }

    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        want_content_md5: bool,
    ) -> Result<RangeBody, StorageError> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((after, token)) = &*self.cancel_after.lock().unwrap() {
            if n >= *after {
                token.cancel();
            }
        }
        if self.forbidden.load(Ordering::SeqCst) {
            return Err(StorageError::Forbidden { blob: blob.to_string() });
        }
        if let Some(detail) = self.leaky_error.lock().unwrap().clone() {
            return Err(StorageError::Service { blob: blob.to_string(), status: 400, detail: Some(detail) });
        }
        if self
            .transient_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
        {
            return Err(StorageError::Service { blob: blob.to_string(), status: 503, detail: Some("busy".into()) });
        }
        let mut data = {
            let blobs = self.blobs.lock().unwrap();
            let b = blobs.get(&blob.path).ok_or_else(|| StorageError::NotFound { blob: blob.to_string() })?;
            let end = (offset + length).min(b.data.len() as u64);
            b.data[offset as usize..end as usize].to_vec()
        };
        let content_md5 = (want_content_md5 && length <= 4 << 20 && !self.no_md5.load(Ordering::SeqCst))
            .then(|| Md5::of(&data));
        if self.corrupt.load(Ordering::SeqCst) && !data.is_empty() {
            let mid = data.len() / 2;
            data[mid] ^= 0xFF;
        }
        {
            let mut once = self.corrupt_once_at.lock().unwrap();
            if let Some(at) = *once {
                if (offset..offset + data.len() as u64).contains(&at) {
                    data[(at - offset) as usize] ^= 0xFF;
                    *once = None;
                }
            }
        }
        let mut chunks: Vec<Result<Bytes, StorageError>> =
            data.chunks(self.chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        if self
            .broken_bodies
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
        {
            chunks.truncate(1);
            chunks.push(Err(StorageError::Network { blob: blob.to_string(), attempts: 1, detail: "reset".into() }));
        }
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now, Ordering::SeqCst);
        let guard = ActiveGuard(self.active.clone());
        // Yield between chunks, as a network body would, so that requests overlap.
        let body = futures::stream::iter(chunks).then(move |c| {
            let _held = &guard;
            async move {
                tokio::task::yield_now().await;
                c
            }
        });
        Ok(RangeBody { content_md5, chunks: body.boxed() })
    }

    async fn list(&self, _container: &str, _prefix: &str) -> Result<Vec<BlobListing>, StorageError> {
        Ok(vec![])
    }
}

// ---- parsed inputs instead of files ---------------------------------------------------

struct MemInputs {
    drive_id: String,
    manifest_drive_id: Option<String>,
    log: Vec<LogBlob>,
    manifest: Option<Vec<ManifestBlob>>,
    copy_fp: String,
    kind: JobKind,
    /// The `skip_ranges` of each verification.
    skipped: Mutex<Vec<HashSet<BlobRef>>>,
}

impl DriveInputs for MemInputs {
    fn copy_log(&self, _cancel: &CancelToken) -> Result<(LogSummary, Vec<LogBlob>)> {
        if self.kind == JobKind::Import {
            return Err(EngineError::ImportNotSupported { file: "log.xml".into(), what: "copy log" });
        }
        let summary = LogSummary { version: None, drive_id: self.drive_id.clone(), status: None, kind: self.kind };
        Ok((summary, self.log.iter().filter(|b| crate::plan::log_blob_needs_repair(b)).cloned().collect()))
    }
    fn copy_log_fingerprint(&self) -> Result<String> {
        Ok(self.copy_fp.clone())
    }
    fn has_manifest(&self) -> bool {
        self.manifest.is_some()
    }
    fn manifest_drive_id(&self) -> Result<Option<String>> {
        Ok(self.manifest.as_ref().map(|_| self.manifest_drive_id.clone().unwrap_or(self.drive_id.clone())))
    }
    fn manifest_fingerprint(&self) -> Result<Option<String>> {
        Ok(self.manifest.as_ref().map(|_| "manifest-fp".to_string()))
    }
    fn manifest_blobs(&self, wanted: &HashSet<BlobRef>, _c: &CancelToken) -> Result<HashMap<BlobRef, ManifestBlob>> {
        Ok(self
            .manifest
            .iter()
            .flatten()
            .filter(|m| wanted.contains(&m.blob))
            .map(|m| (m.blob.clone(), m.clone()))
            .collect())
    }
    fn verify_drive(
        &self,
        target: &Path,
        skip_ranges: &HashSet<BlobRef>,
        t: &ProgressTracker<'_>,
        _c: &CancelToken,
    ) -> Result<VerifyReport> {
        // Like the real verifier, which announces its phase.
        t.start_phase(Phase::Verifying, 0, 0);
        self.skipped.lock().unwrap().push(skip_ranges.clone());
        let mut blobs = self.manifest.clone().unwrap_or_default();
        for b in &mut blobs {
            if skip_ranges.contains(&b.blob) {
                b.ranges.clear();
            }
        }
        Ok(simple_verify(target, &blobs))
    }
}

/// Just enough verification for the tests: missing, short, and bad ranges.
fn simple_verify(target: &Path, blobs: &[ManifestBlob]) -> VerifyReport {
    let mut report = VerifyReport {
        drive_id: DRIVE.into(),
        blobs: blobs.len() as u64,
        components_checked: 0,
        bytes_checked: 0,
        issues: vec![],
        elapsed_seconds: 0.0,
    };
    for m in blobs {
        let issue = |component, problem| ComponentIssue {
            blob: m.blob.clone(),
            file_path: m.file_path.clone(),
            component,
            problem,
        };
        let data = match map_file_path(target, &m.file_path).ok().and_then(|p| std::fs::read(p).ok()) {
            Some(d) => d,
            None => {
                report.issues.push(issue(Component::File, Problem::MissingFile));
                continue;
            }
        };
        if (data.len() as u64) < m.length {
            report.issues.push(issue(
                Component::File,
                Problem::ShortFile { actual_length: data.len() as u64, expected_length: m.length },
            ));
            continue;
        }
        for r in &m.ranges {
            report.components_checked += 1;
            let actual = Md5::of(&data[r.offset as usize..r.end() as usize]);
            if Some(actual) != r.hash {
                let component = match m.blob_type {
                    BlobType::Block => Component::Block { offset: r.offset, length: r.length },
                    BlobType::Page => Component::PageRange { offset: r.offset, length: r.length },
                };
                report.issues.push(issue(component, Problem::HashMismatch { expected: r.hash.unwrap(), actual }));
            }
        }
    }
    report
}

// ---- a drive to repair ---------------------------------------------------------------

const DRIVE: &str = "9WM35C3U";
const EXPORTED_AT: &str = "2012-09-18T23:47:08Z";

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32 * 7) as u8 ^ (i >> 8) as u8).collect()
}

fn blob_ref(p: &str) -> BlobRef {
    BlobRef { path: p.into(), snapshot: None }
}

fn drive_path(blob: &str) -> String {
    format!("\\{}", blob.replace('/', "\\"))
}

fn manifest_entry(blob: &str, data: &[u8], block: usize, blob_type: BlobType) -> ManifestBlob {
    let ranges = (0..data.len())
        .step_by(block)
        .map(|o| {
            let end = (o + block).min(data.len());
            Range { offset: o as u64, length: (end - o) as u64, hash: Some(Md5::of(&data[o..end])) }
        })
        .collect();
    ManifestBlob {
        blob: blob_ref(blob),
        file_path: drive_path(blob),
        length: data.len() as u64,
        blob_type,
        ranges,
        properties: None,
        metadata: None,
        line: 1,
    }
}

fn log_entry(blob: &str, len: u64, status: BlobStatus, failed: &[(u64, u64)]) -> LogBlob {
    let blob_type = if failed.is_empty() && status != BlobStatus::CompletedWithErrors { None } else { Some(BlobType::Block) };
    LogBlob {
        blob: blob_ref(blob),
        status,
        file_path: drive_path(blob),
        length: Some(len),
        last_modified: Some(EXPORTED_AT.into()),
        blob_type,
        ranges: failed
            .iter()
            .map(|&(offset, length)| LogRange { offset, length, hash: None, status: RangeStatus::Failed })
            .collect(),
        properties: None,
        metadata: None,
        import_disposition: None,
        line: 3,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    target: PathBuf,
    work: PathBuf,
    store: MemStore,
    inputs: MemInputs,
    opts: RepairOptions,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("drive");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        let mut opts = RepairOptions::new(&target, work.join("copylog.xml"), work.join("drive.repair"));
        opts.whole_blob_range = 16 << 10;
        Fixture {
            _dir: dir,
            target,
            work,
            store: MemStore::new(),
            inputs: MemInputs {
                drive_id: DRIVE.into(),
                manifest_drive_id: None,
                log: vec![],
                manifest: None,
                copy_fp: "copylog-fp-1".into(),
                kind: JobKind::Export,
                skipped: Mutex::default(),
            },
            opts,
        }
    }

    fn file(&self, blob: &str) -> PathBuf {
        map_file_path(&self.target, &drive_path(blob)).unwrap()
    }

    fn write_file(&self, blob: &str, data: &[u8]) {
        let p = self.file(blob);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn read_file(&self, blob: &str) -> Option<Vec<u8>> {
        std::fs::read(self.file(blob)).ok()
    }

    fn add_manifest(&mut self, m: ManifestBlob) {
        self.inputs.manifest.get_or_insert_with(Vec::new).push(m);
    }

    async fn run_with(&self, cancel: &CancelToken, log: &RunLog) -> Result<RepairSummary> {
        let tracker = ProgressTracker::new(&NoReporter, Duration::from_millis(50));
        execute(&self.store, &self.opts, &self.inputs, &tracker, cancel, log).await
    }

    async fn run(&self) -> Result<RepairSummary> {
        self.run_with(&CancelToken::new(), &RunLog::disabled()).await
    }

    fn counts(&self) -> UnitCounts {
        let (rf, _) =
            RepairFile::open_or_create(&self.opts.repair_file, DRIVE, &self.inputs.copy_fp, self.manifest_fp()).unwrap();
        rf.counts().unwrap()
    }

    fn manifest_fp(&self) -> Option<&'static str> {
        self.inputs.manifest.as_ref().map(|_| "manifest-fp")
    }

    fn partial_files(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.to_string_lossy().contains(".driverepair-") {
                    out.push(p);
                }
            }
        }
        let mut out = vec![];
        walk(&self.target, &mut out);
        out
    }
}

/// A 40 000-byte block blob in 10 000-byte blocks, block 1 damaged on the drive and
/// listed as failed in the copy log.
fn damaged_block_fixture() -> (Fixture, Vec<u8>) {
    let mut f = Fixture::new();
    let data = content(40_000, 1);
    f.store.put("pictures/wild/desert.jpg", data.clone(), false);
    let mut on_drive = data.clone();
    on_drive[10_000..20_000].fill(0);
    f.write_file("pictures/wild/desert.jpg", &on_drive);
    f.inputs.log.push(log_entry("pictures/wild/desert.jpg", 40_000, BlobStatus::CompletedWithErrors, &[(10_000, 10_000)]));
    f.add_manifest(manifest_entry("pictures/wild/desert.jpg", &data, 10_000, BlobType::Block));
    (f, data)
}

// ---- the tests ----------------------------------------------------------------------

#[tokio::test]
async fn failed_block_is_fetched_verified_and_written_in_place() {
    let (f, data) = damaged_block_fixture();
    let s = f.run().await.unwrap();
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), data);
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(s.components_fetched, 1);
    assert_eq!(s.bytes_verified, 10_000);
    assert_eq!(s.plan.ranges, 1);
    assert!(!s.already_complete);
    assert_eq!(f.store.reads(), 1);
    assert_eq!(f.counts(), UnitCounts { done: 1, ..Default::default() });
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn adjacent_failed_blocks_are_fetched_with_one_request() {
    let (mut f, data) = damaged_block_fixture();
    let mut on_drive = data.clone();
    on_drive[0..30_000].fill(7);
    f.write_file("pictures/wild/desert.jpg", &on_drive);
    f.inputs.log[0].ranges = (0..3)
        .map(|i| LogRange { offset: i * 10_000, length: 10_000, hash: None, status: RangeStatus::Failed })
        .collect();
    let s = f.run().await.unwrap();
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), data);
    assert_eq!(s.components_fetched, 3);
    assert_eq!(f.store.reads(), 1, "three adjacent 10 kB blocks are one fetch");
}

#[tokio::test]
async fn wrong_bytes_from_the_store_are_refused_and_the_file_is_left_untouched() {
    let (f, _) = damaged_block_fixture();
    f.store.corrupt.store(true, Ordering::SeqCst);
    let before = f.read_file("pictures/wild/desert.jpg").unwrap();
    let s = f.run().await.unwrap();
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), before);
    assert_eq!(s.components_fetched, 0);
    assert_eq!(s.issues.len(), 1);
    assert!(
        matches!(&s.issues[0].problem, Problem::FetchFailed { kind: ErrorKind::HashMismatch, .. }),
        "{:?}",
        s.issues[0].problem
    );
    assert_eq!(f.store.reads(), 2, "fetched once more before giving up");
    assert_eq!(f.counts().failed, 1);
}

#[tokio::test]
async fn bytes_already_good_on_the_drive_are_not_replaced() {
    let (f, data) = damaged_block_fixture();
    f.write_file("pictures/wild/desert.jpg", &data);
    f.store.corrupt.store(true, Ordering::SeqCst); // anything fetched would be refused anyway
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty());
    assert_eq!(f.store.reads(), 0);
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), data);
    assert_eq!(f.counts().done, 1);
}

#[tokio::test]
async fn without_a_manifest_the_service_md5_checks_the_range() {
    let (mut f, data) = damaged_block_fixture();
    f.inputs.manifest = None;
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), data);
}

#[tokio::test]
async fn a_range_that_cannot_be_checked_is_not_written() {
    let (mut f, _) = damaged_block_fixture();
    f.inputs.manifest = None;
    f.store.no_md5.store(true, Ordering::SeqCst);
    let before = f.read_file("pictures/wild/desert.jpg").unwrap();
    let s = f.run().await.unwrap();
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), before);
    assert_eq!(s.issues.len(), 1);
    assert!(s.issues[0].problem.to_string().contains("could not be checked"), "{}", s.issues[0].problem);
}

#[tokio::test]
async fn whole_blob_is_streamed_with_hash_checks_and_renamed_into_place() {
    let mut f = Fixture::new();
    let data = content(50_000, 2);
    f.store.put("videos/clip.mp4", data.clone(), false);
    f.inputs.log.push(log_entry("videos/clip.mp4", 50_000, BlobStatus::BlobRequestFailed, &[]));
    f.add_manifest(manifest_entry("videos/clip.mp4", &data, 4096, BlobType::Block));
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("videos/clip.mp4").unwrap(), data);
    assert_eq!(s.plan.whole_blobs, 1);
    assert_eq!(s.bytes_verified, 50_000);
    // 16 KiB requests ending on 4 KiB block boundaries: 16384 * 3 + 848.
    assert_eq!(f.store.reads(), 4);
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn whole_blob_checked_in_batches_is_not_hashed_again_by_the_verification() {
    let mut f = Fixture::new();
    let data = content(50_000, 2);
    f.store.put("videos/clip.mp4", data.clone(), false);
    f.inputs.log.push(log_entry("videos/clip.mp4", 50_000, BlobStatus::BlobRequestFailed, &[]));
    f.add_manifest(manifest_entry("videos/clip.mp4", &data, 4096, BlobType::Block));
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("videos/clip.mp4").unwrap(), data);
    let skipped = f.inputs.skipped.lock().unwrap().clone();
    assert_eq!(skipped, vec![HashSet::from([blob_ref("videos/clip.mp4")])]);
    // Its 13 blocks were hashed once, in the buffers written; the verification hashed none.
    assert_eq!(s.components_checked, 13);
}

#[tokio::test]
async fn a_block_that_arrives_bad_is_fetched_again_alone_and_rechecked() {
    let mut f = Fixture::new();
    let data = content(50_000, 2);
    f.store.put("videos/clip.mp4", data.clone(), false);
    // Bad bytes in block 5 (20480..24576) on the first download only.
    *f.store.corrupt_once_at.lock().unwrap() = Some(21_000);
    f.inputs.log.push(log_entry("videos/clip.mp4", 50_000, BlobStatus::BlobRequestFailed, &[]));
    f.add_manifest(manifest_entry("videos/clip.mp4", &data, 4096, BlobType::Block));
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("videos/clip.mp4").unwrap(), data);
    assert_eq!(f.store.reads(), 4 + 1, "four 16 KiB segments, then the one block again");
    assert_eq!(s.bytes_fetched, 50_000 + 4096);
    assert_eq!(s.bytes_verified, 50_000);
    // Hashed as it arrived the second time: the verification hashes the blob again,
    // and the recheck reads the block.
    assert_eq!(f.inputs.skipped.lock().unwrap().clone(), vec![HashSet::new()]);
    assert_eq!(s.components_checked, 12 + 13 + 1);
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn more_whole_blobs_than_batch_slots_are_all_checked() {
    let mut f = Fixture::new();
    let names: Vec<String> = (0..5u8).map(|i| format!("many/b{i}.bin")).collect();
    for (i, name) in names.iter().enumerate() {
        let data = content(60_000 + i * 1000, i as u8);
        f.store.put(name, data.clone(), false);
        f.inputs.log.push(log_entry(name, data.len() as u64, BlobStatus::BlobRequestFailed, &[]));
        f.add_manifest(manifest_entry(name, &data, 4096, BlobType::Block));
    }
    // Five downloads start at once (concurrency 8) and two batch slots exist: the
    // others hash their blocks as they arrive and are read back in the recheck.
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(f.read_file(name).unwrap(), content(60_000 + i * 1000, i as u8), "{name}");
    }
    let skipped = f.inputs.skipped.lock().unwrap().clone();
    assert_eq!(skipped.len(), 1);
    assert!(!skipped[0].is_empty(), "at least the first blobs were checked in batches");
    assert!(skipped[0].iter().all(|b| names.contains(&b.path)));
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn odd_block_sizes_over_several_batches_land_intact() {
    // Blocks of 1,000,003 bytes: no batch starts or ends on a page, so each write has
    // a head and a tail through the cache around its direct middle. One 21 MiB
    // request holds three batches, so the two buffers are reused.
    let mut f = Fixture::new();
    f.opts.whole_blob_range = 64 << 20;
    let len = (21 << 20) + 1234;
    let data = content(len, 9);
    f.store.put("big/odd.bin", data.clone(), false);
    // One bad byte in the second batch, on the first download only.
    *f.store.corrupt_once_at.lock().unwrap() = Some(9_500_000);
    f.inputs.log.push(log_entry("big/odd.bin", len as u64, BlobStatus::BlobRequestFailed, &[]));
    f.add_manifest(manifest_entry("big/odd.bin", &data, 1_000_003, BlobType::Block));
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert!(f.read_file("big/odd.bin").unwrap() == data, "the file differs from the blob");
    assert_eq!(f.store.reads(), 1 + 1, "one request, then the bad block again");
    assert_eq!(s.bytes_fetched, len as u64 + 1_000_003);
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn whole_blob_already_complete_on_the_drive_is_not_downloaded_again() {
    let mut f = Fixture::new();
    let data = content(50_000, 2);
    f.store.put("videos/clip.mp4", data.clone(), false);
    f.write_file("videos/clip.mp4", &data);
    f.inputs.log.push(log_entry("videos/clip.mp4", 50_000, BlobStatus::Failed, &[]));
    f.add_manifest(manifest_entry("videos/clip.mp4", &data, 4096, BlobType::Block));
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.store.reads(), 0);
    assert_eq!(s.components_fetched, 0);
    assert_eq!(f.counts().done, 1);
}

#[tokio::test]
async fn whole_blob_with_bad_bytes_leaves_no_file_and_no_partial() {
    let mut f = Fixture::new();
    let data = content(50_000, 2);
    f.store.put("videos/clip.mp4", data.clone(), false);
    f.store.corrupt.store(true, Ordering::SeqCst);
    f.inputs.log.push(log_entry("videos/clip.mp4", 50_000, BlobStatus::BlobRequestFailed, &[]));
    f.add_manifest(manifest_entry("videos/clip.mp4", &data, 4096, BlobType::Block));
    let s = f.run().await.unwrap();
    assert_eq!(s.issues.len(), 1);
    assert_eq!(s.issues[0].component, Component::File);
    assert!(f.read_file("videos/clip.mp4").is_none());
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn whole_blob_without_manifest_is_checked_piecewise_by_the_service() {
    let mut f = Fixture::new();
    let data = content(9 << 20, 3);
    f.store.put("big/data.bin", data.clone(), false);
    f.store.chunk = 1 << 20;
    f.inputs.log.push(log_entry("big/data.bin", 9 << 20, BlobStatus::Failed, &[]));
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("big/data.bin").unwrap(), data);
    assert_eq!(f.store.reads(), 3, "4 MiB + 4 MiB + 1 MiB, each with the service's MD5");
}

/// A 20 MiB block (legal in newer block blobs) sits in a 24 MiB file.
fn big_block_fixture(with_manifest: bool) -> (Fixture, Vec<u8>) {
    let mut f = Fixture::new();
    f.store.chunk = 1 << 20;
    let data = content(24 << 20, 3);
    f.store.put("big/disk.vhd", data.clone(), false);
    let mut bad = data.clone();
    bad[(1 << 20)..(2 << 20)].fill(0);
    f.write_file("big/disk.vhd", &bad);
    f.inputs.log.push(log_entry("big/disk.vhd", 24 << 20, BlobStatus::CompletedWithErrors, &[(0, 20 << 20)]));
    if with_manifest {
        f.add_manifest(manifest_entry("big/disk.vhd", &data, 20 << 20, BlobType::Block));
    }
    (f, data)
}

#[tokio::test]
async fn a_block_too_big_to_buffer_is_streamed_through_a_spill_file() {
    let (f, data) = big_block_fixture(true);
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert!(f.read_file("big/disk.vhd").unwrap() == data);
    assert_eq!(f.store.reads(), 1);
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn a_big_range_without_hash_is_checked_in_4_mib_pieces() {
    let (f, data) = big_block_fixture(false);
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert!(f.read_file("big/disk.vhd").unwrap() == data);
    assert_eq!(f.store.reads(), 5);
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn a_big_block_with_bad_bytes_is_not_written() {
    let (f, _) = big_block_fixture(true);
    f.store.corrupt.store(true, Ordering::SeqCst);
    let before = f.read_file("big/disk.vhd").unwrap();
    let s = f.run().await.unwrap();
    assert_eq!(s.issues.len(), 1);
    assert!(f.read_file("big/disk.vhd").unwrap() == before);
    assert!(f.partial_files().is_empty());
}

#[tokio::test]
async fn page_blob_fetches_only_its_ranges_and_keeps_zeros_elsewhere() {
    // The shape of redmond.jpg in the published manifest: 15360 bytes, 7680 written.
    let mut f = Fixture::new();
    let data = content(15_360, 4);
    f.store.put("pictures/city/redmond.jpg", data.clone(), true);
    let mut m = manifest_entry("pictures/city/redmond.jpg", &data, 512, BlobType::Page);
    m.ranges = vec![
        Range { offset: 0, length: 3584, hash: Some(Md5::of(&data[0..3584])) },
        Range { offset: 3584, length: 3584, hash: Some(Md5::of(&data[3584..7168])) },
        Range { offset: 7168, length: 512, hash: Some(Md5::of(&data[7168..7680])) },
    ];
    f.add_manifest(m);
    f.inputs.log.push(log_entry("pictures/city/redmond.jpg", 15_360, BlobStatus::IOFailed, &[]));
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    let got = f.read_file("pictures/city/redmond.jpg").unwrap();
    assert_eq!(got.len(), 15_360);
    assert_eq!(&got[..7680], &data[..7680]);
    assert!(got[7680..].iter().all(|&b| b == 0), "bytes outside the ranges stay zeros");
}

#[tokio::test]
async fn blob_changed_after_the_export_is_not_patched() {
    let (f, _) = damaged_block_fixture();
    f.store.set_props("pictures/wild/desert.jpg", |p| p.last_modified = Some("Wed, 01 Jan 2020 10:00:00 GMT".into()));
    let before = f.read_file("pictures/wild/desert.jpg").unwrap();
    let s = f.run().await.unwrap();
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), before);
    assert_eq!(f.store.reads(), 0);
    assert_eq!(s.issues.len(), 1);
    match &s.issues[0].problem {
        Problem::BlobChanged { detail } => {
            assert!(detail.contains("2020") && detail.contains("re-download"), "{detail}")
        }
        p => panic!("expected BlobChanged, got {p:?}"),
    }
}

#[tokio::test]
async fn etag_differing_from_the_drives_properties_file_means_changed() {
    let (f, _) = damaged_block_fixture();
    std::fs::write(
        f.target.join("pictures/wild/desert.jpg.properties"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Properties><Etag>0x8D0BBBB</Etag></Properties>",
    )
    .unwrap();
    let s = f.run().await.unwrap();
    assert!(matches!(&s.issues[0].problem, Problem::BlobChanged { detail } if detail.contains("ETag")));
}

#[tokio::test]
async fn changed_blob_is_fetched_whole_when_asked_and_listed_as_such() {
    let (mut f, _) = damaged_block_fixture();
    let now = content(45_000, 9);
    f.store.put("pictures/wild/desert.jpg", now.clone(), false);
    f.store.set_props("pictures/wild/desert.jpg", |p| p.last_modified = Some("Wed, 01 Jan 2020 10:00:00 GMT".into()));
    f.opts.refetch_changed = true;
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), now);
    assert_eq!(s.regenerated.len(), 1);
    assert!(matches!(&s.regenerated[0].problem, Problem::BlobChanged { .. }));
    assert_eq!(f.counts(), UnitCounts { done: 1, ..Default::default() }, "the range unit was replaced by a whole one");
}

#[tokio::test]
async fn properties_file_is_regenerated_and_reported_as_regenerated() {
    // error-log-export-properties-docs.xml: <BlockList /> and <Properties Status="Failed" />.
    let mut f = Fixture::new();
    let data = content(10_884, 5);
    f.store.put("pictures/wild/canyon.jpg", data.clone(), false);
    f.write_file("pictures/wild/canyon.jpg", &data);
    let mut lb = log_entry("pictures/wild/canyon.jpg", 10_884, BlobStatus::CompletedWithErrors, &[]);
    lb.properties = Some(LogAuxFile { status: FileStatus::Failed, path: None, hash: None });
    f.inputs.log.push(lb);
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(s.components_regenerated, 1);
    assert_eq!(s.regenerated[0].component, Component::Properties);
    let props = f.store.blobs.lock().unwrap()["pictures/wild/canyon.jpg"].props.clone();
    let written = std::fs::read_to_string(f.target.join("pictures/wild/canyon.jpg.properties")).unwrap();
    assert_eq!(written, crate::properties::render_properties(&props));
    assert_eq!(f.read_file("pictures/wild/canyon.jpg").unwrap(), data, "the data file is not touched");
    assert_eq!(f.store.reads(), 0);
}

#[tokio::test]
async fn regenerated_bytes_matching_the_manifest_count_as_verified() {
    let mut f = Fixture::new();
    let data = content(1000, 5);
    f.store.put("c/meta.bin", data.clone(), false);
    f.write_file("c/meta.bin", &data);
    let rendered = crate::properties::render_metadata(&[("camera".into(), "x100".into())]).unwrap();
    let mut m = manifest_entry("c/meta.bin", &data, 1000, BlobType::Block);
    m.metadata = Some(AuxFile { path: "\\c\\meta.bin.metadata".into(), hash: Some(Md5::of(rendered.as_bytes())) });
    f.add_manifest(m);
    let mut lb = log_entry("c/meta.bin", 1000, BlobStatus::CompletedWithErrors, &[]);
    lb.metadata = Some(LogAuxFile { status: FileStatus::XmlWriteFailed, path: None, hash: None });
    f.inputs.log.push(lb);
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty() && s.regenerated.is_empty(), "{s:?}");
    assert_eq!(s.components_fetched, 1);
}

#[tokio::test]
async fn verification_finds_and_repairs_what_the_copy_log_missed() {
    let mut f = Fixture::new();
    let a = content(30_000, 6);
    let b = content(12_000, 7);
    f.store.put("c/a.bin", a.clone(), false);
    f.store.put("c/b.bin", b.clone(), false);
    let mut bad = a.clone();
    bad[25_000] ^= 1;
    f.write_file("c/a.bin", &bad);
    f.add_manifest(manifest_entry("c/a.bin", &a, 10_000, BlobType::Block));
    f.add_manifest(manifest_entry("c/b.bin", &b, 4096, BlobType::Block)); // missing on the drive
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("c/a.bin").unwrap(), a);
    assert_eq!(f.read_file("c/b.bin").unwrap(), b);
    assert_eq!(s.components_fetched, 2);
    assert!(s.components_checked >= 3);
}

#[tokio::test]
async fn a_file_too_short_to_patch_is_fetched_whole() {
    let (f, data) = damaged_block_fixture();
    f.write_file("pictures/wild/desert.jpg", &data[..15_000]);
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), data);
    assert_eq!(f.counts(), UnitCounts { done: 1, ..Default::default() });
}

#[tokio::test]
async fn resume_skips_units_already_done_and_retries_failed_ones() {
    let (mut f, data) = damaged_block_fixture();
    let other = content(20_000, 8);
    let mut other_bad = other.clone();
    other_bad[0..10_000].fill(1);
    f.write_file("c/other.bin", &other_bad);
    f.inputs.log.push(log_entry("c/other.bin", 20_000, BlobStatus::CompletedWithErrors, &[(0, 10_000)]));
    f.add_manifest(manifest_entry("c/other.bin", &other, 10_000, BlobType::Block));

    // First run: c/other.bin is not in the store (404), the other unit is repaired.
    let s = f.run().await.unwrap();
    assert_eq!(s.issues.len(), 1);
    assert!(matches!(&s.issues[0].problem, Problem::FetchFailed { kind: ErrorKind::BlobNotFound, .. }));
    assert_eq!(f.counts(), UnitCounts { done: 1, failed: 1, ..Default::default() });
    let desert_mtime = std::fs::metadata(f.file("pictures/wild/desert.jpg")).unwrap().modified().unwrap();

    // Second run: only the failed unit is fetched.
    f.store.put("c/other.bin", other.clone(), false);
    f.store.reads.store(0, Ordering::SeqCst);
    f.store.property_calls.store(0, Ordering::SeqCst);
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert!(!s.already_complete);
    assert_eq!(f.store.reads(), 1);
    assert_eq!(f.store.property_calls.load(Ordering::SeqCst), 1, "only the blob with work left is asked about");
    assert_eq!(f.read_file("c/other.bin").unwrap(), other);
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), data);
    assert_eq!(std::fs::metadata(f.file("pictures/wild/desert.jpg")).unwrap().modified().unwrap(), desert_mtime);
    assert_eq!(f.counts(), UnitCounts { done: 2, ..Default::default() });
}

#[tokio::test]
async fn a_rerun_after_a_completed_run_is_a_no_op() {
    let (f, _) = damaged_block_fixture();
    f.run().await.unwrap();
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let file = f.file("pictures/wild/desert.jpg");
    let (file_t, rf_t) = (mtime(&file), mtime(&f.opts.repair_file));
    let rf_bytes = std::fs::read(&f.opts.repair_file).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    f.store.reads.store(0, Ordering::SeqCst);
    f.store.property_calls.store(0, Ordering::SeqCst);

    let s = f.run().await.unwrap();
    assert!(s.already_complete);
    assert!(s.issues.is_empty());
    assert_eq!(s.components_fetched, 0);
    assert_eq!(s.plan.ranges, 1);
    assert_eq!(f.store.reads(), 0);
    assert_eq!(f.store.property_calls.load(Ordering::SeqCst), 0);
    assert_eq!(mtime(&file), file_t);
    assert_eq!(mtime(&f.opts.repair_file), rf_t);
    assert_eq!(std::fs::read(&f.opts.repair_file).unwrap(), rf_bytes);
}

#[tokio::test]
async fn cancelling_leaves_pending_units_that_the_next_run_finishes() {
    let mut f = Fixture::new();
    f.opts.concurrency = 1;
    let mut blobs = vec![];
    for i in 0..4u8 {
        let name = format!("c/f{i}.bin");
        let data = content(8000, 10 + i);
        f.store.put(&name, data.clone(), false);
        let mut bad = data.clone();
        bad[100] ^= 0xFF;
        f.write_file(&name, &bad);
        f.inputs.log.push(log_entry(&name, 8000, BlobStatus::CompletedWithErrors, &[(0, 8000)]));
        f.add_manifest(manifest_entry(&name, &data, 8000, BlobType::Block));
        blobs.push((name, data));
    }
    let cancel = CancelToken::new();
    *f.store.cancel_after.lock().unwrap() = Some((1, cancel.clone()));
    let err = f.run_with(&cancel, &RunLog::disabled()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let c = f.counts();
    assert!(c.pending >= 3 && c.failed == 0, "{c:?}");
    assert!(f.partial_files().is_empty());

    *f.store.cancel_after.lock().unwrap() = None;
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    for (name, data) in &blobs {
        assert_eq!(&f.read_file(name).unwrap(), data);
    }
    assert_eq!(f.counts(), UnitCounts { done: 4, ..Default::default() });
}

#[tokio::test]
async fn forbidden_before_anything_was_written_aborts_with_the_drive_untouched() {
    let (f, _) = damaged_block_fixture();
    f.store.forbidden.store(true, Ordering::SeqCst);
    let before = f.read_file("pictures/wild/desert.jpg").unwrap();
    let err = f.run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageForbidden);
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), before);
    assert_eq!(f.counts(), UnitCounts { pending: 1, ..Default::default() }, "not marked failed: the run did not start");
}

#[tokio::test]
async fn transient_failures_and_broken_bodies_are_retried() {
    let mut f = Fixture::new();
    let data = content(50_000, 2);
    f.store.put("videos/clip.mp4", data.clone(), false);
    f.store.transient_failures.store(1, Ordering::SeqCst);
    f.store.broken_bodies.store(2, Ordering::SeqCst);
    f.inputs.log.push(log_entry("videos/clip.mp4", 50_000, BlobStatus::BlobRequestFailed, &[]));
    f.add_manifest(manifest_entry("videos/clip.mp4", &data, 4096, BlobType::Block));
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.read_file("videos/clip.mp4").unwrap(), data);
}

#[tokio::test]
async fn requests_in_flight_are_bounded_by_the_concurrency() {
    let mut f = Fixture::new();
    f.opts.concurrency = 3;
    for i in 0..6u8 {
        let name = format!("c/w{i}.bin");
        let data = content(40_000, i);
        f.store.put(&name, data.clone(), false);
        f.inputs.log.push(log_entry(&name, 40_000, BlobStatus::Failed, &[]));
        f.add_manifest(manifest_entry(&name, &data, 4096, BlobType::Block));
    }
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    assert_eq!(f.store.max_active.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn unsafe_paths_are_refused_and_nothing_is_written_outside_the_target() {
    let mut f = Fixture::new();
    f.store.put("c/escape.txt", content(100, 1), false);
    let mut lb = log_entry("c/escape.txt", 100, BlobStatus::FileNameInvalid, &[]);
    lb.file_path = "\\..\\escape.txt".into();
    f.inputs.log.push(lb);
    let s = f.run().await.unwrap();
    assert_eq!(s.issues.len(), 1);
    assert!(matches!(s.issues[0].problem, Problem::UnsafePath { .. }));
    assert_eq!(s.plan.refused, 1);
    assert!(!f.target.parent().unwrap().join("escape.txt").exists());
    assert_eq!(f.store.reads(), 0);
    // A refused unit stays an issue on every run, but does not keep the run from completing.
    let s = f.run().await.unwrap();
    assert!(s.already_complete);
    assert_eq!(s.issues.len(), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_out_of_the_target_is_not_followed() {
    let mut f = Fixture::new();
    let outside = f.work.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, f.target.join("c")).unwrap();
    f.store.put("c/x.bin", content(100, 1), false);
    f.inputs.log.push(log_entry("c/x.bin", 100, BlobStatus::Failed, &[]));
    let s = f.run().await.unwrap();
    assert_eq!(s.issues.len(), 1);
    assert!(matches!(s.issues[0].problem, Problem::UnsafePath { .. }), "{:?}", s.issues[0].problem);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[tokio::test]
async fn manifest_of_another_drive_is_refused_before_anything_happens() {
    let (mut f, _) = damaged_block_fixture();
    f.inputs.manifest_drive_id = Some("WD-WMATV123456".into());
    let err = f.run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DriveMismatch);
    let msg = err.to_string();
    assert!(msg.contains(DRIVE) && msg.contains("WD-WMATV123456"), "{msg}");
    assert!(!f.opts.repair_file.exists());
}

#[tokio::test]
async fn import_copy_log_is_refused() {
    let (mut f, _) = damaged_block_fixture();
    f.inputs.kind = JobKind::Import;
    assert_eq!(f.run().await.unwrap_err().kind(), ErrorKind::ImportNotSupported);
}

#[tokio::test]
async fn repair_file_of_another_drive_is_refused() {
    let (mut f, _) = damaged_block_fixture();
    drop(RepairFile::open_or_create(&f.opts.repair_file, "OTHERDRIVE", "x", None).unwrap());
    f.inputs.manifest = None;
    let err = f.run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RepairFileMismatch);
    assert!(err.to_string().contains("OTHERDRIVE") && err.to_string().contains(DRIVE));
}

#[tokio::test]
async fn dry_run_plans_without_writing_anything() {
    let (mut f, _) = damaged_block_fixture();
    f.opts.dry_run = true;
    let before = f.read_file("pictures/wild/desert.jpg").unwrap();
    let s = f.run().await.unwrap();
    assert!(s.dry_run);
    assert_eq!((s.plan.ranges, s.plan.bytes, s.plan.files), (1, 10_000, 1));
    assert_eq!(f.store.reads() + f.store.property_calls.load(Ordering::SeqCst), 0);
    assert!(!f.opts.repair_file.exists());
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), before);
}

#[tokio::test]
async fn secrets_in_errors_reach_neither_the_repair_file_nor_the_log_nor_the_summary() {
    let (f, _) = damaged_block_fixture();
    let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq";
    *f.store.leaky_error.lock().unwrap() =
        Some(format!("GET https://acct.blob.core.windows.net/c/x?sv=2020-08-04&sig=SECRETSIG123 with key {key}"));
    let log = RunLog::create(&f.work.join("logs"), DRIVE, vec![Secret::new(key)]).unwrap();
    let s = f.run_with(&CancelToken::new(), &log).await.unwrap();
    assert_eq!(s.issues.len(), 1);
    let summary = serde_json::to_string(&s).unwrap();
    let repair_file = String::from_utf8_lossy(&std::fs::read(&f.opts.repair_file).unwrap()).into_owned();
    let log_text = std::fs::read_to_string(log.path().unwrap()).unwrap();
    for (what, text) in [("summary", &summary), ("repair file", &repair_file), ("log", &log_text)] {
        assert!(!text.contains("SECRETSIG123"), "SAS signature in the {what}");
        assert!(!text.contains(key), "account key in the {what}");
    }
    assert!(log_text.contains("desert.jpg"), "the log says what was worked on");
}

struct Phases(Mutex<Vec<Phase>>);
impl Reporter for Phases {
    fn progress(&self, _: &Progress) {}
    fn event(&self, e: &Event) {
        if let Event::PhaseStarted { phase } = e {
            self.0.lock().unwrap().push(*phase);
        }
    }
}

#[tokio::test]
async fn progress_goes_through_the_phases_in_order() {
    let (f, _) = damaged_block_fixture();
    let phases = Phases(Mutex::new(vec![]));
    let tracker = ProgressTracker::new(&phases, Duration::from_millis(10));
    execute(&f.store, &f.opts, &f.inputs, &tracker, &CancelToken::new(), &RunLog::disabled()).await.unwrap();
    assert_eq!(
        *phases.0.lock().unwrap(),
        vec![Phase::Planning, Phase::Fetching, Phase::Verifying, Phase::Rechecking, Phase::Done]
    );
}

#[test]
fn run_repair_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let opts = RepairOptions::new("/t", "/l", "/r");
    let tracker = ProgressTracker::new(&NoReporter, Duration::from_secs(1));
    let cancel = CancelToken::new();
    let log = RunLog::disabled();
    let fut = run_repair(Arc::new(MemStore::new()), &opts, &tracker, &cancel, &log);
    assert_send(&fut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_a_multi_threaded_runtime() {
    let (f, data) = damaged_block_fixture();
    let s = f.run().await.unwrap();
    assert!(s.issues.is_empty());
    assert_eq!(f.read_file("pictures/wild/desert.jpg").unwrap(), data);
}
