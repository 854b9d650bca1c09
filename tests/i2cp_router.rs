//! The I2CP client against a real i2pd 2.45.1 (`cli` router of contrib/testbed).
//!
//! One testbed, one scenario run inside its netns:
//! 1. session created and Ready (the first RequestVariableLeaseSet was answered);
//! 2. lookups: web's b32 (by hash) and `web.i2p` (address book) return the destination
//!    whose SHA-256 is WEB_B32; `nonexistent.i2p` → NotFound within the lookup timeout;
//!    send/receive: a signed SYN to `echo` gets its SYN-ACK and, once that is ACKed, the
//!    echoed bytes back through `subscribe(6)`; a second client with the same keys gets
//!    SessionStatus 3 mapped to the "another process…" explanation;
//! 3. the session stays Ready ≥ 60 s (i2pd re-requests the LeaseSet every 10–15 s and kills
//!    the session 10 s after an unanswered request, so this proves every one was answered);
//! 4. cli is killed and restarted: the status goes Down, lookups fail fast, and a new session
//!    with the same destination is created soon after the router's return (within 10 s, or
//!    the reconnect delay that the router's time away grew to), then Ready.
//!
//! Needs root + /usr/sbin/i2pd; otherwise prints SKIPPED (fails with I2PSOCKS_REQUIRE_TESTBED=1).
//! `I2PSOCKS_REQUIRE_TESTBED=1 cargo test --test i2cp_router -- --nocapture`

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Patience, Progress, Testbed, UpOptions, log_text};
use i2psocks::data::{Destination, PrivateKeys, b32_hash};
use i2psocks::i2cp::{
    Compression, DownReason, I2cpClientConfig, I2cpHandle, LookupError, SessionState, start,
};
use tokio::time::timeout;

const TEST: &str = "i2cp_session_against_real_router";
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn i2cp_session_against_real_router() {
    if let Some(env) = common::inner_env() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(inner(env));
        return;
    }
    if common::skip_without_real_router(TEST) {
        return;
    }
    let tb = Testbed::up_with(&UpOptions {
        big_mib: 1,
        ..UpOptions::default()
    })
    .expect("testbed up");
    tb.run_test_in_ns_timeout(TEST, Duration::from_secs(300));
}

fn log(t0: Instant, what: &str) {
    eprintln!("[i2cp_router +{:7.2}s] {what}", t0.elapsed().as_secs_f64());
}

/// How long a stage that waits on the router (tunnels for a session, a lookup answer, a
/// streaming reply) may go without progress (a watched log grows, the state or answer
/// changes) before the test gives up; the stage as a whole gets four times this
/// ([`Patience::stall`]). The router's speed depends on the machine's load, not on the code
/// under test.
const STAGE_STALL: Duration = Duration::from_secs(60);
/// How often a progress-following wait looks again.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// A progress-following wait, async: `check` says `Ok` when done, `Err(state)` otherwise.
struct Stage {
    what: String,
    patience: Patience,
    progress: Progress,
    started: Instant,
}

impl Stage {
    fn new(what: &str, patience: Patience, logs: &[PathBuf]) -> Stage {
        Stage {
            what: what.to_owned(),
            patience,
            progress: Progress::new(logs),
            started: Instant::now(),
        }
    }

    /// Note `state` (what the last look saw); the failure message, with the logs' tails,
    /// once nothing advanced for the stall limit or at the cap.
    fn gave_up(&mut self, state: &str) -> Option<String> {
        self.progress.note(state);
        let (quiet, elapsed) = (self.progress.quiet_for(), self.started.elapsed());
        (quiet >= self.patience.stall || elapsed >= self.patience.cap).then(|| {
            format!(
                "gave up waiting for {} after {elapsed:.1?} (nothing advanced for {quiet:.1?}; \
                 stall limit {:?}, cap {:?}); last seen: {state}\n{}",
                self.what,
                self.patience.stall,
                self.patience.cap,
                self.progress.tails()
            )
        })
    }

