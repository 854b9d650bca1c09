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
