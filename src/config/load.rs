//! Putting it together: data dir and file discovery (docs/i2pd-config.md "Data dir and config
//! file"), precedence (command line > file > default, docs/i2pd-config.md "Command line"),
//! unknown-key policy and the typed [`Config`].

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::cli::{Cli, Override, split_overrides};
use super::error::{ConfigError, Source};
use super::ini::{self, IniFile};
use super::known;
use super::options::{KeysSpec, ListenSpec, UnixSocketOptions, invalid};
use super::settings::{self, SettingsFlags};
use super::{Config, Loaded};

mod merge;
mod sections;

use merge::{Values, merge};
use sections::{read_i2cp, read_log, read_socks};

/// Data dir used with `--service` (Unix), docs/i2pd-config.md "Data dir and config file".
pub const SERVICE_DATADIR: &str = "/var/lib/i2pd";
/// Data dir when `HOME` is unset or empty.
pub const FALLBACK_DATADIR: &str = "/tmp/i2pd";
/// Name of the i2pd config file looked for in the data dir.
pub const CONF_NAME: &str = "i2pd.conf";
/// Name of i2psocks' settings file looked for in the data dir.
pub const SETTINGS_NAME: &str = "i2psocks.conf";
/// Log file name used for `log = file` without `logfile` (i2pd would use i2pd.log; we must not share it).
pub const LOGFILE_NAME: &str = "i2psocks.log";

/// Parses the command line, finds and reads the files, and builds the configuration.
///
/// `args` includes the program name (pass `std::env::args_os()`). `--help` and `--version` come
/// back as [`ConfigError::Clap`]; call [`clap::Error::exit`] on it.
pub fn load_from_args(args: impl IntoIterator<Item = OsString>) -> Result<Loaded, ConfigError> {
    load_with_home(args, std::env::var_os("HOME").as_deref())
}

/// [`load_from_args`] with an explicit `$HOME` (for tests).
pub fn load_with_home(
    args: impl IntoIterator<Item = OsString>,
    home: Option<&OsStr>,
) -> Result<Loaded, ConfigError> {
    let (rest, overrides) = split_overrides(args)?;
    let cli = Cli::try_parse_from(rest)?;
    let datadir = discover_datadir(cli.datadir.as_deref(), cli.service, home);
    let conf = read_optional(
        cli.conf.as_deref(),
        &datadir.join(CONF_NAME),
        known::SECTIONS,
    )?;
    let own = read_optional(
        cli.settings.as_deref(),
        &datadir.join(SETTINGS_NAME),
        settings::SECTIONS,
    )?;
    let built = build(&Inputs {
        cli: &cli,
        overrides: &overrides,
        datadir,
        conf: conf.as_ref(),
        settings: own.as_ref(),
    })?;
    Ok(Loaded {
        cli,
        config: built.config,
        warnings: built.warnings,
        notes: built.notes,
    })
}

/// The data dir exactly as i2pd picks it: `--datadir`, else `--service` → /var/lib/i2pd, else
/// `$HOME/.i2pd`, else /tmp/i2pd. A `datadir` inside the config file cannot change it
/// (docs/i2pd-config.md "Data dir and config file").
pub fn discover_datadir(
    cli_datadir: Option<&Path>,
    service: bool,
    home: Option<&OsStr>,
) -> PathBuf {
    if let Some(dir) = cli_datadir.filter(|d| !d.as_os_str().is_empty()) {
        return dir.to_owned();
    }
    if service {
        return PathBuf::from(SERVICE_DATADIR);
    }
    match home.filter(|h| !h.is_empty()) {
        Some(home) => Path::new(home).join(".i2pd"),
        None => PathBuf::from(FALLBACK_DATADIR),
    }
}

/// Reads `explicit` (must be readable), else `fallback` if it exists, else nothing.
pub fn read_optional(
    explicit: Option<&Path>,
    fallback: &Path,
    sections: &[&'static str],
) -> Result<Option<IniFile>, ConfigError> {
    let path = match explicit.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => path,
        None if fallback.exists() => fallback,
        None => return Ok(None),
    };
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    ini::parse(path, &bytes, sections).map(Some)
}

/// Everything [`build`] needs; no I/O happens after this point.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// Parsed command line (its `--log`, `--loglevel`, `--logfile`, `--strict` and own flags are used).
    pub cli: &'a Cli,
    /// i2pd-style dotted overrides from the command line.
    pub overrides: &'a [Override],
    /// The data dir from [`discover_datadir`].
    pub datadir: PathBuf,
    /// The parsed i2pd.conf, if any.
    pub conf: Option<&'a IniFile>,
    /// The parsed i2psocks settings file, if any.
    pub settings: Option<&'a IniFile>,
}

