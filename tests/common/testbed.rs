//! [`Testbed`]: one running copy of `contrib/testbed/testbed.sh` (three i2pd routers in a
//! private netns), torn down on drop.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::availability::{ENV_FILE_VAR, IN_NETNS_VAR, find_in_path};
use super::envfile::parse_env;
use super::known_failures::{Routers, known_failure};
use super::progress::{Patience, Progress};
use super::routers::RouterChoice;

/// The script, found relative to this crate so tests work from any working directory.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/testbed/testbed.sh");

/// Poll interval for every wait in here (never a fixed sleep used as synchronisation).
const POLL: Duration = Duration::from_millis(50);

/// Default stall limit for [`Testbed::run_test_in_ns`] (the run may take twice that while
/// its output or the testbed's logs grow: more than the four times 90 s that an inner
/// readiness wait may take).
const INNER_TEST_TIMEOUT: Duration = Duration::from_secs(240);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Options for [`Testbed::up_with`]. `Default` = the script's defaults.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Size of `big.bin` on the web service, in MiB (50; [`JAVA_BIG_MIB`] with Java as cli).
    pub big_mib: u32,
    /// i2pd log level: debug, info, warn (default, or $I2PSOCKS_TESTBED_LOGLEVEL), error, none.
    pub loglevel: String,
    /// Overall limit in seconds ([`UP_TIMEOUT_SECS`]; [`JAVA_UP_TIMEOUT_SECS`] with Java as
    /// cli). The script restarts the routers from scratch once when a readiness stage makes
    /// no progress for 45 s, so a broken start is still caught early; the overall limit is
    /// only the outer cap, generous so that a loaded machine never reaches it with routers
    /// that are merely slow.
    pub timeout_secs: u32,
    /// Router per role; default from `I2PSOCKS_ROUTER[_FF|_SRV|_CLI]`.
    pub routers: RouterChoice,
    /// Testbed (and netns) name; `None` = a fresh unique one. Must be unique machine-wide.
    pub name: Option<String>,
    /// Extra environment for the script (e.g. `TESTBED_SAVE_LOGS`, `TESTBED_BREAK_FIRST_ATTEMPT`).
    pub script_env: Vec<(String, String)>,
    /// Tunnel length of every pool (`--hops`); default from `$I2PSOCKS_HOPS`, else the
    /// script's choice (1 for i2pd 2.57.0-2.59.0, which deadlock at zero hops, else 0).
    pub hops: Option<u8>,
}

/// `up`'s overall limit with i2pd routers (the script's default): 10-30 s here, at loads of
/// 30-44 too; a fresh second attempt after a stalled first one must still fit on a busier
/// CI machine.
pub const UP_TIMEOUT_SECS: u32 = 300;
/// `up`'s overall limit with Java I2P as cli: two JVMs start, and Java's I2PTunnel only
/// listens once its client tunnels are built (`up` took 118-252 s at load 30-44, against
/// 10-30 s with i2pd alone).
pub const JAVA_UP_TIMEOUT_SECS: u32 = 480;
/// `big.bin` with Java I2P as cli, in MiB: its router moved 0.3-1 MB/s here (load 30-44;
/// i2pd 7-10 MB/s), so the bulk checks keep their shape (byte-exact, both proxies) at a
/// size that fits the tests' time limits.
pub const JAVA_BIG_MIB: u32 = 16;

impl Default for UpOptions {
    fn default() -> Self {
        let routers = RouterChoice::from_env();
        let java = routers.cli == "java";
        Self {
            big_mib: if java { JAVA_BIG_MIB } else { 50 },
            // Override for post-mortems: I2PSOCKS_TESTBED_LOGLEVEL=info (or debug).
            loglevel: std::env::var("I2PSOCKS_TESTBED_LOGLEVEL").unwrap_or_else(|_| "warn".into()),
            timeout_secs: if java {
                JAVA_UP_TIMEOUT_SECS
            } else {
                UP_TIMEOUT_SECS
            },
            routers,
            name: None,
            script_env: Vec::new(),
            hops: hops_from_env(),
        }
    }
}

