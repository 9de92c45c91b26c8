//! The drive copy log (`DriveLog`, FORMATS.md §2), error or verbose, read as a
//! stream of [`LogBlob`]s.
//!
//! As with the manifest, a document that cannot be read on (not well formed, cut
//! off, wrong root) ends the iteration with its error, while a `<Blob>` whose own
//! contents are unusable (no `Status`, no `BlobPath`, a number that is not a number)
//! is yielded as one `Err` and the iteration goes on.
//!
//! Hashes in a copy log are informational (repair fetches by offset and verifies
//! against the manifest or the service's Content-MD5), so a hash that is not 32 hex
//! digits becomes `None` plus a [`ParseWarning`] rather than losing the entry's
//! failure status.
//!
//! Import logs are read too: [`LogSummary::kind`] says [`JobKind::Import`] once an
//! `ImportDisposition` was seen, and the caller refuses them.

use crate::error::{Result, TextPos};
use crate::model::{BlobRef, BlobType, JobKind, LogAuxFile, LogBlob, LogRange, LogSummary, Md5};
use crate::status::{BlobStatus, DriveStatus, FileStatus, RangeStatus};
use crate::xml::{self, Element, ParseWarning, Warnings, XmlEvent, XmlReader};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Streams the blobs of a copy log.
pub struct CopyLogReader {
    xml: XmlReader,
    version: Option<String>,
    drive_id: String,
    status: Option<DriveStatus>,
    kind: JobKind,
    done: bool,
    warnings: Warnings,
}

impl std::fmt::Debug for CopyLogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyLogReader")
            .field("file", &self.xml.file())
            .field("drive_id", &self.drive_id)
            .field("status", &self.status)
            .field("kind", &self.kind)
            .finish()
    }
}

