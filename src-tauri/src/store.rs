//! Jobs and drives persist in one small JSON file in the app data directory. Every
//! change rewrites it atomically (write a temporary file, flush it to disk, rename it
//! over the old one), so a crash leaves either the old or the new state, never half.
//! A file that cannot be read is moved aside (`state.json.unreadable-<time>`) rather
//! than overwritten, so nothing the user had is lost silently.

use crate::records::{now_ms, DriveRecord, JobRecord, LocalState};
use engine::error::{ErrorInfo, ErrorKind};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "state.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    jobs: Vec<JobRecord>,
    drives: Vec<DriveRecord>,
}

/// The app's persistent state. Not thread-safe by itself: the app keeps it in a mutex.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    state: StateFile,
    /// Set when the state file could not be read at start-up: the UI says so once.
    pub load_warning: Option<String>,
}

impl Store {
    /// Opens (or starts) the store in `dir`, creating the directory. Drives that were
    /// being checked or repaired when the app stopped are marked interrupted, so the
    /// UI can offer to resume them.
    pub fn open(dir: &Path) -> Result<Store, ErrorInfo> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create the data folder", dir, &e))?;
        let path = dir.join(FILE_NAME);
        let mut load_warning = None;
        let mut state = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<StateFile>(&bytes) {
                Ok(s) if s.version <= FORMAT_VERSION => s,
                Ok(s) => {
                    return Err(ErrorInfo {
                        kind: ErrorKind::Unsupported,
                        message: format!(
                            "{} was written by a newer version of Drive Repair (format {}). Update the app to open it.",
                            path.display(),
                            s.version
                        ),
                    })
                }
                Err(e) => {
                    let aside = dir.join(format!("{FILE_NAME}.unreadable-{}", now_ms()));
                    let _ = std::fs::rename(&path, &aside);
                    load_warning = Some(format!(
                        "The saved list of jobs could not be read ({e}). It was kept as {} and the app started with an empty list.",
                        aside.display()
                    ));
                    StateFile::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(e) => return Err(io_error("read", &path, &e)),
        };
        state.version = FORMAT_VERSION;
        for d in &mut state.drives {
            if d.local_state.is_running() {
                d.interrupted = true;
                d.local_state = if matches!(d.local_state, LocalState::Repairing { .. }) {
                    LocalState::NeedsRepair
                } else {
                    LocalState::NotChecked
                };
            }
        }
        Ok(Store { dir: dir.to_path_buf(), state, load_warning })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the repair file of a drive goes: one per drive, named by its DriveId.
    pub fn repair_file_for(&self, drive_id: &str) -> PathBuf {
        self.dir.join("repair").join(format!("{drive_id}.repair"))
    }

    pub fn log_dir_for(&self, drive_id: &str) -> PathBuf {
        self.dir.join("logs").join(drive_id)
    }

    pub fn jobs(&self) -> &[JobRecord] {
        &self.state.jobs
    }

    pub fn job(&self, id: &str) -> Option<&JobRecord> {
        self.state.jobs.iter().find(|j| j.id == id)
    }

    pub fn drives_of(&self, job_id: &str) -> Vec<&DriveRecord> {
        self.state.drives.iter().filter(|d| d.job_id == job_id).collect()
    }

    pub fn drive(&self, job_id: &str, drive_id: &str) -> Option<&DriveRecord> {
        self.state
            .drives
            .iter()
            .find(|d| d.job_id == job_id && d.drive_id == drive_id)
    }

    pub fn all_drives(&self) -> &[DriveRecord] {
        &self.state.drives
    }

    pub fn insert_job(&mut self, job: JobRecord) -> Result<(), ErrorInfo> {
        self.state.jobs.retain(|j| j.id != job.id);
        self.state.jobs.push(job);
        self.save()
    }

    /// Removes the job and its drives (not the repair files or logs on disk).
    pub fn remove_job(&mut self, id: &str) -> Result<bool, ErrorInfo> {
        let before = self.state.jobs.len();
        self.state.jobs.retain(|j| j.id != id);
        self.state.drives.retain(|d| d.job_id != id);
        let removed = before != self.state.jobs.len();
        self.save()?;
        Ok(removed)
    }

    /// Inserts or replaces the drive (by job and DriveId) and touches the job.
    pub fn upsert_drive(&mut self, mut drive: DriveRecord) -> Result<(), ErrorInfo> {
        drive.updated = now_ms();
        let now = drive.updated;
        let job_id = drive.job_id.clone();
        match self
            .state
            .drives
            .iter_mut()
            .find(|d| d.job_id == drive.job_id && d.drive_id == drive.drive_id)
        {
            Some(d) => *d = drive,
            None => self.state.drives.push(drive),
        }
        if let Some(j) = self.state.jobs.iter_mut().find(|j| j.id == job_id) {
            j.last_activity = now;
        }
        self.save()
    }

    /// Changes a drive in place; returns the new record.
    pub fn update_drive(
        &mut self,
        job_id: &str,
        drive_id: &str,
        f: impl FnOnce(&mut DriveRecord),
    ) -> Result<DriveRecord, ErrorInfo> {
        let mut d = self.drive(job_id, drive_id).cloned().ok_or_else(|| ErrorInfo {
            kind: ErrorKind::Usage,
            message: format!("drive {drive_id} is not part of this job"),
        })?;
        f(&mut d);
        self.upsert_drive(d.clone())?;
        Ok(d)
    }

    pub fn remove_drive(&mut self, job_id: &str, drive_id: &str) -> Result<bool, ErrorInfo> {
        let before = self.state.drives.len();
        self.state
            .drives
            .retain(|d| !(d.job_id == job_id && d.drive_id == drive_id));
        let removed = before != self.state.drives.len();
        self.save()?;
        Ok(removed)
    }

    /// Writes the state atomically: temporary file, fsync, rename.
    fn save(&self) -> Result<(), ErrorInfo> {
        let path = self.dir.join(FILE_NAME);
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(|e| ErrorInfo {
            kind: ErrorKind::Internal,
            message: format!("could not encode the job list: {e}"),
        })?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| io_error("save", &path, &e))
    }
}

