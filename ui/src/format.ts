// Progress formatting: sizes, rates, durations. Numbers use the UI language's
// separators (Intl); unit words come from i18n.
import type { TFunction } from "i18next";

const UNITS = ["bytes", "kb", "mb", "gb", "tb"] as const;

function number(value: number, lang: string, digits: number): string {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(value);
}

/** 1536 → "1.5 KB" (binary multiples, shown with the familiar decimal unit names). */
export function formatBytes(bytes: number, t: TFunction, lang: string): string {
  if (!Number.isFinite(bytes) || bytes < 0) bytes = 0;
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
  return t(`units.${UNITS[i]}`, { value: number(v, lang, digits) });
}

export function formatRate(bytesPerSecond: number, t: TFunction, lang: string): string {
  return t("units.perSecond", { value: formatBytes(bytesPerSecond, t, lang) });
}

/** Seconds → "42 s", "3 min 05 s", "2 h 07 min", "3 d 4 h"; null → null. */
export function formatDuration(seconds: number | null | undefined, t: TFunction): string | null {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return null;
  const s = Math.round(seconds);
  if (s < 60) return t("units.seconds", { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("units.minutes", { m, s: String(s % 60).padStart(2, "0") });
  const h = Math.floor(m / 60);
  if (h < 24) return t("units.hours", { h, m: String(m % 60).padStart(2, "0") });
  return t("units.days", { d: Math.floor(h / 24), h: h % 24 });
}

export function formatPercent(p: number, lang: string): string {
  const v = Math.max(0, Math.min(100, Number.isFinite(p) ? p : 0));
  return new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: v < 10 && v > 0 ? 1 : 0 }).format(v / 100);
}

export function formatCount(n: number, lang: string): string {
  return new Intl.NumberFormat(lang).format(n);
}

export function formatDateTime(ms: number, lang: string): string {
  if (!ms) return "";
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}

/** Percentage done of a progress snapshot: bytes if known, else components. */
export function progressPercent(p: { bytes_done: number; bytes_total: number; components_done: number; components_total: number }): number {
  if (p.bytes_total > 0) return Math.min(100, (p.bytes_done / p.bytes_total) * 100);
  if (p.components_total > 0) return Math.min(100, (p.components_done / p.components_total) * 100);
  return 0;
}
