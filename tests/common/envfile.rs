//! The testbed's env file: shell-sourceable `KEY='value'` lines written by testbed.sh.

use std::collections::BTreeMap;

/// Parse `KEY=value` / `KEY='value'` lines; blank lines and `#` comments are skipped.
/// Values never contain a single quote (testbed.sh writes paths, names, b32/b64, numbers).
pub fn parse_env(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, raw) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: no '=' in {line:?}", number + 1))?;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: bad key {key:?}", number + 1));
        }
        let value = match raw.strip_prefix('\'') {
            Some(rest) => rest
                .strip_suffix('\'')
                .ok_or_else(|| format!("line {}: unterminated quote", number + 1))?,
            None => raw,
        };
        if value.contains('\'') {
            return Err(format!("line {}: quote inside value", number + 1));
        }
        map.insert(key.to_string(), value.to_string());
    }
    Ok(map)
}
