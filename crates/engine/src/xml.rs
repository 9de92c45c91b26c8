//! Shared XML plumbing for the drive's documents (manifest, copy log, properties and
//! metadata files): a streaming pull reader on top of quick-xml that
//!
//! - skips a UTF-8 byte-order mark and refuses UTF-16 with a clear message,
//! - knows the 1-based line and column of every element it hands out, counted
//!   incrementally from the bytes quick-xml consumes (the file is never read twice),
//! - turns quick-xml's errors into [`EngineError::Malformed`] saying what was expected,
//! - skips comments, processing instructions, the declaration (whatever the case of
//!   its `encoding`), white space between elements, and unknown elements with all
//!   their content.
//!
//! Memory stays bounded by the largest single element, never by the document.

use crate::error::{EngineError, Result, TextPos};
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
/// Read-buffer size for files: large enough for throughput, small enough not to matter.
pub const READ_BUFFER: usize = 64 * 1024;
/// Readers keep at most this many warnings; further ones are only counted.
pub const MAX_WARNINGS: usize = 100;

/// Something unusual but usable that a reader noticed (e.g. a block over 4 MiB).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParseWarning {
    pub pos: TextPos,
    pub message: String,
}

/// A bounded list of warnings: keeps the first [`MAX_WARNINGS`], counts all.
#[derive(Debug, Default, Clone)]
pub struct Warnings {
    kept: Vec<ParseWarning>,
    total: u64,
}

impl Warnings {
    pub fn push(&mut self, pos: TextPos, message: String) {
        self.total += 1;
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(ParseWarning { pos, message });
        }
    }
    /// The first [`MAX_WARNINGS`] warnings.
    pub fn kept(&self) -> &[ParseWarning] {
        &self.kept
    }
    /// How many warnings there were in all.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// Which byte-order mark a document started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bom {
    None,
    Utf8,
    Utf16,
}

/// A [`BufRead`] adapter that drops a leading UTF-8 BOM and counts lines and columns
/// of everything consumed through it. Counting happens on `consume`, on bytes that
/// are already in memory, so it costs one pass over each buffer and nothing more.
pub struct TrackedReader<R> {
    inner: R,
    /// The first bytes, read ahead to look for a BOM and served before `inner`.
    head: [u8; 3],
    head_len: usize,
    head_pos: usize,
    consumed: u64,
    /// 1-based line at the consumed point.
    line: u64,
    /// Characters (not bytes) consumed on the current line.
    col: u64,
}

