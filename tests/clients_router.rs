//! Real clients nobody on the project wrote, through i2psocks on the real-router testbed:
//! headless Chromium, proxychains4 with `proxy_dns` (socks5 and socks4 entries) and curl,
//! git over socks5h from a dumb-HTTP bare repository on the testbed's web server, python
//! requests and httpx with `socks5h://`, ncat to the echo service, and torsocks (Tor's
//! RESOLVE, answered with virtual addresses) with curl, git and ncat. Every client runs
//! inside the testbed's netns; a failure names the client and what it saw. Then a second
//! i2psocks with extended errors: the Tor proposal 304 codes curl reports for I2P failures.
//!
//! Needs root, /usr/sbin/i2pd and the clients (contrib/install-deps.sh installs them; the
//! python packages go into a venv under target/, created once and reused); otherwise the
//! test prints SKIPPED and passes, unless I2PSOCKS_REQUIRE_TESTBED=1 (CI).

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{NsChild, Patience, Testbed, UpOptions};
use i2psocks::data::base32_encode;

/// Stall limit from start to the first working fetch through i2psocks (session, LeaseSet
/// lookups): the wait goes on while the routers' or i2psocks' logs grow, up to four times
/// this.
const READY_STALL: Duration = Duration::from_secs(90);
/// Upper bound for one client run (the `timeout` program kills it after this).
const CLIENT_SECS: u32 = 120;
/// SOCKS port of the second i2psocks, the one with extended errors.
const EXTENDED_PORT: u16 = 4449;
/// The Debian programs this test drives.
const PROGRAMS: &[&str] = &[
    "chromium",
    "proxychains4",
    "torsocks",
    "ncat",
    "git",
    "curl",
    "timeout",
];
/// The file in the dumb-HTTP git repository, and its content.
const GIT_FILE: &str = "README";
const GIT_TEXT: &str = "cloned over I2P\n";
/// The python client script (run with the venv's interpreter): GET with requests, then httpx.
const PYTHON_CLIENTS: &str = r#"
import sys, requests, httpx
url, proxy = sys.argv[1], sys.argv[2]
r = requests.get(url, proxies={"http": proxy, "https": proxy}, timeout=60)
print("requests", r.status_code, len(r.content))
with httpx.Client(proxy=proxy, timeout=60) as client:
    r = client.get(url)
    print("httpx", r.status_code, len(r.content))
"#;

