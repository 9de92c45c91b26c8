// Turns status words, local states, error kinds and problems into the three lines
// the UI shows: a label, a plain explanation, and what to do.
import type { TFunction } from "i18next";
import type { Component } from "./bindings/Component";
import type { ErrorKind } from "./bindings/ErrorKind";
import type { LocalState } from "./bindings/LocalState";
import type { Problem } from "./bindings/Problem";
import { formatBytes, formatPercent } from "./format";
import { COPY_LOG_WORDS, copyLogTone, type Tone } from "./statusWords";

export interface StatusText {
  label: string;
  explain: string;
  action: string;
  tone: Tone;
}

export function copyLogText(word: string, t: TFunction): StatusText {
  if (!COPY_LOG_WORDS.includes(word)) {
    return {
      label: t("copyLog.unknown.label", { word }),
      explain: t("copyLog.unknown.explain"),
      action: t("copyLog.unknown.action"),
      tone: "subtle",
    };
  }
  return {
    label: t(`copyLog.${word}.label`),
    explain: t(`copyLog.${word}.explain`),
    action: t(`copyLog.${word}.action`),
    tone: copyLogTone(word),
  };
}

const LOCAL_TONE: Record<LocalState["state"], Tone> = {
  NotChecked: "subtle",
  Checking: "informative",
  NeedsRepair: "warning",
  Repairing: "informative",
  RepairedVerified: "success",
  NeedsAttention: "danger",
};

export function localStateText(s: LocalState, t: TFunction, lang: string): StatusText {
  const percent = "percent" in s ? formatPercent(s.percent, lang) : "";
  return {
    label: t(`local.${s.state}.label`, { percent }),
    explain: t(`local.${s.state}.explain`),
    action: t(`local.${s.state}.action`),
    tone: LOCAL_TONE[s.state],
  };
}

/** Portal and REST states: group is portalJob, portalDrive or restDrive. */
export function portalText(group: "portalJob" | "portalDrive" | "restDrive", key: string, t: TFunction, percent?: number): StatusText {
  return {
    label: t(`${group}.${key}.label`, { percent }),
    explain: t(`${group}.${key}.explain`),
    action: t(`${group}.${key}.action`),
    tone: "informative",
  };
}

export function errorText(kind: ErrorKind, t: TFunction): { title: string; action: string } {
  return { title: t(`errors.${kind}.title`), action: t(`errors.${kind}.action`) };
}

export function problemText(p: Problem, t: TFunction, lang: string): { reason: string; action: string } {
  const values: Record<string, unknown> = {};
  switch (p.type) {
    case "ShortFile":
      values.actual = formatBytes(p.actual_length, t, lang);
      values.expected = formatBytes(p.expected_length, t, lang);
      break;
    case "UnsafePath":
      values.detail = p.reason;
      break;
    case "Unreadable":
    case "BlobChanged":
    case "FetchFailed":
      values.detail = p.detail;
      break;
    case "CopyLogFailed":
      values.status = COPY_LOG_WORDS.includes(p.status) ? t(`copyLog.${p.status}.label`) : p.status;
      break;
  }
  const reason = t(`problem.${p.type}.reason`, values);
  const action = p.type === "FetchFailed" ? t(`errors.${p.kind}.action`) : t(`problem.${p.type}.action`);
  return { reason, action };
}

export function componentText(c: Component, t: TFunction, lang: string): string {
  if (c.type === "Block" || c.type === "PageRange") {
    return t(`component.${c.type}`, {
      offset: new Intl.NumberFormat(lang).format(c.offset),
      length: formatBytes(c.length, t, lang),
    });
  }
  return t(`component.${c.type}`);
}
