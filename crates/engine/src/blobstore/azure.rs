//! [`BlobStore`] for Azure Blob Storage (and Azurite), on the legacy `azure_storage_blobs`
//! 0.21 SDK.
//!
//! How the SDK is used, and where it is not:
//! - Every request goes through the SDK's pipeline (`azure_storage::clients::
//!   new_pipeline_from_options`), which signs it with the account key (Shared Key) or
//!   appends the SAS, and sets `x-ms-date` / `x-ms-version`. The SDK's retry policy is
//!   switched off (`RetryOptions::none()`: one attempt, non-2xx turned into an error):
//!   retries are the engine's ([`super::retry`]). The HTTP client is our own `reqwest`
//!   client, so that connect and read timeouts are set (the SDK's default has none).
//! - `read_range` sends its own signed GET instead of `BlobClient::get()`, because that
//!   builder (a) splits a range into 1 MiB requests unless `chunk_size` is set, and (b)
//!   always adds `x-ms-range-get-content-crc64: true` to ranges under 4 MiB, which the
//!   service refuses (400) together with `x-ms-range-get-content-md5: true`; the SDK has
//!   no way to remove a header it set. One GET per `read_range`, body streamed.
//! - `properties` sends its own HEAD, so that `Last-Modified` keeps the text the service
//!   sent and no SDK parser fails on a header Azurite or a newer service omits. The HTTP
//!   stack lower-cases header names, so metadata names (case-preserving in Azure) are read
//!   from a listing (`include=metadata`), which keeps their case and order.
//! - `list` parses the listing XML itself for the same reasons (raw `Last-Modified` text,
//!   `Encoded` names).
//! - `check_access` uses the SDK builders (`list_containers` / `list_blobs`, one result).
//!
//! Errors become [`StorageError`]; every detail text taken from the SDK or the HTTP stack
//! goes through [`redact`] first, so no key, SAS or `sig=` leaves this module.

use super::{BlobListing, BlobProperties, BlobStore, Credential, RangeBody, StorageConfig};
use crate::error::{EngineError, StorageError};
use crate::model::{BlobRef, Md5};
use crate::secret::{redact, Secret};
use azure_core::headers::{HeaderName, Headers};
use azure_core::{ClientOptions, Context, Method, Pipeline, RetryOptions, TransportOptions, Url};
use azure_storage::clients::ServiceType;
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::{BlobServiceClient, ClientBuilder};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

/// The service computes `x-ms-range-get-content-md5` only for ranges up to 4 MiB.
pub const MAX_CONTENT_MD5_RANGE: u64 = 4 * 1024 * 1024;

const MS_RANGE: HeaderName = HeaderName::from_static("x-ms-range");
const RANGE_GET_CONTENT_MD5: HeaderName = HeaderName::from_static("x-ms-range-get-content-md5");
const CONTENT_LENGTH: HeaderName = HeaderName::from_static("content-length");
const CONTENT_RANGE: HeaderName = HeaderName::from_static("content-range");
const CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");
const META_PREFIX: &str = "x-ms-meta-";

/// Network timeouts of the HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect plus TLS handshake.
    pub connect: Duration,
    /// The longest silence while waiting for response headers or the next body bytes.
    /// A stalled connection then fails as a transient [`StorageError::Network`].
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            read: Duration::from_secs(60),
        }
    }
}

/// How requests are authorised, and what a container SAS is limited to.
#[derive(Debug, Clone)]
enum Auth {
    Key,
    Sas {
        /// The container the SAS is for, when known (from a SAS URL, or [`AzureBlobStore::with_container`]).
        container: Option<String>,
        /// `se=`, the expiry, as written.
        expiry: Option<String>,
        /// An account SAS (`srt=`) is not limited to one container.
        account_sas: bool,
    },
}

/// The Azure Blob Storage client. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct AzureBlobStore {
    service: BlobServiceClient,
    pipeline: Pipeline,
    /// The blob endpoint, e.g. `https://acct.blob.core.windows.net/` or
    /// `http://127.0.0.1:10000/devstoreaccount1`; never holds a query.
    base_url: Url,
    /// `base_url` as shown in messages.
    endpoint: String,
    account: String,
    auth: Auth,
    secrets: Arc<Vec<Secret>>,
    /// Set once the service has answered at all. A connection failure before that means
    /// a wrong account name or endpoint ([`StorageError::Unreachable`], not retried);
    /// after it, a dropped network ([`StorageError::Network`], retried).
    reached: Arc<AtomicBool>,
}

