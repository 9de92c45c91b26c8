//! Interrupted and disturbed repairs: a SIGKILL in the middle of a download, a network
//! that drops mid-run, and transient service errors. The fault proxy sits between the
//! binary and Azurite; it slows bodies down so that there is a "middle" to hit.
//!
//! Exit codes decided here: a network that drops after the repair has written
//! something ends the run normally once the retries are used up, with the components
//! it could not fetch listed (exit 1, "run the repair again; it resumes where it
//! stopped"); the rerun completes them (exit 0).

mod common;

use common::*;
use std::process::Child;
use std::time::Duration;
use testkit::generator::{Scale, MIB};
use testkit::proxy::{FaultProxy, Faults, Outcome};

fn with_big_blob(tag: &str, seed: u64, bytes: u64) -> Vec<testkit::GenBlob> {
    let mut blobs = sample(tag, seed, Scale::Mix);
    let mut big = sample(tag, seed + 1000, Scale::OneBlob { bytes }).remove(0);
    big.name = "big/whole.bin".into();
    blobs.push(big);
    blobs
}

fn spawn(f: &Fixture, args: &[String]) -> Child {
    command(args, &f.work).spawn().expect("starting driverepair")
}

#[test]
fn sigkill_mid_download_then_resume_gives_a_byte_identical_drive_and_no_temp_files() {
    let f = Fixture::online(with_big_blob("kill", 41, 24 * MIB), "WD-KILL0001");
    let big = f.idx("big/whole.bin");
    f.damage(&[
        D::WholeBlobFailed { blob: big },
        D::FailedBlock { blob: f.idx("wild/desert.jpg"), block: 1 },
        D::FailedBlock { blob: f.idx("clip.bin"), block: 0 },
        D::WholeBlobFailed { blob: f.idx("db.bak") },
        D::CorruptBlock { blob: f.idx("sparse.vhd"), block: 0 },
    ]);
    // 24 MiB at 8 MiB/s: about three seconds of download to interrupt.
    let proxy = FaultProxy::start(
        azurite().socket_addr(),
        Faults { body_bytes_per_second: 8 * MIB, ..Faults::default() },
    )
    .unwrap();
    let mut args = f.repair_args(&format!("/sk:{KEY}"), &proxy.endpoint());
    args.push(arg("ManifestFile", &f.drive.manifest_path));

    let target = f.drive.blobs[big].abs_path.clone();
    let partial = target.with_file_name(".whole.bin.driverepair-partial");
    let mut child = spawn(&f, &args);
    wait_for("the big blob's download to start", Duration::from_secs(60), || partial.exists());
    let forwarded = proxy.body_bytes_forwarded();
    wait_for("a few MiB of it to arrive", Duration::from_secs(60), || proxy.body_bytes_forwarded() > forwarded + 4 * MIB);
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by the signal, not finished");
    assert!(partial.exists(), "the run was killed in the middle of the download");
    assert!(!target.exists(), "nothing half-written in place of the file");

    // The same command, once the network is fast again.
    proxy.set_faults(Faults::default());
    let run = f.run(&args);
    run.expect(0).says("repaired and verified");
    f.assert_all_files_match_truth();
    f.assert_no_temp_files();
    f.run(&f.verify_args()).expect(0);
}

#[test]
fn network_dropping_mid_repair_lists_what_is_left_and_the_rerun_completes_it() {
    // Twenty missing blobs, fetched eight at a time through a slow link.
    let mut blobs = sample("drop", 42, Scale::Mix);
    blobs.retain(|b| b.data.len() < MIB as usize);
    let extra: Vec<_> = (0..20)
        .map(|i| {
            let mut b = sample("drop", 100 + i, Scale::OneBlob { bytes: 256 * 1024 }).remove(0);
            b.container = "drop-many".into();
            b.name = format!("part-{i:02}.bin");
            b
        })
        .collect();
    blobs.extend(extra);
    let f = Fixture::online(blobs, "WD-DROP0001");
    let missing: Vec<usize> = (0..f.blobs.len()).filter(|&i| f.blobs[i].container == "drop-many").collect();
    let damage: Vec<D> = missing.iter().map(|&blob| D::WholeBlobFailed { blob }).collect();
    f.damage(&damage);

    let proxy = FaultProxy::start(
        azurite().socket_addr(),
        Faults { body_bytes_per_second: 512 * 1024, ..Faults::default() },
    )
    .unwrap();
    let report = f.report("drop.json");
    let mut args = f.repair_args(&format!("/sk:{KEY}"), &proxy.endpoint());
    args.push(arg("report", &report));
    let child = spawn(&f, &args);
    let restored = |f: &Fixture| missing.iter().filter(|&&i| f.drive.blobs[i].abs_path.exists()).count();
    wait_for("the first blob to be restored", Duration::from_secs(60), || restored(&f) > 0);
    proxy.set_faults(Faults { refuse_connections: true, ..Faults::default() });
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let done = restored(&f);
    assert!(done < missing.len(), "the drop came too late to test anything ({done} restored)");
    // Each failure says why and what to do.
    run.expect(1).says("still bad").says("Connection refused").says("run the repair again; it resumes where it stopped");
    let issues = report_issues(&read_json(&report));
    assert_eq!(issues.len(), missing.len() - done, "{issues:?}");
    f.assert_no_temp_files();
    for &i in &missing {
        let b = &f.drive.blobs[i];
        assert!(!b.abs_path.exists() || b.file_matches_truth().unwrap(), "{} is whole or absent", b.file_path);
    }

    // The network is back: the same command fetches only what is left.
    proxy.set_faults(Faults::default());
    let before = proxy.request_count();
    f.run(&args).expect(0).says("repaired and verified");
    f.assert_all_files_match_truth();
    let gets = proxy.requests()[before..].iter().filter(|r| r.method == "GET").count();
    assert!(gets <= missing.len() - done + 1, "{gets} downloads for {} blobs left", missing.len() - done);
}

#[test]
fn transient_503s_and_connection_resets_are_retried_without_the_user_noticing() {
    let f = Fixture::online(sample("flaky", 43, Scale::Mix), "WD-FLAKY001");
    f.damage(&[
        D::FailedBlock { blob: f.idx("wild/desert.jpg"), block: 1 },
        D::FailedBlock { blob: f.idx("clip.bin"), block: 0 },
        D::FailedBlock { blob: f.idx("sparse.vhd"), block: 0 },
        D::WholeBlobFailed { blob: f.idx("db.bak") },
        D::WholeBlobFailed { blob: f.idx("readme.txt") },
    ]);
    let proxy = FaultProxy::start(
        azurite().socket_addr(),
        Faults { fail_first: 4, reset_ranged_gets: 3, reset_after_body_bytes: 5_000, ..Faults::default() },
    )
    .unwrap();
    let report = f.report("flaky.json");
    let mut args = f.repair_args(&format!("/sk:{KEY}"), &proxy.endpoint());
    args.push(arg("ManifestFile", &f.drive.manifest_path));
    args.push(arg("report", &report));
    let run = f.run(&args);
    run.expect(0).says("repaired and verified");
    f.assert_all_files_match_truth();
    let seen = proxy.requests();
    assert_eq!(seen.iter().filter(|r| r.outcome == Outcome::Answered503).count(), 4);
    assert_eq!(seen.iter().filter(|r| r.outcome == Outcome::ResetMidBody).count(), 3);
    assert_eq!(read_json(&report)["summary"]["issues"].as_array().unwrap().len(), 0);
    assert!(!run.stdout.contains("still bad"), "{}", run.stdout);
}
