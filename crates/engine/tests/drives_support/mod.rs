//! Helpers for the tests that use real loop devices, FUSE and NTFS: guards that detach
//! and unmount even when a test fails, tool checks, and a clear "skipped" line when the
//! test cannot run here (not root, a tool missing).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const FIXTURE_KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591910";
pub const FIXTURE_USER_PASSWORD: &str = "anaconda";
/// A valid recovery password of another volume (FORMATS.md §6).
pub const OTHER_KEY: &str = "238810-662376-448998-450120-652806-203390-606320-483076";

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// Prints why a test did not run, so that a green run is not mistaken for coverage.
pub fn skip(test: &str, why: &str) {
    println!("SKIPPED {test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

/// `None` (and a skip line) unless running as root with all `tools` installed.
pub fn need_root_and(test: &str, tools: &[&str]) -> Option<()> {
    if !is_root() {
        skip(test, "needs root (loop devices, FUSE, mounting); CI runs as root");
        return None;
    }
    need(test, tools)
}

pub fn need(test: &str, tools: &[&str]) -> Option<()> {
    for t in tools {
        if !have(t) {
            skip(test, &format!("{t} is not installed"));
            return None;
        }
    }
    Some(())
}

pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Decompresses the BitLocker fixture (100 MiB, sparse) into `dir`.
pub fn bitlocker_image(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bitlocker/bitlk-aes-xts-128.img.xz");
    let dst = dir.join("bitlk-aes-xts-128.img");
    let out = std::fs::File::create(&dst).unwrap();
    let st = Command::new("xz").arg("-dc").arg(&src).stdout(out).status().expect("xz");
    assert!(st.success(), "xz -dc {}", src.display());
    dst
}

/// A loop device attached to a file; detached on drop.
pub struct LoopDevice(pub String);

impl LoopDevice {
    pub fn attach(file: &Path) -> LoopDevice {
        let dev = run("losetup", &["-f", "--show", file.to_str().unwrap()]).trim().to_string();
        assert!(dev.starts_with("/dev/loop"), "losetup printed {dev:?}");
        LoopDevice(dev)
    }
    pub fn path(&self) -> &str {
        &self.0
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        for _ in 0..20 {
            if Command::new("losetup").args(["-d", &self.0]).status().map(|s| s.success()).unwrap_or(false) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("warning: could not detach {}", self.0);
    }
}

/// A mount point that is unmounted on drop (FUSE or not), lazily if it is busy.
pub struct MountGuard(pub PathBuf);

impl MountGuard {
    pub fn is_mounted(&self) -> bool {
        is_mount_point(&self.0)
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        for _ in 0..20 {
            if !is_mount_point(&self.0) {
                return;
            }
            let _ = Command::new("umount").arg(&self.0).status();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Whether `/proc/mounts` lists `dir` as a mount point.
pub fn is_mount_point(dir: &Path) -> bool {
    let want = dir.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(want.as_str()))
}

/// An export manifest with `blobs` block blobs (valid shape, hashes of nothing in particular).
pub fn export_manifest(drive_id: &str, blobs: usize) -> String {
    let mut s = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<DriveManifest Version=\"2014-11-01\">\r\n  <Drive>\r\n    <DriveId>{drive_id}</DriveId>\r\n    <ClientCreator>Windows Azure Import/Export service</ClientCreator>\r\n    <BlobList>\r\n"
    );
    for i in 0..blobs {
        s.push_str(&format!(
            "      <Blob>\r\n        <BlobPath>data/file{i}.bin</BlobPath>\r\n        <FilePath>\\data\\file{i}.bin</FilePath>\r\n        <Length>4</Length>\r\n        <BlockList>\r\n          <Block Offset=\"0\" Length=\"4\" Id=\"AAAAAA==\" Hash=\"00000000000000000000000000000000\" />\r\n        </BlockList>\r\n      </Blob>\r\n"
        ));
    }
    s.push_str("    </BlobList>\r\n  </Drive>\r\n</DriveManifest>\r\n");
    s
}
