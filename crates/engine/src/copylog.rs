//! TEMP placeholder for the repair branch (dropped on merge; the parsers branch owns this file).

use crate::model::{LogBlob, LogSummary};
use crate::{EngineError, Result};
use std::path::Path;

pub struct CopyLogReader {
    summary: LogSummary,
}

impl CopyLogReader {
    pub fn open(path: &Path) -> Result<CopyLogReader> {
        Err(EngineError::Internal(format!("placeholder copy log reader cannot read {}", path.display())))
    }

    pub fn drive_id(&self) -> &str {
        &self.summary.drive_id
    }

    pub fn summary(&self) -> LogSummary {
        self.summary.clone()
    }
}

impl Iterator for CopyLogReader {
    type Item = Result<LogBlob>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

pub fn read_copy_log(path: &Path) -> Result<(LogSummary, Vec<LogBlob>)> {
    let mut r = CopyLogReader::open(path)?;
    let blobs = r.by_ref().collect::<Result<Vec<_>>>()?;
    Ok((r.summary(), blobs))
}
