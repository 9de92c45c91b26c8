//! App-wide commands: what the app is running with, native file dialogs, the log folder.

use super::CmdResult;
use crate::validate::usage;
use crate::AppState;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tauri::State;
use ts_rs::TS;

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    pub demo: Option<crate::demo::DemoInfo>,
    /// `DRIVE_REPAIR_SIMULATE=1`: the engine is simulated; the UI shows a banner.
    pub simulated: bool,
    /// The saved job list could not be read at start-up (it was kept aside).
    pub load_warning: Option<String>,
    /// Whether this build includes the engine's operations (phase 2) or simulates them.
    pub engine_available: bool,
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> CmdResult<AppInfo> {
    let store = state.store.lock().unwrap();
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        data_dir: store.dir().display().to_string(),
        demo: state.demo.clone(),
        simulated: state.simulated,
        load_warning: store.load_warning.clone(),
        engine_available: state.simulated,
    })
}

/// The UI calls this once the jobs screen is interactive. With
/// `DRIVE_REPAIR_EXIT_WHEN_READY=1` (the start-up benchmark) the app prints the time
/// since the process started and exits; otherwise it does nothing.
#[tauri::command]
pub async fn ui_ready(app: tauri::AppHandle) -> CmdResult<()> {
    if std::env::var("DRIVE_REPAIR_EXIT_WHEN_READY").as_deref() == Ok("1") {
        let ms = crate::started().elapsed().as_secs_f64() * 1000.0;
        println!("ready_ms={ms:.0}");
        app.exit(0);
    }
    Ok(())
}

/// Opens a drive's log folder in the system file manager. Only folders inside the
/// app data directory are opened.
#[tauri::command]
pub async fn open_log_folder(state: State<'_, AppState>, job_id: String, drive_id: String) -> CmdResult<()> {
    let job_id = crate::validate::job_id(&job_id)?.to_string();
    let drive_id = crate::validate::drive_id(&drive_id)?;
    let dir = {
        let store = state.store.lock().unwrap();
        store.drive(&job_id, &drive_id).ok_or_else(|| usage("unknown drive"))?;
        store.log_dir_for(&drive_id)
    };
    std::fs::create_dir_all(&dir).map_err(|e| crate::store::io_error("create", &dir, &e))?;
    open_in_file_manager(&dir)
}

fn open_in_file_manager(dir: &Path) -> CmdResult<()> {
    let program = if cfg!(windows) {
        "explorer"
    } else if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(program)
        .arg(dir)
        .spawn()
        .map(|_| ())
        .map_err(|e| engine::error::ErrorInfo {
            kind: engine::error::ErrorKind::Unsupported,
            message: format!("could not open {} with {program}: {e}", dir.display()),
        })
}

/// Native folder picker. Returns `None` when the user cancels.
#[tauri::command]
pub async fn pick_folder(window: tauri::WebviewWindow, title: String) -> CmdResult<Option<String>> {
    let title = short_text(&title)?;
    let picked = rfd::AsyncFileDialog::new()
        .set_title(title)
        .set_parent(&window)
        .pick_folder()
        .await;
    Ok(picked.map(|f| f.path().display().to_string()))
}

/// Native file picker for XML files (copy logs, manifests). `None` when cancelled.
#[tauri::command]
pub async fn pick_file(window: tauri::WebviewWindow, title: String, kind: String) -> CmdResult<Option<String>> {
    let title = short_text(&title)?;
    let exts: &[&str] = match kind.as_str() {
        "copylog" => &["xml"],
        "manifest" => &["manifest", "xml"],
        _ => return Err(usage("unknown file kind")),
    };
    let picked = rfd::AsyncFileDialog::new()
        .set_title(title)
        .add_filter(&kind, exts)
        .add_filter("*", &["*"])
        .set_parent(&window)
        .pick_file()
        .await;
    Ok(picked.map(|f| f.path().display().to_string()))
}

/// Reports are built by the UI (in the user's language) and written here, where the
/// user chose in a native save dialog. Returns the path, or `None` when cancelled.
#[tauri::command]
pub async fn save_report(
    window: tauri::WebviewWindow,
    suggested_name: String,
    format: String,
    contents: String,
) -> CmdResult<Option<String>> {
    let ext = match format.as_str() {
        "html" => "html",
        "csv" => "csv",
        _ => return Err(usage("a report is saved as html or csv")),
    };
    // 1 GB is far beyond any real report; it guards against a runaway UI.
    if contents.len() > 1 << 30 {
        return Err(usage("the report is too large to save"));
    }
    let name: String = suggested_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(100)
        .collect();
    let name = if name.is_empty() { format!("drive-repair-report.{ext}") } else { name };
    let picked = rfd::AsyncFileDialog::new()
        .set_file_name(&name)
        .add_filter(ext, &[ext])
        .set_parent(&window)
        .save_file()
        .await;
    let Some(f) = picked else { return Ok(None) };
    let mut path: PathBuf = f.path().to_path_buf();
    if path.extension().is_none() {
        path.set_extension(ext);
    }
    let p2 = path.clone();
    tokio::task::spawn_blocking(move || std::fs::write(&p2, contents))
        .await
        .map_err(|e| super::internal("saving the report", e))?
        .map_err(|e| crate::store::io_error("write", &path, &e))?;
    Ok(Some(path.display().to_string()))
}

fn short_text(s: &str) -> CmdResult<&str> {
    if s.chars().count() > 200 {
        return Err(usage("text too long"));
    }
    Ok(s)
}
