//! The drive manifest (`<DriveId>.manifest`, FORMATS.md §1), read as a stream: one
//! [`ManifestBlob`] at a time, so a manifest of hundreds of MB never sits in memory.
//!
//! Errors come in two weights:
//! - A document that cannot be read on (not well formed, cut off, wrong root, an
//!   import manifest) ends the iteration: the reader yields that error, then `None`.
//! - A `<Blob>` whose contents are unusable (a number that is not a number, a hash
//!   that is not 32 hex digits, a block list with gaps or overlaps or that does not
//!   cover `Length`, page ranges off the 512-byte grid or past the end) is yielded as
//!   one `Err` naming its line and column; the iteration goes on with the next blob,
//!   so one bad entry does not hide the other million.
//! - Things that are unusual but usable (a block or page range over 4 MiB) are
//!   [`ParseWarning`]s, available from [`ManifestReader::warnings`].
//!
//! A manifest range without `Hash` is unusable (nothing to verify it against), so
//! every range the reader yields has `hash: Some(..)`.

use crate::error::{EngineError, Result, TextPos};
use crate::model::{AuxFile, BlobRef, BlobType, ManifestBlob, ManifestHeader, Md5, Range};
use crate::xml::{self, Element, ParseWarning, Warnings, XmlEvent, XmlReader};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

pub use crate::xml::sniff_root;

/// The documented maximum block and page-range length. Bigger ones are legal but unusual.
pub const MAX_RANGE_LENGTH: u64 = 4 * 1024 * 1024;
pub const PAGE_SIZE: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Inside `<Drive>`, after `DriveId`.
    InDrive,
    InBlobList,
    /// After `</Drive>`, before `</DriveManifest>`.
    AfterDrive,
    Done,
}

/// Streams the blobs of a drive manifest.
pub struct ManifestReader {
    xml: XmlReader,
    header: ManifestHeader,
    state: State,
    warnings: Warnings,
    blobs_read: u64,
}

impl std::fmt::Debug for ManifestReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestReader")
            .field("file", &self.xml.file())
            .field("header", &self.header)
            .field("blobs_read", &self.blobs_read)
            .finish()
    }
}

