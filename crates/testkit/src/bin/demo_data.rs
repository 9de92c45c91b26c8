//! `driverepair-demo-data --endpoint <url> --out <dir>`: the data of the README's demo.
//!
//! Uploads sample blobs to a blob endpoint (Azurite, with the emulator's public account
//! key) and writes two damaged export drives of one export job under `<dir>`:
//!
//! ```text
//! <dir>/drive-a/, <dir>/drive-b/   the drives, each with its <DriveId>.manifest
//! <dir>/logs/                      their copy logs (the service's error logs)
//! <dir>/demo.json                  what the demo needs: paths, drive IDs, account, endpoint, key
//! ```
//!
//! Each copy log is also uploaded to the `waimportexport` container as
//! `waies/<job>_<driveid>_<timestamp>_error.xml`, where the service puts it, so that
//! finding the copy log in the storage account can be tried too.
//!
//! The drives carry failed blocks (zeroed on the drive, listed in the copy log), a
//! missing file, a silently corrupted block (only the manifest shows it) and a failed
//! properties file. Running it again replaces what it wrote before.

use anyhow::{bail, Context as _};
use engine::blobstore::{Credential, StorageConfig};
use engine::model::BlobType;
use engine::secret::Secret;
use serde_json::json;
use std::path::PathBuf;
use testkit::generator::{self, Damage, GeneratedDrive, Scale};
use testkit::{GenBlob, Uploaded};

/// The job name in the copy logs' blob names and in the app.
const JOB: &str = "demo-export";
const JOB_TITLE: &str = "Demo export";
const LOG_CONTAINER: &str = "waimportexport";

struct DriveSpec {
    name: &'static str,
    drive_id: &'static str,
    seed: u64,
}

const DRIVES: [DriveSpec; 2] = [
    DriveSpec { name: "drive-a", drive_id: "WD-WCC4N7DEMO1", seed: 2024 },
    DriveSpec { name: "drive-b", drive_id: "9WM35DEMO2", seed: 2025 },
];

const USAGE: &str = "usage: driverepair-demo-data --endpoint <blob endpoint URL> --out <dir>

