//! Finding export drives: the volumes a user could mean, their BitLocker state, and
//! whether an export manifest sits at their root.
//!
//! - Windows: the Win32 volume API ([`windows`]) plus `manage-bde -status`.
//! - Linux: `lsblk`, `blkid -p`, `/proc/mounts`, dislocker processes ([`linux`]).
//! - Elsewhere: [`crate::EngineError::Unsupported`]; the user chooses a folder instead
//!   ([`inspect_folder`]).
//!
//! The wizard polls [`volumes_signature`] every couple of seconds and calls
//! [`list_volumes`] only when it changes.

pub mod linux;
pub mod manifest_peek;
pub mod windows;

pub use crate::bitlocker::BitLockerState;

use crate::bitlocker::runner::{CommandRunner, SystemRunner};
use crate::error::{EngineError, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use ts_rs::TS;

/// A volume the user could mean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Volume {
    /// Stable name: the drive letter (`E:`) on Windows, the device path on Linux.
    pub id: String,
    /// The block device (Linux).
    pub device: Option<String>,
    /// Where its files can be read (`E:\`, `/media/…`); `None` while locked or unmounted.
    pub mount_point: Option<String>,
    /// Volume label; empty if none or unknown.
    pub label: String,
    /// `NTFS`/`ntfs`, `exfat`, …; `BitLocker` while locked; empty if unknown.
    pub file_system: String,
    #[ts(type = "number")]
    pub size_bytes: u64,
    #[ts(type = "number | null")]
    pub free_bytes: Option<u64>,
    pub removable: bool,
    pub bitlocker: BitLockerState,
    /// The export manifest at its root, if there is one.
    pub export: Option<ExportInfo>,
}

/// An export manifest found at a volume's (or folder's) root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ExportInfo {
    pub manifest_path: String,
    /// The drive ID the manifest names (the drive's serial number, e.g. 9WM35C3U).
    pub drive_id: String,
    /// How many `<Blob>` entries the manifest lists.
    #[ts(type = "number")]
    pub blob_count: u64,
}

/// Lists the volumes a user could mean, with their BitLocker state and export
/// manifest. On Linux, run as root to see unmounted volumes' types (blkid reads the
/// devices); otherwise they show as Unknown.
pub fn list_volumes() -> Result<Vec<Volume>> {
    list_volumes_with(&SystemRunner::default())
}

pub(crate) fn list_volumes_with(runner: &dyn CommandRunner) -> Result<Vec<Volume>> {
    let mut volumes = platform_volumes(runner)?;
    for v in &mut volumes {
        if let Some(mp) = v.mount_point.clone() {
            #[cfg(unix)]
            if v.free_bytes.is_none() {
                v.free_bytes = linux::free_bytes(&mp);
            }
            // A broken or unreadable manifest does not hide the volume; inspect_folder
            // says what is wrong with it.
            v.export = find_export(Path::new(&mp)).ok().flatten();
        }
    }
    Ok(volumes)
}

#[cfg(target_os = "linux")]
fn platform_volumes(runner: &dyn CommandRunner) -> Result<Vec<Volume>> {
    Ok(linux::assemble(&linux::gather(runner)?))
}

#[cfg(windows)]
fn platform_volumes(runner: &dyn CommandRunner) -> Result<Vec<Volume>> {
    let bde = crate::bitlocker::windows::status_all(runner);
    Ok(windows::sys::drive_roots()
        .iter()
        .filter_map(|root| windows::volume_from_probe(&windows::sys::probe(root), &bde))
        .collect())
}

#[cfg(not(any(target_os = "linux", windows)))]
fn platform_volumes(_runner: &dyn CommandRunner) -> Result<Vec<Volume>> {
    Err(crate::bitlocker::unsupported())
}

/// A cheap fingerprint of the attached volumes and mounts, for polling: when it
/// changes, call [`list_volumes`] again. Linux hashes /proc/partitions and /proc/mounts
/// (a dislocker or ntfs-3g mount changes it too); Windows the drive letters and what the
/// volume API says about each (label, file system, or the error of a locked volume).
pub fn volumes_signature() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    #[cfg(target_os = "linux")]
    linux::signature_text().hash(&mut h);
    #[cfg(windows)]
    for root in windows::sys::drive_roots() {
        // Not the free space: it changes while a repair writes to the drive.
        let p = windows::sys::probe(&root);
        (p.root, p.drive_type, p.info).hash(&mut h);
    }
    h.finish()
}

/// For "choose a folder instead": the export manifest in `path`, if any. Unlike the
/// drive list, a `*.manifest` that cannot be read is reported as an error, so the user
/// learns why the folder was not recognised.
pub fn inspect_folder(path: impl AsRef<Path>) -> Result<Option<ExportInfo>> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|e| EngineError::io("open folder", path, e))?;
    if !meta.is_dir() {
        return Err(EngineError::Usage { message: format!("{} is not a folder", path.display()) });
    }
    find_export(path)
}

