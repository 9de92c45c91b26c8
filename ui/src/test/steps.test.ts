import { describe, expect, it } from "vitest";
import { nextStep, previousStep, visibleSteps } from "../wizard/steps";

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
