//! i2psocks' users file: logins for enforced SOCKS5 username/password (RFC 1929).
//!
//! One user per line, `NAME:PHC`, where PHC is an Argon2id hash in the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`); `#` comments and blank lines are kept
//! as they are. The file is i2psocks' own (i2pd refuses keys it does not know), written
//! owner-only (0600) and replaced atomically. The running proxy notices changes (by size
//! and modification time) at the next login, so `i2psocks user add` needs no restart.
//!
//! Usernames: 1–255 bytes of printable ASCII without `:` (RFC 1929 allows any bytes, but
//! names end up in a text file, logs and keys-file names). Passwords: 1–255 bytes, no line
//! breaks. Hash verification is slow on purpose (tens of ms, 19 MiB); callers run it off
//! the async runtime. An unknown user costs a verification against a dummy hash, so
//! response time does not tell which usernames exist.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use thiserror::Error;

use super::auth::CredentialCheck;
use super::login_cache::LoginCache;
pub use super::password_check::verify_password;

/// Largest users file read (a line is ~120 bytes: room for tens of thousands of users).
const MAX_FILE: u64 = 4 * 1024 * 1024;
/// RFC 1929: ULEN and PLEN are one byte.
const MAX_FIELD: usize = 255;

/// What can go wrong with the users file or a login.
#[derive(Debug, Error)]
pub enum UsersError {
    /// The file could not be read.
    #[error("cannot read users file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file could not be written.
    #[error("cannot write users file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A line is not `NAME:PHC`.
    #[error("{}:{line}: {reason}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The username cannot be used.
    #[error("invalid username: {0}")]
    BadName(&'static str),
    /// The password cannot be used.
    #[error("invalid password: {0}")]
    BadPassword(&'static str),
    /// Hashing failed (should not happen with valid parameters).
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// `user remove` of a name that is not there.
    #[error("no user '{0}' in {path}", path = .1.display())]
    NoSuchUser(String, PathBuf),
}

/// Check a username against the rules above.
pub fn validate_name(name: &[u8]) -> Result<(), UsersError> {
    if name.is_empty() {
        return Err(UsersError::BadName("empty"));
    }
    if name.len() > MAX_FIELD {
        return Err(UsersError::BadName("longer than 255 bytes"));
    }
    if name.first() == Some(&b'#') {
        return Err(UsersError::BadName("starts with '#'"));
    }
    if !name.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b':') {
        return Err(UsersError::BadName(
            "only printable ASCII without spaces or ':' is allowed",
        ));
    }
    Ok(())
}

/// Check a password: 1–255 bytes without line breaks.
pub fn validate_password(password: &[u8]) -> Result<(), UsersError> {
    if password.is_empty() {
        return Err(UsersError::BadPassword("empty"));
    }
    if password.len() > MAX_FIELD {
        return Err(UsersError::BadPassword(
            "longer than 255 bytes (the SOCKS5 limit)",
        ));
    }
    if password.iter().any(|b| *b == b'\n' || *b == b'\r') {
        return Err(UsersError::BadPassword("contains a line break"));
    }
    Ok(())
}

/// Argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1: OWASP's recommendation).
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// A PHC string for `password` with a fresh random salt.
pub fn hash_password(password: &[u8]) -> Result<String, UsersError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| UsersError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| UsersError::Hash(e.to_string()))
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// Comment or blank line, kept verbatim.
    Other(String),
    /// `name:phc`.
    User { name: String, phc: String },
}

/// The parsed users file, comments included, so it can be rewritten faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersFile {
    path: PathBuf,
    lines: Vec<Line>,
}

