//! Checks the blocks of a whole-blob download by reading them back from the partial
//! file as soon as they are written, with the verifier's pipeline on its own threads.
//!
//! Why not hash the bytes as they arrive: MD5 is the costliest step of a download, and
//! on the async threads it competes with receiving. The verifier hashes several blocks
//! at once in lanes (about 2.5 times the single-message speed per core, see
//! `verify/lanes.rs`) and its threads run beside the download. Reading back costs a
//! copy from the page cache, and it checks what is really in the file, so the ranges
//! checked here need no separate recheck after the run.

use crate::model::{BlobRef, BlobType, ComponentIssue, ManifestBlob, Range};
use crate::progress::{CancelToken, NoReporter, ProgressTracker};
use crate::verify::{verify_blobs, VerifyOptions};
use crate::{EngineError, Result};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// Hashing workers per download, besides the thread that reads the blocks back. One
/// keeps up with the download (hashing in lanes is faster than the network), and on a
/// busy machine more would only take time from receiving.
const THREADS: usize = 1;
/// A buffer holds four 4 MiB blocks, hashed together in four lanes. The verifier uses
/// up to `THREADS + 2` of them: 48 MiB.
const CHUNK: usize = 16 << 20;

/// A background check of ranges of one partial file. Ranges are submitted once their
/// bytes are written; [`ReadBack::finish`] waits for the last and names the bad ones.
pub(crate) struct ReadBack {
    ranges: Option<Sender<Range>>,
    /// Stops the thread early when the download is abandoned.
    stop: CancelToken,
    worker: Option<JoinHandle<Result<Vec<ComponentIssue>>>>,
    path: PathBuf,
}

impl ReadBack {
    /// Starts checking `partial`, a file of `length` bytes holding a blob of `blob_type`.
    pub fn start(partial: &Path, length: u64, blob_type: BlobType) -> Result<ReadBack> {
        let (Some(dir), Some(name)) = (partial.parent(), partial.file_name().and_then(|n| n.to_str())) else {
            return Err(EngineError::Internal(format!("no folder or file name in {}", partial.display())));
        };
        let (dir, name) = (dir.to_path_buf(), name.to_string());
        let (tx, rx) = channel::<Range>();
        let stop = CancelToken::new();
        let thread_stop = stop.clone();
        let worker = std::thread::Builder::new()
            .name("driverepair-readback".into())
            .spawn(move || {
                let tracker = ProgressTracker::new(&NoReporter, Duration::from_secs(3600));
                let file_path = format!("\\{name}");
                // One manifest entry per range: the verifier opens the file for each,
                // which costs little next to hashing megabytes.
                let blobs = rx.into_iter().map(|range| {
                    Ok(ManifestBlob {
                        blob: BlobRef { path: name.clone(), snapshot: None },
                        file_path: file_path.clone(),
                        length,
                        blob_type,
                        ranges: vec![range],
                        properties: None,
                        metadata: None,
                        line: 0,
                    })
                });
                let opts = VerifyOptions { threads: THREADS, chunk_size: CHUNK };
                verify_blobs(&dir, "", blobs, &opts, &tracker, &thread_stop).map(|report| report.issues)
            })
            .map_err(|e| EngineError::Internal(format!("cannot start a hashing thread: {e}")))?;
        Ok(ReadBack { ranges: Some(tx), stop, worker: Some(worker), path: partial.to_path_buf() })
    }

    /// Queues a range whose bytes are now in the file.
    pub fn submit(&self, range: Range) {
        if let Some(tx) = &self.ranges {
            // The thread only stops early on an error, which `finish` reports.
            let _ = tx.send(range);
        }
    }

    /// Waits until every submitted range is checked; returns the bad ones (a hash
    /// mismatch, or a read error) as the verifier names them.
    pub async fn finish(mut self) -> Result<Vec<ComponentIssue>> {
        self.ranges = None;
        let worker = self.worker.take().expect("finished once");
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || worker.join())
            .await
            .map_err(|e| EngineError::Internal(format!("waiting for the hashing thread failed: {e}")))?
            .map_err(|_| EngineError::Internal(format!("the hashing thread of {} failed", path.display())))?
    }
}

impl Drop for ReadBack {
    /// An abandoned download: the thread stops after the block in hand and is waited
    /// for, so it no longer holds the partial file when that is removed.
    fn drop(&mut self) {
        self.ranges = None;
        self.stop.cancel();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
