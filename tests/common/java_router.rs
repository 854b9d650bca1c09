//! [`JavaRouter`]: an offline Java I2P router (no transports, zero-hop exploratory
//! pools) serving I2CP on a free loopback port, for tests of what Java I2P does
//! differently from i2pd at the I2CP level. Stopped (its own process only) on drop.
//!
//! The jars come from `contrib/routers/java-i2p.sh` (its header says where it looks:
//! `I2P_JARS=DIR` first). Without the jars or a `java` in PATH, [`skip_without_java`]
//! prints a loud SKIPPED line, or panics when `I2PSOCKS_REQUIRE_TESTBED=1`.

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::availability::{REQUIRE_VAR, find_in_path};
use super::logs::log_text;
use super::progress::Patience;

/// Stall limit for the router's I2CP server to listen (JVM start included): the wait goes
/// on while the JVM's logs grow, up to four times this.
const START_STALL: Duration = Duration::from_secs(120);

/// The directory holding Java I2P's jars, as `contrib/routers/java-i2p.sh` finds and
/// checks it (asked once per test binary), if any.
pub fn java_i2p_lib() -> Option<PathBuf> {
    static LIB: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/routers/java-i2p.sh");
        let out = Command::new(script)
            .stderr(Stdio::inherit())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lib = PathBuf::from(stdout.lines().last()?.trim());
        (lib.join("router.jar").is_file() && lib.join("i2p.jar").is_file()).then_some(lib)
    })
    .clone()
}

/// True when the calling test must return now because Java I2P cannot run here (loud
/// SKIPPED line); panics instead with `I2PSOCKS_REQUIRE_TESTBED=1`.
pub fn skip_without_java(test: &str) -> bool {
    let why = match (find_in_path("java"), java_i2p_lib()) {
        (None, _) => "`java` is not in PATH (install openjdk-17-jre-headless)",
        (_, None) => "contrib/routers/java-i2p.sh found no usable Java I2P jars (set I2P_JARS=DIR)",
        _ => return false,
    };
    if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
        panic!("Java I2P test {test} cannot run because {why} (and {REQUIRE_VAR}=1)");
    }
    let banner = "*".repeat(70);
    let _ = std::io::stderr().write_all(
        format!(
            "\n{banner}\nSKIPPED: Java I2P test {test} because {why}.\n         \
             Set {REQUIRE_VAR}=1 to make this a failure.\n{banner}\n"
        )
        .as_bytes(),
    );
    true
}

/// A running offline Java I2P router.
#[derive(Debug)]
pub struct JavaRouter {
    child: Child,
    dir: PathBuf,
    /// Its I2CP port on 127.0.0.1.
    pub i2cp_port: u16,
}

impl JavaRouter {
    /// Start a router in a fresh directory under the system temp dir and wait until its
    /// I2CP port accepts connections.
    pub fn start(name: &str) -> Result<JavaRouter, String> {
        Self::start_with_hosts(name, "")
    }

    /// [`JavaRouter::start`] with `hosts` (lines `name.i2p=BASE64`) as the router's
    /// hosts.txt, so that those names resolve through its I2CP HostLookup.
    pub fn start_with_hosts(name: &str, hosts: &str) -> Result<JavaRouter, String> {
        Self::start_with(name, hosts, "")
    }

