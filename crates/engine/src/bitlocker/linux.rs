//! Linux: BitLocker through blkid, cryptsetup, dislocker-fuse and ntfs-3g.
//!
//! The order matters. The key is checked with cryptsetup first, because dislocker
//! crashes on a wrong recovery password. Exit codes of
//! `cryptsetup open --type bitlk --test-passphrase` (2.6.1, measured on the fixture):
//! 0 = the key opens the volume; 1 = a well-formed recovery password that does not
//! (cryptsetup's "wrong or missing parameters", -EINVAL from the recovery-key path);
//! 2 = "No key available with this passphrase" (a string that is not a recovery
//! password and is not the user password). 1 is also what a device that is not BitLocker
//! gives, so the type is confirmed with blkid before.
//!
//! dislocker reads a recovery password given as bare `-p` from `/dev/tty`, so the key
//! is typed on a private pseudo-terminal and never appears in argv (`-p<key>` would
//! show in `ps` until dislocker overwrites it). A base64 key string goes in as a user
//! password (`-u`), which dislocker reads from stdin.

use super::runner::{args, CommandRunner, KeyInput, ToolOutput};
use super::{bitlocker_error, BitLockerState, RecoveryKey, StateReport, UnlockOutcome};
use crate::drives::linux as sys;
use crate::error::{ErrorKind, Result};
use std::path::{Path, PathBuf};

/// What the unlock needs to know about the machine, gathered by [`Host::current`]
/// (tests build one by hand).
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub is_root: bool,
    /// Where dislocker's FUSE directories go.
    pub run_dir: PathBuf,
    /// Default parent of mount points.
    pub media_dir: PathBuf,
    /// An existing dislocker for the device: its directory.
    pub dislocker_dir: Option<PathBuf>,
}

impl Host {
    pub(crate) fn current() -> Host {
        Host {
            // SAFETY: geteuid has no preconditions.
            is_root: unsafe { libc::geteuid() } == 0,
            run_dir: PathBuf::from("/run/driverepair"),
            media_dir: PathBuf::from("/media/driverepair"),
            dislocker_dir: None,
        }
    }
}

fn unlock_failed(msg: impl Into<String>) -> crate::EngineError {
    bitlocker_error(ErrorKind::UnlockFailed, msg)
}

fn missing_tool(tool: &str, package: &str, why: &str) -> crate::EngineError {
    unlock_failed(format!("{tool} is not installed; it is needed {why}. Install it (Debian/Ubuntu: apt install {package}) and try again."))
}

/// The file-system type blkid finds on the device, if any.
pub(crate) fn probe_type(runner: &dyn CommandRunner, dev: &Path) -> Result<Option<String>> {
    let out = runner
        .run("blkid", &args(["-p".into(), "-o".into(), "export".into(), dev.as_os_str().to_owned()]), KeyInput::None)
        .map_err(|_| missing_tool("blkid", "util-linux", "to tell whether a volume is BitLocker-encrypted"))?;
    let probes = sys::parse_blkid_export(&out.stdout);
    if let Some(p) = probes.values().next() {
        return Ok(p.fs_type.clone());
    }
    // Exit 2: nothing recognised. Anything else with no output: we could not read it.
    if out.code == Some(2) && !out.stderr.to_ascii_lowercase().contains("permission") {
        return Ok(None);
    }
    Err(unlock_failed(format!(
        "cannot read {}: {}. Reading a drive directly needs root; run with sudo.",
        dev.display(),
        non_empty(&out.text(), "blkid could not read the device")
    )))
}

pub(crate) fn require_bitlocker(runner: &dyn CommandRunner, dev: &Path) -> Result<()> {
    match probe_type(runner, dev)? {
        Some(t) if t.eq_ignore_ascii_case("BitLocker") => Ok(()),
        Some(t) => Err(bitlocker_error(
            ErrorKind::NotBitLocker,
            format!("{} is not a BitLocker volume (it holds a {t} file system), so there is nothing to unlock", dev.display()),
        )),
        None => Err(bitlocker_error(
            ErrorKind::NotBitLocker,
            format!("{} is not a BitLocker volume: no BitLocker (or other) signature was found on it", dev.display()),
        )),
    }
}

