//! Test support for Drive Repair: an Azurite launcher, a fault-injecting loopback
//! proxy, and a generator of export drives (random data uploaded to blob storage,
//! a manifest and copy log written, damage applied).
//!
//! The generator and the uploader meet at [`GenBlob`] and [`Uploaded`].

pub mod azurite;
pub mod generator;
pub mod proxy;
pub mod upload;

use engine::blobstore::BlobProperties;
use engine::model::BlobType;

/// A blob the generator wants in storage and on the drive.
#[derive(Debug, Clone)]
pub struct GenBlob {
    /// Container name (`$root` for the root container).
    pub container: String,
    /// Blob name within the container (may contain `/`, spaces, unicode).
    pub name: String,
    pub blob_type: BlobType,
    /// The full content. For a page blob, zeros outside `page_ranges`; length a multiple of 512.
    pub data: Vec<u8>,
    /// Page blobs: the written ranges `(offset, length)`, 512-aligned, each ≤ 4 MiB.
    pub page_ranges: Vec<(u64, u64)>,
    /// Block blobs: block size used for the manifest's block list.
    pub block_size: u64,
    /// Export a snapshot of the blob rather than the blob itself. The uploader takes a
    /// snapshot after uploading `data`, then overwrites the base blob with other bytes,
    /// so that only the snapshot holds `data`.
    pub snapshot: bool,
    pub metadata: Vec<(String, String)>,
    pub content_type: String,
}

/// What the service said after [`GenBlob`] was uploaded.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The snapshot time string, when `GenBlob::snapshot` was set.
    pub snapshot: Option<String>,
    /// Properties of the exported version (the snapshot, if any).
    pub properties: BlobProperties,
}
