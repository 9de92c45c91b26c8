//! Builds export drives for integration tests and benchmarks: the files the service
//! would have written (data files, `.properties` and `.metadata` files, the
//! `<DriveId>.manifest`), the damage a shipped drive may carry, and the export error
//! log that goes with it.
//!
//! The flow of a test: [`sample_blobs`] → upload them (the Azurite uploader returns
//! [`Uploaded`]; [`uploaded_offline`] fabricates it for drive-only tests) →
//! [`write_drive`] → [`apply_damage`] → [`write_copy_log`].
//!
//! Everything is deterministic for a given seed.

use crate::{GenBlob, Uploaded};
use anyhow::{bail, ensure, Context, Result};
use engine::blobstore::BlobProperties;
use engine::copylog::CopyLogWriter;
use engine::manifest::{ManifestReader, ManifestWriter};
use engine::model::{AuxFile, BlobRef, BlobType, LogAuxFile, LogBlob, LogRange, ManifestBlob, Md5, Range};
use engine::properties;
use engine::status::{BlobStatus, DriveStatus, FileStatus, RangeStatus};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
/// The block size the service's uploads use for large blobs.
pub const DEFAULT_BLOCK_SIZE: u64 = 4 * MIB;
/// The longest page range a manifest lists.
pub const MAX_PAGE_RANGE: u64 = 4 * MIB;
pub const PAGE_SIZE: u64 = 512;
/// [`GeneratedDrive`] keeps the bytes of blobs up to this size; bigger ones keep only
/// their MD5 and length, so a 1 GiB benchmark blob is not held twice.
pub const KEEP_BYTES_UP_TO: u64 = 64 * MIB;
/// Filler blobs of [`Scale::Total`] are at most this big.
pub const FILLER_BLOB_SIZE: u64 = 256 * MIB;
/// The manifest and copy-log version the generator writes.
pub const VERSION: &str = "2014-11-01";

/// How much data [`sample_blobs`] produces. Data is held in memory (a [`GenBlob`]
/// carries its bytes), so benchmarks should size it to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The realistic mix, about 15 MiB.
    Mix,
    /// A single block blob of this many bytes (4 MiB blocks), nothing else.
    OneBlob { bytes: u64 },
    /// The mix, then block blobs of at most [`FILLER_BLOB_SIZE`] until the total
    /// reaches `bytes`.
    Total { bytes: u64 },
}

/// A realistic mix of blobs: block blobs from 0 bytes to several MiB (4 MiB blocks,
/// smaller blocks for small files), a sparse page blob, a `$root` blob, a name with
/// spaces and accents, a snapshot, metadata on some.
pub fn sample_blobs(seed: u64, scale: Scale) -> Vec<GenBlob> {
    let mut rng = StdRng::seed_from_u64(seed);
    match scale {
        Scale::Mix => mix(&mut rng),
        Scale::OneBlob { bytes } => vec![block_blob(&mut rng, "big", "one.bin", bytes, DEFAULT_BLOCK_SIZE, false)],
        Scale::Total { bytes } => {
            let mut blobs = mix(&mut rng);
            let mut total: u64 = blobs.iter().map(|b| b.data.len() as u64).sum();
            let mut i = 0;
            while total < bytes {
                let size = (bytes - total).min(FILLER_BLOB_SIZE);
                let name = format!("part-{i:04}.bin");
                blobs.push(block_blob(&mut rng, "bulk", &name, size, DEFAULT_BLOCK_SIZE, false));
                total += size;
                i += 1;
            }
            blobs
        }
    }
}

fn mix(rng: &mut StdRng) -> Vec<GenBlob> {
    let mut blobs = Vec::new();
    // An empty blob: its block list is empty.
    blobs.push(text_blob(rng, "documents", "empty.txt", 0, DEFAULT_BLOCK_SIZE));
    // Four blocks like the published manifest's canyon.jpg (4 × 2721 bytes).
    let readme_len = 10_884 + rng.gen_range(0..64u64);
    let mut readme = text_blob(rng, "documents", "readme.txt", readme_len, readme_len.div_ceil(4));
    readme.metadata = vec![("author".into(), "Drive Repair tests".into()), ("project".into(), "export-fixture".into())];
    blobs.push(readme);
    // 64 KiB blocks with a short last block.
    let desert_len = 163_840 - rng.gen_range(1..4096u64);
    let mut desert = block_blob(rng, "pictures", "wild/desert.jpg", desert_len, 64 * KIB, false);
    desert.content_type = "image/jpeg".into();
    blobs.push(desert);
    // Several MiB: one full 4 MiB block and a partial one.
    let clip_len = 6 * MIB + rng.gen_range(1..100_000u64);
    blobs.push(block_blob(rng, "videos", "clip.bin", clip_len, DEFAULT_BLOCK_SIZE, false));
    blobs.push(page_blob(rng));
    let top_len = 1000 + rng.gen_range(0..500u64);
    blobs.push(text_blob(rng, "$root", "top-level.txt", top_len, DEFAULT_BLOCK_SIZE));
    let unicode_len = 5000 + rng.gen_range(0..500u64);
    let mut unicode = text_blob(rng, "photos", "été 2024/naïve café.txt", unicode_len, DEFAULT_BLOCK_SIZE);
    // Metadata values travel as HTTP headers, so they stay ASCII.
    unicode.metadata = vec![("caption".into(), "summer 2024, beach".into())];
    blobs.push(unicode);
    let bak_len = 300 * KIB + rng.gen_range(0..1000u64);
    blobs.push(block_blob(rng, "backups", "db.bak", bak_len, 128 * KIB, true));
    blobs
}