#[test]
fn real_clients_through_i2psocks() {
    if common::skip_without_real_router("real_clients_through_i2psocks") {
        return;
    }
    if common::skip_without_root_and("real_clients_through_i2psocks", PROGRAMS) {
        return;
    }
    let venv = python_venv().unwrap_or_else(|e| panic!("python venv: {e}"));
    // No big.bin needed.
    let options = UpOptions {
        big_mib: 1,
        ..UpOptions::default()
    };
    let tb = Testbed::up_with(&options).unwrap_or_else(|e| panic!("testbed up: {e}"));
    let lab = Lab::new(&tb);
    lab.publish_git_repository();
    let mut cmd = tb.i2psocks_command("debug");
    cmd.arg("--socksproxy.keys=transient-clients");
    let proxy = tb
        .spawn_in_ns(&cmd, "i2psocks-clients")
        .unwrap_or_else(|e| panic!("{e}"));
    tb.wait_for_tcp(tb.i2psocks_port(), Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", common::log_tail(&proxy)));
    let web = format!("http://{}/", tb.web_b32());
    if let Err(e) = tb.wait_for_200(tb.i2psocks_port(), &web, READY_STALL) {
        panic!(
            "i2psocks never served {web}: {e}\n{}",
            common::log_tail(&proxy)
        );
    }
    lab.wait_for_echo(&proxy);

    let mut failures = Vec::new();
    let mut record = |client: &str, result: Result<(), String>| match result {
        Ok(()) => eprintln!("ok: {client}"),
        Err(seen) => failures.push(format!("{client}: {seen}")),
    };
    record("chromium (hosts.txt name)", lab.chromium("web.i2p"));
    record("chromium (b32)", lab.chromium(tb.web_b32()));
    record("proxychains4 socks5 + curl", lab.proxychains("socks5"));
    record("proxychains4 socks4 + curl", lab.proxychains("socks4"));
    record("git clone over socks5h", lab.git_clone_socks5h());
    record("python requests/httpx socks5h", lab.python(&venv));
    record("ncat --proxy-type socks5 to echo", lab.ncat_socks5());
    record(
        "torsocks curl (hosts.txt name)",
        lab.torsocks_curl("web.i2p"),
    );
    record("torsocks curl (b32)", lab.torsocks_curl(tb.web_b32()));
    record("torsocks git clone", lab.torsocks_git_clone());
    record("torsocks ncat to echo", lab.torsocks_ncat());
    record("torsocks, unknown name", lab.torsocks_unknown_name());
    assert!(
        failures.is_empty(),
        "{} client(s) failed:\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        common::log_tail(&proxy)
    );
    extended_errors(&tb, &proxy);
}

/// A second i2psocks with `--extended-errors`: curl shows the SOCKS5 reply code of a failed
/// CONNECT in parentheses. The first one (default settings) keeps i2pd's `04`.
fn extended_errors(tb: &Testbed, plain: &NsChild) {
    let port = EXTENDED_PORT;
    let mut cmd = tb.i2psocks_command("debug");
    cmd.arg("--socksproxy.keys=transient-extended")
        .arg(format!("--socksproxy.port={port}"))
        .args(["--extended-errors", "--lookup-timeout=5"]);
    let extended = tb
        .spawn_in_ns(&cmd, "i2psocks-extended")
        .unwrap_or_else(|e| panic!("{e}"));
    tb.wait_for_tcp(port, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", common::log_tail(&extended)));
    let web = format!("http://{}/", tb.web_b32());
    if let Err(e) = tb.wait_for_200(port, &web, READY_STALL) {
        panic!(
            "i2psocks --extended-errors never served {web}: {e}\n{}",
            common::log_tail(&extended)
        );
    }
    let missing_b32 = format!("{}.b32.i2p", base32_encode(&[0x42; 32]));
    let cases = [
        ("unknown-name.i2p".to_owned(), 0xf6, "F6 unknown host name"),
        (missing_b32, 0xf0, "F0 LeaseSet not found"),
        (b33_with_secret(), 0xf4, "F4 b33 address needing a secret"),
    ];
    let mut failures = Vec::new();
    for (host, code, what) in &cases {
        let url = format!("http://{host}/");
        let seen = tb.curl(port, &url).max_secs(60).run();
        if !seen.stderr.contains(&format!("({code})")) {
            failures.push(format!("{what}: curl said {:?}", seen.stderr.trim()));
        }
        let plain_seen = tb.curl(tb.i2psocks_port(), &url).max_secs(60).run();
        if !plain_seen.stderr.contains("(4)") {
            failures.push(format!(
                "{what}, extended errors off: expected 04, curl said {:?}",
                plain_seen.stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "extended errors:\n{}\n{}\n{}",
        failures.join("\n"),
        common::log_tail(&extended),
        common::log_tail(plain)
    );
}

/// A b33 address (geti2p.net "Naming and Address Book", b32 for encrypted LeaseSets) whose
/// flags say a secret is required: flags, signature types, key; the first three bytes XORed
/// with the CRC-32 of the key.
fn b33_with_secret() -> String {
    let key = [7u8; 32];
    let mut crc = flate2::Crc::new();
    crc.update(&key);
    let sum = crc.sum().to_le_bytes();
    let mut data = vec![0b010 ^ sum[0], 0x0b ^ sum[1], 0x0b ^ sum[2]];
    data.extend_from_slice(&key);
    format!("{}.b32.i2p", base32_encode(&data))
}

/// The testbed and the files this test writes into its state dir.
struct Lab<'a> {
    tb: &'a Testbed,
    dir: PathBuf,
    web_root: PathBuf,
    onek: Vec<u8>,
    index: String,
}

impl<'a> Lab<'a> {
    fn new(tb: &'a Testbed) -> Lab<'a> {
        let web_root = PathBuf::from(tb.env("WEB_ROOT").expect("WEB_ROOT"));
        let onek = std::fs::read(web_root.join("1k.bin")).expect("1k.bin");
        let index = std::fs::read_to_string(web_root.join("index.html")).expect("index.html");
        let dir = tb.dir().join("clients");
        std::fs::create_dir_all(&dir).expect("clients dir");
        let port = tb.i2psocks_port();
        // torsocks: the proxy is i2psocks. OnionAddrRange stays torsocks' own (127.42.42.0/24):
        // it only serves .onion names, which torsocks maps itself; .i2p names are sent as
        // RESOLVE and get i2psocks' virtual addresses (240.0.0.0/4), which must not overlap it.
        write(
            &dir.join("torsocks.conf"),
            &format!("TorAddress 127.0.0.1\nTorPort {port}\nOnionAddrRange 127.42.42.0/24\n"),
        );
        for kind in ["socks5", "socks4"] {
            write(
                &dir.join(format!("proxychains-{kind}.conf")),
                &format!(
                    "strict_chain\nproxy_dns\nremote_dns_subnet 224\ntcp_read_time_out 60000\n\
                     tcp_connect_time_out 60000\n[ProxyList]\n{kind} 127.0.0.1 {port}\n"
                ),
            );
        }
        Lab {
            tb,
            dir,
            web_root,
            onek,
            index,
        }
    }

    fn proxy_url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.tb.i2psocks_port())
    }

    /// A bare repository with one commit, served as files by the web service (git's dumb
    /// HTTP protocol needs `git update-server-info`).
    fn publish_git_repository(&self) {
        let work = self.dir.join("git-src");
        std::fs::create_dir_all(&work).expect("git work dir");
        write(&work.join(GIT_FILE), GIT_TEXT);
        let git = |dir: &Path, args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(dir)
                .args([
                    "-c",
                    "user.name=i2psocks",
                    "-c",
                    "user.email=t@i2psocks.invalid",
                ])
                .args(args)
                .output()
                .expect("git runs");
            assert!(out.status.success(), "git {args:?}: {}", text(&out));
        };
        git(&work, &["init", "-q"]);
        git(&work, &["add", GIT_FILE]);
        git(&work, &["commit", "-q", "-m", "test"]);
        let bare = self.web_root.join("repo.git");
        let bare_text = bare.to_str().expect("utf-8 path");
        git(&work, &["clone", "-q", "--bare", ".", bare_text]);
        git(&bare, &["update-server-info"]);
    }

    /// Run `program args` inside the netns under `timeout`, with extra environment.
    fn run(&self, env: &[(&str, &Path)], program: &str, args: &[&str]) -> Output {
        let mut cmd = self.tb.command("timeout");
        cmd.arg(CLIENT_SECS.to_string()).arg(program).args(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.current_dir(&self.dir);
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    fn torsocks_env(&self) -> [(&'static str, PathBuf); 1] {
        [("TORSOCKS_CONF_FILE", self.dir.join("torsocks.conf"))]
    }

    /// Echo's LeaseSet is often published seconds after web's: poll until it answers, while
    /// the routers or i2psocks make progress.
    fn wait_for_echo(&self, proxy: &NsChild) {
        let what = "echo to answer through i2psocks (ncat)";
        let patience = Patience::stall(READY_STALL);
        if let Err(e) = common::wait_following(what, patience, &self.tb.progress_logs(), || {
            self.ncat_socks5()
        }) {
            panic!("{e}\n{}", common::log_tail(proxy));
        }
    }

    fn chromium(&self, host: &str) -> Result<(), String> {
        let profile = tempfile::tempdir_in(&self.dir).map_err(|e| e.to_string())?;
        let profile_arg = format!("--user-data-dir={}", profile.path().display());
        let proxy_arg = format!("--proxy-server={}", self.proxy_url("socks5"));
        let url = format!("http://{host}/");
        let out = self.run(
            &[],
            "chromium",
            &[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &profile_arg,
                &proxy_arg,
                "--dump-dom",
                &url,
            ],
        );
        let dom = String::from_utf8_lossy(&out.stdout);
        let title = self
            .index
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or_default();
        if out.status.success() && !title.is_empty() && dom.contains(title) {
            Ok(())
        } else {
            Err(format!(
                "no page title {title:?} in the DOM; {}",
                text(&out)
            ))
        }
    }

    fn proxychains(&self, kind: &str) -> Result<(), String> {
        let conf = self.dir.join(format!("proxychains-{kind}.conf"));
        let conf = conf.to_str().expect("utf-8 path");
        let out = self.run(
            &[],
            "proxychains4",
            &["-q", "-f", conf, "curl", "-sS", "http://web.i2p/1k.bin"],
        );
        self.expect_onek(&out)
    }

    fn expect_onek(&self, out: &Output) -> Result<(), String> {
        if out.status.success() && out.stdout == self.onek {
            Ok(())
        } else {
            Err(format!(
                "expected the 1024 bytes of 1k.bin, got {} bytes; {}",
                out.stdout.len(),
                text(out)
            ))
        }
    }

    fn git_clone(
        &self,
        env: &[(&str, &Path)],
        proxy: Option<&str>,
        to: &str,
    ) -> Result<(), String> {
        let target = self.dir.join(to);
        let target_text = target.to_str().expect("utf-8 path");
        let mut args = Vec::new();
        let proxy_setting;
        if let Some(proxy) = proxy {
            proxy_setting = format!("http.proxy={proxy}");
            args.extend(["-c", proxy_setting.as_str()]);
        }
        args.extend(["clone", "-q", "http://web.i2p/repo.git", target_text]);
        // Without a proxy setting, git runs under torsocks.
        let out = if proxy.is_some() {
            self.run(env, "git", &args)
        } else {
            args.insert(0, "git");
            self.run(env, "torsocks", &args)
        };
        let cloned = std::fs::read_to_string(target.join(GIT_FILE)).unwrap_or_default();
        if out.status.success() && cloned == GIT_TEXT {
            Ok(())
        } else {
            Err(format!(
                "{GIT_FILE} in the clone: {cloned:?}; {}",
                text(&out)
            ))
        }
    }

    fn git_clone_socks5h(&self) -> Result<(), String> {
        self.git_clone(&[], Some(&self.proxy_url("socks5h")), "clone-socks5h")
    }

    fn torsocks_git_clone(&self) -> Result<(), String> {
        let env = self.torsocks_env();
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        self.git_clone(&env, None, "clone-torsocks")
    }

    fn python(&self, venv: &Path) -> Result<(), String> {
        let script = self.dir.join("clients.py");
        write(&script, PYTHON_CLIENTS);
        let python = venv.join("bin/python");
        let out = self.run(
            &[],
            python.to_str().expect("utf-8 path"),
            &[
                script.to_str().expect("utf-8 path"),
                "http://web.i2p/1k.bin",
                &self.proxy_url("socks5h"),
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success()
            && stdout.contains("requests 200 1024")
            && stdout.contains("httpx 200 1024")
        {
            Ok(())
        } else {
            Err(text(&out))
        }
    }

    /// `[wrapper] ncat ARGS echo.i2p 80` with a line on stdin: after stdin's EOF ncat
    /// half-closes, prints the echo and exits when the service closes.
    fn ncat_with(
        &self,
        env: &[(&str, &Path)],
        wrapper: Option<&str>,
        args: &[&str],
    ) -> Result<(), String> {
        let payload = self.dir.join("echo-payload");
        let message = "i2psocks echo check\n";
        write(&payload, message);
        let mut line = format!("timeout {CLIENT_SECS}");
        if let Some(wrapper) = wrapper {
            let _ = write!(line, " {wrapper}");
        }
        line.push_str(" ncat");
        for arg in args.iter().chain(&["echo.i2p", "80"]) {
            let _ = write!(line, " '{arg}'");
        }
        let _ = write!(line, " < '{}'", payload.display());
        let mut cmd = self.tb.command("sh");
        cmd.args(["-c", &line]);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = cmd.output().map_err(|e| e.to_string())?;
        if out.status.success() && String::from_utf8_lossy(&out.stdout) == message {
            Ok(())
        } else {
            Err(format!("expected the echo of {message:?}; {}", text(&out)))
        }
    }

    fn ncat_socks5(&self) -> Result<(), String> {
        let proxy = format!("127.0.0.1:{}", self.tb.i2psocks_port());
        let args = [
            "--proxy",
            &proxy,
            "--proxy-type",
            "socks5",
            "--proxy-dns",
            "remote",
        ];
        self.ncat_with(&[], None, &args)
    }

    fn torsocks_ncat(&self) -> Result<(), String> {
        let env = self.torsocks_env();
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        self.ncat_with(&env, Some("torsocks"), &[])
    }

    fn torsocks_curl(&self, host: &str) -> Result<(), String> {
        let env = self.torsocks_env();
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let url = format!("http://{host}/1k.bin");
        let out = self.run(&env, "torsocks", &["curl", "-sS", &url]);
        self.expect_onek(&out)
    }

    /// An address-book miss: i2psocks answers RESOLVE with `05 04`, torsocks reports it and
    /// curl cannot resolve the host (exit 6).
    fn torsocks_unknown_name(&self) -> Result<(), String> {
        let env = self.torsocks_env();
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let out = self.run(
            &env,
            "torsocks",
            &["curl", "-sS", "http://unknown-name.i2p/"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(6) && stderr.contains("Status reply: 4") {
            Ok(())
        } else {
            Err(format!(
                "expected curl exit 6 after RESOLVE reply 04; {}",
                text(&out)
            ))
        }
    }
}

/// A venv with requests[socks] and httpx[socks] from PyPI, under target/ and reused while
/// it imports both (installing needs the network, so it runs outside the netns).
fn python_venv() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/clients-venv");
    let python = venv.join("bin/python");
    let imports = || {
        Command::new(&python)
            .args(["-c", "import requests, httpx, socks, socksio"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if imports() {
        return Ok(venv);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| e.to_string())?;
    if !made.status.success() {
        return Err(format!("python3 -m venv: {}", text(&made)));
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "requests[socks]", "httpx[socks]"])
        .output()
        .map_err(|e| e.to_string())?;
    if !pip.status.success() || !imports() {
        return Err(format!("pip install: {}", text(&pip)));
    }
    Ok(venv)
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Exit status and the ends of stdout and stderr, for failure messages.
fn text(out: &Output) -> String {
    let tail = |bytes: &[u8]| {
        let s = String::from_utf8_lossy(bytes);
        let start = s.len().saturating_sub(800);
        s.get(start..).unwrap_or(&s).trim().to_owned()
    };
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        tail(&out.stdout),
        tail(&out.stderr)
    )
}
