//! All blob access sits behind [`BlobStore`], so the client can be swapped (the
//! legacy `azure_storage_blobs` SDK today) and so the repair logic can be tested
//! against a store that fails on purpose.
//!
//! Retries live in [`retry`], not in the client: the SDK's own retry policy is
//! switched off, so that every transient failure is counted and logged in one place.

pub mod azure;
pub mod retry;

use crate::error::StorageError;
use crate::model::{BlobRef, Md5};
use crate::secret::Secret;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::Serialize;
use std::future::Future;

/// How to reach a storage account. Holds secrets: never log it whole.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub account: String,
    pub credential: Credential,
    /// Overrides `https://<account>.blob.core.windows.net`, for other clouds and Azurite
    /// (e.g. `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// The base64 account key.
    AccountKey(Secret),
    /// A container SAS: the query string with or without a leading `?`, or a full
    /// container URL (whose container then scopes the SAS).
    ContainerSas(Secret),
}

/// Whether a container SAS is given as a full URL, which names its container, rather
/// than as a bare token (`?sv=…&sig=…`), which does not. The one rule for the engine and
/// the apps.
pub fn is_sas_url(raw: &str) -> bool {
    let raw = raw.trim().as_bytes();
    ["https://", "http://"].iter().any(|p| raw.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p.as_bytes())))
}

impl StorageConfig {
    /// The blob endpoint URL without a trailing slash.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://{}.blob.core.windows.net", self.account),
        }
    }

    /// The secrets this config holds, for [`crate::secret::redact`].
    pub fn secrets(&self) -> Vec<&Secret> {
        match &self.credential {
            Credential::AccountKey(s) | Credential::ContainerSas(s) => vec![s],
        }
    }
}

/// What the service says about a blob now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlobProperties {
    pub length: u64,
    pub etag: Option<String>,
    /// HTTP-date form, as the service sends `Last-Modified`.
    pub last_modified: Option<String>,
    pub content_type: Option<String>,
    pub content_md5: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub is_page_blob: bool,
    /// Metadata pairs, in the order the service returns them.
    pub metadata: Vec<(String, String)>,
}

/// A blob found by [`BlobStore::list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct BlobListing {
    pub container: String,
    pub name: String,
    #[ts(type = "number")]
    pub length: u64,
    pub last_modified: Option<String>,
}

/// The body of a range GET, streamed so that memory stays bounded.
pub struct RangeBody {
    /// `Content-MD5` of the range, when asked for with `x-ms-range-get-content-md5`.
    pub content_md5: Option<Md5>,
    pub chunks: BoxStream<'static, Result<Bytes, StorageError>>,
}

pub trait BlobStore: Send + Sync + 'static {
    /// Checks that the account answers and the credential works (the wizard's
    /// "Test connection"). With a container SAS, checks the SAS container.
    fn check_access(&self) -> impl Future<Output = Result<(), StorageError>> + Send;

    fn properties(&self, blob: &BlobRef) -> impl Future<Output = Result<BlobProperties, StorageError>> + Send;

    /// Reads `length` bytes at `offset`. With `want_content_md5` (ranges of 4 MiB or
    /// less), asks the service for the range's MD5.
    fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        want_content_md5: bool,
    ) -> impl Future<Output = Result<RangeBody, StorageError>> + Send;

    /// Lists blobs in `container` whose names start with `prefix`.
    fn list(
        &self,
        container: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<BlobListing>, StorageError>> + Send;
}
