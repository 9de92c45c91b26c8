//! The repair plan: which components of which files must be fetched again, and how.
//!
//! A [`Unit`] is one thing to repair: a block or page range, a whole blob, or a
//! properties or metadata file. Units come from two sources:
//! - the copy log ([`units_from_copy_log`]): failed ranges, blobs that must be fetched
//!   whole (`LogBlob::needs_whole_blob`), failed properties and metadata files;
//! - verification against the manifest ([`units_from_issues`]): a damaged range, a
//!   missing or short file, a damaged properties or metadata file.
//!
//! **Expected hashes.** A range unit is checked against the manifest's hash for that
//! range if the manifest is given and lists it (a copy-log range that spans several
//! manifest ranges is split into them, so that each is checked on its own); else
//! against the copy log's `Hash`; else it has none, and the executor asks the service
//! for the range's `Content-MD5` (ranges of at most 4 MiB, longer ones are fetched
//! in 4 MiB pieces). That checks the transfer, not the export, so it is only trusted
//! after the blob has been found unchanged since the export. If the service gives no
//! MD5 either, the range is unverifiable and is not written over existing bytes.
//!
//! **Unit ids** are stable text built from the blob path, the snapshot and the
//! component (a small JSON array, so no separator can be ambiguous); a later run
//! matches its units with the repair file's by id.
//!
//! **Unsafe paths** (a `FilePath` that would leave the target directory) become
//! refused units: reported, never fetched, never written.

use crate::model::{
    BlobRef, BlobType, Component, ComponentIssue, LogBlob, ManifestBlob, Md5, Problem, Range,
};
use crate::paths::map_file_path;
use crate::EngineError;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use ts_rs::TS;

/// Service-side range MD5 (`x-ms-range-get-content-md5`) is only given for ranges of
/// at most 4 MiB.
pub const SERVICE_MD5_MAX: u64 = 4 << 20;

/// Adjacent ranges of one blob are fetched together until a request reaches this
/// size: per-request overhead dominates small ranges (Azurite in particular is slow
/// with them). Each component's hash is still checked on its own.
pub const COALESCE_TARGET: u64 = 8 << 20;

/// Components longer than this are not held in memory while their hash is checked:
/// they are streamed through a spill file next to the target.
pub const MAX_BUFFERED_COMPONENT: u64 = 16 << 20;

/// Where a unit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum UnitSource {
    CopyLog,
    Verification,
}

impl UnitSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitSource::CopyLog => "copylog",
            UnitSource::Verification => "verification",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "copylog" => Some(UnitSource::CopyLog),
            "verification" => Some(UnitSource::Verification),
            _ => None,
        }
    }
}

/// What kind of work a unit is, derived from its component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitKind {
    Range,
    WholeBlob,
    Aux,
}

/// One thing to repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub id: String,
    pub blob: BlobRef,
    /// The data file's path on the drive, as written (backslashes).
    pub file_path: String,
    /// `Block`/`PageRange`: a range; `File`: the whole blob; `Properties`/`Metadata`: that file.
    pub component: Component,
    /// The hash the fetched bytes must have (ranges; for aux files the manifest's hash,
    /// used only to tell a byte-identical regeneration from a differing one).
    pub expected: Option<Md5>,
    pub blob_length: Option<u64>,
    pub blob_type: Option<BlobType>,
    /// For properties and metadata units: the file's path on the drive.
    pub aux_path: Option<String>,
    /// The copy log's `LastModified` for the blob, if it gave one.
    pub last_modified: Option<String>,
    pub source: UnitSource,
    /// Why it needs repair (the copy log status, or what verification found).
    pub cause: Problem,
    /// `Some` for a unit that must never be fetched (an unsafe path).
    pub refused: Option<Problem>,
}

impl Unit {
    pub fn kind(&self) -> UnitKind {
        match self.component {
            Component::Block { .. } | Component::PageRange { .. } => UnitKind::Range,
            Component::File => UnitKind::WholeBlob,
            Component::Properties | Component::Metadata => UnitKind::Aux,
        }
    }

    /// Offset and length of a range unit.
    pub fn range(&self) -> Option<(u64, u64)> {
        match self.component {
            Component::Block { offset, length } | Component::PageRange { offset, length } => {
                Some((offset, length))
            }
            _ => None,
        }
    }

