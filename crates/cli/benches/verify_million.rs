//! Peak memory and time of the real `driverepair Verify` binary over a drive of
//! 1,000,000 small files, with `md5sum` over the same files for context. Not a timed
//! test: run it by hand or with `.ci/bench`.
//!
//! ```text
//! cargo bench -p driverepair-cli --bench verify_million
//! ```
//!
//! It writes, under a temporary directory (VERIFY_MILLION_DIR, default the system temp
//! dir), a drive of VERIFY_MILLION_BLOBS (default 1,000,000) files of 16 to 255 bytes,
//! a thousand per folder, and its manifest (about 330 bytes per blob) with
//! `testkit::generator::write_big_drive`. Then, VERIFY_MILLION_RUNS times (default 3),
//! interleaved and alternating which goes first, with the data in the page cache:
//! - ours: `driverepair Verify /d:<drive> /ManifestFile:<manifest>`, timed, its peak
//!   resident memory taken from the kernel when it is reaped (`wait4`'s `ru_maxrss`);
//! - peer: `find <drive>/bulk -type f -print0 | xargs -0 md5sum > /dev/null`, timed.
//!
//! The target is a peak RSS under 100 MiB in every run; the time ratio (md5sum's median
//! over ours) is reported for context. Prints the runs, the medians, the load average
//! and `BENCH|…` lines for `.ci/bench`. Everything it wrote is removed at the end.
//!
//! VERIFY_MILLION_HOLD=1 stops after generating the drive and prints the command, for
//! profiling by hand; Enter goes on.
//!
//! The binary is the one cargo builds for this benchmark (`CARGO_BIN_EXE_driverepair`,
//! the bench profile, which inherits `release`); DRIVEREPAIR_BIN overrides it. Linux
//! only (the peak RSS comes from `wait4`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{driverepair_bin, env_u64, load_average, median};

const DRIVE_ID: &str = "BENCH-MILLION-1";
const TARGET_PEAK_MIB: f64 = 100.0;

/// Exit code and peak RSS (MiB) of a finished child, reaped with `wait4`.
fn wait_with_peak_rss(child: std::process::Child) -> (i32, f64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain system call on our own child; rusage is written by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    // The child is reaped; `Child`'s own wait would find nothing, so it is not called.
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    (code, usage.ru_maxrss as f64 / 1024.0) // ru_maxrss is in KiB on Linux
}

/// One timed `driverepair Verify`: (wall time, peak RSS in MiB).
fn run_ours(bin: &Path, root: &Path, manifest: &Path, logdir: &Path) -> (Duration, f64) {
    let out = logdir.join("verify.out");
    let start = Instant::now();
    let child = Command::new(bin)
        .arg("Verify")
        .arg(format!("/d:{}", root.display()))
        .arg(format!("/ManifestFile:{}", manifest.display()))
        .arg(format!("/logdir:{}", logdir.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("driverepair runs");
    let (code, peak) = wait_with_peak_rss(child);
    let elapsed = start.elapsed();
    let printed = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        code == 0 && printed.contains("every component matches"),
        "driverepair Verify failed (exit {code}):\n{printed}"
    );
    (elapsed, peak)
}

/// One timed `find | xargs md5sum`: (wall time, peak RSS of the largest process in MiB).
fn run_md5sum(root: &Path) -> (Duration, f64) {
    let script = "find \"$1\" -type f -print0 | xargs -0 md5sum > /dev/null";
    let start = Instant::now();
    let child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(root.join("bulk"))
        .stdin(Stdio::null())
        .spawn()
        .expect("sh runs");
    let (code, peak) = wait_with_peak_rss(child);
    let elapsed = start.elapsed();
    assert_eq!(code, 0, "find | xargs md5sum failed");
    (elapsed, peak)
}

fn main() {
    let blobs = env_u64("VERIFY_MILLION_BLOBS").unwrap_or(1_000_000).clamp(1000, 5_000_000);
    let runs = env_u64("VERIFY_MILLION_RUNS").unwrap_or(3).clamp(1, 15) as usize;
    let bin = driverepair_bin();
    let parent = std::env::var_os("VERIFY_MILLION_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::Builder::new().prefix("verify-million-").tempdir_in(parent).unwrap();
    println!("verify_million: {blobs} blobs, {runs} runs each, {} in {}", bin.display(), dir.path().display());
    let load_before = load_average();

    let root = dir.path().join("drive");
    let logdir = dir.path().join("logs");
    std::fs::create_dir_all(&logdir).unwrap();
    let t = Instant::now();
    let manifest = testkit::generator::write_big_drive(&root, DRIVE_ID, blobs, true).expect("write the drive");
    println!(
        "generated {blobs} files and a {:.0} MiB manifest in {:.1} s",
        std::fs::metadata(&manifest).unwrap().len() as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );

    if std::env::var_os("VERIFY_MILLION_HOLD").is_some() {
        println!("holding (VERIFY_MILLION_HOLD). Ours:");
        println!("  {} Verify /d:{} /ManifestFile:{} /logdir:{}", bin.display(), root.display(), manifest.display(), logdir.display());
        println!("Press Enter to go on.");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }

    // Warm the page cache (files, manifest, binaries) once, untimed.
    run_md5sum(&root);
    run_ours(&bin, &root, &manifest, &logdir);

    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for i in 0..runs {
        if i % 2 == 0 {
            ours.push(run_ours(&bin, &root, &manifest, &logdir));
            peer.push(run_md5sum(&root));
        } else {
            peer.push(run_md5sum(&root));
            ours.push(run_ours(&bin, &root, &manifest, &logdir));
        }
    }
    let load_after = load_average();
    let show = |v: &[(Duration, f64)]| {
        v.iter().map(|(d, m)| format!("{:.1}s ({m:.1} MiB)", d.as_secs_f64())).collect::<Vec<_>>().join(" ")
    };
    println!("driverepair Verify runs:   {}", show(&ours));
    println!("find | xargs md5sum runs:  {}", show(&peer));
    let secs = |v: &[(Duration, f64)]| median(&v.iter().map(|(d, _)| d.as_secs_f64()).collect::<Vec<_>>());
    let (t_ours, t_peer) = (secs(&ours), secs(&peer));
    let peak = ours.iter().map(|(_, m)| *m).fold(0.0, f64::max);
    let peak_median = median(&ours.iter().map(|(_, m)| *m).collect::<Vec<_>>());
    let ratio = t_peer / t_ours;
    println!(
        "driverepair Verify: {t_ours:.1} s ({:.0} files/s), peak RSS {peak:.1} MiB (median {peak_median:.1}, target < {TARGET_PEAK_MIB} MiB)",
        blobs as f64 / t_ours
    );
    println!("md5sum over the same files: {t_peer:.1} s ({:.0} files/s); time ratio {ratio:.2}x", blobs as f64 / t_peer);
    println!("load average: before {load_before}, after {load_after}");
    println!(
        "BENCH|verify {blobs} blobs: peak RSS|{peak:.1} MiB|-|-|< {TARGET_PEAK_MIB} MiB|{}",
        if peak < TARGET_PEAK_MIB { "PASS" } else { "BELOW" }
    );
    println!("BENCH|verify {blobs} blobs: time vs md5sum|{t_ours:.1} s|{t_peer:.1} s|{ratio:.2}x|(context)|-");
    let t = Instant::now();
    drop(dir);
    println!("removed the drive in {:.1} s", t.elapsed().as_secs_f64());
}
