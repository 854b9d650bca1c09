//! One `Connection`/`Manager` against a scripted i2pd-like peer: exact bytes from
//! the i2pd packets and behaviours of docs/streaming.md "What i2pd sends".

use i2psocks::data::{Destination, PrivateKeys};
use i2psocks::streaming::packet::{Flags, Packet};
use i2psocks::streaming::{CloseReason, Connection, Event, Manager, StreamingConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OUR_ID: u32 = 0x3ede627c;
const PEER_ID: u32 = 0xd584c5da;

/// One packet from `conn` as its own buffer (the connection appends into a caller's buffer).
fn poll_bytes(conn: &mut Connection, now: Instant) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    conn.poll_transmit(now, &mut bytes).map(|_| bytes)
}

fn keys() -> Arc<PrivateKeys> {
    Arc::new(PrivateKeys::generate(7, 4).expect("keys"))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

/// Check a signature the way i2pd does: zero the slot, verify the whole packet.
fn signature_ok(bytes: &[u8], at: usize, signer: &Destination) -> bool {
    let sig = bytes[at..at + 64].to_vec();
    let mut zeroed = bytes.to_vec();
    zeroed[at..at + 64].fill(0);
    signer.verify(&zeroed, &sig)
}

/// i2pd's SYN-ACK, built byte by byte (docs/streaming.md "What i2pd sends"): 479 bytes, flags 00a9,
/// MTU 1812.
fn i2pd_syn_ack(server: &PrivateKeys, our_id: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&our_id.to_be_bytes());
    b.extend_from_slice(&PEER_ID.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes()); // seq
    b.extend_from_slice(&0u32.to_be_bytes()); // ack
    b.push(0); // NACKs
    b.push(9); // resend delay
    b.extend_from_slice(&0x00a9u16.to_be_bytes());
    b.extend_from_slice(&0x01c9u16.to_be_bytes());
    b.extend_from_slice(server.destination().as_bytes());
    b.extend_from_slice(&1812u16.to_be_bytes());
    let sig_at = b.len();
    b.extend_from_slice(&[0u8; 64]);
    let sig = server.sign(&b);
    b[sig_at..sig_at + 64].copy_from_slice(&sig);
    b
}

/// i2pd data packet: flags 0, no options.
fn i2pd_data(our_id: u32, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let p = Packet {
        send_stream_id: our_id,
        receive_stream_id: PEER_ID,
        seq,
        ack_through: ack,
        payload: payload.to_vec(),
        ..Packet::default()
    };
    p.encode().expect("encode")
}

/// i2pd CLOSE: 86 bytes, flags 000a, signed.
fn i2pd_close(server: &PrivateKeys, our_id: u32, seq: u32, ack: u32) -> Vec<u8> {
    let mut p = Packet {
        send_stream_id: our_id,
        receive_stream_id: PEER_ID,
        seq,
        ack_through: ack,
        flags: Flags::CLOSE,
        ..Packet::default()
    };
    p.sign(server).expect("sign")
}

struct Script {
    client: Arc<PrivateKeys>,
    server: Arc<PrivateKeys>,
    conn: Connection,
    now: Instant,
}

impl Script {
    fn new(initial: &[u8]) -> Script {
        let client = keys();
        let server = keys();
        let now = Instant::now();
        let conn = Connection::connect(
            client.clone(),
            server.destination().clone(),
            OUR_ID,
            initial,
            &StreamingConfig::default(),
            now,
        );
        Script {
            client,
            server,
            conn,
            now,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let p = Packet::decode(bytes).expect("decodable");
        self.conn.handle_packet(self.now, p);
    }

    fn out(&mut self) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while let Some(b) = poll_bytes(&mut self.conn, self.now) {
            v.push(b);
        }
        v
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.conn.handle_timeout(self.now);
    }

    /// Connect and take the SYN-ACK; returns the SYN bytes.
    fn establish(&mut self) -> Vec<u8> {
        let syn = self.out();
        assert_eq!(syn.len(), 1);
        let synack = i2pd_syn_ack(&self.server, OUR_ID);
        self.feed(&synack);
        assert_eq!(self.events(), vec![Event::Connected]);
        syn.into_iter().next().unwrap_or_default()
    }
}

