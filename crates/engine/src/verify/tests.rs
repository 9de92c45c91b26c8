use super::*;
use crate::model::{AuxFile, BlobRef, BlobType, Component, ManifestBlob, Md5, Problem, Range};
use crate::progress::{Event, NoReporter, Progress, Reporter};
use crate::EngineError;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Deterministic, non-repeating test bytes (so a block at the wrong offset would not match).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `data` at the drive path `file_path` (backslashes) under `root`.
fn put(root: &Path, file_path: &str, data: &[u8]) -> PathBuf {
    let path = file_path
        .split('\\')
        .filter(|p| !p.is_empty())
        .fold(root.to_path_buf(), |p, c| p.join(c));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data).unwrap();
    path
}

fn blob_ref(file_path: &str) -> BlobRef {
    BlobRef { path: format!("container{}", file_path.replace('\\', "/")), snapshot: None }
}

/// A block blob whose blocks of `block` bytes cover `data`, hashed by hand.
fn block_blob(file_path: &str, data: &[u8], block: usize) -> ManifestBlob {
    let ranges = data
        .chunks(block)
        .enumerate()
        .map(|(i, c)| Range { offset: (i * block) as u64, length: c.len() as u64, hash: Some(Md5::of(c)) })
        .collect();
    ManifestBlob {
        blob: blob_ref(file_path),
        file_path: file_path.to_string(),
        length: data.len() as u64,
        blob_type: BlobType::Block,
        ranges,
        properties: None,
        metadata: None,
        line: 1,
    }
}

/// A page blob of `data.len()` bytes listing only the given ranges.
fn page_blob(file_path: &str, data: &[u8], ranges: &[(usize, usize)]) -> ManifestBlob {
    let ranges = ranges
        .iter()
        .map(|&(o, l)| Range { offset: o as u64, length: l as u64, hash: Some(Md5::of(&data[o..o + l])) })
        .collect();
    ManifestBlob { blob_type: BlobType::Page, ranges, ..block_blob(file_path, data, usize::MAX) }
}

fn with_aux(mut blob: ManifestBlob, root: &Path) -> ManifestBlob {
    let props = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Properties><Content-Type>image/jpeg</Content-Type></Properties>";
    let meta = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Metadata><owner>ops</owner></Metadata>";
    let p = format!("{}.properties", blob.file_path);
    let m = format!("{}.metadata", blob.file_path);
    put(root, &p, props);
    put(root, &m, meta);
    blob.properties = Some(AuxFile { path: p, hash: Some(Md5::of(props)) });
    blob.metadata = Some(AuxFile { path: m, hash: Some(Md5::of(meta)) });
    blob
}

fn small_opts() -> VerifyOptions {
    VerifyOptions { threads: 2, chunk_size: 64 << 10 }
}

/// Records issue events and the last progress snapshot.
#[derive(Default)]
struct Recorder {
    issues: Mutex<Vec<ComponentIssue>>,
    last: Mutex<Option<Progress>>,
}

impl Reporter for Recorder {
    fn progress(&self, p: &Progress) {
        *self.last.lock().unwrap() = Some(p.clone());
    }
    fn event(&self, e: &Event) {
        if let Event::Issue { issue } = e {
            self.issues.lock().unwrap().push(issue.clone());
        }
    }
}

fn check(root: &Path, blobs: Vec<ManifestBlob>, opts: &VerifyOptions) -> (VerifyReport, Progress, Vec<ComponentIssue>) {
    let rec = Recorder::default();
    let tracker = ProgressTracker::new(&rec, Duration::from_secs(3600));
    tracker.start_phase(Phase::Verifying, 0, 0);
    let report = verify_blobs(root, "DRIVE1", blobs.into_iter().map(Ok), opts, &tracker, &CancelToken::new())
        .expect("verification runs");
    let last = rec.last.lock().unwrap().clone().expect("a final snapshot");
    let events = rec.issues.lock().unwrap().clone();
    (report, last, events)
}