    /// Bytes this unit fetches, as far as known before fetching.
    pub fn bytes(&self) -> u64 {
        match self.kind() {
            UnitKind::Range => self.range().map(|r| r.1).unwrap_or(0),
            UnitKind::WholeBlob => self.blob_length.unwrap_or(0),
            UnitKind::Aux => 0,
        }
    }

    /// The drive path of the file this unit writes.
    pub fn written_path(&self) -> &str {
        match self.kind() {
            UnitKind::Aux => self.aux_path.as_deref().unwrap_or(&self.file_path),
            _ => &self.file_path,
        }
    }

    pub fn issue(&self, problem: Problem) -> ComponentIssue {
        ComponentIssue {
            blob: self.blob.clone(),
            file_path: self.file_path.clone(),
            component: self.component.clone(),
            problem,
        }
    }
}

/// The stable id of a unit.
pub fn unit_id(blob: &BlobRef, component: &Component) -> String {
    let key = match component {
        Component::Block { offset, length } => format!("block:{offset}+{length}"),
        Component::PageRange { offset, length } => format!("page:{offset}+{length}"),
        Component::File => "file".to_string(),
        Component::Properties => "properties".to_string(),
        Component::Metadata => "metadata".to_string(),
    };
    serde_json::to_string(&(&blob.path, &blob.snapshot, key)).expect("strings serialise")
}

/// A refused unit's id also names the path it refuses: copy-log entries that share a
/// blob but give different paths are each reported, and a refused entry neither hides
/// a safe unit of the same blob nor is hidden by it (ids are deduplicated, and a later
/// whole-blob fetch of the blob must not revive the refused entry).
fn refused_id(id: &str, refused_path: &str) -> String {
    serde_json::to_string(&(id, "refused", refused_path)).expect("strings serialise")
}

/// What a plan amounts to, for a dry run and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PlanTotals {
    /// Distinct data files touched.
    #[ts(type = "number")]
    pub files: u64,
    /// Blocks and page ranges to fetch.
    #[ts(type = "number")]
    pub ranges: u64,
    /// Blobs to fetch whole.
    #[ts(type = "number")]
    pub whole_blobs: u64,
    /// Properties and metadata files to regenerate.
    #[ts(type = "number")]
    pub aux_files: u64,
    /// Bytes to fetch, as far as known (whole blobs of unknown length count 0).
    #[ts(type = "number")]
    pub bytes: u64,
    /// Units refused because their path is unsafe; they are reported, never written.
    #[ts(type = "number")]
    pub refused: u64,
}

impl PlanTotals {
    pub fn of<'a>(units: impl IntoIterator<Item = &'a Unit>) -> PlanTotals {
        let mut t = PlanTotals::default();
        let mut files = HashSet::new();
        for u in units {
            if u.refused.is_some() {
                t.refused += 1;
                continue;
            }
            files.insert(&u.file_path);
            match u.kind() {
                UnitKind::Range => t.ranges += 1,
                UnitKind::WholeBlob => t.whole_blobs += 1,
                UnitKind::Aux => t.aux_files += 1,
            }
            t.bytes += u.bytes();
        }
        t.files = files.len() as u64;
        t
    }
}

/// Whether a copy-log blob names anything to repair. Verbose logs list every blob;
/// only these need to be kept.
pub fn log_blob_needs_repair(b: &LogBlob) -> bool {
    !b.status.is_ok()
        || b.ranges.iter().any(|r| !r.status.is_ok())
        || b.properties.as_ref().is_some_and(|p| !p.status.is_ok())
        || b.metadata.as_ref().is_some_and(|m| !m.status.is_ok())
}

fn range_component(blob_type: Option<BlobType>, offset: u64, length: u64) -> Component {
    match blob_type {
        Some(BlobType::Page) => Component::PageRange { offset, length },
        _ => Component::Block { offset, length },
    }
}

/// Checks a drive path against the target directory; `Some(problem)` if unsafe.
fn path_problem(target: &Path, drive_path: &str) -> Option<Problem> {
    match map_file_path(target, drive_path) {
        Ok(_) => None,
        Err(EngineError::UnsafePath { reason, .. }) => Some(Problem::UnsafePath { reason }),
        Err(e) => Some(Problem::UnsafePath { reason: e.to_string() }),
    }
}

fn default_aux_path(file_path: &str, component: &Component) -> String {
    match component {
        Component::Metadata => format!("{file_path}.metadata"),
        _ => format!("{file_path}.properties"),
    }
}

