//! Unit tests of [`super::Manager`] that look at its internals (ready queue, timer heap);
//! in their own file to keep `manager.rs` to the manager itself.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn keys() -> Arc<PrivateKeys> {
    Arc::new(PrivateKeys::generate(7, 4).expect("keys"))
}

#[test]
fn an_idle_stream_leaves_the_ready_queue() {
    let mut m = Manager::new(keys(), StreamingConfig::default(), 1);
    let remote = keys().destination().clone();
    let t0 = Instant::now();
    let busy = m.connect(t0, remote.clone(), 80, b"");
    let idle = m.connect(t0, remote, 80, b"");
    // Each SYN goes out, in the order the streams were opened.
    let sent: Vec<_> = std::iter::from_fn(|| m.poll_transmit(t0)).collect();
    assert_eq!(sent.len(), 2);
    assert!(
        m.ready.is_empty(),
        "streams with nothing to send stay queued"
    );
    assert!(!m.streams.get(&idle).is_some_and(|e| e.queued));
    // Writing on one stream (unconnected: data waits for the SYN-ACK) queues it alone.
    m.write(busy, b"x");
    assert_eq!(m.ready.iter().copied().collect::<Vec<_>>(), vec![busy]);
}

#[test]
fn poll_timeout_is_the_earliest_deadline_of_all_streams() {
    let mut m = Manager::new(keys(), StreamingConfig::default(), 2);
    let remote = keys().destination().clone();
    let t0 = Instant::now();
    let a = m.connect(t0, remote.clone(), 80, b"");
    while m.poll_transmit(t0).is_some() {}
    let b = m.connect(t0 + ms(100), remote, 80, b"");
    while m.poll_transmit(t0 + ms(100)).is_some() {}
    let da = m.stream(a).and_then(Connection::poll_timeout);
    let db = m.stream(b).and_then(Connection::poll_timeout);
    assert!(da.is_some() && da < db, "a's SYN went out first");
    assert_eq!(m.poll_timeout(), da);
    // At a's deadline only a's timer runs: b keeps its deadline.
    let due = da.unwrap_or(t0);
    m.handle_timeout(due);
    assert_eq!(m.stream(b).and_then(Connection::poll_timeout), db);
}

#[test]
fn stale_timer_entries_are_compacted_away() {
    let mut m = Manager::new(keys(), StreamingConfig::default(), 3);
    let remote = keys().destination().clone();
    let t0 = Instant::now();
    let id = m.connect(t0, remote, 80, b"");
    // Stale entries, as many re-arms would leave them.
    for i in 0..5000u64 {
        m.timers.push(t0 + ms(i), id);
    }
    m.collect(id, t0);
    assert!(
        m.timers.len() <= 1,
        "heap not rebuilt: {} entries",
        m.timers.len()
    );
    assert_eq!(
        m.poll_timeout(),
        m.stream(id).and_then(Connection::poll_timeout)
    );
}

/// Reports of a health watch, collected for a test.
fn recorder() -> (Arc<std::sync::Mutex<Vec<Health>>>, HealthReport) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let report = Box::new(move |h| sink.lock().expect("lock").push(h));
    (seen, report)
}

/// Run every deadline up to `until`, delivering nothing (a dead link).
fn run_timers_until(m: &mut Manager, until: Instant) {
    while let Some(at) = m.poll_timeout().filter(|at| *at <= until) {
        m.handle_timeout(at);
        while m.poll_transmit(at).is_some() {}
    }
}

#[test]
fn a_watch_reports_an_unanswered_syn_at_its_patience_without_a_task() {
    let mut m = Manager::new(keys(), StreamingConfig::default(), 4);
    let remote = keys().destination().clone();
    let t0 = Instant::now();
    let id = m.connect(t0, remote, 80, b"");
    let (seen, report) = recorder();
    assert!(m.watch(id, t0, ms(4000), 2, report));
    assert!(
        !m.watch(id ^ 1, t0, ms(4000), 2, recorder().1),
        "no such stream"
    );
    while m.poll_transmit(t0).is_some() {}
    run_timers_until(&mut m, t0 + ms(3999));
    assert!(seen.lock().expect("lock").is_empty(), "reported early");
    assert!(
        m.poll_timeout().is_some_and(|at| at <= t0 + ms(4000)),
        "the manager's own deadline covers the watch"
    );
    run_timers_until(&mut m, t0 + ms(4000));
    assert_eq!(*seen.lock().expect("lock"), vec![Health::Unanswered]);
    assert_eq!(m.watch_timers.len(), 0);
    run_timers_until(&mut m, t0 + ms(600_000));
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![Health::Unanswered],
        "one report, even when the stream times out later"
    );
}

#[test]
fn a_watch_reports_an_answer_then_one_stall() {
    let cfg_b = StreamingConfig {
        accept_incoming: true,
        ..StreamingConfig::default()
    };
    let b_keys = keys();
    let mut a = Manager::new(keys(), StreamingConfig::default(), 5);
    let mut b = Manager::new(b_keys.clone(), cfg_b, 6);
    let t0 = Instant::now();
    let id = a.connect(t0, b_keys.destination().clone(), 80, b"");
    let (seen, report) = recorder();
    assert!(a.watch(id, t0, ms(4000), 2, report));
    // SYN to b, SYN-ACK back to a.
    while let Some(t) = a.poll_transmit(t0) {
        b.handle_packet(t0 + ms(5), t.src_port, t.dst_port, &t.packet);
    }
    while let Some(t) = b.poll_transmit(t0 + ms(5)) {
        a.handle_packet(t0 + ms(10), t.src_port, t.dst_port, &t.packet);
    }
    assert!(a.stream(id).is_some_and(Connection::is_connected));
    assert!(
        seen.lock().expect("lock").is_empty(),
        "nothing before the patience"
    );
    // The link dies; a's data goes unacknowledged from here on.
    assert!(a.write(id, b"hello") > 0);
    while a.poll_transmit(t0 + ms(10)).is_some() {}
    run_timers_until(&mut a, t0 + ms(4000));
    assert_eq!(seen.lock().expect("lock").first(), Some(&Health::Answered));
    run_timers_until(&mut a, t0 + ms(600_000));
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![Health::Answered, Health::Stalled],
        "answered, then one stall report"
    );
}

#[test]
fn idle_watched_streams_leave_no_deadline_after_their_patience() {
    let mut m = Manager::new(keys(), StreamingConfig::default(), 7);
    let remote = keys().destination().clone();
    let t0 = Instant::now();
    for _ in 0..100 {
        let id = m.connect(t0, remote.clone(), 80, b"");
        assert!(m.watch(id, t0, ms(4000), 2, recorder().1));
    }
    assert_eq!(m.watch_timers.len(), 100);
    while m.poll_transmit(t0).is_some() {}
    run_timers_until(&mut m, t0 + ms(4000));
    assert_eq!(m.watch_timers.len(), 0, "no watch deadline is left");
    assert!(m.streams.values().all(|e| e.watch.is_none()));
}
