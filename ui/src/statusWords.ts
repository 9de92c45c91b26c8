// Every status word the UI can show, grouped as FORMATS.md §2 and §5 list them. The
// i18n test checks that each one has a label, an explanation and an action in every
// language; statusText() turns a word into those three lines.

/** Drive-level words at the end of a copy log (FORMATS.md §2). */
export const DRIVE_STATUS_WORDS = [
  "Completed", "CompletedWithWarnings", "CompletedWithErrors", "DiskNotFound", "VolumeNotNtfs",
  "DiskOperationFailed", "BitLockerVolumeNotFound", "BitLockerNotActivated",
  "BitLockerProtectorNotFound", "BitLockerKeyInvalid", "BitLockerUnlockVolumeFailed",
  "BitLockerFailed", "ManifestNameInvalid", "ManifestNameTooLong", "ManifestNotFound",
  "ManifestAccessDenied", "ManifestCorrupted", "ManifestFormatInvalid", "ManifestDriveIdMismatch",
  "ReadManifestFailed", "BlobListFormatInvalid", "BlobRequestForbidden", "InternalError",
] as const;

/** Blob-level words. */
export const BLOB_STATUS_WORDS = [
  "Completed", "CompletedWithErrors", "FileNameInvalid", "FileNameTooLong", "FileNotFound",
  "FileAccessDenied", "BlobRequestFailed", "BlobRequestForbidden", "RenameFailed",
  "BlobUnexpectedChange", "LeasePresent", "IOFailed", "Failed",
] as const;

/** Block and page-range words. */
export const RANGE_STATUS_WORDS = [
  "Completed", "Committed", "Uncommitted", "Corrupted", "FileUnexpectedEnd", "BlobUnexpectedEnd",
  "BlobRequestFailed", "IOFailed", "Failed", "Cancelled",
] as const;

/** Properties and metadata file words. */
export const FILE_STATUS_WORDS = [
  "Completed", "FileNameInvalid", "FileNameTooLong", "FileNotFound", "FileAccessDenied", "Corrupted",
  "XmlReadFailed", "XmlWriteFailed", "BlobRequestFailed", "IOFailed", "Failed", "Cancelled",
] as const;

/** All copy-log words, once each. */
export const COPY_LOG_WORDS: string[] = Array.from(
  new Set<string>([...DRIVE_STATUS_WORDS, ...BLOB_STATUS_WORDS, ...RANGE_STATUS_WORDS, ...FILE_STATUS_WORDS]),
);

/** Job states of the newer Azure portal (FORMATS.md §5), as i18n keys. */
export const PORTAL_JOB_STATES = [
  "AwaitingShipmentInformation", "Shipped", "Received", "DataCopyInProgress",
  "DataCopyCompletedWithErrors", "DataCopyCompletedWithWarnings", "DataCopyFailed",
  "PreparingToShip", "ShippedToCustomer", "Completed", "Canceled",
] as const;

/** Job states of the classic portal and the REST API. */
export const REST_JOB_STATES = ["Creating", "Shipping", "Received", "Transferring", "Packaging", "Closed"] as const;

/** Drive states of the newer portal, as i18n keys (PercentCompleted takes {{percent}}). */
export const PORTAL_DRIVE_STATES = [
  "DataCopyNotStarted", "PercentCompleted", "DataCopyCompleted", "DataCopyCompletedWithErrors",
  "DataCopyCompletedWithWarnings", "DiskNotReceived", "Failed", "ManifestFileError",
  "ExportBlobListFormatInvalid", "BlobAccessForbidden", "UnsupportedDisk", "DiskCorrupted",
  "BitLockerUnlockVolumeFailed", "BitLockerVolumeNotFound", "BitLockerKeyInvalid", "HardwareError",
  "NtfsVolumeNotFound", "StorageAccountNotAccessible", "UnsupportedData",
] as const;

/** Drive states of the classic portal and the REST API. */
export const REST_DRIVE_STATES = [
  "Specified", "Received", "NeverReceived", "Transferring", "Completed", "CompletedMoreInfo", "ShippedBack",
] as const;

/** The app's own drive states (LocalState in the bindings). */
export const LOCAL_STATES = [
  "NotChecked", "Checking", "NeedsRepair", "Repairing", "RepairedVerified", "NeedsAttention",
] as const;

/** Every ErrorKind of the engine (ui/src/bindings/ErrorKind.ts). */
export const ERROR_KINDS = [
  "Usage", "MalformedInput", "ImportNotSupported", "UnsafePath", "DriveMismatch", "RepairFileMismatch",
  "Io", "DiskFull", "StorageForbidden", "StorageUnreachable", "BlobNotFound", "Network", "BlobChanged",
  "HashMismatch", "Cancelled", "BitLockerKeyMalformed", "BitLockerKeyInvalid", "NotBitLocker",
  "UnlockFailed", "Unsupported", "Internal",
] as const;

/** Every Problem type (ui/src/bindings/Problem.ts). */
export const PROBLEM_TYPES = [
  "MissingFile", "ShortFile", "HashMismatch", "UnsafePath", "Unreadable", "CopyLogFailed",
  "Regenerated", "BlobChanged", "FetchFailed",
] as const;

/** Which tone a status shows in. */
export type Tone = "success" | "warning" | "danger" | "informative" | "subtle";

const OK_WORDS = new Set(["Completed", "Committed"]);
const WARN_WORDS = new Set(["CompletedWithWarnings", "CompletedWithErrors", "Uncommitted", "Cancelled", "LeasePresent", "BlobUnexpectedChange"]);

export function copyLogTone(word: string): Tone {
  if (OK_WORDS.has(word)) return "success";
  if (WARN_WORDS.has(word)) return "warning";
  if ((COPY_LOG_WORDS as string[]).includes(word)) return "danger";
  return "subtle";
}
