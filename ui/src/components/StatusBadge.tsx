import { Badge, Tooltip, makeStyles, tokens } from "@fluentui/react-components";
import type { StatusText } from "../statusText";

const useStyles = makeStyles({
  wrap: { display: "flex", flexDirection: "column", gap: "2px", minWidth: 0 },
  explain: { color: tokens.colorNeutralForeground2, fontSize: tokens.fontSizeBase200 },
});

const COLOR = {
  success: "success",
  warning: "warning",
  danger: "danger",
  informative: "informative",
  subtle: "subtle",
} as const;

/** A status word as a coloured badge; its explanation and action are in the tooltip
 * and, with `detailed`, written out underneath. */
export function StatusBadge({ status, detailed = false, testId }: { status: StatusText; detailed?: boolean; testId?: string }) {
  const s = useStyles();
  const badge = (
    <Badge appearance="tint" color={COLOR[status.tone]} shape="rounded" data-testid={testId} tabIndex={detailed ? undefined : 0}>
      {status.label}
    </Badge>
  );
  if (detailed) {
    return (
      <div className={s.wrap}>
        <span>{badge}</span>
        <span className={s.explain}>{status.explain}</span>
        <span className={s.explain}>{status.action}</span>
      </div>
    );
  }
  return (
    <Tooltip content={`${status.explain} ${status.action}`} relationship="description">
      {badge}
    </Tooltip>
  );
}
