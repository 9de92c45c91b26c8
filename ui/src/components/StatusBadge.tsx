import { Badge, makeStyles, tokens } from "@fluentui/react-components";
import type { StatusText } from "../statusText";

const useStyles = makeStyles({
  wrap: { display: "flex", flexDirection: "column", gap: "2px", minWidth: 0 },
  explain: { color: tokens.colorNeutralForeground2, fontSize: tokens.fontSizeBase200 },
  // Long portal phrases ("Data copy completed with errors") wrap inside the badge.
  badge: { height: "auto", minHeight: "20px", whiteSpace: "normal", paddingTop: "1px", paddingBottom: "1px", textAlign: "start" },
});

const COLOR = {
  success: "success",
  warning: "warning",
  danger: "danger",
  informative: "informative",
  subtle: "subtle",
} as const;

/** A status word as a coloured badge. Its explanation and action are in the native
 * tooltip and read by screen readers; with `detailed` they are written out underneath.
 * (Fluent's Tooltip is not used: in WebKitGTK it stopped the whole page from painting.) */
export function StatusBadge({ status, detailed = false, testId }: { status: StatusText; detailed?: boolean; testId?: string }) {
  const s = useStyles();
  const more = `${status.explain} ${status.action}`;
  const badge = (
    <Badge appearance="tint" color={COLOR[status.tone]} shape="rounded" className={s.badge} data-testid={testId}
      title={detailed ? undefined : more} aria-description={detailed ? undefined : more}>
      {status.label}
    </Badge>
  );
  if (!detailed) return badge;
  return (
    <div className={s.wrap}>
      <span>{badge}</span>
      <span className={s.explain}>{status.explain}</span>
      <span className={s.explain}>{status.action}</span>
    </div>
  );
}
