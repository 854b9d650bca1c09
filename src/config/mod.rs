//! Configuration: i2pd.conf read exactly like i2pd reads it, i2psocks' own settings file and the
//! command line, merged into one typed [`Config`] (docs/i2pd-config.md).
//!
//! Entry point: [`load_from_args`]. Layers, each usable alone:
//! * [`ini`]: the Boost-compatible lexer (entries with line numbers);
//! * [`known`]: every option name i2pd declares (unknown names are warnings, errors with `--strict`);
//! * [`options`]: typed values with i2pd's rules and the typed sections;
//! * [`settings`]: i2psocks' own settings file (`i2psocks.conf`);
//! * [`cli`]: clap flags plus i2pd-style `--section.key=value` overrides;
//! * [`load`]: discovery (data dir, files), precedence and the final build.

pub mod cli;
pub mod error;
pub mod ini;
pub mod known;
pub mod load;
pub mod options;
pub mod settings;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

pub use cli::{Cli, Command, Override, UserAction, split_overrides};
pub use error::{ConfigError, Source};
pub use load::{load_from_args, load_with_home, resolve_keys};
pub use options::{
    I2cpConfig, KeysSpec, ListenSpec, LogConfig, LogLevel, LogTarget, Outproxy, SocksConfig,
    TunnelOptions, UdpFormat, UnixSocketOptions,
};

/// What [`load_from_args`] returns.
#[derive(Debug)]
pub struct Loaded {
    /// The parsed command line (`cli.effective_command()` tells what to do).
    pub cli: Cli,
    /// The effective configuration.
    pub config: Config,
    /// Problems worth a `warn!` (unknown keys, settings that cannot work as written).
    pub warnings: Vec<String>,
    /// Remarks worth an `info!` (ignored options, documented differences from i2pd).
    pub notes: Vec<String>,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[socksproxy]` plus i2psocks' SOCKS limits.
    pub socks: SocksConfig,
    /// `[i2cp]` (the router endpoint) plus i2psocks' I2CP timing.
    pub i2cp: I2cpConfig,
    /// Logging.
    pub log: LogConfig,
    /// Data dir (relative keys files live here).
    pub datadir: PathBuf,
    /// The i2pd config file read, if any.
    pub conf_file: Option<PathBuf>,
    /// The i2psocks settings file read, if any.
    pub settings_file: Option<PathBuf>,
    /// Origin of each setting, by full key (i2pd names, and `socks.*` / `i2cp.*` for own settings).
    pub sources: BTreeMap<String, Source>,
}

/// Nickname i2pd gives the SOCKS destination's tunnels.
const NICKNAME: &str = "SOCKSProxy";

impl Config {
    /// I2CP SessionConfig options for the SOCKS destination, sorted by key (docs/i2cp.md "Options
    /// i2psocks sends").
    ///
    /// `i2cp.leaseSetPrivKey` is deliberately not sent: the client builds its own LeaseSet, the
    /// router never needs the key. `i2p.streaming.maxWindowSize` is for our own streaming layer.
    pub fn session_options(&self) -> Vec<(String, String)> {
        let s = &self.socks;
        let t = &s.tunnel;
        let mut options: Vec<(String, String)> = [
            ("i2cp.dontPublishLeaseSet", "true"),
            ("i2cp.fastReceive", "true"),
            ("i2cp.leaseSetEncType", s.lease_set_enc_type.as_str()),
            ("i2cp.leaseSetType", s.lease_set_type.as_str()),
            ("i2cp.messageReliability", "none"),
            ("i2p.streaming.profile", s.streaming_profile.as_str()),
            ("inbound.length", t.inbound_length.as_str()),
            ("inbound.lengthVariance", t.inbound_length_variance.as_str()),
            ("inbound.nickname", NICKNAME),
            ("inbound.quantity", t.inbound_quantity.as_str()),
            ("latency.max", t.latency_max.as_str()),
            ("latency.min", t.latency_min.as_str()),
            ("outbound.length", t.outbound_length.as_str()),
            (
                "outbound.lengthVariance",
                t.outbound_length_variance.as_str(),
            ),
            ("outbound.nickname", NICKNAME),
            ("outbound.quantity", t.outbound_quantity.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        options.sort();
        options
    }

    /// Human-readable effective settings for `i2psocks check`: `key = value  # origin`, grouped by
    /// section. The output is itself valid i2pd.conf syntax. Key material is never printed.
    pub fn render_effective(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# i2psocks effective configuration");
        let _ = writeln!(
            out,
            "# i2pd config file: {}",
            shown(self.conf_file.as_ref())
        );
        let _ = writeln!(
            out,
            "# i2psocks settings file: {}",
            shown(self.settings_file.as_ref())
        );
        self.render_globals(&mut out);
        self.render_socks(&mut out);
        self.render_i2cp(&mut out);
        self.render_own(&mut out);
        out
    }

