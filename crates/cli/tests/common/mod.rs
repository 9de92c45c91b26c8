//! Shared by the CLI integration tests: a real Azurite per test binary, sample export
//! drives written into temporary directories, the real `driverepair` binary run as a
//! user would run it, and snapshots of directory trees to prove what changed.
//!
//! Layout of a fixture's temporary directory:
//! ```text
//! <tmp>/drive/       the export drive (/d:), with <DriveId>.manifest at its root
//! <tmp>/copylogs/    the copy log, outside the drive, as a user downloads it
//! <tmp>/work/        repair file, run logs, reports
//! ```

#![allow(dead_code)] // each test binary uses part of this module

use engine::model::Md5;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};
use testkit::azurite::Azurite;
use testkit::generator::{self, Damage, GeneratedDrive, Scale};
use testkit::{GenBlob, Uploaded};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_driverepair");

/// The emulator's public key: not a secret, but the tests check it never leaks anyway.
pub use testkit::azurite::{ACCOUNT, KEY};

/// One Azurite for the whole test binary (tests use distinct container names).
pub fn azurite() -> &'static Azurite {
    Azurite::shared().expect("starting Azurite (install it with `cd crates/testkit && npm install`)")
}

pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

/// The generator's sample mix with every container prefixed by `tag` (and the `$root`
/// blob's name, since `$root` is one container for everyone), so that tests sharing
/// one Azurite never overwrite each other's blobs.
pub fn sample(tag: &str, seed: u64, scale: Scale) -> Vec<GenBlob> {
    let mut blobs = generator::sample_blobs(seed, scale);
    for b in &mut blobs {
        if b.container == "$root" {
            b.name = format!("{tag}-{}", b.name);
        } else {
            b.container = format!("{tag}-{}", b.container);
        }
    }
    blobs
}

/// The sample mix moved into the single container `container` (for container SAS
/// tests): `<container>/<old container>/<name>`, the `$root` blob included.
///
/// Without its snapshot: Azurite refuses any snapshot read authorised by a container
/// SAS (it signs the request's `snapshot` into the string to sign even for `sr=c`), so
/// a snapshot cannot be tested that way against the emulator.
pub fn sample_in_one_container(container: &str, seed: u64) -> Vec<GenBlob> {
    let mut blobs = generator::sample_blobs(seed, Scale::Mix);
    for b in &mut blobs {
        b.name = format!("{}/{}", b.container.trim_start_matches('$'), b.name);
        b.container = container.to_string();
        b.snapshot = false;
    }
    blobs
}

pub fn upload(blobs: &[GenBlob]) -> Vec<Uploaded> {
    block_on(testkit::upload::upload(&azurite().config_with_key(), blobs)).expect("uploading the sample blobs")
}

/// A generated export drive in its own temporary directory.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub blobs: Vec<GenBlob>,
    pub uploaded: Vec<Uploaded>,
    pub drive: GeneratedDrive,
    pub copy_log: PathBuf,
    pub work: PathBuf,
}

impl Fixture {
    /// Uploads `blobs` to the shared Azurite and writes the drive.
    pub fn online(blobs: Vec<GenBlob>, drive_id: &str) -> Fixture {
        let uploaded = upload(&blobs);
        Fixture::with(blobs, uploaded, drive_id)
    }

    /// A drive whose blobs exist nowhere (for runs that must not need storage).
    pub fn offline(blobs: Vec<GenBlob>, drive_id: &str) -> Fixture {
        let uploaded = generator::uploaded_offline(&blobs);
        Fixture::with(blobs, uploaded, drive_id)
    }

    pub fn with(blobs: Vec<GenBlob>, uploaded: Vec<Uploaded>, drive_id: &str) -> Fixture {
        let tmp = tempfile::Builder::new().prefix("driverepair-cli-").tempdir().expect("temp dir");
        Fixture::in_dir(tmp, &PathBuf::from("drive"), blobs, uploaded, drive_id)
    }

    /// Writes the drive at `tmp/<drive_rel>` (e.g. on a mount point inside `tmp`).
    pub fn in_dir(
        tmp: tempfile::TempDir,
        drive_rel: &Path,
        blobs: Vec<GenBlob>,
        uploaded: Vec<Uploaded>,
        drive_id: &str,
    ) -> Fixture {
        let pairs: Vec<_> = blobs.iter().cloned().zip(uploaded.iter().cloned()).collect();
        let drive = generator::write_drive(&tmp.path().join(drive_rel), drive_id, &pairs).expect("writing the drive");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let copy_log = tmp.path().join("copylogs").join(format!("job1_{drive_id}_20240501120000_error.xml"));
        let fixture = Fixture { tmp, blobs, uploaded, drive, copy_log, work };
        fixture.write_copy_log(&[]);
        fixture
    }

    pub fn root(&self) -> &Path {
        &self.drive.root
    }

    /// The index of the blob whose name ends with `suffix` (names are unique in the mix).
    pub fn idx(&self, suffix: &str) -> usize {
        let found: Vec<usize> =
            (0..self.blobs.len()).filter(|&i| self.blobs[i].name.ends_with(suffix)).collect();
        assert_eq!(found.len(), 1, "exactly one blob named …{suffix}");
        found[0]
    }

    pub fn file(&self, suffix: &str) -> &generator::DriveBlob {
        &self.drive.blobs[self.idx(suffix)]
    }

