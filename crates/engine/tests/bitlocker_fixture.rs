//! BitLocker against a real volume: the cryptsetup test vector `bitlk-aes-xts-128.img`
//! (made on Windows 10; see tests/fixtures/bitlocker/README.md).
//!
//! - The key check runs on the image file and needs no root.
//! - Listing and unlocking need a loop device, FUSE and root; they print SKIPPED otherwise.
//!
//! The fixture is stripped: only the sectors cryptsetup's tests need were kept, so MFT
//! records 1 and 2 ($MFTMirr, $LogFile) are zeros in the ciphertext. dislocker decrypts
//! it (the boot sector and MFT record 0 read correctly), but ntfs-3g refuses to mount
//! the result. The tests check exactly that, and that nothing is left mounted.

#[path = "drives_support/mod.rs"]
mod support;

use engine::bitlocker::runner::{args, CommandRunner, KeyInput, SystemRunner};
use engine::bitlocker::{check_key, status, unlock, validate_recovery_key, BitLockerState, KeyProblem};
use engine::drives::list_volumes;
use engine::ErrorKind;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use support::*;

#[test]
fn key_check_accepts_the_right_keys_and_refuses_wrong_ones() {
    let name = "key_check_accepts_the_right_keys_and_refuses_wrong_ones";
    let Some(()) = need(name, &["xz", "blkid", "cryptsetup"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let img = bitlocker_image(tmp.path());
    let img = img.to_str().unwrap();

    // The recovery password, hyphenated or not.
    check_key(img, &validate_recovery_key(FIXTURE_KEY).unwrap()).unwrap();
    check_key(img, &validate_recovery_key(&FIXTURE_KEY.replace('-', "")).unwrap()).unwrap();
    // The volume's user password goes the "password" way (like a base64 key string).
    check_key(img, &validate_recovery_key(FIXTURE_USER_PASSWORD).unwrap()).unwrap();

    // A valid recovery password of another volume: cryptsetup exits 1.
    let e = check_key(img, &validate_recovery_key(OTHER_KEY).unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BitLockerKeyInvalid, "{e}");
    assert!(!e.to_string().contains("238810"), "no key in messages: {e}");
    // A wrong base64 key string: cryptsetup exits 2.
    let e = check_key(img, &validate_recovery_key("QUJDREVGR0g=").unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BitLockerKeyInvalid, "{e}");

    // A mistyped group never reaches cryptsetup.
    let p = validate_recovery_key(&FIXTURE_KEY.replace("253979", "253978")).unwrap_err();
    assert!(matches!(p, KeyProblem::BadGroup { group: 3, .. }), "{p:?}");
}

#[test]
fn an_ntfs_image_is_not_bitlocker() {
    let name = "an_ntfs_image_is_not_bitlocker";
    let Some(()) = need(name, &["mkntfs", "blkid"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("plain.img");
    std::fs::File::create(&img).unwrap().set_len(8 << 20).unwrap();
    run("mkntfs", &["-F", "-Q", img.to_str().unwrap()]);
    let e = check_key(img.to_str().unwrap(), &validate_recovery_key(FIXTURE_KEY).unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotBitLocker, "{e}");
    assert_eq!(status(img.to_str().unwrap()).unwrap().state, BitLockerState::NotEncrypted);
}

#[test]
fn locked_loop_device_is_listed_as_bitlocker_locked() {
    let name = "locked_loop_device_is_listed_as_bitlocker_locked";
    let Some(()) = need_root_and(name, &["xz", "losetup", "lsblk", "blkid"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dev = LoopDevice::attach(&bitlocker_image(tmp.path()));

    let volumes = list_volumes().unwrap();
    let v = volumes
        .iter()
        .find(|v| v.device.as_deref() == Some(dev.path()))
        .unwrap_or_else(|| panic!("{} not listed: {volumes:#?}", dev.path()));
    assert_eq!(v.file_system, "BitLocker");
    assert_eq!(v.bitlocker, BitLockerState::Locked);
    assert_eq!(v.mount_point, None);
    assert_eq!(v.size_bytes, 100 * 1024 * 1024);
    assert_eq!(v.export, None);
    assert_eq!(status(dev.path()).unwrap().state, BitLockerState::Locked);
}

#[test]
fn wrong_key_on_a_loop_device_stops_before_dislocker() {
    let name = "wrong_key_on_a_loop_device_stops_before_dislocker";
    let Some(()) = need_root_and(name, &["xz", "losetup", "blkid", "cryptsetup"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dev = LoopDevice::attach(&bitlocker_image(tmp.path()));
    let mnt = tmp.path().join("mnt");
    let e = unlock(dev.path(), &validate_recovery_key(OTHER_KEY).unwrap(), Some(&mnt)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BitLockerKeyInvalid, "{e}");
    assert!(!dislocker_mounted_for(dev.path()), "dislocker must not have been started");
}

/// The FUSE directory of a running dislocker for `dev`, if any.
fn dislocker_mounted_for(dev: &str) -> bool {
    let dir = format!("/run/driverepair/dislocker-{}", Path::new(dev).file_name().unwrap().to_string_lossy());
    is_mount_point(Path::new(&dir))
}

/// Reads `len` bytes at `offset` of the decrypted volume.
fn read_at(file: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = std::fs::File::open(file).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn full_unlock_decrypts_with_dislocker_and_reports_why_the_stripped_ntfs_cannot_mount() {
    let name = "full_unlock_decrypts_with_dislocker_and_reports_why_the_stripped_ntfs_cannot_mount";
    let Some(()) = need_root_and(name, &["xz", "losetup", "blkid", "cryptsetup", "dislocker-fuse", "ntfs-3g", "fusermount"])
    else {
        return;
    };
    if !Path::new("/dev/fuse").exists() {
        return skip(name, "/dev/fuse does not exist (no FUSE in this kernel or container)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dev = LoopDevice::attach(&bitlocker_image(tmp.path()));
    let key = validate_recovery_key(FIXTURE_KEY).unwrap();
    let mnt = tmp.path().join("mnt");

    // 1. The whole unlock: key check, dislocker-fuse (key typed on a private terminal),
    //    then ntfs-3g, which refuses the stripped NTFS. The error passes its words on and
    //    dislocker is unmounted again.
    let e = unlock(dev.path(), &key, Some(&mnt)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnlockFailed, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("decrypted") && msg.contains("ntfs-3g"), "{msg}");
    assert!(!msg.contains("235818"), "no key in messages: {msg}");
    assert!(!is_mount_point(&mnt));
    assert!(!dislocker_mounted_for(dev.path()), "dislocker is released after the failure");

    // 2. The decryption itself is right: run dislocker-fuse the way unlock does and read
    //    the decrypted boot sector (NTFS, serial 68844E71844E41B4 per the fixture README)
    //    and MFT record 0.
    let dl = tmp.path().join("dislocker");
    std::fs::create_dir(&dl).unwrap();
    let out = SystemRunner::default()
        .run(
            "dislocker-fuse",
            &args(["-V", dev.path(), "-p", "--", dl.to_str().unwrap()]),
            KeyInput::Terminal(key.secret()),
        )
        .unwrap();
    let _dl_guard = MountGuard(dl.clone());
    assert!(out.success(), "{out:?}");
    assert!(!out.text().contains("235818") && !out.text().contains("591910"), "output scrubbed: {out:?}");
    let file = dl.join("dislocker-file");
    let boot = read_at(&file, 0, 512);
    assert_eq!(&boot[3..11], b"NTFS    ");
    assert_eq!(u64::from_le_bytes(boot[0x48..0x50].try_into().unwrap()), 0x6884_4E71_844E_41B4);
    let cluster = u64::from(u16::from_le_bytes([boot[0x0B], boot[0x0C]])) * u64::from(boot[0x0D]);
    let mft = u64::from_le_bytes(boot[0x30..0x38].try_into().unwrap()) * cluster;
    assert_eq!(&read_at(&file, mft, 4), b"FILE");

    // 3. While dislocker runs, the volume lists as Unlocked (not yet mounted), and
    //    unlock goes straight to ntfs-3g without touching that dislocker.
    let volumes = list_volumes().unwrap();
    let v = volumes.iter().find(|v| v.device.as_deref() == Some(dev.path())).unwrap();
    assert_eq!(v.bitlocker, BitLockerState::Unlocked, "{v:?}");
    assert_eq!(v.file_system, "ntfs", "blkid reads the decrypted file");
    assert_eq!(status(dev.path()).unwrap().state, BitLockerState::Unlocked);
    let e = unlock(dev.path(), &key, Some(&mnt)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnlockFailed, "{e}");
    assert!(is_mount_point(&dl), "a dislocker we did not start is left alone");
}
