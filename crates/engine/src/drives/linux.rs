//! Linux: which volumes exist (`lsblk -J`), what they hold (`blkid -p`, which also
//! sees BitLocker where there is no udev), where they are mounted (`/proc/mounts`), and
//! which BitLocker volumes dislocker has opened (`/proc/<pid>/cmdline`).
//!
//! The parsers and [`assemble`] are pure functions of those texts, so they are tested
//! with captured output; [`gather`] only reads the system.

use super::{BitLockerState, Volume};
use crate::bitlocker::runner::{args, CommandRunner, KeyInput};
use crate::error::{EngineError, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const LSBLK_COLUMNS: &str = "NAME,PATH,TYPE,FSTYPE,LABEL,SIZE,RM,HOTPLUG,MOUNTPOINT,MAJ:MIN";

/// One block device from `lsblk -J -b`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockDevice {
    pub name: String,
    pub path: String,
    pub kind: String,
    pub fstype: Option<String>,
    pub label: Option<String>,
    pub size: u64,
    pub removable: bool,
    pub hotplug: bool,
    pub mountpoint: Option<String>,
    pub children: Vec<BlockDevice>,
}

/// Parses `lsblk -J -b -o …`. Tolerates the older shapes (sizes and flags as strings,
/// no PATH column).
pub fn parse_lsblk(json: &str) -> Result<Vec<BlockDevice>> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| EngineError::Internal(format!("lsblk printed JSON we cannot read: {e}")))?;
    let list = v
        .get("blockdevices")
        .and_then(|b| b.as_array())
        .ok_or_else(|| EngineError::Internal("lsblk JSON has no \"blockdevices\" list".into()))?;
    Ok(list.iter().map(block_device).collect())
}

fn block_device(v: &serde_json::Value) -> BlockDevice {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string).filter(|x| !x.is_empty());
    let flag = |k: &str| match v.get(k) {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(x)) => x == "1" || x == "true",
        Some(serde_json::Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    };
    let size = match v.get("size") {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(serde_json::Value::String(x)) => x.trim().parse().unwrap_or(0),
        _ => 0,
    };
    let name = s("name").unwrap_or_default();
    BlockDevice {
        path: s("path").unwrap_or_else(|| format!("/dev/{name}")),
        name,
        kind: s("type").unwrap_or_default(),
        fstype: s("fstype"),
        label: s("label"),
        size,
        removable: flag("rm"),
        hotplug: flag("hotplug"),
        mountpoint: s("mountpoint"),
        children: v
            .get("children")
            .and_then(|c| c.as_array())
            .map(|c| c.iter().map(block_device).collect())
            .unwrap_or_default(),
    }
}

/// What `blkid -p -o export DEV…` says about each device: DEVNAME → (TYPE, LABEL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probe {
    pub fs_type: Option<String>,
    pub label: Option<String>,
}

pub fn parse_blkid_export(text: &str) -> HashMap<String, Probe> {
    let mut out = HashMap::new();
    let mut dev: Option<String> = None;
    let mut probe = Probe::default();
    let mut flush = |dev: &mut Option<String>, probe: &mut Probe| {
        if let Some(d) = dev.take() {
            out.insert(d, std::mem::take(probe));
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            flush(&mut dev, &mut probe);
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = unescape_blkid(v);
        match k {
            "DEVNAME" => {
                flush(&mut dev, &mut probe);
                dev = Some(v);
            }
            "TYPE" => probe.fs_type = Some(v),
            "LABEL" => probe.label = Some(v),
            _ => {}
        }
    }
    flush(&mut dev, &mut probe);
    out
}

/// `-o export` escapes shell-special characters with a backslash.
fn unescape_blkid(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub source: String,
    pub target: String,
    pub fstype: String,
}

pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            Some(MountEntry {
                source: unescape_octal(f.next()?),
                target: unescape_octal(f.next()?),
                fstype: f.next()?.to_string(),
            })
        })
        .collect()
}

/// `/proc/mounts` writes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A running dislocker: the BitLocker device it opened and its FUSE directory
/// (holding `dislocker-file`, the decrypted volume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DislockerInstance {
    pub device: String,
    pub dir: String,
}