    fn line(&self, out: &mut String, key: &str, value: &str) {
        let origin = self.sources.get(key).cloned().unwrap_or(Source::Default);
        let _ = writeln!(out, "{:<44} # {origin}", format!("{key} = {value}"));
    }

    fn render_globals(&self, out: &mut String) {
        let _ = writeln!(out, "\n# globals");
        self.line(out, "datadir", &self.datadir.display().to_string());
        let (log, file) = match &self.log.target {
            LogTarget::Stdout => ("stdout", None),
            LogTarget::File(path) => ("file", Some(path.display().to_string())),
            LogTarget::Syslog => ("syslog", None),
        };
        self.line(out, "log", log);
        if let Some(file) = file {
            self.line(out, "logfile", &file);
        }
        self.line(out, "loglevel", self.log.level.as_str());
    }

    fn render_socks(&self, out: &mut String) {
        let s = &self.socks;
        let t = &s.tunnel;
        let _ = writeln!(out, "\n[socksproxy]");
        let keys = match &s.keys {
            KeysSpec::Transient => "transient".to_owned(),
            KeysSpec::File(path) => path.display().to_string(),
        };
        let priv_key = if s.lease_set_priv_key.is_empty() {
            ""
        } else {
            "(set, not shown)"
        };
        let mut rows: Vec<(&str, String)> = vec![
            ("address", s.address.to_string()),
            ("port", s.port.to_string()),
            ("keys", keys),
            ("signaturetype", s.signature_type.to_string()),
            ("inbound.length", t.inbound_length.clone()),
            ("inbound.quantity", t.inbound_quantity.clone()),
            ("inbound.lengthVariance", t.inbound_length_variance.clone()),
            ("outbound.length", t.outbound_length.clone()),
            ("outbound.quantity", t.outbound_quantity.clone()),
            (
                "outbound.lengthVariance",
                t.outbound_length_variance.clone(),
            ),
            ("latency.min", t.latency_min.clone()),
            ("latency.max", t.latency_max.clone()),
            ("i2cp.leaseSetType", s.lease_set_type.clone()),
            ("i2cp.leaseSetEncType", s.lease_set_enc_type.clone()),
            ("i2cp.leaseSetPrivKey", priv_key.to_owned()),
            ("i2p.streaming.profile", s.streaming_profile.clone()),
            ("i2p.streaming.maxWindowSize", s.max_window_size.clone()),
        ];
        // The upstream host and port are only shown when they are used.
        match &s.outproxy {
            Some(o) => rows.extend([
                ("outproxy.enabled", "true".to_owned()),
                ("outproxy", o.host.clone()),
                ("outproxyport", o.port.to_string()),
            ]),
            None => rows.push(("outproxy.enabled", "false".to_owned())),
        }
        for (key, value) in rows {
            self.line_in(out, "socksproxy", key, &value);
        }
    }

    fn line_in(&self, out: &mut String, section: &str, key: &str, value: &str) {
        let origin = self
            .sources
            .get(&format!("{section}.{key}"))
            .cloned()
            .unwrap_or(Source::Default);
        let _ = writeln!(out, "{:<44} # {origin}", format!("{key} = {value}"));
    }

