import { Button, MessageBar, MessageBarBody, MessageBarTitle, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorBar } from "../components/ErrorBar";
import { IssuesTable } from "../components/IssuesTable";
import { formatBytes, formatCount, formatDuration } from "../format";
import { ipc, type ErrorInfo } from "../ipc";
import { reportCsv, reportHtml } from "../report";
import type { WizardData } from "./types";

const useStyles = makeStyles({
  col: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  grid: { display: "grid", gridTemplateColumns: "repeat(5, minmax(120px, max-content))", columnGap: tokens.spacingHorizontalXXL, rowGap: tokens.spacingVerticalXS, margin: 0 },
  stat: { display: "flex", flexDirection: "column" },
  label: { color: tokens.colorNeutralForeground2, fontSize: tokens.fontSizeBase200 },
  value: { fontSize: tokens.fontSizeBase500, fontWeight: tokens.fontWeightSemibold },
  row: { display: "flex", gap: tokens.spacingHorizontalM, flexWrap: "wrap" },
});

export function ResultStep({ data }: { data: WizardData }) {
  const { t, i18n } = useTranslation();
  const s = useStyles();
  const lang = i18n.language;
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<ErrorInfo | null>(null);
  const sum = data.summary;
  const stopped = data.runError ?? sum?.stopped ?? null;
  const bad = sum?.components_failed ?? data.issues.length;

  const save = async (format: "html" | "csv") => {
    setError(null);
    const input = {
      jobName: data.job?.name ?? "",
      account: data.job?.storage_account ?? "",
      driveId: data.drive?.driveId ?? "",
      volume: data.drive?.volume ?? "",
      summary: sum,
      issues: data.issues,
      generated: new Date(),
    };
    const contents = format === "html" ? reportHtml(input, t, lang) : reportCsv(input, t, lang);
    try {
      const p = await ipc.saveReport(`drive-repair-${input.driveId || "report"}.${format}`, format, contents);
      if (p) setSaved(p);
    } catch (e) {
      setError(e as ErrorInfo);
    }
  };

  const openLogs = async () => {
    if (!data.job || !data.drive) return;
    try {
      await ipc.openLogFolder(data.job.id, data.drive.driveId);
    } catch (e) {
      setError(e as ErrorInfo);
    }
  };

  const stats: [string, string][] = sum
    ? [
        [t("wizard.result.checked"), formatCount(sum.components_checked, lang)],
        [t("wizard.result.repaired"), formatCount(sum.components_repaired, lang)],
        [t("wizard.result.stillBad"), formatCount(sum.components_failed, lang)],
        [t("wizard.result.fetched"), formatBytes(sum.bytes_fetched, t, lang)],
        [t("wizard.result.elapsed"), formatDuration(sum.elapsed_seconds, t) ?? "—"],
      ]
    : [];

  return (
    <div className={s.col} data-testid="result-step">
      {stopped ? (
        <>
          <MessageBar intent="warning" data-testid="result-stopped"><MessageBarBody><MessageBarTitle>{t("wizard.result.stopped")}</MessageBarTitle></MessageBarBody></MessageBar>
          <ErrorBar error={stopped} testId="result-error" />
        </>
      ) : bad === 0 ? (
        <MessageBar intent="success" data-testid="result-ok"><MessageBarBody><MessageBarTitle>{t("wizard.result.ok")}</MessageBarTitle></MessageBarBody></MessageBar>
      ) : (
        <MessageBar intent="warning" data-testid="result-bad"><MessageBarBody><MessageBarTitle>{t("wizard.result.someBad", { count: bad })}</MessageBarTitle></MessageBarBody></MessageBar>
      )}
      {stats.length > 0 && (
        <div className={s.grid} data-testid="result-summary">
          {stats.map(([k, v]) => (
            <div key={k} className={s.stat}><span className={s.label}>{k}</span><span className={s.value}>{v}</span></div>
          ))}
        </div>
      )}
      {data.issues.length > 0 ? (
        <IssuesTable issues={data.issues} label={t("wizard.result.tableLabel")} />
      ) : (
        <Text data-testid="result-none">{t("wizard.result.none")}</Text>
      )}
      <div className={s.row}>
        <Button onClick={() => save("html")} data-testid="save-html">{t("wizard.result.saveHtml")}</Button>
        <Button onClick={() => save("csv")} data-testid="save-csv">{t("wizard.result.saveCsv")}</Button>
        <Button onClick={openLogs} disabled={!data.job || !data.drive} data-testid="open-logs">{t("wizard.result.openLogs")}</Button>
      </div>
      <div aria-live="polite">
        {saved && <MessageBar intent="success" data-testid="report-saved"><MessageBarBody>{t("wizard.result.saved", { path: saved })}</MessageBarBody></MessageBar>}
        {error && <ErrorBar error={error} testId="result-action-error" />}
      </div>
    </div>
  );
}