fn random_bytes(rng: &mut StdRng, len: u64) -> Vec<u8> {
    let mut data = vec![0u8; len as usize];
    rng.fill_bytes(&mut data);
    data
}

fn block_blob(rng: &mut StdRng, container: &str, name: &str, len: u64, block_size: u64, snapshot: bool) -> GenBlob {
    GenBlob {
        container: container.into(),
        name: name.into(),
        blob_type: BlobType::Block,
        data: random_bytes(rng, len),
        page_ranges: vec![],
        block_size,
        snapshot,
        metadata: vec![],
        content_type: "application/octet-stream".into(),
    }
}

fn text_blob(rng: &mut StdRng, container: &str, name: &str, len: u64, block_size: u64) -> GenBlob {
    const WORDS: &[&str] = &["export", "drive", "blob", "repair", "block", "page", "azure", "hash", "\r\n"];
    let mut data = Vec::with_capacity(len as usize);
    while (data.len() as u64) < len {
        data.extend_from_slice(WORDS[rng.gen_range(0..WORDS.len())].as_bytes());
        data.push(b' ');
    }
    data.truncate(len as usize);
    GenBlob {
        container: container.into(),
        name: name.into(),
        blob_type: BlobType::Block,
        data,
        page_ranges: vec![],
        block_size: block_size.max(1),
        snapshot: false,
        metadata: vec![],
        content_type: "text/plain; charset=utf-8".into(),
    }
}

/// An 8 MiB page blob with a 4 MiB range, an adjacent small one, one in the middle and
/// one at the very end; zeros elsewhere.
fn page_blob(rng: &mut StdRng) -> GenBlob {
    let len = 8 * MIB;
    let ranges = vec![
        (0, MAX_PAGE_RANGE),
        (MAX_PAGE_RANGE, PAGE_SIZE * rng.gen_range(1..16u64)),
        (6 * MIB + PAGE_SIZE * rng.gen_range(0..100u64), 64 * KIB),
        (len - 2 * PAGE_SIZE, 2 * PAGE_SIZE),
    ];
    let mut data = vec![0u8; len as usize];
    for &(offset, length) in &ranges {
        rng.fill_bytes(&mut data[offset as usize..(offset + length) as usize]);
    }
    GenBlob {
        container: "disks".into(),
        name: "sparse.vhd".into(),
        blob_type: BlobType::Page,
        data,
        page_ranges: ranges,
        block_size: 0,
        snapshot: false,
        metadata: vec![("disk".into(), "data-1".into()), ("Format_Version".into(), "2".into())],
        content_type: "application/octet-stream".into(),
    }
}

/// What an upload would have returned, for tests that need a drive but no storage:
/// an ETag, a Last-Modified one second apart per blob, a snapshot time for snapshot
/// blobs, Content-MD5 for block blobs, and the blob's metadata.
pub fn uploaded_offline(blobs: &[GenBlob]) -> Vec<Uploaded> {
    blobs
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let i = i as u64;
            let when = format!("2024-05-01T10:{:02}:{:02}Z", (i / 60) % 60, i % 60);
            Uploaded {
                snapshot: b.snapshot.then(|| format!("2024-05-01T11:{:02}:{:02}.1234567Z", (i / 60) % 60, i % 60)),
                properties: BlobProperties {
                    length: b.data.len() as u64,
                    etag: Some(format!("\"0x8DC69D3{:09X}\"", 0x1000 + i)),
                    last_modified: properties::rfc3339_to_http_date(&when),
                    content_type: Some(b.content_type.clone()),
                    content_md5: (b.blob_type == BlobType::Block).then(|| content_md5(&b.data)),
                    content_encoding: None,
                    content_language: None,
                    cache_control: None,
                    is_page_blob: b.blob_type == BlobType::Page,
                    metadata: b.metadata.clone(),
                },
            }
        })
        .collect()
}

fn content_md5(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Md5::of(data).0)
}

/// The drive path the service gives a blob: `\<container>\<name>` with backslashes
/// (`$root` stays a folder name).
pub fn drive_file_path(container: &str, name: &str) -> String {
    format!("\\{container}\\{}", name.replace('/', "\\"))
}

/// The true content of a generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    Bytes(Vec<u8>),
    /// For blobs over [`KEEP_BYTES_UP_TO`].
    Digest { md5: Md5, length: u64 },
}

impl Truth {
    fn of(data: &[u8], keep_up_to: u64) -> Truth {
        if data.len() as u64 <= keep_up_to {
            Truth::Bytes(data.to_vec())
        } else {
            Truth::Digest { md5: Md5::of(data), length: data.len() as u64 }
        }
    }

