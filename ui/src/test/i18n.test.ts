import { describe, expect, it } from "vitest";
import { en } from "../i18n/en";
import { nl } from "../i18n/nl";
import { sv } from "../i18n/sv";
import i18n, { initialLanguage } from "../i18n";
import {
  BLOB_STATUS_WORDS, DRIVE_STATUS_WORDS, ERROR_KINDS, FILE_STATUS_WORDS, LOCAL_STATES, PORTAL_DRIVE_STATES,
  PORTAL_JOB_STATES, PROBLEM_TYPES, RANGE_STATUS_WORDS, REST_DRIVE_STATES, REST_JOB_STATES,
} from "../statusWords";

type Tree = { [k: string]: string | Tree };
const LANGS: Record<string, Tree> = { en, nl, sv };

function leaves(t: Tree, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(t)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out.set(key, v);
    else for (const [kk, vv] of leaves(v, key)) out.set(kk, vv);
  }
  return out;
}

function get(t: Tree, path: string): string | undefined {
  let cur: string | Tree | undefined = t;
  for (const part of path.split(".")) {
    if (cur === undefined || typeof cur === "string") return undefined;
    cur = cur[part];
  }
  return typeof cur === "string" ? cur : undefined;
}

const placeholders = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();

describe("translations", () => {
  const reference = leaves(en as unknown as Tree);

  for (const [lang, tree] of Object.entries(LANGS)) {
    it(`${lang} has exactly the English keys, none empty, same placeholders`, () => {
      const mine = leaves(tree);
      expect([...mine.keys()].sort()).toEqual([...reference.keys()].sort());
      for (const [k, v] of mine) {
        expect(v.trim(), `${lang}:${k}`).not.toBe("");
        expect(placeholders(v), `${lang}:${k}`).toEqual(placeholders(reference.get(k)!));
      }
    });
  }

  const statusGroups: [string, readonly string[]][] = [
    ["copyLog", DRIVE_STATUS_WORDS],
    ["copyLog", BLOB_STATUS_WORDS],
    ["copyLog", RANGE_STATUS_WORDS],
    ["copyLog", FILE_STATUS_WORDS],
    ["portalJob", PORTAL_JOB_STATES],
    ["portalJob", REST_JOB_STATES],
    ["portalDrive", PORTAL_DRIVE_STATES],
    ["restDrive", REST_DRIVE_STATES],
    ["local", LOCAL_STATES],
  ];

  for (const [lang, tree] of Object.entries(LANGS)) {
    it(`${lang}: every status word has a label, an explanation and an action`, () => {
      const missing: string[] = [];
      for (const [group, words] of statusGroups) {
        for (const w of words) {
          for (const part of ["label", "explain", "action"]) {
            if (!get(tree, `${group}.${w}.${part}`)) missing.push(`${group}.${w}.${part}`);
          }
        }
      }
      expect(missing).toEqual([]);
    });

    it(`${lang}: every engine error kind and problem has words`, () => {
      const missing: string[] = [];
      for (const k of ERROR_KINDS) for (const part of ["title", "action"]) if (!get(tree, `errors.${k}.${part}`)) missing.push(`errors.${k}.${part}`);
      for (const p of PROBLEM_TYPES) for (const part of ["reason", "action"]) if (!get(tree, `problem.${p}.${part}`)) missing.push(`problem.${p}.${part}`);
      expect(missing).toEqual([]);
    });
  }

  it("lists every ErrorKind the bindings declare", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const src = fs.readFileSync(path.resolve(process.cwd(), "src/bindings/ErrorKind.ts"), "utf8");
    const declared = [...src.matchAll(/"(\w+)"/g)].map((m) => m[1]).sort();
    expect([...ERROR_KINDS].sort()).toEqual(declared);
  });

  it("the portal words read as the portal writes them", () => {
    expect(en.copyLog.CompletedWithErrors.label).toBe("Data copy completed with errors");
    expect(en.copyLog.BitLockerKeyInvalid.action).toContain("Encryption blade");
    expect(i18n.t("portalDrive.PercentCompleted.label", { percent: 37, lng: "en" })).toBe("37% completed");
  });

  it("follows the OS language, and a saved choice wins", () => {
    expect(initialLanguage(["sv-SE", "en-US"], null)).toBe("sv");
    expect(initialLanguage(["nl-BE"], null)).toBe("nl");
    expect(initialLanguage(["de-DE"], null)).toBe("en");
    expect(initialLanguage(["sv-SE"], "nl")).toBe("nl");
    expect(initialLanguage(["sv-SE"], "xx")).toBe("sv");
  });
});
