//! The tokio driver against a scripted fake router on 127.0.0.1:0.
//! Real time, but every wait is bounded by a deadline; nothing sleeps to synchronise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::i2cp_support;
use crate::i2cp_support::fake::{self, FakeConn, STEP};
use crate::i2cp_support::test_keys;
use i2psocks::data::PrivateKeys;
use i2psocks::i2cp::message::{LookupQuery, Message};
use i2psocks::i2cp::payload;
use i2psocks::i2cp::{
    DownReason, I2cpClientConfig, I2cpHandle, LookupError, SESSION_START_WAIT, SendError,
    SessionState, start,
};
use tokio::net::TcpListener;
use tokio::time::timeout;

const SID: u16 = 0x1234;

fn config(port: u16, keys: Arc<PrivateKeys>) -> I2cpClientConfig {
    I2cpClientConfig {
        address: "127.0.0.1".into(),
        port,
        keys,
        options: vec![("inbound.length".into(), "0".into())],
        lookup_timeout: Duration::from_millis(500),
        reconnect_max_delay: Duration::from_millis(600),
        i2cp_enabled_in_config: true,
        after_unclean_exit: false,
    }
}

async fn wait_state(h: &I2cpHandle, pred: impl Fn(&SessionState) -> bool) -> SessionState {
    let mut rx = h.status();
    let got = timeout(STEP, rx.wait_for(|s| pred(s)))
        .await
        .expect("state reached in time")
        .expect("task alive");
    got.clone()
}

/// Start a client and bring its session to Ready through the fake router.
async fn ready_client() -> (I2cpHandle, TcpListener, FakeConn) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = start(config(port, test_keys())).await;
    let mut conn = fake::accept(&listener).await;
    let cfg = conn.handshake(SID, 1).await;
    assert_eq!(cfg.destination, *test_keys().destination());
    assert!(
        cfg.options
            .contains(&("i2cp.dontPublishLeaseSet".into(), "true".into()))
    );
    assert!(cfg.options.contains(&("inbound.length".into(), "0".into())));
    assert_eq!(*h.status().borrow(), SessionState::Connecting);
    let (cls, took) = conn.request_lease_set(SID).await;
    assert!(cls.verify_signature());
    assert!(
        took < Duration::from_secs(1),
        "LeaseSet answered in {took:?}"
    );
    wait_state(&h, |s| *s == SessionState::Ready).await;
    (h, listener, conn)
}

/// The router hands the client one received payload (MessagePayload).
async fn deliver(conn: &mut FakeConn, msg_id: u32, payload: Vec<u8>) {
    conn.send(&Message::MessagePayload {
        sid: SID,
        msg_id,
        payload,
    })
    .await;
}

/// Read the next HostLookup and answer it "not found" (code 1), as i2pd does.
async fn answer_next_lookup_not_found(conn: &mut FakeConn) {
    let Message::HostLookup { request_id, .. } = conn.expect().await else {
        panic!("HostLookup")
    };
    conn.send(&Message::HostReply {
        sid: SID,
        request_id,
        code: 1,
        destination: None,
    })
    .await;
}

#[tokio::test]
async fn session_ready_and_every_lease_set_request_answered() {
    let (h, _l, mut conn) = ready_client().await;
    for _ in 0..3 {
        let (cls, took) = conn.request_lease_set(SID).await;
        assert!(cls.verify_signature());
        assert_eq!(cls.sid, SID);
        assert!(took < Duration::from_secs(1));
    }
    assert_eq!(*h.status().borrow(), SessionState::Ready);
}

