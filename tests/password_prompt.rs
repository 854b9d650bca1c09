//! `i2psocks user add` on a real terminal (a pty from util-linux `script`): Ctrl-C at the
//! password prompt must leave the terminal's echo on, as it was before the prompt.
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn ctrl_c_at_the_password_prompt_restores_the_echo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users");
    let after = dir.path().join("stty-after");
    // The shell runs in the pty; whether i2psocks exits by itself or dies of the SIGINT, the
    // terminal's settings are recorded afterwards.
    let inner = format!(
        "trap 'stty -a > {after}; exit 0' INT; {bin} --datadir {data} --users-file {users} \
         user add bob; stty -a > {after}",
        after = after.display(),
        bin = env!("CARGO_BIN_EXE_i2psocks"),
        data = dir.path().display(),
        users = users.display(),
    );
    let mut script = Command::new("script")
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux)");
    let mut stdout = script.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("Password: ") {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no prompt: {:?}", String::from_utf8_lossy(&seen)));
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => panic!("no prompt: {:?}", String::from_utf8_lossy(&seen)),
        }
    }
    let mut stdin = script.stdin.take().expect("stdin");
    stdin.write_all(b"\x03").expect("Ctrl-C");
    stdin.flush().expect("flush");
    // Wait for the recorded settings (the shell writes them once i2psocks is gone).
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(&after)
            && text.contains("echo")
        {
            break text;
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no stty output: {:?}", String::from_utf8_lossy(&seen)));
        // Output of the pty is progress; its end means the shell is done.
        if let Ok(chunk) = rx.recv_timeout(left.min(Duration::from_millis(100))) {
            seen.extend(chunk);
        }
    };
    drop(stdin);
    let _ = script.wait();
    let words: Vec<&str> = text.split_whitespace().collect();
    assert!(
        words.contains(&"echo") && !words.contains(&"-echo"),
        "echo is off after Ctrl-C at the prompt: {text}"
    );
}
