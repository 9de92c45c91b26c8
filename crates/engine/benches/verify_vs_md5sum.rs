//! Throughput of the verifier against single-threaded `md5sum` over the same files,
//! with the data in the page cache. Not a timed test: run it by hand.
//!
//! ```text
//! cargo bench -p driverepair-engine --bench verify_vs_md5sum
//! ```
//!
//! It generates a drive of a few big files and many small ones (VERIFY_BENCH_MIB, at
//! least 2048 MiB by default) with a manifest of 4 MiB blocks in the service's XML
//! shape under a temporary directory (VERIFY_BENCH_DIR, default the system temp dir),
//! warms the page cache, then times, three times each and interleaved: `md5sum` over
//! all files, the hashing engine fed hand-built blobs (`verify_blobs`), and the whole
//! `verify_drive` with the manifest parser. It prints medians and the ratio to md5sum
//! (the target is at least 1.5x), then the peak memory of a streaming run over
//! 1,000,000 blobs, the load average, and `BENCH|…` lines for `.ci/bench`.
//! Everything it wrote is removed at the end.
//!
//! VERIFY_BENCH_THREADS and VERIFY_BENCH_CHUNK_MIB override the verifier's options;
//! VERIFY_BENCH_MILLION=0 skips the 1,000,000-blob memory run. The size is clamped
//! to 64..=3072 MiB (below 2048 only for quick tuning runs).

use engine::model::{BlobRef, BlobType, ManifestBlob, Md5, Range};
use engine::progress::{CancelToken, NoReporter, Phase, ProgressTracker};
use engine::verify::{verify_blobs, verify_drive, VerifyOptions};
use md5::Digest;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
const BLOCK: u64 = 4 * MIB;
const RUNS: usize = 3;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Fast deterministic filler (xorshift64*), so generating gigabytes costs little.
struct Filler(u64);

impl Filler {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

struct Drive {
    root: PathBuf,
    manifest: PathBuf,
    files: Vec<PathBuf>,
    blobs: Vec<ManifestBlob>,
    bytes: u64,
}

/// Writes one file of `len` bytes and returns its blob with 4 MiB blocks.
fn write_file(root: &Path, name: &str, len: u64, filler: &mut Filler, buf: &mut [u8]) -> (PathBuf, ManifestBlob) {
    let path = root.join("bench").join(name);
    let mut out = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(&path).unwrap());
    let mut ranges = Vec::new();
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(BLOCK);
        let block = &mut buf[..n as usize];
        filler.fill(block);
        out.write_all(block).unwrap();
        ranges.push(Range { offset, length: n, hash: Some(Md5(md5::Md5::digest(&*block).into())) });
        offset += n;
    }
    out.flush().unwrap();
    let blob = ManifestBlob {
        blob: BlobRef { path: format!("bench/{name}"), snapshot: None },
        file_path: format!("\\bench\\{name}"),
        length: len,
        blob_type: BlobType::Block,
        ranges,
        properties: None,
        metadata: None,
        line: 0,
    };
    (path, blob)
}

/// A drive manifest in the shape the service writes (FORMATS.md §1), including its
/// CRLF line ends and byte-order mark.
fn write_manifest(path: &Path, drive_id: &str, blobs: &[ManifestBlob]) {
    let mut x = String::from("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n");
    x += "<DriveManifest Version=\"2014-11-01\">\r\n  <Drive>\r\n";
    let _ = write!(x, "    <DriveId>{drive_id}</DriveId>\r\n    <ClientCreator>verify_vs_md5sum</ClientCreator>\r\n");
    x += "    <BlobList>\r\n";
    for b in blobs {
        let _ = write!(
            x,
            "      <Blob>\r\n        <BlobPath>{}</BlobPath>\r\n        <FilePath>{}</FilePath>\r\n        <Length>{}</Length>\r\n        <BlockList>\r\n",
            b.blob.path, b.file_path, b.length
        );
        for r in &b.ranges {
            let _ = write!(
                x,
                "          <Block Offset=\"{}\" Length=\"{}\" Hash=\"{}\" />\r\n",
                r.offset,
                r.length,
                r.hash.unwrap()
            );
        }
        x += "        </BlockList>\r\n      </Blob>\r\n";
    }
    x += "    </BlobList>\r\n  </Drive>\r\n</DriveManifest>\r\n";
    std::fs::write(path, x).unwrap();
}

