//! The one place where external tools (manage-bde, cryptsetup, dislocker, ntfs-3g,
//! lsblk, blkid) are started. Decision logic takes a [`CommandRunner`], so tests can
//! replay recorded outputs; [`SystemRunner`] spawns the real processes.
//!
//! Keys never go through a shell or into argv where the tool allows it:
//! [`KeyInput::Stdin`] writes the key to the child's standard input,
//! [`KeyInput::Terminal`] types it on a private pseudo-terminal (dislocker reads
//! recovery passwords from `/dev/tty` only). Whatever the tool prints is scrubbed of
//! the key before it is returned.

use crate::secret::{redact, Secret};
use std::ffi::OsString;
use std::io;
use std::time::Duration;

/// How a key reaches the child process.
#[derive(Clone, Copy)]
pub enum KeyInput<'a> {
    None,
    /// Written to standard input, which is then closed.
    Stdin(&'a Secret),
    /// Typed on a new pseudo-terminal that becomes the child's controlling terminal,
    /// followed by a newline. Unix only.
    Terminal(&'a Secret),
    /// The tool only takes the key on its command line (manage-bde): nothing is sent,
    /// but the output is still scrubbed of it.
    InArgs(&'a Secret),
}

/// What a tool did: its exit code (`None` if killed by a signal or the time limit)
/// and its output, lossily decoded and already free of the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Both streams, for messages.
    pub fn text(&self) -> String {
        match (self.stdout.trim().is_empty(), self.stderr.trim().is_empty()) {
            (false, false) => format!("{}\n{}", self.stdout.trim_end(), self.stderr.trim_end()),
            (false, true) => self.stdout.trim_end().to_string(),
            _ => self.stderr.trim_end().to_string(),
        }
    }
}

pub trait CommandRunner {
    /// Runs `program` with `args` (no shell). `Err` with `NotFound` means the tool is
    /// not installed.
    fn run(&self, program: &str, args: &[OsString], key: KeyInput<'_>) -> io::Result<ToolOutput>;
}

/// Builds an argument list from string-likes.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}

/// Spawns real processes, with a time limit after which the child is killed.
pub struct SystemRunner {
    pub timeout: Duration,
}

impl Default for SystemRunner {
    fn default() -> Self {
        SystemRunner { timeout: Duration::from_secs(120) }
    }
}

impl CommandRunner for SystemRunner {
    fn run(&self, program: &str, args: &[OsString], key: KeyInput<'_>) -> io::Result<ToolOutput> {
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Tools print English we can parse; the Windows tools ignore this.
            .env("LC_ALL", "C");
        #[cfg(windows)]
        {
            // CREATE_NO_WINDOW: no console window flashes up when the desktop app runs a tool.
            use std::os::windows::process::CommandExt;
            cmd.creation_flags(0x0800_0000);
        }
        let secret = match key {
            KeyInput::None => {
                cmd.stdin(Stdio::null());
                None
            }
            KeyInput::Stdin(s) => {
                cmd.stdin(Stdio::piped());
                Some(s)
            }
            KeyInput::Terminal(s) | KeyInput::InArgs(s) => {
                cmd.stdin(Stdio::null());
                Some(s)
            }
        };
        #[cfg(unix)]
        let pty = match key {
            KeyInput::Terminal(_) => Some(pty::Pty::attach(&mut cmd)?),
            _ => None,
        };
        #[cfg(not(unix))]
        if let KeyInput::Terminal(_) = key {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "a pseudo-terminal is only available on Unix"));
        }

        let mut child = cmd.spawn()?;
        if let (KeyInput::Stdin(s), Some(mut stdin)) = (key, child.stdin.take()) {
            use std::io::Write;
            // A tool that exits before reading closes the pipe; that is its answer, not ours.
            let _ = stdin.write_all(s.expose().as_bytes());
        }
        #[cfg(unix)]
        if let (KeyInput::Terminal(s), Some(p)) = (key, &pty) {
            p.type_line(s.expose())?;
        }

        let out = wait_with_timeout(child, self.timeout)?;
        #[cfg(unix)]
        drop(pty);

        let scrub = |bytes: &[u8]| -> String {
            let text = String::from_utf8_lossy(bytes).into_owned();
            match secret {
                Some(s) => scrub_key(&text, s),
                None => text,
            }
        };
        Ok(ToolOutput { code: out.0, stdout: scrub(&out.1), stderr: scrub(&out.2) })
    }
}

