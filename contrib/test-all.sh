#!/usr/bin/env bash
# Runs every check and test of i2psocks, the real-router ones included, then the
# packaging test (contrib/package-test.sh: .deb, lintian, unit, man page, install into a
# clean bookworm root). The packaging test runs last: it builds in release mode and
# needs Debian's mirror, and the code tests should report first.
# Usage (as root, on Debian): contrib/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

contrib/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# Real-router tests must never skip silently here: the testbed needs root, ip and i2pd.
export I2PSOCKS_REQUIRE_TESTBED=1
cargo test --all-targets
contrib/package-test.sh
