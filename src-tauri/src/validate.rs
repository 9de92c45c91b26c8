//! Input checks for everything the UI sends. The UI checks the same things as the
//! user types, for instant feedback; these checks are the ones that count.

use engine::error::{ErrorInfo, ErrorKind};
use serde::Serialize;
use ts_rs::TS;

pub fn usage(message: impl Into<String>) -> ErrorInfo {
    ErrorInfo { kind: ErrorKind::Usage, message: message.into() }
}

/// A job name: 1–100 printable characters.
pub fn job_name(name: &str) -> Result<String, ErrorInfo> {
    let n = name.trim();
    if n.is_empty() {
        return Err(usage("Give the job a name, for example the export job's name in the Azure portal."));
    }
    if n.chars().count() > 100 {
        return Err(usage("The job name is too long: use at most 100 characters."));
    }
    if n.chars().any(|c| c.is_control()) {
        return Err(usage("The job name contains control characters."));
    }
    Ok(n.to_string())
}

/// A storage account name: 3–24 lower-case letters and digits (Azure's rule).
pub fn storage_account(name: &str) -> Result<String, ErrorInfo> {
    let n = name.trim();
    if n.len() < 3 || n.len() > 24 || !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(usage(
            "A storage account name has 3 to 24 characters, lower-case letters and digits only.",
        ));
    }
    Ok(n.to_string())
}

/// An optional endpoint override: an http(s) URL with a host and no query or fragment.
pub fn endpoint(e: Option<&str>) -> Result<Option<String>, ErrorInfo> {
    let Some(e) = e.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let u = url_parse(e).ok_or_else(|| {
        usage("The endpoint must be a full address such as https://myaccount.blob.core.windows.net.")
    })?;
    if u.query || u.fragment {
        return Err(usage(
            "The endpoint must not contain a query string: put a SAS in the SAS field, not in the endpoint.",
        ));
    }
    Ok(Some(e.trim_end_matches('/').to_string()))
}

struct UrlShape {
    query: bool,
    fragment: bool,
}

fn url_parse(s: &str) -> Option<UrlShape> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    Some(UrlShape { query: s.contains('?'), fragment: s.contains('#') })
}

/// The secret for a storage account: an account key (base64 of 64 bytes, 88 chars) or
/// a SAS (query string with `sig=`, optionally a full URL). Only the shape is checked;
/// "Test connection" tells whether the service accepts it.
pub fn secret(kind: crate::records::AuthKind, s: &str) -> Result<String, ErrorInfo> {
    let s = s.trim();
    match kind {
        crate::records::AuthKind::Key => {
            let ok = (40..=200).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
            if !ok {
                return Err(usage(
                    "That does not look like a storage account key: copy key1 or key2 from the storage account's Access keys blade.",
                ));
            }
        }
        crate::records::AuthKind::Sas => {
            let lower = s.to_ascii_lowercase();
            if !(lower.contains("sig=") && lower.contains("sv=")) {
                return Err(usage(
                    "That does not look like a SAS: it should contain sv= and sig=, e.g. ?sv=2022-11-02&ss=b&...&sig=...",
                ));
            }
        }
    }
    Ok(s.to_string())
}

/// What to do about a SAS token given without its container.
pub const SAS_NEEDS_CONTAINER: &str = "A SAS token alone does not say which container it is for: paste the \
     container's Blob SAS URL from the Azure portal instead, or type the container's name.";

/// The container a bare SAS token is for. A SAS token (`?sv=…&sig=…`) does not name its
/// container, and the copy logs are found in it, so it is asked for; a full SAS URL
/// names it already and needs nothing more. `None` for an account key or a SAS URL.
pub fn sas_container(
    kind: crate::records::AuthKind,
    secret: &str,
    container: Option<&str>,
) -> Result<Option<String>, ErrorInfo> {
    if kind == crate::records::AuthKind::Key || engine::blobstore::is_sas_url(secret) {
        return Ok(None);
    }
    let Some(c) = container.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(usage(SAS_NEEDS_CONTAINER));
    };
    // Azure's rule: 3–63 lower-case letters, digits and single hyphens, starting and
    // ending with a letter or digit; `$root` is the account's root container.
    let ok = c == "$root"
        || ((3..=63).contains(&c.len())
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
            && !c.contains("--"));
    if !ok {
        return Err(usage(
            "A container name has 3 to 63 characters: lower-case letters, digits and single hyphens.",
        ));
    }
    Ok(Some(c.to_string()))
}

