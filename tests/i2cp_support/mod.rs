//! Shared helpers for the I2CP tests: the router side of the codec.
#![allow(dead_code)]

use i2psocks::data::PrivateKeys;
use i2psocks::i2cp::framing::FrameSplitter;
use i2psocks::i2cp::message::Message;
use std::sync::{Arc, OnceLock};

/// One Ed25519 + X25519 destination shared by the tests of a binary (key generation is
/// cheap, but a fixed identity keeps failures readable).
pub fn test_keys() -> Arc<PrivateKeys> {
    static KEYS: OnceLock<Arc<PrivateKeys>> = OnceLock::new();
    KEYS.get_or_init(|| Arc::new(PrivateKeys::generate(7, 4).expect("generate keys")))
        .clone()
}

/// Router-side decoder of what the client writes.
pub struct RouterSide {
    splitter: FrameSplitter,
}

impl Default for RouterSide {
    fn default() -> Self {
        RouterSide {
            splitter: FrameSplitter::for_router(),
        }
    }
}

impl RouterSide {
    /// Feed client bytes; return every complete message.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        self.splitter.push(bytes);
        let mut out = Vec::new();
        while let Some(frame) = self.splitter.next_frame().expect("client framing") {
            out.push(Message::decode(&frame).expect("client message decodes"));
        }
        out
    }
}

/// Encode a router → client message to wire bytes.
pub fn wire(msg: &Message) -> Vec<u8> {
    msg.encode().expect("encode").to_bytes()
}

pub fn default_options() -> Vec<(String, String)> {
    [
        ("inbound.length", "0"),
        ("outbound.length", "0"),
        ("inbound.quantity", "1"),
        ("outbound.quantity", "1"),
        ("i2cp.dontPublishLeaseSet", "true"),
        ("i2cp.messageReliability", "none"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A scripted router connection for driver tests (real loopback TCP).
pub mod fake {
    use super::RouterSide;
    use i2psocks::i2cp::message::{CreateLeaseSet2, Lease, Message, SessionConfig};
    use std::collections::VecDeque;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::timeout;

    /// Generous bound for anything the client must do "at once".
    pub const STEP: Duration = Duration::from_secs(5);

    pub struct FakeConn {
        pub stream: TcpStream,
        side: RouterSide,
        queued: VecDeque<Message>,
    }

    pub async fn accept(listener: &TcpListener) -> FakeConn {
        let (stream, _) = timeout(STEP, listener.accept())
            .await
            .expect("client connects")
            .expect("accept");
        FakeConn {
            stream,
            side: RouterSide::default(),
            queued: VecDeque::new(),
        }
    }

    impl FakeConn {
        /// Next client message, or `None` on EOF.
        pub async fn recv(&mut self) -> Option<Message> {
            loop {
                if let Some(m) = self.queued.pop_front() {
                    return Some(m);
                }
                let mut buf = [0u8; 8192];
                let n = timeout(STEP, self.stream.read(&mut buf))
                    .await
                    .expect("client message in time")
                    .ok()?;
                if n == 0 {
                    return None;
                }
                self.queued.extend(self.side.feed(&buf[..n]));
            }
        }

        /// Next client message that is not a SendMessage/other noise matching `skip`.
        pub async fn expect(&mut self) -> Message {
            self.recv().await.expect("client message, not EOF")
        }

        pub async fn send(&mut self, msg: &Message) {
            self.stream
                .write_all(&super::wire(msg))
                .await
                .expect("write to client");
        }

        /// GetDate → SetDate, CreateSession → SessionStatus(status).
        pub async fn handshake(&mut self, sid: u16, status: u8) -> SessionConfig {
            let Message::GetDate { version, .. } = self.expect().await else {
                panic!("expected GetDate")
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            self.send(&Message::SetDate {
                date_ms: now,
                version,
            })
            .await;
            let Message::CreateSession(cfg) = self.expect().await else {
                panic!("expected CreateSession")
            };
            assert!(cfg.verify(), "SessionConfig signature verifies");
            self.send(&Message::SessionStatus { sid, status }).await;
            cfg
        }

        /// Send RequestVariableLeaseSet and return the CreateLeaseSet2 answer and how long it took.
        pub async fn request_lease_set(&mut self, sid: u16) -> (CreateLeaseSet2, Duration) {
            let end_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
                + 600_000;
            let leases = vec![Lease {
                gateway: [3; 32],
                tunnel_id: 99,
                end_ms,
            }];
            let t = std::time::Instant::now();
            self.send(&Message::RequestVariableLeaseSet { sid, leases })
                .await;
            loop {
                match self.expect().await {
                    Message::CreateLeaseSet2(c) => return (c, t.elapsed()),
                    Message::SendMessage { .. }
                    | Message::SendMessageExpires { .. }
                    | Message::HostLookup { .. } => continue,
                    other => panic!("expected CreateLeaseSet2, got {other:?}"),
                }
            }
        }
    }
}
