//! `driverepair RepairExport` against a real Azurite: full repairs with the account key
//! and with a container SAS in its three written forms, a rerun after success, and
//! `/DryRun`. The sample drive holds a sparse page blob, a snapshot, a `$root` blob, a
//! unicode name with spaces and an empty blob.

mod common;

use common::*;
use testkit::generator::Scale;
use time::OffsetDateTime;

/// Failed blocks (block and page blob), a whole blob that failed (a snapshot), a failed
/// properties file, and silent damage only the manifest reveals (a flipped block, a
/// truncated file, a deleted `$root` file).
fn damaged_mix(f: &Fixture) -> Vec<D> {
    vec![
        D::FailedBlock { blob: f.idx("wild/desert.jpg"), block: 1 },
        D::FailedBlock { blob: f.idx("sparse.vhd"), block: 2 },
        D::WholeBlobFailed { blob: f.idx("db.bak") },
        D::FailedProperties { blob: f.idx("naïve café.txt") },
        D::CorruptBlock { blob: f.idx("clip.bin"), block: 1 },
        D::Truncate { blob: f.idx("readme.txt"), to: 100 },
        D::Delete { blob: f.idx("top-level.txt") },
    ]
}

#[test]
fn account_key_with_manifest_repairs_every_damaged_file_and_reports_it() {
    let f = Fixture::online(sample("key", 11, Scale::Mix), "WD-KEY0001");
    f.damage(&damaged_mix(&f));
    let unicode_props = f.file("naïve café.txt").properties_abs_path.clone();
    let report = f.report("summary.json");

    let mut args = f.repair_args_key();
    args.push(arg("ManifestFile", &f.drive.manifest_path));
    args.push(arg("report", &report));
    let run = f.run(&args);
    run.expect(0).says("Drive WD-KEY0001: repaired and verified.");
    // Regression: the repair announced the verification phase, then the verifier again.
    assert_eq!(run.stderr.matches("Verifying the drive against its manifest").count(), 1, "{}", run.stderr);

    f.assert_all_files_match_truth();
    f.assert_no_temp_files();
    // The page blob keeps its length and its zeros between the ranges.
    let page = f.file("sparse.vhd");
    assert_eq!(std::fs::metadata(&page.abs_path).unwrap().len(), 8 << 20);
    // The snapshot's bytes, not the base blob's (which changed after the snapshot).
    assert!(f.file("db.bak").file_matches_truth().unwrap());
    // The regenerated properties file has exactly the bytes the manifest hashed, so
    // it counts as verified rather than as a warning.
    assert_eq!(std::fs::read(&unicode_props).unwrap(), f.file("naïve café.txt").properties_bytes);

    let json = read_json(&report);
    assert_eq!(json["command"], "RepairExport");
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["outcome"], "repaired");
    let s = &json["summary"];
    assert_eq!(s["drive_id"], "WD-KEY0001");
    assert_eq!(s["issues"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["dry_run"], false);
    assert_eq!(s["already_complete"], false);
    // desert block, page range, db.bak, properties, clip block, readme and top-level whole.
    assert!(s["components_fetched"].as_u64().unwrap() >= 7, "{s}");
    let clip_block = f.file("clip.bin").entry.ranges[1].length;
    assert!(s["bytes_fetched"].as_u64().unwrap() > clip_block, "clip's block at least: {s}");
    let log_file = json["log_file"].as_str().expect("the report names the log");
    assert!(std::path::Path::new(log_file).starts_with(f.log_dir()), "{log_file}");

    let log = std::fs::read_to_string(log_file).unwrap();
    assert!(log.contains("fetched, verified and written"), "{log}");
    assert!(log.contains("clip.bin"), "the silently corrupted file is in the log:\n{log}");
    for text in [&log, &run.stdout, &run.stderr, &std::fs::read_to_string(&report).unwrap()] {
        assert!(!text.contains(KEY), "the account key leaked");
    }

    f.run(&f.verify_args()).expect(0).says("every component matches the manifest");
}

#[test]
fn rerun_after_success_changes_nothing_and_says_there_is_nothing_to_do() {
    let f = Fixture::online(sample("rerun", 12, Scale::Mix), "WD-RERUN001");
    f.damage(&damaged_mix(&f));
    let mut args = f.repair_args_key();
    args.push(arg("ManifestFile", &f.drive.manifest_path));
    f.run(&args).expect(0);

    // Whole seconds apart, so that any rewrite would show in the modification times.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let drive_before = tree(f.root());
    let repair_before = tree(&f.work);

    let run = f.run(&args);
    run.expect(0).says("nothing to do");
    assert!(!run.stdout.contains("WD-RERUN001: repaired"), "{}", run.stdout);
    assert!(run.stdout.contains("fetched              0 (0 B)"), "{}", run.stdout);

    assert_same_tree(&drive_before, &tree(f.root()), "the drive after a rerun");
    // The repair file is untouched; the only new thing in the work folder is this run's log.
    let mut repair_after = tree(&f.work);
    let new_logs: Vec<_> = repair_after
        .keys()
        .filter(|p| !repair_before.contains_key(*p))
        .cloned()
        .collect();
    assert_eq!(new_logs.len(), 1, "one new run log: {new_logs:?}");
    assert!(new_logs[0].starts_with("logs"), "{new_logs:?}");
    repair_after.remove(&new_logs[0]);
    repair_after.remove(std::path::Path::new("logs"));
    let mut repair_before = repair_before;
    repair_before.remove(std::path::Path::new("logs"));
    assert_same_tree(&repair_before, &repair_after, "the repair file after a rerun");
}

