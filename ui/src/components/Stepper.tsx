import { makeStyles, shorthands, tokens } from "@fluentui/react-components";
import { useTranslation } from "react-i18next";
import type { StepId, WizardMode } from "../wizard/steps";

const useStyles = makeStyles({
  list: { display: "flex", listStyle: "none", margin: 0, padding: 0, gap: tokens.spacingHorizontalS, flexWrap: "wrap" },
  item: { display: "flex", alignItems: "center", gap: tokens.spacingHorizontalS, color: tokens.colorNeutralForeground2 },
  dot: {
    width: "28px", height: "28px", borderRadius: "50%", display: "inline-flex", alignItems: "center", justifyContent: "center",
    border: `2px solid ${tokens.colorNeutralStroke1}`, fontWeight: tokens.fontWeightSemibold, backgroundColor: tokens.colorNeutralBackground1,
  },
  done: { backgroundColor: tokens.colorBrandBackground, ...shorthands.borderColor(tokens.colorBrandBackground), color: tokens.colorNeutralForegroundOnBrand },
  current: { ...shorthands.borderColor(tokens.colorBrandStroke1), color: tokens.colorBrandForeground1 },
  currentText: { color: tokens.colorNeutralForeground1, fontWeight: tokens.fontWeightSemibold },
  sep: { width: "24px", height: "2px", backgroundColor: tokens.colorNeutralStroke2 },
});

export function Stepper({ steps, current, mode }: { steps: StepId[]; current: StepId; mode: WizardMode }) {
  const { t } = useTranslation();
  const s = useStyles();
  const idx = steps.indexOf(current);
  return (
    <nav aria-label={t("wizard.stepper")}>
      <ol className={s.list} data-testid="stepper">
        {steps.map((step, i) => {
          const state = i < idx ? "done" : i === idx ? "current" : "todo";
          const label = t(`wizard.steps.${step === "run" && mode === "verify" ? "verify" : step}`);
          return (
            <li key={step} className={s.item} aria-current={state === "current" ? "step" : undefined}
              data-testid={`step-${step}`} data-state={state}>
              {i > 0 && <span className={s.sep} aria-hidden="true" />}
              <span className={`${s.dot} ${state === "done" ? s.done : ""} ${state === "current" ? s.current : ""}`} aria-hidden="true">
                {state === "done" ? "✓" : i + 1}
              </span>
              <span className={state === "current" ? s.currentText : undefined}>{label}</span>
            </li>
          );
        })}
      </ol>
    </nav>
  );
}
