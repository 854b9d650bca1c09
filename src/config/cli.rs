//! Command line: clap for i2psocks' own flags, plus i2pd-style `--section.key=value` overrides
//! (docs/i2pd-config.md "Command line") that clap cannot declare and [`split_overrides`] pulls out
//! first.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::error::{ConfigError, Source};

/// i2psocks: a standalone SOCKS 4/4a/5 proxy for I2P that reads i2pd.conf and talks I2CP to the router.
///
/// Any i2pd option can also be given i2pd-style: --socksproxy.port=4448, --socksproxy.port 4448,
/// -socksproxy.port=4448, --i2cp.port=7654. The command line wins over the files.
#[derive(Debug, Clone, Parser)]
#[command(name = "i2psocks", version, about, long_about)]
pub struct Cli {
    /// i2pd config file to read (default: DATADIR/i2pd.conf if it exists). Missing or unreadable is an error.
    #[arg(long, global = true, value_name = "PATH")]
    pub conf: Option<PathBuf>,
    /// Data directory, like i2pd's (default: /var/lib/i2pd with --service, else $HOME/.i2pd, else /tmp/i2pd).
    #[arg(long, global = true, value_name = "PATH")]
    pub datadir: Option<PathBuf>,
    /// Use the system data directory /var/lib/i2pd, like i2pd --service.
    #[arg(long, global = true)]
    pub service: bool,
    /// Where to log: stdout, file or syslog (overrides `log` in i2pd.conf).
    #[arg(long, global = true, value_name = "stdout|file|syslog")]
    pub log: Option<String>,
    /// Log file for --log file (default: DATADIR/i2psocks.log).
    #[arg(long, global = true, value_name = "PATH")]
    pub logfile: Option<PathBuf>,
    /// Log level: none, critical, error, warn, info, debug (case-insensitive).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub loglevel: Option<String>,
    /// i2psocks' own settings file (default: DATADIR/i2psocks.conf if it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub settings: Option<PathBuf>,
    /// Treat unknown i2pd options (in i2pd.conf or on the command line) as errors instead of warnings.
    #[arg(long, global = true)]
    pub strict: bool,
    /// Seconds a SOCKS client has to complete its request (0 = no limit; default 30).
    #[arg(long, global = true, value_name = "SECONDS")]
    pub handshake_timeout: Option<String>,
    /// Maximum concurrent SOCKS clients (default 4096).
    #[arg(long, global = true, value_name = "N")]
    pub max_connections: Option<String>,
    /// SOCKS5 UDP ASSOCIATE over I2P datagrams: true or false (default true; false refuses it like i2pd).
    #[arg(long, global = true, value_name = "BOOL")]
    pub udp: Option<String>,
    /// Maximum concurrent UDP associations (default 256).
    #[arg(long, global = true, value_name = "N")]
    pub max_udp_associations: Option<String>,
    /// Accept unsigned (raw) I2P datagrams for UDP associations: true or false (default true; i2pd's UDP tunnels answer with them).
    #[arg(long, global = true, value_name = "BOOL")]
    pub udp_raw: Option<String>,
    /// Seconds to wait for a name lookup by the router (default 15); a request made while
    /// the session starts waits up to four times as long for it first.
    #[arg(long, global = true, value_name = "SECONDS")]
    pub lookup_timeout: Option<String>,
    /// Require a SOCKS5 username and password from the users file (RFC 1929); SOCKS4/4a is then refused (default false).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub require_auth: Option<String>,
    /// i2psocks' users file (default: DATADIR/i2psocks.users); see `i2psocks user`.
    #[arg(long, global = true, value_name = "PATH")]
    pub users_file: Option<String>,
    /// Give each SOCKS5 username its own I2CP session and destination (default false).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub isolate: Option<String>,
    /// Directory of per-user keys files for --isolate (default: none, transient per-user keys).
    #[arg(long, global = true, value_name = "DIR")]
    pub isolation_keys: Option<String>,
    /// Most per-user sessions at once with --isolate (default 32).
    #[arg(long, global = true, value_name = "N")]
    pub max_sessions: Option<String>,
    /// Seconds without streams after which a per-user session is closed (default 600).
    #[arg(long, global = true, value_name = "SECONDS")]
    pub session_idle_timeout: Option<String>,
    /// Accept listening on a non-loopback address without --require-auth: an open proxy into
    /// I2P for everyone who can reach it (default false: refused at start).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub allow_open_proxy: Option<String>,
    /// Extra listeners besides i2pd.conf's [socksproxy] address and port, comma-separated:
    /// HOST:PORT or unix:/PATH (mode, group and owner of unix: sockets in i2psocks.conf).
    #[arg(long, global = true, value_name = "LIST")]
    pub listen: Option<String>,
    /// Tor's RESOLVE (F0) and RESOLVE_PTR (F1) hand out virtual addresses from this IPv4 network (default 240.0.0.0/4; empty turns RESOLVE off).
    #[arg(long, global = true, value_name = "CIDR")]
    pub virtual_range: Option<String>,
    /// Reply with Tor's extended error codes F0-F7 (proposal 304) for I2P failures (default false: i2pd's codes).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub extended_errors: Option<String>,
    /// Outproxies inside I2P for non-.i2p names, spoken to with HTTP CONNECT and tried in turn: NAME.i2p[:PORT],... (port default 80; default: none).
    #[arg(long, global = true, value_name = "LIST")]
    pub i2p_outproxies: Option<String>,
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The subcommand, `Run` when none was given.
    pub fn effective_command(&self) -> Command {
        self.command.clone().unwrap_or(Command::Run)
    }
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the proxy (the default). Exits 1 when the keys file is in use by another
    /// i2psocks, 3 when the router refuses the session.
    Run,
    /// Validate the configuration, print the effective settings and exit (0 = fine, 1 = error).
    Check,
    /// Print the .b32.i2p address of the configured keys file (read only; see --create).
    Address {
        /// Create the keys file when it does not exist yet (as the proxy does at its first start).
        #[arg(long)]
        create: bool,
    },
    /// Manage the users file (logins for --require-auth).
    User {
        /// What to do with the users file.
        #[command(subcommand)]
        action: UserAction,
    },
}

