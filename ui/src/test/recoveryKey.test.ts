import { describe, expect, it } from "vitest";
import i18n from "../i18n";
import { checkRecoveryKey, keyCheckMessage, keyIsUsable } from "../recoveryKey";

const GOOD = "238810-662376-448998-450120-652806-203390-606320-483076";
const say = (input: string, lng = "en") => {
  const m = keyCheckMessage(checkRecoveryKey(input));
  return i18n.t(m.key, { ...m.values, lng });
};

describe("recovery key check", () => {
  it("accepts the published key with or without hyphens, and a base64 key", () => {
    expect(checkRecoveryKey(GOOD)).toEqual({ result: "RecoveryPassword" });
    expect(checkRecoveryKey(GOOD.replace(/-/g, ""))).toEqual({ result: "RecoveryPassword" });
    expect(checkRecoveryKey(` ${GOOD}\n`)).toEqual({ result: "RecoveryPassword" });
    expect(checkRecoveryKey("wjI2ydEZgcjn7N/vRq2yVQ==")).toEqual({ result: "Base64Key" });
    expect(keyIsUsable(checkRecoveryKey(GOOD))).toBe(true);
  });

  it("names the mistyped group", () => {
    expect(say(GOOD.replace("662376", "662377"))).toBe("Group 2 is mistyped: each group of 6 digits is a multiple of 11.");
    expect(say(GOOD.replace("483076", "720896"))).toBe("Group 8 is mistyped: no group is larger than 720885.");
    expect(say(GOOD.replace("450120", "4501200"))).toBe("Group 4 must have exactly 6 digits.");
    expect(say(GOOD.replace("662376", "662377"), "nl")).toBe("Groep 2 is verkeerd getypt: elke groep van 6 cijfers is een veelvoud van 11.");
    expect(say(GOOD.replace("662376", "662377"), "sv")).toBe("Grupp 2 är felskriven: varje grupp om 6 siffror är en multipel av 11.");
  });

  it("checks groups as they are typed, before the key is complete", () => {
    expect(say("238810-66237")).toBe("11 of 48 digits so far.");
    expect(say("238811")).toBe("Group 1 is mistyped: each group of 6 digits is a multiple of 11.");
    expect(say("2388106623")).toBe("10 of 48 digits so far.");
    expect(say("238810-66a")).toBe("“a” is not allowed: use digits and hyphens only.");
    expect(say("")).toBe("Enter the 48-digit recovery key.");
    expect(keyIsUsable(checkRecoveryKey("238810-66237"))).toBe(false);
  });

  it("rejects too many groups", () => {
    expect(checkRecoveryKey(`${GOOD}-000000`)).toEqual({ result: "WrongLength", digits: 54 });
  });
});
