//! Incoming data: reassembly by sequence number, in-order bytes for the application, and
//! the ACK/NACK summary (docs/streaming.md "Packet layout").
//!
//! Memory is bounded: unread plus out-of-order bytes never exceed `capacity`. Out-of-order
//! packets must also leave [`IN_ORDER_RESERVE`] bytes free, so the packet that fills the
//! hole always fits once the application has read what was readable (no deadlock), and
//! nothing further than [`MAX_GAP`] sequence numbers ahead is kept. A packet we drop is not
//! acknowledged, so the peer sends it again later.
//!
//! Windows above 128: i2pd 2.58 and later send with up to 512 packets in flight by default
//! (i2pd 2.59 libi2pd/Streaming.h, MAX_WINDOW_SIZE), so one loss early in a window can leave
//! hundreds of packets out of order. They are kept (i2pd itself keeps up to three windows
//! ahead, i2pd 2.59 libi2pd/Streaming.cpp, Stream::HandleNextPacket), and since one ACK names
//! at most 255 holes, an ACK with more holes acknowledges only up to the last packet below
//! the 256th hole; the rest is acknowledged once the first holes fill.

use super::packet::MAX_NACKS;
use std::collections::{BTreeMap, VecDeque};

/// Furthest ahead of the next expected seq we keep a packet: three of i2pd's default
/// 512-packet windows, the distance i2pd keeps too.
pub const MAX_GAP: u32 = 3 * 512;

/// Room kept for the next in-order packet: i2pd's largest packet (docs/streaming.md "Constants").
pub const IN_ORDER_RESERVE: usize = 4096;

#[derive(Debug)]
struct Segment {
    payload: Vec<u8>,
    close: bool,
}

/// What happened to an offered packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// It was the next expected packet; `delivered` bytes became readable (it and any
    /// out-of-order packets it unblocked).
    InOrder {
        /// Bytes that became readable.
        delivered: usize,
    },
    /// Stored until the gap before it fills.
    OutOfOrder,
    /// Already received.
    Duplicate,
    /// Beyond the peer's CLOSE: nothing can follow it (i2pd's duplicate CLOSE with seq+1).
    AfterClose,
    /// No room (or too far ahead): dropped, not acknowledged.
    Dropped,
}

/// Reassembly buffer.
#[derive(Debug)]
pub struct RecvBuffer {
    capacity: usize,
    /// Next in-order seq expected.
    next_seq: u32,
    /// True once anything at all was accepted (so there is something to acknowledge).
    any_received: bool,
    readable: VecDeque<u8>,
    out_of_order: BTreeMap<u32, Segment>,
    out_of_order_bytes: usize,
    /// The peer's CLOSE was reached in order: no data after what is readable.
    finished: bool,
    /// Discard data instead of buffering it (the application closed its read side).
    discard: bool,
}

impl RecvBuffer {
    /// Empty buffer; the first packet expected is seq 0 (the peer's SYN or SYN-ACK).
    pub fn new(capacity: usize) -> Self {
        RecvBuffer {
            capacity,
            next_seq: 0,
            any_received: false,
            readable: VecDeque::new(),
            out_of_order: BTreeMap::new(),
            out_of_order_bytes: 0,
            finished: false,
            discard: false,
        }
    }

    /// Offer a sequenced packet.
    pub fn insert(&mut self, seq: u32, payload: &[u8], close: bool) -> Insert {
        if self.finished && seq >= self.next_seq {
            return Insert::AfterClose;
        }
        if seq < self.next_seq || self.out_of_order.contains_key(&seq) {
            return Insert::Duplicate;
        }
        let used = self.readable.len() + self.out_of_order_bytes;
        if seq == self.next_seq {
            if !self.discard && used + payload.len() > self.capacity {
                return Insert::Dropped;
            }
            self.any_received = true;
            let mut delivered = self.deliver(payload, close);
            // Pull in whatever this unblocked.
            while !self.finished {
                let Some(seg) = self.out_of_order.remove(&self.next_seq) else {
                    break;
                };
                self.out_of_order_bytes = self.out_of_order_bytes.saturating_sub(seg.payload.len());
                delivered += self.deliver(&seg.payload, seg.close);
            }
            return Insert::InOrder { delivered };
        }
        let too_far = seq - self.next_seq >= MAX_GAP;
        if too_far || used + payload.len() + IN_ORDER_RESERVE > self.capacity {
            return Insert::Dropped;
        }
        self.any_received = true;
        self.out_of_order_bytes += payload.len();
        self.out_of_order.insert(
            seq,
            Segment {
                payload: payload.to_vec(),
                close,
            },
        );
        Insert::OutOfOrder
    }