/// Looks for `*.manifest` files (any case) directly in `dir` whose root element is
/// `DriveManifest`; the first in name order wins. Errors only if manifests exist but
/// none could be read (the first error is returned).
pub fn find_export(dir: &Path) -> Result<Option<ExportInfo>> {
    let rd = std::fs::read_dir(dir).map_err(|e| EngineError::io("list folder", dir, e))?;
    let mut candidates: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x.eq_ignore_ascii_case("manifest")) && p.is_file()
        })
        .collect();
    candidates.sort();
    let mut first_error = None;
    for p in candidates {
        match manifest_peek::peek_manifest_file(&p) {
            Ok(Some(peek)) => {
                return Ok(Some(ExportInfo {
                    manifest_path: p.to_string_lossy().into_owned(),
                    drive_id: peek.drive_id,
                    blob_count: peek.blob_count,
                }))
            }
            Ok(None) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// The manifest and the copy log must name the same drive (the portal's "Manifest
/// drive ID mismatch"). Compared without surrounding space and ignoring ASCII case.
pub fn check_drive_id(manifest_id: &str, copy_log_id: &str) -> Result<()> {
    if manifest_id.trim().eq_ignore_ascii_case(copy_log_id.trim()) {
        Ok(())
    } else {
        Err(EngineError::DriveMismatch {
            left_what: "the manifest",
            left: manifest_id.trim().to_string(),
            right_what: "the copy log",
            right: copy_log_id.trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn write_manifest(dir: &Path, name: &str, drive_id: &str, blobs: usize) {
        let mut s = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<DriveManifest Version=\"2014-11-01\"><Drive><DriveId>{drive_id}</DriveId><BlobList>");
        for i in 0..blobs {
            s.push_str(&format!("<Blob><BlobPath>c/{i}</BlobPath><FilePath>\\c\\{i}</FilePath><Length>0</Length><BlockList /></Blob>"));
        }
        s.push_str("</BlobList></Drive></DriveManifest>");
        std::fs::write(dir.join(name), s).unwrap();
    }

    #[test]
    fn a_folder_with_an_export_manifest_is_recognised() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("notes.txt"), "x").unwrap();
        write_manifest(d.path(), "9WM35C3U.MANIFEST", "9WM35C3U", 3);
        let info = inspect_folder(d.path()).unwrap().unwrap();
        assert_eq!(info.drive_id, "9WM35C3U");
        assert_eq!(info.blob_count, 3);
        assert!(info.manifest_path.ends_with("9WM35C3U.MANIFEST"));
    }

    #[test]
    fn folders_without_manifests_and_other_xml_are_not_exports() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(inspect_folder(d.path()).unwrap(), None);
        std::fs::write(d.path().join("x.manifest"), "<assembly/>").unwrap();
        assert_eq!(inspect_folder(d.path()).unwrap(), None);
        // A manifest in a subfolder is not at the root.
        std::fs::create_dir(d.path().join("sub")).unwrap();
        write_manifest(&d.path().join("sub"), "a.manifest", "A", 1);
        assert_eq!(inspect_folder(d.path()).unwrap(), None);
    }

    #[test]
    fn a_broken_manifest_is_an_error_for_folders_but_a_good_one_wins() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.manifest"), "<DriveManifest><Drive>").unwrap();
        let e = inspect_folder(d.path()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MalformedInput);
        write_manifest(d.path(), "b.manifest", "WD-WMATV123456", 0);
        assert_eq!(inspect_folder(d.path()).unwrap().unwrap().drive_id, "WD-WMATV123456");
    }

    #[test]
    fn missing_folder_is_an_io_error() {
        let e = inspect_folder("/nonexistent/driverepair").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
    }

    #[test]
    fn drive_id_mismatch_names_both_ids() {
        check_drive_id("9WM35C3U", " 9wm35c3u\n").unwrap();
        let e = check_drive_id("9WM35C3U", "9WM35C2V").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DriveMismatch);
        let m = e.to_string();
        assert!(m.contains("9WM35C3U") && m.contains("9WM35C2V") && m.contains("manifest"), "{m}");
    }

    #[test]
    fn volume_serialises_for_the_ui() {
        let v = Volume {
            id: "/dev/sdb1".into(),
            device: Some("/dev/sdb1".into()),
            mount_point: None,
            label: String::new(),
            file_system: "BitLocker".into(),
            size_bytes: 1,
            free_bytes: None,
            removable: true,
            bitlocker: BitLockerState::Locked,
            export: None,
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["bitlocker"], "Locked");
        assert_eq!(j["export"], serde_json::Value::Null);
        assert_eq!(j["size_bytes"], 1);
    }
}
