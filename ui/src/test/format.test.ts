import { describe, expect, it } from "vitest";
import i18n from "../i18n";
import { formatBytes, formatDuration, formatPercent, formatRate, progressPercent } from "../format";

const t = i18n.getFixedT("en");
const tsv = i18n.getFixedT("sv");

describe("progress formatting", () => {
  it("sizes use binary multiples with sensible precision", () => {
    expect(formatBytes(0, t, "en")).toBe("0 B");
    expect(formatBytes(1023, t, "en")).toBe("1,023 B");
    expect(formatBytes(1536, t, "en")).toBe("1.5 KB");
    expect(formatBytes(148 * 1024 * 1024, t, "en")).toBe("148 MB");
    expect(formatBytes(2.5 * 1024 ** 4, t, "en")).toBe("2.5 TB");
    expect(formatBytes(-5, t, "en")).toBe("0 B");
  });

  it("uses the language's decimal separator", () => {
    expect(formatBytes(1536, tsv, "sv")).toBe("1,5 kB");
  });

  it("rates are sizes per second", () => {
    expect(formatRate(50 * 1024 * 1024, t, "en")).toBe("50 MB/s");
    expect(formatRate(0, t, "en")).toBe("0 B/s");
  });

  it("ETA reads as seconds, minutes, hours or days", () => {
    expect(formatDuration(null, t)).toBeNull();
    expect(formatDuration(Number.NaN, t)).toBeNull();
    expect(formatDuration(42.4, t)).toBe("42 s");
    expect(formatDuration(185, t)).toBe("3 min 05 s");
    expect(formatDuration(2 * 3600 + 7 * 60 + 10, t)).toBe("2 h 07 min");
    expect(formatDuration(3 * 86400 + 4 * 3600, t)).toBe("3 d 4 h");
  });

  it("percentages are clamped and rounded", () => {
    expect(formatPercent(37, "en")).toBe("37%");
    expect(formatPercent(4.56, "en")).toBe("4.6%");
    expect(formatPercent(150, "en")).toBe("100%");
    expect(formatPercent(-1, "en")).toBe("0%");
  });

  it("progress percent prefers bytes and falls back to components", () => {
    expect(progressPercent({ bytes_done: 50, bytes_total: 200, components_done: 0, components_total: 0 })).toBe(25);
    expect(progressPercent({ bytes_done: 0, bytes_total: 0, components_done: 3, components_total: 4 })).toBe(75);
    expect(progressPercent({ bytes_done: 0, bytes_total: 0, components_done: 0, components_total: 0 })).toBe(0);
  });
});
