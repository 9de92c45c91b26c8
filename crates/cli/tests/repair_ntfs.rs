//! `driverepair RepairExport` onto a real NTFS volume: an image made with `mkntfs`, on
//! a loop device, mounted with ntfs-3g (FUSE), as an export drive is on Linux. Whole
//! blobs are written there with direct I/O (past the page cache), partly through the
//! cache, and patched blocks through the cache; every byte must arrive. Needs root;
//! CI runs as root.

mod common;
#[path = "../../engine/tests/drives_support/mod.rs"]
mod drives_support;

use common::*;
use drives_support::{need_root_and, run, LoopDevice, MountGuard};
use testkit::generator::Scale;

#[test]
fn repair_onto_a_mounted_ntfs_volume_writes_every_byte_and_verifies() {
    let name = "repair_onto_a_mounted_ntfs_volume_writes_every_byte_and_verifies";
    let Some(()) = need_root_and(name, &["losetup", "mkntfs", "ntfs-3g", "umount"]) else { return };
    let tmp = tempfile::Builder::new().prefix("driverepair-ntfs-").tempdir().unwrap();
    let image = tmp.path().join("ntfs.img");
    std::fs::File::create(&image).unwrap().set_len(96 << 20).unwrap();
    run("mkntfs", &["-F", "-q", "-f", "-L", "EXPORT", image.to_str().unwrap()]);
    let dev = LoopDevice::attach(&image);
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run("ntfs-3g", &[dev.path(), mnt.to_str().unwrap()]);
    let mounted = MountGuard(mnt.clone());

    // The sample mix (a sparse page blob, a snapshot, a unicode name…) and a 20 MiB
    // blob with 4 MiB blocks and an odd tail, which goes through the batched path.
    let mut blobs = sample("ntfs", 41, Scale::Mix);
    let mut big = sample("ntfs", 42, Scale::OneBlob { bytes: (20 << 20) + 777 }).remove(0);
    big.name = "big/twenty.bin".into();
    blobs.push(big);
    let uploaded = upload(&blobs);
    let work = tempfile::Builder::new().prefix("driverepair-cli-").tempdir().unwrap();
    let f = Fixture::in_dir(work, &mnt, blobs, uploaded, "WD-NTFS0001");
    f.damage(&[
        D::WholeBlobFailed { blob: f.idx("twenty.bin") },
        D::FailedBlock { blob: f.idx("wild/desert.jpg"), block: 1 },
        D::FailedBlock { blob: f.idx("sparse.vhd"), block: 2 },
        D::CorruptBlock { blob: f.idx("clip.bin"), block: 1 },
        D::Truncate { blob: f.idx("readme.txt"), to: 100 },
    ]);

    let mut args = f.repair_args_key();
    args.push(arg("ManifestFile", &f.drive.manifest_path));
    f.run(&args).expect(0).says("repaired and verified");
    f.assert_all_files_match_truth();
    f.assert_no_temp_files();
    let logs = f.logs();
    assert!(logs.contains("written past the page cache"), "ntfs-3g takes direct writes:\n{logs}");

    // What is on the volume after a remount, not what a cache still holds.
    drop(mounted);
    run("ntfs-3g", &[dev.path(), mnt.to_str().unwrap()]);
    let _mounted = MountGuard(mnt.clone());
    f.assert_all_files_match_truth();
    f.run(&f.verify_args()).expect(0).says("every component matches the manifest");
}
