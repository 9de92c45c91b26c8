//! BitLocker: is a volume encrypted, is it locked, does a key fit, and unlocking it.
//!
//! - Windows: `manage-bde -status X:` and `manage-bde -unlock X: -RecoveryPassword …`
//!   ([`managebde`] reads their output, whatever the display language allows).
//! - Linux: `blkid -p` tells the type, `cryptsetup open --type bitlk --test-passphrase`
//!   checks the key (no root or device-mapper needed), `dislocker-fuse` exposes the
//!   decrypted volume and `ntfs-3g` mounts it (root needed).
//!
//! Every tool runs through [`runner::CommandRunner`], so the decisions are tested with
//! recorded outputs. The key is validated first ([`validate_recovery_key`]), reaches
//! tools on stdin or a private terminal where they allow it, and never enters a log,
//! an error message or a file.

pub mod key;
#[cfg(unix)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) mod linux;
pub mod managebde;
pub mod runner;
// Platform-neutral (only runs manage-bde through a runner), so its tests run on Linux.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) mod windows;

pub use key::{validate_recovery_key, GroupFault, KeyProblem, RecoveryKey};

use crate::error::{EngineError, ErrorKind, Result};
use runner::{CommandRunner, SystemRunner};
use serde::Serialize;
use std::path::Path;
use ts_rs::TS;

/// The BitLocker state of a volume, as the wizard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, TS)]
#[ts(export)]
pub enum BitLockerState {
    NotEncrypted,
    Locked,
    Unlocked,
    /// Could not be told (no permission, a tool missing, output in another language).
    Unknown,
}

/// What [`unlock`] achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
#[serde(tag = "type")]
pub enum UnlockOutcome {
    /// Unlocked now; the files are readable under `mount_point` (`X:\` on Windows).
    Unlocked { mount_point: Option<String> },
    /// It was unlocked already; nothing was done.
    AlreadyUnlocked { mount_point: Option<String> },
}

impl UnlockOutcome {
    pub fn mount_point(&self) -> Option<&str> {
        match self {
            UnlockOutcome::Unlocked { mount_point } | UnlockOutcome::AlreadyUnlocked { mount_point } => {
                mount_point.as_deref()
            }
        }
    }
}

/// A BitLocker state with the reason when it is Unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct StateReport {
    pub state: BitLockerState,
    pub hint: Option<String>,
}

/// What the user named: a Windows drive letter (`X:`) or a Linux device path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    DriveLetter(String),
    Path(std::path::PathBuf),
}

impl Target {
    pub(crate) fn parse(s: &str) -> Result<Target> {
        let t = s.trim();
        let b = t.as_bytes();
        let letter = match b.len() {
            1 => b[0].is_ascii_alphabetic(),
            2 => b[0].is_ascii_alphabetic() && b[1] == b':',
            3 => b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'),
            _ => false,
        };
        if letter {
            return Ok(Target::DriveLetter(format!("{}:", (b[0] as char).to_ascii_uppercase())));
        }
        if t.is_empty() {
            return Err(EngineError::Usage {
                message: "no drive given: name a drive letter (X:) on Windows or a device (/dev/sdb1) on Linux".into(),
            });
        }
        Ok(Target::Path(t.into()))
    }
}

pub(crate) fn bitlocker_error(kind: ErrorKind, message: impl Into<String>) -> EngineError {
    EngineError::BitLocker { kind, message: message.into() }
}

fn not_found(target: &str) -> EngineError {
    bitlocker_error(
        ErrorKind::NotBitLocker,
        format!("volume not found: there is no volume {target} on this computer. Check that the drive is connected and the name is right."),
    )
}

/// Tells whether the volume is BitLocker-encrypted and locked.
pub fn status(target: &str) -> Result<StateReport> {
    platform::status(&SystemRunner::default(), target, Target::parse(target)?)
}

/// Checks that the key opens the volume without unlocking it (Linux: cryptsetup's
/// `--test-passphrase`, no root needed if the device is readable). Windows has no
/// such check; there, [`unlock`] tells.
pub fn check_key(target: &str, key: &RecoveryKey) -> Result<()> {
    platform::check_key(&SystemRunner::default(), target, Target::parse(target)?, key)
}

