//! Safe mapping of a manifest or copy-log `FilePath` onto the target directory.
//!
//! A `FilePath` comes from a file the user got from elsewhere (a copy log downloaded
//! from storage, a manifest on a shipped drive), so it is untrusted input. It names a
//! file relative to the drive root (`\pictures\wild\desert.jpg`); everything that
//! could leave the target directory or mean something other than a plain file on
//! Windows is refused with [`EngineError::UnsafePath`] and a reason in plain words,
//! never "cleaned up" into something else.
//!
//! A single leading `\` or `/` is the drive root and maps to the target. What is
//! refused as absolute is anything rooted elsewhere: a drive letter (`C:`), a network
//! share (`\\server\share`), and the `\\?\` and `\\.\` prefixes.

use crate::error::{EngineError, Result};
use std::path::{Component, Path, PathBuf};

/// Characters NTFS does not allow in a name (besides the separators and control
/// characters, handled separately).
const NTFS_ILLEGAL: &[char] = &['<', '>', ':', '"', '|', '?', '*'];

/// Windows device names: a file of this name (with any extension) opens the device.
const DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4", "COM5",
    "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4",
    "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

fn refuse(file_path: &str, reason: impl Into<String>) -> EngineError {
    EngineError::UnsafePath { file_path: file_path.to_string(), reason: reason.into() }
}

fn is_separator(c: char) -> bool {
    c == '\\' || c == '/'
}

/// Maps `file_path` (backslashes or slashes, with or without a leading separator)
/// to a path inside `target`, or refuses it.
pub fn map_file_path(target: &Path, file_path: &str) -> Result<PathBuf> {
    let segments = file_path_segments(file_path)?;
    let mut out = target.to_path_buf();
    out.extend(segments);
    Ok(out)
}

/// The names of the folders and file that `file_path` is made of, checked as
/// [`map_file_path`] checks them.
pub fn file_path_segments(file_path: &str) -> Result<Vec<&str>> {
    if file_path.trim().is_empty() {
        return Err(refuse(file_path, "the path is empty"));
    }
    if let Some(c) = file_path.chars().find(|c| (*c as u32) < 0x20) {
        return Err(refuse(
            file_path,
            if c == '\0' {
                "it contains a NUL character, which no file name may hold".to_string()
            } else {
                format!("it contains the control character U+{:04X}, which Windows does not allow in names", c as u32)
            },
        ));
    }
    let mut chars = file_path.chars();
    let (first, second, third, fourth) = (chars.next(), chars.next(), chars.next(), chars.next());
    let sep = |c: Option<char>| c.is_some_and(is_separator);
    if sep(first) && sep(second) {
        if matches!(third, Some('?') | Some('.')) && sep(fourth) {
            return Err(refuse(
                file_path,
                "it starts with \\\\?\\ or \\\\.\\, a Windows device or extended-length path outside the target folder",
            ));
        }
        return Err(refuse(file_path, "it is a network path (\\\\server\\share), outside the target folder"));
    }
    if first.is_some_and(|c| c.is_ascii_alphabetic()) && second == Some(':') {
        return Err(refuse(
            file_path,
            "it starts with a drive letter (like C:); only paths relative to the drive root are allowed",
        ));
    }
    let rest = file_path.strip_prefix(is_separator).unwrap_or(file_path);
    if rest.ends_with(is_separator) || rest.is_empty() {
        return Err(refuse(file_path, "it ends with a separator, so it names a folder rather than a file"));
    }
    let mut segments = Vec::new();
    // Doubled separators inside the path are harmless (Windows reads them as one).
    for segment in rest.split(is_separator).filter(|s| !s.is_empty()) {
        check_segment(file_path, segment)?;
        segments.push(segment);
    }
    Ok(segments)
}