#[test]
fn syn_matches_i2pd_head_layout() {
    let mut s = Script::new(b"GET / HTTP/1.0\r\n\r\n");
    let out = s.out();
    assert_eq!(out.len(), 1, "one SYN, nothing else before the SYN-ACK");
    let syn = &out[0];
    let from = s.client.destination().as_bytes();
    assert_eq!(from.len(), 391);
    assert_eq!(syn.len(), 511 + 18, "511 bytes before the payload");
    assert_eq!(be32(syn, 0), 0, "sendStreamId 0");
    assert_eq!(be32(syn, 4), OUR_ID);
    assert_eq!(be32(syn, 8), 0, "seq 0");
    assert_eq!(be32(syn, 12), 0, "ackThrough 0");
    assert_eq!(syn[16], 8, "NACK count 8");
    assert_eq!(
        &syn[17..49],
        &s.server.destination().hash(),
        "target hash in the NACKs"
    );
    assert_eq!(syn[49], 9, "resendDelay");
    assert_eq!(be16(syn, 50), 0x04a9, "SYN|SIG|FROM|MAXSIZE|NO_ACK");
    assert_eq!(be16(syn, 52), 0x01c9, "option size 457");
    assert_eq!(&syn[54..445], from, "FROM");
    assert_eq!(be16(syn, 445), 1730, "MTU");
    assert_eq!(&syn[511..], b"GET / HTTP/1.0\r\n\r\n");
    assert!(
        signature_ok(syn, 447, s.client.destination()),
        "signature over the zeroed packet"
    );
    let decoded = Packet::decode(syn).expect("decodes");
    assert!(decoded.verify(s.client.destination()));
    assert_eq!(
        decoded.syn_target_hash(),
        Some(s.server.destination().hash())
    );
}

#[test]
fn data_before_syn_ack_uses_stream_id_zero() {
    let mut s = Script::new(&vec![7u8; 3000]);
    let out = s.out();
    assert_eq!(out.len(), 2, "SYN with 1730 bytes, then one follow-on");
    assert_eq!(out[0].len(), 511 + 1730);
    let follow = Packet::decode(&out[1]).expect("decodes");
    assert_eq!(follow.send_stream_id, 0);
    assert_eq!(follow.receive_stream_id, OUR_ID);
    assert_eq!(follow.seq, 1);
    assert!(follow.flags.contains(Flags::NO_ACK), "nothing received yet");
    assert_eq!(follow.payload.len(), 3000 - 1730);
}

#[test]
fn a_first_contact_sends_nothing_after_the_syn_until_the_answer() {
    let mut s = Script::new(&vec![7u8; 3000]);
    s.conn.hold_until_answered();
    let out = s.out();
    assert_eq!(out.len(), 1, "the SYN alone, the follow-on waits");
    assert_eq!(out[0].len(), 511 + 1730);
    // Written before the answer: held too.
    assert_eq!(s.conn.write(b"more"), 4);
    assert!(s.out().is_empty());
    // The SYN's retransmission is still the SYN.
    s.advance(Duration::from_secs(4));
    let again = s.out();
    assert_eq!(again.len(), 1, "only the SYN again: {again:?}");
    assert_eq!(Packet::decode(&again[0]).expect("decodes").seq, 0);
    // The SYN-ACK: what waited goes out, as packets of the open stream.
    let synack = i2pd_syn_ack(&s.server, OUR_ID);
    s.feed(&synack);
    let after = s.out();
    let data: Vec<Packet> = after
        .iter()
        .filter_map(|b| Packet::decode(b).ok())
        .filter(|p| !p.payload.is_empty())
        .collect();
    let sent: usize = data.iter().map(|p| p.payload.len()).sum();
    assert_eq!(sent, 3000 - 1730 + 4, "everything held, once");
    assert!(
        data.iter().all(|p| p.send_stream_id != 0),
        "to the peer's id"
    );
}

