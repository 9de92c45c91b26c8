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
//! server with ImageMagick's `import`). The app runs the real engine against Azurite
//! (started by the test) and demo data from `driverepair-demo-data`; after the repair,
//! the drive's bytes are checked against the generator's manifest MD5s.
//! Set `DRIVE_REPAIR_E2E_SKIP_BUILD=1` to reuse an existing `ui/dist` and binary.
//!
//! `.ci/test` runs it with `--workspace --features drive-repair/custom-protocol`, the
//! same feature set as its build of everything, so cargo's own `drive-repair` binary
//! already embeds the UI and nothing is rebuilt here.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::proxy::{FaultProxy, Faults};
use thirtyfour::prelude::*;

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
    if cfg!(feature = "custom-protocol") {
        // Built by cargo for this test with the UI embedded (ui/dist must exist, which
        // the build script checks); the demo-data generator comes from the same
        // workspace build.
        let demo = target_dir().join("debug").join("driverepair-demo-data");
        assert!(demo.exists(), "{} is missing: run `cargo build --workspace --all-targets` first", demo.display());
        return PathBuf::from(env!("CARGO_BIN_EXE_drive-repair"));
    }
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
        Command::new(&cargo)
            .args(["build", "-p", "driverepair-testkit", "--bin", "driverepair-demo-data"])
            .current_dir(root()),
        "cargo build driverepair-demo-data",
    );
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

/// The BitLocker test volume (cryptsetup's test vector, kept in the engine's fixtures)
/// on a loop device, so that the wizard detects a locked drive; detached on drop.
/// `None`, with a note, when not root or a tool is missing (CI runs as root).
struct LockedVolume {
    device: String,
    _image_dir: tempfile::TempDir,
}

impl LockedVolume {
    fn attach() -> Option<LockedVolume> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        let tools_ok = ["xz", "losetup", "blkid", "cryptsetup"]
            .iter()
            .all(|t| Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success()));
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" || !tools_ok {
            eprintln!("note: not root, or xz/losetup/blkid/cryptsetup missing: the locked-drive part is left out");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("bitlocker.img");
        let fixture = root().join("crates/engine/tests/fixtures/bitlocker/bitlk-aes-xts-128.img.xz");
        run(
            Command::new("xz").arg("-dc").arg(&fixture).stdout(std::fs::File::create(&image).unwrap()),
            "xz -dc (BitLocker fixture)",
        );
        let out = Command::new("losetup").args(["-f", "--show"]).arg(&image).output().expect("losetup");
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Some(LockedVolume { device, _image_dir: dir })
    }
}

impl Drop for LockedVolume {
    fn drop(&mut self) {
        let detached = (0..20).any(|_| {
            let ok = Command::new("losetup").args(["-d", &self.device]).status().is_ok_and(|s| s.success());
            if !ok {
                std::thread::sleep(Duration::from_millis(100));
            }
            ok
        });
        if !detached {
            eprintln!("warning: could not detach {}", self.device);
        }
    }
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
    contrast: Contrast,
}

/// WCAG AA contrast measured on every screen that gets a screenshot.
#[derive(Default)]
struct Contrast {
    screens: u32,
    checked: u64,
    /// (ratio, "screen: text (testid)") of the lowest-contrast text seen.
    lowest: Option<(f64, String)>,
    failures: Vec<String>,
}

#[derive(serde::Deserialize)]
struct ContrastItem {
    ratio: f64,
    need: f64,
    text: String,
    #[serde(rename = "where")]
    at: String,
    fg: String,
    bg: String,
}

#[derive(serde::Deserialize)]
struct ContrastPage {
    checked: u64,
    lowest: Option<ContrastItem>,
    failures: Vec<ContrastItem>,
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

    /// The DOM's text of the element, read in the page (WebKitWebDriver's rendered text
    /// came back empty for the run step's buttons while they were re-rendering).
    async fn text_content(&self, id: &str) -> String {
        let e = self.wait(id).await;
        let r = self
            .driver
            .execute("return arguments[0].textContent;", vec![e.to_json().unwrap()])
            .await;
        r.ok().and_then(|v| v.json().as_str().map(str::to_string)).unwrap_or_default()
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
        self.check_contrast(&name).await;
    }

