#!/usr/bin/env bash
# Reliability run (issue 10 items 2-4) on the real testbed, as root, in about 10-12 minutes:
#   router faults    tests/faults_router.rs: client router SIGKILLed during a 50 MiB download
#                    and kept away (I2CP port closed) for $I2PSOCKS_FAULT_DOWN_SECS (300) with
#                    i2psocks' CPU and RSS measured; server router restarted
#   load and abuse   tests/abuse.rs (10,000 random-byte clients, silent clients, 1,000 clients
#                    against a 256-fd limit), tests/soak_router.rs (1,000 concurrent SOCKS
#                    connections, then mixed traffic for $I2PSOCKS_SOAK_SECS (360) with RSS
#                    sampled every second)
#   latency          tests/latency_router.rs: downloads and uploads through i2psocks and
#                    through i2pd's built-in SOCKS, alternately, under router-to-router delay
#                    ($I2PSOCKS_LATENCY_PROFILES, DELAY:JITTER:MIB:ROUNDS, default
#                    0:0:50:1,50:10:8:2,150:30:4:1; ours must finish within
#                    $I2PSOCKS_LATENCY_MAX_SECS (150) s, i2pd's transfers are cut after
#                    $I2PSOCKS_LATENCY_REF_MAX_SECS (60) s and rated by what they moved),
#                    byte-exact, throughput ratio
# All four run at the same time, each on its own testbed (or, for abuse, without a router),
# to fit in 15 minutes on 2 cores: the latency figures are noisier here than in a run of
# tests/latency_router.rs alone (RELIABILITY.md has both), but ours and i2pd's transfers
# alternate, so the load hits both alike.
# Prints a table of what was tried and what survived; the full output of every test is kept
# in $RELIABILITY_DIR (default /tmp/i2psocks-reliability-<time>). Exit status 0 only if every
# test passed.
set -uo pipefail
cd "$(dirname "$0")/.."

