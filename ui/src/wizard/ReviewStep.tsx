import { MessageBar, MessageBarBody, Spinner, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorBar } from "../components/ErrorBar";
import { formatBytes, formatCount, formatDuration } from "../format";
import { ipc, type ErrorInfo } from "../ipc";
import type { Update, WizardData } from "./types";

const useStyles = makeStyles({
  col: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "720px" },
  grid: { display: "grid", gridTemplateColumns: "max-content 1fr", columnGap: tokens.spacingHorizontalXXL, rowGap: tokens.spacingVerticalS, margin: 0 },
  dt: { color: tokens.colorNeutralForeground2 },
  dd: { margin: 0, fontWeight: tokens.fontWeightSemibold },
});

export function ReviewStep({ data, update }: { data: WizardData; update: Update }) {
  const { t, i18n } = useTranslation();
  const s = useStyles();
  const [error, setError] = useState<ErrorInfo | null>(null);
  const lang = i18n.language;

  useEffect(() => {
    if (!data.job || !data.drive) return;
    let alive = true;
    setError(null);
    ipc.planRepair(data.job.id, data.drive.driveId).then(
      (plan) => alive && update({ plan }),
      (e) => alive && setError(e as ErrorInfo),
    );
    return () => { alive = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data.job?.id, data.drive?.driveId]);

  const p = data.plan;
  return (
    <div className={s.col} data-testid="review-step">
      <Text>{t("wizard.review.intro")}</Text>
      {error && <ErrorBar error={error} testId="plan-error" />}
      {!p && !error && <Spinner size="tiny" label={t("wizard.review.planning")} />}
      {p && (
        <dl className={s.grid} data-testid="plan">
          <dt className={s.dt}>{t("wizard.review.files")}</dt><dd className={s.dd} data-testid="plan-files">{formatCount(p.files, lang)}</dd>
          <dt className={s.dt}>{t("wizard.review.ranges")}</dt><dd className={s.dd}>{formatCount(p.ranges, lang)}</dd>
          <dt className={s.dt}>{t("wizard.review.fetch")}</dt><dd className={s.dd}>{formatBytes(p.bytes_to_fetch, t, lang)}</dd>
          <dt className={s.dt}>{t("wizard.review.verify")}</dt><dd className={s.dd}>{formatBytes(p.bytes_to_verify, t, lang)}</dd>
          <dt className={s.dt}>{t("wizard.review.duration")}</dt><dd className={s.dd}>{formatDuration(p.estimated_seconds, t) ?? "—"}</dd>
        </dl>
      )}
      {p?.warnings.map((w) => (
        <MessageBar key={w} intent="warning"><MessageBarBody>{w}</MessageBarBody></MessageBar>
      ))}
    </div>
  );
}