#[test]
fn full_exchange_with_i2pd_close_last() {
    let mut s = Script::new(b"GET");
    s.establish();
    assert_eq!(s.conn.remote_id(), PEER_ID);
    // The SYN-ACK ACKs our SYN; we ACK it at once (i2pd's responder sends no data
    // before its SYN-ACK is ACKed, so a delayed ACK would delay the first byte).
    let acks = s.out();
    assert_eq!(acks.len(), 1);
    // docs/streaming.md "What i2pd sends": 22 bytes, peer id, our id, seq 0, ack 0, zeros.
    let mut golden = Vec::new();
    golden.extend_from_slice(&PEER_ID.to_be_bytes());
    golden.extend_from_slice(&OUR_ID.to_be_bytes());
    golden.extend_from_slice(&[0; 14]);
    assert_eq!(acks[0], golden);

    s.feed(&i2pd_data(OUR_ID, 1, 0, b"HTTP/1.0 200 OK\r\n\r\nhello"));
    assert_eq!(s.events(), vec![Event::Readable]);
    let mut buf = [0u8; 100];
    let n = s.conn.read(&mut buf);
    assert_eq!(&buf[..n], b"HTTP/1.0 200 OK\r\n\r\nhello");
    let server = s.server.clone();
    s.feed(&i2pd_close(&server, OUR_ID, 2, 0));
    assert_eq!(s.events(), vec![Event::Finished]);
    assert!(s.conn.is_read_finished());

    // The application closes before the delayed ACK: our CLOSE carries the ACK.
    s.conn.close(s.now);
    let out = s.out();
    assert_eq!(out.len(), 1, "just our CLOSE");
    let close = &out[0];
    assert_eq!(close.len(), 86);
    assert_eq!(be32(close, 0), PEER_ID);
    assert_eq!(be32(close, 4), OUR_ID);
    assert_eq!(be32(close, 8), 1, "seq 1: the next after our SYN");
    assert_eq!(be32(close, 12), 2, "ACKs i2pd's CLOSE");
    assert_eq!(&close[16..18], &[0, 0]);
    assert_eq!(be16(close, 18), 0x000a);
    assert_eq!(be16(close, 20), 0x0040);
    assert!(signature_ok(close, 22, s.client.destination()));

    // i2pd 2.45.1 answers with a second CLOSE, seq+1, ACKing ours: done, no reply.
    s.feed(&i2pd_close(&server, OUR_ID, 3, 1));
    assert_eq!(s.events(), vec![Event::Closed(CloseReason::Normal)]);
    assert!(s.out().is_empty(), "nothing answers the duplicate CLOSE");
    // Anything later is ignored.
    s.feed(&i2pd_close(&server, OUR_ID, 4, 1));
    assert!(s.out().is_empty() && s.events().is_empty());
    assert_eq!(s.conn.poll_timeout(), None);
}

#[test]
fn close_first_then_ack_the_peers_close() {
    let mut s = Script::new(b"");
    s.establish();
    s.conn.shutdown_write();
    let out = s.out();
    assert_eq!(out.len(), 1);
    let ours = Packet::decode(&out[0]).expect("decodes");
    assert!(ours.flags.contains(Flags::CLOSE));
    assert_eq!(ours.seq, 1);
    let server = s.server.clone();
    // i2pd answers with one CLOSE that ACKs ours (seen from i2pd 2.45.1: seq 4, ack 4 there).
    s.feed(&i2pd_close(&server, OUR_ID, 1, 1));
    let out = s.out();
    assert_eq!(out.len(), 1, "we ACK the peer's CLOSE");
    let ack = Packet::decode(&out[0]).expect("decodes");
    assert!(ack.is_plain_ack());
    assert_eq!(ack.ack_through, 1);
    assert_eq!(
        s.events(),
        vec![Event::Finished, Event::Closed(CloseReason::Normal)]
    );
}

#[test]
fn rejects_syn_ack_with_bad_signature_or_wrong_from() {
    let mut s = Script::new(b"x");
    s.out();
    let mut bad = i2pd_syn_ack(&s.server, OUR_ID);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    s.feed(&bad);
    assert!(!s.conn.is_connected());
    assert!(s.events().is_empty());
    // Validly signed, but by somebody else than the destination we dialled.
    let impostor = keys();
    s.feed(&i2pd_syn_ack(&impostor, OUR_ID));
    assert!(!s.conn.is_connected());
    assert_eq!(s.conn.stats().rejected, 2);
    // The real one still works.
    s.feed(&i2pd_syn_ack(&s.server.clone(), OUR_ID));
    assert!(s.conn.is_connected());
}

