import { FluentProvider, webLightTheme } from "@fluentui/react-components";
import { mockIPC } from "@tauri-apps/api/mocks";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Wizard, type WizardStart } from "../components/Wizard";
import { IssuesTable } from "../components/IssuesTable";
import type { ComponentIssue } from "../bindings/ComponentIssue";
import { checkRecoveryKey } from "../recoveryKey";

const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const JOB = {
  id: "j1", name: "March export", storage_account: "contosodata", endpoint: null, auth: "Key", container: null,
  remember_secret: false, created: 1, last_activity: 1, demo: false,
};

type Handler = (cmd: string, args: Record<string, unknown>) => unknown;

function setup(drives: unknown[], extra: Handler = () => undefined) {
  const calls: { cmd: string; args: Record<string, unknown> }[] = [];
  mockIPC((cmd, args) => {
    const a = (args ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args: a });
    const r = extra(cmd, a);
    if (r !== undefined) return r;
    switch (cmd) {
      case "create_job":
        return { job: JOB, secret: { in_session: true, remembered: false, remember_error: null } };
      case "detect_drives":
        return drives;
      case "validate_recovery_key":
        return checkRecoveryKey(String(a.key)); // the same rule as Rust's
      case "add_drive":
        return {};
      case "list_jobs":
        return [];
      default:
        return null;
    }
  });
  return calls;
}

function renderWizard(start: WizardStart = { mode: "repair" }) {
  return render(
    <FluentProvider theme={webLightTheme}>
      <Wizard start={start} onClose={vi.fn()} />
    </FluentProvider>,
  );
}

async function fillJob(user: ReturnType<typeof userEvent.setup>) {
  await user.type(screen.getByTestId("job-name"), "March export");
  await user.type(screen.getByTestId("job-account"), "contosodata");
  await user.click(screen.getByTestId("job-secret"));
  await user.paste(KEY);
}

const UNLOCKED = { volume: "/media/EXPORT1", label: "EXPORT1", size_bytes: 4e12, bitlocker: "Unlocked", drive_id: "9WM35C3U", manifest_path: "/media/EXPORT1/9WM35C3U.manifest" };
const LOCKED = { volume: "/dev/sdb1", label: null, size_bytes: 2e12, bitlocker: "Locked", drive_id: null, manifest_path: null };

const step = () => screen.getByTestId("wizard").getAttribute("data-step");