pub(crate) fn status(runner: &dyn CommandRunner, dev: &Path) -> Result<StateReport> {
    let state = match probe_type(runner, dev) {
        Ok(Some(t)) if t.eq_ignore_ascii_case("BitLocker") => {
            if sys::dislocker_for(dev).is_some() {
                BitLockerState::Unlocked
            } else {
                BitLockerState::Locked
            }
        }
        Ok(Some(_)) => BitLockerState::NotEncrypted,
        Ok(None) => {
            return Ok(StateReport {
                state: BitLockerState::Unknown,
                hint: Some("no file system or BitLocker signature was found on the volume".into()),
            })
        }
        Err(e) => return Ok(StateReport { state: BitLockerState::Unknown, hint: Some(e.to_string()) }),
    };
    Ok(StateReport { state, hint: None })
}

/// Checks the key with cryptsetup (the device must be readable; no root otherwise).
pub(crate) fn check_key(runner: &dyn CommandRunner, dev: &Path, key: &RecoveryKey) -> Result<()> {
    let a = args([
        "open".into(),
        "--type".into(),
        "bitlk".into(),
        "--test-passphrase".into(),
        "--readonly".into(),
        "--key-file=-".into(),
        dev.as_os_str().to_owned(),
    ]);
    let out = runner
        .run("cryptsetup", &a, KeyInput::Stdin(key.secret()))
        .map_err(|_| missing_tool("cryptsetup", "cryptsetup-bin", "to check the key before dislocker uses it (dislocker crashes on a wrong key)"))?;
    interpret_key_check(&out, dev)
}

fn interpret_key_check(out: &ToolOutput, dev: &Path) -> Result<()> {
    let text = out.text();
    match out.code {
        Some(0) => Ok(()),
        Some(1) | Some(2) if text.contains("not a valid BITLK device") => Err(bitlocker_error(
            ErrorKind::NotBitLocker,
            format!("{} is not a BitLocker volume (cryptsetup: {})", dev.display(), text.trim()),
        )),
        Some(1) | Some(2) => Err(bitlocker_error(
            ErrorKind::BitLockerKeyInvalid,
            format!("BitLocker key invalid: the key does not unlock {}. Check that it is the recovery password of this drive (the Azure portal lists one per drive ID).", dev.display()),
        )),
        Some(4) => Err(unlock_failed(format!(
            "cannot open {} to check the key ({}). Reading a drive directly needs root; run with sudo.",
            dev.display(),
            non_empty(&text, "access denied")
        ))),
        _ => Err(unlock_failed(format!(
            "checking the key on {} failed: {}",
            dev.display(),
            non_empty(&text, "cryptsetup ended without a message")
        ))),
    }
}

/// The unlock: type check, already-unlocked check, key check, root check, dislocker,
/// ntfs-3g. On a failure after dislocker started, its FUSE directory is unmounted again.
pub(crate) fn unlock(
    runner: &dyn CommandRunner,
    host: &Host,
    dev: &Path,
    key: &RecoveryKey,
    mount: Option<&Path>,
) -> Result<UnlockOutcome> {
    require_bitlocker(runner, dev)?;

    let existing = host.dislocker_dir.clone().or_else(|| sys::dislocker_for(dev).map(|i| PathBuf::from(i.dir)));
    if let Some(dir) = &existing {
        if let Some(mp) = sys::mount_of_file(&dir.join("dislocker-file")) {
            return Ok(UnlockOutcome::AlreadyUnlocked { mount_point: Some(mp.to_string_lossy().into_owned()) });
        }
    }

    check_key(runner, dev, key)?;

    if !host.is_root {
        return Err(unlock_failed(
            "the key is right, but unlocking needs root (dislocker and mounting a file system); run the command again with sudo",
        ));
    }
    let dev_name = dev.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "volume".into());
    let mount_dir = mount.map(Path::to_path_buf).unwrap_or_else(|| host.media_dir.join(&dev_name));
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|e| unlock_failed(format!("cannot create the folder {}: {e}", p.display())))
    };
    let created_mount_dir = !mount_dir.exists();
    mkdir(&mount_dir)?;
    // On failure, leave no empty folder behind that we made.
    let tidy = |ok: bool| {
        if !ok && created_mount_dir {
            let _ = std::fs::remove_dir(&mount_dir);
        }
    };

    let (dl_dir, started_here) = match existing {
        Some(dir) => (dir, false),
        None => {
            let dir = host.run_dir.join(format!("dislocker-{dev_name}"));
            mkdir(&dir)?;
            if let Err(e) = run_dislocker(runner, dev, key, &dir) {
                tidy(false);
                return Err(e);
            }
            (dir, true)
        }
    };

    let file = dl_dir.join("dislocker-file");
    let out = runner
        .run("ntfs-3g", &args([file.as_os_str(), mount_dir.as_os_str()]), KeyInput::None)
        .map_err(|_| {
            if started_here {
                release_fuse(runner, &dl_dir);
            }
            tidy(false);
            missing_tool("ntfs-3g", "ntfs-3g", "to mount the decrypted NTFS volume")
        })?;
    if !out.success() {
        if started_here {
            release_fuse(runner, &dl_dir);
        }
        tidy(false);
        return Err(unlock_failed(format!(
            "the volume was decrypted, but its NTFS file system could not be mounted at {} (ntfs-3g: {}). The drive may be damaged; on Windows, chkdsk can check it.",
            mount_dir.display(),
            summarise(&out.text())
        )));
    }
    Ok(UnlockOutcome::Unlocked { mount_point: Some(mount_dir.to_string_lossy().into_owned()) })
}

