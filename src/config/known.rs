//! Every option name i2pd declares (libi2pd/Config.cpp at i2pd master 59b50e7c, docs/i2pd-config.md
//! "[socksproxy] options").
//!
//! i2pd refuses to start on a key it does not know, so a file that works with i2pd contains only
//! these names. i2psocks reads a handful of them; the rest must be accepted silently. A name not in
//! this list earns a warning (an error with `--strict`). Every 2.45.1 name is still present at master.

/// Options before any section (i2pd's "General options").
const GENERAL: &[&str] = &[
    "help",
    "version",
    "conf",
    "tunconf",
    "tunnelsdir",
    "certsdir",
    "pidfile",
    "log",
    "logfile",
    "loglevel",
    "logclftime",
    "family",
    "datadir",
    "host",
    "ifname",
    "ifname4",
    "ifname6",
    "nat",
    "port",
    "ipv4",
    "address4",
    "ipv6",
    "address6",
    "reservedrange",
    "netid",
    "daemon",
    "service",
    "notransit",
    "floodfill",
    "bandwidth",
    "share",
    "ntcp",
    "ssu",
    "ntcpproxy",
    // Declared only in Windows builds; a Linux i2pd rejects them, but they are i2pd names.
    "svcctl",
    "insomnia",
    "close",
    "stan",
];

/// Options inside sections, as (section, key) pairs.
const SECTIONED: &[(&str, &[&str])] = &[
    (
        "limits",
        &[
            "coresize",
            "openfiles",
            "transittunnels",
            "zombies",
            "ntcpsoft",
            "ntcphard",
            "ntcpthreads",
        ],
    ),
    (
        "http",
        &[
            "enabled",
            "address",
            "port",
            "auth",
            "user",
            "pass",
            "strictheaders",
            "hostname",
            "webroot",
            "lang",
            "showTotalTCSR",
            "theme",
        ],
    ),
    (
        "httpproxy",
        &[
            "enabled",
            "address",
            "port",
            "keys",
            "signaturetype",
            "inbound.length",
            "outbound.length",
            "inbound.quantity",
            "outbound.quantity",
            "inbound.lengthVariance",
            "outbound.lengthVariance",
            "latency.min",
            "latency.max",
            "outproxy",
            "addresshelper",
            "senduseragent",
            "i2cp.leaseSetType",
            "i2cp.leaseSetEncType",
            "i2cp.leaseSetPrivKey",
            "i2p.streaming.maxOutboundSpeed",
            "i2p.streaming.maxInboundSpeed",
            "i2p.streaming.profile",
            "i2p.streaming.maxWindowSize",
        ],
    ),
    (
        "socksproxy",
        &[
            "enabled",
            "address",
            "port",
            "keys",
            "signaturetype",
            "inbound.length",
            "outbound.length",
            "inbound.quantity",
            "outbound.quantity",
            "inbound.lengthVariance",
            "outbound.lengthVariance",
            "latency.min",
            "latency.max",
            "outproxy.enabled",
            "outproxy",
            "outproxyport",
            "i2cp.leaseSetType",
            "i2cp.leaseSetEncType",
            "i2cp.leaseSetPrivKey",
            "i2p.streaming.maxOutboundSpeed",
            "i2p.streaming.maxInboundSpeed",
            "i2p.streaming.profile",
            "i2p.streaming.maxWindowSize",
        ],
    ),
    (
        "shareddest",
        &[
            "inbound.length",
            "outbound.length",
            "inbound.quantity",
            "outbound.quantity",
            "i2cp.leaseSetType",
            "i2cp.leaseSetEncType",
            "i2p.streaming.profile",
        ],
    ),
    (
        "sam",
        &["enabled", "address", "port", "portudp", "singlethread"],
    ),
    ("bob", &["enabled", "address", "port"]),
    (
        "i2cp",
        &[
            "enabled",
            "address",
            "port",
            "singlethread",
            "inboundlimit",
            "outboundlimit",
        ],
    ),
    (
        "i2pcontrol",
        &["enabled", "address", "port", "password", "cert", "key"],
    ),
    ("upnp", &["enabled", "name"]),
    ("precomputation", &["elgamal"]),
    (
        "reseed",
        &[
            "verify",
            "threshold",
            "floodfill",
            "file",
            "zipfile",
            "proxy",
            "urls",
            "yggurls",
        ],
    ),
    (
        "addressbook",
        &["enabled", "defaulturl", "subscriptions", "hostsfile"],
    ),
    ("trust", &["enabled", "family", "routers", "hidden"]),
    ("websockets", &["enabled", "address", "port"]),
    (
        "exploratory",
        &[
            "inbound.length",
            "outbound.length",
            "inbound.quantity",
            "outbound.quantity",
        ],
    ),
    (
        "ntcp2",
        &["enabled", "published", "port", "addressv6", "proxy"],
    ),
    (
        "ssu2",
        &[
            "enabled",
            "published",
            "port",
            "mtu4",
            "mtu6",
            "proxy",
            "firewalled4",
            "firewalled6",
        ],
    ),
    (
        "nettime",
        &["enabled", "ntpservers", "ntpsyncinterval", "frompeers"],
    ),
    ("persist", &["profiles", "addressbook"]),
    ("cpuext", &["aesni", "avx", "force"]),
    ("meshnets", &["yggdrasil", "yggaddress"]),
    ("unix", &["handle_sigtstp"]),
];

