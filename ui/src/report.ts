// Reports, built in the user's language: a printable HTML page and a CSV of every
// part still bad. Rust only writes them where the user chose.
import type { TFunction } from "i18next";
import type { ComponentIssue } from "./bindings/ComponentIssue";
import type { RunSummary } from "./bindings/RunSummary";
import { formatBytes, formatCount, formatDuration } from "./format";
import { componentText, problemText } from "./statusText";

export interface ReportInput {
  jobName: string;
  account: string;
  driveId: string;
  volume: string;
  summary: RunSummary | null;
  issues: ComponentIssue[];
  generated: Date;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** RFC 4180 quoting; a leading = + - @ is prefixed with ' so spreadsheets do not run it. */
export function csvField(s: string): string {
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function summaryLines(r: ReportInput, t: TFunction, lang: string): [string, string][] {
  const s = r.summary;
  if (!s) return [];
  return [
    [t("wizard.result.checked"), formatCount(s.components_checked, lang)],
    [t("wizard.result.repaired"), formatCount(s.components_repaired, lang)],
    [t("wizard.result.stillBad"), formatCount(s.components_failed, lang)],
    [t("wizard.result.fetched"), formatBytes(s.bytes_fetched, t, lang)],
    [t("wizard.result.elapsed"), formatDuration(s.elapsed_seconds, t) ?? ""],
  ];
}

export function reportHtml(r: ReportInput, t: TFunction, lang: string): string {
  const e = escapeHtml;
  const head: [string, string][] = [
    [t("report.job"), r.jobName],
    [t("report.account"), r.account],
    [t("report.drive"), r.driveId],
    [t("report.volume"), r.volume],
    [t("report.generated"), r.generated.toLocaleString(lang)],
  ];
  const rows = r.issues
    .map((i) => {
      const p = problemText(i.problem, t, lang);
      return `<tr><td class="mono">${e(i.file_path)}</td><td>${e(componentText(i.component, t, lang))}</td><td>${e(p.reason)}</td><td>${e(p.action)}</td></tr>`;
    })
    .join("\n");
  const dl = (pairs: [string, string][]) => pairs.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join("");
  return `<!doctype html>
<html lang="${e(lang)}"><head><meta charset="utf-8"><title>${e(t("report.title"))} — ${e(r.driveId)}</title>
<style>
body{font-family:"Segoe UI",system-ui,sans-serif;color:#242424;margin:2rem;}
h1{font-size:1.5rem;color:#0f6cbd;} h2{font-size:1.1rem;margin-top:1.5rem;}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1.5rem;} dt{color:#616161;} dd{margin:0;font-weight:600;}
table{border-collapse:collapse;width:100%;font-size:.85rem;} th,td{border:1px solid #d1d1d1;padding:.3rem .5rem;text-align:left;vertical-align:top;}
th{background:#f5f5f5;} .mono{font-family:Consolas,monospace;word-break:break-all;}
@media print{body{margin:0;} tr{page-break-inside:avoid;}}
</style></head><body>
<h1>${e(t("report.title"))}</h1>
<dl>${dl(head)}</dl>
<h2>${e(t("report.summary"))}</h2>
<dl>${dl(summaryLines(r, t, lang))}</dl>
<h2>${e(t("report.issues"))}</h2>
${r.issues.length === 0 ? `<p>${e(t("report.noIssues"))}</p>` : `<table><thead><tr><th>${e(t("wizard.result.columns.file"))}</th><th>${e(t("wizard.result.columns.part"))}</th><th>${e(t("wizard.result.columns.reason"))}</th><th>${e(t("wizard.result.columns.action"))}</th></tr></thead><tbody>
${rows}
</tbody></table>`}
</body></html>
`;
}

export function reportCsv(r: ReportInput, t: TFunction, lang: string): string {
  const header = ["drive_id", "blob", "snapshot", "file", "part", "offset", "length", "problem", "reason", "action"];
  const lines = [header.join(",")];
  for (const i of r.issues) {
    const p = problemText(i.problem, t, lang);
    const c = i.component;
    const [offset, length] = c.type === "Block" || c.type === "PageRange" ? [String(c.offset), String(c.length)] : ["", ""];
    lines.push(
      [r.driveId, i.blob.path, i.blob.snapshot ?? "", i.file_path, c.type, offset, length, i.problem.type, p.reason, p.action]
        .map(csvField)
        .join(","),
    );
  }
  return lines.join("\r\n") + "\r\n";
}
