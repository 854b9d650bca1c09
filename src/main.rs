//! The i2psocks binary: parse the command line and i2pd.conf, set up logging,
//! then run the proxy or one of the one-shot commands.

use std::process::ExitCode;

use i2psocks::app;
use i2psocks::config::{self, Command, ConfigError, Loaded, LogTarget, UserAction};
use i2psocks::users::{self, UsersFile};

fn main() -> ExitCode {
    let loaded = match config::load_from_args(std::env::args_os()) {
        Ok(loaded) => loaded,
        // --help, --version and usage errors: clap prints and picks the exit code.
        Err(ConfigError::Clap(err)) => err.exit(),
        Err(err) => {
            eprintln!("i2psocks: {err}");
            return ExitCode::from(1);
        }
    };
    if let Err(err) = init_logging(&loaded) {
        eprintln!("i2psocks: {err}");
        return ExitCode::from(1);
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    for note in &loaded.notes {
        tracing::info!("{note}");
    }
    match loaded.cli.effective_command() {
        Command::Check => check(&loaded),
        Command::Address => address(&loaded),
        Command::Run => run(loaded),
        Command::User { action } => user(&loaded, &action),
    }
}

/// `i2psocks user add|remove|list`: edit the users file of --require-auth.
fn user(loaded: &Loaded, action: &UserAction) -> ExitCode {
    match user_inner(loaded, action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("i2psocks: {err}");
            ExitCode::from(1)
        }
    }
}

fn user_inner(loaded: &Loaded, action: &UserAction) -> Result<(), String> {
    let path = &loaded.config.socks.users_file;
    let mut file = UsersFile::load(path, true).map_err(|e| e.to_string())?;
    match action {
        UserAction::List => {
            for name in file.names() {
                println!("{name}");
            }
            return Ok(());
        }
        UserAction::Remove { name } => {
            file.remove(name).map_err(|e| e.to_string())?;
            file.save().map_err(|e| e.to_string())?;
            eprintln!("removed user {name} from {}", path.display());
        }
        UserAction::Add {
            name,
            password_stdin,
        } => {
            users::validate_name(name.as_bytes()).map_err(|e| e.to_string())?;
            let password = read_password(*password_stdin)?;
            users::validate_password(password.as_bytes()).map_err(|e| e.to_string())?;
            let phc = users::hash_password(password.as_bytes()).map_err(|e| e.to_string())?;
            let new = file.set(name, phc).map_err(|e| e.to_string())?;
            file.save().map_err(|e| e.to_string())?;
            let what = if new {
                "added"
            } else {
                "changed the password of"
            };
            eprintln!("{what} user {name} in {}", path.display());
        }
    }
    if !loaded.config.socks.require_auth {
        eprintln!(
            "note: logins are only enforced with --require-auth (or requireauth = true in \
             [socks] of i2psocks.conf)"
        );
    }
    Ok(())
}

/// The password: asked twice on the terminal without echo, or one line from stdin
/// (`--password-stdin`, or when stdin is not a terminal).
fn read_password(from_stdin: bool) -> Result<String, String> {
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
    let echo = |on: bool| {
        // stty acts on its stdin, which is inherited: our terminal.
        let arg = if on { "echo" } else { "-echo" };
        std::process::Command::new("stty").arg(arg).status()
    };
    if !echo(false).is_ok_and(|s| s.success()) {
        return Err("cannot switch off terminal echo (stty); use --password-stdin".into());
    }
    let ask = |prompt: &str| {
        eprint!("{prompt}");
        let line = read_line();
        eprintln!();
        line
    };
    let first = ask("Password: ");
    let second = first.as_ref().ok().map(|_| ask("Repeat password: "));
    let _ = echo(true);
    let first = first?;
    match second {
        Some(Ok(second)) if second == first => Ok(first),
        Some(Ok(_)) => Err("the passwords do not match".into()),
        Some(Err(e)) => Err(e),
        None => Err("cannot read the password".into()),
    }
}

fn check(loaded: &Loaded) -> ExitCode {
    print!("{}", loaded.config.render_effective());
    // With logins required, the users file is part of the configuration.
    if loaded.config.socks.require_auth {
        match users::UserDb::open(&loaded.config.socks.users_file) {
            Ok(db) if db.is_empty() => {
                tracing::warn!("the users file has no users: every client would be refused");
            }
            Ok(_) => {}
            Err(err) => {
                eprintln!("i2psocks: {err} (add users with `i2psocks user add NAME`)");
                return ExitCode::from(1);
            }
        }
    }
    println!("# configuration OK");
    ExitCode::SUCCESS
}

fn address(loaded: &Loaded) -> ExitCode {
    match app::load_keys(&loaded.config) {
        Ok(keys) => {
            println!("{}", keys.destination().b32_address());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("i2psocks: {err}");
            ExitCode::from(1)
        }
    }
}

fn run(loaded: Loaded) -> ExitCode {
    if !loaded.config.i2cp.enabled {
        tracing::warn!(
            "i2pd.conf has [i2cp] enabled = false (i2pd's default); i2psocks needs the \
             router's I2CP server (i2pd: set enabled = true in [i2cp] and restart i2pd; a Java \
             I2P router's I2CP setting is its own, i2cp.disableInterface in router.config)"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("i2psocks: cannot start the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(app::run(loaded.config, app::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("i2psocks: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Logs go where i2pd would put them: stdout or a file. The one-shot commands print their
/// result on stdout, so their log lines go to stderr instead.
fn init_logging(loaded: &Loaded) -> Result<(), String> {
    let filter = loaded.config.log.level.level_filter();
    let builder = tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_target(false);
    let one_shot = loaded.cli.effective_command() != Command::Run;
    match &loaded.config.log.target {
        LogTarget::File(path) if !one_shot => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        _ if one_shot => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_ansi(ansi).with_writer(std::io::stderr).init();
        }
        target => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            builder.with_ansi(ansi).with_writer(std::io::stdout).init();
            if *target == LogTarget::Syslog {
                tracing::warn!(
                    "log = syslog is not supported by i2psocks; logging to stdout \
                     (under systemd that is the journal)"
                );
            }
        }
    }
    Ok(())
}
