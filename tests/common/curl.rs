//! [`Curl`]: one HTTP request with `curl --socks5-hostname` through a SOCKS proxy, inside a
//! [`Testbed`]'s netns ([`Testbed::curl`]) or where the test already runs
//! ([`Curl::local`], for inner runs re-executed in the netns), and [`CurlResult`], what
//! curl's `-w` reported.
//!
//! ```ignore
//! let page = tb.curl(tb.i2psocks_port(), &url).login("alice:pw").run();
//! let took = tb.wait_for_200(tb.i2psocks_port(), &url, Duration::from_secs(90))?; // stall limit
//! ```

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::progress::Patience;
use super::testbed::Testbed;

/// Pause between two tries of [`Curl::wait_for_200`] (the deadline is what bounds the wait).
const POLL: Duration = Duration::from_millis(200);

/// Per-try `--max-time` of [`Testbed::wait_for_200`].
const PROBE_MAX_SECS: u64 = 10;

/// What `-w` prints after the body: a line of its own, so the body (stdout without `-o`)
/// is everything before the last newline.
const WRITE_OUT: &str = "\n%{http_code} %{size_download} %{size_upload} %{time_total}";

/// A GET (or, with [`Curl::post_file`], a POST) through a SOCKS5 proxy, names resolved by
/// the proxy (`--socks5-hostname`). Build it, then [`run`](Curl::run),
/// [`spawn`](Curl::spawn) or [`wait_for_200`](Curl::wait_for_200).
#[derive(Debug, Clone)]
pub struct Curl<'a> {
    /// `Some`: run inside this testbed's netns.
    testbed: Option<&'a Testbed>,
    proxy: String,
    url: String,
    max_secs: u64,
    login: Option<String>,
    out: Option<PathBuf>,
    post_file: Option<PathBuf>,
    limit_rate: Option<String>,
    socks4a: bool,
    stall_secs: Option<u64>,
}

/// What curl reported for one request.
#[derive(Debug, Clone)]
pub struct CurlResult {
    /// curl's exit status (0: the transfer worked; -1: killed by a signal).
    pub exit: i32,
    /// HTTP status, "000" when there was no HTTP answer.
    pub code: String,
    /// The response body; empty when it went to a file ([`Curl::output`]).
    pub body: String,
    /// `%{size_download}`: body bytes received.
    pub downloaded: u64,
    /// `%{size_upload}`: bytes sent.
    pub uploaded: u64,
    /// `%{time_total}`: curl's own transfer time, seconds.
    pub seconds: f64,
    /// Wall time of the whole curl process, start-up included.
    pub wall: Duration,
    /// curl's error messages (`-S`).
    pub stderr: String,
}

impl CurlResult {
    /// The transfer worked (exit 0) and the answer was HTTP 200.
    pub fn ok(&self) -> bool {
        self.exit == 0 && self.code == "200"
    }

    /// `curl exit N, HTTP C: <curl's message>`, for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "curl exit {}, HTTP {}: {}",
            self.exit,
            self.code,
            self.stderr.trim()
        )
    }
}

impl Testbed {
    /// A request for `url` through the SOCKS proxy on 127.0.0.1:`port`, run inside the netns.
    pub fn curl(&self, port: u16, url: &str) -> Curl<'_> {
        Curl::new(Some(self), format!("127.0.0.1:{port}"), url)
    }

    /// A request for `url` through the client router's own SOCKS proxy (the reference):
    /// SOCKS4a when that is Java I2P's ([`Curl::socks4a`]).
    pub fn reference_curl(&self, url: &str) -> Curl<'_> {
        self.curl(self.ref_socks_port(), url)
            .socks4a_if(self.cli_is_java())
    }

    /// Poll a GET of `url` through 127.0.0.1:`port` (10 s per try) until it answers 200,
    /// for as long as something advances: a router's or a spawned process's log grows, or
    /// curl's answer changes ([`super::wait_following`]). It gives up when nothing moved
    /// for `stall`, or after four times `stall` in any case; the message then names the
    /// last answer and shows the logs' tails. Returns the time it took.
    pub fn wait_for_200(&self, port: u16, url: &str, stall: Duration) -> Result<Duration, String> {
        let curl = self.curl(port, url).max_secs(PROBE_MAX_SECS);
        let what = format!("a 200 for {url} through 127.0.0.1:{port}");
        super::wait_following(&what, Patience::stall(stall), &self.progress_logs(), || {
            let answer = curl.run();
            if answer.ok() {
                Ok(())
            } else {
                Err(answer.summary())
            }
        })
        .map(|((), took)| took)
    }
}

impl Curl<'static> {
    /// A request through `proxy`, run by this process directly (e.g. in an inner run that
    /// is already inside the netns).
    pub fn local(proxy: impl Display, url: &str) -> Curl<'static> {
        Curl::new(None, proxy.to_string(), url)
    }
}