fn check_segment(file_path: &str, segment: &str) -> Result<()> {
    if segment == "." {
        return Err(refuse(file_path, "it has a \".\" segment (the current folder); each folder must be named"));
    }
    if segment == ".." {
        return Err(refuse(file_path, "it has a \"..\" segment, which would climb out of the target folder"));
    }
    if let Some(c) = segment.chars().find(|c| NTFS_ILLEGAL.contains(c)) {
        let why = if c == ':' { " (it would name an alternate data stream)" } else { "" };
        return Err(refuse(
            file_path,
            format!("the name {segment:?} contains '{c}', which Windows does not allow in names{why}"),
        ));
    }
    if segment.ends_with('.') || segment.ends_with(' ') {
        return Err(refuse(
            file_path,
            format!("the name {segment:?} ends with a dot or space, which Windows silently drops (it would be another file)"),
        ));
    }
    // Windows ignores everything from the first dot and trailing spaces before it
    // when it decides whether a name is a device: `NUL.txt` and `nul .log` are NUL.
    let stem = segment.split('.').next().unwrap_or(segment).trim_end_matches(' ');
    let upper = stem.to_uppercase();
    if let Some(device) = DEVICE_NAMES.iter().find(|d| **d == upper) {
        return Err(refuse(
            file_path,
            format!("the name {segment:?} is the Windows device {device}; writing it would reach the device, not a file"),
        ));
    }
    Ok(())
}

