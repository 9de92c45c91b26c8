//! Finding the export drive and unlocking it.

use super::CmdResult;
use crate::engine_ops::DetectedDrive;
use crate::validate::{self, usage, KeyCheck};
use crate::AppState;
use engine::error::{ErrorInfo, ErrorKind};
use engine::secret::Secret;
use serde::Serialize;
use std::path::Path;
use tauri::State;
use ts_rs::TS;

#[tauri::command]
pub async fn detect_drives(state: State<'_, AppState>) -> CmdResult<Vec<DetectedDrive>> {
    state.engine.detect_drives().await
}

/// A manifest found at the root of a chosen folder.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct FoundManifest {
    /// The DriveId its name gives (`<DriveId>.manifest`).
    pub drive_id: String,
    pub path: String,
}

/// What the app found in a folder the user chose instead of a detected drive.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct FolderInspection {
    pub path: String,
    /// Manifests at the folder's root; none means "verify without a manifest" is not possible.
    pub manifests: Vec<FoundManifest>,
}

/// Lists `<DriveId>.manifest` files at the root of `path` (the service writes the
/// manifest at the drive root, named by the DriveId).
pub fn inspect(path: &Path) -> CmdResult<FolderInspection> {
    if !path.is_dir() {
        return Err(usage(format!("{} is not a folder.", path.display())));
    }
    let entries = std::fs::read_dir(path).map_err(|e| crate::store::io_error("read", path, &e))?;
    let mut manifests = Vec::new();
    for entry in entries.flatten() {
        let p = entry.path();
        let is_manifest = p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("manifest"));
        if !is_manifest || !p.is_file() {
            continue;
        }
        if let Some(stem) = p.file_stem().map(|s| s.to_string_lossy().into_owned()) {
            if let Ok(id) = validate::drive_id(&stem) {
                manifests.push(FoundManifest { drive_id: id, path: p.display().to_string() });
            }
        }
    }
    manifests.sort_by(|a, b| a.drive_id.cmp(&b.drive_id));
    Ok(FolderInspection { path: path.display().to_string(), manifests })
}

#[tauri::command]
pub async fn inspect_folder(path: String) -> CmdResult<FolderInspection> {
    if path.trim().is_empty() || path.len() > 4096 {
        return Err(usage("Choose a folder."));
    }
    tokio::task::spawn_blocking(move || inspect(Path::new(path.trim())))
        .await
        .map_err(|e| super::internal("inspecting the folder", e))?
}

/// The recovery key check, as the unlock step shows it.
#[tauri::command]
pub async fn validate_recovery_key(key: String) -> CmdResult<KeyCheck> {
    if key.len() > 1000 {
        return Err(usage("That is far too long for a BitLocker key."));
    }
    Ok(validate::recovery_key(&key))
}

/// Unlocks a BitLocker volume with a recovery password or base64 key; returns the
/// folder where the unlocked files can be read. The key is not kept.
#[tauri::command]
pub async fn unlock_volume(state: State<'_, AppState>, volume: String, key: String) -> CmdResult<String> {
    if volume.trim().is_empty() || volume.len() > 4096 {
        return Err(usage("Choose the locked volume."));
    }
    match validate::recovery_key(&key) {
        KeyCheck::RecoveryPassword | KeyCheck::Base64Key => {}
        _ => {
            return Err(ErrorInfo {
                kind: ErrorKind::BitLockerKeyMalformed,
                message: "The recovery key is not 8 groups of 6 digits (or a base64 key).".into(),
            })
        }
    }
    let secret = Secret::new(key.trim());
    state
        .engine
        .unlock_volume(volume, secret.clone())
        .await
        .map_err(|mut e| {
            e.message = engine::secret::redact(&e.message, &[&secret]);
            e
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_inspection_finds_manifests_named_by_drive_id() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("9WM35C3U.manifest"), "x").unwrap();
        std::fs::write(d.path().join("WD-WMATV123456.MANIFEST"), "x").unwrap();
        std::fs::write(d.path().join("notes.txt"), "x").unwrap();
        std::fs::create_dir(d.path().join("dir.manifest")).unwrap();
        let r = inspect(d.path()).unwrap();
        let ids: Vec<_> = r.manifests.iter().map(|m| m.drive_id.as_str()).collect();
        assert_eq!(ids, vec!["9WM35C3U", "WD-WMATV123456"]);
        assert!(inspect(&d.path().join("notes.txt")).is_err());
    }
}
