//! Username/password policy (RFC 1929). i2pd accepts any credentials (i2pd-reference B.2 step 3,
//! B.9 item 7); [`AuthPolicy::AcceptAny`] mirrors that, [`AuthPolicy::Require`] is the hook for
//! enforcing a login later.

/// How the parser treats SOCKS5 authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuthPolicy {
    /// i2pd behaviour: "no auth" and "user/pass" both acceptable, any credentials pass.
    #[default]
    AcceptAny,
    /// Only method 02 is acceptable and only this exact login passes.
    Require {
        /// Expected username bytes.
        username: Vec<u8>,
        /// Expected password bytes.
        password: Vec<u8>,
    },
}

impl AuthPolicy {
    /// May a client skip authentication (method 00)?
    pub fn allows_no_auth(&self) -> bool {
        matches!(self, AuthPolicy::AcceptAny)
    }

    /// Do these credentials pass?
    pub fn check(&self, username: &[u8], password: &[u8]) -> bool {
        match self {
            AuthPolicy::AcceptAny => true,
            AuthPolicy::Require {
                username: u,
                password: p,
            } => u.as_slice() == username && p.as_slice() == password,
        }
    }
}
