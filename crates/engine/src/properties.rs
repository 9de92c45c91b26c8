//! TEMP placeholder for the repair branch (dropped on merge; the parsers branch owns this file).
//! Minimal but functional, because the repair tests go through it.

use crate::blobstore::BlobProperties;
use crate::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertiesFile {
    pub etag: Option<String>,
}

pub fn render_properties(p: &BlobProperties) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Properties>\r\n");
    if let Some(v) = &p.last_modified {
        s.push_str(&format!("  <Last-Modified>{v}</Last-Modified>\r\n"));
    }
    if let Some(v) = &p.etag {
        s.push_str(&format!("  <Etag>{v}</Etag>\r\n"));
    }
    s.push_str(&format!("  <Content-Length>{}</Content-Length>\r\n", p.length));
    s.push_str("</Properties>\r\n");
    s
}

pub fn render_metadata(pairs: &[(String, String)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Metadata>\r\n");
    for (k, v) in pairs {
        s.push_str(&format!("  <{k}>{v}</{k}>\r\n"));
    }
    s.push_str("</Metadata>\r\n");
    s
}

pub fn parse_properties(bytes: &[u8]) -> Result<PropertiesFile> {
    let text = String::from_utf8_lossy(bytes);
    let etag = text
        .split_once("<Etag>")
        .and_then(|(_, rest)| rest.split_once("</Etag>"))
        .map(|(v, _)| v.trim().to_string());
    Ok(PropertiesFile { etag })
}