#[test]
fn container_sas_as_query_with_or_without_question_mark_or_as_url_repairs_the_drive() {
    // A container SAS opens one container, so this drive's blobs all live in one.
    let container = "sas-all-in-one";
    let blobs = sample_in_one_container(container, 13);
    let uploaded = upload(&blobs);
    let expiry = OffsetDateTime::now_utc() + time::Duration::hours(2);
    let az = azurite();
    let query = az.container_sas(container, "rl", expiry);
    let forms = [
        ("bare query", query.clone()),
        ("query with ?", format!("?{query}")),
        ("container URL", az.container_sas_url(container, "rl", expiry)),
    ];
    for (form, sas) in forms {
        let f = Fixture::with(blobs.clone(), uploaded.clone(), "WD-SAS0001");
        // Without a manifest: only what the copy log lists is repaired.
        f.damage(&[
            D::FailedBlock { blob: f.idx("wild/desert.jpg"), block: 0 },
            D::FailedBlock { blob: f.idx("sparse.vhd"), block: 0 },
            D::WholeBlobFailed { blob: f.idx("db.bak") },
            D::WholeBlobFailed { blob: f.idx("top-level.txt") },
            D::FailedProperties { blob: f.idx("naïve café.txt") },
        ]);
        let report = f.report("sas.json");
        let mut args = f.repair_args(&format!("/csas:{sas}"), &az.endpoint());
        args.push(arg("report", &report));
        let run = f.run(&args);
        assert_eq!(run.code, Some(0), "SAS as {form}:\n{}\n{}", run.stdout, run.stderr);
        f.assert_all_files_match_truth();
        f.assert_no_temp_files();

        // Without the manifest the regenerated properties file cannot be checked: a warning, not a failure.
        run.says("Regenerated (warnings").says("naïve café.txt.properties");
        let json = read_json(&report);
        assert_eq!(json["outcome"], "repaired", "{form}");
        let regenerated = json["summary"]["regenerated"].as_array().unwrap();
        assert_eq!(regenerated.len(), 1, "{form}: {regenerated:?}");
        assert_eq!(regenerated[0]["component"]["type"], "Properties");
        assert_eq!(regenerated[0]["problem"]["type"], "Regenerated");
        let props = engine::properties::parse_properties(&f.file("naïve café.txt").properties_abs_path).unwrap();
        assert_eq!(props.length, f.file("naïve café.txt").truth.len());

        let signature = query.split('&').find(|p| p.starts_with("sig=")).unwrap();
        for text in [run.out(), f.logs(), std::fs::read_to_string(&report).unwrap()] {
            assert!(!text.contains(signature), "SAS as {form}: the signature leaked");
        }
    }
}

#[test]
fn container_sas_on_a_drive_spanning_other_containers_is_refused_before_writing() {
    // The sample drive spans several containers; a container SAS opens only one. The
    // first blob outside it ends the run before anything is written (exit 3), and the
    // message names the SAS's container: the user needs a SAS per container, or the key.
    let f = Fixture::online(sample("sasx", 14, Scale::Mix), "WD-SASX001");
    f.damage(&[
        D::FailedBlock { blob: f.idx("wild/desert.jpg"), block: 1 },
        D::WholeBlobFailed { blob: f.idx("db.bak") },
    ]);
    let az = azurite();
    let expiry = OffsetDateTime::now_utc() + time::Duration::hours(2);
    let sas = az.container_sas_url("sasx-pictures", "rl", expiry);
    let before = tree(f.root());
    let run = f.run(&f.repair_args(&format!("/csas:{sas}"), &az.endpoint()));
    run.expect(3).says("blob access forbidden").says("sasx-pictures");
    assert_same_tree(&before, &tree(f.root()), "the drive after a refused SAS");
}

#[test]
fn dry_run_shows_the_plan_and_writes_nothing_not_even_the_repair_file() {
    let f = Fixture::online(sample("dry", 15, Scale::Mix), "WD-DRY0001");
    f.damage(&damaged_mix(&f));
    let before = tree(f.tmp.path());
    let mut args = f.repair_args_key();
    args.push(arg("ManifestFile", &f.drive.manifest_path));
    args.push("/DryRun".into());
    let run = f.run(&args);
    run.expect(0).says("repair plan (nothing was written)");
    // desert.jpg, sparse.vhd, db.bak, the unicode file's properties, clip.bin, readme.txt, top-level.txt.
    assert!(run.stdout.contains("files                7"), "{}", run.stdout);
    assert_same_tree(&before, &tree(f.tmp.path()), "everything after a dry run");
    assert!(!f.repair_file().exists());

    // Then the real run does what was planned.
    args.pop();
    f.run(&args).expect(0);
    f.assert_all_files_match_truth();
}