/// Reads a dislocker command line (NUL-separated, as in `/proc/<pid>/cmdline`).
/// dislocker overwrites the password in its argv; only `-V` and the directory are used.
pub fn parse_dislocker_cmdline(cmdline: &[u8]) -> Option<(String, String)> {
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let prog = Path::new(argv.first()?).file_name()?.to_string_lossy().into_owned();
    if !prog.starts_with("dislocker") {
        return None;
    }
    let mut device = None;
    let mut dir = None;
    let mut after_dashes = false;
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if after_dashes {
            if a == "-o" {
                i += 1; // FUSE option value
            } else if !a.starts_with('-') {
                dir = Some(a.clone());
            }
        } else if a == "--" {
            after_dashes = true;
        } else if a == "-V" || a == "--volume" {
            device = argv.get(i + 1).cloned();
            i += 1;
        } else if let Some(v) = a.strip_prefix("--volume=") {
            device = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("-V") {
            device = Some(v.to_string());
        }
        i += 1;
    }
    Some((device?, dir?))
}

/// Matches dislocker command lines to their FUSE mounts. A relative directory in the
/// command line (dislocker changes to `/` when it daemonises) is matched by suffix.
pub fn dislocker_instances(cmdlines: &[(String, String)], mounts: &[MountEntry]) -> Vec<DislockerInstance> {
    let fuse_dirs: Vec<&str> = mounts
        .iter()
        .filter(|m| m.fstype.contains("dislocker") || m.source.contains("dislocker"))
        .map(|m| m.target.as_str())
        .collect();
    cmdlines
        .iter()
        .filter_map(|(device, dir)| {
            let d = dir.trim_end_matches('/');
            let found = fuse_dirs.iter().find(|m| {
                **m == d || (!d.starts_with('/') && m.ends_with(&format!("/{}", d.trim_start_matches("./"))))
            })?;
            Some(DislockerInstance { device: device.clone(), dir: found.to_string() })
        })
        .collect()
}

/// Everything [`assemble`] needs, read from the system by [`gather`].
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub devices: Vec<BlockDevice>,
    pub probes: HashMap<String, Probe>,
    pub mounts: Vec<MountEntry>,
    pub dislockers: Vec<DislockerInstance>,
    /// Device paths as the system resolves them (`/dev/disk/by-uuid/…` → `/dev/sdb1`).
    pub canonical: HashMap<String, String>,
}

/// Mount points that hold the running system, never an export drive.
fn is_system_mount(target: &str) -> bool {
    target == "/"
        || ["/boot", "/usr", "/var", "/etc", "/opt", "/snap", "/nix"]
            .iter()
            .any(|p| target == *p || target.starts_with(&format!("{p}/")))
}