#[test]
fn honours_signed_reset_whatever_its_seq() {
    let mut s = Script::new(b"x");
    s.establish();
    let mut unsigned = Packet {
        send_stream_id: OUR_ID,
        receive_stream_id: PEER_ID,
        seq: 999,
        flags: Flags::RESET,
        ..Packet::default()
    };
    s.feed(&unsigned.encode().expect("encode"));
    assert_eq!(s.conn.close_reason(), None, "unsigned RESET ignored");
    let signed = unsigned.sign(&s.server).expect("sign");
    s.feed(&signed);
    assert_eq!(s.conn.close_reason(), Some(CloseReason::PeerReset));
    assert_eq!(s.events(), vec![Event::Closed(CloseReason::PeerReset)]);
}

#[test]
fn local_reset_is_signed() {
    let mut s = Script::new(b"x");
    s.establish();
    s.conn.reset();
    let out = s.out();
    assert_eq!(out.len(), 1);
    let p = Packet::decode(&out[0]).expect("decodes");
    assert!(p.flags.contains(Flags::RESET));
    assert!(p.verify(s.client.destination()));
    assert_eq!(s.conn.close_reason(), Some(CloseReason::LocalReset));
}

#[test]
fn choke_at_60000_and_unchoke() {
    let mut s = Script::new(b"");
    s.establish();
    let choke = Packet {
        send_stream_id: OUR_ID,
        receive_stream_id: PEER_ID,
        delay_requested: Some(60000),
        ..Packet::default()
    };
    s.feed(&choke.encode().expect("encode"));
    assert!(s.conn.is_peer_choked(), "i2pd's 60000 is a choke");
    // While choked only one packet may be in flight.
    s.conn.write(&vec![1u8; 10_000]);
    assert_eq!(s.out().len(), 1);
    let plain = Packet {
        send_stream_id: OUR_ID,
        receive_stream_id: PEER_ID,
        ..Packet::default()
    };
    s.feed(&plain.encode().expect("encode"));
    assert!(!s.conn.is_peer_choked());
}

#[test]
fn immediate_ack_on_delay_zero() {
    let mut s = Script::new(b"");
    s.establish();
    s.advance(Duration::from_millis(300));
    s.out();
    let mut p = Packet::decode(&i2pd_data(OUR_ID, 1, 0, b"abc")).expect("decodes");
    p.delay_requested = Some(0);
    s.feed(&p.encode().expect("encode"));
    let out = s.out();
    assert_eq!(out.len(), 1, "ACK sent without waiting");
    assert_eq!(Packet::decode(&out[0]).expect("decodes").ack_through, 1);
}

#[test]
fn out_of_order_data_is_nacked_at_once() {
    let mut s = Script::new(b"");
    s.establish();
    s.feed(&i2pd_data(OUR_ID, 3, 0, b"ccc"));
    let out = s.out();
    assert_eq!(out.len(), 1);
    let ack = Packet::decode(&out[0]).expect("decodes");
    assert_eq!(ack.ack_through, 3);
    assert_eq!(ack.nacks, vec![1, 2]);
    s.feed(&i2pd_data(OUR_ID, 1, 0, b"a"));
    s.feed(&i2pd_data(OUR_ID, 2, 0, b"bb"));
    let mut buf = [0u8; 10];
    let n = s.conn.read(&mut buf);
    assert_eq!(&buf[..n], b"abbccc");
}

#[test]
fn accepts_payloads_of_1812_bytes() {
    let mut s = Script::new(b"");
    s.establish();
    s.feed(&i2pd_data(OUR_ID, 1, 0, &[5u8; 1812]));
    let mut buf = vec![0u8; 4000];
    assert_eq!(s.conn.read(&mut buf), 1812);
}

#[test]
fn retransmits_unacked_data_with_backoff() {
    let mut s = Script::new(b"");
    s.establish();
    s.conn.write(b"data");
    let first = s.out();
    assert_eq!(first.len(), 1);
    let rto1 = s.conn.poll_timeout().expect("rto armed") - s.now;
    s.advance(rto1);
    let again = s.out();
    assert_eq!(again.len(), 1, "retransmitted");
    assert_eq!(Packet::decode(&again[0]).expect("decodes").payload, b"data");
    let rto2 = s.conn.poll_timeout().expect("rto armed") - s.now;
    assert!(
        rto2 >= rto1 * 2 - Duration::from_millis(1),
        "{rto1:?} then {rto2:?}"
    );
    assert_eq!(s.conn.stats().retransmits, 1);
}

