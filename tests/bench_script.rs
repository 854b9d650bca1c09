//! `contrib/bench` reports the i2pd it actually ran: the one `I2PD=` names for the testbed,
//! not the one on the default path.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const BENCH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/bench");

/// Runs `python` (a `python3` command) on `body`, with `contrib/bench` loaded as the dict `m`
/// (its functions by name; its `main` is not run), and returns its stdout; `None` after a
/// loud skip when python3 is not installed. Panics when the probe fails.
fn run_probe(test: &str, mut python: Command, body: &str) -> Option<String> {
    let probe = format!("import runpy\nm = runpy.run_path({BENCH:?}, run_name='bench')\n{body}");
    let out = match python.args(["-c", &probe]).output() {
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
    let probe =
        "machine = m['machine'](); print(machine['i2pd_binary']); print(machine['i2pd_version'])";
    let mut python = Command::new("python3");
    python.env("I2PD", &fake);
    let Some(stdout) = run_probe("bench_reports_the_i2pd_named_by_i2pd_env", python, probe) else {
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
    let probe = "t = m['table']\n\
         def res(beside, rss_kib, opened):\n\
         \x20   return {'many_streams': {'n': 10000, 'open': opened, 'rss_KiB': rss_kib,\n\
         \x20       'rss_idle_KiB': 6000, 'rss_after_close_KiB': 9000, 'alive_of_100': 100,\n\
         \x20       'alone_MBps': [10.0, 10.0], 'beside_MBps': [beside], 'i2pd_MBps': [5.0],\n\
         \x20       'i2psocks_cpu_s_per_GiB': 3.5}}\n\
         for r in (res(9.5, 150 * 1024, 10000), res(8.0, 150 * 1024, 10000),\n\
         \x20         res(9.5, 250 * 1024, 10000), res(9.5, 150 * 1024, 9999)):\n\
         \x20   rows = [l for l in t(r, True).splitlines() if 'beside' in l or 'RSS with' in l]\n\
         \x20   print(' '.join('pass' if l.rstrip(' |').endswith('pass') else 'MISS' for l in rows))\n";
    let Some(stdout) = run_probe(
        "bench_many_streams_table_judges_both_targets",
        Command::new("python3"),
        probe,
    ) else {
        return;
    };
    assert_eq!(stdout, "pass pass\nMISS pass\npass MISS\npass MISS\n");
}

/// The footer names the client router the testbed ran (its env file's CLI_ROUTER_PATH,
/// by that binary's own `--version`), whatever `I2PD` or `PATH` say.
#[test]
fn bench_names_the_client_router_that_ran() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("i2pd");
    std::fs::write(&fake, "#!/bin/sh\necho 'i2pd version 9.99.8 (0.9.98)'\n").expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let probe = format!(
        "print(m['router_run']({{'CLI_ROUTER': 'i2pd-9.99.8', 'CLI_ROUTER_PATH': {fake:?}}}))\n\
         print(m['router_run']({{'CLI_ROUTER': 'java-2.7.0', 'CLI_ROUTER_PATH': '/jars'}}))\n",
        fake = fake.display().to_string()
    );
    let mut python = Command::new("python3");
    python.env("I2PD", "/nonexistent/i2pd");
    let Some(stdout) = run_probe("bench_names_the_client_router_that_ran", python, &probe) else {
        return;
    };
    assert_eq!(
        stdout,
        format!(
            "i2pd version 9.99.8 (0.9.98) at {}\njava-2.7.0 at /jars\n",
            fake.display()
        )
    );
}

/// At 2-3 hops the sizes shrink (unless given), the testbed gets the hops, relays and one
/// extra floodfill, and the defaults of the zero-hop profile stay as they were.
#[test]
fn bench_profile_sizes_and_testbed_options() {
    let probe = "import argparse\n\
         def ns(**kw):\n\
         \x20   base = dict(download_mib=None, upload_mib=None, ttfb_runs=None, echo_rounds=None,\n\
         \x20               idle_streams=None, runs=None, hops=None, relays=0, floodfills=None)\n\
         \x20   base.update(kw)\n\
         \x20   a = argparse.Namespace(**base)\n\
         \x20   m['apply_profile'](a)\n\
         \x20   return a\n\
         a = ns(hops=3, relays=6, upload_mib=2)\n\
         print(a.download_mib, a.upload_mib, a.ttfb_runs, a.runs, ' '.join(m['testbed_up_args'](a)))\n\
         a = ns()\n\
         print(a.download_mib, a.upload_mib, a.ttfb_runs, a.runs, ' '.join(m['testbed_up_args'](a)))\n\
         a = ns(hops=1, relays=3, floodfills=2)\n\
         print(a.download_mib, ' '.join(m['testbed_up_args'](a)))\n";
    let Some(stdout) = run_probe(
        "bench_profile_sizes_and_testbed_options",
        Command::new("python3"),
        probe,
    ) else {
        return;
    };
    assert_eq!(
        stdout,
        "2 2 40 5 --big-mib 2 --hops 3 --relays 6 --floodfills 1\n\
         50 20 100 7 --big-mib 50\n\
         50 --big-mib 50 --hops 1 --relays 3 --floodfills 2\n"
    );
}

/// At 3 hops TTFB must not exceed i2pd's (no slack), throughput must reach 1.2x, and any
/// stalled or failed transfer of i2psocks misses; i2pd's stalls are shown, not judged.
#[test]
fn bench_three_hop_targets_and_stall_count() {
    let probe = "def side(ttfb, mbps, stalled, failed):\n\
         \x20   st = {'n': 5, 'stalled': stalled, 'failed': failed, 'errors': []}\n\
         \x20   return {'ttfb_ms': {'p50': ttfb, 'p95': ttfb, 'n': 40}, 'echo_ms': {'p50': 1.0, 'p95': 1.0, 'n': 60},\n\
         \x20       'download_MBps': {'median': mbps, 'runs': [mbps] * 5, 'bytes': 8 << 20},\n\
         \x20       'upload_MBps': {'median': mbps, 'runs': [mbps] * 5, 'bytes': 4 << 20},\n\
         \x20       'stalls': {'download': st, 'upload': st},\n\
         \x20       'concurrent': {'n': 100, 'rounds': 3, 'wall_s_median': 1.0, 'failures': 0},\n\
         \x20       'rss_idle_KiB': 5000, 'rss_idle_after_load_KiB': 5000,\n\
         \x20       'idle_streams': {'n': 200, 'open': 200, 'rss_KiB': 9000},\n\
         \x20       'cpu': {'i2psocks_s_per_GiB': 1.0, 'client_side_s_per_GiB': 2.0}}\n\
         def verdicts(o, r, hops):\n\
         \x20   res = {'i2psocks': o, 'i2pd': r, 'profile': {'hops': hops}}\n\
         \x20   keep = ('TTFB 1 KiB GET p50', 'download 8', 'upload 4', '  downloads', '  uploads')\n\
         \x20   return ' '.join(x[5] or '-' for x in m['rows'](res) if x[0].startswith(keep))\n\
         print(verdicts(side(100.0, 1.2, 0, 0), side(100.0, 1.0, 2, 1), 3))\n\
         print(verdicts(side(100.3, 1.19, 1, 0), side(100.0, 1.0, 0, 0), 3))\n\
         print(verdicts(side(100.3, 1.19, 0, 1), side(100.0, 1.0, 0, 0), 0))\n\
         print([x[1:3] for x in m['rows']({'i2psocks': side(1, None, 1, 5), 'i2pd': side(1, 1.0, 2, 1),\n\
         \x20      'profile': {'hops': 3}}) if x[0].startswith('  uploads')][0])\n";
    let Some(stdout) = run_probe(
        "bench_three_hop_targets_and_stall_count",
        Command::new("python3"),
        probe,
    ) else {
        return;
    };
    assert_eq!(
        stdout,
        "pass pass pass pass pass\n\
         MISS MISS MISS MISS MISS\n\
         pass MISS MISS - -\n\
         ('stalled 1 of 5, 5 failed', 'stalled 2 of 5, 1 failed')\n"
    );
}

/// `--ceiling`: the ceiling of each direction is printed with the transfer medians of both
/// proxies as fractions of it (download against srv->cli, upload against cli->srv), judged
/// against 0.80 for i2psocks; a failed ceiling run is said, and no ceiling adds no rows.
/// With a POST row (one way, cli->srv) the upload path is judged by it, not by the echo.
#[test]
fn bench_ceiling_rows_give_fractions_of_the_ceiling() {
    let probe = "rows = m['ceiling_rows']\n\
         step = lambda mbps: {'size': 16384, 'loss': 0.012, 'goodput_mbps': mbps}\n\
         res = {'i2psocks': {'download_MBps': {'median': 4.5}, 'upload_MBps': {'median': 3.0}},\n\
         \x20      'i2pd': {'download_MBps': {'median': 3.0}, 'upload_MBps': {'median': 4.0}},\n\
         \x20      'ceiling': {'download_path': step(5.0), 'upload_path': step(4.0)}}\n\
         for r in rows(res):\n\
         \x20   print(' | '.join(r))\n\
         res['ceiling'] = {'error': 'boom'}\n\
         print(len(rows(res)), rows(res)[0][0])\n\
         del res['ceiling']\n\
         print(rows(res))\n\
         res['ceiling'] = {'download_path': step(5.0), 'upload_path': step(4.0)}\n\
         res['i2psocks']['post_MBps'] = {'median': 3.6}\n\
         res['i2pd']['post_MBps'] = {'median': 2.0}\n\
         print(' | '.join(rows(res)[3]))\n";
    let Some(stdout) = run_probe(
        "bench_ceiling_rows_give_fractions_of_the_ceiling",
        Command::new("python3"),
        probe,
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
         []\n\
         \x20 upload (POST) as fraction of ceiling | 0.90 | 0.50 | 1.80 | >= 0.80 | pass\n"
    );
}

/// `http_post` sends the whole payload through a SOCKS5 CONNECT and accepts only the sink's
/// answer of that payload's sha256 and length; a sink that saw other bytes is an error.
/// The proxy and sink here are one loopback thread that speaks just enough of both.
#[test]
fn bench_post_checks_the_sinks_digest() {
    let probe = "import hashlib, socket, threading\n\
         def serve(lsock, lie):\n\
         \x20   c, _ = lsock.accept()\n\
         \x20   rx = m['recv_exact']\n\
         \x20   rx(c, 3); c.sendall(b'\\x05\\x00')\n\
         \x20   head = rx(c, 5); rx(c, head[4] + 2)\n\
         \x20   c.sendall(b'\\x05\\x00\\x00\\x01' + bytes(6))\n\
         \x20   req = b''\n\
         \x20   while b'\\r\\n\\r\\n' not in req:\n\
         \x20       req += c.recv(1)\n\
         \x20   n = int([l.split(b':')[1] for l in req.split(b'\\r\\n') if l.lower().startswith(b'content-length')][0])\n\
         \x20   body = rx(c, n)\n\
         \x20   digest = hashlib.sha256(body[:-1] if lie else body).hexdigest()\n\
         \x20   c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 80\\r\\n\\r\\n' + ('%s %d\\n' % (digest, n)).encode())\n\
         \x20   c.close()\n\
         payload = bytes(range(256)) * 8192\n\
         sha = hashlib.sha256(payload).hexdigest()\n\
         for lie in (False, True):\n\
         \x20   lsock = socket.socket(); lsock.bind(('127.0.0.1', 0)); lsock.listen(1)\n\
         \x20   threading.Thread(target=serve, args=(lsock, lie), daemon=True).start()\n\
         \x20   try:\n\
         \x20       secs = m['http_post'](lsock.getsockname()[1], 'sink.i2p', payload, sha)\n\
         \x20       print('ok', secs > 0)\n\
         \x20   except ConnectionError as e:\n\
         \x20       print('error', str(e)[:23])\n";
    let Some(stdout) = run_probe(
        "bench_post_checks_the_sinks_digest",
        Command::new("python3"),
        probe,
    ) else {
        return;
    };
    assert_eq!(stdout, "ok True\nerror POST: the sink answered\n");
}
