mod cmd_drives;

// TEMP: minimal dispatch for the drive commands until the lead wires the real parser.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter().find_map(|a| {
            let (k, v) = a.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.to_string())
        })
    };
    let result = match args.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("drives") => cmd_drives::drives(args.iter().any(|a| a.eq_ignore_ascii_case("/json"))),
        Some("unlock") => match (opt("/drive"), opt("/bk")) {
            (Some(d), Some(k)) => cmd_drives::unlock(&d, &k, opt("/mount").as_deref()),
            _ => {
                eprintln!("usage: driverepair Unlock /drive:<X: | /dev/...> /bk:<key | -> [/mount:<dir>]");
                Ok(cmd_drives::EXIT_USAGE)
            }
        },
        _ => {
            eprintln!("usage: driverepair Drives [/json] | Unlock /drive:<X: | /dev/...> /bk:<key | -> [/mount:<dir>]");
            Ok(cmd_drives::EXIT_USAGE)
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1)
        }
    }
}