    /// Damages the drive and writes the copy log that goes with the damage.
    pub fn damage(&self, damage: &[Damage]) {
        generator::apply_damage(&self.drive, damage).expect("applying damage");
        self.write_copy_log(damage);
    }

    pub fn write_copy_log(&self, damage: &[Damage]) {
        generator::write_copy_log(&self.copy_log, &self.drive, damage, &self.uploaded).expect("writing the copy log");
    }

    pub fn repair_file(&self) -> PathBuf {
        self.work.join("drive.repair")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.work.join("logs")
    }

    pub fn report(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// `RepairExport` with the repair file, target, account, copy log and log dir of
    /// this fixture, the given credential argument (`/sk:…` or `/csas:…`) and endpoint.
    pub fn repair_args(&self, credential: &str, endpoint: &str) -> Vec<String> {
        vec![
            "RepairExport".into(),
            arg("r", &self.repair_file()),
            arg("d", self.root()),
            format!("/sn:{ACCOUNT}"),
            credential.to_string(),
            arg("CopyLogFile", &self.copy_log),
            arg("logdir", &self.log_dir()),
            format!("/BlobEndpoint:{endpoint}"),
        ]
    }

    /// [`Fixture::repair_args`] with the account key and Azurite's endpoint.
    pub fn repair_args_key(&self) -> Vec<String> {
        self.repair_args(&format!("/sk:{KEY}"), &azurite().endpoint())
    }

    pub fn verify_args(&self) -> Vec<String> {
        vec![
            "Verify".into(),
            arg("d", self.root()),
            arg("ManifestFile", &self.drive.manifest_path),
            arg("logdir", &self.log_dir()),
        ]
    }

    pub fn run(&self, args: &[String]) -> Run {
        driverepair(args, &self.work)
    }

    /// Every data file of the drive holds exactly the blob's exported bytes.
    pub fn assert_all_files_match_truth(&self) {
        for b in &self.drive.blobs {
            assert!(b.file_matches_truth().unwrap(), "{} does not hold the blob's exported bytes", b.file_path);
        }
    }

    /// No `.…driverepair-partial` or spill file left anywhere under the drive.
    pub fn assert_no_temp_files(&self) {
        let left: Vec<_> = tree(self.root())
            .into_keys()
            .filter(|p| p.to_string_lossy().contains(".driverepair-"))
            .collect();
        assert!(left.is_empty(), "temporary files left on the drive: {left:?}");
    }

    /// The run logs written so far, concatenated.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        if let Ok(rd) = std::fs::read_dir(self.log_dir()) {
            let mut paths: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
            paths.sort();
            for p in paths {
                all.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
        all
    }
}

/// `/name:<path>`.
pub fn arg(name: &str, path: &Path) -> String {
    format!("/{name}:{}", path.display())
}

/// What a run of the binary printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code; stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    pub fn out(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts that stdout or stderr contains `needle`.
    pub fn says(&self, needle: &str) -> &Self {
        assert!(self.out().contains(needle), "output does not say {needle:?}:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// Runs the binary to completion in `cwd` (where a missing `/logdir:` puts its log).
pub fn driverepair<S: AsRef<OsStr>>(args: &[S], cwd: &Path) -> Run {
    let out = command(args, cwd).output().expect("running driverepair");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The command, for tests that start it and interrupt it.
pub fn command<S: AsRef<OsStr>>(args: &[S], cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", path.display()))
}

/// A file or folder as a snapshot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub is_dir: bool,
    pub len: u64,
    pub md5: Option<Md5>,
    pub modified: SystemTime,
}

/// Every file and folder under `root` (relative paths), with content hashes and
/// modification times: two equal snapshots mean nothing was written, renamed,
/// created or deleted (a folder's mtime changes when a file in it is created or removed).
pub fn tree(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        let path = e.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        if meta.is_dir() {
            out.insert(rel, Entry { is_dir: true, len: 0, md5: None, modified: meta.modified().unwrap() });
            walk(root, &path, out);
        } else {
            let md5 = meta.is_file().then(|| Md5::of(&std::fs::read(&path).unwrap()));
            out.insert(rel, Entry { is_dir: false, len: meta.len(), md5, modified: meta.modified().unwrap() });
        }
    }
}

/// Asserts two snapshots are equal, naming what differs.
pub fn assert_same_tree(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>, what: &str) {
    let mut diffs = Vec::new();
    for (p, e) in before {
        match after.get(p) {
            None => diffs.push(format!("removed: {}", p.display())),
            Some(a) if a != e => diffs.push(format!("changed: {} ({e:?} -> {a:?})", p.display())),
            _ => {}
        }
    }
    for p in after.keys().filter(|p| !before.contains_key(*p)) {
        diffs.push(format!("created: {}", p.display()));
    }
    assert!(diffs.is_empty(), "{what}: {diffs:#?}");
}

/// Waits until `cond` holds, or panics after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `issues` of a JSON report's summary, as `(file_path, problem type)` pairs.
pub fn report_issues(report: &serde_json::Value) -> Vec<(String, String)> {
    report["summary"]["issues"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    (
                        i["file_path"].as_str().unwrap_or_default().to_string(),
                        i["problem"]["type"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub use testkit::generator::Damage as D;
