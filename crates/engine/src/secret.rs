//! Secrets (account key, SAS signature, BitLocker key) are wrapped so that `Debug` and
//! `Display` never show them, and so that log lines can be scrubbed of them.

use std::fmt;

/// A secret string. Its only way out is [`Secret::expose`], used where the secret is
/// handed to the storage client or a child process, never to a log or message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Removes secrets from text bound for a log or message: every occurrence of a known
/// secret (and of its URL-encoded form), and the value of any `sig=` query parameter.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let raw = s.expose();
        if raw.len() >= 4 {
            out = out.replace(raw, "***");
            let enc = percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
            if enc != raw {
                out = out.replace(&enc, "***");
            }
        }
    }
    redact_sig(&out)
}

/// Replaces the value of `sig=` (SAS signatures) in any URL or query string.
fn redact_sig(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = find_sig(rest) {
        out.push_str(&rest[..i + 4]);
        out.push_str("***");
        let tail = &rest[i + 4..];
        let end = tail
            .find(|c: char| c == '&' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn find_sig(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("sig=") {
        let at = from + i;
        if at == 0 || matches!(lower.as_bytes()[at - 1], b'?' | b'&' | b' ' | b'\t') {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq");
        assert!(!format!("{s:?} {s}").contains("Eby8"));
    }

    #[test]
    fn redact_removes_known_secrets_and_sas_signatures() {
        let key = Secret::new("abc+def/ghi==");
        let text = "key abc+def/ghi== enc abc%2Bdef%2Fghi%3D%3D url https://a/b?sv=2020&sig=XYZ%2F123&se=1";
        let r = redact(text, &[&key]);
        assert!(!r.contains("abc+def"), "{r}");
        assert!(!r.contains("abc%2Bdef"), "{r}");
        assert!(!r.contains("XYZ"), "{r}");
        assert!(r.contains("sv=2020&sig=***&se=1"), "{r}");
    }

    #[test]
    fn words_ending_in_sig_are_left_alone() {
        assert_eq!(redact("design=1", &[]), "design=1");
    }
}
