//! Reading what Windows' `manage-bde` prints (FORMATS.md §6). Platform-neutral, so it
//! is tested on Linux with verbatim samples.
//!
//! Field names and values are translated on non-English Windows. What does not depend
//! on the display language is read that way: the `Volume X: [label]` header shape and
//! the `0x8031xxxx` error codes. The lock state is read from the English field names
//! only; other languages give [`BitLockerState::Unknown`] with a hint, never a guess.

use super::BitLockerState;
use crate::error::{EngineError, ErrorKind};

/// One volume of `manage-bde -status` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BdeVolume {
    /// `C:` (upper case), or the volume path when the volume has no letter.
    pub volume: String,
    pub label: Option<String>,
    pub state: BitLockerState,
    /// Why the state is Unknown, in plain words.
    pub hint: Option<String>,
}

/// An `ERROR: … (code 0x8031xxxx):` block, with the message line that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BdeError {
    pub code: u32,
    pub message: String,
}

pub const FVE_E_LOCKED_VOLUME: u32 = 0x8031_0000;
pub const FVE_E_NOT_ENCRYPTED: u32 = 0x8031_0001;
pub const FVE_E_NOT_ACTIVATED: u32 = 0x8031_0008;
pub const FVE_E_FAILED_AUTHENTICATION: u32 = 0x8031_0027;
pub const FVE_E_PROTECTOR_NOT_FOUND: u32 = 0x8031_0033;
pub const FVE_E_INVALID_PASSWORD_FORMAT: u32 = 0x8031_0035;
pub const E_ACCESSDENIED: u32 = 0x8007_0005;

pub const OTHER_LANGUAGE_HINT: &str = "manage-bde printed its report in a language other than English, which Drive Repair cannot read reliably, so the BitLocker state is shown as Unknown. A locked drive is still recognised (Windows refuses to read it); to unlock, enter the recovery password.";

/// A volume being read: its name, label and `name: value` fields.
type Section = (String, Option<String>, Vec<(String, String)>);

/// Parses `manage-bde -status [X:]`: one entry per volume. An error report (no
/// volumes) gives an empty list; see [`parse_error`].
pub fn parse_status(text: &str) -> Vec<BdeVolume> {
    let mut volumes = Vec::new();
    let mut current: Option<Section> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some((vol, label)) = volume_header(line) {
            if let Some(c) = current.take() {
                volumes.push(finish(c));
            }
            current = Some((vol, label, Vec::new()));
            continue;
        }
        if let Some((_, _, fields)) = current.as_mut() {
            if let Some((name, value)) = field(line) {
                fields.push((name, value));
            }
        }
    }
    if let Some(c) = current.take() {
        volumes.push(finish(c));
    }
    volumes
}

/// `Volume J: [MyDocuments]`: a line at column 0 whose second word is a drive letter
/// (or a `\\?\Volume{…}` path) followed by a bracketed label. The first word is
/// "Volume" in English and German but may differ elsewhere, so it is not checked.
fn volume_header(line: &str) -> Option<(String, Option<String>)> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let mut parts = line.splitn(2, ' ');
    let _word = parts.next()?;
    let rest = parts.next()?.trim();
    let (vol, label_part) = match rest.find(" [") {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let is_letter = vol.len() == 2 && vol.as_bytes()[0].is_ascii_alphabetic() && vol.as_bytes()[1] == b':';
    let is_path = vol.starts_with("\\\\?\\Volume{");
    if !(is_letter || is_path) {
        return None;
    }
    let label = label_part
        .and_then(|l| l.strip_prefix('[')?.strip_suffix(']').map(str::to_string))
        .filter(|l| !l.is_empty());
    Some((vol.to_ascii_uppercase(), label))
}

/// `    Lock Status:          Unlocked`: an indented `name: value` line. Values start
/// at column 27 in English, but translations shift them, so split at the first colon.
fn field(line: &str) -> Option<(String, String)> {
    if !line.starts_with(' ') {
        return None;
    }
    let (name, value) = line.trim().split_once(':')?;
    Some((name.trim().to_string(), value.trim().to_string()))
}