impl ManifestReader {
    /// Opens a manifest and reads up to its `DriveId`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::start(XmlReader::open(path)?)
    }

    /// Reads a manifest from any buffered source; `display_path` names it in messages.
    pub fn from_reader(r: impl BufRead + Send + 'static, display_path: PathBuf) -> Result<Self> {
        Self::start(XmlReader::from_reader(Box::new(r), display_path)?)
    }

    pub fn header(&self) -> &ManifestHeader {
        &self.header
    }

    /// Unusual but usable things seen so far (the first [`xml::MAX_WARNINGS`]).
    pub fn warnings(&self) -> &[ParseWarning] {
        self.warnings.kept()
    }

    /// How many warnings there were so far, including those not kept.
    pub fn warning_count(&self) -> u64 {
        self.warnings.total()
    }

    /// How many `<Blob>` elements were read so far (good or bad).
    pub fn blobs_read(&self) -> u64 {
        self.blobs_read
    }

    pub fn file(&self) -> &Path {
        self.xml.file()
    }

    fn start(mut xml: XmlReader) -> Result<Self> {
        let root = xml.root_element("DriveManifest")?;
        match root.name.as_str() {
            "DriveManifest" => {}
            "DriveLog" => {
                return Err(xml.malformed(
                    root.pos,
                    "this is a copy log, not a manifest: its root element is <DriveLog>, a manifest's is <DriveManifest>. Give it as the copy log instead",
                ))
            }
            other => {
                return Err(xml.malformed(
                    root.pos,
                    format!("expected <DriveManifest> as the root element but found <{other}>; this is not a drive manifest"),
                ))
            }
        }
        let version = root.attr("Version").map(|v| xml::trim(v).to_string());
        if root.empty {
            return Err(xml.malformed(root.pos, "the manifest is empty: <DriveManifest/> has no <Drive>"));
        }
        loop {
            match xml.next_event()? {
                XmlEvent::Start(el) if el.name == "Drive" => {
                    if el.empty {
                        return Err(xml.malformed(el.pos, "missing DriveId: <Drive/> is empty"));
                    }
                    break;
                }
                XmlEvent::Start(el) => xml.skip(&el)?,
                XmlEvent::Text { .. } => {}
                XmlEvent::End { pos, .. } => {
                    return Err(xml.malformed(pos, "missing <Drive> in <DriveManifest>"))
                }
                XmlEvent::Eof { pos } => return Err(xml.ends_inside(pos, "DriveManifest")),
            }
        }
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
                    "BlobList" => {
                        return Err(xml.malformed(el.pos, "missing DriveId before BlobList"));
                    }
                    "StorageAccountKey" | "ContainerSas" => return Err(import_manifest(&xml)),
                    _ => xml.skip(&el)?,
                },
                XmlEvent::Text { .. } => {}
                XmlEvent::End { pos, .. } => return Err(xml.malformed(pos, "missing DriveId in <Drive>")),
                XmlEvent::Eof { pos } => return Err(xml.ends_inside(pos, "Drive")),
            }
        };
        Ok(ManifestReader {
            xml,
            header: ManifestHeader { version, drive_id },
            state: State::InDrive,
            warnings: Warnings::default(),
            blobs_read: 0,
        })
    }

    /// The outer `Result` is fatal; the inner one concerns a single blob.
    fn next_blob(&mut self) -> Result<Option<Result<ManifestBlob>>> {
        loop {
            let event = self.xml.next_event()?;
            match (self.state, event) {
                (_, XmlEvent::Text { .. }) => {}
                (State::InDrive, XmlEvent::Start(el)) => match el.name.as_str() {
                    "BlobList" => {
                        if !el.empty {
                            self.state = State::InBlobList;
                        }
                    }
                    "StorageAccountKey" | "ContainerSas" => return Err(import_manifest(&self.xml)),
                    "DriveId" => {
                        let again = self.xml.read_text(&el)?;
                        if again != self.header.drive_id {
                            return Err(self.xml.malformed(
                                el.pos,
                                format!(
                                    "a second DriveId {again:?} differs from the first, {:?}",
                                    self.header.drive_id
                                ),
                            ));
                        }
                    }
                    _ => self.xml.skip(&el)?,
                },
                (State::InDrive, XmlEvent::End { .. }) => self.state = State::AfterDrive,
                (State::InBlobList, XmlEvent::Start(el)) => match el.name.as_str() {
                    "Blob" => {
                        self.blobs_read += 1;
                        return self.parse_blob(el).map(Some);
                    }
                    // Global to the list: only import manifests have them.
                    "MetadataPath" | "PropertiesPath" => return Err(import_manifest(&self.xml)),
                    _ => self.xml.skip(&el)?,
                },
                (State::InBlobList, XmlEvent::End { .. }) => self.state = State::InDrive,
                (State::AfterDrive, XmlEvent::Start(el)) => self.xml.skip(&el)?,
                (State::AfterDrive, XmlEvent::End { .. }) => {
                    self.state = State::Done;
                    return Ok(None);
                }
                (state, XmlEvent::Eof { pos }) => {
                    let inside = match state {
                        State::InBlobList => "BlobList",
                        State::InDrive => "Drive",
                        _ => "DriveManifest",
                    };
                    return Err(self.xml.ends_inside(pos, inside));
                }
                (State::Done, _) => return Ok(None),
            }
        }
    }

    fn parse_blob(&mut self, el: Element) -> Result<Result<ManifestBlob>> {
        let mut draft = BlobDraft::new(el.pos);
        if el.empty {
            draft.problem(el.pos, "the Blob is empty: <Blob/> has no BlobPath, FilePath or Length");
            return Ok(Err(self.xml.malformed(el.pos, draft.problem.unwrap().1)));
        }
        loop {
            match self.xml.next_event()? {
                XmlEvent::Start(c) => match c.name.as_str() {
                    "BlobPath" => {
                        let t = self.xml.read_text(&c)?;
                        draft.set_text(&c, "BlobPath", t, |d| &mut d.blob_path);
                    }
                    "FilePath" => {
                        let t = self.xml.read_text(&c)?;
                        draft.set_text(&c, "FilePath", t, |d| &mut d.file_path);
                    }
                    "Snapshot" => {
                        let t = self.xml.read_text(&c)?;
                        draft.set_text(&c, "Snapshot", t, |d| &mut d.snapshot);
                    }
                    "Length" => {
                        let t = self.xml.read_text(&c)?;
                        match xml::parse_u64("Length", &t) {
                            Ok(_) if draft.length.is_some() => {
                                draft.problem(c.pos, "Length appears twice in one Blob");
                            }
                            Ok(n) => draft.length = Some(n),
                            Err(problem) => draft.problem(c.pos, problem),
                        }
                    }
                    "ImportDisposition" => return Err(import_manifest(&self.xml)),
                    "BlockList" | "PageRangeList" => {
                        let kind = if c.name == "BlockList" { BlobType::Block } else { BlobType::Page };
                        if draft.blob_type.is_some() {
                            draft.problem(c.pos, "the Blob has more than one BlockList or PageRangeList");
                        }
                        draft.blob_type = Some(kind);
                        self.parse_ranges(&c, kind, &mut draft)?;
                    }
                    "MetadataPath" | "PropertiesPath" => {
                        let hash = match c.attr("Hash") {
                            Some(h) => match Md5::parse_hex(h) {
                                Some(m) => Some(m),
                                None => {
                                    draft.problem(c.pos, bad_hash(&c.name, h));
                                    None
                                }
                            },
                            None => None,
                        };
                        let path = self.xml.read_text(&c)?;
                        if path.is_empty() {
                            draft.problem(c.pos, format!("{} is empty", c.name));
                        }
                        let aux = Some(AuxFile { path, hash });
                        if c.name == "MetadataPath" {
                            draft.metadata = aux;
                        } else {
                            draft.properties = aux;
                        }
                    }
                    _ => self.xml.skip(&c)?,
                },
                XmlEvent::Text { .. } => {}
                XmlEvent::End { .. } => break,
                XmlEvent::Eof { pos } => return Err(self.xml.ends_inside(pos, "Blob")),
            }
        }
        Ok(draft.finish(&mut self.warnings).map_err(|(pos, problem)| self.xml.malformed(pos, problem)))
    }

    fn parse_ranges(&mut self, list: &Element, kind: BlobType, draft: &mut BlobDraft) -> Result<()> {
        if list.empty {
            return Ok(());
        }
        let (expected, other) = match kind {
            BlobType::Block => ("Block", "PageRange"),
            BlobType::Page => ("PageRange", "Block"),
        };
        loop {
            match self.xml.next_event()? {
                XmlEvent::Start(c) if c.name == expected => {
                    match parse_range(&c) {
                        Ok(range) => draft.ranges.push((range, c.pos)),
                        Err(problem) => draft.problem(c.pos, problem),
                    }
                    self.xml.skip(&c)?;
                }
                XmlEvent::Start(c) if c.name == other => {
                    draft.problem(c.pos, format!("expected <{expected}> in <{}> but found <{other}>", list.name));
                    self.xml.skip(&c)?;
                }
                XmlEvent::Start(c) => self.xml.skip(&c)?,
                XmlEvent::Text { .. } => {}
                XmlEvent::End { .. } => return Ok(()),
                XmlEvent::Eof { pos } => return Err(self.xml.ends_inside(pos, &list.name)),
            }
        }
    }

    /// Capacity of the reader's event buffer, for tests that check memory stays flat.
    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.xml.buffer_capacity()
    }
}