/// Builds units for one blob; `base` carries everything but the component.
struct BlobUnits<'a> {
    target: &'a Path,
    blob: &'a BlobRef,
    file_path: &'a str,
    blob_length: Option<u64>,
    blob_type: Option<BlobType>,
    last_modified: Option<&'a str>,
    source: UnitSource,
    manifest: Option<&'a ManifestBlob>,
}

impl BlobUnits<'_> {
    fn unit(&self, component: Component, expected: Option<Md5>, cause: Problem) -> Unit {
        Unit {
            id: unit_id(self.blob, &component),
            blob: self.blob.clone(),
            file_path: self.file_path.to_string(),
            component,
            expected,
            blob_length: self.blob_length,
            blob_type: self.blob_type,
            aux_path: None,
            last_modified: self.last_modified.map(str::to_owned),
            source: self.source,
            cause,
            refused: None,
        }
    }

    /// A refused unit standing for the whole blob, when its data path is unsafe.
    fn refused_blob(&self, problem: Problem, cause: Problem) -> Unit {
        let mut u = self.unit(Component::File, None, cause);
        u.id = refused_id(&u.id, self.file_path);
        u.refused = Some(problem);
        u
    }

    fn aux(&self, component: Component, log_path: Option<&str>, log_hash: Option<Md5>, cause: Problem) -> Unit {
        let from_manifest = self.manifest.and_then(|m| match component {
            Component::Metadata => m.metadata.as_ref(),
            _ => m.properties.as_ref(),
        });
        let path = from_manifest
            .map(|a| a.path.clone())
            .or_else(|| log_path.map(str::to_owned))
            .unwrap_or_else(|| default_aux_path(self.file_path, &component));
        let expected = from_manifest.and_then(|a| a.hash).or(log_hash);
        let mut u = self.unit(component, expected, cause);
        if let Some(p) = path_problem(self.target, &path) {
            u.id = refused_id(&u.id, &path);
            u.refused = Some(p);
        }
        u.aux_path = Some(path);
        u
    }

    /// The range units for `[offset, offset+length)`: the manifest's ranges if they
    /// tile it exactly (each with its own hash), else one unit with `fallback` hash.
    fn ranges(&self, offset: u64, length: u64, fallback: Option<Md5>, cause: &Problem) -> Vec<Unit> {
        let end = offset + length;
        if let Some(m) = self.manifest {
            let inside: Vec<&Range> = m
                .ranges
                .iter()
                .filter(|r| r.offset >= offset && r.end() <= end)
                .collect();
            let tiles = !inside.is_empty()
                && inside[0].offset == offset
                && inside.windows(2).all(|w| w[0].end() == w[1].offset)
                && inside.last().unwrap().end() == end
                && inside.iter().all(|r| r.hash.is_some());
            if tiles {
                return inside
                    .into_iter()
                    .map(|r| self.unit(range_component(self.blob_type, r.offset, r.length), r.hash, cause.clone()))
                    .collect();
            }
        }
        vec![self.unit(range_component(self.blob_type, offset, length), fallback, cause.clone())]
    }
}

/// Units for everything the copy log lists as failed. `manifest` holds the manifest
/// entries of (at least) these blobs, if a manifest was given.
pub fn units_from_copy_log(
    target: &Path,
    log_blobs: &[LogBlob],
    manifest: &HashMap<BlobRef, ManifestBlob>,
) -> Vec<Unit> {
    let mut out = Vec::new();
    for lb in log_blobs.iter().filter(|b| log_blob_needs_repair(b)) {
        let m = manifest.get(&lb.blob);
        let b = BlobUnits {
            target,
            blob: &lb.blob,
            file_path: &lb.file_path,
            blob_length: m.map(|m| m.length).or(lb.length),
            blob_type: lb.blob_type.or(m.map(|m| m.blob_type)),
            last_modified: lb.last_modified.as_deref(),
            source: UnitSource::CopyLog,
            manifest: m,
        };
        let blob_cause = Problem::CopyLogFailed { status: lb.status.to_string() };

        let data_units: Vec<Unit> = if lb.needs_whole_blob() {
            vec![b.unit(Component::File, None, blob_cause.clone())]
        } else {
            lb.ranges
                .iter()
                .filter(|r| !r.status.is_ok())
                .flat_map(|r| {
                    let cause = Problem::CopyLogFailed { status: r.status.to_string() };
                    b.ranges(r.offset, r.length, r.hash, &cause)
                })
                .collect()
        };
        if !data_units.is_empty() {
            match path_problem(target, &lb.file_path) {
                Some(p) => out.push(b.refused_blob(p, blob_cause.clone())),
                None => out.extend(data_units),
            }
        }

        for (component, aux) in [(Component::Properties, &lb.properties), (Component::Metadata, &lb.metadata)] {
            if let Some(a) = aux.as_ref().filter(|a| !a.status.is_ok()) {
                let cause = Problem::CopyLogFailed { status: a.status.to_string() };
                out.push(b.aux(component, a.path.as_deref(), a.hash, cause));
            }
        }
    }
    dedupe(out)
}

