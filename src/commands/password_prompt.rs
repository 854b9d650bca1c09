//! The password prompt of `i2psocks user add`: twice on the terminal without echo, and the
//! echo back on whatever happens (including Ctrl-C), or one line from stdin for scripts.

/// The password: asked twice on the terminal without echo, or one line from stdin
/// (`--password-stdin`, or when stdin is not a terminal).
pub(super) fn read_password(from_stdin: bool) -> Result<String, String> {
    use std::io::{BufRead as _, IsTerminal as _};
    let read_line = || -> Result<String, String> {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let trimmed = line.strip_suffix('\n').unwrap_or(&line);
        Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
    };
    if from_stdin || !std::io::stdin().is_terminal() {
        return read_line();
    }
    let _echo_off = EchoOff::new()?;
    let ask = |prompt: &str| {
        eprint!("{prompt}");
        let line = read_line();
        eprintln!();
        line
    };
    let first = ask("Password: ");
    let second = first.as_ref().ok().map(|_| ask("Repeat password: "));
    let first = first?;
    match second {
        Some(Ok(second)) if second == first => Ok(first),
        Some(Ok(_)) => Err("the passwords do not match".into()),
        Some(Err(e)) => Err(e),
        None => Err("cannot read the password".into()),
    }
}

/// Switch the terminal's echo on or off (stty acts on its stdin, which is inherited: our
/// terminal).
fn set_echo(on: bool) -> bool {
    let arg = if on { "echo" } else { "-echo" };
    std::process::Command::new("stty")
        .arg(arg)
        .status()
        .is_ok_and(|s| s.success())
}

/// Echo off while it lives; back on when it is dropped, and when Ctrl-C (SIGINT) or SIGTERM
/// interrupts the prompt: a handler thread restores the echo and exits with 130, instead of
/// leaving the shell without echo.
struct EchoOff;

impl EchoOff {
    fn new() -> Result<EchoOff, String> {
        restore_echo_on_signal()?;
        if !set_echo(false) {
            return Err("cannot switch off terminal echo (stty); use --password-stdin".into());
        }
        Ok(EchoOff)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        set_echo(true);
    }
}

/// Install the SIGINT/SIGTERM handlers (before the echo goes off) on a thread of its own.
fn restore_echo_on_signal() -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            let _ = ready_tx.send(false);
            return;
        };
        runtime.block_on(async move {
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                let _ = ready_tx.send(false);
                return;
            };
            let _ = ready_tx.send(true);
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            set_echo(true);
            eprintln!();
            std::process::exit(130);
        });
    });
    match ready_rx.recv() {
        Ok(true) => Ok(()),
        _ => Err("cannot install the signal handlers of the password prompt".into()),
    }
}