/// The volumes a user could mean, without free space and export info (filled by the
/// caller, which may touch the file systems).
pub fn assemble(s: &Snapshot) -> Vec<Volume> {
    let mut leaves = Vec::new();
    fn collect<'a>(d: &'a BlockDevice, parent_removable: bool, out: &mut Vec<(&'a BlockDevice, bool)>) {
        let removable = parent_removable || d.removable || d.hotplug;
        if d.children.is_empty() {
            out.push((d, removable));
        } else {
            for c in &d.children {
                collect(c, removable, out);
            }
        }
    }
    for d in &s.devices {
        collect(d, false, &mut leaves);
    }
    let canon = |p: &str| s.canonical.get(p).cloned().unwrap_or_else(|| p.to_string());

    let mut volumes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (d, removable) in leaves {
        if d.size == 0
            || d.name.starts_with("zram")
            || d.name.starts_with("ram")
            || !matches!(d.kind.as_str(), "disk" | "part" | "loop" | "crypt" | "lvm" | "md" | "raid0" | "raid1" | "raid5" | "raid6" | "raid10")
            || !seen.insert(d.path.clone())
        {
            continue;
        }
        let dev = canon(&d.path);
        let mount = s.mounts.iter().find(|m| canon(&m.source) == dev);
        if mount.is_some_and(|m| is_system_mount(&m.target)) || d.mountpoint.as_deref().is_some_and(is_system_mount) {
            continue;
        }
        let probe = s.probes.get(&d.path).or_else(|| s.probes.get(&dev));
        let fs_type = d
            .fstype
            .clone()
            .or_else(|| probe.and_then(|p| p.fs_type.clone()))
            .or_else(|| mount.map(|m| m.fstype.clone()).filter(|t| t != "fuseblk"));
        if matches!(fs_type.as_deref(), Some("swap") | Some("squashfs")) {
            continue;
        }
        let label = d.label.clone().or_else(|| probe.and_then(|p| p.label.clone())).unwrap_or_default();
        let is_bitlocker = fs_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("BitLocker"));

        let mut v = Volume {
            id: d.path.clone(),
            device: Some(d.path.clone()),
            mount_point: mount.map(|m| m.target.clone()),
            label,
            file_system: fs_type.clone().unwrap_or_default(),
            size_bytes: d.size,
            free_bytes: None,
            removable,
            bitlocker: BitLockerState::Unknown,
            export: None,
        };
        if is_bitlocker {
            v.file_system = "BitLocker".into();
            v.bitlocker = BitLockerState::Locked;
            if let Some(inst) = s.dislockers.iter().find(|i| canon(&i.device) == dev) {
                v.bitlocker = BitLockerState::Unlocked;
                let file = format!("{}/dislocker-file", inst.dir.trim_end_matches('/'));
                v.mount_point = s.mounts.iter().find(|m| m.source == file).map(|m| m.target.clone());
                if let Some(p) = s.probes.get(&file) {
                    v.label = p.label.clone().unwrap_or_default();
                    if let Some(t) = &p.fs_type {
                        v.file_system = t.clone();
                    }
                }
            }
        } else if fs_type.is_some() || mount.is_some() {
            // Identified as something else, or mounted and readable: not a locked BitLocker volume.
            v.bitlocker = BitLockerState::NotEncrypted;
            if v.file_system.is_empty() {
                v.file_system = mount.map(|m| m.fstype.clone()).unwrap_or_default();
            }
        }
        volumes.push(v);
    }
    volumes
}

/// Reads the system: lsblk, blkid (all candidates in one call), /proc/mounts and the
/// dislocker processes.
pub fn gather(runner: &dyn CommandRunner) -> Result<Snapshot> {
    let out = runner
        .run("lsblk", &args(["-J", "-b", "-o", LSBLK_COLUMNS]), KeyInput::None)
        .map_err(|e| EngineError::Io { op: "run lsblk (util-linux)", path: "lsblk".into(), source: e })?;
    if !out.success() {
        return Err(EngineError::Internal(format!("lsblk failed: {}", out.text())));
    }
    let devices = parse_lsblk(&out.stdout)?;
    let mounts = parse_mounts(&std::fs::read_to_string("/proc/mounts").unwrap_or_default());
    let dislockers = dislocker_instances(&read_dislocker_cmdlines(), &mounts);

    // blkid -p reads the devices directly (root or the disk group), which is what finds
    // BitLocker without udev. One call per device: in low-level mode blkid stops at
    // the first device it cannot read. Unreadable ones are simply missing.
    let mut to_probe: Vec<String> = Vec::new();
    fn leaves(d: &BlockDevice, out: &mut Vec<String>) {
        if d.children.is_empty() {
            let system = d.mountpoint.as_deref().is_some_and(is_system_mount);
            if d.size > 0 && d.fstype.is_none() && !system {
                out.push(d.path.clone());
            }
        } else {
            d.children.iter().for_each(|c| leaves(c, out));
        }
    }
    devices.iter().for_each(|d| leaves(d, &mut to_probe));
    to_probe.extend(dislockers.iter().map(|i| format!("{}/dislocker-file", i.dir)));
    let mut probes = HashMap::new();
    for path in &to_probe {
        if let Ok(o) = runner.run("blkid", &args(["-p", "-o", "export", path.as_str()]), KeyInput::None) {
            probes.extend(parse_blkid_export(&o.stdout));
        }
    }

    let mut canonical = HashMap::new();
    for p in mounts.iter().map(|m| &m.source).chain(dislockers.iter().map(|i| &i.device)) {
        if p.starts_with("/dev/") {
            if let Ok(c) = std::fs::canonicalize(p) {
                canonical.insert(p.clone(), c.to_string_lossy().into_owned());
            }
        }
    }
    Ok(Snapshot { devices, probes, mounts, dislockers, canonical })
}