#[test]
fn all_good_drive_has_no_issues_and_counts_everything() {
    let dir = tempfile::tempdir().unwrap();
    let big = bytes(300_000, 1);
    let page = bytes(64 * 512, 2);
    put(dir.path(), "\\pictures\\big.bin", &big);
    put(dir.path(), "\\disks\\vm.vhd", &page);
    let blobs = vec![
        with_aux(block_blob("\\pictures\\big.bin", &big, 50_000), dir.path()),
        page_blob("\\disks\\vm.vhd", &page, &[(0, 4096), (8192, 1024)]),
    ];
    let (report, last, events) = check(dir.path(), blobs, &small_opts());
    assert!(report.is_clean(), "{:?}", report.issues);
    assert!(events.is_empty());
    assert_eq!(report.drive_id, "DRIVE1");
    assert_eq!(report.blobs, 2);
    assert_eq!(report.components_checked, 6 + 2 + 2);
    let aux_bytes = std::fs::metadata(dir.path().join("pictures/big.bin.properties")).unwrap().len()
        + std::fs::metadata(dir.path().join("pictures/big.bin.metadata")).unwrap().len();
    assert_eq!(report.bytes_checked, 300_000 + 4096 + 1024 + aux_bytes);
    // Totals grew as blobs arrived and the final snapshot is complete.
    assert_eq!((last.components_done, last.components_total), (10, 10));
    assert_eq!((last.bytes_done, last.bytes_total), (305_120, 305_120));
    assert_eq!(last.components_failed, 0);
}

#[test]
fn flipped_byte_reports_exactly_that_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(200_000, 3);
    let path = put(dir.path(), "\\a\\data.bin", &data);
    let mut damaged = data.clone();
    damaged[123_456] ^= 0x40; // inside block 2 (100_000..150_000) of 50_000-byte blocks
    std::fs::write(path, &damaged).unwrap();
    let (report, last, events) = check(dir.path(), vec![block_blob("\\a\\data.bin", &data, 50_000)], &small_opts());
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    let issue = &report.issues[0];
    assert_eq!(issue.component, Component::Block { offset: 100_000, length: 50_000 });
    assert_eq!(issue.file_path, "\\a\\data.bin");
    assert_eq!(
        issue.problem,
        Problem::HashMismatch {
            expected: Md5::of(&data[100_000..150_000]),
            actual: Md5::of(&damaged[100_000..150_000]),
        }
    );
    assert_eq!(events, report.issues);
    assert_eq!(last.components_failed, 1);
}

#[test]
fn missing_file_is_one_issue_for_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(100_000, 4);
    let blob = with_aux(block_blob("\\gone\\file.bin", &data, 10_000), dir.path());
    let (report, last, _) = check(dir.path(), vec![blob], &small_opts());
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(report.issues[0].component, Component::File);
    assert_eq!(report.issues[0].problem, Problem::MissingFile);
    // Its ten blocks are accounted for (failed), its properties and metadata checked.
    assert_eq!(report.components_checked, 12);
    assert_eq!(last.components_failed, 10);
    assert_eq!(last.bytes_done, 100_000);
}

#[test]
fn short_file_folds_the_blocks_past_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(100_000, 5);
    let path = put(dir.path(), "\\short.bin", &data[..35_000]);
    // Damage a block that lies wholly inside the short file: it is still named.
    let mut inside = data[..35_000].to_vec();
    inside[5] ^= 1;
    std::fs::write(&path, &inside).unwrap();
    let (report, last, _) = check(dir.path(), vec![block_blob("\\short.bin", &data, 10_000)], &small_opts());
    assert_eq!(report.issues.len(), 2, "{:?}", report.issues);
    assert_eq!(report.issues[0].component, Component::File);
    assert_eq!(
        report.issues[0].problem,
        Problem::ShortFile { actual_length: 35_000, expected_length: 100_000 }
    );
    assert_eq!(report.issues[1].component, Component::Block { offset: 0, length: 10_000 });
    assert!(matches!(report.issues[1].problem, Problem::HashMismatch { .. }));
    // Blocks 3..10 (7 of them) are folded into the ShortFile issue, plus one damaged block.
    assert_eq!(last.components_failed, 7 + 1);
    assert_eq!(report.components_checked, 10);
    assert_eq!(report.bytes_checked, 30_000);
}

