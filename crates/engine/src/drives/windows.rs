//! Windows: drive letters from the Win32 volume API. The calls live in [`sys`] (cfg
//! windows, kept mechanical because no Windows toolchain builds them here); what a
//! probe means is decided by [`volume_from_probe`], which is platform-neutral and
//! tested on Linux.

use super::{BitLockerState, Volume};
use crate::bitlocker::managebde::{BdeVolume, FVE_E_LOCKED_VOLUME};

pub const DRIVE_REMOVABLE: u32 = 2;
pub const DRIVE_FIXED: u32 = 3;
/// The device is not ready: a card reader or drive bay without a medium.
pub const ERROR_NOT_READY: u32 = 21;

/// What the Win32 API said about one drive letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinProbe {
    /// `E:\`
    pub root: String,
    pub drive_type: u32,
    /// `GetVolumeInformationW`: (label, file system) or the error code.
    pub info: Result<(String, String), u32>,
    /// `GetDiskFreeSpaceExW`: (total, free to the caller).
    pub space: Option<(u64, u64)>,
}

/// Turns a probe into a volume, or `None` for drives a user cannot mean (network,
/// optical, RAM disks, empty card readers). A locked BitLocker volume makes
/// `GetVolumeInformationW` fail with FVE_E_LOCKED_VOLUME: it is listed as Locked.
/// `bde` is `manage-bde -status` for all volumes (empty without administrator rights).
pub fn volume_from_probe(p: &WinProbe, bde: &[BdeVolume]) -> Option<Volume> {
    if p.drive_type != DRIVE_REMOVABLE && p.drive_type != DRIVE_FIXED {
        return None;
    }
    let letter = p.root.trim_end_matches(['\\', '/']).to_ascii_uppercase();
    let from_bde = bde.iter().find(|v| v.volume == letter);
    let (label, file_system, bitlocker) = match &p.info {
        Ok((label, fs)) => {
            // Readable, so not locked; manage-bde tells encrypted from plain.
            let state = match from_bde.map(|v| v.state) {
                Some(BitLockerState::Locked) | None => BitLockerState::Unknown,
                Some(s) => s,
            };
            (label.clone(), fs.clone(), state)
        }
        Err(code) if *code == FVE_E_LOCKED_VOLUME => (
            from_bde.and_then(|v| v.label.clone()).unwrap_or_default(),
            "BitLocker".to_string(),
            BitLockerState::Locked,
        ),
        Err(code) if *code == ERROR_NOT_READY => return None,
        Err(_) => (String::new(), String::new(), from_bde.map(|v| v.state).unwrap_or(BitLockerState::Unknown)),
    };
    let readable = p.info.is_ok();
    Some(Volume {
        id: letter.clone(),
        device: None,
        mount_point: readable.then(|| format!("{letter}\\")),
        label,
        file_system,
        size_bytes: p.space.map(|s| s.0).unwrap_or(0),
        free_bytes: if readable { p.space.map(|s| s.1) } else { None },
        removable: p.drive_type == DRIVE_REMOVABLE,
        bitlocker,
        export: None,
    })
}

#[cfg(windows)]
pub mod sys {
    //! The Win32 calls, nothing else.
    use super::WinProbe;
    use windows_sys::Win32::Foundation::GetLastError;
    use windows_sys::Win32::Storage::FileSystem::{
        GetDiskFreeSpaceExW, GetDriveTypeW, GetLogicalDriveStringsW, GetVolumeInformationW,
    };

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    fn from_wide(buf: &[u16]) -> String {
        let end = buf.iter().position(|c| *c == 0).unwrap_or(buf.len());
        String::from_utf16_lossy(&buf[..end])
    }

    /// `C:\`, `E:\`, … from GetLogicalDriveStringsW.
    pub fn drive_roots() -> Vec<String> {
        let mut buf = vec![0u16; 512];
        // SAFETY: the buffer length is passed; the API writes at most that many u16.
        let n = unsafe { GetLogicalDriveStringsW(buf.len() as u32, buf.as_mut_ptr()) } as usize;
        if n == 0 || n > buf.len() {
            return Vec::new();
        }
        buf[..n]
            .split(|c| *c == 0)
            .filter(|s| !s.is_empty())
            .map(String::from_utf16_lossy)
            .collect()
    }

