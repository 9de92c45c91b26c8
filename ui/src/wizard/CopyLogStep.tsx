import {
  Button, Checkbox, Field, Input, MessageBar, MessageBarBody, Spinner, Table, TableBody, TableCell,
  TableHeader, TableHeaderCell, TableRow, Text, makeStyles, tokens,
} from "@fluentui/react-components";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorBar } from "../components/ErrorBar";
import { formatBytes, formatDateTime } from "../format";
import { ipc, type CopyLogCandidate, type ErrorInfo } from "../ipc";
import { copyLogText } from "../statusText";
import type { Update, WizardData } from "./types";

const useStyles = makeStyles({
  col: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "900px" },
  row: { display: "flex", gap: tokens.spacingHorizontalS, alignItems: "flex-end" },
  grow: { flexGrow: 1 },
  h3: { fontSize: tokens.fontSizeBase400, fontWeight: tokens.fontWeightSemibold, margin: 0 },
  name: { fontFamily: tokens.fontFamilyMonospace, fontSize: tokens.fontSizeBase200, wordBreak: "break-all" },
});

export function CopyLogStep({ data, update }: { data: WizardData; update: Update }) {
  const { t, i18n } = useTranslation();
  const s = useStyles();
  const driveId = data.drive?.driveId ?? "";
  const [logs, setLogs] = useState<CopyLogCandidate[] | null>(null);
  const [busy, setBusy] = useState<"find" | "download" | "check" | null>(null);
  const [error, setError] = useState<ErrorInfo | null>(null);
  const [path, setPath] = useState(data.copyLog?.path ?? "");

  const check = async (p: string) => {
    setBusy("check");
    setError(null);
    update({ copyLog: null, skipCopyLog: false });
    try {
      const info = await ipc.checkCopyLog(p, driveId);
      update({ copyLog: info });
    } catch (e) {
      setError(e as ErrorInfo);
    } finally {
      setBusy(null);
    }
  };

  const find = async () => {
    if (!data.job) return;
    setBusy("find");
    setError(null);
    try {
      setLogs(await ipc.findCopyLogs(data.job.id, driveId));
    } catch (e) {
      setError(e as ErrorInfo);
    } finally {
      setBusy(null);
    }
  };

  const download = async (log: CopyLogCandidate) => {
    if (!data.job) return;
    setBusy("download");
    setError(null);
    try {
      const p = await ipc.downloadCopyLog(data.job.id, log);
      setPath(p);
      await check(p);
    } catch (e) {
      setError(e as ErrorInfo);
    } finally {
      setBusy(null);
    }
  };

  const browse = async () => {
    try {
      const p = await ipc.pickFile(t("wizard.copylog.filePath"), "copylog");
      if (p) { setPath(p); await check(p); }
    } catch (e) {
      setError(e as ErrorInfo);
    }
  };

  const mismatch = error?.kind === "DriveMismatch";
  return (
    <div className={s.col} data-testid="copylog-step">
      <Text>{t("wizard.copylog.intro")}</Text>
      <div className={s.row}>
        <Button appearance="primary" onClick={find} disabled={busy !== null || !data.job} data-testid="copylog-find">{t("wizard.copylog.find")}</Button>
        {busy === "find" && <Spinner size="tiny" label={t("wizard.copylog.finding")} />}
        {busy === "download" && <Spinner size="tiny" label={t("wizard.copylog.downloading")} />}
      </div>
      {logs && logs.length === 0 && <Text data-testid="copylog-none">{t("wizard.copylog.none")}</Text>}
      {logs && logs.length > 0 && (
        <Table aria-label={t("wizard.copylog.found", { id: driveId })} data-testid="copylog-list" size="small">
          <TableHeader>
            <TableRow>
              <TableHeaderCell style={{ width: "46%" }}>{t("wizard.copylog.name")}</TableHeaderCell>
              <TableHeaderCell>{t("wizard.copylog.type")}</TableHeaderCell>
              <TableHeaderCell>{t("wizard.copylog.modified")}</TableHeaderCell>
              <TableHeaderCell>{t("wizard.copylog.size")}</TableHeaderCell>
              <TableHeaderCell />
            </TableRow>
          </TableHeader>
          <TableBody>
            {logs.map((l, i) => (
              <TableRow key={`${l.container}/${l.name}`}>
                <TableCell><span className={s.name} title={`${l.container}/${l.name}`}>{l.name.split("/").pop()}</span></TableCell>
                <TableCell>{l.log_type}</TableCell>
                <TableCell>{l.last_modified ? formatDateTime(Date.parse(l.last_modified), i18n.language) : ""}</TableCell>
                <TableCell>{formatBytes(l.length, t, i18n.language)}</TableCell>
                <TableCell>
                  <Button size="small" onClick={() => download(l)} disabled={busy !== null} data-testid={`copylog-use-${i}`}>{t("wizard.copylog.use")}</Button>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      <h3 className={s.h3}>{t("wizard.copylog.orFile")}</h3>
      <div className={s.row}>
        <Field label={t("wizard.copylog.filePath")} className={s.grow}>
          <Input value={path} onChange={(_, d) => setPath(d.value)} data-testid="copylog-path" spellCheck={false}
            onKeyDown={(e) => { if (e.key === "Enter" && path.trim()) void check(path.trim()); }} />
        </Field>
        <Button onClick={browse} data-testid="copylog-browse">{t("wizard.copylog.browse")}</Button>
        <Button onClick={() => check(path.trim())} disabled={!path.trim() || busy !== null} data-testid="copylog-check">{t("wizard.copylog.check")}</Button>
      </div>
      <div aria-live="polite">
        {mismatch && (
          <MessageBar intent="error" data-testid="copylog-mismatch">
            <MessageBarBody>{t("wizard.copylog.mismatch", { other: otherDriveId(error!.message), id: driveId })}</MessageBarBody>
          </MessageBar>
        )}
        {error && !mismatch && <ErrorBar error={error} testId="copylog-error" />}
        {data.copyLog && (
          <MessageBar intent="success" data-testid="copylog-ok">
            <MessageBarBody>
              {t("wizard.copylog.ok", { id: data.copyLog.drive_id, status: data.copyLog.status ? copyLogText(data.copyLog.status, t).label : "—" })}
            </MessageBarBody>
          </MessageBar>
        )}
      </div>
      {data.drive?.manifestPath && (
        <Checkbox checked={data.skipCopyLog} label={t("wizard.copylog.skip")} data-testid="copylog-skip"
          onChange={(_, d) => update({ skipCopyLog: d.checked === true, copyLog: d.checked === true ? null : data.copyLog })} />
      )}
    </div>
  );
}

/** The other drive's ID from a DriveMismatch message ("…copy log says \"X\"…"). */
export function otherDriveId(message: string): string {
  const all = [...message.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  return all[1] ?? all[0] ?? "?";
}
