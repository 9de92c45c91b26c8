//! TEMPORARY placeholder on the `verify` branch so that `verify` compiles before the
//! real streaming manifest parser is merged. The lead drops this commit on merge.

use crate::model::{ManifestBlob, ManifestHeader};
use crate::{EngineError, Result};
use std::path::Path;

pub struct ManifestReader {
    header: ManifestHeader,
}

impl ManifestReader {
    pub fn open(path: &Path) -> Result<ManifestReader> {
        Err(EngineError::Unsupported(format!(
            "the manifest parser is not part of this build yet; cannot read {}",
            path.display()
        )))
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
