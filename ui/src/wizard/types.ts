import type { BitLockerState } from "../bindings/BitLockerState";
import type { ComponentIssue } from "../bindings/ComponentIssue";
import type { CopyLogInfo } from "../bindings/CopyLogInfo";
import type { ErrorInfo } from "../bindings/ErrorInfo";
import type { JobRecord } from "../bindings/JobRecord";
import type { RepairPlan } from "../bindings/RepairPlan";
import type { RunSummary } from "../bindings/RunSummary";
import type { AuthKind } from "../bindings/AuthKind";

export interface ChosenDrive {
  volume: string;
  label: string | null;
  bitlocker: BitLockerState;
  /** Empty until known (a locked drive's ID is read after unlocking). */
  driveId: string;
  manifestPath: string | null;
  sizeBytes: number | null;
}

export interface JobForm {
  name: string;
  account: string;
  auth: AuthKind;
  secret: string;
  endpoint: string;
  /** The container a bare SAS token is for (a SAS URL names its own). */
  container: string;
  remember: boolean;
}

export interface WizardData {
  job: JobRecord | null;
  /** The app holds the job's key or SAS for this session. */
  secretOk: boolean;
  form: JobForm;
  drive: ChosenDrive | null;
  unlockedPath: string | null;
  copyLog: CopyLogInfo | null;
  /** Repair without a copy log (manifest only). */
  skipCopyLog: boolean;
  plan: RepairPlan | null;
  /** Set by Review's "Start": the run step starts at once. */
  autoStart: boolean;
  summary: RunSummary | null;
  runError: ErrorInfo | null;
  issues: ComponentIssue[];
}

export const emptyForm: JobForm = { name: "", account: "", auth: "Key", secret: "", endpoint: "", container: "", remember: false };

export function emptyData(): WizardData {
  return {
    job: null, secretOk: false, form: { ...emptyForm }, drive: null, unlockedPath: null, copyLog: null,
    skipCopyLog: false, plan: null, autoStart: false, summary: null, runError: null, issues: [],
  };
}

export type Update = (patch: Partial<WizardData>) => void;

/** The Job step form's own checks, for instant feedback (Rust checks again). */
export function jobFormErrors(f: JobForm, needSecretOnly: boolean): Partial<Record<keyof JobForm, string>> {
  const e: Partial<Record<keyof JobForm, string>> = {};
  if (!needSecretOnly) {
    if (!f.name.trim()) e.name = "wizard.job.errors.name";
    if (!/^[a-z0-9]{3,24}$/.test(f.account.trim())) e.account = "wizard.job.errors.account";
    if (f.endpoint.trim() && !/^https?:\/\/[^\s/?#]+/.test(f.endpoint.trim())) e.endpoint = "wizard.job.errors.endpoint";
  }
  if (!f.secret.trim()) e.secret = "wizard.job.errors.secret";
  else if (!needSecretOnly && needsContainer(f) && !isContainerName(f.container.trim())) e.container = "wizard.job.errors.container";
  return e;
}

/** A SAS token (not a URL) does not name its container, so the form asks for it. */
export function needsContainer(f: Pick<JobForm, "auth" | "secret">): boolean {
  return f.auth === "Sas" && f.secret.trim() !== "" && !/^https?:\/\//i.test(f.secret.trim());
}

/** Azure's container names: 3–63 lower-case letters, digits and single hyphens, or `$root`. */
export function isContainerName(c: string): boolean {
  return c === "$root" || (/^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/.test(c) && c.length >= 3 && c.length <= 63);
}
