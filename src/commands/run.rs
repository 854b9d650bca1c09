//! `i2psocks` without a subcommand: the proxy itself, on a multi-threaded tokio runtime,
//! until SIGTERM or SIGINT.

use std::process::ExitCode;

use crate::app;
use crate::config::Loaded;

pub(super) fn run(loaded: Loaded) -> ExitCode {
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
