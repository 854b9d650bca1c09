//! The stream timer heap of [`super::Manager`], in its own file because it is a small
//! self-contained data structure with its own test.

use super::StreamId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A min-heap of `(deadline, stream)` with lazy invalidation: re-arming a stream pushes a
/// new entry and leaves the old one in place; the caller says which entries are still live
/// when they come up. O(log n) per change, nothing per idle stream.
#[derive(Debug, Default)]
pub(super) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, StreamId)>>,
}

impl Deadlines {
    pub(super) fn push(&mut self, at: Instant, id: StreamId) {
        self.heap.push(Reverse((at, id)));
    }

    /// The earliest deadline held (possibly a stale one).
    pub(super) fn earliest(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Take the earliest live entry due at `now`, dropping the stale ones before it.
    pub(super) fn pop_due(
        &mut self,
        now: Instant,
        is_live: impl Fn(Instant, StreamId) -> bool,
    ) -> Option<(Instant, StreamId)> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if is_live(at, id) {
                return Some((at, id));
            }
        }
        None
    }

    /// Entries held, stale ones included.
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

impl FromIterator<(Instant, StreamId)> for Deadlines {
    fn from_iter<I: IntoIterator<Item = (Instant, StreamId)>>(iter: I) -> Deadlines {
        Deadlines {
            heap: iter.into_iter().map(Reverse).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn deadlines_come_out_earliest_first_and_skip_stale_entries() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.push(t0 + ms(30), 3);
        d.push(t0 + ms(10), 1);
        d.push(t0 + ms(20), 2);
        d.push(t0 + ms(5), 2); // stream 2 re-armed earlier: the 20 ms entry goes stale
        let live = |at: Instant, id: StreamId| !(id == 2 && at == t0 + ms(20));
        assert_eq!(d.earliest(), Some(t0 + ms(5)));
        assert_eq!(d.pop_due(t0, live), None, "nothing is due yet");
        assert_eq!(d.pop_due(t0 + ms(25), live), Some((t0 + ms(5), 2)));
        assert_eq!(d.pop_due(t0 + ms(25), live), Some((t0 + ms(10), 1)));
        assert_eq!(
            d.pop_due(t0 + ms(25), live),
            None,
            "the stale entry is dropped"
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d.pop_due(t0 + ms(30), live), Some((t0 + ms(30), 3)));
        assert_eq!(d.earliest(), None);
    }
}