    fn deliver(&mut self, payload: &[u8], close: bool) -> usize {
        self.next_seq = self.next_seq.saturating_add(1);
        if close {
            self.finished = true;
            // Nothing can follow a CLOSE.
            self.out_of_order.clear();
            self.out_of_order_bytes = 0;
        }
        if self.discard {
            return 0;
        }
        self.readable.extend(payload.iter());
        payload.len()
    }

    /// Copy readable bytes into `buf`; returns the count.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.readable.len());
        // Copy the (at most two) contiguous runs of the ring buffer, not byte by byte.
        let (front, back) = self.readable.as_slices();
        let from_front = n.min(front.len());
        let (head, tail) = buf.split_at_mut(from_front);
        head.copy_from_slice(front.get(..from_front).unwrap_or_default());
        if let Some(dst) = tail.get_mut(..n - from_front) {
            dst.copy_from_slice(back.get(..n - from_front).unwrap_or_default());
        }
        self.readable.drain(..n);
        n
    }

    /// Bytes the application can read now.
    pub fn readable_len(&self) -> usize {
        self.readable.len()
    }

    /// Room left.
    pub fn free(&self) -> usize {
        self.capacity
            .saturating_sub(self.readable.len() + self.out_of_order_bytes)
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The peer's CLOSE was reached in order.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Stop buffering: drop readable bytes now and any data that arrives later.
    pub fn discard_all(&mut self) {
        self.discard = true;
        self.readable.clear();
    }

    /// Next in-order seq expected.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// `(ackThrough, NACKs)` describing what we hold, or `None` before anything arrived.
    /// ackThrough is the highest seq received, NACKs list the holes below it; with more
    /// than [`MAX_NACKS`] holes, ackThrough is the highest seq held below the first hole
    /// that does not fit (everything up to it is described exactly).
    pub fn ack_info(&self) -> Option<(u32, Vec<u32>)> {
        if !self.any_received {
            return None;
        }
        // Everything below next_seq is held; next_seq ≥ 1 here.
        let mut ack_through = self.next_seq.saturating_sub(1);
        let mut nacks = Vec::new();
        let mut expected = self.next_seq;
        for &seq in self.out_of_order.keys() {
            let holes = seq.saturating_sub(expected) as usize;
            if nacks.len() + holes > MAX_NACKS {
                break;
            }
            nacks.extend(expected..seq);
            ack_through = seq;
            expected = seq.saturating_add(1);
        }
        Some((ack_through, nacks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_reordered_delivery() {
        let mut b = RecvBuffer::new(IN_ORDER_RESERVE + 100);
        assert_eq!(b.ack_info(), None);
        assert_eq!(b.insert(0, b"", false), Insert::InOrder { delivered: 0 });
        assert_eq!(b.insert(2, b"cd", false), Insert::OutOfOrder);
        assert_eq!(b.insert(4, b"g", false), Insert::OutOfOrder);
        assert_eq!(b.ack_info(), Some((4, vec![1, 3])));
        assert_eq!(b.insert(1, b"ab", false), Insert::InOrder { delivered: 4 });
        assert_eq!(b.ack_info(), Some((4, vec![3])));
        assert_eq!(b.insert(2, b"cd", false), Insert::Duplicate);
        let mut out = [0u8; 10];
        assert_eq!(b.read(&mut out), 4);
        assert_eq!(&out[..4], b"abcd");
    }

    #[test]
    fn close_finishes_after_data() {
        let mut b = RecvBuffer::new(100);
        b.insert(0, b"x", false);
        assert_eq!(b.insert(1, b"", true), Insert::InOrder { delivered: 0 });
        assert!(b.is_finished());
        assert_eq!(b.insert(2, b"late", false), Insert::AfterClose);
        assert_eq!(b.insert(1, b"", true), Insert::Duplicate);
        assert_eq!(b.readable_len(), 1);
    }

    #[test]
    fn full_buffer_drops_in_order_packets() {
        let mut b = RecvBuffer::new(4);
        assert_eq!(b.insert(0, b"abc", false), Insert::InOrder { delivered: 3 });
        assert_eq!(b.insert(1, b"de", false), Insert::Dropped);
        assert_eq!(b.ack_info(), Some((0, vec![])));
        let mut out = [0u8; 3];
        b.read(&mut out);
        assert_eq!(b.insert(1, b"de", false), Insert::InOrder { delivered: 2 });
    }

    #[test]
    fn out_of_order_leaves_room_for_the_hole() {
        let mut b = RecvBuffer::new(IN_ORDER_RESERVE + 100);
        b.insert(0, b"", false);
        assert_eq!(b.insert(2, &[0; 100], false), Insert::OutOfOrder);
        assert_eq!(b.insert(3, &[0; 1], false), Insert::Dropped);
        assert_eq!(
            b.insert(1, &[0; 1812], false),
            Insert::InOrder { delivered: 1912 }
        );
        assert!(b.readable_len() <= b.capacity());
    }

    #[test]
    fn gap_limit_drops_far_packets() {
        let mut b = RecvBuffer::new(1 << 20);
        b.insert(0, b"", false);
        assert_eq!(b.insert(MAX_GAP + 1, b"x", false), Insert::Dropped);
        assert_eq!(b.insert(MAX_GAP, b"x", false), Insert::OutOfOrder);
        // MAX_GAP - 1 holes do not fit one ACK: only what is below them is acknowledged.
        assert_eq!(b.ack_info(), Some((0, vec![])));
        assert_eq!(b.insert(MAX_GAP - 200, b"y", false), Insert::OutOfOrder);
        assert_eq!(b.ack_info(), Some((0, vec![])));
    }

    /// A 512-packet window that lost its first packet: the other 511 are kept, and the ACK
    /// acknowledges all of them with one NACK.
    #[test]
    fn keeps_a_512_packet_window_behind_one_hole() {
        let mut b = RecvBuffer::new(1 << 20);
        b.insert(0, b"", false);
        for seq in 2..=512 {
            assert_eq!(b.insert(seq, &[1; 100], false), Insert::OutOfOrder, "{seq}");
        }
        assert_eq!(b.ack_info(), Some((512, vec![1])));
        assert_eq!(
            b.insert(1, &[1; 100], false),
            Insert::InOrder { delivered: 51_200 }
        );
    }

    /// More holes than one ACK can name: ackThrough stops below the 256th hole, so no
    /// packet we lack is acknowledged and every NACK is a real hole.
    #[test]
    fn more_than_255_holes_acknowledge_a_prefix() {
        let mut b = RecvBuffer::new(1 << 20);
        b.insert(0, b"", false);
        // Every other packet from 2 on: holes at 1, 3, 5, ...
        for seq in (2..=700).step_by(2) {
            b.insert(seq, b"x", false);
        }
        let (ack, nacks) = b.ack_info().unwrap_or_default();
        assert_eq!(nacks.len(), MAX_NACKS);
        assert_eq!(nacks.first(), Some(&1));
        assert_eq!(ack, 510, "highest held seq below the 256th hole (511)");
        assert!(nacks.iter().all(|n| n % 2 == 1 && *n < ack));
    }

    proptest::proptest! {
        /// Any arrival order, with duplicates, reassembles the exact byte stream, and the
        /// ACK summary never claims a packet we do not hold.
        #[test]
        fn reassembles_any_order(
            sizes in proptest::collection::vec(0usize..50, 1..60),
            order in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..200),
        ) {
            let packets: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| vec![i as u8; n])
                .collect();
            let mut b = RecvBuffer::new(1 << 20);
            let mut max_seen = 0;
            let mut deliver = |b: &mut RecvBuffer, seq: usize| {
                b.insert(seq as u32, &packets[seq], false);
                max_seen = max_seen.max(seq);
                if let Some((ack, nacks)) = b.ack_info() {
                    assert!(ack as usize <= max_seen, "ACK beyond what arrived");
                    for n in nacks {
                        assert!(n < ack && n >= b.next_seq(), "NACK outside the hole");
                    }
                }
            };
            for idx in &order {
                deliver(&mut b, idx.index(packets.len()));
            }
            for seq in 0..packets.len() {
                deliver(&mut b, seq);
            }
            let mut out = vec![0u8; sizes.iter().sum::<usize>() + 1];
            let n = b.read(&mut out);
            let expected: Vec<u8> = packets.concat();
            proptest::prop_assert_eq!(&out[..n], &expected[..]);
            proptest::prop_assert_eq!(b.ack_info(), Some((packets.len() as u32 - 1, vec![])));
        }
    }

    #[test]
    fn discard_keeps_sequencing_but_not_bytes() {
        let mut b = RecvBuffer::new(2);
        b.insert(0, b"ab", false);
        b.discard_all();
        assert_eq!(b.readable_len(), 0);
        assert_eq!(
            b.insert(1, b"cdefgh", false),
            Insert::InOrder { delivered: 0 }
        );
        assert_eq!(b.ack_info(), Some((1, vec![])));
    }
}
