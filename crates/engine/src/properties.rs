//! The properties and metadata files the service writes next to each exported file
//! (FORMATS.md §3): `<file>.properties` holds the blob's HTTP properties, and
//! `<file>.metadata` one element per metadata pair.
//!
//! Rendering reproduces the service's shape (UTF-8, XML declaration, CRLF line
//! endings, only the properties that are present), but the manifest's hash covers
//! the exact bytes the service wrote; a regenerated file cannot be promised to
//! match them, and callers must say so rather than claim it verified.
//!
//! Parsing is used to read the `Etag` and `Last-Modified` recorded on the drive, to
//! tell whether a blob changed after the export.

use crate::blobstore::BlobProperties;
use crate::error::{EngineError, Result};
use crate::xml::{self, XmlEvent, XmlReader};
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n";

/// The properties file for `p`. `Content-Length` is always written; the other
/// properties only when present.
pub fn render_properties(p: &BlobProperties) -> String {
    let mut out = String::from(DECLARATION);
    out.push_str("<Properties>\r\n");
    let content_length = p.length.to_string();
    let fields: [(&str, Option<&str>); 8] = [
        ("Last-Modified", p.last_modified.as_deref()),
        ("Etag", p.etag.as_deref()),
        ("Content-Length", Some(&content_length)),
        ("Content-Type", p.content_type.as_deref()),
        ("Content-MD5", p.content_md5.as_deref()),
        ("Content-Encoding", p.content_encoding.as_deref()),
        ("Content-Language", p.content_language.as_deref()),
        ("Cache-Control", p.cache_control.as_deref()),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            let _ = write!(out, "  <{name}>{}</{name}>\r\n", xml::escape_text(v));
        }
    }
    out.push_str("</Properties>\r\n");
    out
}

/// The metadata file for `pairs`, one element per pair in the given order. Azure
/// metadata names are C# identifiers, so they are valid element names; a name that
/// is not cannot be written and is refused.
pub fn render_metadata(pairs: &[(String, String)]) -> Result<String> {
    let mut out = String::from(DECLARATION);
    out.push_str("<Metadata>\r\n");
    for (name, value) in pairs {
        if !is_element_name(name) {
            return Err(EngineError::Unsupported(format!(
                "the metadata name {name:?} cannot be written as an XML element (Azure metadata names are C# identifiers)"
            )));
        }
        let _ = write!(out, "  <{name}>{}</{name}>\r\n", xml::escape_text(value));
    }
    out.push_str("</Metadata>\r\n");
    Ok(out)
}

/// Letters, digits and `_` (plus `-` and `.` after the first character), not
/// starting with `xml` in any case: what is safe as an element name and covers every
/// C# identifier.
fn is_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

/// Reads a properties file. Unknown elements are skipped. A missing `Content-Length`
/// reads as 0; `is_page_blob` and `metadata` are not in the file and stay empty.
pub fn parse_properties(path: &Path) -> Result<BlobProperties> {
    properties_from(XmlReader::open(path)?)
}

/// As [`parse_properties`], from any buffered source named `display_path` in messages.
pub fn parse_properties_from(r: impl BufRead + Send + 'static, display_path: PathBuf) -> Result<BlobProperties> {
    properties_from(XmlReader::from_reader(Box::new(r), display_path)?)
}

