//! The data the engine's modules share: what the manifest and copy log say about
//! each blob, and how a component (a block, a page range, a properties or metadata
//! file) is named in results.

use crate::status::{BlobStatus, DriveStatus, FileStatus, RangeStatus};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// An MD5 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5(pub [u8; 16]);

impl Md5 {
    /// Parses Base16 in either case, trimming surrounding white space (a published
    /// sample writes `Hash=" 9C8A…"`). Returns `None` if it is not 32 hex digits.
    pub fn parse_hex(s: &str) -> Option<Md5> {
        let s = s.trim();
        if s.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Md5(out))
    }

    /// Parses the base64 form used by HTTP `Content-MD5`.
    pub fn parse_base64(s: &str) -> Option<Md5> {
        use base64::Engine as _;
        let v = base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()?;
        Some(Md5(v.try_into().ok()?))
    }

    pub fn of(data: &[u8]) -> Md5 {
        use md5::Digest;
        Md5(md5::Md5::digest(data).into())
    }

    /// Upper-case Base16, as the service writes it.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.0)
    }
}

impl std::fmt::Debug for Md5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Display for Md5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Md5 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Md5 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Md5::parse_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 32 hex digits"))
    }
}

impl TS for Md5 {
    type WithoutGenerics = Self;
    fn name() -> String {
        "string".into()
    }
    fn inline() -> String {
        "string".into()
    }
    fn decl() -> String {
        panic!("Md5 is inlined as string")
    }
    fn decl_concrete() -> String {
        panic!("Md5 is inlined as string")
    }
    fn inline_flattened() -> String {
        panic!("Md5 is inlined as string")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum BlobType {
    /// A block blob: its `BlockList` covers the whole file, in order, without gaps.
    Block,
    /// A page blob: its `PageRangeList` covers only the written parts; the rest reads as zeros.
    Page,
}

/// A block or page range of a blob, as a manifest lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Range {
    pub offset: u64,
    pub length: u64,
    /// Manifests always carry one; copy logs often leave it out.
    pub hash: Option<Md5>,
}

impl Range {
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// A properties or metadata file that the manifest lists for a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuxFile {
    /// The path on the drive, as written (backslashes, usually a leading `\`).
    pub path: String,
    pub hash: Option<Md5>,
}

/// Identifies a blob in the storage account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BlobRef {
    /// `container/name`, exactly as `BlobPath` gives it; `$root/name` for the root container.
    pub path: String,
    /// The exported snapshot (a DateTime string), if any.
    pub snapshot: Option<String>,
}

impl BlobRef {
    /// The container name and the blob name within it. `BlobPath` has no leading slash;
    /// one is tolerated.
    pub fn split(&self) -> (&str, &str) {
        let p = self.path.trim_start_matches('/');
        match p.split_once('/') {
            Some((c, n)) => (c, n),
            None => ("$root", p),
        }
    }
}

impl std::fmt::Display for BlobRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.snapshot {
            Some(s) => write!(f, "{} (snapshot {s})", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// One `<Blob>` of a drive manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestBlob {
    pub blob: BlobRef,
    /// The file's path on the drive, as written (backslashes).
    pub file_path: String,
    pub length: u64,
    pub blob_type: BlobType,
    /// Blocks or page ranges, sorted by offset as the manifest lists them.
    pub ranges: Vec<Range>,
    pub properties: Option<AuxFile>,
    pub metadata: Option<AuxFile>,
    /// The line of the manifest where this `<Blob>` starts, for messages.
    pub line: u64,
}

/// The header of a drive manifest, known before the first blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestHeader {
    pub version: Option<String>,
    pub drive_id: String,
}

/// One range in a copy log, with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRange {
    pub offset: u64,
    pub length: u64,
    pub hash: Option<Md5>,
    pub status: RangeStatus,
}

/// A `<Metadata>` or `<Properties>` entry of a copy log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogAuxFile {
    pub status: FileStatus,
    /// From `<Path Hash=>` or `<GlobalPath Hash=>`, if given.
    pub path: Option<String>,
    pub hash: Option<Md5>,
}

/// One `<Blob>` of a copy log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBlob {
    pub blob: BlobRef,
    pub status: BlobStatus,
    pub file_path: String,
    pub length: Option<u64>,
    /// Export logs: when the blob was last changed before the export (RFC 3339 text).
    pub last_modified: Option<String>,
    /// `None` when the log has neither a BlockList nor a PageRangeList.
    pub blob_type: Option<BlobType>,
    pub ranges: Vec<LogRange>,
    pub properties: Option<LogAuxFile>,
    pub metadata: Option<LogAuxFile>,
    /// Present only in import logs.
    pub import_disposition: Option<String>,
    pub line: u64,
}

impl LogBlob {
    /// A blob that failed with no usable range list must be fetched whole
    /// (FORMATS.md §2: "not written at all, or not usably"). The exception is the
    /// published `<BlockList />` + `<Properties Status="Failed" />` case: the data is
    /// on the drive and only the properties or metadata file failed.
    pub fn needs_whole_blob(&self) -> bool {
        !self.status.is_ok()
            && self.ranges.iter().all(|r| r.status.is_ok())
            && !self.only_aux_failed()
    }