describe("repair wizard", () => {
  it("validates the job form, creates the job on Next, and Back returns", async () => {
    const user = userEvent.setup();
    const calls = setup([UNLOCKED]);
    renderWizard();
    expect(step()).toBe("job");
    expect(screen.getByTestId("wizard-back")).toBeDisabled();
    await user.click(screen.getByTestId("wizard-next"));
    expect(await screen.findByText("Give the job a name.")).toBeInTheDocument();
    expect(calls.some((c) => c.cmd === "create_job")).toBe(false);

    await fillJob(user);
    await user.click(screen.getByTestId("wizard-next"));
    await waitFor(() => expect(step()).toBe("drive"));
    const create = calls.find((c) => c.cmd === "create_job")!;
    expect(create.args.input).toMatchObject({ name: "March export", storage_account: "contosodata", auth: "Key", remember: false });

    await user.click(screen.getByTestId("wizard-back"));
    expect(step()).toBe("job");
    expect(screen.getByTestId("job-existing")).toHaveTextContent("March export");
  });

  it("asks for the container of a bare SAS token, not of a SAS URL", async () => {
    const user = userEvent.setup();
    const calls = setup([UNLOCKED]);
    renderWizard();
    await user.type(screen.getByTestId("job-name"), "March export");
    await user.type(screen.getByTestId("job-account"), "contosodata");
    await user.click(screen.getByTestId("job-auth-sas"));
    await user.click(screen.getByTestId("job-secret"));
    await user.paste("https://contosodata.blob.core.windows.net/photos?sv=2022-11-02&sr=c&sp=rl&sig=abc");
    expect(screen.queryByTestId("job-container")).not.toBeInTheDocument();

    await user.clear(screen.getByTestId("job-secret"));
    await user.paste("?sv=2022-11-02&sr=c&sp=rl&sig=abc");
    expect(screen.getByTestId("job-container")).toBeInTheDocument();
    await user.click(screen.getByTestId("wizard-next"));
    expect(await screen.findByText(/A container name has 3 to 63/)).toBeInTheDocument();
    expect(calls.some((c) => c.cmd === "create_job")).toBe(false);

    await user.type(screen.getByTestId("job-container"), "photos");
    await user.click(screen.getByTestId("wizard-next"));
    await waitFor(() => expect(step()).toBe("drive"));
    const create = calls.find((c) => c.cmd === "create_job")!;
    expect(create.args.input).toMatchObject({ auth: "Sas", container: "photos", secret: "?sv=2022-11-02&sr=c&sp=rl&sig=abc" });
  });

  it("skips Unlock for an unlocked drive", async () => {
    const user = userEvent.setup();
    const calls = setup([UNLOCKED]);
    renderWizard();
    await fillJob(user);
    await user.click(screen.getByTestId("wizard-next"));
    await waitFor(() => expect(step()).toBe("drive"));
    expect(screen.queryByTestId("step-unlock")).not.toBeInTheDocument();
    await user.click(await screen.findByTestId("detected-radio-9WM35C3U"));
    await user.click(screen.getByTestId("wizard-next"));
    await waitFor(() => expect(step()).toBe("copylog"));
    const add = calls.find((c) => c.cmd === "add_drive")!;
    expect(add.args.input).toMatchObject({ job_id: "j1", drive_id: "9WM35C3U", volume: "/media/EXPORT1", bitlocker: "Unlocked" });
    expect(screen.queryByTestId("step-unlock")).not.toBeInTheDocument();
  });

  it("goes to Unlock for a locked drive and names the mistyped key group", async () => {
    const user = userEvent.setup();
    setup([LOCKED]);
    renderWizard();
    await fillJob(user);
    await user.click(screen.getByTestId("wizard-next"));
    await waitFor(() => expect(step()).toBe("drive"));
    await user.click(await screen.findByTestId("detected-radio-/dev/sdb1"));
    await user.click(screen.getByTestId("wizard-next"));
    await waitFor(() => expect(step()).toBe("unlock"));
    expect(screen.getByTestId("step-unlock")).toHaveAttribute("aria-current", "step");
    await user.type(screen.getByTestId("recovery-key"), "238810-662377");
    expect(await screen.findByTestId("key-hint")).toHaveTextContent("Group 2 is mistyped");
    expect(screen.getByTestId("unlock-button")).toBeDisabled();
    expect(screen.getByTestId("wizard-next")).toBeDisabled();
    await user.click(screen.getByTestId("wizard-back"));
    expect(step()).toBe("drive");
  });

  it("stops on a copy log of another drive", async () => {
    const user = userEvent.setup();
    setup([UNLOCKED], (cmd) => {
      if (cmd === "check_copy_log") {
        throw { kind: "DriveMismatch", message: 'drive ID mismatch: the drive says "9WM35C3U" but the copy log says "WD-OTHER1". Choose the copy log of this drive.' };
      }
      return undefined;
    });
    renderWizard();
    await fillJob(user);
    await user.click(screen.getByTestId("wizard-next"));
    await waitFor(() => expect(step()).toBe("drive"));
    await user.click(await screen.findByTestId("detected-radio-9WM35C3U"));
    await user.click(screen.getByTestId("wizard-next"));
    await waitFor(() => expect(step()).toBe("copylog"));
    await user.type(screen.getByTestId("copylog-path"), "/tmp/other_error.xml");
    await user.click(screen.getByTestId("copylog-check"));
    const stop = await screen.findByTestId("copylog-mismatch");
    expect(stop).toHaveTextContent("This copy log is for drive WD-OTHER1, not 9WM35C3U.");
    expect(screen.getByTestId("wizard-next")).toBeDisabled();
  });

  it("shows a clear message when drives cannot be detected, and offers a folder", async () => {
    const user = userEvent.setup();
    setup([], (cmd) => {
      if (cmd === "detect_drives") throw { kind: "Unsupported", message: "Detecting export drives is not available in this build of Drive Repair yet." };
      if (cmd === "inspect_folder") return { path: "/data/drive", manifests: [] };
      return undefined;
    });
    renderWizard({ mode: "verify" });
    expect(step()).toBe("drive");
    expect(await screen.findByTestId("detect-unavailable")).toHaveTextContent("Not available here");
    await user.type(screen.getByTestId("folder-path"), "/data/drive");
    await user.click(screen.getByTestId("folder-use"));
    expect(await screen.findByTestId("verify-needs-manifest")).toBeInTheDocument();
    expect(screen.getByTestId("wizard-next")).toBeDisabled();
  });

  it("labels every field and moves on with the keyboard", async () => {
    const user = userEvent.setup();
    setup([UNLOCKED]);
    renderWizard();
    // The step heading takes focus when a step opens, for screen readers and Tab.
    await waitFor(() => expect(screen.getByTestId("wizard-step-title")).toHaveFocus());
    expect(screen.getByLabelText(/Job name/)).toBe(screen.getByTestId("job-name"));
    expect(screen.getByLabelText(/Storage account name/)).toBe(screen.getByTestId("job-account"));
    expect(screen.getByLabelText(/^Account key/, { selector: "input[type=password]" })).toBe(screen.getByTestId("job-secret"));
    screen.getByTestId("job-name").focus();
    await user.keyboard("March export");
    screen.getByTestId("job-account").focus();
    await user.keyboard("contosodata");
    screen.getByTestId("job-secret").focus();
    await user.paste(KEY);
    screen.getByTestId("wizard-next").focus();
    await user.keyboard("{Enter}");
    await waitFor(() => expect(step()).toBe("drive"));
    const radio = await screen.findByTestId("detected-radio-9WM35C3U");
    const input = radio.querySelector("input") ?? radio;
    (input as HTMLElement).focus();
    await user.keyboard(" ");
    screen.getByTestId("wizard-next").focus();
    await user.keyboard("{Enter}");
    await waitFor(() => expect(step()).toBe("copylog"));
    expect(screen.getByTestId("wizard-step-title")).toHaveFocus();
  });
});

describe("issues table", () => {
  it("renders only the visible rows of 100,000 issues", () => {
    // jsdom has no layout: give the scroller the size it has on screen.
    const h = vi.spyOn(HTMLElement.prototype, "clientHeight", "get").mockReturnValue(360);
    const w = vi.spyOn(HTMLElement.prototype, "clientWidth", "get").mockReturnValue(1000);
    const issues: ComponentIssue[] = Array.from({ length: 100_000 }, (_, i) => ({
      blob: { path: `c/f${i}`, snapshot: null },
      file_path: `\\c\\f${i}`,
      component: { type: "Block", offset: i * 512, length: 512 },
      problem: { type: "MissingFile" },
    }));
    render(
      <FluentProvider theme={webLightTheme}>
        <IssuesTable issues={issues} label="Parts that are still bad" />
      </FluentProvider>,
    );
    const table = screen.getByTestId("issues-table");
    expect(table).toHaveAttribute("aria-rowcount", "100001");
    const rows = within(table).getAllByTestId("issue-row");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(60);
    h.mockRestore();
    w.mockRestore();
  });
});
