//! `list_volumes` on a real NTFS volume: a file formatted with mkntfs, attached to a
//! loop device and mounted with ntfs-3g (FUSE, shows as `fuseblk`), holding an export
//! manifest. Needs root; prints SKIPPED otherwise.

#[path = "drives_support/mod.rs"]
mod support;

use engine::drives::{inspect_folder, list_volumes, volumes_signature, BitLockerState};
use support::*;

const SIZE: u64 = 16 * 1024 * 1024;

fn ntfs_image(dir: &std::path::Path, label: &str) -> std::path::PathBuf {
    let img = dir.join("ntfs.img");
    std::fs::File::create(&img).unwrap().set_len(SIZE).unwrap();
    run("mkntfs", &["-F", "-Q", "-L", label, img.to_str().unwrap()]);
    img
}

#[test]
fn mounted_ntfs_loop_volume_with_manifest_is_listed_with_drive_id_and_blob_count() {
    let name = "mounted_ntfs_loop_volume_with_manifest_is_listed_with_drive_id_and_blob_count";
    let Some(()) = need_root_and(name, &["losetup", "mkntfs", "ntfs-3g", "umount"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let img = ntfs_image(tmp.path(), "EXPORT 1");
    let mnt = tmp.path().join("mnt with space");
    std::fs::create_dir(&mnt).unwrap();

    let before = volumes_signature();
    let dev = LoopDevice::attach(&img);
    run("ntfs-3g", &[dev.path(), mnt.to_str().unwrap()]);
    let _mounted = MountGuard(mnt.clone());
    assert_ne!(volumes_signature(), before, "attaching and mounting changes the signature");
    assert_eq!(volumes_signature(), volumes_signature(), "stable while nothing changes");

    std::fs::write(mnt.join("9WM35C3U.manifest"), export_manifest("9WM35C3U", 3)).unwrap();
    std::fs::write(mnt.join("readme.txt"), "not a manifest").unwrap();

    let volumes = list_volumes().unwrap();
    let v = volumes
        .iter()
        .find(|v| v.device.as_deref() == Some(dev.path()))
        .unwrap_or_else(|| panic!("{} not listed: {volumes:#?}", dev.path()));
    assert_eq!(v.id, dev.path());
    assert_eq!(v.mount_point.as_deref(), Some(mnt.to_str().unwrap()));
    assert_eq!(v.file_system, "ntfs");
    assert_eq!(v.label, "EXPORT 1");
    assert_eq!(v.size_bytes, SIZE);
    assert!(v.free_bytes.is_some_and(|f| f > 0 && f < SIZE), "{:?}", v.free_bytes);
    assert!(!v.removable, "loop devices are not removable");
    assert_eq!(v.bitlocker, BitLockerState::NotEncrypted);
    let export = v.export.as_ref().expect("the manifest at the root is found");
    assert_eq!(export.drive_id, "9WM35C3U");
    assert_eq!(export.blob_count, 3);
    assert!(export.manifest_path.ends_with("9WM35C3U.manifest"));

    // "Choose a folder instead" reads the same.
    assert_eq!(inspect_folder(&mnt).unwrap().as_ref(), Some(export));
    // The system disk is never offered.
    assert!(volumes.iter().all(|v| v.mount_point.as_deref() != Some("/")), "{volumes:#?}");
}

#[test]
fn unmounted_ntfs_loop_volume_is_listed_with_its_label_and_no_mount_point() {
    let name = "unmounted_ntfs_loop_volume_is_listed_with_its_label_and_no_mount_point";
    let Some(()) = need_root_and(name, &["losetup", "mkntfs", "blkid"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let img = ntfs_image(tmp.path(), "DR-UNMOUNTED");
    let dev = LoopDevice::attach(&img);

    let volumes = list_volumes().unwrap();
    let v = volumes
        .iter()
        .find(|v| v.device.as_deref() == Some(dev.path()))
        .unwrap_or_else(|| panic!("{} not listed: {volumes:#?}", dev.path()));
    assert_eq!(v.file_system, "ntfs", "blkid -p identifies it without udev");
    assert_eq!(v.label, "DR-UNMOUNTED");
    assert_eq!(v.mount_point, None);
    assert_eq!(v.free_bytes, None);
    assert_eq!(v.export, None);
    assert_eq!(v.bitlocker, BitLockerState::NotEncrypted);
}
