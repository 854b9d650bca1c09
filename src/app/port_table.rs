//! The datagram port table: which UDP association owns which I2P port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::socks::{DatagramPort, IncomingDatagram};

/// Lowest I2P port handed to a UDP association (ports are FIRST..=65535, picked at random).
pub(super) const FIRST_DATAGRAM_PORT: u16 = 1024;
/// Datagrams queued per association before further ones are dropped.
const ASSOCIATION_QUEUE: usize = 512;

/// Which association owns which I2P port.
#[derive(Default)]
pub(super) struct PortTable {
    pub(super) open: HashMap<u16, mpsc::Sender<IncomingDatagram>>,
}

/// Lock the port table even if a thread panicked while holding it: the map stays
/// consistent (every change is a single insert or remove), and refusing it would leak a
/// port or drop datagrams for the rest of the process.
pub(super) fn lock_ports(ports: &Mutex<PortTable>) -> MutexGuard<'_, PortTable> {
    ports.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Releases an association's port when its [`DatagramPort`] is dropped.
struct PortLease {
    ports: Arc<Mutex<PortTable>>,
    port: u16,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        lock_ports(&self.ports).open.remove(&self.port);
    }
}

/// Claim a free I2P port for a new association; `None` when all are taken.
pub(super) fn open_port(ports: &Arc<Mutex<PortTable>>) -> Option<DatagramPort> {
    let mut table = lock_ports(ports);
    let span = u16::MAX - FIRST_DATAGRAM_PORT + 1;
    // A random start: raw datagrams are unauthenticated, so the port is all that
    // stands between an association and datagrams injected by strangers.
    let start = rand::random::<u16>() % span;
    for step in 0..span {
        let port = FIRST_DATAGRAM_PORT + (start + step) % span;
        if let std::collections::hash_map::Entry::Vacant(slot) = table.open.entry(port) {
            let (tx, rx) = mpsc::channel(ASSOCIATION_QUEUE);
            slot.insert(tx);
            let lease = PortLease {
                ports: ports.clone(),
                port,
            };
            return Some(DatagramPort::new(port, rx, lease));
        }
    }
    None
}