impl Iterator for ManifestReader {
    type Item = Result<ManifestBlob>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == State::Done {
            return None;
        }
        match self.next_blob() {
            Ok(item) => item,
            Err(e) => {
                self.state = State::Done;
                Some(Err(e))
            }
        }
    }
}

fn import_manifest(xml: &XmlReader) -> EngineError {
    EngineError::ImportNotSupported { file: xml.file().to_path_buf(), what: "manifest" }
}

fn bad_hash(what: &str, value: &str) -> String {
    format!("{what} Hash is not an MD5 (32 hex digits): {:?}", value.trim())
}

fn parse_range(el: &Element) -> std::result::Result<Range, String> {
    let number = |attr: &str| -> std::result::Result<u64, String> {
        match el.attr(attr) {
            Some(v) => xml::parse_u64(&format!("{} {attr}", el.name), v),
            None => Err(format!("{} has no {attr} attribute", el.name)),
        }
    };
    let offset = number("Offset")?;
    let length = number("Length")?;
    let hash = match el.attr("Hash") {
        Some(h) => Md5::parse_hex(h).ok_or_else(|| bad_hash(&el.name, h))?,
        None => return Err(format!("{} has no Hash attribute, so it cannot be verified", el.name)),
    };
    if offset.checked_add(length).is_none() {
        return Err(format!("{} at offset {offset} with length {length} is beyond any possible blob", el.name));
    }
    Ok(Range { offset, length, hash: Some(hash) })
}

/// A `<Blob>` being read: everything optional until `finish` checks it.
struct BlobDraft {
    pos: TextPos,
    blob_path: Option<String>,
    file_path: Option<String>,
    snapshot: Option<String>,
    length: Option<u64>,
    blob_type: Option<BlobType>,
    ranges: Vec<(Range, TextPos)>,
    properties: Option<AuxFile>,
    metadata: Option<AuxFile>,
    /// The first problem found; the rest of the blob is still read to stay in step.
    problem: Option<(TextPos, String)>,
}

impl BlobDraft {
    fn new(pos: TextPos) -> Self {
        BlobDraft {
            pos,
            blob_path: None,
            file_path: None,
            snapshot: None,
            length: None,
            blob_type: None,
            ranges: Vec::new(),
            properties: None,
            metadata: None,
            problem: None,
        }
    }

    fn problem(&mut self, pos: TextPos, problem: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some((pos, problem.into()));
        }
    }

    fn set_text(
        &mut self,
        el: &Element,
        what: &str,
        value: String,
        field: impl FnOnce(&mut Self) -> &mut Option<String>,
    ) {
        if value.is_empty() {
            self.problem(el.pos, format!("{what} is empty"));
            return;
        }
        let slot = field(self);
        if slot.is_some() {
            self.problem(el.pos, format!("{what} appears twice in one Blob"));
        } else {
            *slot = Some(value);
        }
    }

    fn finish(self, warnings: &mut Warnings) -> std::result::Result<ManifestBlob, (TextPos, String)> {
        let name = self.blob_path.clone().unwrap_or_else(|| "(no BlobPath)".into());
        let in_blob = |(pos, problem): (TextPos, String)| (pos, format!("{problem} (in the Blob {name})"));
        if let Some(p) = self.problem {
            return Err(in_blob(p));
        }
        let missing = |what: &str| in_blob((self.pos, format!("the Blob has no {what}")));
        let blob_path = self.blob_path.ok_or_else(|| missing("BlobPath"))?;
        let file_path = self.file_path.ok_or_else(|| missing("FilePath"))?;
        let length = self.length.ok_or_else(|| missing("Length"))?;
        let blob_type = match self.blob_type {
            Some(t) => t,
            // An empty blob has nothing to list.
            None if length == 0 => BlobType::Block,
            None => return Err(missing("BlockList or PageRangeList")),
        };
        match blob_type {
            BlobType::Block => check_blocks(&self.ranges, length, warnings),
            BlobType::Page => check_page_ranges(&self.ranges, length, self.pos, warnings),
        }
        .map_err(in_blob)?;
        Ok(ManifestBlob {
            blob: BlobRef { path: blob_path, snapshot: self.snapshot },
            file_path,
            length,
            blob_type,
            ranges: self.ranges.into_iter().map(|(r, _)| r).collect(),
            properties: self.properties,
            metadata: self.metadata,
            line: self.pos.line,
        })
    }
}