/// Checks that writing `path` (a path from [`map_file_path`] under `target`) cannot
/// leave `target`: every existing folder between them must be a real folder, not a
/// symbolic link (or junction), and `path` itself, if it exists, must not be a link.
/// `target` itself may be a link: the user chose it.
///
/// Call it right before creating folders and opening the file. (A link planted
/// between the check and the write by another process is outside what this guards.)
pub fn ensure_no_symlink_escape(target: &Path, path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    let relative = path
        .strip_prefix(target)
        .map_err(|_| refuse(&shown, "it is outside the target folder"))?;
    let parts: Vec<Component<'_>> = relative.components().collect();
    let mut current = target.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Component::Normal(name) => current.push(name),
            Component::CurDir => continue,
            _ => return Err(refuse(&shown, "it climbs out of the target folder")),
        }
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            // Nothing deeper exists yet, so nothing deeper can be a link.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(EngineError::io("check", &current, e)),
        };
        let is_last = i + 1 == parts.len();
        if meta.file_type().is_symlink() {
            return Err(refuse(
                &shown,
                format!(
                    "{} is a symbolic link; writing through it could leave the target folder",
                    current.display()
                ),
            ));
        }
        if !is_last && !meta.is_dir() {
            return Err(refuse(&shown, format!("{} is a file, not a folder", current.display())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> PathBuf {
        PathBuf::from("/target")
    }

    fn reason(file_path: &str) -> String {
        match map_file_path(&target(), file_path) {
            Err(EngineError::UnsafePath { file_path: fp, reason }) => {
                assert_eq!(fp, file_path);
                reason
            }
            other => panic!("{file_path:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn maps_backslash_path_with_leading_separator() {
        assert_eq!(
            map_file_path(&target(), r"\pictures\wild\desert.jpg").unwrap(),
            Path::new("/target/pictures/wild/desert.jpg")
        );
    }

    #[test]
    fn maps_forward_slashes_and_no_leading_separator() {
        for p in ["/pictures/wild/desert.jpg", "pictures/wild/desert.jpg", r"pictures\wild/desert.jpg"] {
            assert_eq!(map_file_path(&target(), p).unwrap(), Path::new("/target/pictures/wild/desert.jpg"), "{p}");
        }
    }

    #[test]
    fn maps_unicode_spaces_root_container_and_doubled_separators() {
        assert_eq!(
            map_file_path(&target(), r"\photos\été 2024\naïve café.txt").unwrap(),
            Path::new("/target/photos/été 2024/naïve café.txt")
        );
        assert_eq!(map_file_path(&target(), r"\$root\top.txt").unwrap(), Path::new("/target/$root/top.txt"));
        assert_eq!(map_file_path(&target(), r"\a\\b.txt").unwrap(), Path::new("/target/a/b.txt"));
        assert_eq!(map_file_path(&target(), r"\.hidden\x.y.z").unwrap(), Path::new("/target/.hidden/x.y.z"));
    }

    #[test]
    fn accepts_names_that_only_resemble_device_names() {
        for p in [r"\CONSOLE.txt", r"\COM10", r"\LPT", r"\nul_x.txt", r"\auxiliary\a", r"\x\CON-notes.txt"] {
            assert!(map_file_path(&target(), p).is_ok(), "{p}");
        }
    }

    #[test]
    fn refuses_parent_dir_segment() {
        assert!(reason(r"\pictures\..\..\etc\passwd").contains("\"..\""));
        assert!(reason("../x").contains("climb out"));
        assert!(reason(r"\a\..").contains(".."));
    }

    #[test]
    fn refuses_current_dir_segment() {
        assert!(reason(r"\pictures\.\a.jpg").contains("\".\""));
    }

    #[test]
    fn refuses_drive_letter() {
        assert!(reason(r"C:\Windows\system32\x.dll").contains("drive letter"));
        assert!(reason("d:relative.txt").contains("drive letter"));
    }

    #[test]
    fn refuses_unc_path() {
        assert!(reason(r"\\server\share\x.txt").contains("network path"));
        assert!(reason("//server/share/x.txt").contains("network path"));
    }

    #[test]
    fn refuses_extended_length_prefix() {
        assert!(reason(r"\\?\C:\x.txt").contains(r"\\?\"));
    }

    #[test]
    fn refuses_device_namespace_prefix() {
        assert!(reason(r"\\.\PhysicalDrive0").contains("device"));
    }

    #[test]
    fn refuses_nul_character() {
        assert!(reason("\\a\0b.txt").contains("NUL character"));
    }

    #[test]
    fn refuses_control_character() {
        assert!(reason("\\a\u{1}b.txt").contains("U+0001"));
        assert!(reason("\\a\nb.txt").contains("U+000A"));
    }

    #[test]
    fn refuses_device_name_as_any_segment() {
        assert!(reason(r"\CON").contains("device CON"));
        assert!(reason(r"\docs\prn\a.txt").contains("device PRN"));
        assert!(reason(r"\AUX\x").contains("device AUX"));
    }

    #[test]
    fn refuses_device_name_with_extension() {
        assert!(reason(r"\logs\NUL.txt").contains("device NUL"));
        assert!(reason(r"\logs\nul.tar.gz").contains("device NUL"));
    }

    #[test]
    fn refuses_device_name_case_insensitive() {
        assert!(reason(r"\Con.log").contains("device CON"));
        assert!(reason(r"\cOm1").contains("device COM1"));
    }

    #[test]
    fn refuses_device_name_with_space_before_extension() {
        assert!(reason(r"\nul .txt").contains("device NUL"));
    }

    #[test]
    fn refuses_com_and_lpt_ports() {
        for n in 0..=9 {
            assert!(reason(&format!(r"\COM{n}.dat")).contains("device"));
            assert!(reason(&format!(r"\lpt{n}")).contains("device"));
        }
        assert!(reason("\\COM\u{b9}").contains("device"));
        assert!(reason("\\CONIN$").contains("device"));
    }

    #[test]
    fn refuses_trailing_dot_or_space() {
        assert!(reason(r"\a\file.txt.").contains("ends with a dot or space"));
        assert!(reason(r"\folder \a.txt").contains("ends with a dot or space"));
        assert!(reason(r"\...\a.txt").contains("ends with a dot or space"));
        assert!(reason(r"\CON.").contains("ends with a dot or space"));
    }

    #[test]
    fn refuses_ntfs_illegal_characters() {
        for c in ['<', '>', '"', '|', '?', '*'] {
            assert!(reason(&format!(r"\a\b{c}c.txt")).contains(c), "{c}");
        }
    }

    #[test]
    fn refuses_alternate_data_stream() {
        assert!(reason(r"\a\file.txt:secret").contains("alternate data stream"));
    }

    #[test]
    fn refuses_empty_path() {
        assert!(reason("").contains("empty"));
        assert!(reason("   ").contains("empty"));
    }

    #[test]
    fn refuses_path_of_only_a_separator() {
        assert!(reason(r"\").contains("folder"));
    }

    #[test]
    fn refuses_trailing_separator() {
        assert!(reason(r"\pictures\wild\").contains("names a folder"));
    }

    #[test]
    fn unsafe_path_error_has_its_kind_and_a_readable_message() {
        let err = map_file_path(&target(), r"\..\x").unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::UnsafePath);
        assert!(err.to_string().contains("nothing was written"));
    }

    #[cfg(unix)]
    mod symlinks {
        use super::super::*;
        use std::os::unix::fs::symlink;

        #[test]
        fn plain_folders_and_missing_paths_pass() {
            let dir = tempfile::tempdir().unwrap();
            let t = dir.path();
            std::fs::create_dir_all(t.join("a/b")).unwrap();
            std::fs::write(t.join("a/b/f.txt"), "x").unwrap();
            ensure_no_symlink_escape(t, &t.join("a/b/f.txt")).unwrap();
            ensure_no_symlink_escape(t, &t.join("a/b/new.txt")).unwrap();
            ensure_no_symlink_escape(t, &t.join("a/missing/deeper/new.txt")).unwrap();
        }

        #[test]
        fn refuses_symlinked_ancestor_folder() {
            let dir = tempfile::tempdir().unwrap();
            let outside = tempfile::tempdir().unwrap();
            let t = dir.path();
            std::fs::create_dir(t.join("a")).unwrap();
            symlink(outside.path(), t.join("a/escape")).unwrap();
            let err = ensure_no_symlink_escape(t, &t.join("a/escape/f.txt")).unwrap_err();
            assert!(err.to_string().contains("symbolic link"), "{err}");
        }

        #[test]
        fn refuses_symlink_as_the_file_itself() {
            let dir = tempfile::tempdir().unwrap();
            let outside = tempfile::tempdir().unwrap();
            let t = dir.path();
            let victim = outside.path().join("victim");
            std::fs::write(&victim, "keep").unwrap();
            symlink(&victim, t.join("f.txt")).unwrap();
            assert!(ensure_no_symlink_escape(t, &t.join("f.txt")).is_err());
            // A dangling link is refused too.
            symlink(outside.path().join("nothing"), t.join("g.txt")).unwrap();
            assert!(ensure_no_symlink_escape(t, &t.join("g.txt")).is_err());
        }

        #[test]
        fn refuses_file_where_a_folder_is_needed() {
            let dir = tempfile::tempdir().unwrap();
            let t = dir.path();
            std::fs::write(t.join("a"), "x").unwrap();
            let err = ensure_no_symlink_escape(t, &t.join("a/f.txt")).unwrap_err();
            assert!(err.to_string().contains("is a file, not a folder"), "{err}");
        }

        #[test]
        fn refuses_path_outside_target() {
            let dir = tempfile::tempdir().unwrap();
            let err = ensure_no_symlink_escape(dir.path(), Path::new("/etc/passwd")).unwrap_err();
            assert!(err.to_string().contains("outside the target"), "{err}");
            let err = ensure_no_symlink_escape(dir.path(), &dir.path().join("../x")).unwrap_err();
            assert!(err.to_string().contains("climbs out"), "{err}");
        }

        #[test]
        fn target_itself_may_be_a_symlink() {
            let real = tempfile::tempdir().unwrap();
            let links = tempfile::tempdir().unwrap();
            let t = links.path().join("target");
            symlink(real.path(), &t).unwrap();
            std::fs::create_dir(t.join("a")).unwrap();
            ensure_no_symlink_escape(&t, &t.join("a/f.txt")).unwrap();
        }

        #[test]
        fn mapped_path_passes_the_check() {
            let dir = tempfile::tempdir().unwrap();
            let p = map_file_path(dir.path(), r"\photos\été 2024\naïve café.txt").unwrap();
            ensure_no_symlink_escape(dir.path(), &p).unwrap();
        }
    }
}
