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

/// `--ceiling`: the ceiling of each direction is printed with the transfer medians of both
/// proxies as fractions of it (download against srv->cli, upload against cli->srv), judged
/// against 0.80 for i2psocks; a failed ceiling run is said, and no ceiling adds no rows.
#[test]
fn bench_ceiling_rows_give_fractions_of_the_ceiling() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/bench");
    let probe = format!(
        "import runpy\n\
         rows = runpy.run_path({script:?}, run_name='bench')['ceiling_rows']\n\
         step = lambda mbps: {{'size': 16384, 'loss': 0.012, 'goodput_mbps': mbps}}\n\
         res = {{'i2psocks': {{'download_MBps': {{'median': 4.5}}, 'upload_MBps': {{'median': 3.0}}}},\n\
         \x20      'i2pd': {{'download_MBps': {{'median': 3.0}}, 'upload_MBps': {{'median': 4.0}}}},\n\
         \x20      'ceiling': {{'download_path': step(5.0), 'upload_path': step(4.0)}}}}\n\
         for r in rows(res):\n\
         \x20   print(' | '.join(r))\n\
         res['ceiling'] = {{'error': 'boom'}}\n\
         print(len(rows(res)), rows(res)[0][0])\n\
         del res['ceiling']\n\
         print(rows(res))\n"
    );
    let Some(stdout) = run_probe(
        "bench_ceiling_rows_give_fractions_of_the_ceiling",
        Command::new("python3"),
        &probe,
    ) else {
        return;
    };
    assert_eq!(
        stdout,
        "ceiling, download path (raw 16384 B, loss 1.2 %) | 5.00 MB/s | 5.00 MB/s | - |  | \n\
         \x20 download as fraction of ceiling | 0.90 | 0.60 | 1.50 | >= 0.80 | pass\n\
         ceiling, upload path (raw 16384 B, loss 1.2 %) | 4.00 MB/s | 4.00 MB/s | - |  | \n\
         \x20 upload as fraction of ceiling | 0.75 | 1.00 | 0.75 | >= 0.80 | MISS\n\
         1 ceiling: failed (see the log)\n\
         []\n"
    );
}