#[test]
fn long_block_blob_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(20_000, 6);
    let mut longer = data.clone();
    longer.extend_from_slice(b"junk");
    put(dir.path(), "\\long.bin", &longer);
    let (report, _, _) = check(dir.path(), vec![block_blob("\\long.bin", &data, 8_000)], &small_opts());
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(report.issues[0].component, Component::File);
    assert_eq!(report.issues[0].problem, Problem::LongFile { actual_length: 20_004, expected_length: 20_000 });
}

#[test]
fn page_blob_bytes_outside_ranges_are_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(16 * 4096, 7);
    let ranges = [(0, 4096), (3 * 4096, 8192), (10 * 4096, 512)];
    let blob = page_blob("\\vhd\\disk.vhd", &data, &ranges);
    // Garbage everywhere outside the ranges.
    let mut on_drive = vec![0xEEu8; data.len()];
    for &(o, l) in &ranges {
        on_drive[o..o + l].copy_from_slice(&data[o..o + l]);
    }
    let path = put(dir.path(), "\\vhd\\disk.vhd", &on_drive);
    let (report, _, _) = check(dir.path(), vec![blob.clone()], &small_opts());
    assert!(report.is_clean(), "{:?}", report.issues);
    assert_eq!(report.bytes_checked, 4096 + 8192 + 512);

    // A page blob file must still have the blob's exact length.
    std::fs::write(&path, &on_drive[..11 * 4096]).unwrap();
    let (report, _, _) = check(dir.path(), vec![blob], &small_opts());
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(
        report.issues[0].problem,
        Problem::ShortFile { actual_length: 11 * 4096, expected_length: 16 * 4096 }
    );
}

#[test]
fn properties_hash_mismatch_names_the_properties_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(5_000, 8);
    put(dir.path(), "\\p.bin", &data);
    let blob = with_aux(block_blob("\\p.bin", &data, 4_000), dir.path());
    std::fs::write(dir.path().join("p.bin.properties"), b"<Properties>changed</Properties>").unwrap();
    let (report, _, _) = check(dir.path(), vec![blob.clone()], &small_opts());
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(report.issues[0].component, Component::Properties);
    assert_eq!(
        report.issues[0].problem,
        Problem::HashMismatch {
            expected: blob.properties.as_ref().unwrap().hash.unwrap(),
            actual: Md5::of(b"<Properties>changed</Properties>"),
        }
    );
}

#[test]
fn unsafe_path_is_reported_and_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    // The file the path escapes to exists and matches: a verifier that followed the
    // path would call it good.
    let data = bytes(1_000, 9);
    put(dir.path(), "\\outside.bin", &data);
    let blob = block_blob("\\..\\outside.bin", &data, 1_000);
    let (report, _, _) = check(&target, vec![blob], &small_opts());
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(report.issues[0].component, Component::File);
    assert!(matches!(report.issues[0].problem, Problem::UnsafePath { .. }));
    assert_eq!(report.bytes_checked, 0);
}

#[test]
fn many_small_files_are_batched_and_all_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut blobs = Vec::new();
    for i in 0..600u64 {
        let data = bytes(10 + (i as usize * 37) % 3_000, 100 + i);
        let name = format!("\\small\\f{i:04}.txt");
        put(dir.path(), &name, &data);
        blobs.push(block_blob(&name, &data, 1_024));
    }
    // Empty files are legal blobs with no blocks.
    put(dir.path(), "\\small\\empty.txt", b"");
    blobs.push(block_blob("\\small\\empty.txt", b"", 1_024));
    // Damage one in the middle.
    let victim = dir.path().join("small").join("f0300.txt");
    let mut v = std::fs::read(&victim).unwrap();
    let last = v.len() - 1;
    v[last] ^= 0xFF;
    std::fs::write(&victim, &v).unwrap();

    let total: u64 = blobs.iter().flat_map(|b| &b.ranges).map(|r| r.length).sum();
    let components: u64 = blobs.iter().map(|b| b.ranges.len() as u64).sum();
    let (report, _, _) = check(dir.path(), blobs, &VerifyOptions { threads: 3, chunk_size: 16 << 10 });
    assert_eq!(report.blobs, 601);
    assert_eq!(report.bytes_checked, total);
    assert_eq!(report.components_checked, components);
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(report.issues[0].file_path, "\\small\\f0300.txt");
    let len = v.len() as u64;
    let offset = (len - 1) / 1024 * 1024;
    assert_eq!(report.issues[0].component, Component::Block { offset, length: len - offset });
}

