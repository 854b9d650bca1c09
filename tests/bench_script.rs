//! `contrib/bench` reports the i2pd it actually ran: the one `I2PD=` names for the testbed,
//! not the one on the default path.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Runs `python` (a `python3` command) with `-c probe` and returns its stdout; `None` after
/// a loud skip when python3 is not installed. Panics when the probe fails.
fn run_probe(test: &str, mut python: Command, probe: &str) -> Option<String> {
    let out = match python.args(["-c", probe]).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: {test}: no python3");
            return None;
        }
        Err(e) => panic!("python3: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(stdout)
}

#[test]
fn bench_reports_the_i2pd_named_by_i2pd_env() {
    // A stand-in i2pd build whose `--version` no real i2pd prints.
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("i2pd");
    std::fs::write(&fake, "#!/bin/sh\necho 'i2pd version 9.99.9 (0.9.99)'\n").expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/bench");
    let probe = format!(
        "import runpy; m = runpy.run_path({script:?}, run_name='bench')['machine'](); \
         print(m['i2pd_binary']); print(m['i2pd_version'])"
    );
    let mut python = Command::new("python3");
    python.env("I2PD", &fake);
    let Some(stdout) = run_probe("bench_reports_the_i2pd_named_by_i2pd_env", python, &probe) else {
        return;
    };
    assert_eq!(
        stdout,
        format!("{}\ni2pd version 9.99.9 (0.9.99)\n", fake.display())
    );
}

/// `--many-streams` judges its two targets: a download beside the idle streams keeps at
/// least 90 % of its speed alone, and i2psocks stays within 200 MiB with all of them open.
#[test]
fn bench_many_streams_table_judges_both_targets() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/bench");
    let probe = format!(
        "import runpy\n\
         t = runpy.run_path({script:?}, run_name='bench')['table']\n\
         def res(beside, rss_kib, opened):\n\
         \x20   return {{'many_streams': {{'n': 10000, 'open': opened, 'rss_KiB': rss_kib,\n\
         \x20       'rss_idle_KiB': 6000, 'rss_after_close_KiB': 9000, 'alive_of_100': 100,\n\
         \x20       'alone_MBps': [10.0, 10.0], 'beside_MBps': [beside], 'i2pd_MBps': [5.0],\n\
         \x20       'i2psocks_cpu_s_per_GiB': 3.5}}}}\n\
         for r in (res(9.5, 150 * 1024, 10000), res(8.0, 150 * 1024, 10000),\n\
         \x20         res(9.5, 250 * 1024, 10000), res(9.5, 150 * 1024, 9999)):\n\
         \x20   rows = [l for l in t(r, True).splitlines() if 'beside' in l or 'RSS with' in l]\n\
         \x20   print(' '.join('pass' if l.rstrip(' |').endswith('pass') else 'MISS' for l in rows))\n"
    );
    let Some(stdout) = run_probe(
        "bench_many_streams_table_judges_both_targets",
        Command::new("python3"),
        &probe,
    ) else {
        return;
    };
    assert_eq!(stdout, "pass pass\nMISS pass\npass MISS\npass MISS\n");
}
