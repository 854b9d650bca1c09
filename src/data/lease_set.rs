//! LeaseSet2 (placeholder, filled in next).