export I2PSOCKS_REQUIRE_TESTBED=1
export I2PSOCKS_FAULT_DOWN_SECS=${I2PSOCKS_FAULT_DOWN_SECS:-300}
export I2PSOCKS_SOAK_SECS=${I2PSOCKS_SOAK_SECS:-360}
export I2PSOCKS_LATENCY_PROFILES=${I2PSOCKS_LATENCY_PROFILES:-0:0:50:1,50:10:8:2,150:30:4:1}
export I2PSOCKS_LATENCY_REF_MAX_SECS=${I2PSOCKS_LATENCY_REF_MAX_SECS:-60}
export I2PSOCKS_LATENCY_MAX_SECS=${I2PSOCKS_LATENCY_MAX_SECS:-150}
DIR=${RELIABILITY_DIR:-/tmp/i2psocks-reliability-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$DIR"

if [[ $(id -u) -ne 0 ]]; then
	echo "reliability: needs root (network namespaces, iptables)" >&2
	exit 1
fi
command -v iptables >/dev/null || {
	echo "reliability: iptables missing: run contrib/install-deps.sh" >&2
	exit 1
}

START=$EPOCHSECONDS
say() { printf '[reliability %s +%ss] %s\n' "$(date +%H:%M:%S)" "$((EPOCHSECONDS - START))" "$*" >&2; }

say "building the test binaries"
cargo test --no-run --test faults_router --test abuse --test soak_router --test latency_router \
	>"$DIR/build.log" 2>&1 || {
	tail -n 30 "$DIR/build.log" >&2
	exit 1
}

# run_test NAME: cargo test --test NAME -- --nocapture > $DIR/NAME.log; rc in $DIR/NAME.rc,
# seconds in $DIR/NAME.secs.
run_test() {
	local name=$1 t0=$EPOCHSECONDS rc=0
	cargo test --test "$name" -- --nocapture >"$DIR/$name.log" 2>&1 || rc=$?
	echo "$rc" >"$DIR/$name.rc"
	echo "$((EPOCHSECONDS - t0))" >"$DIR/$name.secs"
}

say "faults_router (router down ${I2PSOCKS_FAULT_DOWN_SECS}s), abuse, soak_router (soak ${I2PSOCKS_SOAK_SECS}s) and latency_router ($I2PSOCKS_LATENCY_PROFILES) at once"
pids=()
for t in faults_router abuse soak_router latency_router; do
	run_test "$t" &
	pids+=("$!")
done
wait "${pids[@]}"
TOTAL=$((EPOCHSECONDS - START))

# ---------------------------------------------------------------- the table

# status FILE TEST: ok / FAILED / ? from libtest's "test NAME ... ok" line.
status() {
	local s
	s=$(grep -aoE "test $2 \.\.\. (ok|FAILED)" "$DIR/$1.log" | tail -n 1 | awk '{print $NF}')
	echo "${s:-not run}"
}
# fig FILE REGEX: the first line matching REGEX (extended), trimmed.
fig() { grep -aoE "$2" "$DIR/$1.log" | head -n 1; }

ROWS=()
row() { ROWS+=("$1|$2|$3|$4"); }

row "Router faults" "cli router SIGKILL during a 50 MiB download" "$(status faults_router client_router_killed_during_download)" \
	"$(fig faults_router 'client saw the close after [^ ]+'); $(fig faults_router 'request while the router is down failed after [^ ]+')"
row "Router faults" "router away ${I2PSOCKS_FAULT_DOWN_SECS}s (I2CP port closed)" "$(status faults_router client_router_killed_during_download)" \
	"$(fig faults_router 'i2psocks used [0-9.]+ s CPU, RSS [0-9]+ -> [0-9]+ KiB')"
row "Router faults" "cli router back (same b32)" "$(status faults_router client_router_killed_during_download)" \
	"$(fig faults_router 'first 200 through i2psocks after [^ ]+')"
row "Router faults" "srv router restarted during a download" "$(status faults_router server_router_restarted)" \
	"$(fig faults_router 'open download ended [^ ]+ after'); $(fig faults_router 'first 200: i2psocks [^ ]+ i2pd [^ ]+')"
row "Load and abuse" "10,000 clients sending random bytes" "$(status abuse ten_thousand_clients_sending_random_bytes)" \
	"$(fig abuse '10,000 random clients in [^;]+; [0-9]+ not closed')"
row "Load and abuse" "100 silent clients (cap 50, handshake timeout 1 s)" "$(status abuse silent_clients_are_freed_by_the_handshake_timeout)" \
	"$(fig abuse 'all closed after [^ ]+')"
row "Load and abuse" "1,000 clients, ulimit -n 256" "$(status abuse thousand_clients_under_a_256_descriptor_limit)" \
	"$(fig abuse 'held [0-9]+ connections'); $(fig abuse 'served a client [^ ]+ after')"
row "Load and abuse" "1,000 concurrent SOCKS connections (echo)" "$(status soak_router soak_with_a_thousand_connections)" \
	"$(fig soak_router '[0-9]+ ok in [^;]+; RSS [0-9]+ -> [0-9]+ KiB')"
row "Load and abuse" "mixed soak ${I2PSOCKS_SOAK_SECS}s, RSS sampled" "$(status soak_router soak_with_a_thousand_connections)" \
	"$(fig soak_router '[0-9]+ operations, [0-9]+ failures'); $(fig soak_router '2nd quarter [0-9]+ KiB, last quarter [0-9]+ KiB')"
lat_status=$(status latency_router downloads_under_router_to_router_delay)
while IFS= read -r line; do
	[[ -n $line ]] || continue
	d=$(sed -E 's/.*delay=([^ ]+).*/\1/' <<<"$line")
	size=$(sed -E 's/.*size=([^ ]+).*/\1/' <<<"$line")
	dir=$(sed -E 's/.* dir=([^ ]+).*/\1/' <<<"$line")
	runs=$(grep -aE "^LATENCY delay=$d .* dir=$dir .*proxy=i2psocks" "$DIR/latency_router.log")
	exact=$(grep -c 'exact=true' <<<"$runs")
	row "Latency" "${size} ${dir}s, delay $d each way" "$lat_status" \
		"$(sed -E 's/.*(rtt_median=[^ ]+).*(i2psocks=[^ ]+) (i2pd=[^ ]+) (ratio=[^ ]+).*/\1 \2 \3 \4/' <<<"$line"); exact $exact/$(grep -c . <<<"$runs")"
done < <(grep -a '^LATENCY-SUMMARY' "$DIR/latency_router.log")
[[ $(grep -ac '^LATENCY-SUMMARY' "$DIR/latency_router.log") -gt 0 ]] ||
	row "Latency" "downloads under delay ($I2PSOCKS_LATENCY_PROFILES)" "$lat_status" "no figures (see the log)"

printf '\n%-15s | %-48s | %-7s | %s\n' "area" "what was tried" "result" "figures"
printf '%s\n' "----------------+--------------------------------------------------+---------+-----------------------------------------"
for r in "${ROWS[@]}"; do
	IFS='|' read -r a b c d <<<"$r"
	printf '%-15s | %-48s | %-7s | %s\n' "$a" "$b" "$c" "$d"
done
echo
rc=0
for t in faults_router abuse soak_router latency_router; do
	printf 'cargo test --test %-15s exit %s after %ss\n' "$t" "$(cat "$DIR/$t.rc")" "$(cat "$DIR/$t.secs")"
	[[ $(cat "$DIR/$t.rc") == 0 ]] || rc=1
done
echo "total ${TOTAL}s; logs in $DIR"
exit "$rc"
