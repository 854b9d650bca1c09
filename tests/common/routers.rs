//! Which routers a real-router test runs against, chosen by environment variables so the
//! same test binaries run the whole matrix (contrib/test-all.sh, contrib/testbed/README.md):
//!
//! * `I2PSOCKS_ROUTER=2.59.0`: every router of the testbed (default `2.45.1`, Debian
//!   bookworm's package),
//! * `I2PSOCKS_ROUTER_FF`, `I2PSOCKS_ROUTER_SRV`, `I2PSOCKS_ROUTER_CLI`: one role each
//!   (an i2pd version, a path to an i2pd binary, or `java` for the client router).
//!
//! i2pd versions are found (never built here) by `contrib/routers/i2pd.sh --no-build`,
//! Java I2P's jars by `contrib/routers/java-i2p.sh`; build them first with
//! `contrib/routers/i2pd.sh VERSION`.

use std::process::{Command, Stdio};

/// Every router of the testbed.
pub const ROUTER_VAR: &str = "I2PSOCKS_ROUTER";
/// Bookworm's i2pd: what the testbed runs when nothing is chosen.
pub const DEFAULT_ROUTER: &str = "2.45.1";
/// Java I2P 2.7.0 only queries floodfills that announce router version 0.9.59 or later
/// (`StoreJob.shouldStoreTo`, used by `IterativeSearchJob` in Java I2P 2.7.0's router), so
/// with Java as the client router the floodfill defaults to a current i2pd, and the server
/// router to the floodfill's version: i2pd 2.59.0 accepts no router older than 0.9.58
/// (`NETDB_MIN_ALLOWED_VERSION`, i2pd 2.59.0 `libi2pd/NetDb.hpp`), so the default 2.45.1
/// (0.9.57) cannot share its network.
pub const FLOODFILL_FOR_JAVA: &str = "2.59.0";

/// The router for each role, as given (version, path or `java`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterChoice {
    pub ff: String,
    pub srv: String,
    pub cli: String,
}

impl RouterChoice {
    /// From `I2PSOCKS_ROUTER[_FF|_SRV|_CLI]`.
    pub fn from_env() -> RouterChoice {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    /// The same rules over any lookup (testable without touching the environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> RouterChoice {
        let all = get(ROUTER_VAR).unwrap_or_else(|| DEFAULT_ROUTER.to_string());
        let role = |suffix: &str| get(&format!("{ROUTER_VAR}_{suffix}"));
        let cli = role("CLI").unwrap_or_else(|| all.clone());
        let java_defaults = cli == "java" && get(ROUTER_VAR).is_none();
        let ff = role("FF").unwrap_or_else(|| {
            if java_defaults {
                FLOODFILL_FOR_JAVA.to_string()
            } else {
                all.clone()
            }
        });
        let srv = role("SRV").unwrap_or_else(|| if java_defaults { ff.clone() } else { all });
        RouterChoice { ff, srv, cli }
    }

    /// `(testbed.sh variable, value)` pairs for the script's environment.
    pub fn script_env(&self) -> Vec<(String, String)> {
        vec![
            ("TESTBED_ROUTER_FF".into(), self.ff.clone()),
            ("TESTBED_ROUTER_SRV".into(), self.srv.clone()),
            ("TESTBED_ROUTER_CLI".into(), self.cli.clone()),
        ]
    }

    /// `ff=2.45.1 srv=2.59.0 cli=java`.
    pub fn label(&self) -> String {
        format!("ff={} srv={} cli={}", self.ff, self.srv, self.cli)
    }

    /// `Ok(())` when every chosen router is there (built, or jars present), else why not.
    pub fn check_available(&self) -> Result<(), String> {
        for (role, spec) in [("ff", &self.ff), ("srv", &self.srv), ("cli", &self.cli)] {
            if spec == "java" && role != "cli" {
                return Err(format!("{role} cannot be Java I2P (only cli can)"));
            }
            let (script, args): (&str, Vec<&str>) = if spec == "java" {
                ("java-i2p.sh", vec![])
            } else {
                ("i2pd.sh", vec!["--no-build", spec.as_str()])
            };
            let path =
                concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/routers/").to_string() + script;
            let out = Command::new("bash")
                .arg(&path)
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {path}: {e}"))?;
            if !out.status.success() {
                let why = String::from_utf8_lossy(&out.stderr);
                return Err(format!(
                    "router '{spec}' for {role} is not available: {}",
                    why.lines().last().unwrap_or("(no message)")
                ));
            }
        }
        Ok(())
    }
}

/// `2.59.0` from a testbed label such as `i2pd-2.59.0` (`None` for Java or unknown).
pub fn i2pd_version(label: &str) -> Option<(u32, u32, u32)> {
    let v = label.strip_prefix("i2pd-")?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}