impl CopyLogReader {
    /// Opens a copy log and reads up to its `DriveId`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::start(XmlReader::open(path)?)
    }

    /// Reads a copy log from any buffered source; `display_path` names it in messages.
    pub fn from_reader(r: impl BufRead + Send + 'static, display_path: PathBuf) -> Result<Self> {
        Self::start(XmlReader::from_reader(Box::new(r), display_path)?)
    }

    pub fn drive_id(&self) -> &str {
        &self.drive_id
    }

    pub fn file(&self) -> &Path {
        self.xml.file()
    }

    /// What the log says about the drive. The drive `<Status>` comes after the blobs
    /// and the job kind shows in them, so both are final only after the iteration.
    pub fn summary(&self) -> LogSummary {
        LogSummary {
            version: self.version.clone(),
            drive_id: self.drive_id.clone(),
            status: self.status.clone(),
            kind: self.kind,
        }
    }

    /// Unusual but usable things seen so far (the first [`xml::MAX_WARNINGS`]).
    pub fn warnings(&self) -> &[ParseWarning] {
        self.warnings.kept()
    }

    pub fn warning_count(&self) -> u64 {
        self.warnings.total()
    }

    fn start(mut xml: XmlReader) -> Result<Self> {
        let root = xml.root_element("DriveLog")?;
        match root.name.as_str() {
            "DriveLog" => {}
            "DriveManifest" => {
                return Err(xml.malformed(
                    root.pos,
                    "this is a drive manifest, not a copy log: its root element is <DriveManifest>, a copy log's is <DriveLog>. Give it as the manifest instead",
                ))
            }
            other => {
                return Err(xml.malformed(
                    root.pos,
                    format!("expected <DriveLog> as the root element but found <{other}>; this is not a copy log"),
                ))
            }
        }
        let version = root.attr("Version").map(|v| xml::trim(v).to_string());
        if root.empty {
            return Err(xml.malformed(root.pos, "missing DriveId: <DriveLog/> is empty"));
        }
        let mut status = None;
        let drive_id = loop {
            match xml.next_event()? {
                XmlEvent::Start(el) => match el.name.as_str() {
                    "DriveId" => {
                        let id = xml.read_text(&el)?;
                        if id.is_empty() {
                            return Err(xml.malformed(el.pos, "DriveId is empty"));
                        }
                        break id;
                    }
                    "Blob" => return Err(xml.malformed(el.pos, "missing DriveId before the first Blob")),
                    "Status" => status = Some(DriveStatus::parse(&xml.read_text(&el)?)),
                    _ => xml.skip(&el)?,
                },
                XmlEvent::Text { .. } => {}
                XmlEvent::End { pos, .. } => return Err(xml.malformed(pos, "missing DriveId in <DriveLog>")),
                XmlEvent::Eof { pos } => return Err(xml.ends_inside(pos, "DriveLog")),
            }
        };
        Ok(CopyLogReader {
            xml,
            version,
            drive_id,
            status,
            kind: JobKind::Export,
            done: false,
            warnings: Warnings::default(),
        })
    }

    /// The outer `Result` is fatal; the inner one concerns a single blob.
    fn next_blob(&mut self) -> Result<Option<Result<LogBlob>>> {
        loop {
            match self.xml.next_event()? {
                XmlEvent::Start(el) => match el.name.as_str() {
                    "Blob" => return self.parse_blob(el).map(Some),
                    "Status" => self.status = Some(DriveStatus::parse(&self.xml.read_text(&el)?)),
                    "DriveId" => {
                        let again = self.xml.read_text(&el)?;
                        if again != self.drive_id {
                            return Err(self.xml.malformed(
                                el.pos,
                                format!("a second DriveId {again:?} differs from the first, {:?}", self.drive_id),
                            ));
                        }
                    }
                    _ => self.xml.skip(&el)?,
                },
                XmlEvent::Text { .. } => {}
                XmlEvent::End { .. } => {
                    self.done = true;
                    return Ok(None);
                }
                XmlEvent::Eof { pos } => return Err(self.xml.ends_inside(pos, "DriveLog")),
            }
        }
    }

    fn parse_blob(&mut self, el: Element) -> Result<Result<LogBlob>> {
        let mut d = Draft::new(el.pos);
        match el.attr("Status") {
            Some(s) if !xml::trim(s).is_empty() => d.status = Some(BlobStatus::parse(s)),
            _ => d.problem(el.pos, "the Blob has no Status attribute"),
        }
        if el.empty {
            d.problem(el.pos, "the Blob is empty: <Blob/> has no BlobPath or FilePath");
        } else {
            self.parse_blob_children(&mut d)?;
        }
        Ok(d.finish().map_err(|(pos, problem)| self.xml.malformed(pos, problem)))
    }

    fn parse_blob_children(&mut self, d: &mut Draft) -> Result<()> {
        loop {
            let c = match self.xml.next_event()? {
                XmlEvent::Start(c) => c,
                XmlEvent::Text { .. } => continue,
                XmlEvent::End { .. } => return Ok(()),
                XmlEvent::Eof { pos } => return Err(self.xml.ends_inside(pos, "Blob")),
            };
            match c.name.as_str() {
                "BlobPath" | "FilePath" | "Snapshot" | "LastModified" => {
                    let text = self.xml.read_text(&c)?;
                    let slot = match c.name.as_str() {
                        "BlobPath" => &mut d.blob_path,
                        "FilePath" => &mut d.file_path,
                        "Snapshot" => &mut d.snapshot,
                        _ => &mut d.last_modified,
                    };
                    if slot.is_some() {
                        d.problem(c.pos, format!("{} appears twice in one Blob", c.name));
                    } else if !text.is_empty() {
                        *slot = Some(text);
                    }
                }
                "Length" => {
                    let text = self.xml.read_text(&c)?;
                    match xml::parse_u64("Length", &text) {
                        Ok(n) => d.length = Some(n),
                        Err(problem) => d.problem(c.pos, problem),
                    }
                }
                "ImportDisposition" => {
                    self.kind = JobKind::Import;
                    let text = self.xml.read_text(&c)?;
                    let status = c.attr("Status").map(xml::trim).unwrap_or_default();
                    d.import_disposition = Some(if text.is_empty() { status.to_string() } else { text });
                }
                "BlockList" | "PageRangeList" => {
                    let kind = if c.name == "BlockList" { BlobType::Block } else { BlobType::Page };
                    if d.blob_type.is_some() {
                        d.problem(c.pos, "the Blob has more than one BlockList or PageRangeList");
                    }
                    d.blob_type = Some(kind);
                    self.parse_ranges(&c, kind, d)?;
                }
                "Metadata" | "Properties" => {
                    let aux = self.parse_aux(&c, d)?;
                    if c.name == "Metadata" {
                        d.metadata = aux;
                    } else {
                        d.properties = aux;
                    }
                }
                _ => self.xml.skip(&c)?,
            }
        }
    }

    fn parse_ranges(&mut self, list: &Element, kind: BlobType, d: &mut Draft) -> Result<()> {
        if list.empty {
            return Ok(());
        }
        let expected = match kind {
            BlobType::Block => "Block",
            BlobType::Page => "PageRange",
        };
        loop {
            match self.xml.next_event()? {
                XmlEvent::Start(c) if c.name == "Block" || c.name == "PageRange" => {
                    if c.name != expected {
                        d.problem(c.pos, format!("expected <{expected}> in <{}> but found <{}>", list.name, c.name));
                    } else {
                        match self.parse_range(&c) {
                            Ok(r) => d.ranges.push(r),
                            Err(problem) => d.problem(c.pos, problem),
                        }
                    }
                    self.xml.skip(&c)?;
                }
                XmlEvent::Start(c) => self.xml.skip(&c)?,
                XmlEvent::Text { .. } => {}
                XmlEvent::End { .. } => return Ok(()),
                XmlEvent::Eof { pos } => return Err(self.xml.ends_inside(pos, &list.name)),
            }
        }
    }

    fn parse_range(&mut self, el: &Element) -> std::result::Result<LogRange, String> {
        let number = |attr: &str| -> std::result::Result<u64, String> {
            match el.attr(attr) {
                Some(v) => xml::parse_u64(&format!("{} {attr}", el.name), v),
                None => Err(format!("{} has no {attr} attribute", el.name)),
            }
        };
        let offset = number("Offset")?;
        let length = number("Length")?;
        let status = match el.attr("Status") {
            Some(s) if !xml::trim(s).is_empty() => RangeStatus::parse(s),
            _ => return Err(format!("{} has no Status attribute", el.name)),
        };
        let hash = self.optional_hash(el);
        Ok(LogRange { offset, length, hash, status })
    }

    /// `<Metadata Status=..>` or `<Properties Status=..>` with an optional
    /// `<GlobalPath Hash=..>` or `<Path Hash=..>` child.
    fn parse_aux(&mut self, el: &Element, d: &mut Draft) -> Result<Option<LogAuxFile>> {
        let status = match el.attr("Status") {
            Some(s) if !xml::trim(s).is_empty() => Some(FileStatus::parse(s)),
            _ => {
                d.problem(el.pos, format!("{} has no Status attribute", el.name));
                None
            }
        };
        let (mut path, mut hash) = (None, None);
        if !el.empty {
            loop {
                match self.xml.next_event()? {
                    XmlEvent::Start(c) if c.name == "GlobalPath" || c.name == "Path" => {
                        hash = self.optional_hash(&c);
                        let text = self.xml.read_text(&c)?;
                        path = (!text.is_empty()).then_some(text);
                    }
                    XmlEvent::Start(c) => self.xml.skip(&c)?,
                    XmlEvent::Text { .. } => {}
                    XmlEvent::End { .. } => break,
                    XmlEvent::Eof { pos } => return Err(self.xml.ends_inside(pos, &el.name)),
                }
            }
        }
        Ok(status.map(|status| LogAuxFile { status, path, hash }))
    }

    fn optional_hash(&mut self, el: &Element) -> Option<Md5> {
        let raw = el.attr("Hash")?;
        let parsed = Md5::parse_hex(raw);
        if parsed.is_none() && !xml::trim(raw).is_empty() {
            self.warnings.push(
                el.pos,
                format!("{} Hash is not an MD5 (32 hex digits): {:?}; ignored", el.name, xml::trim(raw)),
            );
        }
        parsed
    }
}

