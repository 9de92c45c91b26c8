//! The engine's Azure client against a real Azurite (started per test), and its error
//! cases through the fault proxy.
//!
//! Needs Azurite: `(cd crates/testkit && npm install)`, or `AZURITE_BIN`.

use engine::blobstore::azure::{AzureBlobStore, Timeouts};
use engine::blobstore::retry::{with_retry, RetryPolicy};
use engine::blobstore::{BlobStore, Credential, RangeBody, StorageConfig};
use engine::error::StorageError;
use engine::model::{BlobRef, BlobType, Md5};
use engine::secret::Secret;
use engine::ErrorKind;
use futures::StreamExt;
use rand::{RngCore, SeedableRng};
use std::time::{Duration, Instant};
use testkit::azurite::Azurite;
use testkit::proxy::{FaultProxy, Faults, Outcome};
use testkit::upload::upload;
use testkit::GenBlob;
use time::OffsetDateTime;

const MIB: usize = 1024 * 1024;

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn block_blob(container: &str, name: &str, data: Vec<u8>) -> GenBlob {
    GenBlob {
        container: container.into(),
        name: name.into(),
        blob_type: BlobType::Block,
        data,
        page_ranges: Vec::new(),
        block_size: 4 * MIB as u64,
        snapshot: false,
        metadata: Vec::new(),
        content_type: "application/octet-stream".into(),
    }
}

fn page_blob(container: &str, name: &str, len: usize, ranges: &[(u64, u64)], seed: u64) -> GenBlob {
    let mut data = vec![0u8; len];
    for &(o, l) in ranges {
        let bytes = random_bytes(l as usize, seed + o);
        data[o as usize..(o + l) as usize].copy_from_slice(&bytes);
    }
    GenBlob {
        container: container.into(),
        name: name.into(),
        blob_type: BlobType::Page,
        data,
        page_ranges: ranges.to_vec(),
        block_size: 0,
        snapshot: false,
        metadata: Vec::new(),
        content_type: "application/octet-stream".into(),
    }
}

fn blob_ref(path: &str) -> BlobRef {
    BlobRef {
        path: path.into(),
        snapshot: None,
    }
}

async fn collect(body: RangeBody) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::new();
    let mut chunks = body.chunks;
    while let Some(c) = chunks.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out)
}

async fn read(
    store: &AzureBlobStore,
    blob: &BlobRef,
    offset: u64,
    length: u64,
) -> Result<Vec<u8>, StorageError> {
    collect(store.read_range(blob, offset, length, false).await?).await
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    }
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "secret leaked into: {text}");
    }
    assert!(
        !text.to_ascii_lowercase().contains("sig=") || text.contains("sig=***"),
        "signature leaked into: {text}"
    );
}

