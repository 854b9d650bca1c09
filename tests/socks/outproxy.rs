//! Upstream SOCKS5 client codec (docs/socks.md "Outproxy") without sockets.
use i2psocks::socks::OutproxyError;
use i2psocks::socks::outproxy::{
    GREETING, check_method_reply, connect_request, handshake, reply_remaining,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

#[test]
fn accepts_greeting_bytes() {
    assert_eq!(GREETING, [5, 1, 0]);
}

#[test]
fn accepts_method_reply_without_checking_first_byte() {
    assert!(check_method_reply([5, 0]).is_ok());
    assert!(check_method_reply([0x42, 0]).is_ok());
}

#[test]
fn rejects_method_reply_other_than_no_auth() {
    assert!(matches!(
        check_method_reply([5, 0xff]),
        Err(OutproxyError::Method(0xff))
    ));
    assert!(matches!(
        check_method_reply([5, 2]),
        Err(OutproxyError::Method(2))
    ));
}

#[test]
fn accepts_connect_request_by_name() {
    let got = connect_request("example.com", 443).unwrap_or_default();
    let mut want = vec![5, 1, 0, 3, 11];
    want.extend_from_slice(b"example.com");
    want.extend_from_slice(&[1, 0xbb]);
    assert_eq!(got, want);
}

#[test]
fn rejects_connect_request_with_long_name() {
    assert!(matches!(
        connect_request("a".repeat(256), 80),
        Err(OutproxyError::HostTooLong)
    ));
    assert!(connect_request("a".repeat(255), 80).is_ok());
}

#[test]
fn accepts_reply_lengths_per_atyp() {
    assert_eq!(reply_remaining([5, 0, 0, 1, 9]).ok(), Some(5));
    assert_eq!(reply_remaining([5, 0, 0, 4, 9]).ok(), Some(17));
    assert_eq!(reply_remaining([5, 0, 0, 3, 7]).ok(), Some(9));
    // Names of 128+ bytes: i2pd reads the length as signed and breaks; we do not.
    assert_eq!(reply_remaining([5, 0, 0, 3, 200]).ok(), Some(202));
}

#[test]
fn rejects_reply_with_error_code_or_bad_atyp() {
    assert!(matches!(
        reply_remaining([5, 5, 0, 1, 0]),
        Err(OutproxyError::Refused(5))
    ));
    assert!(matches!(
        reply_remaining([5, 0, 0, 2, 0]),
        Err(OutproxyError::AddressType(2))
    ));
}

#[tokio::test]
async fn accepts_fragmented_upstream_and_leaves_payload_unread() {
    let (mut ours, mut theirs) = duplex(4096);
    let upstream = tokio::spawn(async move {
        let mut greeting = [0u8; 3];
        theirs.read_exact(&mut greeting).await.ok()?;
        theirs.write_all(&[5]).await.ok()?;
        theirs.write_all(&[0]).await.ok()?;
        let mut request = vec![0u8; 5 + 7 + 2];
        theirs.read_exact(&mut request).await.ok()?;
        for byte in [5u8, 0, 0, 4] {
            theirs.write_all(&[byte]).await.ok()?;
        }
        theirs.write_all(&[0u8; 18]).await.ok()?;
        theirs.write_all(b"payload").await.ok()?;
        Some((greeting, request, theirs))
    });
    let result = handshake(&mut ours, b"abc.com", 80).await;
    assert!(result.is_ok(), "{result:?}");
    let mut rest = [0u8; 7];
    ours.read_exact(&mut rest).await.unwrap_or_default();
    assert_eq!(&rest, b"payload");
    let Ok(Some((greeting, request, _theirs))) = upstream.await else {
        panic!("upstream script failed");
    };
    assert_eq!(greeting, [5, 1, 0]);
    assert_eq!(request, b"\x05\x01\x00\x03\x07abc.com\x00\x50".to_vec());
}

#[tokio::test]
async fn rejects_upstream_closing_mid_reply() {
    let (mut ours, mut theirs) = duplex(4096);
    tokio::spawn(async move {
        let mut buf = [0u8; 3];
        let _ = theirs.read_exact(&mut buf).await;
        let _ = theirs.write_all(&[5, 0, 5, 0]).await;
    });
    assert!(matches!(
        handshake(&mut ours, b"abc.com", 80).await,
        Err(OutproxyError::Io(_))
    ));
}

#[test]
fn accepts_non_utf8_name_bytes_unchanged() {
    let got = connect_request(b"\xff\xfe.com", 80).unwrap_or_default();
    assert_eq!(got, b"\x05\x01\x00\x03\x06\xff\xfe.com\x00\x50".to_vec());
}
