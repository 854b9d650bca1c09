//! streaming layer (under construction).