#[tokio::test]
async fn lookups_by_name_by_b32_not_found_and_timeout() {
    let (h, _l, mut conn) = ready_client().await;
    let web = PrivateKeys::generate(7, 0).unwrap().destination().clone();

    // Name → type 1.
    let h2 = h.clone();
    let task = tokio::spawn(async move { h2.lookup_name("web.i2p").await });
    let Message::HostLookup {
        sid,
        request_id,
        query,
        ..
    } = conn.expect().await
    else {
        panic!("HostLookup")
    };
    assert_eq!(sid, SID);
    assert_eq!(query, LookupQuery::Name("web.i2p".into()));
    conn.send(&Message::HostReply {
        sid,
        request_id,
        code: 0,
        destination: Some(web.clone()),
    })
    .await;
    assert_eq!(task.await.unwrap(), Ok(web.clone()));

    // b32 → decoded locally, type 0 by hash.
    let h2 = h.clone();
    let b32 = web.b32_address();
    let task = tokio::spawn(async move { h2.lookup_name(&b32).await });
    let Message::HostLookup {
        request_id, query, ..
    } = conn.expect().await
    else {
        panic!("HostLookup")
    };
    assert_eq!(query, LookupQuery::Hash(web.hash()));
    conn.send(&Message::HostReply {
        sid: SID,
        request_id,
        code: 0,
        destination: Some(web.clone()),
    })
    .await;
    assert_eq!(task.await.unwrap().unwrap().hash(), web.hash());

    // Not found → code 1.
    let h2 = h.clone();
    let task = tokio::spawn(async move { h2.lookup_name("nonexistent.i2p").await });
    answer_next_lookup_not_found(&mut conn).await;
    assert_eq!(
        task.await.unwrap(),
        Err(LookupError::NotFound("nonexistent.i2p".into()))
    );

    // No answer → client-side timeout (500 ms here).
    let t = Instant::now();
    let h2 = h.clone();
    let task = tokio::spawn(async move { h2.lookup_name("silent.i2p").await });
    let Message::HostLookup { .. } = conn.expect().await else {
        panic!("HostLookup")
    };
    assert_eq!(
        task.await.unwrap(),
        Err(LookupError::TimedOut("silent.i2p".into()))
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "timeout after {took:?}"
    );

    // The session survived all of that.
    let (cls, _) = conn.request_lease_set(SID).await;
    assert!(cls.verify_signature());
}

#[tokio::test]
async fn send_and_receive_payloads() {
    let (h, _l, mut conn) = ready_client().await;
    let web = PrivateKeys::generate(7, 0).unwrap().destination().clone();
    let mut inbound = h.subscribe(6);

    h.send(&web, 6, 0, 80, b"SYN bytes").unwrap();
    let Message::SendMessageExpires {
        sid,
        destination,
        payload: wrapped,
        nonce,
        flags,
        expiration_ms,
    } = conn.expect().await
    else {
        panic!("SendMessageExpires")
    };
    assert_eq!((sid, nonce, flags), (SID, 0, 0));
    // About a minute from now (the fake router's clock is ours).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        expiration_ms > now_ms + 50_000 && expiration_ms < now_ms + 70_000,
        "expiration {expiration_ms} vs now {now_ms}"
    );
    assert_eq!(destination, web);
    assert_eq!(&wrapped[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 80, 2, 6]);
    assert_eq!(payload::decode(&wrapped).unwrap().data, b"SYN bytes");

    let reply = payload::encode(6, 0, 0, b"SYN-ACK", payload::Compression::Deflate);
    deliver(&mut conn, 2, reply).await;
    // A payload for a protocol nobody subscribed to is dropped without harm.
    let dgram = payload::encode(18, 1, 2, b"raw", payload::Compression::Stored);
    deliver(&mut conn, 3, dgram).await;
    let got = timeout(STEP, inbound.recv()).await.unwrap().unwrap();
    assert_eq!(
        (got.from_port, got.to_port, got.payload.as_slice()),
        (0, 0, &b"SYN-ACK"[..])
    );

    // Too large for one I2CP message (incompressible bytes; zeros would deflate to fit).
    let mut x = 0x1234_5678u32;
    let noise: Vec<u8> = (0..70_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 24) as u8
        })
        .collect();
    assert!(matches!(
        h.send(&web, 6, 0, 0, &noise),
        Err(SendError::TooLarge(_))
    ));
}