fn run_dislocker(runner: &dyn CommandRunner, dev: &Path, key: &RecoveryKey, dir: &Path) -> Result<()> {
    let (flag, input) = match key {
        RecoveryKey::RecoveryPassword(s) => ("-p", KeyInput::Terminal(s)),
        RecoveryKey::Password(s) => ("-u", KeyInput::Stdin(s)),
    };
    let a = args([
        "-V".into(),
        dev.as_os_str().to_owned(),
        flag.into(),
        "--".into(),
        dir.as_os_str().to_owned(),
    ]);
    let out = runner
        .run("dislocker-fuse", &a, input)
        .map_err(|_| missing_tool("dislocker-fuse", "dislocker", "to decrypt BitLocker volumes on Linux"))?;
    let decrypted = dir.join("dislocker-file");
    if out.success() && decrypted.exists() {
        return Ok(());
    }
    release_fuse(runner, dir);
    Err(unlock_failed(format!(
        "BitLocker unlock volume failed: dislocker could not open {} ({}). Check that FUSE is available (/dev/fuse) and the drive is readable.",
        dev.display(),
        summarise(&out.text())
    )))
}

/// Unmounts a dislocker FUSE directory (best effort, used on the way out of a failure).
pub(crate) fn release_fuse(runner: &dyn CommandRunner, dir: &Path) {
    let ok = runner
        .run("fusermount", &args(["-u".into(), dir.as_os_str().to_owned()]), KeyInput::None)
        .map(|o| o.success())
        .unwrap_or(false);
    if !ok {
        let _ = runner.run("umount", &args([dir.as_os_str()]), KeyInput::None);
    }
    // Only removes the folder if it is empty, i.e. really unmounted.
    let _ = std::fs::remove_dir(dir);
}

/// The lines of a tool's output worth showing: errors first, at most three.
fn summarise(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let important: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            let x = l.to_ascii_lowercase();
            x.contains("error") || x.contains("fail") || x.contains("critical") || x.contains("cannot")
        })
        .collect();
    let pick = if important.is_empty() { &lines } else { &important };
    let s = pick.iter().take(3).copied().collect::<Vec<_>>().join("; ");
    non_empty(&s, "no message").to_string()
}