/// Units for what verification found bad. `manifest` holds the manifest entries of
/// (at least) the blobs named in `issues`.
pub fn units_from_issues(
    target: &Path,
    issues: &[ComponentIssue],
    manifest: &HashMap<BlobRef, ManifestBlob>,
) -> Vec<Unit> {
    let mut out = Vec::new();
    for issue in issues {
        let m = manifest.get(&issue.blob);
        let b = BlobUnits {
            target,
            blob: &issue.blob,
            file_path: &issue.file_path,
            blob_length: m.map(|m| m.length),
            blob_type: m.map(|m| m.blob_type),
            last_modified: None,
            source: UnitSource::Verification,
            manifest: m,
        };
        let cause = issue.problem.clone();
        if let Problem::UnsafePath { .. } = &issue.problem {
            out.push(b.refused_blob(issue.problem.clone(), cause));
            continue;
        }
        match &issue.component {
            Component::Block { offset, length } | Component::PageRange { offset, length } => {
                let expected = match &issue.problem {
                    Problem::HashMismatch { expected, .. } => Some(*expected),
                    _ => m
                        .and_then(|m| m.ranges.iter().find(|r| r.offset == *offset && r.length == *length))
                        .and_then(|r| r.hash),
                };
                out.push(b.unit(issue.component.clone(), expected, cause));
            }
            Component::File => out.push(b.unit(Component::File, None, cause)),
            Component::Properties | Component::Metadata => {
                out.push(b.aux(issue.component.clone(), None, None, cause));
            }
        }
    }
    dedupe(out)
}

/// Drops duplicate ids (first wins) and range units of blobs that are fetched whole.
pub fn dedupe(units: Vec<Unit>) -> Vec<Unit> {
    let whole: HashSet<BlobRef> = units
        .iter()
        .filter(|u| u.kind() == UnitKind::WholeBlob)
        .map(|u| u.blob.clone())
        .collect();
    let mut seen = HashSet::new();
    units
        .into_iter()
        .filter(|u| !(u.kind() == UnitKind::Range && whole.contains(&u.blob)))
        .filter(|u| seen.insert(u.id.clone()))
        .collect()
}

/// Adjacent range units of one blob, fetched with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchGroup {
    pub offset: u64,
    pub length: u64,
    /// Sorted, contiguous; each is checked against its own hash.
    pub units: Vec<Unit>,
}

impl FetchGroup {
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// Groups the range units of ONE blob into fetches of at most `target` bytes (a
/// single longer unit is fetched alone). Only units with an expected hash that are
/// small enough to buffer are joined; the rest are fetched alone (they need the
/// service's MD5 for exactly their range, or a streamed fetch). A group is held in
/// memory while its hashes are checked, so this also bounds memory per request.
pub fn coalesce(mut units: Vec<Unit>, target: u64) -> Vec<FetchGroup> {
    units.sort_by_key(|u| u.range().map(|r| r.0).unwrap_or(0));
    let mut out: Vec<FetchGroup> = Vec::new();
    for u in units {
        let Some((offset, length)) = u.range() else { continue };
        let joinable = u.expected.is_some() && length <= MAX_BUFFERED_COMPONENT;
        if let Some(g) = out.last_mut() {
            let g_joinable = g.units.iter().all(|x| x.expected.is_some())
                && g.length <= MAX_BUFFERED_COMPONENT;
            if joinable && g_joinable && g.end() == offset && g.length + length <= target {
                g.length += length;
                g.units.push(u);
                continue;
            }
        }
        out.push(FetchGroup { offset, length, units: vec![u] });
    }
    out
}

/// One request of a whole-blob fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub length: u64,
    /// Ranges inside the segment whose hash is checked as the bytes pass (contiguous, sorted).
    pub checks: Vec<Range>,
    /// Ask the service for the segment's MD5 (no manifest hashes to check against).
    pub service_md5: bool,
}