/// `i2psocks user ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UserAction {
    /// Add a user or change its password (asked on the terminal, or one line from stdin).
    Add {
        /// The username (printable ASCII without ':' or spaces, at most 255 bytes).
        name: String,
        /// Read the password as one line from standard input instead of asking twice on the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user.
    Remove {
        /// The username.
        name: String,
    },
    /// List the usernames.
    List,
}

/// One i2pd-style `--section.key=value` from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Full option name, e.g. `socksproxy.port`.
    pub key: String,
    /// The value as given (may be empty with `--key=`).
    pub value: String,
}

impl Override {
    /// Where the override came from, for messages.
    pub fn source(&self) -> Source {
        Source::CommandLine
    }
}

/// Splits i2pd-style dotted options out of the arguments before clap sees them.
///
/// Recognised forms (the option name must contain a dot): `--a.b=v`, `--a.b v`, `-a.b=v`, `-a.b v`.
/// The first argument (program name) and everything after `--` pass through untouched.
/// A dotted option without a value is an error (i2pd: bool options need `=true`/`=false` on the
/// command line too), and so is the same key given twice. The rest keeps its order for clap.
pub fn split_overrides(
    args: impl IntoIterator<Item = OsString>,
) -> Result<(Vec<OsString>, Vec<Override>), ConfigError> {
    let mut rest = Vec::new();
    let mut overrides: Vec<Override> = Vec::new();
    let mut iter = args.into_iter();
    if let Some(program) = iter.next() {
        rest.push(program);
    }
    while let Some(arg) = iter.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(iter.by_ref());
            break;
        }
        let Some((name, inline_value)) = arg.to_str().and_then(dotted_option) else {
            rest.push(arg);
            continue;
        };
        let value = match inline_value {
            Some(v) => v.to_owned(),
            None => take_value(&arg, iter.next())?,
        };
        if overrides.iter().any(|o| o.key == name) {
            return Err(ConfigError::Duplicate {
                origin: Source::CommandLine,
                key: name.to_owned(),
                first: Source::CommandLine,
            });
        }
        overrides.push(Override {
            key: name.to_owned(),
            value,
        });
    }
    Ok((rest, overrides))
}