// ===== manager =====

#[test]
fn manager_answers_signed_ping_with_pong() {
    let ours = keys();
    let pinger = keys();
    let mut m = Manager::new(ours, StreamingConfig::default(), 1);
    let mut ping = Packet {
        send_stream_id: 0x11223344,
        flags: Flags::ECHO,
        from: Some(pinger.destination().clone()),
        payload: b"ping!".to_vec(),
        ..Packet::default()
    };
    let bytes = ping.sign(&pinger).expect("sign");
    m.handle_packet(Instant::now(), 7, 9, &bytes);
    let t = m.poll_transmit(Instant::now()).expect("pong");
    assert_eq!(&t.to, pinger.destination());
    assert_eq!((t.src_port, t.dst_port), (9, 7));
    let mut golden = vec![0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44];
    golden.extend_from_slice(&[0; 10]);
    golden.extend_from_slice(&[0x02, 0x00, 0, 0]);
    golden.extend_from_slice(b"ping!");
    assert_eq!(t.packet, golden);
    // An unsigned ping is not answered.
    let unsigned = Packet {
        signature: None,
        ..ping
    };
    m.handle_packet(Instant::now(), 7, 9, &unsigned.encode().expect("encode"));
    assert!(m.poll_transmit(Instant::now()).is_none());
}

#[test]
fn manager_resets_unwanted_incoming_syn() {
    let ours = keys();
    let peer = keys();
    let mut m = Manager::new(ours.clone(), StreamingConfig::default(), 1);
    let mut syn = Packet {
        receive_stream_id: 0x55,
        nacks: Packet::nacks_for_hash(&ours.destination().hash()),
        flags: Flags::SYNCHRONIZE | Flags::NO_ACK,
        from: Some(peer.destination().clone()),
        max_packet_size: Some(1730),
        ..Packet::default()
    };
    let bytes = syn.sign(&peer).expect("sign");
    m.handle_packet(Instant::now(), 0, 80, &bytes);
    assert!(m.is_empty(), "no stream for an unwanted SYN");
    let t = m.poll_transmit(Instant::now()).expect("reset");
    let reset = Packet::decode(&t.packet).expect("decodes");
    assert_eq!(reset.send_stream_id, 0x55);
    assert_eq!(reset.seq, 0);
    assert!(reset.flags.contains(Flags::RESET));
    assert!(reset.verify(ours.destination()));
    assert_eq!(&t.to, peer.destination());
}

#[test]
fn manager_routes_by_receive_id_and_quarantines_closed_ids() {
    let ours = keys();
    let server = keys();
    let now = Instant::now();
    let mut m = Manager::new(ours, StreamingConfig::default(), 42);
    let id = m.connect(now, server.destination().clone(), 80, b"hi");
    assert_ne!(id, 0);
    let syn = m.poll_transmit(now).expect("SYN");
    assert_eq!(syn.dst_port, 80);
    assert_eq!(syn.src_port, 0);
    m.handle_packet(now, 0, 0, &i2pd_syn_ack(&server, id));
    assert_eq!(m.poll_event(), Some((id, Event::Connected)));
    // A packet for another id goes nowhere.
    m.handle_packet(now, 0, 0, &i2pd_data(id ^ 1, 1, 0, b"zz"));
    assert!(m.poll_event().is_none());
    m.handle_packet(now, 0, 0, &i2pd_data(id, 1, 0, b"yo"));
    assert_eq!(m.poll_event(), Some((id, Event::Readable)));
    m.reset(id, now);
    while m.poll_transmit(now).is_some() {}
    assert!(m.is_empty(), "a reset and released stream is forgotten");
    // Late packets for it are ignored, and its id is not handed out again soon.
    m.handle_packet(now, 0, 0, &i2pd_data(id, 2, 0, b"late"));
    assert!(m.poll_transmit(now).is_none());
    for _ in 0..1000 {
        let other = m.connect(now, server.destination().clone(), 80, b"");
        assert_ne!(other, id);
        m.reset(other, now);
        while m.poll_transmit(now).is_some() {}
    }
}