#[tokio::test]
async fn reconnects_with_same_destination_and_fails_fast_while_down() {
    let (h, listener, conn) = ready_client().await;
    let web = PrivateKeys::generate(7, 0).unwrap().destination().clone();
    drop(conn); // router dies

    let down = wait_state(&h, |s| matches!(s, SessionState::Down(_))).await;
    assert!(
        matches!(down, SessionState::Down(DownReason::Lost(_))),
        "{down:?}"
    );

    // Fail fast while down (backoff ≥ 250 ms before the next attempt).
    let t = Instant::now();
    let res = h.lookup_name("web.i2p").await;
    match res {
        // The normal case: still inside the 250 ms back-off.
        Err(LookupError::RouterDown(_)) => assert!(t.elapsed() < Duration::from_millis(200)),
        // Only on a badly overloaded machine: the back-off ended and the new attempt
        // found no router answering (the fake accepts below).
        Err(LookupError::NotReady) => {}
        other => panic!("lookup while down: {other:?}"),
    }
    assert!(matches!(
        h.send(&web, 6, 0, 0, b"x"),
        Err(SendError::RouterDown(_) | SendError::NotReady)
    ));

    // Router back: new connection, same destination.
    let mut conn = fake::accept(&listener).await;
    let cfg = conn.handshake(SID + 1, 1).await;
    assert_eq!(cfg.destination, *test_keys().destination());
    let (cls, _) = conn.request_lease_set(SID + 1).await;
    assert!(cls.verify_signature());
    assert_eq!(cls.sid, SID + 1);
    wait_state(&h, |s| *s == SessionState::Ready).await;
}

#[tokio::test]
async fn backoff_grows_and_is_capped() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _h = start(config(port, test_keys())).await;
    let mut at = Vec::new();
    for _ in 0..6 {
        let (s, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
        at.push(Instant::now());
        drop(s); // EOF at once: session lost before it was ready
    }
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    // Expected delays: 250, 500, 600 (cap), 600, 600 ms.
    let expected = [250u64, 500, 600, 600, 600];
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(
            *gap >= Duration::from_millis(want * 9 / 10),
            "gaps {gaps:?}"
        );
        assert!(*gap < Duration::from_millis(want + 1000), "gaps {gaps:?}");
    }
}

#[tokio::test]
async fn refused_connection_gives_actionable_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);

    let h = start(config(port, test_keys())).await;
    let st = wait_state(&h, |s| matches!(s, SessionState::Down(_))).await;
    let SessionState::Down(reason) = st else {
        unreachable!()
    };
    assert_eq!(
        reason.to_string(),
        format!(
            "cannot reach the router's I2CP server at 127.0.0.1:{port}: is the router running \
             with I2CP on? (i2pd: [i2cp] enabled = true, address and port in i2pd.conf; Java \
             I2P: the \"I2CP\" client enabled in the console, or i2cp.disableInterface=false, \
             i2cp.hostname and i2cp.port in router.config)"
        )
    );
    let t = Instant::now();
    let err = h.lookup_name("web.i2p").await.unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(300));
    assert!(
        matches!(err, LookupError::RouterDown(DownReason::Unreachable { .. })),
        "{err:?}"
    );
    h.shutdown().await;

    let mut cfg = config(port, test_keys());
    cfg.i2cp_enabled_in_config = false;
    let h = start(cfg).await;
    let st = wait_state(&h, |s| matches!(s, SessionState::Down(_))).await;
    assert_eq!(st, SessionState::Down(DownReason::I2cpDisabled),);
    assert_eq!(
        DownReason::I2cpDisabled.to_string(),
        "i2pd's I2CP server is off: set [i2cp] enabled = true in i2pd.conf and restart i2pd \
         (with Java I2P instead: enable the \"I2CP\" client in the console, or set \
         i2cp.disableInterface=false in router.config)"
    );
    h.shutdown().await;
    assert_eq!(
        *h.status().borrow(),
        SessionState::Down(DownReason::ShutDown)
    );
}