impl std::fmt::Debug for AzureBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBlobStore")
            .field("endpoint", &self.endpoint)
            .field("account", &self.account)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl AzureBlobStore {
    pub fn new(cfg: &StorageConfig) -> crate::Result<Self> {
        Self::with_timeouts(cfg, Timeouts::default())
    }

    pub fn with_timeouts(cfg: &StorageConfig, timeouts: Timeouts) -> crate::Result<Self> {
        let account = cfg.account.trim().to_string();
        if account.is_empty() {
            return Err(usage("no storage account name was given"));
        }

        let (credentials, auth, sas_base, secrets) = match &cfg.credential {
            Credential::AccountKey(key) => {
                let k = key.expose().trim();
                use base64::Engine as _;
                let decoded = base64::engine::general_purpose::STANDARD.decode(k);
                if k.is_empty() || decoded.map(|d| d.is_empty()).unwrap_or(true) {
                    return Err(usage(
                        "the storage account key is not valid: it should be the base64 text \
                         (usually 88 characters, ending in \"==\") shown under Access keys in the Azure portal",
                    ));
                }
                let creds = StorageCredentials::access_key(
                    account.clone(),
                    azure_core::auth::Secret::new(k.to_string()),
                );
                (creds, Auth::Key, None, vec![key.clone(), Secret::new(k)])
            }
            Credential::ContainerSas(sas) => {
                let parsed = parse_sas(sas.expose())?;
                let creds = StorageCredentials::sas_token(&parsed.query)
                    .map_err(|_| usage("the container SAS could not be read as a query string"))?;
                let secrets = vec![
                    sas.clone(),
                    Secret::new(parsed.query.clone()),
                    Secret::new(parsed.sig.clone()),
                ];
                let auth = Auth::Sas {
                    container: if parsed.account_sas {
                        None
                    } else {
                        parsed.container.clone()
                    },
                    expiry: parsed.expiry.clone(),
                    account_sas: parsed.account_sas,
                };
                (creds, auth, parsed.base_url, secrets)
            }
        };

        let base_url = match (&cfg.endpoint, sas_base) {
            (Some(e), _) => parse_endpoint(e)?,
            (None, Some(from_sas_url)) => from_sas_url,
            (None, None) => {
                if !is_account_name(&account) {
                    return Err(usage(format!(
                        "the storage account name {account:?} is not valid: it has 3 to 24 lower-case \
                         letters and digits (give an endpoint for other clouds or the emulator)"
                    )));
                }
                parse_endpoint(&format!("https://{account}.blob.core.windows.net"))?
            }
        };
        if let Some(host_account) = public_host_account(&base_url) {
            if host_account != account {
                return Err(usage(format!(
                    "the endpoint {} belongs to the storage account {host_account:?}, not {account:?}",
                    display_url(&base_url)
                )));
            }
        }

        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.read)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| EngineError::Internal(format!("cannot set up the HTTP client: {e}")))?;
        let options =
            ClientOptions::new(TransportOptions::new(Arc::new(http))).retry(RetryOptions::none());
        let location = CloudLocation::Custom {
            account: account.clone(),
            uri: base_url.as_str().trim_end_matches('/').to_string(),
        };
        let service = ClientBuilder::with_location(location, credentials.clone())
            .client_options(options.clone())
            .blob_service_client();
        let pipeline = azure_storage::clients::new_pipeline_from_options(options, credentials);

        Ok(AzureBlobStore {
            service,
            pipeline,
            endpoint: display_url(&base_url),
            base_url,
            account,
            auth,
            secrets: Arc::new(secrets),
            reached: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Names the container a container SAS given as a bare query string is for. A SAS
    /// does not name its container, so without this (or a SAS URL) `check_access` cannot
    /// test it, and requests for other containers are not refused up front. No effect
    /// with an account key or an account SAS.
    pub fn with_container(mut self, container: impl Into<String>) -> Self {
        if let Auth::Sas {
            container: c,
            account_sas: false,
            ..
        } = &mut self.auth
        {
            *c = Some(container.into());
        }
        self
    }

    /// The blob endpoint requests go to (no secrets in it).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The container a container SAS is limited to, when known.
    pub fn sas_container(&self) -> Option<&str> {
        match &self.auth {
            Auth::Sas { container, .. } => container.as_deref(),
            Auth::Key => None,
        }
    }

    fn blob_url(&self, container: &str, name: &str, snapshot: Option<&str>) -> Url {
        let mut url = self.container_url(container);
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .extend(name.split('/'));
        if let Some(s) = snapshot {
            url.query_pairs_mut().append_pair("snapshot", s);
        }
        url
    }

    fn container_url(&self, container: &str) -> Url {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .push(container);
        url
    }

    /// With a container SAS, a request for another container is refused here: the
    /// service would refuse it too, after a round trip.
    fn check_scope(&self, container: &str, what: &str) -> Result<(), StorageError> {
        match &self.auth {
            Auth::Sas {
                container: Some(c), ..
            } if c != container => Err(StorageError::Forbidden {
                blob: format!("{what}: the SAS is for container {c:?}"),
            }),
            _ => Ok(()),
        }
    }

    /// Sends one signed request through the SDK pipeline; non-2xx answers come back as errors.
    async fn send(
        &self,
        method: Method,
        url: Url,
        headers: Headers,
        what: &str,
    ) -> Result<azure_core::Response, StorageError> {
        let mut request = azure_storage::clients::finalize_request(url, method, headers, None)
            .map_err(|e| self.classify(e, what))?;
        let mut ctx = Context::new();
        ctx.insert(ServiceType::Blob);
        match self.pipeline.send(&ctx, &mut request).await {
            Ok(response) => {
                self.reached.store(true, Ordering::Relaxed);
                Ok(response)
            }
            Err(e) => Err(self.classify(e, what)),
        }
    }

    fn classify(&self, err: azure_core::Error, what: &str) -> StorageError {
        classify(&err, what, &self.endpoint, &self.secrets, &self.reached)
    }

    async fn read_range_impl(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        want_content_md5: bool,
    ) -> Result<RangeBody, StorageError> {
        let what = blob.to_string();
        let (container, name) = blob.split();
        self.check_scope(container, &what)?;
        if length == 0 {
            return Ok(RangeBody {
                content_md5: None,
                chunks: futures::stream::empty().boxed(),
            });
        }
        let last = offset
            .checked_add(length - 1)
            .ok_or_else(|| StorageError::Service {
                blob: what.clone(),
                status: 416,
                detail: Some(format!(
                    "the range {offset}+{length} is beyond any blob size"
                )),
            })?;
        let ask_md5 = want_content_md5 && length <= MAX_CONTENT_MD5_RANGE;
        let mut headers = Headers::new();
        headers.insert(MS_RANGE, format!("bytes={offset}-{last}"));
        if ask_md5 {
            headers.insert(RANGE_GET_CONTENT_MD5, "true");
        }
        let url = self.blob_url(container, name, blob.snapshot.as_deref());
        let response = self.send(Method::Get, url, headers, &what).await?;
        let (status, headers, body) = response.deconstruct();
        let status = u16::from(status);

        let content_length = headers
            .get_optional_str(&CONTENT_LENGTH)
            .and_then(|v| v.trim().parse::<u64>().ok());
        let range = headers
            .get_optional_str(&CONTENT_RANGE)
            .and_then(parse_content_range);
        let starts_right = match range {
            Some((start, _, _)) => start == offset,
            None => offset == 0 && status == 200,
        };
        if !starts_right {
            return Err(StorageError::Service {
                blob: what,
                status,
                detail: Some(format!(
                    "the service did not answer with the range starting at {offset}"
                )),
            });
        }
        match content_length {
            Some(n) if n == length => {}
            Some(n) => {
                let total = range.map(|r| r.2).unwrap_or(n);
                return Err(StorageError::Service {
                    blob: what,
                    status: 416,
                    detail: Some(format!(
                        "the blob is {total} bytes long, but bytes {offset} to {} were asked for; \
                         it may have changed after the export",
                        offset + length
                    )),
                });
            }
            None => {
                return Err(StorageError::Service {
                    blob: what,
                    status,
                    detail: Some("the answer has no Content-Length".into()),
                })
            }
        }
        let content_md5 = if ask_md5 {
            headers
                .get_optional_str(&CONTENT_MD5)
                .and_then(Md5::parse_base64)
        } else {
            None
        };
        let chunks = CheckedBody {
            inner: body,
            expected: length,
            received: 0,
            what,
            secrets: self.secrets.clone(),
            done: false,
        };
        Ok(RangeBody {
            content_md5,
            chunks: chunks.boxed(),
        })
    }

    async fn properties_impl(&self, blob: &BlobRef) -> Result<BlobProperties, StorageError> {
        let what = blob.to_string();
        let (container, name) = blob.split();
        self.check_scope(container, &what)?;
        let url = self.blob_url(container, name, blob.snapshot.as_deref());
        let response = self.send(Method::Head, url, Headers::new(), &what).await?;
        let h = response.headers();
        let text = |name: &'static str| h.get_optional_string(&HeaderName::from_static(name));
        let length = text("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| StorageError::Service {
                blob: what.clone(),
                status: u16::from(response.status()),
                detail: Some("the answer has no Content-Length".into()),
            })?;
        let mut header_metadata: Vec<(String, String)> = h
            .iter()
            .filter_map(|(k, v)| {
                k.as_str()
                    .strip_prefix(META_PREFIX)
                    .map(|k| (k.to_string(), v.as_str().to_string()))
            })
            .collect();
        header_metadata.sort();
        let mut props = BlobProperties {
            length,
            etag: text("etag"),
            last_modified: text("last-modified"),
            content_type: text("content-type"),
            content_md5: text("content-md5"),
            content_encoding: text("content-encoding"),
            content_language: text("content-language"),
            cache_control: text("cache-control"),
            is_page_blob: text("x-ms-blob-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("PageBlob")),
            metadata: Vec::new(),
        };
        if !header_metadata.is_empty() {
            props.metadata = match self
                .listed_metadata(container, name, blob.snapshot.as_deref(), &what)
                .await
            {
                // The listing may be of a newer version than the HEAD saw; trust it only if
                // it has the same names.
                Ok(Some(listed)) if same_names(&listed, &header_metadata) => listed,
                Ok(_) => header_metadata,
                // A SAS without list permission: fall back to the lower-cased header names.
                Err(StorageError::Forbidden { .. }) | Err(StorageError::NotFound { .. }) => {
                    header_metadata
                }
                Err(e) => return Err(e),
            };
        }
        Ok(props)
    }

    /// The blob's metadata as a listing gives it: names in their original case, in the
    /// service's order. `None` if the listing does not show the blob.
    async fn listed_metadata(
        &self,
        container: &str,
        name: &str,
        snapshot: Option<&str>,
        what: &str,
    ) -> Result<Option<Vec<(String, String)>>, StorageError> {
        let include = if snapshot.is_some() {
            "metadata,snapshots"
        } else {
            "metadata"
        };
        let mut marker = None;
        loop {
            let page = self
                .list_page(container, name, include, marker.as_deref(), what)
                .await?;
            if let Some(b) = page
                .blobs
                .into_iter()
                .find(|b| b.name == name && b.snapshot.as_deref() == snapshot)
            {
                return Ok(Some(b.metadata));
            }
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => return Ok(None),
            }
        }
    }

    async fn list_page(
        &self,
        container: &str,
        prefix: &str,
        include: &str,
        marker: Option<&str>,
        what: &str,
    ) -> Result<ListPage, StorageError> {
        let mut url = self.container_url(container);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("restype", "container")
                .append_pair("comp", "list");
            if !prefix.is_empty() {
                q.append_pair("prefix", prefix);
            }
            if !include.is_empty() {
                q.append_pair("include", include);
            }
            if let Some(m) = marker {
                q.append_pair("marker", m);
            }
        }
        let response = self.send(Method::Get, url, Headers::new(), what).await?;
        let status = u16::from(response.status());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.classify(e, what))?;
        parse_list_page(&body).map_err(|problem| StorageError::Service {
            blob: what.to_string(),
            status,
            detail: Some(format!("the blob listing could not be read: {problem}")),
        })
    }

    async fn list_impl(
        &self,
        container: &str,
        prefix: &str,
    ) -> Result<Vec<BlobListing>, StorageError> {
        let what = if prefix.is_empty() {
            container.to_string()
        } else {
            format!("{container}/{prefix}")
        };
        self.check_scope(container, &what)?;
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .list_page(container, prefix, "", marker.as_deref(), &what)
                .await?;
            out.extend(page.blobs.into_iter().map(|b| BlobListing {
                container: container.to_string(),
                name: b.name,
                length: b.length,
                last_modified: b.last_modified,
            }));
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => return Ok(out),
            }
        }
    }

    async fn check_access_impl(&self) -> Result<(), StorageError> {
        let one = azure_core::prelude::MaxResults::new(NonZeroU32::MIN);
        match &self.auth {
            Auth::Key
            | Auth::Sas {
                account_sas: true, ..
            } => {
                let what = format!("storage account {}", self.account);
                let first = self
                    .service
                    .list_containers()
                    .max_results(one)
                    .into_stream()
                    .next()
                    .await;
                self.first_page_ok(first, &what)
            }
            Auth::Sas {
                container: Some(container),
                ..
            } => {
                let what = format!("container {container}");
                let first = self
                    .service
                    .container_client(container.clone())
                    .list_blobs()
                    .max_results(one)
                    .into_stream()
                    .next()
                    .await;
                self.first_page_ok(first, &what)
            }
            Auth::Sas {
                container: None,
                expiry,
                ..
            } => {
                // The SAS does not say which container it is for, so only what can be
                // known is checked: that it has not expired and that the endpoint answers.
                let what = format!("storage account {} (container SAS)", self.account);
                if expiry
                    .as_deref()
                    .and_then(parse_sas_time)
                    .is_some_and(|t| t < time::OffsetDateTime::now_utc())
                {
                    return Err(StorageError::Forbidden {
                        blob: format!("{what}: the SAS has expired"),
                    });
                }
                let mut url = self.base_url.clone();
                url.query_pairs_mut()
                    .append_pair("comp", "list")
                    .append_pair("maxresults", "1");
                match self.send(Method::Get, url, Headers::new(), &what).await {
                    Ok(_)
                    | Err(StorageError::Forbidden { .. })
                    | Err(StorageError::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }

    fn first_page_ok<T>(
        &self,
        first: Option<azure_core::Result<T>>,
        what: &str,
    ) -> Result<(), StorageError> {
        match first {
            Some(Ok(_)) | None => {
                self.reached.store(true, Ordering::Relaxed);
                Ok(())
            }
            Some(Err(e)) => Err(self.classify(e, what)),
        }
    }
}

impl BlobStore for AzureBlobStore {
    fn check_access(&self) -> impl std::future::Future<Output = Result<(), StorageError>> + Send {
        self.check_access_impl()
    }

    fn properties(
        &self,
        blob: &BlobRef,
    ) -> impl std::future::Future<Output = Result<BlobProperties, StorageError>> + Send {
        self.properties_impl(blob)
    }

    /// One GET for the whole range, its body streamed. With `want_content_md5` and a range
    /// of at most [`MAX_CONTENT_MD5_RANGE`], the service's MD5 of the range comes back in
    /// `content_md5`; for longer ranges the flag is ignored (the service would refuse it)
    /// and `content_md5` is `None`. A range reaching past the blob's end fails with
    /// `Service { status: 416 }` (not transient). A body cut short fails the stream with
    /// a transient [`StorageError::Network`].
    fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        want_content_md5: bool,
    ) -> impl std::future::Future<Output = Result<RangeBody, StorageError>> + Send {
        self.read_range_impl(blob, offset, length, want_content_md5)
    }

    fn list(
        &self,
        container: &str,
        prefix: &str,
    ) -> impl std::future::Future<Output = Result<Vec<BlobListing>, StorageError>> + Send {
        self.list_impl(container, prefix)
    }
}

/// The body of a range GET: counts bytes so that a body cut short is an error even if
/// the connection closed cleanly, and turns transport errors into `Network`.
struct CheckedBody {
    inner: azure_core::ResponseBody,
    expected: u64,
    received: u64,
    what: String,
    secrets: Arc<Vec<Secret>>,
    done: bool,
}

impl CheckedBody {
    fn fail(&mut self, detail: String) -> Poll<Option<Result<Bytes, StorageError>>> {
        self.done = true;
        Poll::Ready(Some(Err(StorageError::Network {
            blob: self.what.clone(),
            attempts: 1,
            detail,
        })))
    }
}

impl Stream for CheckedBody {
    type Item = Result<Bytes, StorageError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match futures::ready!(self.inner.poll_next_unpin(cx)) {
            Some(Ok(bytes)) => {
                self.received += bytes.len() as u64;
                if self.received > self.expected {
                    let detail = format!(
                        "the service sent more than the {} bytes asked for",
                        self.expected
                    );
                    return self.fail(detail);
                }
                Poll::Ready(Some(Ok(bytes)))
            }
            Some(Err(e)) => {
                let detail = format!(
                    "the download broke off after {} of {} bytes: {}",
                    self.received,
                    self.expected,
                    redact(&describe(&e), &self.secrets.iter().collect::<Vec<_>>())
                );
                self.fail(detail)
            }
            None if self.received < self.expected => {
                let detail = format!(
                    "the connection closed after {} of {} bytes",
                    self.received, self.expected
                );
                self.fail(detail)
            }
            None => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}

/// Maps an SDK error onto the copy log's vocabulary.
fn classify(
    err: &azure_core::Error,
    what: &str,
    endpoint: &str,
    secrets: &[Secret],
    reached: &AtomicBool,
) -> StorageError {
    let secrets: Vec<&Secret> = secrets.iter().collect();
    if let azure_core::error::ErrorKind::HttpResponse { status, error_code } = err.kind() {
        reached.store(true, Ordering::Relaxed);
        let status = u16::from(*status);
        let blob = what.to_string();
        return match status {
            401 | 403 => StorageError::Forbidden { blob },
            404 => StorageError::NotFound { blob },
            _ => {
                let message = err
                    .as_http_error()
                    .and_then(|h| h.error_message())
                    .map(|m| m.lines().next().unwrap_or("").trim().to_string());
                let detail = match (error_code, message) {
                    (Some(c), Some(m)) if !m.is_empty() => Some(format!("{c}: {m}")),
                    (Some(c), _) => Some(c.clone()),
                    (None, Some(m)) if !m.is_empty() => Some(m),
                    _ => None,
                };
                StorageError::Service {
                    blob,
                    status,
                    detail: detail.map(|d| redact(&d, &secrets)),
                }
            }
        };
    }
    let detail = redact(&describe(err), &secrets);
    let transport = find_source::<reqwest::Error>(err);
    match transport {
        Some(t) if t.is_connect() && !reached.load(Ordering::Relaxed) => {
            StorageError::Unreachable {
                endpoint: endpoint.to_string(),
                detail,
            }
        }
        Some(_) => StorageError::Network {
            blob: what.to_string(),
            attempts: 1,
            detail,
        },
        None if *err.kind() == azure_core::error::ErrorKind::Io => StorageError::Network {
            blob: what.to_string(),
            attempts: 1,
            detail,
        },
        // Not a transport failure: an answer that could not be understood.
        None => StorageError::Service {
            blob: what.to_string(),
            status: 0,
            detail: Some(detail),
        },
    }
}

fn find_source<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// A short text for a transport error: what failed, and the root cause the operating
/// system or TLS library gave (e.g. "Connection refused (os error 111)"). Not yet redacted.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let Some(t) = find_source::<reqwest::Error>(err) else {
        return error_chain(err);
    };
    let mut root: &(dyn std::error::Error + 'static) = t;
    while let Some(next) = root.source() {
        root = next;
    }
    let cause = root.to_string();
    if t.is_timeout() {
        "no answer within the time limit (timed out)".to_string()
    } else if t.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        format!("the connection failed: {cause}")
    }
}

/// "outer: inner: innermost", without repeats (not yet redacted).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

fn usage(message: impl Into<String>) -> EngineError {
    EngineError::Usage {
        message: message.into(),
    }
}

fn is_account_name(s: &str) -> bool {
    (3..=24).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `acct` for `https://acct.blob.core.windows.net`-style hosts (any Azure cloud).
fn public_host_account(url: &Url) -> Option<&str> {
    let host = url.host_str()?;
    let (first, rest) = host.split_once('.')?;
    rest.starts_with("blob.core.").then_some(first)
}

fn display_url(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

fn parse_endpoint(text: &str) -> crate::Result<Url> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|_| {
        usage(format!(
            "the endpoint {text:?} is not a URL (e.g. https://myaccount.blob.core.windows.net)"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(usage(format!(
            "the endpoint {} must be an http or https URL",
            display_url(&url)
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(usage(
            "the endpoint must not have a query string; give the SAS as the credential",
        ));
    }
    Ok(url)
}

struct ParsedSas {
    /// The query without a leading `?`.
    query: String,
    sig: String,
    expiry: Option<String>,
    account_sas: bool,
    /// From a full container URL.
    container: Option<String>,
    base_url: Option<Url>,
}

/// Accepts `?sv=…&sig=…`, `sv=…&sig=…` or `https://acct.blob.core.windows.net/container?sv=…`.
/// Messages never repeat the SAS.
fn parse_sas(raw: &str) -> crate::Result<ParsedSas> {
    let raw = raw.trim();
    let (query, container, base_url) = if super::is_sas_url(raw) {
        let url = Url::parse(raw).map_err(|_| usage("the container SAS URL is not a valid URL"))?;
        let query = url.query().filter(|q| !q.is_empty()).ok_or_else(|| {
            usage("the container SAS URL has no SAS after the \"?\"; copy the whole SAS URL")
        })?;
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        let (container, base) = match segments.split_last() {
            Some((last, before)) => {
                let container = percent_encoding::percent_decode_str(last)
                    .decode_utf8_lossy()
                    .into_owned();
                let mut base = url.clone();
                base.set_query(None);
                base.set_fragment(None);
                base.set_path(&before.join("/"));
                (Some(container), base)
            }
            None => {
                let mut base = url.clone();
                base.set_query(None);
                base.set_fragment(None);
                (None, base)
            }
        };
        (query.to_string(), container, Some(base))
    } else {
        (raw.trim_start_matches('?').to_string(), None, None)
    };

    let mut sig = None;
    let mut version = false;
    let mut resource = None;
    let mut expiry = None;
    let mut account_sas = false;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "sig" => sig = Some(v.into_owned()),
            "sv" => version = true,
            "sr" => resource = Some(v.into_owned()),
            "se" => expiry = Some(v.into_owned()),
            "srt" => account_sas = true,
            _ => {}
        }
    }
    let sig = sig.filter(|s| !s.is_empty()).ok_or_else(|| {
        usage("the container SAS is malformed: it has no signature (sig=). Copy the whole SAS token or SAS URL")
    })?;
    if !version {
        return Err(usage("the container SAS is malformed: it has no version (sv=). Copy the whole SAS token or SAS URL"));
    }
    if let Some(r) = resource.as_deref() {
        if r != "c" {
            return Err(usage(format!(
                "the SAS is for a single {} (sr={r}), not a container; create a SAS for the container with read and list permissions",
                if r == "d" { "directory" } else { "blob" }
            )));
        }
    }
    Ok(ParsedSas {
        query,
        sig,
        expiry,
        account_sas,
        container,
        base_url,
    })
}

/// `se=` values: `2024-01-31T12:00:00Z` (seconds optional) or a bare date.
fn parse_sas_time(s: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let minutes = format!("{}:00Z", s.trim_end_matches('Z'));
    if let Ok(t) = time::OffsetDateTime::parse(&minutes, &Rfc3339) {
        return Some(t);
    }
    let date =
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc())
}

/// `bytes start-end/total` → (start, end, total).
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    Some((
        start.trim().parse().ok()?,
        end.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

fn same_names(listed: &[(String, String)], from_headers: &[(String, String)]) -> bool {
    let mut a: Vec<String> = listed.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    let mut b: Vec<String> = from_headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    a.sort();
    b.sort();
    a == b
}

#[derive(Debug, Default, PartialEq)]
struct ListedBlob {
    name: String,
    snapshot: Option<String>,
    length: u64,
    last_modified: Option<String>,
    metadata: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct ListPage {
    blobs: Vec<ListedBlob>,
    next_marker: Option<String>,
}

/// Parses one page of `List Blobs` (`EnumerationResults`).
fn parse_list_page(xml: &[u8]) -> Result<ListPage, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut page = ListPage::default();
    let mut blob = ListedBlob::default();
    let mut text = String::new();
    let mut name_encoded = false;
    let mut saw_root = false;

    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                saw_root |= path.is_empty() && name == "EnumerationResults";
                if name == "Blob" && path.last().map(String::as_str) == Some("Blobs") {
                    blob = ListedBlob::default();
                }
                if name == "Name" {
                    name_encoded = e
                        .try_get_attribute("Encoded")
                        .ok()
                        .flatten()
                        .is_some_and(|a| a.value.as_ref() == b"true");
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                saw_root |= path.is_empty() && name == "EnumerationResults";
                path.push(name);
                text.clear();
                leaf_done(&path, "", &mut blob, &mut page, false);
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.unescape().map_err(|e| e.to_string())?),
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                let value = std::mem::take(&mut text);
                leaf_done(&path, &value, &mut blob, &mut page, name_encoded);
                if path.last().map(String::as_str) == Some("Blob")
                    && path.len() >= 2
                    && path[path.len() - 2] == "Blobs"
                {
                    page.blobs.push(std::mem::take(&mut blob));
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err("it is not a blob listing (no EnumerationResults)".into());
    }
    Ok(page)
}

/// Stores the text of a finished element, by where it sits.
fn leaf_done(
    path: &[String],
    value: &str,
    blob: &mut ListedBlob,
    page: &mut ListPage,
    name_encoded: bool,
) {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["EnumerationResults", "NextMarker"] => {
            page.next_marker = Some(value.to_string()).filter(|m| !m.is_empty());
        }
        ["EnumerationResults", "Blobs", "Blob", "Name"] => {
            blob.name = if name_encoded {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            } else {
                value.to_string()
            };
        }
        ["EnumerationResults", "Blobs", "Blob", "Snapshot"] => {
            blob.snapshot = Some(value.to_string()).filter(|s| !s.is_empty())
        }
        ["EnumerationResults", "Blobs", "Blob", "Properties", "Content-Length"] => {
            blob.length = value.trim().parse().unwrap_or(0);
        }
        ["EnumerationResults", "Blobs", "Blob", "Properties", "Last-Modified"] => {
            blob.last_modified = Some(value.to_string()).filter(|s| !s.is_empty());
        }
        ["EnumerationResults", "Blobs", "Blob", "Metadata", key] => {
            blob.metadata.push((key.to_string(), value.to_string()))
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(credential: Credential, endpoint: Option<&str>) -> StorageConfig {
        StorageConfig {
            account: "myaccount".into(),
            credential,
            endpoint: endpoint.map(String::from),
        }
    }

    const SIG: &str = "AbCdEf%2Bghi%2FjklMNop%3D";

    #[test]
    fn sas_is_accepted_with_or_without_question_mark() {
        for sas in [
            format!("?sv=2022-11-02&sr=c&sp=rl&se=2099-01-01&sig={SIG}"),
            format!("sv=2022-11-02&sr=c&sp=rl&se=2099-01-01&sig={SIG}"),
        ] {
            let p = parse_sas(&sas).unwrap();
            assert_eq!(p.sig, "AbCdEf+ghi/jklMNop=");
            assert!(p.container.is_none() && p.base_url.is_none());
            assert!(!p.query.starts_with('?'));
        }
    }

    #[test]
    fn sas_url_gives_container_and_endpoint() {
        let p = parse_sas(&format!(
            "https://myaccount.blob.core.windows.net/exports?sv=2022-11-02&sr=c&sp=rl&sig={SIG}"
        ))
        .unwrap();
        assert_eq!(p.container.as_deref(), Some("exports"));
        assert_eq!(
            p.base_url.unwrap().as_str(),
            "https://myaccount.blob.core.windows.net/"
        );
        let p = parse_sas(&format!(
            "http://127.0.0.1:10000/devstoreaccount1/$root?sv=2022-11-02&sr=c&sig={SIG}"
        ))
        .unwrap();
        assert_eq!(p.container.as_deref(), Some("$root"));
        assert_eq!(
            p.base_url.unwrap().as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        // The app treats a scheme in any case as a URL (`is_sas_url`), so the engine must too.
        let p = parse_sas(&format!(" HTTPS://myaccount.blob.core.windows.net/exports?sv=2022-11-02&sig={SIG}")).unwrap();
        assert_eq!(p.container.as_deref(), Some("exports"));
        assert!(!crate::blobstore::is_sas_url("?sv=2022-11-02&sig=x") && !crate::blobstore::is_sas_url("h"));
    }

    #[test]
    fn malformed_sas_is_a_usage_error_without_the_secret() {
        for bad in [
            "sv=2022-11-02&sr=c&sp=rl".to_string(),
            format!("sr=c&sig={SIG}"),
            format!("sv=2022-11-02&sr=b&sig={SIG}"),
            "https://myaccount.blob.core.windows.net/exports?".to_string(),
        ] {
            let err = match AzureBlobStore::new(&cfg(
                Credential::ContainerSas(Secret::new(bad.clone())),
                None,
            )) {
                Err(e) => e,
                Ok(_) => panic!("{bad} was accepted"),
            };
            assert_eq!(err.kind(), crate::ErrorKind::Usage, "{err}");
            let msg = err.to_string();
            assert!(!msg.contains("AbCdEf") && !msg.contains(SIG), "{msg}");
        }
    }

    #[test]
    fn bad_account_key_and_names_are_usage_errors() {
        let e = AzureBlobStore::new(&cfg(
            Credential::AccountKey(Secret::new("not base64!")),
            None,
        ))
        .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Usage);
        assert!(!e.to_string().contains("not base64!"));
        let mut c = cfg(Credential::AccountKey(Secret::new("a2V5")), None);
        c.account = "My_Account".into();
        assert_eq!(
            AzureBlobStore::new(&c).unwrap_err().kind(),
            crate::ErrorKind::Usage
        );
        let c = cfg(Credential::AccountKey(Secret::new("a2V5")), Some("ftp://x"));
        assert_eq!(
            AzureBlobStore::new(&c).unwrap_err().kind(),
            crate::ErrorKind::Usage
        );
        let c = cfg(
            Credential::AccountKey(Secret::new("a2V5")),
            Some("https://other.blob.core.windows.net"),
        );
        assert_eq!(
            AzureBlobStore::new(&c).unwrap_err().kind(),
            crate::ErrorKind::Usage
        );
    }

    #[test]
    fn default_endpoint_and_path_style_endpoint() {
        let s =
            AzureBlobStore::new(&cfg(Credential::AccountKey(Secret::new("a2V5")), None)).unwrap();
        assert_eq!(s.endpoint(), "https://myaccount.blob.core.windows.net");
        let b = BlobRef {
            path: "c/dir/a b ü#?.txt".into(),
            snapshot: Some("2024-01-02T03:04:05.1234567Z".into()),
        };
        let (c, n) = b.split();
        assert_eq!(
            s.blob_url(c, n, b.snapshot.as_deref()).as_str(),
            "https://myaccount.blob.core.windows.net/c/dir/a%20b%20%C3%BC%23%3F.txt?snapshot=2024-01-02T03%3A04%3A05.1234567Z"
        );
        let s = AzureBlobStore::new(&cfg(
            Credential::AccountKey(Secret::new("a2V5")),
            Some("http://127.0.0.1:10000/devstoreaccount1/"),
        ))
        .unwrap();
        assert_eq!(
            s.blob_url("$root", "x", None).as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/$root/x"
        );
    }

    #[test]
    fn sas_url_container_scopes_requests() {
        let s = AzureBlobStore::new(&cfg(
            Credential::ContainerSas(Secret::new(format!(
                "https://myaccount.blob.core.windows.net/exports?sv=2022-11-02&sr=c&sig={SIG}"
            ))),
            None,
        ))
        .unwrap();
        assert_eq!(s.sas_container(), Some("exports"));
        assert!(s.check_scope("exports", "exports/a").is_ok());
        assert!(matches!(
            s.check_scope("other", "other/a"),
            Err(StorageError::Forbidden { .. })
        ));
        assert!(!format!("{s:?}").contains("AbCdEf"));
    }

    #[test]
    fn sas_times_parse() {
        assert!(parse_sas_time("2099-01-01").is_some());
        assert!(parse_sas_time("2099-01-01T10:00Z").is_some());
        assert!(parse_sas_time("2099-01-01T10:00:00Z").is_some());
        assert!(parse_sas_time("soon").is_none());
    }

    #[test]
    fn content_range_parses() {
        assert_eq!(
            parse_content_range("bytes 0-511/1024"),
            Some((0, 511, 1024))
        );
        assert_eq!(parse_content_range("bytes */1024"), None);
    }

    #[test]
    fn listing_keeps_metadata_case_order_and_raw_dates() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://x/" ContainerName="c"><Prefix>a</Prefix><Blobs>
<Blob><Name>a b &amp; c.txt</Name><Properties><Last-Modified>Tue, 18 Sep 2012 23:47:08 GMT</Last-Modified><Content-Length>12</Content-Length><Content-MD5 /></Properties>
<Metadata><Zeta>1</Zeta><Author> Ann </Author><empty /></Metadata></Blob>
<Blob><Name Encoded="true">bad%EF%BF%BEname</Name><Snapshot>2024-01-02T03:04:05.1234567Z</Snapshot><Properties><Content-Length>0</Content-Length></Properties></Blob>
</Blobs><NextMarker>m2</NextMarker></EnumerationResults>"#;
        let page = parse_list_page(xml).unwrap();
        assert_eq!(page.next_marker.as_deref(), Some("m2"));
        assert_eq!(page.blobs.len(), 2);
        let a = &page.blobs[0];
        assert_eq!(a.name, "a b & c.txt");
        assert_eq!(a.length, 12);
        assert_eq!(
            a.last_modified.as_deref(),
            Some("Tue, 18 Sep 2012 23:47:08 GMT")
        );
        assert_eq!(
            a.metadata,
            vec![
                ("Zeta".into(), "1".into()),
                ("Author".into(), " Ann ".into()),
                ("empty".into(), String::new())
            ]
        );
        assert_eq!(page.blobs[1].name, "bad\u{fffe}name");
        assert_eq!(
            page.blobs[1].snapshot.as_deref(),
            Some("2024-01-02T03:04:05.1234567Z")
        );
        let empty =
            parse_list_page(b"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>")
                .unwrap();
        assert!(empty.blobs.is_empty() && empty.next_marker.is_none());
        assert!(parse_list_page(b"<html>oops</html>").is_err());
    }

    #[test]
    fn http_errors_map_to_storage_errors() {
        use azure_core::error::{Error, ErrorKind};
        use azure_core::StatusCode;
        let reached = AtomicBool::new(false);
        let http = |s| {
            Error::new(
                ErrorKind::HttpResponse {
                    status: s,
                    error_code: Some("X".into()),
                },
                "boom",
            )
        };
        assert!(matches!(
            classify(&http(StatusCode::Forbidden), "c/b", "e", &[], &reached),
            StorageError::Forbidden { .. }
        ));
        assert!(matches!(
            classify(&http(StatusCode::Unauthorized), "c/b", "e", &[], &reached),
            StorageError::Forbidden { .. }
        ));
        assert!(matches!(
            classify(&http(StatusCode::NotFound), "c/b", "e", &[], &reached),
            StorageError::NotFound { .. }
        ));
        let e = classify(
            &http(StatusCode::ServiceUnavailable),
            "c/b",
            "e",
            &[],
            &reached,
        );
        assert!(matches!(e, StorageError::Service { status: 503, .. }) && e.is_transient());
        let e = classify(
            &http(StatusCode::TooManyRequests),
            "c/b",
            "e",
            &[],
            &reached,
        );
        assert!(e.is_transient());
        assert!(
            reached.load(Ordering::Relaxed),
            "an HTTP answer means the endpoint was reached"
        );
    }

    #[test]
    fn transport_error_text_is_redacted() {
        use azure_core::error::{Error, ErrorKind};
        let key = Secret::new("S3cr3tKeyValue==");
        let inner = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset at https://a/c/b?sv=1&sig=LEAKED S3cr3tKeyValue==",
        );
        let err = Error::full(ErrorKind::Io, inner, "failed");
        let e = classify(&err, "c/b", "https://a", &[key], &AtomicBool::new(true));
        let text = e.to_string();
        assert!(matches!(e, StorageError::Network { .. }), "{e:?}");
        assert!(
            !text.contains("LEAKED") && !text.contains("S3cr3t"),
            "{text}"
        );
    }
}
