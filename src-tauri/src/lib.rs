//! Drive Repair desktop app: a Tauri 2 shell around the engine.
//!
//! - [`records`]: jobs and drives as the app keeps them; [`store`] persists them.
//! - [`secrets`]: account keys and SAS tokens, in memory (or the OS credential store).
//! - [`commands`]: thin async Tauri commands; each validates its input ([`validate`])
//!   and returns `ErrorInfo { kind, message }` on failure.
//! - [`reporter`]: engine progress to the UI, throttled to ~10 messages a second.
//! - [`engine_ops`]: the engine operations behind a trait, wired to the engine by
//!   [`engine_real`] ([`simulate`] stands in for them only with `DRIVE_REPAIR_SIMULATE=1`); [`demo`]: the `DRIVE_REPAIR_DEMO` job.

pub mod commands;
pub mod demo;
pub mod engine_ops;
pub mod engine_real;
pub mod records;
pub mod reporter;
pub mod secrets;
pub mod simulate;
pub mod store;
pub mod validate;

use engine::progress::CancelToken;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use tauri::Manager;

/// Everything the commands share.
pub struct AppState {
    pub store: Mutex<store::Store>,
    pub secrets: secrets::Secrets,
    pub engine: Box<dyn engine_ops::EngineOps>,
    /// Runs under way, by (job id, DriveId): their pause/cancel handle.
    pub runs: Mutex<HashMap<(String, String), RunHandle>>,
    pub demo: Option<demo::DemoInfo>,
    pub simulated: bool,
}

/// A run under way: its pause/cancel token and its line to the UI.
pub struct RunHandle {
    pub cancel: CancelToken,
    pub notify: std::sync::Arc<dyn Fn(reporter::ProgressMessage) + Send + Sync>,
}

/// `DRIVE_REPAIR_DATA_DIR` overrides the app data directory (tests, portable use).
fn data_dir(app: &tauri::App) -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("DRIVE_REPAIR_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    app.path().app_data_dir().map_err(|e| format!("no app data directory: {e}"))
}

fn setup(app: &mut tauri::App) -> Result<(), Box<dyn std::error::Error>> {
    let dir = data_dir(app)?;
    let mut store = store::Store::open(&dir).map_err(|e| e.message)?;
    let secrets = secrets::Secrets::new(Box::new(secrets::OsCredentialStore));
    let args: Vec<String> = std::env::args().collect();
    let demo = demo::demo_dir_from(&args, std::env::var("DRIVE_REPAIR_DEMO").ok()).map(|folder| {
        let error = demo::load(&folder, &mut store, &secrets).err().map(|e| e.message);
        demo::DemoInfo { folder: folder.display().to_string(), error }
    });
    let simulated = std::env::var("DRIVE_REPAIR_SIMULATE").is_ok_and(|v| v == "1");
    let engine: Box<dyn engine_ops::EngineOps> = if simulated {
        let run_seconds = std::env::var("DRIVE_REPAIR_SIMULATE_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8.0);
        Box::new(simulate::Simulated { run_seconds })
    } else {
        Box::new(engine_real::RealEngine)
    };
    app.manage(AppState {
        store: Mutex::new(store),
        secrets,
        engine,
        runs: Mutex::new(HashMap::new()),
        demo,
        simulated,
    });
    Ok(())
}

static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// When the process started (first call: `run`), for the start-up benchmark.
pub fn started() -> std::time::Instant {
    *STARTED.get_or_init(std::time::Instant::now)
}

pub fn run() {
    started();
    tauri::Builder::default()
        .setup(setup)
        .invoke_handler(tauri::generate_handler![
            commands::app::app_info,
            commands::app::ui_ready,
            commands::app::open_log_folder,
            commands::app::pick_folder,
            commands::app::pick_file,
            commands::app::save_report,
            commands::jobs::list_jobs,
            commands::jobs::create_job,
            commands::jobs::ensure_local_job,
            commands::jobs::delete_job,
            commands::jobs::list_drives,
            commands::jobs::add_drive,
            commands::jobs::remove_drive,
            commands::jobs::set_job_secret,
            commands::jobs::forget_job_secret,
            commands::jobs::secret_status,
            commands::jobs::test_connection,
            commands::drives::detect_drives,
            commands::drives::inspect_folder,
            commands::drives::validate_recovery_key,
            commands::drives::unlock_volume,
            commands::copylog::find_copy_logs,
            commands::copylog::download_copy_log,
            commands::copylog::check_copy_log,
            commands::runs::plan_repair,
            commands::runs::start_run,
            commands::runs::pause_run,
            commands::runs::resume_run,
            commands::runs::cancel_run,
            commands::runs::read_issues,
        ])
        .run(tauri::generate_context!())
        .expect("error while running the Drive Repair app");
}