#[tokio::test]
async fn session_invalid_is_explained_and_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = start(config(port, test_keys())).await;
    let mut conn = fake::accept(&listener).await;
    conn.handshake(0, 3).await;
    let st = wait_state(&h, |s| matches!(s, SessionState::Down(_))).await;
    assert_eq!(st, SessionState::Down(DownReason::SessionInvalid));
    assert_eq!(
        DownReason::SessionInvalid.to_string(),
        "the router refused the session (status 3): another process may be using this keys file's destination, or an old session is still closing"
    );
    // Retried: the old session may just have been closing.
    let mut conn2 = fake::accept(&listener).await;
    conn2.handshake(SID, 1).await;
    let (cls, _) = conn2.request_lease_set(SID).await;
    assert!(cls.verify_signature());
    wait_state(&h, |s| *s == SessionState::Ready).await;
}

/// Java I2P refuses with a Disconnect before any SessionStatus; retrying "duplicate
/// destination" would make Java cut off the other client, so the first one is final.
#[tokio::test]
async fn a_disconnect_before_the_session_is_final_and_explained() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = start(config(port, test_keys())).await;
    let mut conn = fake::accept(&listener).await;
    let Message::GetDate { version, .. } = conn.expect().await else {
        panic!("expected GetDate")
    };
    conn.send(&Message::SetDate {
        date_ms: 1_700_000_000_000,
        version,
    })
    .await;
    assert!(matches!(conn.expect().await, Message::CreateSession(_)));
    conn.send(&Message::Disconnect {
        reason: "duplicate destination".into(),
    })
    .await;
    let st = wait_state(&h, |s| {
        matches!(s, SessionState::Down(DownReason::RouterRefused { .. }))
    })
    .await;
    let SessionState::Down(reason) = st else {
        unreachable!()
    };
    let text = reason.to_string();
    assert!(text.contains("\"duplicate destination\""), "{text}");
    assert!(
        text.contains("stop it or give one of them other keys"),
        "{text}"
    );
    // No reconnect: the listener sees no second connection within several back-offs.
    assert!(
        timeout(Duration::from_secs(2), listener.accept())
            .await
            .is_err(),
        "reconnected after a final refusal"
    );
    let err = h.lookup_name("web.i2p").await.unwrap_err();
    assert!(
        matches!(
            err,
            LookupError::RouterDown(DownReason::RouterRefused { .. })
        ),
        "{err:?}"
    );
    timeout(STEP, h.shutdown())
        .await
        .expect("shutdown completes");
}

/// SessionStatus 3 can be our own old session still closing, so it is retried, but not
/// forever: after three in a row the session is refused for good.
#[tokio::test]
async fn repeated_session_invalid_is_final() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = start(config(port, test_keys())).await;
    for attempt in 1..=3 {
        let mut conn = fake::accept(&listener).await;
        conn.handshake(0, 3).await;
        let st = wait_state(&h, |s| matches!(s, SessionState::Down(_))).await;
        if attempt < 3 {
            assert_eq!(
                st,
                SessionState::Down(DownReason::SessionInvalid),
                "attempt {attempt}"
            );
        }
        assert_eq!(conn.recv().await, None, "closed after the refusal");
    }
    let st = wait_state(&h, |s| {
        matches!(s, SessionState::Down(DownReason::RouterRefused { .. }))
    })
    .await;
    let SessionState::Down(reason) = st else {
        unreachable!()
    };
    assert!(
        reason
            .to_string()
            .contains("SessionStatus 3 (invalid), 3 times in a row"),
        "{reason}"
    );
    assert!(
        timeout(Duration::from_secs(2), listener.accept())
            .await
            .is_err(),
        "reconnected after a final refusal"
    );
}

#[tokio::test]
async fn shutdown_destroys_the_session() {
    let (h, _l, mut conn) = ready_client().await;
    let router = tokio::spawn(async move {
        let msg = conn.expect().await;
        assert_eq!(msg, Message::DestroySession { sid: SID });
        conn.send(&Message::SessionStatus {
            sid: SID,
            status: 0,
        })
        .await;
        // The client closes after that.
        assert_eq!(conn.recv().await, None);
    });
    timeout(STEP, h.shutdown())
        .await
        .expect("shutdown completes");
    assert_eq!(
        *h.status().borrow(),
        SessionState::Down(DownReason::ShutDown)
    );
    timeout(STEP, router).await.unwrap().unwrap();
    let err = h.lookup_name("web.i2p").await.unwrap_err();
    assert!(
        matches!(err, LookupError::RouterDown(DownReason::ShutDown)),
        "{err:?}"
    );
}