#[tokio::test]
async fn properties_ranges_listing_root_snapshot_and_unicode_names() {
    let azurite = Azurite::start().unwrap();
    let cfg = azurite.config_with_key();

    let mut picture = block_blob(
        "data",
        "pictures/wild/canyon.jpg",
        random_bytes(5 * MIB + 123, 1),
    );
    picture.content_type = "image/jpeg".into();
    picture.metadata = vec![
        ("Author".into(), "Ann Example".into()),
        ("cameraModel".into(), "X100".into()),
    ];
    let disk = page_blob(
        "data",
        "disks/small.vhd",
        2 * MIB,
        &[(0, 65536), (MIB as u64, 512 * 1024)],
        2,
    );
    let root = block_blob(
        "$root",
        "top level.txt",
        b"in the root container\n".to_vec(),
    );
    let unicode_name = "Ünïcode dir/naïve résumé 名前 #1?.txt";
    let unicode = block_blob("data", unicode_name, random_bytes(10_000, 3));
    let mut snapped = block_blob("data", "snapped/version.bin", random_bytes(700_000, 4));
    snapped.snapshot = true;
    let blobs = vec![
        picture.clone(),
        disk.clone(),
        root.clone(),
        unicode.clone(),
        snapped.clone(),
    ];
    let uploaded = upload(&cfg, &blobs).await.unwrap();

    let store = AzureBlobStore::new(&cfg).unwrap();
    store.check_access().await.unwrap();

    // Properties: what the uploader returned is what the engine reads, and it is right.
    let p = store
        .properties(&blob_ref("data/pictures/wild/canyon.jpg"))
        .await
        .unwrap();
    assert_eq!(p, uploaded[0].properties);
    assert_eq!(p.length, picture.data.len() as u64);
    assert_eq!(p.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(
        p.content_md5.as_deref().and_then(Md5::parse_base64),
        Some(Md5::of(&picture.data))
    );
    assert!(!p.is_page_blob);
    assert!(p.etag.is_some());
    let lm = p.last_modified.clone().unwrap();
    assert!(
        lm.ends_with(" GMT"),
        "Last-Modified is the HTTP-date text: {lm}"
    );
    let mut meta = p.metadata.clone();
    meta.sort();
    assert_eq!(
        meta,
        vec![
            ("Author".into(), "Ann Example".into()),
            ("cameraModel".into(), "X100".into())
        ],
        "metadata keeps its case"
    );

    let pd = store
        .properties(&blob_ref("data/disks/small.vhd"))
        .await
        .unwrap();
    assert!(pd.is_page_blob);
    assert_eq!(pd.length, 2 * MIB as u64);

    // Ranges: plain, and with the service's MD5 of the range.
    let r = read(
        &store,
        &blob_ref("data/pictures/wild/canyon.jpg"),
        1000,
        5000,
    )
    .await
    .unwrap();
    assert_eq!(r, picture.data[1000..6000]);
    // Exactly 4 MiB, the largest range the service hashes.
    let body = store
        .read_range(
            &blob_ref("data/pictures/wild/canyon.jpg"),
            4096,
            4 * MIB as u64,
            true,
        )
        .await
        .unwrap();
    let md5 = body.content_md5;
    let bytes = collect(body).await.unwrap();
    assert_eq!(bytes, picture.data[4096..4096 + 4 * MIB]);
    assert_eq!(
        md5,
        Some(Md5::of(&bytes)),
        "x-ms-range-get-content-md5 gives the range's MD5"
    );
    // A page blob reads zeros outside its written ranges.
    let pr = read(&store, &blob_ref("data/disks/small.vhd"), 65536 - 512, 1024)
        .await
        .unwrap();
    assert_eq!(pr[..512], disk.data[65536 - 512..65536]);
    assert!(pr[512..].iter().all(|&b| b == 0));
    let body = store
        .read_range(
            &blob_ref("data/disks/small.vhd"),
            MIB as u64,
            512 * 1024,
            true,
        )
        .await
        .unwrap();
    let md5 = body.content_md5;
    assert_eq!(md5, Some(Md5::of(&disk.data[MIB..MIB + 512 * 1024])));
    drop(body);

    // Listing with a prefix, all pages.
    let listed = store.list("data", "pictures/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "pictures/wild/canyon.jpg");
    assert_eq!(listed[0].length, picture.data.len() as u64);
    assert_eq!(listed[0].last_modified.as_deref(), Some(lm.as_str()));
    let all = store.list("data", "").await.unwrap();
    let mut names: Vec<_> = all.iter().map(|b| b.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "disks/small.vhd",
            "pictures/wild/canyon.jpg",
            "snapped/version.bin",
            unicode_name
        ]
    );

    // The root container.
    let root_ref = blob_ref("$root/top level.txt");
    assert_eq!(
        read(&store, &root_ref, 0, root.data.len() as u64)
            .await
            .unwrap(),
        root.data
    );
    let root_list = store.list("$root", "").await.unwrap();
    assert_eq!(
        root_list
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>(),
        vec!["top level.txt"]
    );

    // Unicode, spaces, '#' and '?' in a name.
    let u = blob_ref(&format!("data/{unicode_name}"));
    assert_eq!(
        read(&store, &u, 0, unicode.data.len() as u64)
            .await
            .unwrap(),
        unicode.data
    );
    assert_eq!(store.properties(&u).await.unwrap().length, 10_000);

    // A snapshot reads the snapshot's bytes, not the overwritten base blob's.
    let snap_id = uploaded[4].snapshot.clone().expect("a snapshot id");
    let snap = BlobRef {
        path: "data/snapped/version.bin".into(),
        snapshot: Some(snap_id),
    };
    assert_eq!(
        read(&store, &snap, 0, snapped.data.len() as u64)
            .await
            .unwrap(),
        snapped.data
    );
    let sp = store.properties(&snap).await.unwrap();
    assert_eq!(sp, uploaded[4].properties);
    assert_eq!(sp.length, snapped.data.len() as u64);
    let base = store
        .properties(&blob_ref("data/snapped/version.bin"))
        .await
        .unwrap();
    assert_ne!(
        base.length, sp.length,
        "the base blob was overwritten after the snapshot"
    );

    // Missing blob and missing container are NotFound; a range past the end is not transient.
    let e = store
        .properties(&blob_ref("data/nope.bin"))
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::NotFound { .. }), "{e:?}");
    let e = store
        .read_range(&blob_ref("nocontainer/x"), 0, 10, false)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, StorageError::NotFound { .. }), "{e:?}");
    let e = store.list("nocontainer", "").await.unwrap_err();
    assert!(matches!(e, StorageError::NotFound { .. }), "{e:?}");
    let e = store
        .read_range(&root_ref, 10, 1000, false)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, StorageError::Service { status: 416, .. }) && !e.is_transient(),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_64_mib_range_is_one_streamed_request() {
    let azurite = Azurite::start().unwrap();
    let cfg = azurite.config_with_key();
    // Over 64 MiB, so the uploader's put-block path is used too.
    let big = block_blob("big", "large.bin", random_bytes(64 * MIB + 3 * MIB, 9));
    let uploaded = upload(&cfg, std::slice::from_ref(&big)).await.unwrap();
    assert_eq!(
        uploaded[0]
            .properties
            .content_md5
            .as_deref()
            .and_then(Md5::parse_base64),
        Some(Md5::of(&big.data))
    );

    let proxy = FaultProxy::start(azurite.socket_addr(), Faults::default()).unwrap();
    let store = AzureBlobStore::new(&StorageConfig {
        endpoint: Some(proxy.endpoint()),
        ..cfg.clone()
    })
    .unwrap();
    let started = Instant::now();
    let offset = 2 * MIB as u64 + 5;
    let length = 64 * MIB as u64;
    // Asking for an MD5 of a range over 4 MiB is ignored rather than refused.
    let body = store
        .read_range(&blob_ref("big/large.bin"), offset, length, true)
        .await
        .unwrap();
    assert!(body.content_md5.is_none());
    let mut chunks = body.chunks;
    let mut hasher = md5_hasher();
    let (mut n, mut count, mut largest) = (0usize, 0usize, 0usize);
    while let Some(c) = chunks.next().await {
        let c = c.unwrap();
        n += c.len();
        count += 1;
        largest = largest.max(c.len());
        md5::Digest::update(&mut hasher, &c);
    }
    let elapsed = started.elapsed();
    assert_eq!(n as u64, length);
    assert_eq!(
        Md5(md5::Digest::finalize(hasher).into()),
        Md5::of(&big.data[offset as usize..(offset + length) as usize])
    );
    assert!(
        count > 16 && largest <= 4 * MIB,
        "the body arrives in pieces ({count} chunks, largest {largest})"
    );
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 1, "one GET for the whole range: {gets:?}");
    assert!(gets[0].ranged);
    eprintln!("64 MiB range through the proxy: {elapsed:?} in {count} chunks");
}

