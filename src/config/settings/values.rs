//! How each i2psocks.conf value is parsed and bounded (numbers, seconds, booleans, modes,
//! ranges, outproxy lists) and the unknown-key check; apart from `settings.rs` so that file
//! holds only the key names, defaults and the order of resolution.

use std::time::Duration;

use super::super::error::{ConfigError, Source};
use super::super::ini::IniFile;
use super::super::options::{EXPECT_BOOL, invalid, parse_bool, parse_decimal};
use super::{
    DEFAULT_UNIX_SOCKET_MODE, DEFAULT_VIRTUAL_RANGE, HANDSHAKE_TIMEOUT, I2P_OUTPROXIES, KEYS,
    LOOKUP_TIMEOUT, MAX_CONNECTIONS, MAX_SESSIONS, MAX_UDP_ASSOCIATIONS, RECONNECT_MAX_DELAY,
    SESSION_IDLE_TIMEOUT, UNIX_SOCKET_MODE, VIRTUAL_IDLE_TIMEOUT, VIRTUAL_RANGE,
};
use crate::socks::virtual_addr::RangeError;
use crate::socks::{I2pOutproxy, VirtualRange};

const EXPECT_HANDSHAKE: &str = "whole seconds 0-86400, 0 = no limit";
const EXPECT_CONNECTIONS: &str = "a number 1-1000000";
const EXPECT_SECONDS: &str = "whole seconds 1-86400";
const EXPECT_ASSOCIATIONS: &str = "a number 1-65535";

/// The outproxies inside I2P: `name.i2p[:port]`, comma-separated; empty = none.
pub(super) fn outproxy_list(
    picked: Option<(String, Source)>,
) -> Result<(Vec<I2pOutproxy>, Source), ConfigError> {
    let Some((text, src)) = picked else {
        return Ok((Vec::new(), Source::Default));
    };
    match crate::socks::http_connect::parse_list(&text) {
        Ok(list) => Ok((list, src)),
        Err(_) => {
            let name = if src == Source::CommandLine {
                "--i2p-outproxies"
            } else {
                I2P_OUTPROXIES
            };
            Err(invalid(
                &src,
                name,
                &text,
                "a comma-separated list of NAME.i2p or NAME.i2p:PORT",
            ))
        }
    }
}

/// The RESOLVE range: CIDR, or empty for "off"; errors name the flag when it came from the
/// command line.
pub(super) fn range(
    picked: Option<(String, Source)>,
) -> Result<(Option<VirtualRange>, Source), ConfigError> {
    let (text, src) = picked.unwrap_or_else(|| (DEFAULT_VIRTUAL_RANGE.to_owned(), Source::Default));
    if text.is_empty() {
        return Ok((None, src));
    }
    match text.parse::<VirtualRange>() {
        Ok(range) => Ok((Some(range), src)),
        Err(error) => {
            let name = if src == Source::CommandLine {
                "--virtual-range"
            } else {
                VIRTUAL_RANGE
            };
            let expected = match error {
                RangeError::Syntax => "an IPv4 network like 240.0.0.0/4, or empty for off",
                RangeError::Prefix => "a prefix length of 4-24 (256 addresses or more)",
                RangeError::NotAligned => "a network address with no bits set below the prefix",
            };
            Err(invalid(&src, name, &text, expected))
        }
    }
}

/// A boolean with i2pd's spellings, `default` when unset; errors name the flag when it
/// came from the command line.
pub(super) fn boolean(
    picked: Option<(String, Source)>,
    key: &'static str,
    flag: &'static str,
    default: bool,
) -> Result<(bool, Source), ConfigError> {
    let Some((text, src)) = picked else {
        return Ok((default, Source::Default));
    };
    match parse_bool(&text) {
        Some(b) => Ok((b, src)),
        None => {
            let name = if src == Source::CommandLine {
                flag
            } else {
                key
            };
            Err(invalid(&src, name, &text, EXPECT_BOOL))
        }
    }
}

/// A file mode in octal (`0660`, `660`), permission bits only.
pub(super) fn octal_mode(picked: Option<(String, Source)>) -> Result<(u32, Source), ConfigError> {
    let Some((text, src)) = picked else {
        return Ok((DEFAULT_UNIX_SOCKET_MODE, Source::Default));
    };
    match u32::from_str_radix(text.trim(), 8) {
        Ok(mode) if !text.trim().is_empty() && mode <= 0o777 => Ok((mode, src)),
        _ => Err(invalid(
            &src,
            UNIX_SOCKET_MODE,
            &text,
            "an octal mode 0000-0777",
        )),
    }
}