#[tokio::test]
async fn lookup_waits_for_ready_while_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = config(port, test_keys());
    cfg.lookup_timeout = Duration::from_secs(3);
    let h = start(cfg).await;
    let h2 = h.clone();
    let task = tokio::spawn(async move { h2.lookup_name("web.i2p").await });
    let mut conn = fake::accept(&listener).await;
    conn.handshake(SID, 1).await;
    conn.request_lease_set(SID).await;
    answer_next_lookup_not_found(&mut conn).await;
    assert_eq!(
        task.await.unwrap(),
        Err(LookupError::NotFound("web.i2p".into()))
    );
}

/// A session whose LeaseSet is never asked for (its tunnels never come): a lookup waits
/// SESSION_START_WAIT lookup timeouts for it, then fails with NotReady (SOCKS 04). The lower
/// bound is exact (a timeout cannot fire early); the upper one only catches a hang.
#[tokio::test]
async fn lookup_gives_up_on_a_session_that_never_starts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cfg = config(port, test_keys());
    let limit = cfg.lookup_timeout * SESSION_START_WAIT;
    let h = start(cfg).await;
    let mut conn = fake::accept(&listener).await;
    conn.handshake(SID, 1).await;
    let started = Instant::now();
    let res = timeout(limit + STEP, h.lookup_name("web.i2p"))
        .await
        .expect("the lookup gives up on its own");
    let took = started.elapsed();
    assert_eq!(res, Err(LookupError::NotReady));
    assert!(took >= limit, "gave up after {took:?}, before {limit:?}");
    assert_eq!(
        SESSION_START_WAIT, 4,
        "the man page and --help say four times"
    );
    drop(conn);
}

#[tokio::test]
async fn several_sessions_in_one_process() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let k2 = Arc::new(PrivateKeys::generate(7, 4).unwrap());
    let a = start(config(port, test_keys())).await;
    let mut c1 = fake::accept(&listener).await;
    let b = start(config(port, k2.clone())).await;
    let mut c2 = fake::accept(&listener).await;
    let cfg1 = c1.handshake(1, 1).await;
    let cfg2 = c2.handshake(2, 1).await;
    assert_ne!(cfg1.destination, cfg2.destination);
    assert!(c1.request_lease_set(1).await.0.verify_signature());
    assert!(c2.request_lease_set(2).await.0.verify_signature());
    wait_state(&a, |s| *s == SessionState::Ready).await;
    wait_state(&b, |s| *s == SessionState::Ready).await;
    assert_eq!(b.destination(), k2.destination());
}

#[tokio::test]
async fn lease_set_requests_answered_while_a_subscriber_is_stalled() {
    let (h, _l, mut conn) = ready_client().await;
    // Subscribe but never read: the inbound queue fills up and further payloads are dropped.
    let _stalled = h.subscribe(6);
    let gz = payload::encode(6, 0, 0, &[0x55; 1000], payload::Compression::Stored);
    let mut burst = Vec::new();
    for i in 0..(i2psocks::i2cp::driver::INBOUND_QUEUE_LEN as u32 + 200) {
        burst.extend(i2cp_support::wire(&Message::MessagePayload {
            sid: SID,
            msg_id: i,
            payload: gz.clone(),
        }));
    }
    tokio::io::AsyncWriteExt::write_all(&mut conn.stream, &burst)
        .await
        .unwrap();
    let (cls, took) = conn.request_lease_set(SID).await;
    assert!(cls.verify_signature());
    assert!(took < Duration::from_secs(2), "answer took {took:?}");
    assert_eq!(*h.status().borrow(), SessionState::Ready);
}
