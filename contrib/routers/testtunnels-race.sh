#!/usr/bin/env bash
# testtunnels-race.sh: show, deterministically, whether an i2pd build crashes when an I2CP
# session ends while the router's "Tunnels" thread tests that session's tunnels.
#
# Usage (root, gdb, a testbed-capable machine): contrib/routers/testtunnels-race.sh VERSION
#   VERSION  an i2pd built by contrib/routers/i2pd.sh (its build tree, with debug info and
#            sources, is $I2PSOCKS_ROUTERS_CACHE/build-VERSION)
#   I2PSOCKS=/path/to/i2psocks (default: target/debug/i2psocks of this checkout)
# Exit 1: the router crashed as below (affected). Exit 0: this version's TestTunnels does
# not read the destination again after its check (nothing to show). Exit 2: set-up failed.
#
# The race (i2pd 2.51.0 to at least 2.59.0; RELIABILITY.md, "Isolated users with 1-hop
# tunnels"): TunnelPool::TestTunnels (libi2pd/TunnelPool.cpp) checks m_LocalDestination
# once, then calls m_LocalDestination->SupportsEncryptionType and, per test message,
# ->SubmitECIESx25519Key, without a lock; LeaseSetDestination::Stop
# (libi2pd/Destination.cpp), run by the I2CP thread on DestroySession or a closed
# connection, sets it to null. The script widens that window with gdb instead of waiting
# for the scheduler to hit it: a testbed (1-hop tunnels), one i2psocks session whose pool
# is told apart by inbound.quantity = 7, gdb on the client router stopping the Tunnels
# thread between the check and the use, SIGTERM to i2psocks (it sends DestroySession),
# only the I2CP thread running until it has cleared the pointer, then everything runs.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERSION=${1:?usage: testtunnels-race.sh VERSION}
CACHE=${I2PSOCKS_ROUTERS_CACHE:-/var/cache/i2psocks-routers}
SRC=$CACHE/build-$VERSION
I2PSOCKS=${I2PSOCKS:-$ROOT/target/debug/i2psocks}
TESTBED=$ROOT/contrib/testbed/testbed.sh
NAME=race-$$
WORK=$(mktemp -d)
PROXY_PID=""

cleanup() {
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null || true
    "$TESTBED" down "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "testtunnels-race: $*" >&2; exit 2; }

command -v gdb >/dev/null || fail "gdb is not installed"
[ -x "$I2PSOCKS" ] || fail "no i2psocks at $I2PSOCKS (cargo build, or set I2PSOCKS)"
[ -f "$SRC/libi2pd/TunnelPool.cpp" ] || fail "no build tree $SRC (contrib/routers/i2pd.sh $VERSION)"

# The source lines: the use after the check, and the line after the pointer is cleared.
use_line=$(grep -n 'bool isECIES = m_LocalDestination->' "$SRC/libi2pd/TunnelPool.cpp" | cut -d: -f1 | head -n1)
if [ -z "$use_line" ]; then
    echo "i2pd $VERSION: TestTunnels does not call the destination after its check (no encrypted tunnel tests); nothing to show"
    exit 0
fi
clear_line=$(grep -n 'm_Pool->SetLocalDestination (nullptr)' "$SRC/libi2pd/Destination.cpp" | cut -d: -f1 | head -n1)
[ -n "$clear_line" ] || fail "LeaseSetDestination::Stop not found in $SRC/libi2pd/Destination.cpp"
clear_line=$((clear_line + 1))

env_file=$("$TESTBED" up --name "$NAME" --router "$VERSION" --hops 1 2>"$WORK/up.err" | tail -n1) ||
    { tail -n5 "$WORK/up.err" >&2; fail "testbed did not come up"; }
# shellcheck disable=SC1090
. "$env_file"
router_pid=$(cat "$CLI_DIR/i2pd.pid")

ip netns exec "$TESTBED_NETNS" "$I2PSOCKS" --conf "$I2PSOCKS_CONF" --datadir "$I2PSOCKS_DATADIR" \
    --loglevel info --socksproxy.keys=transient-race --socksproxy.inbound.quantity=7 \
    >"$WORK/i2psocks.log" 2>&1 &
PROXY_PID=$!
for _ in $(seq 1 240); do
    grep -q "I2CP session is up" "$WORK/i2psocks.log" && break
    kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/i2psocks.log" >&2; fail "i2psocks ended"; }
    sleep 0.5
done
grep -q "I2CP session is up" "$WORK/i2psocks.log" || fail "i2psocks' session did not come up in 120 s"

# gdb numbers threads itself; find the I2CP and Tunnels threads by name.
cat >"$WORK/race.gdb" <<EOF
set pagination off
set confirm off
handle SIGPIPE nostop noprint pass
handle SIGSTOP nostop noprint nopass
attach $router_pid
break TunnelPool.cpp:$use_line if m_NumInboundTunnels == 7
continue
printf "RACE: Tunnels thread in TestTunnels after the check, destination %p\n", this->m_LocalDestination._M_ptr
delete
python
i2cp = [t.num for t in gdb.selected_inferior().threads() if t.name == "I2CP"][0]
gdb.execute("break Destination.cpp:$clear_line thread %d" % i2cp)
gdb.execute("set scheduler-locking on")
gdb.execute("thread %d" % i2cp)
end
shell kill -TERM $PROXY_PID
continue
bt 4
python
tunnels = [t.num for t in gdb.selected_inferior().threads() if t.name == "Tunnels"][0]
gdb.execute("thread %d" % tunnels)
end
frame 0
printf "RACE: the I2CP thread has cleared it: destination %p\n", this->m_LocalDestination._M_ptr
delete
set scheduler-locking off
continue
bt 4
kill
quit
EOF
timeout 600 gdb -q -batch -x "$WORK/race.gdb" >"$WORK/gdb.out" 2>&1 || true
grep -E '^RACE|SIGSEGV|^#[0-3] |hit Breakpoint' "$WORK/gdb.out" | grep -v '^\[' || true
if grep -q 'received signal SIGSEGV' "$WORK/gdb.out"; then
    echo "i2pd $VERSION: AFFECTED, the Tunnels thread crashed at TunnelPool.cpp:$use_line after DestroySession"
    exit 1
fi
tail -n 20 "$WORK/gdb.out" >&2
fail "no crash seen; read the gdb output above"
