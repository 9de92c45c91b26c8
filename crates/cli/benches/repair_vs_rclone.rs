//! Repairing one missing 1 GiB block blob from Azurite with the real `driverepair
//! RepairExport` binary, against `rclone copyto` of the same blob from the same
//! Azurite. Not a timed test: run it by hand or with `.ci/bench`.
//!
//! ```text
//! cargo bench -p driverepair-cli --bench repair_vs_rclone
//! ```
//!
//! Set-up (once, not timed): starts a private Azurite, uploads one block blob
//! (REPAIR_BENCH_MIB, default 1024 MiB, random bytes) with the testkit uploader, writes
//! a drive whose manifest lists it with 4 MiB blocks, deletes the file, and writes a
//! copy log saying the blob failed (`BlobRequestFailed`, no block list).
//!
//! Then, REPAIR_BENCH_RUNS times (default 3), interleaved and alternating which goes
//! first, after one untimed run of each:
//! - ours: `driverepair RepairExport` with a fresh repair file, the copy log and the
//!   manifest. It downloads the blob (4 requests of 256 MiB), checks every block's MD5
//!   against the manifest in the buffers it writes (whole pages with O_DIRECT), fsyncs,
//!   renames it into place and verifies the rest of the drive: the whole command is
//!   timed, process start included.
//! - peer: `rclone copyto az:<container>/<blob> <file>` followed by `sync <file>`
//!   (an fsync of that file), so both sides include durability. rclone 1.60 downloads
//!   a file this big in 4 streams of 256 MiB and then does not check its MD5 ("Src
//!   hash empty - aborting Dst hash check" in its debug log, which the warm-up run
//!   prints); with one stream (`--multi-thread-streams 0`) it does, at about half the
//!   speed. That variant runs too, once per round, for context (not the named peer);
//!   REPAIR_BENCH_CHECKED_PEER=0 leaves it out.
//!
//! Every result is checked (outside the timing) against the blob's MD5. It prints the
//! runs with the CPU time of the processes each side started, the medians, MB/s and
//! the ratio (rclone's median time over ours; the target is at least 1.1x), the load
//! average before and after, and one `BENCH|…` line for `.ci/bench`. Everything it
//! wrote is removed at the end (Azurite's data with it). On a busy machine the wall
//! times follow the CPU time: Azurite serves both sides with the same CPU per byte, so
//! the side that spends less CPU leaves more of the cores to it.
//!
//! REPAIR_BENCH_HOLD=1 stops after the set-up and prints both commands, for profiling
//! by hand; Enter goes on.
//!
//! rclone 1.60 and Azurite: its `use_emulator` option is fixed to
//! `http://127.0.0.1:10000/devstoreaccount1`, and with `account`/`key` it builds
//! `https://<account>.<endpoint>`, so neither reaches an emulator on another port. A
//! container SAS URL does (`sas_url`), and it needs only read and list rights; the
//! remote is configured with environment variables (`RCLONE_CONFIG_AZ_*`), no config file.
//!
//! The binary is the one cargo builds for this benchmark (`CARGO_BIN_EXE_driverepair`,
//! the bench profile, which inherits `release`); DRIVEREPAIR_BIN overrides it.

use engine::model::BlobType;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{driverepair_bin, env_u64, load_average, median};
use testkit::azurite::Azurite;
use testkit::generator::{
    apply_damage, sample_blobs, write_copy_log, write_drive, Damage, GeneratedDrive, Scale, Truth, MIB,
};

const DRIVE_ID: &str = "BENCH-REPAIR-1";
/// rclone's median time over ours.
const TARGET_RATIO: f64 = 1.1;

/// CPU seconds (user + system) of the children waited for so far (Linux; 0 elsewhere).
fn children_cpu() -> f64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage only writes the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) } == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            return secs(u.ru_utime) + secs(u.ru_stime);
        }
    }
    0.0
}

/// One timed run: wall time and the CPU time of the processes it started.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: f64,
}

fn timed(f: impl FnOnce() -> Duration) -> Sample {
    let before = children_cpu();
    let wall = f();
    Sample { wall, cpu: children_cpu() - before }
}

fn remove_if_exists(path: &Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("cannot remove {}: {e}", path.display()),
        _ => {}
    }
}

/// What both sides need.
struct Setup {
    azurite: Azurite,
    drive: GeneratedDrive,
    copy_log: PathBuf,
    work: PathBuf,
    container: String,
    blob_name: String,
    truth: Truth,
}

