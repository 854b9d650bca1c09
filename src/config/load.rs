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
use super::options::{
    EXPECT_BOOL, EXPECT_IP, EXPECT_LOG, EXPECT_LOGLEVEL, EXPECT_PORT, EXPECT_U16, I2cpConfig,
    KeysSpec, ListenSpec, LogConfig, LogLevel, LogTarget, Outproxy, SocksConfig, TunnelOptions,
    UnixSocketOptions, invalid, parse_bool, parse_ip, parse_u16,
};
use super::settings::{self, SettingsFlags};
use super::{Config, Loaded};

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

/// One raw value and where it came from.
#[derive(Debug, Clone)]
struct Raw {
    value: String,
    source: Source,
}

/// What `i2cp.leaseSetEncType` may list instead of a post-quantum type.
const EXPECT_ENC_TYPES: &str = "a list of encryption types without 5, 6 and 7, e.g. 4,0: \
    the post-quantum ML-KEM hybrids 5-7 (i2pd 2.58+ with OpenSSL 3.5+) need keys that \
    i2psocks does not make; it signs its own LeaseSet with an X25519 (type 4) key";

/// `i2cp.leaseSetEncType` (default `4,0`), passed on to the router. Types 5-7 are refused
/// here rather than passed on: with I2CP the client makes the LeaseSet and hands the
/// router its private keys (CreateLeaseSet2, I2CP spec), so the router could only
/// publish a post-quantum key that i2psocks had made (i2pd 2.59 libi2pd_client/I2CP.cpp
/// takes the keys from that message, whatever the option says).
fn without_post_quantum(
    key: &str,
    (value, origin): (String, Source),
) -> Result<String, ConfigError> {
    let post_quantum = value
        .split(',')
        .any(|t| matches!(t.trim().parse::<u16>(), Ok(5..=7)));
    if post_quantum {
        return Err(ConfigError::InvalidValue {
            origin,
            key: key.to_owned(),
            value,
            expected: EXPECT_ENC_TYPES,
        });
    }
    Ok(value)
}

/// Merged raw values (command line over file) plus a record of the origin of every value read.
struct Values {
    raw: BTreeMap<String, Raw>,
    sources: BTreeMap<String, Source>,
}

impl Values {
    /// The value of `key` (or `default`) and its origin; remembers the origin for `check`.
    fn text(&mut self, key: &str, default: &str) -> (String, Source) {
        let (value, source) = match self.raw.get(key) {
            Some(raw) => (raw.value.clone(), raw.source.clone()),
            None => (default.to_owned(), Source::Default),
        };
        self.sources.insert(key.to_owned(), source.clone());
        (value, source)
    }

    fn string(&mut self, key: &str, default: &str) -> String {
        self.text(key, default).0
    }

    fn bool(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        self.typed(key, default, parse_bool, EXPECT_BOOL)
    }

    fn u16(&mut self, key: &str, default: u16, expected: &'static str) -> Result<u16, ConfigError> {
        self.typed(key, default, parse_u16, expected)
    }

    /// An unset key yields `default`; a set one must parse (docs/i2pd-config.md "File syntax":
    /// fatal otherwise).
    fn typed<T>(
        &mut self,
        key: &str,
        default: T,
        parse: fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        let (text, source) = self.text(key, "");
        if source == Source::Default {
            return Ok(default);
        }
        parse(&text).ok_or_else(|| invalid(&source, key, &text, expected))
    }

    fn is_set(&self, key: &str) -> Option<&Raw> {
        self.raw.get(key)
    }
}

