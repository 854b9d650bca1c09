//! I2CP client layer (under construction).