    pub fn md5(&self) -> Md5 {
        match self {
            Truth::Bytes(b) => Md5::of(b),
            Truth::Digest { md5, .. } => *md5,
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Truth::Bytes(b) => b.len() as u64,
            Truth::Digest { length, .. } => *length,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Truth::Bytes(b) => Some(b),
            Truth::Digest { .. } => None,
        }
    }

    /// Whether the file at `path` holds exactly the true content (hashing it in
    /// chunks, so big files are fine). A missing file does not match.
    pub fn matches_file(&self, path: &Path) -> Result<bool> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
        };
        if file.metadata()?.len() != self.len() {
            return Ok(false);
        }
        if let Truth::Bytes(b) = self {
            let mut on_disk = Vec::with_capacity(b.len());
            file.read_to_end(&mut on_disk)?;
            return Ok(&on_disk == b);
        }
        Ok(md5_of_reader(&mut file)? == self.md5())
    }
}

fn md5_of_reader(r: &mut impl Read) -> Result<Md5> {
    use md5::Digest;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Md5(hasher.finalize().into()))
}

/// One blob as written to the drive.
#[derive(Debug, Clone)]
pub struct DriveBlob {
    /// `\container\name`, as the manifest writes it.
    pub file_path: String,
    pub abs_path: PathBuf,
    pub truth: Truth,
    /// The manifest's entry (with the line the reader reports).
    pub entry: ManifestBlob,
    pub properties_abs_path: PathBuf,
    /// The exact bytes written, which the manifest's `PropertiesPath Hash=` covers.
    pub properties_bytes: Vec<u8>,
    pub metadata_abs_path: Option<PathBuf>,
    pub metadata_bytes: Option<Vec<u8>>,
}

impl DriveBlob {
    /// Whether the data file on the drive holds the true content.
    pub fn file_matches_truth(&self) -> Result<bool> {
        self.truth.matches_file(&self.abs_path)
    }
}

/// A drive written by [`write_drive`].
#[derive(Debug, Clone)]
pub struct GeneratedDrive {
    pub root: PathBuf,
    pub drive_id: String,
    pub manifest_path: PathBuf,
    /// In the order of the blobs given to [`write_drive`]; [`Damage`] indexes this.
    pub blobs: Vec<DriveBlob>,
}

/// Writes every blob at its FilePath under `root`, its properties file (and metadata
/// file when it has metadata), and the manifest `<root>/<drive_id>.manifest` with an
/// MD5 per block or page range and per properties and metadata file. Reads the
/// manifest back as a self-check.
pub fn write_drive(root: &Path, drive_id: &str, blobs: &[(GenBlob, Uploaded)]) -> Result<GeneratedDrive> {
    fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    let manifest_path = root.join(format!("{drive_id}.manifest"));
    let file = File::create(&manifest_path).with_context(|| format!("create {}", manifest_path.display()))?;
    let mut manifest = ManifestWriter::new(BufWriter::new(file), drive_id, VERSION)?;
    let mut written = Vec::with_capacity(blobs.len());
    for (gen, uploaded) in blobs {
        let blob = write_blob_files(root, gen, uploaded)?;
        manifest.write_blob(&blob.entry)?;
        written.push(blob);
    }
    manifest.finish()?;

    // Self-check, and take the line numbers the reader will report.
    let reader = ManifestReader::open(&manifest_path)?;
    let mut count = 0;
    for (read, blob) in reader.zip(written.iter_mut()) {
        let read = read?;
        ensure!(
            ManifestBlob { line: read.line, ..blob.entry.clone() } == read,
            "the manifest does not read back as written for {}",
            blob.file_path
        );
        blob.entry.line = read.line;
        count += 1;
    }
    ensure!(count == written.len(), "the manifest reads back {count} of {} blobs", written.len());
    Ok(GeneratedDrive { root: root.to_path_buf(), drive_id: drive_id.to_string(), manifest_path, blobs: written })
}

fn write_blob_files(root: &Path, gen: &GenBlob, uploaded: &Uploaded) -> Result<DriveBlob> {
    let file_path = drive_file_path(&gen.container, &gen.name);
    let abs_path = engine::paths::map_file_path(root, &file_path)?;
    write_file(&abs_path, &gen.data)?;
    let length = gen.data.len() as u64;
    let ranges = match gen.blob_type {
        BlobType::Block => block_ranges(&gen.data, gen.block_size)?,
        BlobType::Page => page_ranges(gen)?,
    };

    let properties_bytes = properties::render_properties(&uploaded.properties).into_bytes();
    let properties_path = format!("{file_path}.properties");
    let properties_abs_path = engine::paths::map_file_path(root, &properties_path)?;
    write_file(&properties_abs_path, &properties_bytes)?;

    let pairs = if uploaded.properties.metadata.is_empty() { &gen.metadata } else { &uploaded.properties.metadata };
    let (metadata, metadata_abs_path, metadata_bytes) = if pairs.is_empty() {
        (None, None, None)
    } else {
        let bytes = properties::render_metadata(pairs)?.into_bytes();
        let path = format!("{file_path}.metadata");
        let abs = engine::paths::map_file_path(root, &path)?;
        write_file(&abs, &bytes)?;
        (Some(AuxFile { path, hash: Some(Md5::of(&bytes)) }), Some(abs), Some(bytes))
    };

    let entry = ManifestBlob {
        blob: BlobRef { path: format!("{}/{}", gen.container, gen.name), snapshot: uploaded.snapshot.clone() },
        file_path: file_path.clone(),
        length,
        blob_type: gen.blob_type,
        ranges,
        properties: Some(AuxFile { path: properties_path, hash: Some(Md5::of(&properties_bytes)) }),
        metadata,
        line: 0,
    };
    Ok(DriveBlob {
        file_path,
        abs_path,
        truth: Truth::of(&gen.data, KEEP_BYTES_UP_TO),
        entry,
        properties_abs_path,
        properties_bytes,
        metadata_abs_path,
        metadata_bytes,
    })
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    fs::write(path, data).with_context(|| format!("write {}", path.display()))
}