/// Section names i2pd knows, exactly as i2pd spells them.
pub const SECTIONS: &[&str] = &[
    "limits",
    "http",
    "httpproxy",
    "socksproxy",
    "shareddest",
    "sam",
    "bob",
    "i2cp",
    "i2pcontrol",
    "upnp",
    "precomputation",
    "reseed",
    "addressbook",
    "trust",
    "websockets",
    "exploratory",
    "ntcp2",
    "ssu2",
    "nettime",
    "persist",
    "cpuext",
    "meshnets",
    "unix",
];

/// True if i2pd declares this full option name (case-sensitive, like i2pd).
pub fn is_known(key: &str) -> bool {
    if GENERAL.contains(&key) {
        return true;
    }
    let Some((section, rest)) = key.split_once('.') else {
        return false;
    };
    SECTIONED
        .iter()
        .any(|(name, keys)| *name == section && keys.contains(&rest))
}

/// All full option names, in declaration order.
pub fn all() -> impl Iterator<Item = String> {
    GENERAL.iter().map(|k| (*k).to_owned()).chain(
        SECTIONED
            .iter()
            .flat_map(|(section, keys)| keys.iter().map(move |k| format!("{section}.{k}"))),
    )
}

/// The known name that differs from `key` only in ASCII case, for "did you mean" hints.
pub fn case_insensitive_match(key: &str) -> Option<String> {
    all().find(|k| k.eq_ignore_ascii_case(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_list_has_every_master_name_once() {
        let names: Vec<String> = all().collect();
        assert_eq!(names.len(), 181);
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn sections_match_the_sectioned_table() {
        let from_table: Vec<&str> = SECTIONED.iter().map(|(s, _)| *s).collect();
        assert_eq!(from_table, SECTIONS);
    }

    #[test]
    fn lookups_are_case_sensitive() {
        assert!(is_known("socksproxy.i2cp.leaseSetEncType"));
        assert!(is_known("socksproxy.outproxy.enabled"));
        assert!(is_known("loglevel"));
        assert!(!is_known("socksproxy.i2cp.leasesetenctype"));
        assert!(!is_known("SOCKSProxy.port"));
        assert!(!is_known("socksproxy.foo"));
        assert!(!is_known("socksproxy"));
        assert_eq!(
            case_insensitive_match("socksproxy.i2cp.leasesetenctype").as_deref(),
            Some("socksproxy.i2cp.leaseSetEncType")
        );
    }
}
