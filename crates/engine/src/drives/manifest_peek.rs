//! Recognising an export drive cheaply: a `*.manifest` at the root whose root element
//! is `DriveManifest`. Only the root element name, the first `DriveId` and the number of
//! `<Blob>` start tags are read, streaming, so a manifest of hundreds of MB costs one
//! pass and constant memory. The full parser lives in [`crate::manifest`].

use crate::error::{EngineError, Result, TextPos};
use quick_xml::events::Event;
use std::io::BufRead;
use std::path::Path;

/// What a quick look at a manifest tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPeek {
    pub drive_id: String,
    pub blob_count: u64,
}

/// Reads the file. `Ok(None)` if it is XML whose root is not `DriveManifest`.
pub fn peek_manifest_file(path: &Path) -> Result<Option<ManifestPeek>> {
    let f = std::fs::File::open(path).map_err(|e| EngineError::io("open manifest", path, e))?;
    peek_manifest(std::io::BufReader::with_capacity(256 * 1024, f), path)
}

pub fn peek_manifest<R: BufRead>(input: R, path: &Path) -> Result<Option<ManifestPeek>> {
    let mut reader = quick_xml::Reader::from_reader(input);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut seen_root = false;
    let mut in_drive_id = false;
    let mut drive_id: Option<String> = None;
    let mut blob_count = 0u64;

    let malformed = |reader: &quick_xml::Reader<R>, problem: String| EngineError::Malformed {
        file: path.to_path_buf(),
        pos: TextPos::default(),
        problem: format!("{problem} (at byte {})", reader.buffer_position()),
    };

    loop {
        let ev = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                if !seen_root {
                    // Not XML at all: not an export manifest, but say why.
                    return Err(malformed(&reader, format!("not an XML drive manifest: {e}")));
                }
                return Err(malformed(&reader, format!("the manifest is not well-formed XML: {e}")));
            }
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(ev, Event::Start(_));
                let name = e.local_name();
                if !seen_root {
                    if name.as_ref() != b"DriveManifest" {
                        return Ok(None);
                    }
                    seen_root = true;
                } else if name.as_ref() == b"Blob" {
                    blob_count += 1;
                } else if name.as_ref() == b"DriveId" && drive_id.is_none() {
                    if is_start {
                        in_drive_id = true;
                    } else {
                        drive_id = Some(String::new());
                    }
                }
            }
            Event::Text(t) if in_drive_id => {
                let text = t
                    .unescape()
                    .map_err(|e| malformed(&reader, format!("DriveId cannot be read: {e}")))?;
                drive_id = Some(text.trim().to_string());
            }
            Event::CData(t) if in_drive_id => {
                drive_id = Some(String::from_utf8_lossy(&t).trim().to_string());
            }
            Event::End(ref e) if in_drive_id && e.local_name().as_ref() == b"DriveId" => {
                in_drive_id = false;
                drive_id.get_or_insert_with(String::new);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err(malformed(&reader, "the file is empty or has no root element".into()));
    }
    match drive_id {
        Some(id) if !id.is_empty() => Ok(Some(ManifestPeek { drive_id: id, blob_count })),
        _ => Err(malformed(
            &reader,
            "the manifest names no drive: its <DriveId> is missing or empty".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peek(s: &str) -> Result<Option<ManifestPeek>> {
        peek_manifest(s.as_bytes(), Path::new("t.manifest"))
    }

    #[test]
    fn reads_drive_id_and_counts_blobs_with_bom_crlf_and_unknown_elements() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<DriveManifest Version=\"2014-11-01\">\r\n<Drive>\r\n  <DriveId> 9WM35C3U </DriveId>\r\n  <ClientCreator>x</ClientCreator>\r\n  <Extra><Blob/></Extra>\r\n  <BlobList>\r\n    <Blob><BlobPath>a/b</BlobPath><BlockList /></Blob>\r\n    <Blob><BlobPath>a/c</BlobPath><BlockList><Block Offset=\"0\" Length=\"1\" Hash=\"X\"/></BlockList></Blob>\r\n  </BlobList>\r\n  <BlobList><Blob></Blob></BlobList>\r\n</Drive>\r\n</DriveManifest>\r\n";
        assert_eq!(peek(xml).unwrap(), Some(ManifestPeek { drive_id: "9WM35C3U".into(), blob_count: 4 }));
    }

    #[test]
    fn other_roots_are_not_manifests() {
        assert_eq!(peek("<DriveLog><DriveId>X</DriveId></DriveLog>").unwrap(), None);
        assert_eq!(peek("<?xml version=\"1.0\"?><!-- c --><Properties/>").unwrap(), None);
    }

    #[test]
    fn missing_drive_id_and_broken_xml_are_errors_that_say_so() {
        let e = peek("<DriveManifest><Drive><BlobList/></Drive></DriveManifest>").unwrap_err();
        assert!(e.to_string().contains("DriveId"), "{e}");
        let e = peek("<DriveManifest><Drive><DriveId>A</DriveId><BlobList></Drive>").unwrap_err();
        assert!(e.to_string().contains("not well-formed"), "{e}");
        assert!(peek("").is_err());
    }

    #[test]
    fn the_published_sample_is_recognised() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drives/export-manifest-seed.xml");
        let peek = peek_manifest_file(&p).unwrap().unwrap();
        assert_eq!(peek.drive_id, "9WM35C3U");
        assert_eq!(peek.blob_count, 2);
    }
}
