import {
  Button, Field, Input, MessageBar, MessageBarBody, Radio, RadioGroup, Spinner, Text, makeStyles, tokens,
} from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorBar } from "../components/ErrorBar";
import { formatBytes } from "../format";
import { ipc, type DetectedDrive, type ErrorInfo, type FolderInspection } from "../ipc";
import { errorText } from "../statusText";
import type { Update, WizardData } from "./types";
import type { WizardMode } from "./steps";

const useStyles = makeStyles({
  col: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "760px" },
  card: {
    display: "grid", gridTemplateColumns: "minmax(260px, auto) 1fr", gap: tokens.spacingHorizontalM, alignItems: "center",
    width: "100%", boxSizing: "border-box", marginBottom: tokens.spacingVerticalS,
    padding: tokens.spacingHorizontalM, border: `1px solid ${tokens.colorNeutralStroke2}`, borderRadius: tokens.borderRadiusMedium,
  },
  meta: { color: tokens.colorNeutralForeground2, fontSize: tokens.fontSizeBase200 },
  row: { display: "flex", gap: tokens.spacingHorizontalS, alignItems: "flex-end" },
  grow: { flexGrow: 1 },
  h3: { fontSize: tokens.fontSizeBase400, fontWeight: tokens.fontWeightSemibold, margin: 0 },
});

/** How often the detected drives are looked up again. */
export const DRIVE_POLL_MS = 3000;

