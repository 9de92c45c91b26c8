import { describe, expect, it } from "vitest";
import { nextStep, previousStep, visibleSteps } from "../wizard/steps";
import { isContainerName, needsContainer } from "../wizard/types";

describe("wizard steps", () => {
  it("shows Unlock only for a locked drive", () => {
    expect(visibleSteps("repair", { driveLocked: false })).toEqual(["job", "drive", "copylog", "review", "run", "result"]);
    expect(visibleSteps("repair", { driveLocked: true })).toEqual(["job", "drive", "unlock", "copylog", "review", "run", "result"]);
    expect(visibleSteps("verify", { driveLocked: false })).toEqual(["drive", "run", "result"]);
  });

  it("Next skips Unlock for an unlocked drive, and Back mirrors it", () => {
    expect(nextStep("repair", "drive", { driveLocked: false })).toBe("copylog");
    expect(nextStep("repair", "drive", { driveLocked: true })).toBe("unlock");
    expect(previousStep("repair", "copylog", { driveLocked: false })).toBe("drive");
    expect(previousStep("repair", "copylog", { driveLocked: true })).toBe("unlock");
    expect(nextStep("verify", "drive", { driveLocked: false })).toBe("run");
  });

  it("cannot go back from the first step or behind a run", () => {
    expect(previousStep("repair", "job", { driveLocked: false })).toBeNull();
    expect(previousStep("repair", "run", { driveLocked: false })).toBeNull();
    expect(previousStep("repair", "result", { driveLocked: false })).toBeNull();
    expect(nextStep("repair", "result", { driveLocked: false })).toBeNull();
  });
});

describe("job form: the container of a SAS token", () => {
  it("is asked for a bare token only, not for a SAS URL or an account key", () => {
    expect(needsContainer({ auth: "Sas", secret: "?sv=2022-11-02&sig=x" })).toBe(true);
    expect(needsContainer({ auth: "Sas", secret: " https://a.blob.core.windows.net/c?sv=1&sig=x" })).toBe(false);
    expect(needsContainer({ auth: "Sas", secret: "" })).toBe(false);
    expect(needsContainer({ auth: "Key", secret: "a2V5" })).toBe(false);
  });

  it("follows Azure's container naming rule, as Rust does", () => {
    for (const ok of ["abc", "photos-2024", "$root", "a".repeat(63)]) expect(isContainerName(ok)).toBe(true);
    for (const bad of ["ab", "Photos", "-photos", "photos-", "pho--tos", "pho/tos", "../x", "a".repeat(64)]) {
      expect(isContainerName(bad)).toBe(false);
    }
  });
});