fn block_ranges(data: &[u8], block_size: u64) -> Result<Vec<Range>> {
    ensure!(block_size > 0, "a block blob needs a block size above 0");
    Ok(data
        .chunks(block_size as usize)
        .scan(0u64, |offset, chunk| {
            let range = Range { offset: *offset, length: chunk.len() as u64, hash: Some(Md5::of(chunk)) };
            *offset += chunk.len() as u64;
            Some(range)
        })
        .collect())
}

// `u64::is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
#[allow(unknown_lints, clippy::manual_is_multiple_of)]
fn page_ranges(gen: &GenBlob) -> Result<Vec<Range>> {
    let len = gen.data.len() as u64;
    ensure!(len % PAGE_SIZE == 0, "page blob {} has length {len}, not a multiple of 512", gen.name);
    let mut prev_end = 0;
    gen.page_ranges
        .iter()
        .map(|&(offset, length)| {
            ensure!(
                offset % PAGE_SIZE == 0 && length % PAGE_SIZE == 0 && length > 0 && length <= MAX_PAGE_RANGE,
                "page range ({offset}, {length}) of {} is not 512-aligned or over 4 MiB",
                gen.name
            );
            ensure!(offset >= prev_end && offset + length <= len, "page ranges of {} overlap or pass the end", gen.name);
            prev_end = offset + length;
            let bytes = &gen.data[offset as usize..(offset + length) as usize];
            Ok(Range { offset, length, hash: Some(Md5::of(bytes)) })
        })
        .collect()
}

/// Damage a shipped drive may carry. `blob` indexes [`GeneratedDrive::blobs`];
/// `block` indexes that blob's manifest ranges (blocks or page ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// Silent: bytes of the block are flipped; the copy log does not mention it.
    CorruptBlock { blob: usize, block: usize },
    /// The block's bytes are zeroed and the copy log lists the block `Failed`.
    FailedBlock { blob: usize, block: usize },
    /// Silent: the file is cut to `to` bytes.
    Truncate { blob: usize, to: u64 },
    /// Silent: the file is deleted.
    Delete { blob: usize },
    /// The file is missing and the copy log says `BlobRequestFailed` with no block list.
    WholeBlobFailed { blob: usize },
    /// The properties file is garbled (cut in half) and the copy log says
    /// `<Properties Status="Failed" />` with `<BlockList />`.
    FailedProperties { blob: usize },
    /// Only in the copy log: an entry whose FilePath tries to leave the target.
    UnsafePathEntry { file_path: String },
}

fn blob_at(drive: &GeneratedDrive, blob: usize) -> Result<&DriveBlob> {
    drive
        .blobs
        .get(blob)
        .with_context(|| format!("damage names blob {blob}, but the drive has {}", drive.blobs.len()))
}

fn range_at(drive: &GeneratedDrive, blob: usize, block: usize) -> Result<(&DriveBlob, Range)> {
    let b = blob_at(drive, blob)?;
    let range = *b
        .entry
        .ranges
        .get(block)
        .with_context(|| format!("damage names range {block} of {}, which has {}", b.file_path, b.entry.ranges.len()))?;
    Ok((b, range))
}

/// Applies the damage to the files on the drive.
pub fn apply_damage(drive: &GeneratedDrive, damage: &[Damage]) -> Result<()> {
    for d in damage {
        match d {
            Damage::CorruptBlock { blob, block } => {
                let (b, range) = range_at(drive, *blob, *block)?;
                let mut file = OpenOptions::new().read(true).write(true).open(&b.abs_path)?;
                for at in [range.offset, range.offset + range.length / 2] {
                    let mut byte = [0u8];
                    file.seek(SeekFrom::Start(at))?;
                    file.read_exact(&mut byte)?;
                    file.seek(SeekFrom::Start(at))?;
                    file.write_all(&[byte[0] ^ 0xFF])?;
                }
            }
            Damage::FailedBlock { blob, block } => {
                let (b, range) = range_at(drive, *blob, *block)?;
                let mut file = OpenOptions::new().write(true).open(&b.abs_path)?;
                file.seek(SeekFrom::Start(range.offset))?;
                file.write_all(&vec![0u8; range.length as usize])?;
            }
            Damage::Truncate { blob, to } => {
                let b = blob_at(drive, *blob)?;
                if *to > b.truth.len() {
                    bail!("cannot truncate {} ({} bytes) to {to} bytes", b.file_path, b.truth.len());
                }
                OpenOptions::new().write(true).open(&b.abs_path)?.set_len(*to)?;
            }
            Damage::Delete { blob } | Damage::WholeBlobFailed { blob } => {
                let b = blob_at(drive, *blob)?;
                match fs::remove_file(&b.abs_path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e).with_context(|| format!("delete {}", b.abs_path.display()))
                    }
                    _ => {}
                }
            }
            Damage::FailedProperties { blob } => {
                let b = blob_at(drive, *blob)?;
                let half = &b.properties_bytes[..b.properties_bytes.len() / 2];
                fs::write(&b.properties_abs_path, half)?;
            }
            Damage::UnsafePathEntry { .. } => {}
        }
    }
    Ok(())
}

