//! `driverepair Verify`: checks a drive against its manifest with no credentials and
//! no network, names each bad file and component, and hands over to `RepairExport
//! /ManifestFile:` for what only the manifest reveals.

mod common;

use common::*;
use std::path::Path;
use testkit::generator::Scale;

/// Runs the binary with no network at all (a fresh network namespace, where even
/// loopback is down) when that is possible (root), so a Verify that tried to reach
/// storage would fail; elsewhere it runs normally.
fn run_without_network(args: &[String], cwd: &Path) -> Run {
    let isolated = std::process::Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !isolated {
        eprintln!("note: `unshare --net` is not available (not root?); Verify runs with the network up");
        return driverepair(args, cwd);
    }
    let mut full = vec!["--net".to_string(), BIN.to_string()];
    full.extend(args.iter().cloned());
    let out = std::process::Command::new("unshare").args(&full).current_dir(cwd).output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn silent_corruption_is_found_offline_by_verify_then_repaired_with_the_manifest() {
    let f = Fixture::online(sample("silent", 31, Scale::Mix), "WD-SILENT01");
    let clip = f.idx("clip.bin");
    f.damage(&[D::CorruptBlock { blob: clip, block: 1 }]);
    let block = f.drive.blobs[clip].entry.ranges[1];

    let report = f.report("verify.json");
    let mut args = f.verify_args();
    args.push(arg("report", &report));
    let run = run_without_network(&args, &f.work);
    run.expect(1).says("1 component(s) do not match the manifest");
    let line = format!(
        r"\silent-videos\clip.bin: block at {} (+{}): the content is damaged",
        block.offset, block.length
    );
    run.says(&line).says("To repair them, run RepairExport");
    let json = read_json(&report);
    assert_eq!((json["command"].as_str(), json["exit_code"].as_i64(), json["outcome"].as_str()), (Some("Verify"), Some(1), Some("still bad")));
    let issue = &json["summary"]["issues"][0];
    assert_eq!(issue["file_path"], r"\silent-videos\clip.bin");
    assert_eq!(issue["component"]["type"], "Block");
    assert_eq!(issue["component"]["offset"], block.offset);
    assert_eq!(issue["problem"]["type"], "HashMismatch");
    assert_eq!(issue["problem"]["expected"], block.hash.unwrap().to_hex());

    // The copy log says all went well; only the manifest knows better.
    let mut repair = f.repair_args_key();
    repair.push(arg("ManifestFile", &f.drive.manifest_path));
    let run = f.run(&repair);
    run.expect(0).says("repaired and verified").says("fetched              1 ");
    assert!(f.drive.blobs[clip].file_matches_truth().unwrap());

    let run = run_without_network(&f.verify_args(), &f.work);
    run.expect(0).says("every component matches the manifest");
}

#[test]
fn verify_names_missing_short_and_damaged_components_of_every_kind_without_storage() {
    // No storage anywhere: the blobs were never uploaded.
    let f = Fixture::offline(sample("kinds", 32, Scale::Mix), "WD-KINDS001");
    let (top, readme, page, unicode, bak) =
        (f.idx("top-level.txt"), f.idx("readme.txt"), f.idx("sparse.vhd"), f.idx("naïve café.txt"), f.idx("db.bak"));
    f.damage(&[
        D::Delete { blob: top },
        D::Truncate { blob: readme, to: 3000 },
        D::CorruptBlock { blob: page, block: 2 },
        D::FailedProperties { blob: unicode },
        D::CorruptBlock { blob: bak, block: 0 },
    ]);
    let report = f.report("kinds.json");
    let mut args = f.verify_args();
    args.push(arg("report", &report));
    let run = run_without_network(&args, &f.work);
    run.expect(1);

    let page_range = f.drive.blobs[page].entry.ranges[2];
    let name = |i: usize| f.drive.blobs[i].file_path.clone();
    let lines = [
        format!("{}: file: the file is missing", name(top)),
        format!("{}: file: the file is too short (3000 of {} bytes)", name(readme), f.drive.blobs[readme].truth.len()),
        format!("{}: page range at {} (+{}): the content is damaged", name(page), page_range.offset, page_range.length),
        // A properties file is named by its data file and the component.
        format!("{}: properties file: the content is damaged", name(unicode)),
        format!("{}: block at 0 (+131072): the content is damaged", name(bak)),
    ];
    for line in &lines {
        run.says(line);
    }
    assert!(run.stdout.contains(r"\$root\kinds-top-level.txt"), "the $root blob is named by its drive path");
    assert!(run.stdout.contains("naïve café.txt"), "unicode names are printed as they are");

    let json = read_json(&report);
    let mut kinds: Vec<(String, String)> = json["summary"]["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["component"]["type"].as_str().unwrap().to_string(), i["problem"]["type"].as_str().unwrap().to_string()))
        .collect();
    kinds.sort();
    let mut want: Vec<(String, String)> = [
        ("Block", "HashMismatch"),
        ("File", "MissingFile"),
        ("File", "ShortFile"),
        ("PageRange", "HashMismatch"),
        ("Properties", "HashMismatch"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    want.sort();
    assert_eq!(kinds, want);
}

#[test]
fn verify_of_a_malformed_manifest_exits_2_naming_file_line_and_column() {
    let f = Fixture::offline(sample("badxml", 33, Scale::Mix), "WD-BADXML01");
    let text = std::fs::read_to_string(&f.drive.manifest_path).unwrap();
    // Break the third line's first closing tag.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.iter().position(|l| l.contains("</BlobPath>")).unwrap();
    lines[n] = lines[n].replace("</BlobPath>", "</BlobPth>");
    std::fs::write(&f.drive.manifest_path, lines.join("\r\n")).unwrap();
    let run = f.run(&f.verify_args());
    run.expect(2);
    let needle = format!("{}:{}:", f.drive.manifest_path.display(), n + 1);
    run.says(&needle);
}

#[test]
fn verify_usage_needs_the_manifest_and_an_existing_folder() {
    let f = Fixture::offline(sample("vusage", 34, Scale::Mix), "WD-VUSAGE01");
    driverepair(&["Verify".to_string(), arg("d", f.root())], &f.work).expect(2).says("/ManifestFile");
    let mut args = f.verify_args();
    args[1] = arg("d", &f.tmp.path().join("no-such-folder"));
    f.run(&args).expect(2).says("does not exist");
}
