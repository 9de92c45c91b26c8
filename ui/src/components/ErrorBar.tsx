import { MessageBar, MessageBarBody, MessageBarTitle, makeStyles, tokens } from "@fluentui/react-components";
import { useTranslation } from "react-i18next";
import type { ErrorInfo } from "../bindings/ErrorInfo";
import { errorText } from "../statusText";

const useStyles = makeStyles({
  details: { marginTop: tokens.spacingVerticalXS, fontSize: tokens.fontSizeBase200, color: tokens.colorNeutralForeground2, wordBreak: "break-word" },
});

/** An engine error as the user sees it: what happened, what to do, and the details. */
export function ErrorBar({ error, testId = "error-bar" }: { error: ErrorInfo; testId?: string }) {
  const { t } = useTranslation();
  const s = useStyles();
  const text = errorText(error.kind, t);
  return (
    <MessageBar intent={error.kind === "Cancelled" ? "warning" : "error"} data-testid={testId} data-kind={error.kind} layout="multiline">
      <MessageBarBody>
        <MessageBarTitle>{text.title}</MessageBarTitle> {text.action}
        {error.message && (
          <div className={s.details}>
            {t("app.details")}: {error.message}
          </div>
        )}
      </MessageBarBody>
    </MessageBar>
  );
}
