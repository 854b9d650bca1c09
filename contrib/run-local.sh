#!/usr/bin/env bash
# Runs i2psocks against a local router: brings up the private i2pd testbed
# (three real i2pd routers in a network namespace of their own, no internet),
# starts i2psocks inside that namespace on 127.0.0.1:4447 against the client
# router's I2CP server, and prints a curl command that works. Ctrl-C stops
# i2psocks and tears the testbed down.
# Usage (as root, on Debian): contrib/run-local.sh
set -euo pipefail
cd "$(dirname "$0")/.."

contrib/install-deps.sh
cargo build --release
bin="$PWD/target/release/i2psocks"

env_file=$(contrib/testbed/testbed.sh up | tail -n 1)
# shellcheck disable=SC1090
. "$env_file"
trap 'contrib/testbed/testbed.sh down "$TESTBED_NAME"' EXIT

state="$TESTBED_DIR/i2psocks"
mkdir -p "$state"
cat > "$state/i2pd.conf" <<CONF
[i2cp]
enabled = true
address = $I2CP_ADDRESS
port = $I2CP_PORT

[socksproxy]
address = 127.0.0.1
port = 4447
keys = socks-keys.dat
inbound.length = 0
outbound.length = 0
CONF

# Start i2psocks, and print the curl lines only once its I2CP session is up (its log
# says so), so the first try works.
log="$state/i2psocks.out"
: >"$log"
ip netns exec "$TESTBED_NETNS" "$bin" --conf "$state/i2pd.conf" --datadir "$state" \
    --loglevel info >"$log" 2>&1 &
proxy=$!
tail -n +1 -f --pid="$proxy" "$log" &
trap 'kill -TERM "$proxy" 2>/dev/null || true; wait "$proxy" 2>/dev/null || true
      contrib/testbed/testbed.sh down "$TESTBED_NAME"' EXIT
deadline=$((SECONDS + 180))
until grep -q "I2CP session is up" "$log"; do
    if ! kill -0 "$proxy" 2>/dev/null; then
        echo "run-local: i2psocks exited before its session was up (log above)" >&2
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "run-local: the I2CP session is not up after 180 s (log above)" >&2
        exit 1
    fi
    sleep 0.2
done

cat <<MSG

i2psocks is up (namespace $TESTBED_NETNS). In another shell, try:

  ip netns exec $TESTBED_NETNS curl --socks5-hostname 127.0.0.1:4447 http://web.i2p/
  ip netns exec $TESTBED_NETNS curl --socks5-hostname 127.0.0.1:4447 http://$WEB_B32/1k.bin | wc -c

i2pd's own SOCKS proxy, for comparison, is on 127.0.0.1:$REF_SOCKS_PORT in the same namespace.
Ctrl-C stops i2psocks and the testbed.

MSG
wait "$proxy"
