import {
  Accordion, AccordionHeader, AccordionItem, AccordionPanel, Button, Checkbox, Field, Input,
  MessageBar, MessageBarBody, Radio, RadioGroup, Spinner, Text, makeStyles, tokens,
} from "@fluentui/react-components";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorBar } from "../components/ErrorBar";
import { ipc, type ErrorInfo } from "../ipc";
import { jobFormErrors, needsContainer, type Update, type WizardData } from "./types";

const useStyles = makeStyles({
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "560px" },
  row: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "center" },
});

export function JobStep({ data, update, showErrors }: { data: WizardData; update: Update; showErrors: boolean }) {
  const { t } = useTranslation();
  const s = useStyles();
  const f = data.form;
  const existing = data.job !== null;
  const errors = jobFormErrors(f, existing);
  const [testing, setTesting] = useState(false);
  const [testResult, setTestResult] = useState<"ok" | ErrorInfo | null>(null);
  const set = (patch: Partial<typeof f>) => {
    setTestResult(null);
    update({ form: { ...f, ...patch } });
  };
  const err = (k: keyof typeof f) => (showErrors && errors[k] ? t(errors[k]!) : undefined);

  const test = async () => {
    setTesting(true);
    setTestResult(null);
    try {
      await ipc.testConnection({
        storage_account: existing ? data.job!.storage_account : f.account.trim(),
        endpoint: existing ? data.job!.endpoint : f.endpoint.trim() || null,
        auth: existing ? data.job!.auth : f.auth,
        secret: f.secret,
        container: existing ? data.job!.container : needsContainer(f) ? f.container.trim() : null,
      });
      setTestResult("ok");
    } catch (e) {
      setTestResult(e as ErrorInfo);
    } finally {
      setTesting(false);
    }
  };

  if (existing && data.secretOk) {
    return (
      <div className={s.form} data-testid="job-existing">
        <Text>{t("wizard.job.existing")}: <strong>{data.job!.name}</strong> ({data.job!.storage_account})</Text>
      </div>
    );
  }

  const auth = existing ? data.job!.auth : f.auth;
  return (
    <div className={s.form} data-testid="job-form">
      <Text>{existing ? t("wizard.job.secretNeeded") : t("wizard.job.intro")}</Text>
      {existing ? (
        <Text>{t("wizard.job.existing")}: <strong>{data.job!.name}</strong> ({data.job!.storage_account})</Text>
      ) : (
        <>
          <Field label={t("wizard.job.name")} hint={t("wizard.job.nameHint")} required validationMessage={err("name")}>
            <Input value={f.name} onChange={(_, d) => set({ name: d.value })} data-testid="job-name" />
          </Field>
          <Field label={t("wizard.job.account")} hint={t("wizard.job.accountHint")} required validationMessage={err("account")}>
            <Input value={f.account} onChange={(_, d) => set({ account: d.value })} data-testid="job-account" autoComplete="off" spellCheck={false} />
          </Field>
          <Field label={t("wizard.job.auth")}>
            <RadioGroup layout="horizontal" value={f.auth} onChange={(_, d) => set({ auth: d.value as "Key" | "Sas" })} data-testid="job-auth">
              <Radio value="Key" label={t("wizard.job.authKey")} data-testid="job-auth-key" />
              <Radio value="Sas" label={t("wizard.job.authSas")} data-testid="job-auth-sas" />
            </RadioGroup>
          </Field>
        </>
      )}
      <Field
        label={auth === "Key" ? t("wizard.job.key") : t("wizard.job.sas")}
        hint={auth === "Key" ? t("wizard.job.keyHint") : t("wizard.job.sasHint")}
        required
        validationMessage={err("secret")}
      >
        <Input type="password" value={f.secret} onChange={(_, d) => set({ secret: d.value })} data-testid="job-secret" autoComplete="off" />
      </Field>
      {!existing && needsContainer(f) && (
        <Field label={t("wizard.job.container")} hint={t("wizard.job.containerHint")} required validationMessage={err("container")}>
          <Input value={f.container} onChange={(_, d) => set({ container: d.value })} data-testid="job-container" autoComplete="off" spellCheck={false} />
        </Field>
      )}
      {!existing && (
        <Accordion collapsible>
          <AccordionItem value="advanced">
            <AccordionHeader data-testid="job-advanced">{t("wizard.job.advanced")}</AccordionHeader>
            <AccordionPanel>
              <Field label={t("wizard.job.endpoint")} hint={t("wizard.job.endpointHint")} validationMessage={err("endpoint")}>
                <Input value={f.endpoint} onChange={(_, d) => set({ endpoint: d.value })} data-testid="job-endpoint" spellCheck={false} />
              </Field>
            </AccordionPanel>
          </AccordionItem>
        </Accordion>
      )}
      <Field hint={t("wizard.job.rememberHint")}>
        <Checkbox checked={f.remember} onChange={(_, d) => set({ remember: d.checked === true })} label={t("wizard.job.remember")} data-testid="job-remember" />
      </Field>
      <div className={s.row}>
        <Button onClick={test} disabled={testing || Object.keys(errors).length > 0} data-testid="job-test">
          {t("wizard.job.test")}
        </Button>
        {testing && <Spinner size="tiny" label={t("wizard.job.testing")} />}
      </div>
      <div aria-live="polite">
        {testResult === "ok" && (
          <MessageBar intent="success" data-testid="job-test-ok"><MessageBarBody>{t("wizard.job.testOk")}</MessageBarBody></MessageBar>
        )}
        {testResult && testResult !== "ok" && <ErrorBar error={testResult} testId="job-test-error" />}
      </div>
    </div>
  );
}