impl UsersFile {
    /// Read and parse `path`. A missing file is an empty list when `missing_ok`.
    pub fn load(path: &Path, missing_ok: bool) -> Result<UsersFile, UsersError> {
        let text = match read_limited(path) {
            Ok(text) => text,
            Err(source) if missing_ok && source.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(UsersError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::parse(path, &text)
    }

    /// Parse file contents (`path` only names the file in messages).
    pub fn parse(path: &Path, text: &str) -> Result<UsersFile, UsersError> {
        let mut lines = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                lines.push(Line::Other(raw.to_owned()));
                continue;
            }
            let syntax = |reason: String| UsersError::Syntax {
                path: path.to_owned(),
                line: index + 1,
                reason,
            };
            let Some((name, phc)) = trimmed.split_once(':') else {
                return Err(syntax("expected NAME:HASH".into()));
            };
            validate_name(name.as_bytes()).map_err(|e| syntax(e.to_string()))?;
            if let Err(e) = PasswordHash::new(phc) {
                return Err(syntax(format!("not a PHC password hash ({e})")));
            }
            let duplicate = lines
                .iter()
                .any(|l| matches!(l, Line::User { name: n, .. } if n == name));
            if duplicate {
                return Err(syntax(format!("user '{name}' appears twice")));
            }
            lines.push(Line::User {
                name: name.to_owned(),
                phc: phc.to_owned(),
            });
        }
        Ok(UsersFile {
            path: path.to_owned(),
            lines,
        })
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Usernames in file order.
    pub fn names(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::User { name, .. } => Some(name.as_str()),
                Line::Other(_) => None,
            })
            .collect()
    }

    /// The stored hash of `name`.
    pub fn hash_of(&self, name: &[u8]) -> Option<&str> {
        self.lines.iter().find_map(|l| match l {
            Line::User { name: n, phc } if n.as_bytes() == name => Some(phc.as_str()),
            _ => None,
        })
    }

    /// Add `name` or replace its hash. Returns whether it was new.
    pub fn set(&mut self, name: &str, phc: String) -> Result<bool, UsersError> {
        validate_name(name.as_bytes())?;
        for line in &mut self.lines {
            if let Line::User { name: n, phc: old } = line
                && n == name
            {
                *old = phc;
                return Ok(false);
            }
        }
        self.lines.push(Line::User {
            name: name.to_owned(),
            phc,
        });
        Ok(true)
    }

    /// Remove `name`.
    pub fn remove(&mut self, name: &str) -> Result<(), UsersError> {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(l, Line::User { name: n, .. } if n == name));
        if self.lines.len() == before {
            return Err(UsersError::NoSuchUser(name.to_owned(), self.path.clone()));
        }
        Ok(())
    }

    /// The file contents.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Other(text) => out.push_str(text),
                Line::User { name, phc } => {
                    out.push_str(name);
                    out.push(':');
                    out.push_str(phc);
                }
            }
            out.push('\n');
        }
        out
    }

    /// Write atomically (temporary file in the same directory, 0600, fsync, rename), owned
    /// like the file it replaces or, when new, like its directory. A missing parent
    /// directory is created owner-only.
    pub fn save(&self) -> Result<(), UsersError> {
        let wrap = |source| UsersError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(wrap)?;
        }
        let mut tmp_name = self.path.clone().into_os_string();
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp_name);
        let owner = self.owner();
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(self.render().as_bytes())?;
            file.sync_all()?;
            if let Some((uid, gid)) = owner {
                // Only root may give a file away; anyone else keeps it as their own.
                let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
            }
            fs::rename(&tmp, &self.path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(wrap)
    }
}

impl UsersFile {
    /// Who should own the file: its current owner, or for a new file the owner of its
    /// directory. So `sudo i2psocks user add` keeps the file readable by the service
    /// (e.g. systemd's dynamic user owning /var/lib/i2psocks).
    fn owner(&self) -> Option<(u32, u32)> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = fs::metadata(&self.path).ok().or_else(|| {
            let parent = self.path.parent().filter(|p| !p.as_os_str().is_empty())?;
            fs::metadata(parent).ok()
        })?;
        Some((meta.uid(), meta.gid()))
    }
}

fn read_limited(path: &Path) -> io::Result<String> {
    use std::io::Read as _;
    let file = fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than 4 MiB",
        ));
    }
    String::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// What tells one version of the users file from the next: size, modification time and
/// inode. `UsersFile::save` renames a new file into place, so the inode changes with every
/// `user add` / `user remove` even when a new password keeps the size and the save lands in
/// the same tick of the modification time.
type Stamp = (u64, SystemTime, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    Some((
        meta.len(),
        meta.modified().ok()?,
        std::os::unix::fs::MetadataExt::ino(&meta),
    ))
}

/// The login checker of the running proxy: the users file, re-read when it changes.
#[derive(Debug)]
pub struct UserDb {
    path: PathBuf,
    state: Mutex<(Option<Stamp>, UsersFile)>,
    dummy: OnceLock<String>,
    /// Logins that passed the full check a short while ago (src/socks/login_cache.rs).
    recent: LoginCache,
}

