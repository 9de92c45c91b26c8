//! Starts a private Azurite blob service (the Azure Storage emulator) for one test.
//!
//! Each [`Azurite`] runs its own `azurite-blob` process on a free loopback port with a
//! temporary data directory, and kills it when dropped (also when the test panics).
//! The process is started from a small keeper thread that lives exactly as long as the
//! handle; on Linux the child also gets `PR_SET_PDEATHSIG`, so even a test binary that
//! is killed outright leaves no emulator behind.
//!
//! The binary is found in this order: `$AZURITE_BIN`, then
//! `crates/testkit/node_modules/.bin/azurite-blob` (installed by `npm install` in
//! `crates/testkit`, which `make test` runs), then `azurite-blob` on `PATH`.

use anyhow::{anyhow, bail, Context as _};
use azure_storage::shared_access_signature::service_sas::{
    BlobSasPermissions, BlobSharedAccessSignature, BlobSignedResource,
};
use azure_storage::shared_access_signature::SasToken;
use engine::blobstore::{Credential, StorageConfig};
use engine::secret::Secret;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// The emulator's well-known account.
pub const ACCOUNT: &str = azure_storage::clients::EMULATOR_ACCOUNT;
/// The emulator's well-known account key (public; it only opens local emulators).
pub const KEY: &str = azure_storage::clients::EMULATOR_ACCOUNT_KEY;

/// How long Azurite may take to accept connections. It usually needs about a second;
/// the limit is generous because the test machines are shared and busy.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// A running Azurite blob service. Dropping it stops the process.
pub struct Azurite {
    port: u16,
    // Behind locks so that the process-wide instance of [`Azurite::shared`] can be
    // stopped through a shared reference at exit.
    stop: Mutex<Option<mpsc::Sender<()>>>,
    keeper: Mutex<Option<JoinHandle<()>>>,
    // Removed after the process is gone (fields drop after `Drop::drop`).
    dir: tempfile::TempDir,
}

