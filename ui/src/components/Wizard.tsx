import { Button, MessageBar, MessageBarBody, Spinner, Title3, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { ipc, type DriveRecord, type ErrorInfo } from "../ipc";
import { CopyLogStep } from "../wizard/CopyLogStep";
import { DriveStep } from "../wizard/DriveStep";
import { JobStep } from "../wizard/JobStep";
import { ResultStep } from "../wizard/ResultStep";
import { ReviewStep } from "../wizard/ReviewStep";
import { RunStep, type RunOutcome } from "../wizard/RunStep";
import { nextStep, previousStep, visibleSteps, type StepId, type WizardFacts, type WizardMode } from "../wizard/steps";
import { emptyData, jobFormErrors, needsContainer, type WizardData } from "../wizard/types";
import { UnlockStep } from "../wizard/UnlockStep";
import { ErrorBar } from "./ErrorBar";
import { Stepper } from "./Stepper";

export interface WizardStart {
  mode: WizardMode;
  jobId?: string;
  driveId?: string;
  /** The step to open at (when resuming from the jobs table). */
  at?: StepId;
}

const useStyles = makeStyles({
  shell: {
    display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL, backgroundColor: tokens.colorNeutralBackground1,
    borderRadius: tokens.borderRadiusLarge, boxShadow: tokens.shadow4, padding: tokens.spacingHorizontalXL, minHeight: "480px",
  },
  top: { display: "flex", alignItems: "center", gap: tokens.spacingHorizontalM },
  grow: { flexGrow: 1 },
  title: { margin: 0 },
  heading: { margin: 0, ":focus": { outline: "none" }, ":focus-visible": { outline: `2px solid ${tokens.colorStrokeFocus2}` } },
  body: { flexGrow: 1 },
  footer: { display: "flex", gap: tokens.spacingHorizontalM, borderTop: `1px solid ${tokens.colorNeutralStroke2}`, paddingTop: tokens.spacingVerticalM },
});

function facts(d: WizardData): WizardFacts {
  return { driveLocked: d.drive?.bitlocker === "Locked" || d.unlockedPath !== null };
}

export function driveFromRecord(r: DriveRecord): WizardData["drive"] {
  return { volume: r.volume ?? "", label: r.volume_label, bitlocker: r.bitlocker, driveId: r.drive_id, manifestPath: r.manifest_path, sizeBytes: null };
}

export function Wizard({ start, onClose }: { start: WizardStart; onClose: () => void }) {
  const { t } = useTranslation();
  const s = useStyles();
  const mode = start.mode;
  const [data, setData] = useState<WizardData>(emptyData);
  const [step, setStep] = useState<StepId | null>(start.jobId ? null : mode === "repair" ? "job" : "drive");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ErrorInfo | null>(null);
  const [showErrors, setShowErrors] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const update = (patch: Partial<WizardData>) => setData((d) => ({ ...d, ...patch }));

  // Opened from the jobs table: load the job and drive, then go to the step asked for.
  useEffect(() => {
    if (!start.jobId) return;
    let alive = true;
    (async () => {
      try {
        const jobs = await ipc.listJobs();
        const job = jobs.find((j) => j.job.id === start.jobId)?.job ?? null;
        const secret = job && job.id !== "local" ? await ipc.secretStatus(job.id) : null;
        const secretOk = !!secret && (secret.in_session || secret.remembered);
        let patch: Partial<WizardData> = { job, secretOk };
        if (job && start.driveId) {
          const rec = (await ipc.listDrives(job.id)).find((d) => d.drive_id === start.driveId);
          if (rec) {
            patch = {
              ...patch,
              drive: driveFromRecord(rec),
              copyLog: rec.copy_log_path ? { path: rec.copy_log_path, drive_id: rec.drive_id, status: rec.copy_log_status, failed_blobs: 0 } : null,
              summary: rec.last_report,
              runError: rec.last_report?.stopped ?? null,
            };
            if (start.at === "result") patch.issues = await ipc.readIssues(job.id, rec.drive_id).catch(() => []);
          }
        }
        if (!alive) return;
        update(patch);
        const wanted = start.at ?? (mode === "repair" ? "job" : "drive");
        setStep(mode === "repair" && !secretOk && wanted !== "result" ? "job" : wanted);
      } catch (e) {
        if (alive) { setError(e as ErrorInfo); setStep(mode === "repair" ? "job" : "drive"); }
      }
    })();
    return () => { alive = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    heading.current?.focus();
    setShowErrors(false);
  }, [step]);

  const f = facts(data);
  const steps = useMemo(() => visibleSteps(mode, f), [mode, f.driveLocked]);
  if (step === null) return <Spinner label={t("app.loading")} data-testid="wizard-loading" />;

  const canNext = (): boolean => {
    switch (step) {
      case "job": return true;
      case "drive":
        if (!data.drive) return false;
        if (data.drive.bitlocker === "Locked" && !data.unlockedPath) return true;
        return data.drive.driveId !== "" && (mode === "repair" || data.drive.manifestPath !== null);
      case "unlock": return data.unlockedPath !== null && data.drive?.driveId !== "";
      case "copylog": return data.copyLog !== null || data.skipCopyLog;
      case "review": return data.plan !== null;
      default: return false;
    }
  };

  /** Saves what the step collected, then moves on. */
  const next = async () => {
    setError(null);
    setNotice(null);
    if (!canNext()) return;
    setBusy(true);
    try {
      let d = data;
      if (step === "job") {
        const errs = jobFormErrors(d.form, d.job !== null);
        if (d.job && d.secretOk) {
          /* nothing to save */
        } else if (Object.keys(errs).length > 0) {
          setShowErrors(true);
          return;
        } else if (d.job) {
          const st = await ipc.setJobSecret(d.job.id, d.form.secret, d.form.remember);
          if (st.remember_error) setNotice(t("wizard.job.rememberFailed", { reason: st.remember_error }));
          d = { ...d, secretOk: true, form: { ...d.form, secret: "" } };
        } else {
          const created = await ipc.createJob({
            name: d.form.name.trim(), storage_account: d.form.account.trim(), endpoint: d.form.endpoint.trim() || null,
            auth: d.form.auth, secret: d.form.secret.trim(), remember: d.form.remember,
            container: needsContainer(d.form) ? d.form.container.trim() : null,
          });
          if (created.secret.remember_error) setNotice(t("wizard.job.rememberFailed", { reason: created.secret.remember_error }));
          d = { ...d, job: created.job, secretOk: true, form: { ...d.form, secret: "" } };
        }
      }
      if ((step === "drive" && !(d.drive!.bitlocker === "Locked" && !d.unlockedPath)) || step === "unlock") {
        const job = d.job ?? (await ipc.ensureLocalJob());
        const drive = d.drive!;
        await ipc.addDrive({
          job_id: job.id, drive_id: drive.driveId, volume: d.unlockedPath ?? drive.volume, volume_label: drive.label,
          bitlocker: drive.bitlocker, manifest_path: drive.manifestPath, copy_log_path: null, copy_log_status: null,
        });
        d = { ...d, job };
      }
      if (step === "copylog") {
        const drive = d.drive!;
        await ipc.addDrive({
          job_id: d.job!.id, drive_id: drive.driveId, volume: d.unlockedPath ?? drive.volume, volume_label: drive.label,
          bitlocker: drive.bitlocker, manifest_path: drive.manifestPath,
          copy_log_path: d.skipCopyLog ? null : d.copyLog?.path ?? null, copy_log_status: d.skipCopyLog ? null : d.copyLog?.status ?? null,
        });
      }
      if (step === "review") d = { ...d, autoStart: true };
      setData(d);
      const n = nextStep(mode, step, facts(d));
      if (n) setStep(n);
    } catch (e) {
      setError(e as ErrorInfo);
    } finally {
      setBusy(false);
    }
  };

  const back = () => {
    setError(null);
    const p = previousStep(mode, step, f);
    if (p) setStep(p);
  };

  const onRunDone = (o: RunOutcome) => {
    update({ summary: o.summary, runError: o.error, issues: o.issues, autoStart: false });
    setStep("result");
  };

  const title = mode === "repair" ? t("wizard.titleRepair") : t("wizard.titleVerify");
  const stepName = t(`wizard.steps.${step === "run" && mode === "verify" ? "verify" : step}`);
  const current = steps.indexOf(step) + 1;
  const nextLabel = step === "review" ? t("wizard.review.start") : t("wizard.next");

  return (
    <section className={s.shell} data-testid="wizard" data-mode={mode} data-step={step} aria-labelledby="wizard-step-title">
      <div className={s.top}>
        <Title3 as="h2" className={`${s.grow} ${s.title}`}>{title}</Title3>
      </div>
      <Stepper steps={steps} current={step} mode={mode} />
      <h2 id="wizard-step-title" ref={heading} tabIndex={-1} className={s.heading} data-testid="wizard-step-title">
        {stepName} <span aria-hidden="true">·</span> <small>{t("wizard.stepOf", { current, total: steps.length })}</small>
      </h2>
      {notice && <MessageBar intent="warning"><MessageBarBody>{notice}</MessageBarBody></MessageBar>}
      {error && <ErrorBar error={error} testId="wizard-error" />}
      <div className={s.body}>
        {step === "job" && <JobStep data={data} update={update} showErrors={showErrors} />}
        {step === "drive" && <DriveStep data={data} update={update} mode={mode} />}
        {step === "unlock" && <UnlockStep data={data} update={update} />}
        {step === "copylog" && <CopyLogStep data={data} update={update} />}
        {step === "review" && <ReviewStep data={data} update={update} />}
        {step === "run" && <RunStep data={data} mode={mode} onDone={onRunDone} />}
        {step === "result" && <ResultStep data={data} />}
      </div>
      <div className={s.footer}>
        {step !== "run" && step !== "result" && (
          <>
            <Button onClick={back} disabled={!previousStep(mode, step, f) || busy} data-testid="wizard-back">{t("wizard.back")}</Button>
            <Button appearance="primary" onClick={next} disabled={!canNext() || busy} data-testid="wizard-next">{nextLabel}</Button>
          </>
        )}
        {busy && <Spinner size="tiny" />}
        <span className={s.grow} />
        <Button appearance={step === "result" ? "primary" : "subtle"} onClick={onClose} data-testid="wizard-close">
          {step === "result" ? t("wizard.result.done") : t("wizard.cancelWizard")}
        </Button>
      </div>
    </section>
  );
}