fn finish((volume, label, fields): Section) -> BdeVolume {
    let get = |name: &str| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let label = label.filter(|l| l != "Label Unknown");
    let (state, hint) = match get("Lock Status") {
        None => (BitLockerState::Unknown, Some(OTHER_LANGUAGE_HINT.to_string())),
        Some(v) if v.eq_ignore_ascii_case("Locked") => (BitLockerState::Locked, None),
        Some(v) if v.eq_ignore_ascii_case("Unlocked") => {
            let version = get("BitLocker Version").unwrap_or("");
            let conversion = get("Conversion Status").unwrap_or("");
            if version.eq_ignore_ascii_case("None") || conversion.eq_ignore_ascii_case("Fully Decrypted") {
                (BitLockerState::NotEncrypted, None)
            } else if conversion.is_empty() || conversion.eq_ignore_ascii_case("Unknown") {
                (
                    BitLockerState::Unknown,
                    Some("manage-bde reported the volume unlocked but not whether it is encrypted".to_string()),
                )
            } else {
                (BitLockerState::Unlocked, None)
            }
        }
        Some(_) => (BitLockerState::Unknown, Some(OTHER_LANGUAGE_HINT.to_string())),
    };
    BdeVolume { volume, label, state, hint }
}

/// Finds the first error code (`0x` and 8 hex digits, on a line that also says
/// "code"/"Code" in any case) and the message on the following line. Works on any
/// display language, since only the code is interpreted.
pub fn parse_error(text: &str) -> Option<BdeError> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(code) = find_hresult(line) {
            let message = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .to_string();
            return Some(BdeError { code, message });
        }
    }
    None
}

