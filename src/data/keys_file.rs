//! Keys files on disk (placeholder, filled in next).