/// A non-empty text value (a path), with a default.
pub(super) fn text(
    picked: Option<(String, Source)>,
    key: &'static str,
    flag: &'static str,
    default: &str,
) -> Result<(String, Source), ConfigError> {
    match picked {
        None => Ok((default.to_owned(), Source::Default)),
        Some((value, src)) if value.is_empty() => {
            let name = if src == Source::CommandLine {
                flag
            } else {
                key
            };
            Err(invalid(&src, name, &value, "a file name"))
        }
        Some(picked) => Ok(picked),
    }
}

/// How one numeric setting is named and bounded.
pub(super) struct Rule {
    key: &'static str,
    flag: &'static str,
    min: u64,
    max: u64,
    expected: &'static str,
}

pub(super) const HANDSHAKE: Rule = Rule {
    key: HANDSHAKE_TIMEOUT,
    flag: "--handshake-timeout",
    min: 0,
    max: 86_400,
    expected: EXPECT_HANDSHAKE,
};
pub(super) const CONNECTIONS: Rule = Rule {
    key: MAX_CONNECTIONS,
    flag: "--max-connections",
    min: 1,
    max: 1_000_000,
    expected: EXPECT_CONNECTIONS,
};
pub(super) const ASSOCIATIONS: Rule = Rule {
    key: MAX_UDP_ASSOCIATIONS,
    flag: "--max-udp-associations",
    min: 1,
    max: 65_535,
    expected: EXPECT_ASSOCIATIONS,
};
pub(super) const LOOKUP: Rule = Rule {
    key: LOOKUP_TIMEOUT,
    flag: "--lookup-timeout",
    min: 1,
    max: 86_400,
    expected: EXPECT_SECONDS,
};
pub(super) const SESSIONS: Rule = Rule {
    key: MAX_SESSIONS,
    flag: "--max-sessions",
    min: 1,
    max: 10_000,
    expected: "a number 1-10000",
};
pub(super) const IDLE: Rule = Rule {
    key: SESSION_IDLE_TIMEOUT,
    flag: "--session-idle-timeout",
    min: 1,
    max: 86_400,
    expected: EXPECT_SECONDS,
};
pub(super) const VIRTUAL_IDLE: Rule = Rule {
    key: VIRTUAL_IDLE_TIMEOUT,
    flag: VIRTUAL_IDLE_TIMEOUT, // no flag; only the file sets it
    min: 1,
    max: 30 * 86_400,
    expected: "whole seconds 1-2592000",
};
pub(super) const RECONNECT: Rule = Rule {
    key: RECONNECT_MAX_DELAY,
    flag: RECONNECT_MAX_DELAY, // no flag; only the file sets it
    min: 1,
    max: 86_400,
    expected: EXPECT_SECONDS,
};

/// Validates a picked value; errors name the flag when it came from the command line.
pub(super) fn number(
    picked: Option<(String, Source)>,
    rule: Rule,
) -> Result<Option<(u64, Source)>, ConfigError> {
    let Some((text, src)) = picked else {
        return Ok(None);
    };
    match parse_decimal(&text).filter(|n| (rule.min..=rule.max).contains(n)) {
        Some(n) => Ok(Some((n, src))),
        None => {
            let name = if src == Source::CommandLine {
                rule.flag
            } else {
                rule.key
            };
            Err(invalid(&src, name, &text, rule.expected))
        }
    }
}

pub(super) fn seconds(
    picked: Option<(String, Source)>,
    rule: Rule,
    default: u64,
) -> Result<(Duration, Source), ConfigError> {
    Ok(match number(picked, rule)? {
        Some((secs, src)) => (Duration::from_secs(secs), src),
        None => (Duration::from_secs(default), Source::Default),
    })
}

pub(super) fn reject_unknown(file: &IniFile) -> Result<(), ConfigError> {
    match file
        .entries
        .iter()
        .find(|e| !KEYS.contains(&e.key.as_str()))
    {
        Some(entry) => Err(ConfigError::UnknownKey {
            origin: file.source_of(entry),
            key: entry.key.clone(),
            hint: format!(
                " in the i2psocks settings file (known: {})",
                KEYS.join(", ")
            ),
        }),
        None => Ok(()),
    }
}