fn set_up(dir: &Path, bytes: u64) -> Setup {
    let azurite = Azurite::start().expect("Azurite starts (run `npm ci` in crates/testkit)");
    let blobs = sample_blobs(0xB10B, Scale::OneBlob { bytes });
    assert_eq!(blobs[0].blob_type, BlobType::Block);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    let uploaded = rt.block_on(testkit::upload::upload(&azurite.config_with_key(), &blobs)).expect("upload");
    println!("uploaded {} MiB in {:.1} s", bytes / MIB, t.elapsed().as_secs_f64());
    let (container, blob_name) = (blobs[0].container.clone(), blobs[0].name.clone());
    let pairs: Vec<_> = blobs.into_iter().zip(uploaded.iter().cloned()).collect();
    let drive = write_drive(&dir.join("drive"), DRIVE_ID, &pairs).expect("write the drive");
    drop(pairs);
    let damage = [Damage::WholeBlobFailed { blob: 0 }];
    apply_damage(&drive, &damage).expect("delete the file");
    let copy_log = dir.join(format!("{DRIVE_ID}_error.xml"));
    write_copy_log(&copy_log, &drive, &damage, &uploaded).expect("write the copy log");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let truth = drive.blobs[0].truth.clone();
    Setup { azurite, drive, copy_log, work, container, blob_name, truth }
}

/// One timed `driverepair RepairExport`, from a missing file and a fresh repair file.
fn run_ours(s: &Setup, bin: &Path) -> Duration {
    let target = &s.drive.blobs[0].abs_path;
    remove_if_exists(target);
    let repair_file = s.work.join("bench.repair");
    remove_if_exists(&repair_file);
    let logdir = s.work.join("logs");
    let _ = std::fs::remove_dir_all(&logdir);
    std::fs::create_dir_all(&logdir).unwrap();
    let arg = |name: &str, value: &Path| format!("/{name}:{}", value.display());
    let start = Instant::now();
    let out = Command::new(bin)
        .arg("RepairExport")
        .arg(arg("r", &repair_file))
        .arg(arg("d", &s.drive.root))
        .arg(format!("/sn:{}", s.azurite.account()))
        .arg(format!("/sk:{}", s.azurite.key()))
        .arg(arg("CopyLogFile", &s.copy_log))
        .arg(arg("ManifestFile", &s.drive.manifest_path))
        .arg(format!("/BlobEndpoint:{}", s.azurite.endpoint()))
        .arg(arg("logdir", &logdir))
        .stdin(Stdio::null())
        .output()
        .expect("driverepair runs");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "driverepair RepairExport failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.truth.matches_file(target).unwrap(), "the repaired file has the blob's bytes");
    elapsed
}