#[derive(Default)]
struct LoggedFailure {
    whole: bool,
    ranges: BTreeSet<usize>,
    properties: bool,
}

/// Writes the export error log for `drive` with `damage`: only failures are listed
/// (silent damage is not), `LastModified` comes from `uploaded` (indexed like the
/// drive's blobs; may be empty) in the log's `2012-09-18T23:47:08Z` form, and the
/// drive status is `CompletedWithErrors` when anything failed.
pub fn write_copy_log(path: &Path, drive: &GeneratedDrive, damage: &[Damage], uploaded: &[Uploaded]) -> Result<()> {
    let mut failures: BTreeMap<usize, LoggedFailure> = BTreeMap::new();
    let mut unsafe_paths = Vec::new();
    for d in damage {
        match d {
            Damage::CorruptBlock { blob, .. } | Damage::Truncate { blob, .. } | Damage::Delete { blob } => {
                blob_at(drive, *blob)?;
            }
            Damage::FailedBlock { blob, block } => {
                range_at(drive, *blob, *block)?;
                failures.entry(*blob).or_default().ranges.insert(*block);
            }
            Damage::WholeBlobFailed { blob } => {
                blob_at(drive, *blob)?;
                failures.entry(*blob).or_default().whole = true;
            }
            Damage::FailedProperties { blob } => {
                blob_at(drive, *blob)?;
                failures.entry(*blob).or_default().properties = true;
            }
            Damage::UnsafePathEntry { file_path } => unsafe_paths.push(file_path.clone()),
        }
    }

    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut log = CopyLogWriter::new(BufWriter::new(file), &drive.drive_id, Some(VERSION))?;
    for (&i, failure) in &failures {
        let b = &drive.blobs[i];
        let last_modified = uploaded
            .get(i)
            .and_then(|u| u.properties.last_modified.as_deref())
            .map(|t| properties::http_date_to_rfc3339(t).unwrap_or_else(|| t.to_string()));
        let entry = if failure.whole {
            LogBlob {
                blob: b.entry.blob.clone(),
                status: BlobStatus::BlobRequestFailed,
                file_path: b.file_path.clone(),
                length: Some(b.entry.length),
                last_modified,
                blob_type: None,
                ranges: vec![],
                properties: None,
                metadata: None,
                import_disposition: None,
                line: 0,
            }
        } else {
            LogBlob {
                blob: b.entry.blob.clone(),
                status: BlobStatus::CompletedWithErrors,
                file_path: b.file_path.clone(),
                length: Some(b.entry.length),
                last_modified,
                blob_type: Some(b.entry.blob_type),
                ranges: failure
                    .ranges
                    .iter()
                    .map(|&r| {
                        let range = b.entry.ranges[r];
                        LogRange { offset: range.offset, length: range.length, hash: None, status: RangeStatus::Failed }
                    })
                    .collect(),
                properties: failure
                    .properties
                    .then_some(LogAuxFile { status: FileStatus::Failed, path: None, hash: None }),
                metadata: None,
                import_disposition: None,
                line: 0,
            }
        };
        log.write_blob(&entry)?;
    }
    for file_path in &unsafe_paths {
        let blob_path = file_path.replace('\\', "/").trim_start_matches('/').to_string();
        log.write_blob(&LogBlob {
            blob: BlobRef { path: blob_path, snapshot: None },
            status: BlobStatus::BlobRequestFailed,
            file_path: file_path.clone(),
            length: Some(1024),
            last_modified: None,
            blob_type: None,
            ranges: vec![],
            properties: None,
            metadata: None,
            import_disposition: None,
            line: 0,
        })?;
    }
    let status = if failures.is_empty() && unsafe_paths.is_empty() {
        DriveStatus::Completed
    } else {
        DriveStatus::CompletedWithErrors
    };
    log.finish(Some(&status))?;
    Ok(())
}

/// The content of synthetic blob `i` of [`write_big_manifest`]: 16 to 255 bytes.
pub fn synthetic_content(i: u64) -> Vec<u8> {
    let len = 16 + (i % 240) as usize;
    let line = format!("synthetic blob {i}\n");
    line.bytes().cycle().take(len).collect()
}

