//! The datagram hub: UDP ASSOCIATE over the I2CP session. Received datagrams are decoded
//! and handed to the association owning their port; sent ones go out in the configured
//! format.

use std::sync::{Arc, Mutex};

use crate::config::UdpFormat;
use crate::data::datagram::{
    MAX_DATAGRAM3_PAYLOAD, Prelude, decode_datagram2, decode_datagram3, decode_repliable,
    encode_datagram2, encode_datagram3, encode_repliable, max_datagram2_payload,
    max_repliable_payload,
};
use crate::data::{Destination, PrivateKeys};
use crate::i2cp::{self, I2cpHandle};
use crate::socks::{DatagramBackend, DatagramPort, IncomingDatagram, ResolveFuture};

use super::connector::connect_error;
use super::port_table::{PortTable, lock_ports, open_port};
use super::{PROTO_DATAGRAM, PROTO_DATAGRAM2, PROTO_DATAGRAM3, PROTO_RAW};

/// Repliable datagrams for UDP associations over the I2CP session.
#[derive(Clone)]
pub(super) struct DatagramHub {
    i2cp: I2cpHandle,
    keys: Arc<PrivateKeys>,
    ports: Arc<Mutex<PortTable>>,
    format: UdpFormat,
}

impl DatagramHub {
    /// Start dispatching received datagrams (protocols 17, 19 and 20, and 18 if `raw`) to
    /// associations; associations send in `format`.
    pub(super) fn start(
        i2cp: I2cpHandle,
        keys: Arc<PrivateKeys>,
        raw: bool,
        format: UdpFormat,
    ) -> DatagramHub {
        let hub = DatagramHub {
            i2cp,
            keys,
            ports: Arc::default(),
            format,
        };
        let signed = [PROTO_DATAGRAM, PROTO_DATAGRAM2, PROTO_DATAGRAM3];
        let protocols = signed.iter().chain(raw.then_some(&PROTO_RAW));
        let me = hub.keys.destination().hash();
        for &protocol in protocols {
            let mut inbound = hub.i2cp.subscribe(protocol);
            let ports = hub.ports.clone();
            tokio::spawn(async move {
                while let Some(msg) = inbound.recv().await {
                    dispatch_datagram(&ports, &me, protocol, msg);
                }
            });
        }
        hub
    }
}

/// Decode one received datagram of `protocol` sent to the destination whose hash is `me`:
/// protocols 17 and 19 verified, 20 with its sender's hash, 18 as it is.
fn decode_datagram(
    me: &[u8; 32],
    protocol: u8,
    msg: i2cp::Inbound,
) -> Result<IncomingDatagram, crate::data::DataError> {
    let from_port = msg.from_port;
    let (from, from_hash, payload) = match protocol {
        PROTO_DATAGRAM => {
            let (from, payload) = decode_repliable(&msg.payload)?;
            (Some(from), None, payload.to_vec())
        }
        PROTO_DATAGRAM2 => {
            let (from, payload) = decode_datagram2(&msg.payload, me)?;
            (Some(from), None, payload.to_vec())
        }
        PROTO_DATAGRAM3 => {
            let (hash, payload) = decode_datagram3(&msg.payload)?;
            (None, Some(hash), payload.to_vec())
        }
        _ => (None, None, msg.payload),
    };
    Ok(IncomingDatagram {
        from,
        from_hash,
        from_port,
        payload,
    })
}

/// Decode one received datagram and hand it to the association on its port.
fn dispatch_datagram(ports: &Mutex<PortTable>, me: &[u8; 32], protocol: u8, msg: i2cp::Inbound) {
    let to_port = msg.to_port;
    let datagram = match decode_datagram(me, protocol, msg) {
        Ok(datagram) => datagram,
        Err(error) => {
            tracing::debug!(%error, protocol, "invalid datagram dropped");
            return;
        }
    };
    let table = lock_ports(ports);
    match table.open.get(&to_port) {
        Some(tx) => {
            if tx.try_send(datagram).is_err() {
                tracing::debug!(
                    port = to_port,
                    "UDP association queue full; datagram dropped"
                );
            }
        }
        None => tracing::debug!(
            port = to_port,
            protocol,
            "datagram for no UDP association dropped"
        ),
    }
}

impl DatagramBackend for DatagramHub {
    fn open(&self) -> Option<DatagramPort> {
        open_port(&self.ports)
    }

    fn resolve(&self, name: &str) -> ResolveFuture {
        let i2cp = self.i2cp.clone();
        let name = name.to_owned();
        Box::pin(async move { i2cp.lookup_name(&name).await.map_err(connect_error) })
    }

