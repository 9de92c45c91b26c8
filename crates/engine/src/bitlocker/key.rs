//! The BitLocker key a user types or pastes, checked before any tool sees it.
//!
//! A recovery password is 48 digits in 8 groups of 6. Each group is a multiple of 11
//! and the group divided by 11 fits in 16 bits (FORMATS.md §6), so most typing
//! mistakes are caught instantly, and we can say which group is wrong.
//! The export tutorial passes `/bk:` a base64 key string instead; that is accepted
//! too and handed to the tools as a (user) password.

use crate::error::{EngineError, ErrorKind};
use crate::secret::Secret;
use serde::Serialize;
use ts_rs::TS;

/// Number of groups in a recovery password.
pub const GROUPS: usize = 8;
/// Digits per group.
pub const GROUP_DIGITS: usize = 6;

/// A key that passed [`validate_recovery_key`]. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub enum RecoveryKey {
    /// A 48-digit recovery password, normalised to the hyphenated form
    /// (`dddddd-dddddd-…`, 55 characters) that manage-bde, cryptsetup and dislocker expect.
    RecoveryPassword(Secret),
    /// Any other key string (the tutorial's base64 form), tried as a password.
    Password(Secret),
}

impl RecoveryKey {
    pub fn secret(&self) -> &Secret {
        match self {
            RecoveryKey::RecoveryPassword(s) | RecoveryKey::Password(s) => s,
        }
    }

    pub fn is_recovery_password(&self) -> bool {
        matches!(self, RecoveryKey::RecoveryPassword(_))
    }
}

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecoveryKey::RecoveryPassword(_) => f.write_str("RecoveryPassword(***)"),
            RecoveryKey::Password(_) => f.write_str("Password(***)"),
        }
    }
}

/// What is wrong with one group of a recovery password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub enum GroupFault {
    /// The group does not have exactly six digits.
    NotSixDigits,
    /// The group is not a multiple of 11 (the usual sign of a mistyped digit).
    NotMultipleOf11,
    /// The group is above 720885 (11 × 65535), so no recovery password has it.
    TooLarge,
}

/// Why a key string was refused. The wizard shows it while the user types; `group`
/// is 1-based, as users count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
#[serde(tag = "type")]
pub enum KeyProblem {
    /// Nothing was entered.
    Empty,
    /// One group is wrong. `digits` is the group as typed, so the user can find it.
    BadGroup { group: u8, digits: String, fault: GroupFault },
    /// All complete groups are fine but the key is not finished (fewer than 48 digits).
    TooShort { digits: u8 },
    /// More than 8 groups or 48 digits.
    TooLong { digits: u32 },
    /// Neither a recovery password (digits and hyphens) nor a base64 key string.
    NotAKey,
}

impl KeyProblem {
    /// The message for an error or log line: like `Display`, but without the digits
    /// of the group (a mistyped group is still most of a real one).
    pub fn without_digits(&self) -> String {
        match self {
            KeyProblem::BadGroup { group, fault, .. } => {
                format!("group {group} of the recovery password is not valid: {}", fault_text(*fault))
            }
            other => other.to_string(),
        }
    }
}

fn fault_text(f: GroupFault) -> &'static str {
    match f {
        GroupFault::NotSixDigits => "each group has exactly 6 digits",
        GroupFault::NotMultipleOf11 => {
            "it is not a multiple of 11, so a digit is probably mistyped; compare it with the key from the Azure portal"
        }
        GroupFault::TooLarge => "it is larger than 720885, which no recovery password group can be",
    }
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyProblem::Empty => f.write_str("no BitLocker key was given"),
            KeyProblem::BadGroup { group, digits, fault } => {
                write!(f, "group {group} ({digits}) is not valid: {}", fault_text(*fault))
            }
            KeyProblem::TooShort { digits } => write!(
                f,
                "the recovery password is incomplete: it has {digits} of 48 digits (8 groups of 6)"
            ),
            KeyProblem::TooLong { digits } => write!(
                f,
                "the recovery password is too long: it has {digits} digits, but a recovery password has 48 (8 groups of 6)"
            ),
            KeyProblem::NotAKey => f.write_str(
                "this is not a BitLocker key: expected the 48-digit recovery password (8 groups of 6 digits, e.g. from the Azure portal) or the base64 key string",
            ),
        }
    }
}