impl<'a> Curl<'a> {
    fn new(testbed: Option<&'a Testbed>, proxy: String, url: &str) -> Curl<'a> {
        Curl {
            testbed,
            proxy,
            url: url.to_owned(),
            max_secs: 60,
            login: None,
            out: None,
            post_file: None,
            limit_rate: None,
            socks4a: false,
            stall_secs: None,
        }
    }

    /// `--max-time` (default 60 s).
    pub fn max_secs(mut self, secs: u64) -> Self {
        self.max_secs = secs;
        self
    }

    /// SOCKS5 username/password login, `user:password` (curl's `-U`).
    pub fn login(mut self, user_password: &str) -> Self {
        self.login = Some(user_password.to_owned());
        self
    }

    /// Write the body to `path` (removed first, so a failed transfer leaves no old file).
    pub fn output(mut self, path: &Path) -> Self {
        self.out = Some(path.to_owned());
        self
    }

    /// POST the bytes of `file` (`--data-binary @file`, no `Expect: 100-continue`).
    pub fn post_file(mut self, file: &Path) -> Self {
        self.post_file = Some(file.to_owned());
        self
    }

    /// `--limit-rate` (e.g. "4M").
    pub fn limit_rate(mut self, rate: &str) -> Self {
        self.limit_rate = Some(rate.to_owned());
        self
    }

    /// `--socks4a` instead of `--socks5-hostname`: for Java I2P 2.7.0's SOCKS proxy, whose
    /// SOCKS5 stops reading the greeting at the first method it accepts and takes the rest
    /// for the request (I2PTunnel's `SOCKS5Server.init`), so curl's greeting, which offers
    /// two methods, fails there ("connection to proxy closed").
    pub fn socks4a(mut self) -> Self {
        self.socks4a = true;
        self
    }

    /// Give up once no byte has moved for `secs` (curl's `--speed-limit 1 --speed-time`):
    /// a limit that follows progress, for transfers whose speed depends on the router and
    /// the machine's load; pair it with a generous [`Curl::max_secs`].
    pub fn stall_secs(mut self, secs: u64) -> Self {
        self.stall_secs = Some(secs);
        self
    }

    /// `socks4a()` when `yes`: for a proxy that may or may not be Java's.
    pub fn socks4a_if(self, yes: bool) -> Self {
        if yes { self.socks4a() } else { self }
    }

    /// Run curl to the end (it stops itself after `max_secs`).
    pub fn run(&self) -> CurlResult {
        let started = Instant::now();
        let out = self
            .command()
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
        let wall = started.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        let (body, stats) = text.rsplit_once('\n').unwrap_or(("", &text));
        let mut f = stats.split_whitespace();
        let code = f.next().unwrap_or("000").to_owned();
        let downloaded = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let uploaded = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let seconds = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        CurlResult {
            exit: out.status.code().unwrap_or(-1),
            code,
            body: body.to_owned(),
            downloaded,
            uploaded,
            seconds,
            wall,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Start curl in the background (stdout and stderr discarded); pair with
    /// [`Curl::output`] to watch the file grow.
    pub fn spawn(&self) -> Child {
        self.command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn curl: {e}"))
    }

    /// Repeat the request, pausing briefly between tries, until it answers 200
    /// ([`CurlResult::ok`]): that answer and how long it took, or a message naming the
    /// last answer once `deadline` has passed.
    pub fn wait_for_200(&self, deadline: Duration) -> Result<(CurlResult, Duration), String> {
        let started = Instant::now();
        loop {
            let answer = self.run();
            if answer.ok() {
                return Ok((answer, started.elapsed()));
            }
            if started.elapsed() >= deadline {
                return Err(format!(
                    "no 200 through {} within {deadline:?} (last: curl exit {}, HTTP {})",
                    self.proxy, answer.exit, answer.code
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Like [`Curl::wait_for_200`], for as long as something advances: one of `logs` grows
    /// or curl's answer changes ([`super::wait_following`] with a stall limit of `stall`,
    /// up to four times that); the failure message shows the logs' tails.
    pub fn wait_for_200_following(
        &self,
        what: &str,
        stall: Duration,
        logs: &[PathBuf],
    ) -> Result<(CurlResult, Duration), String> {
        super::wait_following(what, Patience::stall(stall), logs, || {
            let answer = self.run();
            if answer.ok() {
                Ok(answer)
            } else {
                Err(answer.summary())
            }
        })
    }

    fn command(&self) -> Command {
        let mut cmd = match self.testbed {
            Some(tb) => tb.command("curl"),
            None => Command::new("curl"),
        };
        cmd.args(["-sS", "-w", WRITE_OUT])
            .args(["--max-time", &self.max_secs.to_string()])
            .arg(if self.socks4a {
                "--socks4a"
            } else {
                "--socks5-hostname"
            })
            .arg(&self.proxy);
        if let Some(login) = &self.login {
            cmd.args(["-U", login]);
        }
        if let Some(secs) = self.stall_secs {
            cmd.args(["--speed-limit", "1", "--speed-time", &secs.to_string()]);
        }
        if let Some(out) = &self.out {
            let _ = std::fs::remove_file(out);
            cmd.arg("-o").arg(out);
        }
        if let Some(file) = &self.post_file {
            cmd.args(["-H", "Expect:", "--data-binary"])
                .arg(format!("@{}", file.display()));
        }
        if let Some(rate) = &self.limit_rate {
            cmd.args(["--limit-rate", rate]);
        }
        cmd.arg(&self.url);
        cmd
    }
}
