//! The WAImportExport-style command line: `driverepair <Command> /name:value ... /Flag`.
//!
//! - Parameter names are case-insensitive.
//! - A value runs to the end of its argument, colons included (`/d:G:\`,
//!   `/BlobEndpoint:http://127.0.0.1:10000/devstoreaccount1`).
//! - Unknown, repeated or missing parameters are usage errors (exit code 2).

use std::collections::BTreeMap;

/// A parsed command: its canonical name and its parameters by lower-case name.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    pub name: &'static str,
    values: BTreeMap<String, String>,
    flags: Vec<String>,
}

/// What a command accepts.
pub struct Spec {
    pub name: &'static str,
    /// Parameters that take a value (`/name:value`), with whether each is required.
    pub params: &'static [(&'static str, bool)],
    /// Parameters without a value (`/DryRun`).
    pub flags: &'static [&'static str],
}

pub const REPAIR_EXPORT: Spec = Spec {
    name: "RepairExport",
    params: &[
        ("r", true),
        ("d", true),
        ("sn", true),
        ("sk", false),
        ("csas", false),
        ("CopyLogFile", true),
        ("ManifestFile", false),
        ("logdir", false),
        ("bk", false),
        ("BlobEndpoint", false),
        ("report", false),
    ],
    flags: &["DryRun", "RefetchChanged"],
};

pub const VERIFY: Spec = Spec {
    name: "Verify",
    params: &[("d", true), ("ManifestFile", true), ("logdir", false), ("report", false)],
    flags: &[],
};

pub const DRIVES: Spec = Spec {
    name: "Drives",
    params: &[],
    flags: &["json"],
};

pub const UNLOCK: Spec = Spec {
    name: "Unlock",
    params: &[("drive", true), ("bk", true), ("mount", false)],
    flags: &[],
};

pub const COMMANDS: [&Spec; 4] = [&REPAIR_EXPORT, &VERIFY, &DRIVES, &UNLOCK];

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Help,
    Version,
    Run(Command),
}

/// A usage error, in plain words; the caller prints it with the usage text.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn parse(args: &[String]) -> Result<Invocation, UsageError> {
    let Some(first) = args.first() else {
        return Err(UsageError("no command given".into()));
    };
    if is_help(first) {
        return Ok(Invocation::Help);
    }
    if matches!(first.as_str(), "--version" | "-V" | "/version") {
        return Ok(Invocation::Version);
    }
    let command_word = first.trim_start_matches('/');
    let spec = COMMANDS
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(command_word))
        .ok_or_else(|| UsageError(format!("unknown command {first:?}")))?;
    if args[1..].iter().any(|a| is_help(a)) {
        return Ok(Invocation::Help);
    }

    let mut values = BTreeMap::new();
    let mut flags = Vec::new();
    for arg in &args[1..] {
        let body = arg
            .strip_prefix('/')
            .or_else(|| arg.strip_prefix("--"))
            .or_else(|| arg.strip_prefix('-'))
            .ok_or_else(|| UsageError(format!("{arg:?} is not a parameter; parameters look like /name:value")))?;
        let (name, value) = match body.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let canonical_param = spec.params.iter().find(|(p, _)| p.eq_ignore_ascii_case(name));
        let canonical_flag = spec.flags.iter().find(|f| f.eq_ignore_ascii_case(name));
        match (canonical_param, canonical_flag, value) {
            (Some((p, _)), _, Some(v)) => {
                if v.is_empty() {
                    return Err(UsageError(format!("/{p}: needs a value")));
                }
                if values.insert(p.to_ascii_lowercase(), v.to_string()).is_some() {
                    return Err(UsageError(format!("/{p}: is given more than once")));
                }
            }
            (Some((p, _)), _, None) => return Err(UsageError(format!("/{p}: needs a value, as /{p}:<value>"))),
            (None, Some(f), None) => {
                let f = f.to_ascii_lowercase();
                if flags.contains(&f) {
                    return Err(UsageError(format!("/{name} is given more than once")));
                }
                flags.push(f);
            }
            (None, Some(f), Some(_)) => return Err(UsageError(format!("/{f} takes no value"))),
            (None, None, _) => {
                return Err(UsageError(format!("unknown parameter /{name} for {}", spec.name)))
            }
        }
    }
    for (p, required) in spec.params {
        if *required && !values.contains_key(&p.to_ascii_lowercase()) {
            return Err(UsageError(format!("{} needs /{p}:", spec.name)));
        }
    }
    Ok(Invocation::Run(Command { name: spec.name, values, flags }))
}

fn is_help(a: &str) -> bool {
    matches!(a, "--help" | "-h" | "/?" | "/help" | "help" | "-?")
}

