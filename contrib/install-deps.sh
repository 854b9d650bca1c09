#!/usr/bin/env bash
# Installs what the tests need on a Debian machine (run as root): Debian's i2pd for the
# real-router testbed, curl and python3 for the lab's clients and servers, iproute2 for
# network namespaces, mandoc to lint the man page, dante-server as a real upstream SOCKS5
# server for the outproxy test (tests/socks/outproxy_dante.rs runs its own danted in a
# private network namespace), strace to check the keys file's write protocol on the
# system-call trace (tests/keys_data_safety.rs), iptables for the testbed's router-to-router
# delay (an NFQUEUE rule inside the testbed's netns feeding contrib/testbed/netdelay.py;
# tests/latency_router.rs, contrib/reliability.sh), openjdk-17-jre-headless for the Java
# I2P 2.7.0 router of tests/java_refusal_router.rs and tests/java_e2e_router.rs. Real clients for
# tests/clients_router.rs: chromium (headless), proxychains4, torsocks, ncat, git,
# python3-venv (requests and httpx come from PyPI into a venv under target/). systemd for
# systemd-socket-activate (tests/listeners.rs passes sockets the way systemd does),
# systemd-container and debootstrap for the packaging test under a booted systemd
# (contrib/package-test-systemd.sh). The Rust toolchain is expected to be there already
# (rustup, stable).
set -euo pipefail

packages=(i2pd curl iproute2 python3 mandoc dante-server strace iptables openjdk-17-jre-headless
    chromium proxychains4 torsocks ncat git python3-venv systemd systemd-container debootstrap)
# The router matrix: building newer i2pd versions (contrib/routers/i2pd.sh) and running
# Java I2P's router (contrib/routers/java-i2p.sh).
packages+=(make g++ libboost-program-options-dev libboost-filesystem-dev libboost-date-time-dev
    libssl-dev zlib1g-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d may refuse to start the i2pd and danted services: that is what we want,
    # the tests start their own in private network namespaces. (dante-server's packaged
    # config lacks `internal:`/`external:`, so its service cannot start anyway; the
    # postinst only prints a hint.)
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The packaged i2pd service must not run next to the tests (it would reseed over the
# internet and hold port 4447); the testbed never uses it.
# Nor the packaged danted (it would not be confined to loopback).
for service in i2pd danted; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
        systemctl stop "$service" || true
    fi
done
command -v cargo >/dev/null || { echo "install-deps: cargo not found (install Rust with rustup)" >&2; exit 1; }
echo "install-deps: ok"