impl Iterator for CopyLogReader {
    type Item = Result<LogBlob>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_blob() {
            Ok(item) => item,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A `<Blob>` being read.
struct Draft {
    pos: TextPos,
    status: Option<BlobStatus>,
    blob_path: Option<String>,
    file_path: Option<String>,
    snapshot: Option<String>,
    last_modified: Option<String>,
    length: Option<u64>,
    blob_type: Option<BlobType>,
    ranges: Vec<LogRange>,
    properties: Option<LogAuxFile>,
    metadata: Option<LogAuxFile>,
    import_disposition: Option<String>,
    problem: Option<(TextPos, String)>,
}

impl Draft {
    fn new(pos: TextPos) -> Self {
        Draft {
            pos,
            status: None,
            blob_path: None,
            file_path: None,
            snapshot: None,
            last_modified: None,
            length: None,
            blob_type: None,
            ranges: Vec::new(),
            properties: None,
            metadata: None,
            import_disposition: None,
            problem: None,
        }
    }

    fn problem(&mut self, pos: TextPos, problem: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some((pos, problem.into()));
        }
    }

    fn finish(self) -> std::result::Result<LogBlob, (TextPos, String)> {
        let name = self.blob_path.clone().unwrap_or_else(|| "(no BlobPath)".into());
        let in_blob = |(pos, problem): (TextPos, String)| (pos, format!("{problem} (in the Blob {name})"));
        if let Some(p) = self.problem {
            return Err(in_blob(p));
        }
        let missing = |what: &str| in_blob((self.pos, format!("the Blob has no {what}")));
        let blob_path = self.blob_path.ok_or_else(|| missing("BlobPath"))?;
        let file_path = self.file_path.ok_or_else(|| missing("FilePath"))?;
        let status = self.status.ok_or_else(|| missing("Status"))?;
        Ok(LogBlob {
            blob: BlobRef { path: blob_path, snapshot: self.snapshot },
            status,
            file_path,
            length: self.length,
            last_modified: self.last_modified,
            blob_type: self.blob_type,
            ranges: self.ranges,
            properties: self.properties,
            metadata: self.metadata,
            import_disposition: self.import_disposition,
            line: self.pos.line,
        })
    }
}

/// Reads a whole copy log. Any error, including one in a single blob, fails the
/// whole read: the copy log decides what gets repaired, so an entry must not be
/// dropped silently. Error logs are small; a verbose log of millions of blobs is
/// better read with [`CopyLogReader`].
pub fn read_copy_log(path: &Path) -> Result<(LogSummary, Vec<LogBlob>)> {
    let mut reader = CopyLogReader::open(path)?;
    let blobs = reader.by_ref().collect::<Result<Vec<_>>>()?;
    Ok((reader.summary(), blobs))
}

/// Writes a copy log in the service's shape (CRLF line endings). Used by tests and
/// the drive generator; the reader reads back everything it writes.
pub struct CopyLogWriter<W: Write> {
    w: W,
}

impl<W: Write> CopyLogWriter<W> {
    /// `version` is `None` for the published seed's shape, which has no Version attribute.
    pub fn new(mut w: W, drive_id: &str, version: Option<&str>) -> std::io::Result<Self> {
        w.write_all(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<DriveLog")?;
        if let Some(v) = version {
            write!(w, " Version=\"{}\"", xml::escape_attr(v))?;
        }
        write!(w, ">\r\n  <DriveId>{}</DriveId>\r\n", xml::escape_text(drive_id))?;
        Ok(CopyLogWriter { w })
    }

    pub fn write_blob(&mut self, b: &LogBlob) -> std::io::Result<()> {
        let w = &mut self.w;
        write!(w, "  <Blob Status=\"{}\">\r\n", xml::escape_attr(b.status.as_str()))?;
        write!(w, "    <BlobPath>{}</BlobPath>\r\n", xml::escape_text(&b.blob.path))?;
        write!(w, "    <FilePath>{}</FilePath>\r\n", xml::escape_text(&b.file_path))?;
        if let Some(s) = &b.blob.snapshot {
            write!(w, "    <Snapshot>{}</Snapshot>\r\n", xml::escape_text(s))?;
        }
        if let Some(t) = &b.last_modified {
            write!(w, "    <LastModified>{}</LastModified>\r\n", xml::escape_text(t))?;
        }
        if let Some(n) = b.length {
            write!(w, "    <Length>{n}</Length>\r\n")?;
        }
        if let Some(d) = &b.import_disposition {
            write!(w, "    <ImportDisposition>{}</ImportDisposition>\r\n", xml::escape_text(d))?;
        }
        if let Some(kind) = b.blob_type {
            let (list, item) = match kind {
                BlobType::Block => ("BlockList", "Block"),
                BlobType::Page => ("PageRangeList", "PageRange"),
            };
            if b.ranges.is_empty() {
                write!(w, "    <{list} />\r\n")?;
            } else {
                write!(w, "    <{list}>\r\n")?;
                for r in &b.ranges {
                    write!(w, "      <{item} Offset=\"{}\" Length=\"{}\"", r.offset, r.length)?;
                    if let Some(h) = &r.hash {
                        write!(w, " Hash=\"{h}\"")?;
                    }
                    write!(w, " Status=\"{}\" />\r\n", xml::escape_attr(r.status.as_str()))?;
                }
                write!(w, "    </{list}>\r\n")?;
            }
        }
        for (name, aux) in [("Metadata", &b.metadata), ("Properties", &b.properties)] {
            let Some(aux) = aux else { continue };
            write!(w, "    <{name} Status=\"{}\"", xml::escape_attr(aux.status.as_str()))?;
            match &aux.path {
                None => w.write_all(b" />\r\n")?,
                Some(path) => {
                    w.write_all(b">\r\n      <Path")?;
                    if let Some(h) = &aux.hash {
                        write!(w, " Hash=\"{h}\"")?;
                    }
                    write!(w, ">{}</Path>\r\n    </{name}>\r\n", xml::escape_text(path))?;
                }
            }
        }
        w.write_all(b"  </Blob>\r\n")
    }

    /// Writes the drive `<Status>` (if any), closes the document, flushes and hands
    /// back the writer.
    pub fn finish(mut self, status: Option<&DriveStatus>) -> std::io::Result<W> {
        if let Some(s) = status {
            write!(self.w, "  <Status>{}</Status>\r\n", xml::escape_text(s.as_str()))?;
        }
        self.w.write_all(b"</DriveLog>\r\n")?;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EngineError;
    use std::io::Cursor;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference").join(name)
    }

    fn from_str(text: &str) -> Result<CopyLogReader> {
        CopyLogReader::from_reader(Cursor::new(text.as_bytes().to_vec()), "test-log.xml".into())
    }

    fn problem(e: &EngineError) -> (TextPos, &str) {
        match e {
            EngineError::Malformed { pos, problem, .. } => (*pos, problem.as_str()),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn export_seed_log_has_one_failed_block_without_hash() {
        let (summary, blobs) = read_copy_log(&fixture("export-copylog-seed.xml")).unwrap();
        assert_eq!(
            summary,
            LogSummary {
                version: None,
                drive_id: "9WM35C2V".into(),
                status: Some(DriveStatus::CompletedWithErrors),
                kind: JobKind::Export,
            }
        );
        assert_eq!(blobs.len(), 1);
        let b = &blobs[0];
        assert_eq!(b.blob, BlobRef { path: "pictures/wild/desert.jpg".into(), snapshot: None });
        assert_eq!(b.status, BlobStatus::CompletedWithErrors);
        assert_eq!(b.file_path, r"\pictures\wild\desert.jpg");
        assert_eq!(b.last_modified.as_deref(), Some("2012-09-18T23:47:08Z"));
        assert_eq!(b.length, Some(163840));
        assert_eq!(b.blob_type, Some(BlobType::Block));
        assert_eq!(
            b.ranges,
            vec![LogRange { offset: 65536, length: 65536, hash: None, status: RangeStatus::Failed }]
        );
        assert_eq!(b.line, 4);
        assert!(!b.needs_whole_blob());
        assert!(!b.only_aux_failed());
    }

    #[test]
    fn verbose_docs_log_has_padded_hashes_and_is_an_import_log() {
        let mut r = CopyLogReader::open(&fixture("verbose-log-docs.xml")).unwrap();
        assert_eq!(r.drive_id(), "WD-WMATV123456");
        assert_eq!(r.summary().status, None, "the drive status comes after the blobs");
        let blobs: Vec<LogBlob> = r.by_ref().collect::<Result<_>>().unwrap();
        let summary = r.summary();
        assert_eq!(summary.version.as_deref(), Some("2014-11-01"));
        assert_eq!(summary.status, Some(DriveStatus::CompletedWithErrors));
        assert_eq!(summary.kind, JobKind::Import);
        assert!(r.warnings().is_empty());

        let desert = &blobs[0];
        assert_eq!(desert.status, BlobStatus::Completed);
        assert_eq!(desert.import_disposition.as_deref(), Some("overwrite"));
        assert_eq!(desert.ranges.len(), 2);
        assert_eq!(desert.ranges[0].hash.unwrap().to_hex(), "9C8AE14A55241F98533C4D80D85CDC68");
        assert_eq!(desert.ranges[1].hash.unwrap().to_hex(), "DF54C531C9B3CA2570FDDDB3BCD0E27D");
        let meta = desert.metadata.as_ref().unwrap();
        assert_eq!(meta.status, FileStatus::Completed);
        assert_eq!(meta.path.as_deref(), Some(r"\Users\bob\Pictures\wild\metadata.xml"));
        assert_eq!(meta.hash.unwrap().to_hex(), "E34F54B7086BCF4EC1601D056F4C7E37");
        assert!(!desert.needs_whole_blob());

        let koala = &blobs[1];
        assert_eq!(koala.blob_type, Some(BlobType::Page));
        assert_eq!(koala.ranges.len(), 3);
        assert_eq!(koala.ranges[1].status, RangeStatus::Corrupted);
        assert_eq!(koala.ranges[2], LogRange {
            offset: 131072,
            length: 4096,
            hash: Md5::parse_hex("9BA552E1C3EEAFFC91B42B979900A996"),
            status: RangeStatus::Completed,
        });
        let props = koala.properties.as_ref().unwrap();
        assert_eq!(props.path.as_deref(), Some(r"\Users\bob\Pictures\animals\koala.jpg.properties"));
        assert_eq!(props.hash.unwrap().to_hex(), "38D7AE80653F47F63C0222FEE90EC4E7");
        assert!(!koala.needs_whole_blob(), "a corrupted range is fetched alone");
    }

    #[test]
    fn export_properties_error_log_only_needs_the_properties_file() {
        let (summary, blobs) = read_copy_log(&fixture("error-log-export-properties-docs.xml")).unwrap();
        assert_eq!(summary.kind, JobKind::Export);
        assert_eq!(summary.drive_id, "9WM35C3U");
        let b = &blobs[0];
        assert_eq!(b.blob_type, Some(BlobType::Block));
        assert!(b.ranges.is_empty());
        assert_eq!(b.properties, Some(LogAuxFile { status: FileStatus::Failed, path: None, hash: None }));
        assert!(b.only_aux_failed());
        assert!(!b.needs_whole_blob());
    }

    #[test]
    fn import_error_log_is_read_and_says_import() {
        let (summary, blobs) = read_copy_log(&fixture("error-log-import-docs.xml")).unwrap();
        assert_eq!(summary.kind, JobKind::Import);
        assert_eq!(summary.drive_id, "9WM35C2V");
        let b = &blobs[0];
        assert_eq!(b.status, BlobStatus::FileNotFound);
        assert_eq!(b.import_disposition.as_deref(), Some("rename"));
        assert_eq!(b.ranges.len(), 5);
        assert!(b.ranges.iter().all(|r| r.status == RangeStatus::Cancelled && r.hash.is_some()));
    }

    #[test]
    fn manifest_given_as_copy_log_says_so() {
        let err = CopyLogReader::open(&fixture("export-manifest-seed.xml")).unwrap_err();
        let (pos, text) = problem(&err);
        assert!(text.contains("this is a drive manifest, not a copy log"), "{text}");
        assert_eq!(pos, TextPos { line: 2, column: 1 });
    }

    #[test]
    fn whole_blob_failure_without_list_needs_the_whole_blob() {
        let text = "<DriveLog Version=\"2014-11-01\"><DriveId>D</DriveId><Blob Status=\"BlobRequestFailed\"><BlobPath>c/b</BlobPath><FilePath>\\c\\b</FilePath><Length>10</Length></Blob><Status>CompletedWithErrors</Status></DriveLog>";
        let b = from_str(text).unwrap().next().unwrap().unwrap();
        assert_eq!(b.blob_type, None);
        assert!(b.needs_whole_blob());
    }

    #[test]
    fn bom_crlf_lower_case_hashes_unknown_elements_and_bad_hash_warning() {
        let text = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<DriveLog>\r\n<Mystery><x/></Mystery>\r\n<DriveId>D</DriveId>\r\n<Blob Status=\"CompletedWithErrors\">\r\n<BlobPath>c/b</BlobPath>\r\n<FilePath>\\c\\b</FilePath>\r\n<Snapshot>2024-05-01T10:00:00.1234567Z</Snapshot>\r\n<NewField>1</NewField>\r\n<PageRangeList>\r\n<PageRange Offset=\"0\" Length=\"512\" Hash=\"9c8ae14a55241f98533c4d80d85cdc68\" Status=\"Failed\"/>\r\n<PageRange Offset=\"512\" Length=\"512\" Hash=\"nothex\" Status=\"IOFailed\"/>\r\n</PageRangeList>\r\n<Metadata Status=\"XmlWriteFailed\"><Path>\\c\\b.metadata</Path></Metadata>\r\n</Blob>\r\n</DriveLog>";
        let mut r = from_str(text).unwrap();
        let b = r.next().unwrap().unwrap();
        assert!(r.next().is_none());
        assert_eq!(b.line, 5);
        assert_eq!(b.length, None);
        assert_eq!(b.blob.snapshot.as_deref(), Some("2024-05-01T10:00:00.1234567Z"));
        assert_eq!(b.ranges[0].hash.unwrap().to_hex(), "9C8AE14A55241F98533C4D80D85CDC68");
        assert_eq!(b.ranges[1].hash, None);
        assert_eq!(b.ranges[1].status, RangeStatus::IOFailed);
        assert_eq!(r.warning_count(), 1);
        assert_eq!(r.warnings()[0].pos.line, 12);
        assert_eq!(b.metadata.as_ref().unwrap().status, FileStatus::XmlWriteFailed);
        assert_eq!(r.summary().status, None);
        assert_eq!(r.summary().version, None);
    }

    #[test]
    fn blob_without_status_is_an_error_and_the_next_blob_still_comes() {
        let text = "<DriveLog><DriveId>D</DriveId>\n<Blob><BlobPath>a</BlobPath><FilePath>a</FilePath></Blob>\n<Blob Status=\"Failed\"><BlobPath>b</BlobPath><FilePath>b</FilePath></Blob></DriveLog>";
        let got: Vec<_> = from_str(text).unwrap().collect();
        let (pos, msg) = problem(got[0].as_ref().unwrap_err());
        assert!(msg.contains("no Status attribute"), "{msg}");
        assert_eq!(pos.line, 2);
        assert_eq!(got[1].as_ref().unwrap().blob.path, "b");
        // read_copy_log refuses to drop an entry silently.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.xml");
        std::fs::write(&path, text).unwrap();
        assert!(read_copy_log(&path).is_err());
    }

    #[test]
    fn range_without_status_or_with_bad_offset_is_an_error() {
        let text = "<DriveLog><DriveId>D</DriveId><Blob Status=\"Failed\"><BlobPath>a</BlobPath><FilePath>a</FilePath><BlockList><Block Offset=\"0\" Length=\"1\"/></BlockList></Blob></DriveLog>";
        let err = from_str(text).unwrap().next().unwrap().unwrap_err();
        assert!(problem(&err).1.contains("Block has no Status attribute"));
        let text = "<DriveLog><DriveId>D</DriveId><Blob Status=\"Failed\"><BlobPath>a</BlobPath><FilePath>a</FilePath><BlockList><Block Offset=\"1e3\" Length=\"1\" Status=\"Failed\"/></BlockList></Blob></DriveLog>";
        let err = from_str(text).unwrap().next().unwrap().unwrap_err();
        assert!(problem(&err).1.contains("Block Offset is not a number: \"1e3\""));
    }

    #[test]
    fn cut_off_log_is_an_error() {
        let text = "<DriveLog><DriveId>D</DriveId>\n<Blob Status=\"Failed\"><BlobPath>a</BlobPath>";
        let mut r = from_str(text).unwrap();
        let err = r.next().unwrap().unwrap_err();
        assert!(problem(&err).1.contains("ends inside <Blob>"));
        assert!(r.next().is_none());
    }

    #[test]
    fn drive_id_must_come_before_blobs() {
        let err = from_str("<DriveLog>\n  <Blob Status=\"Failed\"/></DriveLog>").unwrap_err();
        assert_eq!(problem(&err), (TextPos { line: 2, column: 3 }, "missing DriveId before the first Blob"));
    }

    #[test]
    fn writer_output_round_trips_through_the_reader() {
        let blobs_in = vec![
            LogBlob {
                blob: BlobRef { path: "photos/été & co.txt".into(), snapshot: Some("2024-05-01T10:00:00.1234567Z".into()) },
                status: BlobStatus::CompletedWithErrors,
                file_path: "\\photos\\été & co.txt".into(),
                length: Some(8192),
                last_modified: Some("2012-09-18T23:47:08Z".into()),
                blob_type: Some(BlobType::Block),
                ranges: vec![LogRange { offset: 4096, length: 4096, hash: Some(Md5::of(b"x")), status: RangeStatus::Failed }],
                properties: Some(LogAuxFile { status: FileStatus::Failed, path: None, hash: None }),
                metadata: Some(LogAuxFile { status: FileStatus::Completed, path: Some("\\photos\\m".into()), hash: Some(Md5::of(b"m")) }),
                import_disposition: None,
                line: 0,
            },
            LogBlob {
                blob: BlobRef { path: "c/whole".into(), snapshot: None },
                status: BlobStatus::BlobRequestFailed,
                file_path: "\\c\\whole".into(),
                length: Some(5),
                last_modified: None,
                blob_type: None,
                ranges: vec![],
                properties: None,
                metadata: None,
                import_disposition: None,
                line: 0,
            },
            LogBlob {
                blob: BlobRef { path: "c/p".into(), snapshot: None },
                status: BlobStatus::CompletedWithErrors,
                file_path: "\\c\\p".into(),
                length: Some(1024),
                last_modified: None,
                blob_type: Some(BlobType::Page),
                ranges: vec![],
                properties: Some(LogAuxFile { status: FileStatus::Failed, path: None, hash: None }),
                metadata: None,
                import_disposition: None,
                line: 0,
            },
        ];
        let mut w = CopyLogWriter::new(Vec::new(), "9WM35C2V", Some("2014-11-01")).unwrap();
        for b in &blobs_in {
            w.write_blob(b).unwrap();
        }
        let text = String::from_utf8(w.finish(Some(&DriveStatus::CompletedWithErrors)).unwrap()).unwrap();
        let mut r = from_str(&text).unwrap();
        let back: Vec<LogBlob> = r.by_ref().collect::<Result<_>>().unwrap();
        for (a, b) in blobs_in.iter().zip(&back) {
            assert_eq!(LogBlob { line: b.line, ..a.clone() }, *b);
        }
        assert_eq!(back.len(), 3);
        assert_eq!(back[0].line, 4);
        assert_eq!(r.summary(), LogSummary {
            version: Some("2014-11-01".into()),
            drive_id: "9WM35C2V".into(),
            status: Some(DriveStatus::CompletedWithErrors),
            kind: JobKind::Export,
        });
        assert!(back[2].only_aux_failed());

        // No Version attribute, like the seed.
        let w = CopyLogWriter::new(Vec::new(), "D", None).unwrap();
        let text = String::from_utf8(w.finish(None).unwrap()).unwrap();
        let r = from_str(&text).unwrap();
        assert_eq!(r.summary().version, None);
    }
}