impl Command {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
    /// A required value: [`parse`] has checked that it is present.
    pub fn req(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name.to_ascii_lowercase())
    }
}

pub const USAGE: &str = "\
Drive Repair: checks and repairs drives returned by an Azure Import/Export export job.

Usage:
  driverepair RepairExport /r:<RepairFile> /d:<TargetDirectory> /sn:<StorageAccountName>
                           (/sk:<StorageAccountKey> | /csas:<ContainerSas>) /CopyLogFile:<DriveCopyLogFile>
                           [/ManifestFile:<DriveManifestFile>] [/logdir:<LogDirectory>] [/bk:<BitLockerKey>]
                           [/BlobEndpoint:<url>] [/report:<summary.json>] [/DryRun] [/RefetchChanged]
  driverepair Verify /d:<TargetDirectory> /ManifestFile:<DriveManifestFile> [/logdir:<dir>] [/report:<summary.json>]
  driverepair Drives [/json]
  driverepair Unlock /drive:<X: | /dev/...> /bk:<BitLockerKey> [/mount:<dir>]
  driverepair --help | --version

Parameter names are case-insensitive; a value runs to the end of its argument, colons included.

RepairExport fetches what the copy log lists as failed and writes only bytes whose MD5 checks out.
With /ManifestFile it then verifies the whole drive and fetches again whatever still fails.
The repair file (/r:) records progress: run the same command again to resume.
/DryRun shows the plan without writing anything. /RefetchChanged downloads whole any blob that
changed after the export (otherwise such blobs are reported as BlobUnexpectedChange).
Verify checks the drive against its manifest offline: no credentials, no network.

Exit codes:
  0  everything repaired and verified (regenerated properties files are warnings)
  1  finished, but some components are still bad (each is listed, unsafe paths included),
     or the run stopped on a local problem such as a full disk (free space, run it again)
  2  bad usage or input: malformed XML, unsafe path, repair file of another drive, drive ID mismatch
  3  storage access or authentication failure, before anything was written
  4  Unlock: BitLocker key invalid
  5  Unlock: not a BitLocker volume, or the volume was not found
  6  Unlock: unlocking failed for another reason
  130 interrupted (Ctrl-C); run the same command again to resume
";

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn run(args: &[&str]) -> Command {
        match parse(&v(args)).unwrap() {
            Invocation::Run(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_are_case_insensitive_and_values_keep_colons() {
        let c = run(&[
            "repairexport",
            "/R:rep.db",
            "/d:G:\\",
            "/SN:devstoreaccount1",
            "/sk:abc==",
            "/copylogfile:log.xml",
            "/BLOBENDPOINT:http://127.0.0.1:10000/devstoreaccount1",
            "/dryrun",
        ]);
        assert_eq!(c.name, "RepairExport");
        assert_eq!(c.get("r"), Some("rep.db"));
        assert_eq!(c.get("d"), Some("G:\\"));
        assert_eq!(c.get("BlobEndpoint"), Some("http://127.0.0.1:10000/devstoreaccount1"));
        assert!(c.flag("DryRun"));
        assert!(!c.flag("RefetchChanged"));
    }

    #[test]
    fn unknown_parameter_is_a_usage_error() {
        let e = parse(&v(&["Verify", "/d:x", "/ManifestFile:m", "/bogus:1"])).unwrap_err();
        assert!(e.0.contains("unknown parameter /bogus"), "{e}");
    }

    #[test]
    fn missing_required_parameter_is_a_usage_error() {
        let e = parse(&v(&["Verify", "/d:x"])).unwrap_err();
        assert!(e.0.contains("/ManifestFile"), "{e}");
    }

    #[test]
    fn repeated_parameter_is_a_usage_error() {
        assert!(parse(&v(&["Verify", "/d:x", "/D:y", "/ManifestFile:m"])).is_err());
    }

    #[test]
    fn help_anywhere_wins() {
        assert_eq!(parse(&v(&["--help"])).unwrap(), Invocation::Help);
        assert_eq!(parse(&v(&["RepairExport", "--help"])).unwrap(), Invocation::Help);
    }

    #[test]
    fn unknown_command_and_bare_words_are_usage_errors() {
        assert!(parse(&v(&["Repair"])).is_err());
        assert!(parse(&v(&["Verify", "d:x"])).is_err());
        assert!(parse(&v(&[])).is_err());
    }

    #[test]
    fn flag_with_value_and_param_without_value_are_usage_errors() {
        assert!(parse(&v(&["Drives", "/json:yes"])).is_err());
        assert!(parse(&v(&["Verify", "/d", "/ManifestFile:m"])).is_err());
    }
}
