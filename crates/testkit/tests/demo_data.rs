//! The demo-data generator against a real Azurite: two damaged drives of different
//! drive IDs, their copy logs on disk and in the `waimportexport` container, and a
//! `demo.json` the desktop app's demo mode can read. Running it twice works.

use engine::blobstore::azure::AzureBlobStore;
use engine::blobstore::BlobStore;
use engine::model::{BlobRef, Problem};
use engine::progress::{CancelToken, NoReporter, ProgressTracker};
use engine::verify::{verify_drive, VerifyOptions};
use std::path::Path;
use std::time::Duration;
use testkit::azurite::Azurite;

fn generate(endpoint: &str, out: &Path) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_driverepair-demo-data"))
        .args(["--endpoint", endpoint, "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "driverepair-demo-data failed: {status}");
}

#[test]
fn demo_data_has_two_damaged_drives_their_copy_logs_and_a_description() {
    let azurite = Azurite::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    generate(&azurite.endpoint(), &out);
    // A second run replaces the first (the demo script runs again and again).
    std::fs::write(out.join("drive-a").join("stray.txt"), "left from before").unwrap();
    generate(&azurite.endpoint(), &out);
    assert!(!out.join("drive-a/stray.txt").exists(), "the drives are written afresh");

    let demo: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("demo.json")).unwrap()).unwrap();
    assert_eq!(demo["storage_account"], "devstoreaccount1");
    assert_eq!(demo["endpoint"], azurite.endpoint());
    assert_eq!(demo["auth"], "Key");
    assert_eq!(demo["secret"], azurite.key());
    assert_eq!(demo["secret_is_public_emulator_key"], true);
    assert!(demo["note"].as_str().unwrap().contains("PUBLIC account key"));
    let drives = demo["drives"].as_array().unwrap();
    assert_eq!(drives.len(), 2);
    assert_eq!((drives[0]["volume"].as_str(), drives[1]["volume"].as_str()), (Some("drive-a"), Some("drive-b")));
    assert_ne!(drives[0]["drive_id"], drives[1]["drive_id"]);

    let store = AzureBlobStore::new(&azurite.config_with_key()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for d in drives {
        let id = d["drive_id"].as_str().unwrap();
        let manifest = out.join(d["manifest"].as_str().unwrap());
        let copy_log = out.join(d["copy_log"].as_str().unwrap());
        assert_eq!(engine::manifest::read_drive_id(&manifest).unwrap(), id);
        let (summary, failed) = engine::copylog::read_copy_log(&copy_log).unwrap();
        assert_eq!(summary.drive_id, id);
        assert!(failed.len() >= 3, "{id}: failed blocks, a missing file, a properties file: {failed:?}");
        let name = copy_log.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with(&format!("demo-export_{id}_")) && name.ends_with("_error.xml"), "{name}");

        // The copy log is in the storage account where the service would put it.
        let blob = BlobRef { path: d["copy_log_blob"].as_str().unwrap().to_string(), snapshot: None };
        assert_eq!(blob.path, format!("waimportexport/waies/{name}"));
        let props = runtime.block_on(store.properties(&blob)).unwrap();
        assert_eq!(props.length, std::fs::metadata(&copy_log).unwrap().len());

        // Verification finds the damage, including what the copy log does not list.
        let reporter = NoReporter;
        let tracker = ProgressTracker::new(&reporter, Duration::from_secs(1));
        let root = out.join(d["volume"].as_str().unwrap());
        let report = verify_drive(&root, &manifest, &VerifyOptions::default(), &tracker, &CancelToken::new()).unwrap();
        assert_eq!(report.issues.len(), d["damage"].as_array().unwrap().len(), "{id}: {:?}", report.issues);
        let silent: Vec<_> = report
            .issues
            .iter()
            .filter(|i| matches!(i.problem, Problem::HashMismatch { .. }))
            .filter(|i| !failed.iter().any(|f| f.blob == i.blob))
            .collect();
        assert_eq!(silent.len(), 1, "{id}: one silently corrupted block: {:?}", report.issues);
    }
}
