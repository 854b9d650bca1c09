//! Why the proxy could not start, or stopped: one error type for `run`, with its exit status.

use thiserror::Error;

use crate::data::keys_file::KeysFileError;
use crate::i2cp;
use crate::socks::BindError;

/// Why the proxy could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum RunError {
    /// The keys file could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] KeysFileError),
    /// Transient keys could not be generated.
    #[error("cannot generate transient keys: {0}")]
    Transient(crate::data::DataError),
    /// The SOCKS port could not be opened.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The listeners could not be set up (or would make an open proxy).
    #[error(transparent)]
    Listen(#[from] crate::listeners::ListenError),
    /// The users file (--require-auth) could not be used.
    #[error(transparent)]
    Users(#[from] crate::socks::users::UsersError),
    /// The accept loop failed.
    #[error("SOCKS server failed: {0}")]
    Serve(std::io::Error),
    /// The router refused the proxy's session for good (retrying would not help).
    #[error("{0}")]
    RouterRefused(i2cp::DownReason),
}

impl RunError {
    /// The process exit status for this error: 3 when the router refused the session (the
    /// packaged service does not restart on it), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::RouterRefused(_) => 3,
            _ => 1,
        }
    }
}