pub fn io_error(op: &str, path: &Path, e: &std::io::Error) -> ErrorInfo {
    let full = matches!(e.raw_os_error(), Some(28)) || e.kind() == std::io::ErrorKind::StorageFull;
    ErrorInfo {
        kind: if full { ErrorKind::DiskFull } else { ErrorKind::Io },
        message: format!("could not {op} {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::drive;
    use crate::records::AuthKind;

    fn job(id: &str) -> JobRecord {
        JobRecord {
            id: id.into(),
            name: "Export March".into(),
            storage_account: "contosodata".into(),
            endpoint: None,
            auth: AuthKind::Key,
            container: None,
            remember_secret: false,
            created: 1,
            last_activity: 1,
            demo: false,
        }
    }

    #[test]
    fn jobs_and_drives_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.insert_job(job("j1")).unwrap();
        s.upsert_drive(drive("9WM35C3U", LocalState::NeedsRepair)).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.jobs().len(), 1);
        assert_eq!(s.drives_of("j1").len(), 1);
        assert_eq!(s.drives_of("j1")[0].local_state, LocalState::NeedsRepair);
        assert!(!dir.path().join("state.json.tmp").exists(), "temporary file left behind");
        assert!(s.load_warning.is_none());
    }

    #[test]
    fn a_run_under_way_at_exit_is_marked_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.insert_job(job("j1")).unwrap();
        s.upsert_drive(drive("A", LocalState::Repairing { percent: 45.0 })).unwrap();
        s.upsert_drive(drive("B", LocalState::Checking { percent: 5.0 })).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        let a = s.drive("j1", "A").unwrap();
        assert!(a.interrupted);
        assert_eq!(a.local_state, LocalState::NeedsRepair);
        let b = s.drive("j1", "B").unwrap();
        assert!(b.interrupted);
        assert_eq!(b.local_state, LocalState::NotChecked);
    }

    #[test]
    fn unreadable_state_is_kept_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), b"{ not json").unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.jobs().is_empty());
        assert!(s.load_warning.as_deref().unwrap().contains("could not be read"));
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("state.json.unreadable-"))
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(std::fs::read(kept[0].path()).unwrap(), b"{ not json");
    }

    #[test]
    fn removing_a_job_removes_its_drives() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.insert_job(job("j1")).unwrap();
        s.upsert_drive(drive("A", LocalState::NotChecked)).unwrap();
        assert!(s.remove_job("j1").unwrap());
        assert!(s.all_drives().is_empty());
        assert!(!s.remove_job("j1").unwrap());
    }

    #[test]
    fn repair_files_are_named_by_drive_id_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.repair_file_for("WD-WMATV123456"), dir.path().join("repair/WD-WMATV123456.repair"));
    }
}
