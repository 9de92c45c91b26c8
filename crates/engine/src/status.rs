//! The status words of the Import/Export copy log (FORMATS.md §2). Users see these
//! words in the UI, so the engine keeps them verbatim; unknown words are kept as
//! [`Status::Other`] rather than rejected, because the service adds words over time.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, TS)]
        #[ts(export, type = "string")]
        pub enum $name {
            $($variant,)*
            /// A word this version does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            pub fn parse(word: &str) -> Self {
                match word.trim() {
                    $(stringify!($variant) => $name::$variant,)*
                    other => $name::Other(other.to_string()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                    $name::Other(s) => s,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

status_enum!(
    /// The drive-level status at the end of a copy log.
    DriveStatus {
        Completed, CompletedWithWarnings, CompletedWithErrors, DiskNotFound, VolumeNotNtfs,
        DiskOperationFailed, BitLockerVolumeNotFound, BitLockerNotActivated,
        BitLockerProtectorNotFound, BitLockerKeyInvalid, BitLockerUnlockVolumeFailed,
        BitLockerFailed, ManifestNameInvalid, ManifestNameTooLong, ManifestNotFound,
        ManifestAccessDenied, ManifestCorrupted, ManifestFormatInvalid, ManifestDriveIdMismatch,
        ReadManifestFailed, BlobListFormatInvalid, BlobRequestForbidden, InternalError,
    }
);

status_enum!(
    /// The status of one blob in a copy log.
    BlobStatus {
        Completed, CompletedWithErrors, FileNameInvalid, FileNameTooLong, FileNotFound,
        FileAccessDenied, BlobRequestFailed, BlobRequestForbidden, RenameFailed,
        BlobUnexpectedChange, LeasePresent, IOFailed, Failed,
    }
);

status_enum!(
    /// The status of one block or page range in a copy log.
    RangeStatus {
        Completed, Committed, Uncommitted, Corrupted, FileUnexpectedEnd, BlobUnexpectedEnd,
        BlobRequestFailed, IOFailed, Failed, Cancelled,
    }
);

status_enum!(
    /// The status of a properties or metadata file in a copy log.
    FileStatus {
        Completed, FileNameInvalid, FileNameTooLong, FileNotFound, FileAccessDenied, Corrupted,
        XmlReadFailed, XmlWriteFailed, BlobRequestFailed, IOFailed, Failed, Cancelled,
    }
);

impl BlobStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, BlobStatus::Completed)
    }
}

impl RangeStatus {
    /// Completed and Committed mean the bytes reached the drive.
    pub fn is_ok(&self) -> bool {
        matches!(self, RangeStatus::Completed | RangeStatus::Committed)
    }
}

impl FileStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, FileStatus::Completed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_words_round_trip() {
        assert_eq!(BlobStatus::parse("Completed"), BlobStatus::Completed);
        assert_eq!(RangeStatus::parse(" Corrupted "), RangeStatus::Corrupted);
        let odd = DriveStatus::parse("SomethingNew");
        assert_eq!(odd.as_str(), "SomethingNew");
        assert_eq!(serde_json::to_string(&FileStatus::XmlReadFailed).unwrap(), "\"XmlReadFailed\"");
    }

    #[test]
    fn only_completed_and_committed_ranges_are_ok() {
        assert!(RangeStatus::Committed.is_ok());
        assert!(!RangeStatus::Failed.is_ok());
        assert!(!RangeStatus::Other("x".into()).is_ok());
    }
}
