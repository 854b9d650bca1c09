//! The accept loop survives fd exhaustion (EMFILE), unlike i2pd's
//! (docs/socks.md "Listener"; github.com/PurpleI2P/i2pd/issues/937). The real check runs in a child
//! process started under `prlimit --nofile=…` so that exhausting descriptors cannot disturb other
//! tests.

use std::fs::File;
use std::process::Command;
use std::time::Duration;

use crate::common::{Behaviour, FakeI2p, still_pending};
use i2psocks::socks::{ConnectError, ServerConfig, bind, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const CHILD_ENV: &str = "I2PSOCKS_EMFILE_CHILD";
/// The child's full test name in this binary (module path included) for `--exact`.
const CHILD_TEST: &str = "emfile::emfile_child";

#[test]
fn accepts_clients_again_after_fd_exhaustion() {
    let Ok(exe) = std::env::current_exe() else {
        panic!("no current exe");
    };
    let status = Command::new("prlimit")
        .arg("--nofile=256:256")
        .arg(&exe)
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
        .env(CHILD_ENV, "1")
        .status();
    match status {
        Ok(status) => assert!(status.success(), "child failed: {status}"),
        // Without prlimit (util-linux) this check cannot run here.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("prlimit not installed; skipping EMFILE check");
        }
        Err(error) => panic!("cannot start child: {error}"),
    }
}

#[test]
#[ignore = "run by accepts_clients_again_after_fd_exhaustion in a child process"]
fn emfile_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(child_body());
}

async fn child_body() {
    let listener = bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(serve(
        listener,
        ServerConfig::new(addr),
        FakeI2p::new(Behaviour::Fail(ConnectError::NotFound)),
        std::future::pending::<()>(),
    ));
    // Use up every descriptor, then free exactly one for the client socket.
    let mut hog = Vec::new();
    while let Ok(file) = File::open("/dev/null") {
        hog.push(file);
    }
    assert!(hog.len() > 10, "could not exhaust descriptors");
    hog.pop();
    let mut client = timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .unwrap_or_else(|_| panic!("connect timed out"))
        .unwrap_or_else(|e| panic!("connect: {e}"));
    client
        .write_all(&[5, 1, 0])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The server cannot accept (EMFILE): no reply while descriptors are exhausted.
    let mut reply = [0u8; 2];
    assert!(
        still_pending(Duration::from_millis(500), client.read_exact(&mut reply)).await,
        "server answered without a free descriptor?"
    );
    // Free descriptors: the loop, still alive, accepts and answers.
    hog.clear();
    timeout(Duration::from_secs(10), client.read_exact(&mut reply))
        .await
        .unwrap_or_else(|_| panic!("accept loop did not recover"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply, [5, 0]);
}
