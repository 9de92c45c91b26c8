import { makeStyles, tokens } from "@fluentui/react-components";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef } from "react";
import { useTranslation } from "react-i18next";
import type { ComponentIssue } from "../bindings/ComponentIssue";
import { componentText, problemText } from "../statusText";

const ROW_HEIGHT = 52;
const COLUMNS = "minmax(200px, 2fr) minmax(210px, 1.4fr) minmax(200px, 2fr) minmax(200px, 2fr)";

const useStyles = makeStyles({
  wrap: { border: `1px solid ${tokens.colorNeutralStroke2}`, borderRadius: tokens.borderRadiusMedium, backgroundColor: tokens.colorNeutralBackground1 },
  head: {
    display: "grid", gridTemplateColumns: COLUMNS, fontWeight: tokens.fontWeightSemibold,
    borderBottom: `1px solid ${tokens.colorNeutralStroke2}`, backgroundColor: tokens.colorNeutralBackground3,
  },
  scroller: {
    height: "360px", overflowY: "auto", position: "relative",
    ":focus-visible": { outline: `2px solid ${tokens.colorStrokeFocus2}`, outlineOffset: "-2px" },
  },
  row: {
    display: "grid", gridTemplateColumns: COLUMNS, position: "absolute", left: 0, right: 0,
    borderBottom: `1px solid ${tokens.colorNeutralStroke3}`, alignItems: "center",
  },
  cell: { padding: `0 ${tokens.spacingHorizontalS}`, overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap", fontSize: tokens.fontSizeBase200 },
  hcell: { padding: tokens.spacingHorizontalS },
  mono: { fontFamily: tokens.fontFamilyMonospace },
});

/** Everything still bad, virtualized: only the visible rows are in the DOM, so
 * 100,000 issues scroll smoothly. The scroller is focusable; arrow keys, Page Up/Down,
 * Home and End scroll it. */
export function IssuesTable({ issues, label }: { issues: ComponentIssue[]; label: string }) {
  const { t, i18n } = useTranslation();
  const s = useStyles();
  const parent = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({
    count: issues.length,
    getScrollElement: () => parent.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    initialRect: { width: 1000, height: 360 },
  });
  const lang = i18n.language;
  return (
    <div className={s.wrap} role="table" aria-label={label} aria-rowcount={issues.length + 1} data-testid="issues-table">
      <div role="rowgroup">
        <div role="row" className={s.head} aria-rowindex={1}>
          <div role="columnheader" className={s.hcell}>{t("wizard.result.columns.file")}</div>
          <div role="columnheader" className={s.hcell}>{t("wizard.result.columns.part")}</div>
          <div role="columnheader" className={s.hcell}>{t("wizard.result.columns.reason")}</div>
          <div role="columnheader" className={s.hcell}>{t("wizard.result.columns.action")}</div>
        </div>
      </div>
      <div ref={parent} className={s.scroller} tabIndex={0} role="rowgroup" data-testid="issues-scroller">
        <div style={{ height: v.getTotalSize(), position: "relative" }}>
          {v.getVirtualItems().map((item) => {
            const issue = issues[item.index];
            const p = problemText(issue.problem, t, lang);
            return (
              <div key={item.key} role="row" aria-rowindex={item.index + 2} className={s.row}
                style={{ top: item.start, height: ROW_HEIGHT }} data-testid="issue-row">
                <div role="cell" className={`${s.cell} ${s.mono}`} title={issue.file_path}>{issue.file_path}</div>
                <div role="cell" className={s.cell}>{componentText(issue.component, t, lang)}</div>
                <div role="cell" className={s.cell} title={p.reason}>{p.reason}</div>
                <div role="cell" className={s.cell} title={p.action}>{p.action}</div>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