impl Azurite {
    /// Starts Azurite and waits until it accepts connections.
    pub fn start() -> anyhow::Result<Azurite> {
        let bin = find_binary()?;
        let mut last_error = None;
        // A free port can be taken by someone else between choosing and binding it; try again then.
        for _ in 0..3 {
            match Self::start_once(&bin) {
                Ok(a) => return Ok(a),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn start_once(bin: &Path) -> anyhow::Result<Azurite> {
        let dir = tempfile::Builder::new()
            .prefix("azurite-")
            .tempdir()
            .context("creating Azurite's data directory")?;
        let port = free_port()?;
        let log_path = dir.path().join("azurite.log");
        let log = std::fs::File::create(&log_path).context("creating Azurite's log file")?;

        let mut cmd = Command::new(bin);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args([
                "--disableTelemetry",
                "--loose",
                "--skipApiVersionCheck",
                "--silent",
            ])
            .arg("--location")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        set_parent_death_signal(&mut cmd);

        let exited: Arc<Mutex<Option<ExitStatus>>> = Arc::default();
        let (started_tx, started_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let exited_in_keeper = exited.clone();
        let keeper = std::thread::Builder::new()
            .name(format!("azurite-{port}"))
            .spawn(move || keep(cmd, started_tx, stop_rx, exited_in_keeper))
            .context("starting the Azurite keeper thread")?;
        let azurite = Azurite {
            port,
            stop: Mutex::new(Some(stop_tx)),
            keeper: Mutex::new(Some(keeper)),
            dir,
        };

        started_rx
            .recv()
            .map_err(|_| anyhow!("the Azurite keeper thread ended unexpectedly"))?
            .with_context(|| format!("running {}", bin.display()))?;

        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            if let Some(status) = *exited.lock().unwrap() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                azurite.shutdown();
                bail!("Azurite exited during startup ({status}); its output:\n{log}");
            }
            if TcpStream::connect_timeout(&azurite.socket_addr(), Duration::from_millis(200))
                .is_ok()
            {
                return Ok(azurite);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                azurite.shutdown();
                bail!("Azurite did not accept connections on port {port} within {STARTUP_LIMIT:?}; its output:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One Azurite for the whole test binary, started on first use: tests that do not
    /// interfere (distinct container names) share it and save its start-up time. It is
    /// stopped, and its data directory removed, when the process exits.
    pub fn shared() -> anyhow::Result<&'static Azurite> {
        static SHARED: OnceLock<Azurite> = OnceLock::new();
        static STARTING: Mutex<()> = Mutex::new(());
        if let Some(a) = SHARED.get() {
            return Ok(a);
        }
        let _only_one_starts = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = SHARED.get() {
            return Ok(a);
        }
        let started = Azurite::start()?;
        let azurite = SHARED.get_or_init(|| started);
        stop_at_exit(|| {
            if let Some(a) = SHARED.get() {
                a.shutdown();
                let _ = std::fs::remove_dir_all(a.data_dir());
            }
        });
        Ok(azurite)
    }

    /// `http://127.0.0.1:<port>/devstoreaccount1` (path-style account).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// Where Azurite listens, e.g. as the upstream of a [`crate::proxy::FaultProxy`].
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn account(&self) -> &'static str {
        ACCOUNT
    }

    pub fn key(&self) -> &'static str {
        KEY
    }

    /// Where Azurite keeps its data for this instance.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Account name plus account key.
    pub fn config_with_key(&self) -> StorageConfig {
        StorageConfig {
            account: ACCOUNT.into(),
            credential: Credential::AccountKey(Secret::new(KEY)),
            endpoint: Some(self.endpoint()),
        }
    }

    /// Account name plus a read-and-list SAS for `container`, valid for a day, given as a
    /// bare query string (no `?`).
    pub fn config_with_sas(&self, container: &str) -> StorageConfig {
        let sas = self.container_sas(
            container,
            "rl",
            OffsetDateTime::now_utc() + time::Duration::days(1),
        );
        StorageConfig {
            account: ACCOUNT.into(),
            credential: Credential::ContainerSas(Secret::new(sas)),
            endpoint: Some(self.endpoint()),
        }
    }

    /// A service SAS for `container` signed with the account key, as a query string
    /// without `?` (e.g. `sv=2022-11-02&sp=rl&sr=c&se=…&sig=…`). `permissions` uses the
    /// SAS letters: `r` read, `a` add, `c` create, `w` write, `d` delete, `l` list.
    pub fn container_sas(
        &self,
        container: &str,
        permissions: &str,
        expiry: OffsetDateTime,
    ) -> String {
        let mut p = BlobSasPermissions::default();
        for c in permissions.chars() {
            match c {
                'r' => p.read = true,
                'a' => p.add = true,
                'c' => p.create = true,
                'w' => p.write = true,
                'd' => p.delete = true,
                'l' => p.list = true,
                't' => p.tags = true,
                other => panic!("unknown SAS permission letter {other:?}"),
            }
        }
        // What ContainerClient::shared_access_signature signs, without needing a client.
        let resource = format!("/blob/{ACCOUNT}/{container}");
        BlobSharedAccessSignature::new(
            azure_core::auth::Secret::new(KEY),
            resource,
            p,
            expiry,
            BlobSignedResource::Container,
        )
        .token()
        .expect("signing a SAS with the emulator key cannot fail")
    }

    /// The container URL with its SAS, as the portal's "Generate SAS" shows it.
    pub fn container_sas_url(
        &self,
        container: &str,
        permissions: &str,
        expiry: OffsetDateTime,
    ) -> String {
        format!(
            "{}/{container}?{}",
            self.endpoint(),
            self.container_sas(container, permissions, expiry)
        )
    }

    fn shutdown(&self) {
        // Dropping the sender (or sending) tells the keeper to kill and reap the process.
        if let Some(stop) = lock(&self.stop).take() {
            let _ = stop.send(());
        }
        if let Some(keeper) = lock(&self.keeper).take() {
            let _ = keeper.join();
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` once when the process exits normally (statics are never dropped).
#[cfg(target_os = "linux")]
fn stop_at_exit(f: fn()) {
    static AT_EXIT: OnceLock<fn()> = OnceLock::new();
    extern "C" fn run_at_exit() {
        if let Some(f) = AT_EXIT.get() {
            f();
        }
    }
    if AT_EXIT.set(f).is_ok() {
        // SAFETY: registers a plain function; libc calls it during exit().
        unsafe {
            libc::atexit(run_at_exit);
        }
    }
}

/// Elsewhere the process ends and the emulator with it; its data directory stays behind.
#[cfg(not(target_os = "linux"))]
fn stop_at_exit(_f: fn()) {}

/// The keeper thread: owns the child, notices when it exits, kills and reaps it on stop.
fn keep(
    mut cmd: Command,
    started: mpsc::Sender<std::io::Result<()>>,
    stop: mpsc::Receiver<()>,
    exited: Arc<Mutex<Option<ExitStatus>>>,
) {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let _ = started.send(Ok(()));
    loop {
        match stop.recv_timeout(Duration::from_millis(100)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    *exited.lock().unwrap() = Some(status);
                    // Wait for the stop anyway, so that the handle's state stays simple.
                    let _ = stop.recv();
                    return;
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_cmd: &mut Command) {}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0)).context("finding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Where `azurite-blob` is, or an error that says how to install it.
pub fn find_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("AZURITE_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("AZURITE_BIN is set to {}, which is not a file", p.display());
    }
    let local = local_install_dir()
        .join("node_modules/.bin")
        .join(bin_name());
    if local.is_file() {
        return Ok(local);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(bin_name());
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "Azurite (the Azure Storage emulator the storage tests run against) is not installed.\n\
         Install it with:\n    (cd {} && npm install)\n\
         (`make test` does this), or set AZURITE_BIN to an azurite-blob executable. Node.js 18 or later is needed.",
        local_install_dir().display()
    )
}

fn local_install_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin_name() -> &'static str {
    if cfg!(windows) {
        "azurite-blob.cmd"
    } else {
        "azurite-blob"
    }
}
