#!/usr/bin/env bash
# Runs every check and test of i2psocks, the real-router ones included, and the
# packaging test (contrib/package-test.sh: .deb, lintian, unit, man page, install into a
# clean bookworm root; then contrib/package-test-systemd.sh: the .deb under a booted
# systemd in bookworm and trixie roots).
#
# The packaging test runs in the background while the cargo tests run: it is mostly
# compiling, apt and a chroot, the real-router tests mostly wait for routers. With
# cargo-nextest installed the test binaries run side by side too (each test brings up
# its own testbed in its own network namespace); without it, `cargo test` runs them one
# after the other.
# Usage (as root, on Debian): contrib/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

contrib/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# Real-router tests must never skip silently here: the testbed needs root, ip and i2pd.
export I2PSOCKS_REQUIRE_TESTBED=1
cargo test --all-targets --no-run

mkdir -p target
pkg_log=target/package-test.log
contrib/package-test.sh >"$pkg_log" 2>&1 &
pkg_pid=$!

tests=0
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --all-targets --no-fail-fast --test-threads 2 || tests=$?
else
    cargo test --all-targets || tests=$?
fi

pkg=0
wait "$pkg_pid" || pkg=$?
echo "===== contrib/package-test.sh (exit $pkg) ====="
cat "$pkg_log"
if [ "$tests" -ne 0 ] || [ "$pkg" -ne 0 ]; then
    echo "test-all: FAILED (cargo tests: exit $tests, packaging test: exit $pkg)" >&2
    exit 1
fi
echo "test-all: ok"