/// Blocks must follow each other from offset 0 without gaps or overlaps and end at
/// `Length`: otherwise some bytes of the file could not be verified or repaired.
fn check_blocks(
    ranges: &[(Range, TextPos)],
    length: u64,
    warnings: &mut Warnings,
) -> std::result::Result<(), (TextPos, String)> {
    let mut expected = 0u64;
    for (r, pos) in ranges {
        if r.offset > expected {
            return Err((*pos, format!(
                "Block at offset {} leaves a gap: the blocks before it end at {expected}; blocks must follow each other without gaps",
                r.offset
            )));
        }
        if r.offset < expected {
            return Err((*pos, format!(
                "Block at offset {} overlaps the block before it, which ends at {expected}; blocks must be sorted by offset without overlaps",
                r.offset
            )));
        }
        if r.length > MAX_RANGE_LENGTH {
            warnings.push(*pos, format!("Block at offset {} is {} bytes, over the documented 4 MiB", r.offset, r.length));
        }
        expected = r.end();
    }
    if expected != length {
        let pos = ranges.last().map_or_else(TextPos::default, |(_, p)| *p);
        return Err((pos, format!("the blocks cover {expected} bytes but the blob Length is {length}")));
    }
    Ok(())
}

/// Page ranges must sit on the 512-byte page grid, be sorted without overlaps and end
/// within the blob, whose length is itself a multiple of 512.
// `u64::is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
#[allow(unknown_lints, clippy::manual_is_multiple_of)]
fn check_page_ranges(
    ranges: &[(Range, TextPos)],
    length: u64,
    blob_pos: TextPos,
    warnings: &mut Warnings,
) -> std::result::Result<(), (TextPos, String)> {
    if length % PAGE_SIZE != 0 {
        return Err((blob_pos, format!("the page blob Length {length} is not a multiple of 512")));
    }
    let mut prev_end = 0u64;
    for (r, pos) in ranges {
        if r.offset % PAGE_SIZE != 0 || r.length % PAGE_SIZE != 0 || r.length == 0 {
            return Err((*pos, format!(
                "PageRange at offset {} with length {} is not aligned to 512-byte pages",
                r.offset, r.length
            )));
        }
        if r.offset < prev_end {
            return Err((*pos, format!(
                "PageRange at offset {} overlaps the range before it, which ends at {prev_end}; ranges must be sorted without overlaps",
                r.offset
            )));
        }
        if r.end() > length {
            return Err((*pos, format!(
                "PageRange at offset {} ends at {}, past the blob Length {length}",
                r.offset,
                r.end()
            )));
        }
        if r.length > MAX_RANGE_LENGTH {
            warnings.push(*pos, format!("PageRange at offset {} is {} bytes, over the documented 4 MiB", r.offset, r.length));
        }
        prev_end = r.end();
    }
    Ok(())
}

/// The manifest's DriveId, reading no further than it: cheap on a 500 MB manifest.
pub fn read_drive_id(path: &Path) -> Result<String> {
    Ok(ManifestReader::open(path)?.header.drive_id)
}

/// Writes a drive manifest in the service's shape, one blob at a time (CRLF line
/// endings, upper-case hashes, block `Id`s as the service numbers them). Used by the
/// test generator; the reader reads back everything it writes.
pub struct ManifestWriter<W: Write> {
    w: W,
}

impl<W: Write> ManifestWriter<W> {
    pub fn new(mut w: W, drive_id: &str, version: &str) -> std::io::Result<Self> {
        write!(
            w,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<DriveManifest Version=\"{}\">\r\n  <Drive>\r\n    <DriveId>{}</DriveId>\r\n    <ClientCreator>Windows Azure Import/Export service</ClientCreator>\r\n    <BlobList>\r\n",
            xml::escape_attr(version),
            xml::escape_text(drive_id)
        )?;
        Ok(ManifestWriter { w })
    }

    pub fn write_blob(&mut self, b: &ManifestBlob) -> std::io::Result<()> {
        let w = &mut self.w;
        w.write_all(b"      <Blob>\r\n")?;
        write!(w, "        <BlobPath>{}</BlobPath>\r\n", xml::escape_text(&b.blob.path))?;
        write!(w, "        <FilePath>{}</FilePath>\r\n", xml::escape_text(&b.file_path))?;
        if let Some(s) = &b.blob.snapshot {
            write!(w, "        <Snapshot>{}</Snapshot>\r\n", xml::escape_text(s))?;
        }
        write!(w, "        <Length>{}</Length>\r\n", b.length)?;
        let (list, item) = match b.blob_type {
            BlobType::Block => ("BlockList", "Block"),
            BlobType::Page => ("PageRangeList", "PageRange"),
        };
        if b.ranges.is_empty() {
            write!(w, "        <{list} />\r\n")?;
        } else {
            write!(w, "        <{list}>\r\n")?;
            for (i, r) in b.ranges.iter().enumerate() {
                write!(w, "          <{item} Offset=\"{}\" Length=\"{}\"", r.offset, r.length)?;
                if b.blob_type == BlobType::Block {
                    write!(w, " Id=\"{}\"", block_id(i as u32))?;
                }
                if let Some(h) = &r.hash {
                    write!(w, " Hash=\"{h}\"")?;
                }
                w.write_all(b" />\r\n")?;
            }
            write!(w, "        </{list}>\r\n")?;
        }
        for (name, aux) in [("MetadataPath", &b.metadata), ("PropertiesPath", &b.properties)] {
            if let Some(aux) = aux {
                write!(w, "        <{name}")?;
                if let Some(h) = &aux.hash {
                    write!(w, " Hash=\"{h}\"")?;
                }
                write!(w, ">{}</{name}>\r\n", xml::escape_text(&aux.path))?;
            }
        }
        w.write_all(b"      </Blob>\r\n")
    }

