//! Bad usage and bad input: exit code 2, a message that says what is wrong and where,
//! and nothing written. None of these runs gets as far as storage, so the endpoint
//! points at a closed port and no Azurite is started.

mod common;

use common::*;
use engine::copylog::{read_copy_log, CopyLogWriter};
use std::io::BufWriter;
use testkit::generator::Scale;

const NOWHERE: &str = "http://127.0.0.1:9/devstoreaccount1";

fn offline(tag: &str, seed: u64, drive_id: &str) -> Fixture {
    let f = Fixture::offline(sample(tag, seed, Scale::Mix), drive_id);
    f.damage(&[D::FailedBlock { blob: f.idx("clip.bin"), block: 0 }]);
    f
}

fn repair(f: &Fixture) -> Vec<String> {
    let mut args = f.repair_args(&format!("/sk:{KEY}"), NOWHERE);
    args.push(arg("ManifestFile", &f.drive.manifest_path));
    args
}

/// Runs `args` and checks: exit 2, the message, and nothing written anywhere in the
/// fixture (the drive, the copy log, the work folder: no repair file) but the run log,
/// which, when there is one, says why the run stopped.
fn refused(f: &Fixture, args: &[String], message: &str) -> Run {
    let before = tree(f.tmp.path());
    let run = f.run(args);
    run.expect(2).says(message);
    let mut after = tree(f.tmp.path());
    after.retain(|p, _| !p.starts_with("work/logs"));
    after.insert("work".into(), before[std::path::Path::new("work")].clone());
    assert_same_tree(&before, &after, "after a refused run");
    let log = f.logs();
    assert!(log.is_empty() || log.contains(message), "the run log does not say {message:?}:\n{log}");
    run
}

#[test]
fn usage_errors_exit_2_with_the_usage_text() {
    let f = offline("usage", 51, "WD-USAGE001");
    let base = repair(&f);
    let without = |name: &str| -> Vec<String> {
        base.iter().filter(|a| !a.to_lowercase().starts_with(&format!("/{}:", name.to_lowercase()))).cloned().collect()
    };
    let with = |extra: &str| -> Vec<String> { base.iter().cloned().chain([extra.to_string()]).collect() };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "no command given"),
        (vec!["Repair".into()], "unknown command"),
        (without("r"), "RepairExport needs /r:"),
        (without("CopyLogFile"), "RepairExport needs /CopyLogFile:"),
        (without("sk"), "needs /sk:<StorageAccountKey> or /csas:<ContainerSas>"),
        (with("/csas:sv=2022-11-02&sig=abc"), "not both"),
        (with("/bogus:1"), "unknown parameter /bogus"),
        (with("/d:elsewhere"), "given more than once"),
        (with("/DryRun:yes"), "takes no value"),
        (with("loose-word"), "is not a parameter"),
    ];
    for (args, message) in cases {
        let run = refused(&f, &args, message);
        if !message.contains("not both") && !message.contains("needs /sk") {
            // Parser errors come with the usage text.
            run.says("Usage:");
        }
    }
    driverepair(&["--help"], f.tmp.path()).expect(0).says("Exit codes:");
    driverepair(&["--version"], f.tmp.path()).expect(0).says("driverepair ");
}

#[test]
fn missing_target_copy_log_or_manifest_exits_2_naming_the_file() {
    let f = offline("missing", 52, "WD-MISSING1");
    let gone = f.tmp.path().join("gone");
    let mut args = repair(&f);
    args[2] = arg("d", &gone);
    refused(&f, &args, "does not exist");

    let mut args = repair(&f);
    args[5] = arg("CopyLogFile", &gone.join("log.xml"));
    refused(&f, &args, &gone.join("log.xml").display().to_string());

    let mut args = repair(&f);
    *args.last_mut().unwrap() = arg("ManifestFile", &gone.join("x.manifest"));
    refused(&f, &args, &gone.join("x.manifest").display().to_string());

    let mut args = f.verify_args();
    args[2] = arg("ManifestFile", &gone.join("x.manifest"));
    refused(&f, &args, &gone.join("x.manifest").display().to_string());
}

#[test]
fn copy_log_and_manifest_of_different_drives_exit_2_naming_both_ids() {
    let f = offline("mismatch", 53, "WD-MANIFEST");
    // The copy log of another drive, for this drive's manifest.
    let (_, blobs) = read_copy_log(&f.copy_log).unwrap();
    let file = std::fs::File::create(&f.copy_log).unwrap();
    let mut w = CopyLogWriter::new(BufWriter::new(file), "WD-COPYLOGX", Some("2014-11-01")).unwrap();
    for b in &blobs {
        w.write_blob(b).unwrap();
    }
    w.finish(None).unwrap();
    refused(&f, &repair(&f), "drive ID mismatch").says("WD-COPYLOGX").says("WD-MANIFEST");
}

#[test]
fn malformed_copy_log_exits_2_with_file_line_and_column() {
    let f = offline("malformed", 54, "WD-MALFORM1");
    let text = std::fs::read_to_string(&f.copy_log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.iter().position(|l| l.contains("<FilePath>")).unwrap();
    let broken: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| if i == n { l.replace("</FilePath>", "</FileP>") } else { l.to_string() })
        .collect();
    std::fs::write(&f.copy_log, broken.join("\r\n")).unwrap();
    let run = refused(&f, &repair(&f), &format!("{}:{}:", f.copy_log.display(), n + 1));
    // The position points into the broken line, past its indentation.
    let after = run.stderr.split(&format!("{}:{}:", f.copy_log.display(), n + 1)).nth(1).unwrap();
    let column: u64 = after.split(':').next().unwrap().parse().unwrap();
    assert!(column > 1, "{}", run.stderr);
}

#[test]
fn import_copy_log_exits_2_saying_only_export_drives_are_repaired() {
    let f = offline("import", 55, "WD-IMPORT01");
    let (_, mut blobs) = read_copy_log(&f.copy_log).unwrap();
    blobs[0].import_disposition = Some("overwrite".into());
    let file = std::fs::File::create(&f.copy_log).unwrap();
    let mut w = CopyLogWriter::new(BufWriter::new(file), "WD-IMPORT01", Some("2014-11-01")).unwrap();
    for b in &blobs {
        w.write_blob(b).unwrap();
    }
    w.finish(None).unwrap();
    refused(&f, &repair(&f), "is an import copy log").says("export drives only");
}