fn properties_from(mut xml: XmlReader) -> Result<BlobProperties> {
    let root = expect_root(&mut xml, "Properties")?;
    let mut p = BlobProperties::default();
    if root.empty {
        return Ok(p);
    }
    loop {
        match xml.next_event()? {
            XmlEvent::Start(el) => {
                let value = xml.read_text(&el)?;
                let slot = match el.name.as_str() {
                    "Last-Modified" => &mut p.last_modified,
                    "Etag" | "ETag" => &mut p.etag,
                    "Content-Type" => &mut p.content_type,
                    "Content-MD5" => &mut p.content_md5,
                    "Content-Encoding" => &mut p.content_encoding,
                    "Content-Language" => &mut p.content_language,
                    "Cache-Control" => &mut p.cache_control,
                    "Content-Length" => {
                        p.length = xml::parse_u64("Content-Length", &value)
                            .map_err(|problem| xml.malformed(el.pos, problem))?;
                        continue;
                    }
                    _ => continue,
                };
                *slot = Some(value);
            }
            XmlEvent::Text { .. } => {}
            XmlEvent::End { .. } => return Ok(p),
            XmlEvent::Eof { pos } => return Err(xml.ends_inside(pos, "Properties")),
        }
    }
}

/// Reads a metadata file: one `(name, value)` per element, in file order.
pub fn parse_metadata(path: &Path) -> Result<Vec<(String, String)>> {
    metadata_from(XmlReader::open(path)?)
}

/// As [`parse_metadata`], from any buffered source named `display_path` in messages.
pub fn parse_metadata_from(r: impl BufRead + Send + 'static, display_path: PathBuf) -> Result<Vec<(String, String)>> {
    metadata_from(XmlReader::from_reader(Box::new(r), display_path)?)
}

fn metadata_from(mut xml: XmlReader) -> Result<Vec<(String, String)>> {
    let root = expect_root(&mut xml, "Metadata")?;
    let mut pairs = Vec::new();
    if root.empty {
        return Ok(pairs);
    }
    loop {
        match xml.next_event()? {
            XmlEvent::Start(el) => {
                let value = xml.read_text(&el)?;
                pairs.push((el.name, value));
            }
            XmlEvent::Text { .. } => {}
            XmlEvent::End { .. } => return Ok(pairs),
            XmlEvent::Eof { pos } => return Err(xml.ends_inside(pos, "Metadata")),
        }
    }
}

fn expect_root(xml: &mut XmlReader, name: &str) -> Result<xml::Element> {
    let root = xml.root_element(name)?;
    if root.name != name {
        return Err(xml.malformed(
            root.pos,
            format!("expected <{name}> as the root element but found <{}>", root.name),
        ));
    }
    Ok(root)
}

const HTTP_DATE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);
const RFC3339_SECONDS: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Converts the service's `Last-Modified` (`Tue, 18 Sep 2012 23:47:08 GMT`) to the
/// copy log's form (`2012-09-18T23:47:08Z`). `None` if it is not an HTTP date.
pub fn http_date_to_rfc3339(http_date: &str) -> Option<String> {
    let t = time::PrimitiveDateTime::parse(http_date.trim(), HTTP_DATE).ok()?;
    t.format(RFC3339_SECONDS).ok()
}

