//! `driverepair Drives [/json]` and `driverepair Unlock /drive:<X: | /dev/…> /bk:<key> [/mount:<dir>]`,
//! the command-line face of the engine's drive detection and BitLocker unlock (the
//! desktop wizard uses the same engine functions).
//!
//! Unlock exit codes (as WAImportExport's own Unlock): 0 unlocked or already unlocked;
//! 2 malformed key; 4 BitLocker key invalid; 5 not a BitLocker volume or volume not
//! found; 6 unlock failed for another reason (the tool's message is passed on).

use engine::bitlocker::{self, validate_recovery_key, UnlockOutcome};
use engine::drives::{list_volumes, BitLockerState, Volume};
use engine::{EngineError, ErrorKind};
use std::io::{self, BufRead, Write};
use std::path::Path;

use crate::exit;

/// Lists the volumes: a table, or with `json` a JSON array with one object per volume.
pub fn drives(json: bool) -> anyhow::Result<i32> {
    let volumes = list_volumes()?;
    let mut out = io::stdout().lock();
    write_drives(&volumes, json, &mut out)?;
    Ok(exit::OK)
}

pub fn write_drives(volumes: &[Volume], json: bool, w: &mut dyn Write) -> io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *w, volumes)?;
        return writeln!(w);
    }
    if volumes.is_empty() {
        return writeln!(w, "No volumes found. Connect the export drive, or choose its folder instead.");
    }
    let rows: Vec<[String; 8]> = volumes
        .iter()
        .map(|v| {
            [
                v.id.clone(),
                v.mount_point.clone().unwrap_or_else(|| "-".into()),
                if v.label.is_empty() { "-".into() } else { v.label.clone() },
                if v.file_system.is_empty() { "?".into() } else { v.file_system.clone() },
                match v.free_bytes {
                    Some(free) => format!("{} ({} free)", human_size(v.size_bytes), human_size(free)),
                    None => human_size(v.size_bytes),
                },
                if v.removable { "removable" } else { "fixed" }.into(),
                bitlocker_word(v.bitlocker).into(),
                match &v.export {
                    Some(e) => format!("drive {} ({} blobs)", e.drive_id, e.blob_count),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    let header = ["VOLUME", "MOUNTED AT", "LABEL", "FS", "SIZE", "KIND", "BITLOCKER", "EXPORT"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(w, "{}", line(&header.map(String::from)))?;
    for r in &rows {
        writeln!(w, "{}", line(r))?;
    }
    Ok(())
}

fn bitlocker_word(s: BitLockerState) -> &'static str {
    match s {
        BitLockerState::NotEncrypted => "not encrypted",
        BitLockerState::Locked => "locked",
        BitLockerState::Unlocked => "unlocked",
        BitLockerState::Unknown => "unknown",
    }
}

/// Decimal units, as drive makers and Windows Explorer's sizes on the box.
fn human_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Unlocks a BitLocker volume. `key` is the 48-digit recovery password (hyphens
/// optional) or the base64 key string; `-` reads it from the first line of standard
/// input, which keeps it out of the process list.
pub fn unlock(drive: &str, key: &str, mount: Option<&str>) -> anyhow::Result<i32> {
    let mut out = io::stdout().lock();
    let mut err = io::stderr().lock();
    let key = if key == "-" {
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
        line
    } else {
        key.to_string()
    };
    Ok(unlock_to(drive, &key, mount, &mut out, &mut err))
}

pub fn unlock_to(drive: &str, key: &str, mount: Option<&str>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let key = match validate_recovery_key(key) {
        Ok(k) => k,
        Err(problem) => {
            // The user typed it; naming the wrong group helps them find the typo.
            let _ = writeln!(err, "error: the BitLocker key is malformed: {problem}");
            return exit::USAGE_OR_INPUT;
        }
    };
    match bitlocker::unlock(drive, &key, mount.map(Path::new)) {
        Ok(UnlockOutcome::Unlocked { mount_point }) => {
            let _ = match mount_point {
                Some(mp) => writeln!(out, "Unlocked {drive}; its files are at {mp}"),
                None => writeln!(out, "Unlocked {drive}"),
            };
            exit::OK
        }
        Ok(UnlockOutcome::AlreadyUnlocked { mount_point }) => {
            let _ = match mount_point {
                Some(mp) => writeln!(out, "{drive} is already unlocked; its files are at {mp}"),
                None => writeln!(out, "{drive} is already unlocked"),
            };
            exit::OK
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            exit_code(&e)
        }
    }
}

pub fn exit_code(e: &EngineError) -> i32 {
    match e.kind() {
        ErrorKind::BitLockerKeyMalformed => exit::USAGE_OR_INPUT,
        ErrorKind::BitLockerKeyInvalid => exit::KEY_INVALID,
        ErrorKind::NotBitLocker => exit::NOT_BITLOCKER,
        ErrorKind::Usage => exit::USAGE_OR_INPUT,
        _ => exit::UNLOCK_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::drives::ExportInfo;
    use std::process::Command;

    const KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591910";
    const OTHER_KEY: &str = "238810-662376-448998-450120-652806-203390-606320-483076";

    fn have(tool: &str) -> bool {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false)
    }

    fn skip(test: &str, why: &str) {
        println!("SKIPPED {test}: {why}");
        eprintln!("SKIPPED {test}: {why}");
    }

    /// The BitLocker fixture as an image file (the tools accept files as well as devices).
    fn fixture_image(dir: &Path) -> std::path::PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures/bitlocker/bitlk-aes-xts-128.img.xz");
        let dst = dir.join("bitlk.img");
        let f = std::fs::File::create(&dst).unwrap();
        assert!(Command::new("xz").arg("-dc").arg(&src).stdout(f).status().unwrap().success());
        dst
    }

    fn run_unlock(drive: &str, key: &str, mount: Option<&str>) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = unlock_to(drive, key, mount, &mut out, &mut err);
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    fn sample() -> Vec<Volume> {
        vec![
            Volume {
                id: "/dev/sdb1".into(),
                device: Some("/dev/sdb1".into()),
                mount_point: None,
                label: String::new(),
                file_system: "BitLocker".into(),
                size_bytes: 2_000_397_795_328,
                free_bytes: None,
                removable: true,
                bitlocker: BitLockerState::Locked,
                export: None,
            },
            Volume {
                id: "/dev/sdc1".into(),
                device: Some("/dev/sdc1".into()),
                mount_point: Some("/media/export".into()),
                label: "EXPORT".into(),
                file_system: "ntfs".into(),
                size_bytes: 1_000_000_000,
                free_bytes: Some(250_000_000),
                removable: false,
                bitlocker: BitLockerState::NotEncrypted,
                export: Some(ExportInfo {
                    manifest_path: "/media/export/9WM35C3U.manifest".into(),
                    drive_id: "9WM35C3U".into(),
                    blob_count: 3,
                }),
            },
        ]
    }

    #[test]
    fn json_has_one_object_per_volume_with_the_engine_field_names() {
        let mut buf = Vec::new();
        write_drives(&sample(), true, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 2);
        assert_eq!(arr[0]["bitlocker"], "Locked");
        assert_eq!(arr[0]["mount_point"], serde_json::Value::Null);
        assert_eq!(arr[1]["export"]["drive_id"], "9WM35C3U");
        assert_eq!(arr[1]["export"]["blob_count"], 3);
        assert_eq!(arr[1]["free_bytes"], 250_000_000);
        for key in ["id", "device", "mount_point", "label", "file_system", "size_bytes", "free_bytes", "removable", "bitlocker", "export"] {
            assert!(arr[0].get(key).is_some(), "missing {key}");
        }
    }

    #[test]
    fn drives_json_of_this_machine_parses() {
        // The same path `drives(true)` takes, on whatever this machine has.
        let volumes = match list_volumes() {
            Ok(v) => v,
            Err(e) => return skip("drives_json_of_this_machine_parses", &e.to_string()),
        };
        let mut buf = Vec::new();
        write_drives(&volumes, true, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v.as_array().unwrap().len(), volumes.len());
    }

    #[test]
    fn table_shows_state_export_and_sizes() {
        let mut buf = Vec::new();
        write_drives(&sample(), false, &mut buf).unwrap();
        let t = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("VOLUME"), "{t}");
        assert!(lines[1].contains("/dev/sdb1") && lines[1].contains("locked") && lines[1].contains("2.0 TB"), "{t}");
        assert!(lines[2].contains("drive 9WM35C3U (3 blobs)") && lines[2].contains("250.0 MB free"), "{t}");
        let mut buf = Vec::new();
        write_drives(&[], false, &mut buf).unwrap();
        assert!(String::from_utf8(buf).unwrap().contains("No volumes found"));
    }

    #[test]
    fn malformed_key_exits_2_and_names_the_group() {
        let (code, _, err) = run_unlock("/dev/null", &KEY.replace("253979", "253978"), None);
        assert_eq!(code, exit::USAGE_OR_INPUT);
        assert!(err.contains("group 3 (253978)"), "{err}");
        let (code, _, _) = run_unlock("/dev/null", "hello!", None);
        assert_eq!(code, exit::USAGE_OR_INPUT);
    }

    #[test]
    fn missing_volume_exits_5() {
        let (code, _, err) = run_unlock("/dev/driverepair-none", KEY, None);
        assert_eq!(code, exit::NOT_BITLOCKER, "{err}");
        assert!(err.contains("volume not found"), "{err}");
    }

    #[test]
    fn wrong_key_on_the_fixture_exits_4_and_ntfs_exits_5() {
        let name = "wrong_key_on_the_fixture_exits_4_and_ntfs_exits_5";
        for t in ["xz", "blkid", "cryptsetup", "mkntfs"] {
            if !have(t) {
                return skip(name, &format!("{t} is not installed"));
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let img = fixture_image(tmp.path());
        let (code, _, err) = run_unlock(img.to_str().unwrap(), OTHER_KEY, None);
        assert_eq!(code, exit::KEY_INVALID, "{err}");
        assert!(err.contains("BitLocker key invalid"), "{err}");
        assert!(!err.contains("238810"), "{err}");

        let ntfs = tmp.path().join("plain.img");
        std::fs::File::create(&ntfs).unwrap().set_len(8 << 20).unwrap();
        assert!(Command::new("mkntfs").args(["-F", "-Q"]).arg(&ntfs).output().unwrap().status.success());
        let (code, _, err) = run_unlock(ntfs.to_str().unwrap(), KEY, None);
        assert_eq!(code, exit::NOT_BITLOCKER, "{err}");
    }

    #[test]
    fn right_key_on_the_stripped_fixture_exits_6_with_the_reason() {
        let name = "right_key_on_the_stripped_fixture_exits_6_with_the_reason";
        for t in ["xz", "blkid", "cryptsetup", "dislocker-fuse", "ntfs-3g", "fusermount"] {
            if !have(t) {
                return skip(name, &format!("{t} is not installed"));
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let img = fixture_image(tmp.path());
        let mnt = tmp.path().join("mnt");
        let (code, out, err) = run_unlock(img.to_str().unwrap(), KEY, Some(mnt.to_str().unwrap()));
        assert_eq!(code, exit::UNLOCK_FAILED, "{out}{err}");
        // As root: dislocker decrypts, ntfs-3g refuses the stripped NTFS (see the fixture
        // README). Otherwise: the key is right but root is needed.
        assert!(err.contains("ntfs-3g") || err.contains("sudo"), "{err}");
        assert!(!err.contains("235818"), "{err}");
    }
}
