//! Router faults on the real testbed: the client router killed with SIGKILL in the middle of
//! a 50 MiB download and kept away for a while, then started again.
//!
//! i2pd's own SOCKS proxy cannot survive this (it *is* the router); i2psocks must close the
//! client's connection promptly, stay idle (no busy loop, flat memory) while the router is
//! gone, and serve new connections with the same address soon after the router is back.
//!
//! Needs root and /usr/sbin/i2pd (see tests/e2e_router.rs). `I2PSOCKS_FAULT_DOWN_SECS`
//! sets how long the router stays down (default 60; contrib/reliability.sh uses 300).

mod common;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    LogReader, NsChild, Router, Testbed, UpOptions, file_len, framed_log, log_lines_since, log_text,
};

const POLL: Duration = Duration::from_millis(100);

/// (utime + stime in seconds, VmRSS in KiB) of a process.
fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat (utime, stime), counted after "pid (comm) ".
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    // USER_HZ is 100 on every Linux configuration Debian ships.
    (ticks as f64 / 100.0, rss)
}

fn cli_router_pid(tb: &Testbed) -> u32 {
    let text = std::fs::read_to_string(tb.dir().join("pids/cli")).expect("cli pid file");
    text.trim().parse().expect("numeric pid")
}

/// A download through i2psocks in the background, rate-limited so a router can be
/// stopped in the middle of it.
fn start_download(tb: &Testbed, url: &str, out: &Path) -> Child {
    tb.curl(tb.i2psocks_port(), url)
        .limit_rate("4M")
        .max_secs(120)
        .output(out)
        .spawn()
}

/// Wait until the download in `out` has 4 MiB, still running. How fast it gets there
/// depends on the routers and the machine's load: the wait goes on while the file grows,
/// and gives up once it stood still for 60 s (or after four times that).
fn wait_for_progress(download: &mut Child, out: &Path) {
    let what = format!("4 MiB of the download in {}", out.display());
    let patience = common::Patience::stall(Duration::from_secs(60));
    let watched = [out.to_path_buf()];
    let outcome = common::wait_following(&what, patience, &watched, || {
        if download.try_wait().expect("poll curl").is_some() {
            return Ok(Err("download ended early".to_owned()));
        }
        let have = file_len(out);
        if have >= 4 << 20 {
            Ok(Ok(()))
        } else {
            Err(format!("{have} bytes so far"))
        }
    });
    match outcome {
        Ok((Ok(()), _)) => {}
        Ok((Err(e), _)) | Err(e) => panic!("{e}"),
    }
}

/// Poll `child` until it exits; fail with `hang` if it still runs `limit` after `since`.
fn wait_for_exit(child: &mut Child, since: Instant, limit: Duration, hang: &str) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("poll curl") {
            return status;
        }
        assert!(since.elapsed() < limit, "{hang}");
        thread::sleep(POLL);
    }
}

fn print_log(child: &NsChild) {
    eprintln!("{}", framed_log("i2psocks", child.log_path()));
}