/// `--a.b=v` → (`a.b`, Some(`v`)); `-a.b` → (`a.b`, None); anything without a dotted name → None.
fn dotted_option(arg: &str) -> Option<(&str, Option<&str>)> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    let dotted = name.contains('.') && !name.starts_with('.') && !name.starts_with('-');
    dotted.then_some((name, value))
}

/// The separate value of `--a.b VALUE`; a missing value or another option is an error.
fn take_value(arg: &OsString, next: Option<OsString>) -> Result<String, ConfigError> {
    let shown = arg.to_string_lossy().into_owned();
    let missing = ConfigError::BadOverride {
        arg: shown.clone(),
        reason: "needs a value (write it as --section.key=value; bool options need =true or =false)",
    };
    let Some(next) = next else {
        return Err(missing);
    };
    let Some(text) = next.to_str() else {
        return Err(ConfigError::BadOverride {
            arg: shown,
            reason: "value is not valid UTF-8",
        });
    };
    if text.starts_with('-') && text.len() > 1 {
        return Err(missing);
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn ov(key: &str, value: &str) -> Override {
        Override {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn pulls_all_dotted_forms_out() {
        let (rest, found) = split_overrides(os(&[
            "i2psocks",
            "--socksproxy.port=4448",
            "--conf",
            "/x/i2pd.conf",
            "--i2cp.port",
            "7655",
            "-socksproxy.address=::1",
            "-httpproxy.keys",
            "k.dat",
            "check",
            "--socksproxy.keys=",
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rest, os(&["i2psocks", "--conf", "/x/i2pd.conf", "check"]));
        assert_eq!(
            found,
            vec![
                ov("socksproxy.port", "4448"),
                ov("i2cp.port", "7655"),
                ov("socksproxy.address", "::1"),
                ov("httpproxy.keys", "k.dat"),
                ov("socksproxy.keys", ""),
            ]
        );
    }

    #[test]
    fn values_with_dots_and_double_dash_are_left_alone() {
        let (rest, found) = split_overrides(os(&["p", "--conf=/a.b/c.conf", "--", "--x.y=1"]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rest, os(&["p", "--conf=/a.b/c.conf", "--", "--x.y=1"]));
        assert!(found.is_empty());
    }

    #[test]
    fn missing_value_is_an_error() {
        let err = split_overrides(os(&["p", "--socksproxy.enabled"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "command line: '--socksproxy.enabled': needs a value (write it as --section.key=value; bool options need =true or =false)"
        );
        let err = split_overrides(os(&["p", "--socksproxy.port", "--strict"])).unwrap_err();
        assert!(matches!(err, ConfigError::BadOverride { .. }));
    }

    #[test]
    fn repeated_override_is_an_error() {
        let err = split_overrides(os(&["p", "--i2cp.port=1", "-i2cp.port=2"])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("command line: key 'i2cp.port' given more than once"),
            "{err}"
        );
    }

    #[test]
    fn clap_accepts_globals_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "i2psocks",
            "check",
            "--conf",
            "/c",
            "--strict",
            "--loglevel",
            "DEBUG",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.effective_command(), Command::Check);
        assert_eq!(cli.conf, Some(PathBuf::from("/c")));
        assert!(cli.strict);
        let cli = Cli::try_parse_from(["i2psocks"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.effective_command(), Command::Run);
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        <Cli as CommandFactory>::command().debug_assert();
    }
}