    /// CompletedWithErrors where only the properties or metadata file failed: the
    /// data is on the drive (the `<BlockList />` + `<Properties Status="Failed" />` sample).
    pub fn only_aux_failed(&self) -> bool {
        matches!(self.status, BlobStatus::CompletedWithErrors)
            && self.ranges.iter().all(|r| r.status.is_ok())
            && (self.properties.as_ref().is_some_and(|p| !p.status.is_ok())
                || self.metadata.as_ref().is_some_and(|m| !m.status.is_ok()))
    }
}

/// Whether a copy log or manifest is of an export or an import job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum JobKind {
    Export,
    Import,
}

/// What a copy log says about the drive as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSummary {
    pub version: Option<String>,
    pub drive_id: String,
    pub status: Option<DriveStatus>,
    pub kind: JobKind,
}

/// Names one checkable piece of a file, for results and the repair file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(tag = "type")]
pub enum Component {
    Block {
        #[ts(type = "number")]
        offset: u64,
        #[ts(type = "number")]
        length: u64,
    },
    PageRange {
        #[ts(type = "number")]
        offset: u64,
        #[ts(type = "number")]
        length: u64,
    },
    /// The whole data file (missing file, wrong length, or a blob fetched whole).
    File,
    Properties,
    Metadata,
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Component::Block { offset, length } => write!(f, "block at {offset} (+{length})"),
            Component::PageRange { offset, length } => write!(f, "page range at {offset} (+{length})"),
            Component::File => f.write_str("file"),
            Component::Properties => f.write_str("properties file"),
            Component::Metadata => f.write_str("metadata file"),
        }
    }
}

/// Why a component is bad, in words a person understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(tag = "type")]
pub enum Problem {
    MissingFile,
    ShortFile {
        #[ts(type = "number")]
        actual_length: u64,
        #[ts(type = "number")]
        expected_length: u64,
    },
    /// The file is longer than the blob: the bytes past the blob's length do not belong to it.
    LongFile {
        #[ts(type = "number")]
        actual_length: u64,
        #[ts(type = "number")]
        expected_length: u64,
    },
    HashMismatch {
        #[ts(type = "string")]
        expected: Md5,
        #[ts(type = "string")]
        actual: Md5,
    },
    UnsafePath { reason: String },
    Unreadable { detail: String },
    /// The copy log marked it failed with this status word.
    CopyLogFailed { status: String },
    /// Regenerated from the blob's current properties; cannot be checked against the manifest hash.
    Regenerated,
    /// The blob changed after the export (BlobUnexpectedChange).
    BlobChanged { detail: String },
    /// Fetching it failed.
    FetchFailed { kind: crate::error::ErrorKind, detail: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::MissingFile => f.write_str("the file is missing"),
            Problem::ShortFile { actual_length, expected_length } => write!(
                f,
                "the file is too short ({actual_length} of {expected_length} bytes)"
            ),
            Problem::LongFile { actual_length, expected_length } => write!(
                f,
                "the file is longer than the blob ({actual_length} bytes, expected {expected_length})"
            ),
            Problem::HashMismatch { expected, actual } => {
                write!(f, "the content is damaged (MD5 {actual}, expected {expected})")
            }
            Problem::UnsafePath { reason } => write!(f, "the path is unsafe: {reason}"),
            Problem::Unreadable { detail } => write!(f, "the file cannot be read: {detail}"),
            Problem::CopyLogFailed { status } => write!(f, "the copy log marks it {status}"),
            Problem::Regenerated => f.write_str(
                "regenerated from the blob's current properties; it cannot be checked against the manifest",
            ),
            Problem::BlobChanged { detail } => write!(f, "the blob changed after the export: {detail}"),
            Problem::FetchFailed { detail, .. } => write!(f, "fetching it failed: {detail}"),
        }
    }
}

/// One bad component, as verification or repair reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ComponentIssue {
    pub blob: BlobRef,
    /// The path on the drive, as the manifest writes it.
    pub file_path: String,
    pub component: Component,
    pub problem: Problem,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_hex_accepts_padding_and_lower_case() {
        let a = Md5::parse_hex(" 9C8AE14A55241F98533C4D80D85CDC68").unwrap();
        let b = Md5::parse_hex("9c8ae14a55241f98533c4d80d85cdc68\n").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_hex(), "9C8AE14A55241F98533C4D80D85CDC68");
        assert!(Md5::parse_hex("9C8A").is_none());
        assert!(Md5::parse_hex("ZZ8AE14A55241F98533C4D80D85CDC68").is_none());
    }

    #[test]
    fn blob_ref_splits_container_and_root() {
        let b = BlobRef { path: "pictures/wild/desert.jpg".into(), snapshot: None };
        assert_eq!(b.split(), ("pictures", "wild/desert.jpg"));
        let r = BlobRef { path: "$root/top.txt".into(), snapshot: None };
        assert_eq!(r.split(), ("$root", "top.txt"));
    }
}
