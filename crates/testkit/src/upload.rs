//! Puts [`GenBlob`]s into blob storage (Azurite in tests) with the SDK, the way a
//! customer's data would be there before an export job.

use crate::{GenBlob, Uploaded};
use anyhow::{bail, Context as _};
use azure_core::request_options::Metadata;
use azure_storage::shared_access_signature::{service_sas::BlobSasPermissions, SasToken};
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::*;
use engine::blobstore::azure::AzureBlobStore;
use engine::blobstore::{BlobStore, Credential, StorageConfig};
use engine::model::{BlobRef, BlobType, Md5};
use std::collections::HashSet;

/// Blocks of large block blobs are put in pieces of this size.
pub const BLOCK_PIECE: usize = 64 * 1024 * 1024;
/// Put Page takes at most 4 MiB.
const PAGE_PIECE: u64 = 4 * 1024 * 1024;

/// Uploads `blobs`, creating their containers (including `$root`) as needed.
///
/// Block blobs of up to [`BLOCK_PIECE`] bytes are put in one request (the service then
/// stores their Content-MD5 itself); larger ones as blocks of that size plus a block
/// list that sets the Content-MD5 of the whole blob. Page blobs are created with their
/// length and only `page_ranges` are written. With `snapshot`, a snapshot is taken
/// after the upload and the base blob is then overwritten with other bytes.
///
/// Needs the account key (it creates containers). Returns, per blob, the snapshot id and
/// the exported version's properties as the engine's client reads them.
pub async fn upload(cfg: &StorageConfig, blobs: &[GenBlob]) -> anyhow::Result<Vec<Uploaded>> {
    let service = sdk_client(cfg)?;
    let store = AzureBlobStore::new(cfg).context("creating the engine's storage client")?;
    let mut containers = HashSet::new();
    let mut out = Vec::with_capacity(blobs.len());
    for b in blobs {
        if containers.insert(b.container.clone()) {
            create_container(&service, &b.container).await?;
        }
        let client = service
            .container_client(b.container.clone())
            .blob_client(b.name.clone());
        let what = format!("{}/{}", b.container, b.name);
        match b.blob_type {
            BlobType::Block => put_block_blob(&client, b).await,
            BlobType::Page => put_page_blob(&client, b).await,
        }
        .with_context(|| format!("uploading {what}"))?;
        if b.metadata
            .iter()
            .any(|(k, _)| k.chars().any(|c| c.is_ascii_uppercase()))
        {
            set_metadata_keeping_case(cfg, &client, &b.metadata)
                .await
                .with_context(|| format!("setting the metadata of {what}"))?;
        }

        let snapshot = if b.snapshot {
            let snap = client
                .snapshot()
                .await
                .with_context(|| format!("taking a snapshot of {what}"))?;
            overwrite_base(&client, b)
                .await
                .with_context(|| format!("overwriting {what} after its snapshot"))?;
            Some(snapshot_text(&snap.snapshot)?)
        } else {
            None
        };
        let blob_ref = BlobRef {
            path: what.clone(),
            snapshot: snapshot.clone(),
        };
        let properties = store
            .properties(&blob_ref)
            .await
            .with_context(|| format!("reading back {blob_ref}"))?;
        if properties.length != b.data.len() as u64 {
            bail!(
                "{blob_ref} reads back as {} bytes, not {}",
                properties.length,
                b.data.len()
            );
        }
        out.push(Uploaded {
            snapshot,
            properties,
        });
    }
    Ok(out)
}

/// An SDK client with the account key of `cfg`, at its endpoint.
pub fn sdk_client(cfg: &StorageConfig) -> anyhow::Result<BlobServiceClient> {
    let Credential::AccountKey(key) = &cfg.credential else {
        bail!("uploading test data needs the account key, not a SAS (it creates containers)");
    };
    let credentials = StorageCredentials::access_key(
        cfg.account.clone(),
        azure_core::auth::Secret::new(key.expose().to_string()),
    );
    let location = CloudLocation::Custom {
        account: cfg.account.clone(),
        uri: cfg.endpoint_url(),
    };
    Ok(ClientBuilder::with_location(location, credentials).blob_service_client())
}

async fn create_container(service: &BlobServiceClient, name: &str) -> anyhow::Result<()> {
    match service.container_client(name.to_string()).create().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_http_error()
                .is_some_and(|h| u16::from(h.status()) == 409) =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("creating container {name}"))),
    }
}

fn metadata(b: &GenBlob) -> Metadata {
    let mut m = Metadata::new();
    for (k, v) in &b.metadata {
        m.insert(k.clone(), v.clone());
    }
    m
}

