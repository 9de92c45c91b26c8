// The one place the UI talks to the Rust side: typed wrappers over `invoke`, using
// the types ts-rs generates from Rust (ui/src/bindings). Components import only from
// here, so wiring the engine in (phase 2) changes nothing in them.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { AppInfo } from "./bindings/AppInfo";
import type { BitLockerState } from "./bindings/BitLockerState";
import type { ComponentIssue } from "./bindings/ComponentIssue";
import type { ConnectionInput } from "./bindings/ConnectionInput";
import type { CopyLogCandidate } from "./bindings/CopyLogCandidate";
import type { CopyLogInfo } from "./bindings/CopyLogInfo";
import type { CreatedJob } from "./bindings/CreatedJob";
import type { DetectedDrive } from "./bindings/DetectedDrive";
import type { DriveInput } from "./bindings/DriveInput";
import type { DriveRecord } from "./bindings/DriveRecord";
import type { ErrorInfo } from "./bindings/ErrorInfo";
import type { FolderInspection } from "./bindings/FolderInspection";
import type { JobInput } from "./bindings/JobInput";
import type { JobRecord } from "./bindings/JobRecord";
import type { JobSummary } from "./bindings/JobSummary";
import type { KeyCheck } from "./bindings/KeyCheck";
import type { ProgressMessage } from "./bindings/ProgressMessage";
import type { RepairPlan } from "./bindings/RepairPlan";
import type { RunKind } from "./bindings/RunKind";
import type { RunSummary } from "./bindings/RunSummary";
import type { SecretStatus } from "./bindings/SecretStatus";

export type {
  AppInfo, BitLockerState, ComponentIssue, ConnectionInput, CopyLogCandidate, CopyLogInfo, CreatedJob,
  DetectedDrive, DriveInput, DriveRecord, ErrorInfo, FolderInspection, JobInput, JobRecord, JobSummary, KeyCheck,
  ProgressMessage, RepairPlan, RunKind, RunSummary, SecretStatus,
};

/** Whatever a command rejected with, as an ErrorInfo (kind + message). */
export function asErrorInfo(e: unknown): ErrorInfo {
  if (e && typeof e === "object" && "kind" in e && "message" in e) return e as ErrorInfo;
  return { kind: "Internal", message: e instanceof Error ? e.message : String(e) };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw asErrorInfo(e);
  }
}

export const ipc = {
  appInfo: () => call<AppInfo>("app_info"),
  /** Tells Rust the jobs screen is interactive (used by the start-up benchmark). */
  uiReady: () => call<void>("ui_ready"),

  listJobs: () => call<JobSummary[]>("list_jobs"),
  createJob: (input: JobInput) => call<CreatedJob>("create_job", { input }),
  ensureLocalJob: () => call<JobRecord>("ensure_local_job"),
  deleteJob: (jobId: string) => call<boolean>("delete_job", { jobId }),
  listDrives: (jobId: string) => call<DriveRecord[]>("list_drives", { jobId }),
  addDrive: (input: DriveInput) => call<DriveRecord>("add_drive", { input }),
  removeDrive: (jobId: string, driveId: string) => call<boolean>("remove_drive", { jobId, driveId }),

  setJobSecret: (jobId: string, secret: string, remember: boolean) =>
    call<SecretStatus>("set_job_secret", { jobId, secret, remember }),
  forgetJobSecret: (jobId: string) => call<void>("forget_job_secret", { jobId }),
  secretStatus: (jobId: string) => call<SecretStatus>("secret_status", { jobId }),
  testConnection: (input: ConnectionInput) => call<void>("test_connection", { input }),

  detectDrives: () => call<DetectedDrive[]>("detect_drives"),
  inspectFolder: (path: string) => call<FolderInspection>("inspect_folder", { path }),
  validateRecoveryKey: (key: string) => call<KeyCheck>("validate_recovery_key", { key }),
  unlockVolume: (volume: string, key: string) => call<string>("unlock_volume", { volume, key }),

  findCopyLogs: (jobId: string, driveId: string) => call<CopyLogCandidate[]>("find_copy_logs", { jobId, driveId }),
  downloadCopyLog: (jobId: string, log: CopyLogCandidate) => call<string>("download_copy_log", { jobId, log }),
  checkCopyLog: (path: string, driveId: string) => call<CopyLogInfo>("check_copy_log", { path, driveId }),

  planRepair: (jobId: string, driveId: string) => call<RepairPlan>("plan_repair", { jobId, driveId }),
  /** Starts a run; messages (progress, issues, the result) arrive on `onMessage`. */
  startRun: (jobId: string, driveId: string, kind: RunKind, onMessage: (m: ProgressMessage) => void) => {
    const onProgress = new Channel<ProgressMessage>();
    onProgress.onmessage = onMessage;
    return call<void>("start_run", { jobId, driveId, kind, onProgress });
  },
  pauseRun: (jobId: string, driveId: string) => call<void>("pause_run", { jobId, driveId }),
  resumeRun: (jobId: string, driveId: string) => call<void>("resume_run", { jobId, driveId }),
  cancelRun: (jobId: string, driveId: string) => call<void>("cancel_run", { jobId, driveId }),
  readIssues: (jobId: string, driveId: string) => call<ComponentIssue[]>("read_issues", { jobId, driveId }),

  pickFolder: (title: string) => call<string | null>("pick_folder", { title }),
  pickFile: (title: string, kind: "copylog" | "manifest") => call<string | null>("pick_file", { title, kind }),
  saveReport: (suggestedName: string, format: "html" | "csv", contents: string) =>
    call<string | null>("save_report", { suggestedName, format, contents }),
  openLogFolder: (jobId: string, driveId: string) => call<void>("open_log_folder", { jobId, driveId }),
};