fn find_hresult(line: &str) -> Option<u32> {
    let lower = line.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("0x") {
        let at = from + i + 2;
        let hex: String = lower[at..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        if hex.len() == 8 {
            if let Ok(v) = u32::from_str_radix(&hex, 16) {
                if v & 0x8000_0000 != 0 {
                    return Some(v);
                }
            }
        }
        from = at;
    }
    None
}

/// The status word users know for an error code (the portal's and the copy log's
/// vocabulary, FORMATS.md §2/§5), and the engine error for it. `message` is the tool's
/// own message line (it never contains the key).
pub fn error_for_code(e: &BdeError, volume: &str) -> EngineError {
    let tool = if e.message.is_empty() {
        String::new()
    } else {
        format!(" (manage-bde: {})", e.message)
    };
    let (kind, text) = match e.code {
        FVE_E_FAILED_AUTHENTICATION => (
            ErrorKind::BitLockerKeyInvalid,
            format!("BitLocker key invalid: the key does not unlock {volume}. Check that it is the recovery password of this drive (the Azure portal lists one per drive ID)."),
        ),
        FVE_E_INVALID_PASSWORD_FORMAT => (
            ErrorKind::BitLockerKeyMalformed,
            "the recovery password is not in the right format: 48 digits in 8 groups of 6".to_string(),
        ),
        FVE_E_NOT_ACTIVATED | FVE_E_NOT_ENCRYPTED => (
            ErrorKind::NotBitLocker,
            format!("BitLocker not activated: {volume} is not BitLocker-encrypted, so there is nothing to unlock"),
        ),
        FVE_E_PROTECTOR_NOT_FOUND => (
            ErrorKind::UnlockFailed,
            format!("BitLocker protector not found: {volume} has no recovery-password protector, so a recovery password cannot unlock it"),
        ),
        E_ACCESSDENIED => (
            ErrorKind::UnlockFailed,
            "BitLocker unlock volume failed: manage-bde needs administrator rights; run Drive Repair as administrator".to_string(),
        ),
        other => (
            ErrorKind::UnlockFailed,
            format!("BitLocker unlock volume failed on {volume}: error code 0x{other:08X}"),
        ),
    };
    EngineError::BitLocker { kind, message: format!("{text}{tool}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = format!("{}/tests/fixtures/bitlocker/manage-bde/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn locked_volume_reads_locked_even_though_most_fields_are_unknown() {
        let v = parse_status(&fixture("status-locked.txt"));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].volume, "F:");
        assert_eq!(v[0].label, None, "'Label Unknown' is not a label");
        assert_eq!(v[0].state, BitLockerState::Locked);
    }

    #[test]
    fn fully_decrypted_volume_is_not_encrypted() {
        let v = parse_status(&fixture("status-all-not-encrypted.txt"));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].volume, "J:");
        assert_eq!(v[0].label.as_deref(), Some("MyDocuments"));
        assert_eq!(v[0].state, BitLockerState::NotEncrypted);
    }

    #[test]
    fn encrypted_unlocked_volume_with_decimal_comma_is_unlocked() {
        let v = parse_status(&fixture("status-unlocked-decimal-comma.txt"));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].volume, "C:");
        assert_eq!(v[0].state, BitLockerState::Unlocked);
        assert_eq!(v[0].hint, None);
    }

    #[test]
    fn german_output_is_unknown_with_a_hint_never_a_guess() {
        let v = parse_status(&fixture("status-german-unlocked.txt"));
        assert_eq!(v.len(), 1, "the header shape is language-independent");
        assert_eq!(v[0].volume, "C:");
        assert_eq!(v[0].state, BitLockerState::Unknown);
        assert!(v[0].hint.as_deref().unwrap().contains("language"));
    }

    #[test]
    fn several_volumes_are_split_at_their_headers() {
        let text = format!("{}\n{}", fixture("status-all-not-encrypted.txt"), fixture("status-locked.txt"));
        let v = parse_status(&text);
        let states: Vec<_> = v.iter().map(|x| (x.volume.as_str(), x.state)).collect();
        assert_eq!(states, [("J:", BitLockerState::NotEncrypted), ("F:", BitLockerState::Locked)]);
    }

    #[test]
    fn unlock_success_has_no_error() {
        assert_eq!(parse_error(&fixture("unlock-success.txt")), None);
        assert!(parse_status(&fixture("unlock-success.txt")).is_empty());
    }

    #[test]
    fn error_codes_map_to_the_words_users_know() {
        let cases = [
            ("error-failed-authentication.txt", ErrorKind::BitLockerKeyInvalid, "BitLocker key invalid"),
            ("error-german-failed-authentication.txt", ErrorKind::BitLockerKeyInvalid, "BitLocker key invalid"),
            ("error-invalid-password-format.txt", ErrorKind::BitLockerKeyMalformed, "format"),
            ("error-not-activated.txt", ErrorKind::NotBitLocker, "BitLocker not activated"),
            ("error-no-recovery-password-protector.txt", ErrorKind::UnlockFailed, "BitLocker protector not found"),
        ];
        for (file, kind, word) in cases {
            let e = parse_error(&fixture(file)).unwrap_or_else(|| panic!("{file}: no error found"));
            let err = error_for_code(&e, "X:");
            assert_eq!(err.kind(), kind, "{file}");
            assert!(err.to_string().contains(word), "{file}: {err}");
            assert!(!e.message.is_empty(), "{file}: the message line is kept");
        }
    }

    #[test]
    fn the_code_is_found_in_any_case_and_unknown_codes_are_unlock_failures() {
        let e = parse_error("ERROR: An error occurred (code 0x8031006a):\nsomething else\n").unwrap();
        assert_eq!(e.code, 0x8031_006A);
        assert_eq!(e.message, "something else");
        assert_eq!(error_for_code(&e, "X:").kind(), ErrorKind::UnlockFailed);
        assert!(error_for_code(&e, "X:").to_string().contains("0x8031006A"));
    }
}