fn md5_hasher() -> md5::Md5 {
    <md5::Md5 as md5::Digest>::new()
}

#[tokio::test]
async fn container_sas_in_all_its_forms() {
    let azurite = Azurite::start().unwrap();
    let mut data = block_blob("exports", "a/b.txt", b"hello from a SAS".to_vec());
    data.metadata = vec![("Origin".into(), "test".into())];
    let other = block_blob("other", "x.txt", b"not for this SAS".to_vec());
    upload(&azurite.config_with_key(), &[data.clone(), other])
        .await
        .unwrap();
    let expiry = OffsetDateTime::now_utc() + time::Duration::hours(2);
    let sas = azurite.container_sas("exports", "rl", expiry);
    let sig = url_sig(&sas);
    let b = blob_ref("exports/a/b.txt");

    let forms = [
        (format!("?{sas}"), Some(azurite.endpoint())),
        (sas.clone(), Some(azurite.endpoint())),
        (azurite.container_sas_url("exports", "rl", expiry), None),
    ];
    for (credential, endpoint) in forms {
        let cfg = StorageConfig {
            account: azurite.account().into(),
            credential: Credential::ContainerSas(Secret::new(credential.clone())),
            endpoint,
        };
        let store = AzureBlobStore::new(&cfg).unwrap().with_container("exports");
        store
            .check_access()
            .await
            .unwrap_or_else(|e| panic!("{credential}: {e}"));
        assert_eq!(
            read(&store, &b, 0, data.data.len() as u64).await.unwrap(),
            data.data
        );
        let p = store.properties(&b).await.unwrap();
        assert_eq!(p.length, data.data.len() as u64);
        assert_eq!(p.metadata, vec![("Origin".to_string(), "test".to_string())]);
        assert_eq!(store.list("exports", "a/").await.unwrap().len(), 1);
        // Another container: refused (locally when the container is known).
        let e = store
            .properties(&blob_ref("other/x.txt"))
            .await
            .unwrap_err();
        assert!(matches!(e, StorageError::Forbidden { .. }), "{e:?}");
    }

    // A bare SAS whose container is not named: the service itself refuses the other container.
    let cfg = azurite.config_with_sas("exports");
    let store = AzureBlobStore::new(&cfg).unwrap();
    assert_eq!(store.sas_container(), None);
    store.check_access().await.unwrap();
    let e = store
        .read_range(&blob_ref("other/x.txt"), 0, 4, false)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, StorageError::Forbidden { .. }), "{e:?}");
    assert_eq!(
        engine::EngineError::from(e.clone()).kind(),
        ErrorKind::StorageForbidden
    );
    assert_no_secret(&e.to_string(), &[&sig]);

    // A SAS made for another container.
    let wrong = StorageConfig {
        account: azurite.account().into(),
        credential: Credential::ContainerSas(Secret::new(
            azurite.container_sas("other", "rl", expiry),
        )),
        endpoint: Some(azurite.endpoint()),
    };
    let store = AzureBlobStore::new(&wrong).unwrap();
    let e = store.properties(&b).await.unwrap_err();
    assert!(matches!(e, StorageError::Forbidden { .. }), "{e:?}");
    let e = AzureBlobStore::new(&wrong)
        .unwrap()
        .with_container("exports")
        .check_access()
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Forbidden { .. }), "{e:?}");

    // Without list permission, listing is refused but reading works.
    let read_only = StorageConfig {
        account: azurite.account().into(),
        credential: Credential::ContainerSas(Secret::new(
            azurite.container_sas("exports", "r", expiry),
        )),
        endpoint: Some(azurite.endpoint()),
    };
    let store = AzureBlobStore::new(&read_only)
        .unwrap()
        .with_container("exports");
    assert_eq!(read(&store, &b, 0, 5).await.unwrap(), b"hello");
    assert!(matches!(
        store.list("exports", "").await,
        Err(StorageError::Forbidden { .. })
    ));
    // Metadata names then come from the headers, which the HTTP stack lower-cases.
    assert_eq!(
        store.properties(&b).await.unwrap().metadata,
        vec![("origin".to_string(), "test".to_string())]
    );

    // An expired SAS.
    let expired = StorageConfig {
        account: azurite.account().into(),
        credential: Credential::ContainerSas(Secret::new(azurite.container_sas(
            "exports",
            "rl",
            OffsetDateTime::now_utc() - time::Duration::hours(1),
        ))),
        endpoint: Some(azurite.endpoint()),
    };
    let e = AzureBlobStore::new(&expired)
        .unwrap()
        .check_access()
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Forbidden { .. }), "{e:?}");
    let e = AzureBlobStore::new(&expired)
        .unwrap()
        .properties(&b)
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Forbidden { .. }), "{e:?}");
}