impl From<KeyProblem> for EngineError {
    fn from(p: KeyProblem) -> Self {
        EngineError::BitLocker {
            kind: ErrorKind::BitLockerKeyMalformed,
            message: p.without_digits(),
        }
    }
}

/// Checks a key string and normalises it. Digits with hyphens, spaces or nothing
/// between the groups are read as a recovery password; anything else must be a base64
/// key string. Surrounding white space is ignored.
pub fn validate_recovery_key(s: &str) -> Result<RecoveryKey, KeyProblem> {
    let s = s.trim();
    if s.is_empty() {
        return Err(KeyProblem::Empty);
    }
    let is_separator = |c: char| c == '-' || c == ' ' || c == '\u{2010}' || c == '\u{2011}';
    if s.chars().all(|c| c.is_ascii_digit() || is_separator(c)) {
        return validate_recovery_password(s, is_separator);
    }
    if is_base64_key(s) {
        return Ok(RecoveryKey::Password(Secret::new(s)));
    }
    Err(KeyProblem::NotAKey)
}

fn validate_recovery_password(s: &str, is_separator: impl Fn(char) -> bool) -> Result<RecoveryKey, KeyProblem> {
    let has_separators = s.chars().any(&is_separator);
    let groups: Vec<&str> = if has_separators {
        s.split(&is_separator).filter(|g| !g.is_empty()).collect()
    } else {
        // 48 digits in one run: cut into groups of 6 (the last may be partial while typing).
        s.as_bytes()
            .chunks(GROUP_DIGITS)
            .map(|c| std::str::from_utf8(c).expect("ASCII digits"))
            .collect()
    };
    let total_digits: usize = groups.iter().map(|g| g.len()).sum();

    for (i, g) in groups.iter().enumerate().take(GROUPS) {
        let is_last_typed = i + 1 == groups.len();
        if g.len() < GROUP_DIGITS && is_last_typed && groups.len() <= GROUPS && total_digits < GROUPS * GROUP_DIGITS {
            // Still being typed; judged by TooShort below.
            break;
        }
        if let Some(fault) = group_fault(g) {
            return Err(KeyProblem::BadGroup {
                group: (i + 1) as u8,
                digits: (*g).to_string(),
                fault,
            });
        }
    }
    if groups.len() > GROUPS || total_digits > GROUPS * GROUP_DIGITS {
        return Err(KeyProblem::TooLong { digits: total_digits as u32 });
    }
    if total_digits < GROUPS * GROUP_DIGITS {
        return Err(KeyProblem::TooShort { digits: total_digits as u8 });
    }
    Ok(RecoveryKey::RecoveryPassword(Secret::new(groups.join("-"))))
}

/// Why one group is not a valid recovery-password group, if it is not.
// `is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
#[allow(clippy::manual_is_multiple_of)]
pub fn group_fault(g: &str) -> Option<GroupFault> {
    if g.len() != GROUP_DIGITS || !g.bytes().all(|b| b.is_ascii_digit()) {
        return Some(GroupFault::NotSixDigits);
    }
    let n: u32 = g.parse().expect("six ASCII digits");
    if n % 11 != 0 {
        Some(GroupFault::NotMultipleOf11)
    } else if n / 11 >= 65536 {
        Some(GroupFault::TooLarge)
    } else {
        None
    }
}

