//! The copy log: found in the storage account or picked from disk, and checked
//! against the drive.

use super::{scrub, storage_config, CmdResult};
use crate::engine_ops::{CopyLogCandidate, CopyLogInfo};
use crate::validate::{self, usage};
use crate::AppState;
use engine::error::{ErrorInfo, ErrorKind};
use std::path::PathBuf;
use tauri::State;

/// Copy logs in the account whose name carries this DriveId, newest first.
#[tauri::command]
pub async fn find_copy_logs(
    state: State<'_, AppState>,
    job_id: String,
    drive_id: String,
) -> CmdResult<Vec<CopyLogCandidate>> {
    let drive_id = validate::drive_id(&drive_id)?;
    let cfg = storage_config(&state, &job_id)?;
    let mut logs = state
        .engine
        .find_copy_logs(cfg.clone(), drive_id.clone())
        .await
        .map_err(|e| scrub(e, &cfg))?;
    logs.retain(|l| l.drive_id == drive_id);
    sort_newest_first(&mut logs);
    Ok(logs)
}

/// Newest first by the timestamp in the name (`<job>_<drive>_<timestamp>_<type>.xml`),
/// then by last-modified.
pub fn sort_newest_first(logs: &mut [CopyLogCandidate]) {
    fn stamp(l: &CopyLogCandidate) -> (String, String) {
        let base = l.name.rsplit('/').next().unwrap_or(&l.name);
        let parts: Vec<&str> = base.trim_end_matches(".xml").rsplitn(3, '_').collect();
        let ts = parts.get(1).filter(|t| t.bytes().all(|b| b.is_ascii_digit())).unwrap_or(&"");
        (ts.to_string(), l.last_modified.clone().unwrap_or_default())
    }
    logs.sort_by_key(|l| std::cmp::Reverse(stamp(l)));
}

/// Downloads a copy log into the drive's log folder; returns the local path.
#[tauri::command]
pub async fn download_copy_log(
    state: State<'_, AppState>,
    job_id: String,
    log: CopyLogCandidate,
) -> CmdResult<String> {
    let drive_id = validate::drive_id(&log.drive_id)?;
    let cfg = storage_config(&state, &job_id)?;
    let base = log.name.rsplit('/').next().unwrap_or("").to_string();
    if !base.ends_with(".xml") || base.contains(['\\', ':']) || base.starts_with('.') {
        return Err(usage("That is not a copy log name."));
    }
    let dir = state.store.lock().unwrap().log_dir_for(&drive_id);
    std::fs::create_dir_all(&dir).map_err(|e| crate::store::io_error("create", &dir, &e))?;
    let dest = dir.join(base);
    let path = state
        .engine
        .download_copy_log(cfg.clone(), log, dest)
        .await
        .map_err(|e| scrub(e, &cfg))?;
    Ok(path.display().to_string())
}

/// Reads a copy log and checks that it belongs to the drive: a DriveId mismatch stops
/// the wizard.
#[tauri::command]
pub async fn check_copy_log(state: State<'_, AppState>, path: String, drive_id: String) -> CmdResult<CopyLogInfo> {
    let drive_id = validate::drive_id(&drive_id)?;
    let p = PathBuf::from(path.trim());
    if !p.is_file() {
        return Err(usage(format!("{} is not a file.", p.display())));
    }
    let info = state.engine.read_copy_log(p).await?;
    check_drive_id(&info, &drive_id)?;
    Ok(info)
}

pub fn check_drive_id(info: &CopyLogInfo, drive_id: &str) -> CmdResult<()> {
    if info.drive_id.trim() != drive_id {
        return Err(ErrorInfo {
            kind: ErrorKind::DriveMismatch,
            message: format!(
                "drive ID mismatch: the drive says {drive_id:?} but the copy log says {:?}. Choose the copy log of this drive.",
                info.drive_id
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(name: &str, lm: Option<&str>) -> CopyLogCandidate {
        CopyLogCandidate {
            container: "waimportexport".into(),
            name: name.into(),
            drive_id: "9WM35C3U".into(),
            log_type: "error".into(),
            length: 1,
            last_modified: lm.map(Into::into),
        }
    }

    #[test]
    fn logs_sort_newest_first_by_name_timestamp() {
        let mut v = vec![
            cand("waies/myjob_9WM35C3U_20240101000000_error.xml", None),
            cand("waies/my_job_9WM35C3U_20240315093012_verbose.xml", None),
            cand("waies/myjob_9WM35C3U_20240201000000_error.xml", None),
        ];
        sort_newest_first(&mut v);
        assert!(v[0].name.contains("20240315"));
        assert!(v[2].name.contains("20240101"));
    }

    #[test]
    fn mismatching_drive_id_is_a_drive_mismatch() {
        let info = CopyLogInfo { path: "x".into(), drive_id: "OTHER".into(), status: None, failed_blobs: 0 };
        assert_eq!(check_drive_id(&info, "9WM35C3U").unwrap_err().kind, ErrorKind::DriveMismatch);
        let ok = CopyLogInfo { drive_id: "9WM35C3U".into(), ..info };
        assert!(check_drive_id(&ok, "9WM35C3U").is_ok());
    }
}