/// How a whole blob is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WholeBlobPlan {
    pub length: u64,
    pub segments: Vec<Segment>,
    /// No per-range hashes: the file's MD5 is compared with the blob's `Content-MD5`
    /// after the download.
    pub whole_md5: Option<Md5>,
}

/// Plans a whole-blob fetch in segments of about `segment` bytes.
/// - With the manifest's hashed ranges (block ranges must tile the blob): segments
///   end on range boundaries, so every range is hashed inside one request; a page
///   blob fetches only its listed ranges (the rest of the file stays zeros).
/// - Otherwise, with the blob's `Content-MD5`: big segments and one MD5 of the
///   whole file at the end.
/// - Otherwise: 4 MiB segments, each checked with the service's range MD5.
pub fn plan_whole_blob(
    length: u64,
    blob_type: BlobType,
    manifest_ranges: Option<&[Range]>,
    content_md5: Option<Md5>,
    segment: u64,
) -> WholeBlobPlan {
    let segment = segment.max(1);
    let usable = manifest_ranges.filter(|rs| {
        !rs.is_empty()
            && rs.iter().all(|r| r.hash.is_some() && r.end() <= length)
            && rs.windows(2).all(|w| w[0].end() <= w[1].offset)
            && match blob_type {
                BlobType::Block => {
                    rs[0].offset == 0
                        && rs.windows(2).all(|w| w[0].end() == w[1].offset)
                        && rs.last().unwrap().end() == length
                }
                BlobType::Page => true,
            }
    });
    if let Some(ranges) = usable {
        let mut segments: Vec<Segment> = Vec::new();
        for r in ranges {
            if let Some(s) = segments.last_mut() {
                if s.offset + s.length == r.offset && s.length < segment {
                    s.length += r.length;
                    s.checks.push(*r);
                    continue;
                }
            }
            segments.push(Segment { offset: r.offset, length: r.length, checks: vec![*r], service_md5: false });
        }
        return WholeBlobPlan { length, segments, whole_md5: None };
    }
    let (step, service_md5) = match (blob_type, content_md5) {
        (BlobType::Block, Some(_)) => (segment, false),
        _ => (SERVICE_MD5_MAX, true),
    };
    let mut segments = Vec::new();
    let mut at = 0;
    while at < length {
        let len = step.min(length - at);
        segments.push(Segment { offset: at, length: len, checks: Vec::new(), service_md5 });
        at += len;
    }
    WholeBlobPlan {
        length,
        segments,
        whole_md5: if service_md5 { None } else { content_md5 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuxFile, LogAuxFile, LogRange};
    use crate::status::{BlobStatus, FileStatus, RangeStatus};

    fn blob(p: &str) -> BlobRef {
        BlobRef { path: p.into(), snapshot: None }
    }

    fn log_blob(p: &str, fp: &str, status: BlobStatus) -> LogBlob {
        LogBlob {
            blob: blob(p),
            status,
            file_path: fp.into(),
            length: Some(163840),
            last_modified: Some("2012-09-18T23:47:08Z".into()),
            blob_type: Some(BlobType::Block),
            ranges: vec![],
            properties: None,
            metadata: None,
            import_disposition: None,
            line: 4,
        }
    }

    fn h(n: u8) -> Md5 {
        Md5([n; 16])
    }

    fn manifest_blob(p: &str, fp: &str, block: u64, n: u64) -> ManifestBlob {
        ManifestBlob {
            blob: blob(p),
            file_path: fp.into(),
            length: block * n,
            blob_type: BlobType::Block,
            ranges: (0..n)
                .map(|i| Range { offset: i * block, length: block, hash: Some(h(i as u8 + 1)) })
                .collect(),
            properties: Some(AuxFile { path: format!("{fp}.properties"), hash: Some(h(99)) }),
            metadata: None,
            line: 7,
        }
    }

    fn target() -> &'static Path {
        Path::new("/target")
    }

    #[test]
    fn failed_block_of_the_published_sample_becomes_one_range_unit() {
        // export-copylog-seed.xml: one 64 KiB block failed, no Hash on it.
        let mut lb = log_blob("pictures/wild/desert.jpg", r"\pictures\wild\desert.jpg", BlobStatus::CompletedWithErrors);
        lb.ranges.push(LogRange { offset: 65536, length: 65536, hash: None, status: RangeStatus::Failed });
        let units = units_from_copy_log(target(), &[lb], &HashMap::new());
        assert_eq!(units.len(), 1);
        let u = &units[0];
        assert_eq!(u.component, Component::Block { offset: 65536, length: 65536 });
        assert_eq!(u.expected, None, "no manifest and no log hash: the service MD5 must be asked for");
        assert_eq!(u.cause, Problem::CopyLogFailed { status: "Failed".into() });
        assert_eq!(u.last_modified.as_deref(), Some("2012-09-18T23:47:08Z"));
        assert_eq!(PlanTotals::of(&units), PlanTotals { files: 1, ranges: 1, bytes: 65536, ..Default::default() });
    }

    #[test]
    fn manifest_hash_wins_over_the_copy_log_hash_and_spanning_ranges_are_split() {
        let mut lb = log_blob("c/a", r"\c\a", BlobStatus::CompletedWithErrors);
        lb.ranges.push(LogRange { offset: 100, length: 100, hash: Some(h(50)), status: RangeStatus::Corrupted });
        lb.ranges.push(LogRange { offset: 300, length: 200, hash: Some(h(51)), status: RangeStatus::Failed });
        lb.ranges.push(LogRange { offset: 0, length: 100, hash: None, status: RangeStatus::Completed });
        let m = manifest_blob("c/a", r"\c\a", 100, 6);
        let idx = HashMap::from([(m.blob.clone(), m)]);
        let units = units_from_copy_log(target(), &[lb], &idx);
        let got: Vec<_> = units.iter().map(|u| (u.range().unwrap(), u.expected)).collect();
        assert_eq!(
            got,
            vec![((100, 100), Some(h(2))), ((300, 100), Some(h(4))), ((400, 100), Some(h(5)))]
        );
    }

    #[test]
    fn copy_log_hash_is_used_when_the_manifest_does_not_tile_the_range() {
        let mut lb = log_blob("c/a", r"\c\a", BlobStatus::CompletedWithErrors);
        lb.ranges.push(LogRange { offset: 50, length: 100, hash: Some(h(50)), status: RangeStatus::Failed });
        let m = manifest_blob("c/a", r"\c\a", 100, 3);
        let idx = HashMap::from([(m.blob.clone(), m)]);
        let units = units_from_copy_log(target(), &[lb], &idx);
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].expected, Some(h(50)));
    }

    #[test]
    fn failed_blob_without_ranges_is_fetched_whole() {
        let mut lb = log_blob("c/gone", r"\c\gone", BlobStatus::BlobRequestFailed);
        lb.blob_type = None;
        let units = units_from_copy_log(target(), &[lb], &HashMap::new());
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].component, Component::File);
        assert_eq!(units[0].blob_length, Some(163840));
        assert_eq!(PlanTotals::of(&units).whole_blobs, 1);
    }

    #[test]
    fn only_properties_failed_regenerates_the_properties_file_and_leaves_the_data() {
        // error-log-export-properties-docs.xml: <BlockList /> and <Properties Status="Failed" />.
        let mut lb = log_blob("pictures/wild/canyon.jpg", r"\pictures\wild\canyon.jpg", BlobStatus::CompletedWithErrors);
        lb.properties = Some(LogAuxFile { status: FileStatus::Failed, path: None, hash: None });
        assert!(lb.only_aux_failed() && !lb.needs_whole_blob());
        let units = units_from_copy_log(target(), &[lb], &HashMap::new());
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].component, Component::Properties);
        assert_eq!(units[0].aux_path.as_deref(), Some(r"\pictures\wild\canyon.jpg.properties"));
        assert_eq!(PlanTotals::of(&units), PlanTotals { files: 1, aux_files: 1, ..Default::default() });
    }

    #[test]
    fn completed_blobs_of_a_verbose_log_plan_nothing() {
        let mut lb = log_blob("c/ok", r"\c\ok", BlobStatus::Completed);
        lb.ranges.push(LogRange { offset: 0, length: 10, hash: Some(h(1)), status: RangeStatus::Completed });
        lb.metadata = Some(LogAuxFile { status: FileStatus::Completed, path: None, hash: None });
        assert!(!log_blob_needs_repair(&lb));
        assert!(units_from_copy_log(target(), &[lb], &HashMap::new()).is_empty());
    }

    #[test]
    fn unsafe_file_path_is_refused_not_planned_for_writing() {
        let mut lb = log_blob("c/evil", r"\..\..\etc\passwd", BlobStatus::CompletedWithErrors);
        lb.ranges.push(LogRange { offset: 0, length: 10, hash: None, status: RangeStatus::Failed });
        lb.ranges.push(LogRange { offset: 10, length: 10, hash: None, status: RangeStatus::Failed });
        let units = units_from_copy_log(target(), &[lb], &HashMap::new());
        assert_eq!(units.len(), 1, "one refused unit for the blob, not one per range");
        assert!(matches!(units[0].refused, Some(Problem::UnsafePath { .. })));
        let t = PlanTotals::of(&units);
        assert_eq!((t.refused, t.ranges, t.bytes), (1, 0, 0));
    }

    #[test]
    fn hostile_entries_sharing_a_blob_are_each_refused_and_do_not_hide_the_safe_entry() {
        let mut safe = log_blob("c/a", r"\c\a", BlobStatus::BlobRequestFailed);
        safe.blob_type = None;
        let hostile: Vec<LogBlob> = [r"\..\evil1.txt", r"C:\evil2.txt", r"\CON"]
            .iter()
            .map(|p| {
                let mut b = safe.clone();
                b.file_path = p.to_string();
                b
            })
            .collect();
        let mut log = hostile.clone();
        log.insert(1, safe);
        let units = units_from_copy_log(target(), &log, &HashMap::new());
        let refused: Vec<&str> = units.iter().filter(|u| u.refused.is_some()).map(|u| u.file_path.as_str()).collect();
        assert_eq!(refused, vec![r"\..\evil1.txt", r"C:\evil2.txt", r"\CON"]);
        let safe: Vec<&Unit> = units.iter().filter(|u| u.refused.is_none()).collect();
        assert_eq!(safe.len(), 1, "{units:?}");
        assert_eq!((safe[0].file_path.as_str(), &safe[0].component), (r"\c\a", &Component::File));
        assert_eq!(safe[0].id, unit_id(&blob("c/a"), &Component::File));
    }

    #[test]
    fn verification_issues_map_to_ranges_whole_blobs_and_aux_files() {
        let m = manifest_blob("c/a", r"\c\a", 100, 3);
        let idx = HashMap::from([(m.blob.clone(), m.clone())]);
        let issue = |component, problem| ComponentIssue {
            blob: blob("c/a"),
            file_path: r"\c\a".into(),
            component,
            problem,
        };
        let issues = vec![
            issue(Component::Block { offset: 100, length: 100 }, Problem::HashMismatch { expected: h(2), actual: h(0) }),
            issue(Component::Properties, Problem::HashMismatch { expected: h(99), actual: h(0) }),
        ];
        let units = units_from_issues(target(), &issues, &idx);
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].expected, Some(h(2)));
        assert_eq!(units[0].source, UnitSource::Verification);
        assert_eq!(units[1].aux_path.as_deref(), Some(r"\c\a.properties"));
        assert_eq!(units[1].expected, Some(h(99)));

        // A short file is fetched whole, and its range issues are dropped.
        let issues = vec![
            issue(Component::Block { offset: 0, length: 100 }, Problem::HashMismatch { expected: h(1), actual: h(0) }),
            issue(Component::File, Problem::ShortFile { actual_length: 10, expected_length: 300 }),
        ];
        let units = units_from_issues(target(), &issues, &idx);
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].component, Component::File);
        assert_eq!(units[0].blob_length, Some(300));

        let units = units_from_issues(target(), &[issue(Component::File, Problem::MissingFile)], &idx);
        assert_eq!(units[0].kind(), UnitKind::WholeBlob);

        let units = units_from_issues(
            target(),
            &[issue(Component::File, Problem::UnsafePath { reason: "climbs out".into() })],
            &idx,
        );
        assert!(units[0].refused.is_some());
    }

    #[test]
    fn unit_ids_are_stable_and_distinguish_snapshots() {
        let a = unit_id(&blob("c/a"), &Component::Block { offset: 0, length: 4 });
        assert_eq!(a, r#"["c/a",null,"block:0+4"]"#);
        let snap = BlobRef { path: "c/a".into(), snapshot: Some("2012-09-18T23:47:08.1234567Z".into()) };
        assert_ne!(a, unit_id(&snap, &Component::Block { offset: 0, length: 4 }));
    }

    #[test]
    fn adjacent_hashed_ranges_coalesce_to_about_the_target_size() {
        let m = manifest_blob("c/a", r"\c\a", 4 << 20, 6);
        let mut lb = log_blob("c/a", r"\c\a", BlobStatus::CompletedWithErrors);
        lb.ranges.push(LogRange { offset: 0, length: 24 << 20, hash: None, status: RangeStatus::Failed });
        let idx = HashMap::from([(m.blob.clone(), m)]);
        let units = units_from_copy_log(target(), &[lb], &idx);
        assert_eq!(units.len(), 6);
        let groups = coalesce(units, COALESCE_TARGET);
        let shape: Vec<_> = groups.iter().map(|g| (g.offset, g.length, g.units.len())).collect();
        assert_eq!(shape, vec![(0, 8 << 20, 2), (8 << 20, 8 << 20, 2), (16 << 20, 8 << 20, 2)]);
    }

    #[test]
    fn a_fetch_group_never_exceeds_the_target_so_memory_stays_bounded() {
        let m = manifest_blob("c/a", r"\c\a", 3 << 20, 5);
        let mut lb = log_blob("c/a", r"\c\a", BlobStatus::CompletedWithErrors);
        lb.ranges.push(LogRange { offset: 0, length: 15 << 20, hash: None, status: RangeStatus::Failed });
        let idx = HashMap::from([(m.blob.clone(), m)]);
        let groups = coalesce(units_from_copy_log(target(), &[lb], &idx), COALESCE_TARGET);
        let lens: Vec<u64> = groups.iter().map(|g| g.length >> 20).collect();
        assert_eq!(lens, vec![6, 6, 3]);
    }

    #[test]
    fn unhashed_or_separated_ranges_are_fetched_alone() {
        let mut lb = log_blob("c/a", r"\c\a", BlobStatus::CompletedWithErrors);
        for (o, l) in [(0u64, 10u64), (10, 10), (40, 10)] {
            lb.ranges.push(LogRange { offset: o, length: l, hash: Some(h(1)), status: RangeStatus::Failed });
        }
        lb.ranges.push(LogRange { offset: 50, length: 10, hash: None, status: RangeStatus::Failed });
        let units = units_from_copy_log(target(), &[lb], &HashMap::new());
        let groups = coalesce(units, COALESCE_TARGET);
        let shape: Vec<_> = groups.iter().map(|g| (g.offset, g.units.len())).collect();
        assert_eq!(shape, vec![(0, 2), (40, 1), (50, 1)]);
    }

    #[test]
    fn whole_block_blob_segments_end_on_block_boundaries() {
        let m = manifest_blob("c/a", r"\c\a", 3 << 20, 5); // 15 MiB in 3 MiB blocks
        let p = plan_whole_blob(m.length, BlobType::Block, Some(&m.ranges), None, 8 << 20);
        let shape: Vec<_> = p.segments.iter().map(|s| (s.offset, s.length, s.checks.len())).collect();
        assert_eq!(shape, vec![(0, 9 << 20, 3), (9 << 20, 6 << 20, 2)]);
        assert!(p.segments.iter().all(|s| !s.service_md5));
    }

    #[test]
    fn whole_page_blob_fetches_only_its_ranges() {
        // export-manifest-seed.xml: redmond.jpg, 15360 bytes, three ranges covering 7680.
        let ranges = [
            Range { offset: 0, length: 3584, hash: Some(h(1)) },
            Range { offset: 3584, length: 3584, hash: Some(h(2)) },
            Range { offset: 7168, length: 512, hash: Some(h(3)) },
        ];
        let p = plan_whole_blob(15360, BlobType::Page, Some(&ranges), None, 256 << 20);
        assert_eq!(p.segments.len(), 1);
        assert_eq!((p.segments[0].offset, p.segments[0].length), (0, 7680));
        assert_eq!(p.length, 15360);
    }

    #[test]
    fn whole_blob_without_manifest_uses_service_md5_or_the_blob_content_md5() {
        let p = plan_whole_blob(10 << 20, BlobType::Block, None, None, 256 << 20);
        let shape: Vec<_> = p.segments.iter().map(|s| (s.length, s.service_md5)).collect();
        assert_eq!(shape, vec![(4 << 20, true), (4 << 20, true), (2 << 20, true)]);
        let p = plan_whole_blob(10 << 20, BlobType::Block, None, Some(h(7)), 256 << 20);
        assert_eq!(p.segments.len(), 1);
        assert_eq!(p.whole_md5, Some(h(7)));
        // A block list with a gap is not trusted to cover the blob.
        let gappy = [Range { offset: 0, length: 10, hash: Some(h(1)) }, Range { offset: 20, length: 10, hash: Some(h(2)) }];
        let p = plan_whole_blob(30, BlobType::Block, Some(&gappy), None, 256 << 20);
        assert!(p.segments.iter().all(|s| s.service_md5));
    }
}
