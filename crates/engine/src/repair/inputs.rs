//! Where the executor gets the copy log, the manifest and verification from. The real
//! source reads the files with the streaming parsers and hashes the drive with
//! [`crate::verify`]; tests give parsed data instead, so the executor's logic is tested
//! on its own.

use crate::copylog::CopyLogReader;
use crate::manifest::{self, ManifestReader};
use crate::model::{BlobRef, JobKind, LogBlob, LogSummary, ManifestBlob};
use crate::plan::log_blob_needs_repair;
use crate::progress::{CancelToken, ProgressTracker};
use crate::repairfile::fingerprint_file;
use crate::verify::{self, VerifyOptions, VerifyReport};
use crate::{EngineError, Result};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub(crate) trait DriveInputs: Sync {
    /// The copy log's summary and only the blobs that name something to repair
    /// (a verbose log lists every blob). Refuses import logs.
    fn copy_log(&self, cancel: &CancelToken) -> Result<(LogSummary, Vec<LogBlob>)>;
    fn copy_log_fingerprint(&self) -> Result<String>;
    fn has_manifest(&self) -> bool;
    fn manifest_drive_id(&self) -> Result<Option<String>>;
    fn manifest_fingerprint(&self) -> Result<Option<String>>;
    /// The manifest entries of the blobs in `wanted`, in one streaming pass (memory
    /// bounded by `wanted`). Empty without a manifest.
    fn manifest_blobs(&self, wanted: &HashSet<BlobRef>, cancel: &CancelToken) -> Result<HashMap<BlobRef, ManifestBlob>>;
    /// Hashes every component the manifest lists, except the blocks and page ranges of
    /// the blobs in `skip_ranges` (already hashed in this run). Starts the
    /// [`crate::progress::Phase::Verifying`] phase itself, as [`verify::verify_drive`] does
    /// (the caller must not, or the phase would be announced twice).
    fn verify_drive(
        &self,
        target: &Path,
        skip_ranges: &HashSet<BlobRef>,
        tracker: &ProgressTracker<'_>,
        cancel: &CancelToken,
    ) -> Result<VerifyReport>;
}

/// The copy log and manifest files named in the options.
pub(crate) struct FileInputs {
    pub copy_log: PathBuf,
    pub manifest: Option<PathBuf>,
}

impl DriveInputs for FileInputs {
    fn copy_log(&self, cancel: &CancelToken) -> Result<(LogSummary, Vec<LogBlob>)> {
        let mut reader = CopyLogReader::open(&self.copy_log)?;
        let mut keep = Vec::new();
        let mut import = false;
        for (i, blob) in reader.by_ref().enumerate() {
            if i % 4096 == 0 {
                cancel.checkpoint()?;
            }
            let blob = blob?;
            import |= blob.import_disposition.is_some();
            if log_blob_needs_repair(&blob) {
                keep.push(blob);
            }
        }
        #[allow(clippy::redundant_clone)]
        let summary = reader.summary().clone();
        if import || summary.kind == JobKind::Import {
            return Err(EngineError::ImportNotSupported { file: self.copy_log.clone(), what: "copy log" });
        }
        Ok((summary, keep))
    }

    fn copy_log_fingerprint(&self) -> Result<String> {
        fingerprint_file(&self.copy_log)
    }

    fn has_manifest(&self) -> bool {
        self.manifest.is_some()
    }

    fn manifest_drive_id(&self) -> Result<Option<String>> {
        self.manifest.as_deref().map(manifest::read_drive_id).transpose()
    }

    fn manifest_fingerprint(&self) -> Result<Option<String>> {
        self.manifest.as_deref().map(fingerprint_file).transpose()
    }

    fn manifest_blobs(&self, wanted: &HashSet<BlobRef>, cancel: &CancelToken) -> Result<HashMap<BlobRef, ManifestBlob>> {
        let mut out = HashMap::new();
        let Some(path) = &self.manifest else { return Ok(out) };
        if wanted.is_empty() {
            return Ok(out);
        }
        for (i, blob) in ManifestReader::open(path)?.enumerate() {
            if i % 4096 == 0 {
                cancel.checkpoint()?;
            }
            let blob = blob?;
            if wanted.contains(&blob.blob) {
                out.insert(blob.blob.clone(), blob);
                if out.len() == wanted.len() {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn verify_drive(
        &self,
        target: &Path,
        skip_ranges: &HashSet<BlobRef>,
        tracker: &ProgressTracker<'_>,
        cancel: &CancelToken,
    ) -> Result<VerifyReport> {
        let Some(path) = &self.manifest else {
            return Err(EngineError::Internal("verification without a manifest".into()));
        };
        verify::verify_drive_except(target, path, &VerifyOptions::default(), tracker, cancel, skip_ranges)
    }
}
