//! The i2psocks binary: parse the command line and i2pd.conf, set up logging, then hand
//! over to the library ([`i2psocks::commands::execute`]: the proxy or a one-shot command).

use std::process::ExitCode;

use i2psocks::commands;
use i2psocks::config::{self, Command, ConfigError, Loaded, LogTarget};

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
    commands::execute(loaded)
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
