//! End-to-end test in a real window: the release-like app (`--features
//! custom-protocol`, UI embedded from `ui/dist`) under Xvfb, driven through
//! tauri-driver and WebKitWebDriver with a WebDriver client.
//!
//! It runs only when `DRIVE_REPAIR_E2E=1` is set (it builds the UI and the app and
//! needs Xvfb, tauri-driver and WebKitWebDriver):
//!
//! ```text
//! DRIVE_REPAIR_E2E=1 cargo test -p drive-repair --test e2e -- --nocapture
//! ```
//!
//! Screenshots of every step go to `test-artifacts/screenshots/` (taken from the X
//! server with ImageMagick's `import`). The engine is
//! simulated (`DRIVE_REPAIR_SIMULATE=1`); phase 2 adds a full repair against Azurite.
//! Set `DRIVE_REPAIR_E2E_SKIP_BUILD=1` to reuse an existing `ui/dist` and binary.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

const GOOD_KEY: &str = "238810-662376-448998-450120-652806-203390-606320-483076";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

/// Builds the UI and the app binary with the UI embedded, and copies the binary to
/// `target/e2e/` (cargo test rebuilds `target/debug/drive-repair` without the
/// feature for its own use). Returns the copy.
fn build_app() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let copy = target.join("e2e").join("drive-repair");
    if std::env::var("DRIVE_REPAIR_E2E_SKIP_BUILD").as_deref() == Ok("1") && copy.exists() {
        return copy;
    }
    run(Command::new("npm").args(["run", "build"]).current_dir(root().join("ui")), "npm run build (ui)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(
        Command::new(cargo)
            .args(["build", "-p", "drive-repair", "--bin", "drive-repair", "--features", "custom-protocol"])
            .current_dir(root()),
        "cargo build --features custom-protocol",
    );
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(target.join("debug").join("drive-repair"), &copy).expect("copy the app binary");
    copy
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process that is stopped with SIGTERM (so that tauri-driver can stop
/// WebKitWebDriver and the app in turn), and killed only if it ignores that.
struct Guard(Option<Child>, &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("{} ignored SIGTERM; killing it", self.1);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_xvfb() -> (Guard, String) {
    if let Ok(d) = std::env::var("DISPLAY") {
        if !d.is_empty() && std::env::var("DRIVE_REPAIR_E2E_OWN_XVFB").as_deref() != Ok("1") {
            return (Guard(None, "Xvfb"), d);
        }
    }
    // A display number nobody uses: Xvfb refuses to start on a taken one.
    for n in 90..120 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([display.as_str(), "-screen", "0", "1280x860x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is needed (apt install xvfb)");
        let guard = Guard(Some(child), "Xvfb");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            assert!(Instant::now() < deadline, "Xvfb did not start on {display}");
            std::thread::sleep(Duration::from_millis(50));
        }
        return (guard, display);
    }
    panic!("no free X display number");
}

fn tauri_driver() -> PathBuf {
    if let Ok(p) = std::env::var("TAURI_DRIVER") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = Path::new(&home).join(".cargo/bin/tauri-driver");
    if cargo_bin.exists() {
        cargo_bin
    } else {
        PathBuf::from("tauri-driver")
    }
}

struct Ui {
    driver: WebDriver,
    shots: PathBuf,
    display: String,
    n: u32,
}

impl Ui {
    fn sel(id: &str) -> By {
        By::Css(format!("[data-testid=\"{id}\"]"))
    }

    /// Waits until the element is there (the UI is asynchronous).
    async fn wait(&self, id: &str) -> WebElement {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(e) = self.driver.find(Self::sel(id)).await {
                return e;
            }
            if Instant::now() > deadline {
                self.shot(&format!("missing-{id}")).await;
                panic!("element [data-testid={id}] did not appear");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_attr(&self, id: &str, attr: &str, value: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(e) = self.driver.find(Self::sel(id)).await {
                if e.attr(attr).await.ok().flatten().as_deref() == Some(value) {
                    return;
                }
            }
            if Instant::now() > deadline {
                self.shot(&format!("timeout-{id}-{value}")).await;
                panic!("[data-testid={id}] never had {attr}={value}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks like a user; falls back to a DOM click for inputs that Fluent draws over.
    async fn click(&self, id: &str) {
        let e = self.wait(id).await;
        if e.click().await.is_err() {
            self.driver
                .execute("arguments[0].click();", vec![e.to_json().unwrap()])
                .await
                .unwrap();
        }
    }

    async fn type_into(&self, id: &str, text: &str) {
        let e = self.wait(id).await;
        e.send_keys(text).await.unwrap();
    }

    async fn text(&self, id: &str) -> String {
        self.wait(id).await.text().await.unwrap_or_default()
    }

    /// Screenshots come from the X server (ImageMagick's `import`): WebKitWebDriver's
    /// own screenshot command hangs under Xvfb without a GPU.
    async fn shot(&self, name: &str) {
        let path = self.shots.join(format!("{name}.png"));
        let status = Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(&path)
            .status();
        match status {
            Ok(s) if s.success() => {}
            other => eprintln!("screenshot {name} failed ({other:?}); is ImageMagick installed?"),
        }
    }

    async fn step_shot(&mut self, name: &str) {
        self.n += 1;
        let name = format!("{:02}-{name}", self.n);
        // Let transitions and fonts settle, and wait for two painted frames: the
        // capture reads the X server, which shows only what WebKit has painted.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let _ = self
            .driver
            .execute_async(
                "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done()));",
                vec![],
            )
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.shot(&name).await;
    }

    async fn active_testid(&self) -> Option<String> {
        let e = self.driver.active_element().await.ok()?;
        e.attr("data-testid").await.ok().flatten()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn real_window_jobs_screen_and_repair_wizard() {
    if std::env::var("DRIVE_REPAIR_E2E").as_deref() != Ok("1") {
        eprintln!("skipped: set DRIVE_REPAIR_E2E=1 to run the real-window test");
        return;
    }
    let app = build_app();
    let shots = root().join("test-artifacts").join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let data_dir = tempfile::tempdir().unwrap();

    let (_xvfb, display) = start_xvfb();
    let port = free_port();
    let native_port = free_port();
    let driver_proc = Command::new(tauri_driver())
        .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
        .env("DISPLAY", &display)
        .env("DRIVE_REPAIR_DATA_DIR", data_dir.path())
        .env("DRIVE_REPAIR_SIMULATE", "1")
        .env("DRIVE_REPAIR_SIMULATE_SECONDS", "4")
        .env("LANG", "C.UTF-8")
        // Software rendering: Xvfb has no GPU.
        .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("tauri-driver is needed (cargo install tauri-driver --locked)");
    let _driver_guard = Guard(Some(driver_proc), "tauri-driver");

    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tauri-driver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut caps = thirtyfour::Capabilities::new();
    caps.insert("browserName".into(), serde_json::json!("wry"));
    caps.insert(
        "tauri:options".into(),
        serde_json::json!({ "application": app.display().to_string() }),
    );
    let launched = Instant::now();
    let driver = WebDriver::new(&url, caps).await.expect("WebDriver session");
    let mut ui = Ui { driver, shots, display: display.clone(), n: 0 };

    let result = walk(&mut ui, launched).await;
    if result.is_err() {
        ui.shot("failure").await;
    }
    let _ = ui.driver.clone().quit().await;
    result.unwrap();
}

async fn walk(ui: &mut Ui, launched: Instant) -> Result<(), String> {
    // Jobs screen (home).
    ui.wait("jobs-screen").await;
    eprintln!("jobs screen interactive {:.2?} after the session was requested", launched.elapsed());
    ui.wait("simulated-banner").await;
    ui.wait("jobs-empty").await;
    ui.step_shot("jobs-empty").await;

    // Wizard: Job step, reached and filled from the keyboard.
    ui.click("jobs-new-repair").await;
    ui.wait_attr("wizard", "data-step", "job").await;
    ui.step_shot("wizard-job").await;
    let heading = ui.wait("wizard-step-title").await;
    heading.send_keys(Key::Tab).await.map_err(|e| e.to_string())?;
    let focused = ui.active_testid().await;
    if focused.as_deref() != Some("job-name") {
        return Err(format!("Tab from the step heading went to {focused:?}, not the job name"));
    }
    ui.driver
        .active_element()
        .await
        .map_err(|e| e.to_string())?
        .send_keys("March export")
        .await
        .map_err(|e| e.to_string())?;
    ui.type_into("job-account", "contosodata").await;
    ui.type_into(
        "job-secret",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    )
    .await;
    ui.click("job-test").await;
    ui.wait("job-test-ok").await;
    ui.step_shot("wizard-job-tested").await;
    ui.click("wizard-next").await;

    // Drive step: the simulated locked drive.
    ui.wait_attr("wizard", "data-step", "drive").await;
    ui.wait("detected-drives").await;
    ui.step_shot("wizard-drive").await;
    ui.click("detected-radio-/dev/sim-locked").await;
    ui.click("wizard-next").await;

    // Unlock step: a mistyped key names its group.
    ui.wait_attr("wizard", "data-step", "unlock").await;
    ui.type_into("recovery-key", "238810-662377").await;
    let hint = ui.text("key-hint").await;
    if !hint.contains("Group 2") {
        return Err(format!("the key hint does not name group 2: {hint:?}"));
    }
    ui.step_shot("wizard-unlock-bad-key").await;
    let key = ui.wait("recovery-key").await;
    key.clear().await.map_err(|e| e.to_string())?;
    // Clearing through WebDriver does not always reach React: select and retype.
    key.send_keys(Key::Control + "a").await.map_err(|e| e.to_string())?;
    key.send_keys(Key::Backspace).await.map_err(|e| e.to_string())?;
    key.send_keys(GOOD_KEY).await.map_err(|e| e.to_string())?;
    ui.click("unlock-button").await;
    ui.wait("unlocked").await;
    ui.step_shot("wizard-unlocked").await;
    ui.click("wizard-next").await;

    // Copy log step: found in the (simulated) storage account.
    ui.wait_attr("wizard", "data-step", "copylog").await;
    ui.click("copylog-find").await;
    ui.click("copylog-use-0").await;
    ui.wait("copylog-ok").await;
    ui.step_shot("wizard-copylog").await;
    ui.click("wizard-next").await;

    // Review, then the run with live progress, then the result.
    ui.wait_attr("wizard", "data-step", "review").await;
    ui.wait("plan").await;
    ui.step_shot("wizard-review").await;
    ui.click("wizard-next").await;
    ui.wait_attr("wizard", "data-step", "run").await;
    ui.wait("run-current-file").await;
    ui.step_shot("wizard-run").await;
    ui.wait_attr("wizard", "data-step", "result").await;
    ui.wait("issues-table").await;
    ui.step_shot("wizard-result").await;

    // Back on the jobs screen, the job and its drive are listed.
    ui.click("wizard-close").await;
    ui.wait("jobs-table").await;
    ui.wait("drive-row-SIMLOCKED01").await;
    let state = ui.text("local-state-SIMLOCKED01").await;
    if !state.contains("Needs attention") {
        return Err(format!("the drive's state after a repair with failures reads {state:?}"));
    }
    ui.step_shot("jobs-with-drive").await;

    // The status guide explains every status word.
    ui.click("status-guide-open").await;
    ui.wait("status-guide").await;
    ui.step_shot("status-guide").await;
    Ok(())
}