impl<R: BufRead> TrackedReader<R> {
    fn new(mut inner: R) -> io::Result<(Self, Bom)> {
        let mut head = [0u8; 3];
        let mut head_len = 0;
        while head_len < 3 {
            match inner.read(&mut head[head_len..]) {
                Ok(0) => break,
                Ok(n) => head_len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let bom = if head[..head_len] == UTF8_BOM {
            head_len = 0;
            Bom::Utf8
        } else if head_len >= 2 && (head[..2] == [0xFF, 0xFE] || head[..2] == [0xFE, 0xFF]) {
            Bom::Utf16
        } else {
            Bom::None
        };
        let reader = TrackedReader { inner, head, head_len, head_pos: 0, consumed: 0, line: 1, col: 0 };
        Ok((reader, bom))
    }

    /// Bytes handed out so far (after the BOM).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Line and column of the next byte to be consumed.
    pub fn pos(&self) -> TextPos {
        TextPos { line: self.line, column: self.col + 1 }
    }
}

/// Moves a line/column position over `bytes`.
fn advance(line: &mut u64, col: &mut u64, bytes: &[u8]) {
    match bytes.iter().rposition(|&b| b == b'\n') {
        Some(last) => {
            *line += bytes[..=last].iter().filter(|&&b| b == b'\n').count() as u64;
            *col = count_chars(&bytes[last + 1..]);
        }
        None => *col += count_chars(bytes),
    }
}

/// Counts UTF-8 characters: every byte that is not a continuation byte starts one.
fn count_chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

impl<R: BufRead> Read for TrackedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for TrackedReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.head_pos < self.head_len {
            return Ok(&self.head[self.head_pos..self.head_len]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if self.head_pos < self.head_len {
            let end = (self.head_pos + amt).min(self.head_len);
            advance(&mut self.line, &mut self.col, &self.head[self.head_pos..end]);
            self.consumed += (end - self.head_pos) as u64;
            self.head_pos = end;
            return;
        }
        // `fill_buf` without an intervening `consume` returns the same buffered bytes
        // without I/O, so this only looks at what the caller just consumed.
        if let Ok(buf) = self.inner.fill_buf() {
            advance(&mut self.line, &mut self.col, &buf[..amt.min(buf.len())]);
        }
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

/// Opens a file as a buffered reader that skips a UTF-8 byte-order mark.
pub fn open_skipping_bom(path: &Path) -> Result<TrackedReader<BufReader<File>>> {
    let file = File::open(path).map_err(|e| EngineError::io("open", path, e))?;
    let (reader, _) = TrackedReader::new(BufReader::with_capacity(READ_BUFFER, file))
        .map_err(|e| EngineError::io("read", path, e))?;
    Ok(reader)
}

/// A start tag (or a self-closing one) with its attributes decoded and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The local name (any namespace prefix dropped).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// `<Name ... />`: there is no content and no end event.
    pub empty: bool,
    /// Where the `<` of the tag is.
    pub pos: TextPos,
}

impl Element {
    /// The attribute's value as written (unescaped, not trimmed).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What [`XmlReader::next_event`] returns. Comments, processing instructions, the
/// declaration and white-space-only text never show up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlEvent {
    Start(Element),
    End { name: String, pos: TextPos },
    /// Text or CDATA, unescaped, not trimmed.
    Text { text: String, pos: TextPos },
    Eof { pos: TextPos },
}

type Source = TrackedReader<Box<dyn BufRead + Send>>;

/// A streaming pull reader over one XML document.
pub struct XmlReader {
    reader: quick_xml::Reader<Source>,
    buf: Vec<u8>,
    file: PathBuf,
    /// Consumed offset and position when the current event started, to place
    /// elements and errors exactly (they always start at this mark or one byte
    /// before it: the `<` that quick-xml consumes together with preceding text).
    mark_offset: u64,
    mark_pos: TextPos,
}

impl XmlReader {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| EngineError::io("open", path, e))?;
        Self::from_reader(Box::new(BufReader::with_capacity(READ_BUFFER, file)), path.to_path_buf())
    }

    /// `display_path` names the document in messages.
    pub fn from_reader(inner: Box<dyn BufRead + Send>, display_path: PathBuf) -> Result<Self> {
        let (tracked, bom) =
            TrackedReader::new(inner).map_err(|e| EngineError::io("read", &display_path, e))?;
        if bom == Bom::Utf16 {
            return Err(malformed(
                &display_path,
                TextPos { line: 1, column: 1 },
                "the file is UTF-16 text; the service writes UTF-8. Use the file as the service wrote it",
            ));
        }
        let mut reader = quick_xml::Reader::from_reader(tracked);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Ok(XmlReader {
            reader,
            buf: Vec::with_capacity(1024),
            file: display_path,
            mark_offset: 0,
            mark_pos: TextPos { line: 1, column: 1 },
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The position just after the last event.
    pub fn position(&self) -> TextPos {
        self.reader.get_ref().pos()
    }

    /// Capacity of the event buffer: stays at the size of the largest element.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// A [`EngineError::Malformed`] for this document.
    pub fn malformed(&self, pos: TextPos, problem: impl Into<String>) -> EngineError {
        malformed(&self.file, pos, problem)
    }

    fn pos_at(&self, offset: u64) -> TextPos {
        let tracked = self.reader.get_ref();
        if offset == tracked.consumed() {
            tracked.pos()
        } else if offset + 1 == self.mark_offset {
            // The `<` consumed with the text before it: same line, one column left.
            TextPos { line: self.mark_pos.line, column: self.mark_pos.column.saturating_sub(1).max(1) }
        } else {
            self.mark_pos
        }
    }

    /// The next element, end tag, text or end of file.
    pub fn next_event(&mut self) -> Result<XmlEvent> {
        loop {
            self.buf.clear();
            let tracked = self.reader.get_ref();
            self.mark_offset = tracked.consumed();
            self.mark_pos = tracked.pos();
            let start = self.pos_at(self.reader.buffer_position());
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(e) => {
                    let pos = self.pos_at(self.reader.error_position());
                    return Err(translate_error(&self.file, pos, e));
                }
            };
            return match event {
                Event::Start(e) => Ok(XmlEvent::Start(element(&self.file, &e, false, start)?)),
                Event::Empty(e) => Ok(XmlEvent::Start(element(&self.file, &e, true, start)?)),
                Event::End(e) => {
                    let name = utf8(&self.file, start, e.local_name().as_ref())?.to_string();
                    Ok(XmlEvent::End { name, pos: start })
                }
                Event::Text(t) => {
                    if t.iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    let text = t
                        .unescape()
                        .map_err(|e| translate_error(&self.file, start, e))?
                        .into_owned();
                    Ok(XmlEvent::Text { text, pos: start })
                }
                Event::CData(c) => {
                    let text = utf8(&self.file, start, &c)?.to_string();
                    Ok(XmlEvent::Text { text, pos: start })
                }
                Event::Eof => Ok(XmlEvent::Eof { pos: self.position() }),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => continue,
            };
        }
    }

    /// The root element. An empty file, or one with text before any element, is
    /// reported as not XML.
    pub fn root_element(&mut self, expected: &str) -> Result<Element> {
        match self.next_event()? {
            XmlEvent::Start(el) => Ok(el),
            XmlEvent::Text { pos, .. } => Err(self.malformed(
                pos,
                format!("this is not an XML document: expected <{expected}> but found text"),
            )),
            XmlEvent::Eof { pos } => Err(self.malformed(
                pos,
                format!("the file holds no XML element: expected <{expected}>; it may be empty or cut off"),
            )),
            XmlEvent::End { name, pos } => {
                Err(self.malformed(pos, format!("expected <{expected}> but found </{name}>")))
            }
        }
    }

    /// The text inside `el`, unescaped and trimmed. Elements nested in it are skipped.
    pub fn read_text(&mut self, el: &Element) -> Result<String> {
        if el.empty {
            return Ok(String::new());
        }
        let mut text = String::new();
        loop {
            match self.next_event()? {
                XmlEvent::Text { text: t, .. } => text.push_str(&t),
                XmlEvent::Start(child) => self.skip(&child)?,
                XmlEvent::End { .. } => return Ok(trim(&text).to_string()),
                XmlEvent::Eof { pos } => return Err(self.ends_inside(pos, &el.name)),
            }
        }
    }

    /// Skips `el` and everything inside it.
    pub fn skip(&mut self, el: &Element) -> Result<()> {
        if el.empty {
            return Ok(());
        }
        let mut depth = 1usize;
        loop {
            match self.next_event()? {
                XmlEvent::Start(child) if !child.empty => depth += 1,
                XmlEvent::End { .. } => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                XmlEvent::Eof { pos } => return Err(self.ends_inside(pos, &el.name)),
                _ => {}
            }
        }
    }

    /// "the file ends inside <X>": a document cut off while copying.
    pub fn ends_inside(&self, pos: TextPos, name: &str) -> EngineError {
        self.malformed(
            pos,
            format!("the file ends inside <{name}> (expected </{name}>); it may have been cut off while copying"),
        )
    }
}

/// Builds [`EngineError::Malformed`].
pub fn malformed(file: &Path, pos: TextPos, problem: impl Into<String>) -> EngineError {
    EngineError::Malformed { file: file.to_path_buf(), pos, problem: problem.into() }
}

/// Trims XML white space (space, tab, CR, LF) and, as published samples need, any
/// other Unicode white space.
pub fn trim(s: &str) -> &str {
    s.trim()
}

/// Unescapes XML character and entity references (`&amp;`, `&#233;`...).
pub fn unescape(s: &str) -> std::result::Result<Cow<'_, str>, String> {
    quick_xml::escape::unescape(s).map_err(|e| e.to_string())
}

/// Escapes text content (`<`, `>`, `&`).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    quick_xml::escape::partial_escape(s)
}

/// Escapes an attribute value (`<`, `>`, `&`, `"`, `'`).
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Parses an unsigned decimal number, trimming white space. The error says what
/// was found, quoted: `Length is not a number: "abc"`.
pub fn parse_u64(what: &str, value: &str) -> std::result::Result<u64, String> {
    let v = trim(value);
    v.parse::<u64>().map_err(|_| format!("{what} is not a number: {v:?}"))
}

/// The root element's name, or `None` if the file does not start like an XML
/// document (binary data, text, empty). Reads at most 64 KiB, so it is cheap on any
/// file; used to recognise manifests and copy logs on a drive.
pub fn sniff_root(path: &Path) -> Result<Option<String>> {
    let file = File::open(path).map_err(|e| EngineError::io("open", path, e))?;
    let limited = BufReader::with_capacity(8 * 1024, file.take(64 * 1024));
    let mut xml = match XmlReader::from_reader(Box::new(limited), path.to_path_buf()) {
        Ok(xml) => xml,
        Err(EngineError::Malformed { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    match xml.next_event() {
        Ok(XmlEvent::Start(el)) => Ok(Some(el.name)),
        Ok(_) | Err(EngineError::Malformed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn utf8<'a>(file: &Path, pos: TextPos, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes)
        .map_err(|_| malformed(file, pos, "the text is not valid UTF-8; the service writes UTF-8"))
}

fn element(file: &Path, e: &BytesStart<'_>, empty: bool, pos: TextPos) -> Result<Element> {
    let name = utf8(file, pos, e.local_name().as_ref())?.to_string();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| {
            malformed(file, pos, format!("a bad attribute in <{name}>: {err}"))
        })?;
        let key = utf8(file, pos, attr.key.local_name().as_ref())?.to_string();
        let value = attr
            .unescape_value()
            .map_err(|err| malformed(file, pos, format!("attribute {key} of <{name}>: {}", describe(&err))))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element { name, attrs, empty, pos })
}

fn describe(e: &quick_xml::Error) -> String {
    use quick_xml::errors::{IllFormedError, SyntaxError};
    use quick_xml::Error as X;
    match e {
        X::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!("expected </{expected}> but found </{found}>")
        }
        X::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("found </{name}> but no element of that name is open")
        }
        X::IllFormed(IllFormedError::MissingEndTag(name)) => {
            format!("the file ends before </{name}>; it may have been cut off while copying")
        }
        X::Syntax(SyntaxError::UnclosedTag) => {
            "a tag is not closed: '>' is missing before the end of the file".into()
        }
        X::Syntax(SyntaxError::UnclosedComment) => {
            "a comment is not closed: '-->' is missing before the end of the file".into()
        }
        X::Syntax(SyntaxError::UnclosedCData) => {
            "a CDATA section is not closed: ']]>' is missing before the end of the file".into()
        }
        X::Syntax(other) => format!("not well-formed XML: {other}"),
        X::IllFormed(other) => format!("not well-formed XML: {other}"),
        X::InvalidAttr(err) => format!("a bad attribute: {err}"),
        X::Encoding(_) => "the text is not valid UTF-8; the service writes UTF-8".into(),
        X::Escape(err) => format!("a bad character or entity reference: {err}"),
        X::Namespace(err) => format!("a bad namespace: {err}"),
        X::Io(err) => err.to_string(),
    }
}

fn translate_error(file: &Path, pos: TextPos, e: quick_xml::Error) -> EngineError {
    match e {
        quick_xml::Error::Io(err) => {
            let source = std::sync::Arc::try_unwrap(err)
                .unwrap_or_else(|shared| io::Error::new(shared.kind(), shared.to_string()));
            EngineError::io("read", file, source)
        }
        other => malformed(file, pos, describe(&other)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn reader(text: &str) -> XmlReader {
        XmlReader::from_reader(Box::new(io::Cursor::new(text.as_bytes().to_vec())), "test.xml".into())
            .unwrap()
    }

    fn pos(line: u64, column: u64) -> TextPos {
        TextPos { line, column }
    }

    fn start(ev: XmlEvent) -> Element {
        match ev {
            XmlEvent::Start(el) => el,
            other => panic!("expected a start tag, got {other:?}"),
        }
    }

    fn problem_at(e: EngineError) -> (TextPos, String) {
        match e {
            EngineError::Malformed { pos, problem, .. } => (pos, problem),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn element_positions_count_lines_and_characters() {
        let mut r = reader("<?xml version=\"1.0\"?>\n<a>\n  <b x=\"1\"/>\n\t<é/><c>hi</c>\n</a>");
        assert_eq!(start(r.next_event().unwrap()).pos, pos(2, 1));
        let b = start(r.next_event().unwrap());
        assert_eq!((b.name.as_str(), b.pos, b.empty), ("b", pos(3, 3), true));
        assert_eq!(b.attr("x"), Some("1"));
        let e = start(r.next_event().unwrap());
        assert_eq!((e.name.as_str(), e.pos), ("é", pos(4, 2)));
        // `é` is two bytes but one column.
        assert_eq!(start(r.next_event().unwrap()).pos, pos(4, 6));
    }

    #[test]
    fn utf8_bom_is_skipped_and_does_not_shift_columns() {
        let mut r = reader("\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?><root/>");
        let root = start(r.next_event().unwrap());
        assert_eq!((root.name.as_str(), root.pos), ("root", pos(1, 39)));
    }

    #[test]
    fn utf16_is_refused_with_a_clear_message() {
        let data = vec![0xFF, 0xFE, b'<', 0];
        let err = XmlReader::from_reader(Box::new(io::Cursor::new(data)), "x.xml".into()).err().unwrap();
        assert!(problem_at(err).1.contains("UTF-16"));
    }

    #[test]
    fn crlf_lines_are_counted() {
        let mut r = reader("<a>\r\n\r\n   <b/>\r\n</a>");
        start(r.next_event().unwrap());
        assert_eq!(start(r.next_event().unwrap()).pos, pos(3, 4));
    }

    #[test]
    fn mismatched_end_tag_names_both_and_points_at_it() {
        let mut r = reader("<Blob>\n  <Length>5</Length>\n  </Block>\n</Blob>");
        let blob = start(r.next_event().unwrap());
        let length = start(r.next_event().unwrap());
        assert_eq!(r.read_text(&length).unwrap(), "5");
        let (at, problem) = problem_at(r.next_event().unwrap_err());
        assert_eq!(problem, "expected </Blob> but found </Block>");
        assert_eq!(at, pos(3, 3));
        let _ = blob;
    }

    #[test]
    fn unclosed_tag_at_end_of_file_is_reported_at_its_start() {
        let mut r = reader("<a>\n  <b x=\"1\"");
        start(r.next_event().unwrap());
        let (at, problem) = problem_at(r.next_event().unwrap_err());
        assert!(problem.contains("not closed"), "{problem}");
        assert_eq!(at, pos(2, 3));
    }

    #[test]
    fn text_and_attributes_are_unescaped_and_trimmed() {
        let mut r = reader("<a v=\"x &amp; &quot;y&quot;\">\n  caf&#233; &lt;3&gt; <![CDATA[<raw>]]>\n</a>");
        let a = start(r.next_event().unwrap());
        assert_eq!(a.attr("v"), Some("x & \"y\""));
        assert_eq!(r.read_text(&a).unwrap(), "café <3> <raw>");
    }

    #[test]
    fn unknown_entity_is_malformed() {
        let mut r = reader("<a>\n<b>x &bogus; y</b></a>");
        start(r.next_event().unwrap());
        let b = start(r.next_event().unwrap());
        let (at, problem) = problem_at(r.read_text(&b).unwrap_err());
        assert!(problem.contains("entity"), "{problem}");
        assert_eq!(at.line, 2);
    }

    #[test]
    fn skip_passes_over_nested_unknown_content() {
        let mut r = reader("<a><x><y><z/>t</y><y/></x><b/></a>");
        start(r.next_event().unwrap());
        let x = start(r.next_event().unwrap());
        r.skip(&x).unwrap();
        assert_eq!(start(r.next_event().unwrap()).name, "b");
    }

    #[test]
    fn comments_declaration_and_processing_instructions_are_invisible() {
        let mut r = reader("<?xml version='1.0' encoding='Utf-8'?><!-- c --><?pi x?><a><!--x-->t</a>");
        let a = start(r.next_event().unwrap());
        assert_eq!(r.read_text(&a).unwrap(), "t");
        assert!(matches!(r.next_event().unwrap(), XmlEvent::Eof { .. }));
    }

    #[test]
    fn cut_off_element_says_so() {
        let mut r = reader("<a>\n<b>text");
        start(r.next_event().unwrap());
        let b = start(r.next_event().unwrap());
        let (_, problem) = problem_at(r.read_text(&b).unwrap_err());
        assert!(problem.contains("ends inside <b>"), "{problem}");
    }

    #[test]
    fn sniff_root_names_the_root_and_ignores_non_xml() {
        let dir = tempfile::tempdir().unwrap();
        let xml = dir.path().join("a.xml");
        std::fs::write(&xml, "\u{feff}<?xml version=\"1.0\"?>\r\n<!-- x --><DriveLog>").unwrap();
        assert_eq!(sniff_root(&xml).unwrap().as_deref(), Some("DriveLog"));
        let bin = dir.path().join("b.bin");
        std::fs::write(&bin, vec![7u8; 200_000]).unwrap();
        assert_eq!(sniff_root(&bin).unwrap(), None);
        let empty = dir.path().join("c");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(sniff_root(&empty).unwrap(), None);
        assert!(sniff_root(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn parse_u64_quotes_what_it_found() {
        assert_eq!(parse_u64("Length", " 42\r\n"), Ok(42));
        assert_eq!(parse_u64("Length", "abc").unwrap_err(), "Length is not a number: \"abc\"");
        assert!(parse_u64("Offset", "-1").is_err());
    }

    #[test]
    fn warnings_are_bounded_but_counted() {
        let mut w = Warnings::default();
        for i in 0..(MAX_WARNINGS as u64 + 50) {
            w.push(TextPos { line: i, column: 1 }, "x".into());
        }
        assert_eq!(w.kept().len(), MAX_WARNINGS);
        assert_eq!(w.total(), MAX_WARNINGS as u64 + 50);
    }
}
