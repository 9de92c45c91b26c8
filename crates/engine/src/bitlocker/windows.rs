//! Windows: status and unlock through `manage-bde`. Platform-neutral on purpose: it
//! only runs commands through a [`CommandRunner`], so it is tested on Linux with
//! recorded manage-bde output.
//!
//! manage-bde takes the recovery password only on its command line; there is no
//! stdin form. The argument is visible to processes of the same user (and to
//! administrators) for the second it runs. The WMI method
//! `Win32_EncryptableVolume.UnlockWithNumericalPassword` would avoid that and is the
//! next step if it matters.

use super::managebde::{self, parse_error, parse_status};
use super::runner::{args, CommandRunner, KeyInput};
use super::{bitlocker_error, BitLockerState, RecoveryKey, StateReport, UnlockOutcome};
use crate::error::{ErrorKind, Result};

const TOOL: &str = "manage-bde";

fn tool_missing() -> crate::EngineError {
    bitlocker_error(
        ErrorKind::UnlockFailed,
        "manage-bde was not found; it is part of Windows (System32). Drive Repair needs it to read and unlock BitLocker volumes.",
    )
}

/// `manage-bde -status X:` for one volume.
pub(crate) fn status(runner: &dyn CommandRunner, letter: &str) -> Result<StateReport> {
    let out = runner
        .run(TOOL, &args(["-status", letter]), KeyInput::None)
        .map_err(|_| tool_missing())?;
    let text = out.text();
    if let Some(v) = parse_status(&text).into_iter().find(|v| v.volume == letter) {
        return Ok(StateReport { state: v.state, hint: v.hint });
    }
    if let Some(e) = parse_error(&text) {
        return match e.code {
            managebde::FVE_E_LOCKED_VOLUME => Ok(StateReport { state: BitLockerState::Locked, hint: None }),
            managebde::FVE_E_NOT_ACTIVATED | managebde::FVE_E_NOT_ENCRYPTED => {
                Ok(StateReport { state: BitLockerState::NotEncrypted, hint: None })
            }
            _ => Err(managebde::error_for_code(&e, letter)),
        };
    }
    Ok(StateReport {
        state: BitLockerState::Unknown,
        hint: Some(format!("manage-bde gave no report for {letter}: {}", first_line(&text))),
    })
}

/// All volumes at once (`manage-bde -status`), for the drive list: letter → state.
/// Any failure (no administrator rights, tool missing) gives an empty list; the caller
/// then shows Unknown.
pub(crate) fn status_all(runner: &dyn CommandRunner) -> Vec<managebde::BdeVolume> {
    match runner.run(TOOL, &args(["-status"]), KeyInput::None) {
        Ok(out) => parse_status(&out.text()),
        Err(_) => Vec::new(),
    }
}

pub(crate) fn unlock(runner: &dyn CommandRunner, letter: &str, key: &RecoveryKey) -> Result<UnlockOutcome> {
    let before = status(runner, letter)?;
    let mount_point = Some(format!("{letter}\\"));
    match before.state {
        BitLockerState::Unlocked => return Ok(UnlockOutcome::AlreadyUnlocked { mount_point }),
        BitLockerState::NotEncrypted => {
            return Err(bitlocker_error(
                ErrorKind::NotBitLocker,
                format!("BitLocker not activated: {letter} is not BitLocker-encrypted, so there is nothing to unlock"),
            ))
        }
        BitLockerState::Locked | BitLockerState::Unknown => {}
    }
    let RecoveryKey::RecoveryPassword(secret) = key else {
        return Err(bitlocker_error(
            ErrorKind::UnlockFailed,
            "on Windows only the 48-digit recovery password can unlock a drive here; find it in the Azure portal (the job's BitLocker keys, one per drive ID)",
        ));
    };
    let mut argv = args(["-unlock", letter, "-RecoveryPassword"]);
    argv.push(secret.expose().into());
    let out = runner.run(TOOL, &argv, KeyInput::InArgs(secret)).map_err(|_| tool_missing())?;
    let text = out.text();
    if let Some(e) = parse_error(&text) {
        return Err(managebde::error_for_code(&e, letter));
    }
    if !out.success() {
        return Err(bitlocker_error(
            ErrorKind::UnlockFailed,
            format!("BitLocker unlock volume failed on {letter}: manage-bde said: {}", first_line(&text)),
        ));
    }
    Ok(UnlockOutcome::Unlocked { mount_point })
}

fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(nothing)")
}

#[cfg(test)]
mod tests {
    use super::super::runner::fake::FakeRunner;
    use super::*;
    use crate::bitlocker::validate_recovery_key;

    const KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591910";

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/bitlocker/manage-bde/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn locked_f() -> FakeRunner {
        FakeRunner::default().answer(TOOL, "-status", 0, &fixture("status-locked.txt"), "")
    }

    #[test]
    fn locked_volume_is_unlocked_with_the_password_as_argument() {
        let r = locked_f().answer(TOOL, "-unlock", 0, &fixture("unlock-success.txt").replace("X:", "F:"), "");
        let key = validate_recovery_key(KEY).unwrap();
        let out = unlock(&r, "F:", &key).unwrap();
        assert_eq!(out, UnlockOutcome::Unlocked { mount_point: Some("F:\\".into()) });
        let calls = r.calls.borrow();
        assert_eq!(calls[1].args, ["-unlock", "F:", "-RecoveryPassword", KEY]);
        assert_eq!(calls[1].key, format!("args:{KEY}"), "output is scrubbed of the key");
    }

    #[test]
    fn wrong_key_is_key_invalid_and_the_message_has_no_key() {
        let r = locked_f().answer(TOOL, "-unlock", 1, &fixture("error-failed-authentication.txt"), "");
        let key = validate_recovery_key(KEY).unwrap();
        let e = unlock(&r, "F:", &key).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BitLockerKeyInvalid);
        assert!(!e.to_string().contains("235818"), "{e}");
    }

    #[test]
    fn german_windows_still_unlocks_and_reads_error_codes() {
        // The status is Unknown (German), so unlock is tried; the code decides.
        let r = FakeRunner::default()
            .answer(TOOL, "-status", 0, &fixture("status-german-unlocked.txt").replace("C:", "F:"), "")
            .answer(TOOL, "-unlock", 1, &fixture("error-german-failed-authentication.txt"), "");
        let key = validate_recovery_key(KEY).unwrap();
        assert_eq!(unlock(&r, "F:", &key).unwrap_err().kind(), ErrorKind::BitLockerKeyInvalid);
    }

    #[test]
    fn unlocked_and_unencrypted_volumes_are_not_touched() {
        let key = validate_recovery_key(KEY).unwrap();
        let r = FakeRunner::default().answer(TOOL, "-status", 0, &fixture("status-unlocked-decimal-comma.txt"), "");
        assert_eq!(
            unlock(&r, "C:", &key).unwrap(),
            UnlockOutcome::AlreadyUnlocked { mount_point: Some("C:\\".into()) }
        );
        assert_eq!(r.programs().len(), 1);
        let r = FakeRunner::default().answer(TOOL, "-status", 0, &fixture("status-all-not-encrypted.txt"), "");
        assert_eq!(unlock(&r, "J:", &key).unwrap_err().kind(), ErrorKind::NotBitLocker);
    }

    #[test]
    fn not_activated_error_and_missing_protector_map_to_their_kinds() {
        let r = FakeRunner::default().answer(TOOL, "-status", 1, &fixture("error-not-activated.txt"), "");
        assert_eq!(status(&r, "G:").unwrap().state, BitLockerState::NotEncrypted);
        let r = locked_f().answer(TOOL, "-unlock", 1, &fixture("error-no-recovery-password-protector.txt"), "");
        let e = unlock(&r, "F:", &validate_recovery_key(KEY).unwrap()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnlockFailed);
        assert!(e.to_string().contains("protector"), "{e}");
    }

    #[test]
    fn base64_keys_are_refused_on_windows_with_a_reason() {
        let key = validate_recovery_key("VkGbrUqBWLYJ6zg1m29VOTrxpBgd").unwrap();
        let e = unlock(&locked_f(), "F:", &key).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnlockFailed);
        assert!(e.to_string().contains("recovery password"), "{e}");
    }

    #[test]
    fn missing_manage_bde_is_an_unlock_failure_that_says_so() {
        let r = FakeRunner::default().missing(TOOL);
        let e = status(&r, "F:").unwrap_err();
        assert!(e.to_string().contains("manage-bde was not found"), "{e}");
        assert!(status_all(&r).is_empty());
    }
}
