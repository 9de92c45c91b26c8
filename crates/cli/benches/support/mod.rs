//! Helpers shared by the CLI benchmarks (not a benchmark itself: cargo only picks up
//! `benches/*.rs` and `benches/*/main.rs`).

use std::path::PathBuf;

pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The binary cargo builds for the benchmark (the bench profile, which inherits
/// `release`); DRIVEREPAIR_BIN overrides it.
pub fn driverepair_bin() -> PathBuf {
    std::env::var_os("DRIVEREPAIR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_driverepair")))
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub fn median<T: Copy + PartialOrd>(v: &[T]) -> T {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