/// Removes a key from tool output: every occurrence of it (hyphenated or not) and every
/// line that echoes a prompt (dislocker redraws "Enter the recovery password: 2358…"
/// as each digit arrives, so partial keys appear there).
pub(crate) fn scrub_key(text: &str, key: &Secret) -> String {
    let plain = Secret::new(key.expose().replace('-', ""));
    let kept: Vec<&str> = text
        .split(['\r', '\n'])
        .filter(|line| {
            let l = line.to_ascii_lowercase();
            !(l.contains("enter the") && (l.contains("password") || l.contains("key")))
        })
        .filter(|line| !line.trim().is_empty())
        .collect();
    redact(&kept.join("\n"), &[key, &plain])
}

type Collected = (Option<i32>, Vec<u8>, Vec<u8>);

/// Waits for the child, reading both pipes on threads so that neither fills up, and
/// kills it if it outlives `timeout`.
fn wait_with_timeout(mut child: std::process::Child, timeout: Duration) -> io::Result<Collected> {
    use std::io::Read;
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read_all(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = read_all(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // A daemonising tool (dislocker-fuse) may leave a grandchild holding the pipes for
    // a moment; the readers finish when it lets go.
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status.and_then(|s| s.code()), stdout, stderr))
}

#[cfg(unix)]
mod pty {
    //! A pseudo-terminal pair whose slave becomes the child's controlling terminal, so
    //! that a tool reading its key from `/dev/tty` can be given it without argv.
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;

    pub struct Pty {
        master: OwnedFd,
        // Kept open until the child is done, so typed input is never dropped for
        // want of a reader.
        _slave: OwnedFd,
    }

    fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    impl Pty {
        pub fn attach(cmd: &mut std::process::Command) -> io::Result<Pty> {
            // SAFETY: plain libc calls on descriptors we own; results are checked.
            unsafe {
                let m = check(libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC))?;
                let master = OwnedFd::from_raw_fd(m);
                check(libc::grantpt(m))?;
                check(libc::unlockpt(m))?;
                let mut name = [0 as libc::c_char; 128];
                let rc = libc::ptsname_r(m, name.as_mut_ptr(), name.len());
                if rc != 0 {
                    return Err(io::Error::from_raw_os_error(rc));
                }
                let s = check(libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC))?;
                let slave = OwnedFd::from_raw_fd(s);
                // No echo, no line editing: the key must not come back on the master side.
                let mut t: libc::termios = std::mem::zeroed();
                check(libc::tcgetattr(s, &mut t))?;
                libc::cfmakeraw(&mut t);
                check(libc::tcsetattr(s, libc::TCSANOW, &t))?;
                let slave_fd = slave.as_raw_fd();
                cmd.pre_exec(move || {
                    // New session without a terminal, then adopt the slave as its
                    // controlling terminal (what /dev/tty opens).
                    if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY as _, 0) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
                Ok(Pty { master, _slave: slave })
            }
        }