impl UserDb {
    /// Load the users file; it must exist and parse. No users at all is allowed (everyone is
    /// refused until `i2psocks user add`), with a warning from the caller.
    pub fn open(path: &Path) -> Result<UserDb, UsersError> {
        let stamp = stamp(path);
        let file = UsersFile::load(path, false)?;
        Ok(UserDb {
            path: path.to_owned(),
            state: Mutex::new((stamp, file)),
            dummy: OnceLock::new(),
            recent: LoginCache::new(),
        })
    }

    /// How many users are configured now.
    pub fn len(&self) -> usize {
        self.lock().1.names().len()
    }

    /// No users configured?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<Stamp>, UsersFile)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-read the file if it changed; a broken new version keeps the old users.
    fn refresh(&self) {
        let now = stamp(&self.path);
        let mut state = self.lock();
        if now == state.0 {
            return;
        }
        match UsersFile::load(&self.path, false) {
            Ok(file) => {
                tracing::info!(
                    "users file {} changed: {} users",
                    self.path.display(),
                    file.names().len()
                );
                *state = (now, file);
            }
            Err(err) => {
                tracing::warn!("{err}; keeping the previous users");
                state.0 = now;
            }
        }
    }

    /// A hash to verify against for unknown users (same cost as a real one).
    fn dummy(&self) -> &str {
        self.dummy.get_or_init(|| {
            let random: [u8; 16] = rand::random();
            hash_password(&random).unwrap_or_default()
        })
    }
}

impl CredentialCheck for UserDb {
    fn check(&self, username: &[u8], password: &[u8]) -> bool {
        self.refresh();
        let stored = self.lock().1.hash_of(username).map(str::to_owned);
        match stored {
            Some(phc) => {
                let ok = verify_password(&phc, password);
                if ok {
                    self.recent
                        .remember(username, &phc, password, Instant::now());
                }
                ok
            }
            None => {
                let _ = verify_password(self.dummy(), password);
                false
            }
        }
    }