Uploads sample blobs to the endpoint (Azurite, authorised with the emulator's public
account key) and writes two damaged export drives, their copy logs and <dir>/demo.json.
Example: driverepair-demo-data --endpoint http://127.0.0.1:10000/devstoreaccount1 --out demo-data";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let (endpoint, out) = parse_args(std::env::args().skip(1).collect())?;
    let account = endpoint
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|a| !a.is_empty() && !a.contains(':'))
        .unwrap_or(testkit::azurite::ACCOUNT)
        .to_string();
    let config = StorageConfig {
        account: account.clone(),
        credential: Credential::AccountKey(Secret::new(testkit::azurite::KEY)),
        endpoint: Some(endpoint.clone()),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize()?;
    for old in ["drive-a", "drive-b", "logs"] {
        let p = out.join(old);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing the earlier {}", p.display()))?;
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let stamp = log_timestamp();

    let mut drives_json = Vec::new();
    for spec in &DRIVES {
        let blobs = blobs_for(spec);
        let uploaded = runtime
            .block_on(testkit::upload::upload(&config, &blobs))
            .with_context(|| format!("uploading the blobs of {} to {endpoint}", spec.name))?;
        let pairs: Vec<(GenBlob, Uploaded)> = blobs.iter().cloned().zip(uploaded.iter().cloned()).collect();
        let drive = generator::write_drive(&out.join(spec.name), spec.drive_id, &pairs)?;
        let (damage, described) = damage_for(spec, &blobs, &drive);
        generator::apply_damage(&drive, &damage)?;

        let log_name = format!("{JOB}_{}_{stamp}_error.xml", spec.drive_id);
        let log_path = out.join("logs").join(&log_name);
        generator::write_copy_log(&log_path, &drive, &damage, &uploaded)?;
        let log_blob = format!("waies/{log_name}");
        let log_upload = GenBlob {
            container: LOG_CONTAINER.into(),
            name: log_blob.clone(),
            blob_type: BlobType::Block,
            data: std::fs::read(&log_path)?,
            page_ranges: vec![],
            block_size: generator::DEFAULT_BLOCK_SIZE,
            snapshot: false,
            metadata: vec![],
            content_type: "application/xml".into(),
        };
        runtime
            .block_on(testkit::upload::upload(&config, &[log_upload]))
            .with_context(|| format!("uploading the copy log {log_blob}"))?;

        let manifest_name = format!("{}.manifest", spec.drive_id);
        drives_json.push(json!({
            "name": spec.name,
            "drive_id": spec.drive_id,
            "volume": spec.name,
            "manifest": format!("{}/{manifest_name}", spec.name),
            "copy_log": format!("logs/{log_name}"),
            "copy_log_blob": format!("{LOG_CONTAINER}/{log_blob}"),
            "blobs": blobs.len(),
            "damage": described,
        }));
        println!("{}: drive {} with {} blobs, damaged: {}", spec.name, spec.drive_id, blobs.len(), described.join("; "));
    }

    // The field names are what the desktop app's demo mode reads (src-tauri/src/demo.rs);
    // paths are relative to this folder.
    let demo = json!({
        "note": "Demo data for Drive Repair, generated by driverepair-demo-data. The secret is the \
                 PUBLIC account key of the Azurite storage emulator (published by Microsoft; it only \
                 opens a local emulator). It is not a secret and must never be used for real accounts.",
        "job_name": JOB_TITLE,
        "job": JOB,
        "storage_account": account,
        "endpoint": endpoint,
        "auth": "Key",
        "secret": testkit::azurite::KEY,
        "secret_is_public_emulator_key": true,
        "copy_log_container": LOG_CONTAINER,
        "drives": drives_json,
    });
    let demo_path = out.join("demo.json");
    std::fs::write(&demo_path, serde_json::to_string_pretty(&demo)? + "\n")?;
    println!("wrote {}", demo_path.display());
    Ok(())
}

fn parse_args(args: Vec<String>) -> anyhow::Result<(String, PathBuf)> {
    let mut endpoint = None;
    let mut out = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--endpoint" => endpoint = it.next(),
            "--out" => out = it.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    match (endpoint, out) {
        (Some(e), Some(o)) if e.starts_with("http://") || e.starts_with("https://") => Ok((e, o)),
        (Some(e), Some(_)) => bail!("--endpoint {e:?} is not an http(s) URL\n\n{USAGE}"),
        _ => bail!("both --endpoint and --out are needed\n\n{USAGE}"),
    }
}

/// The sample mix; drive B's blobs are other blobs of the same containers (one export
/// job spread over two drives).
fn blobs_for(spec: &DriveSpec) -> Vec<GenBlob> {
    let mut blobs = generator::sample_blobs(spec.seed, Scale::Mix);
    if spec.name == "drive-b" {
        for b in &mut blobs {
            b.name = if b.container == "$root" { format!("b-{}", b.name) } else { format!("part2/{}", b.name) };
        }
    }
    blobs
}

fn index(blobs: &[GenBlob], suffix: &str) -> usize {
    blobs.iter().position(|b| b.name.ends_with(suffix)).expect("the sample mix has this blob")
}

/// The damage of each drive, and a line per item for people.
fn damage_for(spec: &DriveSpec, blobs: &[GenBlob], drive: &GeneratedDrive) -> (Vec<Damage>, Vec<String>) {
    let path = |i: usize| drive.blobs[i].file_path.clone();
    let (desert, clip, page, top, unicode, readme, bak) = (
        index(blobs, "wild/desert.jpg"),
        index(blobs, "clip.bin"),
        index(blobs, "sparse.vhd"),
        index(blobs, "top-level.txt"),
        index(blobs, "naïve café.txt"),
        index(blobs, "readme.txt"),
        index(blobs, "db.bak"),
    );
    if spec.name == "drive-a" {
        (
            vec![
                Damage::FailedBlock { blob: desert, block: 1 },
                Damage::FailedBlock { blob: page, block: 2 },
                Damage::WholeBlobFailed { blob: top },
                Damage::CorruptBlock { blob: clip, block: 1 },
                Damage::FailedProperties { blob: unicode },
            ],
            vec![
                format!("{}: block 2 failed", path(desert)),
                format!("{}: page range 3 failed (page blob)", path(page)),
                format!("{}: missing (the copy log says the blob request failed)", path(top)),
                format!("{}: block 2 silently corrupted (only the manifest shows it)", path(clip)),
                format!("{}.properties: failed properties file", path(unicode)),
            ],
        )
    } else {
        (
            vec![
                Damage::FailedBlock { blob: clip, block: 0 },
                Damage::WholeBlobFailed { blob: bak },
                Damage::CorruptBlock { blob: desert, block: 0 },
                Damage::FailedProperties { blob: readme },
                Damage::FailedBlock { blob: readme, block: 3 },
            ],
            vec![
                format!("{}: block 1 failed", path(clip)),
                format!("{}: missing (a snapshot; the copy log says the blob request failed)", path(bak)),
                format!("{}: block 1 silently corrupted (only the manifest shows it)", path(desert)),
                format!("{}.properties: failed properties file", path(readme)),
                format!("{}: block 4 failed", path(readme)),
            ],
        )
    }
}

/// `20240501-120000-123`, the form of the service's log names.
fn log_timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]-[subsecond digits:3]");
    now.format(fmt).unwrap_or_else(|_| "00000000-000000-000".into())
}