    /// [`JavaRouter::start_with_hosts`] with `extra` (router.config lines) appended to the
    /// offline router's config.
    pub fn start_with(name: &str, hosts: &str, extra: &str) -> Result<JavaRouter, String> {
        let lib = java_i2p_lib().ok_or("Java I2P's jars were not found")?;
        let java = find_in_path("java").ok_or("`java` is not in PATH")?;
        let dir = std::env::temp_dir().join(format!(
            "i2psocks-java-{name}-{}-{}",
            std::process::id(),
            super::unique_name()
        ));
        let config = dir.join("config");
        fs::create_dir_all(config.join("logs")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let i2cp_port = free_port()?;
        fs::write(
            config.join("router.config"),
            router_config(i2cp_port) + extra,
        )
        .map_err(|e| format!("router.config: {e}"))?;
        fs::write(config.join("hosts.txt"), hosts).map_err(|e| format!("hosts.txt: {e}"))?;
        let log = fs::File::create(dir.join("stdout.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let d = |k: &str, v: &Path| format!("-D{k}={}", v.display());
        let child = Command::new(java)
            .arg("-Xmx256m")
            .arg("-Djava.net.preferIPv4Stack=true")
            .arg(d("i2p.dir.base", &dir))
            .arg(d("i2p.dir.config", &config))
            .arg(d("i2p.dir.router", &config))
            .arg(d("i2p.dir.app", &config))
            .arg(d("i2p.dir.log", &config.join("logs")))
            .arg(d("i2p.dir.pid", &config))
            .arg(d("router.configLocation", &config.join("router.config")))
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg("net.i2p.router.RouterLaunch")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start java: {e}"))?;
        let mut router = JavaRouter {
            child,
            dir,
            i2cp_port,
        };
        router.wait_listening()?;
        Ok(router)
    }

    /// The directory holding the jars this router runs from.
    pub fn lib(&self) -> Option<PathBuf> {
        java_i2p_lib()
    }

    /// The router's working directory (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The router's stdout and its own log files (those there now, and the first one it
    /// writes, `config/logs/log-0.txt`), for waits that follow progress.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![
            self.dir.join("stdout.log"),
            self.dir.join("config/logs/log-0.txt"),
        ];
        if let Ok(entries) = fs::read_dir(self.dir.join("config/logs")) {
            let mut more: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| !paths.contains(p))
                .collect();
            more.sort();
            paths.extend(more);
        }
        paths
    }

    /// The router's own log files and stdout, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = log_text(self.dir.join("stdout.log"));
        if let Ok(entries) = fs::read_dir(self.dir.join("config/logs")) {
            for entry in entries.flatten() {
                out.push_str(&log_text(entry.path()));
            }
        }
        out
    }

    /// Poll until the I2CP port accepts, for as long as the JVM's logs grow (a JVM starting
    /// next to compilers takes tens of seconds): [`super::wait_following`] with a stall
    /// limit of [`START_STALL`].
    fn wait_listening(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.i2cp_port));
        let what = format!("the Java router's I2CP port {}", self.i2cp_port);
        let logs = self.log_paths();
        let child = &mut self.child;
        let outcome = super::wait_following(&what, Patience::stall(START_STALL), &logs, || {
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(Ok(()));
            }
            match child.try_wait() {
                Ok(Some(status)) => Ok(Err(format!("the Java router exited ({status})"))),
                _ => Err("not listening yet".to_owned()),
            }
        });
        match outcome {
            Ok((Ok(()), _)) => Ok(()),
            Ok((Err(e), _)) | Err(e) => Err(format!("{e}:\n{}", self.logs())),
        }
    }
}

impl Drop for JavaRouter {
    fn drop(&mut self) {
        // Only our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An offline router: no transports, no reseed, zero-hop exploratory pools, I2CP on
/// 127.0.0.1:`port` (router.config keys of Java I2P 2.7.0).
fn router_config(port: u16) -> String {
    format!(
        "router.reseedDisable=true\n\
         i2np.upnp.enable=false\n\
         i2np.ntcp.enable=false\n\
         i2np.udp.enable=false\n\
         i2np.ipv6=false\n\
         time.disabled=true\n\
         i2cp.port={port}\n\
         i2cp.hostname=127.0.0.1\n\
         i2cp.disableInterface=false\n\
         router.hiddenMode=true\n\
         router.inboundPool.length=0\n\
         router.outboundPool.length=0\n"
    )
}

/// A port nobody listens on now (bound and released; the router binds it right after).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