#[test]
fn blocks_straddling_chunks_and_larger_than_a_chunk_hash_correctly() {
    let dir = tempfile::tempdir().unwrap();
    // Chunk 64 KiB. 40_000-byte blocks never line up with chunk boundaries; 150_000-byte
    // blocks are larger than a chunk and are hashed piece by piece.
    let a = bytes(1_000_003, 10);
    let b = bytes(1_050_000, 11);
    let pa = put(dir.path(), "\\big\\a.bin", &a);
    let pb = put(dir.path(), "\\big\\b.bin", &b);
    let blobs = vec![block_blob("\\big\\a.bin", &a, 40_000), block_blob("\\big\\b.bin", &b, 150_000)];
    let opts = VerifyOptions { threads: 2, chunk_size: 64 << 10 };
    let (report, last, _) = check(dir.path(), blobs.clone(), &opts);
    assert!(report.is_clean(), "{:?}", report.issues);
    assert_eq!(report.bytes_checked, 1_000_003 + 1_050_000);
    assert_eq!(last.bytes_done, 1_000_003 + 1_050_000);

    // One damaged byte in each file: in a small block near a chunk boundary, and in the
    // third 64 KiB piece of a large block.
    let mut da = a.clone();
    da[65_536 * 7 + 1] ^= 1; // block 11 (440_000..480_000)
    std::fs::write(&pa, &da).unwrap();
    let mut db = b.clone();
    db[300_000 + 2 * 65_536 + 17] ^= 1; // block 2 (300_000..450_000)
    std::fs::write(&pb, &db).unwrap();
    let (report, _, _) = check(dir.path(), blobs, &opts);
    let named: Vec<_> = report.issues.iter().map(|i| (i.file_path.as_str(), i.component.clone())).collect();
    assert_eq!(
        named,
        vec![
            ("\\big\\a.bin", Component::Block { offset: 440_000, length: 40_000 }),
            ("\\big\\b.bin", Component::Block { offset: 300_000, length: 150_000 }),
        ]
    );
}

#[test]
fn large_aux_file_and_single_thread_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(70_000, 12);
    put(dir.path(), "\\x.bin", &data);
    let meta = bytes(100_000, 13); // larger than the chunk
    put(dir.path(), "\\x.bin.metadata", &meta);
    let mut blob = block_blob("\\x.bin", &data, 30_000);
    blob.metadata = Some(AuxFile { path: "\\x.bin.metadata".into(), hash: Some(Md5::of(&meta)) });
    let opts = VerifyOptions { threads: 1, chunk_size: 64 << 10 };
    let (report, _, _) = check(dir.path(), vec![blob.clone()], &opts);
    assert!(report.is_clean(), "{:?}", report.issues);
    assert_eq!(report.bytes_checked, 170_000);
    blob.metadata.as_mut().unwrap().hash = Some(Md5::of(b"other"));
    let (report, _, _) = check(dir.path(), vec![blob], &opts);
    assert_eq!(report.issues.len(), 1);
    assert_eq!(report.issues[0].component, Component::Metadata);
}

#[test]
fn issues_come_back_in_manifest_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut blobs = Vec::new();
    for i in 0..40u64 {
        let data = bytes(30_000, 200 + i);
        let name = format!("\\o\\{i:02}.bin");
        let mut damaged = data.clone();
        damaged[0] ^= 1;
        damaged[29_999] ^= 1;
        put(dir.path(), &name, &damaged);
        blobs.push(block_blob(&name, &data, 10_000));
    }
    let (report, _, events) = check(dir.path(), blobs, &VerifyOptions { threads: 4, chunk_size: 16 << 10 });
    let got: Vec<_> = report.issues.iter().map(|i| (i.file_path.clone(), i.component.clone())).collect();
    let want: Vec<_> = (0..40)
        .flat_map(|i| {
            let name = format!("\\o\\{i:02}.bin");
            [
                (name.clone(), Component::Block { offset: 0, length: 10_000 }),
                (name, Component::Block { offset: 20_000, length: 10_000 }),
            ]
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(events.len(), 80);
}

#[test]
fn cancellation_stops_the_run_with_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(50_000, 14);
    put(dir.path(), "\\c.bin", &data);
    let blob = block_blob("\\c.bin", &data, 10_000);
    let tracker = ProgressTracker::new(&NoReporter, Duration::from_secs(3600));

    // Cancelled before the start.
    let cancel = CancelToken::new();
    cancel.cancel();
    let r = verify_blobs(dir.path(), "D", std::iter::once(Ok(blob.clone())), &small_opts(), &tracker, &cancel);
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");

    // Cancelled in the middle of a long manifest: the run stops instead of going on.
    let cancel = CancelToken::new();
    let pulled = std::sync::atomic::AtomicU64::new(0);
    let blobs = std::iter::repeat_with(|| {
        if pulled.fetch_add(1, Ordering::SeqCst) == 50 {
            cancel.cancel();
        }
        Ok(blob.clone())
    })
    .take(100_000);
    let r = verify_blobs(dir.path(), "D", blobs, &small_opts(), &tracker, &cancel);
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    assert!(pulled.load(Ordering::SeqCst) < 100);
}