    fn render_i2cp(&self, out: &mut String) {
        let _ = writeln!(out, "\n[i2cp]");
        self.line_in(
            out,
            "i2cp",
            "enabled",
            if self.i2cp.enabled { "true" } else { "false" },
        );
        self.line_in(out, "i2cp", "address", &self.i2cp.address);
        self.line_in(out, "i2cp", "port", &self.i2cp.port.to_string());
    }

    fn render_own(&self, out: &mut String) {
        let _ = writeln!(out, "\n# i2psocks settings (i2psocks.conf / command line)");
        let _ = writeln!(out, "[socks]");
        let handshake = self.socks.handshake_timeout.map_or(0, |d| d.as_secs());
        self.line_in(out, "socks", "handshaketimeout", &handshake.to_string());
        self.line_in(
            out,
            "socks",
            "maxconnections",
            &self.socks.max_connections.to_string(),
        );
        self.line_in(
            out,
            "socks",
            "udp",
            if self.socks.udp { "true" } else { "false" },
        );
        self.line_in(
            out,
            "socks",
            "maxudpassociations",
            &self.socks.max_udp_associations.to_string(),
        );
        self.line_in(
            out,
            "socks",
            "udpraw",
            if self.socks.udp_raw { "true" } else { "false" },
        );
        self.line_in(out, "socks", "udpformat", self.socks.udp_format.name());
        let s = &self.socks;
        let yes_no = |b: bool| if b { "true" } else { "false" };
        self.line_in(out, "socks", "requireauth", yes_no(s.require_auth));
        self.line_in(
            out,
            "socks",
            "usersfile",
            &s.users_file.display().to_string(),
        );
        self.line_in(out, "socks", "isolate", yes_no(s.isolate));
        let keys = s
            .isolation_keys
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        self.line_in(out, "socks", "isolationkeys", &keys);
        self.line_in(out, "socks", "maxsessions", &s.max_sessions.to_string());
        self.line_in(
            out,
            "socks",
            "sessionidletimeout",
            &secs(s.session_idle_timeout),
        );
        self.line_in(out, "socks", "allowopenproxy", yes_no(s.allow_open_proxy));
        let listen: Vec<String> = s.listen.iter().map(ToString::to_string).collect();
        self.line_in(out, "socks", "listen", &listen.join(", "));
        let unix = &s.unix_socket;
        self.line_in(
            out,
            "socks",
            "unixsocketmode",
            &format!("{:04o}", unix.mode),
        );
        self.line_in(
            out,
            "socks",
            "unixsocketgroup",
            unix.group.as_deref().unwrap_or(""),
        );
        self.line_in(
            out,
            "socks",
            "unixsocketowner",
            unix.owner.as_deref().unwrap_or(""),
        );
        let range = s.virtual_range.map(|r| r.to_string()).unwrap_or_default();
        self.line_in(out, "socks", "virtualrange", &range);
        self.line_in(
            out,
            "socks",
            "virtualidletimeout",
            &secs(s.virtual_idle_timeout),
        );
        let extended = if s.extended_errors { "true" } else { "false" };
        self.line_in(out, "socks", "extendederrors", extended);
        let outproxies: Vec<String> = s.i2p_outproxies.iter().map(|o| o.to_string()).collect();
        self.line_in(out, "socks", "i2poutproxies", &outproxies.join(", "));
        let _ = writeln!(out, "[i2cp]");
        self.line_in(
            out,
            "i2cp",
            "lookuptimeout",
            &secs(self.i2cp.lookup_timeout),
        );
        self.line_in(
            out,
            "i2cp",
            "reconnectmaxdelay",
            &secs(self.i2cp.reconnect_max_delay),
        );
        self.line_in(out, "i2cp", "detour", &self.i2cp.detour.to_string());
    }
}

fn secs(d: Duration) -> String {
    d.as_secs().to_string()
}

fn shown(path: Option<&PathBuf>) -> String {
    path.map_or_else(|| "none (defaults)".to_owned(), |p| p.display().to_string())
}
