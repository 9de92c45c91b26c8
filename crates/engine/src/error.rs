//! Typed errors that carry context (file, line, offset, blob) and a coarse
//! [`ErrorKind`] that front ends branch on (the wizard shows a message and an action per
//! kind; the CLI maps kinds to exit codes).
//!
//! Secrets never enter an error: constructors take names and paths, never keys or SAS.

use serde::Serialize;
use std::path::PathBuf;
use ts_rs::TS;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// What went wrong, coarsely: one variant per message-and-action pair the UI knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, TS)]
#[ts(export)]
pub enum ErrorKind {
    /// Bad command-line usage or option values.
    Usage,
    /// An XML file is not well formed or not of the expected shape.
    MalformedInput,
    /// The file is an import log or import manifest; only export drives are repaired.
    ImportNotSupported,
    /// A FilePath would leave the target directory or is not a legal Windows name.
    UnsafePath,
    /// The manifest, copy log, drive or repair file belong to different drives.
    DriveMismatch,
    /// The repair file is for another drive, or from an unknown version.
    RepairFileMismatch,
    /// Reading or writing a local file failed.
    Io,
    /// The target disk is full.
    DiskFull,
    /// The storage service refused the credentials (403): "Blob access forbidden".
    StorageForbidden,
    /// The account could not be reached (DNS, connection refused, TLS): "Storage account not accessible".
    StorageUnreachable,
    /// The blob or container does not exist (404): "Blob not found".
    BlobNotFound,
    /// A transient network or service error that outlived its retries.
    Network,
    /// The blob changed after the export; its ranges cannot be patched into the old file.
    BlobChanged,
    /// Downloaded bytes did not match the expected hash.
    HashMismatch,
    /// The user cancelled.
    Cancelled,
    /// The BitLocker key is not of the recovery-password shape.
    BitLockerKeyMalformed,
    /// The BitLocker key is well formed but does not unlock the volume.
    BitLockerKeyInvalid,
    /// The volume is not BitLocker-encrypted, or was not found.
    NotBitLocker,
    /// Unlocking failed for another reason.
    UnlockFailed,
    /// The operation is not available on this operating system.
    Unsupported,
    /// A bug: something the engine did not expect.
    Internal,
}

/// Where in a text file something was found (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, TS)]
#[ts(export)]
pub struct TextPos {
    #[ts(type = "number")]
    pub line: u64,
    #[ts(type = "number")]
    pub column: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{message}")]
    Usage { message: String },

    #[error("{file}:{}:{}: {problem}", pos.line, pos.column, file = file.display())]
    Malformed {
        file: PathBuf,
        pos: TextPos,
        /// What was wrong, including what was expected, in plain words.
        problem: String,
    },

    #[error("{file} is an import {what}. Drive Repair repairs export drives only; use the copy log and manifest of an export job.", file = file.display())]
    ImportNotSupported { file: PathBuf, what: &'static str },

    #[error("unsafe path {file_path:?}: {reason}; the entry was skipped and nothing was written for it")]
    UnsafePath { file_path: String, reason: String },

    #[error("drive ID mismatch: {left_what} says {left:?} but {right_what} says {right:?}. Check that the copy log and manifest belong to this drive.")]
    DriveMismatch {
        left_what: &'static str,
        left: String,
        right_what: &'static str,
        right: String,
    },

    #[error("repair file {file} {problem}", file = file.display())]
    RepairFile { file: PathBuf, problem: String },

    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the disk holding {path} is full. Free some space (or use a larger drive) and run the repair again; it resumes where it stopped.", path = path.display())]
    DiskFull { path: PathBuf },

    #[error("{0}")]
    Storage(#[from] StorageError),

    #[error("{what}: downloaded bytes do not match the expected MD5 (expected {expected}, got {actual})")]
    HashMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    #[error("cancelled")]
    Cancelled,

    #[error("{message}")]
    BitLocker { kind: ErrorKind, message: String },

    #[error("{0}")]
    Unsupported(String),

    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Usage { .. } => ErrorKind::Usage,
            EngineError::Malformed { .. } => ErrorKind::MalformedInput,
            EngineError::ImportNotSupported { .. } => ErrorKind::ImportNotSupported,
            EngineError::UnsafePath { .. } => ErrorKind::UnsafePath,
            EngineError::DriveMismatch { .. } => ErrorKind::DriveMismatch,
            EngineError::RepairFile { .. } => ErrorKind::RepairFileMismatch,
            EngineError::Io { source, .. } if is_disk_full(source) => ErrorKind::DiskFull,
            EngineError::Io { .. } => ErrorKind::Io,
            EngineError::DiskFull { .. } => ErrorKind::DiskFull,
            EngineError::Storage(e) => e.kind(),
            EngineError::HashMismatch { .. } => ErrorKind::HashMismatch,
            EngineError::Cancelled => ErrorKind::Cancelled,
            EngineError::BitLocker { kind, .. } => *kind,
            EngineError::Unsupported(_) => ErrorKind::Unsupported,
            EngineError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// An I/O error with the operation and path it happened on. ENOSPC becomes
    /// [`EngineError::DiskFull`] so that the user is told what to do.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if is_disk_full(&source) {
            EngineError::DiskFull { path }
        } else {
            EngineError::Io { op, path, source }
        }
    }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    // ENOSPC (28) on Unix, ERROR_DISK_FULL (112) / ERROR_HANDLE_DISK_FULL (39) on Windows.
    e.kind() == std::io::ErrorKind::StorageFull
        || matches!(e.raw_os_error(), Some(28) if cfg!(unix))
        || matches!(e.raw_os_error(), Some(112) | Some(39) if cfg!(windows))
}

/// A storage-service failure, in the copy log's own vocabulary.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// 403: wrong key, expired or insufficient SAS.
    #[error("blob access forbidden ({blob}): the storage account refused the key or SAS. Check the account name and key, or that the SAS is valid, not expired, and allows read and list.")]
    Forbidden { blob: String },
    /// The endpoint could not be reached at all.
    #[error("storage account not accessible ({endpoint}): {detail}. Check the account name, the endpoint and the network connection.")]
    Unreachable { endpoint: String, detail: String },
    /// 404.
    #[error("blob not found: {blob}. It may have been deleted after the export.")]
    NotFound { blob: String },
    /// Transient failures that outlived the retries.
    #[error("network error on {blob} after {attempts} attempts: {detail}. Check the connection and run the repair again; it resumes where it stopped.")]
    Network {
        blob: String,
        attempts: u32,
        detail: String,
    },
    /// Any other status code.
    #[error("storage service error on {blob}: HTTP {status}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Service {
        blob: String,
        status: u16,
        detail: Option<String>,
    },
}

impl StorageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::Forbidden { .. } => ErrorKind::StorageForbidden,
            StorageError::Unreachable { .. } => ErrorKind::StorageUnreachable,
            StorageError::NotFound { .. } => ErrorKind::BlobNotFound,
            StorageError::Network { .. } | StorageError::Service { .. } => ErrorKind::Network,
        }
    }

    /// Whether a retry may help (5xx, timeouts, resets). 403 and 404 never are.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Network { .. } => true,
            StorageError::Service { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

/// A serialisable view of an error for front ends: the kind to branch on and the
/// message (already free of secrets) for the details pane and the log.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, TS)]
#[ts(export)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<&EngineError> for ErrorInfo {
    fn from(e: &EngineError) -> Self {
        ErrorInfo {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}