    /// A changed users file misses (so a removed user or a new password never passes
    /// here); re-reading it is left to [`check`](Self::check), on the blocking pool.
    fn recently_verified(&self, username: &[u8], password: &[u8]) -> bool {
        let now = stamp(&self.path);
        let state = self.lock();
        if now != state.0 {
            return false;
        }
        // The cache's lock is taken under the users lock (no copy of the hash); nothing
        // takes them the other way round (`check` takes one after the other).
        state
            .1
            .hash_of(username)
            .is_some_and(|phc| self.recent.hit(username, phc, password, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify_round_trip() -> Result<(), UsersError> {
        let phc = hash_password(b"s3cret")?;
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify_password(&phc, b"s3cret"));
        assert!(!verify_password(&phc, b"s3creT"));
        assert!(!verify_password("not a hash", b"s3cret"));
        // Fresh salt each time.
        assert_ne!(hash_password(b"s3cret")?, phc);
        Ok(())
    }

    #[test]
    fn names_and_passwords_are_validated() {
        assert!(validate_name(b"alice").is_ok());
        assert!(validate_name(b"app-1.firefox_x").is_ok());
        for bad in [&b""[..], b"a:b", b"a b", b"#x", b"\xff", &[b'a'; 256]] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_password(b"x").is_ok());
        assert!(validate_password(b"").is_err());
        assert!(validate_password(b"a\nb").is_err());
        assert!(validate_password(&[b'p'; 256]).is_err());
    }

    #[test]
    fn parse_set_remove_render_keep_comments() -> Result<(), UsersError> {
        let phc = hash_password(b"pw")?;
        let text = format!("# logins\n\nalice:{phc}\n");
        let path = Path::new("/u");
        let mut file = UsersFile::parse(path, &text)?;
        assert_eq!(file.names(), vec!["alice"]);
        assert!(file.set("bob", phc.clone())?);
        assert!(!file.set("alice", phc.clone())?);
        assert_eq!(file.names(), vec!["alice", "bob"]);
        file.remove("alice")?;
        assert!(matches!(
            file.remove("alice"),
            Err(UsersError::NoSuchUser(..))
        ));
        assert_eq!(file.render(), format!("# logins\n\nbob:{phc}\n"));
        Ok(())
    }

    #[test]
    fn bad_lines_are_errors_with_line_numbers() -> Result<(), UsersError> {
        let phc = hash_password(b"pw")?;
        let cases = [
            ("# c\nnocolon\n", "/u:2: expected NAME:HASH"),
            ("a b:x\n", "/u:1: invalid username"),
            ("alice:plaintext\n", "/u:1: not a PHC password hash"),
        ];
        for (text, want) in cases {
            let err = UsersFile::parse(Path::new("/u"), text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
        let twice = format!("a:{phc}\na:{phc}\n");
        let err = UsersFile::parse(Path::new("/u"), &twice)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("appears twice"), "{err}");
        Ok(())
    }

    #[test]
    fn a_new_file_belongs_to_the_owner_of_its_directory() -> Result<(), Box<dyn std::error::Error>>
    {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir()?;
        let svc = dir.path().join("svc");
        fs::create_dir(&svc)?;
        // As root (CI, packaging), hand the directory to "nobody" like a service user.
        if fs::metadata(dir.path())?.uid() == 0 {
            std::os::unix::fs::chown(&svc, Some(65534), Some(65534))?;
        }
        let mut file = UsersFile::load(&svc.join("users"), true)?;
        file.set("alice", hash_password(b"pw")?)?;
        file.save()?;
        let want = fs::metadata(&svc)?;
        let got = fs::metadata(svc.join("users"))?;
        assert_eq!((got.uid(), got.gid()), (want.uid(), want.gid()));
        // Rewriting keeps the owner.
        file.set("bob", hash_password(b"pw")?)?;
        file.save()?;
        assert_eq!(fs::metadata(svc.join("users"))?.uid(), want.uid());
        Ok(())
    }

    #[test]
    fn user_db_checks_and_notices_changes() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sub/users");
        let mut file = UsersFile::load(&path, true)?;
        file.set("alice", hash_password(b"wonderland")?)?;
        file.save()?;
        let mode = fs::metadata(&path)?.permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let db = UserDb::open(&path)?;
        assert!(db.check(b"alice", b"wonderland"));
        assert!(!db.check(b"alice", b"Wonderland"));
        assert!(!db.check(b"bob", b"wonderland"));
        // Add bob behind the proxy's back (content size changes, so the stamp does too).
        file.set("bob", hash_password(b"builder")?)?;
        file.save()?;
        assert!(db.check(b"bob", b"builder"));
        assert_eq!(db.len(), 2);
        // A broken file keeps the previous users.
        fs::write(&path, "garbage line\n")?;
        assert!(db.check(b"bob", b"builder"));
        assert!(UserDb::open(&dir.path().join("missing")).is_err());
        Ok(())
    }

    #[test]
    fn a_verified_login_passes_quickly_until_the_file_changes()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("users");
        let mut file = UsersFile::load(&path, true)?;
        file.set("alice", hash_password(b"wonderland")?)?;
        file.set("bob", hash_password(b"builder")?)?;
        file.save()?;
        let db = UserDb::open(&path)?;
        assert!(
            !db.recently_verified(b"alice", b"wonderland"),
            "not checked yet"
        );
        assert!(!db.check(b"alice", b"Wonderland"));
        assert!(
            !db.recently_verified(b"alice", b"Wonderland"),
            "failures are not kept"
        );
        assert!(db.check(b"alice", b"wonderland"));
        assert!(db.recently_verified(b"alice", b"wonderland"));
        assert!(!db.recently_verified(b"alice", b"Wonderland"));
        assert!(!db.recently_verified(b"bob", b"wonderland"));
        // A new password in the file: the old one no longer passes quickly (nor at all).
        file.set("alice", hash_password(b"looking-glass")?)?;
        file.save()?;
        assert!(!db.recently_verified(b"alice", b"wonderland"));
        assert!(!db.check(b"alice", b"wonderland"));
        // A removed user misses, though the login was verified moments ago.
        assert!(db.check(b"bob", b"builder"));
        assert!(db.recently_verified(b"bob", b"builder"));
        file.remove("bob")?;
        file.save()?;
        assert!(!db.recently_verified(b"bob", b"builder"));
        Ok(())
    }
}