/// Command lines of running dislocker processes, as (device, directory).
pub fn read_dislocker_cmdlines() -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter_map(|c| parse_dislocker_cmdline(&c))
        .collect()
}

/// The running dislocker for `device`, if any (by canonical path).
pub fn dislocker_for(device: &Path) -> Option<DislockerInstance> {
    let mounts = parse_mounts(&std::fs::read_to_string("/proc/mounts").ok()?);
    let want = std::fs::canonicalize(device).ok()?;
    dislocker_instances(&read_dislocker_cmdlines(), &mounts)
        .into_iter()
        .find(|i| std::fs::canonicalize(&i.device).ok().as_ref() == Some(&want))
}

/// Where the decrypted volume of a dislocker directory is mounted, if it is.
pub fn mount_of_file(file: &Path) -> Option<PathBuf> {
    let mounts = parse_mounts(&std::fs::read_to_string("/proc/mounts").ok()?);
    let f = file.to_string_lossy();
    mounts.into_iter().find(|m| m.source == f).map(|m| PathBuf::from(m.target))
}

/// Free bytes for an unprivileged user on the file system holding `path`.
#[cfg(unix)]
pub fn free_bytes(path: &str) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(std::ffi::OsStr::new(path).as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct; the path is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        Some(st.f_bavail as u64 * st.f_frsize as u64)
    }
}

