//! Declares the app's own commands so that each one needs an explicit permission in
//! `capabilities/` (Tauri allows every command of an app that declares none).

const COMMANDS: &[&str] = &[
    "app_info",
    "ui_ready",
    "open_log_folder",
    "pick_folder",
    "pick_file",
    "save_report",
    "list_jobs",
    "create_job",
    "ensure_local_job",
    "delete_job",
    "list_drives",
    "add_drive",
    "remove_drive",
    "set_job_secret",
    "forget_job_secret",
    "secret_status",
    "test_connection",
    "detect_drives",
    "inspect_folder",
    "validate_recovery_key",
    "unlock_volume",
    "find_copy_logs",
    "download_copy_log",
    "check_copy_log",
    "plan_repair",
    "start_run",
    "pause_run",
    "resume_run",
    "cancel_run",
    "read_issues",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script failed");
}
