import {
  Accordion, AccordionHeader, AccordionItem, AccordionPanel, Button, Dialog, DialogActions, DialogBody,
  DialogContent, DialogSurface, DialogTitle, DialogTrigger, Table, TableBody, TableCell, TableHeader,
  TableHeaderCell, TableRow, makeStyles, tokens,
} from "@fluentui/react-components";
import { useTranslation } from "react-i18next";
import { copyLogText, errorText, localStateText, portalText, type StatusText } from "../statusText";
import {
  BLOB_STATUS_WORDS, DRIVE_STATUS_WORDS, ERROR_KINDS, FILE_STATUS_WORDS, LOCAL_STATES, PORTAL_DRIVE_STATES,
  PORTAL_JOB_STATES, RANGE_STATUS_WORDS, REST_DRIVE_STATES, REST_JOB_STATES,
} from "../statusWords";
import type { LocalState } from "../bindings/LocalState";

const useStyles = makeStyles({
  surface: { maxWidth: "960px", width: "90vw" },
  content: { maxHeight: "65vh", overflowY: "auto" },
  word: { fontFamily: tokens.fontFamilyMonospace, fontSize: tokens.fontSizeBase200, color: tokens.colorNeutralForeground2 },
});

function Rows({ rows }: { rows: [string, StatusText | { label: string; explain: string; action: string }][] }) {
  const { t } = useTranslation();
  const s = useStyles();
  return (
    <Table size="small">
      <TableHeader>
        <TableRow>
          <TableHeaderCell>{t("guide.status")}</TableHeaderCell>
          <TableHeaderCell>{t("guide.meaning")}</TableHeaderCell>
          <TableHeaderCell>{t("guide.todo")}</TableHeaderCell>
        </TableRow>
      </TableHeader>
      <TableBody>
        {rows.map(([word, x]) => (
          <TableRow key={word}>
            <TableCell>{x.label}<br /><span className={s.word}>{word}</span></TableCell>
            <TableCell>{x.explain}</TableCell>
            <TableCell>{x.action}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

/** Every status word the app or the Azure portal can show, with what it means and
 * what to do: the reference behind the badges' tooltips. */
export function StatusGuide() {
  const { t, i18n } = useTranslation();
  const s = useStyles();
  const lang = i18n.language;
  const copyLog = (words: readonly string[]) => words.map((w) => [w, copyLogText(w, t)] as [string, StatusText]);
  const local = LOCAL_STATES.map((w) => {
    const state = (w === "Checking" || w === "Repairing" ? { state: w, percent: 37 } : { state: w }) as LocalState;
    return [w, localStateText(state, t, lang)] as [string, StatusText];
  });
  const groups: [string, [string, { label: string; explain: string; action: string }][]][] = [
    [t("guide.local"), local],
    [t("guide.driveLog"), copyLog(DRIVE_STATUS_WORDS)],
    [t("guide.blobLog"), copyLog(BLOB_STATUS_WORDS)],
    [t("guide.rangeLog"), copyLog(RANGE_STATUS_WORDS)],
    [t("guide.fileLog"), copyLog(FILE_STATUS_WORDS)],
    [t("guide.portalJob"), [...PORTAL_JOB_STATES, ...REST_JOB_STATES].filter((w, i, a) => a.indexOf(w) === i).map((w) => [w, portalText("portalJob", w, t)])],
    [t("guide.portalDrive"), PORTAL_DRIVE_STATES.map((w) => [w, portalText("portalDrive", w, t, 37)])],
    [t("guide.restDrive"), REST_DRIVE_STATES.map((w) => [w, portalText("restDrive", w, t)])],
    [t("guide.errors"), ERROR_KINDS.map((k) => { const e = errorText(k, t); return [k, { label: e.title, explain: "", action: e.action }]; })],
  ];
  return (
    <Dialog>
      <DialogTrigger disableButtonEnhancement>
        <Button appearance="subtle" data-testid="status-guide-open">{t("guide.open")}</Button>
      </DialogTrigger>
      <DialogSurface className={s.surface} data-testid="status-guide">
        <DialogBody>
          <DialogTitle>{t("guide.title")}</DialogTitle>
          <DialogContent className={s.content}>
            <Accordion collapsible multiple>
              {groups.map(([title, rows]) => (
                <AccordionItem key={title} value={title}>
                  <AccordionHeader>{title}</AccordionHeader>
                  <AccordionPanel><Rows rows={rows} /></AccordionPanel>
                </AccordionItem>
              ))}
            </Accordion>
          </DialogContent>
          <DialogActions>
            <DialogTrigger disableButtonEnhancement>
              <Button appearance="primary">{t("app.close")}</Button>
            </DialogTrigger>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