/// A cheap fingerprint of the block devices and mounts: /proc/partitions and /proc/mounts.
pub fn signature_text() -> String {
    let mut s = std::fs::read_to_string("/proc/partitions").unwrap_or_default();
    s.push('\0');
    s.push_str(&std::fs::read_to_string("/proc/mounts").unwrap_or_default());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = format!("{}/tests/fixtures/drives/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn lsblk_of_this_machine_without_udev_has_no_fstype() {
        let d = parse_lsblk(&fixture("lsblk-loop-bitlocker-ntfs.json")).unwrap();
        let loop0 = d.iter().find(|x| x.name == "loop0").unwrap();
        assert_eq!(loop0.path, "/dev/loop0");
        assert_eq!(loop0.kind, "loop");
        assert_eq!(loop0.size, 104_857_600);
        assert_eq!(loop0.fstype, None);
        assert!(!loop0.removable);
    }

    #[test]
    fn old_lsblk_strings_and_nested_partitions() {
        let json = r#"{"blockdevices": [
            {"name": "sdb", "type": "disk", "fstype": null, "label": null, "size": "2000398934016", "rm": "1", "hotplug": "1", "mountpoint": null,
             "children": [{"name": "sdb1", "type": "part", "fstype": "BitLocker", "label": null, "size": "2000397795328", "rm": "1", "hotplug": "1", "mountpoint": null}]}
        ]}"#;
        let d = parse_lsblk(json).unwrap();
        assert_eq!(d[0].children[0].path, "/dev/sdb1");
        assert_eq!(d[0].children[0].size, 2_000_397_795_328);
        assert!(d[0].removable && d[0].children[0].hotplug);
        let vols = assemble(&Snapshot { devices: d, ..Default::default() });
        assert_eq!(vols.len(), 1, "the disk is represented by its partition");
        assert_eq!(vols[0].bitlocker, BitLockerState::Locked);
        assert!(vols[0].removable);
    }

    #[test]
    fn blkid_reports_bitlocker_and_ntfs_labels() {
        let p = parse_blkid_export(&fixture("blkid-p-export-loops.txt"));
        assert_eq!(p["/dev/loop0"].fs_type.as_deref(), Some("BitLocker"));
        assert_eq!(p["/dev/loop1"].fs_type.as_deref(), Some("ntfs"));
        assert_eq!(p["/dev/loop1"].label.as_deref(), Some("EXPORT 1"));
    }

    #[test]
    fn proc_mounts_escapes_and_fuseblk() {
        let m = parse_mounts(&fixture("proc-mounts-fuse.txt"));
        let ntfs = m.iter().find(|x| x.fstype == "fuseblk").unwrap();
        assert_eq!(ntfs.source, "/dev/loop1");
        assert_eq!(ntfs.target, "/tmp/dr-exp/dr exp/m3");
        let dl = m.iter().find(|x| x.fstype == "fuse.dislocker-fuse").unwrap();
        assert_eq!(dl.target, "/run/driverepair/dislocker-loop0");
    }

    #[test]
    fn dislocker_command_lines_name_device_and_directory() {
        let c = b"dislocker-fuse\0-V\0/dev/loop0\0-p\0--\0/run/driverepair/dislocker-loop0\0";
        assert_eq!(
            parse_dislocker_cmdline(c),
            Some(("/dev/loop0".into(), "/run/driverepair/dislocker-loop0".into()))
        );
        let c = b"/usr/bin/dislocker\0--volume=/dev/sdb1\0-pXXXXXX\0--\0-o\0allow_other\0dl\0";
        assert_eq!(parse_dislocker_cmdline(c), Some(("/dev/sdb1".into(), "dl".into())));
        assert_eq!(parse_dislocker_cmdline(b"bash\0-c\0x\0"), None);
    }

    #[test]
    fn assembled_volumes_from_captured_outputs() {
        let mounts = parse_mounts(&fixture("proc-mounts-fuse.txt"));
        let dislockers = dislocker_instances(
            &[("/dev/loop0".into(), "/run/driverepair/dislocker-loop0".into())],
            &mounts,
        );
        let probes = parse_blkid_export(&fixture("blkid-p-export-loops.txt"));
        let s = Snapshot {
            devices: parse_lsblk(&fixture("lsblk-loop-bitlocker-ntfs.json")).unwrap(),
            probes,
            mounts,
            dislockers,
            canonical: HashMap::new(),
        };
        let v = assemble(&s);
        let ids: Vec<_> = v.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["/dev/loop0", "/dev/loop1"], "vda (mounted at /) and the empty zram0 are left out");
        assert_eq!(v[0].bitlocker, BitLockerState::Unlocked);
        assert_eq!(v[0].mount_point.as_deref(), Some("/media/driverepair/loop0"));
        assert_eq!(v[0].file_system, "ntfs");
        assert_eq!(v[0].label, "", "the fixture's NTFS volume has no label");
        assert_eq!(v[1].bitlocker, BitLockerState::NotEncrypted);
        assert_eq!(v[1].file_system, "ntfs");
        assert_eq!(v[1].label, "EXPORT 1");
        assert_eq!(v[1].mount_point.as_deref(), Some("/tmp/dr-exp/dr exp/m3"));

        // Without dislocker the BitLocker volume is locked and has no mount point.
        let locked = assemble(&Snapshot { dislockers: vec![], ..s.clone() });
        assert_eq!(locked[0].bitlocker, BitLockerState::Locked);
        assert_eq!(locked[0].file_system, "BitLocker");
        assert_eq!(locked[0].mount_point, None);

        // Without blkid (not root) nothing is known about unmounted volumes.
        let blind = assemble(&Snapshot { probes: HashMap::new(), dislockers: vec![], ..s });
        assert_eq!(blind[0].bitlocker, BitLockerState::Unknown);
        assert_eq!(blind[1].bitlocker, BitLockerState::NotEncrypted, "mounted, so readable");
    }

    #[test]
    fn relative_dislocker_directories_match_by_suffix() {
        let mounts = parse_mounts("dislocker-fuse /tmp/dr-exp/dl fuse.dislocker-fuse rw 0 0\n");
        let i = dislocker_instances(&[("/dev/loop0".into(), "dl".into())], &mounts);
        assert_eq!(i, [DislockerInstance { device: "/dev/loop0".into(), dir: "/tmp/dr-exp/dl".into() }]);
        assert!(dislocker_instances(&[("/dev/loop0".into(), "other".into())], &mounts).is_empty());
    }
}
