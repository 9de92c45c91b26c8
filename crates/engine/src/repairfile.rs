//! The repair file (`/r:`): one per drive, the point a repair resumes from.
//!
//! It is an SQLite database with a rollback journal and `synchronous=FULL`, so a
//! crash or power cut leaves it either before or after the last committed change.
//! The executor marks a unit done only after the unit's bytes are fsynced, so the
//! worst a crash can do is make a later run fetch a unit once more.
//!
//! Identification: `PRAGMA application_id` is [`APPLICATION_ID`] and
//! `PRAGMA user_version` is the format version ([`FORMAT_VERSION`]). A file from a
//! newer format is refused with a message, never rewritten. A file that is not an
//! SQLite database, or is one of some other program, is refused and left untouched.
//! The connection holds an exclusive lock for its whole life, so two runs cannot
//! share one repair file.
//!
//! Contents: the drive ID, fingerprints of the copy log and manifest
//! ([`fingerprint_file`]), created/updated/completed times, which phases are done,
//! and every [`Unit`] with its state, the reason it failed (plain words), attempts and
//! bytes. It never holds a secret: nothing in its API takes one.
//!
//! When the fingerprints differ from the stored ones (a new copy log or manifest for
//! the same drive), units already done are kept (their bytes were verified when
//! written), units that failed are retried, the phases and the completion mark are
//! cleared so that the new inputs are planned and verified, and new units are added.

use crate::log::now_rfc3339;
use crate::model::{BlobRef, Component, Md5, Problem};
use crate::plan::{Unit, UnitKind, UnitSource};
use crate::secret::redact;
use crate::{EngineError, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// "DRpf": marks the database as a Drive Repair repair file.
pub const APPLICATION_ID: i32 = 0x4452_7066;
/// The format this version writes and the newest it reads.
pub const FORMAT_VERSION: i32 = 1;

/// The state of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitState {
    /// Not yet done (or failed in an earlier run and to be tried again).
    Pending,
    /// Its bytes were verified and written (or, for aux files, regenerated).
    Done,
    /// Tried and failed; the reason says why. Retried by the next run.
    Failed,
    /// Never to be attempted with these inputs (unsafe path).
    Refused,
}

impl UnitState {
    fn as_str(self) -> &'static str {
        match self {
            UnitState::Pending => "pending",
            UnitState::Done => "done",
            UnitState::Failed => "failed",
            UnitState::Refused => "refused",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => UnitState::Pending,
            "done" => UnitState::Done,
            "failed" => UnitState::Failed,
            "refused" => UnitState::Refused,
            _ => return None,
        })
    }
}

/// How the unit was completed, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneHow {
    /// Fetched, hash-checked and written.
    Fetched,
    /// The bytes on the drive already had the expected hash; nothing written.
    AlreadyGood,
    /// A properties or metadata file rewritten from the blob's current state, whose
    /// bytes differ from (or cannot be checked against) the manifest's hash.
    Regenerated,
    /// Re-downloaded whole because the blob changed after the export (`refetch_changed`).
    RefetchedChanged,
}

impl DoneHow {
    fn as_str(self) -> &'static str {
        match self {
            DoneHow::Fetched => "fetched",
            DoneHow::AlreadyGood => "already-good",
            DoneHow::Regenerated => "regenerated",
            DoneHow::RefetchedChanged => "refetched-changed",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "fetched" => DoneHow::Fetched,
            "already-good" => DoneHow::AlreadyGood,
            "regenerated" => DoneHow::Regenerated,
            "refetched-changed" => DoneHow::RefetchedChanged,
            _ => return None,
        })
    }
}

/// A unit as the repair file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUnit {
    pub unit: Unit,
    pub state: UnitState,
    /// Why it failed or was refused.
    pub problem: Option<Problem>,
    pub done_how: Option<DoneHow>,
    pub attempts: u32,
    /// Bytes fetched for it (the last attempt).
    pub bytes: u64,
}

/// What [`RepairFile::open_or_create`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Created,
    /// Same drive, same inputs: resume.
    Resumed,
    /// Same drive, but the copy log or manifest differs from the last run's.
    InputsChanged { copy_log: bool, manifest: bool },
}

/// The phases of a run, recorded so that a resumed run skips what is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPhase {
    /// The copy log's units were planned and added.
    CopyLogPlanned,
    /// The whole drive was verified against the manifest and its issues added.
    Verified,
}

impl RunPhase {
    fn key(self) -> &'static str {
        match self {
            RunPhase::CopyLogPlanned => "phase_copylog_planned",
            RunPhase::Verified => "phase_verified",
        }
    }
}