#[test]
fn data_that_overtakes_the_syn_ack_is_kept() {
    let mut s = Script::new(b"GET");
    s.out();
    s.feed(&i2pd_data(OUR_ID, 1, 0, b"early"));
    assert!(s.out().is_empty(), "no ACK before the peer's id is known");
    assert!(s.events().is_empty());
    let synack = i2pd_syn_ack(&s.server, OUR_ID);
    s.feed(&synack);
    assert_eq!(s.events(), vec![Event::Connected, Event::Readable]);
    let mut buf = [0u8; 10];
    let n = s.conn.read(&mut buf);
    assert_eq!(&buf[..n], b"early");
    s.advance(Duration::from_millis(200));
    let out = s.out();
    assert_eq!(out.len(), 1);
    assert_eq!(Packet::decode(&out[0]).expect("decodes").ack_through, 1);
}

#[test]
fn syn_is_retransmitted_until_the_syn_ack() {
    let mut s = Script::new(b"GET");
    let first = s.out();
    let rto = s.conn.poll_timeout().expect("armed") - s.now;
    assert_eq!(rto, Duration::from_secs(3), "initial RTO");
    s.advance(rto);
    let again = s.out();
    assert_eq!(again, first, "the same signed SYN again");
    s.feed(&i2pd_syn_ack(&s.server.clone(), OUR_ID));
    assert!(s.conn.is_connected());
    assert_eq!(s.conn.stats().retransmits, 1);
}

#[test]
fn reset_before_the_syn_went_out_sends_nothing() {
    let mut s = Script::new(b"never sent");
    s.conn.reset();
    assert!(s.out().is_empty());
    assert_eq!(s.events(), vec![Event::Closed(CloseReason::LocalReset)]);
}

#[test]
fn responder_keeps_follow_ons_that_overtake_the_syn() {
    let ours = keys();
    let peer = keys();
    let now = Instant::now();
    let cfg = StreamingConfig {
        accept_incoming: true,
        ..StreamingConfig::default()
    };
    let mut m = Manager::new(ours.clone(), cfg, 5);
    // Follow-on data (seq 1, sendStreamId 0) arrives first.
    let follow = Packet {
        receive_stream_id: 0x77,
        seq: 1,
        flags: Flags::NO_ACK,
        payload: b" world".to_vec(),
        ..Packet::default()
    };
    m.handle_packet(now, 0, 80, &follow.encode().expect("encode"));
    assert!(m.is_empty() && m.accept().is_none());
    let mut syn = Packet {
        receive_stream_id: 0x77,
        nacks: Packet::nacks_for_hash(&ours.destination().hash()),
        flags: Flags::SYNCHRONIZE | Flags::NO_ACK,
        from: Some(peer.destination().clone()),
        max_packet_size: Some(1730),
        payload: b"hello".to_vec(),
        ..Packet::default()
    };
    let bytes = syn.sign(&peer).expect("sign");
    m.handle_packet(now, 0, 80, &bytes);
    let id = m.accept().expect("accepted");
    let mut buf = [0u8; 32];
    let n = m.read(id, &mut buf);
    assert_eq!(&buf[..n], b"hello world");
    // The SYN-ACK goes back to the initiator, ACKing both packets.
    let t = m.poll_transmit(now).expect("SYN-ACK");
    assert_eq!(&t.to, peer.destination());
    assert_eq!((t.src_port, t.dst_port), (80, 0));
    let synack = Packet::decode(&t.packet).expect("decodes");
    assert!(synack.flags.contains(Flags::SYNCHRONIZE));
    assert_eq!(synack.send_stream_id, 0x77);
    assert_eq!(synack.ack_through, 1);
    assert!(synack.verify(ours.destination()));
    // A SYN naming another destination is dropped (replay protection).
    let mut other = syn.clone();
    other.receive_stream_id = 0x78;
    other.nacks = Packet::nacks_for_hash(&[0; 32]);
    let bytes = other.sign(&peer).expect("sign");
    m.handle_packet(now, 0, 80, &bytes);
    assert!(m.accept().is_none());
}

#[test]
fn plain_ack_asking_for_an_immediate_ack_gets_one() {
    // i2pd HEAD puts DELAY_REQUESTED 0 in a plain ACK to measure the RTT.
    let mut s = Script::new(b"");
    s.establish();
    s.advance(Duration::from_millis(300));
    s.out();
    let ping = Packet {
        send_stream_id: OUR_ID,
        receive_stream_id: PEER_ID,
        delay_requested: Some(0),
        ..Packet::default()
    };
    s.feed(&ping.encode().expect("encode"));
    let out = s.out();
    assert_eq!(out.len(), 1);
    let ack = Packet::decode(&out[0]).expect("decodes");
    assert!(ack.is_plain_ack());
    assert_eq!(
        ack.delay_requested, None,
        "our ACK must not ask back (no ACK ping-pong)"
    );
}

