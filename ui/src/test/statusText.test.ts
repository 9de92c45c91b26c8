import { describe, expect, it } from "vitest";
import i18n from "../i18n";
import { csvField, escapeHtml, reportCsv, reportHtml } from "../report";
import { componentText, copyLogText, localStateText, problemText } from "../statusText";
import { COPY_LOG_WORDS } from "../statusWords";

const t = i18n.getFixedT("en");

describe("status words in plain language", () => {
  it("every copy-log word has three different lines", () => {
    for (const w of COPY_LOG_WORDS) {
      const s = copyLogText(w, t);
      expect(s.label).not.toContain("copyLog.");
      expect(new Set([s.label, s.explain, s.action]).size).toBe(3);
    }
  });

  it("maps words to the portal's phrasing and a tone", () => {
    const s = copyLogText("CompletedWithErrors", t);
    expect(s.label).toBe("Data copy completed with errors");
    expect(s.action).toBe("Drive Repair can fetch them again from the storage account.");
    expect(s.tone).toBe("warning");
    expect(copyLogText("Completed", t).tone).toBe("success");
    expect(copyLogText("BitLockerKeyInvalid", t).tone).toBe("danger");
  });

  it("keeps an unknown word verbatim", () => {
    const s = copyLogText("SomethingNew", t);
    expect(s.label).toBe("Unrecognised status “SomethingNew”");
  });

  it("local states carry their percentage", () => {
    expect(localStateText({ state: "Checking", percent: 37 }, t, "en").label).toBe("Checking 37%");
    expect(localStateText({ state: "Repairing", percent: 45 }, t, "en").label).toBe("Repairing 45%");
    expect(localStateText({ state: "RepairedVerified" }, t, "en").label).toBe("Repaired and verified");
    expect(localStateText({ state: "NeedsAttention" }, i18n.getFixedT("sv"), "sv").label).toBe("Behöver åtgärdas");
  });

  it("problems and components read as sentences", () => {
    expect(problemText({ type: "ShortFile", actual_length: 1024, expected_length: 2048 }, t, "en").reason).toBe("The file is too short (1 KB of 2 KB).");
    expect(problemText({ type: "CopyLogFailed", status: "Corrupted" }, t, "en").reason).toBe("The copy log marks it “Corrupted”.");
    expect(problemText({ type: "FetchFailed", kind: "DiskFull", detail: "ENOSPC" }, t, "en").action).toContain("Free some space");
    expect(componentText({ type: "Block", offset: 4194304, length: 4194304 }, t, "en")).toBe("Block at 4,194,304 (4 MB)");
    expect(componentText({ type: "Properties" }, t, "en")).toBe("Properties file");
  });
});

describe("reports", () => {
  const input = {
    jobName: "March <export>",
    account: "contoso",
    driveId: "9WM35C3U",
    volume: "E:\\",
    summary: null,
    issues: [
      {
        blob: { path: "pictures/a,b.jpg", snapshot: null },
        file_path: '\\pictures\\a,b "x".jpg',
        component: { type: "Block" as const, offset: 0, length: 512 },
        problem: { type: "MissingFile" as const },
      },
    ],
    generated: new Date(0),
  };

  it("escapes HTML", () => {
    expect(escapeHtml(`<a href="x">&'`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    const html = reportHtml(input, t, "en");
    expect(html).toContain("March &lt;export&gt;");
    expect(html).not.toContain("<export>");
    expect(html).toContain("The file is missing from the drive.");
  });

  it("quotes CSV and defuses formulas", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField("=SUM(A1)")).toBe("'=SUM(A1)");
    const csv = reportCsv(input, t, "en");
    const lines = csv.trim().split("\r\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('"pictures/a,b.jpg"');
    expect(lines[1]).toContain('"\\pictures\\a,b ""x"".jpg"');
  });
});