/// One timed `rclone copyto` plus `sync <file>`; `extra` goes on rclone's command line.
fn run_rclone(s: &Setup, sas_url: &str, extra: &[&str]) -> (Duration, String) {
    let out_file = s.work.join("rclone.bin");
    remove_if_exists(&out_file);
    let start = Instant::now();
    let out = Command::new("rclone")
        .arg("copyto")
        .args(extra)
        .arg(format!("az:{}/{}", s.container, s.blob_name))
        .arg(&out_file)
        .env("RCLONE_CONFIG_AZ_TYPE", "azureblob")
        .env("RCLONE_CONFIG_AZ_SAS_URL", sas_url)
        .stdin(Stdio::null())
        .output()
        .expect("rclone runs");
    assert!(
        out.status.success(),
        "rclone copyto failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let synced = Command::new("sync").arg(&out_file).status().expect("sync runs");
    let elapsed = start.elapsed();
    assert!(synced.success(), "sync {} failed", out_file.display());
    assert!(s.truth.matches_file(&out_file).unwrap(), "rclone's copy has the blob's bytes");
    remove_if_exists(&out_file);
    (elapsed, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// For profiling: prints how to run either side by hand against this set-up and waits
/// for Enter.
fn hold(s: &Setup, bin: &Path, sas_url: &str) {
    let work = s.work.display();
    println!("holding (REPAIR_BENCH_HOLD). Ours (after deleting the target and the repair file):");
    println!("  rm -f {} {work}/bench.repair", s.drive.blobs[0].abs_path.display());
    println!(
        "  {} RepairExport /r:{work}/bench.repair /d:{} /sn:{} /sk:{} /CopyLogFile:{} /ManifestFile:{} \\\n    \
         /BlobEndpoint:{} /logdir:{work}",
        bin.display(),
        s.drive.root.display(),
        s.azurite.account(),
        s.azurite.key(),
        s.copy_log.display(),
        s.drive.manifest_path.display(),
        s.azurite.endpoint(),
    );
    println!("rclone:");
    println!(
        "  RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_SAS_URL='{sas_url}' rclone copyto az:{}/{} {work}/rclone.bin",
        s.container, s.blob_name
    );
    println!("Press Enter to go on.");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn main() {
    let bytes = env_u64("REPAIR_BENCH_MIB").unwrap_or(1024).clamp(16, 4096) * MIB;
    let runs = env_u64("REPAIR_BENCH_RUNS").unwrap_or(3).clamp(1, 15) as usize;
    let bin = driverepair_bin();
    if Command::new("rclone").arg("version").stdout(Stdio::null()).status().map_or(true, |s| !s.success()) {
        println!("repair_vs_rclone: skipped: rclone is not installed (apt install rclone)");
        println!("BENCH|repair 1 GiB blob vs rclone|-|-|-|>= {TARGET_RATIO}x|SKIPPED");
        return;
    }
    let parent = std::env::var_os("REPAIR_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::Builder::new().prefix("repair-bench-").tempdir_in(parent).unwrap();
    println!("repair_vs_rclone: {} MiB block blob, {runs} runs each, {} in {}", bytes / MIB, bin.display(), dir.path().display());
    let load_before = load_average();

    let s = set_up(dir.path(), bytes);
    let sas_url = s.azurite.container_sas_url(
        &s.container,
        "rl",
        time::OffsetDateTime::now_utc() + time::Duration::days(1),
    );

    if std::env::var_os("REPAIR_BENCH_HOLD").is_some() {
        hold(&s, &bin, &sas_url);
    }

    // One untimed run of each: page cache, binaries, Azurite's first reads. rclone's
    // debug log says whether it checked the blob's MD5.
    run_ours(&s, &bin);
    let (_, log) = run_rclone(&s, &sas_url, &["-vv"]);
    for line in log.lines().filter(|l| l.contains("hash") || l.contains("multi-thread copy with")) {
        println!("rclone (warm-up, -vv): {}", line.split(" : ").last().unwrap_or(line));
    }

    // The named peer, and for context rclone in one stream, which checks the MD5.
    let checked_peer = env_u64("REPAIR_BENCH_CHECKED_PEER") != Some(0);
    let ours_run = || timed(|| run_ours(&s, &bin));
    let peer_run = || timed(|| run_rclone(&s, &sas_url, &[]).0);
    let checked_run = || timed(|| run_rclone(&s, &sas_url, &["--multi-thread-streams", "0"]).0);
    let (mut ours, mut peer, mut checked) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        if i % 2 == 0 {
            ours.push(ours_run());
            peer.push(peer_run());
        } else {
            peer.push(peer_run());
            ours.push(ours_run());
        }
        if checked_peer {
            checked.push(checked_run());
        }
    }
    let load_after = load_average();
    let show = |v: &[Sample]| {
        v.iter().map(|s| format!("{:.2}s (cpu {:.2}s)", s.wall.as_secs_f64(), s.cpu)).collect::<Vec<_>>().join(" ")
    };
    println!("driverepair runs:                {}", show(&ours));
    println!("rclone runs:                     {}", show(&peer));
    if checked_peer {
        println!("rclone one stream (MD5) runs:    {}", show(&checked));
    }
    let wall = |v: &[Sample]| median(&v.iter().map(|s| s.wall.as_secs_f64()).collect::<Vec<_>>());
    let cpu = |v: &[Sample]| median(&v.iter().map(|s| s.cpu).collect::<Vec<_>>());
    let (m_ours, m_peer) = (wall(&ours), wall(&peer));
    println!(
        "CPU per run (median, user + system of the processes each side started): driverepair {:.2} s, \
         rclone + sync {:.2} s",
        cpu(&ours),
        cpu(&peer)
    );
    let mbps = |secs: f64| bytes as f64 / secs / 1e6;
    let ratio = m_peer / m_ours;
    println!(
        "driverepair: {m_ours:.2} s ({:.0} MB/s), rclone copyto + sync: {m_peer:.2} s ({:.0} MB/s), \
         ratio {ratio:.2}x (target >= {TARGET_RATIO}x)",
        mbps(m_ours),
        mbps(m_peer)
    );
    // Each pair ran back to back, so its ratio is less exposed to the machine's drift.
    let paired: Vec<f64> = ours.iter().zip(&peer).map(|(o, p)| p.wall.as_secs_f64() / o.wall.as_secs_f64()).collect();
    println!(
        "paired runs: median ratio {:.2}x, ours faster in {} of {}",
        median(&paired),
        paired.iter().filter(|r| **r > 1.0).count(),
        paired.len()
    );
    println!("load average: before {load_before}, after {load_after}");
    println!(
        "BENCH|repair {} MiB blob vs rclone|{:.0} MB/s|{:.0} MB/s|{ratio:.2}x|>= {TARGET_RATIO}x|{}",
        bytes / MIB,
        mbps(m_ours),
        mbps(m_peer),
        if ratio >= TARGET_RATIO { "PASS" } else { "BELOW" }
    );
    if checked_peer {
        let m_checked = wall(&checked);
        println!(
            "for context: rclone --multi-thread-streams 0 (checks the MD5) + sync: {m_checked:.2} s ({:.0} MB/s, cpu {:.2} s)",
            mbps(m_checked),
            cpu(&checked)
        );
        println!(
            "BENCH|repair {} MiB blob vs rclone 1 stream, MD5 checked|{:.0} MB/s|{:.0} MB/s|{:.2}x|(context)|-",
            bytes / MIB,
            mbps(m_ours),
            mbps(m_checked),
            m_checked / m_ours
        );
    }
    // Azurite stops and `dir` is removed here.
}