fn non_empty<'a>(s: &'a str, fallback: &'a str) -> &'a str {
    if s.trim().is_empty() {
        fallback
    } else {
        s.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::super::runner::fake::FakeRunner;
    use super::*;
    use crate::bitlocker::validate_recovery_key;

    const KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591910";
    const BLKID_BITLOCKER: &str = "DEVNAME=/dev/sdz1\nVERSION=2\nTYPE=BitLocker\nUSAGE=crypto\n";

    fn host(tmp: &Path, root: bool) -> Host {
        Host {
            is_root: root,
            run_dir: tmp.join("run"),
            media_dir: tmp.join("media"),
            dislocker_dir: None,
        }
    }

    fn key() -> RecoveryKey {
        validate_recovery_key(KEY).unwrap()
    }

    #[test]
    fn a_volume_that_is_not_bitlocker_is_refused_before_the_key_is_used() {
        let r = FakeRunner::default().answer("blkid", "", 0, "DEVNAME=/dev/sdz1\nTYPE=ntfs\n", "");
        let t = tempfile::tempdir().unwrap();
        let e = unlock(&r, &host(t.path(), true), Path::new("/dev/sdz1"), &key(), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotBitLocker);
        assert!(e.to_string().contains("ntfs"), "{e}");
        assert_eq!(r.programs(), ["blkid"]);

        let r = FakeRunner::default().answer("blkid", "", 2, "", "");
        let e = unlock(&r, &host(t.path(), true), Path::new("/dev/sdz1"), &key(), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotBitLocker);
    }

    #[test]
    fn wrong_key_stops_before_dislocker_and_the_key_went_on_stdin() {
        for code in [1, 2] {
            let r = FakeRunner::default()
                .answer("blkid", "", 0, BLKID_BITLOCKER, "")
                .answer("cryptsetup", "", code, "", "No key available with this passphrase.");
            let t = tempfile::tempdir().unwrap();
            let e = unlock(&r, &host(t.path(), true), Path::new("/dev/sdz1"), &key(), None).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BitLockerKeyInvalid, "exit {code}");
            assert!(!e.to_string().contains("235818"));
            assert_eq!(r.programs(), ["blkid", "cryptsetup"]);
            let calls = r.calls.borrow();
            assert_eq!(calls[1].key, format!("stdin:{KEY}"));
            assert!(!calls[1].args.iter().any(|a| a.contains("235818")), "key not in argv");
        }
    }

    #[test]
    fn right_key_without_root_says_sudo() {
        let r = FakeRunner::default()
            .answer("blkid", "", 0, BLKID_BITLOCKER, "")
            .answer("cryptsetup", "", 0, "", "");
        let t = tempfile::tempdir().unwrap();
        let e = unlock(&r, &host(t.path(), false), Path::new("/dev/sdz1"), &key(), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnlockFailed);
        assert!(e.to_string().contains("sudo"), "{e}");
    }

    #[test]
    fn unreadable_device_is_an_unlock_failure_not_a_wrong_key() {
        let r = FakeRunner::default()
            .answer("blkid", "", 0, BLKID_BITLOCKER, "")
            .answer("cryptsetup", "", 4, "", "Device /dev/sdz1 does not exist or access denied.");
        let t = tempfile::tempdir().unwrap();
        let e = unlock(&r, &host(t.path(), false), Path::new("/dev/sdz1"), &key(), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnlockFailed);
        let r = FakeRunner::default().answer("blkid", "", 2, "", "blkid: error: /dev/sdz1: Permission denied");
        let e = unlock(&r, &host(t.path(), false), Path::new("/dev/sdz1"), &key(), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnlockFailed);
        assert!(e.to_string().contains("root"), "{e}");
    }

    #[test]
    fn full_unlock_types_the_recovery_password_on_a_terminal_and_mounts_ntfs() {
        let t = tempfile::tempdir().unwrap();
        let h = host(t.path(), true);
        let dl = h.run_dir.join("dislocker-sdz1");
        std::fs::create_dir_all(&dl).unwrap();
        // What dislocker-fuse would expose.
        std::fs::write(dl.join("dislocker-file"), "").unwrap();
        let r = FakeRunner::default()
            .answer("blkid", "", 0, BLKID_BITLOCKER, "")
            .answer("cryptsetup", "", 0, "", "")
            .answer("dislocker-fuse", "", 0, "", "")
            .answer("ntfs-3g", "", 0, "", "");
        let out = unlock(&r, &h, Path::new("/dev/sdz1"), &key(), None).unwrap();
        let mp = h.media_dir.join("sdz1");
        assert_eq!(out, UnlockOutcome::Unlocked { mount_point: Some(mp.to_string_lossy().into_owned()) });
        let calls = r.calls.borrow();
        assert_eq!(calls[2].args, ["-V", "/dev/sdz1", "-p", "--", dl.to_str().unwrap()]);
        assert_eq!(calls[2].key, format!("terminal:{KEY}"));
        assert_eq!(calls[3].args, [dl.join("dislocker-file").to_str().unwrap(), mp.to_str().unwrap()]);
    }

    #[test]
    fn base64_keys_go_to_dislocker_as_a_user_password_on_stdin() {
        let t = tempfile::tempdir().unwrap();
        let h = host(t.path(), true);
        let dl = h.run_dir.join("dislocker-sdz1");
        std::fs::create_dir_all(&dl).unwrap();
        // What dislocker-fuse would expose.
        std::fs::write(dl.join("dislocker-file"), "").unwrap();
        let r = FakeRunner::default()
            .answer("blkid", "", 0, BLKID_BITLOCKER, "")
            .answer("cryptsetup", "", 0, "", "")
            .answer("dislocker-fuse", "", 0, "", "")
            .answer("ntfs-3g", "", 0, "", "");
        let k = validate_recovery_key("anaconda").unwrap();
        unlock(&r, &h, Path::new("/dev/sdz1"), &k, Some(&t.path().join("m"))).unwrap();
        let calls = r.calls.borrow();
        assert_eq!(calls[2].args[2], "-u");
        assert_eq!(calls[2].key, "stdin:anaconda");
    }

    #[test]
    fn ntfs_mount_failure_releases_dislocker_and_passes_the_message_on() {
        let t = tempfile::tempdir().unwrap();
        let h = host(t.path(), true);
        let dl = h.run_dir.join("dislocker-sdz1");
        std::fs::create_dir_all(&dl).unwrap();
        // What dislocker-fuse would expose.
        std::fs::write(dl.join("dislocker-file"), "").unwrap();
        let r = FakeRunner::default()
            .answer("blkid", "", 0, BLKID_BITLOCKER, "")
            .answer("cryptsetup", "", 0, "", "")
            .answer("dislocker-fuse", "", 0, "", "")
            .answer("ntfs-3g", "", 13, "", "Failed to mount '/x/dislocker-file': Input/output error\nNTFS is either inconsistent")
            .answer("fusermount", "", 0, "", "");
        let e = unlock(&r, &h, Path::new("/dev/sdz1"), &key(), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnlockFailed);
        assert!(e.to_string().contains("Input/output error"), "{e}");
        assert_eq!(r.programs().last().unwrap(), "fusermount");
    }

    #[test]
    fn dislocker_failure_is_an_unlock_failure_without_the_key() {
        let t = tempfile::tempdir().unwrap();
        let r = FakeRunner::default()
            .answer("blkid", "", 0, BLKID_BITLOCKER, "")
            .answer("cryptsetup", "", 0, "", "")
            .answer("dislocker-fuse", "", 1, "Sat Nov 21 [CRITICAL] Cannot open /dev/fuse", "")
            .answer("fusermount", "", 1, "", "")
            .answer("umount", "", 1, "", "");
        let e = unlock(&r, &host(t.path(), true), Path::new("/dev/sdz1"), &key(), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnlockFailed);
        assert!(e.to_string().contains("/dev/fuse"), "{e}");
        assert!(e.to_string().contains("BitLocker unlock volume failed"), "{e}");
    }

    #[test]
    fn missing_tools_say_which_package() {
        let t = tempfile::tempdir().unwrap();
        let r = FakeRunner::default().answer("blkid", "", 0, BLKID_BITLOCKER, "").missing("cryptsetup");
        let e = unlock(&r, &host(t.path(), true), Path::new("/dev/sdz1"), &key(), None).unwrap_err();
        assert!(e.to_string().contains("apt install cryptsetup-bin"), "{e}");
    }

    #[test]
    fn cryptsetup_saying_not_bitlk_is_not_bitlocker() {
        let out = ToolOutput { code: Some(1), stdout: String::new(), stderr: "Device /dev/x is not a valid BITLK device.".into() };
        assert_eq!(interpret_key_check(&out, Path::new("/dev/x")).unwrap_err().kind(), ErrorKind::NotBitLocker);
    }
}