fn url_sig(sas: &str) -> String {
    sas.split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn wrong_key_is_forbidden_and_not_retried() {
    let azurite = Azurite::start().unwrap();
    upload(
        &azurite.config_with_key(),
        &[block_blob("data", "x.bin", vec![7; 1000])],
    )
    .await
    .unwrap();
    let wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=";
    let cfg = StorageConfig {
        account: azurite.account().into(),
        credential: Credential::AccountKey(Secret::new(wrong_key)),
        endpoint: Some(azurite.endpoint()),
    };
    let proxy = FaultProxy::start(azurite.socket_addr(), Faults::default()).unwrap();
    let store = AzureBlobStore::new(&StorageConfig {
        endpoint: Some(proxy.endpoint()),
        ..cfg
    })
    .unwrap();
    let e = store.check_access().await.unwrap_err();
    assert!(matches!(e, StorageError::Forbidden { .. }), "{e:?}");
    assert_eq!(
        engine::EngineError::from(e.clone()).kind(),
        ErrorKind::StorageForbidden
    );
    assert_no_secret(&e.to_string(), &[wrong_key]);

    let before = proxy.request_count();
    let x = blob_ref("data/x.bin");
    let e = with_retry(&fast_retries(), "data/x.bin", |_| read(&store, &x, 0, 10))
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Forbidden { .. }), "{e:?}");
    assert_eq!(proxy.request_count() - before, 1, "403 is not retried");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = StorageConfig {
        account: testkit::azurite::ACCOUNT.into(),
        credential: Credential::AccountKey(Secret::new(testkit::azurite::KEY)),
        endpoint: Some(format!("http://127.0.0.1:{port}/devstoreaccount1")),
    };
    let store = AzureBlobStore::new(&cfg).unwrap();
    let e = store.check_access().await.unwrap_err();
    assert!(matches!(e, StorageError::Unreachable { .. }), "{e:?}");
    assert_eq!(
        engine::EngineError::from(e.clone()).kind(),
        ErrorKind::StorageUnreachable
    );
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert_no_secret(&e.to_string(), &[testkit::azurite::KEY]);
    let e = store
        .read_range(&blob_ref("c/b"), 0, 10, false)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, StorageError::Unreachable { .. }) && !e.is_transient(),
        "{e:?}"
    );

    // A DNS failure too.
    let dns = StorageConfig {
        account: "nosuchaccountzz9".into(),
        credential: Credential::AccountKey(Secret::new(testkit::azurite::KEY)),
        endpoint: Some("http://nosuchaccountzz9.invalid".into()),
    };
    let e = AzureBlobStore::new(&dns)
        .unwrap()
        .check_access()
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Unreachable { .. }), "{e:?}");
}