/// Result of [`build`].
#[derive(Debug)]
pub struct Built {
    /// The configuration.
    pub config: Config,
    /// Problems the user should fix (unknown keys, ignored settings that change behaviour).
    pub warnings: Vec<String>,
    /// Informational remarks (ignored options, documented differences from i2pd).
    pub notes: Vec<String>,
}

/// Builds the typed configuration from already-read inputs (pure: no I/O).
pub fn build(inputs: &Inputs<'_>) -> Result<Built, ConfigError> {
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let cli = inputs.cli;
    let raw = merge(inputs, &mut warnings)?;
    let mut values = Values {
        raw,
        sources: BTreeMap::new(),
    };
    let datadir = inputs.datadir.clone();
    let own = settings::resolve(
        inputs.settings,
        &SettingsFlags {
            handshake_timeout: cli.handshake_timeout.clone(),
            max_connections: cli.max_connections.clone(),
            udp: cli.udp.clone(),
            max_udp_associations: cli.max_udp_associations.clone(),
            udp_raw: cli.udp_raw.clone(),
            lookup_timeout: cli.lookup_timeout.clone(),
            require_auth: cli.require_auth.clone(),
            users_file: cli.users_file.clone(),
            isolate: cli.isolate.clone(),
            isolation_keys: cli.isolation_keys.clone(),
            max_sessions: cli.max_sessions.clone(),
            session_idle_timeout: cli.session_idle_timeout.clone(),
            allow_open_proxy: cli.allow_open_proxy.clone(),
            listen: cli.listen.clone(),
            virtual_range: cli.virtual_range.clone(),
            extended_errors: cli.extended_errors.clone(),
            i2p_outproxies: cli.i2p_outproxies.clone(),
        },
    )?;
    let mut socks = read_socks(&mut values, &datadir, &mut warnings, &mut notes)?;
    socks.handshake_timeout = own.handshake_timeout.0;
    socks.max_connections = own.max_connections.0;
    socks.udp = own.udp.0;
    socks.max_udp_associations = own.max_udp_associations.0;
    socks.udp_raw = own.udp_raw.0;
    socks.udp_format = own.udp_format.0;
    socks.require_auth = own.require_auth.0;
    socks.users_file = own_path(&datadir, &own.users_file.0);
    socks.isolate = own.isolate.0;
    socks.isolation_keys =
        (!own.isolation_keys.0.is_empty()).then(|| own_path(&datadir, &own.isolation_keys.0));
    socks.max_sessions = own.max_sessions.0;
    socks.session_idle_timeout = own.session_idle_timeout.0;
    socks.allow_open_proxy = own.allow_open_proxy.0;
    socks.listen = parse_listen(&own.listen)?;
    socks.unix_socket = UnixSocketOptions {
        mode: own.unix_socket_mode.0,
        group: non_empty(&own.unix_socket_group.0),
        owner: non_empty(&own.unix_socket_owner.0),
    };
    socks.virtual_range = own.virtual_range.0;
    socks.virtual_idle_timeout = own.virtual_idle_timeout.0;
    socks.extended_errors = own.extended_errors.0;
    socks.i2p_outproxies = own.i2p_outproxies.0.clone();
    if !socks.i2p_outproxies.is_empty() && socks.outproxy.is_some() {
        warnings.push(format!(
            "{}: {} is set: non-.i2p names go to the outproxies inside I2P, not to the \
             outproxy of i2pd.conf",
            own.i2p_outproxies.1,
            settings::I2P_OUTPROXIES
        ));
    }
    let mut i2cp = read_i2cp(&mut values, &mut notes)?;
    i2cp.lookup_timeout = own.lookup_timeout.0;
    i2cp.reconnect_max_delay = own.reconnect_max_delay.0;
    i2cp.detour = own.detour.0;
    let log = read_log(&mut values, &datadir, &mut warnings, &mut notes)?;

    let mut sources = values.sources;
    let datadir_source = if cli.datadir.is_some() || cli.service {
        Source::CommandLine
    } else {
        Source::Default
    };
    sources.insert("datadir".to_owned(), datadir_source);
    sources.insert(
        settings::HANDSHAKE_TIMEOUT.to_owned(),
        own.handshake_timeout.1,
    );
    sources.insert(settings::MAX_CONNECTIONS.to_owned(), own.max_connections.1);
    sources.insert(settings::UDP.to_owned(), own.udp.1);
    sources.insert(
        settings::MAX_UDP_ASSOCIATIONS.to_owned(),
        own.max_udp_associations.1,
    );
    sources.insert(settings::UDP_RAW.to_owned(), own.udp_raw.1);
    sources.insert(settings::UDP_FORMAT.to_owned(), own.udp_format.1);
    sources.insert(settings::LOOKUP_TIMEOUT.to_owned(), own.lookup_timeout.1);
    sources.insert(settings::REQUIRE_AUTH.to_owned(), own.require_auth.1);
    sources.insert(settings::USERS_FILE.to_owned(), own.users_file.1);
    sources.insert(settings::ISOLATE.to_owned(), own.isolate.1);
    sources.insert(settings::ISOLATION_KEYS.to_owned(), own.isolation_keys.1);
    sources.insert(settings::MAX_SESSIONS.to_owned(), own.max_sessions.1);
    sources.insert(
        settings::SESSION_IDLE_TIMEOUT.to_owned(),
        own.session_idle_timeout.1,
    );
    sources.insert(settings::VIRTUAL_RANGE.to_owned(), own.virtual_range.1);
    sources.insert(
        settings::VIRTUAL_IDLE_TIMEOUT.to_owned(),
        own.virtual_idle_timeout.1,
    );
    sources.insert(settings::EXTENDED_ERRORS.to_owned(), own.extended_errors.1);
    sources.insert(settings::I2P_OUTPROXIES.to_owned(), own.i2p_outproxies.1);
    sources.insert(
        settings::RECONNECT_MAX_DELAY.to_owned(),
        own.reconnect_max_delay.1,
    );
    sources.insert(
        settings::ALLOW_OPEN_PROXY.to_owned(),
        own.allow_open_proxy.1,
    );
    sources.insert(settings::LISTEN.to_owned(), own.listen.1);
    sources.insert(
        settings::UNIX_SOCKET_MODE.to_owned(),
        own.unix_socket_mode.1,
    );
    sources.insert(
        settings::UNIX_SOCKET_GROUP.to_owned(),
        own.unix_socket_group.1,
    );
    sources.insert(
        settings::UNIX_SOCKET_OWNER.to_owned(),
        own.unix_socket_owner.1,
    );
    sources.insert(settings::DETOUR.to_owned(), own.detour.1);
    let config = Config {
        socks,
        i2cp,
        log,
        datadir,
        conf_file: inputs.conf.map(|f| f.path.clone()),
        settings_file: inputs.settings.map(|f| f.path.clone()),
        sources,
    };
    Ok(Built {
        config,
        warnings,
        notes,
    })
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `socks.listen` / `--listen`: comma-separated `HOST:PORT` (IPv6 in brackets) or
/// `unix:/ABSOLUTE/PATH`.
pub fn parse_listen((text, src): &(String, Source)) -> Result<Vec<ListenSpec>, ConfigError> {
    let name = if *src == Source::CommandLine {
        "--listen"
    } else {
        settings::LISTEN
    };
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let spec = if let Some(path) = item.strip_prefix("unix:") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(invalid(src, name, item, "unix:/ABSOLUTE/PATH"));
            }
            ListenSpec::Unix(path)
        } else {
            let addr = item
                .parse()
                .map_err(|_| invalid(src, name, item, "HOST:PORT (an IP address) or unix:/PATH"))?;
            ListenSpec::Tcp(addr)
        };
        out.push(spec);
    }
    Ok(out)
}

/// A path of i2psocks' own settings: absolute as written, else under the data dir.
fn own_path(datadir: &Path, value: &str) -> PathBuf {
    let path = Path::new(value);
    if path.is_absolute() {
        path.to_owned()
    } else {
        datadir.join(path)
    }
}

/// `keys` → where the destination comes from (docs/i2pd-config.md "The keys option"): `transient*`
/// or empty → in memory; otherwise `<datadir>/<keys>`, prefixed even when absolute (i2pd's
/// behaviour, so both find the same file).
pub fn resolve_keys(value: &str, datadir: &Path) -> KeysSpec {
    if value.is_empty() || value.starts_with("transient") {
        return KeysSpec::Transient;
    }
    let mut joined: OsString = datadir.as_os_str().to_owned();
    joined.push("/");
    joined.push(value);
    KeysSpec::File(PathBuf::from(joined))
}
