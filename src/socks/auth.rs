//! Username/password policy (RFC 1929).
//!
//! i2pd accepts any credentials (docs/socks.md "Parser"; "Defects not copied" item 7);
//! [`AuthPolicy::AcceptAny`] mirrors that and is the default. [`AuthPolicy::Require`] enforces a
//! login: the parser then offers only method 02, refuses SOCKS4/4a, and hands the credentials
//! out as [`Step::Verify`](super::Step::Verify) so the driver can check them off the runtime
//! (password hashing is slow on purpose) and feed the verdict back.
use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

/// An RFC 1929 password as received: wiped from memory when dropped, and never shown by
/// `Debug` (the parser's steps and states are logged at debug level).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// The password bytes, for the credential check.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Append one byte (the parser reads byte by byte).
    pub(crate) fn push(&mut self, byte: u8) {
        self.0.push(byte);
    }
}

impl From<&[u8]> for Password {
    fn from(bytes: &[u8]) -> Self {
        Password(Zeroizing::new(bytes.to_vec()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Checks a username/password pair. Implementations may block (e.g. a password hash); the
/// SOCKS driver calls them on tokio's blocking pool, a bounded number at a time.
pub trait CredentialCheck: Send + Sync + 'static {
    /// Do these credentials pass?
    fn check(&self, username: &[u8], password: &[u8]) -> bool;

    /// Did these credentials pass [`check`](Self::check) a short while ago, so that they
    /// pass now without the slow part? Runs on the network threads, so it must be quick (a
    /// look at a file's size and time is fine, a password hash is not); `false` only means
    /// "ask `check`".
    fn recently_verified(&self, _username: &[u8], _password: &[u8]) -> bool {
        false
    }
}

/// How the parser treats SOCKS5 authentication.
#[derive(Clone, Default)]
pub enum AuthPolicy {
    /// i2pd behaviour: "no auth" and "user/pass" both acceptable, any credentials pass.
    #[default]
    AcceptAny,
    /// Only method 02 is acceptable, SOCKS4/4a is refused, and the credentials must pass
    /// this check.
    Require(Arc<dyn CredentialCheck>),
}

impl fmt::Debug for AuthPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthPolicy::AcceptAny => f.write_str("AcceptAny"),
            AuthPolicy::Require(_) => f.write_str("Require(..)"),
        }
    }
}

/// One fixed login, compared without early exit. For tests and embedding; the proxy itself
/// uses the users file ([`super::users`]).
struct SingleLogin {
    username: Vec<u8>,
    password: Vec<u8>,
}

impl CredentialCheck for SingleLogin {
    fn check(&self, username: &[u8], password: &[u8]) -> bool {
        // Both comparisons always run; lengths are not secret.
        let user_ok = ct_eq(&self.username, username);
        let pass_ok = ct_eq(&self.password, password);
        user_ok & pass_ok
    }
}

/// Equality without a data-dependent early exit.
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AuthPolicy {
    /// Require exactly this login.
    pub fn single_login(username: &[u8], password: &[u8]) -> AuthPolicy {
        AuthPolicy::Require(Arc::new(SingleLogin {
            username: username.to_vec(),
            password: password.to_vec(),
        }))
    }

    /// Require logins that pass `check`.
    pub fn require(check: impl CredentialCheck) -> AuthPolicy {
        AuthPolicy::Require(Arc::new(check))
    }

    /// May a client skip authentication (method 00) or use SOCKS4/4a?
    pub fn allows_no_auth(&self) -> bool {
        matches!(self, AuthPolicy::AcceptAny)
    }

    /// Is a login enforced?
    pub fn is_required(&self) -> bool {
        !self.allows_no_auth()
    }

    /// Do these credentials pass without the slow check (see
    /// [`CredentialCheck::recently_verified`])? Quick: no password hash.
    pub fn recently_verified(&self, username: &[u8], password: &[u8]) -> bool {
        match self {
            AuthPolicy::AcceptAny => true,
            AuthPolicy::Require(check) => check.recently_verified(username, password),
        }
    }

    /// Do these credentials pass? May block (see [`CredentialCheck`]).
    pub fn check(&self, username: &[u8], password: &[u8]) -> bool {
        match self {
            AuthPolicy::AcceptAny => true,
            AuthPolicy::Require(check) => check.check(username, password),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_login_checks_both_fields() {
        let p = AuthPolicy::single_login(b"user", b"pass");
        assert!(p.check(b"user", b"pass"));
        assert!(!p.check(b"user", b"pasS"));
        assert!(!p.check(b"usex", b"pass"));
        assert!(!p.check(b"user", b"pass2"));
        assert!(!p.check(b"", b""));
        assert!(p.is_required() && !p.allows_no_auth());
        assert!(AuthPolicy::AcceptAny.check(b"", b""));
        assert_eq!(format!("{p:?}"), "Require(..)");
    }

    #[test]
    fn password_debug_shows_no_secret() {
        let password = Password::from(&b"hunter2"[..]);
        assert_eq!(password.as_bytes(), b"hunter2");
        assert_eq!(format!("{password:?}"), "Password(..)");
    }
}