/// How [`RepairFile::add_units`] treats units that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddMode {
    /// Keep existing units as they are (re-planning the same copy log).
    Keep,
    /// The drive was just found bad here: a unit marked done becomes pending again.
    ReopenDone,
}

/// Counts of units by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitCounts {
    pub pending: u64,
    pub done: u64,
    pub failed: u64,
    pub refused: u64,
}

pub struct RepairFile {
    conn: Connection,
    path: PathBuf,
    drive_id: String,
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE units (
    id            TEXT PRIMARY KEY,
    blob_path     TEXT NOT NULL,
    snapshot      TEXT,
    file_path     TEXT NOT NULL,
    component     TEXT NOT NULL,   -- JSON of model::Component
    expected_md5  TEXT,
    blob_length   INTEGER,
    blob_type     TEXT,
    aux_path      TEXT,
    last_modified TEXT,
    source        TEXT NOT NULL,
    cause         TEXT NOT NULL,   -- JSON of model::Problem: why it needed repair
    state         TEXT NOT NULL CHECK (state IN ('pending','done','failed','refused')),
    problem       TEXT,            -- JSON of model::Problem: why it failed
    reason        TEXT,            -- the same in plain words, for people reading the file
    done_how      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL
);
CREATE INDEX units_state ON units(state);
CREATE INDEX units_blob ON units(blob_path, snapshot);
";

fn sql_err(path: &Path, e: rusqlite::Error) -> EngineError {
    use rusqlite::ErrorCode;
    let problem = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "is not a Drive Repair repair file (it is not an SQLite database, or it is damaged). \
             It was left untouched; give a new file name with /r:."
                .to_string()
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "is in use by another Drive Repair run. Wait for that run to finish, or stop it.".to_string()
        }
        Some(ErrorCode::DiskFull) => {
            return EngineError::DiskFull { path: path.to_path_buf() };
        }
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            format!("cannot be opened for writing ({e}). Check the path and its permissions.")
        }
        _ => format!("could not be read or written: {e}"),
    };
    EngineError::RepairFile { file: path.to_path_buf(), problem }
}