    /// Closes the document, flushes and hands back the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.w.write_all(b"    </BlobList>\r\n  </Drive>\r\n</DriveManifest>\r\n")?;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// The block ID the service writes: the block's index as 4 little-endian bytes, base64.
pub fn block_id(index: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(index.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::io::{BufReader, Cursor, Read};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference").join(name)
    }

    fn from_str(text: &str) -> Result<ManifestReader> {
        ManifestReader::from_reader(Cursor::new(text.as_bytes().to_vec()), "test.manifest".into())
    }

    fn blobs(text: &str) -> Vec<Result<ManifestBlob>> {
        from_str(text).unwrap().collect()
    }

    fn problem(e: &EngineError) -> (TextPos, &str) {
        match e {
            EngineError::Malformed { pos, problem, .. } => (*pos, problem.as_str()),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    const HASH: &str = "263DC9C4B99C2177769C5EBE04787037";

    fn one_blob(inner: &str) -> String {
        format!(
            "<DriveManifest><Drive><DriveId>D1</DriveId><BlobList>\n<Blob>\n{inner}\n</Blob>\n</BlobList></Drive></DriveManifest>"
        )
    }

    fn block_blob(length: u64, blocks: &[(u64, u64)]) -> String {
        let list: String = blocks
            .iter()
            .map(|(o, l)| format!("<Block Offset=\"{o}\" Length=\"{l}\" Hash=\"{HASH}\"/>\n"))
            .collect();
        one_blob(&format!(
            "<BlobPath>c/b</BlobPath><FilePath>\\c\\b</FilePath><Length>{length}</Length>\n<BlockList>\n{list}</BlockList>"
        ))
    }

    #[test]
    fn reference_seed_manifest_has_a_page_blob_and_a_block_blob() {
        let mut r = ManifestReader::open(&fixture("export-manifest-seed.xml")).unwrap();
        assert_eq!(r.header().drive_id, "9WM35C3U");
        assert_eq!(r.header().version.as_deref(), Some("2011-10-01"));
        let all: Vec<ManifestBlob> = r.by_ref().collect::<Result<_>>().unwrap();
        assert_eq!(all.len(), 2);

        let page = &all[0];
        assert_eq!(page.blob.path, "pictures/city/redmond.jpg");
        assert_eq!(page.file_path, r"\pictures\city\redmond.jpg");
        assert_eq!(page.blob_type, BlobType::Page);
        assert_eq!(page.length, 15360);
        assert_eq!(
            page.ranges.iter().map(|r| (r.offset, r.length)).collect::<Vec<_>>(),
            vec![(0, 3584), (3584, 3584), (7168, 512)]
        );
        assert_eq!(page.ranges[2].hash.unwrap().to_hex(), "F521DF2F50C46BC5F9EA9FB787A23EED");
        let props = page.properties.as_ref().unwrap();
        assert_eq!(props.path, r"\pictures\city\redmond.jpg.properties");
        assert_eq!(props.hash.unwrap().to_hex(), "E72A22EA959566066AD89E3B49020C0A");
        assert_eq!(page.metadata, None);
        assert_eq!(page.line, 7);

        let block = &all[1];
        assert_eq!(block.blob.path, "pictures/wild/canyon.jpg");
        assert_eq!(block.blob_type, BlobType::Block);
        assert_eq!(block.length, 10884);
        assert_eq!(block.ranges.len(), 4);
        assert!(block.ranges.iter().all(|r| r.length == 2721 && r.hash.is_some()));
        assert_eq!(block.ranges[3].offset, 8163);
        assert_eq!(block.line, 18);
        assert!(r.warnings().is_empty());
    }

    #[test]
    fn read_drive_id_and_sniff_root_on_the_reference_manifest() {
        assert_eq!(read_drive_id(&fixture("export-manifest-seed.xml")).unwrap(), "9WM35C3U");
        assert_eq!(sniff_root(&fixture("export-manifest-seed.xml")).unwrap().as_deref(), Some("DriveManifest"));
        assert_eq!(sniff_root(&fixture("verbose-log-docs.xml")).unwrap().as_deref(), Some("DriveLog"));
    }

    #[test]
    fn copy_log_given_as_manifest_says_so() {
        let err = ManifestReader::open(&fixture("export-copylog-seed.xml")).unwrap_err();
        let (pos, text) = problem(&err);
        assert!(text.contains("this is a copy log, not a manifest"), "{text}");
        assert_eq!(pos, TextPos { line: 2, column: 1 });
    }

    #[test]
    fn other_root_is_refused() {
        let err = from_str("<Properties/>").unwrap_err();
        assert!(problem(&err).1.contains("expected <DriveManifest>"));
    }

    #[test]
    fn bom_crlf_lower_case_hashes_unknown_elements_and_no_version() {
        let text = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<DriveManifest>\r\n<Drive>\r\n<Extra a=\"1\"><Deep><Deeper/></Deep></Extra>\r\n<DriveId> WD-WMATV123456 </DriveId>\r\n<ClientCreator>x</ClientCreator>\r\n<BlobList>\r\n<Unknown/>\r\n<Blob>\r\n<BlobPath>$root/top.txt</BlobPath>\r\n<FilePath>\\$root\\top.txt</FilePath>\r\n<ClientData>whatever<b/></ClientData>\r\n<Length>5</Length>\r\n<NewThing>1</NewThing>\r\n<BlockList>\r\n<Block Offset=\"0\" Length=\"5\" Id=\"AAAAAA==\" Hash=\" 263dc9c4b99c2177769c5ebe04787037\">\r\n</Block>\r\n</BlockList>\r\n</Blob>\r\n</BlobList>\r\n</Drive>\r\n</DriveManifest>\r\n";
        let mut r = from_str(text).unwrap();
        assert_eq!(r.header(), &ManifestHeader { version: None, drive_id: "WD-WMATV123456".into() });
        let b = r.next().unwrap().unwrap();
        assert_eq!(b.blob.split(), ("$root", "top.txt"));
        assert_eq!(b.ranges[0].hash.unwrap().to_hex(), HASH);
        assert_eq!(b.line, 9);
        assert!(r.next().is_none());
    }

    #[test]
    fn empty_block_list_and_empty_blob() {
        let text = one_blob("<BlobPath>c/e</BlobPath><FilePath>\\c\\e</FilePath><Length>0</Length><BlockList />");
        let b = blobs(&text).pop().unwrap().unwrap();
        assert_eq!((b.length, b.blob_type, b.ranges.len()), (0, BlobType::Block, 0));
        // Without any list at all, a zero-length blob is still fine.
        let text = one_blob("<BlobPath>c/e</BlobPath><FilePath>\\c\\e</FilePath><Length>0</Length>");
        assert!(blobs(&text).pop().unwrap().is_ok());
    }

    #[test]
    fn snapshot_and_metadata_path_are_kept() {
        let text = one_blob(&format!(
            "<BlobPath>c/s</BlobPath><FilePath>\\c\\s</FilePath><Snapshot>2024-05-01T10:00:00.1234567Z</Snapshot><Length>0</Length><BlockList/><MetadataPath Hash=\"{HASH}\">\\c\\s.metadata</MetadataPath>"
        ));
        let b = blobs(&text).pop().unwrap().unwrap();
        assert_eq!(b.blob.snapshot.as_deref(), Some("2024-05-01T10:00:00.1234567Z"));
        assert_eq!(b.metadata.unwrap().path, r"\c\s.metadata");
    }

    #[test]
    fn bad_hash_is_malformed_with_line_and_column() {
        let text = one_blob("<BlobPath>c/b</BlobPath><FilePath>\\c\\b</FilePath><Length>4</Length>\n<BlockList>\n   <Block Offset=\"0\" Length=\"4\" Hash=\"12345\"/>\n</BlockList>");
        let got = blobs(&text);
        let err = got[0].as_ref().unwrap_err();
        let (pos, text) = problem(err);
        assert_eq!(pos, TextPos { line: 5, column: 4 });
        assert!(text.contains("Block Hash is not an MD5 (32 hex digits): \"12345\""), "{text}");
        assert!(text.contains("c/b"), "names the blob: {text}");
        assert_eq!(err.kind(), ErrorKind::MalformedInput);
    }

    #[test]
    fn missing_hash_is_malformed() {
        let text = one_blob("<BlobPath>c/b</BlobPath><FilePath>\\c\\b</FilePath><Length>4</Length><BlockList><Block Offset=\"0\" Length=\"4\"/></BlockList>");
        assert!(problem(blobs(&text)[0].as_ref().unwrap_err()).1.contains("no Hash"));
    }

    #[test]
    fn length_not_a_number_is_quoted() {
        let text = one_blob("<BlobPath>c/b</BlobPath><FilePath>\\c\\b</FilePath>\n<Length>abc</Length><BlockList/>");
        let got = blobs(&text);
        let (pos, text) = problem(got[0].as_ref().unwrap_err());
        assert!(text.starts_with("Length is not a number: \"abc\""), "{text}");
        assert_eq!(pos.line, 4);
    }

    #[test]
    fn offset_not_a_number_is_quoted() {
        let text = one_blob(&format!("<BlobPath>c/b</BlobPath><FilePath>\\c\\b</FilePath><Length>4</Length><BlockList><Block Offset=\"x1\" Length=\"4\" Hash=\"{HASH}\"/></BlockList>"));
        assert!(problem(blobs(&text)[0].as_ref().unwrap_err()).1.starts_with("Block Offset is not a number: \"x1\""));
    }

    #[test]
    fn block_list_gap_overlap_and_short_cover_are_errors() {
        let gap = blobs(&block_blob(10, &[(0, 4), (5, 5)])).remove(0).unwrap_err();
        assert!(problem(&gap).1.contains("leaves a gap"), "{gap}");
        assert_eq!(problem(&gap).0.line, 6);
        let overlap = blobs(&block_blob(10, &[(0, 6), (4, 6)])).remove(0).unwrap_err();
        assert!(problem(&overlap).1.contains("overlaps"), "{overlap}");
        let short = blobs(&block_blob(10, &[(0, 4), (4, 4)])).remove(0).unwrap_err();
        assert!(problem(&short).1.contains("cover 8 bytes but the blob Length is 10"), "{short}");
        let unsorted = blobs(&block_blob(10, &[(5, 5), (0, 5)])).remove(0).unwrap_err();
        assert!(problem(&unsorted).1.contains("gap"), "{unsorted}");
    }

    #[test]
    fn block_over_4_mib_is_a_warning_not_an_error() {
        let big = 6 * 1024 * 1024;
        let mut r = from_str(&block_blob(big, &[(0, big)])).unwrap();
        assert!(r.next().unwrap().is_ok());
        assert_eq!(r.warning_count(), 1);
        assert!(r.warnings()[0].message.contains("over the documented 4 MiB"));
    }

    fn page_blob(length: u64, ranges: &[(u64, u64)]) -> String {
        let list: String = ranges
            .iter()
            .map(|(o, l)| format!("<PageRange Offset=\"{o}\" Length=\"{l}\" Hash=\"{HASH}\"/>\n"))
            .collect();
        one_blob(&format!(
            "<BlobPath>c/p</BlobPath><FilePath>\\c\\p</FilePath><Length>{length}</Length>\n<PageRangeList>\n{list}</PageRangeList>"
        ))
    }

    #[test]
    fn page_ranges_must_be_aligned_sorted_and_inside() {
        assert!(blobs(&page_blob(4096, &[(0, 512), (2048, 1024)])).remove(0).is_ok());
        let unaligned = blobs(&page_blob(4096, &[(0, 500)])).remove(0).unwrap_err();
        assert!(problem(&unaligned).1.contains("512"), "{unaligned}");
        let overlap = blobs(&page_blob(4096, &[(0, 1024), (512, 512)])).remove(0).unwrap_err();
        assert!(problem(&overlap).1.contains("overlaps"), "{overlap}");
        let past = blobs(&page_blob(4096, &[(3584, 1024)])).remove(0).unwrap_err();
        assert!(problem(&past).1.contains("past the blob Length"), "{past}");
        let odd_len = blobs(&page_blob(4000, &[])).remove(0).unwrap_err();
        assert!(problem(&odd_len).1.contains("not a multiple of 512"), "{odd_len}");
    }

    #[test]
    fn a_bad_blob_does_not_stop_the_next_one() {
        let text = format!(
            "<DriveManifest><Drive><DriveId>D</DriveId><BlobList><Blob><BlobPath>a</BlobPath><FilePath>a</FilePath><Length>zz</Length></Blob><Blob><BlobPath>b</BlobPath><FilePath>b</FilePath><Length>1</Length><BlockList><Block Offset=\"0\" Length=\"1\" Hash=\"{HASH}\"/></BlockList></Blob></BlobList></Drive></DriveManifest>"
        );
        let got = blobs(&text);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_err());
        assert_eq!(got[1].as_ref().unwrap().blob.path, "b");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let text = one_blob("<FilePath>\\c\\b</FilePath><Length>0</Length>");
        assert!(problem(blobs(&text)[0].as_ref().unwrap_err()).1.contains("no BlobPath"));
        let text = one_blob("<BlobPath>c/b</BlobPath><FilePath>\\c\\b</FilePath><Length>7</Length>");
        assert!(problem(blobs(&text)[0].as_ref().unwrap_err()).1.contains("BlockList or PageRangeList"));
    }

    #[test]
    fn mismatched_end_tag_ends_the_iteration_with_line_and_column() {
        let text = "<DriveManifest><Drive><DriveId>D</DriveId><BlobList>\n<Blob>\n  <Length>1</Length>\n  </Block>\n</Blob></BlobList></Drive></DriveManifest>";
        let mut r = from_str(text).unwrap();
        let err = r.next().unwrap().unwrap_err();
        let (pos, text) = problem(&err);
        assert_eq!(text, "expected </Blob> but found </Block>");
        assert_eq!(pos, TextPos { line: 4, column: 3 });
        assert!(r.next().is_none());
    }

    #[test]
    fn cut_off_manifest_is_an_error_not_a_short_list() {
        let text = format!("<DriveManifest><Drive><DriveId>D</DriveId><BlobList>\n<Blob><BlobPath>b</BlobPath><FilePath>b</FilePath><Length>1</Length><BlockList><Block Offset=\"0\" Length=\"1\" Hash=\"{HASH}\"/></BlockList></Blob>\n");
        let got = blobs(&text);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert!(problem(got[1].as_ref().unwrap_err()).1.contains("ends inside <BlobList>"));
    }

    #[test]
    fn drive_id_must_come_before_blob_list() {
        let err = from_str("<DriveManifest><Drive>\n<BlobList/><DriveId>D</DriveId></Drive></DriveManifest>").unwrap_err();
        let (pos, text) = problem(&err);
        assert_eq!(text, "missing DriveId before BlobList");
        assert_eq!(pos, TextPos { line: 2, column: 1 });
        let err = from_str("<DriveManifest><Drive></Drive></DriveManifest>").unwrap_err();
        assert!(problem(&err).1.contains("missing DriveId"));
    }

    #[test]
    fn import_manifests_are_refused() {
        for text in [
            "<DriveManifest><Drive><DriveId>D</DriveId><StorageAccountKey>secret</StorageAccountKey><BlobList/></Drive></DriveManifest>",
            "<DriveManifest><Drive><DriveId>D</DriveId><ContainerSas>sv=x</ContainerSas></Drive></DriveManifest>",
            "<DriveManifest><Drive><DriveId>D</DriveId><BlobList><MetadataPath Hash=\"00\">\\m.xml</MetadataPath></BlobList></Drive></DriveManifest>",
            "<DriveManifest><Drive><DriveId>D</DriveId><BlobList><PropertiesPath>\\p.xml</PropertiesPath></BlobList></Drive></DriveManifest>",
            "<DriveManifest><Drive><DriveId>D</DriveId><BlobList><Blob><BlobPath>a</BlobPath><ImportDisposition>rename</ImportDisposition></Blob></BlobList></Drive></DriveManifest>",
        ] {
            let err = match from_str(text) {
                Err(e) => e,
                Ok(mut r) => r.next().unwrap().unwrap_err(),
            };
            assert!(matches!(err, EngineError::ImportNotSupported { what: "manifest", .. }), "{text}: {err:?}");
            assert!(!err.to_string().contains("secret"));
        }
        // StorageAccountKey before DriveId: refused at open.
        let err = from_str("<DriveManifest><Drive><StorageAccountKey>k</StorageAccountKey><DriveId>D</DriveId></Drive></DriveManifest>").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ImportNotSupported);
    }

    #[test]
    fn writer_output_round_trips_through_the_reader() {
        let blobs_in = vec![
            ManifestBlob {
                blob: BlobRef { path: "photos/été 2024/naïve & café.txt".into(), snapshot: Some("2024-05-01T10:00:00.0000000Z".into()) },
                file_path: "\\photos\\été 2024\\naïve & café.txt".into(),
                length: 10,
                blob_type: BlobType::Block,
                ranges: vec![
                    Range { offset: 0, length: 6, hash: Some(Md5::of(b"a")) },
                    Range { offset: 6, length: 4, hash: Some(Md5::of(b"b")) },
                ],
                properties: Some(AuxFile { path: "\\photos\\x.properties".into(), hash: Some(Md5::of(b"p")) }),
                metadata: Some(AuxFile { path: "\\photos\\x.metadata".into(), hash: Some(Md5::of(b"m")) }),
                line: 0,
            },
            ManifestBlob {
                blob: BlobRef { path: "$root/disk.vhd".into(), snapshot: None },
                file_path: "\\$root\\disk.vhd".into(),
                length: 4096,
                blob_type: BlobType::Page,
                ranges: vec![Range { offset: 1024, length: 512, hash: Some(Md5::of(b"c")) }],
                properties: None,
                metadata: None,
                line: 0,
            },
            ManifestBlob {
                blob: BlobRef { path: "c/empty".into(), snapshot: None },
                file_path: "\\c\\empty".into(),
                length: 0,
                blob_type: BlobType::Block,
                ranges: vec![],
                properties: None,
                metadata: None,
                line: 0,
            },
        ];
        let mut w = ManifestWriter::new(Vec::new(), "WD-1 <&>", "2014-11-01").unwrap();
        for b in &blobs_in {
            w.write_blob(b).unwrap();
        }
        let bytes = w.finish().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("Id=\"AQAAAA==\""), "{text}");
        let mut r = from_str(&text).unwrap();
        assert_eq!(r.header().drive_id, "WD-1 <&>");
        assert_eq!(r.header().version.as_deref(), Some("2014-11-01"));
        let back: Vec<ManifestBlob> = r.by_ref().collect::<Result<_>>().unwrap();
        assert_eq!(back.len(), 3);
        for (a, b) in blobs_in.iter().zip(&back) {
            assert_eq!(ManifestBlob { line: b.line, ..a.clone() }, *b);
        }
        assert_eq!(back[0].line, 7);
    }

