// The BitLocker recovery-password check (FORMATS.md §6), run as the user types. The
// same rule runs in Rust (validate_recovery_key), which has the last word.
import type { KeyCheck } from "./bindings/KeyCheck";

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function checkRecoveryKey(input: string): KeyCheck {
  const s = input.replace(/\s+/g, "");
  if (s === "") return { result: "Empty" };
  if (s.length >= 24 && s.length % 4 === 0 && BASE64.test(s) && /[^0-9]/.test(s)) {
    return { result: "Base64Key" };
  }
  const bad = [...s].find((c) => !/[0-9-]/.test(c));
  if (bad !== undefined) return { result: "BadCharacter", character: bad };
  const groups = s.includes("-") ? s.split("-") : (s.match(/.{1,6}/g) ?? []);
  const digits = groups.reduce((n, g) => n + g.length, 0);
  for (let i = 0; i < Math.min(groups.length, 8); i++) {
    const g = groups[i];
    const group = i + 1;
    if (g.length !== 6) {
      if (g.length > 6 || i + 1 < groups.length) return { result: "BadGroup", group, reason: "WrongLength" };
      break;
    }
    const v = Number(g);
    if (v % 11 !== 0) return { result: "BadGroup", group, reason: "NotDivisibleBy11" };
    if (v / 11 >= 65536) return { result: "BadGroup", group, reason: "TooLarge" };
  }
  if (groups.length !== 8 || digits !== 48) return { result: "WrongLength", digits };
  return { result: "RecoveryPassword" };
}

export function keyIsUsable(k: KeyCheck): boolean {
  return k.result === "RecoveryPassword" || k.result === "Base64Key";
}

/** The i18n key and values of the message for a check. */
export function keyCheckMessage(k: KeyCheck): { key: string; values?: Record<string, unknown>; tone: "error" | "success" | "none" } {
  switch (k.result) {
    case "Empty":
      return { key: "wizard.keyCheck.empty", tone: "none" };
    case "RecoveryPassword":
      return { key: "wizard.keyCheck.ok", tone: "success" };
    case "Base64Key":
      return { key: "wizard.keyCheck.base64", tone: "success" };
    case "WrongLength":
      return { key: "wizard.keyCheck.wrongLength", values: { digits: k.digits }, tone: "none" };
    case "BadCharacter":
      return { key: "wizard.keyCheck.badCharacter", values: { character: k.character }, tone: "error" };
    case "BadGroup": {
      const key =
        k.reason === "NotDivisibleBy11" ? "wizard.keyCheck.notDivisible" : k.reason === "TooLarge" ? "wizard.keyCheck.tooLarge" : "wizard.keyCheck.groupLength";
      return { key, values: { group: k.group }, tone: "error" };
    }
  }
}
