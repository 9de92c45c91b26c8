//! TEMP placeholder for the repair branch (dropped on merge; the parsers branch owns this file).
//! Minimal but functional, because the repair tests write through it.

use crate::{EngineError, Result};
use std::path::{Path, PathBuf};

pub fn map_file_path(target: &Path, file_path: &str) -> Result<PathBuf> {
    let unsafe_path = |reason: &str| EngineError::UnsafePath {
        file_path: file_path.to_string(),
        reason: reason.to_string(),
    };
    let mut out = target.to_path_buf();
    let mut any = false;
    for part in file_path.split(['\\', '/']) {
        match part {
            "" | "." => continue,
            ".." => return Err(unsafe_path("it climbs out of the target directory with \"..\"")),
            p if p.contains(':') => return Err(unsafe_path("it contains a drive letter or stream name (\":\")")),
            p => {
                out.push(p);
                any = true;
            }
        }
    }
    if !any {
        return Err(unsafe_path("it names no file"));
    }
    Ok(out)
}

pub fn ensure_no_symlink_escape(target: &Path, path: &Path) -> Result<()> {
    let root = target
        .canonicalize()
        .map_err(|e| EngineError::io("resolve", target, e))?;
    let mut p = path.to_path_buf();
    loop {
        if p.exists() {
            let real = p.canonicalize().map_err(|e| EngineError::io("resolve", &p, e))?;
            if !real.starts_with(&root) {
                return Err(EngineError::UnsafePath {
                    file_path: path.display().to_string(),
                    reason: "a symbolic link leads out of the target directory".into(),
                });
            }
            return Ok(());
        }
        if !p.pop() {
            return Ok(());
        }
    }
}