/// The drive path of synthetic blob `i`: a thousand files per folder.
pub fn synthetic_file_path(i: u64) -> String {
    format!("\\bulk\\d{:04}\\f{i:07}.txt", i / 1000)
}

/// Streams a manifest of `blobs` small synthetic blobs (one block each, no
/// properties files), for the memory benchmark. Memory stays flat whatever `blobs` is.
pub fn write_big_manifest(path: &Path, drive_id: &str, blobs: u64) -> Result<()> {
    write_big(path, None, drive_id, blobs)
}

/// [`write_big_manifest`] at `<root>/<drive_id>.manifest`, plus the matching tiny
/// files when `write_small_files` is set. Returns the manifest's path.
pub fn write_big_drive(root: &Path, drive_id: &str, blobs: u64, write_small_files: bool) -> Result<PathBuf> {
    fs::create_dir_all(root)?;
    let path = root.join(format!("{drive_id}.manifest"));
    write_big(&path, write_small_files.then_some(root), drive_id, blobs)?;
    Ok(path)
}

fn write_big(path: &Path, files_root: Option<&Path>, drive_id: &str, blobs: u64) -> Result<()> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut manifest = ManifestWriter::new(BufWriter::with_capacity(256 * 1024, file), drive_id, VERSION)?;
    for i in 0..blobs {
        let data = synthetic_content(i);
        let file_path = synthetic_file_path(i);
        if let Some(root) = files_root {
            let abs = engine::paths::map_file_path(root, &file_path)?;
            if i % 1000 == 0 {
                if let Some(parent) = abs.parent() {
                    fs::create_dir_all(parent)?;
                }
            }
            fs::write(&abs, &data).with_context(|| format!("write {}", abs.display()))?;
        }
        manifest.write_blob(&ManifestBlob {
            blob: BlobRef { path: format!("bulk/d{:04}/f{i:07}.txt", i / 1000), snapshot: None },
            file_path,
            length: data.len() as u64,
            blob_type: BlobType::Block,
            ranges: vec![Range { offset: 0, length: data.len() as u64, hash: Some(Md5::of(&data)) }],
            properties: None,
            metadata: None,
            line: 0,
        })?;
    }
    manifest.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::copylog::read_copy_log;
    use engine::model::JobKind;

    fn offline_drive(dir: &Path, seed: u64) -> (Vec<GenBlob>, Vec<Uploaded>, GeneratedDrive) {
        let blobs = sample_blobs(seed, Scale::Mix);
        let uploaded = uploaded_offline(&blobs);
        let pairs: Vec<_> = blobs.iter().cloned().zip(uploaded.iter().cloned()).collect();
        let drive = write_drive(dir, "WD-TEST0001", &pairs).unwrap();
        (blobs, uploaded, drive)
    }

    fn index_of(blobs: &[GenBlob], name: &str) -> usize {
        blobs.iter().position(|b| b.name == name).unwrap()
    }

    #[test]
    fn mix_is_deterministic_and_realistic() {
        let a = sample_blobs(7, Scale::Mix);
        let b = sample_blobs(7, Scale::Mix);
        let c = sample_blobs(8, Scale::Mix);
        assert!(a.iter().zip(&b).all(|(x, y)| x.data == y.data && x.name == y.name));
        assert!(a.iter().zip(&c).any(|(x, y)| x.data != y.data));

        assert!(a.iter().any(|b| b.data.is_empty()));
        assert!(a.iter().any(|b| b.container == "$root"));
        assert!(a.iter().any(|b| b.name.contains(' ') && !b.name.is_ascii()));
        assert!(a.iter().any(|b| b.snapshot));
        assert!(a.iter().filter(|b| !b.metadata.is_empty()).count() >= 2);
        assert!(a.iter().any(|b| b.data.len() as u64 > DEFAULT_BLOCK_SIZE && b.block_size == DEFAULT_BLOCK_SIZE));
        assert!(a.iter().any(|b| b.block_size < 64 * KIB && !b.data.is_empty()));

        let page = a.iter().find(|b| b.blob_type == BlobType::Page).unwrap();
        assert_eq!(page.data.len() as u64 % PAGE_SIZE, 0);
        let mut covered = vec![false; page.data.len()];
        for &(o, l) in &page.page_ranges {
            assert!(o % PAGE_SIZE == 0 && l % PAGE_SIZE == 0 && l <= MAX_PAGE_RANGE);
            covered[o as usize..(o + l) as usize].iter_mut().for_each(|c| *c = true);
        }
        assert!(covered.iter().any(|c| !c), "sparse");
        assert!(page.data.iter().zip(&covered).all(|(byte, c)| *c || *byte == 0), "zeros outside the ranges");
    }

    #[test]
    fn scales_give_one_blob_or_a_total() {
        let one = sample_blobs(1, Scale::OneBlob { bytes: 9 * MIB + 5 });
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].data.len() as u64, 9 * MIB + 5);
        let mix_total: u64 = sample_blobs(1, Scale::Mix).iter().map(|b| b.data.len() as u64).sum();
        let total = sample_blobs(1, Scale::Total { bytes: mix_total + 3 * MIB });
        assert_eq!(total.iter().map(|b| b.data.len() as u64).sum::<u64>(), mix_total + 3 * MIB);
        assert_eq!(total.last().unwrap().container, "bulk");
    }

    #[test]
    fn written_drive_reads_back_and_hashes_match_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, uploaded, drive) = offline_drive(dir.path(), 42);
        assert_eq!(drive.manifest_path, dir.path().join("WD-TEST0001.manifest"));

        let mut reader = ManifestReader::open(&drive.manifest_path).unwrap();
        assert_eq!(reader.header().drive_id, "WD-TEST0001");
        let entries: Vec<ManifestBlob> = reader.by_ref().collect::<engine::Result<_>>().unwrap();
        assert_eq!(entries.len(), blobs.len());
        for ((entry, gen), written) in entries.iter().zip(&blobs).zip(&drive.blobs) {
            assert_eq!(entry, &written.entry);
            let on_disk = fs::read(&written.abs_path).unwrap();
            assert_eq!(on_disk, gen.data);
            assert!(written.file_matches_truth().unwrap());
            for r in &entry.ranges {
                let slice = &on_disk[r.offset as usize..r.end() as usize];
                assert_eq!(Some(Md5::of(slice)), r.hash, "{} at {}", entry.file_path, r.offset);
            }
            let props = entry.properties.as_ref().unwrap();
            let props_abs = engine::paths::map_file_path(dir.path(), &props.path).unwrap();
            assert_eq!(props.hash, Some(Md5::of(&fs::read(&props_abs).unwrap())));
            if let Some(meta) = &entry.metadata {
                let meta_abs = engine::paths::map_file_path(dir.path(), &meta.path).unwrap();
                assert_eq!(meta.hash, Some(Md5::of(&fs::read(&meta_abs).unwrap())));
                assert_eq!(properties::parse_metadata(&meta_abs).unwrap(), gen.metadata);
            } else {
                assert!(gen.metadata.is_empty());
            }
        }
        assert!(reader.warnings().is_empty());

        // The shapes the mix promises, as the manifest shows them.
        let root = &drive.blobs[index_of(&blobs, "top-level.txt")];
        assert_eq!(root.file_path, "\\$root\\top-level.txt");
        assert!(root.abs_path.ends_with("$root/top-level.txt"));
        let unicode = &drive.blobs[index_of(&blobs, "été 2024/naïve café.txt")];
        assert_eq!(unicode.file_path, "\\photos\\été 2024\\naïve café.txt");
        let snap = index_of(&blobs, "db.bak");
        assert_eq!(drive.blobs[snap].entry.blob.snapshot, uploaded[snap].snapshot);
        assert!(drive.blobs[snap].entry.blob.snapshot.is_some());
        let empty = &drive.blobs[index_of(&blobs, "empty.txt")];
        assert!(empty.entry.ranges.is_empty());
        let readme = &drive.blobs[index_of(&blobs, "readme.txt")];
        assert_eq!(readme.entry.ranges.len(), 4);
        let page = &drive.blobs[index_of(&blobs, "sparse.vhd")];
        assert_eq!(page.entry.blob_type, BlobType::Page);
        assert_eq!(page.entry.ranges.len(), 4);

        let props = properties::parse_properties(&readme.properties_abs_path).unwrap();
        assert_eq!(props.etag, uploaded[index_of(&blobs, "readme.txt")].properties.etag);
        assert_eq!(props.length, readme.truth.len());
    }

    #[test]
    fn damage_and_copy_log_agree() {
        let dir = tempfile::tempdir().unwrap();
        let drive_dir = dir.path().join("drive");
        let (blobs, uploaded, drive) = offline_drive(&drive_dir, 3);
        let clip = index_of(&blobs, "clip.bin");
        let desert = index_of(&blobs, "wild/desert.jpg");
        let page = index_of(&blobs, "sparse.vhd");
        let readme = index_of(&blobs, "readme.txt");
        let bak = index_of(&blobs, "db.bak");
        let top = index_of(&blobs, "top-level.txt");
        let unicode = index_of(&blobs, "été 2024/naïve café.txt");
        let damage = vec![
            Damage::CorruptBlock { blob: clip, block: 1 },
            Damage::FailedBlock { blob: desert, block: 1 },
            Damage::FailedBlock { blob: page, block: 2 },
            Damage::Truncate { blob: readme, to: 100 },
            Damage::Delete { blob: top },
            Damage::WholeBlobFailed { blob: bak },
            Damage::FailedProperties { blob: unicode },
            Damage::UnsafePathEntry { file_path: r"\..\..\escape.txt".into() },
        ];
        apply_damage(&drive, &damage).unwrap();
        let log_path = dir.path().join("logs/job_WD-TEST0001_error.xml");
        write_copy_log(&log_path, &drive, &damage, &uploaded).unwrap();

        // Silent damage: bytes differ, the log is quiet.
        let clip_bytes = fs::read(&drive.blobs[clip].abs_path).unwrap();
        let r = drive.blobs[clip].entry.ranges[1];
        assert_ne!(Some(Md5::of(&clip_bytes[r.offset as usize..r.end() as usize])), r.hash);
        assert_eq!(Some(Md5::of(&clip_bytes[..r.offset as usize])), drive.blobs[clip].entry.ranges[0].hash);
        assert_eq!(fs::metadata(&drive.blobs[readme].abs_path).unwrap().len(), 100);
        assert!(!drive.blobs[top].abs_path.exists());
        assert!(!drive.blobs[bak].abs_path.exists());
        let desert_bytes = fs::read(&drive.blobs[desert].abs_path).unwrap();
        let r = drive.blobs[desert].entry.ranges[1];
        assert!(desert_bytes[r.offset as usize..r.end() as usize].iter().all(|b| *b == 0));
        assert!(properties::parse_properties(&drive.blobs[unicode].properties_abs_path).is_err());
        assert!(!drive.blobs[clip].file_matches_truth().unwrap());
        assert!(drive.blobs[index_of(&blobs, "empty.txt")].file_matches_truth().unwrap());

        let (summary, logged) = read_copy_log(&log_path).unwrap();
        assert_eq!(summary.drive_id, "WD-TEST0001");
        assert_eq!(summary.version.as_deref(), Some(VERSION));
        assert_eq!(summary.status, Some(DriveStatus::CompletedWithErrors));
        assert_eq!(summary.kind, JobKind::Export);
        assert_eq!(logged.len(), 5, "failed block ×2, whole blob, properties, unsafe path");
        let find = |path: &str| logged.iter().find(|b| b.file_path == path).unwrap();

        let d = find(&drive.blobs[desert].file_path);
        assert_eq!(d.status, BlobStatus::CompletedWithErrors);
        assert_eq!(d.ranges.len(), 1);
        assert_eq!((d.ranges[0].offset, d.ranges[0].status.clone()), (64 * KIB, RangeStatus::Failed));
        assert_eq!(d.last_modified.as_deref(), Some("2024-05-01T10:00:02Z"));
        assert!(!d.needs_whole_blob());
        let p = find(&drive.blobs[page].file_path);
        assert_eq!(p.blob_type, Some(BlobType::Page));
        assert_eq!(p.ranges[0].offset, drive.blobs[page].entry.ranges[2].offset);
        let w = find(&drive.blobs[bak].file_path);
        assert_eq!(w.status, BlobStatus::BlobRequestFailed);
        assert_eq!(w.blob.snapshot, uploaded[bak].snapshot);
        assert!(w.needs_whole_blob());
        let u = find(&drive.blobs[unicode].file_path);
        assert!(u.only_aux_failed());
        assert!(!u.needs_whole_blob());
        let bad = find(r"\..\..\escape.txt");
        assert!(engine::paths::map_file_path(dir.path(), &bad.file_path).is_err());
    }

    #[test]
    fn undamaged_drive_logs_completed() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, drive) = offline_drive(&dir.path().join("d"), 9);
        let log = dir.path().join("log.xml");
        write_copy_log(&log, &drive, &[Damage::CorruptBlock { blob: 3, block: 0 }], &[]).unwrap();
        let (summary, logged) = read_copy_log(&log).unwrap();
        assert_eq!(summary.status, Some(DriveStatus::Completed));
        assert!(logged.is_empty());
    }

    #[test]
    fn damage_out_of_range_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, drive) = offline_drive(dir.path(), 5);
        assert!(apply_damage(&drive, &[Damage::Delete { blob: 99 }]).is_err());
        assert!(apply_damage(&drive, &[Damage::FailedBlock { blob: 0, block: 0 }]).is_err(), "empty blob has no blocks");
        assert!(apply_damage(&drive, &[Damage::Truncate { blob: 1, to: u64::MAX }]).is_err());
    }

    #[test]
    fn big_manifest_streams_and_matches_its_small_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_big_drive(dir.path(), "BIG0001", 2500, true).unwrap();
        let reader = ManifestReader::open(&path).unwrap();
        let mut n = 0;
        for entry in reader {
            let entry = entry.unwrap();
            let data = fs::read(engine::paths::map_file_path(dir.path(), &entry.file_path).unwrap()).unwrap();
            assert_eq!(entry.ranges[0].hash, Some(Md5::of(&data)));
            assert_eq!(entry.length, data.len() as u64);
            n += 1;
        }
        assert_eq!(n, 2500);
        let only = dir.path().join("only.manifest");
        write_big_manifest(&only, "BIG0002", 10).unwrap();
        assert_eq!(ManifestReader::open(&only).unwrap().count(), 10);
    }

    #[test]
    fn truth_keeps_digest_for_big_data() {
        let data = vec![1u8; 100];
        assert_eq!(Truth::of(&data, 100), Truth::Bytes(data.clone()));
        let t = Truth::of(&data, 99);
        assert_eq!(t, Truth::Digest { md5: Md5::of(&data), length: 100 });
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, &data).unwrap();
        assert!(t.matches_file(&f).unwrap());
        fs::write(&f, [1u8; 99]).unwrap();
        assert!(!t.matches_file(&f).unwrap());
        assert!(!t.matches_file(&dir.path().join("missing")).unwrap());
    }
}