    fn send(&self, from_port: u16, to: &Destination, to_port: u16, payload: &[u8]) -> bool {
        // Datagram2 signed with the sender's hash as prelude: what i2pd 2.58-2.59's
        // udpserver verifies (see data::datagram).
        let encoded = match self.format {
            UdpFormat::Datagram1 => {
                encode_repliable(&self.keys, payload).map(|d| (PROTO_DATAGRAM, d))
            }
            UdpFormat::Datagram2 => {
                encode_datagram2(&self.keys, &to.hash(), Prelude::Sender, payload)
                    .map(|d| (PROTO_DATAGRAM2, d))
            }
            UdpFormat::Datagram3 => encode_datagram3(&self.keys.destination().hash(), payload)
                .map(|d| (PROTO_DATAGRAM3, d)),
        };
        let Ok((protocol, datagram)) = encoded else {
            return false;
        };
        // Stored, not deflated: i2pd inflates deflated datagrams into a 32 KiB buffer too,
        // and UDP payloads rarely compress.
        match self.i2cp.send(to, protocol, from_port, to_port, &datagram) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, "datagram not sent");
                false
            }
        }
    }

    fn max_payload(&self) -> usize {
        match self.format {
            UdpFormat::Datagram1 => max_repliable_payload(self.keys.destination()),
            UdpFormat::Datagram2 => max_datagram2_payload(self.keys.destination()),
            UdpFormat::Datagram3 => MAX_DATAGRAM3_PAYLOAD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::port_table::FIRST_DATAGRAM_PORT;
    use super::*;
    use tokio::sync::mpsc;

    fn table_with(port: u16) -> (Mutex<PortTable>, mpsc::Receiver<IncomingDatagram>) {
        let (tx, rx) = mpsc::channel(4);
        let mut table = PortTable::default();
        table.open.insert(port, tx);
        (Mutex::new(table), rx)
    }

    #[test]
    fn datagrams_go_to_the_port_they_name_and_must_verify() {
        let keys = crate::data::PrivateKeys::generate(crate::data::SIG_ED25519, 4).unwrap();
        let (ports, mut rx) = table_with(2000);
        let me = [3u8; 32];
        let signed = encode_repliable(&keys, b"hi").unwrap();
        let msg = |to_port, payload: Vec<u8>| i2cp::Inbound {
            from_port: 53,
            to_port,
            payload,
        };
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM, msg(2000, signed.clone()));
        let got = rx.try_recv().unwrap();
        assert_eq!(got.from.as_ref(), Some(keys.destination()));
        assert_eq!((got.from_port, &got.payload[..]), (53, &b"hi"[..]));
        // Another port, a bad signature: dropped.
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM, msg(2001, signed.clone()));
        let mut forged = signed;
        let last = forged.len() - 1;
        forged[last] ^= 1;
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM, msg(2000, forged));
        assert!(rx.try_recv().is_err());
        // Raw: no sender.
        dispatch_datagram(&ports, &me, PROTO_RAW, msg(2000, b"raw".to_vec()));
        let got = rx.try_recv().unwrap();
        assert_eq!((got.from, &got.payload[..]), (None, &b"raw"[..]));
        // Datagram2 signed for us (either prelude) and Datagram3 with its sender's hash.
        for prelude in [Prelude::Sender, Prelude::Target] {
            let d2 = encode_datagram2(&keys, &me, prelude, b"two").unwrap();
            dispatch_datagram(&ports, &me, PROTO_DATAGRAM2, msg(2000, d2));
            let got = rx.try_recv().unwrap();
            assert_eq!(got.from.as_ref(), Some(keys.destination()));
            assert_eq!(&got.payload[..], b"two");
        }
        let for_other = encode_datagram2(&keys, &[4u8; 32], Prelude::Target, b"x").unwrap();
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM2, msg(2000, for_other));
        assert!(rx.try_recv().is_err());
        let d3 = encode_datagram3(&keys.destination().hash(), b"three").unwrap();
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM3, msg(2000, d3));
        let got = rx.try_recv().unwrap();
        assert_eq!(got.from, None);
        assert_eq!(got.from_hash, Some(keys.destination().hash()));
        assert_eq!(&got.payload[..], b"three");
    }

    /// Poison `ports` the way a panicking holder would.
    fn poison(ports: &Arc<Mutex<PortTable>>) {
        let held = ports.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = held.lock();
            panic!("poisoning the port table on purpose");
        })
        .join();
        assert!(panicked.is_err() && ports.is_poisoned());
    }

    #[test]
    fn a_poisoned_port_table_still_opens_delivers_and_releases() {
        let ports = Arc::new(Mutex::new(PortTable::default()));
        poison(&ports);
        let mut assoc = open_port(&ports).expect("a port from a poisoned table");
        assert!(assoc.port >= FIRST_DATAGRAM_PORT);
        let raw = i2cp::Inbound {
            from_port: 7,
            to_port: assoc.port,
            payload: b"raw".to_vec(),
        };
        dispatch_datagram(&ports, &[0; 32], PROTO_RAW, raw);
        let got = assoc
            .inbound
            .try_recv()
            .expect("delivered despite the poison");
        assert_eq!(&got.payload[..], b"raw");
        let port = assoc.port;
        drop(assoc);
        assert!(
            !lock_ports(&ports).open.contains_key(&port),
            "the port is released on drop"
        );
    }
}
