import {
  Button, Dialog, DialogActions, DialogBody, DialogContent, DialogSurface, DialogTitle,
  MessageBar, MessageBarBody, ProgressBar, Spinner, Text, makeStyles, tokens,
} from "@fluentui/react-components";
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import type { Progress } from "../bindings/Progress";
import { ErrorBar } from "../components/ErrorBar";
import { formatBytes, formatCount, formatDuration, formatPercent, formatRate, progressPercent } from "../format";
import { ipc, type ComponentIssue, type ErrorInfo, type ProgressMessage, type RunSummary } from "../ipc";
import type { WizardMode } from "./steps";
import type { WizardData } from "./types";

const useStyles = makeStyles({
  col: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL, maxWidth: "820px" },
  grid: { display: "grid", gridTemplateColumns: "max-content 1fr", columnGap: tokens.spacingHorizontalXXL, rowGap: tokens.spacingVerticalS, margin: 0 },
  dt: { color: tokens.colorNeutralForeground2 },
  dd: { margin: 0, fontWeight: tokens.fontWeightSemibold, wordBreak: "break-all" },
  bar: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalXS },
  barHead: { display: "flex", justifyContent: "space-between" },
  row: { display: "flex", gap: tokens.spacingHorizontalM },
});

export interface RunOutcome {
  summary: RunSummary | null;
  error: ErrorInfo | null;
  issues: ComponentIssue[];
}

export function RunStep({ data, mode, onDone }: { data: WizardData; mode: WizardMode; onDone: (o: RunOutcome) => void }) {
  const { t, i18n } = useTranslation();
  const s = useStyles();
  const lang = i18n.language;
  const [started, setStarted] = useState(false);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [paused, setPaused] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<ErrorInfo | null>(null);
  const [warnings, setWarnings] = useState<string[]>([]);
  const issues = useRef<ComponentIssue[]>([]);
  const jobId = data.job?.id ?? "";
  const driveId = data.drive?.driveId ?? "";

  // The issues reported along the way include damage that a repair then fixed; the
  // run's issues file holds what is still bad.
  const finished = async (summary: RunSummary) => {
    const remaining = summary.issues_file
      ? await ipc.readIssues(jobId, driveId).catch(() => issues.current)
      : summary.components_failed > 0 ? issues.current : [];
    onDone({ summary, error: null, issues: remaining });
  };

  const start = async () => {
    setStarted(true);
    setError(null);
    issues.current = [];
    const onMessage = (m: ProgressMessage) => {
      switch (m.type) {
        case "Progress": setProgress(m.progress); break;
        case "Issues": issues.current.push(...m.issues); break;
        case "Warning": setWarnings((w) => [...w, m.message]); break;
        case "Paused": setPaused(true); break;
        case "Resumed": setPaused(false); break;
        case "Finished": void finished(m.summary); break;
        case "Failed": onDone({ summary: null, error: m.error, issues: issues.current }); break;
        default: break;
      }
    };
    try {
      await ipc.startRun(jobId, driveId, mode === "verify" ? "Verify" : "Repair", onMessage);
    } catch (e) {
      setError(e as ErrorInfo);
      setStarted(false);
    }
  };

  useEffect(() => {
    if (data.autoStart && !started) void start();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const togglePause = async () => {
    try {
      if (paused) await ipc.resumeRun(jobId, driveId);
      else await ipc.pauseRun(jobId, driveId);
    } catch (e) {
      setError(e as ErrorInfo);
    }
  };

  const cancel = async () => {
    setConfirm(false);
    try {
      await ipc.cancelRun(jobId, driveId);
    } catch (e) {
      setError(e as ErrorInfo);
    }
  };

  const pct = progress ? progressPercent(progress) : 0;
  return (
    <div className={s.col} data-testid="run-step">
      {error && <ErrorBar error={error} testId="run-error" />}
      {!started ? (
        <div className={s.row}>
          <Button appearance="primary" onClick={start} data-testid="run-start">
            {mode === "verify" ? t("wizard.review.startVerify") : t("wizard.review.start")}
          </Button>
        </div>
      ) : (
        <>
          <div className={s.bar}>
            <div className={s.barHead}>
              <Text weight="semibold">{progress ? t(`phase.${progress.phase}`) : t("wizard.run.starting")}{paused ? ` — ${t("wizard.run.paused")}` : ""}</Text>
              <Text data-testid="run-percent">{formatPercent(pct, lang)}</Text>
            </div>
            <ProgressBar value={pct / 100} thickness="large" aria-label={t("wizard.run.overall")} data-testid="run-progress"
              color={paused ? "warning" : "brand"} />
          </div>
          {!progress && <Spinner size="tiny" label={t("wizard.run.starting")} />}
          {progress && (
            <dl className={s.grid} aria-live="off">
              <dt className={s.dt}>{t("wizard.run.currentFile")}</dt>
              <dd className={s.dd} data-testid="run-current-file">{progress.current_file ?? "—"}</dd>
              <dt className={s.dt}>{t("wizard.run.rate")}</dt>
              <dd className={s.dd} data-testid="run-rate">{formatRate(progress.bytes_per_second, t, lang)}</dd>
              <dt className={s.dt}>{t("wizard.run.eta")}</dt>
              <dd className={s.dd} data-testid="run-eta">{formatDuration(progress.eta_seconds, t) ?? t("wizard.run.etaUnknown")}</dd>
              <dt className={s.dt}>{t("wizard.run.components")}</dt>
              <dd className={s.dd} data-testid="run-components">
                {formatCount(progress.components_done, lang)} / {formatCount(progress.components_total, lang)} ·{" "}
                {formatBytes(progress.bytes_done, t, lang)} / {formatBytes(progress.bytes_total, t, lang)}
              </dd>
              <dt className={s.dt}>{t("wizard.run.failed")}</dt>
              <dd className={s.dd} data-testid="run-failed">{formatCount(progress.components_failed, lang)}</dd>
            </dl>
          )}
          <div className={s.row}>
            <Button onClick={togglePause} data-testid="run-pause">{paused ? t("wizard.run.resume") : t("wizard.run.pause")}</Button>
            <Button onClick={() => setConfirm(true)} data-testid="run-cancel">{t("wizard.run.cancel")}</Button>
          </div>
          {warnings.length > 0 && (
            <MessageBar intent="warning"><MessageBarBody>{t("wizard.run.warnings")}: {warnings.join(" · ")}</MessageBarBody></MessageBar>
          )}
        </>
      )}
      <Dialog open={confirm} onOpenChange={(_, d) => setConfirm(d.open)}>
        <DialogSurface data-testid="cancel-dialog">
          <DialogBody>
            <DialogTitle>{t("wizard.run.confirmCancelTitle")}</DialogTitle>
            <DialogContent>{t("wizard.run.confirmCancelBody")}</DialogContent>
            <DialogActions>
              <Button appearance="primary" onClick={cancel} data-testid="cancel-confirm">{t("wizard.run.confirmCancelYes")}</Button>
              <Button onClick={() => setConfirm(false)} data-testid="cancel-keep">{t("wizard.run.confirmCancelNo")}</Button>
            </DialogActions>
          </DialogBody>
        </DialogSurface>
      </Dialog>
    </div>
  );
}