#[test]
fn choke2_65535_is_a_choke() {
    let mut s = Script::new(b"");
    s.establish();
    let choke = Packet {
        send_stream_id: OUR_ID,
        receive_stream_id: PEER_ID,
        delay_requested: Some(65535),
        ..Packet::default()
    };
    s.feed(&choke.encode().expect("encode"));
    assert!(s.conn.is_peer_choked());
}

#[test]
fn our_choke_is_60001_and_unchoke_asks_for_an_ack() {
    let client = keys();
    let server = keys();
    let now = Instant::now();
    let cfg = StreamingConfig {
        recv_buffer: 8 * 1024,
        ..StreamingConfig::default()
    };
    let mut conn =
        Connection::connect(client, server.destination().clone(), OUR_ID, b"", &cfg, now);
    while poll_bytes(&mut conn, now).is_some() {}
    conn.handle_packet(
        now,
        Packet::decode(&i2pd_syn_ack(&server, OUR_ID)).expect("decodes"),
    );
    // 7 KB unread of 8 KB: we choke.
    for seq in 1..=7 {
        let p = Packet::decode(&i2pd_data(OUR_ID, seq, 0, &[0u8; 1000])).expect("decodes");
        conn.handle_packet(now, p);
    }
    assert!(conn.is_choking());
    let acks: Vec<Packet> = std::iter::from_fn(|| poll_bytes(&mut conn, now))
        .map(|b| Packet::decode(&b).expect("decodes"))
        .collect();
    assert!(
        acks.iter().any(|a| a.delay_requested == Some(60001)),
        "choke sent: {acks:?}"
    );
    let mut buf = vec![0u8; 8 * 1024];
    assert_eq!(conn.read(&mut buf), 7000);
    assert!(!conn.is_choking());
    let update =
        Packet::decode(&poll_bytes(&mut conn, now).expect("window update")).expect("decodes");
    assert!(update.is_plain_ack());
    assert_eq!(update.delay_requested, Some(0));
    assert_eq!(update.ack_through, 7);
}

/// A quiet established stream probes the peer after 30 s with an empty sequenced packet;
/// an answered probe keeps the stream, unanswered probes end it as timed out (a peer whose
/// router restarted would otherwise hang a downloading client forever).
#[test]
fn keepalive_probes_a_quiet_peer_and_gives_up_on_a_dead_one() {
    let mut s = Script::new(b"");
    s.establish();
    s.advance(Duration::from_secs(1));
    s.out(); // the ACK of the SYN-ACK
    s.advance(Duration::from_secs(28));
    assert!(
        s.out().is_empty(),
        "nothing to say before the keepalive interval"
    );
    s.advance(Duration::from_secs(1));
    let probe = s.out();
    assert_eq!(probe.len(), 1, "one probe");
    let p = Packet::decode(&probe[0]).expect("probe decodes");
    assert!(p.payload.is_empty());
    assert_eq!(p.seq, 1, "sequenced right after the SYN");
    assert!(!p.flags.contains(Flags::CLOSE));

    // The peer answers: the stream lives on and probes again 30 s later.
    s.feed(&i2pd_data(OUR_ID, 0, 1, b""));
    s.advance(Duration::from_secs(10));
    assert!(s.out().is_empty(), "no retransmission after the ACK");
    assert_eq!(s.conn.close_reason(), None);
    s.advance(Duration::from_secs(20));
    assert_eq!(s.out().len(), 1, "second probe");

    // Now the peer is gone: retransmissions, then TimedOut.
    let deadline = s.now + Duration::from_secs(300);
    while s.conn.close_reason().is_none() {
        assert!(s.now < deadline, "a dead peer must be given up");
        let next = s.conn.poll_timeout().expect("a timer runs");
        s.now = next;
        s.conn.handle_timeout(next);
        s.out();
    }
    assert_eq!(s.conn.close_reason(), Some(CloseReason::TimedOut));
}