    async fn check_contrast(&mut self, screen: &str) {
        let page: ContrastPage = match self.driver.execute(include_str!("contrast.js"), vec![]).await {
            Ok(r) => serde_json::from_value(r.json().clone()).expect("contrast.js result"),
            Err(e) => {
                self.contrast.failures.push(format!("{screen}: contrast script failed: {e}"));
                return;
            }
        };
        let c = &mut self.contrast;
        c.screens += 1;
        c.checked += page.checked;
        if let Some(l) = page.lowest {
            if c.lowest.as_ref().is_none_or(|(r, _)| l.ratio < *r) {
                c.lowest = Some((l.ratio, format!("{screen}: {:?} ({}) {} on {}", l.text, l.at, l.fg, l.bg)));
            }
        }
        for f in page.failures {
            c.failures.push(format!(
                "{screen}: {:?} ({}) {} on {}: {:.2}:1 < {}:1",
                f.text, f.at, f.fg, f.bg, f.ratio, f.need
            ));
        }
    }

    async fn active_testid(&self) -> Option<String> {
        let e = self.driver.active_element().await.ok()?;
        e.attr("data-testid").await.ok().flatten()
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

#[derive(serde::Deserialize)]
struct DemoDrive {
    drive_id: String,
    volume: String,
    manifest: String,
}

#[derive(serde::Deserialize)]
struct Demo {
    storage_account: String,
    secret: String,
    drives: Vec<DemoDrive>,
}

#[tokio::test(flavor = "multi_thread")]
async fn real_window_repair_against_azurite() {
    if std::env::var("DRIVE_REPAIR_E2E").as_deref() != Ok("1") {
        eprintln!("skipped: set DRIVE_REPAIR_E2E=1 to run the real-window test");
        return;
    }
    let started = Instant::now();
    let app = build_app();
    let shots = root().join("test-artifacts").join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let data_dir = tempfile::tempdir().unwrap();

    // Azurite and the demo data (blobs uploaded, two damaged drives, copy logs in
    // waimportexport/waies/).
    let azurite = testkit::azurite::Azurite::start().expect("Azurite (npm i -g azurite, or testkit's node_modules)");
    let demo_dir = tempfile::tempdir().unwrap();
    run(
        Command::new(target_dir().join("debug").join("driverepair-demo-data"))
            .args(["--endpoint", &azurite.endpoint(), "--out"])
            .arg(demo_dir.path()),
        "driverepair-demo-data",
    );
    let demo: Demo =
        serde_json::from_str(&std::fs::read_to_string(demo_dir.path().join("demo.json")).unwrap()).unwrap();
    let drive = &demo.drives[0];
    let drive_dir = demo_dir.path().join(&drive.volume);
    let manifest = demo_dir.path().join(&drive.manifest);
    let before = verify(&drive_dir, &manifest);
    assert!(before > 0, "the demo drive should start damaged");

    let proxy = FaultProxy::start(azurite.socket_addr(), Faults::default()).expect("proxy in front of Azurite");
    let locked = LockedVolume::attach();
    // A read-and-list SAS token (no `?`, no URL) for the copy logs' container.
    let sas_token = match azurite.config_with_sas("waimportexport").credential {
        engine::blobstore::Credential::ContainerSas(s) => s.expose().to_string(),
        engine::blobstore::Credential::AccountKey(_) => unreachable!("config_with_sas gives a SAS"),
    };

    let (_xvfb, display) = start_xvfb();
    let port = free_port();
    let native_port = free_port();
    let driver_proc = Command::new(tauri_driver())
        .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
        .env("DISPLAY", &display)
        .env("DRIVE_REPAIR_DATA_DIR", data_dir.path())
        .env_remove("DRIVE_REPAIR_SIMULATE")
        .env_remove("DRIVE_REPAIR_DEMO")
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
    // Under load (right after the builds), the first session request can fail while
    // WebKitWebDriver starts; a second one then works.
    let mut attempt = 0;
    let driver = loop {
        attempt += 1;
        match WebDriver::new(&url, caps.clone()).await {
            Ok(d) => break d,
            Err(e) if attempt < 3 => {
                eprintln!("WebDriver session attempt {attempt} failed ({e}); retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => panic!("WebDriver session: {e:?}"),
        }
    };
    let mut ui = Ui { driver, shots, display: display.clone(), n: 0, contrast: Contrast::default() };

    let result = walk(&mut ui, launched, &demo, &drive_dir, &proxy, &sas_token, locked.as_ref().map(|v| v.device.as_str())).await;
    if result.is_err() {
        ui.shot("failure").await;
    }
    let _ = ui.driver.clone().quit().await;
    result.unwrap();

    // Accessibility: every text on every screen above passes WCAG AA contrast.
    let c = &ui.contrast;
    let (low, at) = c.lowest.clone().unwrap_or((0.0, "nothing measured".into()));
    eprintln!("contrast (WCAG AA): {} texts on {} screens, lowest {low:.2}:1 at {at}", c.checked, c.screens);
    assert!(c.checked > 100, "the contrast check saw only {} texts", c.checked);
    assert!(c.failures.is_empty(), "texts below WCAG AA contrast:\n{}", c.failures.join("\n"));

    // The bytes on the drive now match the generator's truth (the manifest's MD5s).
    let after = verify(&drive_dir, &manifest);
    assert_eq!(after, 0, "components still bad on the drive after the repair");
    eprintln!("e2e done in {:.1?} (drive had {before} bad components, now 0)", started.elapsed());
}

/// Bad components of the drive against its manifest.
fn verify(dir: &Path, manifest: &Path) -> usize {
    let reporter = engine::progress::NoReporter;
    let tracker = engine::progress::ProgressTracker::new(&reporter, Duration::from_secs(1));
    let report = engine::verify::verify_drive(
        dir,
        manifest,
        &engine::verify::VerifyOptions::default(),
        &tracker,
        &engine::progress::CancelToken::new(),
    )
    .expect("verify the drive");
    report.issues.len()
}

async fn clear_and_type(ui: &Ui, id: &str, text: &str) -> Result<(), String> {
    let e = ui.wait(id).await;
    // Clearing through WebDriver does not always reach React: select and retype.
    e.send_keys(Key::Control + "a").await.map_err(|e| e.to_string())?;
    e.send_keys(Key::Backspace).await.map_err(|e| e.to_string())?;
    e.send_keys(text).await.map_err(|e| e.to_string())
}

async fn walk(
    ui: &mut Ui,
    launched: Instant,
    demo: &Demo,
    drive_dir: &Path,
    proxy: &FaultProxy,
    sas_token: &str,
    locked_device: Option<&str>,
) -> Result<(), String> {
    // Jobs screen (home), with no simulation banner: this is the real engine.
    ui.wait("jobs-screen").await;
    eprintln!("jobs screen interactive {:.2?} after the session was requested", launched.elapsed());
    ui.wait("jobs-empty").await;
    if ui.driver.find(Ui::sel("simulated-banner")).await.is_ok() {
        return Err("the simulated-engine banner shows without DRIVE_REPAIR_SIMULATE".into());
    }
    ui.step_shot("jobs-empty").await;

    // Job step: Azurite's account and endpoint; first a wrong key.
    ui.click("jobs-new-repair").await;
    ui.wait_attr("wizard", "data-step", "job").await;
    // Reached and filled from the keyboard: Tab from the step heading goes to the name.
    let heading = ui.wait("wizard-step-title").await;
    heading.send_keys(Key::Tab).await.map_err(|e| e.to_string())?;
    let focused = ui.active_testid().await;
    if focused.as_deref() != Some("job-name") {
        return Err(format!("Tab from the step heading went to {focused:?}, not the job name"));
    }
    ui.type_into("job-name", "Azurite export").await;
    ui.type_into("job-account", &demo.storage_account).await;
    ui.click("job-advanced").await;
    // Through a pass-through proxy in front of Azurite, which can slow the network down.
    ui.type_into("job-endpoint", &proxy.endpoint()).await;

    // A bare SAS token does not name its container: the form asks for it, and the
    // token joined with it reaches Azurite.
    ui.click("job-auth-sas").await;
    ui.type_into("job-secret", sas_token).await;
    ui.type_into("job-container", "waimportexport").await;
    ui.click("job-test").await;
    ui.wait("job-test-ok").await;
    ui.step_shot("wizard-job-sas-tested").await;

    // Then the account key, the demo's way in; first a wrong one.
    ui.click("job-auth-key").await;
    if ui.driver.find(Ui::sel("job-container")).await.is_ok() {
        return Err("the container field stays for an account key".into());
    }
    let wrong_key = format!("{}AAAA", &demo.secret[..demo.secret.len() - 6]) + "==";
    clear_and_type(ui, "job-secret", &wrong_key).await?;
    ui.click("job-test").await;
    let err = ui.text("job-test-error").await;
    let lower = err.to_lowercase();
    if !(lower.contains("refused access") || lower.contains("forbidden") || lower.contains("authenticat")) {
        return Err(format!("a wrong account key does not say access was refused: {err:?}"));
    }
    ui.step_shot("wizard-job-wrong-key").await;
    clear_and_type(ui, "job-secret", &demo.secret).await?;
    ui.click("job-test").await;
    ui.wait("job-test-ok").await;
    ui.step_shot("wizard-job-tested").await;
    ui.click("wizard-next").await;

    // Drive step. First the detected locked BitLocker volume: the unlock step's key
    // check names the mistyped group, and a well-formed wrong key is refused in words.
    ui.wait_attr("wizard", "data-step", "drive").await;
    if let Some(device) = locked_device {
        ui.click(&format!("detected-radio-{device}")).await;
        ui.step_shot("wizard-drive-detected").await;
        ui.click("wizard-next").await;
        ui.wait_attr("wizard", "data-step", "unlock").await;
        // Group 2 (111112) is not a multiple of 11.
        ui.type_into("recovery-key", "111111-111112-111111-111111-111111-111111-111111-111111").await;
        let hint = ui.text("key-hint").await;
        if !hint.contains("Group 2") {
            return Err(format!("a mistyped group 2 gives the hint {hint:?}"));
        }
        ui.step_shot("wizard-unlock-group-hint").await;
        // Every group a multiple of 11: well-formed, but not this volume's key.
        clear_and_type(ui, "recovery-key", "111111-111111-111111-111111-111111-111111-111111-111111").await?;
        ui.click("unlock-button").await;
        let refused = ui.text("unlock-error").await;
        if !refused.contains("does not unlock this drive") {
            return Err(format!("a wrong recovery key gives {refused:?}"));
        }
        ui.step_shot("wizard-unlock-wrong-key").await;
        ui.click("wizard-back").await;
        ui.wait_attr("wizard", "data-step", "drive").await;
    }

    // Then the demo drive's folder.
    ui.type_into("folder-path", &drive_dir.display().to_string()).await;
    ui.click("folder-use").await;
    ui.wait("manifest-found").await;
    ui.step_shot("wizard-drive-folder").await;
    ui.click("wizard-next").await;

    // Copy log step: found in Azurite's waimportexport container.
    ui.wait_attr("wizard", "data-step", "copylog").await;
    ui.click("copylog-find").await;
    ui.click("copylog-use-0").await;
    ui.wait("copylog-ok").await;
    ui.step_shot("wizard-copylog").await;
    ui.click("wizard-next").await;

    // Review (the engine's dry run), then the repair, then the result.
    ui.wait_attr("wizard", "data-step", "review").await;
    ui.wait("plan").await;
    ui.step_shot("wizard-review").await;
    // A slow network (256 KiB/s per connection), so that the repair can be watched
    // and paused: live progress, Pause, then Resume at full speed.
    proxy.set_faults(Faults { body_bytes_per_second: 256 * 1024, ..Faults::default() });
    ui.click("wizard-next").await;
    ui.wait_attr("wizard", "data-step", "run").await;
    ui.wait("run-current-file").await;
    // A file being fetched, for the screenshot (the phases with little to do pass quickly).
    let deadline = Instant::now() + Duration::from_secs(5);
    while ui.text_content("run-current-file").await.starts_with('—') && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ui.step_shot("wizard-run").await;
    ui.click("run-pause").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let label = ui.text_content("run-pause").await;
        if label.contains("Resume") {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("after Pause, the button reads {label:?}, not Resume"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ui.step_shot("wizard-run-paused").await;
    proxy.set_faults(Faults::default());
    ui.click("run-pause").await;
    ui.wait_attr("wizard", "data-step", "result").await;
    ui.wait("result-ok").await;
    // What the repair's verify pass found and the repair then fixed is not listed as
    // still bad (it once was, beside "Still bad: 0").
    ui.wait("result-none").await;
    ui.step_shot("wizard-result").await;

    // Back on the jobs screen, the drive reads "Repaired and verified".
    ui.click("wizard-close").await;
    ui.wait("jobs-table").await;
    let id = &demo.drives[0].drive_id;
    ui.wait(&format!("drive-row-{id}")).await;
    let state = ui.text(&format!("local-state-{id}")).await;
    if !state.contains("Repaired and verified") {
        return Err(format!("the drive's state after the repair reads {state:?}"));
    }
    ui.step_shot("jobs-repaired").await;

    // The status guide explains every status word.
    ui.click("status-guide-open").await;
    ui.wait("status-guide").await;
    ui.step_shot("status-guide").await;
    Ok(())
}
