//! Session options that depend on which router answered: i2pd 2.58 and later read
//! `i2cp.dontPublishLeaseSet` inverted, and only SetDate's API version tells them apart.

use tracing::info;

/// Key of the option that keeps the router from publishing our LeaseSet to floodfills.
pub const DONT_PUBLISH_LEASESET: &str = "i2cp.dontPublishLeaseSet";

/// First I2CP API version (SetDate) of i2pd 2.58.0, which reads `i2cp.dontPublishLeaseSet`
/// inverted: `m_IsPublic = GetBoolParamValue (value)` in 2.58.0 libi2pd/Destination.cpp,
/// `params->Get (I2CP_PARAM_DONT_PUBLISH_LEASESET, m_IsPublic)` in 2.59.0; 2.57.0 and
/// earlier set `m_IsPublic = (value != "true")`. In SetDate, i2pd 2.58.0 reports 0.9.67 and
/// 2.59.0 0.9.68, while i2pd up to 2.57 echo the client's own version (ours is
/// [`CLIENT_VERSION`](crate::i2cp::message::CLIENT_VERSION), below this; `GetDateMessageHandler` in 2.56.0
/// libi2pd_client/I2CP.cpp); Java I2P 2.7.0 reports 0.9.64.
pub const INVERTED_DONT_PUBLISH_FROM: (u32, u32, u32) = (0, 9, 67);

/// The SessionConfig options for a router that reported `version` in SetDate.
///
/// The LeaseSet must never be published (our LeaseSet2 carries the unpublished flag, so
/// floodfills refuse it and a publishing router retries for ever). No single value of
/// `i2cp.dontPublishLeaseSet` means that on every i2pd: `true` does up to 2.57, `false`
/// from 2.58. The API version tells them apart; Java I2P reads `true` as meant, and from
/// 2.10 reports the same API versions as i2pd 2.58+, which cannot be told apart here:
/// routers reporting 0.9.67 or later are taken for i2pd (i2psocks replaces i2pd's proxy),
/// and that choice is logged once. A caller that asks for publication with `false` (only
/// measuring tools do, see [`publishes_lease_set`]) gets `true` on those routers.
pub fn options_for_router(options: &[(String, String)], version: &str) -> Vec<(String, String)> {
    let inverted = parse_api_version(version).is_some_and(|v| v >= INVERTED_DONT_PUBLISH_FROM);
    let mut out = options.to_vec();
    if !inverted {
        return out;
    }
    for (key, value) in &mut out {
        if key != DONT_PUBLISH_LEASESET {
            continue;
        }
        if value == "true" {
            *value = "false".to_string();
            log_inversion_once(version);
        } else if value == "false" {
            *value = "true".to_string();
        }
    }
    out
}

/// Whether the caller asked for a published LeaseSet: `i2cp.dontPublishLeaseSet=false` (as
/// the I2CP specification means it, before [`options_for_router`]). The proxy never does;
/// a tool that needs two destinations on different routers to find each other (the
/// ceiling measurement, examples/ceiling.rs) does, and its LeaseSet2 then goes out without
/// the unpublished flag so that floodfills store it.
pub fn publishes_lease_set(options: &[(String, String)]) -> bool {
    options
        .iter()
        .rev()
        .find(|(k, _)| k == DONT_PUBLISH_LEASESET)
        .is_some_and(|(_, v)| v == "false")
}

/// `"0.9.68"` → (0, 9, 68); missing parts are 0, anything unparsable is `None`.
pub fn parse_api_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let micro = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, micro))
}

fn log_inversion_once(version: &str) {
    static LOGGED: std::sync::Once = std::sync::Once::new();
    LOGGED.call_once(|| {
        info!(
            version,
            "the router reports I2CP API {version} (i2pd 2.58 or later, which reads \
             i2cp.dontPublishLeaseSet inverted): sending i2cp.dontPublishLeaseSet=false so \
             that it does not publish the LeaseSet; a Java I2P 2.10 or later router reports \
             the same versions and would publish it (connections work either way)"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2cp::message::CLIENT_VERSION;

    fn opts(value: &str) -> Vec<(String, String)> {
        vec![
            (DONT_PUBLISH_LEASESET.to_string(), value.to_string()),
            ("inbound.length".to_string(), "3".to_string()),
        ]
    }

    fn dont_publish(options: &[(String, String)]) -> &str {
        options
            .iter()
            .find(|(k, _)| k == DONT_PUBLISH_LEASESET)
            .map_or("", |(_, v)| v.as_str())
    }

    #[test]
    fn dont_publish_is_inverted_for_i2pd_2_58_and_later_only() {
        // i2pd 2.45.1, 2.56.0, 2.57.0, Java I2P 2.7.0: "true" means what it says.
        for version in ["0.9.57", "0.9.65", "0.9.66", "0.9.64"] {
            assert_eq!(
                dont_publish(&options_for_router(&opts("true"), version)),
                "true"
            );
        }
        // i2pd 2.58.0, 2.59.0 and later read it inverted.
        for version in ["0.9.67", "0.9.68", "0.10", "1.0.0"] {
            let got = options_for_router(&opts("true"), version);
            assert_eq!(dont_publish(&got), "false", "{version}");
            assert_eq!(got.get(1), opts("true").get(1), "other options untouched");
        }
        // An unknown version string changes nothing.
        for version in ["", "i2pd", "0.x.68", "0.9.68-rc"] {
            assert_eq!(
                dont_publish(&options_for_router(&opts("true"), version)),
                "true"
            );
        }
    }

    #[test]
    fn publication_asked_with_false_is_sent_inverted_and_recognised() {
        assert!(publishes_lease_set(&opts("false")));
        assert!(!publishes_lease_set(&opts("true")));
        assert!(!publishes_lease_set(&[]), "unpublished unless asked");
        assert_eq!(
            dont_publish(&options_for_router(&opts("false"), "0.9.68")),
            "true",
            "i2pd 2.58+ publishes on true"
        );
        assert_eq!(
            dont_publish(&options_for_router(&opts("false"), "0.9.57")),
            "false"
        );
    }

    #[test]
    fn our_own_version_echoed_by_older_i2pd_is_below_the_inversion() {
        // i2pd up to 2.57 echo CLIENT_VERSION in SetDate: it must read as "not inverted".
        let ours = parse_api_version(CLIENT_VERSION);
        assert!(
            ours.is_some_and(|v| v < INVERTED_DONT_PUBLISH_FROM),
            "{ours:?}"
        );
    }

    #[test]
    fn api_versions_parse() {
        assert_eq!(parse_api_version("0.9.68"), Some((0, 9, 68)));
        assert_eq!(parse_api_version(" 0.9 "), Some((0, 9, 0)));
        assert_eq!(parse_api_version("0.9.x"), None);
        assert_eq!(parse_api_version(""), None);
    }
}
