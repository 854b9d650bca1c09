//! Who receives the payloads of each protocol number. The handles subscribe, the session
//! task delivers; the map is shared between them, so it lives apart from both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;
use tracing::debug;

use super::INBOUND_QUEUE_LEN;

/// A received payload for one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// Source port from the gzip header (i2pd always sends 0).
    pub from_port: u16,
    /// Destination port from the gzip header (i2pd always sends 0).
    pub to_port: u16,
    /// The inflated payload.
    pub payload: Vec<u8>,
}

/// Who receives the payloads of each protocol number: shared by the handles (which
/// subscribe) and the session task (which delivers).
#[derive(Clone, Default)]
pub(super) struct Subscribers(Arc<Mutex<HashMap<u8, mpsc::Sender<Inbound>>>>);

impl Subscribers {
    /// The map, also after a panic while it was held: every change to it is a single
    /// insert or remove, so it is never left half-changed. Skipping it instead would drop
    /// every payload and subscription of the session from then on.
    fn lock(&self) -> MutexGuard<'_, HashMap<u8, mpsc::Sender<Inbound>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new receiver for `protocol`, replacing any earlier one.
    pub(super) fn subscribe(&self, protocol: u8) -> mpsc::Receiver<Inbound> {
        let (tx, rx) = mpsc::channel(INBOUND_QUEUE_LEN);
        self.lock().insert(protocol, tx);
        rx
    }

    /// Hand `inbound` to the subscriber of `protocol` without waiting: the session task
    /// also answers LeaseSet requests and must never block here.
    pub(super) fn deliver(&self, protocol: u8, inbound: Inbound) {
        let mut subs = self.lock();
        let Some(tx) = subs.get(&protocol) else {
            debug!(protocol, "no subscriber for protocol; payload dropped");
            return;
        };
        match tx.try_send(inbound) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                debug!(protocol, "subscriber queue full; payload dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                subs.remove(&protocol);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Poison the map's lock the way a panicking holder would.
    fn poison(subscribers: &Subscribers) {
        let held = subscribers.clone();
        let joined = std::thread::spawn(move || {
            let _guard = held.0.lock();
            panic!("poisoning the subscriber map on purpose");
        })
        .join();
        assert!(joined.is_err());
        assert!(subscribers.0.is_poisoned());
    }

    #[test]
    fn a_poisoned_subscriber_map_still_subscribes_and_delivers() {
        let subscribers = Subscribers::default();
        poison(&subscribers);
        let mut rx = subscribers.subscribe(6);
        let inbound = Inbound {
            from_port: 1,
            to_port: 2,
            payload: b"after the poison".to_vec(),
        };
        subscribers.deliver(6, inbound.clone());
        assert_eq!(rx.try_recv(), Ok(inbound));
        // A dropped receiver is still forgotten under a poisoned lock.
        drop(rx);
        subscribers.deliver(
            6,
            Inbound {
                from_port: 0,
                to_port: 0,
                payload: vec![],
            },
        );
        assert!(subscribers.lock().is_empty());
    }
}