/// Standard base64 with padding, at least 8 characters, decodable.
#[allow(clippy::manual_is_multiple_of)]
fn is_base64_key(s: &str) -> bool {
    use base64::Engine as _;
    s.len() >= 8
        && s.len() % 4 == 0
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
        && base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591910";
    const DOCS_KEY: &str = "238810-662376-448998-450120-652806-203390-606320-483076";

    fn expose(k: &RecoveryKey) -> &str {
        k.secret().expose()
    }

    #[test]
    fn real_recovery_passwords_are_accepted() {
        for key in [FIXTURE_KEY, DOCS_KEY] {
            let k = validate_recovery_key(key).unwrap();
            assert!(k.is_recovery_password());
            assert_eq!(expose(&k), key);
        }
    }

    #[test]
    fn plain_spaced_and_padded_forms_are_normalised_to_hyphens() {
        let plain = FIXTURE_KEY.replace('-', "");
        let spaced = FIXTURE_KEY.replace('-', " ");
        for form in [plain.as_str(), spaced.as_str(), &format!("  {FIXTURE_KEY}\n")] {
            let k = validate_recovery_key(form).unwrap();
            assert_eq!(expose(&k), FIXTURE_KEY, "{form:?}");
        }
    }

    #[test]
    fn a_mistyped_digit_in_each_group_names_that_group() {
        for key in [FIXTURE_KEY, DOCS_KEY] {
            let groups: Vec<&str> = key.split('-').collect();
            for i in 0..GROUPS {
                // Changing the last digit by one breaks divisibility by 11.
                let mut g: Vec<u8> = groups[i].bytes().collect();
                g[5] = if g[5] == b'9' { b'8' } else { g[5] + 1 };
                let bad = String::from_utf8(g).unwrap();
                let mut mutated = groups.clone();
                mutated[i] = &bad;
                let err = validate_recovery_key(&mutated.join("-")).unwrap_err();
                assert_eq!(
                    err,
                    KeyProblem::BadGroup { group: (i + 1) as u8, digits: bad.clone(), fault: GroupFault::NotMultipleOf11 },
                    "group {i} of {key}"
                );
            }
        }
    }

    #[test]
    fn the_message_names_the_group_and_its_digits() {
        let key = DOCS_KEY.replace("448998", "448999");
        let p = validate_recovery_key(&key).unwrap_err();
        assert!(p.to_string().starts_with("group 3 (448999) is not valid: it is not a multiple of 11"), "{p}");
        // The error form (which may reach a log) leaves the digits out.
        let e: EngineError = p.into();
        assert_eq!(e.kind(), ErrorKind::BitLockerKeyMalformed);
        assert!(e.to_string().contains("group 3"), "{e}");
        assert!(!e.to_string().contains("448999"), "{e}");
    }

    #[test]
    fn groups_above_720885_are_refused() {
        // 720896 = 11 × 65536: a multiple of 11 but too large.
        let key = FIXTURE_KEY.replace("591910", "720896");
        assert_eq!(
            validate_recovery_key(&key).unwrap_err(),
            KeyProblem::BadGroup { group: 8, digits: "720896".into(), fault: GroupFault::TooLarge }
        );
        assert_eq!(group_fault("720885"), None);
        assert_eq!(group_fault("000000"), None);
    }

    #[test]
    fn short_long_and_odd_groupings() {
        assert_eq!(validate_recovery_key("").unwrap_err(), KeyProblem::Empty);
        assert_eq!(validate_recovery_key("235818-3579").unwrap_err(), KeyProblem::TooShort { digits: 10 });
        assert_eq!(validate_recovery_key(&FIXTURE_KEY[..48]).unwrap_err(), KeyProblem::TooShort { digits: 42 });
        let long = format!("{FIXTURE_KEY}-000000");
        assert_eq!(validate_recovery_key(&long).unwrap_err(), KeyProblem::TooLong { digits: 54 });
        // A group with 5 digits in the middle is a bad group, not an unfinished key.
        let five = FIXTURE_KEY.replace("253979", "25397");
        assert_eq!(
            validate_recovery_key(&five).unwrap_err(),
            KeyProblem::BadGroup { group: 3, digits: "25397".into(), fault: GroupFault::NotSixDigits }
        );
        // While typing, a wrong complete group is reported before the key is finished.
        assert_eq!(
            validate_recovery_key("235818-357952-25").unwrap_err(),
            KeyProblem::BadGroup { group: 2, digits: "357952".into(), fault: GroupFault::NotMultipleOf11 }
        );
    }

    #[test]
    fn base64_key_strings_are_passwords_and_junk_is_refused() {
        let k = validate_recovery_key("VkGbrUqBWLYJ6zg1m29VOTrxpBgdNOlp+kp0C9MEdx3GELxmBw4hK94f7KysbbeKLDksg7VoN1W/a5UuM2zNgQ==")
            .unwrap();
        assert!(!k.is_recovery_password());
        assert_eq!(validate_recovery_key("not a key!").unwrap_err(), KeyProblem::NotAKey);
        assert_eq!(validate_recovery_key("abc").unwrap_err(), KeyProblem::NotAKey);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = validate_recovery_key(FIXTURE_KEY).unwrap();
        assert!(!format!("{k:?}").contains("235818"));
    }

    #[test]
    fn key_problem_serialises_with_the_group_index() {
        let p = validate_recovery_key(&DOCS_KEY.replace("448998", "448999")).unwrap_err();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "BadGroup");
        assert_eq!(v["group"], 3);
        assert_eq!(v["fault"], "NotMultipleOf11");
    }
}
