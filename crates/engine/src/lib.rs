//! Drive Repair engine: checks and repairs the drives that the Azure Import/Export
//! service ships back after an export job.
//!
//! The crate knows nothing of Tauri or of any command-line parser. Front ends drive it
//! through plain functions and observe it through [`progress::Reporter`].
//!
//! Module map:
//! - [`model`], [`status`]: the data every other module speaks (blobs, ranges, hashes, statuses).
//! - [`manifest`], [`copylog`], [`properties`] (with [`xml`]): streaming parsers for the drive's files.
//! - [`paths`]: safe mapping of a manifest `FilePath` onto the target directory.
//! - [`verify`]: hash every component the manifest lists.
//! - [`blobstore`]: the one trait behind which all blob access sits, and its Azure client.
//! - [`repairfile`], [`plan`], [`repair`]: the resumable repair.
//! - [`drives`], [`bitlocker`]: finding export drives and unlocking them.
//! - [`progress`], [`error`], [`log`], [`secret`]: what front ends see, and what they must not.

pub mod bitlocker;
pub mod blobstore;
pub mod copylog;
pub mod drives;
pub mod error;
pub mod log;
pub mod manifest;
pub mod model;
pub mod paths;
pub mod plan;
pub mod progress;
pub mod properties;
pub mod repair;
pub mod repairfile;
pub mod secret;
pub mod status;
pub mod verify;
pub mod xml;

pub use error::{EngineError, ErrorKind, Result};