impl RepairFile {
    /// Opens the repair file at `path`, or creates it for `drive_id`.
    ///
    /// Refuses (without changing the file) a file of another drive, a newer format, a
    /// non-SQLite or damaged file, and an SQLite database of another program.
    pub fn open_or_create(
        path: &Path,
        drive_id: &str,
        copy_log_fp: &str,
        manifest_fp: Option<&str>,
    ) -> Result<(RepairFile, Opened)> {
        if path.is_dir() {
            return Err(EngineError::RepairFile {
                file: path.to_path_buf(),
                problem: "is a directory; give a file name with /r:.".into(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_err(path, e))?;
        let e = |err| sql_err(path, err);
        // Reading the header first: on a non-SQLite file this fails before anything is written.
        let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(e)?;
        let version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(e)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(e)?;
        conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE; PRAGMA synchronous = FULL;")
            .map_err(e)?;
        conn.pragma_update(None, "journal_mode", "DELETE").map_err(e)?;
        // Take the exclusive lock now, so a second run is refused at once.
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;").map_err(e)?;

        let mut rf = RepairFile { conn, path: path.to_path_buf(), drive_id: drive_id.to_string() };

        if tables == 0 && app_id == 0 && version == 0 {
            rf.create(drive_id, copy_log_fp, manifest_fp)?;
            return Ok((rf, Opened::Created));
        }
        if app_id != APPLICATION_ID {
            return Err(EngineError::RepairFile {
                file: path.to_path_buf(),
                problem: "is an SQLite database of another program, not a Drive Repair repair file. \
                          It was left untouched; give a new file name with /r:."
                    .into(),
            });
        }
        if version > FORMAT_VERSION {
            return Err(EngineError::RepairFile {
                file: path.to_path_buf(),
                problem: format!(
                    "was written by a newer version of Drive Repair (repair file format {version}; \
                     this version reads format {FORMAT_VERSION} and older). Update Drive Repair, \
                     or start over with a new repair file."
                ),
            });
        }
        if version < 1 {
            return Err(EngineError::RepairFile {
                file: path.to_path_buf(),
                problem: "is damaged (its format version is missing). It was left untouched; \
                          give a new file name with /r:."
                    .into(),
            });
        }
        let stored = rf.meta("drive_id")?.unwrap_or_default();
        if !stored.trim().eq_ignore_ascii_case(drive_id.trim()) {
            return Err(EngineError::RepairFile {
                file: path.to_path_buf(),
                problem: format!(
                    "belongs to drive {stored}, but this copy log is for drive {drive_id}; \
                     use a new repair file for each drive."
                ),
            });
        }
        rf.drive_id = stored;
        let copy_changed = rf.meta("copy_log_fp")?.as_deref() != Some(copy_log_fp);
        let manifest_changed = rf.meta("manifest_fp")?.as_deref() != manifest_fp;
        if copy_changed || manifest_changed {
            rf.tx(|c| {
                set_meta(c, "copy_log_fp", Some(copy_log_fp))?;
                set_meta(c, "manifest_fp", manifest_fp)?;
                for k in ["completed_at", RunPhase::CopyLogPlanned.key(), RunPhase::Verified.key()] {
                    set_meta(c, k, None)?;
                }
                c.execute(
                    "UPDATE units SET state = 'pending', updated_at = ?1 WHERE state = 'failed'",
                    [now_rfc3339()],
                )?;
                set_meta(c, "updated_at", Some(&now_rfc3339()))
            })?;
            return Ok((rf, Opened::InputsChanged { copy_log: copy_changed, manifest: manifest_changed }));
        }
        Ok((rf, Opened::Resumed))
    }

    /// Opens an existing repair file only to read it (a dry run); `None` if there is none.
    /// Applies the same checks as [`RepairFile::open_or_create`] except the fingerprints.
    pub fn open_read_only(path: &Path, drive_id: &str) -> Result<Option<RepairFile>> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| sql_err(path, e))?;
        let e = |err| sql_err(path, err);
        let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(e)?;
        let version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(e)?;
        if app_id != APPLICATION_ID || !(1..=FORMAT_VERSION).contains(&version) {
            return Err(EngineError::RepairFile {
                file: path.to_path_buf(),
                problem: "is not a repair file this version of Drive Repair can read.".into(),
            });
        }
        let rf = RepairFile { conn, path: path.to_path_buf(), drive_id: drive_id.to_string() };
        let stored = rf.meta("drive_id")?.unwrap_or_default();
        if !stored.trim().eq_ignore_ascii_case(drive_id.trim()) {
            return Err(EngineError::RepairFile {
                file: path.to_path_buf(),
                problem: format!(
                    "belongs to drive {stored}, but this copy log is for drive {drive_id}; \
                     use a new repair file for each drive."
                ),
            });
        }
        Ok(Some(rf))
    }

    fn create(&mut self, drive_id: &str, copy_log_fp: &str, manifest_fp: Option<&str>) -> Result<()> {
        let now = now_rfc3339();
        self.tx(|c| {
            c.execute_batch(SCHEMA)?;
            c.pragma_update(None, "application_id", APPLICATION_ID)?;
            c.pragma_update(None, "user_version", FORMAT_VERSION)?;
            set_meta(c, "format", Some("Drive Repair repair file"))?;
            set_meta(c, "tool_version", Some(env!("CARGO_PKG_VERSION")))?;
            set_meta(c, "drive_id", Some(drive_id))?;
            set_meta(c, "copy_log_fp", Some(copy_log_fp))?;
            set_meta(c, "manifest_fp", manifest_fp)?;
            set_meta(c, "created_at", Some(&now))?;
            set_meta(c, "updated_at", Some(&now))
        })
    }

    fn tx<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        let out = f(&tx).map_err(|e| sql_err(&path, e))?;
        tx.commit().map_err(|e| sql_err(&path, e))?;
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| sql_err(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn drive_id(&self) -> &str {
        &self.drive_id
    }

    pub fn created_at(&self) -> Result<Option<String>> {
        self.meta("created_at")
    }

    pub fn updated_at(&self) -> Result<Option<String>> {
        self.meta("updated_at")
    }

    /// When the last run finished its work, if it did (and nothing changed since).
    pub fn completed_at(&self) -> Result<Option<String>> {
        self.meta("completed_at")
    }

    pub fn phase_done(&self, phase: RunPhase) -> Result<bool> {
        Ok(self.meta(phase.key())?.is_some())
    }

    pub fn set_phase_done(&mut self, phase: RunPhase) -> Result<()> {
        let now = now_rfc3339();
        self.tx(|c| {
            set_meta(c, phase.key(), Some(&now))?;
            set_meta(c, "updated_at", Some(&now))
        })
    }

    pub fn set_completed(&mut self) -> Result<()> {
        let now = now_rfc3339();
        self.tx(|c| {
            set_meta(c, "completed_at", Some(&now))?;
            set_meta(c, "updated_at", Some(&now))
        })
    }

    /// Adds units. Existing ids keep their state (with [`AddMode::ReopenDone`], done
    /// units become pending again). Range units of a blob whose whole-blob unit is
    /// pending or failed are skipped (the whole fetch covers them), and with `Keep`
    /// also when it is done.
    /// Refused units are stored as refused. Returns how many were new.
    pub fn add_units(&mut self, units: &[Unit], mode: AddMode) -> Result<u64> {
        let now = now_rfc3339();
        self.tx(|c| {
            let mut added = 0;
            let mut exists = c.prepare_cached("SELECT state FROM units WHERE id = ?1")?;
            let mut whole = c.prepare_cached(
                "SELECT state FROM units WHERE blob_path = ?1 AND snapshot IS ?2 AND component = ?3",
            )?;
            let file_json = serde_json::to_string(&Component::File).expect("serialisable");
            let mut insert = c.prepare_cached(
                "INSERT INTO units (id, blob_path, snapshot, file_path, component, expected_md5, blob_length,
                    blob_type, aux_path, last_modified, source, cause, state, problem, reason, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            for u in units {
                let state: Option<String> = exists.query_row([&u.id], |r| r.get(0)).optional()?;
                if let Some(state) = state {
                    if mode == AddMode::ReopenDone && state == "done" {
                        c.execute(
                            "UPDATE units SET state = 'pending', cause = ?2, expected_md5 = COALESCE(?3, expected_md5),
                                done_how = NULL, updated_at = ?4 WHERE id = ?1",
                            params![u.id, json(&u.cause), u.expected.map(|h| h.to_hex()), now],
                        )?;
                    }
                    continue;
                }
                if u.kind() == UnitKind::Range {
                    let whole_state: Option<String> = whole
                        .query_row(params![u.blob.path, u.blob.snapshot, file_json], |r| r.get(0))
                        .optional()?;
                    // A whole fetch covers the ranges: one still to come always, and
                    // one already done too when merely re-planning the same inputs.
                    let covered = matches!(
                        (whole_state.as_deref(), mode),
                        (Some("pending" | "failed"), _) | (Some("done"), AddMode::Keep)
                    );
                    if covered {
                        continue;
                    }
                }
                let (state, problem) = match &u.refused {
                    Some(p) => (UnitState::Refused, Some(p)),
                    None => (UnitState::Pending, None),
                };
                insert.execute(params![
                    u.id,
                    u.blob.path,
                    u.blob.snapshot,
                    u.file_path,
                    json(&u.component),
                    u.expected.map(|h| h.to_hex()),
                    u.blob_length.map(|l| l as i64),
                    u.blob_type.map(|t| json(&t)),
                    u.aux_path,
                    u.last_modified,
                    u.source.as_str(),
                    json(&u.cause),
                    state.as_str(),
                    problem.map(json),
                    problem.map(|p| p.to_string()),
                    now,
                ])?;
                added += 1;
            }
            set_meta(c, "updated_at", Some(&now))?;
            Ok(added)
        })
    }

    /// Replaces a blob's pending or failed range units with `whole` (pending): the
    /// file is missing, of the wrong length, or the blob is to be fetched whole anew.
    pub fn supersede_with_whole(&mut self, whole: &Unit) -> Result<()> {
        let now = now_rfc3339();
        self.tx(|c| {
            c.execute(
                "DELETE FROM units WHERE blob_path = ?1 AND snapshot IS ?2 AND state IN ('pending', 'failed')
                    AND json_extract(component, '$.type') IN ('Block', 'PageRange')",
                params![whole.blob.path, whole.blob.snapshot],
            )?;
            c.execute(
                "INSERT INTO units (id, blob_path, snapshot, file_path, component, expected_md5, blob_length,
                    blob_type, aux_path, last_modified, source, cause, state, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, NULL, ?8, ?9, ?10, 'pending', ?11)
                 ON CONFLICT(id) DO UPDATE SET state = 'pending', cause = excluded.cause, done_how = NULL,
                    updated_at = excluded.updated_at",
                params![
                    whole.id,
                    whole.blob.path,
                    whole.blob.snapshot,
                    whole.file_path,
                    json(&whole.component),
                    whole.blob_length.map(|l| l as i64),
                    whole.blob_type.map(|t| json(&t)),
                    whole.last_modified,
                    whole.source.as_str(),
                    json(&whole.cause),
                    now,
                ],
            )?;
            set_meta(c, "updated_at", Some(&now))
        })
    }

    /// Failed units become pending again (the start of a new run retries them).
    pub fn retry_failed(&mut self) -> Result<u64> {
        let now = now_rfc3339();
        self.tx(|c| {
            let n = c.execute("UPDATE units SET state = 'pending', updated_at = ?1 WHERE state = 'failed'", [&now])?;
            if n > 0 {
                set_meta(c, "completed_at", None)?;
                set_meta(c, "updated_at", Some(&now))?;
            }
            Ok(n as u64)
        })
    }

    /// Marks units done, in one transaction. Call only after their bytes are fsynced.
    pub fn mark_done(&mut self, done: &[(&str, DoneHow, u64)]) -> Result<()> {
        let now = now_rfc3339();
        self.tx(|c| {
            let mut st = c.prepare_cached(
                "UPDATE units SET state = 'done', done_how = ?2, bytes = ?3, attempts = attempts + 1,
                    problem = NULL, reason = NULL, updated_at = ?4 WHERE id = ?1",
            )?;
            for (id, how, bytes) in done {
                st.execute(params![id, how.as_str(), *bytes as i64, now])?;
            }
            set_meta(c, "updated_at", Some(&now))
        })
    }

    /// Marks units failed with a reason.
    pub fn mark_failed(&mut self, failed: &[(&str, &Problem, u64)]) -> Result<()> {
        let now = now_rfc3339();
        self.tx(|c| {
            let mut st = c.prepare_cached(
                "UPDATE units SET state = 'failed', problem = ?2, reason = ?3, bytes = ?4,
                    attempts = attempts + 1, done_how = NULL, updated_at = ?5 WHERE id = ?1",
            )?;
            for (id, problem, bytes) in failed {
                // Reasons come from error messages; a SAS signature in a URL must not be kept.
                let problem_json = redact(&json(*problem), &[]);
                let reason = redact(&problem.to_string(), &[]);
                st.execute(params![id, problem_json, reason, *bytes as i64, now])?;
            }
            set_meta(c, "updated_at", Some(&now))
        })
    }

    pub fn counts(&self) -> Result<UnitCounts> {
        let mut st = self
            .conn
            .prepare("SELECT state, count(*) FROM units GROUP BY state")
            .map_err(|e| sql_err(&self.path, e))?;
        let mut out = UnitCounts::default();
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| sql_err(&self.path, e))?;
        for row in rows {
            let (state, n) = row.map_err(|e| sql_err(&self.path, e))?;
            let n = n as u64;
            match UnitState::parse(&state) {
                Some(UnitState::Pending) => out.pending = n,
                Some(UnitState::Done) => out.done = n,
                Some(UnitState::Failed) => out.failed = n,
                Some(UnitState::Refused) => out.refused = n,
                None => {}
            }
        }
        Ok(out)
    }

    /// The units in `state` (all units with `None`), ordered by file path and offset.
    pub fn units(&self, state: Option<UnitState>) -> Result<Vec<StoredUnit>> {
        let sql = "SELECT id, blob_path, snapshot, file_path, component, expected_md5, blob_length, blob_type,
                          aux_path, last_modified, source, cause, state, problem, done_how, attempts, bytes
                   FROM units WHERE (?1 IS NULL OR state = ?1) ORDER BY file_path, id";
        let mut st = self.conn.prepare(sql).map_err(|e| sql_err(&self.path, e))?;
        let rows = st
            .query_map([state.map(|s| s.as_str())], |r| {
                Ok(RawRow {
                    id: r.get(0)?,
                    blob_path: r.get(1)?,
                    snapshot: r.get(2)?,
                    file_path: r.get(3)?,
                    component: r.get(4)?,
                    expected: r.get(5)?,
                    blob_length: r.get(6)?,
                    blob_type: r.get(7)?,
                    aux_path: r.get(8)?,
                    last_modified: r.get(9)?,
                    source: r.get(10)?,
                    cause: r.get(11)?,
                    state: r.get(12)?,
                    problem: r.get(13)?,
                    done_how: r.get(14)?,
                    attempts: r.get(15)?,
                    bytes: r.get(16)?,
                })
            })
            .map_err(|e| sql_err(&self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let row = row.map_err(|e| sql_err(&self.path, e))?;
            out.push(row.into_unit().ok_or_else(|| EngineError::RepairFile {
                file: self.path.clone(),
                problem: "holds a unit this version cannot read; it is damaged. Start over with a new repair file."
                    .into(),
            })?);
        }
        Ok(out)
    }
}

struct RawRow {
    id: String,
    blob_path: String,
    snapshot: Option<String>,
    file_path: String,
    component: String,
    expected: Option<String>,
    blob_length: Option<i64>,
    blob_type: Option<String>,
    aux_path: Option<String>,
    last_modified: Option<String>,
    source: String,
    cause: String,
    state: String,
    problem: Option<String>,
    done_how: Option<String>,
    attempts: i64,
    bytes: i64,
}

impl RawRow {
    fn into_unit(self) -> Option<StoredUnit> {
        let state = UnitState::parse(&self.state)?;
        let problem: Option<Problem> = match &self.problem {
            Some(p) => Some(serde_json::from_str(p).ok()?),
            None => None,
        };
        let unit = Unit {
            id: self.id,
            blob: BlobRef { path: self.blob_path, snapshot: self.snapshot },
            file_path: self.file_path,
            component: serde_json::from_str(&self.component).ok()?,
            expected: match &self.expected {
                Some(h) => Some(Md5::parse_hex(h)?),
                None => None,
            },
            blob_length: self.blob_length.map(|l| l as u64),
            blob_type: match &self.blob_type {
                Some(t) => Some(serde_json::from_str(t).ok()?),
                None => None,
            },
            aux_path: self.aux_path,
            last_modified: self.last_modified,
            source: UnitSource::parse(&self.source)?,
            cause: serde_json::from_str(&self.cause).ok()?,
            refused: if state == UnitState::Refused { problem.clone() } else { None },
        };
        Some(StoredUnit {
            unit,
            state,
            problem,
            done_how: self.done_how.as_deref().and_then(DoneHow::parse),
            attempts: self.attempts as u32,
            bytes: self.bytes as u64,
        })
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("model types serialise")
}

fn set_meta(c: &Connection, key: &str, value: Option<&str>) -> rusqlite::Result<()> {
    match value {
        Some(v) => c.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, v],
        )?,
        None => c.execute("DELETE FROM meta WHERE key = ?1", [key])?,
    };
    Ok(())
}

/// Files up to this size are hashed whole for their fingerprint.
const FULL_HASH_LIMIT: u64 = 4 << 20;
const EDGE: u64 = 1 << 20;

/// A cheap but meaningful fingerprint of an input file, to notice when a later run is
/// given a different copy log or manifest: `v1:<length>:<md5>`, where the MD5 covers
/// the whole file up to 4 MiB (copy logs, almost always) and otherwise the first and
/// the last MiB (a manifest can be hundreds of MB; its head names the drive and
/// its tail the last blobs, and any edit that changes the length is caught too).
pub fn fingerprint_file(path: &Path) -> Result<String> {
    use md5::Digest;
    let mut f = std::fs::File::open(path).map_err(|e| EngineError::io("open", path, e))?;
    let len = f.metadata().map_err(|e| EngineError::io("read", path, e))?.len();
    let mut h = md5::Md5::new();
    let mut read = |f: &mut std::fs::File, at: u64, n: u64| -> Result<()> {
        f.seek(SeekFrom::Start(at)).map_err(|e| EngineError::io("read", path, e))?;
        let mut buf = Vec::with_capacity(n as usize);
        f.take(n).read_to_end(&mut buf).map_err(|e| EngineError::io("read", path, e))?;
        h.update(&buf);
        Ok(())
    };
    if len <= FULL_HASH_LIMIT {
        read(&mut f, 0, len)?;
    } else {
        read(&mut f, 0, EDGE)?;
        read(&mut f, len - EDGE, EDGE)?;
    }
    Ok(format!("v1:{len}:{}", Md5(h.finalize().into()).to_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::unit_id;

    fn unit(path: &str, offset: u64) -> Unit {
        let blob = BlobRef { path: path.into(), snapshot: None };
        let component = Component::Block { offset, length: 100 };
        Unit {
            id: unit_id(&blob, &component),
            blob,
            file_path: format!("\\{path}"),
            component,
            expected: Some(Md5([7; 16])),
            blob_length: Some(1000),
            blob_type: Some(crate::model::BlobType::Block),
            aux_path: None,
            last_modified: Some("2012-09-18T23:47:08Z".into()),
            source: UnitSource::CopyLog,
            cause: Problem::CopyLogFailed { status: "Failed".into() },
            refused: None,
        }
    }

    #[test]
    fn create_then_resume_keeps_units_and_states() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("drive.repair");
        {
            let (mut rf, opened) = RepairFile::open_or_create(&p, "9WM35C3U", "v1:1:A", None).unwrap();
            assert_eq!(opened, Opened::Created);
            assert_eq!(rf.add_units(&[unit("c/a", 0), unit("c/a", 100)], AddMode::Keep).unwrap(), 2);
            let id = unit("c/a", 0).id;
            rf.mark_done(&[(&id, DoneHow::Fetched, 100)]).unwrap();
            rf.set_phase_done(RunPhase::CopyLogPlanned).unwrap();
        }
        let (mut rf, opened) = RepairFile::open_or_create(&p, "9wm35c3u", "v1:1:A", None).unwrap();
        assert_eq!(opened, Opened::Resumed);
        assert!(rf.phase_done(RunPhase::CopyLogPlanned).unwrap());
        assert_eq!(rf.counts().unwrap(), UnitCounts { pending: 1, done: 1, ..Default::default() });
        // Re-planning the same units adds nothing and keeps the done one done.
        assert_eq!(rf.add_units(&[unit("c/a", 0), unit("c/a", 100)], AddMode::Keep).unwrap(), 0);
        let all = rf.units(None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].unit, unit("c/a", 0), "a unit round-trips through the file");
        assert_eq!((all[0].state, all[0].done_how, all[0].bytes, all[0].attempts), (UnitState::Done, Some(DoneHow::Fetched), 100, 1));
        // Verification found it bad again: it is reopened.
        rf.add_units(&[unit("c/a", 0)], AddMode::ReopenDone).unwrap();
        assert_eq!(rf.counts().unwrap().pending, 2);
    }

    #[test]
    fn failure_reasons_are_kept_in_plain_words_and_retried_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.db");
        let (mut rf, _) = RepairFile::open_or_create(&p, "D1", "fp", None).unwrap();
        rf.add_units(&[unit("c/a", 0)], AddMode::Keep).unwrap();
        let problem = Problem::BlobChanged { detail: "modified 2020".into() };
        rf.mark_failed(&[(&unit("c/a", 0).id, &problem, 0)]).unwrap();
        let reason: String = rf.conn.query_row("SELECT reason FROM units", [], |r| r.get(0)).unwrap();
        assert_eq!(reason, "the blob changed after the export: modified 2020");
        let failed = rf.units(Some(UnitState::Failed)).unwrap();
        assert_eq!(failed[0].problem.as_ref(), Some(&problem));
        assert_eq!(rf.retry_failed().unwrap(), 1);
        assert_eq!(rf.counts().unwrap().pending, 1);
    }