/// File entries, then command-line overrides on top (docs/i2pd-config.md "Command line": the
/// command line wins). Unknown i2pd keys are reported here.
fn merge(
    inputs: &Inputs<'_>,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, Raw>, ConfigError> {
    let strict = inputs.cli.strict;
    let mut raw = BTreeMap::new();
    if let Some(file) = inputs.conf {
        for entry in &file.entries {
            let source = file.source_of(entry);
            check_known(&entry.key, &source, strict, warnings)?;
            let value = entry.value.clone();
            raw.insert(entry.key.clone(), Raw { value, source });
        }
        warn_file_only_globals(&raw, warnings);
    }
    for o in inputs.overrides {
        check_known(&o.key, &o.source(), strict, warnings)?;
        insert_cli(&mut raw, &o.key, Some(o.value.clone()));
    }
    let cli = inputs.cli;
    insert_cli(&mut raw, "log", cli.log.clone());
    insert_cli(&mut raw, "loglevel", cli.loglevel.clone());
    let logfile = cli
        .logfile
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    insert_cli(&mut raw, "logfile", logfile);
    Ok(raw)
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

fn insert_cli(raw: &mut BTreeMap<String, Raw>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        raw.insert(
            key.to_owned(),
            Raw {
                value,
                source: Source::CommandLine,
            },
        );
    }
}

/// Unknown i2pd option: a warning (i2pd itself would refuse to start), an error with `--strict`.
fn check_known(
    key: &str,
    source: &Source,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if known::is_known(key) {
        return Ok(());
    }
    let hint = match known::case_insensitive_match(key) {
        Some(name) => format!(" (did you mean '{name}'? option names are case-sensitive)"),
        None if settings::KEYS.contains(&key) => format!(
            " (an i2psocks setting: put it in {SETTINGS_NAME}, i2pd would refuse to start with it)"
        ),
        None => " (i2pd does not declare it and would refuse to start)".to_owned(),
    };
    let err = ConfigError::UnknownKey {
        origin: source.clone(),
        key: key.to_owned(),
        hint,
    };
    if strict {
        return Err(err);
    }
    warnings.push(format!("{err}; ignored"));
    Ok(())
}