async fn put_block_blob(client: &BlobClient, b: &GenBlob) -> anyhow::Result<()> {
    if b.data.len() <= BLOCK_PIECE {
        client
            .put_block_blob(b.data.clone())
            .content_type(b.content_type.clone())
            .metadata(metadata(b))
            .await?;
        return Ok(());
    }
    let mut list = Vec::new();
    for (i, piece) in b.data.chunks(BLOCK_PIECE).enumerate() {
        // Block ids must all have the same length.
        let id = BlockId::new(format!("block-{i:08}"));
        client.put_block(id.clone(), piece.to_vec()).await?;
        list.push(BlobBlockType::new_uncommitted(id));
    }
    client
        .put_block_list(BlockList { blocks: list })
        .content_type(b.content_type.clone())
        .content_md5(Md5::of(&b.data).0)
        .metadata(metadata(b))
        .await?;
    Ok(())
}

async fn put_page_blob(client: &BlobClient, b: &GenBlob) -> anyhow::Result<()> {
    let len = b.data.len() as u64;
    if len / 512 * 512 != len {
        bail!("a page blob's length must be a multiple of 512, not {len}");
    }
    client
        .put_page_blob(len as u128)
        .content_type(b.content_type.clone())
        .metadata(metadata(b))
        .await?;
    for &(offset, length) in &b.page_ranges {
        if offset + length > len {
            bail!("page range {offset}+{length} is beyond the blob's {len} bytes");
        }
        let mut at = offset;
        while at < offset + length {
            let n = PAGE_PIECE.min(offset + length - at);
            let range = BA512Range::new(at, at + n - 1)?;
            client
                .put_page(range, b.data[at as usize..(at + n) as usize].to_vec())
                .await?;
            at += n;
        }
    }
    Ok(())
}

/// Sets metadata with the names' case as given. Azure keeps the case of metadata names,
/// but the Rust HTTP stack (hyper) sends every header name in lower case, so the SDK
/// can only store lower-case names. This sends one plain HTTP/1.1 request itself,
/// authorised by a blob SAS that the SDK signs. Plain `http` endpoints (Azurite) only;
/// for `https` the SDK's lower-cased names stay.
async fn set_metadata_keeping_case(
    cfg: &StorageConfig,
    client: &BlobClient,
    metadata: &[(String, String)],
) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut url = client.url()?;
    if url.scheme() != "http" {
        return Ok(());
    }
    let permissions = BlobSasPermissions {
        write: true,
        ..Default::default()
    };
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let sas = client
        .shared_access_signature(permissions, expiry)
        .await?
        .token()?;
    url.set_query(Some(&format!("comp=metadata&{sas}")));
    let host = url
        .host_str()
        .context("endpoint without a host")?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);

    let mut request = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: {host}:{port}\r\nx-ms-version: 2022-11-02\r\n",
        url.path(),
        url.query().unwrap_or_default()
    );
    for (k, v) in metadata {
        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || v.contains(['\r', '\n'])
            || !v.is_ascii()
        {
            bail!("metadata {k:?} is not a valid name/value pair for a header");
        }
        request.push_str(&format!("x-ms-meta-{k}: {v}\r\n"));
    }
    request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");

    let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or_default();
    if !status_line.contains(" 200 ") {
        bail!(
            "the service answered {status_line:?} (endpoint {})",
            cfg.endpoint_url()
        );
    }
    Ok(())
}

/// Changes the base blob after its snapshot, so that reading the base instead of the
/// snapshot gives other bytes.
async fn overwrite_base(client: &BlobClient, b: &GenBlob) -> anyhow::Result<()> {
    match b.blob_type {
        BlobType::Block => {
            let other: Vec<u8> =
                b"changed after the snapshot; the export holds the snapshot's bytes\n".to_vec();
            client
                .put_block_blob(other)
                .content_type(b.content_type.clone())
                .await?;
        }
        BlobType::Page => {
            if b.data.len() >= 512 {
                let inverted: Vec<u8> = b.data[..512].iter().map(|x| !x).collect();
                client.put_page(BA512Range::new(0, 511)?, inverted).await?;
            }
        }
    }
    Ok(())
}

/// The snapshot id exactly as the service sent it (the SDK keeps it as opaque text).
fn snapshot_text(s: &Snapshot) -> anyhow::Result<String> {
    match serde_json::to_value(s)? {
        serde_json::Value::String(t) => Ok(t),
        other => bail!("unexpected snapshot id form {other}"),
    }
}