    pub fn probe(root: &str) -> WinProbe {
        let w = wide(root);
        // SAFETY: `w` is NUL-terminated and outlives the calls; buffers are sized as passed.
        unsafe {
            let drive_type = GetDriveTypeW(w.as_ptr());
            let mut label = [0u16; 261];
            let mut fs = [0u16; 261];
            let mut serial = 0u32;
            let mut max_len = 0u32;
            let mut flags = 0u32;
            let ok = GetVolumeInformationW(
                w.as_ptr(),
                label.as_mut_ptr(),
                label.len() as u32,
                &mut serial,
                &mut max_len,
                &mut flags,
                fs.as_mut_ptr(),
                fs.len() as u32,
            );
            let info = if ok != 0 { Ok((from_wide(&label), from_wide(&fs))) } else { Err(GetLastError()) };
            let (mut free, mut total, mut total_free) = (0u64, 0u64, 0u64);
            let space = (GetDiskFreeSpaceExW(w.as_ptr(), &mut free, &mut total, &mut total_free) != 0)
                .then_some((total, free));
            WinProbe { root: root.to_string(), drive_type, info, space }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(root: &str, drive_type: u32, info: Result<(&str, &str), u32>) -> WinProbe {
        WinProbe {
            root: root.into(),
            drive_type,
            info: info.map(|(l, f)| (l.into(), f.into())),
            space: Some((2_000_000_000_000, 1_000_000)),
        }
    }

    #[test]
    fn locked_volume_is_listed_as_locked_not_dropped() {
        let v = volume_from_probe(&probe("F:\\", DRIVE_FIXED, Err(FVE_E_LOCKED_VOLUME)), &[]).unwrap();
        assert_eq!(v.id, "F:");
        assert_eq!(v.bitlocker, BitLockerState::Locked);
        assert_eq!(v.file_system, "BitLocker");
        assert_eq!(v.mount_point, None);
        assert_eq!(v.free_bytes, None);
    }

    #[test]
    fn readable_volumes_take_their_state_from_manage_bde() {
        let bde = [
            BdeVolume { volume: "E:".into(), label: None, state: BitLockerState::Unlocked, hint: None },
            BdeVolume { volume: "G:".into(), label: None, state: BitLockerState::NotEncrypted, hint: None },
        ];
        let e = volume_from_probe(&probe("E:\\", DRIVE_REMOVABLE, Ok(("EXPORT", "NTFS"))), &bde).unwrap();
        assert_eq!((e.bitlocker, e.removable, e.mount_point.as_deref()), (BitLockerState::Unlocked, true, Some("E:\\")));
        assert_eq!(e.free_bytes, Some(1_000_000));
        let g = volume_from_probe(&probe("G:\\", DRIVE_FIXED, Ok(("", "NTFS"))), &bde).unwrap();
        assert_eq!(g.bitlocker, BitLockerState::NotEncrypted);
        // Not in manage-bde's report (no administrator rights): Unknown, still listed.
        let h = volume_from_probe(&probe("H:\\", DRIVE_FIXED, Ok(("", "NTFS"))), &bde).unwrap();
        assert_eq!(h.bitlocker, BitLockerState::Unknown);
    }

    #[test]
    fn network_optical_and_empty_drives_are_left_out() {
        assert!(volume_from_probe(&probe("Z:\\", 4, Ok(("share", "NTFS"))), &[]).is_none());
        assert!(volume_from_probe(&probe("D:\\", 5, Ok(("CD", "CDFS"))), &[]).is_none());
        assert!(volume_from_probe(&probe("K:\\", DRIVE_REMOVABLE, Err(ERROR_NOT_READY)), &[]).is_none());
        // Another failure keeps the drive, state Unknown.
        let v = volume_from_probe(&probe("L:\\", DRIVE_FIXED, Err(5)), &[]).unwrap();
        assert_eq!(v.bitlocker, BitLockerState::Unknown);
    }
}
