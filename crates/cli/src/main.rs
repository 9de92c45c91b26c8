//! `driverepair`: the command-line front end of the Drive Repair engine.
//!
//! This binary only parses arguments, prints progress and maps outcomes to exit codes
//! (documented in [`args::USAGE`] and the README). All the work is the engine's.

mod args;
mod cmd_drives;
mod cmd_repair;
mod output;

use args::{Invocation, USAGE};
use engine::ErrorKind;

/// Exit codes (the README documents them).
pub mod exit {
    pub const OK: i32 = 0;
    pub const STILL_BAD: i32 = 1;
    pub const USAGE_OR_INPUT: i32 = 2;
    pub const STORAGE: i32 = 3;
    pub const KEY_INVALID: i32 = 4;
    pub const NOT_BITLOCKER: i32 = 5;
    pub const UNLOCK_FAILED: i32 = 6;
    pub const INTERRUPTED: i32 = 130;
}

/// The exit code for an engine error that stopped a run.
pub fn exit_code_for(kind: ErrorKind) -> i32 {
    use ErrorKind::*;
    match kind {
        Usage | MalformedInput | ImportNotSupported | UnsafePath | DriveMismatch
        | RepairFileMismatch | BitLockerKeyMalformed => exit::USAGE_OR_INPUT,
        StorageForbidden | StorageUnreachable | BlobNotFound | Network => exit::STORAGE,
        BitLockerKeyInvalid => exit::KEY_INVALID,
        NotBitLocker => exit::NOT_BITLOCKER,
        UnlockFailed => exit::UNLOCK_FAILED,
        Cancelled => exit::INTERRUPTED,
        Io | DiskFull | BlobChanged | HashMismatch | Unsupported | Internal => exit::STILL_BAD,
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match args::parse(&argv) {
        Ok(Invocation::Help) => {
            print!("{USAGE}");
            exit::OK
        }
        Ok(Invocation::Version) => {
            println!("driverepair {}", env!("CARGO_PKG_VERSION"));
            exit::OK
        }
        Ok(Invocation::Run(cmd)) => match run(cmd) {
            Ok(code) => code,
            Err(e) => {
                // anyhow only at this edge: anything unexpected is reported, never a panic trace.
                eprintln!("error: {e:#}");
                exit::STILL_BAD
            }
        },
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            exit::USAGE_OR_INPUT
        }
    };
    std::process::exit(code);
}

fn run(cmd: args::Command) -> anyhow::Result<i32> {
    match cmd.name {
        "RepairExport" => cmd_repair::repair_export(&cmd),
        "Verify" => cmd_repair::verify(&cmd),
        "Drives" => cmd_drives::drives(cmd.flag("json")),
        "Unlock" => cmd_drives::unlock(cmd.req("drive"), cmd.req("bk"), cmd.get("mount")),
        other => unreachable!("command {other} has a spec but no handler"),
    }
}