/// `datadir` and `service` are read from the command line only (docs/i2pd-config.md "Data dir and
/// config file"); in the file they do nothing.
fn warn_file_only_globals(raw: &BTreeMap<String, Raw>, warnings: &mut Vec<String>) {
    for key in ["datadir", "service"] {
        if let Some(r) = raw.get(key) {
            warnings.push(format!(
                "{}: '{key} = {}' has no effect in a config file (the data dir is fixed before the file is read); use --{key} on the command line",
                r.source, r.value
            ));
        }
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

const SP: &str = "socksproxy.";

fn sp(key: &str) -> String {
    format!("{SP}{key}")
}

fn read_socks(
    v: &mut Values,
    datadir: &Path,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<SocksConfig, ConfigError> {
    // Validated like i2pd would, then ignored: it is how users switch off i2pd's own proxy.
    if v.is_set("socksproxy.enabled").is_some() {
        let enabled = v.bool("socksproxy.enabled", true)?;
        let src = v.text("socksproxy.enabled", "").1;
        notes.push(format!(
            "{src}: socksproxy.enabled = {enabled} is ignored by i2psocks: it switches i2pd's built-in SOCKS proxy, i2psocks always listens"
        ));
    }
    let (addr_text, addr_src) = v.text("socksproxy.address", "127.0.0.1");
    let address = parse_ip(&addr_text)
        .ok_or_else(|| invalid(&addr_src, "socksproxy.address", &addr_text, EXPECT_IP))?;
    let port = v.u16("socksproxy.port", 4447, EXPECT_PORT)?;
    let keys = read_keys(v, datadir, warnings, notes)?;
    let signature_type = v.u16("socksproxy.signaturetype", 7, EXPECT_U16)?;
    let tunnel = TunnelOptions {
        inbound_length: v.string(&sp("inbound.length"), "3"),
        outbound_length: v.string(&sp("outbound.length"), "3"),
        inbound_quantity: v.string(&sp("inbound.quantity"), "5"),
        outbound_quantity: v.string(&sp("outbound.quantity"), "5"),
        inbound_length_variance: v.string(&sp("inbound.lengthVariance"), "0"),
        outbound_length_variance: v.string(&sp("outbound.lengthVariance"), "0"),
        latency_min: v.string(&sp("latency.min"), "0"),
        latency_max: v.string(&sp("latency.max"), "0"),
    };
    let outproxy_enabled = v.bool("socksproxy.outproxy.enabled", false)?;
    let outproxy_host = v.string("socksproxy.outproxy", "127.0.0.1");
    let outproxy_port = v.u16("socksproxy.outproxyport", 9050, EXPECT_PORT)?;
    let outproxy = (outproxy_enabled && !outproxy_host.is_empty()).then_some(Outproxy {
        host: outproxy_host,
        port: outproxy_port,
    });
    for key in [
        "i2p.streaming.maxOutboundSpeed",
        "i2p.streaming.maxInboundSpeed",
    ] {
        let (value, src) = v.text(&sp(key), "1730000000");
        if src != Source::Default {
            notes.push(format!(
                "{src}: {SP}{key} = {value} has no effect (i2pd declares it but never applies it either)"
            ));
        }
    }
    let (window_text, window_src) = v.text(&sp("i2p.streaming.maxWindowSize"), "512");
    let window = super::options::parse_max_window(&window_text);
    if window_src != Source::Default && window.to_string() != window_text.trim() {
        notes.push(format!(
            "{window_src}: {SP}i2p.streaming.maxWindowSize = {window_text}: using {window} packets \
             (a number from {} to {})",
            super::options::MIN_MAX_WINDOW,
            super::options::MAX_MAX_WINDOW
        ));
    }
    Ok(SocksConfig {
        address,
        port,
        keys,
        signature_type,
        tunnel,
        outproxy,
        lease_set_type: v.string(&sp("i2cp.leaseSetType"), "3"),
        lease_set_enc_type: without_post_quantum(
            &sp("i2cp.leaseSetEncType"),
            v.text(&sp("i2cp.leaseSetEncType"), "4,0"),
        )?,
        lease_set_priv_key: v.string(&sp("i2cp.leaseSetPrivKey"), ""),
        streaming_profile: v.string(&sp("i2p.streaming.profile"), "1"),
        max_window_size: window_text,
        handshake_timeout: None,
        max_connections: settings::DEFAULT_MAX_CONNECTIONS,
        udp: true,
        max_udp_associations: settings::DEFAULT_MAX_UDP_ASSOCIATIONS,
        udp_raw: true,
        udp_format: super::options::UdpFormat::Datagram1,
        require_auth: false,
        users_file: datadir.join(settings::DEFAULT_USERS_FILE),
        isolate: false,
        isolation_keys: None,
        max_sessions: settings::DEFAULT_MAX_SESSIONS,
        session_idle_timeout: std::time::Duration::from_secs(settings::DEFAULT_SESSION_IDLE_SECS),
        allow_open_proxy: false,
        listen: Vec::new(),
        unix_socket: UnixSocketOptions::default(),
        virtual_range: None,
        virtual_idle_timeout: std::time::Duration::from_secs(settings::DEFAULT_VIRTUAL_IDLE_SECS),
        extended_errors: false,
        i2p_outproxies: Vec::new(),
    })
}

fn read_keys(
    v: &mut Values,
    datadir: &Path,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<KeysSpec, ConfigError> {
    let (keys_text, keys_src) = v.text("socksproxy.keys", "transient-proxy");
    let keys = resolve_keys(&keys_text, datadir);
    if keys_text.is_empty() {
        notes.push(format!(
            "{keys_src}: socksproxy.keys is empty: i2pd would use its shared local destination; i2psocks uses a transient one"
        ));
    }
    // docs/i2pd-config.md "The keys option": i2pd's SOCKS proxy reuses the HTTP proxy's destination
    // when the keys are equal.
    let http_enabled = v.bool("httpproxy.enabled", true)?;
    let http_keys = v.string("httpproxy.keys", "transient-proxy");
    if http_enabled && http_keys == keys_text && !keys_text.is_empty() {
        match &keys {
            KeysSpec::File(path) => warnings.push(format!(
                "{keys_src}: socksproxy.keys = httpproxy.keys = '{keys_text}': i2pd's HTTP proxy uses the same keys file {}; running the same destination in two places breaks both; give [socksproxy] its own keys",
                path.display()
            )),
            KeysSpec::Transient => notes.push(format!(
                "{}socksproxy.keys = httpproxy.keys = '{keys_text}': i2pd would share the HTTP proxy's destination (and ignore the [socksproxy] tunnel options); i2psocks uses its own transient destination built from [socksproxy]",
                at(&keys_src)
            )),
        }
    }
    Ok(keys)
}

/// `"FILE:LINE: "` or `"command line: "` in front of a message; nothing for defaults.
fn at(source: &Source) -> String {
    match source {
        Source::Default => String::new(),
        other => format!("{other}: "),
    }
}

fn read_i2cp(v: &mut Values, notes: &mut Vec<String>) -> Result<I2cpConfig, ConfigError> {
    let enabled = v.bool("i2cp.enabled", false)?;
    let (address, _) = v.text("i2cp.address", "127.0.0.1");
    let port = v.u16("i2cp.port", 7654, EXPECT_PORT)?;
    if !enabled {
        notes.push(format!(
            "i2cp.enabled is false in this configuration: an i2pd router reading it does not serve I2CP; set [i2cp] enabled = true for the router i2psocks connects to ({address}:{port})"
        ));
    }
    Ok(I2cpConfig {
        enabled,
        address,
        port,
        lookup_timeout: std::time::Duration::from_secs(settings::DEFAULT_LOOKUP_SECS),
        reconnect_max_delay: std::time::Duration::from_secs(settings::DEFAULT_RECONNECT_SECS),
        detour: true,
    })
}

fn read_log(
    v: &mut Values,
    datadir: &Path,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<LogConfig, ConfigError> {
    let (log_text, log_src) = v.text("log", "");
    let mut target = match log_text.as_str() {
        "" | "stdout" => LogTarget::Stdout,
        "file" => LogTarget::File(PathBuf::new()),
        "syslog" => LogTarget::Syslog,
        other if log_src == Source::CommandLine => {
            return Err(invalid(&log_src, "log", other, EXPECT_LOG));
        }
        other => {
            // i2pd logs to stdout for any other value.
            warnings.push(format!("{log_src}: key 'log': unknown value '{other}' (expected {EXPECT_LOG}); logging to stdout like i2pd"));
            LogTarget::Stdout
        }
    };
    // i2pd: a daemon logging to stdout switches to a file. An explicit --log always wins here,
    // so a service manager can keep logs on stdout.
    let daemon = v.bool("daemon", false)?;
    if daemon && target == LogTarget::Stdout && log_src != Source::CommandLine {
        notes.push(format!(
            "{}: daemon = true: logging to a file like i2pd (pass --log stdout to keep stdout)",
            v.text("daemon", "").1
        ));
        target = LogTarget::File(PathBuf::new());
    }
    if target == LogTarget::File(PathBuf::new()) {
        let logfile = v.string("logfile", "");
        target = LogTarget::File(if logfile.is_empty() {
            datadir.join(LOGFILE_NAME)
        } else {
            PathBuf::from(logfile)
        });
    }
    let (level_text, level_src) = v.text("loglevel", "warn");
    let level = match LogLevel::parse(&level_text) {
        Some(level) => level,
        None if level_src == Source::CommandLine => {
            return Err(invalid(
                &level_src,
                "loglevel",
                &level_text,
                EXPECT_LOGLEVEL,
            ));
        }
        None => {
            warnings.push(format!("{level_src}: key 'loglevel': unknown value '{level_text}' (expected {EXPECT_LOGLEVEL}); using warn like i2pd"));
            LogLevel::Warn
        }
    };
    Ok(LogConfig { target, level })
}