/// Variable that sets [`UpOptions::hops`] for every testbed of a run.
pub const HOPS_VAR: &str = "I2PSOCKS_HOPS";

/// `$I2PSOCKS_HOPS` as a tunnel length; a bad value panics so a typo never runs the suite
/// with a set-up nobody asked for.
fn hops_from_env() -> Option<u8> {
    parse_hops(std::env::var(HOPS_VAR).ok().as_deref()).unwrap_or_else(|e| panic!("{e}"))
}

/// Tunnel length for a short test that is not about tunnels: zero hops unless
/// `I2PSOCKS_HOPS` or a Java client router (whose lookups need outbound hops) says otherwise.
/// The zero-hop deadlock of i2pd 2.57.0-2.59.0 takes minutes of load (contrib/testbed/README.md,
/// "Tunnel length"); with their 1-hop default, restarting one of the testbed's three routers
/// or 50 pools building at once through the other two left the network unusable for minutes
/// on a busy machine (RELIABILITY.md, "The 2.59.0 real-router suite with 1-hop tunnels").
pub fn zero_hops_unless_asked() -> Option<u8> {
    let java_cli = std::env::var("I2PSOCKS_ROUTER_CLI").is_ok_and(|v| v == "java");
    let explicit = std::env::var_os(HOPS_VAR).is_some_and(|v| !v.is_empty());
    (!java_cli && !explicit).then_some(0)
}

/// A tunnel length as `I2PSOCKS_HOPS` gives it: unset or empty leaves it to the script,
/// 0 to 3 is taken, anything else is an error.
pub fn parse_hops(value: Option<&str>) -> Result<Option<u8>, String> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<u8>() {
            Ok(n) if n <= 3 => Ok(Some(n)),
            _ => Err(format!("{HOPS_VAR} must be 0, 1, 2 or 3 (got '{v}')")),
        },
    }
}

/// The tunnel length `testbed.sh` picks when none is asked for: 1 when any role runs
/// i2pd 2.57.0 to 2.59.0 (they deadlock with zero-hop tunnels, see
/// contrib/testbed/README.md "Tunnel length"), else 0.
pub fn default_hops(labels: &[&str]) -> u8 {
    let deadlocks = |l: &&str| {
        super::routers::i2pd_version(l).is_some_and(|(a, b, _)| a == 2 && (57..=59).contains(&b))
    };
    u8::from(labels.iter().any(deadlocks))
}

/// The three routers of the testbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    /// Floodfill only, 198.18.0.1:17001.
    Ff,
    /// Server tunnels `web`, `echo` and `udpecho` (UDP), 198.18.0.2:17002.
    Srv,
    /// Client router: I2CP 127.0.0.1:7654, reference SOCKS 127.0.0.1:4448, 198.18.0.3:17003.
    Cli,
}

impl Router {
    fn arg(self) -> &'static str {
        match self {
            Router::Ff => "ff",
            Router::Srv => "srv",
            Router::Cli => "cli",
        }
    }
}

/// The local services behind `srv`'s server tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// HTTP server on 127.0.0.1:8080 (index.html, 1k.bin, big.bin, SHA256SUMS, hosts.txt).
    Web,
    /// Byte-exact TCP echo on 127.0.0.1:8081.
    Echo,
    /// UDP echo on 127.0.0.1:8082, behind the `udpserver` tunnel `udpecho`.
    UdpEcho,
}

impl Service {
    fn arg(self) -> &'static str {
        match self {
            Service::Web => "web",
            Service::Echo => "echo",
            Service::UdpEcho => "udpecho",
        }
    }
}

/// A running testbed. Dropping it runs `testbed.sh down` (stops exactly the processes the
/// script started, deletes the netns and the state dir).
#[derive(Debug)]
pub struct Testbed {
    name: String,
    env_file: PathBuf,
    env: BTreeMap<String, String>,
    up_time: Duration,
    is_down: bool,
}