#[tokio::test]
async fn transient_failures_are_retried_through_the_proxy() {
    let azurite = Azurite::start().unwrap();
    let cfg = azurite.config_with_key();
    let data = random_bytes(3 * MIB, 21);
    upload(&cfg, &[block_blob("data", "r.bin", data.clone())])
        .await
        .unwrap();
    let b = blob_ref("data/r.bin");

    // 503 twice, then success.
    let proxy = FaultProxy::start(
        azurite.socket_addr(),
        Faults {
            fail_first: 2,
            ..Faults::default()
        },
    )
    .unwrap();
    let store = AzureBlobStore::new(&StorageConfig {
        endpoint: Some(proxy.endpoint()),
        ..cfg.clone()
    })
    .unwrap();
    let mut attempts_seen = Vec::new();
    let got = with_retry(&fast_retries(), "data/r.bin", |attempt| {
        attempts_seen.push(attempt);
        read(&store, &b, 0, MIB as u64)
    })
    .await
    .unwrap();
    assert_eq!(got, data[..MIB]);
    assert_eq!(attempts_seen, vec![1, 2, 3]);
    let outcomes: Vec<_> = proxy.requests().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Answered503,
            Outcome::Answered503,
            Outcome::Forwarded
        ]
    );

    // The SDK's own retries are off on the builder path too: one request, one 503.
    proxy.set_faults(Faults {
        fail_first: 1,
        ..Faults::default()
    });
    let before = proxy.request_count();
    let e = store.check_access().await.unwrap_err();
    assert!(
        matches!(e, StorageError::Service { status: 503, .. }) && e.is_transient(),
        "{e:?}"
    );
    assert_eq!(proxy.request_count() - before, 1);

    // A connection reset in the middle of the body: the whole range is fetched again.
    proxy.set_faults(Faults {
        reset_ranged_gets: 1,
        reset_after_body_bytes: 100_000,
        ..Faults::default()
    });
    let before = proxy.request_count();
    let got = with_retry(&fast_retries(), "data/r.bin", |_| {
        read(&store, &b, 512, 2 * MIB as u64)
    })
    .await
    .unwrap();
    assert_eq!(got, data[512..512 + 2 * MIB]);
    let outcomes: Vec<_> = proxy.requests()[before..]
        .iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(outcomes, vec![Outcome::ResetMidBody, Outcome::Forwarded]);

    // The reset itself surfaces as a transient Network error from the body stream.
    proxy.set_faults(Faults {
        reset_ranged_gets: 1,
        reset_after_body_bytes: 4096,
        ..Faults::default()
    });
    let body = store.read_range(&b, 0, MIB as u64, false).await.unwrap();
    let e = collect(body).await.unwrap_err();
    assert!(
        matches!(e, StorageError::Network { .. }) && e.is_transient(),
        "{e:?}"
    );

    // 404 is not retried.
    proxy.set_faults(Faults::default());
    let before = proxy.request_count();
    let missing = blob_ref("data/missing.bin");
    let e = with_retry(&fast_retries(), "data/missing.bin", |_| {
        read(&store, &missing, 0, 10)
    })
    .await
    .unwrap_err();
    assert!(matches!(e, StorageError::NotFound { .. }), "{e:?}");
    assert_eq!(proxy.request_count() - before, 1);

    // Always 503: gives up with a Network error that counts the attempts.
    proxy.set_faults(Faults {
        fail_first: 100,
        ..Faults::default()
    });
    let e = with_retry(&fast_retries(), "data/r.bin", |_| read(&store, &b, 0, 10))
        .await
        .unwrap_err();
    match e {
        StorageError::Network {
            attempts,
            ref detail,
            ..
        } => {
            assert_eq!(attempts, 4);
            assert!(detail.contains("503"), "{detail}");
        }
        other => panic!("expected Network, got {other:?}"),
    }

    // The network drops after the service was reached: transient, not "unreachable".
    proxy.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let e = read(&store, &b, 0, 10).await.unwrap_err();
    assert!(matches!(e, StorageError::Network { .. }), "{e:?}");
    // …and comes back.
    proxy.set_faults(Faults::default());
    assert_eq!(
        with_retry(&fast_retries(), "data/r.bin", |_| read(&store, &b, 0, 10))
            .await
            .unwrap(),
        data[..10]
    );
}

#[tokio::test]
async fn a_stalled_connection_times_out_as_a_network_error() {
    let azurite = Azurite::start().unwrap();
    let cfg = azurite.config_with_key();
    upload(&cfg, &[block_blob("data", "s.bin", vec![1; 4096])])
        .await
        .unwrap();
    let proxy = FaultProxy::start(
        azurite.socket_addr(),
        Faults {
            latency: Duration::from_secs(3),
            ..Faults::default()
        },
    )
    .unwrap();
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        read: Duration::from_millis(500),
    };
    let store = AzureBlobStore::with_timeouts(
        &StorageConfig {
            endpoint: Some(proxy.endpoint()),
            ..cfg
        },
        timeouts,
    )
    .unwrap();
    let started = Instant::now();
    let e = store
        .read_range(&blob_ref("data/s.bin"), 0, 10, false)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, StorageError::Network { .. }) && e.is_transient(),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