export function DriveStep({ data, update, mode }: { data: WizardData; update: Update; mode: WizardMode }) {
  const { t, i18n } = useTranslation();
  const s = useStyles();
  const [drives, setDrives] = useState<DetectedDrive[] | null>(null);
  const [detectError, setDetectError] = useState<ErrorInfo | null>(null);
  const [folder, setFolder] = useState(data.drive && data.drive.bitlocker !== "Locked" ? data.drive.volume : "");
  const [inspection, setInspection] = useState<FolderInspection | null>(null);
  const [folderError, setFolderError] = useState<ErrorInfo | null>(null);

  useEffect(() => {
    let alive = true;
    const poll = () =>
      ipc.detectDrives().then(
        (d) => { if (alive) { setDrives(d); setDetectError(null); } },
        (e) => { if (alive) { setDrives([]); setDetectError(e as ErrorInfo); } },
      );
    void poll();
    const timer = setInterval(poll, DRIVE_POLL_MS);
    return () => { alive = false; clearInterval(timer); };
  }, []);

  const chooseDetected = (volume: string) => {
    const d = drives?.find((x) => x.volume === volume);
    if (!d) return;
    setInspection(null);
    update({
      drive: { volume: d.volume, label: d.label, bitlocker: d.bitlocker, driveId: d.drive_id ?? "", manifestPath: d.manifest_path, sizeBytes: d.size_bytes },
      unlockedPath: null, copyLog: null, plan: null,
    });
  };

  const useFolder = async (path: string) => {
    setFolderError(null);
    setInspection(null);
    try {
      const r = await ipc.inspectFolder(path);
      setInspection(r);
      const m = r.manifests[0];
      update({
        drive: { volume: r.path, label: null, bitlocker: "NotEncrypted", driveId: m?.drive_id ?? "", manifestPath: m?.path ?? null, sizeBytes: null },
        unlockedPath: null, copyLog: null, plan: null,
      });
    } catch (e) {
      setFolderError(e as ErrorInfo);
    }
  };

  const browse = async () => {
    try {
      const p = await ipc.pickFolder(t("wizard.drive.folderPath"));
      if (p) { setFolder(p); await useFolder(p); }
    } catch (e) {
      setFolderError(e as ErrorInfo);
    }
  };

  const chosen = data.drive;
  const lang = i18n.language;
  return (
    <div className={s.col} data-testid="drive-step">
      <Text>{t("wizard.drive.intro")}</Text>
      <h3 className={s.h3}>{t("wizard.drive.detected")}</h3>
      {drives === null ? (
        <Spinner size="tiny" label={t("wizard.drive.refreshing")} />
      ) : detectError ? (
        <MessageBar intent="info" data-testid="detect-unavailable">
          <MessageBarBody>{t("wizard.drive.detectFailed", { reason: errorText(detectError.kind, t).title })}</MessageBarBody>
        </MessageBar>
      ) : drives.length === 0 ? (
        <Text data-testid="no-drives">{t("wizard.drive.none")}</Text>
      ) : (
        <RadioGroup value={chosen && !inspection ? chosen.volume : ""} onChange={(_, d) => chooseDetected(d.value)}
          aria-label={t("wizard.drive.detected")} data-testid="detected-drives">
          {drives.map((d) => (
            <div key={d.volume} className={s.card} data-testid={`detected-${d.volume}`}>
              <Radio value={d.volume} label={d.label ? `${d.label} (${d.volume})` : d.volume} data-testid={`detected-radio-${d.drive_id ?? d.volume}`} />
              <span className={s.meta}>
                {t("wizard.drive.size")}: {formatBytes(d.size_bytes, t, lang)} · BitLocker: {t(`bitlocker.${d.bitlocker}`)} ·{" "}
                {d.drive_id ? `${t("wizard.drive.driveId")}: ${d.drive_id}` : t("wizard.drive.noManifest")}
              </span>
            </div>
          ))}
        </RadioGroup>
      )}
      <h3 className={s.h3}>{t("wizard.drive.orFolder")}</h3>
      <div className={s.row}>
        <Field label={t("wizard.drive.folderPath")} className={s.grow}>
          <Input value={folder} onChange={(_, d) => setFolder(d.value)} data-testid="folder-path" spellCheck={false}
            onKeyDown={(e) => { if (e.key === "Enter" && folder.trim()) void useFolder(folder.trim()); }} />
        </Field>
        <Button onClick={browse} data-testid="folder-browse">{t("wizard.drive.browse")}</Button>
        <Button onClick={() => useFolder(folder.trim())} disabled={!folder.trim()} data-testid="folder-use">{t("wizard.drive.useFolder")}</Button>
      </div>
      {folderError && <ErrorBar error={folderError} testId="folder-error" />}
      {inspection && inspection.manifests.length > 1 && (
        <RadioGroup value={chosen?.manifestPath ?? ""} aria-label={t("wizard.drive.driveId")}
          onChange={(_, d) => {
            const m = inspection.manifests.find((x) => x.path === d.value);
            if (m && chosen) update({ drive: { ...chosen, driveId: m.drive_id, manifestPath: m.path } });
          }}>
          {inspection.manifests.map((m) => <Radio key={m.path} value={m.path} label={m.drive_id} />)}
        </RadioGroup>
      )}
      {inspection && inspection.manifests.length > 0 && chosen?.driveId && (
        <MessageBar intent="success" data-testid="manifest-found"><MessageBarBody>{t("wizard.drive.manifestFound", { id: chosen.driveId })}</MessageBarBody></MessageBar>
      )}
      {inspection && inspection.manifests.length === 0 && (
        mode === "verify" ? (
          <MessageBar intent="error" data-testid="verify-needs-manifest"><MessageBarBody>{t("wizard.drive.verifyNeedsManifest")}</MessageBarBody></MessageBar>
        ) : (
          <>
            <MessageBar intent="warning" data-testid="no-manifest-warning"><MessageBarBody>{t("wizard.drive.noManifestWarning")}</MessageBarBody></MessageBar>
            <Field label={t("wizard.drive.driveIdLabel")} hint={t("wizard.drive.driveIdHint")} required>
              <Input value={chosen?.driveId ?? ""} data-testid="drive-id-input" spellCheck={false}
                onChange={(_, d) => chosen && update({ drive: { ...chosen, driveId: d.value.trim() } })} />
            </Field>
          </>
        )
      )}
      {chosen && <Text className={s.meta} data-testid="drive-selected">{t("wizard.drive.selected", { volume: chosen.volume })}</Text>}
    </div>
  );
}
