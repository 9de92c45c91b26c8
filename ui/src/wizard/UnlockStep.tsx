import { Button, Field, Input, MessageBar, MessageBarBody, Spinner, Text, makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorBar } from "../components/ErrorBar";
import { ipc, type ErrorInfo, type KeyCheck } from "../ipc";
import { checkRecoveryKey, keyCheckMessage, keyIsUsable } from "../recoveryKey";
import type { Update, WizardData } from "./types";

const useStyles = makeStyles({
  col: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "640px" },
  key: { fontFamily: tokens.fontFamilyMonospace, letterSpacing: "0.04em" },
  row: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "center" },
});

export function UnlockStep({ data, update }: { data: WizardData; update: Update }) {
  const { t } = useTranslation();
  const s = useStyles();
  const [key, setKey] = useState("");
  const [check, setCheck] = useState<KeyCheck>({ result: "Empty" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ErrorInfo | null>(null);

  // Instant feedback in TypeScript, then Rust's verdict (the one that counts).
  useEffect(() => {
    const local = checkRecoveryKey(key);
    setCheck(local);
    let alive = true;
    const timer = setTimeout(() => {
      ipc.validateRecoveryKey(key).then((r) => { if (alive && r && "result" in r) setCheck(r); }, () => undefined);
    }, 150);
    return () => { alive = false; clearTimeout(timer); };
  }, [key]);

  const msg = keyCheckMessage(check);
  const unlock = async () => {
    if (!data.drive) return;
    setBusy(true);
    setError(null);
    try {
      const path = await ipc.unlockVolume(data.drive.volume, key);
      const inspection = await ipc.inspectFolder(path).catch(() => null);
      const m = inspection?.manifests[0];
      update({
        unlockedPath: path,
        drive: { ...data.drive, bitlocker: "Unlocked", driveId: data.drive.driveId || m?.drive_id || "", manifestPath: data.drive.manifestPath ?? m?.path ?? null },
      });
      setKey("");
    } catch (e) {
      setError(e as ErrorInfo);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className={s.col} data-testid="unlock-step">
      <Text>{t("wizard.unlock.intro")}</Text>
      <Field
        label={t("wizard.unlock.key")}
        hint={msg.tone === "none" ? `${t("wizard.unlock.keyHint")} ${t(msg.key, msg.values)}` : t("wizard.unlock.keyHint")}
        validationState={msg.tone === "error" ? "error" : msg.tone === "success" ? "success" : "none"}
        validationMessage={msg.tone !== "none" ? <span data-testid="key-hint">{t(msg.key, msg.values)}</span> : undefined}
      >
        <Input className={s.key} value={key} onChange={(_, d) => setKey(d.value)} data-testid="recovery-key"
          autoComplete="off" spellCheck={false} placeholder="000000-000000-000000-000000-000000-000000-000000-000000"
          onKeyDown={(e) => { if (e.key === "Enter" && keyIsUsable(check)) void unlock(); }} />
      </Field>
      {msg.tone === "none" && <span data-testid="key-progress" hidden>{t(msg.key, msg.values)}</span>}
      <div className={s.row}>
        <Button appearance="primary" onClick={unlock} disabled={!keyIsUsable(check) || busy} data-testid="unlock-button">
          {t("wizard.unlock.unlock")}
        </Button>
        {busy && <Spinner size="tiny" label={t("wizard.unlock.unlocking")} />}
      </div>
      <div aria-live="polite">
        {error && <ErrorBar error={error} testId="unlock-error" />}
        {data.unlockedPath && (
          <MessageBar intent="success" data-testid="unlocked"><MessageBarBody>{t("wizard.unlock.unlocked", { path: data.unlockedPath })}</MessageBarBody></MessageBar>
        )}
      </div>
    </div>
  );
}