/// Converts an RFC 3339 time (any offset, fractions dropped) to an HTTP date in GMT.
pub fn rfc3339_to_http_date(rfc3339: &str) -> Option<String> {
    let t = time::OffsetDateTime::parse(rfc3339.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    t.to_offset(time::UtcOffset::UTC).format(HTTP_DATE).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sample() -> BlobProperties {
        BlobProperties {
            length: 163840,
            etag: Some("\"0x8CFE2C2CE6D6D5C\"".into()),
            last_modified: Some("Tue, 18 Sep 2012 23:47:08 GMT".into()),
            content_type: Some("image/jpeg".into()),
            content_md5: Some("lIsoS5bE+mPGrYfIWuLvqw==".into()),
            content_encoding: None,
            content_language: Some("en-US".into()),
            cache_control: Some("max-age=3600, <no> & more".into()),
            is_page_blob: false,
            metadata: vec![],
        }
    }

    #[test]
    fn properties_render_with_declaration_crlf_and_only_present_fields() {
        let text = render_properties(&sample());
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Properties>\r\n"));
        assert!(text.contains("  <Last-Modified>Tue, 18 Sep 2012 23:47:08 GMT</Last-Modified>\r\n"));
        assert!(text.contains("<Content-Length>163840</Content-Length>"));
        assert!(text.contains("&lt;no&gt; &amp; more"));
        assert!(!text.contains("Content-Encoding"));
        assert!(!text.replace("\r\n", "").contains('\n'), "every line ends in CRLF");
        let order: Vec<usize> = ["Last-Modified", "Etag", "Content-Length", "Content-Type", "Content-MD5", "Content-Language", "Cache-Control"]
            .iter()
            .map(|n| text.find(&format!("<{n}>")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "documented order");
    }

    #[test]
    fn properties_round_trip() {
        let p = sample();
        let text = render_properties(&p);
        let back = parse_properties_from(Cursor::new(text.into_bytes()), "x.properties".into()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn properties_parse_reads_the_etag_and_skips_unknown_elements() {
        let text = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Properties>\n<Etag>0x8D1</Etag><x-ms-blob-type>BlockBlob</x-ms-blob-type>\n</Properties>";
        let p = parse_properties_from(Cursor::new(text.as_bytes().to_vec()), "p".into()).unwrap();
        assert_eq!(p.etag.as_deref(), Some("0x8D1"));
        assert_eq!(p.length, 0);
    }

    #[test]
    fn garbled_properties_file_is_malformed() {
        for text in ["<Properties><Etag>x</Etag>", "<Metadata/>", "garbage", "<Properties><Content-Length>1x</Content-Length></Properties>"] {
            let err = parse_properties_from(Cursor::new(text.as_bytes().to_vec()), "p".into()).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::MalformedInput, "{text}");
        }
    }

    #[test]
    fn metadata_round_trips_in_order_with_unicode_values() {
        let pairs = vec![
            ("author".to_string(), "Zoë <z@example.com>".to_string()),
            ("Project_2".to_string(), "été".to_string()),
        ];
        let text = render_metadata(&pairs).unwrap();
        assert!(text.starts_with(DECLARATION));
        assert!(text.contains("  <author>Zoë &lt;z@example.com&gt;</author>\r\n"));
        let back = parse_metadata_from(Cursor::new(text.into_bytes()), "m".into()).unwrap();
        assert_eq!(back, pairs);
        assert_eq!(parse_metadata_from(Cursor::new(b"<Metadata />".to_vec()), "m".into()).unwrap(), vec![]);
    }

    #[test]
    fn metadata_names_that_are_not_element_names_are_refused() {
        for bad in ["", "1abc", "a b", "a<b", "xmlThing"] {
            let pairs = vec![(bad.to_string(), "v".to_string())];
            assert!(render_metadata(&pairs).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn files_on_disk_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg.properties");
        std::fs::write(&path, render_properties(&sample())).unwrap();
        assert_eq!(parse_properties(&path).unwrap().etag, sample().etag);
        let path = dir.path().join("a.jpg.metadata");
        std::fs::write(&path, render_metadata(&[("k".into(), "v".into())]).unwrap()).unwrap();
        assert_eq!(parse_metadata(&path).unwrap(), vec![("k".into(), "v".into())]);
    }

    #[test]
    fn dates_convert_between_http_and_rfc3339() {
        assert_eq!(http_date_to_rfc3339("Tue, 18 Sep 2012 23:47:08 GMT").as_deref(), Some("2012-09-18T23:47:08Z"));
        assert_eq!(http_date_to_rfc3339("2012-09-18T23:47:08Z"), None);
        assert_eq!(rfc3339_to_http_date("2012-09-18T23:47:08Z").as_deref(), Some("Tue, 18 Sep 2012 23:47:08 GMT"));
        assert_eq!(rfc3339_to_http_date("2012-09-19T01:47:08.123+02:00").as_deref(), Some("Tue, 18 Sep 2012 23:47:08 GMT"));
        assert_eq!(rfc3339_to_http_date("yesterday"), None);
    }
}
