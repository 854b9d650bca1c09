//! The binary as a user meets it, without a router: `check`, `address`, errors that name
//! file, line and key, keys files that are never overwritten, and docs that agree with
//! `--help`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MAN: &str = include_str!("../man/i2psocks.1");
const README: &str = include_str!("../README.md");
const SETTINGS_EXAMPLE: &str = include_str!("../contrib/i2psocks.conf.example");

fn i2psocks(args: &[&str], datadir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_i2psocks"))
        .arg("--datadir")
        .arg(datadir)
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run i2psocks")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example_conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("i2pd.conf.example")
}

#[test]
fn check_accepts_the_shipped_example_strictly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = example_conf();
    let out = i2psocks(
        &[
            "--strict",
            "--conf",
            conf.to_str().expect("utf-8 path"),
            "check",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(stdout.contains("port = 4447"), "{stdout}");
    assert!(
        stdout.contains("i2pd.conf.example:"),
        "origins are shown: {stdout}"
    );
}

/// `i2psocks --conf FILE check` with `content` in FILE must fail with exit status 1, name
/// `FILE:line` and mention every word of `mentions`.
fn check_fails_at(content: &str, line: usize, mentions: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("test.conf");
    std::fs::write(&conf, content).expect("write conf");
    let out = i2psocks(
        &["--conf", conf.to_str().expect("utf-8 path"), "check"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let place = format!("{}:{line}", conf.display());
    assert!(stderr.contains(&place), "{place} not in: {stderr}");
    for word in mentions {
        assert!(stderr.contains(word), "{word} not in: {stderr}");
    }
}

#[test]
fn bad_value_names_file_line_and_key() {
    check_fails_at(
        "# test\n[socksproxy]\naddress = 127.0.0.1\nport = abc\n",
        4,
        &["port", "abc"],
    );
}

#[test]
fn miscased_section_is_an_error_with_the_expected_spelling() {
    check_fails_at("[SOCKSProxy]\nport = 4447\n", 1, &["socksproxy"]);
}

#[test]
fn address_creates_a_private_keys_file_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = i2psocks(
        &["--socksproxy.keys=k.dat", "address", "--create"],
        dir.path(),
    );
    assert!(first.status.success(), "{}", text(&first.stderr));
    let b32 = text(&first.stdout).trim().to_owned();
    assert_eq!(b32.len(), 52 + ".b32.i2p".len(), "{b32}");
    assert!(b32.ends_with(".b32.i2p"));
    let file = dir.path().join("k.dat");
    let meta = std::fs::metadata(&file).expect("keys file written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // i2pd's default for SOCKS: sig type 7, ElGamal crypto type → 679 bytes.
    assert_eq!(meta.len(), 679);

    let again = i2psocks(&["--socksproxy.keys=k.dat", "address"], dir.path());
    assert_eq!(text(&again.stdout).trim(), b32);
}

/// Without --create, `address` and `check` create nothing: they say the file is not there
/// yet and where the packaged service keeps its own.
#[test]
fn address_and_check_create_nothing_and_point_at_the_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = i2psocks(&["--socksproxy.keys=k.dat", "address"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for needle in [
        "no keys file",
        "address --create",
        "--datadir /var/lib/i2psocks",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing: {stderr}");
    }
    let out = i2psocks(&["--socksproxy.keys=k.dat", "check"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("not there yet"),
        "{}",
        text(&out.stdout)
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
    assert!(left.is_empty(), "files created: {left:?}");
}

/// Keys the caller may not read (the service's, for a normal user): a clear message that
/// says how to run it instead. As root the test drops to `nobody` with setpriv.
#[test]
fn unreadable_keys_say_how_to_run_the_command() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    let made = i2psocks(&["--socksproxy.keys=k.dat", "address", "--create"], &state);
    assert!(made.status.success(), "{}", text(&made.stderr));
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    let mut cmd = if root.trim() == "0" {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_i2psocks"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_i2psocks"))
    };
    let out = cmd
        .arg("--datadir")
        .arg(&state)
        .args(["--socksproxy.keys=k.dat", "address"])
        .output()
        .expect("run i2psocks");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for needle in ["permission denied", "sudo i2psocks", "root"] {
        assert!(stderr.contains(needle), "{needle:?} missing: {stderr}");
    }
}

#[test]
fn corrupt_keys_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("k.dat");
    let junk: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &junk).expect("write junk");
    for command in ["address", "run"] {
        let out = i2psocks(&["--socksproxy.keys=k.dat", command], dir.path());
        assert_eq!(out.status.code(), Some(1), "{command}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
        assert!(stderr.contains("refusing to overwrite"), "{stderr}");
        assert_eq!(
            std::fs::read(&file).expect("still there"),
            junk,
            "{command}"
        );
    }
}

#[test]
fn port_in_use_points_at_i2pds_own_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = i2psocks(
        &[
            &format!("--socksproxy.port={port}"),
            "--i2cp.port=1",
            "--socksproxy.keys=transient",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("address already in use"), "{stderr}");
    assert!(stderr.contains("[socksproxy] enabled = false"), "{stderr}");
}

/// Long flags `--help` shows, e.g. `handshake-timeout`.
fn help_flags() -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = i2psocks(&["--help"], dir.path());
    assert!(out.status.success());
    let help = text(&out.stdout);
    let mut flags: Vec<String> = help
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("--"))
        // `--require-auth[=<BOOL>]`: the flag is the part before the optional value.
        .map(|flag| flag.split('[').next().unwrap_or_default())
        .map(|flag| {
            flag.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .filter(|flag| !flag.is_empty() && !flag.contains('.') && !flag.contains('='))
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn man_page_and_readme_document_every_flag_and_command() {
    let flags = help_flags();
    assert!(flags.len() >= 12, "{flags:?}");
    for optional_value in ["require-auth", "isolate"] {
        assert!(flags.iter().any(|f| f == optional_value), "{flags:?}");
    }
    for flag in &flags {
        let roff = format!("\\-\\-{}", flag.replace('-', "\\-"));
        assert!(MAN.contains(&roff), "man page lacks --{flag}");
    }
    for command in ["run", "check", "address", "user"] {
        assert!(
            MAN.contains(&format!(".B {command}\n")),
            "man lacks {command}"
        );
    }
    // README names the two commands; CI runs the test one.
    let ci = include_str!("../.ci/run");
    assert!(README.contains("contrib/run-local.sh"));
    assert!(README.contains("contrib/test-all.sh") && ci.contains("contrib/test-all.sh"));
}

#[test]
fn man_page_documents_every_settings_key() {
    let mut section = String::new();
    let mut keys = 0;
    for line in SETTINGS_EXAMPLE.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let key = line.split('=').next().unwrap_or_default().trim();
        assert!(
            MAN.contains(&format!(".BR \"[{section}] {key}\"")),
            "man page lacks [{section}] {key}"
        );
        keys += 1;
    }
    assert!(keys >= 4);
}

/// Every i2pd.conf key `src/config/load/sections.rs` reads, as `section.key` (global keys have no
/// dot before their name, or a section the man page lists under "Global keys").
/// Read from the source, so a key added to the code cannot be forgotten in the manual; an
/// argument this parser does not recognise fails the test instead of being skipped.
fn keys_read_by_the_code() -> Vec<String> {
    let source = include_str!("../src/config/load/sections.rs");
    let literal = |s: &str| -> String {
        let rest = s.strip_prefix('"').expect("a string literal");
        rest[..rest.find('"').expect("closing quote")].to_owned()
    };
    // `for key in ["...", "..."] { ... v.text(&sp(key), ...) ... }`: the nearest loop before.
    let loop_keys = |index: usize| -> Vec<String> {
        let start = source[..index].rfind("for key in [").expect("the key loop") + 12;
        let list = &source[start..];
        list[..list.find(']').expect("loop list")]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("socksproxy.{}", literal(s)))
            .collect()
    };
    let mut keys = Vec::new();
    for (index, _) in source.match_indices("v.") {
        let before = source[..index].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let call = &source[index + 2..];
        let Some(open) = call.find('(') else { continue };
        if !call[..open]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        let argument = call[open + 1..].trim_start();
        let line = source[..index].lines().count();
        if argument.starts_with('"') {
            keys.push(literal(argument));
        } else if let Some(rest) = argument.strip_prefix("&sp(") {
            if rest.starts_with('"') {
                keys.push(format!("socksproxy.{}", literal(rest)));
            } else if rest.starts_with("key)") {
                keys.extend(loop_keys(index));
            } else {
                panic!("sections.rs:{line}: unrecognised key argument; teach this test");
            }
        } else {
            panic!("sections.rs:{line}: unrecognised key argument; teach this test");
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The `.B`/`.BR` lines of the man page's `.SS` block whose title starts with `title`.
fn man_subsection(title: &str) -> Vec<&'static str> {
    let start = MAN
        .find(&format!(".SS {title}"))
        .unwrap_or_else(|| panic!("man page lacks .SS {title}"));
    let block = &MAN[start + 4..];
    let end = [".SS ", ".SH "]
        .iter()
        .filter_map(|m| block.find(m))
        .min()
        .unwrap_or(block.len());
    block[..end]
        .lines()
        .filter(|l| l.starts_with(".B"))
        .collect()
}

#[test]
fn man_page_documents_every_i2pd_key_the_code_reads() {
    let keys = keys_read_by_the_code();
    assert!(
        keys.len() >= 30,
        "the source scan found too few keys: {keys:?}"
    );
    for key in &keys {
        let (title, name) = match key.split_once('.') {
            Some((section @ ("socksproxy" | "i2cp"), name)) => (format!("[{section}]"), name),
            _ => ("Global keys".to_owned(), key.as_str()),
        };
        let documented = man_subsection(&title)
            .iter()
            .any(|line| line.split([' ', '"', ',']).any(|word| word == name));
        assert!(
            documented,
            "man page, {title}, lacks {name} (read as {key})"
        );
    }
}

#[test]
fn man_page_documents_every_settings_key_the_code_accepts() {
    for key in i2psocks::config::settings::KEYS {
        let (section, name) = key.split_once('.').expect("section.key");
        assert!(
            MAN.contains(&format!(".BR \"[{section}] {name}\"")),
            "man page lacks [{section}] {name}"
        );
    }
}

#[test]
fn user_commands_manage_the_users_file_and_check_validates_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Logins required but no users file yet: check fails and says what to do.
    let out = i2psocks(&["--require-auth", "check"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("i2psocks user add"),
        "{}",
        text(&out.stderr)
    );
    for (name, password) in [("alice", "one\n"), ("bob", "two\r\n")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_i2psocks"))
            .arg("--datadir")
            .arg(dir.path())
            .args(["user", "add", name, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn user add");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), password.as_bytes())
            .expect("password");
        let out = child.wait_with_output().expect("user add");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let users = std::fs::read_to_string(dir.path().join("i2psocks.users")).expect("users file");
    assert!(users.starts_with("alice:$argon2id$"), "{users}");
    assert!(!users.contains("one") && !users.contains("two"));
    let out = i2psocks(&["user", "list"], dir.path());
    assert_eq!(text(&out.stdout), "alice\nbob\n");
    let out = i2psocks(&["--require-auth", "check"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("requireauth = true"));
    let out = i2psocks(&["user", "remove", "alice"], dir.path());
    assert!(out.status.success());
    let out = i2psocks(&["user", "remove", "alice"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let out = i2psocks(&["user", "list"], dir.path());
    assert_eq!(text(&out.stdout), "bob\n");
    let out = i2psocks(&["user", "add", "a:b", "--password-stdin"], dir.path());
    assert_eq!(out.status.code(), Some(1), "a name with ':' is refused");
}

/// The man page as running text: macro names dropped, their arguments kept, `\-` as `-`,
/// whitespace collapsed.
fn man_plain_text() -> String {
    let words: Vec<&str> = MAN
        .lines()
        .filter(|l| !l.starts_with(".\\\""))
        .flat_map(|l| {
            let l = if l.starts_with('.') {
                l.split_once(' ').map_or("", |(_, rest)| rest)
            } else {
                l
            };
            l.split_whitespace()
        })
        .collect();
    words.join(" ").replace('"', "").replace("\\-", "-")
}

#[test]
fn man_page_says_the_session_wait_is_four_times_the_lookup_timeout_everywhere() {
    // A request made while the session starts waits up to four times the lookup timeout
    // (src/i2cp/driver/handle.rs, SESSION_START_WAIT); every "up to ... lookuptimeout" must
    // say so.
    let text = man_plain_text();
    let mut seen = 0;
    for (at, _) in text.match_indices("[i2cp] lookuptimeout") {
        let before = &text[at.saturating_sub(20)..at];
        if before.contains("up to") {
            seen += 1;
            assert!(
                before.ends_with("up to four times "),
                "man page: '...{before}[i2cp] lookuptimeout' should say 'up to four times'"
            );
        }
    }
    assert!(
        seen >= 2,
        "expected the two session-wait sentences, saw {seen}"
    );
}

#[test]
fn man_page_lists_each_file_once() {
    let start = MAN.find(".SH FILES").expect("FILES section");
    let section = &MAN[start + 4..];
    let section = &section[..section.find(".SH ").unwrap_or(section.len())];
    let mut paths: Vec<&str> = section
        .split(".TP\n")
        .skip(1)
        .filter_map(|entry| entry.lines().next()?.strip_prefix(".I "))
        .collect();
    assert!(paths.len() >= 8, "FILES entries: {paths:?}");
    let count = paths.len();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), count, "a path is listed twice in FILES");
}
