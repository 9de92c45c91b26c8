//! TEMP placeholder for the repair branch (dropped on merge; the verify branch owns this file).

use crate::model::{ComponentIssue, ManifestBlob};
use crate::progress::{CancelToken, ProgressTracker};
use crate::{EngineError, Result};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    pub drive_id: String,
    pub blobs: u64,
    pub components_checked: u64,
    pub bytes_checked: u64,
    pub issues: Vec<ComponentIssue>,
    pub elapsed_seconds: f64,
}

pub fn verify_blobs(
    _target: &Path,
    _drive_id: &str,
    _blobs: impl IntoIterator<Item = Result<ManifestBlob>>,
    _opts: &VerifyOptions,
    _tracker: &ProgressTracker<'_>,
    _cancel: &CancelToken,
) -> Result<VerifyReport> {
    Err(EngineError::Internal("placeholder verify_blobs".into()))
}

pub fn verify_drive(
    _target: &Path,
    _manifest_path: &Path,
    _opts: &VerifyOptions,
    _tracker: &ProgressTracker<'_>,
    _cancel: &CancelToken,
) -> Result<VerifyReport> {
    Err(EngineError::Internal("placeholder verify_drive".into()))
}