#[test]
fn malformed_manifest_stops_the_run_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(1_000, 15);
    put(dir.path(), "\\m.bin", &data);
    let blobs = vec![
        Ok(block_blob("\\m.bin", &data, 1_000)),
        Err(EngineError::Malformed {
            file: "x.manifest".into(),
            pos: Default::default(),
            problem: "unexpected end".into(),
        }),
    ];
    let tracker = ProgressTracker::new(&NoReporter, Duration::from_secs(3600));
    let r = verify_blobs(dir.path(), "D", blobs.into_iter(), &small_opts(), &tracker, &CancelToken::new());
    assert!(matches!(r, Err(EngineError::Malformed { .. })), "{r:?}");
}

#[test]
fn directory_in_place_of_file_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("d.bin")).unwrap();
    let blob = block_blob("\\d.bin", &bytes(10, 16), 10);
    let (report, _, _) = check(dir.path(), vec![blob], &small_opts());
    assert_eq!(report.issues.len(), 1);
    assert!(matches!(report.issues[0].problem, Problem::Unreadable { .. }));
}

#[test]
fn report_serializes_for_the_ui() {
    let report = VerifyReport {
        drive_id: "9WM35C3U".into(),
        blobs: 1,
        components_checked: 1,
        bytes_checked: 4,
        issues: vec![ComponentIssue {
            blob: blob_ref("\\a"),
            file_path: "\\a".into(),
            component: Component::File,
            problem: Problem::LongFile { actual_length: 5, expected_length: 4 },
        }],
        elapsed_seconds: 0.5,
    };
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["issues"][0]["problem"]["type"], "LongFile");
    assert_eq!(json["bytes_checked"], 4);
}

#[test]
fn range_past_the_end_of_u64_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(1_000, 17);
    put(dir.path(), "\\o.bin", &data);
    let mut blob = block_blob("\\o.bin", &data, 1_000);
    blob.ranges.push(Range { offset: u64::MAX - 10, length: 100, hash: None });
    blob.ranges.push(Range { offset: 0, length: u64::MAX, hash: None });
    let (report, _, _) = check(dir.path(), vec![blob], &small_opts());
    assert_eq!(report.issues.len(), 2, "{:?}", report.issues);
    assert_eq!(report.issues[0].component, Component::Block { offset: u64::MAX - 10, length: 100 });
    assert_eq!(report.issues[0].problem, Problem::ShortFile { actual_length: 1_000, expected_length: u64::MAX });
}

#[test]
fn pause_holds_the_run_until_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(200_000, 18);
    put(dir.path(), "\\p.bin", &data);
    let blob = block_blob("\\p.bin", &data, 30_000);
    let tracker = ProgressTracker::new(&NoReporter, Duration::from_secs(3600));
    let cancel = CancelToken::new();
    cancel.set_paused(true);
    let resumer = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            cancel.set_paused(false);
        })
    };
    let start = std::time::Instant::now();
    let report = verify_blobs(dir.path(), "D", std::iter::once(Ok(blob)), &small_opts(), &tracker, &cancel).unwrap();
    resumer.join().unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(report.is_clean());
    assert_eq!(report.bytes_checked, 200_000);
}
