//! Configuration: i2pd.conf (read exactly like i2pd reads it), i2psocks' own settings file and the
//! command line, merged into one typed [`Config`].

pub mod error;
pub mod ini;
pub mod known;

pub use error::{ConfigError, Source};