    #[test]
    fn repair_file_of_another_drive_is_refused_naming_both_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.db");
        drop(RepairFile::open_or_create(&p, "9WM35C3U", "fp", None).unwrap());
        let before = std::fs::read(&p).unwrap();
        let err = RepairFile::open_or_create(&p, "WD-WMATV123456", "fp", None).err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::RepairFileMismatch);
        let msg = err.to_string();
        assert!(msg.contains("9WM35C3U") && msg.contains("WD-WMATV123456"), "{msg}");
        assert!(msg.contains("new repair file for each drive"), "{msg}");
        assert_eq!(std::fs::read(&p).unwrap(), before, "the refused file must not change");
        assert!(RepairFile::open_read_only(&p, "WD-WMATV123456").is_err());
    }

    #[test]
    fn garbled_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notes.txt");
        let content: Vec<u8> = b"These are my notes, not a database.\n".repeat(200);
        std::fs::write(&p, &content).unwrap();
        let err = RepairFile::open_or_create(&p, "D1", "fp", None).err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::RepairFileMismatch);
        assert!(err.to_string().contains("not a Drive Repair repair file"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), content);
        assert!(!dir.path().join("notes.txt-journal").exists());
    }

    #[test]
    fn other_programs_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("other.db");
        Connection::open(&p).unwrap().execute_batch("CREATE TABLE t (x);").unwrap();
        let before = std::fs::read(&p).unwrap();
        let err = RepairFile::open_or_create(&p, "D1", "fp", None).err().unwrap();
        assert!(err.to_string().contains("another program"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    #[test]
    fn newer_format_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.db");
        drop(RepairFile::open_or_create(&p, "D1", "fp", None).unwrap());
        Connection::open(&p).unwrap().pragma_update(None, "user_version", FORMAT_VERSION + 1).unwrap();
        let err = RepairFile::open_or_create(&p, "D1", "fp", None).err().unwrap();
        let msg = err.to_string();
        assert!(msg.contains("newer version") && msg.contains(&format!("format {}", FORMAT_VERSION + 1)), "{msg}");
    }

    #[test]
    fn a_second_run_on_the_same_file_is_refused_while_the_first_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.db");
        let first = RepairFile::open_or_create(&p, "D1", "fp", None).unwrap();
        let err = RepairFile::open_or_create(&p, "D1", "fp", None).err().unwrap();
        assert!(err.to_string().contains("in use"), "{err}");
        drop(first);
        RepairFile::open_or_create(&p, "D1", "fp", None).unwrap();
    }

    #[test]
    fn new_copy_log_keeps_done_units_clears_phases_and_retries_failures() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.db");
        {
            let (mut rf, _) = RepairFile::open_or_create(&p, "D1", "fp-old", Some("m1")).unwrap();
            rf.add_units(&[unit("c/a", 0), unit("c/a", 100)], AddMode::Keep).unwrap();
            rf.mark_done(&[(&unit("c/a", 0).id, DoneHow::Fetched, 100)]).unwrap();
            rf.mark_failed(&[(&unit("c/a", 100).id, &Problem::MissingFile, 0)]).unwrap();
            rf.set_phase_done(RunPhase::Verified).unwrap();
            rf.set_completed().unwrap();
        }
        let (rf, opened) = RepairFile::open_or_create(&p, "D1", "fp-new", Some("m1")).unwrap();
        assert_eq!(opened, Opened::InputsChanged { copy_log: true, manifest: false });
        assert!(!rf.phase_done(RunPhase::Verified).unwrap());
        assert_eq!(rf.completed_at().unwrap(), None);
        assert_eq!(rf.counts().unwrap(), UnitCounts { pending: 1, done: 1, ..Default::default() });
    }

    #[test]
    fn range_units_of_a_blob_fetched_whole_are_not_added_again() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rf, _) = RepairFile::open_or_create(&dir.path().join("r"), "D1", "fp", None).unwrap();
        let mut whole = unit("c/a", 0);
        whole.component = Component::File;
        whole.id = unit_id(&whole.blob, &Component::File);
        rf.add_units(&[whole.clone()], AddMode::Keep).unwrap();
        // A whole fetch still to come covers every range.
        assert_eq!(rf.add_units(&[unit("c/a", 100)], AddMode::Keep).unwrap(), 0);
        assert_eq!(rf.add_units(&[unit("c/a", 100)], AddMode::ReopenDone).unwrap(), 0);
        // Once it is done, re-planning the copy log adds nothing, but a range that
        // verification finds bad afterwards is a new unit.
        rf.mark_done(&[(&whole.id, DoneHow::Fetched, 1000)]).unwrap();
        assert_eq!(rf.add_units(&[unit("c/a", 100)], AddMode::Keep).unwrap(), 0);
        assert_eq!(rf.add_units(&[unit("c/a", 100)], AddMode::ReopenDone).unwrap(), 1);
    }

    #[test]
    fn holds_no_secrets_only_known_columns_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rf, _) = RepairFile::open_or_create(&dir.path().join("r"), "D1", "fp", Some("mfp")).unwrap();
        rf.add_units(&[unit("c/a", 0)], AddMode::Keep).unwrap();
        rf.set_completed().unwrap();
        let cols: Vec<String> = rf
            .conn
            .prepare("SELECT name FROM pragma_table_info('units')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        for c in &cols {
            let c = c.to_lowercase();
            assert!(!["key", "sas", "secret", "credential", "sig", "token", "password"].iter().any(|w| c.contains(w)), "{c}");
        }
        let keys: Vec<String> = rf
            .conn
            .prepare("SELECT key FROM meta ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        assert_eq!(
            keys,
            ["completed_at", "copy_log_fp", "created_at", "drive_id", "format", "manifest_fp", "tool_version", "updated_at"]
        );
    }

    #[test]
    fn fingerprint_covers_small_files_whole_and_big_files_by_edges() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.xml");
        std::fs::write(&p, b"<DriveLog>a</DriveLog>").unwrap();
        let a = fingerprint_file(&p).unwrap();
        std::fs::write(&p, b"<DriveLog>b</DriveLog>").unwrap();
        assert_ne!(a, fingerprint_file(&p).unwrap());
        assert!(a.starts_with("v1:22:"));

        let mut big = vec![0u8; 6 << 20];
        std::fs::write(&p, &big).unwrap();
        let b = fingerprint_file(&p).unwrap();
        big[(6 << 20) - 10] = 1; // inside the last MiB
        std::fs::write(&p, &big).unwrap();
        assert_ne!(b, fingerprint_file(&p).unwrap());
    }
}