/// Unlocks a BitLocker volume with a recovery password (or the base64 key string).
///
/// - Windows: `target` is a drive letter; `mount` is ignored (the letter stays).
/// - Linux: `target` is a device (or image file). The key is checked first, then
///   dislocker-fuse decrypts it under `/run/driverepair/` and ntfs-3g mounts the NTFS
///   volume at `mount` (default `/media/driverepair/<device name>`). Needs root.
///
/// Errors are [`EngineError::BitLocker`] with kind BitLockerKeyInvalid, NotBitLocker
/// (also: volume not found) or UnlockFailed; their messages never contain the key.
pub fn unlock(target: &str, key: &RecoveryKey, mount: Option<&Path>) -> Result<UnlockOutcome> {
    platform::unlock(&SystemRunner::default(), target, Target::parse(target)?, key, mount)
}

#[cfg(target_os = "linux")]
mod platform {
    use super::*;

    fn device(target: &str, t: Target) -> Result<std::path::PathBuf> {
        match t {
            Target::Path(p) if p.exists() => Ok(p),
            _ => Err(not_found(target)),
        }
    }

    pub(super) fn status(r: &dyn CommandRunner, target: &str, t: Target) -> Result<StateReport> {
        linux::status(r, &device(target, t)?)
    }

    pub(super) fn check_key(r: &dyn CommandRunner, target: &str, t: Target, key: &RecoveryKey) -> Result<()> {
        let dev = device(target, t)?;
        linux::require_bitlocker(r, &dev)?;
        linux::check_key(r, &dev, key)
    }

    pub(super) fn unlock(
        r: &dyn CommandRunner,
        target: &str,
        t: Target,
        key: &RecoveryKey,
        mount: Option<&Path>,
    ) -> Result<UnlockOutcome> {
        let dev = device(target, t)?;
        linux::unlock(r, &linux::Host::current(), &dev, key, mount)
    }
}

#[cfg(windows)]
mod platform {
    use super::*;

    fn letter(target: &str, t: Target) -> Result<String> {
        match t {
            Target::DriveLetter(l) => Ok(l),
            Target::Path(_) => Err(not_found(target)),
        }
    }

    pub(super) fn status(r: &dyn CommandRunner, target: &str, t: Target) -> Result<StateReport> {
        windows::status(r, &letter(target, t)?)
    }

    pub(super) fn check_key(_: &dyn CommandRunner, _: &str, _: Target, _: &RecoveryKey) -> Result<()> {
        Err(EngineError::Unsupported(
            "Windows cannot test a BitLocker key without unlocking; unlock the drive instead".into(),
        ))
    }

    pub(super) fn unlock(
        r: &dyn CommandRunner,
        target: &str,
        t: Target,
        key: &RecoveryKey,
        _mount: Option<&Path>,
    ) -> Result<UnlockOutcome> {
        windows::unlock(r, &letter(target, t)?, key)
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod platform {
    use super::*;

    pub(super) fn status(_: &dyn CommandRunner, _: &str, _: Target) -> Result<StateReport> {
        Err(unsupported())
    }

    pub(super) fn check_key(_: &dyn CommandRunner, _: &str, _: Target, _: &RecoveryKey) -> Result<()> {
        Err(unsupported())
    }

    pub(super) fn unlock(
        _: &dyn CommandRunner,
        _: &str,
        _: Target,
        _: &RecoveryKey,
        _: Option<&Path>,
    ) -> Result<UnlockOutcome> {
        Err(unsupported())
    }
}

#[cfg_attr(any(target_os = "linux", windows), allow(dead_code))]
pub(crate) fn unsupported() -> EngineError {
    EngineError::Unsupported(
        "finding and unlocking drives works on Windows and Linux only; on this system, choose the drive's folder instead".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_drive_letters_or_paths() {
        for s in ["x", "X:", "x:\\", " X:/ "] {
            assert_eq!(Target::parse(s).unwrap(), Target::DriveLetter("X:".into()), "{s:?}");
        }
        assert_eq!(Target::parse("/dev/sdb1").unwrap(), Target::Path("/dev/sdb1".into()));
        assert_eq!(Target::parse("  ").unwrap_err().kind(), ErrorKind::Usage);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn missing_volumes_are_not_found_and_drive_letters_do_not_exist_on_linux() {
        let key = validate_recovery_key("235818-357951-253979-013365-241120-245575-342914-591910").unwrap();
        let e = unlock("/dev/driverepair-no-such-device", &key, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotBitLocker);
        assert!(e.to_string().contains("volume not found"), "{e}");
        assert_eq!(unlock("E:", &key, None).unwrap_err().kind(), ErrorKind::NotBitLocker);
        assert_eq!(status("E:").unwrap_err().kind(), ErrorKind::NotBitLocker);
    }
}