        pub fn type_line(&self, text: &str) -> io::Result<()> {
            let mut data = Vec::with_capacity(text.len() + 1);
            data.extend_from_slice(text.as_bytes());
            data.push(b'\n');
            let mut off = 0;
            while off < data.len() {
                // SAFETY: writing from a live buffer to a descriptor we own.
                let n = unsafe {
                    libc::write(self.master.as_raw_fd(), data[off..].as_ptr().cast(), data.len() - off)
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                off += n as usize;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A runner that replays canned outputs and records what was asked, for tests of
    //! the decision logic.
    use super::*;
    use std::cell::RefCell;

    pub struct Call {
        pub program: String,
        pub args: Vec<String>,
        /// What the key input was: "none", "stdin:<key>" or "terminal:<key>".
        pub key: String,
    }

    #[derive(Default)]
    pub struct FakeRunner {
        /// (program, argument that must appear, result); the first match answers.
        pub answers: Vec<(String, String, Result<ToolOutput, io::ErrorKind>)>,
        pub calls: RefCell<Vec<Call>>,
    }

    impl FakeRunner {
        pub fn answer(mut self, program: &str, arg: &str, code: i32, stdout: &str, stderr: &str) -> Self {
            self.answers.push((
                program.into(),
                arg.into(),
                Ok(ToolOutput { code: Some(code), stdout: stdout.into(), stderr: stderr.into() }),
            ));
            self
        }
        pub fn missing(mut self, program: &str) -> Self {
            self.answers.push((program.into(), String::new(), Err(io::ErrorKind::NotFound)));
            self
        }
        pub fn programs(&self) -> Vec<String> {
            self.calls.borrow().iter().map(|c| c.program.clone()).collect()
        }
    }

    impl CommandRunner for FakeRunner {
        fn run(&self, program: &str, args: &[OsString], key: KeyInput<'_>) -> io::Result<ToolOutput> {
            let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            self.calls.borrow_mut().push(Call {
                program: program.into(),
                args: args.clone(),
                key: match key {
                    KeyInput::None => "none".into(),
                    KeyInput::Stdin(s) => format!("stdin:{}", s.expose()),
                    KeyInput::Terminal(s) => format!("terminal:{}", s.expose()),
                    KeyInput::InArgs(s) => format!("args:{}", s.expose()),
                },
            });
            for (p, a, r) in &self.answers {
                if p == program && (a.is_empty() || args.iter().any(|x| x == a)) {
                    return r.clone().map_err(io::Error::from);
                }
            }
            panic!("unexpected call: {program} {args:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_drops_prompt_echoes_and_the_key() {
        let key = Secret::new("235818-357951-253979-013365-241120-245575-342914-591910");
        let text = "\rEnter the recovery password: 2358\rEnter the recovery password: 235818-357951-253979-013365-241120-245575-342914-591910\nValid password, continuing.\nkey was 235818357951253979013365241120245575342914591910\n";
        let s = scrub_key(text, &key);
        assert!(!s.contains("2358"), "{s}");
        assert!(s.contains("Valid password, continuing."), "{s}");
    }

    #[cfg(unix)]
    #[test]
    fn stdin_key_reaches_the_child_and_is_scrubbed_from_its_output() {
        let key = Secret::new("s3cret-key-value");
        let out = SystemRunner::default().run("cat", &[], KeyInput::Stdin(&key)).unwrap();
        assert!(out.success());
        assert_eq!(out.stdout, "***");
    }

    #[cfg(unix)]
    #[test]
    fn terminal_key_is_readable_from_dev_tty_and_not_from_argv() {
        // `head -c` on /dev/tty reads what was typed on the pseudo-terminal.
        let key = Secret::new("123456-654321");
        let out = SystemRunner::default()
            .run("sh", &args(["-c", "head -c 13 </dev/tty | tr 0-9 a-j"]), KeyInput::Terminal(&key))
            .unwrap();
        assert!(out.success(), "{out:?}");
        assert!(out.stdout.contains("bcdefg-gfedcb"), "{out:?}");
    }

    #[test]
    fn missing_tools_report_not_found() {
        let e = SystemRunner::default().run("driverepair-no-such-tool", &[], KeyInput::None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn slow_tools_are_killed_at_the_time_limit() {
        let r = SystemRunner { timeout: Duration::from_millis(200) };
        let out = r.run("sleep", &args(["5"]), KeyInput::None).unwrap();
        assert_eq!(out.code, None);
    }
}