fn generate(root: &Path, total_mib: u64) -> Drive {
    std::fs::create_dir_all(root.join("bench")).unwrap();
    let total = total_mib * MIB;
    let big_count = 4;
    // 7/8 of the bytes in a few big files, the rest in many small ones (1 KiB..256 KiB).
    let big_len = total * 7 / 8 / big_count;
    let mut filler = Filler(0x1234_5678_9ABC_DEF1);
    let mut buf = vec![0u8; BLOCK as usize];
    let (mut files, mut blobs, mut bytes) = (Vec::new(), Vec::new(), 0);
    for i in 0..big_count {
        // Not a multiple of the block size: the last block is short.
        let (path, blob) = write_file(root, &format!("big{i}.bin"), big_len + 12_345 * i, &mut filler, &mut buf);
        bytes += blob.length;
        files.push(path);
        blobs.push(blob);
    }
    let mut i = 0;
    while bytes < total {
        filler.fill(&mut buf[..8]);
        let len = 1024 + u64::from_le_bytes(buf[..8].try_into().unwrap()) % (255 * 1024);
        let (path, blob) = write_file(root, &format!("small{i:05}.dat"), len, &mut filler, &mut buf);
        bytes += blob.length;
        files.push(path);
        blobs.push(blob);
        i += 1;
    }
    let manifest = root.join("BENCH0001.manifest");
    write_manifest(&manifest, "BENCH0001", &blobs);
    Drive { root: root.to_path_buf(), manifest, files, blobs, bytes }
}

/// MB/s of the median wall time.
fn rate(bytes: u64, samples: &[Sample]) -> f64 {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    bytes as f64 / walls[walls.len() / 2].as_secs_f64() / 1e6
}

/// Median CPU seconds per 10^9 bytes.
fn cpu_per_gb(bytes: u64, samples: &[Sample]) -> f64 {
    let mut cpu: Vec<f64> = samples.iter().map(|s| s.cpu).collect();
    cpu.sort_by(f64::total_cmp);
    cpu[cpu.len() / 2] / (bytes as f64 / 1e9)
}

/// CPU seconds used so far by this process (all threads) and by its waited-for
/// children, from /proc/self/stat (Linux; zero elsewhere). On a shared machine the
/// CPU time per byte is steadier than the wall time.
fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return (0.0, 0.0) };
    let Some((_, rest)) = stat.rsplit_once(')') else { return (0.0, 0.0) };
    // Fields after the command name start at field 3 (state); utime is field 14.
    let f: Vec<f64> = rest.split_whitespace().skip(11).take(4).filter_map(|v| v.parse().ok()).collect();
    if f.len() < 4 {
        return (0.0, 0.0);
    }
    let tick = 100.0; // USER_HZ on Linux
    ((f[0] + f[1]) / tick, (f[2] + f[3]) / tick)
}

/// One timed run: wall time and CPU time.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: f64,
}

fn timed(own_cpu: bool, f: impl FnOnce()) -> Sample {
    let (self0, child0) = cpu_seconds();
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    let (self1, child1) = cpu_seconds();
    Sample { wall, cpu: if own_cpu { self1 - self0 } else { child1 - child0 } }
}

fn time_md5sum(files: &[PathBuf]) {
    let status = Command::new("md5sum")
        .args(files)
        .stdout(Stdio::null())
        .status()
        .expect("md5sum runs");
    assert!(status.success(), "md5sum failed");
}

fn time_engine(drive: &Drive, opts: &VerifyOptions) {
    let tracker = ProgressTracker::new(&NoReporter, Duration::from_millis(250));
    tracker.start_phase(Phase::Verifying, 0, 0);
    let blobs = drive.blobs.iter().cloned().map(Ok);
    let report = verify_blobs(&drive.root, "BENCH0001", blobs, opts, &tracker, &CancelToken::new()).unwrap();
    assert!(report.is_clean(), "the generated drive must verify clean: {:?}", &report.issues[..1]);
    assert_eq!(report.bytes_checked, drive.bytes);
}

fn time_verify_drive(drive: &Drive, opts: &VerifyOptions) -> Result<Duration, String> {
    let tracker = ProgressTracker::new(&NoReporter, Duration::from_millis(250));
    let start = Instant::now();
    let report = verify_drive(&drive.root, &drive.manifest, opts, &tracker, &CancelToken::new())
        .map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    assert!(report.is_clean(), "the generated drive must verify clean: {:?}", &report.issues[..1]);
    assert_eq!(report.bytes_checked, drive.bytes);
    Ok(elapsed)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Streams 1,000,000 blobs (all naming one small file, so no disk space is needed)
/// through the verifier and reports the peak RSS. Runs first, so that the peak is its own.
fn million_blobs(root: &Path, opts: &VerifyOptions) {
    let data = vec![7u8; 4096];
    std::fs::create_dir_all(root.join("m")).unwrap();
    std::fs::write(root.join("m").join("one.bin"), &data).unwrap();
    let hash = Some(Md5(md5::Md5::digest(&data).into()));
    let blobs = (0..1_000_000u64).map(|i| {
        Ok(ManifestBlob {
            blob: BlobRef { path: format!("m/{i}"), snapshot: None },
            file_path: "\\m\\one.bin".into(),
            length: 4096,
            blob_type: BlobType::Block,
            ranges: vec![Range { offset: 0, length: 4096, hash }],
            properties: None,
            metadata: None,
            line: i,
        })
    });
    let before = peak_rss_mib();
    let tracker = ProgressTracker::new(&NoReporter, Duration::from_millis(250));
    let start = Instant::now();
    let report = verify_blobs(root, "M", blobs, opts, &tracker, &CancelToken::new()).unwrap();
    assert!(report.is_clean() && report.blobs == 1_000_000);
    println!(
        "1,000,000 blobs streamed in {:.1} s ({:.0} files/s); peak RSS {:.1} MiB (before: {:.1} MiB)",
        start.elapsed().as_secs_f64(),
        1e6 / start.elapsed().as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN),
        before.unwrap_or(f64::NAN),
    );
}

