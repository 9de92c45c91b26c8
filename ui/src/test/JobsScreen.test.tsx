import { FluentProvider, webLightTheme } from "@fluentui/react-components";
import { mockIPC } from "@tauri-apps/api/mocks";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { JobsScreen, nextAction } from "../components/JobsScreen";
import type { DriveRecord } from "../bindings/DriveRecord";

const JOB = {
  id: "j1", name: "March export", storage_account: "contosodata", endpoint: null, auth: "Key", container: null,
  remember_secret: false, created: 1, last_activity: 1_700_000_000_000, demo: true,
};

function drive(id: string, patch: Partial<DriveRecord>): DriveRecord {
  return {
    drive_id: id, job_id: "j1", volume: `/media/${id}`, volume_label: null, bitlocker: "Unlocked",
    copy_log_path: null, manifest_path: `/media/${id}/${id}.manifest`, copy_log_status: null,
    local_state: { state: "NotChecked" }, percent_done: 0, bad_components: 0,
    repair_file: `/data/repair/${id}.repair`, log_dir: `/data/logs/${id}`, last_report: null, interrupted: false, updated: 0,
    ...patch,
  };
}

const DRIVES = [
  drive("9WM35C3U", { copy_log_status: "CompletedWithErrors", copy_log_path: "/l.xml", local_state: { state: "Repairing", percent: 45 }, percent_done: 45 }),
  drive("WD-WMATV123456", { local_state: { state: "NeedsRepair" }, bad_components: 12, interrupted: true }),
  drive("ZX1", { copy_log_status: "BitLockerKeyInvalid", local_state: { state: "RepairedVerified" }, percent_done: 100 }),
];

describe("jobs screen", () => {
  it("lists jobs and the selected job's drives with status words and next actions", async () => {
    mockIPC((cmd) => {
      if (cmd === "list_jobs") return [{ job: JOB, drive_count: 3, state: "InProgress", progress_percent: 48.3, has_secret: true }];
      if (cmd === "list_drives") return DRIVES;
      return null;
    });
    const onStart = vi.fn();
    render(<FluentProvider theme={webLightTheme}><JobsScreen onStart={onStart} /></FluentProvider>);
    const row = await screen.findByTestId("job-row-j1");
    expect(row).toHaveTextContent("March export");
    expect(row).toHaveTextContent("contosodata");
    expect(row).toHaveTextContent("In progress");
    expect(within(row).getByTestId("demo-tag")).toHaveTextContent("Demo");

    expect(await screen.findByTestId("local-state-9WM35C3U")).toHaveTextContent("Repairing 45%");
    expect(screen.getByTestId("copylog-status-9WM35C3U")).toHaveTextContent("Data copy completed with errors");
    expect(screen.getByTestId("copylog-status-ZX1")).toHaveTextContent("BitLocker key invalid");
    expect(screen.getByTestId("local-state-ZX1")).toHaveTextContent("Repaired and verified");
    expect(screen.getByTestId("drive-row-WD-WMATV123456")).toHaveTextContent("12");

    // An interrupted run is offered for resumption.
    expect(screen.getByTestId("resume-offer-WD-WMATV123456")).toHaveTextContent("was interrupted");
    await userEvent.setup().click(screen.getByTestId("drive-action-WD-WMATV123456"));
    expect(onStart).toHaveBeenCalledWith({ mode: "repair", at: "review", jobId: "j1", driveId: "WD-WMATV123456" });
  });

  it("says what to do when there are no jobs", async () => {
    mockIPC((cmd) => (cmd === "list_jobs" ? [] : null));
    render(<FluentProvider theme={webLightTheme}><JobsScreen onStart={vi.fn()} /></FluentProvider>);
    expect(await screen.findByTestId("jobs-empty")).toHaveTextContent("No export jobs yet");
  });

  it("chooses the next action from the drive's state", () => {
    expect(nextAction(drive("A", {})).start).toEqual({ mode: "verify", at: "run" });
    expect(nextAction(drive("A", { manifest_path: null })).start).toEqual({ mode: "repair", at: "copylog" });
    expect(nextAction(drive("A", { local_state: { state: "NeedsRepair" }, copy_log_path: "/l.xml" })).start).toEqual({ mode: "repair", at: "review" });
    expect(nextAction(drive("A", { local_state: { state: "NeedsAttention" } })).label).toBe("drives.actions.viewResult");
  });
});