impl Testbed {
    /// Bring up a testbed with the script's defaults (50 MiB big.bin, loglevel warn).
    pub fn up() -> Result<Testbed, String> {
        Self::up_with(&UpOptions::default())
    }

    /// Bring up a testbed with a fresh unique name; returns once `cli` can fetch
    /// `1k.bin` from `web` and echo bytes through `echo` via its built-in SOCKS.
    pub fn up_with(opts: &UpOptions) -> Result<Testbed, String> {
        if std::env::var(IN_NETNS_VAR).is_ok_and(|v| v == "1") {
            return Err("Testbed::up called inside a re-executed netns test".into());
        }
        let name = opts.name.clone().unwrap_or_else(unique_name);
        let started = Instant::now();
        let output = Command::new("bash")
            .arg(SCRIPT)
            .args(["up", "--name", &name])
            .args(["--big-mib", &opts.big_mib.to_string()])
            .args(["--loglevel", &opts.loglevel])
            .args(["--timeout", &opts.timeout_secs.to_string()])
            .args(
                opts.hops
                    .map(|n| ["--hops".to_string(), n.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .envs(opts.routers.script_env())
            .envs(opts.script_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {SCRIPT}: {e}"))?;
        let up_time = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            // The script's trap already tore down. Make sure with the idempotent `down`,
            // but only for a generated name: a caller's name may belong to another testbed.
            if opts.name.is_none() {
                let _ = run_script(&["down", &name]);
            }
            return Err(format!(
                "testbed.sh up failed ({}) after {:.1}s:\n{stderr}",
                output.status,
                up_time.as_secs_f64()
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let env_file = stdout
            .lines()
            .last()
            .map(|l| PathBuf::from(l.trim()))
            .ok_or_else(|| format!("testbed.sh up printed no env path; stderr:\n{stderr}"))?;
        // From here on, Drop tears down whatever happens.
        let mut tb = Testbed {
            name,
            env_file,
            env: BTreeMap::new(),
            up_time,
            is_down: false,
        };
        let text = std::fs::read_to_string(&tb.env_file)
            .map_err(|e| format!("cannot read {}: {e}", tb.env_file.display()))?;
        tb.env = parse_env(&text)?;
        for key in [
            "TESTBED_NETNS",
            "TESTBED_DIR",
            "WEB_B32",
            "ECHO_B32",
            "I2CP_PORT",
            "FF_ROUTER",
            "SRV_ROUTER",
            "CLI_ROUTER",
        ] {
            if !tb.env.contains_key(key) {
                return Err(format!("env file {} lacks {key}", tb.env_file.display()));
            }
        }
        eprintln!(
            "[testbed {}] up in {:.2}s (script: {}s) on {}",
            tb.name,
            up_time.as_secs_f64(),
            tb.env("UP_SECONDS").unwrap_or("?"),
            tb.env("ROUTERS").unwrap_or("?")
        );
        Ok(tb)
    }

    /// Tear down now and report how long it took. Drop does the same, silently.
    pub fn down(mut self) -> Result<Duration, String> {
        self.is_down = true;
        let started = Instant::now();
        run_script(&["down", &self.name])?;
        Ok(started.elapsed())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn netns(&self) -> &str {
        self.var("TESTBED_NETNS")
    }

    /// The state dir, `/tmp/i2psocks-testbed-<name>`.
    pub fn dir(&self) -> &Path {
        Path::new(self.var("TESTBED_DIR"))
    }

    pub fn env_file(&self) -> &Path {
        &self.env_file
    }

    /// Any key of the env file (see contrib/testbed/README.md for the list).
    pub fn env(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    pub fn env_map(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Tunnel length of every pool of this testbed (routers, i2pd's SOCKS, srv's server
    /// tunnels, i2psocks' `[socksproxy]`): what a test's own pools should use too.
    pub fn hops(&self) -> u8 {
        self.env("HOPS").and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Wall time of `Testbed::up` including the script's start-up.
    pub fn up_time(&self) -> Duration {
        self.up_time
    }

    /// What runs as `router`: `i2pd-2.59.0`, `java-2.7.0`.
    pub fn router_label(&self, router: Router) -> &str {
        let key = match router {
            Router::Ff => "FF_ROUTER",
            Router::Srv => "SRV_ROUTER",
            Router::Cli => "CLI_ROUTER",
        };
        self.var(key)
    }

    /// True when the client router (I2CP, reference SOCKS) is Java I2P.
    pub fn cli_is_java(&self) -> bool {
        self.router_label(Router::Cli).starts_with("java-")
    }

    /// The reason `check` (`test_file::check`) is known to fail on this testbed's routers,
    /// after a loud line; `None` when it should run. The list: tests/common/known_failures.rs.
    pub fn known_failure(&self, check: &str) -> Option<&'static str> {
        let routers = Routers {
            ff: self.router_label(Router::Ff),
            srv: self.router_label(Router::Srv),
            cli: self.router_label(Router::Cli),
        };
        known_failure(check, &routers)
    }

    /// How many garlic messages srv's i2pd has dropped so far as new sessions that came
    /// within 200 ms of the one before to the same destination (i2pd 2.55 and later log
    /// "Garlic: Incoming sessions come too often" at warning level; see
    /// src/first_contact.rs). i2pd takes any message whose session tag it does not know for
    /// a new session, so not every one is a first contact. Zero for Java I2P, whose log does
    /// not have the line.
    pub fn srv_dropped_new_sessions(&self) -> usize {
        self.env("SRV_LOG")
            .map(super::log_text)
            .unwrap_or_default()
            .matches("Incoming sessions come too often")
            .count()
    }

    /// `<52 chars>.b32.i2p` of the web service.
    pub fn web_b32(&self) -> &str {
        self.var("WEB_B32")
    }

    /// `<52 chars>.b32.i2p` of the echo service.
    pub fn echo_b32(&self) -> &str {
        self.var("ECHO_B32")
    }

    /// `<52 chars>.b32.i2p` of the UDP echo service (i2pd `udpserver` tunnel).
    pub fn udp_echo_b32(&self) -> &str {
        self.var("UDP_ECHO_B32")
    }

    /// cli's I2CP port (on 127.0.0.1 inside the netns).
    pub fn i2cp_port(&self) -> u16 {
        self.port("I2CP_PORT")
    }

    /// The main log of every router (cli first), from the env file's `*_LOG`.
    pub fn router_logs(&self) -> Vec<PathBuf> {
        ["CLI_LOG", "SRV_LOG", "FF_LOG"]
            .iter()
            .filter_map(|k| self.env(k).map(PathBuf::from))
            .collect()
    }

    /// What a wait on this testbed watches for progress: the routers' logs and every
    /// `*.log` directly in the state dir (the logs of processes started with
    /// [`Testbed::spawn_in_ns`], e.g. i2psocks).
    pub fn progress_logs(&self) -> Vec<PathBuf> {
        let mut logs = self.router_logs();
        logs.extend(super::progress::logs_in(self.dir()));
        logs
    }

    /// i2pd's built-in SOCKS (the reference) on 127.0.0.1 inside the netns.
    pub fn ref_socks_port(&self) -> u16 {
        self.port("REF_SOCKS_PORT")
    }

    /// The port left free for i2psocks (4447).
    pub fn i2psocks_port(&self) -> u16 {
        self.port("I2PSOCKS_PORT")
    }

    /// A `Command` for `program` that runs inside the netns (`ip netns exec NS program`).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        // Resolved path: a non-login root PATH may lack /usr/sbin.
        let ip = find_in_path("ip").unwrap_or_else(|| PathBuf::from("ip"));
        let mut cmd = Command::new(ip);
        cmd.args(["netns", "exec", self.netns()]).arg(program);
        cmd
    }

    /// `i2psocks user add NAME --password-stdin` in this testbed's data directory (its users
    /// file, read by a proxy started with `--require-auth`); panics if it fails.
    pub fn add_user(&self, name: &str, password: &str) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_i2psocks"))
            .arg("--datadir")
            .arg(self.var("I2PSOCKS_DATADIR"))
            .args(["user", "add", name, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run i2psocks user add");
        let mut stdin = child.stdin.take().expect("stdin");
        std::io::Write::write_all(&mut stdin, format!("{password}\n").as_bytes())
            .expect("write password");
        drop(stdin);
        let out = child.wait_with_output().expect("user add");
        assert!(
            out.status.success(),
            "user add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The i2psocks binary under test with this testbed's i2pd.conf and data directory and
    /// `--loglevel LEVEL`; add arguments, then [`Testbed::spawn_in_ns`] it.
    pub fn i2psocks_command(&self, loglevel: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_i2psocks"));
        cmd.arg("--conf")
            .arg(
                self.env("I2PSOCKS_CONF")
                    .expect("I2PSOCKS_CONF in the env file"),
            )
            .arg("--datadir")
            .arg(
                self.env("I2PSOCKS_DATADIR")
                    .expect("I2PSOCKS_DATADIR in the env file"),
            )
            .args(["--loglevel", loglevel]);
        cmd
    }

    /// Run `cmd` (program, args, env, current dir) inside the netns in the background.
    /// stdin is /dev/null; stdout and stderr go to `<dir>/<log_name>.log`. The returned
    /// guard kills the process on drop.
    pub fn spawn_in_ns(&self, cmd: &Command, log_name: &str) -> Result<NsChild, String> {
        let log_path = self.dir().join(format!("{log_name}.log"));
        let log = File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot dup log file: {e}"))?;
        let mut wrapped = self.command(cmd.get_program());
        wrapped.args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => wrapped.env(key, v),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        let child = wrapped
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot spawn {:?} in {}: {e}",
                    cmd.get_program(),
                    self.netns()
                )
            })?;
        Ok(NsChild { child, log_path })
    }

    /// Poll until something accepts TCP on 127.0.0.1:`port` inside the netns; returns the
    /// time it took.
    pub fn wait_for_tcp(&self, port: u16, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            let ok = self
                .command("bash")
                .args(["-c", "exec 3<>\"/dev/tcp/127.0.0.1/$1\"", "wait_for_tcp"])
                .arg(port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run bash in {}: {e}", self.netns()))?
                .success();
            if ok {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= timeout {
                return Err(format!(
                    "nothing listens on 127.0.0.1:{port} in {} after {timeout:?}",
                    self.netns()
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Re-execute the current test binary inside the netns, running only `test_name`
    /// (`--exact`, `--include-ignored`, `--nocapture`), with `I2PSOCKS_IN_NETNS=1`,
    /// `TESTBED_ENV_FILE` and every env-file key in its environment. Panics with the inner
    /// output unless exactly one test ran and passed. See the module docs for the pattern.
    pub fn run_test_in_ns(&self, test_name: &str) {
        self.run_test_in_ns_timeout(test_name, INNER_TEST_TIMEOUT);
    }

    /// [`Self::run_test_in_ns`] with an explicit stall limit: the inner run is killed once
    /// neither its output nor the testbed's logs grew for `timeout`, or at twice
    /// `timeout`.
    pub fn run_test_in_ns_timeout(&self, test_name: &str, timeout: Duration) {
        let exe = std::env::current_exe().expect("current test binary path");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let log_name = format!("inner-{}-{n}", sanitize(test_name));
        let mut cmd = Command::new(&exe);
        cmd.args([
            test_name,
            "--exact",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(IN_NETNS_VAR, "1")
        .env(ENV_FILE_VAR, &self.env_file)
        .envs(&self.env);
        let started = Instant::now();
        let mut child = self
            .spawn_in_ns(&cmd, &log_name)
            .unwrap_or_else(|e| panic!("re-exec of {test_name} failed: {e}"));
        // The inner test bounds its own waits on the routers (and says why it gave up);
        // this only catches a hang. A run whose output or testbed logs still grow keeps
        // going up to twice `timeout`.
        let patience = Patience {
            stall: timeout,
            cap: timeout * 2,
        };
        let status = child.wait_following(patience, &self.progress_logs());
        report_inner_run(
            test_name,
            self.netns(),
            started,
            patience.cap,
            status,
            child.log_path(),
        );
    }

    /// `testbed.sh stop-router NAME ff|srv|cli` (SIGTERM, wait, SIGKILL after 10 s).
    pub fn stop_router(&self, router: Router) -> Result<(), String> {
        run_script(&["stop-router", &self.name, router.arg()]).map(drop)
    }

    /// `testbed.sh start-router ...`: same config and datadir; returns once it listens.
    pub fn start_router(&self, router: Router) -> Result<(), String> {
        run_script(&["start-router", &self.name, router.arg()]).map(drop)
    }

    pub fn stop_service(&self, service: Service) -> Result<(), String> {
        run_script(&["stop-service", &self.name, service.arg()]).map(drop)
    }

    /// Restart a local service; returns once it listens.
    pub fn start_service(&self, service: Service) -> Result<(), String> {
        run_script(&["start-service", &self.name, service.arg()]).map(drop)
    }

    /// `testbed.sh wait-ready`: web and echo answer through the reference SOCKS again.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let secs = timeout.as_secs().max(1).to_string();
        run_script(&["wait-ready", &self.name, "--timeout", &secs]).map(drop)
    }

    /// `testbed.sh delay NAME MS JITTER`: every router-to-router packet (198.18.0.x to
    /// 198.18.0.y) waits `ms` ± `jitter_ms` (uniform, FIFO per address pair) in a userspace
    /// NFQUEUE element; `0, 0` removes the delay. Needs iptables.
    pub fn set_delay(&self, ms: u32, jitter_ms: u32) -> Result<(), String> {
        run_script(&["delay", &self.name, &ms.to_string(), &jitter_ms.to_string()]).map(drop)
    }

    /// `testbed.sh rtt NAME COUNT`: TCP round trips between ff's and srv's addresses,
    /// as the script's one-line summary (`... median X ...`) and the median in ms.
    pub fn router_rtt(&self, count: u32) -> Result<(String, f64), String> {
        let out = run_script(&["rtt", &self.name, &count.to_string()])?;
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let median = line
            .split("median ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no median in {line:?}"))?;
        Ok((line, median))
    }

    fn var(&self, key: &str) -> &str {
        // Checked in up_with or always written by testbed.sh.
        self.env(key)
            .unwrap_or_else(|| panic!("testbed env lacks {key}"))
    }

    fn port(&self, key: &str) -> u16 {
        self.var(key)
            .parse()
            .unwrap_or_else(|e| panic!("testbed env {key} is not a port: {e}"))
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if self.is_down {
            return;
        }
        self.is_down = true;
        if std::thread::panicking() {
            self.save_logs();
        }
        if let Err(e) = run_script(&["down", &self.name]) {
            eprintln!("[testbed {}] down failed: {e}", self.name);
        }
    }
}

impl Testbed {
    /// With `TESTBED_SAVE_LOGS=DIR`, copy every log and config of the state dir (the
    /// routers', i2psocks' and the services') to `DIR/<name>/` before a failed test's
    /// teardown deletes them: the script saves a failed `up` the same way.
    fn save_logs(&self) {
        let Some(root) = std::env::var_os("TESTBED_SAVE_LOGS") else {
            return;
        };
        let dest = PathBuf::from(root).join(&self.name);
        match copy_logs(self.dir(), &dest, 4) {
            Ok(n) => eprintln!(
                "[testbed {}] {n} logs saved in {}",
                self.name,
                dest.display()
            ),
            Err(e) => eprintln!("[testbed {}] saving logs failed: {e}", self.name),
        }
    }
}

/// Copy the `*.log`, `*.conf` and `log-*.txt` files under `from` (at most `depth` levels
/// down) to the same places under `to`; how many.
fn copy_logs(from: &Path, to: &Path, depth: u32) -> std::io::Result<usize> {
    let mut copied = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if kind.is_dir() && depth > 0 {
            copied += copy_logs(&path, &to.join(&name), depth - 1)?;
        } else if kind.is_file()
            && (name.ends_with(".log") || name.ends_with(".conf") || name.starts_with("log-"))
        {
            std::fs::create_dir_all(to)?;
            std::fs::copy(&path, to.join(&name))?;
            copied += 1;
        }
    }
    Ok(copied)
}

/// A process started by [`Testbed::spawn_in_ns`]; killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct NsChild {
    child: Child,
    log_path: PathBuf,
}

impl NsChild {
    /// Wrap a child whose output goes to `log_path`.
    pub(super) fn new(child: Child, log_path: PathBuf) -> NsChild {
        NsChild { child, log_path }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Where its stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The b32 address i2psocks logged as its destination ("proxy destination: ..."), or a
    /// message with its log if it exited first or never logged it. i2psocks logs the line
    /// right after reading its keys, before any network traffic, so only CPU starvation
    /// delays it: the limit is a generous outer cap, and an exit ends the wait at once.
    pub fn logged_destination(&mut self) -> Result<String, String> {
        const CAP: Duration = Duration::from_secs(120);
        let started = Instant::now();
        loop {
            let log = super::log_text(&self.log_path);
            if let Some(rest) = log.split("proxy destination: ").nth(1) {
                return Ok(rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "i2psocks exited ({status}) before logging its destination:\n{log}"
                ));
            }
            if started.elapsed() >= CAP {
                return Err(format!(
                    "no destination in i2psocks' log after {CAP:?}:\n{log}"
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// `Some(status)` once it exited, polling while one of `logs` grows (see
    /// [`super::wait_following`]); `None` if it was still running when nothing had grown for
    /// `patience.stall` or at `patience.cap` (it is killed then).
    pub fn wait_following(
        &mut self,
        patience: Patience,
        logs: &[PathBuf],
    ) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        let mut progress = Progress::new(logs);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {
                    progress.note("");
                    if started.elapsed() < patience.cap && progress.quiet_for() < patience.stall {
                        thread::sleep(POLL);
                        continue;
                    }
                }
                Err(_) => {}
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            return None;
        }
    }

    /// `Some(status)` once it exited, polling until `timeout`; `None` if still running
    /// (it is killed on timeout).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if started.elapsed() < timeout => thread::sleep(POLL),
                Ok(None) | Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return None;
                }
            }
        }
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// For code already inside the netns (an inner test): poll a TCP connect to `addr`.
pub fn wait_for_tcp_local(addr: SocketAddr, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            return Err(format!("nothing listens on {addr} after {timeout:?}"));
        }
        thread::sleep(POLL);
    }
}

/// Print the output of a re-executed test (in `log`); panic unless it exited successfully
/// having run exactly one passing test.
pub(super) fn report_inner_run(
    test_name: &str,
    netns: &str,
    started: Instant,
    timeout: Duration,
    status: Option<std::process::ExitStatus>,
    log: &Path,
) {
    let output = super::logs::log_text(log);
    eprintln!(
        "----- inner run of {test_name} in netns {netns} ({:.2}s) -----\n{output}----- end of inner run -----",
        started.elapsed().as_secs_f64()
    );
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("inner run of {test_name} failed ({s})"),
        None => panic!(
            "inner run of {test_name} was killed after {:.1?} (limit {timeout:?}, or no output for long)",
            started.elapsed()
        ),
    }
    assert!(
        output.contains("test result: ok. 1 passed"),
        "inner run of {test_name} did not run exactly one passing test (wrong name?)"
    );
}

fn run_script(args: &[&str]) -> Result<Output, String> {
    let output = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {SCRIPT}: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "testbed.sh {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// `i2ps-<pid>-<n>-<hex>`: unique per process (pid), per call (n) and across pid reuse
/// (clock), at most 32 characters as testbed.sh requires.
pub fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("i2ps-{}-{n}-{:05x}", std::process::id(), nanos & 0xfffff)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