fn main() {
    let defaults = VerifyOptions::default();
    let opts = VerifyOptions {
        threads: env_u64("VERIFY_BENCH_THREADS").map_or(defaults.threads, |t| t as usize),
        chunk_size: env_u64("VERIFY_BENCH_CHUNK_MIB").map_or(defaults.chunk_size, |c| (c * MIB) as usize),
    };
    let total_mib = env_u64("VERIFY_BENCH_MIB").unwrap_or(2048).clamp(64, 3072);
    let parent = std::env::var_os("VERIFY_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::Builder::new().prefix("verify-bench-").tempdir_in(parent).unwrap();
    println!(
        "verify_vs_md5sum: {total_mib} MiB, {} hashing threads, {} MiB chunks, in {}",
        opts.threads,
        opts.chunk_size as u64 / MIB,
        dir.path().display()
    );

    if env_u64("VERIFY_BENCH_MILLION") != Some(0) {
        million_blobs(dir.path(), &opts);
    }

    let t = Instant::now();
    let drive = generate(dir.path(), total_mib);
    println!(
        "generated {} files, {:.0} MiB, manifest {:.1} MiB, in {:.1} s",
        drive.files.len(),
        drive.bytes as f64 / MIB as f64,
        std::fs::metadata(&drive.manifest).unwrap().len() as f64 / MIB as f64,
        t.elapsed().as_secs_f64()
    );

    // Warm the page cache (and md5sum's binary).
    time_md5sum(&drive.files);

    let (mut md5sum, mut engine, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    let mut parser_missing = None;
    for _ in 0..RUNS {
        md5sum.push(timed(false, || {
            time_md5sum(&drive.files);
        }));
        engine.push(timed(true, || {
            time_engine(&drive, &opts);
        }));
        let mut outcome = Ok(Duration::ZERO);
        let sample = timed(true, || outcome = time_verify_drive(&drive, &opts));
        match outcome {
            Ok(_) => whole.push(sample),
            Err(e) => parser_missing = Some(e),
        }
    }
    let show = |v: &[Sample]| {
        v.iter().map(|s| format!("{:.2}s (cpu {:.2}s)", s.wall.as_secs_f64(), s.cpu)).collect::<Vec<_>>().join(" ")
    };
    println!("md5sum runs:       {}", show(&md5sum));
    println!("verify_blobs runs: {}", show(&engine));
    println!("verify_drive runs: {}", show(&whole));
    let md5sum_rate = rate(drive.bytes, &md5sum);
    let engine_rate = rate(drive.bytes, &engine);
    println!(
        "CPU per GB: md5sum {:.2} s, verify_blobs {:.2} s (the verifier's hashing and reading, summed over threads)",
        cpu_per_gb(drive.bytes, &md5sum),
        cpu_per_gb(drive.bytes, &engine)
    );
    println!(
        "engine (verify_blobs): {engine_rate:.0} MB/s, md5sum: {md5sum_rate:.0} MB/s, ratio {:.2}x (target >= 1.5x)",
        engine_rate / md5sum_rate
    );
    // One line per result for `.ci/bench`: name|ours|peer|ratio|target|verdict.
    let bench_line = |name: &str, ours: f64| {
        let ratio = ours / md5sum_rate;
        let verdict = if ratio >= 1.5 { "PASS" } else { "BELOW" };
        println!("BENCH|{name}|{ours:.0} MB/s|{md5sum_rate:.0} MB/s|{ratio:.2}x|>= 1.5x|{verdict}");
    };
    println!("load average: {}", load_average());
    bench_line(&format!("verify_blobs {total_mib} MiB vs md5sum"), engine_rate);
    match parser_missing {
        None => {
            let r = rate(drive.bytes, &whole);
            println!("verify: {r:.0} MB/s, md5sum: {md5sum_rate:.0} MB/s, ratio {:.2}x (target >= 1.5x)", r / md5sum_rate);
            bench_line(&format!("verify_drive {total_mib} MiB vs md5sum"), r);
        }
        Some(e) => println!("verify (verify_drive with the manifest parser): skipped: {e}"),
    }
    // `dir` is removed here.
}
