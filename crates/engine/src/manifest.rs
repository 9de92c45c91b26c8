//! TEMP placeholder for the repair branch (dropped on merge; the parsers branch owns this file).

use crate::model::{ManifestBlob, ManifestHeader};
use crate::{EngineError, Result};
use std::path::Path;

pub struct ManifestReader {
    header: ManifestHeader,
}

impl ManifestReader {
    pub fn open(path: &Path) -> Result<ManifestReader> {
        Err(EngineError::Internal(format!("placeholder manifest reader cannot read {}", path.display())))
    }

    pub fn header(&self) -> &ManifestHeader {
        &self.header
    }
}

impl Iterator for ManifestReader {
    type Item = Result<ManifestBlob>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

pub fn read_drive_id(path: &Path) -> Result<String> {
    Ok(ManifestReader::open(path)?.header().drive_id.clone())
}