    #[test]
    fn block_ids_match_the_service() {
        assert_eq!(block_id(0), "AAAAAA==");
        assert_eq!(block_id(1), "AQAAAA==");
        assert_eq!(block_id(3), "AwAAAA==");
    }

    /// Produces a manifest of `total` blobs on the fly, so the test holds neither the
    /// document nor the blobs.
    struct SyntheticManifest {
        next: u64,
        total: u64,
        chunk: Vec<u8>,
        pos: usize,
        done: bool,
    }

    impl SyntheticManifest {
        fn new(total: u64) -> Self {
            let head = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<DriveManifest Version=\"2014-11-01\">\r\n<Drive><DriveId>BIG1</DriveId>\r\n<BlobList>\r\n".to_vec();
            SyntheticManifest { next: 0, total, chunk: head, pos: 0, done: false }
        }
    }

    impl Read for SyntheticManifest {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            while self.pos == self.chunk.len() {
                if self.done {
                    return Ok(0);
                }
                self.chunk.clear();
                self.pos = 0;
                if self.next == self.total {
                    self.chunk.extend_from_slice(b"</BlobList>\r\n</Drive>\r\n</DriveManifest>\r\n");
                    self.done = true;
                } else {
                    let i = self.next;
                    self.next += 1;
                    use std::io::Write as _;
                    write!(
                        self.chunk,
                        "<Blob>\r\n<BlobPath>c/f{i}</BlobPath>\r\n<FilePath>\\c\\f{i}</FilePath>\r\n<Length>{len}</Length>\r\n<BlockList>\r\n<Block Offset=\"0\" Length=\"{len}\" Hash=\"{HASH}\" />\r\n</BlockList>\r\n</Blob>\r\n",
                        len = i % 1000 + 1
                    )?;
                }
            }
            let n = out.len().min(self.chunk.len() - self.pos);
            out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn streams_200000_blobs_without_holding_them() {
        const TOTAL: u64 = 200_000;
        let source = BufReader::with_capacity(64 * 1024, SyntheticManifest::new(TOTAL));
        let mut r = ManifestReader::from_reader(source, "big.manifest".into()).unwrap();
        let mut count = 0u64;
        let mut bytes = 0u64;
        let mut max_buffer = 0;
        while let Some(b) = r.next() {
            let b = b.unwrap();
            bytes += b.length;
            count += 1;
            max_buffer = max_buffer.max(r.buffer_capacity());
            if count == TOTAL {
                // 4 header lines, 8 lines per blob: the last blob's line is exact.
                assert_eq!(b.line, 4 + 8 * (TOTAL - 1) + 1);
            }
        }
        assert_eq!(count, TOTAL);
        assert_eq!(r.blobs_read(), TOTAL);
        assert_eq!(bytes, (0..TOTAL).map(|i| i % 1000 + 1).sum::<u64>());
        // The event buffer holds one tag at a time, never the document.
        assert!(max_buffer <= 4096, "event buffer grew to {max_buffer} bytes");
    }
}