#[test]
fn client_router_killed_during_download() {
    if common::skip_without_real_router("client_router_killed_during_download") {
        return;
    }
    let down_secs: u64 = std::env::var("I2PSOCKS_FAULT_DOWN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let tb = Testbed::up_with(&UpOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = tb.i2psocks_command("info");
    cmd.args(["--socksproxy.keys=socks-keys.dat"]);
    let mut proxy = tb
        .spawn_in_ns(&cmd, "i2psocks")
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = proxy.id();
    let result = std::panic::catch_unwind(|| run_fault(&tb, pid, down_secs));
    print_log(&proxy);
    let log = log_text(proxy.log_path());
    // Detours (fresh destinations for a server that stopped answering, src/detour.rs) are
    // not the proxy's destination. After the router's restart the first SYNs may go
    // unanswered and open one (CI, i2pd 2.59.0); a detour also gets around state about our
    // old LeaseSet elsewhere (without one, the first 200 once took 134 s on i2pd 2.56.0).
    let detours: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("go from the fresh destination ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let sessions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("I2CP session created"))
        .filter_map(|l| l.split("b32=").nth(1))
        .filter(|b32| !detours.contains(b32))
        .collect();
    println!("detours opened: {detours:?}");
    assert!(
        sessions.len() >= 2,
        "expected a second session: {sessions:?}"
    );
    assert!(
        sessions.iter().all(|b32| *b32 == sessions[0]),
        "the destination changed: {sessions:?}"
    );
    assert!(
        proxy.wait_timeout(Duration::ZERO).is_none(),
        "i2psocks must still be running"
    );
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn run_fault(tb: &Testbed, pid: u32, down_secs: u64) {
    let small = format!("http://{}/1k.bin", tb.web_b32());
    let big = format!("http://{}/big.bin", tb.web_b32());
    let ready = tb
        .wait_for_200(tb.i2psocks_port(), &small, Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e}"));
    println!("i2psocks usable after {ready:.2?}");

    // 1. SIGKILL the client router in the middle of a download.
    let out = tb.dir().join("partial.bin");
    let mut download = start_download(tb, &big, &out);
    wait_for_progress(&mut download, &out);
    let killed_at = Instant::now();
    let status = Command::new("kill")
        .args(["-KILL", &cli_router_pid(tb).to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let finished = wait_for_exit(
        &mut download,
        killed_at,
        Duration::from_secs(10),
        "the SOCKS client still hangs 10 s after the router died",
    );
    let closed_after = killed_at.elapsed();
    assert!(!finished.success(), "a cut download must not look complete");
    println!(
        "router killed at {} MiB: client saw the close after {closed_after:.2?}",
        file_len(&out) >> 20
    );
    // i2psocks' own behaviour: the kernel closes the router's sockets at the kill, and
    // i2psocks passes that on to its clients: about 0.1 s on a quiet machine
    // (RELIABILITY.md), 0.7 s at a load average of 26 on two cores, so 2 s still leaves
    // a busier machine's scheduling room, far below a hang (10 s, above).
    assert!(
        closed_after <= Duration::from_secs(2),
        "the open client saw the close only after {closed_after:.2?} (limit 2 s)"
    );

    // 2. Router away: new requests fail at once with SOCKS5 reply 01 (general failure: the
    // problem is ours, not the target's), i2psocks stays idle and flat.
    let refused = tb.curl(tb.i2psocks_port(), &small).max_secs(20).run();
    println!(
        "request while the router is down failed after {:.2?}: {}",
        refused.wall,
        refused.stderr.trim()
    );
    assert_eq!(refused.code, "000");
    // curl: "Can't complete SOCKS5 connection to HOST. (REP)".
    assert!(
        refused.stderr.contains(". (1)"),
        "expected SOCKS5 reply 01: {}",
        refused.stderr
    );
    // i2psocks' own behaviour: no router to wait for, so the refusal is immediate (about
    // 0.1 s here, RELIABILITY.md). Judged on curl's own transfer time, not the wall time,
    // which adds starting `ip netns exec` and curl on a loaded machine.
    let refused_secs = Duration::from_secs_f64(refused.seconds);
    assert!(
        refused_secs <= Duration::from_secs(2),
        "a request while the router is down took {refused_secs:.2?} to fail (wall {:.2?})",
        refused.wall
    );
    let (cpu0, rss0) = cpu_and_rss(pid);
    let away = Instant::now();
    while away.elapsed() < Duration::from_secs(down_secs) {
        thread::sleep(Duration::from_secs(1));
    }
    let (cpu1, rss1) = cpu_and_rss(pid);
    println!(
        "router down {down_secs} s: i2psocks used {:.2} s CPU, RSS {rss0} -> {rss1} KiB",
        cpu1 - cpu0
    );
    assert!(
        cpu1 - cpu0 < 0.02 * down_secs as f64,
        "busy loop while the router is down"
    );
    assert!(rss1 < rss0 + 2048, "memory grows while the router is down");

    // 3. Router back: same destination, new connections work soon. i2pd's own SOCKS proxy
    // on the restarted router is measured alongside: both wait for the router to build
    // tunnels for a new destination (i2pd manages tunnel pools every 5 s and retries a
    // LeaseSet request 5 s later when the outbound tunnel is not there yet,
    // libi2pd/Tunnel.cpp and libi2pd_client/I2CP.cpp), which a loaded machine stretches.
    tb.start_router(Router::Cli)
        .unwrap_or_else(|e| panic!("{e}"));
    let back_at = Instant::now();
    let (mut ours, mut reference) = (None, None);
    // Waiting for i2psocks' first 200 is waiting for the router's tunnels: it goes on while
    // the testbed's logs grow or an answer changes (stall limit 90 s, up to four times
    // that). i2pd's own proxy is polled in turn, as the measure of the router; the
    // assertion is the comparison below.
    let what = "a first 200 through i2psocks after the router's return";
    let patience = common::Patience::stall(Duration::from_secs(90));
    common::wait_following(what, patience, &tb.progress_logs(), || {
        if ours.is_none() && tb.curl(tb.i2psocks_port(), &small).max_secs(5).run().ok() {
            ours = Some(back_at.elapsed());
        }
        if reference.is_none() && tb.reference_curl(&small).max_secs(5).run().ok() {
            reference = Some(back_at.elapsed());
        }
        ours.ok_or_else(|| format!("i2psocks {ours:?}, i2pd {reference:?}"))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let back = ours.unwrap_or_default();
    // i2pd's own proxy gets as long again (at most 2 minutes) for the figure; on 2.59.0 it sometimes stays
    // without a 200 for minutes after the restart ("Tunnel not found" for the tunnels of
    // its streams in cli's log) while i2psocks is back, which the bound below allows.
    if reference.is_none() {
        let what = "a first 200 through i2pd's own SOCKS after the router's return";
        let extra = back.min(Duration::from_secs(120));
        let patience = common::Patience {
            stall: extra,
            cap: extra,
        };
        let _ = common::wait_following(what, patience, &[], || {
            if tb.reference_curl(&small).max_secs(5).run().ok() {
                reference = Some(back_at.elapsed());
            }
            reference.ok_or_else(|| "no 200 yet".to_owned())
        });
    }
    match reference {
        Some(theirs) => println!(
            "router back: first 200 through i2psocks after {back:.2?} (i2pd's own SOCKS on the restarted router: {theirs:.2?})"
        ),
        None => println!(
            "router back: first 200 through i2psocks after {back:.2?} (i2pd's own SOCKS on the restarted router: none after {:.2?})",
            back_at.elapsed()
        ),
    }
    // The target is 10 s (contrib/reliability.sh prints the figure). Here the bound also
    // follows the router: the two proxies are polled in turn with curl attempts of up to
    // 5 s each, so a difference below one attempt says nothing, and a loaded machine
    // stretches the router's own tunnel build for both. When i2pd's own proxy is not back
    // yet, it took at least as long as the time waited, which is past i2psocks' figure.
    let theirs = reference.unwrap_or_else(|| back_at.elapsed());
    let limit = Duration::from_secs(10).max(theirs * 2 + Duration::from_secs(5));
    assert!(
        back <= limit,
        "first 200 only {back:.2?} after the router was back (limit {limit:.2?}; i2pd's own proxy {reference:.2?})"
    );
}

/// The server's router restarts (same keys, new tunnels): the open stream ends instead of
/// hanging, and new connections work again within 30 s of the server publishing its new
/// LeaseSet, although the client router keeps the old one (dead leases) for our destination
/// for up to 11 minutes: i2psocks takes a detour through a fresh destination. i2pd's built-in
/// proxy is measured alongside; it waits for the old LeaseSet to expire.
#[test]
fn server_router_restarted() {
    if common::skip_without_real_router("server_router_restarted") {
        return;
    }
    let tb = Testbed::up_with(&UpOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = tb.i2psocks_command("info");
    cmd.args(["--socksproxy.keys=transient"]);
    let proxy = tb
        .spawn_in_ns(&cmd, "i2psocks")
        .unwrap_or_else(|e| panic!("{e}"));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        server_restart(&tb);
        check_detour(proxy.log_path());
    }));
    print_log(&proxy);
    if let Err(panic) = result {
        keep_logs(&tb, proxy.log_path());
        std::panic::resume_unwind(panic);
    }
}

/// The detour did not cost the proxy its own session (other streams keep running), and it
/// was taken.
fn check_detour(proxy_log: &Path) {
    let log = log_text(proxy_log);
    let created: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("I2CP session created"))
        .filter_map(|l| l.split("b32=").nth(1))
        .collect();
    let own = created.first().copied().unwrap_or_default();
    assert_eq!(
        created.iter().filter(|b32| **b32 == own).count(),
        1,
        "the proxy's own session was re-created: {created:?}"
    );
    assert!(
        log.contains("stopped answering"),
        "no detour was taken (see the log above)"
    );
}

/// Insert (`-I`) or delete (`-D`) the rule that sends new TCP connections from `from_ip` to
/// `to` (ip:port) to `verdict`, in the testbed's namespace.
fn syn_rule(tb: &Testbed, action: &str, from_ip: &str, to: &str, verdict: &[&str]) {
    let (to_ip, to_port) = to.rsplit_once(':').expect("an address is ip:port");
    let status = tb
        .command("iptables")
        .args([action, "INPUT", "-p", "tcp", "-s", from_ip, "-d", to_ip])
        .args(["--dport", to_port, "--syn", "-j"])
        .args(verdict)
        .status()
        .expect("iptables");
    assert!(
        status.success(),
        "iptables {action} {from_ip} -> {to} {verdict:?} failed"
    );
}

/// When srv (debug log, written from `offset` on) logs its own NTCP2 connection to ff: i2pd
/// 2.45.1 to 2.59 log "NTCP2: Connected to IP:PORT" (libi2pd/NTCP2.cpp) when an outgoing
/// connection is established. srv's log grows all the time at debug level, so a fixed
/// outer bound of 120 s is generous (a few seconds at most here); `None` when not seen.
fn wait_for_srv_session_with_ff(srv_log: &Path, offset: u64, ff_ip: &str) -> Option<Instant> {
    let needle = format!("NTCP2: Connected to {ff_ip}:");
    let mut reader = LogReader::new(srv_log.to_path_buf(), offset);
    // srv's log grows while it starts up and builds tunnels: the wait follows it (stall
    // limit 60 s, at most four times that) instead of a fixed number on a loaded machine.
    let what = format!("srv's own NTCP2 session with ff ({needle:?} in srv's log)");
    let patience = common::Patience::stall(Duration::from_secs(60));
    common::wait_following(&what, patience, &[srv_log.to_path_buf()], || {
        if reader.new_text_contains(&needle) {
            Ok(Instant::now())
        } else {
            Err("not yet".to_owned())
        }
    })
    .map(|(at, _)| at)
    .map_err(|e| eprintln!("{e}"))
    .ok()
}

/// With `TESTBED_SAVE_LOGS=DIR`, copies the routers' logs and configs and i2psocks' log
/// into `DIR/<testbed name>/` for a post-mortem (the testbed's state dir is deleted on drop).
fn keep_logs(tb: &Testbed, proxy_log: &Path) {
    let Some(dest) = std::env::var_os("TESTBED_SAVE_LOGS") else {
        return;
    };
    let dest = PathBuf::from(dest).join(tb.name());
    let mut files: Vec<(PathBuf, String)> = ["ff", "srv", "cli"]
        .iter()
        .flat_map(|role| {
            ["i2pd.log", "i2pd.conf", "stdout.log"]
                .map(|f| (tb.dir().join(role).join(f), format!("{role}-{f}")))
        })
        .collect();
    files.push((proxy_log.to_path_buf(), "i2psocks.log".into()));
    if let Err(e) = std::fs::create_dir_all(&dest) {
        eprintln!("cannot create {}: {e}", dest.display());
        return;
    }
    for (from, to) in files {
        let _ = std::fs::copy(&from, dest.join(to));
    }
    eprintln!("logs kept in {}", dest.display());
}

/// The tunnel IDs of `b32`'s leases in a floodfill's LeaseSets page (i2pd's web console,
/// `?page=leasesets`, daemon/HTTPServer.cpp `ShowLeasesSets` in i2pd 2.56 and 2.59: one block
/// per LeaseSet that starts with the destination's base32 and lists "TunnelID:</b> N" per
/// non-expired lease). `None` when the page does not list `b32`.
fn leaseset_tunnel_ids(page: &str, b32: &str) -> Option<Vec<u32>> {
    let short = b32.trim_end_matches(".b32.i2p");
    let block = &page[page.find(short)? + short.len()..];
    let block = block.find("<label").map_or(block, |end| &block[..end]);
    Some(
        block
            .split("TunnelID:</b>")
            .skip(1)
            .filter_map(|rest| rest.split('<').next()?.trim().parse().ok())
            .collect(),
    )
}

/// The parser above on a page as i2pd 2.56 writes it: two LeaseSets, the second one ours.
#[test]
fn leaseset_tunnel_ids_reads_one_destinations_block() {
    let page = "<div class=\"slide\"><label for=\"slide1\">aaaa</label>\r\n\
        <b>TunnelID:</b> 11<br>\r\n</div>\r\n\
        <div class=\"slide\"><label for=\"slide2\">bbbb</label>\r\n\
        <b>Gateway:</b> xyz=<br>\r\n<b>TunnelID:</b> 22<br>\r\n\
        <b>EndDate:</b> 12:00<br>\r\n<b>TunnelID:</b> 33<br>\r\n</div>\r\n";
    assert_eq!(
        leaseset_tunnel_ids(page, "bbbb.b32.i2p"),
        Some(vec![22, 33])
    );
    assert_eq!(leaseset_tunnel_ids(page, "aaaa.b32.i2p"), Some(vec![11]));
    assert_eq!(leaseset_tunnel_ids(page, "cccc.b32.i2p"), None);
    assert_eq!(leaseset_tunnel_ids("", "bbbb.b32.i2p"), None);
}

/// The reader finds a needle written in two pieces, and only in what came after `offset`.
#[test]
fn log_reader_finds_a_needle_split_between_reads() {
    let path = std::env::temp_dir().join(format!("faults-router-log-{}", std::process::id()));
    std::fs::write(&path, "old: Publish LeaseSet of abc\n").expect("write log");
    let mut reader = LogReader::new(path.clone(), file_len(&path));
    assert!(!reader.new_text_contains("LeaseSet of abc"));
    let append = |text: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open log");
        f.write_all(text.as_bytes()).expect("append");
    };
    append("new: Publish Lease");
    assert!(!reader.new_text_contains("LeaseSet of abc"));
    append("Set of abc\n");
    assert!(reader.new_text_contains("LeaseSet of abc"));
    let _ = std::fs::remove_file(&path);
}

/// When srv's new LeaseSet of web became visible, by either of two independent signs: srv's
/// own debug line when it sends the LeaseSet to the floodfill, and the floodfill holding a
/// LeaseSet of web with a tunnel the stopped srv never published (polled once a second).
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    logged: Option<Instant>,
    at_ff: Option<Instant>,
}

/// Watches for [`Seen`] in a thread until dropped.
struct PublishWatch {
    seen: Arc<Mutex<Seen>>,
    /// web's tunnel IDs at the floodfill while srv was down (the old srv's last LeaseSet).
    before: Option<Vec<u32>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

/// The floodfill's LeaseSets page, fetched inside the testbed (empty if it did not answer).
fn ff_leasesets_page(curl: &[std::ffi::OsString]) -> String {
    let Some((program, args)) = curl.split_first() else {
        return String::new();
    };
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `ip netns exec NS curl ... http://127.0.0.1:<ff console>/?page=leasesets` as words, so
/// the watch thread can run it again and again.
fn ff_leasesets_command(tb: &Testbed) -> Vec<std::ffi::OsString> {
    let port = tb.env("FF_CONSOLE_PORT").unwrap_or("7071");
    let mut cmd = tb.command("curl");
    cmd.args(["-s", "--max-time", "3"])
        .arg(format!("http://127.0.0.1:{port}/?page=leasesets"));
    std::iter::once(cmd.get_program().to_owned())
        .chain(cmd.get_args().map(|a| a.to_owned()))
        .collect()
}

impl PublishWatch {
    /// Start watching srv's log from `offset` on; call while srv is down.
    fn spawn(tb: &Testbed, log: PathBuf, offset: u64) -> PublishWatch {
        let b32 = tb.web_b32().to_owned();
        // i2pd 2.45.1, 2.56 and 2.59 libi2pd/Destination.cpp `Publish`: "Publish LeaseSet of
        // <b32 without the .b32.i2p suffix>" at debug level when the LeaseSet is sent to a
        // floodfill.
        let needle = format!("Publish LeaseSet of {}", b32.trim_end_matches(".b32.i2p"));
        let curl = ff_leasesets_command(tb);
        // A page that did not come (console busy) leaves nothing to compare with: then only
        // srv's line counts, never an old LeaseSet taken for a new one.
        let page = ff_leasesets_page(&curl);
        let ff_usable = page.contains("</html>");
        let before = leaseset_tunnel_ids(&page, &b32);
        let old = before.clone().unwrap_or_default();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut last_ff_poll: Option<Instant> = None;
            let mut reader = LogReader::new(log, offset);
            while !stop2.load(Ordering::SeqCst) {
                let now = *seen2.lock().unwrap_or_else(PoisonError::into_inner);
                if now.logged.is_some() && now.at_ff.is_some() {
                    return;
                }
                if now.logged.is_none() && reader.new_text_contains(&needle) {
                    seen2.lock().unwrap_or_else(PoisonError::into_inner).logged =
                        Some(Instant::now());
                }
                if ff_usable
                    && now.at_ff.is_none()
                    && last_ff_poll.is_none_or(|t| t.elapsed() >= POLL * 10)
                {
                    last_ff_poll = Some(Instant::now());
                    let ids = leaseset_tunnel_ids(&ff_leasesets_page(&curl), &b32);
                    if ids.is_some_and(|ids| ids.iter().any(|id| !old.contains(id))) {
                        seen2.lock().unwrap_or_else(PoisonError::into_inner).at_ff =
                            Some(Instant::now());
                    }
                }
                thread::sleep(POLL);
            }
        });
        PublishWatch {
            seen,
            before,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Seen {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for PublishWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Rewrites the `loglevel` line of a router's i2pd.conf (applies from its next start).
fn set_router_loglevel(conf: &Path, level: &str) {
    let text = std::fs::read_to_string(conf).expect("router config");
    let changed: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("loglevel") {
                format!("loglevel = {level}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(conf, changed.join("\n") + "\n").expect("write router config");
}

/// At most `first` + `last` of `lines`, with how many were left out between them.
fn excerpt(lines: &[String], first: usize, last: usize) -> String {
    if lines.len() <= first + last {
        return lines.join("\n");
    }
    format!(
        "{}\n  [... {} lines ...]\n{}",
        lines[..first].join("\n"),
        lines.len() - first - last,
        lines[lines.len() - last..].join("\n")
    )
}

/// The lines of srv's debug log that tell whether and why web's LeaseSet was (not)
/// published: what its NetDb loaded, the floodfill and transport decisions, every
/// publication step (i2pd 2.56/2.59 libi2pd/Destination.cpp `Publish`: "no more floodfills",
/// "not ready", "No compatible tunnels", "Publish LeaseSet of"), and every warning or error.
fn srv_publication_lines(lines: &[String], web: &str) -> Vec<String> {
    let short = web.trim_end_matches(".b32.i2p");
    const KEYS: [&str; 10] = [
        "routers loaded",
        "floodfill",
        "publish",
        "not ready",
        "No compatible",
        "unreachable",
        "NTCP2: Connect",
        "/warn - ",
        "/error - ",
        "/critical - ",
    ];
    lines
        .iter()
        .filter(|l| {
            let lower = l.to_lowercase();
            l.contains(short)
                || KEYS
                    .iter()
                    .any(|k| l.contains(k) || lower.contains(&k.to_lowercase()))
        })
        .filter(|l| !SRV_NOISE.iter().any(|n| l.contains(n)))
        .cloned()
        .collect()
}

/// srv's lines that say nothing about the publication and would crowd it out: the client
/// router still sending to the old tunnels ("Tunnel not found", many a second) and each
/// destination's republication timers.
const SRV_NOISE: [&str; 4] = [
    "Tunnel not found",
    "not found for short tunnel build reply",
    "Publishing LeaseSet is pending",
    "Publishing LeaseSet is too fast",
];

/// First 200 through one proxy after srv came back, or the last failure before it.
#[derive(Debug, Default)]
struct Probe {
    first_200: Option<Instant>,
    attempts: u32,
    last_failure: String,
}

impl Probe {
    fn record(&mut self, result: &common::CurlResult) {
        self.attempts += 1;
        if result.code == "200" {
            self.first_200 = Some(Instant::now());
        } else {
            self.last_failure = format!(
                "HTTP {} (curl exit {}) {}",
                result.code,
                result.exit,
                result.stderr.trim()
            );
        }
    }

    fn describe(&self, since: Instant) -> String {
        match self.first_200 {
            Some(t) => format!(
                "first 200 {:.1?} after srv listened ({} attempts)",
                t.saturating_duration_since(since),
                self.attempts
            ),
            None => format!(
                "no 200 in {} attempts, last: {}",
                self.attempts, self.last_failure
            ),
        }
    }
}

/// Offsets of the three routers' logs at srv's restart, to tell a failure's story.
struct Story<'a> {
    tb: &'a Testbed,
    offsets: [(&'static str, PathBuf, u64); 3],
    ff_before: Option<Vec<u32>>,
    /// What srv's data dir held while it was down, i.e. what the restarted srv starts from.
    srv_state_at_restart: String,
}

/// A router's persisted state that decides whom it talks to: how many RouterInfos its NetDb
/// keeps on disk, and which peer profiles carry an unreachable mark (i2pd 2.56 and 2.59
/// libi2pd/Profiling.cpp: "lastunreachabletime", honoured for 8 minutes; a floodfill marked so
/// is skipped by `NetDb::GetClosestFloodfill`, and with the testbed's single floodfill that
/// means no publication at all).
fn router_state(datadir: &Path) -> String {
    let files = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|sub| {
                std::fs::read_dir(sub.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|f| f.path())
            .collect()
    };
    let infos = files(&datadir.join("netDb")).len();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let marks: Vec<String> = files(&datadir.join("peerProfiles"))
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            let at: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("lastunreachabletime="))?
                .trim()
                .parse()
                .ok()?;
            let name = f.file_name()?.to_string_lossy().into_owned();
            Some(format!("{name} ({} s ago)", now.saturating_sub(at)))
        })
        .collect();
    format!("{infos} RouterInfos in netDb; profiles marked unreachable: {marks:?}")
}

impl Story<'_> {
    fn new(tb: &Testbed) -> Story<'_> {
        let offsets = ["SRV_LOG", "FF_LOG", "CLI_LOG"].map(|key| {
            let path = PathBuf::from(tb.env(key).unwrap_or_default());
            let len = file_len(&path);
            (key, path, len)
        });
        Story {
            tb,
            offsets,
            ff_before: None,
            srv_state_at_restart: router_state(Path::new(
                tb.env("SRV_DATADIR").unwrap_or_default(),
            )),
        }
    }

    /// Everything a failure needs to tell the router's part from ours.
    fn tell(&self, seen: Seen, back_at: Instant, ours: &Probe, reference: &Probe) -> String {
        let since = |t: Option<Instant>| {
            t.map_or("never".to_owned(), |t| {
                format!("{:.1?}", t.saturating_duration_since(back_at))
            })
        };
        let srv_pid = std::fs::read_to_string(self.tb.dir().join("pids/srv")).unwrap_or_default();
        let srv_alive =
            !srv_pid.trim().is_empty() && Path::new(&format!("/proc/{}", srv_pid.trim())).exists();
        let ff_now = leaseset_tunnel_ids(
            &ff_leasesets_page(&ff_leasesets_command(self.tb)),
            self.tb.web_b32(),
        );
        let mut story = format!(
            "----- what happened after srv listened again -----\n\
             srv running: {srv_alive}; web's LeaseSet: srv's debug line after {}, new at ff after {} \
             (web's tunnel IDs at ff while srv was down: {:?}, now: {ff_now:?})\n\
             i2psocks: {}\ni2pd's own proxy: {}\n\
             srv's data dir while it was down: {}\n",
            since(seen.logged),
            since(seen.at_ff),
            self.ff_before,
            ours.describe(back_at),
            reference.describe(back_at),
            self.srv_state_at_restart,
        );
        for (role, key) in [
            ("srv", "SRV_DATADIR"),
            ("ff", "FF_DATADIR"),
            ("cli", "CLI_DATADIR"),
        ] {
            let dir = Path::new(self.tb.env(key).unwrap_or_default());
            story += &format!("{role}'s data dir now: {}\n", router_state(dir));
        }
        for (key, path, offset) in &self.offsets {
            let lines = log_lines_since(path, *offset);
            let (title, picked) = if *key == "SRV_LOG" {
                let picked = srv_publication_lines(&lines, self.tb.web_b32());
                (
                    "srv (debug: publication, NetDb, transports, warnings)",
                    picked,
                )
            } else {
                (if *key == "FF_LOG" { "ff" } else { "cli" }, lines.clone())
            };
            story += &format!(
                "----- {title}: {} of its {} lines since the restart (first 60, last 30) -----\n{}\n",
                picked.len(),
                lines.len(),
                excerpt(&picked, 60, 30)
            );
        }
        story + "----- end -----"
    }
}

fn server_restart(tb: &Testbed) {
    let small = format!("http://{}/1k.bin", tb.web_b32());
    let big = format!("http://{}/big.bin", tb.web_b32());
    tb.wait_for_200(tb.i2psocks_port(), &small, Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e}"));

    let out = tb.dir().join("partial.bin");
    let mut download = start_download(tb, &big, &out);
    wait_for_progress(&mut download, &out);
    let srv_log = PathBuf::from(tb.env("SRV_LOG").expect("SRV_LOG"));
    set_router_loglevel(Path::new(tb.env("SRV_CONF").expect("SRV_CONF")), "debug");
    // In the testbed srv is the gateway of its own (zero-hop) leases, so the client router
    // connects to srv itself; a connection refused while srv is down makes it mark srv
    // unreachable, which i2pd clears only at its next once-a-minute NetDb check (i2pd 2.59
    // libi2pd/Transports.cpp and NetDb.cpp `ManageRouterInfos`; with fewer than 90 known
    // routers every mark is cleared then). On the real network the leases' gateways are other
    // routers that stay up. So cli's new connections to srv are held (SYNs dropped, retried
    // by TCP) rather than refused while it restarts.
    //
    // The floodfill's are not held, only refused: a held SYN of ff's lands when TCP retries
    // it (1, 3, 7 s after the first), just as the new srv opens its own connection to ff to
    // publish. Two crossed NTCP2 sessions: srv keeps the incoming one ("Session with ...
    // already exists. Replaced"), its own outgoing one dies, and with no other transport
    // left i2pd marks ff unreachable in srv's profile for 8 minutes (i2pd 2.56
    // libi2pd/NTCP2.cpp `AddNTCP2Session`, Transports.cpp `ConnectToPeer` ->
    // `NetDb::SetUnreachable`; Profiling.h PEER_PROFILE_UNREACHABLE_INTERVAL).
    // `GetClosestFloodfill` then skips the testbed's only floodfill: "Can't publish LeaseSet,
    // no more floodfills found", and web's LeaseSet is not published for 8 minutes: the
    // symptom with which the test failed on i2pd 2.56.0 in CI, both tries ("srv never logged
    // the publication of web's LeaseSet"); here 2 of 39 quick restarts with ff's SYNs held
    // did it, under load, none of 45 without (RELIABILITY.md, "Server restart: the
    // detour"). A refused ff only marks srv on its own side, which stops ff from opening
    // connections to srv, not srv's own connection to ff (publication, its confirmation)
    // nor anything ff sends back on it.
    let srv_addr = tb.env("SRV_ADDRESS").expect("SRV_ADDRESS").to_owned();
    let cli_addr = tb.env("CLI_ADDRESS").expect("CLI_ADDRESS").to_owned();
    let (cli_ip, _) = cli_addr.rsplit_once(':').expect("CLI_ADDRESS is ip:port");
    let hold = |action: &str| syn_rule(tb, action, cli_ip, &srv_addr, &["DROP"]);
    hold("-I");
    let stopped_at = Instant::now();
    tb.stop_router(Router::Srv)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut story = Story::new(tb);
    let restart_offset = file_len(&srv_log);
    let watch = PublishWatch::spawn(tb, srv_log.clone(), restart_offset);
    story.ff_before = watch.before.clone();
    // ff's own connections to srv are refused (a TCP reset at once, nothing queued) until
    // the new srv has its NTCP2 session with ff. Without this, ff, which keeps trying to
    // reach srv while srv is down, connected in the same millisecond as srv's own first
    // connection to ff in a CI run on i2pd 2.59.0 (both tries): the crossed sessions again
    // ("Session with ... already exists. Replaced", then "No compatible addresses
    // available"), ff marked unreachable in srv's profile, web's LeaseSet never published.
    let ff_addr = tb.env("FF_ADDRESS").expect("FF_ADDRESS").to_owned();
    let (ff_ip, _) = ff_addr.rsplit_once(':').expect("FF_ADDRESS is ip:port");
    let refuse_ff = |action: &str| {
        syn_rule(
            tb,
            action,
            ff_ip,
            &srv_addr,
            &["REJECT", "--reject-with", "tcp-reset"],
        );
    };
    refuse_ff("-I");
    let started = tb.start_router(Router::Srv);
    hold("-D");
    started.unwrap_or_else(|e| panic!("{e}"));
    let back_at = Instant::now();
    let ff_session = wait_for_srv_session_with_ff(&srv_log, restart_offset, ff_ip);
    refuse_ff("-D");
    println!(
        "srv's own NTCP2 session with ff: {}",
        ff_session.map_or("not seen (see above)".to_owned(), |t| format!(
            "{:.2?} after srv was back",
            t.saturating_duration_since(back_at)
        ))
    );
    println!("srv restarted in {:.2?}", back_at - stopped_at);

    // New connections, ours and the reference alternately, from the restart on (a user
    // retries while the old download is still hanging), until ours works and the cut
    // download has ended (or the window ends), and for the reference until the window
    // ends. i2pd's own proxy waits for the client router to drop the server's old LeaseSet
    // (up to 11 minutes): it is measured, not held to a limit. Ours must work within
    // RECOVERY of the new LeaseSet's publication: 30 s with zero-hop tunnels, 30 s more
    // per hop (contrib/testbed/README.md, "Tunnel length"): then the restart also broke
    // every tunnel of cli's and ff's pools that had srv as its hop, and cli's fresh
    // destination needs its tunnels built through a peer before it can look up and connect.
    //
    // The window follows srv: it is WINDOW (200 s; srv published web's LeaseSet 1.5-12 s
    // after it listened in every run here, idle or loaded), and when the publication comes
    // so late that RECOVERY after it would end past WINDOW, it lasts until then (plus one
    // round of probes), so a slow srv never costs i2psocks its 30 s. A publication that has
    // not come by WINDOW fails the test as the router's fault, with srv's own account of it.
    const WINDOW: Duration = Duration::from_secs(200);
    // One round of the loop below: two curl attempts of up to 5 s each and the pause.
    const PROBE_ROUND: Duration = Duration::from_millis(10_500);
    let recovery = Duration::from_secs(30) * (1 + u32::from(tb.hops()));
    let (mut ours, mut reference) = (Probe::default(), Probe::default());
    let mut download_end = None;
    loop {
        let end = match (ours.first_200, published_at(watch.seen())) {
            (None, Some(p)) => {
                WINDOW.max(p.saturating_duration_since(back_at) + recovery + PROBE_ROUND)
            }
            _ => WINDOW,
        };
        let done =
            ours.first_200.is_some() && reference.first_200.is_some() && download_end.is_some();
        if done || back_at.elapsed() >= end {
            break;
        }
        if download_end.is_none()
            && let Some(status) = download.try_wait().expect("poll curl")
        {
            // The cut stream must end (no hang), as a failure.
            assert!(!status.success(), "a cut download must not look complete");
            download_end = Some(stopped_at.elapsed());
        }
        if ours.first_200.is_none() {
            ours.record(&tb.curl(tb.i2psocks_port(), &small).max_secs(5).run());
        }
        if reference.first_200.is_none() {
            reference.record(&tb.reference_curl(&small).max_secs(5).run());
        }
        thread::sleep(Duration::from_millis(500));
    }
    if download_end.is_none() {
        let _ = download.kill();
    }
    let _ = download.wait();
    let seen = watch.seen();
    drop(watch);
    let story = || story.tell(seen, back_at, &ours, &reference);
    let since = |t: Option<Instant>, from: Option<Instant>| match (t, from) {
        (Some(t), Some(from)) => format!("{:.1?}", t.saturating_duration_since(from)),
        _ => "none within the window".to_owned(),
    };
    let published = published_at(seen);
    println!(
        "server router back: web's LeaseSet published after {} (srv's debug line {}, new at ff {}); first 200 through i2psocks {} after the publication (limit {recovery:?}, {} hop(s)), through i2pd's own proxy {}",
        since(published, Some(back_at)),
        since(seen.logged, Some(back_at)),
        since(seen.at_ff, Some(back_at)),
        since(ours.first_200, published),
        tb.hops(),
        since(reference.first_200, published),
    );
    let Some(download_end) = download_end else {
        panic!(
            "the SOCKS client of the cut download still hangs after the window\n{}",
            story()
        );
    };
    println!("open download ended {download_end:.2?} after the server router stopped");
    assert!(
        download_end < Duration::from_secs(150),
        "the cut download ended only {download_end:.1?} after the server router went away\n{}",
        story()
    );
    let Some(ours_at) = ours.first_200 else {
        let why = if published.is_some() {
            "srv published web's new LeaseSet"
        } else {
            "but srv showed no sign of publishing web's new LeaseSet (neither its debug line \
             nor a new LeaseSet at ff): the router did not come back, see below"
        };
        panic!(
            "i2psocks did not reach the restarted server within the window; {why}\n{}",
            story()
        );
    };
    // Without a sign of the publication (neither srv's line nor the floodfill's copy seen,
    // e.g. a log that did not take the debug level) the 200 itself proves srv published: the
    // client router can reach web only through the new leases, from the floodfill. Then
    // the measure starts when srv listened again, before any publication: stricter.
    let from = published.unwrap_or(back_at);
    let took = ours_at.saturating_duration_since(from);
    assert!(
        took <= recovery,
        "i2psocks reached the restarted server {took:.1?} after {} (limit {recovery:?})\n{}",
        if published.is_some() {
            "its new LeaseSet was published"
        } else {
            "it listened again (no sign of the publication seen)"
        },
        story()
    );
}

/// The first sign of srv's new LeaseSet of web. srv's own line comes first; the floodfill's
/// copy follows, usually within the watch's once-a-second poll (0.3-0.8 s here, once 7.8 s),
/// and is the earliest moment the client router can look it up, so it stands in when the
/// line is missing (a log that lost it): i2psocks is never held to less than that.
fn published_at(seen: Seen) -> Option<Instant> {
    match (seen.logged, seen.at_ff) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