    /// [`Stage::gave_up`], panicking with its message.
    fn still_waiting(&mut self, state: &str) {
        if let Some(message) = self.gave_up(state) {
            panic!("{message}");
        }
    }
}

/// `lookup_name` again every 250 ms while the router answers "not found", for as long as
/// something advances (see [`STAGE_STALL`]); any other error fails the test at once.
async fn lookup_until_found(h: &I2cpHandle, name: &str, logs: &[PathBuf]) -> Destination {
    let what = format!("a lookup of {name} to succeed");
    let mut stage = Stage::new(&what, Patience::stall(STAGE_STALL), logs);
    loop {
        match h.lookup_name(name).await {
            Ok(dest) => return dest,
            Err(LookupError::NotFound(e)) => {
                stage.still_waiting(&format!("not found: {e}"));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!(
                "lookup of {name}: {e:?} after {:?}",
                stage.started.elapsed()
            ),
        }
    }
}

/// Wait until the session's state satisfies `pred`, within `patience` (progress: the
/// state changes or a watched log grows).
async fn wait_state(
    h: &I2cpHandle,
    what: &str,
    patience: Patience,
    logs: &[PathBuf],
    pred: impl Fn(&SessionState) -> bool,
) -> SessionState {
    let mut stage = Stage::new(what, patience, logs);
    let mut rx = h.status();
    loop {
        if let Ok(got) = timeout(LOOK_EVERY, rx.wait_for(|s| pred(s))).await {
            return got.expect("session task alive").clone();
        }
        let now = format!("state {:?}", *h.status().borrow());
        stage.still_waiting(&now);
    }
}

fn script(env: &HashMap<String, String>, args: &[&str]) {
    let out = Command::new("bash")
        .arg(&env["TESTBED_SCRIPT"])
        .args(args)
        .output()
        .expect("run testbed.sh");
    assert!(
        out.status.success(),
        "testbed.sh {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn inner(env: HashMap<String, String>) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .try_init();
    let t0 = Instant::now();
    let keys = Arc::new(PrivateKeys::generate(7, 4).expect("keys"));
    let our_b32 = keys.destination().b32_address();
    // The testbed's tunnel length, like every other pool in it (contrib/testbed/README.md).
    let hops = env.get("HOPS").map_or("0", String::as_str);
    let opts = [
        ("inbound.length", hops),
        ("outbound.length", hops),
        ("inbound.quantity", "1"),
        ("outbound.quantity", "1"),
    ];
    let cfg = I2cpClientConfig {
        address: env["I2CP_ADDRESS"].clone(),
        port: env["I2CP_PORT"].parse().expect("I2CP_PORT"),
        keys: keys.clone(),
        options: opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        lookup_timeout: LOOKUP_TIMEOUT,
        reconnect_max_delay: Duration::from_secs(30),
        i2cp_enabled_in_config: true,
        after_unclean_exit: false,
    };
    let h = start(cfg.clone()).await;
    let logs = common::testbed_logs_from_env(&env);
    let stage = Patience::stall(STAGE_STALL);

    // 1. Ready: the first RVLS comes 3–14 s after Created (docs/i2cp.md "Timings seen on the
    // wire").
    let ready = "the session to be Ready (tunnels built, LeaseSet requested)";
    wait_state(&h, ready, stage, &logs, |s| *s == SessionState::Ready).await;
    assert_eq!(h.sessions_created(), 1);
    log(t0, &format!("session ready as {our_b32}"));
    let ready_at = Instant::now();

    // 2. Lookups.
    let web_b32 = env["WEB_B32"].clone();
    let web_hash = b32_hash(&web_b32).expect("WEB_B32 decodes");
    // i2pd 2.59.0 may answer a new session's first lookups "not found" while that session's
    // own lookups are still failing over (2.45.1 answers at once): poll while it advances.
    let by_b32 = lookup_until_found(&h, &web_b32, &logs).await;
    log(
        t0,
        &format!("web's b32 found {:?} after ready", ready_at.elapsed()),
    );
    assert_eq!(by_b32.hash(), web_hash);
    let by_name = h
        .lookup_name(&env["WEB_NAME"])
        .await
        .expect("lookup of web.i2p");
    assert_eq!(by_name.hash(), web_hash);
    assert_eq!(by_name, by_b32);
    log(t0, "web.i2p and its b32 resolve to the same destination");
    let t = Instant::now();
    let missing = h.lookup_name("nonexistent.i2p").await;
    assert_eq!(
        missing,
        Err(LookupError::NotFound("nonexistent.i2p".into()))
    );
    assert!(
        t.elapsed() <= LOOKUP_TIMEOUT,
        "not-found took {:?}",
        t.elapsed()
    );
    log(
        t0,
        &format!("nonexistent.i2p → not found in {:?}", t.elapsed()),
    );

    // Send/receive through the real router: a signed streaming SYN (docs/streaming.md "What i2pd
    // sends",
    // 2.45.1 style without the NACK hash) carrying bytes for the echo service, deflated,
    // nonce 0; i2pd's SYN-ACK and the echoed bytes come back as MessagePayload, protocol 6.
    let echo = h
        .lookup_name(&env["ECHO_B32"])
        .await
        .expect("lookup of echo's b32");
    let mut inbound = h.subscribe(6);
    let rsid: u32 = 0x5eed_1234;
    let ping = b"i2cp send/receive check";
    let syn = signed_syn(&keys, rsid, ping);
    h.send_with(&echo, 6, 0, 0, &syn, Compression::Deflate)
        .expect("send SYN");
    let t = Instant::now();
    let mut saw_syn_ack = false;
    let mut echoed = Vec::new();
    // The router must find echo's LeaseSet and tunnels first: a wait on the router, so it
    // follows progress like the other stages.
    let what = "streaming packets from echo (SYN-ACK, then the echoed bytes)";
    let mut replies = Stage::new(what, Patience::stall(STAGE_STALL), &logs);
    while !(saw_syn_ack && echoed.len() >= ping.len()) {
        let Ok(got) = timeout(LOOK_EVERY, inbound.recv()).await else {
            let seen = format!("SYN-ACK seen: {saw_syn_ack}, {} bytes echoed", echoed.len());
            if let Some(message) = replies.gave_up(&seen) {
                dump_logs(&env);
                panic!("{message}");
            }
            continue;
        };
        let got = got.expect("subscription open");
        let (send_sid, flags, body) = parse_packet(&got.payload).expect("a streaming packet");
        assert_eq!(send_sid, rsid, "packet for our stream");
        if flags & 0x0001 != 0 && !saw_syn_ack {
            saw_syn_ack = true;
            // Plain ACK of the SYN-ACK (seq 0, ackThrough 0; docs/streaming.md "What i2pd sends"),
            // sent as a stored block like i2pd does.
            let peer_sid = got.payload.get(4..8).expect("SYN-ACK receive id");
            let mut ack = peer_sid.to_vec();
            ack.extend_from_slice(&rsid.to_be_bytes());
            ack.extend_from_slice(&[0; 14]);
            h.send(&echo, 6, 0, 0, &ack).expect("send ACK");
            log(t0, &format!("SYN-ACK after {:?}; ACKed", t.elapsed()));
        }
        echoed.extend_from_slice(body);
    }
    assert_eq!(&echoed[..], &ping[..]);
    log(
        t0,
        &format!(
            "SYN → SYN-ACK + echoed bytes through I2CP in {:?}",
            t.elapsed()
        ),
    );

    // An unknown but well-formed b32: the router searches the netDb and gives up (about
    // 5 s with one floodfill, contrib/testbed/README.md "Measured here") or our client-side timeout
    // ends it first.
    let t = Instant::now();
    let unknown = format!("{}.b32.i2p", i2psocks::data::base32_encode(&[0x5a; 32]));
    let res = h.lookup_name(&unknown).await;
    assert!(
        matches!(
            res,
            Err(LookupError::NotFound(_) | LookupError::TimedOut(_))
        ),
        "{res:?}"
    );
    assert!(
        t.elapsed() <= LOOKUP_TIMEOUT + Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    log(
        t0,
        &format!("unknown b32 → {} in {:?}", res.unwrap_err(), t.elapsed()),
    );

    // A second client with the same keys is refused (status 3) with the explanation.
    let mut dup_cfg = cfg.clone();
    dup_cfg.reconnect_max_delay = Duration::from_secs(5);
    let dup = start(dup_cfg).await;
    // The router answers a CreateSession at once (SessionStatus 3 here); with a loaded
    // machine that can still take seconds, so this follows progress too.
    let refused = "the second session with the same keys to be refused";
    let st = wait_state(
        &dup,
        refused,
        Patience::stall(Duration::from_secs(20)),
        &logs,
        |s| matches!(s, SessionState::Down(_)),
    )
    .await;
    assert_eq!(st, SessionState::Down(DownReason::SessionInvalid));
    log(
        t0,
        &format!("same keys twice → {}", DownReason::SessionInvalid),
    );
    dup.shutdown().await;
    assert_eq!(
        *h.status().borrow(),
        SessionState::Ready,
        "the first session is unaffected"
    );

    // 3. Alive ≥ 60 s: the state must not leave Ready.
    let mut rx = h.status();
    let left_ready = timeout(
        Duration::from_secs(60).saturating_sub(ready_at.elapsed()),
        rx.wait_for(|s| *s != SessionState::Ready),
    )
    .await;
    assert!(
        left_ready.is_err(),
        "session left Ready after {:?}: {:?}",
        ready_at.elapsed(),
        *h.status().borrow()
    );
    assert_eq!(h.sessions_created(), 1, "no reconnect happened");
    let again = h.lookup_name(&web_b32).await.expect("lookup after 60 s");
    assert_eq!(again.hash(), web_hash);
    log(t0, &format!("still ready after {:?}", ready_at.elapsed()));

    // 4. Router restart.
    let name = env["TESTBED_NAME"].clone();
    let stopped_at = Instant::now();
    script(&env, &["stop-router", &name, "cli"]);
    // i2psocks' own behaviour: the router's I2CP socket closes when it stops, which the
    // session notices at once; 10 s leaves room for a loaded machine without a progress rule.
    let bound = Patience {
        stall: Duration::from_secs(10),
        cap: Duration::from_secs(10),
    };
    let down = wait_state(
        &h,
        "the session to notice the router stopped",
        bound,
        &logs,
        |s| matches!(s, SessionState::Down(_)),
    )
    .await;
    log(t0, &format!("cli stopped; state {down:?}"));
    let t = Instant::now();
    let err = h.lookup_name(&web_b32).await.unwrap_err();
    assert!(matches!(err, LookupError::RouterDown(_)), "{err:?}");
    // i2psocks' own behaviour with no network involved (the session knows the router is
    // down): 500 ms leaves a loaded machine's scheduling room.
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "fail-fast took {:?}",
        t.elapsed()
    );
    log(t0, &format!("lookup while down: {err}"));

    script(&env, &["start-router", &name, "cli"]);
    let back = Instant::now();
    log(t0, "cli listening again");
    // i2psocks' own behaviour: it retries with a delay that doubles from 250 ms up to
    // reconnect_max_delay, so the retry after the router's return comes within about as
    // long as the router was away (each delay is about the sum of the ones before), and
    // within reconnect_max_delay. A loaded machine starts the router more slowly, which
    // lengthens that delay: the bound follows the time away instead of a fixed 10 s, plus
    // 5 s for a connect and a CreateSession on a loaded machine.
    let away = back.duration_since(stopped_at);
    let limit =
        Duration::from_secs(10).max(away.min(cfg.reconnect_max_delay) + Duration::from_secs(5));
    while h.sessions_created() < 2 {
        assert!(
            back.elapsed() < limit,
            "no new session within {limit:?} of the router's return (it was away {away:.1?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    log(
        t0,
        &format!(
            "new session created {:?} after the router's return",
            back.elapsed()
        ),
    );
    assert_eq!(h.destination().b32_address(), our_b32);
    wait_state(&h, ready, stage, &logs, |s| *s == SessionState::Ready).await;
    // A restarted i2pd 2.59.0 answers name lookups "not found" until it has loaded its
    // address book again (2.45.1 answers at once): poll while it advances.
    let looked_up = Instant::now();
    let after = lookup_until_found(&h, &env["WEB_NAME"], &logs).await;
    log(
        t0,
        &format!("name found {:?} after ready", looked_up.elapsed()),
    );
    assert_eq!(after.hash(), web_hash);
    log(
        t0,
        &format!(
            "ready again {:?} after the router's return; lookups work",
            back.elapsed()
        ),
    );
    h.shutdown().await;

    // i2pd accepted every LeaseSet we signed: it logs these lines for a bad LS2 (docs/i2cp.md
    // "Router log lines worth knowing").
    let cli_log = std::fs::read_to_string(&env["CLI_LOG"]).expect("cli log");
    for bad in [
        "Invalid LeaseSet2 of type",
        "LeaseSet2: Verification failed",
        "signature verification failed",
    ] {
        assert!(!cli_log.contains(bad), "cli log contains {bad:?}");
    }
}

/// A signed SYN: header with 0 NACKs, flags SYN|SIG|FROM|MAXSIZE|NO_ACK, options
/// FROM ‖ MTU 1730 ‖ signature over the whole packet with the signature zeroed (docs/streaming.md
/// "Signatures").
fn signed_syn(keys: &PrivateKeys, rsid: u32, payload: &[u8]) -> Vec<u8> {
    let from = keys.destination().as_bytes();
    let mut p = Vec::new();
    p.extend_from_slice(&0u32.to_be_bytes()); // sendStreamId
    p.extend_from_slice(&rsid.to_be_bytes()); // receiveStreamId
    p.extend_from_slice(&0u32.to_be_bytes()); // seq
    p.extend_from_slice(&0u32.to_be_bytes()); // ackThrough
    p.push(0); // NACK count
    p.push(9); // resend delay
    p.extend_from_slice(&0x04a9u16.to_be_bytes());
    p.extend_from_slice(&((from.len() + 2 + 64) as u16).to_be_bytes());
    p.extend_from_slice(from);
    p.extend_from_slice(&1730u16.to_be_bytes());
    let sig_at = p.len();
    p.extend_from_slice(&[0; 64]);
    p.extend_from_slice(payload);
    let sig = keys.sign(&p);
    p[sig_at..sig_at + 64].copy_from_slice(&sig);
    p
}

/// (sendStreamId, flags, payload) of a streaming packet, if it is well-formed.
fn parse_packet(p: &[u8]) -> Option<(u32, u16, &[u8])> {
    let send_sid = u32::from_be_bytes(p.get(0..4)?.try_into().ok()?);
    let nacks = usize::from(*p.get(16)?);
    let at = 17 + 4 * nacks + 1;
    let flags = u16::from_be_bytes(p.get(at..at + 2)?.try_into().ok()?);
    let opt = usize::from(u16::from_be_bytes(p.get(at + 2..at + 4)?.try_into().ok()?));
    Some((send_sid, flags, p.get(at + 4 + opt..)?))
}

/// Print the routers' streaming/I2CP/tunnel lines and warnings (post-mortem for a failed step).
fn dump_logs(env: &HashMap<String, String>) {
    for key in ["CLI_LOG", "SRV_LOG"] {
        let text = log_text(&env[key]);
        let keep = ["Streaming", "I2CP", "I2PTunnel", "error", "warn"];
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| keep.iter().any(|k| l.contains(k)))
            .collect();
        let from = lines.len().saturating_sub(80);
        eprintln!(
            "----- {key} (last {} matching lines) -----",
            lines.len() - from
        );
        for line in &lines[from..] {
            eprintln!("{line}");
        }
    }
}
