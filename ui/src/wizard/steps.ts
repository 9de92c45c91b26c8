// The wizard's step logic, kept free of React so it can be tested on its own.

export type WizardMode = "repair" | "verify";
export type StepId = "job" | "drive" | "unlock" | "copylog" | "review" | "run" | "result";

const REPAIR_STEPS: StepId[] = ["job", "drive", "unlock", "copylog", "review", "run", "result"];
const VERIFY_STEPS: StepId[] = ["drive", "unlock", "run", "result"];

export interface WizardFacts {
  /** The chosen drive is BitLocker-locked (and not unlocked yet in this wizard). */
  driveLocked: boolean;
}

/** The steps shown in the stepper: Unlock only for locked drives. */
export function visibleSteps(mode: WizardMode, facts: WizardFacts): StepId[] {
  const all = mode === "repair" ? REPAIR_STEPS : VERIFY_STEPS;
  return all.filter((s) => s !== "unlock" || facts.driveLocked);
}

export function nextStep(mode: WizardMode, current: StepId, facts: WizardFacts): StepId | null {
  const steps = visibleSteps(mode, facts);
  const i = steps.indexOf(current);
  return i >= 0 && i + 1 < steps.length ? steps[i + 1] : null;
}

export function previousStep(mode: WizardMode, current: StepId, facts: WizardFacts): StepId | null {
  const steps = visibleSteps(mode, facts);
  const i = steps.indexOf(current);
  // Once a run has started, Back cannot go behind it.
  if (current === "result" || current === "run") return null;
  return i > 0 ? steps[i - 1] : null;
}

export function firstStep(mode: WizardMode, hasJob: boolean): StepId {
  return mode === "repair" && !hasJob ? "job" : mode === "repair" ? "job" : "drive";
}