/// A DriveId (the drive's serial number): letters, digits, `-`, `_`, `.`, 1–64 chars.
/// It also names the repair file and log folder, so nothing else may pass.
pub fn drive_id(id: &str) -> Result<String, ErrorInfo> {
    let id = id.trim();
    if id.is_empty()
        || id.len() > 64
        || id.starts_with('.')
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(usage(format!(
            "{id:?} is not a drive ID: a drive ID is the drive's serial number, e.g. 9WM35C3U or WD-WMATV123456."
        )));
    }
    Ok(id.to_string())
}

/// An identifier the app made (job ids): short lower-case hex.
pub fn job_id(id: &str) -> Result<&str, ErrorInfo> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(usage("unknown job"));
    }
    Ok(id)
}

/// What a recovery key check found, for the unlock step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
#[serde(tag = "result")]
pub enum KeyCheck {
    Empty,
    /// 48 digits in 8 groups, every group valid.
    RecoveryPassword,
    /// A base64 key, as the export tutorial passes to `/bk:`.
    Base64Key,
    /// The wrong number of digits or groups.
    WrongLength { digits: u32 },
    /// A character that is neither a digit nor a hyphen.
    BadCharacter { character: String },
    /// Group `group` (1-based) is not divisible by 11, or too large.
    BadGroup { group: u32, reason: GroupProblem },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub enum GroupProblem {
    NotDivisibleBy11,
    TooLarge,
    WrongLength,
}

/// Checks a BitLocker recovery password (FORMATS.md §6): 8 groups of 6 digits, hyphens
/// optional, each group divisible by 11 with group/11 < 65536. A base64 key is also
/// accepted. The UI runs the same rule in TypeScript as the user types.
pub fn recovery_key(input: &str) -> KeyCheck {
    let s: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if s.is_empty() {
        return KeyCheck::Empty;
    }
    if looks_base64_key(&s) {
        return KeyCheck::Base64Key;
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_digit() && *c != '-') {
        return KeyCheck::BadCharacter { character: c.to_string() };
    }
    // Hyphens split groups; without hyphens every six digits make a group.
    let groups: Vec<&str> = if s.contains('-') {
        s.split('-').collect()
    } else {
        s.as_bytes().chunks(6).map(|c| std::str::from_utf8(c).expect("ASCII digits")).collect()
    };
    let digits = groups.iter().map(|g| g.len() as u32).sum();
    for (i, g) in groups.iter().enumerate().take(8) {
        let group = i as u32 + 1;
        if g.len() != 6 {
            if g.len() > 6 || i + 1 < groups.len() {
                return KeyCheck::BadGroup { group, reason: GroupProblem::WrongLength };
            }
            break;
        }
        let v: u32 = g.parse().expect("six ASCII digits");
        if !v.is_multiple_of(11) {
            return KeyCheck::BadGroup { group, reason: GroupProblem::NotDivisibleBy11 };
        }
        if v / 11 >= 65536 {
            return KeyCheck::BadGroup { group, reason: GroupProblem::TooLarge };
        }
    }
    if groups.len() != 8 || digits != 48 {
        return KeyCheck::WrongLength { digits };
    }
    KeyCheck::RecoveryPassword
}

/// A base64 string of at least 16 decoded bytes with at least one non-digit character
/// (a recovery password is all digits and hyphens).
fn looks_base64_key(s: &str) -> bool {
    use base64_shape::*;
    s.len() >= 24 && is_base64(s) && s.chars().any(|c| !c.is_ascii_digit())
}

mod base64_shape {
    pub fn is_base64(s: &str) -> bool {
        let body = s.trim_end_matches('=');
        s.len().is_multiple_of(4)
            && s.len() - body.len() <= 2
            && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::AuthKind;

    const SAS_TOKEN: &str = "?sv=2022-11-02&sr=c&sp=rl&sig=abc%2Fdef";

    #[test]
    fn bare_sas_token_needs_its_container() {
        let e = sas_container(AuthKind::Sas, SAS_TOKEN, None).unwrap_err();
        assert!(e.message.contains("does not say which container"), "{}", e.message);
        assert_eq!(sas_container(AuthKind::Sas, SAS_TOKEN, Some(" photos ")).unwrap().as_deref(), Some("photos"));
        assert_eq!(sas_container(AuthKind::Sas, SAS_TOKEN, Some("$root")).unwrap().as_deref(), Some("$root"));
    }

    #[test]
    fn sas_url_and_account_key_need_no_container() {
        let url = format!("https://acct.blob.core.windows.net/photos{SAS_TOKEN}");
        assert_eq!(sas_container(AuthKind::Sas, &url, None).unwrap(), None);
        assert_eq!(sas_container(AuthKind::Sas, &url, Some("other")).unwrap(), None);
        assert_eq!(sas_container(AuthKind::Key, "a2V5", None).unwrap(), None);
    }

    #[test]
    fn container_names_outside_azures_rule_are_refused() {
        for bad in ["ab", "Photos", "-photos", "photos-", "pho--tos", "pho/tos", "../x", &"a".repeat(64)] {
            assert!(sas_container(AuthKind::Sas, SAS_TOKEN, Some(bad)).is_err(), "{bad:?} accepted");
        }
    }

    const GOOD: &str = "238810-662376-448998-450120-652806-203390-606320-483076";

    #[test]
    fn published_recovery_password_is_accepted_with_or_without_hyphens() {
        assert_eq!(recovery_key(GOOD), KeyCheck::RecoveryPassword);
        assert_eq!(recovery_key(&GOOD.replace('-', "")), KeyCheck::RecoveryPassword);
        assert_eq!(recovery_key(&format!("  {GOOD} ")), KeyCheck::RecoveryPassword);
    }

    #[test]
    fn a_mistyped_group_is_named() {
        // 662377 is not divisible by 11: group 2.
        let bad = GOOD.replace("662376", "662377");
        assert_eq!(
            recovery_key(&bad),
            KeyCheck::BadGroup { group: 2, reason: GroupProblem::NotDivisibleBy11 }
        );
        // 720896 = 11 * 65536: divisible, but too large.
        let big = GOOD.replace("483076", "720896");
        assert_eq!(recovery_key(&big), KeyCheck::BadGroup { group: 8, reason: GroupProblem::TooLarge });
        let short = GOOD.replace("450120", "45012");
        assert_eq!(
            recovery_key(&short),
            KeyCheck::BadGroup { group: 4, reason: GroupProblem::WrongLength }
        );
    }

    #[test]
    fn partial_and_odd_input() {
        assert_eq!(recovery_key(""), KeyCheck::Empty);
        assert_eq!(recovery_key("238810-6623"), KeyCheck::WrongLength { digits: 10 });
        assert_eq!(recovery_key("238810-66237x"), KeyCheck::BadCharacter { character: "x".into() });
        assert_eq!(recovery_key("23881066"), KeyCheck::WrongLength { digits: 8 });
    }

    #[test]
    fn base64_key_is_accepted() {
        assert_eq!(recovery_key("wjI2ydEZgcjn7N/vRq2yVQ=="), KeyCheck::Base64Key);
    }

    #[test]
    fn account_and_endpoint_rules() {
        assert!(storage_account("contosodata01").is_ok());
        assert!(storage_account("Contoso").is_err());
        assert!(storage_account("ab").is_err());
        assert_eq!(endpoint(Some("")).unwrap(), None);
        assert_eq!(
            endpoint(Some("http://127.0.0.1:10000/devstoreaccount1/")).unwrap().as_deref(),
            Some("http://127.0.0.1:10000/devstoreaccount1")
        );
        assert!(endpoint(Some("ftp://x")).is_err());
        assert!(endpoint(Some("https://a.blob.core.windows.net/?sv=1&sig=2")).is_err());
    }

    #[test]
    fn drive_ids_cannot_escape_the_data_dir() {
        assert!(drive_id("WD-WMATV123456").is_ok());
        assert!(drive_id("../etc").is_err());
        assert!(drive_id("a/b").is_err());
        assert!(drive_id(".hidden").is_err());
        assert!(drive_id("").is_err());
    }

    #[test]
    fn secret_shapes() {
        let azurite = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
        assert!(secret(AuthKind::Key, azurite).is_ok());
        assert!(secret(AuthKind::Key, "short").is_err());
        assert!(secret(AuthKind::Sas, "?sv=2022-11-02&sr=c&sp=rl&sig=abc%2F").is_ok());
        assert!(secret(AuthKind::Sas, azurite).is_err());
    }
}
