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

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use common::{NsChild, Router, Testbed, UpOptions};

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

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
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
    let log = std::fs::read(child.log_path()).unwrap_or_default();
    eprintln!(
        "----- i2psocks log -----\n{}----- end -----",
        String::from_utf8_lossy(&log)
    );
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
    let log =
        String::from_utf8_lossy(&std::fs::read(proxy.log_path()).unwrap_or_default()).into_owned();
    let sessions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("I2CP session created"))
        .filter_map(|l| l.split("b32=").nth(1))
        .collect();
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
    let result = std::panic::catch_unwind(|| server_restart(&tb));
    print_log(&proxy);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    // The detour did not cost the proxy its own session (other streams keep running).
    let log =
        String::from_utf8_lossy(&std::fs::read(proxy.log_path()).unwrap_or_default()).into_owned();
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

/// Watches a router's log (from `offset` on) for the line saying it publishes the LeaseSet of
/// `b32` and remembers when it first appeared. The router must log at debug level.
struct PublishWatch {
    found: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl PublishWatch {
    fn spawn(log: PathBuf, offset: u64, b32: &str) -> PublishWatch {
        // i2pd 2.45.1 and 2.59 libi2pd/Destination.cpp: "Publish LeaseSet of <b32 without
        // the .b32.i2p suffix>" at debug level when the LeaseSet is sent to a floodfill.
        let needle = format!("Publish LeaseSet of {}", b32.trim_end_matches(".b32.i2p"));
        let found = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (found2, stop2) = (found.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let text = std::fs::read(&log).unwrap_or_default();
                let tail = text.get(offset as usize..).unwrap_or_default();
                if String::from_utf8_lossy(tail).contains(&needle) {
                    *found2.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                    return;
                }
                thread::sleep(POLL);
            }
        });
        PublishWatch {
            found,
            stop,
            thread: Some(thread),
        }
    }

    fn published(&self) -> Option<Instant> {
        *self.found.lock().unwrap_or_else(PoisonError::into_inner)
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
    // routers that stay up. So new connections to srv are held (SYNs dropped, retried by TCP)
    // rather than refused while it restarts.
    let srv_addr = tb.env("SRV_ADDRESS").expect("SRV_ADDRESS").to_owned();
    let (srv_ip, srv_port) = srv_addr.rsplit_once(':').expect("SRV_ADDRESS is ip:port");
    let hold = |action: &str| {
        let status = tb
            .command("iptables")
            .args([
                action, "INPUT", "-p", "tcp", "-d", srv_ip, "--dport", srv_port,
            ])
            .args(["--syn", "-j", "DROP"])
            .status()
            .expect("iptables");
        assert!(status.success(), "iptables {action} failed");
    };
    hold("-I");
    let stopped_at = Instant::now();
    tb.stop_router(Router::Srv)
        .unwrap_or_else(|e| panic!("{e}"));
    let watch = PublishWatch::spawn(srv_log.clone(), file_len(&srv_log), tb.web_b32());
    let started = tb.start_router(Router::Srv);
    hold("-D");
    started.unwrap_or_else(|e| panic!("{e}"));
    let back_at = Instant::now();
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
    const WINDOW: Duration = Duration::from_secs(200);
    let recovery = Duration::from_secs(30) * (1 + u32::from(tb.hops()));
    let mut ours = None;
    let mut reference = None;
    let mut download_end = None;
    while back_at.elapsed() < WINDOW
        && (ours.is_none() || reference.is_none() || download_end.is_none())
    {
        if download_end.is_none()
            && let Some(status) = download.try_wait().expect("poll curl")
        {
            // The cut stream must end (no hang), as a failure.
            assert!(!status.success(), "a cut download must not look complete");
            download_end = Some(stopped_at.elapsed());
        }
        if ours.is_none() && tb.curl(tb.i2psocks_port(), &small).max_secs(5).run().code == "200" {
            ours = Some(Instant::now());
        }
        if reference.is_none() && tb.reference_curl(&small).max_secs(5).run().code == "200" {
            reference = Some(Instant::now());
        }
        thread::sleep(Duration::from_millis(500));
    }
    if download_end.is_none() {
        let _ = download.kill();
    }
    let _ = download.wait();
    let download_end =
        download_end.expect("the SOCKS client of the cut download still hangs after the window");
    println!("open download ended {download_end:.2?} after the server router stopped");
    assert!(
        download_end < Duration::from_secs(150),
        "the cut download ended only {download_end:.1?} after the server router went away"
    );
    let published = watch.published();
    let since = |t: Option<Instant>, from: Option<Instant>| match (t, from) {
        (Some(t), Some(from)) => format!("{:.1?}", t.saturating_duration_since(from)),
        _ => format!("none within {WINDOW:?}"),
    };
    println!(
        "server router back: web's LeaseSet published after {}; first 200 through i2psocks {} after the publication (limit {recovery:?}, {} hop(s)), through i2pd's own proxy {}",
        since(published, Some(back_at)),
        since(ours, published),
        tb.hops(),
        since(reference, published),
    );
    let published = published.expect("srv never logged the publication of web's LeaseSet");
    let ours = ours.expect("i2psocks did not reach the restarted server within the window");
    assert!(
        ours.saturating_duration_since(published) <= recovery,
        "i2psocks reached the restarted server {:.1?} after its new LeaseSet was published (limit {recovery:?})",
        ours.saturating_duration_since(published)
    );
}
